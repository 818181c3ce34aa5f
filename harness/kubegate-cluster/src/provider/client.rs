//! A kube client for a cluster the providers made or found: its kubeconfig
//! and context, with rustls' crypto provider chosen first.

use super::{ClusterInfo, ProviderError};

/// Select ring as rustls' process-wide crypto provider, once. kube's TLS
/// needs one, and rustls cannot choose by itself because reqwest links
/// aws-lc-rs into the same binary. Call before building a kube client.
pub fn install_crypto_provider() {
    // An error only means a provider is installed already: fine.
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// `context` with the API error as its source.
pub fn api_error(context: String, e: impl std::error::Error + Send + Sync + 'static) -> ProviderError {
    ProviderError::Other { context, source: Box::new(e) }
}

/// A kube client for this cluster's kubeconfig and context.
pub async fn client_for(info: &ClusterInfo) -> Result<kube::Client, ProviderError> {
    install_crypto_provider();
    let where_ =
        format!("kubeconfig {} (context {})", info.kubeconfig.display(), info.context.as_deref().unwrap_or("current"));
    let kubeconfig =
        kube::config::Kubeconfig::read_from(&info.kubeconfig).map_err(|e| api_error(format!("reading {where_}"), e))?;
    let options = kube::config::KubeConfigOptions { context: info.context.clone(), ..Default::default() };
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| api_error(format!("loading {where_}"), e))?;
    kube::Client::try_from(config).map_err(|e| api_error(format!("client for {where_}"), e))
}
