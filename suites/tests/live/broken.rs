//! Broken deployments: for each suite, a deliberately broken variant makes
//! its check fail with the right diagnosis (the dead-end kind and its text),
//! never a bare timeout.

use kubegate::deploy::edit::Edit;
use kubegate::finding::DeployPath;
use kubegate::live::context::LiveContext;
use kubegate::live::app::Variant;
use kubegate::live::{CheckFailure, constitution, loadbalancer, parity, rollout};
use kubegate::wait::diagnose::DeadEndKind;
use kubegate_suites::live::{fresh_context, own, shared};
use libtest_mimic::Trial;

/// A broken-variant case for one path.
type PathCase = fn(DeployPath) -> futures::future::BoxFuture<'static, ()>;

/// Every broken-variant case, named `live::broken::<name>::<path>`.
pub fn trials() -> Vec<Trial> {
    let per_path: [(&str, PathCase); 5] = [
        ("bad_image_tag_is_err_image_never_pull", |p| Box::pin(bad_image_tag_is_err_image_never_pull(p))),
        ("wrong_readiness_path_is_unhealthy", |p| Box::pin(wrong_readiness_path_is_unhealthy(p))),
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
    let result = app.waiter(&ctx).deployment_rolled_out(&backend).await;
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
/// (readiness). The same edit on both paths (the Helm path's post-renderer).
async fn wrong_readiness_path_is_unhealthy(path: DeployPath) {
    let ctx = fresh_context().await;
    let variant = Variant::standard("bad-readiness").small().edit(Edit::Set {
        kind: "Deployment".into(),
        container: Some(ctx.container(ctx.api())),
        pointer: "/readinessProbe/httpGet/path".into(),
        value: "/not-ready-here".into(),
    });
    let app = own(&ctx, path, &variant.no_wait()).await;
    let backend = ctx.deployment(ctx.api());
    let result = app.waiter(&ctx).deadline(std::time::Duration::from_secs(150)).deployment_rolled_out(&backend).await;
    let _ = app.teardown(&ctx).await;
    let f = CheckFailure::from_wait(path, result.expect_err("a readiness probe on a missing path must not roll out"));
    assert_diagnosis(&f, DeadEndKind::ReadinessProbe, &["Unhealthy", "/not-ready-here"]);
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
