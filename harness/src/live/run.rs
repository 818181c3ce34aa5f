//! Every live suite for both paths, as `kubegate verify` runs them: one
//! shared deployment per path for the checks that only look, one extra
//! namespace per destructive check, both paths side by side.

use super::app::{DeployedApp, Variant};
use super::context::LiveContext;
use super::database::TestDatabase;
use super::rollout::UpgradeOutcome;
use super::{CheckFailure, CheckRun, constitution, loadbalancer, parity, probes, rollout, secrets, timed};
use crate::deploy::RunId;
use crate::finding::DeployPath;
use crate::progress::Step;
use crate::wait::WaitReport;
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
}

/// Everything a live run produced.
#[derive(Debug, Default)]
pub struct LiveRun {
    /// One entry per check and scope.
    pub runs: Vec<CheckRun>,
    /// Every rollout wait (for the wait-overhead figure).
    pub waits: Vec<(DeployPath, WaitReport)>,
    /// The rolling upgrades under load.
    pub upgrades: Vec<(DeployPath, UpgradeOutcome)>,
    /// Namespaces left in place (`--keep`) or that failed to go.
    pub left: Vec<String>,
}

impl LiveRun {
    /// True when no check failed.
    pub fn passed(&self) -> bool {
        self.runs.iter().all(|r| r.result.is_ok())
    }
}

/// Deploy both paths and run every suite. Never returns early: a path that
/// cannot be deployed fails each of its checks with the deploy error.
pub async fn run_all(ctx: &LiveContext, run: &RunId, opts: &RunOptions) -> LiveRun {
    let mut out = LiveRun::default();
    let step = Step::start("deploying both paths (raw manifests, Helm chart)");
    let shared = Variant::standard("shared");
    let (raw, helm) = tokio::join!(
        DeployedApp::deploy(ctx, run, DeployPath::Raw, &shared),
        DeployedApp::deploy(ctx, run, DeployPath::Helm, &shared)
    );
    for r in [&raw, &helm] {
        match r {
            Ok(app) => {
                for w in &app.waits {
                    step.note(format!("{}: {} in {:.1}s", app.path, w.what, w.took.as_secs_f64()));
                    out.waits.push((app.path, w.clone()));
                }
            }
            Err(f) => step.note(format!("{f}")),
        }
    }
    if raw.is_ok() && helm.is_ok() {
        step.ok();
    } else {
        step.failed();
    }

    for (path, app) in [(DeployPath::Raw, &raw), (DeployPath::Helm, &helm)] {
        let step = Step::start(format!("{path}: constitution, probes, loadbalancer, secrets"));
        match app {
            Ok(app) => {
                let scope = path.to_string();
                let list = vec![
                    timed("LIVE-CONST-DRYRUN", &scope, constitution::dry_run(ctx, app)).await,
                    timed("LIVE-CONST-PSA", &scope, constitution::pod_security(ctx, app)).await,
                    timed("LIVE-CONST-PODSPEC", &scope, constitution::pod_specs(ctx, app)).await,
                    timed("LIVE-CONST-HPA", &scope, constitution::hpa(ctx, app)).await,
                    timed("LIVE-PROBE-ROLLOUT", &scope, probes::rollout_deadlines(ctx, app)).await,
                    timed("LIVE-PROBE-ENDPOINTS", &scope, probes::endpoints(ctx, app)).await,
                    timed("LIVE-LB-ADDRESS", &scope, loadbalancer::address_and_pages(ctx, app)).await,
                    timed("LIVE-LB-UNPROVISIONED", &scope, loadbalancer::unprovisioned_is_diagnosed(ctx, app)).await,
                    timed("LIVE-SECRET-USED", &scope, secrets::values_in_use(ctx, app)).await,
                ];
                note_all(&step, &list);
                out.runs.extend(list);
            }
            Err(f) => out.runs.extend(fail_all(
                path,
                f,
                &["LIVE-CONST-", "LIVE-PROBE-ROLLOUT", "LIVE-PROBE-ENDPOINTS", "LIVE-LB-", "LIVE-SECRET-USED"],
            )),
        }
        step.ok();
    }

    let step = Step::start("parity: live objects and answers of both paths");
    match (&raw, &helm) {
        (Ok(r), Ok(h)) => {
            let list = vec![
                timed("LIVE-PARITY-OBJECTS", "parity", parity::objects_equal(ctx, r, h)).await,
                timed("LIVE-PARITY-ANSWERS", "parity", parity::same_answers(ctx, r, h)).await,
            ];
            note_all(&step, &list);
            out.runs.extend(list);
        }
        _ => {
            let f = CheckFailure::both("deployments", "parity needs both paths deployed; see the deploy failures");
            out.runs.extend(fail_all_scope("parity", &f, &["LIVE-PARITY-"]));
        }
    }
    step.ok();

    if opts.destructive {
        let step = Step::start("destructive checks, both paths side by side (own namespaces)");
        let (a, b) = tokio::join!(destructive(ctx, DeployPath::Raw), destructive(ctx, DeployPath::Helm));
        for (runs, upgrade) in [a, b] {
            note_all(&step, &runs);
            out.runs.extend(runs);
            out.upgrades.extend(upgrade);
        }
        step.ok();
    }

    // Last, so the search covers everything the run wrote so far.
    let step = Step::start("secrets: searching the cluster, Helm records, logs and artifacts for the values");
    let dirs: Vec<&std::path::Path> = opts.artifacts.iter().map(PathBuf::as_path).collect();
    for (path, app) in [(DeployPath::Raw, &raw), (DeployPath::Helm, &helm)] {
        match app {
            Ok(app) => {
                let r = timed("LIVE-SECRET-NOLEAK", path.to_string(), secrets::no_leaks(ctx, app, &dirs)).await;
                note_all(&step, std::slice::from_ref(&r));
                out.runs.push(r);
            }
            Err(f) => out.runs.extend(fail_all(path, f, &["LIVE-SECRET-NOLEAK"])),
        }
    }
    step.ok();

    let step = Step::start(if opts.keep {
        "keeping the shared namespaces (--keep)"
    } else {
        "tearing down the shared namespaces"
    });
    let failed = !out.passed();
    let mut going = Vec::new();
    for mut app in [raw, helm].into_iter().flatten() {
        if failed {
            app.mark_failed();
        }
        if opts.keep {
            out.left.push(app.keep());
        } else {
            going.push(app);
        }
    }
    // Both namespaces at once: each waits out its pods' graceful shutdown.
    let results = futures::future::join_all(going.into_iter().map(|app| async move {
        let ns = app.namespace.clone();
        (ns, app.teardown(ctx).await)
    }))
    .await;
    for (ns, result) in results {
        if let Err(e) = result {
            step.note(format!("{ns}: {e}"));
            out.left.push(ns);
        }
    }
    step.ok();
    out
}

/// The destructive checks of one path, each in a namespace of its own.
async fn destructive(ctx: &LiveContext, path: DeployPath) -> (Vec<CheckRun>, Option<(DeployPath, UpgradeOutcome)>) {
    let scope = path.to_string();
    let mut runs = Vec::new();
    let mut upgrade = None;

    // Upgrade under load, rotation, the liveness fault, then a replaced pod: one namespace.
    let run = RunId::random();
    match DeployedApp::deploy(ctx, &run, path, &Variant::standard("disruptive").small().fault_injection()).await {
        Ok(mut app) => {
            let started = std::time::Instant::now();
            let u = rollout::upgrade_under_load(ctx, &mut app).await;
            let result = match u {
                Ok(o) => {
                    let r = rollout::judge(ctx, &app, &o).await;
                    upgrade = Some((path, o));
                    r
                }
                Err(f) => Err(f),
            };
            runs.push(CheckRun {
                check: super::check_info("LIVE-ROLLOUT-UPGRADE").expect("known"),
                scope: scope.clone(),
                result,
                took: started.elapsed(),
            });
            runs.push(timed("LIVE-SECRET-ROTATE", &scope, secrets::rotation(ctx, &mut app)).await);
            runs.push(timed("LIVE-PROBE-LIVENESS", &scope, probes::liveness_restart(ctx, &app)).await);
            runs.push(timed("LIVE-PROBE-REPLACED", &scope, probes::tunnel_follows_replacement(ctx, &app)).await);
            finish(ctx, app, runs.iter().any(|r| r.result.is_err())).await;
        }
        Err(f) => runs.extend(fail_all(
            path,
            &f,
            &["LIVE-ROLLOUT-UPGRADE", "LIVE-SECRET-ROTATE", "LIVE-PROBE-LIVENESS", "LIVE-PROBE-REPLACED"],
        )),
    }

    // Database outage: a database this check owns.
    let r = timed("LIVE-PROBE-DBOUTAGE", &scope, async {
        let ip = ctx.cluster.node_ip.ok_or_else(|| {
            CheckFailure::new(path, "test database", "the cluster reports no node IP for pods to reach a host database")
        })?;
        let db = TestDatabase::start(ip).map_err(|e| CheckFailure::new(path, "test database", format!("{e}")))?;
        let mut s = ctx.secrets.clone();
        s.set("DATABASE_URL", db.url());
        let app = DeployedApp::deploy(ctx, &RunId::random(), path, &Variant::standard("db-outage").small().secrets(s))
            .await?;
        let result = probes::database_outage(ctx, &app, &db).await;
        finish(ctx, app, result.is_err()).await;
        result
    })
    .await;
    runs.push(r);

    // A Secret without JWT_SECRET.
    let r = timed("LIVE-SECRET-MISSING", &scope, async {
        let s = ctx.secrets.without("JWT_SECRET");
        let app = DeployedApp::deploy(
            ctx,
            &RunId::random(),
            path,
            &Variant::standard("missing-key").small().no_wait().secrets(s),
        )
        .await?;
        let result = secrets::missing_key_is_diagnosed(ctx, &app, "JWT_SECRET").await;
        let _ = app.teardown(ctx).await;
        result
    })
    .await;
    runs.push(r);
    (runs, upgrade)
}

/// Tear an extra namespace down, with diagnostics first if a check failed.
async fn finish(ctx: &LiveContext, mut app: DeployedApp, failed: bool) {
    if failed {
        app.mark_failed();
    }
    let ns = app.namespace.clone();
    if let Err(e) = app.teardown(ctx).await {
        eprintln!("    warning: {ns}: {e}");
    }
}

fn note_all(step: &Step, runs: &[CheckRun]) {
    for r in runs {
        match &r.result {
            Ok(p) => {
                step.note(format!("pass  {:<22} {:<6} {}", r.check.id, r.scope, p.notes.join("; ")));
                for l in &p.limitations {
                    step.note(format!("limit {:<22} {:<6} {l}", r.check.id, r.scope));
                }
            }
            Err(f) => step.note(format!(
                "FAIL  {:<22} {:<6} {}",
                r.check.id,
                r.scope,
                f.to_string().lines().next().unwrap_or("")
            )),
        }
    }
}

/// Every check whose id starts with one of `prefixes` fails on `path` with `f`.
fn fail_all(path: DeployPath, f: &CheckFailure, prefixes: &[&str]) -> Vec<CheckRun> {
    fail_all_scope(&path.to_string(), f, prefixes)
}

fn fail_all_scope(scope: &str, f: &CheckFailure, prefixes: &[&str]) -> Vec<CheckRun> {
    super::CHECKS
        .iter()
        .filter(|c| prefixes.iter().any(|p| c.id.starts_with(p)))
        .map(|c| CheckRun { check: c, scope: scope.to_owned(), result: Err(f.clone()), took: Default::default() })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_deploy_fails_each_of_its_checks() {
        let f = CheckFailure::new(DeployPath::Helm, "Namespace/x", "helm install failed");
        let runs = fail_all(DeployPath::Helm, &f, &["LIVE-CONST-", "LIVE-LB-"]);
        assert_eq!(runs.len(), 6);
        assert!(runs.iter().all(|r| r.scope == "helm" && r.result.is_err()));
    }
}
