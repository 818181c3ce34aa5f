//! Every live check as one item: its id, principle, what it asserts, what it
//! runs on (the shared deployment, both shared deployments, or a deployment
//! of its own), its body, its nextest name and the broken deployment that
//! must fail it. `kubegate verify` ([`super::run`]) and the nextest `live`
//! binary (`suites/tests/live.rs`) both run this table, and docs/live.md's
//! table is generated from it, so adding a check is one edit here (plus its
//! broken variant).

use super::app::{DeployedApp, Variant};
use super::context::LiveContext;
use super::rollout::UpgradeOutcome;
use super::{CheckResult, constitution, loadbalancer, parity, probes, rollout, secrets};
use crate::finding::DeployPath;
use crate::postgres::TestDatabase;
use futures::future::BoxFuture;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

/// What a check body gets besides its deployment(s).
pub struct Scope<'a> {
    /// The cluster, client, config and secrets of the run.
    pub ctx: &'a LiveContext,
    /// Directories searched for leaked secret values (kubegate's own artifacts).
    pub artifacts: &'a [PathBuf],
    /// Measurements a check hands back beside its verdict.
    pub record: &'a Record,
}

/// Measurements collected while checks run (for reports and benchmarks).
#[derive(Debug, Default)]
pub struct Record {
    upgrades: Mutex<Vec<(DeployPath, UpgradeOutcome)>>,
    teardowns: Mutex<Vec<Teardown>>,
}

/// How long a namespace of the run took to go.
#[derive(Debug, Clone, PartialEq)]
pub struct Teardown {
    /// raw or helm.
    pub path: DeployPath,
    /// The destructive check whose namespace it was, or `shared`.
    pub of: &'static str,
    /// From the start of the teardown to the namespace gone.
    pub took: Duration,
}

impl Record {
    /// Keep a rolling upgrade's outcome.
    pub fn upgrade(&self, path: DeployPath, outcome: UpgradeOutcome) {
        self.upgrades.lock().unwrap_or_else(|p| p.into_inner()).push((path, outcome));
    }
    /// Keep how long a namespace took to go.
    pub fn teardown(&self, teardown: Teardown) {
        self.teardowns.lock().unwrap_or_else(|p| p.into_inner()).push(teardown);
    }
    /// Every rolling upgrade and every teardown recorded.
    pub fn into_parts(self) -> (Vec<(DeployPath, UpgradeOutcome)>, Vec<Teardown>) {
        fn open<T>(m: Mutex<Vec<T>>) -> Vec<T> {
            m.into_inner().unwrap_or_else(|p| p.into_inner())
        }
        (open(self.upgrades), open(self.teardowns))
    }
}

/// A body that looks at one path's shared deployment.
pub type SharedFn = for<'a> fn(&'a Scope<'a>, &'a DeployedApp) -> BoxFuture<'a, CheckResult>;
/// A body that compares both paths' shared deployments (raw, helm).
pub type PairFn = for<'a> fn(&'a Scope<'a>, &'a DeployedApp, &'a DeployedApp) -> BoxFuture<'a, CheckResult>;
/// A body that may break the deployment it is given (its own).
pub type OwnFn = for<'a> fn(&'a Scope<'a>, &'a mut DeployedApp) -> BoxFuture<'a, CheckResult>;
/// A body given its own deployment and the PostgreSQL that deployment uses.
pub type DatabaseFn = for<'a> fn(&'a Scope<'a>, &'a DeployedApp, &'a TestDatabase) -> BoxFuture<'a, CheckResult>;
/// The variant a check deploys in its own namespace.
pub type VariantFn = fn(&LiveContext) -> Variant;

/// What a check runs on, with its body.
#[derive(Clone, Copy)]
pub enum Run {
    /// Looks at the path's shared deployment.
    Shared(SharedFn),
    /// Looks at the shared deployment after every other check on it (it searches what they left there).
    SharedLast(SharedFn),
    /// Compares both paths' shared deployments.
    Pair(PairFn),
    /// Breaks a deployment of its own, in its own namespace.
    Own(VariantFn, OwnFn),
    /// Like [`Run::Own`], with a PostgreSQL of its own as the app's database.
    OwnDatabase(VariantFn, DatabaseFn),
}

impl Run {
    /// True when the check changes the deployment it runs on (own namespace).
    pub fn destructive(&self) -> bool {
        matches!(self, Run::Own(..) | Run::OwnDatabase(..))
    }
}

/// One live check.
#[derive(Clone, Copy)]
pub struct LiveCheck {
    /// Stable id, `LIVE-<SUITE>-<NAME>`.
    pub id: &'static str,
    /// Suite (module) name.
    pub suite: &'static str,
    /// Principle of the plan's constitution (`P3`, `P5`, `P11`, `P12`, `P14`).
    pub principle: &'static str,
    /// What it asserts, one line.
    pub title: &'static str,
    /// nextest test name under `live::<suite>::` (the path is appended).
    pub test: &'static str,
    /// The broken deployment that must fail it (a `live::broken::` test), or why none is needed.
    pub broken: &'static str,
    /// What it runs on, and its body.
    pub run: Run,
    /// What its time goes on: `verify` starts the destructive checks that
    /// wait longest first, so the run ends with its longest check.
    pub lasts: Lasts,
}

/// What a check's time goes on, longest first. Not a duration: the
/// lengths come from the objects' own probe and controller settings.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Lasts {
    /// A fault held until the kubelet has run the liveness probe
    /// `failureThreshold` times (minutes with the plan's 30 s period).
    ProbeCycles,
    /// A load driven until a controller acts on it (HPA sync, a rolling
    /// upgrade under load), and the settling after.
    Load,
    /// One rollout or pod replacement.
    Rollout,
    /// A look or a diagnosis: seconds.
    Moment,
}

impl std::fmt::Debug for LiveCheck {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveCheck").field("id", &self.id).finish()
    }
}

impl PartialEq for LiveCheck {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl LiveCheck {
    /// True when it breaks its deployment on purpose (own namespace).
    pub fn destructive(&self) -> bool {
        self.run.destructive()
    }

    /// The scopes it runs on: `raw` and `helm`, or `parity` for a pair check.
    pub fn scopes(&self) -> &'static [&'static str] {
        match self.run {
            Run::Pair(_) => &["parity"],
            _ => &["raw", "helm"],
        }
    }

    /// Its nextest test name for `scope` (`live::probes::database_outage::raw`).
    pub fn test_name(&self, scope: &str) -> String {
        let last = if scope == "parity" { "raw_helm" } else { scope };
        format!("live::{}::{}::{last}", self.suite, self.test)
    }
}

/// The variant of a destructive check: one replica per component.
fn small(name: &'static str) -> Variant {
    Variant::standard(name).small()
}

/// The liveness check's deployment: with the app's fault switch turned on
/// when `[liveness] fault = "switch"`; as committed for `sigstop`.
fn liveness_variant(ctx: &LiveContext) -> Variant {
    let variant = small("liveness");
    match (&ctx.config.liveness.fault, &ctx.config.liveness.switch) {
        (crate::config::LivenessFault::Switch, Some(switch)) => variant.fault_switch(&ctx.container(ctx.api()), switch),
        _ => variant,
    }
}

/// Every live check, in suite order.
pub static CHECKS: &[LiveCheck] = &[
    LiveCheck {
        id: "LIVE-CONST-DRYRUN",
        suite: "constitution",
        principle: "P3",
        title: "a server-side dry run accepts every object",
        test: "dry_run",
        broken: "`broken::invalid_object_fails_dry_run::raw` (replicas -1: the API server's message, naming the object)",
        run: Run::Shared(|s, app| Box::pin(constitution::dry_run(s.ctx, app))),
        lasts: Lasts::Moment,
    },
    LiveCheck {
        id: "LIVE-CONST-PSA",
        suite: "constitution",
        principle: "P5",
        title: "the namespace enforces Pod Security restricted and the pods are admitted",
        test: "pod_security_restricted",
        broken: "`broken::root_pod_is_refused_by_pod_security` (runAsUser 0 in the rendered Deployments, both paths: refused by Pod Security)",
        run: Run::Shared(|s, app| Box::pin(constitution::pod_security(s.ctx, app))),
        lasts: Lasts::Moment,
    },
    LiveCheck {
        id: "LIVE-CONST-PODSPEC",
        suite: "constitution",
        principle: "P12",
        title: "running pods carry the declared securityContext, resources and probes",
        test: "pods_carry_declared_spec",
        broken: "(compares live pods with the declared templates)",
        run: Run::Shared(|s, app| Box::pin(constitution::pod_specs(s.ctx, app))),
        lasts: Lasts::Moment,
    },
    LiveCheck {
        id: "LIVE-CONST-HPA",
        suite: "constitution",
        principle: "P12",
        title: "each HPA reads metrics, and the backend's scales up under load and decides to scale down after",
        test: "hpa_scales_under_load_or_says_why",
        broken: "(without a metrics API: reported as a limitation, never a pass)",
        // Its own namespace: the scale-up adds pods (their CPU requests would
        // crowd the checks beside it) and changes the replica counts the
        // shared deployments' other checks look at.
        run: Run::Own(|_| small("hpa"), |s, app| Box::pin(constitution::hpa(s.ctx, app))),
        lasts: Lasts::Load,
    },
    LiveCheck {
        id: "LIVE-PROBE-ROLLOUT",
        suite: "probes",
        principle: "P12",
        title: "pods Running within 60 s and Ready within 90 s",
        test: "ready_within_plan_deadlines",
        broken: "`broken::bad_image_tag_is_err_image_never_pull` (ErrImageNeverPull at once, not a timeout); `broken::app_exiting_at_start_is_named` and `broken::missing_command_is_named` (the args or command, the exit code and the log line named)",
        run: Run::Shared(|s, app| Box::pin(probes::rollout_deadlines(s.ctx, app))),
        lasts: Lasts::Moment,
    },
    LiveCheck {
        id: "LIVE-PROBE-ENDPOINTS",
        suite: "probes",
        principle: "P12",
        title: "every contract endpoint answers through its Service",
        test: "contract_endpoints_answer",
        broken: "`broken::wrong_readiness_path_is_unhealthy` (Unhealthy readiness probe: its path named against the contract's)",
        run: Run::Shared(|s, app| Box::pin(probes::endpoints(s.ctx, app))),
        lasts: Lasts::Moment,
    },
    LiveCheck {
        id: "LIVE-PROBE-DBOUTAGE",
        suite: "probes",
        principle: "P12",
        title: "database down: backend NotReady, out of the EndpointSlice, no restart; back: Ready",
        test: "database_outage",
        broken: "(stops a PostgreSQL the check owns)",
        run: Run::OwnDatabase(|_| small("db-outage"), |s, app, db| Box::pin(probes::database_outage(s.ctx, app, db))),
        lasts: Lasts::ProbeCycles,
    },
    LiveCheck {
        id: "LIVE-PROBE-LIVENESS",
        suite: "probes",
        principle: "P12",
        title: "an API container frozen by SIGSTOP fails its liveness probe: the kubelet restarts it within the probe's own times, Ready again",
        test: "liveness_failure_restarts_container",
        broken: "(the fault itself: SIGSTOP from a hostPID pod on the node; `[liveness] fault = \"switch\"`: the app's own fault route instead)",
        run: Run::Own(liveness_variant, |s, app| Box::pin(probes::liveness_restart(s.ctx, app))),
        lasts: Lasts::ProbeCycles,
    },
    LiveCheck {
        id: "LIVE-PROBE-REPLACED",
        suite: "probes",
        principle: "P12",
        title: "a deleted backend pod is replaced and Ready; an open port-forward follows it",
        test: "replaced_pod_is_followed",
        broken: "(a port-forward that keeps the first pod fails it: measured once by hand)",
        run: Run::Own(|_| small("replaced"), |s, app| Box::pin(probes::tunnel_follows_replacement(s.ctx, app))),
        lasts: Lasts::Rollout,
    },
    LiveCheck {
        id: "LIVE-LB-ADDRESS",
        suite: "loadbalancer",
        principle: "P3",
        title: "the public Service gets an external address; / and the [request] path answer through it",
        test: "frontend_address_serves_page_and_api",
        broken: "`broken::lb_never_provisioned_is_diagnosed`; `broken::wrong_proxy_target_is_named` (a 502: the proxy's URL named against the namespace's Services)",
        run: Run::Shared(|s, app| Box::pin(loadbalancer::address_and_pages(s.ctx, app))),
        lasts: Lasts::Moment,
    },
    LiveCheck {
        id: "LIVE-LB-UNPROVISIONED",
        suite: "loadbalancer",
        principle: "P3",
        title: "a LoadBalancer nobody provisions is diagnosed as such",
        test: "unprovisioned_service_is_diagnosed",
        broken: "`broken::lb_never_provisioned_is_diagnosed` (NoLoadBalancerProvider, never a bare timeout or a NodePort fallback)",
        run: Run::Shared(|s, app| Box::pin(loadbalancer::unprovisioned_is_diagnosed(s.ctx, app))),
        lasts: Lasts::Moment,
    },
    LiveCheck {
        id: "LIVE-SECRET-USED",
        suite: "secrets",
        principle: "P5",
        title: "pods use the Secrets' values (the [auth] key makes accepted credentials, the database key connects)",
        test: "pods_use_the_secret_values",
        broken: "`secrets::missing_key_is_diagnosed` (a Secret without a required key never rolls out)",
        run: Run::Shared(|s, app| Box::pin(secrets::values_in_use(s.ctx, app))),
        lasts: Lasts::Moment,
    },
    LiveCheck {
        id: "LIVE-SECRET-NOLEAK",
        suite: "secrets",
        principle: "P5",
        title: "no secret value in ConfigMaps, annotations, events, pod specs, Helm records or logs",
        test: "no_value_leaks",
        broken: "(searches for the actual values, kubegate's own artifacts included)",
        run: Run::SharedLast(|s, app| {
            Box::pin(async move {
                let dirs: Vec<&std::path::Path> = s.artifacts.iter().map(PathBuf::as_path).collect();
                secrets::no_leaks(s.ctx, app, &dirs).await
            })
        }),
        lasts: Lasts::Moment,
    },
    LiveCheck {
        id: "LIVE-SECRET-MISSING",
        suite: "secrets",
        principle: "P5",
        title: "a missing Secret key is reported as CreateContainerConfigError",
        test: "missing_key_is_diagnosed",
        broken: "(is itself the broken variant)",
        run: Run::Own(
            |ctx| {
                let secrets = match ctx.config.required_key() {
                    Some((secret, key)) => ctx.secrets.without(secret, key),
                    None => ctx.secrets.clone(),
                };
                small("missing-key").no_wait().secrets(secrets)
            },
            |s, app| Box::pin(secrets::missing_key_is_diagnosed(s.ctx, app)),
        ),
        lasts: Lasts::Moment,
    },
    LiveCheck {
        id: "LIVE-SECRET-ROTATE",
        suite: "secrets",
        principle: "P5",
        title: "a rotated [auth] key works after a rollout restart; old credentials are refused",
        test: "rotation_takes_effect",
        broken: "",
        run: Run::Own(|_| small("rotation"), |s, app| Box::pin(secrets::rotation(s.ctx, app))),
        lasts: Lasts::Rollout,
    },
    LiveCheck {
        id: "LIVE-PARITY-OBJECTS",
        suite: "parity",
        principle: "P14",
        title: "the live objects of both paths are equal but for allowed differences",
        test: "live_objects_equal",
        broken: "`broken::drifting_chart_value_breaks_parity::raw_helm` (names the field and both values)",
        run: Run::Pair(|s, raw, helm| Box::pin(parity::objects_equal(s.ctx, raw, helm))),
        lasts: Lasts::Moment,
    },
    LiveCheck {
        id: "LIVE-PARITY-ANSWERS",
        suite: "parity",
        principle: "P14",
        title: "both paths answer alike: status, media type, JSON shape; objects each creates read back by id",
        test: "same_answers",
        broken: "",
        run: Run::Pair(|s, raw, helm| Box::pin(parity::same_answers(s.ctx, raw, helm))),
        lasts: Lasts::Moment,
    },
    LiveCheck {
        id: "LIVE-ROLLOUT-UPGRADE",
        suite: "rollout",
        principle: "P12",
        title: "helm upgrade to a new image tag under load loses no request",
        test: "upgrade_under_load_loses_nothing",
        broken: "`broken::recreate_strategy_loses_requests` (strategy Recreate: requests counted as lost, the strategy named as the cause)",
        run: Run::Own(
            |_| small("upgrade"),
            |s, app| {
                Box::pin(async move {
                    let outcome = rollout::upgrade_under_load(s.ctx, app).await?;
                    let verdict = rollout::judge(s.ctx, app, &outcome).await;
                    s.record.upgrade(app.path, outcome);
                    verdict
                })
            },
        ),
        lasts: Lasts::Load,
    },
];

/// The check with `id`.
pub fn check_info(id: &str) -> Option<&'static LiveCheck> {
    CHECKS.iter().find(|c| c.id == id)
}

/// docs/live.md's table, generated from [`CHECKS`].
pub fn docs_table() -> String {
    let mut s = String::from(
        "| id | principle | what it asserts | nextest (`live::<suite>::<test>::raw` / `::helm`) | broken variant that must fail it |\n|---|---|---|---|---|\n",
    );
    for c in CHECKS {
        let test = match c.run {
            Run::Pair(_) => format!("`{}::{}::raw_helm`", c.suite, c.test),
            _ => format!("`{}::{}`", c.suite, c.test),
        };
        s.push_str(&format!("| `{}` | {} | {} | {test} | {} |\n", c.id, c.principle, c.title, c.broken));
    }
    s
}

/// Run `check` on its own deployment of `path`: deploy its variant in a new
/// namespace (with a PostgreSQL of its own when it asks for one), run the
/// body, tear the namespace down (diagnostics first when it failed).
/// `verify` and the nextest cases call this same function.
pub async fn run_own(scope: &Scope<'_>, check: &LiveCheck, path: DeployPath) -> CheckResult {
    let ctx = scope.ctx;
    let run = crate::deploy::RunId::random();
    match check.run {
        Run::Own(variant, body) => {
            let mut app = DeployedApp::deploy(ctx, &run, path, &variant(ctx)).await?;
            let result = body(scope, &mut app).await;
            finish(scope, check, app, result.is_err()).await;
            result
        }
        Run::OwnDatabase(variant, body) => {
            let ip = ctx.cluster.node_ip.ok_or_else(|| {
                super::CheckFailure::new(
                    path,
                    "test database",
                    "the cluster reports no node IP for pods to reach a host database",
                )
            })?;
            let db =
                TestDatabase::start(ip).map_err(|e| super::CheckFailure::new(path, "test database", format!("{e}")))?;
            let Some((secret, key)) = ctx.config.database_key() else {
                return Err(super::CheckFailure::new(
                    path,
                    "kubegate.toml",
                    "no [[secret]] names a `database_key`: kubegate cannot give the app a database of its own",
                ));
            };
            let values = ctx.secrets.with(secret, key, db.url());
            let app = DeployedApp::deploy(ctx, &run, path, &variant(ctx).secrets(values)).await?;
            let result = body(scope, &app, &db).await;
            finish(scope, check, app, result.is_err()).await;
            result
        }
        _ => Err(super::CheckFailure::new(path, check.id, "not a check with a deployment of its own")),
    }
}

/// Tear an own namespace down, with diagnostics first if the check failed.
async fn finish(scope: &Scope<'_>, check: &LiveCheck, mut app: DeployedApp, failed: bool) {
    if failed {
        app.mark_failed();
    }
    let (ns, path) = (app.namespace.clone(), app.path);
    let started = std::time::Instant::now();
    match app.teardown(scope.ctx).await {
        Ok(()) => scope.record.teardown(Teardown { path, of: check.id, took: started.elapsed() }),
        Err(e) => eprintln!("    warning: {ns}: {}", super::app::error_chain(&e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_tests_and_principles_are_unique_and_known() {
        let mut ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CHECKS.len(), "ids are unique");
        let mut names: Vec<String> = CHECKS.iter().flat_map(|c| c.scopes().iter().map(|s| c.test_name(s))).collect();
        let n = names.len();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), n, "nextest names are unique");
        for c in CHECKS {
            assert!(["P3", "P5", "P11", "P12", "P14"].contains(&c.principle), "{}", c.id);
            let family = c.id.split('-').nth(1).unwrap_or_default();
            assert!(c.id.starts_with("LIVE-") && !family.is_empty(), "{}", c.id);
        }
    }

    #[test]
    fn nextest_names_carry_suite_test_and_path() {
        let c = check_info("LIVE-PROBE-DBOUTAGE").expect("known");
        assert_eq!(c.scopes(), ["raw", "helm"]);
        assert_eq!(c.test_name("helm"), "live::probes::database_outage::helm");
        assert!(c.destructive());
        let p = check_info("LIVE-PARITY-OBJECTS").expect("known");
        assert_eq!(p.scopes(), ["parity"]);
        assert_eq!(p.test_name("parity"), "live::parity::live_objects_equal::raw_helm");
        assert!(!p.destructive());
    }

    #[test]
    fn docs_live_md_table_is_generated_from_the_checks() {
        let file = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/live.md");
        let (begin, end) = ("<!-- checks: generated from harness/src/live/checks.rs -->", "<!-- end of checks -->");
        let regenerate = "cargo nextest run -p kubegate docs_live_md_table_is_generated";
        if let Err(e) = crate::generated_docs::check_or_update(file.as_ref(), begin, end, &docs_table(), regenerate) {
            panic!("{e}");
        }
    }
}
