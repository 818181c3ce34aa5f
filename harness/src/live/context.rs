//! What one live run works with: the cluster, a client, `kubegate.toml`,
//! the secret values it deploys, and the `helm` CLI bound to the cluster.

use crate::config::Config;
use crate::contract::Contract;
use crate::deploy::helm::Helm;
use crate::deploy::secret::{LoadSecretError, SecretSet, SecretValues};
use crate::deploy::{DeployError, client_for};
use crate::provider::{ClusterInfo, LoadBalancerSupport};
use crate::redact::Redactor;
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

/// Environment variable with the `DATABASE_URL` pods use (as pods see it).
pub const DATABASE_URL_ENV: &str = "KUBEGATE_DATABASE_URL";

/// Why a live run could not start (nothing was judged yet).
#[derive(Debug, thiserror::Error)]
pub enum PrepareLiveError {
    /// No database URL: neither the env var nor the file ci/setup/postgres.sh writes.
    #[error("no database for the pods: set {DATABASE_URL_ENV}, or run `ci/setup.sh postgres` (it writes {file})")]
    NoDatabase {
        /// The file looked for.
        file: PathBuf,
    },
    /// The host database is on loopback and the cluster did not say how pods reach the host.
    #[error(
        "the database URL points at the host's loopback and the cluster reports no node IP to reach the host through; set {DATABASE_URL_ENV} to a URL pods can reach"
    )]
    NoNodeIp,
    /// A Secret key has no value, or the env file cannot be read.
    #[error(transparent)]
    Secrets(#[from] LoadSecretError),
    /// Client or helm could not be set up.
    #[error(transparent)]
    Deploy(#[from] DeployError),
}

impl crate::exit::HasExitCode for PrepareLiveError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            PrepareLiveError::Deploy(e) => e.exit_code(),
            _ => crate::exit::ExitCode::BadInput,
        }
    }
}

/// `$KUBEGATE_BIN`, else this process when it is the `kubegate` CLI.
fn default_kubegate_bin() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("KUBEGATE_BIN") {
        return Some(PathBuf::from(bin));
    }
    std::env::current_exe().ok().filter(|p| p.file_name().is_some_and(|n| n == "kubegate"))
}

/// The cluster and tools of one live run.
#[derive(Clone)]
pub struct LiveContext {
    /// The cluster.
    pub cluster: ClusterInfo,
    /// A client for it.
    pub client: kube::Client,
    /// The configuration the client came from (guards build their own client).
    pub kube_config: kube::Config,
    /// The deployment under test.
    pub config: Config,
    /// Secret values every deployment gets unless a variant says otherwise.
    pub secrets: SecretSet,
    /// `helm`, bound to the cluster, redacting the secret values.
    pub helm: Helm,
    /// The `kubegate` binary, Helm's post-renderer for variants ([`crate::deploy::edit`]).
    pub kubegate: Option<PathBuf>,
    /// The contract `config` names, read once ([`LiveContext::contract`]);
    /// copies of the context share it (give a context with another config a
    /// new one: `ContractCache::default()`).
    pub contract_cache: ContractCache,
    /// Turns to submit a deployment; copies of the context share them.
    pub deploy_turns: DeployTurns,
}

/// How many deployments of one run are submitted (rendered, applied or
/// installed) at a time: one per core, at least two. Everything else a
/// check does runs side by side; a stampede of a dozen `helm` renders and
/// installs at the start of `verify` made each take 6-7 s on 2 cores
/// instead of about 1 s. The turns are taken in the order deploys ask for
/// them (the semaphore is fair), so the longest checks, started first, get
/// their pods first, and their probe clocks start earlier.
#[derive(Clone)]
pub struct DeployTurns(Arc<tokio::sync::Semaphore>);

impl Default for DeployTurns {
    fn default() -> Self {
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
        DeployTurns(Arc::new(tokio::sync::Semaphore::new(cores.max(2))))
    }
}

impl DeployTurns {
    /// Wait for a turn; it ends when the permit is dropped.
    pub async fn take(&self) -> tokio::sync::SemaphorePermit<'_> {
        self.0.acquire().await.expect("deploy turns are never closed")
    }
}

impl std::fmt::Debug for DeployTurns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DeployTurns({} free)", self.0.available_permits())
    }
}

/// The contract of a live run, read on first use.
#[derive(Clone, Default)]
pub struct ContractCache(Arc<OnceLock<Result<Contract, String>>>);

impl std::fmt::Debug for ContractCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self.0.get() {
            None => "ContractCache(not read)",
            Some(Ok(_)) => "ContractCache(read)",
            Some(Err(_)) => "ContractCache(unreadable)",
        })
    }
}

/// No `kubegate` binary to run as Helm's post-renderer.
#[derive(Debug, thiserror::Error)]
#[error(
    "a Helm variant needs the kubegate binary as its post-renderer and none is known: set KUBEGATE_BIN to a built `kubegate` (cargo build -p kubegate --bin kubegate)"
)]
pub struct NoKubegateBinary;

impl std::fmt::Debug for LiveContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveContext").field("cluster", &self.cluster).field("secrets", &self.secrets).finish()
    }
}

impl LiveContext {
    /// Connect to `cluster` for the deployment `config` describes.
    pub async fn connect(cluster: ClusterInfo, config: Config, secrets: SecretSet) -> Result<Self, PrepareLiveError> {
        let (client, kube_config) = client_for(&cluster.kubeconfig, cluster.context.as_deref()).await?;
        let helm = Helm::new(Some(&cluster.kubeconfig), cluster.context.as_deref())?.with_redactor(secrets.redactor());
        Ok(LiveContext {
            cluster,
            client,
            kube_config,
            config,
            secrets,
            helm,
            kubegate: default_kubegate_bin(),
            contract_cache: ContractCache::default(),
            deploy_turns: DeployTurns::default(),
        })
    }

    /// Use `bin` as the `kubegate` binary (test harnesses, which are not it).
    pub fn with_kubegate(mut self, bin: PathBuf) -> Self {
        self.kubegate = Some(bin);
        self
    }

    /// The `kubegate` binary Helm runs as a variant's post-renderer.
    pub fn kubegate_bin(&self) -> Result<PathBuf, NoKubegateBinary> {
        self.kubegate.clone().ok_or(NoKubegateBinary)
    }

    /// Redacts the run's secret values (and any extra ones given).
    pub fn redactor(&self) -> Redactor {
        self.secrets.redactor()
    }

    /// The raw manifests directory.
    pub fn manifests_dir(&self) -> PathBuf {
        self.config.resolve(&self.config.manifests)
    }

    /// The chart directory.
    pub fn chart_dir(&self) -> PathBuf {
        self.config.resolve(&self.config.chart.path)
    }

    /// How LoadBalancer Services get addresses here.
    pub fn load_balancer(&self) -> LoadBalancerSupport {
        self.cluster.load_balancer
    }

    /// Deployment name of a component (`backend`, `frontend`).
    pub fn deployment(&self, component: &str) -> String {
        self.config
            .component(component)
            .map(|c| c.deployment.clone())
            .unwrap_or_else(|| format!("todo-chatbot-{component}"))
    }

    /// Service name of a component.
    pub fn service(&self, component: &str) -> String {
        self.config
            .component(component)
            .map(|c| c.service.clone())
            .unwrap_or_else(|| format!("todo-chatbot-{component}"))
    }

    /// Container name of a component.
    pub fn container(&self, component: &str) -> String {
        self.config.component(component).map(|c| c.container.clone()).unwrap_or_else(|| component.to_owned())
    }

    /// Service port of a component.
    pub fn service_port(&self, component: &str) -> u16 {
        self.config.component(component).and_then(|c| u16::try_from(c.service_port).ok()).unwrap_or(80)
    }

    /// The API component's name (the one holding the database;
    /// [`Config::api_component`]).
    pub fn api(&self) -> &str {
        self.config.api_component().map_or("", |c| c.name.as_str())
    }

    /// The public component's name (behind the LoadBalancer;
    /// [`Config::public_component`]).
    pub fn public(&self) -> &str {
        self.config.public_component().map_or("", |c| c.name.as_str())
    }

    /// The OpenAPI contract kubegate.toml names (`contract`), read once per
    /// run: the one place the live checks get it from. The error names the
    /// file (or says the config names none) and what is wrong.
    pub fn contract(&self) -> Result<&Contract, String> {
        self.contract_cache
            .0
            .get_or_init(|| {
                let file = self.config.contract_file().ok_or_else(|| {
                    "kubegate.toml names no contract (`contract = \"openapi.yaml\"`): no operation to call".to_owned()
                })?;
                Contract::load(&file).map_err(|e| {
                    let why = super::app::error_chain(&e);
                    let file = file.display().to_string();
                    if why.contains(&file) { why } else { format!("{file}: {why}") }
                })
            })
            .as_ref()
            .map_err(Clone::clone)
    }

    /// The liveness path of `component` ([`Config::liveness_path`]: its
    /// `liveness_path`, else the one default).
    pub fn liveness_path(&self, component: &str) -> &str {
        self.config.liveness_path(component)
    }

    /// The readiness path of `component` ([`Config::readiness_path`]).
    pub fn readiness_path(&self, component: &str) -> &str {
        self.config.readiness_path(component)
    }

    /// The name of `component` in the contract (`contract_service`, else its name).
    pub fn contract_service<'a>(&'a self, component: &'a str) -> &'a str {
        self.config.contract_service(component)
    }

    /// Component names, backend first.
    pub fn components(&self) -> Vec<String> {
        self.config.components.iter().map(|c| c.name.clone()).collect()
    }
}

/// The values of every Secret of `config` for a live run
/// ([`SecretSet::from_config`]): the database key gets the URL of the run's
/// PostgreSQL as pods see it; other keys come from `env_file` (the team's
/// `.env`) when given, else from the environment. The values are never
/// printed; [`SecretSet::redactor`] hides them.
pub fn live_secrets(
    config: &Config,
    node_ip: Option<IpAddr>,
    env_file: Option<&std::path::Path>,
) -> Result<SecretSet, PrepareLiveError> {
    let url = match std::env::var(DATABASE_URL_ENV) {
        Ok(u) if !u.is_empty() => u,
        _ => host_database_url(node_ip)?,
    };
    let given = match env_file {
        Some(file) => SecretValues::from_env_file(file)?,
        None => SecretValues::from_process_env(config.secrets.iter().flat_map(|s| s.keys.iter().map(String::as_str))),
    };
    Ok(SecretSet::from_config(config, &given, &url)?)
}

/// The URL `ci/setup/postgres.sh` wrote, with its loopback host replaced by
/// the node IP (how pods reach the host, AD-1).
fn host_database_url(node_ip: Option<IpAddr>) -> Result<String, PrepareLiveError> {
    let file = crate::dirs::cache_root().join("postgres/database_url");
    let url = std::fs::read_to_string(&file).map_err(|_| PrepareLiveError::NoDatabase { file: file.clone() })?;
    let url = url.trim().to_owned();
    if url.is_empty() {
        return Err(PrepareLiveError::NoDatabase { file });
    }
    for loopback in ["@127.0.0.1:", "@localhost:"] {
        if url.contains(loopback) {
            let ip = node_ip.ok_or(PrepareLiveError::NoNodeIp)?;
            let host = match ip {
                IpAddr::V4(v4) => v4.to_string(),
                IpAddr::V6(v6) => format!("[{v6}]"),
            };
            return Ok(url.replace(loopback, &format!("@{host}:")));
        }
    }
    Ok(url)
}

/// 48 hex characters from the OS RNG.
pub fn random_secret() -> String {
    use rand::Rng as _;
    let mut rng = rand::rng();
    (0..24).map(|_| format!("{:02x}", rng.random::<u8>())).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_secrets_differ_and_are_long() {
        let (a, b) = (random_secret(), random_secret());
        assert_ne!(a, b);
        assert_eq!(a.len(), 48);
    }
}
