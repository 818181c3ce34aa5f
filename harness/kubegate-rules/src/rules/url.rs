//! KG-URL: addresses in settings (env literals of every container, ConfigMap data) reach the deployment's own
//! Services: a URL whose in-cluster host or port is no Service of the same path fails at the first request, and a
//! hard-coded node or cluster IP (a minikube address) breaks on the next cluster.

use std::net::Ipv4Addr;

use super::{Check, Rule, RuleContext, RuleId, Sink, containers};
use kubegate_core::finding::Severity;
use kubegate_core::model::{Object, join_key};

pub(super) const RULES: &[Rule] = &[URL_REACHES_SERVICE, NO_HARD_CODED_IP];

const URL_REACHES_SERVICE: Rule = Rule {
    id: RuleId::Url001,
    severity: Severity::High,
    title: "in-cluster URLs in settings name a Service and port of the deployment",
    rationale: "A BACKEND_URL whose host is no Service (or whose port the Service does not expose) fails only at the first request, after every probe passed.",
    fix: "Use http://<Service name>:<Service port> of a Service the same manifests or chart create.",
    check: Check::Model(url_reaches_service),
};

const NO_HARD_CODED_IP: Rule = Rule {
    id: RuleId::Url002,
    severity: Severity::High,
    title: "no hard-coded node or cluster IP in settings",
    rationale: "A node IP (minikube's 192.168.49.2) or a ClusterIP changes with every cluster; the Service's DNS name does not.",
    fix: "Use the Service's DNS name (http://<service>:<port>), or a relative path for browser-side URLs.",
    check: Check::Model(no_hard_coded_ip),
};

/// One setting of the model: a literal env value of a container, or a ConfigMap data entry.
struct Setting<'a> {
    obj: &'a Object,
    field: String,
    key: &'a str,
    value: &'a str,
}

fn settings<'a>(ctx: &'a RuleContext<'_>) -> Vec<Setting<'a>> {
    let mut out = Vec::new();
    for cv in containers(ctx.model) {
        for (i, e) in cv.c.env.as_deref().unwrap_or(&[]).iter().enumerate() {
            if let Some(value) = e.value.as_deref() {
                out.push(Setting { obj: cv.obj, field: cv.at(&format!("env[{i}].value")), key: &e.name, value });
            }
        }
    }
    for (obj, cm) in ctx.model.config_maps() {
        for (key, value) in cm.data.iter().flatten() {
            out.push(Setting { obj, field: join_key("data", key), key, value });
        }
    }
    out
}

/// A URL's scheme, host and explicit port.
#[derive(Debug, PartialEq)]
pub struct Url<'a> {
    /// `http`, `https`, `postgres`, ...
    pub scheme: &'a str,
    /// The host as written.
    pub host: &'a str,
    /// The port, when the URL names one.
    pub port: Option<i32>,
}

/// Every `scheme://host[:port]` in a value (a list of origins holds several).
pub fn urls(value: &str) -> Vec<Url<'_>> {
    let mut out = Vec::new();
    for word in value.split(|c: char| c.is_whitespace() || c == ',' || c == ';' || c == '"' || c == '\'') {
        let Some((scheme, rest)) = word.split_once("://") else { continue };
        let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
        let host_port = authority.rsplit_once('@').map(|(_, h)| h).unwrap_or(authority);
        let (host, port) = match host_port.rsplit_once(':') {
            Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => (h, p.parse().ok()),
            _ => (host_port, None),
        };
        out.push(Url { scheme, host, port });
    }
    out
}

/// The Service a host names inside the cluster (`api`, `api.ns`, `api.ns.svc`, `api.ns.svc.cluster.local`);
/// `None` for external names, localhost and IPs.
pub fn in_cluster_service(host: &str) -> Option<&str> {
    if host.is_empty() || host == "localhost" || host.parse::<Ipv4Addr>().is_ok() || host.starts_with('[') {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let in_cluster = match labels.len() {
        1 => true,
        3 => labels[2] == "svc",
        _ => host.ends_with(".svc.cluster.local"),
    };
    // A two-label name (`api.ns`) is also in-cluster by DNS, but equally a public host (`example.com`): only the
    // plain and the `.svc` forms are judged.
    in_cluster.then_some(labels[0])
}

fn url_reaches_service(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let services: Vec<(&str, Vec<i32>)> = ctx
        .model
        .services()
        .map(|(o, s)| {
            let ports = s.spec.iter().flat_map(|sp| sp.ports.iter().flatten()).map(|p| p.port).collect();
            (o.name.as_str(), ports)
        })
        .collect();
    for s in settings(ctx) {
        for url in urls(s.value) {
            let Some(name) = in_cluster_service(url.host) else { continue };
            let problem = match services.iter().find(|(n, _)| *n == name) {
                None => {
                    let names: Vec<&str> = services.iter().map(|(n, _)| *n).collect();
                    format!(
                        "no Service `{name}` on this path (Services: {})",
                        if names.is_empty() { "none".into() } else { names.join(", ") }
                    )
                }
                Some((_, ports)) => match url.port {
                    Some(p) if !ports.contains(&p) => {
                        let list: Vec<String> = ports.iter().map(ToString::to_string).collect();
                        format!("Service `{name}` exposes port(s) {}, not {p}", list.join(", "))
                    }
                    _ => continue,
                },
            };
            sink.report(
                s.obj,
                s.field.clone(),
                format!("`{}` points at {}://{}: {problem}", s.key, url.scheme, url.host),
                None,
            );
        }
    }
}

/// An IPv4 address of a private network (where node and cluster IPs live), not loopback or the wildcard.
fn private_ip(word: &str) -> Option<Ipv4Addr> {
    let ip: Ipv4Addr = word.parse().ok()?;
    ip.is_private().then_some(ip)
}

fn no_hard_coded_ip(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for s in settings(ctx) {
        let ips: Vec<Ipv4Addr> =
            s.value.split(|c: char| !(c.is_ascii_digit() || c == '.')).filter_map(private_ip).collect();
        if let Some(ip) = ips.first() {
            sink.report(
                s.obj,
                s.field.clone(),
                format!("`{}` hard-codes the IP {ip}, which belongs to one cluster (a node or cluster IP)", s.key),
                None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, mutate};
    use super::*;

    #[test]
    fn urls_and_hosts() {
        let u = urls("http://todo-api:8000/api, https://u:p@db.todo.svc:5432 sqlite:///todos.db");
        assert_eq!(
            u,
            [
                Url { scheme: "http", host: "todo-api", port: Some(8000) },
                Url { scheme: "https", host: "db.todo.svc", port: Some(5432) },
                Url { scheme: "sqlite", host: "", port: None },
            ]
        );
        assert_eq!(in_cluster_service("db.todo.svc"), Some("db"));
        assert_eq!(in_cluster_service("backend.todo.svc.cluster.local"), Some("backend"));
        for external in ["api.openai.com", "localhost", "192.168.49.2", "", "example.com"] {
            assert_eq!(in_cluster_service(external), None, "{external}");
        }
    }

    #[test]
    fn a_url_to_no_service_or_to_a_port_it_does_not_expose() {
        let from = "BACKEND_URL: http://todo-chatbot-backend:8000";
        let f = assert_caught("KG-URL-001", &mutate(from, "BACKEND_URL: http://todo-backend:8000"));
        assert!(f[0].message.contains("no Service `todo-backend`") && f[0].object.kind == "ConfigMap", "{f:#?}");
        let f = assert_caught("KG-URL-001", &mutate(from, "BACKEND_URL: http://todo-chatbot-backend:9000"));
        assert!(f[0].message.contains("not 9000"), "{}", f[0].message);
    }

    #[test]
    fn a_hard_coded_node_ip() {
        let from = "BACKEND_URL: http://todo-chatbot-backend:8000";
        let f = assert_caught("KG-URL-002", &mutate(from, "BACKEND_URL: http://192.168.49.2:30080"));
        assert!(f[0].message.contains("192.168.49.2"), "{}", f[0].message);
        assert!(
            private_ip("127.0.0.1").is_none() && private_ip("0.0.0.0").is_none() && private_ip("8.8.8.8").is_none()
        );
    }
}
