//! The services' HTTP contract (`fixtures/contracts/openapi.yaml`), reduced
//! to what the static rules need: which service has which operation, which
//! operations are probes, and the status codes they promise.
//!
//! Two OpenAPI extensions tie the contract to the deployment, on the
//! operation (or on the path item, for all its operations):
//! - `x-kubegate-service: backend` (or a list): the component(s) serving it;
//!   absent = every service.
//! - `x-kubegate-probe: liveness | readiness | startup` (or a list): the probes it backs.
//!
//! The top-level `x-kubegate-services` map gives each service's `port`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::config::Component;
use crate::exit::{ExitCode, HasExitCode};

/// Which probe an operation backs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ProbeKind {
    /// livenessProbe.
    Liveness,
    /// readinessProbe.
    Readiness,
    /// startupProbe.
    Startup,
}

impl std::fmt::Display for ProbeKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProbeKind::Liveness => "liveness",
            ProbeKind::Readiness => "readiness",
            ProbeKind::Startup => "startup",
        })
    }
}

/// One operation of the contract.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Operation {
    /// Path template, e.g. `/api/tasks/{id}`.
    pub path: String,
    /// Upper-case method, e.g. `GET`.
    pub method: String,
    /// Services that serve it; empty = all.
    pub services: Vec<String>,
    /// The probes it backs (empty = not a probe endpoint).
    pub probes: Vec<ProbeKind>,
    /// Response status codes the contract lists (`200`, `503`, `default`).
    pub statuses: Vec<String>,
    /// `x-kubegate-status`: per service, the statuses it may answer with
    /// (when they differ between services).
    pub status_by_service: std::collections::BTreeMap<String, Vec<String>>,
    /// `x-kubegate-requires-env`: the operation exists only with this
    /// environment setting (e.g. `FAULT_INJECTION=enabled`).
    pub requires_env: Vec<String>,
}

impl Operation {
    /// Statuses `service` may answer with (its `x-kubegate-status` entry, else all listed).
    pub fn statuses_for(&self, service: &str) -> &[String] {
        self.status_by_service.get(service).map(Vec::as_slice).unwrap_or(&self.statuses)
    }
}

/// A service as the top-level `x-kubegate-services` map describes it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ContractService {
    /// Port the service's container listens on.
    pub port: Option<i64>,
    /// Kubernetes Service name.
    pub service: Option<String>,
}

/// The parsed contract.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Contract {
    /// File it was read from.
    pub file: PathBuf,
    /// `x-kubegate-services`: per service name, its port and Service.
    pub services: std::collections::BTreeMap<String, ContractService>,
    /// Every operation.
    pub operations: Vec<Operation>,
}

/// The contract could not be read.
#[derive(Debug, thiserror::Error)]
pub enum LoadContractError {
    /// Missing or unreadable file.
    #[error("cannot read the OpenAPI contract {}\n  fix: set `contract` in kubegate.toml to the services' OpenAPI file (or remove the key)", file.display())]
    Read {
        /// File.
        file: PathBuf,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// YAML error (syntax, duplicate key).
    #[error("OpenAPI contract is not valid YAML")]
    Yaml(#[source] Box<crate::model::LoadManifestsError>),
    /// Valid YAML but not the expected shape.
    #[error("{}: {message}", file.display())]
    Shape {
        /// File.
        file: PathBuf,
        /// What is wrong.
        message: String,
    },
}

impl HasExitCode for LoadContractError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::BadInput
    }
}

const METHODS: [&str; 8] = ["get", "put", "post", "delete", "options", "head", "patch", "trace"];

impl Contract {
    /// Read and reduce the contract.
    pub fn load(file: &Path) -> Result<Contract, LoadContractError> {
        let text = std::fs::read_to_string(file)
            .map_err(|source| LoadContractError::Read { file: file.to_path_buf(), source })?;
        Contract::parse(&text, file)
    }

    /// Parse contract text; `file` names it in errors.
    pub fn parse(text: &str, file: &Path) -> Result<Contract, LoadContractError> {
        let doc = crate::model::parse_yaml_value(text, file).map_err(|e| LoadContractError::Yaml(Box::new(e)))?;
        let shape = |message: String| LoadContractError::Shape { file: file.to_path_buf(), message };
        if doc.get("openapi").and_then(Value::as_str).is_none() {
            return Err(shape("no `openapi:` version key: not an OpenAPI 3 document".into()));
        }
        let paths = doc.get("paths").and_then(Value::as_object).ok_or_else(|| shape("no `paths` mapping".into()))?;
        let mut operations = Vec::new();
        for (path, item) in paths {
            let item_services = services_of(item).map_err(|m| shape(format!("paths.{path}: {m}")))?;
            let item_probe = probe_of(item).map_err(|m| shape(format!("paths.{path}: {m}")))?;
            for method in METHODS {
                let Some(op) = item.get(method) else { continue };
                let services = services_of(op).map_err(|m| shape(format!("paths.{path}.{method}: {m}")))?;
                let probe = probe_of(op).map_err(|m| shape(format!("paths.{path}.{method}: {m}")))?;
                let statuses = op
                    .get("responses")
                    .and_then(Value::as_object)
                    .map(|r| r.keys().cloned().collect())
                    .unwrap_or_default();
                let status_by_service = op
                    .get("x-kubegate-status")
                    .and_then(Value::as_object)
                    .map(|m| m.iter().map(|(k, v)| (k.clone(), strings(v))).collect())
                    .unwrap_or_default();
                let requires_env = op
                    .get("x-kubegate-requires-env")
                    .or_else(|| item.get("x-kubegate-requires-env"))
                    .map(strings)
                    .unwrap_or_default();
                operations.push(Operation {
                    path: path.clone(),
                    method: method.to_ascii_uppercase(),
                    services: services.or_else(|| item_services.clone()).unwrap_or_default(),
                    probes: probe.or_else(|| item_probe.clone()).unwrap_or_default(),
                    statuses,
                    status_by_service,
                    requires_env,
                });
            }
        }
        let mut services = std::collections::BTreeMap::new();
        if let Some(map) = doc.get("x-kubegate-services").and_then(Value::as_object) {
            for (name, v) in map {
                services.insert(
                    name.clone(),
                    ContractService {
                        port: v.get("port").and_then(Value::as_i64),
                        service: v.get("service").and_then(Value::as_str).map(String::from),
                    },
                );
            }
        }
        Ok(Contract { file: file.to_path_buf(), services, operations })
    }

    /// Operations served by `service`.
    pub fn operations_of<'a>(&'a self, service: &'a str) -> impl Iterator<Item = &'a Operation> + 'a {
        self.operations.iter().filter(move |o| o.services.is_empty() || o.services.iter().any(|s| s == service))
    }

    /// Paths of `service` that back probe `kind` (GET operations).
    pub fn probe_paths<'a>(&'a self, service: &'a str, kind: ProbeKind) -> Vec<&'a str> {
        self.operations_of(service)
            .filter(|o| o.probes.contains(&kind) && o.method == "GET")
            .map(|o| o.path.as_str())
            .collect()
    }

    /// Paths a `kind` probe of `service` may GET: the contract's endpoints for
    /// that kind; a startup probe may also use the liveness endpoint.
    pub fn accepted_probe_paths<'a>(&'a self, service: &'a str, kind: ProbeKind) -> Vec<&'a str> {
        let mut paths = self.probe_paths(service, kind);
        if kind == ProbeKind::Startup {
            paths.extend(self.probe_paths(service, ProbeKind::Liveness));
        }
        paths
    }

    /// Whether `service` has a GET operation on exactly `path`.
    pub fn has_get(&self, service: &str, path: &str) -> bool {
        self.operations_of(service).any(|o| o.method == "GET" && o.path == path)
    }
}

/// What a `kind` probe of `comp` may GET: the contract's paths when there is
/// a contract, else the path kubegate.toml names (none when it names none).
/// The static rules and the live diagnosis both judge probes by this.
pub fn expected_probe_paths(contract: Option<&Contract>, comp: &Component, kind: ProbeKind) -> Vec<String> {
    match contract {
        Some(c) => c.accepted_probe_paths(comp.contract_name(), kind).into_iter().map(String::from).collect(),
        None => {
            let configured = match kind {
                ProbeKind::Readiness => comp.readiness_path.as_str(),
                // A startup probe guards the same start-up as liveness.
                ProbeKind::Liveness | ProbeKind::Startup => comp.liveness_path.as_str(),
            };
            (!configured.is_empty()).then(|| configured.to_owned()).into_iter().collect()
        }
    }
}

/// The port `comp` listens on: the contract's `x-kubegate-services` port when
/// it gives one, else kubegate.toml's (0: unknown).
pub fn expected_port(contract: Option<&Contract>, comp: &Component) -> i32 {
    contract
        .and_then(|c| c.services.get(comp.contract_name()))
        .and_then(|s| s.port)
        .and_then(|p| i32::try_from(p).ok())
        .unwrap_or(comp.port)
}

/// A string or a list of strings (numbers accepted, as status codes often are).
fn strings(v: &Value) -> Vec<String> {
    let one = |x: &Value| match x {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    match v {
        Value::Array(a) => a.iter().filter_map(one).collect(),
        other => one(other).into_iter().collect(),
    }
}

fn services_of(v: &Value) -> Result<Option<Vec<String>>, String> {
    match v.get("x-kubegate-service") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![s.clone()])),
        Some(Value::Array(a)) => a
            .iter()
            .map(|s| {
                s.as_str().map(String::from).ok_or_else(|| "x-kubegate-service entries must be strings".to_string())
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err("x-kubegate-service must be a string or a list of strings".into()),
    }
}

fn probe_of(v: &Value) -> Result<Option<Vec<ProbeKind>>, String> {
    let kind = |s: &str| match s {
        "liveness" => Ok(ProbeKind::Liveness),
        "readiness" => Ok(ProbeKind::Readiness),
        "startup" => Ok(ProbeKind::Startup),
        other => Err(format!("x-kubegate-probe `{other}`: expected liveness, readiness or startup")),
    };
    match v.get("x-kubegate-probe") {
        None => Ok(None),
        Some(Value::String(s)) => Ok(Some(vec![kind(s)?])),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| x.as_str().ok_or_else(|| "x-kubegate-probe entries must be strings".to_string()).and_then(kind))
            .collect::<Result<Vec<_>, _>>()
            .map(Some),
        Some(_) => Err("x-kubegate-probe must be a string or a list of strings".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"openapi: 3.1.0
info: {title: t, version: "1"}
paths:
  /health:
    get:
      x-kubegate-service: [backend, frontend]
      x-kubegate-probe: liveness
      x-kubegate-status: {backend: ["200", "503"], frontend: ["200"]}
      responses: {"200": {description: ok}, "503": {description: fault}}
  /ready:
    x-kubegate-probe: [readiness]
    get:
      responses: {"200": {description: ok}, "503": {description: not ready}}
  /:
    get:
      x-kubegate-service: frontend
      responses: {"200": {description: page}}
"#;

    #[test]
    fn probes_and_services_are_read() {
        let c = Contract::parse(TEXT, Path::new("openapi.yaml")).expect("parses");
        assert_eq!(c.probe_paths("backend", ProbeKind::Liveness), vec!["/health"]);
        assert_eq!(c.probe_paths("frontend", ProbeKind::Readiness), vec!["/ready"]);
        assert!(c.has_get("frontend", "/"));
        assert!(!c.has_get("backend", "/"));
        let ready = c.operations.iter().find(|o| o.path == "/ready").expect("ready op");
        assert_eq!(ready.statuses, vec!["200", "503"]);
        assert_eq!(c.probe_paths("backend", ProbeKind::Startup), Vec::<&str>::new());
        let health = c.operations.iter().find(|o| o.path == "/health").expect("health op");
        assert_eq!(health.statuses_for("frontend"), ["200"]);
        assert_eq!(health.statuses_for("backend"), ["200", "503"]);
    }

    #[test]
    fn bad_probe_kind_is_an_error() {
        let text = TEXT.replace("x-kubegate-probe: liveness", "x-kubegate-probe: alive");
        let err = Contract::parse(&text, Path::new("openapi.yaml")).expect_err("rejected");
        assert!(err.to_string().contains("alive"), "{err}");
    }
}
