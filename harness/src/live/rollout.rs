//! Rollout safety, live: an upgrade to a new image tag under a steady light
//! load loses no request (maxUnavailable 0, readiness gating, preStop and
//! graceful shutdown). Helm path: `helm upgrade`; raw path: the manifests
//! applied again with the new tag (what `kubectl apply` of a bumped tag does).

use super::app::{DeployedApp, error_chain};
use super::context::LiveContext;
use super::http::{AppClient, LoadCount, SteadyLoad, mint_token};
use super::loadbalancer::{ADDRESS_DEADLINE, external_address};
use super::{CheckFailure, CheckResult, Passed};
use crate::deploy::raw;
use crate::finding::DeployPath;
use k8s_openapi::api::apps::v1::Deployment;
use kube::api::{Api, ListParams};
use std::time::Duration;

/// The tag the upgrade moves to (the same image re-tagged and loaded).
pub const UPGRADE_TAG: &str = "0.1.1";
/// Pause between two requests of the load.
pub const LOAD_PAUSE: Duration = Duration::from_millis(50);

/// `todo-chatbot-<component>:<tag>` for every component, from kubegate.toml's image names.
pub fn upgrade_images(ctx: &LiveContext) -> Vec<(String, String, String)> {
    ctx.config
        .components
        .iter()
        .map(|c| {
            let repo = c.image.rsplit_once(':').map(|(r, _)| r.to_owned()).unwrap_or_else(|| c.image.clone());
            (c.name.clone(), c.image.clone(), format!("{repo}:{UPGRADE_TAG}"))
        })
        .collect()
}

/// Re-tag the built images as [`UPGRADE_TAG`] in the local Docker engine
/// (the caller loads them into the cluster with the provider).
pub fn retag_images(ctx: &LiveContext) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for (_, from, to) in upgrade_images(ctx) {
        let st = std::process::Command::new("docker")
            .args(["tag", &from, &to])
            .output()
            .map_err(|e| format!("cannot run docker: {e}"))?;
        if !st.status.success() {
            return Err(format!("docker tag {from} {to}: {}", String::from_utf8_lossy(&st.stderr).trim()));
        }
        out.push(to);
    }
    Ok(out)
}

/// The load's result and how the rollout went.
#[derive(Debug, Clone, serde::Serialize)]
pub struct UpgradeOutcome {
    /// Requests sent and lost.
    pub load: LoadCount,
    /// Seconds the upgrade took (command + rollouts).
    pub upgrade_secs: f64,
}

/// Upgrade both images to [`UPGRADE_TAG`] while a loop sends
/// `GET /api/tasks` through the frontend's LoadBalancer address (frontend
/// proxy -> backend); count failed requests, expect zero. The images must
/// already be loaded into the cluster.
pub async fn upgrade_under_load(ctx: &LiveContext, app: &mut DeployedApp) -> Result<UpgradeOutcome, CheckFailure> {
    let obj = format!("Namespace/{}", app.namespace);
    let ep = external_address(ctx, app, &ctx.service("frontend"), ADDRESS_DEADLINE).await?;
    let client = AppClient::new(ep.base_url());
    let token =
        mint_token(app.secrets.get("JWT_SECRET").unwrap_or_default(), &format!("kg-upgrade-{}-{}", app.run, app.path));
    client
        .get_until("/api/tasks", Some(&token), 200, Duration::from_secs(30))
        .await
        .map_err(|last| CheckFailure::new(app.path, &obj, format!("no steady answer before the upgrade: {last}")))?;
    let load = SteadyLoad::start(client, "/api/tasks".into(), Some(token), 200, LOAD_PAUSE);
    // A few seconds of load before, so a broken baseline shows as such.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let started = std::time::Instant::now();
    // The deployment's own variant plus the new tags (helm upgrade does not reuse values).
    let mut variant = app.variant.clone();
    for (component, _, image) in upgrade_images(ctx) {
        let (repo, tag) = image.rsplit_once(':').unwrap_or((&image, UPGRADE_TAG));
        variant = variant.image(&component, repo, tag);
    }
    let upgraded = match app.path {
        DeployPath::Helm => {
            ctx.helm.upgrade(&app.helm_install(ctx, &variant)).await.map(|_| ()).map_err(|e| error_chain(&e))
        }
        DeployPath::Raw => raw::deploy(&ctx.client, &app.namespace, &ctx.manifests_dir(), &app.secrets, &variant.raw)
            .await
            .map(|_| ())
            .map_err(|e| error_chain(&e)),
    };
    let rolled = match upgraded {
        Ok(()) => app.wait_rolled_out(ctx).await,
        Err(e) => Err(CheckFailure::new(app.path, &obj, format!("upgrade to {UPGRADE_TAG} failed: {e}"))),
    };
    let upgrade_secs = started.elapsed().as_secs_f64();
    // A few seconds after, so late failures (old pods going away) count too.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let count = load.stop().await;
    rolled?;
    Ok(UpgradeOutcome { load: count, upgrade_secs })
}

/// [`upgrade_under_load`] as a check: zero lost requests.
pub async fn no_request_lost(ctx: &LiveContext, app: &mut DeployedApp) -> CheckResult {
    let out = upgrade_under_load(ctx, app).await?;
    judge(ctx, app, &out).await
}

/// Zero lost requests passes; otherwise the failure counts them and names
/// the likely cause: a live Deployment whose strategy lets pods go before
/// their replacements are Ready (else readiness gating or graceful shutdown).
pub async fn judge(ctx: &LiveContext, app: &DeployedApp, out: &UpgradeOutcome) -> CheckResult {
    if out.load.failed == 0 && out.load.sent > 0 {
        return Ok(Passed::note(format!(
            "upgrade to {UPGRADE_TAG} in {:.1}s under load: {} requests, 0 lost",
            out.upgrade_secs, out.load.sent
        )));
    }
    let obj = format!("Namespace/{}", app.namespace);
    if out.load.sent == 0 {
        return Err(CheckFailure::new(
            app.path,
            obj,
            "the load sent no request during the upgrade: nothing was measured",
        ));
    }
    let api: Api<Deployment> = Api::namespaced(ctx.client.clone(), &app.namespace);
    let unsafe_strategies: Vec<String> = match api.list(&ListParams::default()).await {
        Ok(list) => list.items.iter().filter_map(unsafe_strategy).collect(),
        Err(e) => vec![format!("(cannot list Deployments: {e})")],
    };
    let cause = if unsafe_strategies.is_empty() {
        "every Deployment surges before it removes (maxUnavailable 0): look at readiness gating and graceful shutdown (preStop, SIGTERM handling)".to_owned()
    } else {
        format!(
            "old pods went before their replacements were Ready: {}; want RollingUpdate with maxUnavailable 0",
            unsafe_strategies.join("; ")
        )
    };
    Err(CheckFailure::new(
        app.path,
        obj,
        format!(
            "{} of {} requests failed during the upgrade to {UPGRADE_TAG} (want 0); cause: {cause}; first failures: {:?}",
            out.load.failed, out.load.sent, out.load.samples
        ),
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
