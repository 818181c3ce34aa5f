//! The services' HTTP contract (an OpenAPI 3 file, `contract` in
//! kubegate.toml), reduced to what the static rules and the live checks need:
//! which service has which operation, which operations are probes, the status
//! codes they promise, and the JSON body each one takes (from which the live
//! checks make a valid request: [`RequestBody::minimal`]).
//!
//! OpenAPI extensions tie the contract to the deployment, on the
//! operation (or on the path item, for all its operations):
//! - `x-kubegate-service: backend` (or a list): the component(s) serving it;
//!   absent = every service.
//! - `x-kubegate-probe: liveness | readiness | startup` (or a list): the probes it backs.
//! - `x-kubegate-status: {service: [codes]}`: the statuses each service may answer with.
//! - `x-kubegate-requires-env: ["NAME=value"]` (or `NAME`, any non-empty
//!   value): the operation is served only with this environment setting, which
//!   a deployment leaves off by default (test-only switches, a demo login): the
//!   live checks expect such an operation to answer a status it declares
//!   outside 2xx ([`Operation::off_by_default`]).
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
    /// Path template, e.g. `/v1/tasks/{id}`.
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
    /// The JSON request body it takes, if it declares one.
    pub request_body: Option<RequestBody>,
}

impl Operation {
    /// Statuses `service` may answer with (its `x-kubegate-status` entry, else all listed).
    pub fn statuses_for(&self, service: &str) -> &[String] {
        self.status_by_service.get(service).map(Vec::as_slice).unwrap_or(&self.statuses)
    }

    /// Whether the contract lets `service` answer `status` (the code itself,
    /// its range such as `2XX`, or `default`).
    pub fn declares(&self, service: &str, status: u16) -> bool {
        let range = format!("{}XX", status / 100);
        self.statuses_for(service)
            .iter()
            .any(|s| s == &status.to_string() || s.eq_ignore_ascii_case(&range) || s == "default")
    }

    /// Served only with an environment setting a deployment leaves off by
    /// default (`x-kubegate-requires-env`): its route must not answer 2xx.
    pub fn off_by_default(&self) -> bool {
        !self.requires_env.is_empty()
    }

    /// The names of its path parameters, in order (`{id}` of `/v1/tasks/{id}`).
    pub fn path_params(&self) -> Vec<&str> {
        path_params(&self.path)
    }
}

/// The `{name}` segments of a path template, in order.
pub fn path_params(template: &str) -> Vec<&str> {
    template.split('/').filter_map(|s| s.strip_prefix('{').and_then(|s| s.strip_suffix('}'))).collect()
}

/// An operation's JSON request body (`requestBody` with `application/json`
/// or `*+json` content).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct RequestBody {
    /// `requestBody.required`.
    pub required: bool,
    /// The body's JSON schema, every local `$ref` (`#/components/schemas/...`) resolved.
    pub schema: Value,
    /// The media type's `example`, else the `value` of the first of its `examples`.
    pub example: Option<Value>,
}

impl RequestBody {
    /// The smallest body the contract accepts: its example if it gives one,
    /// else the schema's required properties (and as many more as
    /// `minProperties` asks), each from its own `example`, `const` or first
    /// `enum` value, else by type: strings `text` (or a value of their
    /// `format`, within `minLength`/`maxLength`), integers and numbers 1
    /// (within `minimum`/`maximum`), booleans true, arrays `minItems`
    /// items, objects recursively.
    pub fn minimal(&self, text: &str) -> Value {
        self.example.clone().unwrap_or_else(|| synthesize(&self.schema, text, Fill::Minimal, 0))
    }

    /// A body with every property the schema declares, strings as long as
    /// their `maxLength` lets them be, up to `long` characters (`text`
    /// repeated): a request that makes the app store as much as it takes.
    pub fn full(&self, text: &str, long: usize) -> Value {
        synthesize(&self.schema, text, Fill::Full(long), 0)
    }
}

/// How much of a schema [`synthesize`] fills in.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Fill {
    /// Only what the schema requires, examples first.
    Minimal,
    /// Every property; strings of up to this many characters.
    Full(usize),
}

/// Nesting beyond which a schema is not followed (a recursive `$ref`).
const MAX_DEPTH: usize = 16;

/// A value valid against `schema` (see [`RequestBody::minimal`] and [`RequestBody::full`]).
fn synthesize(schema: &Value, text: &str, fill: Fill, depth: usize) -> Value {
    if depth > MAX_DEPTH {
        return Value::Null;
    }
    if fill == Fill::Minimal {
        if let Some(e) = schema.get("example") {
            return e.clone();
        }
        if let Some(e) = schema.get("examples").and_then(Value::as_array).and_then(|a| a.first()) {
            return e.clone();
        }
    }
    if let Some(c) = schema.get("const") {
        return c.clone();
    }
    if let Some(values) = schema.get("enum").and_then(Value::as_array)
        && let Some(v) = values.iter().find(|v| !v.is_null()).or(values.first())
    {
        return v.clone();
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        let mut merged = serde_json::Map::new();
        for part in parts {
            match synthesize(part, text, fill, depth + 1) {
                Value::Object(o) => merged.extend(o),
                other if parts.len() == 1 => return other,
                _ => {}
            }
        }
        return Value::Object(merged);
    }
    for choice in ["oneOf", "anyOf"] {
        if let Some(first) = schema.get(choice).and_then(Value::as_array).and_then(|a| a.first()) {
            return synthesize(first, text, fill, depth + 1);
        }
    }
    let ty = match schema.get("type") {
        Some(Value::String(t)) => t.as_str(),
        Some(Value::Array(types)) => types.iter().filter_map(Value::as_str).find(|t| *t != "null").unwrap_or("null"),
        _ if schema.get("properties").is_some() => "object",
        _ if schema.get("items").is_some() => "array",
        _ => "string",
    };
    match ty {
        "object" => {
            let props = schema.get("properties").and_then(Value::as_object);
            let required: Vec<&str> = schema
                .get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            let mut keys: Vec<&str> = required.clone();
            let min = schema.get("minProperties").and_then(Value::as_u64).unwrap_or(0) as usize;
            for k in props.into_iter().flat_map(|p| p.keys()) {
                if !keys.contains(&k.as_str()) && (fill != Fill::Minimal || keys.len() < min) {
                    keys.push(k.as_str());
                }
            }
            let none = Value::Object(serde_json::Map::new());
            Value::Object(
                keys.into_iter()
                    .map(|k| {
                        let sub = props.and_then(|p| p.get(k)).unwrap_or(&none);
                        (k.to_owned(), synthesize(sub, text, fill, depth + 1))
                    })
                    .collect(),
            )
        }
        "array" => {
            let min = schema.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
            let n = if fill == Fill::Minimal { min } else { min.max(1) };
            let none = Value::Object(serde_json::Map::new());
            let item = schema.get("items").unwrap_or(&none);
            Value::Array((0..n).map(|_| synthesize(item, text, fill, depth + 1)).collect())
        }
        "integer" | "number" => Value::from(number_within(schema)),
        "boolean" => Value::Bool(true),
        "null" => Value::Null,
        _ => Value::String(string_within(schema, text, fill)),
    }
}

/// 1, or the nearest integer the schema's bounds allow.
fn number_within(schema: &Value) -> i64 {
    let bound = |k: &str| schema.get(k).and_then(Value::as_f64);
    let mut v = 1i64;
    if let Some(min) = bound("minimum") {
        v = v.max(min.ceil() as i64);
        // OpenAPI 3.0: `exclusiveMinimum: true` beside `minimum`.
        if schema.get("exclusiveMinimum") == Some(&Value::Bool(true)) && v as f64 <= min {
            v = min.floor() as i64 + 1;
        }
    }
    if let Some(min) = bound("exclusiveMinimum") {
        v = v.max(min.floor() as i64 + 1);
    }
    if let Some(max) = bound("maximum") {
        v = v.min(max.floor() as i64);
        if schema.get("exclusiveMaximum") == Some(&Value::Bool(true)) && v as f64 >= max {
            v = max.ceil() as i64 - 1;
        }
    }
    if let Some(max) = bound("exclusiveMaximum") {
        v = v.min(max.ceil() as i64 - 1);
    }
    v
}

/// `text` (or a value of the schema's `format`), within its length bounds.
fn string_within(schema: &Value, text: &str, fill: Fill) -> String {
    let formatted = match schema.get("format").and_then(Value::as_str).unwrap_or("") {
        "date-time" => Some("2026-01-01T00:00:00Z"),
        "date" => Some("2026-01-01"),
        "time" => Some("00:00:00Z"),
        "email" => Some("kubegate@example.com"),
        "uri" | "url" | "iri" => Some("https://example.com/kubegate"),
        "uuid" => Some("00000000-0000-4000-8000-000000000000"),
        "hostname" => Some("example.com"),
        "ipv4" => Some("192.0.2.1"),
        "ipv6" => Some("2001:db8::1"),
        "byte" => Some("a3ViZWdhdGU="),
        _ => None,
    };
    if let Some(f) = formatted {
        return f.to_owned();
    }
    let len = |k: &str| schema.get(k).and_then(Value::as_u64).map(|n| n as usize);
    let (min, max) = (len("minLength").unwrap_or(0), len("maxLength"));
    let natural = text.chars().count().max(1);
    let want = match fill {
        Fill::Minimal => natural,
        Fill::Full(long) => long.max(natural),
    };
    let want = max.map_or(want, |m| want.min(m)).max(min);
    let base = if text.is_empty() { "x" } else { text };
    base.chars().cycle().take(want).collect()
}

/// `v` with every local `$ref` (`#/...`) replaced by what it points to in
/// `doc`, following at most [`MAX_DEPTH`] of them in a row (a recursive
/// schema keeps its `$ref` there).
fn resolve_refs(v: &Value, doc: &Value, hops: usize) -> Value {
    match v {
        Value::Object(o) => {
            if let Some(target) = o.get("$ref").and_then(Value::as_str).and_then(|r| r.strip_prefix('#'))
                && hops < MAX_DEPTH
                && let Some(found) = doc.pointer(target)
            {
                return resolve_refs(found, doc, hops + 1);
            }
            Value::Object(o.iter().map(|(k, x)| (k.clone(), resolve_refs(x, doc, hops))).collect())
        }
        Value::Array(a) => Value::Array(a.iter().map(|x| resolve_refs(x, doc, hops)).collect()),
        other => other.clone(),
    }
}

/// The JSON body of an operation object, `$ref`s resolved against `doc`.
fn request_body_of(op: &Value, doc: &Value) -> Option<RequestBody> {
    let body = resolve_refs(op.get("requestBody")?, doc, 0);
    let content = body.get("content")?.as_object()?;
    let media = content
        .iter()
        .find(|(t, _)| {
            let essence = t.split(';').next().unwrap_or("").trim();
            essence == "application/json" || essence.ends_with("+json")
        })
        .map(|(_, m)| m)?;
    let example = media.get("example").cloned().or_else(|| {
        media.get("examples").and_then(Value::as_object).and_then(|e| e.values().find_map(|x| x.get("value").cloned()))
    });
    Some(RequestBody {
        required: body.get("required").and_then(Value::as_bool).unwrap_or(false),
        schema: media.get("schema").cloned().unwrap_or(Value::Object(serde_json::Map::new())),
        example,
    })
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
                    request_body: request_body_of(op, &doc),
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

    /// The operation `method` (any case) on exactly the template `path`.
    pub fn operation(&self, method: &str, path: &str) -> Option<&Operation> {
        self.operations.iter().find(|o| o.method.eq_ignore_ascii_case(method) && o.path == path)
    }

    /// The operation `method` on one object of the collection `path`: the
    /// template that extends it by one `{param}` segment (`/v1/tasks` ->
    /// `/v1/tasks/{id}`).
    pub fn item_operation(&self, method: &str, path: &str) -> Option<&Operation> {
        let prefix = format!("{}/", path.trim_end_matches('/'));
        self.operations.iter().find(|o| {
            o.method.eq_ignore_ascii_case(method)
                && o.path
                    .strip_prefix(&prefix)
                    .is_some_and(|rest| rest.starts_with('{') && rest.ends_with('}') && !rest.contains('/'))
        })
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
    fn request_bodies_come_from_the_contract_refs_resolved() {
        let taskly = Contract::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fixtures/taskly/openapi.yaml"))
            .expect("taskly's contract loads");
        let body = |m: &str, p: &str| {
            taskly.operation(m, p).and_then(|o| o.request_body.as_ref()).map(|b| b.minimal("kubegate t"))
        };
        assert_eq!(body("POST", "/v1/chat"), Some(serde_json::json!({"message": "kubegate t"})));
        assert_eq!(body("POST", "/v1/tasks"), Some(serde_json::json!({"title": "kubegate t"})), "NewTask via $ref");
        // TaskPatch requires nothing but minProperties 1: one property, valid.
        assert_eq!(body("PATCH", "/v1/tasks/{id}"), Some(serde_json::json!({"completed": true})));
        assert_eq!(body("DELETE", "/v1/tasks/{id}"), None, "no request body declared");
        let create = taskly.operation("POST", "/v1/tasks").and_then(|o| o.request_body.as_ref()).expect("body");
        assert!(create.required);
        let full = create.full("load ", 1500);
        assert_eq!(full["title"].as_str().map(str::len), Some(200), "maxLength 200");
        assert_eq!(full["description"].as_str().map(str::len), Some(1500));
        assert_eq!(taskly.item_operation("DELETE", "/v1/tasks").map(|o| o.path.as_str()), Some("/v1/tasks/{id}"));
        assert_eq!(taskly.item_operation("GET", "/v1/tasks"), None, "taskly has no GET by id");
        let complete = taskly.operation("POST", "/v1/tasks/{id}/complete").expect("complete");
        assert_eq!(complete.path_params(), ["id"]);
        assert!(complete.declares("api", 404) && !complete.declares("api", 418));
        let demo = taskly.operation("GET", "/demo-token").expect("demo-token");
        assert!(demo.off_by_default(), "the demo login needs DEMO_TOKEN: {:?}", demo.requires_env);
    }

    #[test]
    fn a_body_is_its_example_else_made_from_the_schema() {
        let text = r##"openapi: 3.1.0
paths:
  /a:
    post:
      requestBody:
        content:
          application/json:
            example: {given: true}
            schema: {type: object}
  /b:
    post:
      requestBody:
        $ref: "#/components/requestBodies/B"
components:
  requestBodies:
    B:
      required: true
      content:
        application/merge-patch+json:
          schema:
            type: object
            required: [kind, count, score, at, tags, owner, note, nick, either]
            properties:
              kind: {type: string, enum: [first, second]}
              count: {type: integer, minimum: 5, maximum: 9}
              score: {type: number, exclusiveMinimum: 0}
              at: {type: string, format: date-time}
              tags: {type: array, minItems: 1, items: {type: string, maxLength: 3}}
              owner: {$ref: "#/components/schemas/Owner"}
              note: {type: [string, "null"], minLength: 12}
              nick: {type: string, example: zed}
              either: {oneOf: [{type: boolean}, {type: string}]}
              optional: {type: string}
  schemas:
    Owner:
      type: object
      required: [name]
      properties:
        name: {type: string}
        parent: {$ref: "#/components/schemas/Owner"}
"##;
        let c = Contract::parse(text, Path::new("openapi.yaml")).expect("parses");
        let a = c.operation("post", "/a").and_then(|o| o.request_body.clone()).expect("body of /a");
        assert_eq!(a.minimal("kubegate x"), serde_json::json!({"given": true}), "the example first");
        let b = c.operation("POST", "/b").and_then(|o| o.request_body.clone()).expect("body of /b");
        assert!(b.required);
        assert_eq!(
            b.minimal("kubegate x"),
            serde_json::json!({
                "kind": "first", "count": 5, "score": 1, "at": "2026-01-01T00:00:00Z", "tags": ["kub"],
                "owner": {"name": "kubegate x"}, "note": "kubegate xku", "nick": "zed", "either": true
            })
        );
        // A recursive schema ends: `parent` is followed a bounded number of times.
        let full = b.full("kubegate x", 20);
        assert!(full["owner"]["parent"]["parent"]["name"].is_string(), "{full}");
    }

    #[test]
    fn bad_probe_kind_is_an_error() {
        let text = TEXT.replace("x-kubegate-probe: liveness", "x-kubegate-probe: alive");
        let err = Contract::parse(&text, Path::new("openapi.yaml")).expect_err("rejected");
        assert!(err.to_string().contains("alive"), "{err}");
    }
}
