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
use kubegate_core::progress::Step;

/// How [`ensure_cluster_with`] got its cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnsureOutcome {
    /// A state file pointed at a cluster that answered.
    Reused,
    /// No state yet: the provider's `up` ran.
    Started,
    /// The recorded cluster did not answer (`reason`); `up` ran again.
    Replaced {
        /// Why the recorded cluster was not reused.
        reason: String,
    },
}

/// Why the shared state could not be used.
#[derive(Debug, thiserror::Error)]
pub enum EnsureClusterError {
    /// The lock or state file could not be opened or written.
    #[error("cannot use cluster state file {path}")]
    StateFile {
        /// The state or lock file.
        path: PathBuf,
        /// The I/O error.
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
    let dir = kubegate_core::dirs::state_dir();
    // Hold the cluster's users lock shared for the rest of this process, so a
    // teardown elsewhere (the cluster_local suite) waits for us to finish.
    // Taken before the cluster is started or reused: taken after, a teardown
    // could take the lock in between and pull the cluster from under us.
    super::local::ClusterUsers::share_for_process(&dir, kind)?;
    let (info, outcome) = ensure_cluster_with(provider.as_ref(), &dir, &|info| {
        super::detect::check_ready(info)?;
        load_balancer_helper_running(info)
    })?;
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
    use crate::process::host_process_running;
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
    let _ = std::fs::remove_file(state_file(&kubegate_core::dirs::state_dir(), kind));
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
}
