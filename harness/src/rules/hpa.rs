//! KG-HPA: an autoscaling/v2 HPA per component Deployment, with usable bounds.

use super::{RuleContext, Sink};
use crate::finding::ObjectRef;
use crate::model::Typed;

pub(super) fn check(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for obj in &ctx.model.objects {
        let (kind, name, min, max) = match &obj.typed {
            Typed::Hpa(h) => match &h.spec {
                Some(s) => {
                    (&s.scale_target_ref.kind, &s.scale_target_ref.name, s.min_replicas.unwrap_or(1), s.max_replicas)
                }
                None => continue,
            },
            Typed::HpaV1(h) => {
                sink.report(
                    "KG-HPA-001",
                    obj,
                    "apiVersion".to_string(),
                    "HPA uses autoscaling/v1, the plan asks for autoscaling/v2".into(),
                    Some("Use apiVersion autoscaling/v2 with a Resource cpu metric.".into()),
                );
                match &h.spec {
                    Some(s) => (
                        &s.scale_target_ref.kind,
                        &s.scale_target_ref.name,
                        s.min_replicas.unwrap_or(1),
                        s.max_replicas,
                    ),
                    None => continue,
                }
            }
            _ => continue,
        };
        let target = if kind == "Deployment" { ctx.model.deployments().find(|(o, _)| &o.name == name) } else { None };
        let Some((_, dep)) = target else {
            sink.report(
                "KG-HPA-001",
                obj,
                "spec.scaleTargetRef".to_string(),
                format!("HPA targets {kind}/{name}, which is not in the tree"),
                None,
            );
            continue;
        };
        if min > max {
            sink.report(
                "KG-HPA-002",
                obj,
                "spec.minReplicas".to_string(),
                format!("minReplicas {min} above maxReplicas {max}"),
                None,
            );
        }
        let replicas = dep.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
        if min < replicas {
            sink.report(
                "KG-HPA-002",
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
                "KG-HPA-002",
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
    if ctx.config.policy.require_hpa {
        for comp in &ctx.config.components {
            let Some((dep, _)) = ctx.model.deployments().find(|(o, _)| o.name == comp.deployment) else { continue };
            let has = ctx.model.objects.iter().any(|o| match &o.typed {
                Typed::Hpa(h) => h.spec.as_ref().is_some_and(|s| {
                    s.scale_target_ref.kind == "Deployment" && s.scale_target_ref.name == comp.deployment
                }),
                _ => false,
            });
            if !has {
                sink.report_ref(
                    "KG-HPA-001",
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
