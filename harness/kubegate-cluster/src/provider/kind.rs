//! The `kind` provider: `kind create cluster --name <name> [--config]`,
//! images through `kind load docker-image`, and LoadBalancer Services through
//! an installed MetalLB or `cloud-provider-kind` (started by kubegate as a
//! watched child process when it is on PATH). Which one is in use is detected
//! and reported; with neither, the LoadBalancer support is `None` and the
//! LoadBalancer suite says so instead of timing out.
//!
//! kubegate writes the cluster's kubeconfig (from `kind get kubeconfig`) to
//! its own file under the state directory (mode 0600) and never reads it back
//! into a report.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{ClusterInfo, LoadBalancerSupport, Provider, ProviderConfig, ProviderError, ProviderKind};
use crate::process::{self, Cmd, CommandRunner, Supervised};
use kubegate_core::progress::Step;

const QUICK_TIMEOUT: Duration = Duration::from_secs(60);
const IMAGE_LOAD_TIMEOUT: Duration = Duration::from_secs(600);
const DELETE_TIMEOUT: Duration = Duration::from_secs(300);

/// Cluster names in the output of `kind get clusters` (one per line; kind
/// prints "No kind clusters found." on stderr when there are none).
pub fn parse_clusters(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("No kind clusters"))
        .map(String::from)
        .collect()
}

/// The kind provider.
pub struct Kind {
    cfg: ProviderConfig,
    runner: Arc<dyn CommandRunner>,
    state_dir: PathBuf,
    cloud_provider: Mutex<Option<Supervised>>,
    /// Facts about MetalLB / cloud-provider-kind; replaced in tests.
    detect: super::detect::FactsSource,
}

impl Kind {
    /// A provider for the kind cluster `cfg.name`, running commands with
    /// `runner`, keeping kubeconfig, logs and pid files under
    /// [`super::ensure::state_dir`].
    pub fn new(cfg: ProviderConfig, runner: Arc<dyn CommandRunner>) -> Self {
        Self {
            cfg,
            runner,
            state_dir: kubegate_core::dirs::state_dir(),
            cloud_provider: Mutex::new(None),
            detect: Box::new(super::detect::gather),
        }
    }

    /// Keep kubeconfig, logs and pid files under `dir` instead.
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = dir.into();
        self
    }

    /// Use this instead of asking the cluster (tests).
    pub fn with_detector(
        mut self,
        detect: impl Fn(&ClusterInfo) -> Result<super::detect::ClusterFacts, ProviderError> + Send + Sync + 'static,
    ) -> Self {
        self.detect = Box::new(detect);
        self
    }

    fn name(&self) -> &str {
        &self.cfg.name
    }

    /// The kubeconfig file kubegate writes for this cluster.
    pub fn kubeconfig_path(&self) -> PathBuf {
        self.state_dir.join(format!("kind-{}.kubeconfig", self.name()))
    }

    /// Log of cloud-provider-kind (all restarts append to it).
    pub fn cloud_provider_log(&self) -> PathBuf {
        self.state_dir.join("cloud-provider-kind.log")
    }

    fn cloud_provider_pid_file(&self) -> PathBuf {
        self.state_dir.join("cloud-provider-kind.pid")
    }

    /// `kind create cluster --name <name> [--config <file>] [--image <img>] --wait <timeout>s`.
    pub fn create_command(&self) -> Cmd {
        let mut cmd = Cmd::new("kind", ["create", "cluster", "--name", self.name()]);
        if let Some(config) = &self.cfg.kind_config {
            cmd = cmd.arg("--config").arg(config.to_string_lossy());
        }
        if let Some(image) = &self.cfg.node_image {
            cmd = cmd.arg("--image").arg(image);
        }
        // kind waits for the control plane itself; the deadline leaves it a minute more.
        cmd.arg("--wait")
            .arg(format!("{}s", self.cfg.start_timeout_secs))
            .timeout(Duration::from_secs(self.cfg.start_timeout_secs + 60))
    }

    fn require_kind(&self) -> Result<(), ProviderError> {
        match self.runner.find_program("kind") {
            Some(_) => Ok(()),
            None => Err(ProviderError::ToolMissing { tool: "kind".into(), hint: super::install_hint("kind").into() }),
        }
    }

    /// Names from `kind get clusters`.
    pub fn clusters(&self) -> Result<Vec<String>, ProviderError> {
        let out = self.runner.run_ok(&Cmd::new("kind", ["get", "clusters"]).timeout(QUICK_TIMEOUT))?;
        Ok(parse_clusters(&out.stdout))
    }

    /// Write `kind get kubeconfig --name <name>` to [`Kind::kubeconfig_path`] (0600).
    fn write_kubeconfig(&self) -> Result<PathBuf, ProviderError> {
        let out = self
            .runner
            .run_ok(&Cmd::new("kind", ["get", "kubeconfig", "--name", self.name()]).timeout(QUICK_TIMEOUT))?;
        let path = self.kubeconfig_path();
        let io_err = |source: std::io::Error| ProviderError::Other {
            context: format!("writing kubeconfig {}", path.display()),
            source: Box::new(source),
        };
        std::fs::create_dir_all(&self.state_dir).map_err(io_err)?;
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .mode(0o600)
                .open(&path)
                .map_err(io_err)?;
            f.write_all(out.stdout.as_bytes()).map_err(io_err)?;
        }
        Ok(path)
    }

    fn base_info(&self, kubeconfig: PathBuf) -> ClusterInfo {
        ClusterInfo {
            provider: ProviderKind::Kind,
            kubeconfig,
            context: Some(format!("kind-{}", self.name())),
            load_balancer: LoadBalancerSupport::None,
            node_ip: None,
        }
    }

    /// Decide (and, with `start`, set up) LoadBalancer support: an installed
    /// MetalLB wins; else a running cloud-provider-kind; else, with `start`,
    /// cloud-provider-kind from PATH as a watched child; else `None`.
    fn load_balancer(
        &self,
        info: &ClusterInfo,
        start: bool,
        step: &Step,
    ) -> Result<LoadBalancerSupport, ProviderError> {
        let facts = (self.detect)(info)?;
        if facts.metallb_crds || facts.metallb_namespace {
            step.note("LoadBalancer: MetalLB is installed in the cluster");
            return Ok(LoadBalancerSupport::Metallb);
        }
        let held = self.cloud_provider.lock().unwrap_or_else(|p| p.into_inner()).is_some();
        if held
            || facts.cloud_provider_kind_running
            || process::adopt_pid_file(&self.cloud_provider_pid_file(), "cloud-provider-kind").is_some()
        {
            step.note("LoadBalancer: cloud-provider-kind is running");
            return Ok(LoadBalancerSupport::CloudProviderKind);
        }
        if start && self.runner.find_program("cloud-provider-kind").is_some() {
            let sup = Supervised::start(
                self.runner.clone(),
                "cloud-provider-kind",
                Cmd::new("cloud-provider-kind", Vec::<String>::new()),
                self.cloud_provider_log(),
                self.cloud_provider_pid_file(),
            )?;
            step.note(format!(
                "LoadBalancer: started cloud-provider-kind (pid {}, log {})",
                sup.pid(),
                self.cloud_provider_log().display()
            ));
            *self.cloud_provider.lock().unwrap_or_else(|p| p.into_inner()) = Some(sup);
            return Ok(LoadBalancerSupport::CloudProviderKind);
        }
        step.note(format!(
            "LoadBalancer: none (no MetalLB in the cluster, no cloud-provider-kind on PATH: {})",
            super::install_hint("cloud-provider-kind")
        ));
        Ok(LoadBalancerSupport::None)
    }

    /// Stop cloud-provider-kind if this provider (or an earlier kubegate process) started it.
    pub fn stop_cloud_provider(&self) {
        if let Some(sup) = self.cloud_provider.lock().unwrap_or_else(|p| p.into_inner()).take() {
            sup.stop();
        }
        if let Some(pid) = process::adopt_pid_file(&self.cloud_provider_pid_file(), "cloud-provider-kind") {
            process::stop_pid(pid, Duration::from_secs(5));
        }
        let _ = std::fs::remove_file(self.cloud_provider_pid_file());
    }
}

impl Provider for Kind {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Kind
    }

    fn up(&self) -> Result<ClusterInfo, ProviderError> {
        self.require_kind()?;
        if self.clusters()?.iter().any(|c| c == self.name()) {
            Step::start(format!("kind cluster {} already exists", self.name())).ok();
        } else {
            let step = Step::start(format!("kind create cluster --name {}", self.name()));
            let cmd = self.create_command();
            step.note(cmd.to_string());
            step.finish(self.runner.run_ok(&cmd))?;
        }
        let mut info = self.base_info(self.write_kubeconfig()?);
        let step = Step::start("LoadBalancer support on kind");
        let lb = self.load_balancer(&info, true, &step);
        info.load_balancer = step.finish(lb)?;
        Ok(info)
    }

    fn down(&self) -> Result<(), ProviderError> {
        self.require_kind()?;
        self.stop_cloud_provider();
        let step = Step::start(format!("kind delete cluster --name {}", self.name()));
        step.finish(
            self.runner.run_ok(&Cmd::new("kind", ["delete", "cluster", "--name", self.name()]).timeout(DELETE_TIMEOUT)),
        )?;
        let _ = std::fs::remove_file(self.kubeconfig_path());
        let _ = std::fs::remove_file(super::ensure::state_file(&self.state_dir, ProviderKind::Kind));
        Ok(())
    }

    fn status(&self) -> Result<Option<ClusterInfo>, ProviderError> {
        self.require_kind()?;
        if !self.clusters()?.iter().any(|c| c == self.name()) {
            return Ok(None);
        }
        let mut info = self.base_info(self.write_kubeconfig()?);
        let step = Step::start("LoadBalancer support on kind");
        // Status never starts anything; an unreachable API server leaves it `None`.
        info.load_balancer = self.load_balancer(&info, false, &step).unwrap_or(LoadBalancerSupport::None);
        step.ok();
        Ok(Some(info))
    }

    fn load_images(&self, images: &[String]) -> Result<(), ProviderError> {
        self.require_kind()?;
        for image in images {
            let step = Step::start(format!("kind load docker-image --name {} {image}", self.name()));
            let cmd =
                Cmd::new("kind", ["load", "docker-image", "--name", self.name(), image]).timeout(IMAGE_LOAD_TIMEOUT);
            step.finish(self.runner.run_ok(&cmd))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{FakeRunner, Output};
    use crate::provider::detect::ClusterFacts;

    const KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- cluster:\n    server: https://127.0.0.1:40123\n  name: kind-kubegate\ncontexts:\n- context:\n    cluster: kind-kubegate\n    user: kind-kubegate\n  name: kind-kubegate\ncurrent-context: kind-kubegate\n";

    fn kind(fake: &Arc<FakeRunner>, dir: &std::path::Path, facts: ClusterFacts) -> Kind {
        let cfg = ProviderConfig { provider: ProviderKind::Kind, start_timeout_secs: 300, ..Default::default() };
        Kind::new(cfg, fake.clone()).with_state_dir(dir).with_detector(move |_| Ok(facts.clone()))
    }

    #[test]
    fn reads_kind_get_clusters() {
        assert_eq!(parse_clusters("kind\nkubegate\n"), vec!["kind", "kubegate"]);
        assert!(parse_clusters("").is_empty());
        assert!(parse_clusters("No kind clusters found.\n").is_empty());
    }

    #[test]
    fn up_creates_a_missing_cluster_writes_its_kubeconfig_and_starts_cloud_provider_kind() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeRunner::new();
        fake.reply(&["kind", "get", "clusters"], [Output::failed(0, "", "No kind clusters found.\n")]);
        fake.reply(&["kind", "create", "cluster"], [Output::ok("")]);
        fake.reply(&["kind", "get", "kubeconfig"], [Output::ok(KUBECONFIG)]);
        let k = kind(&fake, dir.path(), ClusterFacts::default());
        let info = k.up().expect("up");
        assert_eq!(
            fake.calls(),
            vec![
                vec!["kind", "get", "clusters"],
                vec!["kind", "create", "cluster", "--name", "kubegate", "--wait", "300s"],
                vec!["kind", "get", "kubeconfig", "--name", "kubegate"],
            ]
        );
        assert_eq!(fake.commands()[1].timeout, Duration::from_secs(360));
        assert_eq!(fake.spawned(), vec![vec!["cloud-provider-kind"]]);
        assert_eq!(info.load_balancer, LoadBalancerSupport::CloudProviderKind);
        assert_eq!(info.context.as_deref(), Some("kind-kubegate"));
        assert_eq!(info.kubeconfig, dir.path().join("kind-kubegate.kubeconfig"));
        assert_eq!(std::fs::read_to_string(&info.kubeconfig).expect("kubeconfig"), KUBECONFIG);
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&info.kubeconfig).expect("meta").permissions().mode();
        assert_eq!(mode & 0o077, 0, "kubeconfig holds credentials: owner-only");
        let pid = std::fs::read_to_string(dir.path().join("cloud-provider-kind.pid")).expect("pid file");
        drop(k);
        assert!(!process::pid_alive(pid.trim().parse().expect("pid")), "drop stops cloud-provider-kind");
    }

    #[test]
    fn config_and_image_are_passed_and_an_existing_cluster_is_reused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeRunner::new();
        fake.reply(&["kind", "get", "clusters"], [Output::ok("other\nkubegate\n")]);
        fake.reply(&["kind", "get", "kubeconfig"], [Output::ok(KUBECONFIG)]);
        let facts = ClusterFacts { metallb_namespace: true, metallb_crds: true, ..Default::default() };
        let cfg = ProviderConfig {
            kind_config: Some(PathBuf::from("ci/kind config.yaml")),
            node_image: Some("kindest/node:v1.34.0".into()),
            start_timeout_secs: 120,
            ..Default::default()
        };
        let k = Kind::new(cfg, fake.clone()).with_state_dir(dir.path()).with_detector(move |_| Ok(facts.clone()));
        assert_eq!(
            k.create_command().argv(),
            vec![
                "kind",
                "create",
                "cluster",
                "--name",
                "kubegate",
                "--config",
                "ci/kind config.yaml",
                "--image",
                "kindest/node:v1.34.0",
                "--wait",
                "120s"
            ]
        );
        let info = k.up().expect("up");
        assert!(!fake.calls().iter().any(|c| c.get(1).is_some_and(|a| a == "create")), "not recreated");
        assert_eq!(info.load_balancer, LoadBalancerSupport::Metallb, "MetalLB detected");
        assert!(fake.spawned().is_empty(), "no cloud-provider-kind beside MetalLB");
    }

    #[test]
    fn without_metallb_or_cloud_provider_kind_load_balancer_is_none() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeRunner::new();
        fake.set_programs(&["kind"]);
        fake.reply(&["kind", "get", "clusters"], [Output::ok("kubegate\n")]);
        fake.reply(&["kind", "get", "kubeconfig"], [Output::ok(KUBECONFIG)]);
        let info = kind(&fake, dir.path(), ClusterFacts::default()).up().expect("up");
        assert_eq!(info.load_balancer, LoadBalancerSupport::None);
    }

    #[test]
    fn load_images_status_and_down_run_the_exact_commands() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeRunner::new();
        fake.reply(&["kind", "load", "docker-image"], [Output::ok("")]);
        fake.reply(&["kind", "get", "clusters"], [Output::ok("kubegate\n"), Output::ok("")]);
        fake.reply(&["kind", "get", "kubeconfig"], [Output::ok(KUBECONFIG)]);
        fake.reply(&["kind", "delete", "cluster"], [Output::ok("Deleting cluster \"kubegate\" ...")]);
        let k = kind(&fake, dir.path(), ClusterFacts { cloud_provider_kind_running: true, ..Default::default() });
        k.load_images(&["todo-backend:dev".into()]).expect("load");
        let status = k.status().expect("status").expect("cluster exists");
        assert_eq!(status.load_balancer, LoadBalancerSupport::CloudProviderKind);
        k.down().expect("down");
        assert!(k.status().expect("status").is_none(), "gone after down");
        assert_eq!(
            fake.calls(),
            vec![
                vec!["kind", "load", "docker-image", "--name", "kubegate", "todo-backend:dev"],
                vec!["kind", "get", "clusters"],
                vec!["kind", "get", "kubeconfig", "--name", "kubegate"],
                vec!["kind", "delete", "cluster", "--name", "kubegate"],
                vec!["kind", "get", "clusters"],
            ]
        );
        assert!(!k.kubeconfig_path().exists(), "down removes the kubeconfig it wrote");
        assert!(fake.spawned().is_empty(), "status never starts anything");
    }

    #[test]
    fn a_failed_load_names_the_image_and_kinds_message() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeRunner::new();
        fake.reply(
            &["kind", "load"],
            [Output::failed(1, "", "ERROR: image: \"todo-backend:dev\" not present locally")],
        );
        let err = kind(&fake, dir.path(), ClusterFacts::default())
            .load_images(&["todo-backend:dev".into()])
            .expect_err("fails");
        assert!(err.to_string().contains("not present locally"), "{err}");
        assert!(err.to_string().contains("kind load docker-image --name kubegate todo-backend:dev"), "{err}");
    }
}
