//! The live check table ([`super::checks::CHECKS`]) for both paths, as
//! `kubegate verify` runs it: one shared deployment per path for the checks
//! that only look (in table order, both paths side by side), then the pair
//! checks, then the search for secret values in what they left, then their
//! teardown; meanwhile, from the start, every destructive check of both
//! paths, each in a namespace of its own, the longest first, at most
//! [`RunOptions::parallel`] at a time.

use super::app::{DeployedApp, Variant};
use super::checks::{CHECKS, LiveCheck, Record, Run, Scope, Teardown, run_own};
use super::context::LiveContext;
use super::rollout::UpgradeOutcome;
use super::{CheckFailure, CheckRun, timed};
use crate::deploy::RunId;
use crate::finding::DeployPath;
use crate::progress::Step;
use crate::wait::WaitReport;
use futures::StreamExt;
use std::path::PathBuf;

/// What to run.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Run the destructive checks (DB outage, liveness fault, missing key, rotation, upgrade).
    pub destructive: bool,
    /// Directories searched for leaked secret values (kubegate's own artifacts).
    pub artifacts: Vec<PathBuf>,
    /// Leave the namespaces in place.
    pub keep: bool,
    /// How many destructive checks (each a namespace of its own) run at once.
    pub parallel: usize,
}

/// Destructive checks at once by default: each is a small deployment that
/// mostly waits on the kubelet's probe periods, so five per core (10 on 2
/// cores: the 14 of the reference table end together, the longest first)
/// keep a 2-core machine busy without starving the rolling-upgrade load.
pub fn default_parallel() -> usize {
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
    (cores * 5).clamp(2, 16)
}

/// Everything a live run produced.
#[derive(Debug, Default)]
pub struct LiveRun {
    /// One entry per check and scope, in table order.
    pub runs: Vec<CheckRun>,
    /// Every rollout wait (for the wait-overhead figure).
    pub waits: Vec<(DeployPath, WaitReport)>,
    /// The rolling upgrades under load.
    pub upgrades: Vec<(DeployPath, UpgradeOutcome)>,
    /// How long each namespace of the run took to go.
    pub teardowns: Vec<Teardown>,
    /// Namespaces left in place (`--keep`) or that failed to go.
    pub left: Vec<String>,
}

impl LiveRun {
    /// True when no check failed.
    pub fn passed(&self) -> bool {
        self.runs.iter().all(|r| r.result.is_ok())
    }
}

/// Deploy both paths and run the table. Never returns early: a path that
/// cannot be deployed fails each of its checks with the deploy error. The
/// destructive checks deploy their own, so they start at once, beside the
/// shared deployments, the longest first ([`destructive_order`]).
pub async fn run_all(ctx: &LiveContext, run: &RunId, opts: &RunOptions) -> LiveRun {
    let mut out = LiveRun::default();
    let record = Record::default();
    let scope = Scope { ctx, artifacts: &opts.artifacts, record: &record };
    let own = if opts.destructive { destructive_order() } else { Vec::new() };
    let step = Step::start(format!(
        "deploying both paths (raw manifests, Helm chart), the checks that look, the search for secret values, teardown; meanwhile {} destructive checks in namespaces of their own, {} at a time",
        own.len(),
        opts.parallel.max(1)
    ));
    let shared = async {
        let variant = Variant::standard("shared");
        let (raw, helm) = tokio::join!(
            DeployedApp::deploy(ctx, run, DeployPath::Raw, &variant),
            DeployedApp::deploy(ctx, run, DeployPath::Helm, &variant)
        );
        let mut waits = Vec::new();
        for r in [&raw, &helm] {
            match r {
                Ok(app) => {
                    for w in &app.waits {
                        step.note(format!("{}: {} in {:.1}s", app.path, w.what, w.took.as_secs_f64()));
                        waits.push((app.path, w.clone()));
                    }
                }
                Err(f) => step.fail(format!("{f}")),
            }
        }
        let deployed = Deployed { raw: &raw, helm: &helm };
        let (mut looked, b) = tokio::join!(
            looks_in_order(&scope, &deployed, DeployPath::Raw, &step),
            looks_in_order(&scope, &deployed, DeployPath::Helm, &step)
        );
        looked.extend(b);
        for check in CHECKS.iter().filter(|c| matches!(c.run, Run::Pair(_))) {
            looked.push(noted(&step, run_one(&scope, &deployed, check, "parity").await));
        }
        // Nothing else touches the shared namespaces now: search them (and
        // what kubegate wrote so far) for the secret values, then let them
        // go while the destructive checks run on.
        for check in CHECKS.iter().filter(|c| matches!(c.run, Run::SharedLast(_))) {
            for path in [DeployPath::Raw, DeployPath::Helm] {
                looked.push(noted(&step, run_one(&scope, &deployed, check, &path.to_string()).await));
            }
        }
        let failed = looked.iter().any(|r| r.result.is_err());
        let left = release_shared(&scope, [raw, helm], failed, opts.keep, &step).await;
        (waits, looked, left)
    };
    let destructive = futures::stream::iter(own)
        .map(|(check, path)| {
            let (scope, step) = (&scope, &step);
            async move {
                let r = timed(check, path.to_string(), run_own(scope, check, path)).await;
                noted(step, r)
            }
        })
        .buffer_unordered(opts.parallel.max(1))
        .collect::<Vec<_>>();
    // The destructive checks ask for their deploy turns first (longest first).
    let (broke, (waits, looked, left)) = tokio::join!(destructive, shared);
    out.waits = waits;
    out.left = left;
    out.runs.extend(looked);
    out.runs.extend(broke);
    step.ok();
    (out.upgrades, out.teardowns) = record.into_parts();
    out.runs.sort_by_key(|r| (CHECKS.iter().position(|c| c == r.check), scope_order(&r.scope)));
    out
}

/// Tear down the shared deployments (both at once, their pods stopped at
/// once), or keep them with `--keep`; a failed check keeps a diagnostics
/// bundle. The namespaces left in place.
async fn release_shared(
    scope: &Scope<'_>,
    apps: [Result<DeployedApp, CheckFailure>; 2],
    failed: bool,
    keep: bool,
    step: &Step,
) -> Vec<String> {
    let mut left = Vec::new();
    let mut going = Vec::new();
    for mut app in apps.into_iter().flatten() {
        if failed {
            app.mark_failed();
        }
        if keep {
            step.note(format!("kept {} (--keep)", app.namespace));
            left.push(app.keep());
        } else {
            going.push(app);
        }
    }
    let results = futures::future::join_all(going.into_iter().map(|app| async move {
        let (ns, path, started) = (app.namespace.clone(), app.path, std::time::Instant::now());
        let result = app.teardown(scope.ctx).await;
        (ns, path, started.elapsed(), result)
    }))
    .await;
    for (ns, path, took, result) in results {
        match result {
            Ok(()) => {
                step.note(format!("shared namespace {ns} torn down in {:.1}s", took.as_secs_f64()));
                scope.record.teardown(Teardown { path, of: "shared", took });
            }
            Err(e) => {
                step.fail(format!("{ns}: {e}"));
                left.push(ns);
            }
        }
    }
    left
}

/// Every destructive check on both paths, in the order `verify` starts
/// them: what waits longest first ([`super::checks::Lasts`]), so the short ones fill the
/// slots the long ones leave and the run ends with its longest check; table
/// order among equals.
pub fn destructive_order() -> Vec<(&'static LiveCheck, DeployPath)> {
    let mut own: Vec<&'static LiveCheck> = CHECKS.iter().filter(|c| c.destructive()).collect();
    own.sort_by_key(|c| c.lasts);
    own.into_iter().flat_map(|c| [(c, DeployPath::Raw), (c, DeployPath::Helm)]).collect()
}

/// The shared deployments of both paths (or why each could not be deployed).
pub struct Deployed<'a> {
    /// The raw-manifest path's.
    pub raw: &'a Result<DeployedApp, CheckFailure>,
    /// The Helm path's.
    pub helm: &'a Result<DeployedApp, CheckFailure>,
}

impl Deployed<'_> {
    fn of(&self, path: DeployPath) -> &Result<DeployedApp, CheckFailure> {
        match path {
            DeployPath::Raw => self.raw,
            DeployPath::Helm => self.helm,
        }
    }
}

/// Run `check` on `on` (`raw`, `helm` or `parity`): a look at the shared
/// deployment(s), or a destructive check on a deployment of its own. A
/// shared deployment that failed fails the checks that needed it, with its error.
pub async fn run_one(scope: &Scope<'_>, deployed: &Deployed<'_>, check: &'static LiveCheck, on: &str) -> CheckRun {
    let path = super::path_of(on);
    timed(check, on, async {
        if let Some(f) = blocked(deployed, check, path) {
            return Err(f);
        }
        match (check.run, deployed.raw, deployed.helm, deployed.of(path)) {
            (Run::Shared(body) | Run::SharedLast(body), _, _, Ok(app)) => body(scope, app).await,
            (Run::Pair(body), Ok(r), Ok(h), _) => body(scope, r, h).await,
            _ => run_own(scope, check, path).await,
        }
    })
    .await
}

/// The deploy failure that keeps `check` from running on `path`, if any.
fn blocked(deployed: &Deployed<'_>, check: &LiveCheck, path: DeployPath) -> Option<CheckFailure> {
    match check.run {
        Run::Shared(_) | Run::SharedLast(_) => deployed.of(path).as_ref().err().cloned(),
        Run::Pair(_) if deployed.raw.is_err() || deployed.helm.is_err() => {
            Some(CheckFailure::both("deployments", "parity needs both paths deployed; see the deploy failures"))
        }
        Run::Pair(_) | Run::Own(..) | Run::OwnDatabase(..) => None,
    }
}

/// The checks that look at one path's shared deployment, one after another
/// in table order (some add objects to the namespace for a moment).
async fn looks_in_order(scope: &Scope<'_>, deployed: &Deployed<'_>, path: DeployPath, step: &Step) -> Vec<CheckRun> {
    let mut runs = Vec::new();
    for check in CHECKS.iter().filter(|c| matches!(c.run, Run::Shared(_))) {
        runs.push(noted(step, run_one(scope, deployed, check, &path.to_string()).await));
    }
    runs
}

fn scope_order(scope: &str) -> usize {
    ["raw", "helm", "parity"].iter().position(|s| *s == scope).unwrap_or(3)
}

/// Print one line for a finished check (pass with its notes, limitation, or
/// FAIL, which fails the step) and hand it on.
fn noted(step: &Step, r: CheckRun) -> CheckRun {
    match &r.result {
        Ok(p) => {
            step.note(format!(
                "pass  {:<22} {:<6} {:>5.1}s {}",
                r.check.id,
                r.scope,
                r.took.as_secs_f64(),
                p.notes.join("; ")
            ));
            for l in &p.limitations {
                step.note(format!("limit {:<22} {:<6} {l}", r.check.id, r.scope));
            }
        }
        Err(f) => step.fail(format!(
            "FAIL  {:<22} {:<6} {:>5.1}s {}",
            r.check.id,
            r.scope,
            r.took.as_secs_f64(),
            f.to_string().lines().next().unwrap_or("")
        )),
    }
    r
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::live::checks::Lasts;

    #[test]
    fn a_failed_deploy_fails_each_check_that_needs_it_with_its_error() {
        let raw = Ok(DeployedApp::detached(DeployPath::Raw, "kg-x-raw"));
        let helm = Err(CheckFailure::new(DeployPath::Helm, "Namespace/kg-x-helm", "helm install failed"));
        let deployed = Deployed { raw: &raw, helm: &helm };
        for check in CHECKS {
            let on_helm = blocked(&deployed, check, DeployPath::Helm);
            let on_raw = blocked(&deployed, check, DeployPath::Raw);
            match check.run {
                Run::Shared(_) | Run::SharedLast(_) => {
                    let f = on_helm.unwrap_or_else(|| panic!("{} runs on a Helm path that failed", check.id));
                    assert!(f.to_string().contains("helm install failed"), "{}: {f}", check.id);
                    assert!(on_raw.is_none(), "{} runs on the raw path that deployed", check.id);
                }
                Run::Pair(_) => {
                    let f = on_raw.unwrap_or_else(|| panic!("{} compares a path that failed", check.id));
                    assert!(f.to_string().starts_with("[raw+helm]"), "{f}");
                }
                Run::Own(..) | Run::OwnDatabase(..) => {
                    assert!(on_helm.is_none() && on_raw.is_none(), "{} deploys on its own", check.id);
                }
            }
        }
    }

    #[test]
    fn parallelism_is_bounded_and_at_least_two() {
        let n = default_parallel();
        assert!((2..=16).contains(&n), "{n}");
    }

    #[test]
    fn destructive_checks_start_longest_first_on_both_paths() {
        let order = destructive_order();
        let own = CHECKS.iter().filter(|c| c.destructive()).count();
        assert_eq!(order.len(), own * 2, "each destructive check once per path");
        assert!(order.windows(2).all(|w| w[0].0.lasts <= w[1].0.lasts), "longest first: {order:?}");
        let first: Vec<&str> = order.iter().take(4).map(|(c, _)| c.id).collect();
        assert_eq!(first, ["LIVE-PROBE-DBOUTAGE", "LIVE-PROBE-DBOUTAGE", "LIVE-PROBE-LIVENESS", "LIVE-PROBE-LIVENESS"]);
        assert!(order.iter().all(|(c, _)| c.lasts != Lasts::Moment || c.id == "LIVE-SECRET-MISSING"), "{order:?}");
    }
}
