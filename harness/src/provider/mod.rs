//! Cluster providers: where the deployment under test runs.
//!
//! One trait, four implementations (one module each): `local` (upstream
//! Kubernetes as host processes, built by `ci/k8s/`), `minikube`, `kind` and
//! `existing` (the current kubeconfig context, never created or deleted).

use std::path::PathBuf;

/// Which provider a cluster comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ProviderKind {
    /// Upstream Kubernetes started by kubegate as host processes.
    Local,
    /// `minikube start -p <profile>`.
    Minikube,
    /// `kind create cluster --name <name>`.
    Kind,
    /// Whatever the current kubeconfig context points at.
    Existing,
}

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
    ToolMissing { tool: String, hint: String },
    /// A command the provider ran failed.
    #[error("`{command}` failed with {status}\n--- stderr (tail) ---\n{stderr_tail}")]
    CommandFailed { command: String, status: String, stderr_tail: String },
    /// The cluster did not become ready; `blocker` says what blocked it.
    #[error("cluster not ready after {waited_secs}s: {blocker}")]
    NotReady { waited_secs: u64, blocker: String },
    /// The provider refuses (e.g. `existing` on a production-looking context).
    #[error("refusing: {0}")]
    Refused(String),
    /// Anything else, with the object or file it concerns.
    #[error("{context}")]
    Other {
        context: String,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl crate::exit::HasExitCode for ProviderError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            ProviderError::ToolMissing { .. } => crate::exit::ExitCode::BadInput,
            _ => crate::exit::ExitCode::Cluster,
        }
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
