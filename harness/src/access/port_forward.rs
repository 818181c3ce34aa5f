//! In-process port-forward to a Service (no kubectl): Service -> a ready pod
//! its selector picks -> the Service port's targetPort (named ports resolved
//! through the pod's containerPorts) -> a local listener on 127.0.0.1 that
//! bridges each connection through the API server. Every new connection
//! re-resolves the pod, so the tunnel survives pod restarts and rollouts.
//! It counts as ready only after a full HTTP round trip.

use super::http::{HttpClient, RetryPolicy};
use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use kube::api::{Api, ListParams};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Why a port-forward could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum PortForwardError {
    /// Reading the Service failed or it does not exist.
    #[error("Service {service} in {namespace} not found")]
    NoService {
        /// The Service asked for.
        service: String,
        /// Its namespace.
        namespace: String,
        /// The API error, if the read failed (none: it does not exist).
        #[source]
        source: Option<kube::Error>,
    },
    /// The Service has no port of that number.
    #[error("Service {service} has no port {port} (ports: {available})")]
    NoPort {
        /// The Service.
        service: String,
        /// The port asked for.
        port: u16,
        /// The ports it has, comma-separated.
        available: String,
    },
    /// The Service has no selector (no pods to forward to).
    #[error("Service {service} has no selector: nothing to forward to")]
    NoSelector {
        /// The Service.
        service: String,
    },
    /// A named targetPort that the chosen pod does not declare.
    #[error("targetPort {name:?} of Service {service} is not a containerPort name of pod {pod}")]
    NamedPortMissing {
        /// The Service.
        service: String,
        /// The targetPort name.
        name: String,
        /// The pod chosen to forward to.
        pod: String,
    },
    /// The local listener could not be bound.
    #[error("cannot listen on 127.0.0.1")]
    Bind(#[source] std::io::Error),
    /// No full HTTP round trip before the deadline.
    #[error("port-forward to Service {service} not ready: {detail}")]
    NotReady {
        /// The Service.
        service: String,
        /// The last failure of the round trip.
        detail: String,
    },
}

/// The port number a Service port's targetPort means for `pod`.
pub fn resolve_target_port(svc: &Service, service_port: u16, pod: &Pod) -> Result<u16, PortForwardError> {
    let name = svc.metadata.name.clone().unwrap_or_default();
    let ports = svc.spec.as_ref().and_then(|s| s.ports.as_ref()).cloned().unwrap_or_default();
    let sp = ports.iter().find(|p| p.port == i32::from(service_port)).ok_or_else(|| PortForwardError::NoPort {
        service: name.clone(),
        port: service_port,
        available: ports.iter().map(|p| p.port.to_string()).collect::<Vec<_>>().join(", "),
    })?;
    match &sp.target_port {
        None => Ok(service_port),
        Some(IntOrString::Int(n)) => Ok(*n as u16),
        Some(IntOrString::String(pname)) => pod
            .spec
            .iter()
            .flat_map(|s| s.containers.iter())
            .flat_map(|c| c.ports.iter().flatten())
            .find(|p| p.name.as_deref() == Some(pname.as_str()))
            .map(|p| p.container_port as u16)
            .ok_or_else(|| PortForwardError::NamedPortMissing {
                service: name,
                name: pname.clone(),
                pod: pod.metadata.name.clone().unwrap_or_default(),
            }),
    }
}

/// A ready pod among `pods`, preferring `previous` while it stays ready.
pub fn pick_ready_pod<'a>(pods: &'a [Pod], previous: Option<&str>) -> Option<&'a Pod> {
    let ready: Vec<&Pod> = pods.iter().filter(|p| crate::wait::conditions::is_pod_ready(p)).collect();
    ready
        .iter()
        .find(|p| previous.is_some_and(|prev| p.metadata.name.as_deref() == Some(prev)))
        .or_else(|| ready.iter().min_by_key(|p| p.metadata.name.clone()))
        .copied()
}

/// The selector of a Service as a label selector string.
fn selector_of(svc: &Service) -> Option<String> {
    let sel = svc.spec.as_ref()?.selector.as_ref()?;
    (!sel.is_empty()).then(|| sel.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
}

#[derive(Default)]
struct Shared {
    pod: Option<String>,
    last_error: Option<String>,
    connections: u64,
}

/// A running port-forward; dropping it closes the listener.
pub struct PortForward {
    local: SocketAddr,
    service: String,
    shared: Arc<Mutex<Shared>>,
    task: tokio::task::JoinHandle<()>,
    /// How long until the first full HTTP round trip succeeded.
    pub ready_after: Duration,
}

impl std::fmt::Debug for PortForward {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PortForward").field("local", &self.local).field("service", &self.service).finish()
    }
}

impl Drop for PortForward {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl PortForward {
    /// Forward `127.0.0.1:<random>` to `service_port` of Service `service`,
    /// and return once `GET <ready_path>` through it answers 2xx (within
    /// `deadline`).
    pub async fn to_service(
        client: &kube::Client,
        namespace: &str,
        service: &str,
        service_port: u16,
        ready_path: &str,
        deadline: Duration,
    ) -> Result<Self, PortForwardError> {
        let started = Instant::now();
        let svcs: Api<Service> = Api::namespaced(client.clone(), namespace);
        let svc = svcs.get_opt(service).await.map_err(|e| PortForwardError::NoService {
            service: service.into(),
            namespace: namespace.into(),
            source: Some(e),
        })?;
        let svc = svc.ok_or_else(|| PortForwardError::NoService {
            service: service.into(),
            namespace: namespace.into(),
            source: None,
        })?;
        let selector = selector_of(&svc).ok_or_else(|| PortForwardError::NoSelector { service: service.into() })?;
        // Fail early on a port the Service does not have (pod-independent).
        let ports: Vec<i32> =
            svc.spec.as_ref().and_then(|s| s.ports.as_ref()).into_iter().flatten().map(|p| p.port).collect();
        if !ports.contains(&i32::from(service_port)) {
            return Err(PortForwardError::NoPort {
                service: service.into(),
                port: service_port,
                available: ports.iter().map(i32::to_string).collect::<Vec<_>>().join(", "),
            });
        }
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.map_err(PortForwardError::Bind)?;
        let local = listener.local_addr().map_err(PortForwardError::Bind)?;
        let shared = Arc::new(Mutex::new(Shared::default()));
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let task = {
            let shared = shared.clone();
            let svc = Arc::new(svc);
            tokio::spawn(async move {
                while let Ok((conn, _)) = listener.accept().await {
                    let (pods, svc, sel, shared) = (pods.clone(), svc.clone(), selector.clone(), shared.clone());
                    tokio::spawn(async move {
                        if let Err(e) = bridge(conn, &pods, &svc, &sel, service_port, &shared).await
                            && let Ok(mut s) = shared.lock()
                        {
                            s.last_error = Some(e);
                            s.pod = None; // re-resolve on the next connection
                        }
                    });
                }
            })
        };
        let mut pf = PortForward { local, service: service.to_owned(), shared, task, ready_after: Duration::ZERO };
        let http = HttpClient::new(RetryPolicy::with_deadline(deadline.saturating_sub(started.elapsed())))
            .map_err(|e| PortForwardError::NotReady { service: service.into(), detail: e.to_string() })?;
        let url = format!("{}{}", pf.base_url(), ready_path);
        if let Err(e) = http.get_ok(&url).await {
            let tunnel = pf.shared.lock().ok().and_then(|s| s.last_error.clone());
            let detail = match tunnel {
                Some(t) => format!("{e}; tunnel: {t}"),
                None => e.to_string(),
            };
            return Err(PortForwardError::NotReady { service: service.into(), detail });
        }
        pf.ready_after = started.elapsed();
        Ok(pf)
    }

    /// The local address (`127.0.0.1:<port>`).
    pub fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// `http://127.0.0.1:<port>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.local)
    }

    /// The pod the last connection went to.
    pub fn current_pod(&self) -> Option<String> {
        self.shared.lock().ok().and_then(|s| s.pod.clone())
    }

    /// Connections bridged so far.
    pub fn connections(&self) -> u64 {
        self.shared.lock().map(|s| s.connections).unwrap_or(0)
    }
}

/// Bridge one local connection to a ready pod; the error is a one-line reason.
async fn bridge(
    mut conn: tokio::net::TcpStream,
    pods: &Api<Pod>,
    svc: &Service,
    selector: &str,
    service_port: u16,
    shared: &Mutex<Shared>,
) -> Result<(), String> {
    let previous = shared.lock().ok().and_then(|s| s.pod.clone());
    let list = pods.list(&ListParams::default().labels(selector)).await.map_err(|e| format!("listing pods: {e}"))?;
    // Try the preferred pod first, then any other ready pod (a pod may die
    // between the list and the connect).
    let first = pick_ready_pod(&list.items, previous.as_deref());
    let candidates: Vec<&Pod> = first
        .into_iter()
        .chain(list.items.iter().filter(|p| {
            crate::wait::conditions::is_pod_ready(p) && first.is_none_or(|f| f.metadata.name != p.metadata.name)
        }))
        .collect();
    if candidates.is_empty() {
        let states: Vec<String> = list.items.iter().map(crate::wait::pod_line).collect();
        return Err(format!(
            "no ready pod for selector {selector} (pods: {})",
            if states.is_empty() { "none".into() } else { states.join("; ") }
        ));
    }
    let mut last = String::new();
    for pod in candidates {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let port = resolve_target_port(svc, service_port, pod).map_err(|e| e.to_string())?;
        match pods.portforward(&name, &[port]).await {
            Ok(mut pf) => {
                let Some(mut upstream) = pf.take_stream(port) else {
                    last = format!("pod {name}: no stream for port {port}");
                    continue;
                };
                if let Ok(mut s) = shared.lock() {
                    s.pod = Some(name.clone());
                    s.connections += 1;
                }
                let _ = tokio::io::copy_bidirectional(&mut conn, &mut upstream).await;
                drop(upstream);
                let _ = pf.join().await;
                return Ok(());
            }
            Err(e) => last = format!("pod {name} port {port}: {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(target: serde_json::Value) -> Service {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "todo-chatbot-frontend"},
            "spec": {"selector": {"app.kubernetes.io/component": "frontend"},
                     "ports": [{"name": "http", "port": 80, "targetPort": target}]}
        }))
        .expect("service")
    }
    fn pod(name: &str, ready: bool) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name},
            "spec": {"containers": [{"name": "frontend", "image": "x",
                     "ports": [{"name": "metrics", "containerPort": 9090}, {"name": "http", "containerPort": 3000}]}]},
            "status": {"conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .expect("pod")
    }

    #[test]
    fn named_target_port_resolves_through_container_ports() {
        assert_eq!(resolve_target_port(&svc("http".into()), 80, &pod("p", true)).expect("named"), 3000);
        assert_eq!(resolve_target_port(&svc(8080.into()), 80, &pod("p", true)).expect("number"), 8080);
        let e = resolve_target_port(&svc("web".into()), 80, &pod("p", true)).expect_err("unknown name");
        assert!(e.to_string().contains("\"web\"") && e.to_string().contains("pod p"), "{e}");
        let e = resolve_target_port(&svc("http".into()), 81, &pod("p", true)).expect_err("no such port");
        assert!(e.to_string().contains("no port 81 (ports: 80)"), "{e}");
    }

    #[test]
    fn picks_ready_pods_and_sticks_to_the_previous_one() {
        let pods = [pod("b", true), pod("a", false), pod("c", true)];
        assert_eq!(pick_ready_pod(&pods, None).and_then(|p| p.metadata.name.as_deref()), Some("b"));
        assert_eq!(pick_ready_pod(&pods, Some("c")).and_then(|p| p.metadata.name.as_deref()), Some("c"));
        assert_eq!(
            pick_ready_pod(&pods, Some("a")).and_then(|p| p.metadata.name.as_deref()),
            Some("b"),
            "a is not ready"
        );
        assert!(pick_ready_pod(&[pod("a", false)], None).is_none());
    }

    #[test]
    fn selector_string() {
        assert_eq!(selector_of(&svc("http".into())).as_deref(), Some("app.kubernetes.io/component=frontend"));
    }
}
