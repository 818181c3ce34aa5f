//! Fixtures of the live suites (`tests/live.rs`): the cluster, the images
//! and one shared deployment per path, made once per nextest run and used
//! by every test that only looks; extra namespaces for destructive tests.
//!
//! nextest runs each test in its own process, several at a time, so "once"
//! is a file lock plus a state file under `target/kubegate/` per run
//! (`NEXTEST_RUN_ID`; runs side by side, e.g. partitions, each have theirs):
//! - the first test of a run builds the images, loads them (with the
//!   upgrade tag) and deploys both paths; later ones attach; a state whose
//!   namespaces are gone (the cluster was restarted) is deployed again;
//! - every test that attaches holds the run's users lock shared until it
//!   exits; `zz_teardown` (listed last) takes it exclusively, so it deletes
//!   the shared namespaces only once no test of the run uses them;
//! - the state of an earlier run whose holder is gone is swept (its
//!   namespaces deleted) when a new run starts, so a killed run leaves
//!   nothing for long.
//!
//! No cluster -> the test FAILS with "start a cluster: ci/setup.sh k8s".

use kubegate::config::Config;
use kubegate::deploy::RunId;
use kubegate::deploy::secret::{SecretSet, SecretValues};
use kubegate::finding::DeployPath;
use kubegate::live::app::{DeployedApp, Variant};
use kubegate::live::context::{LiveContext, live_secrets};
use kubegate::live::{CheckResult, Passed};
use kubegate::process::SystemRunner;
use kubegate::provider::{ClusterInfo, ProviderConfig, ProviderKind};
use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::time::Duration;

/// What to tell someone whose cluster is missing.
pub const START_CLUSTER: &str = "start a cluster: ci/setup.sh k8s";

/// The workspace root (the suites run from `suites/`).
pub fn workspace_root() -> PathBuf {
    let here = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    here.parent().map(PathBuf::from).unwrap_or(here)
}

/// kubegate's state directory (`target/kubegate/`).
fn state_dir() -> PathBuf {
    kubegate::dirs::state_dir()
}

/// This nextest run (or this process, under plain `cargo test`).
/// `$KUBEGATE_LIVE_RUN_KEY` makes several nextest runs one (partitions
/// side by side on one cluster share the shared deployments; whoever runs
/// `zz_teardown` last with the same key removes them).
fn run_key() -> String {
    std::env::var("KUBEGATE_LIVE_RUN_KEY")
        .or_else(|_| std::env::var("NEXTEST_RUN_ID"))
        .unwrap_or_else(|_| format!("pid-{}", std::process::id()))
}

/// The provider and its settings: `$KUBEGATE_PROVIDER` and `$KUBEGATE_CLUSTER_NAME`
/// over the defaults (the `local` provider).
fn provider() -> (ProviderKind, ProviderConfig) {
    kubegate::cli::provider::ProviderArgs::from_env()
        .unwrap_or_else(|e| panic!("{e}"))
        .resolve(&ProviderConfig::default())
}

/// Names the kubegate.toml of the deployment the live suites check instead of
/// this repo's chatbot (relative to the workspace root), e.g.
/// `fixtures/taskly/kubegate.toml`.
pub const CONFIG_ENV: &str = "KUBEGATE_CONFIG";

/// The deployment under test: this repo's chatbot, or the one
/// `$KUBEGATE_CONFIG` describes.
pub fn config() -> Config {
    match std::env::var_os(CONFIG_ENV).filter(|v| !v.is_empty()) {
        None => Config { base_dir: workspace_root(), ..Config::default() },
        Some(file) => {
            let file = workspace_root().join(file);
            Config::load(Some(&file)).unwrap_or_else(|e| panic!("{CONFIG_ENV}: {}", chain(&e)))
        }
    }
}

/// An exclusive file lock on `target/kubegate/<name>.lock`, held while `f` runs.
fn locked<T>(name: &str, f: impl FnOnce() -> T) -> T {
    let mut lock = lock_file(&format!("{name}.lock"));
    let _guard = lock.write().unwrap_or_else(|e| panic!("cannot lock {name}.lock: {e}"));
    f()
}

/// The cluster, started or reused; panics naming what to start when there is none.
pub fn cluster_only() -> ClusterInfo {
    let (kind, cfg) = provider();
    kubegate::provider::ensure::ensure_cluster(kind, &cfg)
        .unwrap_or_else(|e| panic!("no usable {kind} cluster: {}\n{START_CLUSTER}", chain(&e)))
}

/// The cluster (started or reused) with the images built and loaded once
/// per run. Panics naming what to start when there is none.
pub fn cluster() -> ClusterInfo {
    let (kind, cfg) = provider();
    let info = cluster_only();
    let marker = state_dir().join(format!("live-images-{}.done", run_key()));
    locked("live-images", || {
        if marker.is_file() {
            return;
        }
        let config = config();
        let recipes = kubegate::images::recipes(&config).unwrap_or_else(|e| panic!("{}", chain(&e)));
        let components = recipes.len();
        let own = kubegate::images::kubegate_recipes(&config).unwrap_or_else(|e| panic!("{}", chain(&e)));
        let built = kubegate::images::ensure_built(&SystemRunner, &[recipes, own].concat())
            .unwrap_or_else(|e| panic!("building the images: {}", chain(&e)));
        let mut images: Vec<String> = built.iter().map(|b| b.image.clone()).collect();
        // The upgrade tag is for the components' images only.
        let upgrade = built[..components].iter().map(|b| {
            let (repo, _) = b.image.rsplit_once(':').unwrap_or((&b.image, ""));
            (b.image.clone(), format!("{repo}:{}", kubegate::live::rollout::UPGRADE_TAG))
        });
        images.extend(kubegate::live::rollout::retag(&SystemRunner, upgrade).unwrap_or_else(|e| panic!("{e}")));
        kubegate::provider::provider_for(kind, &cfg)
            .load_images(&images)
            .unwrap_or_else(|e| panic!("loading {images:?} into the {kind} cluster: {}", chain(&e)));
        let _ = std::fs::write(&marker, images.join("\n"));
    });
    info
}

/// `e` with its causes.
pub fn chain(e: &dyn std::error::Error) -> String {
    kubegate::live::app::error_chain(e)
}

/// A context with fresh secret values (for a test's own namespace).
pub async fn fresh_context() -> LiveContext {
    let info = tokio::task::spawn_blocking(cluster).await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let config = config();
    let secrets = live_secrets(&config, info.node_ip, None).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let ctx = LiveContext::connect(info, config, secrets).await.unwrap_or_else(|e| panic!("{}", chain(&e)));
    with_post_renderer(ctx)
}

/// The context with the `kubegate` binary Helm runs as a variant's
/// post-renderer (this test binary is not it): `$KUBEGATE_BIN` or a build.
pub fn with_post_renderer(ctx: LiveContext) -> LiveContext {
    if ctx.kubegate.is_some() {
        return ctx;
    }
    let bin = crate::kubegate_bin::kubegate_bin().unwrap_or_else(|e| panic!("{e}"));
    ctx.with_kubegate(bin)
}

#[derive(serde::Serialize, serde::Deserialize)]
struct SharedState {
    run_key: String,
    run_id: String,
    /// A detached `flock <run lock> sleep` that keeps the shared run live for
    /// the sweeper between test processes (at most [`HOLD_SECS`]).
    #[serde(default)]
    holder_pid: Option<u32>,
    /// Deploy failure per path (`raw`/`helm`), so later tests fail fast with it.
    failures: Vec<(String, String)>,
}

const STATE_PREFIX: &str = "live-shared-";

/// The shared state of run `key` (`live-shared-<key>.json`).
fn shared_state_file_of(key: &str) -> PathBuf {
    let safe: String = key.chars().map(|c| if c.is_ascii_alphanumeric() || c == '-' { c } else { '_' }).collect();
    state_dir().join(format!("{STATE_PREFIX}{safe}.json"))
}

fn shared_state_file() -> PathBuf {
    shared_state_file_of(&run_key())
}

/// Every run's shared state on this machine, with its file.
fn all_shared_states() -> Vec<(PathBuf, SharedState)> {
    let Ok(entries) = std::fs::read_dir(state_dir()) else { return Vec::new() };
    entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            name.starts_with(STATE_PREFIX) && name.ends_with(".json")
        })
        .filter_map(|p| {
            let s = serde_json::from_str::<SharedState>(&std::fs::read_to_string(&p).ok()?).ok()?;
            Some((p, s))
        })
        .collect()
}

/// The users lock of this run: every test attached to the shared
/// deployments holds it shared; `zz_teardown` takes it exclusively.
fn users_lock() -> fd_lock::RwLock<std::fs::File> {
    lock_file(&format!("live-shared-users-{}.lock", run_key()))
}

/// The lock file `target/kubegate/<name>` (created when missing), not yet locked.
fn lock_file(name: &str) -> fd_lock::RwLock<std::fs::File> {
    let dir = state_dir();
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let path = dir.join(name);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .unwrap_or_else(|e| panic!("cannot open {}: {e}", path.display()));
    fd_lock::RwLock::new(file)
}

/// Hold this run's users lock shared until the process exits.
fn use_shared_until_exit() {
    let lock: &'static mut fd_lock::RwLock<std::fs::File> = Box::leak(Box::new(users_lock()));
    let guard = lock.read().unwrap_or_else(|e| panic!("cannot lock the shared deployments' users lock: {e}"));
    // Released when the process exits and its file descriptors close.
    std::mem::forget(guard);
}

/// True when the state's detached holder still runs (its run is live).
fn holder_alive(s: &SharedState) -> bool {
    s.holder_pid.is_some_and(|pid| {
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        String::from_utf8_lossy(&cmd).contains(&format!("{}.lock", s.run_id))
    })
}

/// True when both shared namespaces of `s` exist (a restarted cluster has none).
async fn namespaces_exist(ctx: &LiveContext, s: &SharedState) -> bool {
    let Some(run) = RunId::parse(&s.run_id) else { return false };
    let api: kube::Api<k8s_openapi::api::core::v1::Namespace> = kube::Api::all(ctx.client.clone());
    for p in [DeployPath::Raw, DeployPath::Helm] {
        if !matches!(api.get_opt(&run.namespace(p)).await, Ok(Some(_))) {
            return false;
        }
    }
    true
}

/// The shared deployment of `path` (deployed by the first test of this run
/// that asks) and a context whose secrets are the ones it was deployed with.
pub async fn shared(path: DeployPath) -> (LiveContext, DeployedApp) {
    let ctx = fresh_context().await;
    let handle = tokio::runtime::Handle::current();
    let c2 = ctx.clone();
    use_shared_until_exit();
    let state: SharedState = tokio::task::spawn_blocking(move || {
        locked("live-shared", || {
            for (file, s) in all_shared_states() {
                if s.run_key == run_key() {
                    if s.failures.is_empty() && !handle.block_on(namespaces_exist(&c2, &s)) {
                        // The cluster was restarted under this run: deploy again.
                        stop_holder(&s);
                        let _ = std::fs::remove_file(&file);
                        continue;
                    }
                    return s;
                }
                if !holder_alive(&s) {
                    // An earlier run's leftovers (killed, or its teardown never ran).
                    handle.block_on(delete_shared(&c2, &s));
                    let _ = std::fs::remove_file(&file);
                }
            }
            kubegate::postgres::sweep_stale();
            let run = RunId::random();
            let variant = Variant::standard("shared");
            let (raw, helm) = handle.block_on(async {
                tokio::join!(
                    DeployedApp::deploy(&c2, &run, DeployPath::Raw, &variant),
                    DeployedApp::deploy(&c2, &run, DeployPath::Helm, &variant)
                )
            });
            let mut failures = Vec::new();
            for (p, r) in [(DeployPath::Raw, raw), (DeployPath::Helm, helm)] {
                match r {
                    Ok(app) => {
                        app.keep();
                    }
                    Err(f) => failures.push((p.to_string(), f.to_string())),
                }
            }
            let holder_pid = hold_detached(&run);
            let s = SharedState { run_key: run_key(), run_id: run.to_string(), holder_pid, failures };
            let _ = std::fs::write(shared_state_file(), serde_json::to_string(&s).expect("state serialises"));
            s
        })
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    if let Some((_, f)) = state.failures.iter().find(|(p, _)| *p == path.to_string()) {
        panic!("[{path}] the shared deployment failed:\n{f}");
    }
    let run = RunId::parse(&state.run_id).expect("state holds a valid run id");
    // The values the shared namespaces were deployed with live in their Secret.
    let secrets = read_secret(&ctx, &run.namespace(path)).await;
    let ctx = LiveContext { secrets: secrets.clone(), helm: ctx.helm.clone().with_redactor(secrets.redactor()), ..ctx };
    let app = DeployedApp::attach(&ctx, &run, path);
    (ctx, app)
}

/// Every Secret of the config as the shared deployment in `namespace` got it.
async fn read_secret(ctx: &LiveContext, namespace: &str) -> SecretSet {
    let api: kube::Api<k8s_openapi::api::core::v1::Secret> = kube::Api::namespaced(ctx.client.clone(), namespace);
    let mut secrets = Vec::new();
    for (name, _) in ctx.secrets.iter() {
        let s = api.get(name).await.unwrap_or_else(|e| panic!("reading the shared Secret {name} in {namespace}: {e}"));
        let values = SecretValues::from_literals(
            s.data.unwrap_or_default().into_iter().map(|(k, v)| (k, String::from_utf8_lossy(&v.0).into_owned())),
        );
        secrets.push((name.to_owned(), values));
    }
    SecretSet::from_secrets(secrets)
}

/// How long a detached holder keeps a shared run live at most (a killed
/// test run's namespaces become sweepable after this).
pub const HOLD_SECS: u64 = 3600;

/// Keep `run` live for the sweeper after this process exits: a detached
/// `flock -n <lock> sleep` holds the run's lock file. Returns its pid.
fn hold_detached(run: &RunId) -> Option<u32> {
    let lock = kubegate::sweep::runs_dir().join(format!("{}.lock", run.as_str()));
    std::fs::create_dir_all(kubegate::sweep::runs_dir()).ok()?;
    // A process group of its own, so stopping it stops the sleep too (an
    // orphaned sleep would keep any descriptor it inherited).
    std::process::Command::new("flock")
        .args(["-n", "-o"])
        .arg(&lock)
        .args(["sleep", &HOLD_SECS.to_string()])
        .process_group(0)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .ok()
        .map(|c| c.id())
}

fn stop_holder(s: &SharedState) {
    // Only our own holder: the pid's command line must be our flock.
    if let Some(pid) = s.holder_pid.filter(|_| holder_alive(s)) {
        // The whole group: flock and its sleep.
        let _ = std::process::Command::new("kill").args(["-TERM", "--", &format!("-{pid}")]).status();
    }
}

async fn delete_shared(ctx: &LiveContext, s: &SharedState) {
    stop_holder(s);
    if let Some(run) = RunId::parse(&s.run_id) {
        for p in [DeployPath::Raw, DeployPath::Helm] {
            let ns = run.namespace(p);
            if let Err(e) =
                kubegate::deploy::namespace::delete_namespace(&ctx.client, &ns, Duration::from_secs(120)).await
            {
                eprintln!("    warning: {ns}: {e}");
            }
        }
    }
}

/// How long `zz_teardown` lets the tests started just before it take their
/// hold on the shared deployments (nextest starts tests in list order).
const LATE_STARTERS: Duration = Duration::from_secs(3);

/// Delete this run's shared namespaces once no test of the run uses them
/// (the `zz_teardown` test; needs the cluster only, not Docker).
pub async fn teardown_shared() -> Vec<String> {
    tokio::time::sleep(LATE_STARTERS).await;
    let info =
        tokio::task::spawn_blocking(cluster_only).await.unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()));
    let config = config();
    let secrets = live_secrets(&config, info.node_ip, None).unwrap_or_else(|e| panic!("{}", chain(&e)));
    let ctx = LiveContext::connect(info, config, secrets).await.unwrap_or_else(|e| panic!("{}", chain(&e)));
    let handle = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let mut users = users_lock();
        let _all_done = users.write().unwrap_or_else(|e| panic!("cannot lock the shared deployments' users lock: {e}"));
        locked("live-shared", || {
            let Some(s) = std::fs::read_to_string(shared_state_file())
                .ok()
                .and_then(|t| serde_json::from_str::<SharedState>(&t).ok())
            else {
                return Vec::new();
            };
            handle.block_on(delete_shared(&ctx, &s));
            let _ = std::fs::remove_file(shared_state_file());
            RunId::parse(&s.run_id)
                .map(|r| vec![r.namespace(DeployPath::Raw), r.namespace(DeployPath::Helm)])
                .unwrap_or_default()
        })
    })
    .await
    .unwrap_or_else(|e| std::panic::resume_unwind(e.into_panic()))
}

/// A deployment of `variant` in a namespace of its own (deleted when the
/// returned app is torn down or dropped, also on panic).
pub async fn own(ctx: &LiveContext, path: DeployPath, variant: &Variant) -> DeployedApp {
    match DeployedApp::deploy(ctx, &RunId::random(), path, variant).await {
        Ok(app) => app,
        Err(f) => panic!("{f}"),
    }
}

/// Pass: print the notes and limitations. Fail: panic with the failure,
/// which names the path, the object and the diagnosis.
pub fn expect_pass(result: CheckResult) -> Passed {
    match result {
        Ok(p) => {
            for n in &p.notes {
                eprintln!("    {n}");
            }
            for l in &p.limitations {
                eprintln!("    KNOWN LIMITATION: {l}");
            }
            p
        }
        Err(f) => panic!("{f}"),
    }
}

/// Tear down a test's own namespace (diagnostics first when `result`
/// failed), then [`expect_pass`].
pub async fn finish(ctx: &LiveContext, mut app: DeployedApp, result: CheckResult) -> Passed {
    if result.is_err() {
        app.mark_failed();
    }
    let ns = app.namespace.clone();
    if let Err(e) = app.teardown(ctx).await {
        eprintln!("    warning: {ns}: {}", chain(&e));
    }
    expect_pass(result)
}
