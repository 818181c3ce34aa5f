//! The constitution, live: the API server accepts every object (server-side
//! dry run), the namespace enforces Pod Security `restricted` and admits the
//! pods, the running pods carry what was declared, the HPAs scale under load
//! (or, on a cluster with no metrics API, say why they cannot).

use super::app::{DeployedApp, error_chain};
use super::context::LiveContext;

pub mod autoscale;
use super::{CheckFailure, CheckResult, Passed};
use crate::deploy::raw::{self, ManifestObject, RawOverrides};
use crate::finding::DeployPath;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::api::{Api, ListParams, PostParams};
use serde_json::Value;

/// The objects this app's path declares, as sent to the cluster
/// (raw: `manifests/`; Helm: `helm get manifest` of the release).
pub async fn declared_objects(ctx: &LiveContext, app: &DeployedApp) -> Result<Vec<ManifestObject>, CheckFailure> {
    let objects = match app.path {
        DeployPath::Raw => raw::load_manifests(&ctx.manifests_dir())
            .map_err(|e| CheckFailure::new(app.path, "manifests", error_chain(&e)))?,
        DeployPath::Helm => {
            let text = ctx
                .helm
                .get_manifest(&ctx.config.release, &app.namespace)
                .await
                .map_err(|e| CheckFailure::new(app.path, "helm release", error_chain(&e)))?;
            raw::parse_documents(&text, std::path::Path::new("helm get manifest"))
                .map_err(|e| CheckFailure::new(app.path, "helm release", error_chain(&e)))?
        }
    };
    Ok(raw::prepare(&objects, &app.namespace, &RawOverrides::default(), &app.secrets))
}

/// Every declared object passes a server-side dry run in the app's namespace.
pub async fn dry_run(ctx: &LiveContext, app: &DeployedApp) -> CheckResult {
    let objects = declared_objects(ctx, app).await?;
    let outcomes = raw::dry_run_all(&ctx.client, &app.namespace, &objects).await;
    let refused: Vec<String> = outcomes
        .iter()
        .filter_map(|o| {
            o.result.as_ref().err().map(|e| format!("{} ({}): {}", o.object, o.file.display(), error_chain(e)))
        })
        .collect();
    if !refused.is_empty() {
        return Err(CheckFailure::new(
            app.path,
            format!("Namespace/{}", app.namespace),
            format!(
                "the API server refused {} of {} objects in a server-side dry run:\n  {}",
                refused.len(),
                outcomes.len(),
                refused.join("\n  ")
            ),
        ));
    }
    Ok(Passed::note(format!("{} objects accepted by a server-side dry run", outcomes.len())))
}

/// The namespace enforces `restricted`, a privileged pod is refused by
/// admission (dry run), and every app pod was admitted and runs.
pub async fn pod_security(ctx: &LiveContext, app: &DeployedApp) -> CheckResult {
    let ns_obj = format!("Namespace/{}", app.namespace);
    let ns = Api::<Namespace>::all(ctx.client.clone())
        .get(&app.namespace)
        .await
        .map_err(|e| CheckFailure::new(app.path, &ns_obj, format!("cannot read: {e}")))?;
    let enforce = ns.metadata.labels.as_ref().and_then(|l| l.get("pod-security.kubernetes.io/enforce")).cloned();
    if enforce.as_deref() != Some("restricted") {
        return Err(CheckFailure::new(
            app.path,
            &ns_obj,
            format!(
                "label pod-security.kubernetes.io/enforce is {enforce:?}, want \"restricted\" (set it on the Namespace object of this path)"
            ),
        ));
    }
    // Enforcement, not just a label: admission must refuse a privileged pod
    // (a dry run: the app's own image is never started).
    let image = ctx.config.component(ctx.api()).map(|c| c.image.clone()).unwrap_or_default();
    let probe: Pod = serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "kubegate-psa-probe"},
        "spec": {"containers": [{"name": "c", "image": image,
            "securityContext": {"privileged": true, "runAsUser": 0}}]}
    }))
    .expect("static pod fixture");
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &app.namespace);
    let pp = PostParams { dry_run: true, ..Default::default() };
    match pods.create(&pp, &probe).await {
        Ok(_) => {
            return Err(CheckFailure::new(
                app.path,
                &ns_obj,
                "admission accepted a privileged root pod (dry run): Pod Security is labelled but not enforced by this API server",
            ));
        }
        Err(kube::Error::Api(s)) if s.code == 403 && s.message.contains("PodSecurity") => {}
        Err(e) => {
            return Err(CheckFailure::new(
                app.path,
                &ns_obj,
                format!("dry run of a privileged pod failed unexpectedly: {e}"),
            ));
        }
    }
    let list = pods
        .list(&ListParams::default())
        .await
        .map_err(|e| CheckFailure::new(app.path, &ns_obj, format!("cannot list pods: {e}")))?;
    let mut missing = Vec::new();
    for c in ctx.components() {
        let running = list
            .items
            .iter()
            .filter(|p| component_of(p) == Some(c.as_str()))
            .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
            .count();
        if running == 0 {
            missing.push(c);
        }
    }
    if !missing.is_empty() {
        return Err(CheckFailure::new(
            app.path,
            &ns_obj,
            format!("no Running pod of {missing:?}: not admitted or not started"),
        ));
    }
    Ok(Passed::note("enforce=restricted; a privileged pod is refused; app pods admitted and Running"))
}

/// `app.kubernetes.io/component` of a pod.
pub fn component_of(p: &Pod) -> Option<&str> {
    p.metadata.labels.as_ref()?.get("app.kubernetes.io/component").map(String::as_str)
}

/// Fields of a container that must match what was declared.
const CONTAINER_FIELDS: [&str; 5] = ["securityContext", "resources", "livenessProbe", "readinessProbe", "startupProbe"];
/// The one of [`CONTAINER_FIELDS`] a container may leave out.
const OPTIONAL_CONTAINER_FIELD: &str = "startupProbe";

/// Every running pod's containers carry the declared securityContext,
/// resources and probes (each declared field present with the same value;
/// fields the API server defaults are allowed on top), and the pod-level
/// securityContext.
pub async fn pod_specs(ctx: &LiveContext, app: &DeployedApp) -> CheckResult {
    let declared = declared_objects(ctx, app).await?;
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &app.namespace);
    let mut problems = Vec::new();
    let mut checked = 0;
    for d in declared.iter().filter(|o| o.kind() == "Deployment") {
        let Some(template) = d.value.pointer("/spec/template/spec") else { continue };
        // The Deployment's own selector finds its pods.
        let labels: std::collections::BTreeMap<String, String> = d
            .value
            .pointer("/spec/selector/matchLabels")
            .and_then(|v| serde_json::from_value(v.clone()).ok())
            .unwrap_or_default();
        let selector = super::app::selector_text(&labels);
        let list = pods.list(&ListParams::default().labels(&selector)).await.map_err(|e| {
            CheckFailure::new(app.path, format!("Deployment/{}", d.name()), format!("cannot list pods: {e}"))
        })?;
        if list.items.is_empty() {
            problems.push(format!("Deployment/{}: no pods", d.name()));
        }
        for pod in &list.items {
            let pname = pod.metadata.name.clone().unwrap_or_default();
            let live = serde_json::to_value(pod.spec.as_ref()).unwrap_or(Value::Null);
            if let Some(want) = template.get("securityContext")
                && let Some(diff) = subset_diff(want, &live["securityContext"], "securityContext")
            {
                problems.push(format!("Pod/{pname}: {diff}"));
            }
            for want_c in template["containers"].as_array().into_iter().flatten() {
                let cname = want_c["name"].as_str().unwrap_or("");
                let live_c = live["containers"].as_array().and_then(|cs| cs.iter().find(|c| c["name"] == cname));
                let Some(live_c) = live_c else {
                    problems.push(format!("Pod/{pname}: container {cname} missing"));
                    continue;
                };
                for f in CONTAINER_FIELDS {
                    match (want_c.get(f), live_c.get(f)) {
                        // A startup probe is optional (the plan's probes are liveness and readiness).
                        (None, _) if f == OPTIONAL_CONTAINER_FIELD => {}
                        (None, _) => problems.push(format!("Pod/{pname} container {cname}: {f} not declared")),
                        (Some(w), l) => {
                            if let Some(diff) =
                                subset_diff(w, l.unwrap_or(&Value::Null), &format!("containers[{cname}].{f}"))
                            {
                                problems.push(format!("Pod/{pname}: {diff}"));
                            }
                        }
                    }
                }
                checked += 1;
            }
        }
    }
    if !problems.is_empty() {
        return Err(CheckFailure::new(app.path, format!("Namespace/{}", app.namespace), problems.join("\n  ")));
    }
    Ok(Passed::note(format!("{checked} running containers carry the declared securityContext, resources and probes")))
}

/// `None` when every field of `want` is in `have` with the same value
/// (recursively; arrays compared element-wise); else the first difference.
pub fn subset_diff(want: &Value, have: &Value, at: &str) -> Option<String> {
    match (want, have) {
        (Value::Object(w), Value::Object(h)) => w.iter().find_map(|(k, wv)| match h.get(k) {
            Some(hv) => subset_diff(wv, hv, &format!("{at}.{k}")),
            None => Some(format!("{at}.{k}: declared {wv}, missing on the running pod")),
        }),
        (Value::Array(w), Value::Array(h)) if w.len() == h.len() => {
            w.iter().zip(h).enumerate().find_map(|(i, (wv, hv))| subset_diff(wv, hv, &format!("{at}[{i}]")))
        }
        (w, h) if same_scalar(w, h) => None,
        (w, h) => Some(format!("{at}: declared {w}, running {h}")),
    }
}

/// Equal, treating `1` and `"1"` alike (quantities and int-or-string ports).
fn same_scalar(a: &Value, b: &Value) -> bool {
    a == b
        || (a.is_number() || a.is_string())
            && (b.is_number() || b.is_string())
            && a.to_string().trim_matches('"') == b.to_string().trim_matches('"')
}

/// Why an HPA cannot act, if its conditions say metrics are unavailable.
pub fn hpa_metrics_problem(h: &HorizontalPodAutoscaler) -> Option<String> {
    let conds = h.status.as_ref()?.conditions.as_ref()?;
    conds
        .iter()
        .find(|c| c.type_ == "ScalingActive" && c.status == "False")
        .map(|c| format!("{}: {}", c.reason.clone().unwrap_or_default(), c.message.clone().unwrap_or_default()))
}

/// On a cluster that serves the metrics API: each HPA reads metrics, and
/// the backend's HPA scales its Deployment up under a CPU load through the
/// frontend and decides to scale back down once the load stops
/// ([`autoscale::prove_scaling`]); any step not seen fails the check.
/// On a cluster with no metrics API at all (a kind or minikube without
/// metrics-server), each HPA's `ScalingActive` condition must say why it
/// cannot scale: a known limitation, reported as such, never as a pass.
pub async fn hpa(ctx: &LiveContext, app: &DeployedApp) -> CheckResult {
    let api: Api<HorizontalPodAutoscaler> = Api::namespaced(ctx.client.clone(), &app.namespace);
    let list = api
        .list(&ListParams::default())
        .await
        .map_err(|e| CheckFailure::new(app.path, "HorizontalPodAutoscaler", format!("cannot list: {e}")))?;
    if list.items.is_empty() {
        return Err(CheckFailure::new(
            app.path,
            "HorizontalPodAutoscaler",
            "no HPA in the namespace (P12 asks for one per Deployment)",
        ));
    }
    let served = autoscale::metrics_api_served(ctx).await.map_err(|e| {
        CheckFailure::new(
            app.path,
            "APIGroupList",
            format!("cannot list the API groups (discovery): {}", error_chain(&e)),
        )
    })?;
    let waiter = if served {
        app.waiter(ctx).deadline(ctx.config.policy.ready_within().max(autoscale::FIRST_METRICS_DEADLINE))
    } else {
        app.waiter(ctx)
    };
    let mut passed = Passed::default();
    let backend = ctx.deployment(ctx.api());
    let mut backend_hpa = None;
    for h in &list.items {
        let name = h.metadata.name.clone().unwrap_or_default();
        let obj = format!("HorizontalPodAutoscaler/{name}");
        // The controller syncs every 15 s. With a metrics API, wait for
        // metrics (a pod younger than two metrics windows has none yet, and
        // the HPA says ScalingActive=False until it has); without one, for
        // the condition that says why there are none.
        let reads = |h: &HorizontalPodAutoscaler| hpa_metrics_problem(h).is_none() && autoscale::has_metric_values(h);
        let decided = |h: Option<&HorizontalPodAutoscaler>| {
            h.is_some_and(|h| reads(h) || (!served && hpa_metrics_problem(h).is_some()))
        };
        let (got, _) = waiter
            .object::<HorizontalPodAutoscaler>(format!("metrics of {obj}"), &name, decided)
            .await
            .map_err(|e| {
                let mut f = CheckFailure::from_wait(app.path, e);
                if served {
                    f.message = format!(
                        "the cluster serves {} but {obj} reads no metrics: {}",
                        autoscale::METRICS_API,
                        f.message
                    );
                }
                f
            })?;
        let Some(h) = got else { return Err(CheckFailure::new(app.path, &obj, "disappeared")) };
        match hpa_metrics_problem(&h) {
            None => {
                let cpu = autoscale::current_cpu_percent(&h).map(|p| format!(" (cpu {p}% of requests)")).unwrap_or_default();
                passed = passed.and(format!("{obj} reads metrics{cpu}"));
            }
            Some(why) if !served => passed.limitation(format!(
                "{obj} cannot read metrics ({why}); the cluster serves no {} (no metrics-server): autoscaling not proven",
                autoscale::METRICS_API
            )),
            Some(why) => {
                return Err(CheckFailure::new(
                    app.path,
                    &obj,
                    format!("the cluster serves {} but the HPA cannot use it: {why}", autoscale::METRICS_API),
                ));
            }
        }
        if h.spec
            .as_ref()
            .is_some_and(|s| s.scale_target_ref.kind == "Deployment" && s.scale_target_ref.name == backend)
        {
            backend_hpa = Some(h);
        }
    }
    if !served {
        return Ok(passed);
    }
    let Some(h) = backend_hpa else {
        return Err(CheckFailure::new(
            app.path,
            format!("Deployment/{backend}"),
            "no HPA targets the backend Deployment, so autoscaling cannot be shown (P12 asks for one per Deployment)",
        ));
    };
    let obj = format!("HorizontalPodAutoscaler/{}", h.metadata.name.clone().unwrap_or_default());
    for line in autoscale::prove_scaling(ctx, app, &h).await? {
        passed = passed.and(format!("{obj}: {line}"));
    }
    Ok(passed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subset_allows_defaults_and_catches_changes() {
        let want = json!({"httpGet": {"path": "/health", "port": "http"}, "periodSeconds": 30});
        let have = json!({"httpGet": {"path": "/health", "port": "http", "scheme": "HTTP"}, "periodSeconds": 30, "successThreshold": 1});
        assert_eq!(subset_diff(&want, &have, "p"), None);
        let bad = json!({"httpGet": {"path": "/ready", "port": "http"}, "periodSeconds": 30});
        let d = subset_diff(&want, &bad, "p").expect("differs");
        assert!(d.contains("p.httpGet.path"), "{d}");
        assert!(subset_diff(&json!({"cpu": "500m"}), &json!({}), "r").expect("missing").contains("missing"));
        assert_eq!(subset_diff(&json!({"n": 1}), &json!({"n": "1"}), "x"), None);
    }

    #[test]
    fn hpa_without_metrics_names_the_reason() {
        let h: HorizontalPodAutoscaler = serde_json::from_value(json!({
            "metadata": {"name": "b"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "b"}, "maxReplicas": 4},
            "status": {"desiredReplicas": 2, "conditions": [
                {"type": "AbleToScale", "status": "True", "reason": "SucceededGetScale"},
                {"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
                 "message": "the HPA was unable to compute the replica count: unable to get metrics for resource cpu: no metrics returned from resource metrics API"}]}
        }))
        .expect("fixture");
        let why = hpa_metrics_problem(&h).expect("problem");
        assert!(why.starts_with("FailedGetResourceMetric"), "{why}");
    }
}
