//! KG-SVC: Services reach the pods (selector, targetPort) and are the type
//! and port the plan says.

use k8s_openapi::api::core::v1::{ServicePort, ServiceSpec};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use super::{
    Check, Rule, RuleContext, RuleId, Sink, fmt_container_port, fmt_labels, fmt_port, pod_labels, resolve_port, selects,
};
use kubegate_core::finding::Severity;
use kubegate_core::model::{Object, PodView};

pub(super) const RULES: &[Rule] = &[SELECTS_PODS, TARGET_PORT_DECLARED, PLANNED_TYPE, PLANNED_PORT];

const SELECTS_PODS: Rule = Rule {
    id: RuleId::Svc001,
    severity: Severity::High,
    title: "Service selector matches pod labels",
    rationale: "A Service selecting no pod has no endpoints; every request fails.",
    fix: "Make spec.selector a subset of the pod template labels.",
    check: Check::Model(selects_pods),
};

const TARGET_PORT_DECLARED: Rule = Rule {
    id: RuleId::Svc002,
    severity: Severity::Medium,
    title: "Service targetPort names or numbers a containerPort",
    rationale: "A targetPort typo sends traffic to a closed port.",
    fix: "Use the container port's name or number.",
    check: Check::Model(target_port_declared),
};

const PLANNED_TYPE: Rule = Rule {
    id: RuleId::Svc003,
    severity: Severity::Medium,
    title: "Service type as planned (no NodePort)",
    rationale: "AD-3: the frontend is a LoadBalancer, the backend internal (ClusterIP).",
    fix: "Set spec.type to the component's service_type.",
    check: Check::Model(planned_type),
};

const PLANNED_PORT: Rule = Rule {
    id: RuleId::Svc004,
    severity: Severity::Medium,
    title: "Service port as planned",
    rationale: "Clients and the frontend's BACKEND_URL use the planned port.",
    fix: "Set spec.ports[].port to the component's service_port.",
    check: Check::Model(planned_port),
};

/// A Service with a non-empty selector, and the (non-hook) pods it selects.
struct Selecting<'a> {
    obj: &'a Object,
    spec: &'a ServiceSpec,
    selector: &'a std::collections::BTreeMap<String, String>,
    pods: Vec<PodView<'a>>,
}

fn selecting<'a>(ctx: &'a RuleContext<'_>) -> impl Iterator<Item = Selecting<'a>> {
    ctx.model.services().filter_map(|(obj, svc)| {
        let spec = svc.spec.as_ref()?;
        let selector = spec.selector.as_ref().filter(|s| !s.is_empty())?;
        let pods =
            ctx.model.pods().filter(|(o, p)| !o.is_helm_hook() && selects(selector, &pod_labels(p))).map(|(_, p)| p);
        Some(Selecting { obj, spec, selector, pods: pods.collect() })
    })
}

/// The containerPorts `port` reaches in `pods` (its targetPort resolved).
fn resolved(pods: &[PodView<'_>], port: &ServicePort) -> (IntOrString, Vec<i32>) {
    let target = port.target_port.clone().unwrap_or(IntOrString::Int(port.port));
    let ports = pods.iter().flat_map(|p| p.spec.containers.iter().filter_map(|c| resolve_port(c, &target))).collect();
    (target, ports)
}

fn selects_pods(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for Selecting { obj, selector, pods, .. } in selecting(ctx) {
        if !pods.is_empty() {
            continue;
        }
        let candidates: Vec<String> = ctx
            .model
            .pods()
            .filter(|(o, _)| !o.is_helm_hook())
            .map(|(o, p)| format!("{} {}", o.object_ref(), fmt_labels(&pod_labels(&p))))
            .collect();
        sink.report(
            obj,
            "spec.selector".to_string(),
            format!(
                "selector {} matches no pod template (pods: {})",
                fmt_labels(selector),
                if candidates.is_empty() { "none".into() } else { candidates.join("; ") }
            ),
            None,
        );
    }
}

fn target_port_declared(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for Selecting { obj, spec, pods, .. } in selecting(ctx).filter(|s| !s.pods.is_empty()) {
        for (i, port) in spec.ports.iter().flatten().enumerate() {
            let (target, ports) = resolved(&pods, port);
            if !ports.is_empty() {
                continue;
            }
            let declared: Vec<String> = pods
                .iter()
                .flat_map(|p| p.spec.containers.iter().flat_map(|c| c.ports.iter().flatten()))
                .map(fmt_container_port)
                .collect();
            sink.report(
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
    }
}

fn planned_type(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for (obj, svc) in ctx.model.services() {
        let Some(spec) = &svc.spec else { continue };
        let ty = spec.type_.as_deref().unwrap_or("ClusterIP");
        match ctx.config.components.iter().find(|c| c.service == obj.name) {
            Some(c) if c.service_type != ty => sink.report(
                obj,
                "spec.type".to_string(),
                format!("Service type is {ty}, the plan says {}", c.service_type),
                Some(format!("Set spec.type: {}.", c.service_type)),
            ),
            None if ty == "NodePort" => sink.report(
                obj,
                "spec.type".to_string(),
                "Service type is NodePort, which no component plans".into(),
                None,
            ),
            _ => {}
        }
    }
}

fn planned_port(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for Selecting { obj, spec, pods, .. } in selecting(ctx).filter(|s| !s.pods.is_empty()) {
        let Some(c) = ctx.config.components.iter().find(|c| c.service == obj.name) else { continue };
        for (i, port) in spec.ports.iter().flatten().enumerate() {
            let (_, ports) = resolved(&pods, port);
            if port.port == c.service_port && !ports.is_empty() && !ports.contains(&c.port) {
                sink.report(
                    obj,
                    format!("spec.ports[{i}].targetPort"),
                    format!("port {} reaches container port {}, the plan says {}", port.port, ports[0], c.port),
                    None,
                );
            }
        }
        if !spec.ports.iter().flatten().any(|p| p.port == c.service_port) {
            let ports: Vec<String> = spec.ports.iter().flatten().map(|p| p.port.to_string()).collect();
            sink.report(
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
