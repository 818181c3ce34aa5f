//! KG-IMG: explicit tags, the planned pull policy, the configured images.

use super::{Check, Rule, RuleContext, RuleId, Sink, containers};
use kubegate_core::finding::Severity;

pub(super) const RULES: &[Rule] = &[EXPLICIT_TAG, PULL_POLICY, CONFIGURED_IMAGE];

const EXPLICIT_TAG: Rule = Rule {
    id: RuleId::Img001,
    severity: Severity::Medium,
    title: "image has an explicit tag (not latest)",
    rationale: "A floating tag makes the deployment irreproducible.",
    fix: "Use an explicit version tag, e.g. `todo-chatbot-backend:0.1.0`.",
    check: Check::Model(explicit_tag),
};

const PULL_POLICY: Rule = Rule {
    id: RuleId::Img002,
    severity: Severity::Medium,
    title: "imagePullPolicy is what the plan says (Never)",
    rationale: "AD-4: images are built locally and loaded into the cluster; any pull fails.",
    fix: "Set imagePullPolicy: Never (or change [policy].pull_policy).",
    check: Check::Model(pull_policy),
};

const CONFIGURED_IMAGE: Rule = Rule {
    id: RuleId::Img003,
    severity: Severity::Medium,
    title: "image is the one kubegate.toml names",
    rationale: "The images suite builds and loads exactly that reference.",
    fix: "Use the component's configured image, or update kubegate.toml.",
    check: Check::Model(configured_image),
};

/// The tag of an image reference (`None` when untagged; digests count as pinned).
pub(crate) fn image_tag(image: &str) -> Option<&str> {
    if let Some((_, digest)) = image.split_once('@') {
        return Some(digest);
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, t)| t)
}

fn explicit_tag(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    if ctx.config.policy.allow_latest_tag {
        return;
    }
    for cv in containers(ctx.model) {
        let image = cv.c.image.as_deref().unwrap_or("");
        let tag = image_tag(image);
        if matches!(tag, None | Some("latest")) {
            sink.report(
                cv.obj,
                cv.at("image"),
                format!(
                    "container `{}` uses image `{image}` ({})",
                    cv.c.name,
                    if tag.is_none() { "no tag: means latest" } else { "latest tag" }
                ),
                None,
            );
        }
    }
}

fn pull_policy(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let want = &ctx.config.policy.pull_policy;
    if want.is_empty() {
        return;
    }
    for cv in containers(ctx.model) {
        if cv.c.image_pull_policy.as_deref() != Some(want.as_str()) {
            sink.report(
                cv.obj,
                cv.at("imagePullPolicy"),
                format!(
                    "container `{}`: imagePullPolicy is {}, the plan says {want}",
                    cv.c.name,
                    cv.c.image_pull_policy.clone().unwrap_or_else(|| "unset".into()),
                ),
                Some(format!("Set imagePullPolicy: {want}.")),
            );
        }
    }
}

fn configured_image(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in containers(ctx.model) {
        let image = cv.c.image.as_deref().unwrap_or("");
        if let Some(comp) = ctx.config.component_for_deployment(&cv.obj.name)
            && cv.obj.kind == "Deployment"
            && comp.container == cv.c.name
            && !comp.image.is_empty()
            && image != comp.image
        {
            sink.report(
                cv.obj,
                cv.at("image"),
                format!("container `{}` runs `{image}`, kubegate.toml names `{}`", cv.c.name, comp.image),
                None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, base, findings_with, mutate};
    use super::image_tag;

    #[test]
    fn tags() {
        assert_eq!(image_tag("reg:5000/app:1.0"), Some("1.0"));
        assert_eq!(image_tag("reg:5000/app"), None);
        assert_eq!(image_tag("app@sha256:abc"), Some("sha256:abc"));
    }

    #[test]
    fn latest_tag() {
        let m = mutate("image: todo-chatbot-backend:0.1.0", "image: todo-chatbot-backend:latest");
        assert_caught("KG-IMG-001", &m);
        let mut config = kubegate_core::config::Config::default();
        config.policy.allow_latest_tag = true;
        assert!(findings_with(&m, &config).iter().all(|f| f.rule_id != "KG-IMG-001"));
    }

    #[test]
    fn pull_policy() {
        let f = assert_caught("KG-IMG-002", &mutate("imagePullPolicy: Never", "imagePullPolicy: Always"));
        assert!(f[0].message.contains("Always") && f[0].message.contains("Never"));
    }

    #[test]
    fn configured_image() {
        assert_caught(
            "KG-IMG-003",
            &mutate("image: todo-chatbot-frontend:0.1.0", "image: todo-chatbot-frontend:0.2.0"),
        );
        assert!(!base().is_empty());
    }
}
