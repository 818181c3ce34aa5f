//! The services' HTTP contract (fixtures/contracts/openapi.yaml) as the
//! container tests use it: check one real answer against the operation's
//! documented status, content type and JSON schema, and prove at the end
//! that every operation of a service was exercised.

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::Value;

/// One HTTP answer as the contract judges it.
#[derive(Debug, Clone)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// `Content-Type` header, if any.
    pub content_type: Option<String>,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl Answer {
    /// The body as JSON (panics with the body shown when it is not JSON).
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("body is not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }
}

/// The parsed contract plus what has been checked against it.
pub struct Contract {
    doc: Value,
    covered: Mutex<BTreeSet<(String, String, String)>>,
}

/// The contract file of this repo.
pub fn contract_file() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../fixtures/contracts/openapi.yaml")
}

impl Contract {
    /// Read and parse the contract (panics naming the file: a test setup error).
    pub fn load() -> Self {
        let file = contract_file();
        let text = std::fs::read_to_string(&file).unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        let doc: Value =
            serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{} is not valid YAML: {e}", file.display()));
        Contract { doc, covered: Mutex::new(BTreeSet::new()) }
    }

    /// Follow `$ref: "#/..."` pointers until a concrete object.
    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            let pointer = r.strip_prefix('#').unwrap_or_else(|| panic!("only local $ref supported, got {r}"));
            v = self.doc.pointer(pointer).unwrap_or_else(|| panic!("$ref {r} points nowhere"));
        }
        v
    }

    /// Check `answer` of `service` to `method template` (e.g. `GET /api/tasks/{id}`)
    /// against the contract; records the operation as covered.
    pub fn check(&self, service: &str, method: &str, template: &str, answer: &Answer) -> Result<(), String> {
        let what = format!("{service}: {method} {template} -> {}", answer.status);
        let op = self
            .doc
            .pointer(&format!("/paths/{}/{}", template.replace('~', "~0").replace('/', "~1"), method.to_lowercase()))
            .ok_or_else(|| format!("{what}: the contract has no operation {method} {template}"))?;
        self.covered.lock().expect("lock").insert((service.into(), method.to_uppercase(), template.into()));

        // Per-service status lists (x-kubegate-status) narrow the general list.
        let status = answer.status.to_string();
        if let Some(allowed) = op.get("x-kubegate-status").and_then(|s| s.get(service)).and_then(Value::as_array)
            && !allowed.iter().any(|s| s.as_str() == Some(&status))
        {
            return Err(format!("{what}: status not in x-kubegate-status.{service} {allowed:?}"));
        }
        let responses = op.get("responses").ok_or_else(|| format!("{what}: operation has no responses"))?;
        let response =
            responses.get(&status).or_else(|| responses.get("default")).map(|r| self.resolve(r)).ok_or_else(|| {
                let listed: Vec<&String> = responses.as_object().map(|o| o.keys().collect()).unwrap_or_default();
                format!(
                    "{what}: status not in the contract (lists {listed:?}); body: {}",
                    String::from_utf8_lossy(&answer.body)
                )
            })?;

        let Some(content) = response.get("content").and_then(Value::as_object) else {
            return if answer.body.is_empty() {
                Ok(())
            } else {
                Err(format!("{what}: the contract documents no body, got {} bytes", answer.body.len()))
            };
        };
        let essence = answer
            .content_type
            .as_deref()
            .map(|ct| ct.split(';').next().unwrap_or("").trim().to_ascii_lowercase())
            .ok_or_else(|| format!("{what}: no Content-Type header"))?;
        let media = content.get(&essence).ok_or_else(|| {
            format!("{what}: Content-Type {essence} not among {:?}", content.keys().collect::<Vec<_>>())
        })?;
        let Some(schema) = media.get("schema") else {
            return Ok(());
        };
        let instance = if essence == "application/json" || essence.ends_with("+json") {
            serde_json::from_slice::<Value>(&answer.body)
                .map_err(|e| format!("{what}: body is not JSON ({e}): {}", String::from_utf8_lossy(&answer.body)))?
        } else {
            Value::String(String::from_utf8_lossy(&answer.body).into_owned())
        };
        self.validate(schema, &instance)
            .map_err(|errors| format!("{what}: body does not match the schema:\n{errors}\nbody: {instance}"))
    }

    /// Validate `instance` against an OpenAPI schema object whose `$ref`s
    /// point into this document's `components`.
    fn validate(&self, schema: &Value, instance: &Value) -> Result<(), String> {
        let mut root = serde_json::json!({ "allOf": [schema] });
        root["components"] = self.doc.get("components").cloned().unwrap_or(Value::Null);
        let validator = jsonschema::validator_for(&root).map_err(|e| format!("schema does not compile: {e}"))?;
        let errors: Vec<String> =
            validator.iter_errors(instance).map(|e| format!("  at '{}': {e}", e.instance_path())).collect();
        if errors.is_empty() { Ok(()) } else { Err(errors.join("\n")) }
    }

    /// Every `(METHOD, path)` the contract says `service` answers, directly
    /// (`x-kubegate-service`) or as a proxy (`x-kubegate-proxied-by`).
    /// Operations needing an environment (`x-kubegate-requires-env`) are
    /// included only when `env` holds it.
    pub fn operations_of(&self, service: &str, env: &[&str]) -> BTreeSet<(String, String)> {
        let mut ops = BTreeSet::new();
        let Some(paths) = self.doc.get("paths").and_then(Value::as_object) else {
            return ops;
        };
        let lists = |v: Option<&Value>| -> Vec<String> {
            v.and_then(Value::as_array)
                .map(|a| a.iter().filter_map(|s| s.as_str().map(String::from)).collect())
                .unwrap_or_default()
        };
        for (path, item) in paths {
            let served = lists(item.get("x-kubegate-service")).iter().any(|s| s == service)
                || lists(item.get("x-kubegate-proxied-by")).iter().any(|s| s == service);
            if !served {
                continue;
            }
            for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
                let Some(op) = item.get(method) else { continue };
                let needs = lists(op.get("x-kubegate-requires-env"));
                if needs.iter().all(|n| env.contains(&n.as_str())) {
                    ops.insert((method.to_uppercase(), path.clone()));
                }
            }
        }
        ops
    }

    /// The contract's path template that `path` (query ignored) requests with
    /// `method`, as a router would pick it: segments equal or a `{param}`,
    /// the most literal segments winning (`/api/tasks/7` -> `/api/tasks/{id}`).
    pub fn template_for(&self, method: &str, path: &str) -> Option<String> {
        let path = path.split('?').next().unwrap_or(path);
        let want: Vec<&str> = path.split('/').collect();
        let paths = self.doc.get("paths")?.as_object()?;
        paths
            .iter()
            .filter(|(_, item)| item.get(method.to_lowercase()).is_some())
            .filter_map(|(template, _)| {
                let segs: Vec<&str> = template.split('/').collect();
                let fits =
                    segs.len() == want.len() && segs.iter().zip(&want).all(|(t, w)| t == w || t.starts_with('{'));
                fits.then(|| (segs.iter().filter(|t| !t.starts_with('{')).count(), template))
            })
            .max_by_key(|(literal, _)| *literal)
            .map(|(_, template)| template.clone())
    }

    /// Operations of `service` that no [`Contract::check`] has exercised.
    pub fn uncovered(&self, service: &str, env: &[&str]) -> Vec<String> {
        let covered = self.covered.lock().expect("lock");
        self.operations_of(service, env)
            .into_iter()
            .filter(|(m, p)| !covered.contains(&(service.to_owned(), m.clone(), p.clone())))
            .map(|(m, p)| format!("{m} {p}"))
            .collect()
    }
}
