//! KG-NS: every namespaced object states the planned namespace.

use super::{RuleContext, Sink};

pub(super) fn check(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let planned = &ctx.config.namespace;
    for obj in &ctx.model.objects {
        if obj.kind == "Namespace" {
            continue;
        }
        match obj.namespace.as_deref() {
            Some(ns) if ns == planned => {}
            Some(ns) => sink.report(
                "KG-NS-001",
                obj,
                "metadata.namespace".to_string(),
                format!("namespace is `{ns}`, the plan says `{planned}`"),
                Some(format!("Set metadata.namespace: {planned}.")),
            ),
            None => sink.report(
                "KG-NS-001",
                obj,
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
