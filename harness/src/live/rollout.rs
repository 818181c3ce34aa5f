//! Rollout safety, live: an upgrade to a new image tag under a steady light
//! load loses no request (maxUnavailable 0, readiness gating, preStop and
//! graceful shutdown). Helm path: `helm upgrade`; raw path: the manifests
//! applied again with the new tag (what `kubectl apply` of a bumped tag does).

use super::app::{DeployedApp, error_chain};
use super::context::LiveContext;
use super::http::{AppClient, LoadCount, Lost, SteadyLoad};
use super::loadbalancer::{ADDRESS_DEADLINE, external_address};
use super::timeline::{Change, ClusterEvent, Timeline, between};
use super::{CheckFailure, CheckResult, Passed};
use crate::deploy::raw;
use crate::finding::DeployPath;
use crate::process::{Cmd, CommandRunner};
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};
use std::collections::BTreeMap;
use std::time::Duration;

/// The tag the upgrade moves to (the same image re-tagged and loaded).
pub const UPGRADE_TAG: &str = "0.1.1";
/// Pause between two requests of the load.
pub const LOAD_PAUSE: Duration = Duration::from_millis(50);

/// `(component, built image, same repository at tag)` for every component, from kubegate.toml's image names.
pub fn images_at(ctx: &LiveContext, tag: &str) -> Vec<(String, String, String)> {
    ctx.config
        .components
        .iter()
        .map(|c| {
            let repo = c.image.rsplit_once(':').map(|(r, _)| r.to_owned()).unwrap_or_else(|| c.image.clone());
            (c.name.clone(), c.image.clone(), format!("{repo}:{tag}"))
        })
        .collect()
}

/// [`images_at`] the [`UPGRADE_TAG`].
pub fn upgrade_images(ctx: &LiveContext) -> Vec<(String, String, String)> {
    images_at(ctx, UPGRADE_TAG)
}

/// Re-tag the built images as [`UPGRADE_TAG`] in the local Docker engine
/// (the caller loads them into the cluster with the provider).
pub fn retag_images(runner: &dyn CommandRunner, ctx: &LiveContext) -> Result<Vec<String>, String> {
    retag(runner, upgrade_images(ctx).into_iter().map(|(_, from, to)| (from, to)))
}

/// `docker tag FROM TO` for each pair; the new names.
pub fn retag(
    runner: &dyn CommandRunner,
    pairs: impl IntoIterator<Item = (String, String)>,
) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (from, to) in pairs {
        let st = runner.run(&Cmd::new("docker", ["tag", &from, &to])).map_err(|e| format!("cannot run docker: {e}"))?;
        if !st.success() {
            return Err(format!("docker tag {from} {to}: {}", st.stderr.trim()));
        }
        out.push(to);
    }
    Ok(out)
}

/// The load's result and how the rollout went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UpgradeOutcome {
    /// Requests sent and lost, each one recorded.
    pub load: LoadCount,
    /// Seconds the upgrade took (command + rollouts).
    pub upgrade_secs: f64,
    /// Pod deletions and endpoint changes during the load, on the load's clock.
    pub events: Vec<ClusterEvent>,
    /// The tag the upgrade moved to.
    pub to_tag: String,
}

/// How long the load goes on after the rollout, at most, for the old pods to
/// finish their shutdown (preStop, linger, drain) under it.
pub const SETTLE_DEADLINE: Duration = Duration::from_secs(45);

/// Upgrade both images to [`UPGRADE_TAG`] while a loop sends `GET` on
/// `[request] path` through the public component's LoadBalancer address
/// (its proxy -> the API); count failed requests, expect zero. The images
/// must already be loaded into the cluster.
pub async fn upgrade_under_load(ctx: &LiveContext, app: &mut DeployedApp) -> Result<UpgradeOutcome, CheckFailure> {
    upgrade_under_load_to(ctx, app, UPGRADE_TAG).await
}

/// [`upgrade_under_load`] to any loaded `tag` (the rollout bench goes back
/// and forth between two). The load runs from 3 s before the upgrade until
/// every old pod is gone (at most [`SETTLE_DEADLINE`] after the rollout),
/// so the whole of their shutdown is measured.
pub async fn upgrade_under_load_to(
    ctx: &LiveContext,
    app: &mut DeployedApp,
    to_tag: &str,
) -> Result<UpgradeOutcome, CheckFailure> {
    let obj = format!("Namespace/{}", app.namespace);
    let ep = external_address(ctx, app, &ctx.service(ctx.public()), ADDRESS_DEADLINE).await?;
    let client = AppClient::new(ep.base_url());
    let token = app.credential(&format!("kg-upgrade-{}-{}", app.run, app.path));
    if let Err(last) = client.get_until(&ctx.config.request.path, token.as_ref(), 200, Duration::from_secs(30)).await {
        let f = CheckFailure::new(app.path, &obj, format!("no steady answer before the upgrade: {last}"));
        return Err(super::proxy::explained(ctx, app, last.status, f).await);
    }
    let origin = tokio::time::Instant::now();
    let timeline = Timeline::start(&ctx.client, &app.namespace, origin);
    let load = SteadyLoad::start(client, ctx.config.request.path.clone(), token, 200, LOAD_PAUSE, origin);
    // A few seconds of load before, so a broken baseline shows as such.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = std::time::Instant::now();
    // The deployment's own variant plus the new tags (helm upgrade does not reuse values).
    let mut variant = app.variant.clone();
    for (component, _, image) in images_at(ctx, to_tag) {
        variant = variant.image(&ctx.container(&component), image);
    }
    let upgraded = match app.path {
        DeployPath::Helm => match app.helm_install(ctx, &variant) {
            Ok(install) => ctx.helm.upgrade(&install).await.map(|_| ()).map_err(|e| error_chain(&e)),
            Err(f) => Err(f.to_string()),
        },
        DeployPath::Raw => {
            let overrides = variant.raw_overrides();
            raw::deploy(&ctx.client, &app.namespace, &ctx.manifests_dir(), &app.secrets, &overrides)
                .await
                .map(|_| ())
                .map_err(|e| error_chain(&e))
        }
    };
    let rolled = match upgraded {
        Ok(()) => app.wait_rolled_out(ctx).await,
        Err(e) => Err(CheckFailure::new(app.path, &obj, format!("upgrade to {to_tag} failed: {e}"))),
    };
    let upgrade_secs = started.elapsed().as_secs_f64();
    // Until the old pods are gone, so failures while they shut down count too.
    timeline.settled(SETTLE_DEADLINE).await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    let count = load.stop().await;
    let events = timeline.stop();
    rolled?;
    Ok(UpgradeOutcome { load: count, upgrade_secs, events, to_tag: to_tag.to_owned() })
}

/// [`upgrade_under_load`] as a check: zero lost requests.
pub async fn no_request_lost(ctx: &LiveContext, app: &mut DeployedApp) -> CheckResult {
    let out = upgrade_under_load(ctx, app).await?;
    judge(ctx, app, &out).await
}

/// Zero lost requests passes (with the requests sent and how late a pod
/// still answered after it left the endpoints); otherwise the failure
/// counts them, names the likely cause (a live Deployment whose strategy
/// lets pods go before their replacements are Ready, else the hop each lost
/// request points at) and carries each lost request beside the pod
/// deletions and endpoint changes around it.
pub async fn judge(ctx: &LiveContext, app: &DeployedApp, out: &UpgradeOutcome) -> CheckResult {
    let obj = format!("Namespace/{}", app.namespace);
    if out.load.sent == 0 {
        return Err(CheckFailure::new(
            app.path,
            obj,
            "the load sent no request during the upgrade: nothing was measured",
        ));
    }
    if out.load.failed == 0 {
        let mut passed = Passed::note(format!(
            "upgrade to {} in {:.1}s under load: {} requests sent, 0 lost",
            out.to_tag, out.upgrade_secs, out.load.sent
        ));
        if let Some(line) = late_answers(&out.load, &out.events) {
            passed = passed.and(line);
        }
        return Ok(passed);
    }
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &app.namespace);
    let (unsafe_strategies, pre_stops) = match api.list(&ListParams::default()).await {
        Ok(list) => (list.items.iter().filter_map(unsafe_strategy).collect(), pre_stop_pauses(&list.items)),
        Err(e) => (vec![format!("(cannot list Deployments: {e})")], BTreeMap::new()),
    };
    let cause = if unsafe_strategies.is_empty() {
        let mut hops: Vec<&str> = out.load.lost().filter_map(|r| r.lost.map(|l| l.hop())).collect();
        hops.dedup();
        format!(
            "every Deployment surges before it removes (maxUnavailable 0), so the loss is in shutdown or routing: {}; \
             look at the preStop pause against endpoint propagation, draining keep-alive connections, and the proxy's \
             connections to pods that go away (docs/live.md, LIVE-ROLLOUT-UPGRADE)",
            hops.join("; ")
        )
    } else {
        format!(
            "old pods went before their replacements were Ready: {}; want RollingUpdate with maxUnavailable 0",
            unsafe_strategies.join("; ")
        )
    };
    let gateway = out.load.lost().find_map(|r| match r.lost {
        Some(Lost::Status(s)) if super::proxy::is_gateway_error(s) => Some(s),
        _ => None,
    });
    let mut failure = CheckFailure::new(
        app.path,
        obj,
        format!(
            "{} of {} requests failed during the upgrade to {} (want 0); cause: {cause}",
            out.load.failed, out.load.sent, out.to_tag
        ),
    );
    // Gateway errors among the losses: is the proxy's target itself right?
    failure = super::proxy::explained(ctx, app, gateway, failure).await;
    failure.evidence = Some(lost_requests_in_context(&out.load, &out.events, &pre_stops));
    Err(failure)
}

/// How many lost requests [`lost_requests_in_context`] lays out in full.
const LOST_SHOWN: usize = 5;

/// Each lost request (the first [`LOST_SHOWN`]) with the hop it points at,
/// the requests answered just before and after it, and the pod and
/// endpoint changes from 8 s before to 2 s after.
pub fn lost_requests_in_context(
    load: &LoadCount,
    events: &[ClusterEvent],
    pre_stops: &BTreeMap<String, Duration>,
) -> String {
    let mut out = String::new();
    for r in load.lost().take(LOST_SHOWN) {
        out.push_str(&format!("lost {r}\n"));
        if let Some(l) = r.lost {
            out.push_str(&format!("  hop: {}\n", l.hop()));
        }
        if let Some(line) = at_a_sigterm(r.at, events, pre_stops) {
            out.push_str(&format!("  {line}\n"));
        }
        let (before, after) = load.neighbours(r.seq);
        for (label, n) in [("answered before", before), ("answered after", after)] {
            if let Some(n) = n {
                out.push_str(&format!("  {label}: {n}\n"));
            }
        }
        let from = r.at.saturating_sub(Duration::from_secs(8));
        let near = between(events, from, r.at + r.took + Duration::from_secs(2));
        if near.is_empty() {
            out.push_str("  no pod or endpoint change within 8 s before it\n");
        }
        for e in near {
            out.push_str(&format!("  {e}\n"));
        }
    }
    let more = load.lost().count().saturating_sub(LOST_SHOWN);
    if more > 0 {
        out.push_str(&format!("... and {more} more lost requests\n"));
    }
    out
}

/// The preStop sleep of each Deployment's pods (the longest of its containers; 0 without one).
pub fn pre_stop_pauses(deployments: &[Deployment]) -> BTreeMap<String, Duration> {
    deployments
        .iter()
        .map(|d| {
            let containers = d.spec.as_ref().and_then(|s| s.template.spec.as_ref()).map(|s| s.containers.as_slice());
            let secs = containers
                .unwrap_or_default()
                .iter()
                .filter_map(|c| c.lifecycle.as_ref()?.pre_stop.as_ref()?.sleep.as_ref().map(|s| s.seconds))
                .max()
                .unwrap_or(0);
            (d.metadata.name.clone().unwrap_or_default(), Duration::from_secs(secs.max(0) as u64))
        })
        .collect()
}

/// How close a lost request at `at` came to an old pod's SIGTERM (its
/// deletion plus its Deployment's preStop pause): within a second, the loss
/// is the app's shutdown (a connection it closed under the request), not
/// endpoint propagation, which the preStop pause already covers.
pub fn at_a_sigterm(at: Duration, events: &[ClusterEvent], pre_stops: &BTreeMap<String, Duration>) -> Option<String> {
    events
        .iter()
        .filter(|e| e.change == Change::PodDeleting)
        .filter_map(|e| {
            let (_, pause) =
                pre_stops.iter().filter(|(d, _)| e.pod.starts_with(&format!("{d}-"))).max_by_key(|(d, _)| d.len())?;
            let sigterm = e.at + *pause;
            let off = at.as_secs_f64() - sigterm.as_secs_f64();
            (off.abs() <= 1.0).then(|| {
                format!(
                    "{:+.2}s from the SIGTERM of {} (deletion at +{:.2}s, preStop {}s): the pod's shutdown closed a \
                     connection under the request (drain keep-alive connections with Connection: close before \
                     closing them; a proxy sends idempotent requests again)",
                    off,
                    e.pod,
                    e.at.as_secs_f64(),
                    pause.as_secs()
                )
            })
        })
        .next()
}

/// "an old pod answered up to N s after it left the endpoints" (the
/// endpoint propagation as the client saw it), when the app names its pods.
/// Only pods being deleted count: a new pod is also "not ready" while it starts.
pub fn late_answers(load: &LoadCount, events: &[ClusterEvent]) -> Option<String> {
    let last = load.last_served();
    let deleting: BTreeMap<&str, Duration> =
        events.iter().filter(|e| e.change == Change::PodDeleting).map(|e| (e.pod.as_str(), e.at)).collect();
    let late = events
        .iter()
        .filter(|e| e.change == Change::EndpointRemoved || e.change == Change::EndpointNotReady)
        .filter(|e| deleting.get(e.pod.as_str()).is_some_and(|d| e.at >= *d))
        .filter_map(|e| last.get(&e.pod).filter(|t| **t > e.at).map(|t| (*t - e.at, e.pod.as_str())))
        .max();
    let (by, pod) = late?;
    Some(format!(
        "endpoint propagation seen by the client: {pod} still answered {:.2}s after it left the endpoints",
        by.as_secs_f64()
    ))
}

/// `Deployment/<name> strategy ...` when its rollout can remove a pod
/// before a replacement is Ready (Recreate, or maxUnavailable other than 0).
pub fn unsafe_strategy(d: &Deployment) -> Option<String> {
    let name = d.metadata.name.clone().unwrap_or_default();
    let s = crate::rules::rollout_strategy(d.spec.as_ref()?);
    if s.kind == "Recreate" {
        Some(format!("Deployment/{name} strategy Recreate"))
    } else if ["0", "0%"].contains(&s.max_unavailable.as_str()) {
        None
    } else {
        Some(format!("Deployment/{name} maxUnavailable {}", s.max_unavailable))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn deployment(strategy: serde_json::Value) -> Deployment {
        serde_json::from_value(serde_json::json!({"metadata": {"name": "web"}, "spec": {
            "selector": {}, "template": {}, "strategy": strategy}}))
        .expect("deployment")
    }

    #[test]
    fn a_loss_at_an_old_pods_sigterm_is_named() {
        use super::super::timeline::{Change, ClusterEvent};
        let events = vec![
            ClusterEvent {
                at: Duration::from_millis(20_340),
                pod: "app-backend-86-jgz".into(),
                change: Change::PodDeleting,
            },
            ClusterEvent {
                at: Duration::from_millis(20_100),
                pod: "app-frontend-7d-q74".into(),
                change: Change::PodDeleting,
            },
        ];
        let pauses: BTreeMap<String, Duration> =
            [("app-backend".to_owned(), Duration::from_secs(5)), ("app-frontend".to_owned(), Duration::from_secs(0))]
                .into();
        let line = at_a_sigterm(Duration::from_millis(25_330), &events, &pauses).expect("named");
        assert!(
            line.starts_with("-0.01s from the SIGTERM of app-backend-86-jgz (deletion at +20.34s, preStop 5s)"),
            "{line}"
        );
        assert_eq!(at_a_sigterm(Duration::from_millis(23_000), &events, &pauses), None);
    }

    #[test]
    fn names_strategies_that_drop_pods_first() {
        let safe = deployment(
            serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"maxSurge": 1, "maxUnavailable": 0}}),
        );
        assert_eq!(unsafe_strategy(&safe), None);
        let pct = deployment(serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": "0%"}}));
        assert_eq!(unsafe_strategy(&pct), None);
        let recreate = deployment(serde_json::json!({"type": "Recreate"}));
        assert_eq!(unsafe_strategy(&recreate).as_deref(), Some("Deployment/web strategy Recreate"));
        let one = deployment(serde_json::json!({"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 1}}));
        assert_eq!(unsafe_strategy(&one).as_deref(), Some("Deployment/web maxUnavailable 1"));
    }
}
