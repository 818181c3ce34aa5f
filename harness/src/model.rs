//! One typed model for both deploy paths: every YAML document of a manifests
//! directory, or of `helm template` output, parsed with serde-saphyr (line and
//! column, duplicate keys rejected) into k8s-openapi types, with unknown
//! fields, unknown kinds and non-stable apiVersions rejected.
//!
//! Each [`Object`] keeps its JSON form (for parity and generic walks) and a
//! map from field path to source line, so findings can point at the line.

// LoadManifestsError carries its evidence (file, field, kind, name) inline and
// is built at most once per run: boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::{DaemonSet, Deployment, StatefulSet};
use k8s_openapi::api::autoscaling::v1::HorizontalPodAutoscaler as HorizontalPodAutoscalerV1;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Pod, PodSpec, Secret, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::{Ingress, NetworkPolicy};
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::exit::{ExitCode, HasExitCode};
use crate::finding::{DeployPath, ObjectRef, SourceLocation};

/// The typed form of an object: one variant per kind kubegate understands.
#[derive(Debug, Clone)]
#[allow(clippy::large_enum_variant)] // built once per object; boxing buys nothing here
pub enum Typed {
    /// v1 Namespace.
    Namespace(Namespace),
    /// v1 ConfigMap.
    ConfigMap(ConfigMap),
    /// v1 Secret.
    Secret(Secret),
    /// v1 ServiceAccount.
    ServiceAccount(ServiceAccount),
    /// v1 Service.
    Service(Service),
    /// v1 Pod (e.g. a `helm test` hook).
    Pod(Pod),
    /// v1 PersistentVolumeClaim.
    PersistentVolumeClaim(PersistentVolumeClaim),
    /// apps/v1 Deployment.
    Deployment(Deployment),
    /// apps/v1 StatefulSet.
    StatefulSet(StatefulSet),
    /// apps/v1 DaemonSet.
    DaemonSet(DaemonSet),
    /// batch/v1 Job.
    Job(Job),
    /// batch/v1 CronJob.
    CronJob(CronJob),
    /// autoscaling/v2 HorizontalPodAutoscaler.
    Hpa(HorizontalPodAutoscaler),
    /// autoscaling/v1 HorizontalPodAutoscaler (stable, but the plan wants v2).
    HpaV1(HorizontalPodAutoscalerV1),
    /// policy/v1 PodDisruptionBudget.
    Pdb(PodDisruptionBudget),
    /// networking.k8s.io/v1 NetworkPolicy.
    NetworkPolicy(NetworkPolicy),
    /// networking.k8s.io/v1 Ingress.
    Ingress(Ingress),
    /// rbac.authorization.k8s.io/v1 Role.
    Role(Role),
    /// rbac.authorization.k8s.io/v1 RoleBinding.
    RoleBinding(RoleBinding),
}

/// A pod spec inside an object, with the field path that leads to it.
#[derive(Debug, Clone, Copy)]
pub struct PodView<'a> {
    /// The pod spec.
    pub spec: &'a PodSpec,
    /// The pod template's metadata (the object's own for a bare Pod).
    pub meta: Option<&'a ObjectMeta>,
    /// Field path of the spec, e.g. `spec.template.spec`.
    pub prefix: &'static str,
}

/// One Kubernetes object of one deploy path.
#[derive(Debug, Clone)]
pub struct Object {
    /// `apiVersion`.
    pub api_version: String,
    /// `kind`.
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if set.
    pub namespace: Option<String>,
    /// Deploy path.
    pub path: DeployPath,
    /// File (manifest or chart template) and 1-based line of the document.
    pub source: SourceLocation,
    /// 1-based index of the document in its file (or in the helm output).
    pub document: usize,
    /// The typed object.
    pub typed: Typed,
    /// The object as JSON (what parity and generic walks use).
    pub json: Value,
    lines: BTreeMap<String, usize>,
}

impl Object {
    /// `Kind/name` reference for findings.
    pub fn object_ref(&self) -> ObjectRef {
        ObjectRef { kind: self.kind.clone(), name: self.name.clone(), namespace: self.namespace.clone() }
    }

    /// 1-based source line of a field path (`spec.replicas`), when known.
    /// Falls back to the nearest enclosing field that has a line.
    pub fn line_of(&self, field: &str) -> Option<usize> {
        let mut f = field;
        loop {
            if let Some(l) = self.lines.get(f) {
                return Some(*l);
            }
            let cut = f.rfind(['.', '['])?;
            f = &f[..cut];
        }
    }

    /// The object's metadata.
    pub fn meta(&self) -> &ObjectMeta {
        match &self.typed {
            Typed::Namespace(o) => &o.metadata,
            Typed::ConfigMap(o) => &o.metadata,
            Typed::Secret(o) => &o.metadata,
            Typed::ServiceAccount(o) => &o.metadata,
            Typed::Service(o) => &o.metadata,
            Typed::Pod(o) => &o.metadata,
            Typed::PersistentVolumeClaim(o) => &o.metadata,
            Typed::Deployment(o) => &o.metadata,
            Typed::StatefulSet(o) => &o.metadata,
            Typed::DaemonSet(o) => &o.metadata,
            Typed::Job(o) => &o.metadata,
            Typed::CronJob(o) => &o.metadata,
            Typed::Hpa(o) => &o.metadata,
            Typed::HpaV1(o) => &o.metadata,
            Typed::Pdb(o) => &o.metadata,
            Typed::NetworkPolicy(o) => &o.metadata,
            Typed::Ingress(o) => &o.metadata,
            Typed::Role(o) => &o.metadata,
            Typed::RoleBinding(o) => &o.metadata,
        }
    }

    /// The typed object serialised back to JSON: canonical forms (a quantity
    /// `1` and `"1"` agree), what parity compares.
    pub fn canonical_json(&self) -> Value {
        let v = match &self.typed {
            Typed::Namespace(o) => serde_json::to_value(o),
            Typed::ConfigMap(o) => serde_json::to_value(o),
            Typed::Secret(o) => serde_json::to_value(o),
            Typed::ServiceAccount(o) => serde_json::to_value(o),
            Typed::Service(o) => serde_json::to_value(o),
            Typed::Pod(o) => serde_json::to_value(o),
            Typed::PersistentVolumeClaim(o) => serde_json::to_value(o),
            Typed::Deployment(o) => serde_json::to_value(o),
            Typed::StatefulSet(o) => serde_json::to_value(o),
            Typed::DaemonSet(o) => serde_json::to_value(o),
            Typed::Job(o) => serde_json::to_value(o),
            Typed::CronJob(o) => serde_json::to_value(o),
            Typed::Hpa(o) => serde_json::to_value(o),
            Typed::HpaV1(o) => serde_json::to_value(o),
            Typed::Pdb(o) => serde_json::to_value(o),
            Typed::NetworkPolicy(o) => serde_json::to_value(o),
            Typed::Ingress(o) => serde_json::to_value(o),
            Typed::Role(o) => serde_json::to_value(o),
            Typed::RoleBinding(o) => serde_json::to_value(o),
        };
        // Serialising a value that was just deserialised cannot fail; fall back to the source JSON anyway.
        v.unwrap_or_else(|_| self.json.clone())
    }

    /// Labels (empty map when none).
    pub fn labels(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.meta().labels.as_ref().unwrap_or(&EMPTY)
    }

    /// Annotations (empty map when none).
    pub fn annotations(&self) -> &BTreeMap<String, String> {
        static EMPTY: BTreeMap<String, String> = BTreeMap::new();
        self.meta().annotations.as_ref().unwrap_or(&EMPTY)
    }

    /// Whether Helm treats this object as a hook (`helm.sh/hook`), e.g. the test pod.
    pub fn is_helm_hook(&self) -> bool {
        self.annotations().contains_key("helm.sh/hook")
    }

    /// The pod spec of a workload or Pod, with its field prefix.
    pub fn pod(&self) -> Option<PodView<'_>> {
        fn tpl(t: Option<&k8s_openapi::api::core::v1::PodTemplateSpec>) -> Option<(&PodSpec, Option<&ObjectMeta>)> {
            t.and_then(|t| t.spec.as_ref().map(|s| (s, t.metadata.as_ref())))
        }
        let (spec, meta, prefix) = match &self.typed {
            Typed::Pod(p) => (p.spec.as_ref()?, Some(&p.metadata), "spec"),
            Typed::Deployment(d) => {
                let (s, m) = tpl(d.spec.as_ref().map(|s| &s.template))?;
                (s, m, "spec.template.spec")
            }
            Typed::StatefulSet(d) => {
                let (s, m) = tpl(d.spec.as_ref().map(|s| &s.template))?;
                (s, m, "spec.template.spec")
            }
            Typed::DaemonSet(d) => {
                let (s, m) = tpl(d.spec.as_ref().map(|s| &s.template))?;
                (s, m, "spec.template.spec")
            }
            Typed::Job(j) => {
                let (s, m) = tpl(j.spec.as_ref().map(|s| &s.template))?;
                (s, m, "spec.template.spec")
            }
            Typed::CronJob(c) => {
                let t = c.spec.as_ref()?.job_template.spec.as_ref().map(|s| &s.template);
                let (s, m) = tpl(t)?;
                (s, m, "spec.jobTemplate.spec.template.spec")
            }
            _ => return None,
        };
        Some(PodView { spec, meta, prefix })
    }
}

/// All objects of one deploy path.
#[derive(Debug, Clone)]
pub struct Model {
    /// Which path these objects belong to.
    pub path: DeployPath,
    /// The manifests directory, or the chart directory.
    pub root: PathBuf,
    /// Objects in file order (files sorted by name).
    pub objects: Vec<Object>,
}

impl Model {
    /// Read every `*.yaml`/`*.yml` file directly under `dir` (sorted by name),
    /// every document of each.
    pub fn load_dir(dir: &Path) -> Result<Model, LoadManifestsError> {
        let entries =
            std::fs::read_dir(dir).map_err(|source| LoadManifestsError::ReadDir { dir: dir.to_path_buf(), source })?;
        let mut files: Vec<PathBuf> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|source| LoadManifestsError::ReadDir { dir: dir.to_path_buf(), source })?;
            let p = entry.path();
            let is_yaml = matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"));
            if is_yaml && p.is_file() {
                files.push(p);
            }
        }
        files.sort();
        if files.is_empty() {
            return Err(LoadManifestsError::NoManifests { dir: dir.to_path_buf() });
        }
        let mut objects = Vec::new();
        for file in files {
            let text = std::fs::read_to_string(&file)
                .map_err(|source| LoadManifestsError::ReadFile { file: file.clone(), source })?;
            objects.extend(parse_documents(&text, &file, DeployPath::Raw)?);
        }
        Ok(Model { path: DeployPath::Raw, root: dir.to_path_buf(), objects })
    }

    /// Parse `helm template` stdout; each document is attributed to the chart
    /// template named by the `# Source:` comment above it.
    pub fn from_helm_output(stdout: &str, chart_dir: &Path) -> Result<Model, LoadManifestsError> {
        // (line of the comment, template path inside the chart)
        let sources: Vec<(usize, PathBuf)> = stdout
            .lines()
            .enumerate()
            .filter_map(|(i, l)| {
                let rest = l.strip_prefix("# Source: ")?;
                // `<chart name>/templates/x.yaml` -> `<chart dir>/templates/x.yaml`
                let inside = rest.split_once('/').map(|(_, p)| p).unwrap_or(rest);
                Some((i + 1, chart_dir.join(inside.trim())))
            })
            .collect();
        let template_of = |line: usize| sources.iter().rev().find(|(l, _)| *l < line);
        let rendered = chart_dir.join("(helm template output)");
        let raw = parse_documents(stdout, &rendered, DeployPath::Helm).map_err(|mut e| {
            // Name the template; the line is counted in its rendered output
            // (line 1 = the `# Source:` comment), which is all helm gives us.
            if let Some((file, line)) = e.location_mut()
                && let Some((comment, template)) = line.and_then(template_of)
            {
                *file = PathBuf::from(format!("{} (as rendered by helm template)", template.display()));
                *line = line.map(|l| l - comment + 1);
            }
            e
        })?;
        let objects = raw
            .into_iter()
            .map(|mut o| {
                if let Some((_, file)) = o.source.line.and_then(template_of) {
                    o.source.file = file.clone();
                }
                // Rendered line numbers do not match the template's lines
                // (includes, conditionals); better no line than a wrong one.
                o.source.line = None;
                o.lines.clear();
                o
            })
            .collect();
        Ok(Model { path: DeployPath::Helm, root: chart_dir.to_path_buf(), objects })
    }

    /// Parse YAML text as if it were one manifest file (tests, stdin).
    pub fn from_str(text: &str, file: &Path, path: DeployPath) -> Result<Model, LoadManifestsError> {
        let objects = parse_documents(text, file, path)?;
        Ok(Model { path, root: file.to_path_buf(), objects })
    }

    /// Objects of a kind.
    pub fn of_kind<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Object> + 'a {
        self.objects.iter().filter(move |o| o.kind == kind)
    }

    /// The object `kind/name`, if present.
    pub fn find(&self, kind: &str, name: &str) -> Option<&Object> {
        self.objects.iter().find(|o| o.kind == kind && o.name == name)
    }

    /// Deployments with their typed form.
    pub fn deployments(&self) -> impl Iterator<Item = (&Object, &Deployment)> {
        self.objects.iter().filter_map(|o| match &o.typed {
            Typed::Deployment(d) => Some((o, d)),
            _ => None,
        })
    }

    /// Services with their typed form.
    pub fn services(&self) -> impl Iterator<Item = (&Object, &Service)> {
        self.objects.iter().filter_map(|o| match &o.typed {
            Typed::Service(s) => Some((o, s)),
            _ => None,
        })
    }

    /// ConfigMaps with their typed form.
    pub fn config_maps(&self) -> impl Iterator<Item = (&Object, &ConfigMap)> {
        self.objects.iter().filter_map(|o| match &o.typed {
            Typed::ConfigMap(c) => Some((o, c)),
            _ => None,
        })
    }

    /// Objects that carry a pod spec.
    pub fn pods(&self) -> impl Iterator<Item = (&Object, PodView<'_>)> {
        self.objects.iter().filter_map(|o| o.pod().map(|p| (o, p)))
    }
}

/// The manifests could not be read into the model. Every variant names the
/// file, the document and (when known) the line.
#[derive(Debug, thiserror::Error)]
pub enum LoadManifestsError {
    /// The directory could not be listed.
    #[error("cannot read manifests directory {}", dir.display())]
    ReadDir {
        /// Directory.
        dir: PathBuf,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// No YAML files in the directory.
    #[error("no *.yaml or *.yml files in {}\n  fix: point --manifests (or `manifests` in kubegate.toml) at the manifests directory", dir.display())]
    NoManifests {
        /// Directory.
        dir: PathBuf,
    },
    /// A file could not be read.
    #[error("cannot read {}", file.display())]
    ReadFile {
        /// File.
        file: PathBuf,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// YAML syntax error or duplicate key.
    #[error("{}:{}: document {document}: {message}", file.display(), fmt_line(*line))]
    Yaml {
        /// File.
        file: PathBuf,
        /// 1-based document index.
        document: usize,
        /// 1-based line.
        line: Option<usize>,
        /// The parser's message (with column).
        message: String,
    },
    /// A field the Kubernetes type does not have (typo, wrong indentation).
    #[error("{}:{}: document {document} ({kind}/{name}): unknown field `{field}`\n  fix: check the spelling and indentation against the {api_version} {kind} schema", file.display(), fmt_line(*line))]
    UnknownField {
        /// File.
        file: PathBuf,
        /// 1-based document index.
        document: usize,
        /// 1-based line of the field.
        line: Option<usize>,
        /// apiVersion of the object.
        api_version: String,
        /// Kind.
        kind: String,
        /// Name.
        name: String,
        /// Field path.
        field: String,
    },
    /// A kind kubegate does not know (or apiVersion/kind mismatch).
    #[error("{}:{}: document {document}: unknown kind `{kind}` in apiVersion `{api_version}`\n  fix: use a stable Kubernetes kind (Deployment apps/v1, Service v1, ...); kubegate checks only kinds it can type", file.display(), fmt_line(*line))]
    UnknownKind {
        /// File.
        file: PathBuf,
        /// 1-based document index.
        document: usize,
        /// 1-based line.
        line: Option<usize>,
        /// apiVersion.
        api_version: String,
        /// Kind.
        kind: String,
    },
    /// alpha/beta apiVersion (rule KG-API-001).
    #[error("{}:{}: document {document}: {kind} uses non-stable apiVersion `{api_version}` (KG-API-001)\n  fix: use the stable version{}", file.display(), fmt_line(*line), stable_hint(kind))]
    UnstableApiVersion {
        /// File.
        file: PathBuf,
        /// 1-based document index.
        document: usize,
        /// 1-based line of `apiVersion`.
        line: Option<usize>,
        /// apiVersion.
        api_version: String,
        /// Kind.
        kind: String,
    },
    /// A field with the wrong type or a missing required field.
    #[error("{}:{}: document {document} ({kind}): field `{field}`: {message}", file.display(), fmt_line(*line))]
    InvalidField {
        /// File.
        file: PathBuf,
        /// 1-based document index.
        document: usize,
        /// 1-based line.
        line: Option<usize>,
        /// Kind.
        kind: String,
        /// Field path.
        field: String,
        /// What the type expected.
        message: String,
    },
}

impl LoadManifestsError {
    /// The file and line the error names, when it names them.
    fn location_mut(&mut self) -> Option<(&mut PathBuf, &mut Option<usize>)> {
        match self {
            LoadManifestsError::Yaml { file, line, .. }
            | LoadManifestsError::UnknownField { file, line, .. }
            | LoadManifestsError::UnknownKind { file, line, .. }
            | LoadManifestsError::UnstableApiVersion { file, line, .. }
            | LoadManifestsError::InvalidField { file, line, .. } => Some((file, line)),
            _ => None,
        }
    }
}

impl HasExitCode for LoadManifestsError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::BadInput
    }
}

fn fmt_line(line: Option<usize>) -> String {
    line.map(|l| l.to_string()).unwrap_or_else(|| "?".into())
}

fn stable_hint(kind: &str) -> String {
    let v = match kind {
        "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet" => "apps/v1",
        "HorizontalPodAutoscaler" => "autoscaling/v2",
        "PodDisruptionBudget" => "policy/v1",
        "Ingress" | "NetworkPolicy" => "networking.k8s.io/v1",
        "CronJob" | "Job" => "batch/v1",
        _ => return String::new(),
    };
    format!(" `{v}`")
}

/// A YAML node with the line of every value, as serde-saphyr reports it.
enum Node {
    Null,
    Bool(bool),
    Int(i64),
    UInt(u64),
    Float(f64),
    Str(String),
    Seq(Vec<Spanned<Node>>),
    Map(Vec<(Spanned<Node>, Spanned<Node>)>),
}

impl<'de> serde::Deserialize<'de> for Node {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> serde::de::Visitor<'de> for V {
            type Value = Node;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any YAML value")
            }
            fn visit_unit<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_none<E>(self) -> Result<Node, E> {
                Ok(Node::Null)
            }
            fn visit_some<D: serde::Deserializer<'de>>(self, d: D) -> Result<Node, D::Error> {
                <Node as serde::Deserialize>::deserialize(d)
            }
            fn visit_bool<E>(self, v: bool) -> Result<Node, E> {
                Ok(Node::Bool(v))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Node, E> {
                Ok(Node::Int(v))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Node, E> {
                Ok(Node::UInt(v))
            }
            fn visit_f64<E>(self, v: f64) -> Result<Node, E> {
                Ok(Node::Float(v))
            }
            fn visit_str<E>(self, v: &str) -> Result<Node, E> {
                Ok(Node::Str(v.to_string()))
            }
            fn visit_string<E>(self, v: String) -> Result<Node, E> {
                Ok(Node::Str(v))
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<Spanned<Node>>()? {
                    items.push(item);
                }
                Ok(Node::Seq(items))
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = map.next_key::<Spanned<Node>>()? {
                    let v = map.next_value::<Spanned<Node>>()?;
                    entries.push((k, v));
                }
                Ok(Node::Map(entries))
            }
        }
        d.deserialize_any(V)
    }
}

/// Append a map key to a field path: `a.b`, or `a["k8s.io/x"]` when the key
/// is not a plain identifier.
pub fn join_key(parent: &str, key: &str) -> String {
    let plain = !key.is_empty() && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    match (parent.is_empty(), plain) {
        (true, true) => key.to_string(),
        (false, true) => format!("{parent}.{key}"),
        (_, false) => format!("{parent}[{key:?}]"),
    }
}

/// Append a sequence index to a field path: `a[0]`.
pub fn join_index(parent: &str, index: usize) -> String {
    format!("{parent}[{index}]")
}

fn line_of_span<T>(s: &Spanned<T>) -> Option<usize> {
    let l = s.referenced.line();
    (l > 0).then_some(l as usize)
}

/// Convert a node to JSON and record the line of each field path.
fn to_json(
    node: &Spanned<Node>,
    path: &str,
    lines: &mut BTreeMap<String, usize>,
) -> Result<Value, (String, Option<usize>, String)> {
    if let Some(l) = line_of_span(node) {
        lines.entry(path.to_string()).or_insert(l);
    }
    Ok(match &node.value {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Bool(*b),
        Node::Int(i) => Value::from(*i),
        Node::UInt(u) => Value::from(*u),
        Node::Float(f) => serde_json::Number::from_f64(*f)
            .map(Value::Number)
            .ok_or_else(|| (path.to_string(), line_of_span(node), format!("non-finite number {f}")))?,
        Node::Str(s) => Value::String(s.clone()),
        Node::Seq(items) => Value::Array(
            items.iter().enumerate().map(|(i, n)| to_json(n, &join_index(path, i), lines)).collect::<Result<_, _>>()?,
        ),
        Node::Map(entries) => {
            let mut m = serde_json::Map::new();
            for (k, v) in entries {
                let key = match &k.value {
                    Node::Str(s) => s.clone(),
                    Node::Int(i) => i.to_string(),
                    Node::UInt(u) => u.to_string(),
                    Node::Bool(b) => b.to_string(),
                    Node::Null => "null".into(),
                    _ => return Err((path.to_string(), line_of_span(k), "a mapping key must be a scalar".into())),
                };
                let child = join_key(path, &key);
                if m.contains_key(&key) {
                    return Err((child, line_of_span(k), format!("duplicate key `{key}`")));
                }
                if let Some(l) = line_of_span(k) {
                    lines.insert(child.clone(), l);
                }
                let value = to_json(v, &child, lines)?;
                m.insert(key, value);
            }
            Value::Object(m)
        }
    })
}

/// Whether an apiVersion is alpha or beta (`v1beta1`, `v2alpha1`, ...).
pub fn is_unstable_api_version(api_version: &str) -> bool {
    let version = api_version.rsplit('/').next().unwrap_or(api_version);
    version.contains("alpha") || version.contains("beta")
}

/// serde-saphyr's message without its advice to the programmer (an option
/// a user cannot set).
fn yaml_message(e: &serde_saphyr::Error) -> String {
    e.without_snippet().to_string().replace(", set DuplicateKeyPolicy in Options if acceptable", "")
}

/// Parse a single-document YAML file (values.yaml, the OpenAPI contract)
/// into JSON, with the same duplicate-key and syntax checks as manifests.
pub fn parse_yaml_value(text: &str, file: &Path) -> Result<Value, LoadManifestsError> {
    let mut reader = text.as_bytes();
    let mut docs = serde_saphyr::read::<_, Spanned<Node>>(&mut reader);
    let Some(first) = docs.next() else { return Ok(Value::Null) };
    let node = first.map_err(|e| LoadManifestsError::Yaml {
        file: file.to_path_buf(),
        document: 1,
        line: e.location().map(|l| l.line() as usize).filter(|l| *l > 0),
        message: yaml_message(&e),
    })?;
    let mut lines = BTreeMap::new();
    to_json(&node, "", &mut lines).map_err(|(field, line, message)| LoadManifestsError::Yaml {
        file: file.to_path_buf(),
        document: 1,
        line,
        message: format!("at `{field}`: {message}"),
    })
}

/// Parse every document of `text` into objects.
fn parse_documents(text: &str, file: &Path, path: DeployPath) -> Result<Vec<Object>, LoadManifestsError> {
    let mut objects = Vec::new();
    let mut reader = text.as_bytes();
    for (i, doc) in serde_saphyr::read::<_, Spanned<Node>>(&mut reader).enumerate() {
        let document = i + 1;
        let node = doc.map_err(|e| LoadManifestsError::Yaml {
            file: file.to_path_buf(),
            document,
            line: e.location().map(|l| l.line() as usize).filter(|l| *l > 0),
            message: yaml_message(&e),
        })?;
        if matches!(node.value, Node::Null) {
            continue;
        }
        let mut lines = BTreeMap::new();
        let json = to_json(&node, "", &mut lines).map_err(|(field, line, message)| LoadManifestsError::Yaml {
            file: file.to_path_buf(),
            document,
            line,
            message: format!("at `{field}`: {message}"),
        })?;
        objects.push(type_object(json, lines, file, document, line_of_span(&node), path)?);
    }
    Ok(objects)
}

fn type_object(
    json: Value,
    lines: BTreeMap<String, usize>,
    file: &Path,
    document: usize,
    start: Option<usize>,
    path: DeployPath,
) -> Result<Object, LoadManifestsError> {
    let str_field = |k: &str| json.get(k).and_then(Value::as_str).unwrap_or("").to_string();
    let api_version = str_field("apiVersion");
    let kind = str_field("kind");
    let invalid = |field: &str, message: String| LoadManifestsError::InvalidField {
        file: file.to_path_buf(),
        document,
        line: lines.get(field).copied().or(start),
        kind: if kind.is_empty() { "?".into() } else { kind.clone() },
        field: field.to_string(),
        message,
    };
    if !json.is_object() {
        return Err(invalid(".", "a Kubernetes object must be a mapping".into()));
    }
    if api_version.is_empty() {
        return Err(invalid("apiVersion", "missing (every object needs apiVersion and kind)".into()));
    }
    if kind.is_empty() {
        return Err(invalid("kind", "missing (every object needs apiVersion and kind)".into()));
    }
    if is_unstable_api_version(&api_version) {
        return Err(LoadManifestsError::UnstableApiVersion {
            file: file.to_path_buf(),
            document,
            line: lines.get("apiVersion").copied().or(start),
            api_version,
            kind,
        });
    }
    let mut unknown: Vec<String> = Vec::new();
    let typed = {
        macro_rules! ty {
            ($v:ident) => {
                Typed::$v(typed_from_json(&json, &mut unknown).map_err(|(f, m)| invalid(&f, m))?)
            };
        }
        match (api_version.as_str(), kind.as_str()) {
            ("v1", "Namespace") => ty!(Namespace),
            ("v1", "ConfigMap") => ty!(ConfigMap),
            ("v1", "Secret") => ty!(Secret),
            ("v1", "ServiceAccount") => ty!(ServiceAccount),
            ("v1", "Service") => ty!(Service),
            ("v1", "Pod") => ty!(Pod),
            ("v1", "PersistentVolumeClaim") => ty!(PersistentVolumeClaim),
            ("apps/v1", "Deployment") => ty!(Deployment),
            ("apps/v1", "StatefulSet") => ty!(StatefulSet),
            ("apps/v1", "DaemonSet") => ty!(DaemonSet),
            ("batch/v1", "Job") => ty!(Job),
            ("batch/v1", "CronJob") => ty!(CronJob),
            ("autoscaling/v2", "HorizontalPodAutoscaler") => ty!(Hpa),
            ("autoscaling/v1", "HorizontalPodAutoscaler") => ty!(HpaV1),
            ("policy/v1", "PodDisruptionBudget") => ty!(Pdb),
            ("networking.k8s.io/v1", "NetworkPolicy") => ty!(NetworkPolicy),
            ("networking.k8s.io/v1", "Ingress") => ty!(Ingress),
            ("rbac.authorization.k8s.io/v1", "Role") => ty!(Role),
            ("rbac.authorization.k8s.io/v1", "RoleBinding") => ty!(RoleBinding),
            _ => {
                return Err(LoadManifestsError::UnknownKind {
                    file: file.to_path_buf(),
                    document,
                    line: lines.get("kind").copied().or(start),
                    api_version,
                    kind,
                });
            }
        }
    };
    let meta = json.get("metadata");
    let name = meta.and_then(|m| m.get("name")).and_then(Value::as_str).unwrap_or("").to_string();
    if name.is_empty() {
        return Err(invalid("metadata.name", "missing: every object needs a name".into()));
    }
    if let Some(field) = unknown.into_iter().next() {
        return Err(LoadManifestsError::UnknownField {
            file: file.to_path_buf(),
            document,
            line: lines.get(&field).copied().or(start),
            api_version,
            kind,
            name,
            field,
        });
    }
    let namespace = meta.and_then(|m| m.get("namespace")).and_then(Value::as_str).map(String::from);
    Ok(Object {
        api_version,
        kind,
        name,
        namespace,
        path,
        source: SourceLocation { file: file.to_path_buf(), line: start },
        document,
        typed,
        json,
        lines,
    })
}

/// Deserialize a typed object, collecting ignored (unknown) field paths and
/// naming the path of a type error.
fn typed_from_json<T: DeserializeOwned>(json: &Value, unknown: &mut Vec<String>) -> Result<T, (String, String)> {
    let mut record = |p: serde_ignored::Path<'_>| unknown.push(ignored_path(&p));
    let de = serde_ignored::Deserializer::new(json.clone(), &mut record);
    serde_path_to_error::deserialize(de).map_err(|e| {
        let mut field = String::new();
        for seg in e.path() {
            field = match seg {
                serde_path_to_error::Segment::Seq { index } => join_index(&field, *index),
                serde_path_to_error::Segment::Map { key } => join_key(&field, key),
                serde_path_to_error::Segment::Enum { variant } => join_key(&field, variant),
                serde_path_to_error::Segment::Unknown => join_key(&field, "?"),
            };
        }
        (if field.is_empty() { ".".into() } else { field }, e.inner().to_string())
    })
}

fn ignored_path(p: &serde_ignored::Path<'_>) -> String {
    match p {
        serde_ignored::Path::Root => String::new(),
        serde_ignored::Path::Seq { parent, index } => join_index(&ignored_path(parent), *index),
        serde_ignored::Path::Map { parent, key } => join_key(&ignored_path(parent), key),
        serde_ignored::Path::Some { parent }
        | serde_ignored::Path::NewtypeStruct { parent }
        | serde_ignored::Path::NewtypeVariant { parent } => ignored_path(parent),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Model, LoadManifestsError> {
        Model::from_str(text, Path::new("t.yaml"), DeployPath::Raw)
    }

    const DEPLOY: &str = "apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: ns
spec:
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: web:1.0
          ports:
            - containerPort: 8000
              name: http
";

    #[test]
    fn reads_every_document_with_lines() {
        let text =
            format!("---\n{DEPLOY}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\ndata:\n  A: b\n");
        let m = load(&text).expect("loads");
        assert_eq!(m.objects.len(), 2);
        let d = &m.objects[0];
        assert_eq!((d.kind.as_str(), d.name.as_str(), d.namespace.as_deref()), ("Deployment", "web", Some("ns")));
        assert_eq!(d.source.line, Some(2));
        assert_eq!(d.line_of("spec.template.spec.containers[0].image"), Some(16));
        assert_eq!(d.line_of("spec.template.spec.containers[0].ports[0].name"), Some(19));
        assert!(d.pod().is_some());
        assert_eq!(m.objects[1].document, 2);
        assert_eq!(m.objects[1].line_of("data.A"), Some(26));
    }

    #[test]
    fn duplicate_key_is_rejected_with_its_line() {
        let text = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  name: b\n";
        let err = load(text).expect_err("duplicate rejected").to_string();
        assert!(err.contains("t.yaml:5") && err.to_lowercase().contains("duplicate"), "{err}");
        assert!(!err.contains("DuplicateKeyPolicy"), "{err}");
    }

    #[test]
    fn unknown_field_is_named_with_path_and_line() {
        let text = DEPLOY
            .replace("          image: web:1.0\n", "          image: web:1.0\n          imagePullPolice: Never\n");
        let err = load(&text).expect_err("unknown field rejected");
        match &err {
            LoadManifestsError::UnknownField { field, line, document, .. } => {
                assert_eq!(field, "spec.template.spec.containers[0].imagePullPolice");
                assert_eq!(*line, Some(16));
                assert_eq!(*document, 1);
            }
            other => panic!("unexpected {other}"),
        }
        assert_eq!(err.exit_code(), ExitCode::BadInput);
    }

    #[test]
    fn unknown_kind_and_unstable_api_are_rejected() {
        let err = load("apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: w}\n").expect_err("unknown kind");
        assert!(matches!(err, LoadManifestsError::UnknownKind { .. }), "{err}");
        let err =
            load("apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: p}\n").expect_err("beta");
        assert!(err.to_string().contains("KG-API-001") && err.to_string().contains("policy/v1"), "{err}");
    }

    #[test]
    fn wrong_type_names_the_field() {
        let text = DEPLOY.replace("spec:\n  selector", "spec:\n  replicas: two\n  selector");
        let err = load(&text).expect_err("type error");
        match &err {
            LoadManifestsError::InvalidField { field, line, .. } => {
                assert_eq!(field, "spec.replicas");
                assert_eq!(*line, Some(7));
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn error_in_a_later_document_names_that_document() {
        let text = format!("{DEPLOY}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [a\n");
        match load(&text).expect_err("syntax error") {
            LoadManifestsError::Yaml { document, line, .. } => {
                assert_eq!(document, 2);
                assert_eq!(line, Some(23));
            }
            other => panic!("unexpected {other}"),
        }
        let text = format!("{DEPLOY}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n  nme: b\n");
        match load(&text).expect_err("unknown field") {
            LoadManifestsError::UnknownField { document, line, field, .. } => {
                assert_eq!((document, line, field.as_str()), (2, Some(24), "metadata.nme"));
            }
            other => panic!("unexpected {other}"),
        }
    }

    #[test]
    fn syntax_error_names_line() {
        let err = load("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [a\n").expect_err("syntax");
        assert!(matches!(err, LoadManifestsError::Yaml { line: Some(_), .. }), "{err}");
    }

    #[test]
    fn helm_output_is_attributed_to_templates() {
        let out = format!(
            "---\n# Source: chart/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n---\n# Source: chart/templates/deploy.yaml\n{DEPLOY}"
        );
        let m = Model::from_helm_output(&out, Path::new("charts/chart")).expect("parses");
        assert_eq!(m.objects[1].source.file, Path::new("charts/chart/templates/deploy.yaml"));
        assert_eq!(m.objects[1].source.line, None, "rendered lines are not template lines");
        let bad =
            out.replace("          image: web:1.0\n", "          image: web:1.0\n          imagePullPolice: Never\n");
        let err = Model::from_helm_output(&bad, Path::new("charts/chart")).expect_err("unknown field").to_string();
        assert!(
            err.starts_with("charts/chart/templates/deploy.yaml (as rendered by helm template):17: document 2"),
            "{err}"
        );
        assert_eq!(m.objects[0].source.file, Path::new("charts/chart/templates/cm.yaml"));
        assert_eq!(m.path, DeployPath::Helm);
    }
}
