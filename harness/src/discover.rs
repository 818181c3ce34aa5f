//! Discovering a Phase IV repository nobody configured: its Helm charts (`Chart.yaml`), its directories of raw
//! Kubernetes YAML (`k8s/`, `manifests/`, `deploy/`, ...), and the deployment under test inferred from the objects
//! themselves: workloads and the Services that select them, container ports, probes, and every Secret and
//! ConfigMap key the pods read. The README adds what the objects cannot say: the release name and namespace of its
//! `helm install` line, and the keys of its `kubectl create secret` lines; an `openapi.yaml` (`.yml`, `.json`) at the
//! root, in `docs/` or in `api/` is the contract the probes are checked against.
//!
//! Objects are read as generic YAML values (serde_json::Value), not through the typed model, so discovery works on
//! any kind, including custom resources, and never refuses a repository because one object is unusual.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::exit::{ExitCode, HasExitCode};
use crate::helm::{self, RenderChartError};

/// Directories never searched: dependencies, build output, VCS data.
pub(crate) const SKIPPED_DIRS: &[&str] = &["node_modules", "target", "dist", "build", "venv", "__pycache__", "vendor"];

/// Kinds that hold a pod template and make a component of the application.
const COMPONENT_KINDS: &[&str] = &["Deployment", "StatefulSet", "DaemonSet"];

/// Everything found in one repository.
#[derive(Debug)]
pub struct Discovery {
    /// The directory searched.
    pub root: PathBuf,
    /// Helm charts, sorted by path.
    pub charts: Vec<ChartFound>,
    /// Directories of raw Kubernetes YAML, sorted by path.
    pub manifests: Vec<ManifestDir>,
    /// Namespace the deployment goes to, and where that came from.
    pub namespace: Inferred,
    /// One per Deployment / StatefulSet / DaemonSet of every source, sorted by (source, name).
    pub components: Vec<ComponentFound>,
    /// Every Secret read or defined, by name.
    pub secrets: Vec<KeyedObject>,
    /// Every ConfigMap read or defined, by name.
    pub config_maps: Vec<KeyedObject>,
    /// What could not be read (a chart that does not render, a manifest that is not YAML); the rest is still found.
    pub problems: Vec<Problem>,
    /// The OpenAPI contract at the root, in `docs/` or in `api/`, if there is one.
    pub contract: Option<ContractFound>,
}

/// Where an OpenAPI contract is looked for, first found wins.
pub const CONTRACT_CANDIDATES: &[&str] = &[
    "openapi.yaml",
    "openapi.yml",
    "openapi.json",
    "docs/openapi.yaml",
    "docs/openapi.yml",
    "docs/openapi.json",
    "api/openapi.yaml",
    "api/openapi.yml",
    "api/openapi.json",
];

/// An OpenAPI contract file of the repository.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContractFound {
    /// Relative to the root (`openapi.yaml`, `docs/openapi.json`).
    pub path: String,
    /// Operations it declares.
    pub operations: usize,
    /// Why kubegate cannot use it (not OpenAPI 3, malformed); `None` when it can.
    pub unreadable: Option<String>,
}

/// The first of [`CONTRACT_CANDIDATES`] under `root`, read as kubegate reads a contract.
fn find_contract(root: &Path) -> Option<ContractFound> {
    let path = CONTRACT_CANDIDATES.iter().find(|c| root.join(c).is_file())?;
    let (operations, unreadable) = match crate::contract::Contract::load(&root.join(path)) {
        Ok(c) => (c.operations.len(), None),
        Err(e) => {
            let mut message = e.to_string();
            let mut source = std::error::Error::source(&e);
            while let Some(s) = source {
                message = format!("{message}: {s}");
                source = s.source();
            }
            (0, Some(message))
        }
    };
    Some(ContractFound { path: path.to_string(), operations, unreadable })
}

/// A value and where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inferred {
    /// The value.
    pub value: String,
    /// Where it came from.
    pub from: Origin,
}

/// Where an inferred value came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin {
    /// A `helm install` / `helm upgrade --install` line of the README.
    Readme,
    /// `Chart.yaml` (the chart's name).
    Chart,
    /// The raw manifests (`metadata.namespace` or a Namespace object).
    Manifests,
    /// Nothing said: a default.
    Default,
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Origin::Readme => "the README's helm install line",
            Origin::Chart => "Chart.yaml",
            Origin::Manifests => "the raw manifests",
            Origin::Default => "default",
        })
    }
}

/// A Helm chart.
#[derive(Debug)]
pub struct ChartFound {
    /// Chart directory, relative to the root (`helm/todo-chatbot`).
    pub path: String,
    /// `name` of Chart.yaml.
    pub name: String,
    /// `version` of Chart.yaml.
    pub version: String,
    /// Release name it is rendered (and installed) with.
    pub release: Inferred,
    /// Other `values*.yaml` files in the chart directory (not used for rendering).
    pub values_files: Vec<String>,
    /// Documents `helm template` rendered with the chart's defaults; `None` when it does not render.
    pub objects: Option<usize>,
}

/// A directory of raw Kubernetes YAML.
#[derive(Debug)]
pub struct ManifestDir {
    /// Relative to the root (`k8s`).
    pub path: String,
    /// Kubernetes objects in the directory's own `*.yaml`/`*.yml` files.
    pub objects: usize,
}

/// One workload of the application.
#[derive(Debug, Clone, PartialEq)]
pub struct ComponentFound {
    /// `app.kubernetes.io/component` of the pod template, else the first container's name.
    pub name: String,
    /// The chart or manifest directory it comes from.
    pub source: String,
    /// `Deployment/todo-chatbot-backend`.
    pub workload: String,
    /// The first container (the application; sidecars come later by convention).
    pub container: String,
    /// Its image.
    pub image: String,
    /// Its container ports.
    pub ports: Vec<PortFound>,
    /// The Service that selects the pods, if any.
    pub service: Option<ServiceFound>,
    /// Liveness probe.
    pub liveness: Option<ProbeFound>,
    /// Readiness probe.
    pub readiness: Option<ProbeFound>,
    /// Secret keys its containers read by `secretKeyRef`.
    pub secret_keys: BTreeSet<String>,
    /// ConfigMap keys its containers read by `configMapKeyRef`.
    pub config_keys: BTreeSet<String>,
}

/// A container port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortFound {
    /// `containerPort`.
    pub number: i64,
    /// Its name, when it has one (usually not).
    pub name: Option<String>,
}

/// The Service in front of a component.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceFound {
    /// Service name.
    pub name: String,
    /// `ClusterIP` (the default), `NodePort`, `LoadBalancer`.
    pub service_type: String,
    /// The Service port that reaches the container (else its first port).
    pub port: i64,
}

/// A probe, as far as discovery cares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProbeFound {
    /// `httpGet`: path and port (number or name).
    Http {
        /// Path (`/` when unset).
        path: String,
        /// Port as written.
        port: String,
    },
    /// `tcpSocket` on a port.
    Tcp(String),
    /// `grpc` on a port.
    Grpc(String),
    /// `exec` of a command.
    Exec,
}

impl fmt::Display for ProbeFound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProbeFound::Http { path, .. } => f.write_str(path),
            ProbeFound::Tcp(port) => write!(f, "tcp:{port}"),
            ProbeFound::Grpc(port) => write!(f, "grpc:{port}"),
            ProbeFound::Exec => f.write_str("exec"),
        }
    }
}

/// A Secret or ConfigMap: which keys the pods read and where it is defined.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyedObject {
    /// Object name.
    pub name: String,
    /// Keys read by `secretKeyRef` / `configMapKeyRef` or a volume's `items`.
    pub keys: BTreeSet<String>,
    /// Some pod takes every key (`envFrom`, or a volume of the whole object).
    pub all_keys: bool,
    /// Sources (charts, manifest directories) that render or contain the object; empty: created outside the tree.
    pub defined_in: BTreeSet<String>,
    /// Keys a README `kubectl create secret generic <name> --from-literal=KEY=...` line gives it.
    pub readme_keys: BTreeSet<String>,
}

/// Something discovery could not read; the rest of the repository is still discovered.
#[derive(Debug, thiserror::Error)]
pub enum Problem {
    /// `helm template` failed on a chart.
    #[error("chart {chart} does not render{}: {source}", at.as_ref().map(|(f, l)| format!(" ({f} line {l})")).unwrap_or_default())]
    ChartDoesNotRender {
        /// Chart path, relative to the root.
        chart: String,
        /// Template file (relative to the chart) and line helm's message names, when it names one.
        at: Option<(String, u32)>,
        /// helm's error.
        #[source]
        source: RenderChartError,
    },
    /// A YAML file (of a manifest directory, or helm's output) is not YAML.
    #[error("{file} is not valid YAML: {message}")]
    NotYaml {
        /// The file (or `helm template <chart>`).
        file: String,
        /// The parser's message.
        message: String,
    },
}

impl HasExitCode for Problem {
    fn exit_code(&self) -> ExitCode {
        match self {
            Problem::ChartDoesNotRender { source, .. } => source.exit_code(),
            Problem::NotYaml { .. } => ExitCode::BadInput,
        }
    }
}

/// The directory cannot be searched at all.
#[derive(Debug, thiserror::Error)]
#[error("cannot search {}: {source}", dir.display())]
pub struct DiscoverError {
    /// The directory.
    pub dir: PathBuf,
    /// Why.
    #[source]
    pub source: std::io::Error,
}

impl HasExitCode for DiscoverError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::BadInput
    }
}

/// One Kubernetes object of a source.
struct Object {
    kind: String,
    name: String,
    namespace: Option<String>,
    value: Value,
}

/// Discover the repository at `root`: find charts and manifest directories, render the charts with `helm template`
/// (chart defaults), and infer the deployment under test.
pub fn discover(root: &Path) -> Result<Discovery, DiscoverError> {
    let mut found = Walk::default();
    found.walk(root, root).map_err(|source| DiscoverError { dir: root.to_path_buf(), source })?;
    let readme = Readme::read(root);
    let mut problems = found.problems;

    let mut sources: Vec<(String, Vec<Object>)> = Vec::new();
    let mut manifests = Vec::new();
    for (path, objects) in found.manifest_dirs {
        manifests.push(ManifestDir { path: path.clone(), objects: objects.len() });
        sources.push((path, objects));
    }

    let charts_meta: Vec<(String, String, String, Vec<String>)> =
        found.charts.into_iter().map(|dir| chart_meta(root, &dir)).collect();
    let releases: Vec<Inferred> =
        charts_meta.iter().map(|(path, name, _, _)| readme.release_for(path, name, charts_meta.len())).collect();
    let namespace = readme
        .namespace
        .clone()
        .map(|value| Inferred { value, from: Origin::Readme })
        .or_else(|| most_common_namespace(&sources).map(|value| Inferred { value, from: Origin::Manifests }))
        .or_else(|| releases.first().map(|r| Inferred { value: r.value.clone(), from: r.from }))
        .unwrap_or(Inferred { value: "default".into(), from: Origin::Default });

    let mut charts = Vec::new();
    for ((path, name, version, values_files), release) in charts_meta.into_iter().zip(releases) {
        let rendered = helm::template(&release.value, &root.join(&path), &namespace.value, &[]);
        let objects = match rendered {
            Ok(text) => match parse_objects(&text) {
                Ok(objects) => {
                    let n = objects.len();
                    sources.push((path.clone(), objects));
                    Some(n)
                }
                Err(message) => {
                    problems.push(Problem::NotYaml { file: format!("helm template {path}"), message });
                    None
                }
            },
            Err(source) => {
                let at = template_error_location(&source.to_string());
                problems.push(Problem::ChartDoesNotRender { chart: path.clone(), at, source });
                None
            }
        };
        charts.push(ChartFound { path, name, version, release, values_files, objects });
    }

    let mut components = Vec::new();
    let mut secrets: BTreeMap<String, KeyedObject> = BTreeMap::new();
    let mut config_maps: BTreeMap<String, KeyedObject> = BTreeMap::new();
    for (source, objects) in &sources {
        components.extend(infer_components(source, objects));
        collect_references(source, objects, &mut secrets, &mut config_maps);
    }
    for (name, keys) in &readme.secret_keys {
        let entry =
            secrets.entry(name.clone()).or_insert_with(|| KeyedObject { name: name.clone(), ..Default::default() });
        entry.readme_keys.extend(keys.iter().cloned());
    }
    components.sort_by(|a, b| (&a.source, &a.name).cmp(&(&b.source, &b.name)));

    Ok(Discovery {
        root: root.to_path_buf(),
        charts,
        manifests,
        namespace,
        components,
        secrets: secrets.into_values().collect(),
        config_maps: config_maps.into_values().collect(),
        problems,
        contract: find_contract(root),
    })
}

/// What the directory walk found.
#[derive(Default)]
struct Walk {
    charts: Vec<String>,
    manifest_dirs: Vec<(String, Vec<Object>)>,
    problems: Vec<Problem>,
}

impl Walk {
    /// Search `dir` (below `root`): a chart stops the descent (its templates are not manifests); any other
    /// directory whose own YAML holds Kubernetes objects is a manifest directory.
    fn walk(&mut self, root: &Path, dir: &Path) -> std::io::Result<()> {
        let rel = relative(root, dir);
        if dir.join("Chart.yaml").is_file() {
            self.charts.push(rel);
            return Ok(());
        }
        let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)?.filter_map(|e| e.ok().map(|e| e.path())).collect();
        entries.sort();
        let mut objects = Vec::new();
        let mut unreadable = Vec::new();
        for path in entries.iter().filter(|p| p.is_file() && is_yaml(p)) {
            let Ok(text) = std::fs::read_to_string(path) else { continue };
            match parse_objects(&text) {
                Ok(found) => objects.extend(found),
                Err(message) => unreadable.push(Problem::NotYaml { file: relative(root, path), message }),
            }
        }
        // Broken YAML matters where manifests are (or are expected); elsewhere it is some other tool's file.
        if !objects.is_empty() || is_manifest_dir_name(dir) {
            self.problems.extend(unreadable);
        }
        if !objects.is_empty() {
            self.manifest_dirs.push((rel, objects));
        }
        for sub in entries.iter().filter(|p| p.is_dir()) {
            let name = sub.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            if name.starts_with('.') || SKIPPED_DIRS.contains(&name) {
                continue;
            }
            // An unreadable subdirectory is skipped; only the root must be readable.
            let _ = self.walk(root, sub);
        }
        Ok(())
    }
}

fn is_yaml(p: &Path) -> bool {
    matches!(p.extension().and_then(|e| e.to_str()), Some("yaml" | "yml"))
}

fn is_manifest_dir_name(dir: &Path) -> bool {
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or_default();
    ["k8s", "manifests", "kubernetes", "deploy", "deployment", "kube"].contains(&name)
}

/// `dir` relative to `root`, with `/` separators; `.` for the root itself.
fn relative(root: &Path, dir: &Path) -> String {
    let rel = dir.strip_prefix(root).unwrap_or(dir);
    let parts: Vec<String> = rel.components().map(|c| c.as_os_str().to_string_lossy().into_owned()).collect();
    if parts.is_empty() { ".".into() } else { parts.join("/") }
}

/// Every Kubernetes object in a multi-document YAML text (`kind: List` items included). Documents without a
/// string `apiVersion` and `kind` (docker-compose, CI, values files) and kustomize's own files are not objects.
fn parse_objects(text: &str) -> Result<Vec<Object>, String> {
    let docs: Vec<Value> = serde_saphyr::from_multiple(text).map_err(|e| e.to_string())?;
    let mut objects = Vec::new();
    for doc in docs {
        let items = match (doc.get("kind").and_then(Value::as_str), doc.get("items")) {
            (Some("List"), Some(Value::Array(items))) => items.clone(),
            _ => vec![doc],
        };
        for value in items {
            let (Some(kind), Some(_)) = (str_at(&value, &["kind"]), str_at(&value, &["apiVersion"])) else { continue };
            if kind == "Kustomization" || kind == "Component" {
                continue;
            }
            objects.push(Object {
                kind: kind.to_string(),
                name: str_at(&value, &["metadata", "name"]).unwrap_or_default().to_string(),
                namespace: str_at(&value, &["metadata", "namespace"]).map(str::to_string),
                value,
            });
        }
    }
    Ok(objects)
}

fn at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn str_at<'a>(v: &'a Value, path: &[&str]) -> Option<&'a str> {
    at(v, path).and_then(Value::as_str)
}

fn array_at<'a>(v: &'a Value, path: &[&str]) -> &'a [Value] {
    at(v, path).and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[])
}

/// A port as written: a number or a name.
fn port_text(v: Option<&Value>) -> String {
    match v {
        Some(Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
        None => String::new(),
    }
}

/// (path, name, version, other values files) of the chart at `rel`.
fn chart_meta(root: &Path, rel: &str) -> (String, String, String, Vec<String>) {
    let dir = root.join(rel);
    let chart: Value = std::fs::read_to_string(dir.join("Chart.yaml"))
        .ok()
        .and_then(|t| serde_saphyr::from_str(&t).ok())
        .unwrap_or(Value::Null);
    let fallback = dir.file_name().and_then(|n| n.to_str()).unwrap_or("chart").to_string();
    let name = str_at(&chart, &["name"]).map(str::to_string).unwrap_or(fallback);
    let version = match chart.get("version") {
        Some(Value::String(s)) => s.clone(),
        Some(v @ Value::Number(_)) => v.to_string(),
        _ => String::new(),
    };
    let mut values_files: Vec<String> = std::fs::read_dir(&dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok()?.file_name().into_string().ok())
                .filter(|n| n.starts_with("values") && n != "values.yaml" && is_yaml(Path::new(n)))
                .collect()
        })
        .unwrap_or_default();
    values_files.sort();
    (rel.to_string(), name, version, values_files)
}

/// The namespace most raw objects name (a Namespace object counts as naming itself).
fn most_common_namespace(sources: &[(String, Vec<Object>)]) -> Option<String> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for o in sources.iter().flat_map(|(_, objects)| objects) {
        let ns = if o.kind == "Namespace" { Some(o.name.as_str()) } else { o.namespace.as_deref() };
        if let Some(ns) = ns.filter(|n| !n.is_empty()) {
            *counts.entry(ns).or_default() += 1;
        }
    }
    counts.into_iter().max_by_key(|(ns, n)| (*n, std::cmp::Reverse(*ns))).map(|(ns, _)| ns.to_string())
}

/// `templates/hpa.yaml` and line 10 from helm's "todo-chatbot/templates/hpa.yaml:10:25" (helm 4) or
/// "template: todo-chatbot/templates/hpa.yaml:10:25: executing ..." (helm 3).
fn template_error_location(message: &str) -> Option<(String, u32)> {
    message.split_whitespace().find_map(|word| {
        let start = word.find("templates/")?;
        let chart_relative = &word[..start];
        let mut parts = word[start..].splitn(3, ':');
        let file = parts.next()?;
        let line: u32 = parts.next()?.parse().ok()?;
        // "<chart>/templates/x" names the chart's own template; "<chart>/charts/sub/templates/x" a subchart's.
        let prefix = chart_relative.split_once('/').map(|(_, rest)| rest).unwrap_or("");
        Some((format!("{prefix}{file}"), line))
    })
}

/// The pod template spec of a workload, if the kind has one.
fn pod_spec(o: &Object) -> Option<&Value> {
    match o.kind.as_str() {
        "Pod" => o.value.get("spec"),
        "CronJob" => at(&o.value, &["spec", "jobTemplate", "spec", "template", "spec"]),
        _ => at(&o.value, &["spec", "template", "spec"]),
    }
}

fn infer_components(source: &str, objects: &[Object]) -> Vec<ComponentFound> {
    let services: Vec<&Object> = objects.iter().filter(|o| o.kind == "Service").collect();
    objects
        .iter()
        .filter(|o| COMPONENT_KINDS.contains(&o.kind.as_str()))
        .filter_map(|o| {
            let spec = pod_spec(o)?;
            let container = array_at(spec, &["containers"]).first()?;
            let labels = at(&o.value, &["spec", "template", "metadata", "labels"]);
            let container_name = str_at(container, &["name"]).unwrap_or_default().to_string();
            let name = labels
                .and_then(|l| l.get("app.kubernetes.io/component"))
                .and_then(Value::as_str)
                .map(str::to_string)
                .unwrap_or_else(|| container_name.clone());
            let ports: Vec<PortFound> = array_at(container, &["ports"])
                .iter()
                .filter_map(|p| {
                    Some(PortFound {
                        number: p.get("containerPort")?.as_i64()?,
                        name: str_at(p, &["name"]).map(str::to_string),
                    })
                })
                .collect();
            let service = services.iter().find_map(|s| service_for(s, labels, &ports));
            let key_refs = |field: &str| -> BTreeSet<String> {
                array_at(spec, &["containers"])
                    .iter()
                    .flat_map(|c| array_at(c, &["env"]))
                    .filter_map(|e| str_at(e, &["valueFrom", field, "key"]).map(str::to_string))
                    .collect()
            };
            Some(ComponentFound {
                name,
                source: source.to_string(),
                workload: format!("{}/{}", o.kind, o.name),
                container: container_name,
                image: str_at(container, &["image"]).unwrap_or_default().to_string(),
                ports,
                service,
                liveness: container.get("livenessProbe").and_then(probe),
                readiness: container.get("readinessProbe").and_then(probe),
                secret_keys: key_refs("secretKeyRef"),
                config_keys: key_refs("configMapKeyRef"),
            })
        })
        .collect()
}

/// `s` as the Service of pods labelled `labels`: its selector is non-empty and every pair of it is on the pods.
fn service_for(s: &Object, labels: Option<&Value>, ports: &[PortFound]) -> Option<ServiceFound> {
    let selector = at(&s.value, &["spec", "selector"])?.as_object().filter(|m| !m.is_empty())?;
    let labels = labels?.as_object()?;
    if !selector.iter().all(|(k, v)| labels.get(k) == Some(v)) {
        return None;
    }
    let service_ports = array_at(&s.value, &["spec", "ports"]);
    let reaches = |p: &&Value| {
        let port = p.get("port").and_then(Value::as_i64);
        match p.get("targetPort") {
            Some(Value::String(name)) => ports.iter().any(|c| c.name.as_deref() == Some(name)),
            Some(target) => ports.iter().any(|c| target.as_i64() == Some(c.number)),
            None => ports.iter().any(|c| port == Some(c.number)),
        }
    };
    let port = service_ports.iter().find(reaches).or(service_ports.first());
    Some(ServiceFound {
        name: s.name.clone(),
        service_type: str_at(&s.value, &["spec", "type"]).unwrap_or("ClusterIP").to_string(),
        port: port.and_then(|p| p.get("port")).and_then(Value::as_i64).unwrap_or(0),
    })
}

fn probe(p: &Value) -> Option<ProbeFound> {
    if let Some(http) = p.get("httpGet") {
        let path = str_at(http, &["path"]).unwrap_or("/").to_string();
        return Some(ProbeFound::Http { path, port: port_text(http.get("port")) });
    }
    if let Some(tcp) = p.get("tcpSocket") {
        return Some(ProbeFound::Tcp(port_text(tcp.get("port"))));
    }
    if let Some(grpc) = p.get("grpc") {
        return Some(ProbeFound::Grpc(port_text(grpc.get("port"))));
    }
    p.get("exec").map(|_| ProbeFound::Exec)
}

/// Record every Secret / ConfigMap the source defines, and every key its pods read (env, envFrom, volumes).
fn collect_references(
    source: &str,
    objects: &[Object],
    secrets: &mut BTreeMap<String, KeyedObject>,
    config_maps: &mut BTreeMap<String, KeyedObject>,
) {
    fn entry<'a>(map: &'a mut BTreeMap<String, KeyedObject>, name: &str) -> &'a mut KeyedObject {
        map.entry(name.to_string()).or_insert_with(|| KeyedObject { name: name.to_string(), ..Default::default() })
    }
    for o in objects {
        match o.kind.as_str() {
            "Secret" => {
                entry(secrets, &o.name).defined_in.insert(source.to_string());
            }
            "ConfigMap" => {
                entry(config_maps, &o.name).defined_in.insert(source.to_string());
            }
            _ => {}
        }
        let Some(spec) = pod_spec(o) else { continue };
        let containers = array_at(spec, &["containers"]).iter().chain(array_at(spec, &["initContainers"]));
        for c in containers {
            for env in array_at(c, &["env"]) {
                for (field, map) in [("secretKeyRef", &mut *secrets), ("configMapKeyRef", &mut *config_maps)] {
                    let Some(r) = at(env, &["valueFrom", field]) else { continue };
                    if let (Some(name), Some(key)) = (str_at(r, &["name"]), str_at(r, &["key"])) {
                        entry(map, name).keys.insert(key.to_string());
                    }
                }
            }
            for from in array_at(c, &["envFrom"]) {
                if let Some(name) = str_at(from, &["secretRef", "name"]) {
                    entry(secrets, name).all_keys = true;
                }
                if let Some(name) = str_at(from, &["configMapRef", "name"]) {
                    entry(config_maps, name).all_keys = true;
                }
            }
        }
        for volume in array_at(spec, &["volumes"]) {
            let projected = array_at(volume, &["projected", "sources"]).iter();
            let direct = [
                volume.get("secret").and_then(|s| Some((true, str_at(s, &["secretName"])?, s))),
                volume.get("configMap").and_then(|c| Some((false, str_at(c, &["name"])?, c))),
            ];
            let from_projected = projected.flat_map(|p| {
                [
                    p.get("secret").and_then(|s| Some((true, str_at(s, &["name"])?, s))),
                    p.get("configMap").and_then(|c| Some((false, str_at(c, &["name"])?, c))),
                ]
            });
            for (is_secret, name, v) in direct.into_iter().chain(from_projected).flatten() {
                let e = entry(if is_secret { &mut *secrets } else { &mut *config_maps }, name);
                let items = array_at(v, &["items"]);
                if items.is_empty() {
                    e.all_keys = true;
                }
                e.keys.extend(items.iter().filter_map(|i| str_at(i, &["key"])).map(str::to_string));
            }
        }
    }
}

/// What the repository's README says about installing it.
#[derive(Debug, Default, PartialEq)]
struct Readme {
    /// (release, chart argument) of each `helm install` / `helm upgrade --install` line.
    installs: Vec<(String, String)>,
    /// `-n` / `--namespace` of the first helm install line.
    namespace: Option<String>,
    /// Keys of each `kubectl create secret generic <name> --from-literal=KEY=...` line.
    secret_keys: BTreeMap<String, BTreeSet<String>>,
}

impl Readme {
    /// The root's README (README.md, readme.md, README), or nothing.
    fn read(root: &Path) -> Readme {
        ["README.md", "readme.md", "Readme.md", "README"]
            .iter()
            .find_map(|n| std::fs::read_to_string(root.join(n)).ok())
            .map(|t| Readme::parse(&t))
            .unwrap_or_default()
    }

    fn parse(text: &str) -> Readme {
        let mut readme = Readme::default();
        // Shell lines continued with a trailing backslash are one command.
        let joined = text.replace("\\\r\n", " ").replace("\\\n", " ");
        for line in joined.lines() {
            let words: Vec<String> = line
                .split_whitespace()
                .map(|w| w.trim_matches(|c| matches!(c, '`' | '"' | '\'' | ';')).to_string())
                .collect();
            for (i, w) in words.iter().enumerate() {
                match (w.as_str(), words.get(i + 1).map(String::as_str)) {
                    ("helm", Some("install" | "upgrade")) => readme.helm_install(&words[i + 2..]),
                    ("kubectl", Some("create")) if words.get(i + 2).map(String::as_str) == Some("secret") => {
                        readme.create_secret(&words[i + 3..]);
                    }
                    _ => {}
                }
            }
        }
        readme
    }

    fn helm_install(&mut self, args: &[String]) {
        let (positional, flags) = split_args(
            args,
            &[
                "-f",
                "--values",
                "--set",
                "--set-string",
                "--set-file",
                "--set-json",
                "--version",
                "--timeout",
                "--kube-context",
                "--kubeconfig",
                "--repo",
                "-o",
                "--output",
                "--description",
                "--post-renderer",
            ],
        );
        if let [release, chart, ..] = positional.as_slice() {
            self.installs.push((release.clone(), chart.clone()));
            if self.namespace.is_none() {
                self.namespace = flags.get("-n").or_else(|| flags.get("--namespace")).cloned();
            }
        }
    }

    fn create_secret(&mut self, args: &[String]) {
        let (positional, _) = split_args(args, &["--from-file", "--from-env-file", "--type", "-o", "--output"]);
        let [kind, name, ..] = positional.as_slice() else { return };
        if kind != "generic" {
            return;
        }
        let keys = self.secret_keys.entry(name.clone()).or_default();
        let mut rest = args.iter();
        while let Some(a) = rest.next() {
            let literal = match a.strip_prefix("--from-literal=") {
                Some(v) => v.to_string(),
                None if a == "--from-literal" => rest.next().cloned().unwrap_or_default(),
                None => continue,
            };
            if let Some((key, _value)) = literal.split_once('=') {
                keys.insert(key.trim_matches(|c| matches!(c, '"' | '\'')).to_string());
            }
        }
    }

    /// The release of the chart at `path` named `name`: the README line whose chart argument is that path or ends
    /// with that name (or, with one chart in the repo, any helm install line), else the chart's name.
    fn release_for(&self, path: &str, name: &str, charts: usize) -> Inferred {
        let matches = |arg: &str| {
            let arg = arg.trim_start_matches("./").trim_end_matches('/');
            arg == path || arg.rsplit('/').next() == Some(name) || (charts == 1 && (arg.contains('/') || arg == "."))
        };
        self.installs
            .iter()
            .find(|(_, chart)| matches(chart))
            .map(|(release, _)| Inferred { value: release.clone(), from: Origin::Readme })
            .unwrap_or_else(|| Inferred { value: name.to_string(), from: Origin::Chart })
    }
}

/// Positional arguments, and `--flag value` / `--flag=value` pairs, of a command line (up to a shell separator).
/// Flags in `with_value` (and `-n` / `--namespace`) take the next word; other flags take none.
fn split_args(args: &[String], with_value: &[&str]) -> (Vec<String>, BTreeMap<String, String>) {
    let mut positional = Vec::new();
    let mut flags = BTreeMap::new();
    let mut words = args.iter();
    while let Some(w) = words.next() {
        if matches!(w.as_str(), "&&" | "||" | "|" | "#") || w.is_empty() {
            break;
        }
        if let Some((flag, value)) = w.split_once('=').filter(|(f, _)| f.starts_with('-')) {
            flags.insert(flag.to_string(), value.to_string());
        } else if w.starts_with('-') {
            let takes_value = with_value.contains(&w.as_str()) || w == "-n" || w == "--namespace";
            let value = if takes_value { words.next().cloned().unwrap_or_default() } else { String::new() };
            flags.insert(w.clone(), value);
        } else {
            positional.push(w.clone());
        }
    }
    (positional, flags)
}

impl fmt::Display for Discovery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for c in &self.charts {
            let rendered = c.objects.map(|n| format!("{n} objects")).unwrap_or_else(|| "does not render".into());
            writeln!(
                f,
                "found chart {} ({} {}, release {} from {}): {rendered}",
                c.path, c.name, c.version, c.release.value, c.release.from
            )?;
        }
        for m in &self.manifests {
            writeln!(f, "found manifests {}/ ({} objects)", m.path, m.objects)?;
        }
        if self.charts.is_empty() && self.manifests.is_empty() {
            writeln!(f, "found no Helm chart (Chart.yaml) and no directory of Kubernetes YAML")?;
        }
        writeln!(f, "namespace: {} (from {})", self.namespace.value, self.namespace.from)?;
        if !self.components.is_empty() {
            writeln!(f, "components:")?;
        }
        for c in &self.components {
            let ports: Vec<String> = c
                .ports
                .iter()
                .map(|p| p.name.as_ref().map(|n| format!("{} ({n})", p.number)).unwrap_or(p.number.to_string()))
                .collect();
            let service = c
                .service
                .as_ref()
                .map(|s| format!("Service {} ({} :{})", s.name, s.service_type, s.port))
                .unwrap_or_else(|| "no Service".into());
            let probe = |p: &Option<ProbeFound>| p.as_ref().map(ToString::to_string).unwrap_or_else(|| "-".into());
            writeln!(
                f,
                "  {} ({}, {}): {}, port {}, {service}, probes {} {}",
                c.name,
                c.workload,
                c.source,
                c.image,
                if ports.is_empty() { "-".into() } else { ports.join(", ") },
                probe(&c.liveness),
                probe(&c.readiness)
            )?;
        }
        for (title, list) in [("secrets", &self.secrets), ("config maps", &self.config_maps)] {
            if list.is_empty() {
                continue;
            }
            writeln!(f, "{title}:")?;
            for o in list {
                let mut facts = Vec::new();
                if !o.keys.is_empty() {
                    facts.push(format!("keys {}", o.keys.iter().cloned().collect::<Vec<_>>().join(", ")));
                }
                if o.all_keys {
                    facts.push("every key (envFrom or volume)".into());
                }
                if o.defined_in.is_empty() {
                    facts.push("created outside the tree".into());
                } else {
                    facts.push(format!("defined in {}", o.defined_in.iter().cloned().collect::<Vec<_>>().join(", ")));
                }
                if !o.readme_keys.is_empty() {
                    let keys: Vec<String> = o.readme_keys.iter().cloned().collect();
                    facts.push(format!("README creates {}", keys.join(", ")));
                }
                writeln!(f, "  {}: {}", o.name, facts.join("; "))?;
            }
        }
        match &self.contract {
            Some(ContractFound { path, unreadable: None, operations }) => {
                writeln!(f, "contract: {path} ({operations} operations)")?;
            }
            Some(ContractFound { path, unreadable: Some(why), .. }) => {
                writeln!(f, "contract: none used ({path} cannot be read as an OpenAPI 3 contract: {why})")?;
            }
            None => writeln!(f, "contract: none (no openapi.yaml/.yml/.json at the root, in docs/ or api/)")?,
        }
        for p in &self.problems {
            writeln!(f, "problem: {p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Readme {
        Readme::parse(s)
    }

    #[test]
    fn readme_helm_install_gives_release_chart_and_namespace() {
        let r = words("```sh\nhelm install todo-chatbot ./helm/todo-chatbot -n todo \\\n  -f values-local.yaml\n```\n");
        assert_eq!(r.installs, vec![("todo-chatbot".to_string(), "./helm/todo-chatbot".to_string())]);
        assert_eq!(r.namespace.as_deref(), Some("todo"));
        let r = words("$ helm upgrade --install todo ./helm/todo-app --namespace=todo-app --create-namespace");
        assert_eq!(r.installs, vec![("todo".to_string(), "./helm/todo-app".to_string())]);
        assert_eq!(r.namespace.as_deref(), Some("todo-app"));
    }

    #[test]
    fn readme_secret_lines_give_keys_never_values() {
        let r = words(
            "kubectl create secret generic app -n todo \\\n  --from-literal=DATABASE_URL='postgres://u:p@h/db' \\\n  --from-literal JWT_SECRET=$(openssl rand -hex 32)\nkubectl create secret tls cert --cert=a --key=b\n",
        );
        let keys: Vec<&str> = r.secret_keys["app"].iter().map(String::as_str).collect();
        assert_eq!(keys, ["DATABASE_URL", "JWT_SECRET"]);
        assert!(!r.secret_keys.contains_key("cert"), "only generic Secrets carry keys");
    }

    #[test]
    fn release_falls_back_to_the_chart_name() {
        let r = words("helm install todo charts/other\n");
        assert_eq!(r.release_for("charts/todo", "todo", 2), Inferred { value: "todo".into(), from: Origin::Chart });
        assert_eq!(r.release_for("charts/other", "other", 2), Inferred { value: "todo".into(), from: Origin::Readme });
    }

    #[test]
    fn helm_error_locations_of_helm_3_and_4() {
        let helm4 = "Error: todo-chatbot/templates/hpa.yaml:10:25\n  executing \"todo-chatbot/templates/hpa.yaml\" at <.Values.x>: nil pointer";
        assert_eq!(template_error_location(helm4), Some(("templates/hpa.yaml".into(), 10)));
        let helm3 = "Error: template: todo/charts/db/templates/sts.yaml:7:3: executing \"...\"";
        assert_eq!(template_error_location(helm3), Some(("charts/db/templates/sts.yaml".into(), 7)));
        assert_eq!(template_error_location("Error: chart requires kubeVersion"), None);
    }

    #[test]
    fn objects_skip_non_kubernetes_documents_and_open_lists() {
        let text = "services:\n  web: {image: x}\n---\n---\napiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: ConfigMap\n  metadata: {name: a}\n---\napiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\n";
        let objects = parse_objects(text).expect("yaml");
        assert_eq!(objects.iter().map(|o| format!("{}/{}", o.kind, o.name)).collect::<Vec<_>>(), ["ConfigMap/a"]);
    }

    #[test]
    fn a_missing_root_is_bad_input() {
        let err = discover(Path::new("/nonexistent/repo")).expect_err("no such directory");
        assert_eq!(err.exit_code(), ExitCode::BadInput);
    }
}
