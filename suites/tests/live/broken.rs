//! Broken deployments: for each suite, a deliberately broken variant makes
//! its check fail with the right diagnosis (the dead-end kind and its text),
//! never a bare timeout.

use kubegate::finding::DeployPath;
use kubegate::live::app::Variant;
use kubegate::live::context::LiveContext;
use kubegate::live::{CheckFailure, constitution, loadbalancer, parity, rollout};
use kubegate::wait::diagnose::DeadEndKind;
use kubegate_suites::live::{fresh_context, own, shared};
use libtest_mimic::Trial;

/// A broken-variant case for one path.
type PathCase = fn(DeployPath) -> futures::future::BoxFuture<'static, ()>;

/// Every broken-variant case, named `live::broken::<name>::<path>`.
pub fn trials() -> Vec<Trial> {
    let per_path: [(&str, PathCase); 8] = [
        ("bad_image_tag_is_err_image_never_pull", |p| Box::pin(bad_image_tag_is_err_image_never_pull(p))),
        ("wrong_readiness_path_is_unhealthy", |p| Box::pin(wrong_readiness_path_is_unhealthy(p))),
        ("app_exiting_at_start_is_named", |p| Box::pin(app_exiting_at_start_is_named(p))),
        ("missing_command_is_named", |p| Box::pin(missing_command_is_named(p))),
        ("wrong_proxy_target_is_named", |p| Box::pin(wrong_proxy_target_is_named(p))),
        ("root_pod_is_refused_by_pod_security", |p| Box::pin(root_pod_is_refused_by_pod_security(p))),
        ("lb_never_provisioned_is_diagnosed", |p| Box::pin(lb_never_provisioned_is_diagnosed(p))),
        ("recreate_strategy_loses_requests", |p| Box::pin(recreate_strategy_loses_requests(p))),
    ];
    let mut trials: Vec<Trial> = per_path
        .into_iter()
        .flat_map(|(name, case)| {
            [DeployPath::Raw, DeployPath::Helm]
                .map(|path| Trial::test(format!("live::broken::{name}::{path}"), move || crate::block_on(case(path))))
        })
        .collect();
    trials.push(Trial::test("live::broken::drifting_chart_value_breaks_parity::raw_helm", || {
        crate::block_on(drifting_chart_value_breaks_parity())
    }));
    trials.push(Trial::test("live::broken::invalid_object_fails_dry_run::raw", || {
        crate::block_on(invalid_object_fails_dry_run())
    }));
    trials
}

/// Deploy `variant` without waiting, wait for the backend's rollout and
/// return the failure it must end with and how long the wait took.
async fn backend_rollout_failure(path: DeployPath, variant: Variant) -> (CheckFailure, std::time::Duration) {
    backend_rollout_failure_patched(path, variant, None).await
}

/// [`backend_rollout_failure`], the backend container patched after a Helm
/// install with `helm_patch` (for what the chart has no value for).
async fn backend_rollout_failure_patched(
    path: DeployPath,
    variant: Variant,
    helm_patch: Option<serde_json::Value>,
) -> (CheckFailure, std::time::Duration) {
    let ctx = fresh_context().await;
    let app = own(&ctx, path, &variant.no_wait()).await;
    let backend = ctx.deployment("backend");
    if let (DeployPath::Helm, Some(patch)) = (path, helm_patch) {
        patch_container(&ctx, &app.namespace, &backend, patch).await;
    }
    let started = std::time::Instant::now();
    // Beyond the plan's deadline: a probe dead end needs failureThreshold failures first.
    let result = app.waiter(&ctx).deadline(std::time::Duration::from_secs(150)).deployment_rolled_out(&backend).await;
    let waited = started.elapsed();
    let _ = app.teardown(&ctx).await;
    match result {
        Ok(_) => panic!("[{path}] the broken variant rolled out; the check cannot fail on it"),
        Err(e) => (CheckFailure::from_wait(path, e), waited),
    }
}

/// Strategic-merge `container` (with its `name`) into Deployment `deployment`'s pod template.
async fn patch_container(ctx: &LiveContext, namespace: &str, deployment: &str, container: serde_json::Value) {
    let api: kube::Api<k8s_openapi::api::apps::v1::Deployment> = kube::Api::namespaced(ctx.client.clone(), namespace);
    let patch = serde_json::json!({"spec": {"template": {"spec": {"containers": [container]}}}});
    api.patch(deployment, &kube::api::PatchParams::default(), &kube::api::Patch::Strategic(&patch))
        .await
        .unwrap_or_else(|e| panic!("patching Deployment {deployment}: {e}"));
}

/// A raw edit of the `backend` container of the backend Deployment.
fn edit_backend(
    edit: impl Fn(&mut serde_json::Value) + Send + Sync + 'static,
) -> impl Fn(&mut serde_json::Value) + Send + Sync + 'static {
    move |v| {
        if v["kind"] == "Deployment"
            && let Some(cs) = v.pointer_mut("/spec/template/spec/containers").and_then(|c| c.as_array_mut())
        {
            cs.iter_mut().filter(|c| c["name"] == "backend").for_each(&edit);
        }
    }
}

fn assert_diagnosis(f: &CheckFailure, kind: DeadEndKind, words: &[&str]) {
    assert_eq!(f.dead_end_kind(), Some(kind), "want {kind:?}, got: {f}");
    let text = f.to_string();
    for w in words {
        assert!(text.contains(w), "the diagnosis must mention {w:?}: {text}");
    }
    assert!(text.starts_with(&format!("[{}]", f.path_text)), "the failure names its path: {text}");
}

/// Probes/rollout: an image tag that was never loaded -> ErrImageNeverPull, at once.
async fn bad_image_tag_is_err_image_never_pull(path: DeployPath) {
    let (f, waited) = backend_rollout_failure(
        path,
        Variant::standard("bad-image").small().image("backend", "todo-chatbot-backend", "0.0.0-missing"),
    )
    .await;
    assert_diagnosis(&f, DeadEndKind::ImageNeverPull, &["ErrImageNeverPull", "0.0.0-missing"]);
    assert!(waited.as_secs() < 80, "a dead end is recognised before the deadline, not after {waited:?}");
}

/// Probes: a readiness probe on a path the app does not serve -> Unhealthy
/// (readiness), the probe's field and value named against the contract.
async fn wrong_readiness_path_is_unhealthy(path: DeployPath) {
    // The chart fixes probe paths by contract: on Helm the path is patched after install.
    let variant = Variant::standard("bad-readiness")
        .small()
        .raw_edit(edit_backend(|c| c["readinessProbe"]["httpGet"]["path"] = "/not-ready-here".into()));
    let patch = serde_json::json!({"name": "backend", "readinessProbe": {"httpGet": {"path": "/not-ready-here", "port": "http"}}});
    let (f, _) = backend_rollout_failure_patched(path, variant, Some(patch)).await;
    assert_diagnosis(
        &f,
        DeadEndKind::ReadinessProbe,
        &[
            "Unhealthy",
            "spec.containers[backend].readinessProbe.httpGet.path = /not-ready-here: /not-ready-here is not in the contract (openapi.yaml) (it declares /ready for backend's readiness probe); the app answers it 404",
        ],
    );
    assert!(!f.to_string().contains("httpGet.port ="), "the port is right and not blamed: {f}");
}

/// Probes/rollout: args that make the app exit at start -> CrashLoopBackOff,
/// the args, the exit code's meaning and the app's own last words named.
async fn app_exiting_at_start_is_named(path: DeployPath) {
    let variant = Variant::standard("exits")
        .small()
        .raw_edit(edit_backend(|c| c["args"] = serde_json::json!(["kubegate-bogus"])));
    let patch = serde_json::json!({"name": "backend", "args": ["kubegate-bogus"]});
    let (f, waited) = backend_rollout_failure_patched(path, variant, Some(patch)).await;
    assert_diagnosis(
        &f,
        DeadEndKind::CrashLoop,
        &[
            "container backend",
            "spec.containers[backend].args = [\"kubegate-bogus\"] (to the image's entrypoint): exit code 2 (by convention a usage error: bad arguments or configuration)",
            "its log says: todo-backend: unknown command \"kubegate-bogus\"",
        ],
    );
    assert!(waited.as_secs() < 80, "a crash loop is recognised at its first back-off, not after {waited:?}");
}

/// Probes/rollout: a command the image does not hold -> the runtime's start
/// error, the command named as not in the image.
async fn missing_command_is_named(path: DeployPath) {
    let variant = Variant::standard("no-command")
        .small()
        .raw_edit(edit_backend(|c| c["command"] = serde_json::json!(["/bin/kubegate-missing"])));
    let patch = serde_json::json!({"name": "backend", "command": ["/bin/kubegate-missing"]});
    let (f, _) = backend_rollout_failure_patched(path, variant, Some(patch)).await;
    assert!(
        matches!(f.dead_end_kind(), Some(DeadEndKind::CrashLoop | DeadEndKind::ContainerStart)),
        "want a crash loop or a start error, got: {f}"
    );
    assert_diagnosis(
        &f,
        f.dead_end_kind().unwrap_or(DeadEndKind::CrashLoop),
        &["spec.containers[backend].command = [\"/bin/kubegate-missing\"]", "the command is not in the image"],
    );
}

/// LoadBalancer: the public component's proxy target names no Service ->
/// the API path answers 502 through the LoadBalancer, and the failure names
/// the env var, its value and the Services the namespace has.
async fn wrong_proxy_target_is_named(path: DeployPath) {
    const WRONG: &str = "http://todo-api:8000";
    let variant = Variant::standard("proxy").small().raw_edit(|v| {
        if v["kind"] == "ConfigMap" && v["data"]["BACKEND_URL"].is_string() {
            v["data"]["BACKEND_URL"] = WRONG.into();
        }
    });
    let ctx = fresh_context().await;
    let mut app = own(&ctx, path, &variant).await;
    if path == DeployPath::Helm {
        // The chart derives BACKEND_URL from the backend Service: set it on the container instead.
        let frontend = ctx.deployment("frontend");
        let env = serde_json::json!({"name": "BACKEND_URL", "value": WRONG, "valueFrom": null});
        patch_container(&ctx, &app.namespace, &frontend, serde_json::json!({"name": "frontend", "env": [env]})).await;
        app.wait_rolled_out(&ctx).await.unwrap_or_else(|f| panic!("{f}"));
    }
    let result = loadbalancer::address_and_pages(&ctx, &app).await;
    let _ = app.teardown(&ctx).await;
    let text = result.expect_err("an API behind a proxy pointing at no Service must not answer").to_string();
    assert!(text.starts_with(&format!("[{path}]")), "the failure names its path: {text}");
    assert!(text.contains("answered 502") && text.contains("its proxy hop to the API failed"), "{text}");
    assert!(
        text.contains(&format!("env[BACKEND_URL] = {WRONG}"))
            && text.contains("BACKEND_URL names Service todo-api, which does not exist (Services: ")
            && text.contains("todo-chatbot-backend:8000"),
        "the proxy's target is named against the Services: {text}"
    );
}

/// Constitution: a pod running as root in a `restricted` namespace -> refused by Pod Security.
/// On the Helm path the chart's values schema refuses `runAsUser: 0` before
/// anything reaches the cluster: that earlier gate is what is asserted there.
async fn root_pod_is_refused_by_pod_security(path: DeployPath) {
    if path == DeployPath::Helm {
        let ctx = fresh_context().await;
        let dir = tempfile::tempdir().expect("temp dir for a values file");
        let values = dir.path().join("root.yaml");
        std::fs::write(&values, "podSecurity:\n  runAsUser: 0\n").expect("write values file");
        let err = kubegate::helm::template("todo-chatbot", &ctx.chart_dir(), "kg-root-check", &[values])
            .expect_err("[helm] the chart must refuse podSecurity.runAsUser=0");
        let text = format!("{err:#}");
        assert!(text.contains("runAsUser"), "[helm] the refusal names the value: {text}");
        return;
    }
    let variant = Variant::standard("root").small().helm_set("podSecurity.runAsUser", "0").raw_edit(|v| {
        if v["kind"] == "Deployment" {
            v["spec"]["template"]["spec"]["securityContext"]["runAsUser"] = 0.into();
            if let Some(cs) = v.pointer_mut("/spec/template/spec/containers").and_then(|c| c.as_array_mut()) {
                for c in cs {
                    c["securityContext"]["runAsUser"] = 0.into();
                }
            }
        }
    });
    let (f, _) = backend_rollout_failure(path, variant).await;
    assert_diagnosis(&f, DeadEndKind::PodRejected, &["PodSecurity"]);
}

/// LoadBalancer: a Service with a loadBalancerClass nobody serves -> NoLoadBalancerProvider.
async fn lb_never_provisioned_is_diagnosed(path: DeployPath) {
    let (ctx, app) = shared(path).await;
    let wait = loadbalancer::UNPROVISIONED_WINDOW;
    let outcome = loadbalancer::wait_for_unprovisioned(&ctx, &app, &loadbalancer::unserved_service(), wait).await;
    let f = expect_unprovisioned(outcome);
    assert_diagnosis(&f, DeadEndKind::NoLoadBalancerProvider, &[loadbalancer::UNSERVED_CLASS, "NodePort"]);
}

/// The failure a wait for an unserved LoadBalancer must end with.
fn expect_unprovisioned(outcome: Result<Option<CheckFailure>, CheckFailure>) -> CheckFailure {
    match outcome {
        Ok(Some(f)) => f,
        Ok(None) => panic!("nothing serves the class, so the wait must fail"),
        Err(f) => panic!("{f}"),
    }
}

/// Parity: a chart value drifting from the manifests (backend memory limit)
/// -> the live-objects check names the field and both values.
async fn drifting_chart_value_breaks_parity() {
    let ctx = fresh_context().await;
    let raw = own(&ctx, DeployPath::Raw, &Variant::standard("drift").small().no_wait()).await;
    let helm = own(
        &ctx,
        DeployPath::Helm,
        &Variant::standard("drift").small().no_wait().helm_set("resources.backend.limits.memory", "200Mi"),
    )
    .await;
    let result = parity::objects_equal(&ctx, &raw, &helm).await;
    let _ = raw.teardown(&ctx).await;
    let _ = helm.teardown(&ctx).await;
    let f = result.expect_err("a drifting value must break parity");
    let text = f.to_string();
    assert!(text.contains("resources.limits.memory: raw \"256Mi\", helm \"200Mi\""), "{text}");
    assert!(text.starts_with("[raw+helm]"), "{text}");
}

/// Constitution: the dry run reports every object the API server refuses
/// (here: a Deployment with an invalid replica count), naming it.
async fn invalid_object_fails_dry_run() {
    let (ctx, app) = shared(DeployPath::Raw).await;
    let mut objects = constitution::declared_objects(&ctx, &app).await.expect("declared objects");
    let dep = objects.iter_mut().find(|o| o.kind() == "Deployment").expect("a Deployment");
    dep.value["spec"]["replicas"] = (-1).into();
    let name = dep.name().to_owned();
    let outcomes = kubegate::deploy::raw::dry_run_all(&ctx.client, &app.namespace, &objects).await;
    let refused: Vec<_> = outcomes.iter().filter(|o| o.result.is_err()).collect();
    assert_eq!(refused.len(), 1, "only the broken Deployment is refused");
    assert_eq!(refused[0].object.name, name);
    let msg = kubegate::live::app::error_chain(refused[0].result.as_ref().expect_err("refused"));
    assert!(msg.contains("replicas"), "the refusal names the field: {msg}");
}

/// Rollout: strategy Recreate (old pods go before new ones start) -> the
/// upgrade under load loses requests, counted, with the strategy named as the cause.
async fn recreate_strategy_loses_requests(path: DeployPath) {
    let ctx = fresh_context().await;
    let mut app = own(&ctx, path, &Variant::standard("recreate").small().recreate_strategy()).await;
    let result = rollout::no_request_lost(&ctx, &mut app).await;
    let _ = app.teardown(&ctx).await;
    let text = result.expect_err("an upgrade with strategy Recreate must lose requests").to_string();
    assert!(text.starts_with(&format!("[{path}]")), "the failure names its path: {text}");
    assert!(text.contains("requests failed during the upgrade"), "{text}");
    assert!(text.contains("strategy Recreate") && text.contains("maxUnavailable 0"), "the cause is named: {text}");
}
