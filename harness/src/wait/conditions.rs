//! Predicates a wait checks: small functions over `Option<&K>` (one object)
//! or `&[K]` (a set), combined with kube-runtime's `.and()`, `.or()`,
//! `.not()`. None of them sets a timeout or talks to a cluster.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::wait::Condition;
use std::collections::BTreeSet;

/// The Deployment's current generation is fully rolled out: the controller
/// observed it, and updated, ready and available replicas all equal the
/// desired count with no old replicas left (what `kubectl rollout status`
/// checks). A missing Deployment is not rolled out.
pub fn deployment_rolled_out() -> impl Condition<Deployment> + Clone {
    |obj: Option<&Deployment>| {
        let Some(d) = obj else { return false };
        let (Some(spec), Some(status)) = (&d.spec, &d.status) else { return false };
        let desired = spec.replicas.unwrap_or(1);
        let observed = status.observed_generation.unwrap_or(0) >= d.metadata.generation.unwrap_or(1);
        observed
            && status.updated_replicas.unwrap_or(0) == desired
            && status.replicas.unwrap_or(0) == desired
            && status.ready_replicas.unwrap_or(0) == desired
            && status.available_replicas.unwrap_or(0) == desired
    }
}

/// The pod's `Ready` condition is `True`.
pub fn pod_ready() -> impl Condition<Pod> + Clone {
    |obj: Option<&Pod>| obj.is_some_and(is_pod_ready)
}

/// True when the pod's `Ready` condition is `True` and it is not being deleted.
pub fn is_pod_ready(p: &Pod) -> bool {
    p.metadata.deletion_timestamp.is_none()
        && p.status
            .as_ref()
            .and_then(|s| s.conditions.as_ref())
            .is_some_and(|cs| cs.iter().any(|c| c.type_ == "Ready" && c.status == "True"))
}

/// The time the kubelet set the pod's `Ready` condition to `True`.
pub fn pod_ready_since(p: &Pod) -> Option<k8s_openapi::jiff::Timestamp> {
    p.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready" && c.status == "True")?
        .last_transition_time
        .as_ref()
        .map(|t| t.0)
}

/// At least `n` pods of the set are Ready (and not being deleted).
pub fn at_least_ready(n: usize) -> impl Fn(&[Pod]) -> bool + Clone {
    move |pods: &[Pod]| pods.iter().filter(|p| is_pod_ready(p)).count() >= n
}

/// Every pod of a non-empty set is Ready.
pub fn all_ready(pods: &[Pod]) -> bool {
    !pods.is_empty() && pods.iter().all(is_pod_ready)
}

/// No pod of the set is Ready (e.g. after the database stopped).
pub fn none_ready(pods: &[Pod]) -> bool {
    !pods.is_empty() && !pods.iter().any(is_pod_ready)
}

/// Total container restarts across the set.
pub fn restart_count(pods: &[Pod]) -> i32 {
    pods.iter().filter_map(|p| p.status.as_ref()?.container_statuses.as_ref()).flatten().map(|c| c.restart_count).sum()
}

/// The LoadBalancer address (ip or hostname) of a Service, if provisioned.
pub fn load_balancer_address(svc: &Service) -> Option<String> {
    let ingress = svc.status.as_ref()?.load_balancer.as_ref()?.ingress.as_ref()?;
    ingress
        .iter()
        .find_map(|i| i.ip.clone().filter(|s| !s.is_empty()).or_else(|| i.hostname.clone().filter(|s| !s.is_empty())))
}

/// The Service has a LoadBalancer ingress address.
pub fn has_load_balancer_ingress() -> impl Condition<Service> + Clone {
    |obj: Option<&Service>| obj.and_then(load_balancer_address).is_some()
}

/// The namespace no longer exists.
pub fn namespace_gone() -> impl Condition<Namespace> + Clone {
    |obj: Option<&Namespace>| obj.is_none()
}

/// Addresses of ready endpoints across a Service's EndpointSlices.
pub fn ready_endpoint_ips(slices: &[EndpointSlice]) -> BTreeSet<String> {
    slices
        .iter()
        .flat_map(|s| s.endpoints.iter())
        .filter(|e| e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true))
        .flat_map(|e| e.addresses.iter().cloned())
        .collect()
}

/// The EndpointSlices list every IP of `ips` as a ready endpoint.
pub fn endpoints_contain(ips: BTreeSet<String>) -> impl Fn(&[EndpointSlice]) -> bool + Clone {
    move |slices: &[EndpointSlice]| {
        let ready = ready_endpoint_ips(slices);
        ips.iter().all(|ip| ready.contains(ip))
    }
}

/// The EndpointSlices list none of `ips` as a ready endpoint.
pub fn endpoints_exclude(ips: BTreeSet<String>) -> impl Fn(&[EndpointSlice]) -> bool + Clone {
    move |slices: &[EndpointSlice]| {
        let ready = ready_endpoint_ips(slices);
        !ips.iter().any(|ip| ready.contains(ip))
    }
}

/// Pod IPs of a set of pods.
pub fn pod_ips(pods: &[Pod]) -> BTreeSet<String> {
    pods.iter().filter_map(|p| p.status.as_ref()?.pod_ip.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::testdata::fixture;

    #[test]
    fn deployment_rollout_ok_pending_missing() {
        let ok: Deployment = fixture("deployment-rolled-out.yaml");
        let pending: Deployment = fixture("deployment-rolling.yaml");
        let stale: Deployment = fixture("deployment-unobserved.yaml");
        let c = deployment_rolled_out();
        assert!(c.matches_object(Some(&ok)));
        assert!(!c.matches_object(Some(&pending)), "an old replica is still there");
        assert!(!c.matches_object(Some(&stale)), "new generation not yet observed");
        assert!(!c.matches_object(None));
    }

    #[test]
    fn pod_ready_and_since() {
        let ready: Pod = fixture("pod-ready.yaml");
        let pending: Pod = fixture("pod-image-never-pull.yaml");
        assert!(pod_ready().matches_object(Some(&ready)));
        assert!(!pod_ready().matches_object(Some(&pending)));
        assert!(!pod_ready().matches_object(None));
        assert_eq!(pod_ready_since(&ready).map(|t| t.to_string()).as_deref(), Some("2026-11-22T00:00:12Z"));
        assert!(at_least_ready(1)(&[ready.clone(), pending.clone()]));
        assert!(!at_least_ready(2)(&[ready.clone(), pending.clone()]));
        assert!(!all_ready(&[]));
        assert!(none_ready(std::slice::from_ref(&pending)));
        assert_eq!(restart_count(&[ready, pending]), 1);
    }

    #[test]
    fn load_balancer_ip_hostname_pending() {
        let ip: Service = fixture("service-lb-ip.yaml");
        let pending: Service = fixture("service-lb-pending.yaml");
        assert_eq!(load_balancer_address(&ip).as_deref(), Some("172.18.255.200"));
        assert!(has_load_balancer_ingress().matches_object(Some(&ip)));
        assert!(!has_load_balancer_ingress().matches_object(Some(&pending)));
        assert!(!has_load_balancer_ingress().matches_object(None));
        let mut host = pending.clone();
        host.status =
            serde_json::from_value(serde_json::json!({"loadBalancer": {"ingress": [{"hostname": "lb.example"}]}}))
                .expect("status");
        assert_eq!(load_balancer_address(&host).as_deref(), Some("lb.example"));
    }

    #[test]
    fn endpoint_slices_contain_and_exclude() {
        let s: EndpointSlice = fixture("endpointslice.yaml");
        let slices = [s];
        let ip = |s: &str| BTreeSet::from([s.to_owned()]);
        assert_eq!(ready_endpoint_ips(&slices), BTreeSet::from(["10.244.0.5".to_owned()]));
        assert!(endpoints_contain(ip("10.244.0.5"))(&slices));
        assert!(!endpoints_contain(ip("10.244.0.6"))(&slices), "not ready");
        assert!(endpoints_exclude(ip("10.244.0.6"))(&slices));
        assert!(!endpoints_exclude(ip("10.244.0.5"))(&slices));
    }

    #[test]
    fn namespace_gone_only_when_absent() {
        let ns: Namespace = serde_json::from_value(serde_json::json!({"metadata": {"name": "x"}})).expect("ns");
        assert!(namespace_gone().matches_object(None));
        assert!(!namespace_gone().matches_object(Some(&ns)));
        // Combinators from kube-runtime work on these predicates.
        assert!(namespace_gone().not().matches_object(Some(&ns)));
    }
}
