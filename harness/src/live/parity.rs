//! Parity, live: what the API server holds for the raw path and for the
//! Helm path is the same but for allowed differences (namespace, Helm's own
//! labels and annotations, what the cluster assigns), and both serve the
//! same answers.

use super::app::DeployedApp;
use super::calls::ReadBack;
use super::context::LiveContext;
use super::http::{Answer, AppClient, Credential};
use super::tunnel::Tunnel;
use super::{CheckFailure, CheckResult, Passed};
use crate::parity::{IGNORED_ANNOTATION_PREFIXES, IGNORED_LABELS};
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, ListParams};
use serde_json::Value;
use std::collections::BTreeMap;

/// The kinds compared (the Secret is made by kubegate, identical by construction).
pub const KINDS: [(&str, &str, &str); 8] = [
    ("", "v1", "ConfigMap"),
    ("", "v1", "Service"),
    ("", "v1", "ServiceAccount"),
    ("apps", "v1", "Deployment"),
    ("autoscaling", "v2", "HorizontalPodAutoscaler"),
    ("policy", "v1", "PodDisruptionBudget"),
    ("networking.k8s.io", "v1", "NetworkPolicy"),
    ("networking.k8s.io", "v1", "Ingress"),
];

/// Annotations the cluster writes itself.
const CLUSTER_ANNOTATIONS: [&str; 2] =
    ["deployment.kubernetes.io/revision", "kubectl.kubernetes.io/last-applied-configuration"];
/// Spec fields the cluster assigns per object (different on every Service).
const ASSIGNED: [&str; 5] =
    ["/spec/clusterIP", "/spec/clusterIPs", "/spec/healthCheckNodePort", "/spec/loadBalancerIP", "/spec/ipFamilies"];

/// An object as compared: labels and annotations without the allowed
/// differences, spec/data, no metadata the cluster owns, no status.
pub fn normalize(obj: &Value) -> Value {
    let mut out = serde_json::Map::new();
    let meta = &obj["metadata"];
    let labels: BTreeMap<String, Value> = meta["labels"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !IGNORED_LABELS.contains(&k.as_str()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    let annotations: BTreeMap<String, Value> = meta["annotations"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| {
                    !IGNORED_ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p))
                        && !CLUSTER_ANNOTATIONS.contains(&k.as_str())
                })
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        })
        .unwrap_or_default();
    out.insert("labels".into(), serde_json::to_value(labels).unwrap_or_default());
    out.insert("annotations".into(), serde_json::to_value(annotations).unwrap_or_default());
    for key in ["spec", "data", "automountServiceAccountToken", "secrets", "imagePullSecrets"] {
        if let Some(v) = obj.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    let mut v = Value::Object(out);
    for p in ASSIGNED {
        if let Some((parent, key)) = p.rsplit_once('/')
            && let Some(o) = v.pointer_mut(parent).and_then(Value::as_object_mut)
        {
            o.remove(key);
        }
    }
    // NodePorts are allocated per Service.
    if let Some(ports) = v.pointer_mut("/spec/ports").and_then(Value::as_array_mut) {
        for p in ports.iter_mut().filter_map(Value::as_object_mut) {
            p.remove("nodePort");
        }
    }
    // Pod templates: Helm adds checksum annotations (already ignored by prefix).
    if let Some(a) = v.pointer_mut("/spec/template/metadata/annotations").and_then(Value::as_object_mut) {
        a.retain(|k, _| {
            !IGNORED_ANNOTATION_PREFIXES.iter().any(|p| k.starts_with(p)) && k != "kubectl.kubernetes.io/restartedAt"
        });
    }
    if let Some(l) = v.pointer_mut("/spec/template/metadata/labels").and_then(Value::as_object_mut) {
        l.retain(|k, _| !IGNORED_LABELS.contains(&k.as_str()));
    }
    v
}

/// Differences between two normalized values, as `path: raw X, helm Y`.
pub fn differences(raw: &Value, helm: &Value, at: &str, out: &mut Vec<String>) {
    match (raw, helm) {
        (Value::Object(r), Value::Object(h)) => {
            let keys: std::collections::BTreeSet<&String> = r.keys().chain(h.keys()).collect();
            for k in keys {
                let sub = if at.is_empty() { k.clone() } else { format!("{at}.{k}") };
                differences(r.get(k).unwrap_or(&Value::Null), h.get(k).unwrap_or(&Value::Null), &sub, out);
            }
        }
        (Value::Array(r), Value::Array(h)) if r.len() == h.len() => {
            for (i, (a, b)) in r.iter().zip(h).enumerate() {
                differences(a, b, &format!("{at}[{i}]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("{at}: raw {a}, helm {b}")),
    }
}

async fn objects(ctx: &LiveContext, ns: &str) -> Result<BTreeMap<String, Value>, String> {
    let mut out = BTreeMap::new();
    for (group, version, kind) in KINDS {
        let ar = ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind));
        let api: Api<DynamicObject> = Api::namespaced_with(ctx.client.clone(), ns, &ar);
        let list = match api.list(&ListParams::default()).await {
            Ok(l) => l,
            Err(kube::Error::Api(s)) if s.code == 404 => continue,
            Err(e) => return Err(format!("cannot list {kind} in {ns}: {e}")),
        };
        for o in list.items {
            let name = o.metadata.name.clone().unwrap_or_default();
            // Objects the cluster or kubegate made are not part of either path.
            if kind == "ServiceAccount" && name == "default" || kind == "ConfigMap" && name == "kube-root-ca.crt" {
                continue;
            }
            if name.starts_with("kubegate-") {
                continue;
            }
            let v = serde_json::to_value(&o).map_err(|e| e.to_string())?;
            out.insert(format!("{kind}/{name}"), normalize(&v));
        }
    }
    drop_autoscaled_replicas(&mut out);
    Ok(out)
}

/// A Deployment's `spec.replicas` belongs to the HPA that scales it (LIVE-CONST-HPA's
/// load scales one path's backend up, and it stays up for the HPA's scale-down
/// window): it is left out of the comparison; the HPAs' specs (min, max,
/// metrics) are still compared.
pub fn drop_autoscaled_replicas(objects: &mut BTreeMap<String, Value>) {
    let targets: Vec<String> = objects
        .iter()
        .filter(|(key, _)| key.starts_with("HorizontalPodAutoscaler/"))
        .filter_map(|(_, hpa)| {
            let target = &hpa["spec"]["scaleTargetRef"];
            match (target["kind"].as_str(), target["name"].as_str()) {
                (Some("Deployment"), Some(name)) => Some(format!("Deployment/{name}")),
                _ => None,
            }
        })
        .collect();
    for key in targets {
        if let Some(spec) = objects.get_mut(&key).and_then(|d| d.get_mut("spec")).and_then(Value::as_object_mut) {
            spec.remove("replicas");
        }
    }
}

/// The live objects of both paths are equal but for allowed differences.
pub async fn objects_equal(ctx: &LiveContext, raw: &DeployedApp, helm: &DeployedApp) -> CheckResult {
    let r = objects(ctx, &raw.namespace).await.map_err(|e| CheckFailure::both("objects", e))?;
    let h = objects(ctx, &helm.namespace).await.map_err(|e| CheckFailure::both("objects", e))?;
    let mut diffs = Vec::new();
    for key in r.keys().chain(h.keys()).collect::<std::collections::BTreeSet<_>>() {
        match (r.get(key), h.get(key)) {
            (Some(a), Some(b)) => {
                let mut d = Vec::new();
                differences(a, b, "", &mut d);
                diffs.extend(d.into_iter().map(|x| format!("{key} {x}")));
            }
            (Some(_), None) => diffs.push(format!("{key}: only on the raw path")),
            (None, Some(_)) => diffs.push(format!("{key}: only on the Helm path")),
            (None, None) => {}
        }
    }
    if !diffs.is_empty() {
        return Err(CheckFailure::both(
            "live objects",
            format!("{} differences:\n  {}", diffs.len(), diffs.join("\n  ")),
        ));
    }
    Ok(Passed::note(format!(
        "{} live objects equal on both paths (Helm labels/annotations, namespace and cluster-assigned fields aside)",
        r.len()
    )))
}

/// One answer as parity compares it: what must be the same on both paths
/// when both serve the same app, whatever data each holds.
#[derive(Debug, Clone, PartialEq)]
pub struct Seen {
    /// What was asked, the same on both paths (`api PATCH /v1/tasks/{id}`).
    pub what: String,
    /// The status, or why there was no answer.
    pub status: Result<u16, String>,
    /// The media type (`application/json`), without parameters.
    pub media: String,
    /// What of the body is compared.
    pub body: Body,
    /// For a JSON object sent: the answer's values of the keys it sent
    /// (the data this path's own request put there).
    pub echo: Option<Value>,
    /// For a create: whether the object read back by its id is the one the
    /// create answered, on this path.
    pub identity: Option<Result<(), String>>,
    /// The body, shortened, for messages.
    pub excerpt: String,
}

/// What of a body parity compares.
#[derive(Debug, Clone, PartialEq)]
pub enum Body {
    /// JSON: its [`shape`] (the values are data: lists differ with what
    /// each path, or anyone sharing its database, holds).
    Shape(Value),
    /// Anything else (a page, a script): the text itself.
    Text(String),
}

impl Seen {
    /// `answer` to the request `what`, which sent `sent`; `read_back` is the
    /// object a create made, looked up again by id.
    pub fn of(
        what: String,
        answer: &Result<Answer, String>,
        sent: Option<&Value>,
        read_back: Option<&ReadBack>,
    ) -> Seen {
        let Ok(a) = answer else {
            return Seen {
                what,
                status: Err(answer.as_ref().err().cloned().unwrap_or_default()),
                media: String::new(),
                body: Body::Text(String::new()),
                echo: None,
                identity: None,
                excerpt: String::new(),
            };
        };
        let media = a.content_type.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        let json = (media == "application/json" || media.ends_with("+json"))
            .then(|| serde_json::from_str::<Value>(&a.body).ok())
            .flatten();
        let echo = match (sent, &json) {
            (Some(Value::Object(sent)), Some(Value::Object(got))) => {
                Some(Value::Object(sent.keys().filter_map(|k| got.get(k).map(|v| (k.clone(), v.clone()))).collect()))
            }
            _ => None,
        };
        let identity = read_back.map(|rb| match (&rb.found, &json) {
            (Err(e), _) => Err(format!("the object {} it created: {e}", rb.id)),
            (Ok(read), Some(created)) => same_object(created, read)
                .map_err(|d| format!("{} is not the object {} it created: {d}", rb.via, rb.id)),
            (Ok(_), None) => Ok(()),
        });
        Seen {
            what,
            status: Ok(a.status),
            media,
            body: json.as_ref().map_or_else(|| Body::Text(a.body.clone()), |v| Body::Shape(shape(v))),
            echo,
            identity,
            excerpt: super::http::short(&a.body),
        }
    }
}

/// Every field both have is equal (a list may show fewer fields than the create answered).
fn same_object(created: &Value, read: &Value) -> Result<(), String> {
    let (Value::Object(c), Value::Object(r)) = (created, read) else {
        return if created == read { Ok(()) } else { Err(format!("created {created}, read {read}")) };
    };
    match c.iter().find(|(k, v)| r.get(*k).is_some_and(|x| x != *v)) {
        None => Ok(()),
        Some((k, v)) => Err(format!("`{k}` was {v}, reads {}", r[k.as_str()])),
    }
}

/// The shape of a JSON value: objects keep their keys, arrays become the
/// merged shape of their elements (none when empty), scalars their type.
pub fn shape(v: &Value) -> Value {
    match v {
        Value::Object(o) => Value::Object(o.iter().map(|(k, x)| (k.clone(), shape(x))).collect()),
        Value::Array(a) => Value::Array(a.iter().map(shape).reduce(merge).into_iter().collect()),
        Value::String(_) => "string".into(),
        Value::Number(_) => "number".into(),
        Value::Bool(_) => "boolean".into(),
        Value::Null => Value::Null,
    }
}

/// One shape covering both (objects: every key of either).
fn merge(a: Value, b: Value) -> Value {
    match (a, b) {
        (Value::Object(mut x), Value::Object(y)) => {
            for (k, v) in y {
                let m = match x.remove(&k) {
                    Some(old) => merge(old, v),
                    None => v,
                };
                x.insert(k, m);
            }
            Value::Object(x)
        }
        (Value::Array(x), Value::Array(y)) => Value::Array(x.into_iter().chain(y).reduce(merge).into_iter().collect()),
        (Value::Null, b) => b,
        (a, _) => a,
    }
}

/// Where two shapes differ, as `at: ...`. A null (a field without a value)
/// and an empty list match anything: they say nothing of the shape.
pub fn shape_differences(raw: &Value, helm: &Value, at: &str, out: &mut Vec<String>) {
    let sub = |k: &str| if at.is_empty() { k.to_owned() } else { format!("{at}.{k}") };
    match (raw, helm) {
        (Value::Null, _) | (_, Value::Null) => {}
        (Value::Object(r), Value::Object(h)) => {
            for k in r.keys().chain(h.keys()).collect::<std::collections::BTreeSet<_>>() {
                match (r.get(k), h.get(k)) {
                    (Some(a), Some(b)) => shape_differences(a, b, &sub(k), out),
                    (Some(_), None) => out.push(format!("`{}` only in the raw path's answer", sub(k))),
                    (None, _) => out.push(format!("`{}` only in the Helm path's answer", sub(k))),
                }
            }
        }
        (Value::Array(r), Value::Array(h)) => {
            if let (Some(a), Some(b)) = (r.first(), h.first()) {
                shape_differences(a, b, &format!("{at}[]"), out);
            }
        }
        (a, b) if a == b => {}
        (a, b) => out.push(format!("`{}`: raw {a}, helm {b}", if at.is_empty() { "(body)" } else { at })),
    }
}

/// Where the raw path's answers differ from the Helm path's, one line each:
/// status, media type, JSON shape or text, what came back of what was sent,
/// and, per path, a created object that does not read back by its id.
pub fn compare(raw: &[Seen], helm: &[Seen]) -> Vec<String> {
    let index = |s: &[Seen]| s.iter().map(|x| (x.what.clone(), x.clone())).collect::<BTreeMap<_, _>>();
    let (r, h) = (index(raw), index(helm));
    let mut out = Vec::new();
    for what in r.keys().chain(h.keys()).collect::<std::collections::BTreeSet<_>>() {
        let (a, b) = match (r.get(what), h.get(what)) {
            (Some(a), Some(b)) => (a, b),
            (Some(_), None) => {
                out.push(format!("{what}: asked on the raw path only"));
                continue;
            }
            (None, _) => {
                out.push(format!("{what}: asked on the Helm path only"));
                continue;
            }
        };
        for (path, seen) in [("raw", a), ("helm", b)] {
            if let Some(Err(e)) = &seen.identity {
                out.push(format!("{what}: {path}: {e}"));
            }
        }
        match (&a.status, &b.status) {
            (Ok(x), Ok(y)) if x != y => {
                out.push(format!("{what}: raw {x} {}, helm {y} {}", a.excerpt, b.excerpt));
                continue;
            }
            (Ok(_), Ok(_)) => {}
            (sa, sb) => {
                let said = |s: &Result<u16, String>| s.as_ref().map_or_else(Clone::clone, u16::to_string);
                out.push(format!("{what}: raw {}, helm {}", said(sa), said(sb)));
                continue;
            }
        }
        if a.media != b.media {
            out.push(format!("{what}: raw answers {}, helm {}", a.media, b.media));
            continue;
        }
        match (&a.body, &b.body) {
            (Body::Shape(x), Body::Shape(y)) => {
                let mut d = Vec::new();
                shape_differences(x, y, "", &mut d);
                out.extend(d.into_iter().map(|d| format!("{what}: {d}")));
            }
            (Body::Text(x), Body::Text(y)) if x != y => out.push(format!(
                "{what}: the bodies differ ({} and {} bytes): raw {}, helm {}",
                x.len(),
                y.len(),
                a.excerpt,
                b.excerpt
            )),
            _ => {}
        }
        if a.echo != b.echo {
            let show = |v: &Option<Value>| v.as_ref().map_or("nothing".to_owned(), Value::to_string);
            out.push(format!("{what}: sent back raw {}, helm {}", show(&a.echo), show(&b.echo)));
        }
    }
    out
}

/// What one path answers: each component's probes (the config's paths),
/// `[request]` through the public component, and every operation of the
/// contract ([`super::calls::every_operation`]: the path's own objects,
/// read back by id). Without a readable contract, the probes and `[request]`.
async fn answers(ctx: &LiveContext, app: &DeployedApp) -> Result<Vec<Seen>, CheckFailure> {
    let contract = ctx.contract().ok();
    let token = app.credential(&format!("kg-parity-{}-{}", app.run, app.path));
    let request = ctx.config.request.path.as_str();
    let (api, public) = (ctx.api().to_owned(), ctx.public().to_owned());
    let mut components = vec![api.clone()];
    if public != api {
        components.push(public.clone());
    }
    let mut out: Vec<Seen> = Vec::new();
    for component in components {
        let t = Tunnel::to_service(ctx, app, &component).await?;
        let c = t.client();
        for path in [ctx.liveness_path(&component), ctx.readiness_path(&component)] {
            let a = get(c, path, None).await;
            out.push(Seen::of(format!("{component} GET {path} (probe)"), &a, None, None));
        }
        if component == public {
            let a = get(c, request, token.as_ref()).await;
            out.push(Seen::of(format!("{component} GET {request} (proxied, credential)"), &a, None, None));
        }
        if component == api {
            let a = get(c, request, None).await;
            out.push(Seen::of(format!("{component} GET {request} (no credential)"), &a, None, None));
        }
        match contract {
            Some(contract) => {
                let service = ctx.contract_service(&component);
                for call in super::calls::every_operation(c, contract, service, token.as_ref(), "kubegate parity").await
                {
                    let what = format!("{component} {} {}", call.op.method, call.op.path);
                    out.push(Seen::of(what, &call.answer, call.body.as_ref(), call.read_back.as_ref()));
                }
            }
            None if component == api => {
                let a = get(c, request, token.as_ref()).await;
                out.push(Seen::of(format!("{component} GET {request} (credential)"), &a, None, None));
            }
            None => {}
        }
    }
    // The same operation twice (a create made for a later call): numbered.
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for s in &mut out {
        let n = seen.entry(s.what.clone()).or_default();
        *n += 1;
        if *n > 1 {
            s.what = format!("{} #{n}", s.what);
        }
    }
    Ok(out)
}

/// `GET path`, or why there was no answer.
async fn get(c: &AppClient, path: &str, auth: Option<&Credential>) -> Result<Answer, String> {
    c.get(path, auth).await.map_err(|e| format!("no answer: {}", super::http::one_line_chain(&e)))
}

/// Both paths answer the same requests alike: the same status and media
/// type, JSON of the same shape, the same text otherwise, and the objects
/// each creates for itself read back by id and answered alike ([`compare`]).
pub async fn same_answers(ctx: &LiveContext, raw: &DeployedApp, helm: &DeployedApp) -> CheckResult {
    let a = answers(ctx, raw).await?;
    let b = answers(ctx, helm).await?;
    let diffs = compare(&a, &b);
    if !diffs.is_empty() {
        return Err(CheckFailure::both("answers", format!("{} differences:\n  {}", diffs.len(), diffs.join("\n  "))));
    }
    let objects = a.iter().filter(|s| s.identity.is_some()).count();
    let mut passed = Passed::note(format!(
        "{} requests answered alike on both paths (status, media type, JSON shape, text); {objects} objects created on each and read back by id",
        a.len()
    ));
    if let Err(e) = ctx.contract() {
        passed.limitation(format!("no contract operations compared, only the probes and [request]: {e}"));
    }
    Ok(passed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn replicas_of_an_autoscaled_deployment_are_not_compared() {
        let mut objects: BTreeMap<String, Value> = [
            ("Deployment/b".to_owned(), json!({"spec": {"replicas": 4, "template": {}}})),
            ("Deployment/other".to_owned(), json!({"spec": {"replicas": 1}})),
            (
                "HorizontalPodAutoscaler/b".to_owned(),
                json!({"spec": {"scaleTargetRef": {"kind": "Deployment", "name": "b"}, "maxReplicas": 4}}),
            ),
        ]
        .into();
        drop_autoscaled_replicas(&mut objects);
        assert_eq!(objects["Deployment/b"], json!({"spec": {"template": {}}}));
        assert_eq!(objects["Deployment/other"], json!({"spec": {"replicas": 1}}), "no HPA: replicas compared");
        assert_eq!(objects["HorizontalPodAutoscaler/b"]["spec"]["maxReplicas"], 4);
    }

    #[test]
    fn helm_labels_assigned_ips_and_nodeports_are_allowed_differences() {
        let raw = json!({"metadata": {"name": "s", "namespace": "a", "uid": "1", "labels": {"app": "x", "app.kubernetes.io/managed-by": "kubectl"}},
            "spec": {"clusterIP": "10.0.0.1", "clusterIPs": ["10.0.0.1"], "ports": [{"port": 80, "nodePort": 31000}]}});
        let helm = json!({"metadata": {"name": "s", "namespace": "b", "uid": "2", "labels": {"app": "x", "app.kubernetes.io/managed-by": "Helm", "helm.sh/chart": "c"},
            "annotations": {"meta.helm.sh/release-name": "r"}},
            "spec": {"clusterIP": "10.0.0.2", "clusterIPs": ["10.0.0.2"], "ports": [{"port": 80, "nodePort": 31001}]}});
        let mut d = Vec::new();
        differences(&normalize(&raw), &normalize(&helm), "", &mut d);
        assert!(d.is_empty(), "{d:?}");
    }

    #[test]
    fn a_drifting_value_is_named_with_its_path() {
        let raw = json!({"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [{"resources": {"limits": {"memory": "256Mi"}}}]}}}});
        let helm = json!({"metadata": {"name": "d"}, "spec": {"template": {"spec": {"containers": [{"resources": {"limits": {"memory": "512Mi"}}}]}}}});
        let mut d = Vec::new();
        differences(&normalize(&raw), &normalize(&helm), "", &mut d);
        assert_eq!(
            d,
            vec!["spec.template.spec.containers[0].resources.limits.memory: raw \"256Mi\", helm \"512Mi\"".to_owned()]
        );
    }

    fn seen(what: &str, status: u16, media: &str, body: &str) -> Seen {
        let a = Answer { status, content_type: media.into(), body: body.into(), served_by: vec![] };
        Seen::of(what.into(), &Ok(a), None, None)
    }

    #[test]
    fn answers_that_differ_only_in_their_data_compare_equal() {
        let raw = [
            seen("api GET /v1/tasks", 200, "application/json", r#"[{"id": 1, "title": "a", "description": null}]"#),
            seen("api GET /healthz (probe)", 200, "application/json; charset=utf-8", r#"{"status": "ok"}"#),
            seen("web GET /", 200, "text/html", "<html>page</html>"),
            seen("api GET /v1/chat/history", 200, "application/json", r#"{"messages": []}"#),
        ];
        let helm = [
            seen(
                "api GET /v1/tasks",
                200,
                "application/json",
                r#"[{"id": 9, "title": "b", "description": "d"}, {"id": 10, "title": "c", "description": null}]"#,
            ),
            seen("api GET /healthz (probe)", 200, "application/json", r#"{"status": "also ok"}"#),
            seen("web GET /", 200, "text/html", "<html>page</html>"),
            seen("api GET /v1/chat/history", 200, "application/json", r#"{"messages": [{"role": "user"}]}"#),
        ];
        assert_eq!(compare(&raw, &helm), Vec::<String>::new());
    }

    #[test]
    fn a_path_serving_other_answers_fails_parity() {
        let raw = [
            seen("api GET /v1/tasks", 200, "application/json", r#"[{"id": 1, "title": "a"}]"#),
            seen("web GET /static/app.js", 200, "text/javascript", "x()"),
            seen("web GET /demo-token", 404, "application/json", r#"{"error": "off"}"#),
            seen("api GET /readyz (probe)", 200, "application/json", r#"{"status": "ready", "database": "ok"}"#),
            seen("web GET /", 200, "text/html", "<html>page</html>"),
        ];
        let helm = [
            seen("api GET /v1/tasks", 200, "application/json", r#"[{"id": 1, "name": "a"}]"#),
            seen("web GET /static/app.js", 200, "text/html", "<html>fallback</html>"),
            seen("web GET /demo-token", 200, "application/json", r#"{"token": "t"}"#),
            seen("api GET /readyz (probe)", 200, "application/json", r#"{"status": "ready"}"#),
            seen("web GET /", 200, "text/html", "<html>other page</html>"),
        ];
        let d = compare(&raw, &helm);
        let said = |s: &str| d.iter().any(|x| x.contains(s));
        assert!(said("api GET /v1/tasks: `[].name` only in the Helm path's answer"), "{d:#?}");
        assert!(said("api GET /v1/tasks: `[].title` only in the raw path's answer"), "{d:#?}");
        assert!(said("web GET /static/app.js: raw answers text/javascript, helm text/html"), "missing route: {d:#?}");
        assert!(said("web GET /demo-token: raw 404"), "different status: {d:#?}");
        assert!(said("api GET /readyz (probe): `database` only in the raw path's answer"), "{d:#?}");
        assert!(said("web GET /: the bodies differ"), "{d:#?}");
        assert_eq!(d.len(), 6, "{d:#?}");
        let only = compare(&raw[..1], &[]);
        assert_eq!(only, ["api GET /v1/tasks: asked on the raw path only"]);
    }

    #[test]
    fn created_objects_are_compared_by_identity_and_by_what_came_back() {
        let created = |id: u32, title: &str| Answer {
            status: 201,
            content_type: "application/json".into(),
            body: json!({"id": id, "title": title, "created_at": format!("t{id}")}).to_string(),
            served_by: vec![],
        };
        let sent = json!({"title": "kubegate parity"});
        let back = |id: u32, found: Result<Value, String>| ReadBack {
            id: id.to_string(),
            via: "GET /v1/tasks, found by id".into(),
            found,
        };
        let what = "api POST /v1/tasks".to_owned();
        let raw = Seen::of(
            what.clone(),
            &Ok(created(3, "kubegate parity")),
            Some(&sent),
            Some(&back(3, Ok(json!({"id": 3, "title": "kubegate parity", "created_at": "t3"})))),
        );
        let helm = Seen::of(
            what.clone(),
            &Ok(created(8, "kubegate parity")),
            Some(&sent),
            Some(&back(8, Ok(json!({"id": 8, "title": "kubegate parity", "created_at": "t8"})))),
        );
        assert_eq!(
            compare(std::slice::from_ref(&raw), &[helm]),
            Vec::<String>::new(),
            "own ids and timestamps, same answers"
        );
        let lost = Seen::of(
            what.clone(),
            &Ok(created(8, "kubegate parity")),
            Some(&sent),
            Some(&back(8, Err("GET /v1/tasks does not list the object with id 8".into()))),
        );
        let d = compare(std::slice::from_ref(&raw), &[lost]);
        assert_eq!(
            d,
            ["api POST /v1/tasks: helm: the object 8 it created: GET /v1/tasks does not list the object with id 8"]
        );
        let changed = Seen::of(
            what.clone(),
            &Ok(created(8, "kubegate parity")),
            Some(&sent),
            Some(&back(8, Ok(json!({"id": 8, "title": "other"})))),
        );
        let d = compare(std::slice::from_ref(&raw), &[changed]);
        assert!(d.len() == 1 && d[0].contains("`title` was \"kubegate parity\", reads \"other\""), "{d:?}");
        let mangled = Seen::of(what, &Ok(created(8, "KUBEGATE PARITY")), Some(&sent), None);
        let d = compare(&[raw], &[mangled]);
        assert!(
            d.iter()
                .any(|x| x
                    .contains("sent back raw {\"title\":\"kubegate parity\"}, helm {\"title\":\"KUBEGATE PARITY\"}")),
            "{d:?}"
        );
    }

    #[test]
    fn no_answer_on_one_path_is_a_difference() {
        let ok = seen("api GET /v1/tasks", 200, "application/json", "[]");
        let none = Seen::of("api GET /v1/tasks".into(), &Err("no answer: connection refused".into()), None, None);
        assert_eq!(compare(&[ok], &[none]), ["api GET /v1/tasks: raw 200, helm no answer: connection refused"]);
    }
}
