//! Cluster providers: where the deployment under test runs.
//!
//! One trait, four implementations (one module each): `local` (upstream
//! Kubernetes as host processes, built by `ci/k8s/`), `minikube`, `kind` and
//! `existing` (the current kubeconfig context, never created or deleted).

use std::path::PathBuf;

use crate::process::{self, RunCommandError};

pub mod client;
pub mod detect;
pub mod ensure;
pub mod existing;
pub mod kind;
pub mod local;
pub mod minikube;

// The `[cluster]` section's types live with the config (kubegate-core), so
// reading kubegate.toml needs no provider code.
pub use kubegate_core::cluster::{ProviderConfig, ProviderKind};

/// How a Service of type LoadBalancer gets an address on this cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LoadBalancerSupport {
    /// MetalLB controller + speaker (local provider, or kind with MetalLB).
    Metallb,
    /// `minikube tunnel`, started and watched by kubegate.
    MinikubeTunnel,
    /// cloud-provider-kind running beside a kind cluster.
    CloudProviderKind,
    /// Nothing provisions LoadBalancer Services: the loadbalancer suite fails
    /// with this diagnosis rather than timing out.
    None,
}

/// A running cluster, as the suites and deployers need to know it.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ClusterInfo {
    /// Provider that made (or, for `existing`, found) the cluster.
    pub provider: ProviderKind,
    /// kubeconfig file to use.
    pub kubeconfig: PathBuf,
    /// Context in that kubeconfig; `None` means its current context.
    pub context: Option<String>,
    /// How LoadBalancer Services are provisioned, if at all.
    pub load_balancer: LoadBalancerSupport,
    /// Address of the node as pods see the host (the external database of
    /// AD-1 is reached through it).
    pub node_ip: Option<std::net::IpAddr>,
}

/// Why a provider could not do what was asked. Each variant holds the
/// evidence (command, exit status, output) so the message needs no guessing.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    /// A tool the provider needs is not on PATH.
    #[error("`{tool}` not found on PATH: {hint}")]
    ToolMissing {
        /// The program.
        tool: String,
        /// How to install it.
        hint: String,
    },
    /// A command the provider ran failed.
    #[error("`{command}` failed with {status}\n--- stderr (tail) ---\n{stderr_tail}")]
    CommandFailed {
        /// The command line.
        command: String,
        /// Exit status text.
        status: String,
        /// Last lines of its stderr.
        stderr_tail: String,
    },
    /// The cluster did not become ready; `blocker` says what blocked it.
    #[error("cluster not ready after {waited_secs}s: {blocker}")]
    NotReady {
        /// Seconds waited.
        waited_secs: u64,
        /// What kept it from being ready.
        blocker: String,
    },
    /// The provider refuses (e.g. `existing` on a production-looking context).
    #[error("refusing: {0}")]
    Refused(String),
    /// Anything else, with the object or file it concerns.
    #[error("{context}")]
    Other {
        /// What was being done, naming the object or file.
        context: String,
        /// The underlying error.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl kubegate_core::exit::HasExitCode for ProviderError {
    fn exit_code(&self) -> kubegate_core::exit::ExitCode {
        match self {
            ProviderError::ToolMissing { .. } => kubegate_core::exit::ExitCode::BadInput,
            _ => kubegate_core::exit::ExitCode::Cluster,
        }
    }
}

impl From<RunCommandError> for ProviderError {
    fn from(e: RunCommandError) -> Self {
        match e {
            RunCommandError::NotFound { program } => {
                ProviderError::ToolMissing { hint: install_hint(&program).to_string(), tool: program }
            }
            RunCommandError::TimedOut { command, after_secs, stderr_tail } => ProviderError::CommandFailed {
                command,
                status: format!("a timeout ({after_secs}s, killed)"),
                stderr_tail,
            },
            RunCommandError::Failed { command, status, stderr_tail } => {
                ProviderError::CommandFailed { command, status, stderr_tail }
            }
            other => ProviderError::Other { context: other.to_string(), source: Box::new(other) },
        }
    }
}

/// Where to get a tool a provider shells out to.
pub fn install_hint(program: &str) -> &'static str {
    match program {
        "minikube" => "install minikube (https://minikube.sigs.k8s.io/docs/start/) or pick another --provider",
        "kind" => "install kind (`go install sigs.k8s.io/kind@latest`) or pick another --provider",
        "cloud-provider-kind" => {
            "install it for LoadBalancer Services on kind (`go install sigs.k8s.io/cloud-provider-kind@latest`) or install MetalLB in the cluster"
        }
        "docker" => "install Docker (or run `ci/setup.sh docker`)",
        "ctr" => "install docker.io (it brings ctr): ci/setup.sh docker",
        _ => "install it and make sure it is on PATH",
    }
}

/// A way to get a cluster. Implementations shell out to the provider's own
/// tools (minikube, kind, `ci/k8s/*.sh`) and print progress for long steps.
pub trait Provider {
    /// Which provider this is.
    fn kind(&self) -> ProviderKind;
    /// Start the cluster, or reuse it if it is already running, and return
    /// once it is ready (node Ready, DNS answering, LoadBalancer capability known).
    fn up(&self) -> Result<ClusterInfo, ProviderError>;
    /// Stop what `up` started and remove what it made. `existing` does nothing.
    fn down(&self) -> Result<(), ProviderError>;
    /// The running cluster, if there is one; never starts anything.
    fn status(&self) -> Result<Option<ClusterInfo>, ProviderError>;
    /// Make locally built images (`name:tag`, in the local Docker engine)
    /// available to the cluster's container runtime without a registry.
    fn load_images(&self, images: &[String]) -> Result<(), ProviderError>;
}

/// The provider of this kind, configured from `cfg`, running real commands.
/// (`kind` in `cfg.provider` is ignored: the caller's choice wins, so a
/// `--provider` flag can override the file.)
pub fn provider_for(kind: ProviderKind, cfg: &ProviderConfig) -> Box<dyn Provider + Send + Sync> {
    let runner = process::system();
    match kind {
        ProviderKind::Minikube => Box::new(minikube::Minikube::new(cfg.clone(), runner)),
        ProviderKind::Kind => Box::new(kind::Kind::new(cfg.clone(), runner)),
        ProviderKind::Existing => Box::new(existing::Existing::new(cfg.clone(), runner)),
        ProviderKind::Local => Box::new(local::LocalProvider::new(cfg.clone(), runner)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::CommandRunner;

    #[test]
    fn a_missing_program_is_tool_missing_with_its_hint_and_a_timeout_a_failed_command() {
        let err =
            process::SystemRunner.run(&process::Cmd::new("kubegate-no-such-tool", ["x"])).expect_err("not installed");
        assert!(matches!(ProviderError::from(err), ProviderError::ToolMissing { .. }));
        let missing = ProviderError::from(RunCommandError::NotFound { program: "kind".into() });
        assert!(missing.to_string().contains("go install sigs.k8s.io/kind"), "{missing}");
        let timeout = ProviderError::from(RunCommandError::TimedOut {
            command: "kind create cluster".into(),
            after_secs: 5,
            stderr_tail: "pulling".into(),
        });
        assert!(timeout.to_string().contains("failed with a timeout (5s, killed)"), "{timeout}");
    }
}
