//! API calls made from the contract alone, for any app: every operation a
//! service declares ([`every_operation`]), each with a body the contract
//! accepts ([`crate::contract::RequestBody::minimal`]), and the objects its
//! `{id}` paths act on made through the contract's own create operation
//! (the POST on the collection the path extends: `/v1/tasks/{id}` ->
//! `POST /v1/tasks`, the id taken from the answer's `id`). Operations the
//! contract serves only with an environment setting that is off by default
//! (`x-kubegate-requires-env`: test-only switches, a demo login) are called
//! too: they must answer a declared status outside 2xx.
//!
//! LIVE-PROBE-ENDPOINTS judges each answer against the contract
//! ([`Call::contract_problem`]); LIVE-PARITY-ANSWERS makes the same calls on
//! both paths and compares them.

use super::http::{Answer, AppClient, Credential};
use crate::contract::{Contract, Operation};
use serde_json::Value;
use std::collections::BTreeMap;

/// One call of a contract operation.
#[derive(Debug, Clone)]
pub struct Call {
    /// The operation, as the contract declares it.
    pub op: Operation,
    /// The path as sent (parameters filled in).
    pub path: String,
    /// The JSON body sent, if any.
    pub body: Option<Value>,
    /// Whether it carried the credential (probes go without).
    pub authed: bool,
    /// The answer, or why there was none (no connection, no object to act on).
    pub answer: Result<Answer, String>,
    /// A create's object, looked up again by its id (when the contract can list or get it).
    pub read_back: Option<ReadBack>,
}

impl Call {
    /// `POST /v1/tasks/7`, for messages.
    pub fn what(&self) -> String {
        format!("{} {}", self.op.method, self.path)
    }

    /// What is wrong with the answer as the contract has `service` answer:
    /// no answer, a status the contract does not declare, a route that is
    /// off by default answering 2xx, or any other operation not answering
    /// 2xx. `None` when it answered as declared.
    pub fn contract_problem(&self, service: &str) -> Option<String> {
        let what = self.what();
        let a = match &self.answer {
            Ok(a) => a,
            Err(e) => return Some(format!("{what}: {e}")),
        };
        let success = (200..300).contains(&a.status);
        if !self.op.declares(service, a.status) {
            Some(format!(
                "{what}: status {} not in the contract's {:?}: {}",
                a.status,
                self.op.statuses_for(service),
                super::http::short(&a.body)
            ))
        } else if self.op.off_by_default() && success {
            Some(format!(
                "{what}: answers {} although the contract serves it only with {} (x-kubegate-requires-env), which a deployment leaves off",
                a.status,
                self.op.requires_env.join(", ")
            ))
        } else if !self.op.off_by_default() && !success {
            Some(format!("{what}: status {}: {}", a.status, super::http::short(&a.body)))
        } else {
            None
        }
    }
}

/// An object a create answered, looked up again by its id.
#[derive(Debug, Clone, PartialEq)]
pub struct ReadBack {
    /// The id the create answered.
    pub id: String,
    /// How it was read: `GET /v1/tasks/7`, or `GET /v1/tasks` and found by id.
    pub via: String,
    /// The object as read, or why it was not found.
    pub found: Result<Value, String>,
}

/// The id of an object as an answer carries it: its `id`, a string or a number.
pub fn object_id(answer: &Value) -> Option<String> {
    match &answer["id"] {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// The order operations are called in: without path parameters first
/// (the creates among them), then by depth, every DELETE last (deepest
/// first), so each `{id}` operation finds its object still there.
fn order(op: &Operation) -> (bool, i64, String, String) {
    let depth = op.path_params().len() as i64;
    let delete = op.method == "DELETE";
    (delete, if delete { -depth } else { depth }, op.path.clone(), op.method.clone())
}

/// Objects made for the `{param}`s, by the collection template they were created on.
type Objects = BTreeMap<String, Result<String, String>>;

/// Call every operation `contract` gives `service` through `client`, with
/// `auth` on every one that is not a probe; strings in the bodies are `text`.
pub async fn every_operation(
    client: &AppClient,
    contract: &Contract,
    service: &str,
    auth: Option<&Credential>,
    text: &str,
) -> Vec<Call> {
    let mut ops: Vec<&Operation> = contract.operations_of(service).collect();
    ops.sort_by_key(|o| order(o));
    let mut objects = Objects::new();
    let mut calls = Vec::new();
    for op in ops {
        match fill(client, contract, auth, text, &op.path, &mut objects, &mut calls).await {
            Ok(path) => {
                let call = send(client, contract, op, path, auth, text, &mut objects).await;
                calls.push(call);
            }
            Err(why) => calls.push(Call {
                op: op.clone(),
                path: op.path.clone(),
                body: None,
                authed: false,
                answer: Err(format!("no object to act on: {why}")),
                read_back: None,
            }),
        }
    }
    calls
}

/// `template` with each `{param}` replaced by the id of an object of the
/// collection before it, made through that collection's POST when none was
/// made yet (that create is recorded in `calls`).
async fn fill(
    client: &AppClient,
    contract: &Contract,
    auth: Option<&Credential>,
    text: &str,
    template: &str,
    objects: &mut Objects,
    calls: &mut Vec<Call>,
) -> Result<String, String> {
    let segments: Vec<&str> = template.split('/').collect();
    let mut filled: Vec<String> = Vec::with_capacity(segments.len());
    for (i, seg) in segments.iter().enumerate() {
        if !(seg.starts_with('{') && seg.ends_with('}')) {
            filled.push((*seg).to_owned());
            continue;
        }
        let collection = segments[..i].join("/");
        if !objects.contains_key(&collection) {
            match contract.operation("POST", &collection) {
                Some(create) => {
                    let call = send(client, contract, create, filled.join("/"), auth, text, objects).await;
                    calls.push(call);
                }
                None => {
                    objects.insert(
                        collection.clone(),
                        Err(format!("the contract has no POST {collection} to create the object {template} acts on")),
                    );
                }
            }
        }
        match &objects[&collection] {
            Ok(id) => filled.push(id.clone()),
            Err(why) => return Err(why.clone()),
        }
    }
    Ok(filled.join("/"))
}

/// Why a create's call gave no object.
fn no_id(call: &Call) -> String {
    match &call.answer {
        Ok(a) if (200..300).contains(&a.status) => {
            format!("{} answered {} without an `id`: {}", call.what(), a.status, super::http::short(&a.body))
        }
        Ok(a) => format!("{} answered {}", call.what(), a.described()),
        Err(e) => format!("{}: {e}", call.what()),
    }
}

/// Send `op` on `path`. The first POST on a template gives it its object
/// (the id it answered, read back by id) or the reason it has none.
async fn send(
    client: &AppClient,
    contract: &Contract,
    op: &Operation,
    path: String,
    auth: Option<&Credential>,
    text: &str,
    objects: &mut Objects,
) -> Call {
    let auth = auth.filter(|_| op.probes.is_empty());
    let body = op.request_body.as_ref().map(|b| b.minimal(text));
    let method = reqwest::Method::from_bytes(op.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    let answer = client
        .call(method, &path, auth, body.clone())
        .await
        .map_err(|e| format!("no answer: {}", super::http::one_line_chain(&e)));
    let mut call = Call { op: op.clone(), path, body, authed: auth.is_some(), answer, read_back: None };
    if op.method != "POST" || objects.contains_key(&op.path) {
        return call;
    }
    let created = match &call.answer {
        Ok(a) if (200..300).contains(&a.status) => object_id(&a.json()),
        _ => None,
    };
    let object = match created {
        Some(id) => {
            call.read_back = read_back(client, contract, &op.path, &call.path, &id, auth).await;
            Ok(id)
        }
        None => Err(no_id(&call)),
    };
    objects.insert(op.path.clone(), object);
    call
}

/// Look the object `id` of the collection `template` (sent as `path`) up
/// again: `GET path/{id}` when the contract has it, else `GET path` and the
/// element with that id; `None` when the contract has neither.
async fn read_back(
    client: &AppClient,
    contract: &Contract,
    template: &str,
    path: &str,
    id: &str,
    auth: Option<&Credential>,
) -> Option<ReadBack> {
    let answered = |a: Result<Answer, reqwest::Error>, via: &str| match a {
        Ok(a) if (200..300).contains(&a.status) => Ok(a.json()),
        Ok(a) => Err(format!("{via} answered {}", a.described())),
        Err(e) => Err(format!("{via}: {e}")),
    };
    if contract.item_operation("GET", template).is_some() {
        let item = format!("{}/{id}", path.trim_end_matches('/'));
        let via = format!("GET {item}");
        let found = answered(client.get(&item, auth).await, &via);
        return Some(ReadBack { id: id.to_owned(), via, found });
    }
    contract.operation("GET", template)?;
    let via = format!("GET {path}");
    let found = answered(client.get(path, auth).await, &via).and_then(|list| {
        find_by_id(&list, id).cloned().ok_or_else(|| format!("{via} does not list the object with id {id}"))
    });
    Some(ReadBack { id: id.to_owned(), via: format!("{via}, found by id"), found })
}

/// The element with `id` in a list answer: a JSON array, or the first array
/// among an object's fields (`{"items": [...]}`).
pub fn find_by_id<'a>(list: &'a Value, id: &str) -> Option<&'a Value> {
    let items = match list {
        Value::Array(a) => a,
        Value::Object(o) => o.values().find_map(Value::as_array)?,
        _ => return None,
    };
    items.iter().find(|x| object_id(x).as_deref() == Some(id))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::path::Path;

    fn taskly() -> Contract {
        Contract::load(&Path::new(env!("CARGO_MANIFEST_DIR")).join("../fixtures/taskly/openapi.yaml"))
            .expect("taskly's contract")
    }

    fn call(op: &Operation, status: u16) -> Call {
        Call {
            op: op.clone(),
            path: op.path.clone(),
            body: None,
            authed: true,
            answer: Ok(Answer {
                status,
                content_type: "application/json".into(),
                body: "{}".into(),
                served_by: vec![],
            }),
            read_back: None,
        }
    }

    #[test]
    fn creates_come_first_and_deletes_last() {
        let c = taskly();
        let mut ops: Vec<&Operation> = c.operations_of("api").collect();
        ops.sort_by_key(|o| order(o));
        let seq: Vec<String> = ops.iter().map(|o| format!("{} {}", o.method, o.path)).collect();
        let at = |s: &str| seq.iter().position(|x| x == s).unwrap_or_else(|| panic!("{s} in {seq:?}"));
        assert!(at("POST /v1/tasks") < at("PATCH /v1/tasks/{id}"));
        assert!(at("POST /v1/tasks/{id}/complete") < at("DELETE /v1/tasks/{id}"));
        assert_eq!(seq.last().map(String::as_str), Some("DELETE /v1/tasks/{id}"));
    }

    #[test]
    fn answers_are_judged_against_the_contract() {
        let c = taskly();
        let op = |m: &str, p: &str| c.operation(m, p).cloned().expect("operation");
        let create = op("POST", "/v1/tasks");
        assert_eq!(call(&create, 201).contract_problem("api"), None);
        let problem = call(&create, 418).contract_problem("api").expect("undeclared status");
        assert!(problem.contains("status 418 not in the contract"), "{problem}");
        let problem = call(&create, 401).contract_problem("api").expect("declared but not a success");
        assert!(problem.starts_with("POST /v1/tasks: status 401"), "{problem}");
        let demo = op("GET", "/demo-token");
        assert_eq!(call(&demo, 404).contract_problem("web"), None, "off by default: 404 is right");
        let problem = call(&demo, 200).contract_problem("web").expect("a switch that is on");
        assert!(problem.contains("DEMO_TOKEN"), "{problem}");
        let mut none = call(&create, 0);
        none.answer = Err("no object to act on: POST /v1/tasks answered 401".into());
        assert!(none.contract_problem("api").is_some_and(|p| p.contains("no object to act on")));
    }

    #[test]
    fn ids_are_strings_or_numbers_and_found_in_lists() {
        assert_eq!(object_id(&json!({"id": 7})), Some("7".into()));
        assert_eq!(object_id(&json!({"id": "a-1"})), Some("a-1".into()));
        assert_eq!(object_id(&json!({"id": ""})), None);
        assert_eq!(object_id(&json!({"reply": "x"})), None);
        let list = json!([{"id": 1, "t": "a"}, {"id": 7, "t": "b"}]);
        assert_eq!(find_by_id(&list, "7"), Some(&json!({"id": 7, "t": "b"})));
        assert_eq!(find_by_id(&json!({"items": [{"id": "x"}]}), "x"), Some(&json!({"id": "x"})));
        assert_eq!(find_by_id(&list, "9"), None);
    }
}
