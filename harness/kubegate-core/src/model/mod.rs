//! One typed model for both deploy paths: every YAML document of a manifests
//! directory, or of `helm template` output, parsed with serde-saphyr (line and
//! column, duplicate keys rejected; [`yaml`]) into k8s-openapi types, with
//! unknown fields and misspelt kinds rejected ([`typing`]; errors: [`error`]).
//! Custom resources and non-stable apiVersions are carried unstructured: the
//! rules report on them (KG-API), the load does not abort.
//!
//! Each [`Object`] keeps its JSON form (for parity and generic walks) and a
//! map from field path to source line, so findings can point at the line.

// LoadManifestsError carries its evidence (file, field, kind, name) inline and
// is built at most once per run: boxing it would only add noise.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, PodSpec, Service};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::Value;

use crate::finding::{DeployPath, ObjectRef, SourceLocation};

pub mod error;
pub mod typing;
pub mod yaml;

pub use error::LoadManifestsError;
pub use typing::{Typed, is_builtin_api_version, is_unstable_api_version};
pub use yaml::{join_index, join_key, parse_yaml_value};

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
        self.typed.meta()
    }

    /// The typed object serialised back to JSON: canonical forms (a quantity
    /// `1` and `"1"` agree), what parity compares. An unstructured object's JSON as written.
    pub fn canonical_json(&self) -> Value {
        // Serialising a value that was just deserialised cannot fail; fall back to the source JSON anyway.
        self.typed.to_json().and_then(Result::ok).unwrap_or_else(|| self.json.clone())
    }

    /// Whether kubegate carries this object without typing it (a custom resource, a non-stable apiVersion).
    pub fn is_unstructured(&self) -> bool {
        matches!(self.typed, Typed::Unstructured(_))
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
            Typed::ReplicaSet(d) => {
                let (s, m) = tpl(d.spec.as_ref().and_then(|s| s.template.as_ref()))?;
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
        let mut templates: BTreeMap<PathBuf, Option<String>> = BTreeMap::new();
        let objects = raw
            .into_iter()
            .map(|mut o| {
                let template = o.source.line.and_then(template_of).map(|(_, file)| file.clone());
                // Rendered line numbers are not the template's (includes, conditionals): each field gets the line
                // of its key in the template where that is unambiguous, else none (better than a wrong one).
                let text = template.as_ref().and_then(|file| {
                    templates.entry(file.clone()).or_insert_with(|| std::fs::read_to_string(file).ok()).clone()
                });
                o.lines = text.map(|t| yaml::template_lines(&o.lines, &t)).unwrap_or_default();
                o.source.line = o.lines.get("kind").copied();
                if let Some(file) = template {
                    o.source.file = file;
                }
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

/// Parse every document of `text` into objects.
fn parse_documents(text: &str, file: &Path, path: DeployPath) -> Result<Vec<Object>, LoadManifestsError> {
    yaml::documents(text, file)?
        .into_iter()
        .map(|d| typing::type_object(d.json, d.lines, file, d.index, d.start, path))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exit::{ExitCode, HasExitCode};

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
    fn custom_resources_and_unstable_apis_are_carried_a_misspelt_kind_is_rejected() {
        let m = load("apiVersion: monitoring.coreos.com/v1\nkind: ServiceMonitor\nmetadata: {name: w, labels: {a: b}}\nspec: {endpoints: [{port: http}]}\n").expect("custom resource loads");
        assert!(m.objects[0].is_unstructured());
        assert_eq!(m.objects[0].labels().get("a").map(String::as_str), Some("b"));
        assert_eq!(m.objects[0].canonical_json()["spec"]["endpoints"][0]["port"], "http");
        let m =
            load("apiVersion: policy/v1beta1\nkind: PodDisruptionBudget\nmetadata: {name: p}\n").expect("beta loads");
        assert!(m.objects[0].is_unstructured() && is_unstable_api_version(&m.objects[0].api_version));
        let m = load("apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {name: r}\nrules: [{apiGroups: [\"\"], resources: [pods], verbs: [get]}]\n").expect("ClusterRole");
        assert!(matches!(m.objects[0].typed, Typed::ClusterRole(_)));
        let err = load("apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: w}\n").expect_err("misspelt kind");
        assert!(matches!(err, LoadManifestsError::UnknownKind { line: Some(2), .. }), "{err}");
        assert_eq!(Typed::stable_api_version("HorizontalPodAutoscaler"), Some("autoscaling/v2"));
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
    fn helm_fields_get_the_line_of_their_key_in_the_template() {
        let chart = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(chart.path().join("templates")).expect("mkdir");
        let template = "{{- if .Values.on }}\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: {{ .Release.Name }}\n  labels:\n    {{- include \"x.labels\" . | nindent 4 }}\nspec:\n  template:\n    spec:\n      containers:\n        - name: web\n          image: {{ .Values.image }}\n          imagePullPolicy: {{ .Values.pull }}\n{{- end }}\n";
        std::fs::write(chart.path().join("templates/deploy.yaml"), template).expect("write");
        let out = "---\n# Source: x/templates/deploy.yaml\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: r\n  labels:\n    app: a\n    tier: b\nspec:\n  selector: {matchLabels: {app: a}}\n  template:\n    spec:\n      containers:\n        - name: web\n          image: web:1\n          imagePullPolicy: Never\n";
        let m = Model::from_helm_output(out, chart.path()).expect("parses");
        let d = &m.objects[0];
        assert_eq!(d.source.file, chart.path().join("templates/deploy.yaml"));
        assert_eq!(d.source.line, Some(3), "the object starts at its kind");
        assert_eq!(d.line_of("spec.template.spec.containers[0].imagePullPolicy"), Some(14));
        assert_eq!(d.line_of("spec.template.spec.containers[0].image"), Some(13));
        assert_eq!(d.line_of("metadata.labels.tier"), Some(6), "a key only an include writes: its parent's line");
    }

    #[test]
    fn helm_output_is_attributed_to_templates() {
        let out = format!(
            "---\n# Source: chart/templates/cm.yaml\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cfg\n---\n# Source: chart/templates/deploy.yaml\n{DEPLOY}"
        );
        let m = Model::from_helm_output(&out, Path::new("charts/chart")).expect("parses");
        assert_eq!(m.objects[1].source.file, Path::new("charts/chart/templates/deploy.yaml"));
        assert_eq!(m.objects[1].source.line, None, "rendered lines are not template lines (no template to read)");
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
