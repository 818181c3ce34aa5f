//! Deploying the chatbot onto a live cluster, by either path of AD-2, each
//! into its own namespace labelled with the run id so both can run at once
//! and a sweeper can find what a killed run left behind.
//!
//! - [`run_id`]: the id of a run ([`RunId`]).
//! - [`namespace`]: the per-path namespace and its [`namespace::NamespaceGuard`].
//! - [`secret`]: the API equivalent of `kubectl create secret generic`.
//! - [`raw`]: server-side apply of `manifests/` (and a server-side dry run).
//! - [`helm`]: `helm upgrade --install`, upgrade, rollback, test, get, uninstall.

pub mod edit;
pub mod helm;
pub mod namespace;
pub mod raw;
pub mod run_id;
pub mod secret;

use crate::exit::{ExitCode, HasExitCode};
use std::path::{Path, PathBuf};

pub use namespace::NamespaceGuard;
pub use run_id::RunId;

/// Label every kubegate namespace carries: the run that made it.
pub const RUN_ID_LABEL: &str = "kubegate.io/run-id";
/// Label every kubegate namespace carries: `raw` or `helm`.
pub const PATH_LABEL: &str = "kubegate.io/path";
/// Field manager name for server-side apply.
pub const FIELD_MANAGER: &str = "kubegate";

/// Why deploying failed. Each variant carries the object or command at fault.
#[derive(Debug, thiserror::Error)]
pub enum DeployError {
    /// The kubeconfig could not be read or has no usable context.
    #[error("cannot build a Kubernetes client from kubeconfig {kubeconfig}")]
    Kubeconfig {
        /// The kubeconfig file.
        kubeconfig: PathBuf,
        /// Why it could not be used.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// A manifest file could not be read or parsed.
    #[error("cannot load manifest {file}: {reason}")]
    LoadManifest {
        /// The manifest file.
        file: PathBuf,
        /// What is wrong with it.
        reason: String,
    },
    /// The API server refused an object (apply, dry run, create, delete).
    #[error("{action} {kind}/{name} in namespace {namespace} failed")]
    Api {
        /// What was being done (`apply`, `delete`, ...).
        action: &'static str,
        /// The object's kind.
        kind: String,
        /// The object's name.
        name: String,
        /// The namespace.
        namespace: String,
        /// The API server's answer.
        // Boxed: kube::Error is large and every Result<_, DeployError> pays for it.
        #[source]
        source: Box<kube::Error>,
    },
    /// A kind in the manifests is not served by this cluster.
    #[error("the cluster does not serve {api_version} {kind} (used by {name})")]
    UnknownKind {
        /// The apiVersion not served.
        api_version: String,
        /// The kind not served.
        kind: String,
        /// The object that uses it.
        name: String,
        /// The API server's answer.
        #[source]
        source: Box<kube::Error>,
    },
    /// Secret values could not be gathered.
    #[error(transparent)]
    Secret(#[from] secret::LoadSecretError),
    /// `helm` is not installed.
    #[error("`helm` not found on PATH or in {cache}: run `bash ci/setup.sh` (part tools) or install Helm 3")]
    HelmMissing {
        /// kubegate's tool cache, also searched.
        cache: PathBuf,
    },
    /// A helm command failed.
    #[error(transparent)]
    Helm(#[from] helm::HelmCommandError),
}

impl HasExitCode for DeployError {
    fn exit_code(&self) -> ExitCode {
        match self {
            DeployError::LoadManifest { .. } | DeployError::HelmMissing { .. } | DeployError::Secret(_) => {
                ExitCode::BadInput
            }
            DeployError::Kubeconfig { .. } => ExitCode::Cluster,
            // A refused object or a failing `helm install` is the deployment's fault.
            DeployError::Api { .. } | DeployError::UnknownKind { .. } | DeployError::Helm(_) => ExitCode::Findings,
        }
    }
}

/// The client configuration for a kubeconfig file and context (no `kubectl`,
/// no global state: each run names its kubeconfig explicitly). Keep it: the
/// [`NamespaceGuard`] builds its own client from it in `Drop`.
pub async fn config_for(kubeconfig: &Path, context: Option<&str>) -> Result<kube::Config, DeployError> {
    let wrap = |e: Box<dyn std::error::Error + Send + Sync>| DeployError::Kubeconfig {
        kubeconfig: kubeconfig.to_owned(),
        source: e,
    };
    // rustls needs its process-wide crypto provider chosen before any client.
    crate::provider::client::install_crypto_provider();
    let kc = kube::config::Kubeconfig::read_from(kubeconfig).map_err(|e| wrap(Box::new(e)))?;
    let opts = kube::config::KubeConfigOptions { context: context.map(str::to_owned), ..Default::default() };
    kube::Config::from_custom_kubeconfig(kc, &opts).await.map_err(|e| wrap(Box::new(e)))
}

/// A client and the configuration it was built from.
pub async fn client_for(kubeconfig: &Path, context: Option<&str>) -> Result<(kube::Client, kube::Config), DeployError> {
    let cfg = config_for(kubeconfig, context).await?;
    let client = kube::Client::try_from(cfg.clone())
        .map_err(|e| DeployError::Kubeconfig { kubeconfig: kubeconfig.to_owned(), source: Box::new(e) })?;
    Ok((client, cfg))
}
