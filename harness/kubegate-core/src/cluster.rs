//! The `[cluster]` section of kubegate.toml: which provider, and how to
//! start it. Plain data; the providers themselves are in `kubegate-cluster`.

use std::path::PathBuf;

/// Which provider a cluster comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize, clap::ValueEnum)]
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

/// The `[cluster]` section of kubegate.toml: which provider and how to start it.
/// Every field has a default, so an empty section (or none) means "the local
/// provider, cluster named `kubegate`".
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ProviderConfig {
    /// Which provider to use (`local`, `minikube`, `kind`, `existing`).
    pub provider: ProviderKind,
    /// minikube profile / kind cluster name (`profile` is accepted too).
    #[serde(alias = "profile")]
    pub name: String,
    /// minikube `--driver` (docker, podman, kvm2, ...).
    pub driver: String,
    /// minikube `--cpus`.
    pub cpus: u32,
    /// minikube `--memory` (e.g. `4g`, `4096mb`).
    pub memory: String,
    /// minikube `--kubernetes-version`.
    pub kubernetes_version: String,
    /// kind `--config` file (relative to the working directory).
    pub kind_config: Option<PathBuf>,
    /// kind `--image` (a `kindest/node:vX.Y.Z` matching your kind release).
    pub node_image: Option<String>,
    /// `existing`: kubeconfig file (default: `$KUBECONFIG`, then `~/.kube/config`).
    pub kubeconfig: Option<PathBuf>,
    /// `existing`: context to use (default: the current context).
    pub context: Option<String>,
    /// `existing`: allow a context that looks like production
    /// (`--i-know-this-is-production`).
    pub allow_production: bool,
    /// Deadline for creating/starting the cluster, in seconds.
    pub start_timeout_secs: u64,
}

impl Default for ProviderConfig {
    fn default() -> Self {
        Self {
            provider: ProviderKind::Local,
            name: "kubegate".to_string(),
            driver: "docker".to_string(),
            cpus: 2,
            memory: "4g".to_string(),
            kubernetes_version: "v1.34.0".to_string(),
            kind_config: None,
            node_image: None,
            kubeconfig: None,
            context: None,
            allow_production: false,
            start_timeout_secs: 900,
        }
    }
}

impl std::fmt::Display for ProviderKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            ProviderKind::Local => "local",
            ProviderKind::Minikube => "minikube",
            ProviderKind::Kind => "kind",
            ProviderKind::Existing => "existing",
        })
    }
}
