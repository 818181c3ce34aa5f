//! The `minikube` provider: `minikube start -p <profile>` with the driver and
//! resources from `[cluster]`, images through `minikube image load`, and
//! LoadBalancer Services through a `minikube tunnel` that kubegate starts,
//! watches (restarted when it dies, log under the state directory) and stops
//! on `down` or when the provider is dropped.
//!
//! The kubeconfig is minikube's own (`$KUBECONFIG` or `~/.kube/config`),
//! context = profile name, as `minikube start` writes it.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::{ClusterInfo, LoadBalancerSupport, Provider, ProviderConfig, ProviderError, ProviderKind};
use crate::process::{self, Cmd, CommandRunner, Output, Supervised};
use kubegate_core::progress::Step;

/// Deadline of one `minikube image load`.
const IMAGE_LOAD_TIMEOUT: Duration = Duration::from_secs(600);
/// Deadline of `minikube status` / `ip` / `delete`.
const QUICK_TIMEOUT: Duration = Duration::from_secs(60);
const DELETE_TIMEOUT: Duration = Duration::from_secs(300);

/// A minikube profile as `minikube status -o json` describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ProfileState {
    /// No such profile (`minikube status` exit 85 / `Nonexistent`).
    Missing,
    /// It exists but is not fully running; the text says which part is not.
    NotRunning(String),
    /// Host, kubelet and API server all `Running`.
    Running,
}

/// One entry of `minikube status -o json` (an object, or an array for multi-node).
#[derive(Debug, Clone, serde::Deserialize)]
struct NodeStatus {
    #[serde(rename = "Name", default)]
    name: String,
    #[serde(rename = "Host", default)]
    host: String,
    #[serde(rename = "Kubelet", default)]
    kubelet: String,
    #[serde(rename = "APIServer", default)]
    api_server: String,
}

/// Read `minikube status -p <profile> -o json`. minikube exits non-zero for
/// anything but "all running" (7 = stopped, 85 = no such profile), so the
/// exit code alone is not an error here.
pub fn parse_status(out: &Output) -> ProfileState {
    if out.code == Some(85) {
        return ProfileState::Missing;
    }
    let json = out.stdout.trim();
    let nodes: Vec<NodeStatus> = match serde_json::from_str::<serde_json::Value>(json) {
        Ok(v @ serde_json::Value::Array(_)) => serde_json::from_value(v).unwrap_or_default(),
        Ok(v) => serde_json::from_value(v).map(|n| vec![n]).unwrap_or_default(),
        Err(_) => Vec::new(),
    };
    let Some(control_plane) = nodes.first() else {
        let said = if out.stderr.trim().is_empty() { &out.stdout } else { &out.stderr };
        if said.contains("not found") {
            return ProfileState::Missing;
        }
        return ProfileState::NotRunning(format!(
            "unreadable status ({}): {}",
            out.status_text(),
            process::tail(said, 3)
        ));
    };
    if nodes.iter().all(|n| n.host == "Nonexistent") {
        return ProfileState::Missing;
    }
    let mut problems = Vec::new();
    for n in &nodes {
        if n.host != "Running" {
            problems.push(format!("{}: host {}", n.name, n.host));
        } else if n.kubelet != "Running" {
            problems.push(format!("{}: kubelet {}", n.name, n.kubelet));
        }
    }
    if control_plane.api_server != "Running" {
        problems.push(format!("{}: apiserver {}", control_plane.name, control_plane.api_server));
    }
    if problems.is_empty() { ProfileState::Running } else { ProfileState::NotRunning(problems.join(", ")) }
}

/// The kubeconfig file minikube writes to: the first entry of `$KUBECONFIG`,
/// else `~/.kube/config`.
pub fn default_kubeconfig() -> PathBuf {
    if let Some(first) =
        std::env::var_os("KUBECONFIG").and_then(|v| std::env::split_paths(&v).find(|p| !p.as_os_str().is_empty()))
    {
        return first;
    }
    let home = std::env::var_os("HOME").map(PathBuf::from).unwrap_or_else(|| PathBuf::from("/root"));
    home.join(".kube").join("config")
}

/// The minikube provider.
pub struct Minikube {
    cfg: ProviderConfig,
    runner: Arc<dyn CommandRunner>,
    state_dir: PathBuf,
    tunnel: Mutex<Option<Supervised>>,
}

impl Minikube {
    /// A provider for the profile `cfg.name`, running commands with `runner`,
    /// keeping the tunnel log and pid file under [`super::ensure::state_dir`].
    pub fn new(cfg: ProviderConfig, runner: Arc<dyn CommandRunner>) -> Self {
        Self { cfg, runner, state_dir: kubegate_core::dirs::state_dir(), tunnel: Mutex::new(None) }
    }

    /// Keep logs and pid files under `dir` instead.
    pub fn with_state_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.state_dir = dir.into();
        self
    }

    fn profile(&self) -> &str {
        &self.cfg.name
    }

    /// `minikube start -p <profile> --driver <d> --cpus <n> --memory <m> --kubernetes-version <v>`.
    pub fn start_command(&self) -> Cmd {
        let c = &self.cfg;
        Cmd::new(
            "minikube",
            [
                "start",
                "-p",
                &c.name,
                "--driver",
                &c.driver,
                "--cpus",
                &c.cpus.to_string(),
                "--memory",
                &c.memory,
                "--kubernetes-version",
                &c.kubernetes_version,
            ],
        )
        .timeout(Duration::from_secs(c.start_timeout_secs))
    }

    /// `minikube tunnel -p <profile>`.
    pub fn tunnel_command(&self) -> Cmd {
        Cmd::new("minikube", ["tunnel", "-p", self.profile()])
    }

    /// Log of the tunnel (all its restarts append to it).
    pub fn tunnel_log(&self) -> PathBuf {
        self.state_dir.join(format!("minikube-tunnel-{}.log", self.profile()))
    }

    fn tunnel_pid_file(&self) -> PathBuf {
        self.state_dir.join(format!("minikube-tunnel-{}.pid", self.profile()))
    }

    fn require_minikube(&self) -> Result<(), ProviderError> {
        match self.runner.find_program("minikube") {
            Some(_) => Ok(()),
            None => Err(ProviderError::ToolMissing {
                tool: "minikube".into(),
                hint: super::install_hint("minikube").into(),
            }),
        }
    }

    /// The profile's state, from `minikube status -p <profile> -o json`.
    pub fn profile_state(&self) -> Result<ProfileState, ProviderError> {
        let cmd = Cmd::new("minikube", ["status", "-p", self.profile(), "-o", "json"]).timeout(QUICK_TIMEOUT);
        Ok(parse_status(&self.runner.run(&cmd)?))
    }

    /// Make sure a tunnel runs for this profile: the one this provider
    /// started, one an earlier kubegate process left (found by pid file), or
    /// a new one. Returns its pid.
    pub fn ensure_tunnel(&self) -> Result<u32, ProviderError> {
        let mut held = self.tunnel.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = held.as_ref() {
            return Ok(t.pid());
        }
        if let Some(pid) = process::adopt_pid_file(&self.tunnel_pid_file(), "tunnel") {
            return Ok(pid);
        }
        let sup = Supervised::start(
            self.runner.clone(),
            format!("minikube tunnel -p {}", self.profile()),
            self.tunnel_command(),
            self.tunnel_log(),
            self.tunnel_pid_file(),
        )?;
        let pid = sup.pid();
        *held = Some(sup);
        Ok(pid)
    }

    /// Stop the tunnel: the one this provider holds and any recorded in the pid file.
    pub fn stop_tunnel(&self) {
        if let Some(sup) = self.tunnel.lock().unwrap_or_else(|p| p.into_inner()).take() {
            sup.stop();
        }
        if let Some(pid) = process::adopt_pid_file(&self.tunnel_pid_file(), "tunnel") {
            process::stop_pid(pid, Duration::from_secs(5));
        }
        let _ = std::fs::remove_file(self.tunnel_pid_file());
    }

    fn tunnel_running(&self) -> bool {
        self.tunnel.lock().unwrap_or_else(|p| p.into_inner()).is_some()
            || process::adopt_pid_file(&self.tunnel_pid_file(), "tunnel").is_some()
    }

    fn node_ip(&self) -> Option<std::net::IpAddr> {
        let cmd = Cmd::new("minikube", ["ip", "-p", self.profile()]).timeout(QUICK_TIMEOUT);
        self.runner.run(&cmd).ok().filter(Output::success).and_then(|o| o.stdout.trim().parse().ok())
    }

    fn info(&self, load_balancer: LoadBalancerSupport) -> ClusterInfo {
        ClusterInfo {
            provider: ProviderKind::Minikube,
            kubeconfig: default_kubeconfig(),
            context: Some(self.profile().to_string()),
            load_balancer,
            node_ip: self.node_ip(),
        }
    }
}

impl Provider for Minikube {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Minikube
    }

    fn up(&self) -> Result<ClusterInfo, ProviderError> {
        self.require_minikube()?;
        match self.profile_state()? {
            ProfileState::Running => {
                Step::start(format!("minikube profile {} already running", self.profile())).ok();
            }
            before => {
                let step = Step::start(format!("minikube start -p {} (was: {before:?})", self.profile()));
                let cmd = self.start_command();
                step.note(cmd.to_string());
                step.finish(self.runner.run_ok(&cmd))?;
                let blocker = match self.profile_state()? {
                    ProfileState::Running => None,
                    ProfileState::Missing => Some(format!("profile {} does not exist", self.profile())),
                    ProfileState::NotRunning(why) => Some(why),
                };
                if let Some(blocker) = blocker {
                    return Err(ProviderError::NotReady {
                        waited_secs: 0,
                        blocker: format!("`minikube start` succeeded but {blocker}"),
                    });
                }
            }
        }
        let step = Step::start(format!("minikube tunnel -p {} (log {})", self.profile(), self.tunnel_log().display()));
        let pid = self.ensure_tunnel();
        if let Ok(pid) = &pid {
            step.note(format!("pid {pid}"));
        }
        step.finish(pid)?;
        Ok(self.info(LoadBalancerSupport::MinikubeTunnel))
    }

    fn down(&self) -> Result<(), ProviderError> {
        self.require_minikube()?;
        self.stop_tunnel();
        let step = Step::start(format!("minikube delete -p {}", self.profile()));
        let cmd = Cmd::new("minikube", ["delete", "-p", self.profile()]).timeout(DELETE_TIMEOUT);
        step.finish(self.runner.run_ok(&cmd))?;
        let _ = std::fs::remove_file(super::ensure::state_file(&self.state_dir, ProviderKind::Minikube));
        Ok(())
    }

    fn status(&self) -> Result<Option<ClusterInfo>, ProviderError> {
        self.require_minikube()?;
        Ok(match self.profile_state()? {
            ProfileState::Running => Some(self.info(if self.tunnel_running() {
                LoadBalancerSupport::MinikubeTunnel
            } else {
                LoadBalancerSupport::None
            })),
            _ => None,
        })
    }

    fn load_images(&self, images: &[String]) -> Result<(), ProviderError> {
        self.require_minikube()?;
        for image in images {
            let step = Step::start(format!("minikube image load -p {} {image}", self.profile()));
            let cmd = Cmd::new("minikube", ["image", "load", "-p", self.profile(), image]).timeout(IMAGE_LOAD_TIMEOUT);
            step.finish(self.runner.run_ok(&cmd))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::FakeRunner;

    const RUNNING: &str = r#"{"Name":"kubegate","Host":"Running","Kubelet":"Running","APIServer":"Running","Kubeconfig":"Configured","Worker":false}"#;
    const STOPPED: &str = r#"{"Name":"kubegate","Host":"Stopped","Kubelet":"Stopped","APIServer":"Stopped","Kubeconfig":"Stopped","Worker":false}"#;
    const MULTI: &str = r#"[{"Name":"kubegate","Host":"Running","Kubelet":"Running","APIServer":"Running","Kubeconfig":"Configured","Worker":false},{"Name":"kubegate-m02","Host":"Running","Kubelet":"Stopped","APIServer":"Irrelevant","Kubeconfig":"Irrelevant","Worker":true}]"#;
    const NOT_FOUND: &str = "* Profile \"kubegate\" not found. Run \"minikube profile list\" to view all profiles.\n";

    fn cfg() -> ProviderConfig {
        ProviderConfig {
            provider: ProviderKind::Minikube,
            driver: "docker".into(),
            cpus: 4,
            memory: "6g".into(),
            kubernetes_version: "v1.34.0".into(),
            start_timeout_secs: 700,
            ..Default::default()
        }
    }

    fn provider(fake: &Arc<FakeRunner>, dir: &std::path::Path) -> Minikube {
        Minikube::new(cfg(), fake.clone()).with_state_dir(dir)
    }

    #[test]
    fn reads_real_status_outputs() {
        assert_eq!(parse_status(&Output::ok(RUNNING)), ProfileState::Running);
        assert_eq!(
            parse_status(&Output::failed(7, STOPPED, "")),
            ProfileState::NotRunning("kubegate: host Stopped, kubegate: apiserver Stopped".into())
        );
        assert_eq!(
            parse_status(&Output::failed(2, MULTI, "")),
            ProfileState::NotRunning("kubegate-m02: kubelet Stopped".into())
        );
        assert_eq!(parse_status(&Output::failed(85, NOT_FOUND, "")), ProfileState::Missing);
        assert_eq!(parse_status(&Output::failed(1, "", NOT_FOUND)), ProfileState::Missing);
        assert!(
            matches!(parse_status(&Output::failed(1, "", "boom")), ProfileState::NotRunning(s) if s.contains("boom"))
        );
    }

    #[test]
    fn up_starts_a_missing_profile_with_the_configured_resources_then_a_tunnel() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeRunner::new();
        fake.reply(&["minikube", "status"], [Output::failed(85, NOT_FOUND, ""), Output::ok(RUNNING)]);
        fake.reply(&["minikube", "start"], [Output::ok("Done! kubectl is now configured")]);
        fake.reply(&["minikube", "ip"], [Output::ok("192.168.49.2\n")]);
        let mk = provider(&fake, dir.path());
        let info = mk.up().expect("up");
        assert_eq!(
            fake.calls(),
            vec![
                vec!["minikube", "status", "-p", "kubegate", "-o", "json"],
                vec![
                    "minikube",
                    "start",
                    "-p",
                    "kubegate",
                    "--driver",
                    "docker",
                    "--cpus",
                    "4",
                    "--memory",
                    "6g",
                    "--kubernetes-version",
                    "v1.34.0"
                ],
                vec!["minikube", "status", "-p", "kubegate", "-o", "json"],
                vec!["minikube", "ip", "-p", "kubegate"],
            ]
        );
        assert_eq!(fake.commands()[1].timeout, Duration::from_secs(700));
        assert_eq!(fake.spawned(), vec![vec!["minikube", "tunnel", "-p", "kubegate"]]);
        assert_eq!(info.context.as_deref(), Some("kubegate"));
        assert_eq!(info.load_balancer, LoadBalancerSupport::MinikubeTunnel);
        assert_eq!(info.node_ip, Some("192.168.49.2".parse().expect("ip")));
        let pid: u32 = std::fs::read_to_string(dir.path().join("minikube-tunnel-kubegate.pid"))
            .expect("pid file")
            .trim()
            .parse()
            .expect("pid");
        assert!(process::pid_alive(pid));
        drop(mk);
        assert!(!process::pid_alive(pid), "dropping the provider stops its tunnel");
    }

    #[test]
    fn up_reuses_a_running_profile_and_reports_start_failures() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeRunner::new();
        fake.reply(&["minikube", "status"], [Output::ok(RUNNING)]);
        fake.reply(&["minikube", "ip"], [Output::ok("192.168.49.2\n")]);
        let mk = provider(&fake, dir.path());
        mk.up().expect("up");
        assert!(!fake.calls().iter().any(|c| c[1] == "start"), "a running profile is not restarted");
        mk.stop_tunnel();

        let fake = FakeRunner::new();
        fake.reply(&["minikube", "status"], [Output::failed(7, STOPPED, "")]);
        fake.reply(&["minikube", "start"], [Output::failed(80, "", "X Exiting due to RSRC_INSUFFICIENT_CORES")]);
        let err = provider(&fake, dir.path()).up().expect_err("start fails");
        let text = err.to_string();
        assert!(text.contains("minikube start -p kubegate") && text.contains("RSRC_INSUFFICIENT_CORES"), "{text}");
        assert!(fake.spawned().is_empty(), "no tunnel for a cluster that did not start");
    }

    #[test]
    fn tunnel_is_restarted_when_it_dies_and_stopped_on_down() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeRunner::new();
        fake.set_stand_in(Cmd::new("sleep", ["0.2"]));
        fake.reply(&["minikube", "delete"], [Output::ok("Removed all traces")]);
        let mk = provider(&fake, dir.path());
        mk.ensure_tunnel().expect("tunnel");
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while fake.spawned().len() < 2 && std::time::Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(fake.spawned().len() >= 2, "tunnel restarted: {:?}", fake.spawned());
        let log = std::fs::read_to_string(mk.tunnel_log()).expect("tunnel log");
        assert!(log.contains("minikube tunnel -p kubegate exited with"), "{log}");

        fake.set_stand_in(Cmd::new("sleep", ["600"]));
        mk.stop_tunnel();
        mk.ensure_tunnel().expect("tunnel again");
        let pid = mk.ensure_tunnel().expect("same tunnel");
        assert!(process::pid_alive(pid));
        mk.down().expect("down");
        assert!(!process::pid_alive(pid), "down stops the tunnel");
        assert_eq!(fake.calls().last().expect("a call"), &vec!["minikube", "delete", "-p", "kubegate"]);
        assert!(!dir.path().join("minikube-tunnel-kubegate.pid").exists());
    }

    #[test]
    fn loads_each_image_and_needs_minikube_on_path() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeRunner::new();
        fake.reply(&["minikube", "image", "load"], [Output::ok("")]);
        let mk = provider(&fake, dir.path());
        mk.load_images(&["todo-backend:dev".into(), "todo-frontend:dev".into()]).expect("load");
        assert_eq!(
            fake.calls(),
            vec![
                vec!["minikube", "image", "load", "-p", "kubegate", "todo-backend:dev"],
                vec!["minikube", "image", "load", "-p", "kubegate", "todo-frontend:dev"],
            ]
        );
        fake.set_programs(&["kind"]);
        assert!(matches!(mk.up(), Err(ProviderError::ToolMissing { ref tool, .. }) if tool == "minikube"));
    }
}
