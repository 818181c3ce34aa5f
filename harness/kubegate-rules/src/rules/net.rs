//! KG-NET: a NetworkPolicy isolates each component that lists `ingress_from`,
//! admitting only the listed components.

use super::{Check, Rule, RuleContext, RuleId, Sink, fmt_labels, label_selector_selects, pod_labels};
use kubegate_core::finding::ObjectRef;
use kubegate_core::finding::Severity;
use kubegate_core::model::Typed;

pub(super) const RULES: &[Rule] = &[ISOLATED];

const ISOLATED: Rule = Rule {
    id: RuleId::Net001,
    severity: Severity::Low,
    title: "a NetworkPolicy isolates each component that lists ingress_from",
    rationale: "Without one every pod in the cluster can reach the backend.",
    fix: "Add a NetworkPolicy selecting the pods, policyTypes [Ingress], from the allowed components only.",
    check: Check::Model(isolated),
};

fn isolated(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for comp in &ctx.config.components {
        let Some(allowed) = &comp.ingress_from else { continue };
        let Some((dep_obj, pod)) = ctx.model.pods().find(|(o, _)| o.kind == "Deployment" && o.name == comp.deployment)
        else {
            continue;
        };
        let labels = pod_labels(&pod);
        let allowed_labels: Vec<_> = allowed
            .iter()
            .filter_map(|a| ctx.config.component(a))
            .filter_map(|c| ctx.model.pods().find(|(o, _)| o.kind == "Deployment" && o.name == c.deployment))
            .map(|(_, p)| pod_labels(&p))
            .collect();
        let policies: Vec<_> = ctx
            .model
            .objects
            .iter()
            .filter_map(|o| match &o.typed {
                Typed::NetworkPolicy(np) => np.spec.as_ref().map(|s| (o, s)),
                _ => None,
            })
            .filter(|(_, s)| s.pod_selector.as_ref().is_none_or(|p| label_selector_selects(p, &labels)))
            .filter(|(_, s)| match &s.policy_types {
                Some(t) => t.iter().any(|t| t == "Ingress"),
                None => true, // Ingress is implied when policyTypes is unset
            })
            .collect();
        if policies.is_empty() {
            sink.report_ref(ObjectRef { kind: "Deployment".into(), name: comp.deployment.clone(), namespace: dep_obj.namespace.clone() },
                Some("spec.template.metadata.labels".into()),
                format!("no NetworkPolicy with an Ingress policy selects the `{}` pods {}: any pod in the cluster can reach them", comp.name, fmt_labels(&labels)),
                None,
                Some(dep_obj.source.clone()),
            );
            continue;
        }
        for (obj, spec) in policies {
            for (i, rule) in spec.ingress.iter().flatten().enumerate() {
                let peers = rule.from.as_deref().unwrap_or(&[]);
                if peers.is_empty() {
                    sink.report(
                        obj,
                        format!("spec.ingress[{i}]"),
                        "an ingress rule without `from` admits every source".into(),
                        None,
                    );
                }
                for (j, peer) in peers.iter().enumerate() {
                    let open_ns = peer.namespace_selector.is_some() && peer.pod_selector.is_none();
                    let open_ip = peer.ip_block.as_ref().is_some_and(|b| b.cidr == "0.0.0.0/0" || b.cidr == "::/0");
                    if open_ns || open_ip {
                        sink.report(
                            obj,
                            format!("spec.ingress[{i}].from[{j}]"),
                            "peer admits whole namespaces or every address".into(),
                            None,
                        );
                    }
                }
            }
            let admits_allowed = allowed_labels.iter().all(|al| {
                spec.ingress.iter().flatten().any(|r| {
                    r.from
                        .iter()
                        .flatten()
                        .any(|p| p.pod_selector.as_ref().is_some_and(|s| label_selector_selects(s, al)))
                })
            });
            if !admits_allowed {
                sink.report(
                    obj,
                    "spec.ingress".to_string(),
                    format!(
                        "the policy does not admit {} to `{}`: the application breaks",
                        allowed.join(", "),
                        comp.name
                    ),
                    None,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, base, mutate};

    #[test]
    fn policy_missing() {
        let b = base();
        let start = b.find("apiVersion: networking.k8s.io/v1").expect("netpol");
        let end = start + b[start..].find("---\n").expect("sep") + 4;
        assert_caught("KG-NET-001", &format!("{}{}", &b[..start], &b[end..]));
    }

    #[test]
    fn policy_open_or_not_admitting_frontend() {
        assert_caught(
            "KG-NET-001",
            &mutate(
                "        - podSelector:\n            matchLabels:\n",
                "        - namespaceSelector: {}\n        - podSelector:\n            matchLabels:\n",
            ),
        );
        assert_caught(
            "KG-NET-001",
            &mutate(
                "              app.kubernetes.io/component: frontend\n      ports",
                "              app.kubernetes.io/component: web\n      ports",
            ),
        );
    }
}
