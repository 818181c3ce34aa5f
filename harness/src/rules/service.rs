//! KG-SVC: Services reach the pods (selector, targetPort) and are the type
//! and port the plan says.

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{RuleContext, Sink, fmt_container_port, fmt_labels, fmt_port, pod_labels, resolve_port, selects};

pub(super) fn check(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for (obj, svc) in ctx.model.services() {
        let Some(spec) = &svc.spec else { continue };
        let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
        let comp = ctx.config.components.iter().find(|c| c.service == obj.name);
        match comp {
            Some(c) if c.service_type != ty => sink.report(
                "KG-SVC-003",
                obj,
                "spec.type".to_string(),
                format!("Service type is {ty}, the plan says {}", c.service_type),
                Some(format!("Set spec.type: {}.", c.service_type)),
            ),
            None if ty == "NodePort" => sink.report(
                "KG-SVC-003",
                obj,
                "spec.type".to_string(),
                "Service type is NodePort, which no component plans".into(),
                None,
            ),
            _ => {}
        }
        let Some(selector) = spec.selector.as_ref().filter(|s| !s.is_empty()) else { continue };
        let pods: Vec<_> =
            ctx.model.pods().filter(|(o, p)| !o.is_helm_hook() && selects(selector, &pod_labels(p))).collect();
        if pods.is_empty() {
            let candidates: Vec<String> = ctx
                .model
                .pods()
                .filter(|(o, _)| !o.is_helm_hook())
                .map(|(o, p)| format!("{} {}", o.object_ref(), fmt_labels(&pod_labels(&p))))
                .collect();
            sink.report(
                "KG-SVC-001",
                obj,
                "spec.selector".to_string(),
                format!(
                    "selector {} matches no pod template (pods: {})",
                    fmt_labels(selector),
                    if candidates.is_empty() { "none".into() } else { candidates.join("; ") }
                ),
                None,
            );
            continue;
        }
        for (i, port) in spec.ports.iter().flatten().enumerate() {
            let target = port.target_port.clone().unwrap_or(IntOrString::Int(port.port));
            let resolved: Vec<i32> = pods
                .iter()
                .flat_map(|(_, p)| p.spec.containers.iter().filter_map(|c| resolve_port(c, &target)))
                .collect();
            if resolved.is_empty() {
                let declared: Vec<String> = pods
                    .iter()
                    .flat_map(|(_, p)| p.spec.containers.iter().flat_map(|c| c.ports.iter().flatten()))
                    .map(fmt_container_port)
                    .collect();
                sink.report(
                    "KG-SVC-002",
                    obj,
                    format!("spec.ports[{i}].targetPort"),
                    format!(
                        "port {} targets `{}`, which no selected container declares (declared: {})",
                        port.port,
                        fmt_port(&target),
                        if declared.is_empty() { "none".into() } else { declared.join(", ") }
                    ),
                    None,
                );
            }
            if let Some(c) = comp
                && port.port == c.service_port
                && !resolved.is_empty()
                && !resolved.contains(&c.port)
            {
                sink.report(
                    "KG-SVC-004",
                    obj,
                    format!("spec.ports[{i}].targetPort"),
                    format!("port {} reaches container port {}, the plan says {}", port.port, resolved[0], c.port),
                    None,
                );
            }
        }
        if let Some(c) = comp
            && !spec.ports.iter().flatten().any(|p| p.port == c.service_port)
        {
            let ports: Vec<String> = spec.ports.iter().flatten().map(|p| p.port.to_string()).collect();
            sink.report(
                "KG-SVC-004",
                obj,
                "spec.ports".to_string(),
                format!(
                    "Service exposes port(s) {}, the plan says {}",
                    if ports.is_empty() { "none".into() } else { ports.join(", ") },
                    c.service_port
                ),
                Some(format!("Expose port {} (targetPort {}).", c.service_port, c.port_name)),
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, mutate};

    #[test]
    fn selector_mismatch() {
        let m = mutate(
            "spec:\n  type: ClusterIP\n  selector:\n    app.kubernetes.io/name: todo-chatbot\n",
            "spec:\n  type: ClusterIP\n  selector:\n    app.kubernetes.io/name: todo-chatbott\n",
        );
        let f = assert_caught("KG-SVC-001", &m);
        assert!(f[0].message.contains("todo-chatbott"), "{}", f[0].message);
    }

    #[test]
    fn target_port_typo() {
        let f = assert_caught("KG-SVC-002", &mutate("port: 8000, targetPort: http", "port: 8000, targetPort: htpp"));
        assert!(f[0].message.contains("htpp") && f[0].message.contains("8000 (http)"), "{}", f[0].message);
    }

    #[test]
    fn load_balancer_turned_cluster_ip() {
        let f = assert_caught("KG-SVC-003", &mutate("type: LoadBalancer", "type: ClusterIP"));
        assert!(f[0].message.contains("LoadBalancer"));
        assert_caught("KG-SVC-003", &mutate("type: ClusterIP", "type: NodePort"));
    }

    #[test]
    fn planned_port() {
        assert_caught("KG-SVC-004", &mutate("port: 80, targetPort: http", "port: 8080, targetPort: http"));
    }
}
