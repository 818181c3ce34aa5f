//! "Ensure a cluster" once for many test processes.
//!
//! nextest runs every test in its own process; each live test calls
//! [`ensure_cluster`]. The first one takes an exclusive file lock under the
//! state directory, starts the cluster through its [`Provider`] and writes the
//! resulting [`ClusterInfo`] to a state file; the others block on the lock and
//! then reuse that state after one readiness call. A state file whose cluster
//! is gone (stopped, deleted, machine rebooted) fails the readiness call and is
//! replaced by a fresh `up`.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};

use super::{ClusterInfo, Provider, ProviderConfig, ProviderError, ProviderKind, provider_for};
use crate::progress::Step;

/// Environment variable that overrides the state directory.
pub const STATE_DIR_ENV: &str = "KUBEGATE_STATE_DIR";

/// Where kubegate keeps cluster state, logs and locks: `$KUBEGATE_STATE_DIR`,
/// else `target/kubegate/` of the enclosing Cargo workspace (found from the
/// working directory, so test binaries run from a member crate agree with the
/// CLI run from the root), else `./target/kubegate`.
pub fn state_dir() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    state_dir_from(std::env::var_os(STATE_DIR_ENV), std::env::var_os("CARGO_TARGET_DIR"), &cwd)
}

/// [`state_dir`] with its inputs given.
fn state_dir_from(
    state_env: Option<std::ffi::OsString>,
    target_env: Option<std::ffi::OsString>,
    cwd: &Path,
) -> PathBuf {
    if let Some(dir) = state_env.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(target) = target_env.filter(|d| !d.is_empty()) {
        return PathBuf::from(target).join("kubegate");
    }
    let root = cwd
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|text| text.lines().any(|l| l.trim() == "[workspace]"))
        })
        .unwrap_or(cwd);
    root.join("target").join("kubegate")
}

/// Environment variable naming the provider the suites use (`local`,
/// `minikube`, `kind`, `existing`; default `local`).
pub const PROVIDER_ENV: &str = "KUBEGATE_PROVIDER";
/// Environment variable overriding the minikube profile / kind cluster name.
pub const CLUSTER_NAME_ENV: &str = "KUBEGATE_CLUSTER_NAME";

/// The provider kind and config the test suites should use: `$KUBEGATE_PROVIDER`
/// (default `local`) and `$KUBEGATE_CLUSTER_NAME` over `base` (usually the
/// `[cluster]` section of kubegate.toml, or `ProviderConfig::default()`).
pub fn from_env(base: &ProviderConfig) -> Result<(ProviderKind, ProviderConfig), ProviderError> {
    from_env_values(std::env::var(PROVIDER_ENV).ok(), std::env::var(CLUSTER_NAME_ENV).ok(), base)
}

fn from_env_values(
    provider: Option<String>,
    name: Option<String>,
    base: &ProviderConfig,
) -> Result<(ProviderKind, ProviderConfig), ProviderError> {
    let kind = match provider.as_deref().map(str::trim) {
        None | Some("") => base.provider,
        Some("local") => ProviderKind::Local,
        Some("minikube") => ProviderKind::Minikube,
        Some("kind") => ProviderKind::Kind,
        Some("existing") => ProviderKind::Existing,
        Some(other) => {
            return Err(ProviderError::Refused(format!(
                "{PROVIDER_ENV}={other} is not a provider; use local, minikube, kind or existing"
            )));
        }
    };
    let mut cfg = base.clone();
    cfg.provider = kind;
    if let Some(name) = name.filter(|n| !n.trim().is_empty()) {
        cfg.name = name;
    }
    Ok((kind, cfg))
}

/// How [`ensure_cluster_with`] got its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnsureOutcome {
    /// A state file pointed at a cluster that answered.
    Reused,
    /// No state yet: the provider's `up` ran.
    Started,
    /// The recorded cluster did not answer (`reason`); `up` ran again.
    Replaced { reason: String },
}

/// Why the shared state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EnsureClusterError {
    /// The lock or state file could not be opened or written.
    #[error("cannot use cluster state file {path}")]
    StateFile {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<EnsureClusterError> for ProviderError {
    fn from(e: EnsureClusterError) -> Self {
        ProviderError::Other { context: e.to_string(), source: Box::new(e) }
    }
}

/// Providers `ensure_cluster` started in this process. They are kept (never
/// dropped, statics are not) so helpers they supervise (`minikube tunnel`,
/// `cloud-provider-kind`) keep running for the rest of the process and beyond;
/// the next process adopts them by pid file, `kubegate cluster down` stops them.
fn keep_alive() -> &'static Mutex<Vec<Box<dyn Provider + Send + Sync>>> {
    static KEPT: OnceLock<Mutex<Vec<Box<dyn Provider + Send + Sync>>>> = OnceLock::new();
    KEPT.get_or_init(|| Mutex::new(Vec::new()))
}

/// Start or reuse the cluster of `kind`, shared by every process that calls
/// this with the same state directory. Sync: from async tests, call it
/// through `tokio::task::spawn_blocking`.
pub fn ensure_cluster(kind: ProviderKind, cfg: &ProviderConfig) -> Result<ClusterInfo, ProviderError> {
    let provider = provider_for(kind, cfg);
    let dir = state_dir();
    let (info, outcome) = ensure_cluster_with(provider.as_ref(), &dir, &|info| {
        super::detect::check_ready(info)?;
        load_balancer_helper_running(info)
    })?;
    // Hold the cluster's users lock shared for the rest of this process, so a
    // teardown elsewhere (the cluster_local suite) waits for us to finish.
    super::local::ClusterUsers::share_for_process(&dir, kind)?;
    if outcome != EnsureOutcome::Reused {
        keep_alive().lock().unwrap_or_else(|p| p.into_inner()).push(provider);
    }
    Ok(info)
}

/// A recorded cluster whose LoadBalancer helper (`minikube tunnel`,
/// `cloud-provider-kind`) has gone away (e.g. the `kubegate cluster up` that
/// started it has exited) counts as stale, so `up` runs again: it reuses the
/// cluster and restarts only the helper.
fn load_balancer_helper_running(info: &ClusterInfo) -> Result<(), String> {
    use super::LoadBalancerSupport as Lb;
    use super::detect::host_process_running;
    let running = match info.load_balancer {
        Lb::MinikubeTunnel => host_process_running("minikube", Some("tunnel")).is_some(),
        Lb::CloudProviderKind => host_process_running("cloud-provider-kind", None).is_some(),
        Lb::Metallb | Lb::None => true,
    };
    if running { Ok(()) } else { Err(format!("its LoadBalancer helper ({:?}) is not running", info.load_balancer)) }
}

/// The state file of a provider kind inside `dir`.
pub fn state_file(dir: &Path, kind: ProviderKind) -> PathBuf {
    dir.join(format!("cluster-{kind}.json"))
}

/// [`ensure_cluster`] with the provider, directory and readiness check given
/// (tests pass fakes).
pub fn ensure_cluster_with(
    provider: &dyn Provider,
    dir: &Path,
    ready: &dyn Fn(&ClusterInfo) -> Result<(), String>,
) -> Result<(ClusterInfo, EnsureOutcome), ProviderError> {
    let kind = provider.kind();
    let state_path = state_file(dir, kind);
    let lock_path = dir.join(format!("cluster-{kind}.lock"));
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| EnsureClusterError::StateFile { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&lock_path)
        .map_err(io(&lock_path))?;
    let mut lock = fd_lock::RwLock::new(file);
    // Someone else holds the lock (usually: starting the cluster): say so, then wait.
    let busy = lock.try_write().is_err();
    let waiting = busy.then(|| {
        Step::start(format!(
            "waiting for another kubegate process to finish starting the {kind} cluster (lock {})",
            lock_path.display()
        ))
    });
    let _guard = lock.write().map_err(io(&lock_path))?;
    if let Some(step) = waiting {
        step.ok();
    }

    let mut stale = None;
    if let Ok(text) = std::fs::read_to_string(&state_path) {
        match serde_json::from_str::<ClusterInfo>(&text) {
            Ok(info) if info.provider == kind => match ready(&info) {
                Ok(()) => return Ok((info, EnsureOutcome::Reused)),
                Err(reason) => stale = Some(reason),
            },
            Ok(info) => stale = Some(format!("state file records provider {}", info.provider)),
            Err(e) => stale = Some(format!("state file {} unreadable: {e}", state_path.display())),
        }
    }
    if let Some(reason) = &stale {
        eprintln!("    recorded {kind} cluster is not usable ({reason}); bringing it up again");
        let _ = std::fs::remove_file(&state_path);
    }
    let info = provider.up()?;
    let json = serde_json::to_string_pretty(&info).expect("ClusterInfo serialises to JSON");
    // Write then rename so a reader never sees half a file.
    let tmp = state_path.with_extension("json.tmp");
    std::fs::write(&tmp, json).map_err(io(&tmp))?;
    std::fs::rename(&tmp, &state_path).map_err(io(&state_path))?;
    let outcome = match stale {
        Some(reason) => EnsureOutcome::Replaced { reason },
        None => EnsureOutcome::Started,
    };
    Ok((info, outcome))
}

/// Forget the recorded cluster of `kind` (after `down`).
pub fn forget(kind: ProviderKind) {
    let _ = std::fs::remove_file(state_file(&state_dir(), kind));
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::LoadBalancerSupport;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::time::Duration;

    /// A provider whose `up` takes a while and counts its calls.
    struct SlowProvider {
        ups: Arc<AtomicU32>,
    }

    impl Provider for SlowProvider {
        fn kind(&self) -> ProviderKind {
            ProviderKind::Kind
        }
        fn up(&self) -> Result<ClusterInfo, ProviderError> {
            let n = self.ups.fetch_add(1, Ordering::SeqCst) + 1;
            std::thread::sleep(Duration::from_millis(300));
            Ok(ClusterInfo {
                provider: ProviderKind::Kind,
                kubeconfig: PathBuf::from(format!("/tmp/kubeconfig-{n}")),
                context: Some("kind-kubegate".into()),
                load_balancer: LoadBalancerSupport::None,
                node_ip: None,
            })
        }
        fn down(&self) -> Result<(), ProviderError> {
            Ok(())
        }
        fn status(&self) -> Result<Option<ClusterInfo>, ProviderError> {
            Ok(None)
        }
        fn load_images(&self, _: &[String]) -> Result<(), ProviderError> {
            Ok(())
        }
    }

    #[test]
    fn two_threads_start_one_cluster_and_a_stale_one_is_replaced() {
        let dir = tempfile::tempdir().expect("tempdir");
        let ups = Arc::new(AtomicU32::new(0));
        let outcomes: Vec<(ClusterInfo, EnsureOutcome)> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..2)
                .map(|_| {
                    let p = SlowProvider { ups: ups.clone() };
                    let dir = dir.path().to_path_buf();
                    s.spawn(move || ensure_cluster_with(&p, &dir, &|_| Ok(())).expect("ensure"))
                })
                .collect();
            handles.into_iter().map(|h| h.join().expect("thread")).collect()
        });
        assert_eq!(ups.load(Ordering::SeqCst), 1, "one `up` for two callers");
        let mut kinds: Vec<_> = outcomes.iter().map(|(_, o)| o.clone()).collect();
        kinds.sort_by_key(|o| format!("{o:?}"));
        assert_eq!(kinds, vec![EnsureOutcome::Reused, EnsureOutcome::Started]);
        assert_eq!(outcomes[0].0.kubeconfig, outcomes[1].0.kubeconfig);

        // The recorded cluster no longer answers: `up` runs again.
        let p = SlowProvider { ups: ups.clone() };
        let (info, outcome) =
            ensure_cluster_with(&p, dir.path(), &|info| Err(format!("{} refused", info.kubeconfig.display())))
                .expect("ensure");
        assert_eq!(outcome, EnsureOutcome::Replaced { reason: "/tmp/kubeconfig-1 refused".into() });
        assert_eq!(info.kubeconfig, PathBuf::from("/tmp/kubeconfig-2"));
        let saved: ClusterInfo = serde_json::from_str(
            &std::fs::read_to_string(state_file(dir.path(), ProviderKind::Kind)).expect("state written"),
        )
        .expect("state is ClusterInfo JSON");
        assert_eq!(saved.kubeconfig, info.kubeconfig);
    }

    #[test]
    fn garbage_state_is_replaced_not_trusted() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(state_file(dir.path(), ProviderKind::Kind), "{not json").expect("write");
        let ups = Arc::new(AtomicU32::new(0));
        let (_, outcome) =
            ensure_cluster_with(&SlowProvider { ups: ups.clone() }, dir.path(), &|_| Ok(())).expect("ensure");
        assert!(
            matches!(outcome, EnsureOutcome::Replaced { ref reason } if reason.contains("unreadable")),
            "{outcome:?}"
        );
        assert_eq!(ups.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn provider_and_name_come_from_the_environment_over_the_file() {
        let base = ProviderConfig { provider: ProviderKind::Minikube, ..Default::default() };
        let (kind, cfg) = from_env_values(None, None, &base).expect("defaults");
        assert_eq!((kind, cfg.name.as_str()), (ProviderKind::Minikube, "kubegate"));
        let (kind, cfg) = from_env_values(Some("kind".into()), Some("ci".into()), &base).expect("env");
        assert_eq!((kind, cfg.provider, cfg.name.as_str()), (ProviderKind::Kind, ProviderKind::Kind, "ci"));
        let err = from_env_values(Some("k3d".into()), None, &base).expect_err("unknown");
        assert!(err.to_string().contains("KUBEGATE_PROVIDER=k3d"), "{err}");
    }

    #[test]
    fn state_dir_prefers_env_then_target_then_workspace_root() {
        let ws = tempfile::tempdir().expect("tempdir");
        std::fs::write(ws.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").expect("write");
        let member = ws.path().join("suites");
        std::fs::create_dir_all(&member).expect("mkdir");
        std::fs::write(member.join("Cargo.toml"), "[package]\n").expect("write");
        assert_eq!(state_dir_from(Some("/s".into()), Some("/t".into()), &member), PathBuf::from("/s"));
        assert_eq!(state_dir_from(Some("".into()), Some("/t".into()), &member), PathBuf::from("/t/kubegate"));
        assert_eq!(state_dir_from(None, None, &member), ws.path().join("target/kubegate"));
    }
}
