//! Probes, live: the plan's start-up deadlines, every contract endpoint
//! through its Service, a database outage (readiness drops, liveness holds)
//! and a liveness failure (the kubelet restarts the container).

use super::app::DeployedApp;
use super::context::LiveContext;
use super::http::short;
use super::tunnel::Tunnel;
use super::{CheckFailure, CheckResult, Passed};
use crate::postgres::TestDatabase;
use crate::wait::conditions;
use crate::wait::diagnose::DeadEndKind;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, DeleteParams, ListParams};
use std::time::Duration;

/// Seconds from a pod's creation to its container running and to Ready.
pub fn start_times(p: &Pod) -> (Option<i64>, Option<i64>) {
    let Some(created) = p.metadata.creation_timestamp.as_ref().map(|t| t.0) else { return (None, None) };
    let status = p.status.as_ref();
    let running = status.and_then(|s| s.container_statuses.as_ref()).and_then(|cs| {
        cs.iter().filter_map(|c| c.state.as_ref()?.running.as_ref()?.started_at.as_ref().map(|t| t.0)).max()
    });
    let ready = conditions::pod_ready_since(p);
    let secs = |t: k8s_openapi::jiff::Timestamp| t.duration_since(created).as_secs();
    (running.map(secs), ready.map(secs))
}

/// Every app pod was Running and Ready within the policy's deadlines of its
/// creation (`running_within_secs`, `ready_within_secs`: 60 s and 90 s by default).
pub async fn rollout_deadlines(ctx: &LiveContext, app: &DeployedApp) -> CheckResult {
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &app.namespace);
    // Every component's pods, found by its Deployment's own selector.
    let mut list = k8s_openapi::List::<Pod>::default();
    for c in &ctx.config.components {
        let selector = app.pod_selector(ctx, &c.name).await?;
        let of_component = pods.list(&ListParams::default().labels(&selector)).await.map_err(|e| {
            CheckFailure::new(app.path, format!("Namespace/{}", app.namespace), format!("cannot list pods: {e}"))
        })?;
        list.items.extend(of_component.items);
    }
    let (running_within, ready_within) = (ctx.config.policy.running_within(), ctx.config.policy.ready_within());
    let mut slow = Vec::new();
    let (mut worst_run, mut worst_ready) = (0, 0);
    let mut n = 0;
    for p in list.items.iter().filter(|p| p.metadata.deletion_timestamp.is_none()) {
        let name = p.metadata.name.clone().unwrap_or_default();
        let (run, ready) = start_times(p);
        match (run, ready) {
            (Some(r), Some(y)) => {
                worst_run = worst_run.max(r);
                worst_ready = worst_ready.max(y);
                n += 1;
                if r > running_within.as_secs() as i64 || y > ready_within.as_secs() as i64 {
                    slow.push(format!("Pod/{name}: Running after {r}s, Ready after {y}s"));
                }
            }
            _ => slow.push(format!("Pod/{name}: not Running and Ready yet ({})", crate::wait::pod_line(p))),
        }
    }
    if n == 0 || !slow.is_empty() {
        return Err(CheckFailure::new(
            app.path,
            format!("Namespace/{}", app.namespace),
            format!(
                "want Running within {}s and Ready within {}s of creation:\n  {}",
                running_within.as_secs(),
                ready_within.as_secs(),
                if slow.is_empty() { "no pods".into() } else { slow.join("\n  ") }
            ),
        ));
    }
    let waited: Vec<String> = app.waits.iter().map(|w| format!("{} {:.1}s", w.what, w.took.as_secs_f64())).collect();
    let mut p = Passed::note(format!("{n} pods: slowest Running after {worst_run}s, Ready after {worst_ready}s"));
    if !waited.is_empty() {
        p = p.and(waited.join(", "));
    }
    Ok(p)
}

/// Every operation of the contract answers through each Service with a
/// status the contract declares: 2xx, but for the routes it serves only
/// with a setting that is off by default, which must not (see [`super::calls`]:
/// bodies and the objects of `{id}` paths from the contract alone).
pub async fn endpoints(ctx: &LiveContext, app: &DeployedApp) -> CheckResult {
    let contract = ctx.contract().map_err(|e| CheckFailure::new(app.path, "contract", e))?;
    let token = app.credential(&format!("kg-endpoints-{}-{}", app.run, app.path));
    let mut called = 0;
    let mut problems = Vec::new();
    // A gateway error from the public component, explained once after the calls.
    let mut gateway: Option<u16> = None;
    for component in ctx.components() {
        let service = ctx.contract_service(&component);
        let tunnel = Tunnel::to_service(ctx, app, &component).await?;
        let client = tunnel.client();
        let calls =
            super::calls::every_operation(client, contract, service, token.as_ref(), "kubegate endpoints").await;
        called += calls.len();
        problems.extend(calls.iter().filter_map(|c| c.contract_problem(service)).map(|p| format!("{component}: {p}")));
        // The public component proxies the API (R6): its API calls and `[request]` through it.
        if component == ctx.public() {
            // A gateway error on an API call is its proxy hop failing.
            let gateways = calls.iter().filter(|c| c.op.probes.is_empty()).filter_map(|c| c.answer.as_ref().ok());
            gateway = gateway.or(gateways.map(|a| a.status).find(|s| super::proxy::is_gateway_error(*s)));
            called += 1;
            let path = ctx.config.request.path.as_str();
            match client.get(path, token.as_ref()).await {
                Ok(a) if a.status == 200 && a.json().is_array() => {}
                Ok(a) => {
                    if super::proxy::is_gateway_error(a.status) {
                        gateway = Some(a.status);
                    }
                    problems.push(format!("{component}: GET {path} (proxied) answered {}", a.described()));
                }
                Err(e) => problems.push(format!("{component}: GET {path} (proxied): {e}")),
            }
        }
    }
    if !problems.is_empty() {
        let mut message = problems.join("\n  ");
        message.push_str(&super::proxy::explain(ctx, app, gateway).await.unwrap_or_default());
        return Err(CheckFailure::new(app.path, format!("Service in {}", app.namespace), message));
    }
    Ok(Passed::note(format!("{called} contract calls answered as declared through the Services")))
}

/// Stop the database the backend uses: its pods turn NotReady and leave
/// the EndpointSlice while liveness holds (no restart); start it again:
/// Ready again. `db` must be the database `app` was deployed with.
pub async fn database_outage(ctx: &LiveContext, app: &DeployedApp, db: &TestDatabase) -> CheckResult {
    let backend = ctx.deployment(ctx.api());
    let service = ctx.service(ctx.api());
    let sel = app.pod_selector(ctx, ctx.api()).await?;
    let obj = format!("Deployment/{backend}");
    let waiter = app.waiter(ctx).expect(&[DeadEndKind::ReadinessProbe]);
    let liveness = liveness_times(ctx, app, ctx.api()).await?;
    let (before, _) = waiter
        .pods("backend pods Ready", &sel, conditions::all_ready)
        .await
        .map_err(|e| CheckFailure::from_wait(app.path, e))?;
    let ips = conditions::pod_ips(&before);
    let restarts = conditions::restart_count(&before);
    db.stop().map_err(|e| CheckFailure::new(app.path, "test database", format!("cannot stop it: {e}")))?;
    let stopped = tokio::time::Instant::now();
    // Read after the stop: every probe counted from here ran in the outage.
    let api_container = ctx.container(ctx.api());
    let counted = super::prober::liveness_counts(&ctx.client, &before, &api_container).await;
    let outage = async {
        let (_, not_ready) = waiter
            .pods("backend pods NotReady after the database stopped", &sel, conditions::none_ready)
            .await
            .map_err(|e| CheckFailure::from_wait(app.path, e))?;
        let (_, left) = waiter
            .endpoint_slices("backend pods out of the EndpointSlices", &service, conditions::endpoints_exclude(ips.clone()))
            .await
            .map_err(|e| CheckFailure::from_wait(app.path, e))?;
        // Liveness must hold while the kubelet runs its probe `threshold`
        // times in the outage: seen in its own counts when it gives them,
        // else for as long as it surely takes (counted from the stop).
        let surely = stopped + liveness.surely_seen();
        let held = hold_liveness(ctx, &before, &api_container, counted, &liveness, surely).await;
        let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &app.namespace);
        let now = pods.list(&ListParams::default().labels(&sel)).await.map_err(|e| CheckFailure::new(app.path, &obj, format!("{e}")))?;
        let during = conditions::restart_count(&now.items);
        if during != restarts {
            return Err(CheckFailure::new(
                app.path,
                &obj,
                format!("the kubelet restarted backend containers during the database outage (restarts {restarts} -> {during}): liveness must not depend on the database"),
            ));
        }
        Ok::<_, CheckFailure>((not_ready.took, left.took, held))
    }
    .await;
    // Always bring the database back, whatever happened.
    let restarted = db.start_again();
    let (not_ready, left, held) = outage?;
    restarted.map_err(|e| CheckFailure::new(app.path, "test database", format!("cannot start it again: {e}")))?;
    let (after, back) = waiter
        .pods("backend pods Ready again after the database came back", &sel, conditions::all_ready)
        .await
        .map_err(|e| CheckFailure::from_wait(app.path, e))?;
    let after_ips = conditions::pod_ips(&after);
    waiter
        .endpoint_slices("backend pods back in the EndpointSlices", &service, conditions::endpoints_contain(after_ips))
        .await
        .map_err(|e| CheckFailure::from_wait(app.path, e))?;
    if conditions::restart_count(&after) != restarts {
        return Err(CheckFailure::new(app.path, &obj, "containers restarted during the outage or recovery"));
    }
    Ok(Passed::note(format!(
        "NotReady {:.0}s after the stop, out of the EndpointSlice {:.0}s later; {held}, no restart; Ready again {:.0}s after the restart",
        not_ready.as_secs_f64(),
        left.as_secs_f64(),
        back.took.as_secs_f64()
    )))
}

/// How often the kubelet's probe counts are read during a hold.
const COUNT_POLL: Duration = Duration::from_secs(1);

/// Hold a fault until the kubelet has run the liveness probe of `container`
/// in `pods` `threshold` times since `counted` and every run succeeded (its own
/// `prober_probe_total`), or, when it does not give its counts or a run
/// failed, until `surely` (the restart count then judges). Says which.
async fn hold_liveness(
    ctx: &LiveContext,
    pods: &[Pod],
    container: &str,
    counted: Result<std::collections::BTreeMap<String, super::prober::ProbeCount>, String>,
    liveness: &ProbeTimes,
    surely: tokio::time::Instant,
) -> String {
    let waited = |why: String| {
        format!("held {}s, the liveness probe's surely-seen window ({why})", liveness.surely_seen().as_secs())
    };
    let start = match counted {
        Ok(c) => c,
        Err(e) => {
            tokio::time::sleep_until(surely).await;
            return waited(format!("the kubelet's probe counts: {e}"));
        }
    };
    let held_from = tokio::time::Instant::now();
    while tokio::time::Instant::now() < surely {
        tokio::time::sleep(COUNT_POLL).await;
        let Ok(now) = super::prober::liveness_counts(&ctx.client, pods, container).await else { continue };
        let runs: Vec<(u64, u64)> =
            start.iter().map(|(pod, before)| now.get(pod).copied().unwrap_or_default().since(before)).collect();
        if runs.iter().any(|&(_, failed)| failed > 0) {
            tokio::time::sleep_until(surely).await;
            return waited("a liveness probe failed in the outage".into());
        }
        if !runs.is_empty() && runs.iter().all(|&(ok, _)| ok >= u64::from(liveness.threshold)) {
            return format!(
                "the kubelet ran the liveness probe {} times in the outage, all successful ({:.0}s; its prober_probe_total)",
                liveness.threshold,
                held_from.elapsed().as_secs_f64()
            );
        }
    }
    waited("the kubelet's counts did not show every run".into())
}

/// A container's liveness probe as its live Deployment declares it
/// (Kubernetes' defaults for what it leaves out).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ProbeTimes {
    /// `periodSeconds` (default 10).
    pub period: Duration,
    /// `timeoutSeconds` (default 1).
    pub timeout: Duration,
    /// `failureThreshold` (default 3).
    pub threshold: u32,
    /// The grace period of the kill that follows: the probe's own
    /// `terminationGracePeriodSeconds`, else the pod's (default 30).
    pub grace: Duration,
}

/// Kubernetes' default `terminationGracePeriodSeconds`.
const DEFAULT_GRACE_SECS: i64 = 30;

impl ProbeTimes {
    /// Read from a probe; `None` means the defaults. `pod_grace` is the pod's
    /// `terminationGracePeriodSeconds`, used when the probe sets none.
    pub fn of(p: Option<&k8s_openapi::api::core::v1::Probe>, pod_grace: Option<i64>) -> Self {
        let secs = |v: Option<i32>, d: i32| Duration::from_secs(v.unwrap_or(d).max(1) as u64);
        let grace = p.and_then(|p| p.termination_grace_period_seconds).or(pod_grace).unwrap_or(DEFAULT_GRACE_SECS);
        ProbeTimes {
            period: secs(p.and_then(|p| p.period_seconds), 10),
            timeout: secs(p.and_then(|p| p.timeout_seconds), 1),
            threshold: p.and_then(|p| p.failure_threshold).unwrap_or(3).max(1) as u32,
            grace: Duration::from_secs(grace.max(0).unsigned_abs()),
        }
    }

    /// The longest the kubelet may take to act on a probe that starts
    /// failing now: `threshold` failures one period apart, each up to its
    /// timeout, plus one period for where in the cycle the failure began.
    pub fn reaction(&self) -> Duration {
        self.period * (self.threshold + 1) + self.timeout * self.threshold
    }

    /// How long a failure must last before the kubelet has surely seen
    /// `threshold` failing probes: the first probe after the start comes
    /// within one period, the others one period apart, each up to its
    /// timeout. Holding a fault this long proves a probe does NOT depend on it.
    pub fn surely_seen(&self) -> Duration {
        self.period * self.threshold + self.timeout * self.threshold
    }

    /// The longest from a process that stops answering to its container
    /// being restarted when the process cannot exit on SIGTERM (a frozen one):
    /// the [`reaction`](Self::reaction), then the whole grace period before SIGKILL.
    pub fn restart_within(&self) -> Duration {
        self.reaction() + self.grace
    }

    /// `3 x 30s + 30s + 3 x 2s timeouts = 126s`, for messages.
    fn reaction_text(&self) -> String {
        format!(
            "{} x {}s + {}s + {} x {}s timeouts = {}s",
            self.threshold,
            self.period.as_secs(),
            self.period.as_secs(),
            self.threshold,
            self.timeout.as_secs(),
            self.reaction().as_secs()
        )
    }
}

/// The liveness probe of `component`'s container in the app's live Deployment.
async fn liveness_times(ctx: &LiveContext, app: &DeployedApp, component: &str) -> Result<ProbeTimes, CheckFailure> {
    let name = ctx.deployment(component);
    let api: Api<k8s_openapi::api::apps::v1::Deployment> = Api::namespaced(ctx.client.clone(), &app.namespace);
    let d = api
        .get(&name)
        .await
        .map_err(|e| CheckFailure::new(app.path, format!("Deployment/{name}"), format!("cannot read it: {e}")))?;
    let container = ctx.container(component);
    let spec = d.spec.and_then(|s| s.template.spec);
    let pod_grace = spec.as_ref().and_then(|s| s.termination_grace_period_seconds);
    let probe =
        spec.and_then(|s| s.containers.into_iter().find(|c| c.name == container)).and_then(|c| c.liveness_probe);
    Ok(ProbeTimes::of(probe.as_ref(), pod_grace))
}

/// Time for a restarted container to start again after the kubelet acted.
const RESTART_SLACK: Duration = Duration::from_secs(20);
/// Kubelet events carry whole seconds, and record the kill a moment after
/// deciding it.
const EVENT_SLACK: Duration = Duration::from_secs(2);
/// How often the liveness check looks for the kubelet's Killing event.
const KILL_POLL: Duration = Duration::from_secs(1);

/// Make the API component's liveness probe fail: the kubelet restarts the
/// container within the probe's own times, it is Ready again, and a
/// port-forward opened before answers again. kubegate.toml's `[liveness]
/// fault` says how: `sigstop` (default) freezes one API container's
/// processes from its node ([`super::freeze`]), needing nothing from the app;
/// `switch` POSTs the app's own fault route (the variant turned it on).
pub async fn liveness_restart(ctx: &LiveContext, app: &DeployedApp) -> CheckResult {
    use crate::config::LivenessFault;
    let api = ctx.api();
    let sel = app.pod_selector(ctx, api).await?;
    let obj = format!("Deployment/{}", ctx.deployment(api));
    let container = ctx.container(api);
    let liveness = liveness_times(ctx, app, api).await?;
    let waiter =
        app.waiter(ctx).expect(&[DeadEndKind::LivenessProbe, DeadEndKind::CrashLoop, DeadEndKind::ReadinessProbe]);
    let (before, _) = waiter
        .pods(format!("{api} pods Ready"), &sel, conditions::all_ready)
        .await
        .map_err(|e| CheckFailure::from_wait(app.path, e))?;
    let restarts = conditions::restart_count(&before);
    let tunnel = Tunnel::to_service(ctx, app, api).await?;
    let (faulted_at, fault, freezer) = match ctx.config.liveness.fault {
        LivenessFault::Sigstop => {
            // One pod, the first by name; any others keep serving.
            let target = before
                .iter()
                .min_by(|a, b| a.metadata.name.cmp(&b.metadata.name))
                .ok_or_else(|| CheckFailure::new(app.path, &obj, "no pod to freeze"))?;
            let freeze = super::freeze::freeze(ctx, app, target, &container).await?;
            let name = target.metadata.name.clone().unwrap_or_default();
            (freeze.frozen.at, format!("SIGSTOP to Pod/{name}: {}", freeze.frozen.describe()), Some(freeze))
        }
        LivenessFault::Switch => {
            let route = ctx.config.liveness.switch.as_ref().map(|s| s.path.clone()).unwrap_or_default();
            let a = tunnel
                .client()
                .post(&route, None, serde_json::json!({}))
                .await
                .map_err(|e| CheckFailure::new(app.path, &obj, format!("POST {route}: {e}")))?;
            if a.status != 200 {
                return Err(CheckFailure::new(
                    app.path,
                    &obj,
                    format!(
                        "POST {route} answered {} (does [liveness.switch] turn the switch on?): {}",
                        a.status,
                        short(&a.body)
                    ),
                ));
            }
            (k8s_openapi::jiff::Timestamp::now(), format!("POST {route}"), None)
        }
    };
    // The restart, and a thaw that sees no Killing event, are both due by then.
    let restart_deadline = liveness.restart_within() + RESTART_SLACK;
    let restart_waiter = waiter.clone().deadline(restart_deadline);
    let restarted_already = std::sync::atomic::AtomicBool::new(false);
    let restart = async {
        let r = restart_waiter
            .pods(
                format!("the kubelet restarting the {api} container whose liveness fails"),
                &sel,
                move |p: &[Pod]| conditions::restart_count(p) > restarts,
            )
            .await;
        restarted_already.store(true, std::sync::atomic::Ordering::Relaxed);
        r
    };
    let pod_names: Vec<String> = before.iter().filter_map(|p| p.metadata.name.clone()).collect();
    let thaw = async {
        let until = tokio::time::Instant::now() + restart_deadline;
        Some(thaw_at_kill(ctx, app, freezer?, &pod_names, faulted_at, until, &restarted_already).await)
    };
    let (restarted, thawed) = tokio::join!(restart, thaw);
    let (freeze, thawed_at) = thawed.map_or((None, None), |(f, t)| (Some(f), t));
    // The freezer's namespace goes while the container comes back.
    let cleanup = async {
        if let Some(f) = freeze
            && let Err(e) = f.cleanup(&ctx.client, Duration::from_secs(120)).await
        {
            eprintln!("    warning: {e}");
        }
    };
    let (restarted, _) = restarted.map_err(|e| CheckFailure::from_wait(app.path, e))?;
    let restarted_at = k8s_openapi::jiff::Timestamp::now();
    let since = |t: k8s_openapi::jiff::Timestamp| t.duration_since(faulted_at).as_secs_f64();
    let pods: Vec<String> = restarted.iter().filter_map(|p| p.metadata.name.clone()).collect();
    let killed_at = liveness_kill(ctx, app, &pods, faulted_at).await;
    if let Some(k) = killed_at
        && since(k) > (liveness.reaction() + EVENT_SLACK).as_secs_f64()
    {
        return Err(CheckFailure::new(
            app.path,
            &obj,
            format!(
                "after {fault}, the kubelet killed the container {:.0}s later: more than its liveness probe allows ({})",
                since(k),
                liveness.reaction_text()
            ),
        ));
    }
    let (ready, ()) =
        tokio::join!(waiter.pods(format!("{api} pods Ready after the restart"), &sel, conditions::all_ready), cleanup);
    let (_, back) = ready.map_err(|e| CheckFailure::from_wait(app.path, e))?;
    // The tunnel opened before the restart still reaches the restarted container.
    health_through(&tunnel, app, &obj, "after the restart").await?;
    let killed = match killed_at {
        Some(k) => format!("the kubelet killed it {:.0}s later", since(k)),
        None => "no Killing event seen".into(),
    };
    let thawed = match thawed_at {
        Some(t) => format!("thawed {:.0}s after the fault to act on SIGTERM; ", since(t)),
        None => String::new(),
    };
    Ok(Passed::note(format!(
        "{fault}; {killed} (the probe allows {}); {thawed}restart count rose {:.0}s after the fault (grace period {}s); Ready again {:.0}s later; the open port-forward answers again",
        liveness.reaction_text(),
        since(restarted_at),
        liveness.grace.as_secs(),
        back.took.as_secs_f64()
    )))
}

/// Thaw a frozen container once the kubelet has decided to kill it (its
/// Killing event for one of `pods` since `since`), so the app acts on the
/// kubelet's SIGTERM instead of sitting out the grace period until SIGKILL;
/// a thaw is not a way out: the kill is already under way. Without the event
/// (dropped under load) it thaws once `restarted` is set or at `until`. The
/// freeze (for its cleanup) and when it was thawed after a seen kill.
async fn thaw_at_kill(
    ctx: &LiveContext,
    app: &DeployedApp,
    freeze: super::freeze::Freeze,
    pods: &[String],
    since: k8s_openapi::jiff::Timestamp,
    until: tokio::time::Instant,
    restarted: &std::sync::atomic::AtomicBool,
) -> (super::freeze::Freeze, Option<k8s_openapi::jiff::Timestamp>) {
    let killed = loop {
        if liveness_kill(ctx, app, pods, since).await.is_some() {
            break true;
        }
        if restarted.load(std::sync::atomic::Ordering::Relaxed) || tokio::time::Instant::now() >= until {
            break false;
        }
        tokio::time::sleep(KILL_POLL).await;
    };
    let thawed_at = match freeze.thaw(&ctx.client).await {
        Ok(()) => killed.then(k8s_openapi::jiff::Timestamp::now),
        Err(e) => {
            eprintln!("    warning: thawing the frozen container: {e}");
            None
        }
    };
    (freeze, thawed_at)
}

/// When the kubelet decided to kill a container of `pods` for its failed
/// liveness probe, at or after `since` (its `Killing` event; `None` if the
/// event is not there, e.g. dropped under load).
async fn liveness_kill(
    ctx: &LiveContext,
    app: &DeployedApp,
    pods: &[String],
    since: k8s_openapi::jiff::Timestamp,
) -> Option<k8s_openapi::jiff::Timestamp> {
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(ctx.client.clone(), &app.namespace);
    let list = events.list(&ListParams::default().fields("reason=Killing")).await.ok()?;
    let from = since.checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(1)).unwrap_or(since);
    list.items
        .iter()
        .filter(|e| e.involved_object.name.as_ref().is_some_and(|n| pods.contains(n)))
        .filter(|e| e.message.as_deref().is_some_and(|m| m.contains("liveness")))
        .filter_map(|e| e.first_timestamp.as_ref().map(|t| t.0).or(e.event_time.as_ref().map(|t| t.0)))
        .filter(|t| *t >= from)
        .min()
}

/// The component's liveness path through an already open `tunnel` answers
/// 200; `when` says after what, for the message.
async fn health_through(tunnel: &Tunnel, app: &DeployedApp, obj: &str, when: &str) -> Result<(), CheckFailure> {
    let path = tunnel.liveness_path();
    match tunnel.client().get(path, None).await {
        Ok(a) if a.status == 200 => Ok(()),
        Ok(a) => Err(CheckFailure::new(
            app.path,
            obj,
            format!("{when}, GET {path} through the same port-forward answered {}", a.described()),
        )),
        Err(e) => {
            Err(CheckFailure::new(app.path, obj, format!("{when}, GET {path} through the same port-forward: {e}")))
        }
    }
}

/// kubegate's port-forward follows a replaced pod: delete the backend pod
/// an open tunnel reaches; once the Deployment's replacement is Ready and
/// the old pod is gone, the same local address answers from the new pod
/// (the tunnel re-resolves the Service's pods on every connection).
pub async fn tunnel_follows_replacement(ctx: &LiveContext, app: &DeployedApp) -> CheckResult {
    let sel = app.pod_selector(ctx, ctx.api()).await?;
    let obj = format!("Deployment/{}", ctx.deployment(ctx.api()));
    let waiter = app.waiter(ctx).deadline(Duration::from_secs(120));
    waiter
        .pods("backend pods Ready", &sel, conditions::all_ready)
        .await
        .map_err(|e| CheckFailure::from_wait(app.path, e))?;
    let tunnel = Tunnel::to_service(ctx, app, ctx.api()).await?;
    let old = tunnel.current_pod().ok_or_else(|| {
        CheckFailure::new(
            app.path,
            format!("Service/{}", ctx.service(ctx.api())),
            "the port-forward answered but names no pod it reached",
        )
    })?;
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &app.namespace);
    pods.delete(&old, &DeleteParams::default())
        .await
        .map_err(|e| CheckFailure::new(app.path, format!("Pod/{old}"), format!("cannot delete it: {e}")))?;
    let gone = old.clone();
    let (now, replaced) = waiter
        .pods("a Ready replacement for the deleted backend pod", &sel, move |ps: &[Pod]| {
            !ps.iter().any(|p| p.metadata.name.as_deref() == Some(gone.as_str()))
                && ps.iter().any(conditions::is_pod_ready)
        })
        .await
        .map_err(|e| CheckFailure::from_wait(app.path, e))?;
    health_through(&tunnel, app, &obj, &format!("after Pod/{old} was replaced")).await?;
    let via = tunnel.current_pod().unwrap_or_default();
    let ready_now: Vec<&str> =
        now.iter().filter(|p| conditions::is_pod_ready(p)).filter_map(|p| p.metadata.name.as_deref()).collect();
    if via == old || !ready_now.contains(&via.as_str()) {
        return Err(CheckFailure::new(
            app.path,
            &obj,
            format!(
                "the port-forward still names Pod/{via} after Pod/{old} was deleted; ready pods now: {ready_now:?}"
            ),
        ));
    }
    Ok(Passed::note(format!(
        "an open port-forward moved from Pod/{old} to Pod/{via}; the replacement was Ready {:.0}s after the delete",
        replaced.took.as_secs_f64()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_reaction_time_comes_from_the_probe_or_the_defaults() {
        let p: k8s_openapi::api::core::v1::Probe = serde_json::from_value(
            serde_json::json!({"periodSeconds": 30, "timeoutSeconds": 2, "failureThreshold": 3}),
        )
        .expect("probe");
        let t = ProbeTimes::of(Some(&p), Some(45));
        assert_eq!(t.reaction(), Duration::from_secs(30 * 4 + 2 * 3));
        assert_eq!(t.reaction_text(), "3 x 30s + 30s + 3 x 2s timeouts = 126s");
        assert_eq!(t.restart_within(), Duration::from_secs(126 + 45), "the pod's grace period");
        assert_eq!(ProbeTimes::of(None, None).reaction(), Duration::from_secs(10 * 4 + 3));
        assert_eq!(ProbeTimes::of(None, None).grace, Duration::from_secs(30), "Kubernetes' default");
        let own: k8s_openapi::api::core::v1::Probe =
            serde_json::from_value(serde_json::json!({"terminationGracePeriodSeconds": 5})).expect("probe");
        assert_eq!(ProbeTimes::of(Some(&own), Some(45)).grace, Duration::from_secs(5), "the probe's own wins");
        assert_eq!(
            t.surely_seen(),
            Duration::from_secs(30 * 3 + 2 * 3),
            "one period less: the first probe comes within one"
        );
    }
}
