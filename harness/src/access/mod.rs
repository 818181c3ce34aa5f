//! Reaching the deployed app from the host: an in-process port-forward to a
//! Service ([`port_forward`]), a LoadBalancer address ([`load_balancer`]),
//! and an HTTP client with retries and a deadline ([`http`]).

pub mod http;
pub mod load_balancer;
pub mod port_forward;

pub use http::{HttpClient, HttpError, HttpResponse, Request, RetryPolicy};
pub use load_balancer::LoadBalancerEndpoint;
pub use port_forward::{PortForward, PortForwardError};
