//! LoadBalancer, live: the frontend Service gets an external address, the
//! chat page and the proxied API answer through it; a LoadBalancer Service
//! nobody provisions is diagnosed as such (never a bare timeout, never a
//! NodePort fallback).

use super::app::DeployedApp;
use super::context::LiveContext;
use super::http::{AppClient, short};
use super::{CheckFailure, CheckResult, Passed};
use crate::access::load_balancer::{LoadBalancerEndpoint, wait_for_endpoint};
use crate::provider::LoadBalancerSupport;
use crate::wait::WaitError;
use crate::wait::diagnose::{DeadEnd, DeadEndKind};
use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, PostParams};
use std::time::Duration;

/// How long the frontend may wait for its external address.
pub const ADDRESS_DEADLINE: Duration = Duration::from_secs(60);
/// Name of the Service the "never provisioned" check creates.
pub const UNSERVED_SERVICE: &str = "kubegate-lb-unserved";
/// A `loadBalancerClass` no controller serves.
pub const UNSERVED_CLASS: &str = "kubegate.io/nobody";
/// How long a Service nobody serves must stay without an address: the
/// provisioners kubegate knows give one in well under a second (MetalLB here:
/// 0.1 s), so 8 s is a wide margin, and the diagnosis itself comes from the
/// class and the provider, not from the clock.
pub const UNPROVISIONED_WINDOW: Duration = Duration::from_secs(8);

/// The dead end of a Service whose `loadBalancerClass` the cluster's
/// provider does not serve (MetalLB, `minikube tunnel` and
/// cloud-provider-kind serve Services without a class), if that is the case.
pub fn unserved_class(svc: &Service, support: LoadBalancerSupport) -> Option<DeadEnd> {
    let class = svc.spec.as_ref()?.load_balancer_class.clone()?;
    let name = svc.metadata.name.clone().unwrap_or_default();
    Some(DeadEnd {
        kind: DeadEndKind::NoLoadBalancerProvider,
        object: format!("Service/{name}"),
        container: None,
        reason: "LoadBalancerClassNotServed".into(),
        message: format!(
            "the Service asks for loadBalancerClass {class:?}; this cluster's LoadBalancer provider ({}) serves only Services without a class, so nothing will give it an address",
            support_name(support)
        ),
        hint: "drop spec.loadBalancerClass or run a controller for that class; kubegate does not fall back to NodePort"
            .into(),
        causes: Vec::new(),
    })
}

fn support_name(s: LoadBalancerSupport) -> &'static str {
    match s {
        LoadBalancerSupport::Metallb => "MetalLB",
        LoadBalancerSupport::MinikubeTunnel => "minikube tunnel",
        LoadBalancerSupport::CloudProviderKind => "cloud-provider-kind",
        LoadBalancerSupport::None => "none",
    }
}

/// Wait for Service `name`'s external address with diagnosis: a dead end
/// from the waiter, or, when the wait runs out on a Service with a class
/// nobody serves, that diagnosis.
pub async fn external_address(
    ctx: &LiveContext,
    app: &DeployedApp,
    name: &str,
    deadline: Duration,
) -> Result<LoadBalancerEndpoint, CheckFailure> {
    let waiter = app.waiter(ctx).deadline(deadline);
    match wait_for_endpoint(&waiter, &ctx.client, name, None).await {
        Ok((ep, _)) => Ok(ep),
        Err(e @ WaitError::Deadline { .. }) => {
            let svc = Api::<Service>::namespaced(ctx.client.clone(), &app.namespace).get_opt(name).await.ok().flatten();
            match svc.as_ref().and_then(|s| unserved_class(s, ctx.load_balancer())) {
                Some(d) => {
                    let mut f = CheckFailure::new(
                        app.path,
                        d.object.clone(),
                        format!("LoadBalancer address of Service {name}: dead end after {}s", deadline.as_secs()),
                    );
                    f.dead_end = Some(d);
                    Err(f)
                }
                None => Err(CheckFailure::from_wait(app.path, e)),
            }
        }
        Err(e) => Err(CheckFailure::from_wait(app.path, e)),
    }
}

/// The public component's Service gets an address within the deadline; `/`
/// serves the page and `[request] path` reaches the API through it.
pub async fn address_and_pages(ctx: &LiveContext, app: &DeployedApp) -> CheckResult {
    let service = ctx.service(ctx.public());
    let started = std::time::Instant::now();
    let ep = external_address(ctx, app, &service, ADDRESS_DEADLINE).await?;
    let got_after = started.elapsed();
    let client = AppClient::new(ep.base_url());
    let obj = format!("Service/{service}");
    let page = client.get_until("/", None, 200, Duration::from_secs(30)).await.map_err(|last| {
        CheckFailure::new(app.path, &obj, format!("GET {}/ never answered 200: {last}", ep.base_url()))
    })?;
    if !page.content_type.starts_with("text/html") {
        return Err(CheckFailure::new(
            app.path,
            &obj,
            format!("GET / answered {} instead of the chat page (text/html)", page.content_type),
        ));
    }
    let token = app.credential(&format!("kg-lb-{}-{}", app.run, app.path));
    let path = ctx.config.request.path.as_str();
    let tasks = match client.get_until(path, token.as_ref(), 200, Duration::from_secs(20)).await {
        Ok(a) => a,
        Err(last) => {
            let f = CheckFailure::new(
                app.path,
                &obj,
                format!("GET {path} through the LoadBalancer (public component's proxy -> API): {last}"),
            );
            return Err(super::proxy::explained(ctx, app, last.status, f).await);
        }
    };
    if !tasks.json().is_array() {
        return Err(CheckFailure::new(
            app.path,
            &obj,
            format!("GET {path} answered 200 but not a JSON list: {}", short(&tasks.body)),
        ));
    }
    let unauth = client.get(path, None).await.map_err(|e| CheckFailure::new(app.path, &obj, format!("{e}")))?;
    if token.is_some() && unauth.status != 401 {
        return Err(CheckFailure::new(
            app.path,
            &obj,
            format!("GET {path} without a credential answered {} (want 401)", unauth.status),
        ));
    }
    Ok(Passed::note(format!(
        "address {} after {:.1}s; / is the chat page; {path} proxied to the API",
        ep.base_url(),
        got_after.as_secs_f64()
    )))
}

/// The Service the unprovisioned check creates: like the frontend's, with a
/// `loadBalancerClass` nobody serves.
pub fn unserved_service() -> Service {
    serde_json::from_value(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": UNSERVED_SERVICE, "labels": {"app.kubernetes.io/managed-by": "kubegate"}},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": UNSERVED_CLASS,
            "selector": {"app.kubernetes.io/name": "todo-chatbot", "app.kubernetes.io/instance": "todo-chatbot", "app.kubernetes.io/component": "frontend"},
            "ports": [{"name": "http", "port": 80, "targetPort": "http"}]
        }
    }))
    .expect("static Service fixture")
}

/// Wait for `svc` (created in the app's namespace, removed afterwards) and
/// return the failure the wait ends with; `Ok(None)` if it got an address.
pub async fn wait_for_unprovisioned(
    ctx: &LiveContext,
    app: &DeployedApp,
    svc: &Service,
    deadline: Duration,
) -> Result<Option<CheckFailure>, CheckFailure> {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let api: Api<Service> = Api::namespaced(ctx.client.clone(), &app.namespace);
    let _ = api.delete(&name, &DeleteParams::default()).await;
    api.create(&PostParams::default(), svc)
        .await
        .map_err(|e| CheckFailure::new(app.path, format!("Service/{name}"), format!("cannot create: {e}")))?;
    let outcome = external_address(ctx, app, &name, deadline).await;
    let _ = api.delete(&name, &DeleteParams::default()).await;
    Ok(outcome.err())
}

/// A LoadBalancer Service nobody provisions ends its wait with the
/// NoLoadBalancerProvider diagnosis, not a bare timeout or a NodePort.
pub async fn unprovisioned_is_diagnosed(ctx: &LiveContext, app: &DeployedApp) -> CheckResult {
    let obj = format!("Service/{UNSERVED_SERVICE}");
    match wait_for_unprovisioned(ctx, app, &unserved_service(), UNPROVISIONED_WINDOW).await? {
        None => Err(CheckFailure::new(
            app.path,
            &obj,
            format!("got an address although nothing should serve loadBalancerClass {UNSERVED_CLASS}"),
        )),
        Some(f) if f.dead_end_kind() == Some(DeadEndKind::NoLoadBalancerProvider) => {
            Ok(Passed::note(format!("diagnosed: {}", f.dead_end.map(|d| d.reason).unwrap_or_default())))
        }
        Some(f) => Err(CheckFailure::new(
            app.path,
            &obj,
            format!("the wait did not diagnose the missing provider; it ended with: {f}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_class_nobody_serves_is_a_dead_end_and_no_class_is_not() {
        let svc = unserved_service();
        let d = unserved_class(&svc, LoadBalancerSupport::Metallb).expect("dead end");
        assert_eq!(d.kind, DeadEndKind::NoLoadBalancerProvider);
        assert!(d.message.contains(UNSERVED_CLASS) && d.message.contains("MetalLB"), "{}", d.message);
        let mut plain = svc.clone();
        plain.spec.as_mut().expect("spec").load_balancer_class = None;
        assert!(unserved_class(&plain, LoadBalancerSupport::Metallb).is_none());
    }
}
