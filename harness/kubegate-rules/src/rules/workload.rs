//! KG-WL: Deployments as the plan wants them: selectors, rolling updates,
//! disruption budgets, spreading, graceful shutdown, every component present.

use std::collections::BTreeMap;

use k8s_openapi::api::apps::v1::DeploymentSpec;

use super::{Check, Rule, RuleContext, RuleId, Sink, fmt_labels, fmt_port, label_selector_selects};
use kubegate_core::config::Component;
use kubegate_core::finding::{ObjectRef, Severity};
use kubegate_core::model::{Object, Typed};

pub(super) const RULES: &[Rule] =
    &[SELECTOR_MATCHES, ROLLING_UPDATE, DISRUPTION_BUDGET, SPREAD, GRACEFUL_SHUTDOWN, COMPONENTS_PRESENT];

const SELECTOR_MATCHES: Rule = Rule {
    id: RuleId::Wl001,
    severity: Severity::High,
    title: "Deployment selector matches its template labels",
    rationale: "The API server rejects a selector that does not match; a partial match adopts foreign pods.",
    fix: "Make spec.selector.matchLabels a subset of spec.template.metadata.labels.",
    check: Check::Model(selector_matches),
};

const ROLLING_UPDATE: Rule = Rule {
    id: RuleId::Wl002,
    severity: Severity::Medium,
    title: "RollingUpdate with maxSurge 1 / maxUnavailable 0",
    rationale: "P12: updates never drop below the desired replica count.",
    fix: "Set strategy.type RollingUpdate, rollingUpdate.maxSurge 1, maxUnavailable 0.",
    check: Check::Model(rolling_update),
};

const DISRUPTION_BUDGET: Rule = Rule {
    id: RuleId::Wl003,
    severity: Severity::Medium,
    title: "PodDisruptionBudget where replicas >= 2",
    rationale: "Without one a node drain may evict every replica at once.",
    fix: "Add a policy/v1 PodDisruptionBudget (minAvailable 1) selecting the pods.",
    check: Check::Model(disruption_budget),
};

const SPREAD: Rule = Rule {
    id: RuleId::Wl004,
    severity: Severity::Low,
    title: "topology spread or anti-affinity where replicas >= 2",
    rationale: "Replicas on one node share its failure.",
    fix: "Add topologySpreadConstraints (kubernetes.io/hostname) or podAntiAffinity.",
    check: Check::Model(spread),
};

const GRACEFUL_SHUTDOWN: Rule = Rule {
    id: RuleId::Wl005,
    severity: Severity::Low,
    title: "graceful shutdown fits the grace period",
    rationale: "P12: SIGTERM handling needs the preStop pause and shutdown to finish before SIGKILL.",
    fix: "Keep terminationGracePeriodSeconds above the preStop sleep.",
    check: Check::Model(graceful_shutdown),
};

const COMPONENTS_PRESENT: Rule = Rule {
    id: RuleId::Wl006,
    severity: Severity::High,
    title: "every configured component has its Deployment and container",
    rationale: "A component missing from a path means that path deploys a different system (AD-2).",
    fix: "Add the Deployment (with the named container) or fix kubegate.toml.",
    check: Check::Model(components_present),
};

/// A Deployment's rollout strategy as the API server applies it; an unset
/// maxSurge or maxUnavailable reads `25% (default)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolloutStrategy {
    /// `RollingUpdate` or `Recreate`.
    pub kind: String,
    /// `1`, `25%`, ...
    pub max_surge: String,
    /// `0`, `25%`, ...
    pub max_unavailable: String,
}

/// The rollout strategy of `spec` (KG-WL-002 and the live rollout check read it alike).
pub fn rollout_strategy(spec: &DeploymentSpec) -> RolloutStrategy {
    let strategy = spec.strategy.as_ref();
    let ru = strategy.and_then(|s| s.rolling_update.as_ref());
    let or_default = |v: Option<&k8s_openapi::apimachinery::pkg::util::intstr::IntOrString>| {
        v.map(fmt_port).unwrap_or_else(|| "25% (default)".into())
    };
    RolloutStrategy {
        kind: strategy.and_then(|s| s.type_.clone()).unwrap_or_else(|| "RollingUpdate".into()),
        max_surge: or_default(ru.and_then(|r| r.max_surge.as_ref())),
        max_unavailable: or_default(ru.and_then(|r| r.max_unavailable.as_ref())),
    }
}

/// Deployments with a spec.
fn deployments<'a>(ctx: &'a RuleContext<'_>) -> impl Iterator<Item = (&'a Object, &'a DeploymentSpec)> {
    ctx.model.deployments().filter_map(|(obj, d)| d.spec.as_ref().map(|s| (obj, s)))
}

fn template_labels(spec: &DeploymentSpec) -> BTreeMap<String, String> {
    spec.template.metadata.as_ref().and_then(|m| m.labels.clone()).unwrap_or_default()
}

fn selector_matches(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for (obj, spec) in deployments(ctx) {
        let labels = template_labels(spec);
        let sel_empty = spec.selector.match_labels.as_ref().is_none_or(|m| m.is_empty())
            && spec.selector.match_expressions.as_ref().is_none_or(|e| e.is_empty());
        if sel_empty || !label_selector_selects(&spec.selector, &labels) {
            sink.report(
                obj,
                "spec.selector".to_string(),
                format!(
                    "selector {} does not match template labels {}",
                    spec.selector.match_labels.as_ref().map(fmt_labels).unwrap_or_else(|| "{}".into()),
                    fmt_labels(&labels)
                ),
                None,
            );
        }
    }
}

fn rolling_update(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let policy = &ctx.config.policy;
    for (obj, spec) in deployments(ctx) {
        let RolloutStrategy { kind: ty, max_surge: surge, max_unavailable: unavailable } = rollout_strategy(spec);
        if ty != "RollingUpdate" || surge != policy.max_surge || unavailable != policy.max_unavailable {
            sink.report(
                obj,
                "spec.strategy".to_string(),
                format!("strategy {ty} maxSurge {surge} maxUnavailable {unavailable}; the plan says RollingUpdate maxSurge {} maxUnavailable {}", policy.max_surge, policy.max_unavailable),
                None,
            );
        }
    }
}

fn disruption_budget(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    if !ctx.config.policy.require_pdb {
        return;
    }
    for (obj, spec) in deployments(ctx) {
        let replicas = spec.replicas.unwrap_or(1);
        if replicas < 2 {
            continue;
        }
        let labels = template_labels(spec);
        let covered = ctx.model.objects.iter().any(|o| match &o.typed {
            Typed::Pdb(p) => {
                p.spec.as_ref().and_then(|s| s.selector.as_ref()).is_some_and(|s| label_selector_selects(s, &labels))
            }
            _ => false,
        });
        if !covered {
            sink.report(
                obj,
                "spec.replicas".to_string(),
                format!("{replicas} replicas and no PodDisruptionBudget selects {}", fmt_labels(&labels)),
                None,
            );
        }
    }
}

fn spread(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    if !ctx.config.policy.require_spread {
        return;
    }
    for (obj, spec) in deployments(ctx) {
        let replicas = spec.replicas.unwrap_or(1);
        let pod = spec.template.spec.as_ref();
        let spread = pod.and_then(|p| p.topology_spread_constraints.as_ref()).is_some_and(|t| !t.is_empty());
        let anti = pod.and_then(|p| p.affinity.as_ref()).and_then(|a| a.pod_anti_affinity.as_ref()).is_some();
        if replicas >= 2 && !spread && !anti {
            sink.report(
                obj,
                "spec.template.spec".to_string(),
                format!("{replicas} replicas without topologySpreadConstraints or podAntiAffinity"),
                None,
            );
        }
    }
}

fn graceful_shutdown(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for (obj, spec) in deployments(ctx) {
        let Some(pod) = &spec.template.spec else { continue };
        let grace = pod.termination_grace_period_seconds.unwrap_or(30);
        for (i, c) in pod.containers.iter().enumerate() {
            let sleep = c
                .lifecycle
                .as_ref()
                .and_then(|l| l.pre_stop.as_ref())
                .and_then(|p| p.sleep.as_ref())
                .map(|s| s.seconds)
                .unwrap_or(0);
            if grace <= sleep || grace == 0 {
                sink.report(
                    obj,
                    format!("spec.template.spec.containers[{i}].lifecycle.preStop"),
                    format!("container `{}`: terminationGracePeriodSeconds {grace} leaves no time after the preStop sleep of {sleep}s", c.name),
                    None,
                );
            }
        }
    }
}

fn components_present(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for comp in &ctx.config.components {
        let missing = |kind: &str, name: &str| ObjectRef {
            kind: kind.into(),
            name: name.into(),
            namespace: Some(ctx.config.namespace.clone()),
        };
        match ctx.model.deployments().find(|(o, _)| o.name == comp.deployment) {
            None => sink.report_ref(
                missing("Deployment", &comp.deployment),
                None,
                format!("component `{}`: Deployment `{}` is missing on this path", comp.name, comp.deployment),
                None,
                None,
            ),
            Some((obj, d)) => container_present(sink, comp, obj, d.spec.as_ref()),
        }
        if !comp.service.is_empty() && ctx.model.find("Service", &comp.service).is_none() {
            sink.report_ref(
                missing("Service", &comp.service),
                None,
                format!("component `{}`: Service `{}` is missing on this path", comp.name, comp.service),
                None,
                None,
            );
        }
    }
}

/// KG-WL-006 inside the component's Deployment: its container, with its port.
fn container_present(sink: &mut Sink<'_>, comp: &Component, obj: &Object, spec: Option<&DeploymentSpec>) {
    let containers = spec.and_then(|s| s.template.spec.as_ref()).map(|p| p.containers.as_slice()).unwrap_or(&[]);
    let Some(i) = containers.iter().position(|c| c.name == comp.container) else {
        let names: Vec<&str> = containers.iter().map(|c| c.name.as_str()).collect();
        sink.report(
            obj,
            "spec.template.spec.containers".to_string(),
            format!("component `{}`: no container `{}` (containers: {})", comp.name, comp.container, names.join(", ")),
            None,
        );
        return;
    };
    let ok = containers[i].ports.iter().flatten().any(|p| {
        p.container_port == comp.port
            && (comp.port_name.is_empty() || p.name.as_deref() == Some(comp.port_name.as_str()))
    });
    if comp.port != 0 && !ok {
        sink.report(
            obj,
            format!("spec.template.spec.containers[{i}].ports"),
            format!(
                "component `{}`: container `{}` does not declare containerPort {} named `{}`",
                comp.name, comp.container, comp.port, comp.port_name
            ),
            None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, base, mutate};

    #[test]
    fn selector_does_not_match_template() {
        let m = mutate(
            "  selector:\n    matchLabels:\n      app.kubernetes.io/name: todo-chatbot\n",
            "  selector:\n    matchLabels:\n      app.kubernetes.io/name: todo\n",
        );
        assert_caught("KG-WL-001", &m);
    }

    #[test]
    fn rolling_update() {
        let f = assert_caught(
            "KG-WL-002",
            &mutate(
                "rollingUpdate: {maxSurge: 1, maxUnavailable: 0}",
                "rollingUpdate: {maxSurge: 1, maxUnavailable: 1}",
            ),
        );
        assert!(f[0].message.contains("maxUnavailable 1"), "{}", f[0].message);
        assert_caught(
            "KG-WL-002",
            &mutate(
                "    type: RollingUpdate\n    rollingUpdate: {maxSurge: 1, maxUnavailable: 0}\n",
                "    type: Recreate\n",
            ),
        );
    }

    #[test]
    fn pdb_missing() {
        let b = base();
        let start = b.find("apiVersion: policy/v1").expect("pdb");
        let end = start + b[start..].find("---\n").expect("separator") + 4;
        let m = format!("{}{}", &b[..start], &b[end..]);
        assert_caught("KG-WL-003", &m);
    }

    #[test]
    fn spread_missing() {
        let b = base();
        let start = b.find("      topologySpreadConstraints:\n").expect("tsc");
        let end = start + b[start..].find("      volumes:").expect("volumes");
        assert_caught("KG-WL-004", &format!("{}{}", &b[..start], &b[end..]));
    }

    #[test]
    fn grace_shorter_than_pre_stop() {
        assert_caught("KG-WL-005", &mutate("preStop: {sleep: {seconds: 5}}", "preStop: {sleep: {seconds: 45}}"));
    }

    #[test]
    fn component_missing() {
        assert_caught("KG-WL-006", &mutate("        - name: backend\n", "        - name: api\n"));
        assert_caught(
            "KG-WL-006",
            &mutate(
                "  name: todo-chatbot-frontend\n  namespace: todo-chatbot\n  labels:\n    app.kubernetes.io/name: todo-chatbot\n    app.kubernetes.io/instance: todo-chatbot\n    app.kubernetes.io/component: frontend\n    app.kubernetes.io/part-of: todo-chatbot\n    app.kubernetes.io/version: 0.1.0\nspec:\n  type",
                "  name: todo-chatbot-web\n  namespace: todo-chatbot\n  labels:\n    app.kubernetes.io/name: todo-chatbot\n    app.kubernetes.io/instance: todo-chatbot\n    app.kubernetes.io/component: frontend\n    app.kubernetes.io/part-of: todo-chatbot\n    app.kubernetes.io/version: 0.1.0\nspec:\n  type",
            ),
        );
    }
}
