//! A component's Service reached from the host through kubegate's
//! in-process port-forward ([`crate::access::PortForward`]), with an
//! [`AppClient`] on its local address.

use super::CheckFailure;
use super::app::DeployedApp;
use super::context::LiveContext;
use super::http::AppClient;
use crate::access::PortForward;
use std::time::Duration;

/// How long a tunnel may take to answer its first round trip.
pub const TUNNEL_DEADLINE: Duration = Duration::from_secs(60);

/// A port-forward to a component's Service and a client for it.
#[derive(Debug)]
pub struct Tunnel {
    forward: PortForward,
    client: AppClient,
    liveness_path: String,
}

impl Tunnel {
    /// Forward to `component`'s Service port; ready once its liveness path
    /// ([`LiveContext::liveness_path`]) answers 2xx.
    pub async fn to_service(ctx: &LiveContext, app: &DeployedApp, component: &str) -> Result<Self, CheckFailure> {
        let service = ctx.service(component);
        let live = ctx.liveness_path(component);
        let forward = PortForward::to_service(
            &ctx.client,
            &app.namespace,
            &service,
            ctx.service_port(component),
            live,
            TUNNEL_DEADLINE,
        )
        .await
        .map_err(|e| {
            CheckFailure::new(
                app.path,
                format!("Service/{service}"),
                format!("port-forward: {}", super::app::error_chain(&e)),
            )
        })?;
        let client = AppClient::new(forward.base_url());
        Ok(Tunnel { forward, client, liveness_path: live.to_owned() })
    }

    /// The liveness path of the component it reaches (what told it ready).
    pub fn liveness_path(&self) -> &str {
        &self.liveness_path
    }

    /// The client on the tunnel's local address.
    pub fn client(&self) -> &AppClient {
        &self.client
    }

    /// The pod the last connection went to.
    pub fn current_pod(&self) -> Option<String> {
        self.forward.current_pod()
    }
}
