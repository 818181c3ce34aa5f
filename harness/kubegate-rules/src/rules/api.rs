//! KG-API: only stable apiVersions, reported on the object that uses another (it is carried unstructured, so the
//! rest of the check still runs); custom resources are noted as carried, not checked.

use super::{Check, Rule, RuleContext, RuleId, Sink};
use kubegate_core::finding::Severity;
use kubegate_core::model::{Typed, is_builtin_api_version, is_unstable_api_version};

pub(super) const RULES: &[Rule] = &[STABLE_API_VERSIONS, CUSTOM_RESOURCES];

const STABLE_API_VERSIONS: Rule = Rule {
    id: RuleId::Api001,
    severity: Severity::Medium,
    title: "only stable apiVersions",
    rationale: "alpha/beta APIs disappear between Kubernetes versions; the cluster then refuses the object.",
    fix: "Use the stable apiVersion (apps/v1, autoscaling/v2, policy/v1, networking.k8s.io/v1, monitoring.coreos.com/v1).",
    check: Check::Model(stable_api_versions),
};

const CUSTOM_RESOURCES: Rule = Rule {
    id: RuleId::Api002,
    severity: Severity::Info,
    title: "custom resources are carried, not checked",
    rationale: "kubegate types Kubernetes' own kinds; a custom resource (ServiceMonitor, Certificate, ...) is kept as written and only its apiVersion is judged.",
    fix: "Nothing to fix; check the resource against its operator's schema (e.g. kubectl apply --dry-run=server).",
    check: Check::Model(custom_resources),
};

fn stable_api_versions(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for obj in ctx.model.objects.iter().filter(|o| is_unstable_api_version(&o.api_version)) {
        let stable = Typed::stable_api_version(&obj.kind)
            .map(|v| format!("`{v}`"))
            .unwrap_or_else(|| "the stable version its operator serves (usually `v1`)".into());
        sink.report(
            obj,
            "apiVersion".to_string(),
            format!("{} uses non-stable apiVersion `{}`", obj.kind, obj.api_version),
            Some(format!("Use {stable} for {}.", obj.kind)),
        );
    }
}

fn custom_resources(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for obj in ctx.model.objects.iter().filter(|o| !is_builtin_api_version(&o.api_version)) {
        sink.report(
            obj,
            None,
            format!("{} ({}) is a custom resource: carried as written, not checked", obj.kind, obj.api_version),
            None,
        );
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, base, findings};

    #[test]
    fn a_beta_api_is_a_finding_on_that_object_and_the_rest_is_still_checked() {
        let f = assert_caught(
            "KG-API-001",
            &base().replacen("apiVersion: autoscaling/v2\n", "apiVersion: autoscaling/v2beta2\n", 1),
        );
        assert!(f[0].object.kind == "HorizontalPodAutoscaler" && f[0].fix.contains("autoscaling/v2"), "{f:#?}");
        assert_eq!(f[0].field.as_deref(), Some("apiVersion"));
    }

    #[test]
    fn a_custom_resource_is_a_note_and_a_non_stable_one_a_finding() {
        let monitor = "---\napiVersion: monitoring.coreos.com/v1alpha1\nkind: ServiceMonitor\nmetadata: {name: backend, namespace: todo-chatbot}\nspec: {endpoints: [{port: http}]}\n";
        let f = findings(&format!("{}{monitor}", base()));
        let rules: Vec<(&str, &str)> = f
            .iter()
            .filter(|f| f.rule_id.starts_with("KG-API-"))
            .map(|f| (f.rule_id.as_str(), f.object.name.as_str()))
            .collect();
        assert_eq!(rules, [("KG-API-001", "backend"), ("KG-API-002", "backend")], "{f:#?}");
        let note = f.iter().find(|f| f.rule_id == "KG-API-002").expect("note");
        assert_eq!(note.severity, kubegate_core::finding::Severity::Info);
    }
}
