//! The `local` provider: upstream Kubernetes started as host processes by
//! `ci/k8s/up.sh` (etcd, the control plane, its own containerd, kubelet,
//! kube-proxy, CoreDNS, MetalLB), for machines that cannot run minikube or
//! kind. The scripts do the work; this module runs them, streams their
//! progress, and reads what they leave in the cluster directory:
//! `cluster.env` (kubeconfig, node IP, containerd socket) and `logs/`.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{ClusterInfo, LoadBalancerSupport, Provider, ProviderConfig, ProviderError, ProviderKind};
use crate::process::{Cmd, CommandRunner, RunCommandError};

/// Overrides where the kubegate checkout (with `ci/k8s/`) is.
pub const REPO_ENV: &str = "KUBEGATE_REPO";
/// The context name `up.sh` writes into the admin kubeconfig.
pub const CONTEXT: &str = "kubegate-local";
/// Deadline of one `docker save` or `ctr images import`.
const IMAGE_TIMEOUT: Duration = Duration::from_secs(300);
/// What to run when the cluster's components are not built.
pub const BUILD_HINT: &str = "build the local cluster: ci/setup.sh k8s";

/// Where the local cluster's scripts and state live.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalPaths {
    /// The kubegate checkout: `ci/k8s/up.sh` is under it.
    pub repo: PathBuf,
    /// The cluster directory: certificates, data, `logs/`, `pids/`, `cluster.env`.
    pub cluster_dir: PathBuf,
}

/// The kubegate checkout could not be found, so neither could `ci/k8s/up.sh`.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot find ci/k8s/up.sh: searched {searched:?}; run kubegate from a kubegate checkout or set {REPO_ENV}=<checkout>"
)]
pub struct FindLocalScriptsError {
    /// Directories that were tried.
    pub searched: Vec<PathBuf>,
}

impl LocalPaths {
    /// `$KUBEGATE_REPO`, else the nearest ancestor of the working directory
    /// holding `ci/k8s/up.sh`, else the checkout this crate was built from;
    /// the cluster directory is [`kubegate_core::dirs::cluster_dir`].
    pub fn discover() -> Result<Self, FindLocalScriptsError> {
        let mut candidates: Vec<PathBuf> = Vec::new();
        if let Some(repo) = std::env::var_os(REPO_ENV).filter(|v| !v.is_empty()) {
            candidates.push(PathBuf::from(repo));
        } else {
            if let Ok(cwd) = std::env::current_dir() {
                candidates.extend(cwd.ancestors().map(Path::to_path_buf));
            }
            candidates.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.."));
        }
        let repo = candidates
            .iter()
            .find(|dir| dir.join("ci/k8s/up.sh").is_file())
            .cloned()
            .ok_or(FindLocalScriptsError { searched: candidates })?;
        let repo = repo.canonicalize().unwrap_or(repo);
        let cluster_dir = kubegate_core::dirs::cluster_dir(&repo);
        Ok(Self { repo, cluster_dir })
    }

    /// `ci/k8s/<name>` in the checkout.
    pub fn script(&self, name: &str) -> PathBuf {
        self.repo.join("ci/k8s").join(name)
    }

    /// `cluster.env`, written by `up.sh` once the cluster is ready.
    pub fn cluster_env(&self) -> PathBuf {
        self.cluster_dir.join("cluster.env")
    }

    /// The directory of the components' logs.
    pub fn logs(&self) -> PathBuf {
        self.cluster_dir.join("logs")
    }
}

/// The facts `up.sh` records in `cluster.env` (KEY=VALUE lines).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClusterEnv {
    /// Admin kubeconfig (context [`CONTEXT`]).
    pub kubeconfig: PathBuf,
    /// The host's address as pods see it.
    pub node_ip: Option<IpAddr>,
    /// The cluster's containerd socket (for `ctr images import`).
    pub containerd_sock: PathBuf,
    /// The MetalLB address range, `first-last`.
    pub lb_pool: String,
    /// The Services' address range, `address/bits`.
    pub service_cidr: String,
}

/// `cluster.env` exists but lacks a key or holds a bad value.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {problem}; remove the cluster with `kubegate cluster down --provider local` and start it again")]
pub struct ReadClusterEnvError {
    /// The file.
    pub path: PathBuf,
    /// What is wrong with it.
    pub problem: String,
}

impl ClusterEnv {
    /// Parse `cluster.env` text; `path` is only for the error message.
    pub fn parse(text: &str, path: &Path) -> Result<Self, ReadClusterEnvError> {
        let get = |key: &str| {
            text.lines()
                .filter_map(|l| l.split_once('='))
                .find(|(k, _)| k.trim() == key)
                .map(|(_, v)| v.trim().to_string())
                .filter(|v| !v.is_empty())
                .ok_or_else(|| ReadClusterEnvError { path: path.to_path_buf(), problem: format!("no {key}=") })
        };
        let node_ip = match get("NODE_IP") {
            Ok(v) => Some(v.parse().map_err(|_| ReadClusterEnvError {
                path: path.to_path_buf(),
                problem: format!("NODE_IP={v} is not an IP address"),
            })?),
            Err(_) => None,
        };
        Ok(Self {
            kubeconfig: PathBuf::from(get("KUBECONFIG")?),
            node_ip,
            containerd_sock: PathBuf::from(get("CONTAINERD_SOCK")?),
            lb_pool: get("LB_POOL").unwrap_or_default(),
            service_cidr: get("SERVICE_CIDR").unwrap_or_default(),
        })
    }

    /// The [`ClusterInfo`] of a local cluster with these facts.
    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            provider: ProviderKind::Local,
            kubeconfig: self.kubeconfig.clone(),
            context: Some(CONTEXT.to_string()),
            load_balancer: LoadBalancerSupport::Metallb,
            node_ip: self.node_ip,
        }
    }
}

/// Who is using a provider's shared cluster, as a lock file
/// `<state dir>/cluster-<kind>.users.lock`: every process that runs work on
/// the cluster holds it shared ([`ClusterUsers::share_for_process`]), and a
/// test that tears the cluster down takes it exclusively
/// ([`ClusterUsers::exclusive`]), so it waits until no one else is using the
/// cluster and no one starts while it holds the lock.
pub struct ClusterUsers;

impl ClusterUsers {
    /// The lock file of `kind`'s users under `state_dir`.
    pub fn lock_path(state_dir: &Path, kind: ProviderKind) -> PathBuf {
        state_dir.join(format!("cluster-{kind}.users.lock"))
    }

    fn open(state_dir: &Path, kind: ProviderKind) -> Result<std::fs::File, ProviderError> {
        let path = Self::lock_path(state_dir, kind);
        std::fs::create_dir_all(state_dir)
            .and_then(|()| std::fs::OpenOptions::new().create(true).truncate(false).read(true).write(true).open(&path))
            .map_err(|e| ProviderError::Other { context: format!("opening {}", path.display()), source: Box::new(e) })
    }

    /// Hold the users lock shared until this process exits (blocks while a
    /// teardown holds it exclusively).
    pub fn share_for_process(state_dir: &Path, kind: ProviderKind) -> Result<(), ProviderError> {
        let lock: &'static mut fd_lock::RwLock<std::fs::File> =
            Box::leak(Box::new(fd_lock::RwLock::new(Self::open(state_dir, kind)?)));
        let guard = lock.read().map_err(|e| ProviderError::Other {
            context: format!("locking {} shared", Self::lock_path(state_dir, kind).display()),
            source: Box::new(e),
        })?;
        // Released when the process exits and its file descriptors close.
        std::mem::forget(guard);
        Ok(())
    }

    /// Run `f` holding the users lock exclusively: after every other user has
    /// finished, and with nobody starting meanwhile.
    pub fn exclusive<T>(state_dir: &Path, kind: ProviderKind, f: impl FnOnce() -> T) -> Result<T, ProviderError> {
        let mut lock = fd_lock::RwLock::new(Self::open(state_dir, kind)?);
        // (the probe's guard, if it got one, is dropped at once; `write` below takes it for real)
        let busy = lock.try_write().is_err();
        let step = busy.then(|| {
            kubegate_core::progress::Step::start(format!(
                "waiting for other processes using the {kind} cluster to finish (lock {})",
                Self::lock_path(state_dir, kind).display()
            ))
        });
        let guard = lock.write().map_err(|e| ProviderError::Other {
            context: format!("locking {} exclusively", Self::lock_path(state_dir, kind).display()),
            source: Box::new(e),
        })?;
        if let Some(step) = step {
            step.ok();
        }
        let result = f();
        drop(guard);
        Ok(result)
    }
}

/// Upstream Kubernetes on this host, driven by `ci/k8s/{up,down}.sh`.
#[derive(Clone)]
pub struct LocalProvider {
    cfg: ProviderConfig,
    paths: Result<LocalPaths, String>,
    runner: Arc<dyn CommandRunner>,
}

impl LocalProvider {
    /// The local provider for this checkout (see [`LocalPaths::discover`]).
    pub fn new(cfg: ProviderConfig, runner: Arc<dyn CommandRunner>) -> Self {
        Self { cfg, paths: LocalPaths::discover().map_err(|e| e.to_string()), runner }
    }

    /// The local provider with explicit paths (e.g. a separate cluster dir).
    pub fn with_paths(cfg: ProviderConfig, paths: LocalPaths, runner: Arc<dyn CommandRunner>) -> Self {
        Self { cfg, paths: Ok(paths), runner }
    }

    /// Where the scripts and the cluster directory are.
    pub fn paths(&self) -> Result<&LocalPaths, ProviderError> {
        self.paths.as_ref().map_err(|e| ProviderError::Refused(e.clone()))
    }

    /// The recorded cluster facts, if `up.sh` finished (`cluster.env` exists).
    pub fn cluster_env(&self) -> Result<Option<ClusterEnv>, ProviderError> {
        let path = self.paths()?.cluster_env();
        match std::fs::read_to_string(&path) {
            Ok(text) => ClusterEnv::parse(&text, &path)
                .map(Some)
                .map_err(|e| ProviderError::Other { context: e.to_string(), source: Box::new(e) }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(ProviderError::Other { context: format!("reading {}", path.display()), source: Box::new(e) }),
        }
    }

    /// Run `ci/k8s/<script>`, its output streamed to stderr as it comes.
    /// On a timeout its process group is stopped (the cluster's daemons start
    /// their own sessions and are not touched).
    fn run_script(&self, script: &str, args: &[&str], timeout: Duration) -> Result<(), ProviderError> {
        let paths = self.paths()?;
        let cmd = Cmd::new("bash", [paths.script(script).display().to_string()])
            .args(args.iter().copied())
            .env(REPO_ENV, paths.repo.display().to_string())
            .env(kubegate_core::dirs::CLUSTER_DIR_ENV, paths.cluster_dir.display().to_string())
            .timeout(timeout);
        let started = Instant::now();
        let logs = paths.logs();
        let out = match self.runner.run_streamed(&cmd, &mut |line| eprintln!("{line}")) {
            Ok(out) => out,
            Err(RunCommandError::TimedOut { command, after_secs, stderr_tail }) => {
                return Err(ProviderError::CommandFailed {
                    command,
                    status: format!("a timeout ({after_secs}s, stopped)"),
                    stderr_tail: format!("{stderr_tail}\n(component logs: {})", logs.display()),
                });
            }
            Err(e) => return Err(e.into()),
        };
        let tail = crate::process::tail(&out.stderr, 40);
        // Ended by a signal: reported as the shell would (128 + SIGKILL).
        match out.code.unwrap_or(128 + 9) {
            0 => Ok(()),
            // up.sh: 3 = the cluster did not come up (the message names the blocker).
            3 => Err(ProviderError::NotReady {
                waited_secs: started.elapsed().as_secs(),
                blocker: format!("{tail}\n(component logs: {})", logs.display()),
            }),
            code => Err(ProviderError::CommandFailed {
                command: cmd.to_string(),
                status: format!("exit code {code}"),
                stderr_tail: tail,
            }),
        }
    }

    /// Whether the API server behind `info` answers `/readyz` with `ok`.
    pub fn api_ready(info: &ClusterInfo) -> Result<(), ProviderError> {
        let info = info.clone();
        crate::runtime::block_on(async move {
            let client = super::client::client_for(&info).await?;
            let request = http::Request::get("/readyz").body(Vec::new()).map_err(|e| ProviderError::Other {
                context: "building the /readyz request".into(),
                source: Box::new(e),
            })?;
            match tokio::time::timeout(Duration::from_secs(10), client.request_text(request)).await {
                Ok(Ok(body)) if body.trim() == "ok" => Ok(()),
                Ok(Ok(body)) => {
                    Err(ProviderError::NotReady { waited_secs: 0, blocker: format!("/readyz answered {body:?}") })
                }
                Ok(Err(e)) => Err(ProviderError::NotReady { waited_secs: 0, blocker: format!("/readyz: {e}") }),
                Err(_) => Err(ProviderError::NotReady { waited_secs: 10, blocker: "/readyz did not answer".into() }),
            }
        })
    }
}

impl Provider for LocalProvider {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Local
    }

    /// Runs `ci/k8s/up.sh` (which reuses a healthy running cluster).
    fn up(&self) -> Result<ClusterInfo, ProviderError> {
        self.run_script("up.sh", &[], Duration::from_secs(self.cfg.start_timeout_secs.max(60)))?;
        let env = self.cluster_env()?.ok_or_else(|| ProviderError::NotReady {
            waited_secs: 0,
            blocker: "up.sh finished but wrote no cluster.env".into(),
        })?;
        Ok(env.cluster_info())
    }

    /// Runs `ci/k8s/down.sh`: stops every process by pid, removes what up made.
    fn down(&self) -> Result<(), ProviderError> {
        self.run_script("down.sh", &[], Duration::from_secs(180))
    }

    /// `cluster.env` plus an API `/readyz` check; `None` when not started.
    fn status(&self) -> Result<Option<ClusterInfo>, ProviderError> {
        let Some(env) = self.cluster_env()? else { return Ok(None) };
        let info = env.cluster_info();
        Self::api_ready(&info)?;
        Ok(Some(info))
    }

    /// `docker save IMAGE | ctr -a <sock> -n k8s.io images import -` per image.
    fn load_images(&self, images: &[String]) -> Result<(), ProviderError> {
        let env = self.cluster_env()?.ok_or_else(|| {
            ProviderError::Refused("the local cluster is not running: start it with `kubegate cluster up`".into())
        })?;
        let dir = self.paths()?.cluster_dir.join("images");
        for image in images {
            let step = kubegate_core::progress::Step::start(format!("load {image} into the local cluster"));
            step.finish(import_image(self.runner.as_ref(), image, &env.containerd_sock, &dir))?;
        }
        Ok(())
    }
}

/// `docker save` the image to a tar under `dir`, `ctr images import` it into
/// the cluster's containerd, remove the tar.
fn import_image(runner: &dyn CommandRunner, image: &str, sock: &Path, dir: &Path) -> Result<(), ProviderError> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ProviderError::Other { context: format!("creating {}", dir.display()), source: Box::new(e) })?;
    let tar = dir.join(format!("{}.tar", image.replace(['/', ':'], "_")));
    let tar_arg = tar.display().to_string();
    let save = Cmd::new("docker", ["save", "--output", &tar_arg, image]).timeout(IMAGE_TIMEOUT);
    let import = Cmd::new("ctr", ["-a", &sock.display().to_string(), "-n", "k8s.io", "images", "import", &tar_arg])
        .timeout(IMAGE_TIMEOUT);
    let result = runner.run_ok(&save).and_then(|_| runner.run_ok(&import));
    let _ = std::fs::remove_file(&tar);
    result.map(|_| ()).map_err(|e| match e {
        RunCommandError::NotFound { program } => {
            ProviderError::ToolMissing { hint: super::install_hint("ctr").into(), tool: program }
        }
        other => other.into(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_env_gives_the_cluster_info() {
        let text = "KUBECONFIG=/c/kubeconfig/admin.kubeconfig\nAPI_SERVER=https://127.0.0.1:6443\nNODE_IP=192.0.2.2\n\
                    LB_POOL=172.29.255.200-172.29.255.250\nCONTAINERD_SOCK=/c/containerd/containerd.sock\n\
                    SERVICE_CIDR=10.0.0.0/24\n";
        let env = ClusterEnv::parse(text, Path::new("/c/cluster.env")).expect("valid cluster.env");
        assert_eq!(env.containerd_sock, PathBuf::from("/c/containerd/containerd.sock"));
        assert_eq!(env.lb_pool, "172.29.255.200-172.29.255.250");
        assert_eq!(env.service_cidr, "10.0.0.0/24");
        let info = env.cluster_info();
        assert_eq!(info.provider, ProviderKind::Local);
        assert_eq!(info.kubeconfig, PathBuf::from("/c/kubeconfig/admin.kubeconfig"));
        assert_eq!(info.context.as_deref(), Some(CONTEXT));
        assert_eq!(info.load_balancer, LoadBalancerSupport::Metallb);
        assert_eq!(info.node_ip, Some("192.0.2.2".parse().expect("an IP")));
    }

    #[test]
    fn cluster_env_without_kubeconfig_names_the_missing_key() {
        let err = ClusterEnv::parse("NODE_IP=192.0.2.2\nCONTAINERD_SOCK=/s\n", Path::new("/c/cluster.env"))
            .expect_err("KUBECONFIG is required");
        assert!(err.to_string().contains("no KUBECONFIG="), "{err}");
        assert!(err.to_string().contains("/c/cluster.env"), "{err}");
    }

    #[test]
    fn cluster_env_with_a_bad_node_ip_is_refused() {
        let err = ClusterEnv::parse("KUBECONFIG=/k\nNODE_IP=not-an-ip\nCONTAINERD_SOCK=/s\n", Path::new("/e"))
            .expect_err("bad NODE_IP");
        assert!(err.to_string().contains("NODE_IP=not-an-ip"), "{err}");
    }

    #[test]
    fn discovery_finds_this_checkout_and_defaults_the_cluster_dir() {
        // Runs from harness/ under cargo test: the checkout is its parent.
        let paths = LocalPaths::discover().expect("the checkout holds ci/k8s/up.sh");
        assert!(paths.script("up.sh").is_file());
        if std::env::var_os(kubegate_core::dirs::CLUSTER_DIR_ENV).is_none() {
            assert_eq!(paths.cluster_dir, paths.repo.join("target/kubegate/cluster"));
        }
    }

    #[test]
    fn a_failing_script_reports_its_stderr_and_exit_code() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("ci/k8s")).expect("mkdir");
        std::fs::write(
            dir.path().join("ci/k8s/up.sh"),
            "echo '==> step'\necho 'kubegate-local: error: no etcd' >&2\nexit 2\n",
        )
        .expect("write script");
        let paths = LocalPaths { repo: dir.path().to_path_buf(), cluster_dir: dir.path().join("cluster") };
        let provider = LocalProvider::with_paths(ProviderConfig::default(), paths, crate::process::system());
        match provider.up() {
            Err(ProviderError::CommandFailed { status, stderr_tail, .. }) => {
                assert_eq!(status, "exit code 2");
                assert!(stderr_tail.contains("no etcd"), "{stderr_tail}");
            }
            other => panic!("expected CommandFailed, got {other:?}"),
        }
    }

    #[test]
    fn exit_code_3_is_a_cluster_that_did_not_come_up() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("ci/k8s")).expect("mkdir");
        std::fs::write(
            dir.path().join("ci/k8s/up.sh"),
            "echo 'kubegate-local: error: node Ready: not within 90s' >&2\nexit 3\n",
        )
        .expect("write script");
        let paths = LocalPaths { repo: dir.path().to_path_buf(), cluster_dir: dir.path().join("cluster") };
        let err = LocalProvider::with_paths(ProviderConfig::default(), paths, crate::process::system())
            .up()
            .expect_err("exit 3");
        assert!(matches!(&err, ProviderError::NotReady { blocker, .. } if blocker.contains("node Ready")), "{err}");
    }

    #[test]
    fn a_script_past_its_deadline_is_stopped() {
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::create_dir_all(dir.path().join("ci/k8s")).expect("mkdir");
        std::fs::write(dir.path().join("ci/k8s/slow.sh"), "sleep 30\n").expect("write script");
        let paths = LocalPaths { repo: dir.path().to_path_buf(), cluster_dir: dir.path().join("cluster") };
        let provider = LocalProvider::with_paths(ProviderConfig::default(), paths, crate::process::system());
        let started = Instant::now();
        let err = provider.run_script("slow.sh", &[], Duration::from_secs(1)).expect_err("timed out");
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        assert!(err.to_string().contains("timeout"), "{err}");
    }

    #[test]
    fn exclusive_use_waits_for_a_shared_user_in_another_process() {
        let dir = tempfile::tempdir().expect("temp dir");
        // Another process holds the lock shared for 1 s (flock, as fd-lock does).
        let path = ClusterUsers::lock_path(dir.path(), ProviderKind::Local);
        std::fs::write(&path, "").expect("lock file");
        let mut holder = std::process::Command::new("flock")
            .args(["-s", &path.to_string_lossy(), "sleep", "1"])
            .spawn()
            .expect("flock(1) from util-linux");
        std::thread::sleep(Duration::from_millis(300));
        let started = Instant::now();
        let waited = ClusterUsers::exclusive(dir.path(), ProviderKind::Local, || started.elapsed()).expect("lock");
        assert!(waited >= Duration::from_millis(500), "exclusive did not wait for the shared user: {waited:?}");
        let _ = holder.wait();
    }

    #[test]
    fn up_and_image_loads_run_through_the_runner() {
        use crate::process::{FakeRunner, Output};
        let dir = tempfile::tempdir().expect("temp dir");
        let cluster_dir = dir.path().join("cluster");
        std::fs::create_dir_all(&cluster_dir).expect("mkdir");
        std::fs::write(
            cluster_dir.join("cluster.env"),
            "KUBECONFIG=/c/admin.kubeconfig\nCONTAINERD_SOCK=/c/ctr.sock\n",
        )
        .expect("cluster.env");
        let paths = LocalPaths { repo: dir.path().to_path_buf(), cluster_dir: cluster_dir.clone() };
        let fake = FakeRunner::new();
        fake.reply(&["bash"], [Output::ok("==> ready\n")]);
        fake.reply(&["docker", "save"], [Output::ok("")]);
        fake.reply(&["ctr"], [Output::ok("unpacking\n")]);
        let provider = LocalProvider::with_paths(ProviderConfig::default(), paths, fake.clone());
        let info = provider.up().expect("up.sh succeeded and cluster.env is there");
        assert_eq!(info.kubeconfig, PathBuf::from("/c/admin.kubeconfig"));
        provider.load_images(&["todo-chatbot-backend:0.1.0".to_string()]).expect("loaded");
        let tar = cluster_dir.join("images/todo-chatbot-backend_0.1.0.tar").display().to_string();
        let up_sh = dir.path().join("ci/k8s/up.sh").display().to_string();
        assert_eq!(
            fake.calls(),
            vec![
                vec!["bash".to_string(), up_sh],
                ["docker", "save", "--output", &tar, "todo-chatbot-backend:0.1.0"].map(String::from).to_vec(),
                ["ctr", "-a", "/c/ctr.sock", "-n", "k8s.io", "images", "import", &tar].map(String::from).to_vec(),
            ]
        );
        let up = &fake.commands()[0];
        assert_eq!(up.timeout, Duration::from_secs(900));
        assert!(up.env.contains(&(REPO_ENV.to_string(), dir.path().display().to_string())), "{:?}", up.env);
        assert!(
            up.env.contains(&(kubegate_core::dirs::CLUSTER_DIR_ENV.to_string(), cluster_dir.display().to_string()))
        );

        fake.set_programs(&["bash", "docker"]);
        let err = provider.load_images(&["x:1".to_string()]).expect_err("no ctr");
        assert!(
            matches!(&err, ProviderError::ToolMissing { tool, hint } if tool == "ctr" && hint.contains("ci/setup.sh docker")),
            "{err}"
        );
    }

    #[test]
    fn status_without_cluster_env_is_none() {
        let dir = tempfile::tempdir().expect("temp dir");
        let paths = LocalPaths { repo: dir.path().to_path_buf(), cluster_dir: dir.path().join("cluster") };
        let provider = LocalProvider::with_paths(ProviderConfig::default(), paths, crate::process::system());
        assert!(provider.status().expect("no error").is_none());
    }
}
