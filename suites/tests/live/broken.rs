//! Broken deployments: for each suite, a deliberately broken variant makes
//! its check fail with the right diagnosis (the dead-end kind and its text),
//! never a bare timeout.

use kubegate::deploy::edit::Edit;
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

/// Deploy the variant `make` gives without waiting, wait for the API
/// component's rollout and return the failure it must end with and how long
/// the wait took.
async fn backend_rollout_failure(
    path: DeployPath,
    make: impl FnOnce(&LiveContext) -> Variant,
) -> (CheckFailure, std::time::Duration) {
    let ctx = fresh_context().await;
    let app = own(&ctx, path, &make(&ctx).no_wait()).await;
    let backend = ctx.deployment(ctx.api());
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
    let (f, waited) = backend_rollout_failure(path, |ctx| {
        let (_, _, missing) = rollout::images_at(ctx, "0.0.0-missing")
            .into_iter()
            .find(|(component, _, _)| component == ctx.api())
            .expect("the API component has an image");
        Variant::standard("bad-image").small().image(&ctx.container(ctx.api()), missing)
    })
    .await;
    assert_diagnosis(&f, DeadEndKind::ImageNeverPull, &["ErrImageNeverPull", "0.0.0-missing"]);
    assert!(waited.as_secs() < 80, "a dead end is recognised before the deadline, not after {waited:?}");
}

/// Probes: a readiness probe on a path the app does not serve -> Unhealthy
/// (readiness), the probe's field and value named against the contract.
/// The same edit on both paths (the Helm path's post-renderer).
async fn wrong_readiness_path_is_unhealthy(path: DeployPath) {
    let (f, _) = backend_rollout_failure(path, |ctx| {
        Variant::standard("bad-readiness").small().edit(api_container_set(
            ctx,
            "/readinessProbe/httpGet/path",
            "/not-ready-here".into(),
        ))
    })
    .await;
    let api = api_component();
    let c = &api.container;
    assert_diagnosis(
        &f,
        DeadEndKind::ReadinessProbe,
        &[
            "Unhealthy",
            &format!(
                "spec.containers[{c}].readinessProbe.httpGet.path = /not-ready-here: /not-ready-here is not in the contract"
            ),
            &format!("(it declares {} for {}'s readiness probe)", api.readiness_path, api.name),
        ],
    );
    assert!(!f.to_string().contains("httpGet.port ="), "the port is right and not blamed: {f}");
}

/// The API component of the deployment under test (its names, for the
/// expected diagnoses; the config alone, no second cluster connection).
fn api_component() -> kubegate::config::Component {
    kubegate_suites::live::config().api_component().expect("the config has an API component").clone()
}

/// An edit of the API container at `pointer` (relative to the container).
fn api_container_set(ctx: &LiveContext, pointer: &str, value: serde_json::Value) -> Edit {
    Edit::Set { kind: "Deployment".into(), container: Some(ctx.container(ctx.api())), pointer: pointer.into(), value }
}

/// Probes/rollout: args that make the app exit at start -> CrashLoopBackOff,
/// the args, the exit code's meaning and the app's own last words named.
async fn app_exiting_at_start_is_named(path: DeployPath) {
    let (f, waited) = backend_rollout_failure(path, |ctx| {
        Variant::standard("exits").small().edit(api_container_set(ctx, "/args", serde_json::json!(["kubegate-bogus"])))
    })
    .await;
    let c = api_component().container;
    assert_diagnosis(
        &f,
        DeadEndKind::CrashLoop,
        &[
            &format!("container {c}"),
            &format!("spec.containers[{c}].args = [\"kubegate-bogus\"] (to the image's entrypoint): exit code"),
            "its log says: ",
        ],
    );
    assert!(waited.as_secs() < 80, "a crash loop is recognised at its first back-off, not after {waited:?}");
}

/// Probes/rollout: a command the image does not hold -> the runtime's start
/// error, the command named as not in the image.
async fn missing_command_is_named(path: DeployPath) {
    let (f, _) = backend_rollout_failure(path, |ctx| {
        Variant::standard("no-command").small().edit(api_container_set(
            ctx,
            "/command",
            serde_json::json!(["/bin/kubegate-missing"]),
        ))
    })
    .await;
    let c = api_component().container;
    assert!(
        matches!(f.dead_end_kind(), Some(DeadEndKind::CrashLoop | DeadEndKind::ContainerStart)),
        "want a crash loop or a start error, got: {f}"
    );
    assert_diagnosis(
        &f,
        f.dead_end_kind().unwrap_or(DeadEndKind::CrashLoop),
        &[&format!("spec.containers[{c}].command = [\"/bin/kubegate-missing\"]"), "the command is not in the image"],
    );
}

/// The public component's setting that points at the API: the variable (set
/// on its container or in a ConfigMap of the raw manifests) whose value names
/// the API's Service.
fn proxy_setting(ctx: &LiveContext) -> String {
    let target = format!("//{}", ctx.service(ctx.api()));
    let names_api = |v: &serde_json::Value| v.as_str().is_some_and(|s| s.contains(&target));
    let objects = kubegate::deploy::raw::load_manifests(&ctx.manifests_dir()).expect("the raw manifests load");
    let from_config_maps = objects.iter().filter(|o| o.kind() == "ConfigMap").flat_map(|o| {
        o.value["data"].as_object().into_iter().flatten().filter(|(_, v)| names_api(v)).map(|(k, _)| k.clone())
    });
    let public = ctx.container(ctx.public());
    let from_env = objects.iter().filter(|o| o.kind() == "Deployment").flat_map(|o| {
        o.value
            .pointer("/spec/template/spec/containers")
            .and_then(|c| c.as_array())
            .into_iter()
            .flatten()
            .filter(|c| c["name"] == public.as_str())
            .flat_map(|c| c["env"].as_array().into_iter().flatten())
            .filter(|e| names_api(&e["value"]))
            .filter_map(|e| e["name"].as_str().map(str::to_owned))
            .collect::<Vec<_>>()
    });
    from_env
        .chain(from_config_maps)
        .next()
        .unwrap_or_else(|| panic!("no setting of the public component names {target}"))
}

/// LoadBalancer: the public component's proxy target names no Service ->
/// the API path answers 502 through the LoadBalancer, and the failure names
/// the env var, its value and the Services the namespace has.
async fn wrong_proxy_target_is_named(path: DeployPath) {
    const WRONG: &str = "http://kubegate-nowhere:8000";
    let ctx = fresh_context().await;
    let setting = proxy_setting(&ctx);
    // An env entry outranks envFrom and a valueFrom of the same name: one edit, both paths.
    let wrong = Edit::Env { container: ctx.container(ctx.public()), name: setting.clone(), value: WRONG.into() };
    let app = own(&ctx, path, &Variant::standard("proxy").small().edit(wrong)).await;
    let result = loadbalancer::address_and_pages(&ctx, &app).await;
    let _ = app.teardown(&ctx).await;
    let text = result.expect_err("an API behind a proxy pointing at no Service must not answer").to_string();
    assert!(text.starts_with(&format!("[{path}]")), "the failure names its path: {text}");
    assert!(text.contains("answered 502") && text.contains("its proxy hop to the API failed"), "{text}");
    assert!(
        text.contains(&format!("env[{setting}] = {WRONG}"))
            && text.contains(&format!("{setting} names Service kubegate-nowhere, which does not exist (Services: "))
            && text.contains(&format!("{}:{}", ctx.service(ctx.api()), ctx.service_port(ctx.api()))),
        "the proxy's target is named against the Services: {text}"
    );
}

/// Constitution: a pod running as root in a `restricted` namespace -> refused
/// by Pod Security (both paths: the same edit of the rendered Deployments).
async fn root_pod_is_refused_by_pod_security(path: DeployPath) {
    let (f, _) = backend_rollout_failure(path, |_| {
        let root = |pointer: &str, container: Option<String>| Edit::Set {
            kind: "Deployment".into(),
            container,
            pointer: pointer.into(),
            value: 0.into(),
        };
        let mut v = Variant::standard("root").small().edit(root("/spec/template/spec/securityContext/runAsUser", None));
        for c in containers_of_every_component() {
            v = v.edit(root("/securityContext/runAsUser", Some(c)));
        }
        v
    })
    .await;
    assert_diagnosis(&f, DeadEndKind::PodRejected, &["PodSecurity"]);
}

/// The container name of every component of the deployment under test.
fn containers_of_every_component() -> Vec<String> {
    kubegate_suites::live::config().components.iter().map(|c| c.container.clone()).collect()
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
    let drift = Edit::Set {
        kind: "Deployment".into(),
        container: Some(ctx.container(ctx.api())),
        pointer: "/resources/limits/memory".into(),
        value: "200Mi".into(),
    };
    let helm = own(&ctx, DeployPath::Helm, &Variant::standard("drift").small().no_wait().helm_edit(drift)).await;
    let result = parity::objects_equal(&ctx, &raw, &helm).await;
    let _ = raw.teardown(&ctx).await;
    let _ = helm.teardown(&ctx).await;
    let f = result.expect_err("a drifting value must break parity");
    let text = f.to_string();
    assert!(text.contains("resources.limits.memory: raw \"") && text.contains("helm \"200Mi\""), "{text}");
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
