//! A 502/503/504 from the public component on an API path is its proxy hop
//! failing. Every check that calls the API through the public component (the
//! LoadBalancer, the contract's endpoints, the rolling upgrade) explains such
//! an answer here, in one way: the public container's proxy target (its URL
//! settings) against the Services of the namespace
//! ([`crate::wait::cause::proxy_target`]).

use super::CheckFailure;
use super::app::DeployedApp;
use super::context::LiveContext;
use crate::wait::cause::{ServiceView, SpecCause, format_causes, proxy_target};
use crate::wait::conditions::ready_endpoint_ips;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};

/// A status that is the public component saying its hop to the API failed.
pub fn is_gateway_error(status: u16) -> bool {
    (502..=504).contains(&status)
}

/// The likely causes in the public component's spec, read from the
/// namespace and redacted.
pub async fn proxy_causes(ctx: &LiveContext, app: &DeployedApp) -> Vec<SpecCause> {
    let public = ctx.public();
    let (deployment, container) = (ctx.deployment(public), ctx.container(public));
    let ns = app.namespace.as_str();
    let unreadable = |what: &str, e: &dyn std::fmt::Display| {
        vec![SpecCause {
            field: format!("Deployment/{deployment}"),
            value: "(unread)".into(),
            why: format!("cannot read {what} to name the proxy's target: {e}"),
        }]
    };
    let dep = match Api::<Deployment>::namespaced(ctx.client.clone(), ns).get(&deployment).await {
        Ok(d) => d,
        Err(e) => return unreadable(&format!("Deployment {deployment}"), &e),
    };
    let Some(c) =
        dep.spec.and_then(|s| s.template.spec).and_then(|s| s.containers.into_iter().find(|c| c.name == container))
    else {
        return unreadable(&format!("container {container}"), &"not in the pod template");
    };
    let lp = ListParams::default();
    let config_maps = Api::<ConfigMap>::namespaced(ctx.client.clone(), ns).list(&lp).await;
    let services = Api::<Service>::namespaced(ctx.client.clone(), ns).list(&lp).await;
    let slices = Api::<EndpointSlice>::namespaced(ctx.client.clone(), ns).list(&lp).await;
    let (config_maps, services) = match (config_maps, services) {
        (Ok(c), Ok(s)) => (c.items, s.items),
        (Err(e), _) | (_, Err(e)) => return unreadable("the namespace's ConfigMaps and Services", &e),
    };
    let slices = slices.map(|l| l.items).ok();
    let views: Vec<ServiceView> = services
        .iter()
        .map(|s| {
            let name = s.metadata.name.clone().unwrap_or_default();
            let ports = s.spec.iter().flat_map(|sp| sp.ports.iter().flatten()).map(|p| p.port).collect();
            let ready_endpoints = slices.as_ref().map(|all| {
                let own: Vec<EndpointSlice> = all
                    .iter()
                    .filter(|e| {
                        e.metadata.labels.as_ref().and_then(|l| l.get("kubernetes.io/service-name")) == Some(&name)
                    })
                    .cloned()
                    .collect();
                ready_endpoint_ips(&own).len()
            });
            ServiceView { name, ports, ready_endpoints }
        })
        .collect();
    let redactor = app.secrets.redactor();
    proxy_target(&format!("Deployment/{deployment} spec.template.spec"), &c, &config_maps, &views)
        .into_iter()
        .map(|c| SpecCause {
            value: redactor.redact_str(&c.value).into_owned(),
            why: redactor.redact_str(&c.why).into_owned(),
            field: c.field,
        })
        .collect()
}

/// The line a gateway status adds to a failure message: what it means and
/// the proxy's likely causes; `None` for any other status.
pub async fn explain(ctx: &LiveContext, app: &DeployedApp, status: Option<u16>) -> Option<String> {
    let s = status.filter(|s| is_gateway_error(*s))?;
    let causes = proxy_causes(ctx, app).await;
    Some(format!(
        "\n  {s} from {}: its proxy hop to the API failed{}",
        ctx.service(ctx.public()),
        format_causes(&causes)
    ))
}

/// `failure` with [`explain`]'s lines appended when `status` is a gateway error.
pub async fn explained(
    ctx: &LiveContext,
    app: &DeployedApp,
    status: Option<u16>,
    mut failure: CheckFailure,
) -> CheckFailure {
    if let Some(lines) = explain(ctx, app, status).await {
        failure.message.push_str(&lines);
    }
    failure
}
