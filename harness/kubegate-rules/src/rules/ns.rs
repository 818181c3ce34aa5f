//! KG-NS: every namespaced object states the planned namespace. A chart's objects may leave it out: `helm install
//! -n` sets it (and `.Release.Namespace` is what a chart should write when it does write one).

use super::{Check, Rule, RuleContext, RuleId, Sink};
use kubegate_core::finding::{DeployPath, Severity};

pub(super) const RULES: &[Rule] = &[IN_PLANNED_NAMESPACE];

const IN_PLANNED_NAMESPACE: Rule = Rule {
    id: RuleId::Ns001,
    severity: Severity::Medium,
    title: "objects live in the planned namespace, never `default`",
    rationale: "The default namespace mixes the app with everything else; an unset namespace in a raw manifest follows the kube context (a chart's follows helm install -n).",
    fix: "Set metadata.namespace to the planned namespace.",
    check: Check::Model(in_planned_namespace),
};

/// Kinds without a namespace (the typed ones; a custom resource's scope is unknown and it is judged only when it
/// names a namespace).
const CLUSTER_SCOPED: &[&str] = &[
    "Namespace",
    "ClusterRole",
    "ClusterRoleBinding",
    "PersistentVolume",
    "StorageClass",
    "PriorityClass",
    "IngressClass",
    "CustomResourceDefinition",
];

fn in_planned_namespace(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let planned = &ctx.config.namespace;
    for obj in &ctx.model.objects {
        if CLUSTER_SCOPED.contains(&obj.kind.as_str()) {
            continue;
        }
        match obj.namespace.as_deref() {
            Some(ns) if ns == planned => {}
            // helm install --namespace puts the chart's objects there.
            None if ctx.model.path == DeployPath::Helm || obj.is_unstructured() => {}
            Some(ns) => sink.report(obj,
                "metadata.namespace".to_string(),
                format!("namespace is `{ns}`, the plan says `{planned}`"),
                Some(format!("Set metadata.namespace: {planned}.")),
            ),
            None => sink.report(obj,
                "metadata".to_string(),
                format!("no metadata.namespace: the object lands in whatever namespace the kube context names (often `default`), the plan says `{planned}`"),
                Some(format!("Set metadata.namespace: {planned} (in a chart: {{{{ .Release.Namespace }}}}).")),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, mutate};
    use kubegate_core::finding::DeployPath;
    use kubegate_core::model::Model;

    #[test]
    fn a_chart_leaves_the_namespace_to_helm_install() {
        let yaml = mutate("  name: todo-chatbot-config\n  namespace: todo-chatbot\n", "  name: todo-chatbot-config\n");
        let helm = Model::from_str(&yaml, std::path::Path::new("t.yaml"), DeployPath::Helm).expect("loads");
        let config = kubegate_core::config::Config { contract: None, ..kubegate_core::config::Config::default() };
        let out = crate::outcome::check_models(&config, None, Some(&helm), None, None, &[]).expect("check runs");
        assert!(out.findings.iter().all(|f| f.rule_id != "KG-NS-001"), "{:#?}", out.findings);
    }

    #[test]
    fn default_namespace() {
        let f = assert_caught(
            "KG-NS-001",
            &mutate(
                "  name: todo-chatbot-config\n  namespace: todo-chatbot\n",
                "  name: todo-chatbot-config\n  namespace: default\n",
            ),
        );
        assert!(f[0].message.contains("`default`"));
        assert_caught(
            "KG-NS-001",
            &mutate("  name: todo-chatbot-config\n  namespace: todo-chatbot\n", "  name: todo-chatbot-config\n"),
        );
    }
}
