//! Reaching a LoadBalancer Service from the host: the address from the
//! Service's status (ip or hostname) on the Service's own port. Never a
//! NodePort fallback: without an address the wait fails with a diagnosis.

use crate::wait::{WaitError, WaitReport, Waiter, conditions};
use k8s_openapi::api::core::v1::Service;

/// Where a LoadBalancer Service answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LoadBalancerEndpoint {
    /// IP or hostname from `status.loadBalancer.ingress`.
    pub address: String,
    /// The Service port.
    pub port: u16,
}

impl LoadBalancerEndpoint {
    /// `http://<address>:<port>` (IPv6 in brackets).
    pub fn base_url(&self) -> String {
        if self.address.contains(':') {
            format!("http://[{}]:{}", self.address, self.port)
        } else {
            format!("http://{}:{}", self.address, self.port)
        }
    }
}

/// The endpoint of `svc` for `port` (the first Service port when `None`),
/// if it has an address.
pub fn endpoint_of(svc: &Service, port: Option<u16>) -> Option<LoadBalancerEndpoint> {
    let address = conditions::load_balancer_address(svc)?;
    let ports = svc.spec.as_ref()?.ports.as_ref()?;
    let p = match port {
        Some(want) => ports.iter().find(|p| p.port == i32::from(want))?.port,
        None => ports.first()?.port,
    };
    Some(LoadBalancerEndpoint { address, port: u16::try_from(p).ok()? })
}

/// Wait (with diagnosis) until Service `name` has an address, and return
/// its endpoint on `port` (the first Service port when `None`).
pub async fn wait_for_endpoint(
    waiter: &Waiter,
    client: &kube::Client,
    name: &str,
    port: Option<u16>,
) -> Result<(LoadBalancerEndpoint, WaitReport), WaitError> {
    let (_addr, report) = waiter.service_load_balancer(name).await?;
    let api: kube::Api<Service> = kube::Api::namespaced(client.clone(), waiter.namespace());
    let what = format!("LoadBalancer endpoint of Service {name}");
    let svc = api.get(name).await.map_err(|source| WaitError::Api { what: what.clone(), source })?;
    let ep = endpoint_of(&svc, port).ok_or_else(|| WaitError::Missing {
        what,
        detail: format!("Service {name} has no port {}", port.map_or("at all".into(), |p| p.to_string())),
    })?;
    Ok((ep, report))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(ingress: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "todo-chatbot-frontend"},
            "spec": {"type": "LoadBalancer", "ports": [{"port": 80, "targetPort": "http"}]},
            "status": {"loadBalancer": {"ingress": ingress}}
        }))
        .expect("service")
    }

    #[test]
    fn ip_hostname_ipv6_and_pending() {
        let ep = endpoint_of(&svc(serde_json::json!([{"ip": "172.18.255.200"}])), None).expect("ip");
        assert_eq!(ep.base_url(), "http://172.18.255.200:80");
        let ep = endpoint_of(&svc(serde_json::json!([{"hostname": "lb.local"}])), Some(80)).expect("hostname");
        assert_eq!(ep.base_url(), "http://lb.local:80");
        let ep = endpoint_of(&svc(serde_json::json!([{"ip": "fd00::10"}])), None).expect("v6");
        assert_eq!(ep.base_url(), "http://[fd00::10]:80");
        assert_eq!(endpoint_of(&svc(serde_json::json!([])), None), None, "pending");
        assert_eq!(endpoint_of(&svc(serde_json::json!([{"ip": "1.2.3.4"}])), Some(443)), None, "no such port");
    }
}
