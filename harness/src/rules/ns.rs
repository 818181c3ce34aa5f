//! KG-NS: every namespaced object states the planned namespace.

use super::{Check, Rule, RuleContext, RuleId, Sink};
use crate::finding::Severity;

pub(super) const RULES: &[Rule] = &[IN_PLANNED_NAMESPACE];

const IN_PLANNED_NAMESPACE: Rule = Rule {
    id: RuleId::Ns001,
    severity: Severity::Medium,
    title: "objects live in the planned namespace, never `default`",
    rationale: "The default namespace mixes the app with everything else; an unset namespace follows the kube context.",
    fix: "Set metadata.namespace to the planned namespace.",
    check: Check::Model(in_planned_namespace),
};

fn in_planned_namespace(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let planned = &ctx.config.namespace;
    for obj in &ctx.model.objects {
        if obj.kind == "Namespace" {
            continue;
        }
        match obj.namespace.as_deref() {
            Some(ns) if ns == planned => {}
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
