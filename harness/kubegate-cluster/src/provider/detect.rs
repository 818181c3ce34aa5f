//! Which provider a cluster comes from and what provisions its LoadBalancer
//! Services, read from the cluster itself (node labels, provider IDs, the
//! `metallb-system` namespace, MetalLB's CRDs), the context name and the
//! helpers running on this host. Used by `existing` (what is underneath?),
//! `kind` (is MetalLB installed?), `ensure` (is the cluster still there?) and
//! reported by `kubegate cluster status` / `verify`.
//!
//! The decision ([`classify`]) is a pure function over [`ClusterFacts`] so it
//! is unit-tested without a cluster; [`gather`] collects the facts.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Namespace, Node};
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, ListParams};

use super::client::{api_error, client_for};
use super::{ClusterInfo, LoadBalancerSupport, ProviderError, ProviderKind};
use crate::process::host_process_running;
use crate::runtime::block_on;

/// Node label kubegate's `local` provider puts on its node (value `local`).
pub const LOCAL_PROVIDER_LABEL: &str = "kubegate.io/provider";
/// Label minikube puts on its nodes (value: the profile).
pub const MINIKUBE_NAME_LABEL: &str = "minikube.k8s.io/name";
/// Namespace of MetalLB's upstream manifests.
pub const METALLB_NAMESPACE: &str = "metallb-system";
/// MetalLB's address pool CRD.
pub const METALLB_POOL_CRD: &str = "ipaddresspools.metallb.io";
/// How long one API call of [`gather`] / [`check_ready`] may take.
pub const API_TIMEOUT: Duration = Duration::from_secs(15);

/// Where a provider gets [`ClusterFacts`] ([`gather`], or a fake in tests).
pub type FactsSource = Box<dyn Fn(&ClusterInfo) -> Result<ClusterFacts, ProviderError> + Send + Sync>;
/// A readiness check ([`check_ready`], or a fake in tests).
pub type ReadyCheck = Box<dyn Fn(&ClusterInfo) -> Result<(), String> + Send + Sync>;

/// One node, as detection needs it.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct NodeFacts {
    /// `metadata.name`.
    pub name: String,
    /// `metadata.labels`.
    pub labels: BTreeMap<String, String>,
    /// `spec.providerID` (`kind://docker/<cluster>/<node>` on kind).
    pub provider_id: Option<String>,
}

/// What detection looks at.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct ClusterFacts {
    /// kubeconfig context name.
    pub context: Option<String>,
    /// Every node.
    pub nodes: Vec<NodeFacts>,
    /// The `metallb-system` namespace exists.
    pub metallb_namespace: bool,
    /// MetalLB's `ipaddresspools.metallb.io` CRD exists.
    pub metallb_crds: bool,
    /// A `cloud-provider-kind` process runs on this host.
    pub cloud_provider_kind_running: bool,
    /// A `minikube tunnel` process runs on this host.
    pub minikube_tunnel_running: bool,
}

/// The verdict, with the evidence behind it (shown to the user).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Detection {
    /// The provider underneath, if recognised.
    pub provider: Option<ProviderKind>,
    /// kind cluster name / minikube profile, when recognised.
    pub cluster_name: Option<String>,
    /// What provisions LoadBalancer Services.
    pub load_balancer: LoadBalancerSupport,
    /// One line per fact that led here.
    pub evidence: Vec<String>,
}

impl std::fmt::Display for Detection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let provider = self.provider.map(|p| p.to_string()).unwrap_or_else(|| "unrecognised".into());
        let lb = match self.load_balancer {
            LoadBalancerSupport::Metallb => "MetalLB",
            LoadBalancerSupport::MinikubeTunnel => "minikube tunnel",
            LoadBalancerSupport::CloudProviderKind => "cloud-provider-kind",
            LoadBalancerSupport::None => "none (LoadBalancer Services will stay Pending)",
        };
        write!(f, "provider: {provider}; LoadBalancer: {lb}")?;
        for e in &self.evidence {
            write!(f, "\n  - {e}")?;
        }
        Ok(())
    }
}

/// Decide provider and LoadBalancer support from the facts.
pub fn classify(facts: &ClusterFacts) -> Detection {
    let mut evidence = Vec::new();
    let mut provider = None;
    let mut cluster_name = None;

    if let Some(node) = facts.nodes.iter().find(|n| n.labels.get(LOCAL_PROVIDER_LABEL).is_some_and(|v| v == "local")) {
        evidence.push(format!("node {} has label {LOCAL_PROVIDER_LABEL}=local", node.name));
        provider = Some(ProviderKind::Local);
    } else if let Some((node, profile)) =
        facts.nodes.iter().find_map(|n| n.labels.get(MINIKUBE_NAME_LABEL).map(|p| (n, p)))
    {
        evidence.push(format!("node {} has label {MINIKUBE_NAME_LABEL}={profile}", node.name));
        provider = Some(ProviderKind::Minikube);
        cluster_name = Some(profile.clone());
    } else if let Some((node, name)) = facts.nodes.iter().find_map(|n| {
        let id = n.provider_id.as_deref()?.strip_prefix("kind://")?;
        // kind://<engine>/<cluster>/<node>
        Some((n, id.split('/').nth(1)?.to_string()))
    }) {
        evidence.push(format!("node {} has providerID {}", node.name, node.provider_id.as_deref().unwrap_or("")));
        provider = Some(ProviderKind::Kind);
        cluster_name = Some(name);
    } else if let Some(name) = facts.context.as_deref().and_then(|c| c.strip_prefix("kind-"))
        && facts.nodes.iter().any(|n| n.name == format!("{name}-control-plane"))
    {
        evidence.push(format!("context kind-{name} and node {name}-control-plane"));
        provider = Some(ProviderKind::Kind);
        cluster_name = Some(name.to_string());
    } else {
        evidence.push(format!(
            "no node label ({LOCAL_PROVIDER_LABEL}, {MINIKUBE_NAME_LABEL}) or kind providerID on {} node(s); context {}",
            facts.nodes.len(),
            facts.context.as_deref().unwrap_or("(none)")
        ));
    }

    let load_balancer = if facts.metallb_crds || facts.metallb_namespace {
        evidence.push(format!(
            "MetalLB installed ({})",
            match (facts.metallb_namespace, facts.metallb_crds) {
                (true, true) => format!("namespace {METALLB_NAMESPACE} and CRD {METALLB_POOL_CRD}"),
                (true, false) => format!("namespace {METALLB_NAMESPACE}; CRD {METALLB_POOL_CRD} missing"),
                _ => format!("CRD {METALLB_POOL_CRD}"),
            }
        ));
        LoadBalancerSupport::Metallb
    } else if provider == Some(ProviderKind::Minikube) && facts.minikube_tunnel_running {
        evidence.push("a `minikube tunnel` process runs on this host".into());
        LoadBalancerSupport::MinikubeTunnel
    } else if provider == Some(ProviderKind::Kind) && facts.cloud_provider_kind_running {
        evidence.push("a `cloud-provider-kind` process runs on this host".into());
        LoadBalancerSupport::CloudProviderKind
    } else {
        evidence.push(match provider {
            Some(ProviderKind::Minikube) => "no MetalLB and no `minikube tunnel` running".to_string(),
            Some(ProviderKind::Kind) => "no MetalLB and no `cloud-provider-kind` running".to_string(),
            _ => format!("no MetalLB (namespace {METALLB_NAMESPACE} / CRD {METALLB_POOL_CRD})"),
        });
        LoadBalancerSupport::None
    };
    Detection { provider, cluster_name, load_balancer, evidence }
}

async fn with_timeout<T, E>(what: &str, fut: impl Future<Output = Result<T, E>>) -> Result<T, ProviderError>
where
    E: std::error::Error + Send + Sync + 'static,
{
    match tokio::time::timeout(API_TIMEOUT, fut).await {
        Ok(result) => result.map_err(|e| api_error(what.to_string(), e)),
        Err(_) => Err(ProviderError::NotReady {
            waited_secs: API_TIMEOUT.as_secs(),
            blocker: format!("{what}: the API server did not answer"),
        }),
    }
}

/// Collect [`ClusterFacts`] from the cluster and this host.
pub fn gather(info: &ClusterInfo) -> Result<ClusterFacts, ProviderError> {
    let mut facts = block_on(async {
        let client = client_for(info).await?;
        let nodes =
            with_timeout("listing nodes", Api::<Node>::all(client.clone()).list(&ListParams::default())).await?;
        let metallb_namespace = with_timeout(
            "reading namespace metallb-system",
            Api::<Namespace>::all(client.clone()).get_opt(METALLB_NAMESPACE),
        )
        .await?
        .is_some();
        // Reading CRDs may be forbidden for a restricted user: then only the namespace counts.
        let metallb_crds =
            with_timeout("reading MetalLB CRD", Api::<CustomResourceDefinition>::all(client).get_opt(METALLB_POOL_CRD))
                .await
                .map(|c| c.is_some())
                .unwrap_or(false);
        Ok::<_, ProviderError>(ClusterFacts {
            context: info.context.clone(),
            nodes: nodes
                .items
                .into_iter()
                .map(|n| NodeFacts {
                    name: n.metadata.name.unwrap_or_default(),
                    labels: n.metadata.labels.unwrap_or_default(),
                    provider_id: n.spec.and_then(|s| s.provider_id),
                })
                .collect(),
            metallb_namespace,
            metallb_crds,
            ..Default::default()
        })
    })?;
    facts.cloud_provider_kind_running = host_process_running("cloud-provider-kind", None).is_some();
    facts.minikube_tunnel_running = host_process_running("minikube", Some("tunnel")).is_some();
    Ok(facts)
}

/// Gather and classify.
pub fn detect(info: &ClusterInfo) -> Result<Detection, ProviderError> {
    gather(info).map(|facts| classify(&facts))
}

/// `Ok` when the API server answers and at least one node is Ready;
/// otherwise what is wrong (used by `ensure` to spot a stale cluster).
pub fn check_ready(info: &ClusterInfo) -> Result<(), String> {
    block_on(async {
        let client = client_for(info).await.map_err(|e| e.to_string())?;
        let nodes = with_timeout("listing nodes", Api::<Node>::all(client).list(&ListParams::default()))
            .await
            .map_err(|e| format!("{e}: {}", error_chain(&e)))?;
        let ready = |n: &Node| {
            n.status
                .as_ref()
                .and_then(|s| s.conditions.as_ref())
                .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
        };
        if nodes.items.iter().any(ready) {
            Ok(())
        } else {
            Err(format!("API server answers but none of its {} node(s) is Ready", nodes.items.len()))
        }
    })
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut parts = Vec::new();
    let mut cur = e.source();
    while let Some(s) = cur {
        parts.push(s.to_string());
        cur = s.source();
    }
    parts.join(": ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(name: &str, labels: &[(&str, &str)], provider_id: Option<&str>) -> NodeFacts {
        NodeFacts {
            name: name.into(),
            labels: labels.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            provider_id: provider_id.map(Into::into),
        }
    }

    #[test]
    fn minikube_by_label_with_and_without_tunnel() {
        let mut facts = ClusterFacts {
            context: Some("kubegate".into()),
            nodes: vec![node(
                "kubegate",
                &[("minikube.k8s.io/name", "kubegate"), ("minikube.k8s.io/version", "v1.37.0")],
                None,
            )],
            ..Default::default()
        };
        let d = classify(&facts);
        assert_eq!(d.provider, Some(ProviderKind::Minikube));
        assert_eq!(d.cluster_name.as_deref(), Some("kubegate"));
        assert_eq!(d.load_balancer, LoadBalancerSupport::None);
        assert!(d.to_string().contains("no `minikube tunnel` running"), "{d}");
        facts.minikube_tunnel_running = true;
        assert_eq!(classify(&facts).load_balancer, LoadBalancerSupport::MinikubeTunnel);
    }

    #[test]
    fn kind_by_provider_id_or_context_and_node_name() {
        let by_id = ClusterFacts {
            context: Some("ci".into()),
            nodes: vec![node("x-control-plane", &[], Some("kind://docker/x/x-control-plane"))],
            cloud_provider_kind_running: true,
            ..Default::default()
        };
        let d = classify(&by_id);
        assert_eq!((d.provider, d.cluster_name.as_deref()), (Some(ProviderKind::Kind), Some("x")));
        assert_eq!(d.load_balancer, LoadBalancerSupport::CloudProviderKind);

        let by_context = ClusterFacts {
            context: Some("kind-kubegate".into()),
            nodes: vec![node("kubegate-control-plane", &[], None)],
            metallb_namespace: true,
            metallb_crds: true,
            cloud_provider_kind_running: true,
            ..Default::default()
        };
        let d = classify(&by_context);
        assert_eq!(d.provider, Some(ProviderKind::Kind));
        assert_eq!(d.load_balancer, LoadBalancerSupport::Metallb, "an installed MetalLB wins");
    }

    #[test]
    fn local_by_kubegate_label_and_unknown_otherwise() {
        let local = ClusterFacts {
            nodes: vec![node("host", &[(LOCAL_PROVIDER_LABEL, "local")], None)],
            metallb_namespace: true,
            ..Default::default()
        };
        let d = classify(&local);
        assert_eq!(d.provider, Some(ProviderKind::Local));
        assert_eq!(d.load_balancer, LoadBalancerSupport::Metallb);
        assert!(d.to_string().contains("CRD ipaddresspools.metallb.io missing"), "{d}");

        let unknown = ClusterFacts {
            context: Some("gke_proj_zone_c".into()),
            nodes: vec![node("gke-node-1", &[("cloud.google.com/gke-nodepool", "p")], Some("gce://p/z/n"))],
            cloud_provider_kind_running: true,
            ..Default::default()
        };
        let d = classify(&unknown);
        assert_eq!(d.provider, None);
        assert_eq!(d.load_balancer, LoadBalancerSupport::None, "cloud-provider-kind only counts for kind");
    }
}
