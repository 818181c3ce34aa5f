//! KG-HPA: an autoscaling/v2 HPA per component Deployment, with usable bounds.

use k8s_openapi::api::apps::v1::Deployment;

use super::{Check, Rule, RuleContext, RuleId, Sink};
use kubegate_core::finding::{ObjectRef, Severity};
use kubegate_core::model::{Object, Typed};

pub(super) const RULES: &[Rule] = &[TARGETS_DEPLOYMENT, USABLE_BOUNDS];

const TARGETS_DEPLOYMENT: Rule = Rule {
    id: RuleId::Hpa001,
    severity: Severity::Low,
    title: "an autoscaling/v2 HPA targets each component Deployment",
    rationale: "P12 asks for an autoscaler; one pointing at a missing Deployment does nothing.",
    fix: "Add an HPA whose scaleTargetRef names the Deployment.",
    check: Check::Model(targets_deployment),
};

const USABLE_BOUNDS: Rule = Rule {
    id: RuleId::Hpa002,
    severity: Severity::Low,
    title: "HPA bounds and metrics are usable",
    rationale: "CPU utilisation needs CPU requests; minReplicas above maxReplicas is rejected.",
    fix: "Set cpu requests on the target and minReplicas <= maxReplicas.",
    check: Check::Model(usable_bounds),
};

/// An HPA of either version: target kind and name, minReplicas (default 1), maxReplicas.
struct Hpa<'a> {
    obj: &'a Object,
    kind: &'a str,
    name: &'a str,
    min: i32,
    max: i32,
}

/// Every HPA with a spec, autoscaling/v2 or v1.
fn hpas<'a>(ctx: &'a RuleContext<'_>) -> impl Iterator<Item = Hpa<'a>> {
    ctx.model.objects.iter().filter_map(|obj| {
        let (kind, name, min, max) = match &obj.typed {
            Typed::Hpa(h) => h.spec.as_ref().map(|s| {
                (s.scale_target_ref.kind.as_str(), s.scale_target_ref.name.as_str(), s.min_replicas, s.max_replicas)
            })?,
            Typed::HpaV1(h) => h.spec.as_ref().map(|s| {
                (s.scale_target_ref.kind.as_str(), s.scale_target_ref.name.as_str(), s.min_replicas, s.max_replicas)
            })?,
            _ => return None,
        };
        Some(Hpa { obj, kind, name, min: min.unwrap_or(1), max })
    })
}

/// The Deployment an HPA scales, when it is in the model.
fn target<'a>(ctx: &'a RuleContext<'_>, hpa: &Hpa<'_>) -> Option<&'a Deployment> {
    if hpa.kind != "Deployment" {
        return None;
    }
    ctx.model.deployments().find(|(o, _)| o.name == hpa.name).map(|(_, d)| d)
}

fn targets_deployment(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for obj in &ctx.model.objects {
        let Typed::HpaV1(_) = &obj.typed else { continue };
        sink.report(
            obj,
            "apiVersion".to_string(),
            "HPA uses autoscaling/v1, the plan asks for autoscaling/v2".into(),
            Some("Use apiVersion autoscaling/v2 with a Resource cpu metric.".into()),
        );
    }
    for hpa in hpas(ctx) {
        if target(ctx, &hpa).is_none() {
            sink.report(
                hpa.obj,
                "spec.scaleTargetRef".to_string(),
                format!("HPA targets {}/{}, which is not in the tree", hpa.kind, hpa.name),
                None,
            );
        }
    }
    if !ctx.config.policy.require_hpa {
        return;
    }
    for comp in &ctx.config.components {
        let Some((dep, _)) = ctx.model.deployments().find(|(o, _)| o.name == comp.deployment) else { continue };
        let has = ctx.model.objects.iter().any(|o| match &o.typed {
            Typed::Hpa(h) => h
                .spec
                .as_ref()
                .is_some_and(|s| s.scale_target_ref.kind == "Deployment" && s.scale_target_ref.name == comp.deployment),
            _ => false,
        });
        if !has {
            sink.report_ref(
                ObjectRef {
                    kind: "Deployment".into(),
                    name: comp.deployment.clone(),
                    namespace: dep.namespace.clone(),
                },
                None,
                format!("no autoscaling/v2 HPA targets Deployment `{}`", comp.deployment),
                None,
                Some(dep.source.clone()),
            );
        }
    }
}

fn usable_bounds(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for hpa in hpas(ctx) {
        let Some(dep) = target(ctx, &hpa) else { continue };
        let Hpa { obj, kind, name, min, max } = hpa;
        if min > max {
            sink.report(
                obj,
                "spec.minReplicas".to_string(),
                format!("minReplicas {min} above maxReplicas {max}"),
                None,
            );
        }
        let replicas = dep.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        if min < replicas {
            sink.report(
                obj,
                "spec.minReplicas".to_string(),
                format!("minReplicas {min} is below the Deployment's {replicas} replicas: the autoscaler would scale below the plan"),
                None,
            );
        }
        let uses_cpu = match &obj.typed {
            Typed::Hpa(h) => h.spec.as_ref().and_then(|s| s.metrics.as_ref()).is_some_and(|m| {
                m.iter()
                    .any(|m| m.resource.as_ref().is_some_and(|r| r.name == "cpu" && r.target.type_ == "Utilization"))
            }),
            Typed::HpaV1(h) => h.spec.as_ref().is_some_and(|s| s.target_cpu_utilization_percentage.is_some()),
            _ => false,
        };
        let containers =
            dep.spec.as_ref().and_then(|s| s.template.spec.as_ref()).map(|p| p.containers.as_slice()).unwrap_or(&[]);
        let without: Vec<&str> = containers
            .iter()
            .filter(|c| c.resources.as_ref().and_then(|r| r.requests.as_ref()).is_none_or(|r| !r.contains_key("cpu")))
            .map(|c| c.name.as_str())
            .collect();
        if uses_cpu && !without.is_empty() {
            sink.report(
                obj,
                "spec.metrics".to_string(),
                format!(
                    "scales on CPU utilisation but container(s) {} of {kind}/{name} have no cpu request",
                    without.join(", ")
                ),
                None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, mutate};

    #[test]
    fn hpa_targets_missing_deployment() {
        let f = assert_caught(
            "KG-HPA-001",
            &mutate("kind: Deployment, name: todo-chatbot-backend}", "kind: Deployment, name: todo-chatbot-api}"),
        );
        assert!(f.iter().any(|x| x.message.contains("todo-chatbot-api")));
    }

    #[test]
    fn hpa_bounds() {
        assert_caught("KG-HPA-002", &mutate("minReplicas: 2\n  maxReplicas: 4", "minReplicas: 5\n  maxReplicas: 4"));
        assert_caught("KG-HPA-002", &mutate("minReplicas: 2\n  maxReplicas: 4", "minReplicas: 1\n  maxReplicas: 4"));
    }
}
