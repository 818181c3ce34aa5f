//! KG-LABEL: the recommended app.kubernetes.io labels, present and consistent.

use std::collections::BTreeMap;

use super::{Check, Rule, RuleContext, RuleId, Sink};
use kubegate_core::finding::Severity;
use kubegate_core::model::Object;

const NAME: &str = "app.kubernetes.io/name";
const INSTANCE: &str = "app.kubernetes.io/instance";
const PART_OF: &str = "app.kubernetes.io/part-of";
const COMPONENT: &str = "app.kubernetes.io/component";
const VERSION: &str = "app.kubernetes.io/version";

/// The most common value of `key` among the objects (ties: alphabetical first).
fn majority<'a>(objs: &[&'a Object], key: &str) -> Option<&'a str> {
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for o in objs {
        if let Some(v) = o.labels().get(key) {
            *counts.entry(v.as_str()).or_default() += 1;
        }
    }
    counts.into_iter().max_by(|a, b| a.1.cmp(&b.1).then(b.0.cmp(a.0))).map(|(v, _)| v)
}

pub(super) const RULES: &[Rule] = &[RECOMMENDED_LABELS];

const RECOMMENDED_LABELS: Rule = Rule {
    id: RuleId::Label001,
    severity: Severity::Low,
    title: "app.kubernetes.io/* labels present and consistent",
    rationale: "Tools and selectors rely on the recommended labels; inconsistent values split the app.",
    fix: "Set app.kubernetes.io/{name,instance,component,part-of,version} consistently.",
    check: Check::Model(recommended_labels),
};

fn recommended_labels(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let objs: Vec<&Object> = ctx.model.objects.iter().filter(|o| o.kind != "Namespace" && !o.is_helm_hook()).collect();
    let app = majority(&objs, NAME);
    let part_of = majority(&objs, PART_OF);
    for obj in &objs {
        let labels = obj.labels();
        let missing: Vec<&str> =
            ctx.config.policy.required_labels.iter().filter(|k| !labels.contains_key(*k)).map(String::as_str).collect();
        if !missing.is_empty() {
            sink.report(obj, "metadata.labels".to_string(), format!("missing label(s) {}", missing.join(", ")), None);
        }
        let mut expected: Vec<(&str, String)> = Vec::new();
        if let Some(a) = app {
            expected.push((NAME, a.to_string()));
        }
        if let Some(p) = part_of {
            expected.push((PART_OF, p.to_string()));
        }
        if labels.contains_key(INSTANCE) {
            expected.push((INSTANCE, ctx.config.release.clone()));
        }
        if let Some(comp) = ctx.config.components.iter().find(|c| {
            (obj.kind == "Deployment" && c.deployment == obj.name) || (obj.kind == "Service" && c.service == obj.name)
        }) {
            if !labels.contains_key(COMPONENT) {
                sink.report(
                    obj,
                    "metadata.labels".to_string(),
                    format!("missing label {COMPONENT} (component `{}`)", comp.name),
                    None,
                );
            }
            expected.push((COMPONENT, comp.name.clone()));
            if obj.kind == "Deployment"
                && let Some(tag) = super::image::image_tag(&comp.image)
            {
                expected.push((VERSION, tag.to_string()));
            }
        }
        for (key, want) in &expected {
            if let Some(have) = labels.get(*key)
                && have != want
            {
                sink.report(
                    obj,
                    kubegate_core::model::join_key("metadata.labels", key),
                    format!("label {key}={have}, expected {want} (as the rest of the application / kubegate.toml)"),
                    None,
                );
            }
        }
        // The pod template carries the same identity labels as its workload.
        if let Some(pod) = obj.pod()
            && pod.prefix != "spec"
        {
            let tpl = super::pod_labels(&pod);
            let tpl_field = format!("{}.metadata.labels", pod.prefix.trim_end_matches(".spec"));
            for key in [NAME, INSTANCE, COMPONENT, PART_OF, VERSION] {
                if let Some(v) = labels.get(key)
                    && tpl.get(key) != Some(v)
                {
                    sink.report(
                        obj,
                        kubegate_core::model::join_key(&tpl_field, key),
                        format!(
                            "pod template label {key} is {}, the Deployment says {v}",
                            tpl.get(key).map(String::as_str).unwrap_or("missing")
                        ),
                        None,
                    );
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, mutate};

    #[test]
    fn missing_label() {
        let m = mutate(
            "  name: todo-chatbot-config\n  namespace: todo-chatbot\n  labels:\n    app.kubernetes.io/name: todo-chatbot\n",
            "  name: todo-chatbot-config\n  namespace: todo-chatbot\n  labels:\n",
        );
        let f = assert_caught("KG-LABEL-001", &m);
        assert!(f[0].message.contains("app.kubernetes.io/name"));
    }

    #[test]
    fn component_label_required_on_component_objects() {
        let anchor = "  labels:\n    app.kubernetes.io/name: todo-chatbot\n    app.kubernetes.io/instance: todo-chatbot\n    app.kubernetes.io/component: backend\n";
        let f = assert_caught(
            "KG-LABEL-001",
            &mutate(anchor, &anchor.replace("    app.kubernetes.io/component: backend\n", "")),
        );
        assert!(f.iter().any(|x| x.message.contains("missing label app.kubernetes.io/component")), "{f:#?}");
    }

    #[test]
    fn inconsistent_component() {
        let anchor = "  labels:\n    app.kubernetes.io/name: todo-chatbot\n    app.kubernetes.io/instance: todo-chatbot\n    app.kubernetes.io/component: frontend\n";
        assert_caught("KG-LABEL-001", &mutate(anchor, &anchor.replace("component: frontend", "component: web")));
    }
}
