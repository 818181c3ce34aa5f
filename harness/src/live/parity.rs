//! Parity, live: what the API server holds for the raw path and for the
//! Helm path is the same but for allowed differences (namespace, Helm's own
//! labels and annotations, what the cluster assigns), and both serve the
//! same answers.

use super::app::DeployedApp;
use super::context::LiveContext;
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

/// What one path answers to the same requests (status and body, with ids
/// and timestamps blanked).
async fn answers(ctx: &LiveContext, app: &DeployedApp) -> Result<Vec<(String, u16, Value)>, CheckFailure> {
    let mut out = Vec::new();
    let token = app.credential(&format!("kg-parity-{}-{}", app.run, app.path));
    // The contract's writes (POST operations of the API that are not probes), sent alike to both paths.
    let contract = ctx.config.contract_file().and_then(|f| crate::contract::Contract::load(&f).ok());
    let api = ctx.api().to_owned();
    let api_name = ctx.config.component(&api).map_or(api.clone(), |c| c.contract_name().to_owned());
    let writes: Vec<String> = contract
        .iter()
        .flat_map(|c| c.operations_of(&api_name))
        .filter(|o| o.method == "POST" && o.probes.is_empty() && !o.path.contains('{'))
        .map(|o| o.path.clone())
        .collect();
    let request = ctx.config.request.path.as_str();
    for component in [api.clone(), ctx.public().to_owned()] {
        let t = Tunnel::to_service(ctx, app, &component).await?;
        let c = t.client();
        let (live, ready) = ctx
            .config
            .component(&component)
            .map_or(("/", "/"), |c| (c.liveness_path.as_str(), c.readiness_path.as_str()));
        let mut calls: Vec<(&str, &str, Option<&super::http::Credential>, Option<Value>)> =
            vec![("GET", live, None, None), ("GET", ready, None, None)];
        if component == api {
            calls.push(("GET", request, None, None));
            calls.push(("GET", request, token.as_ref(), None));
            let body = serde_json::json!({"title": "parity", "message": "help"});
            calls.extend(writes.iter().map(|w| ("POST", w.as_str(), token.as_ref(), Some(body.clone()))));
        } else {
            calls.push(("GET", "/", None, None));
            calls.push(("GET", request, token.as_ref(), None));
        }
        for (m, path, tok, body) in calls {
            let method = reqwest::Method::from_bytes(m.as_bytes()).unwrap_or(reqwest::Method::GET);
            let a = c.call(method, path, tok, body).await.map_err(|e| {
                CheckFailure::new(app.path, format!("Service/{}", ctx.service(&component)), format!("{m} {path}: {e}"))
            })?;
            let body = if a.content_type.starts_with("application/json") {
                blank_volatile(a.json())
            } else {
                Value::String(a.body.clone())
            };
            out.push((
                format!("{component} {m} {path}{}", if tok.is_some() { " (token)" } else { "" }),
                a.status,
                body,
            ));
        }
    }
    Ok(out)
}

/// Blank ids, timestamps and user-specific fields so two paths compare.
fn blank_volatile(v: Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let volatile = matches!(
                        k.as_str(),
                        "id" | "created_at" | "updated_at" | "user_id" | "request_id" | "time" | "timestamp"
                    );
                    (k, if volatile { Value::String("*".into()) } else { blank_volatile(v) })
                })
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.into_iter().map(blank_volatile).collect()),
        other => other,
    }
}

/// Both paths answer the same requests the same way.
pub async fn same_answers(ctx: &LiveContext, raw: &DeployedApp, helm: &DeployedApp) -> CheckResult {
    let a = answers(ctx, raw).await?;
    let b = answers(ctx, helm).await?;
    let mut diffs = Vec::new();
    for ((what, sa, ba), (_, sb, bb)) in a.iter().zip(&b) {
        if sa != sb || ba != bb {
            diffs.push(format!(
                "{what}: raw {sa} {}, helm {sb} {}",
                super::http::short(&ba.to_string()),
                super::http::short(&bb.to_string())
            ));
        }
    }
    if !diffs.is_empty() {
        return Err(CheckFailure::both("answers", diffs.join("\n  ")));
    }
    Ok(Passed::note(format!("{} requests answered alike on both paths", a.len())))
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

    #[test]
    fn ids_and_timestamps_are_blanked() {
        let v = blank_volatile(json!([{"id": 4, "title": "t", "created_at": "now"}]));
        assert_eq!(v, json!([{"id": "*", "title": "t", "created_at": "*"}]));
    }
}
