//! KG-IMG: explicit tags, the planned pull policy, the configured images.

use super::{RuleContext, Sink, containers};

/// The tag of an image reference (`None` when untagged; digests count as pinned).
pub(crate) fn image_tag(image: &str) -> Option<&str> {
    if let Some((_, digest)) = image.split_once('@') {
        return Some(digest);
    }
    let last = image.rsplit('/').next().unwrap_or(image);
    last.split_once(':').map(|(_, t)| t)
}

pub(super) fn check(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let policy = &ctx.config.policy;
    for cv in containers(ctx.model) {
        let name = &cv.c.name;
        let image = cv.c.image.as_deref().unwrap_or("");
        let tag = image_tag(image);
        if !policy.allow_latest_tag && matches!(tag, None | Some("latest")) {
            sink.report(
                "KG-IMG-001",
                cv.obj,
                cv.at("image"),
                format!(
                    "container `{name}` uses image `{image}` ({})",
                    if tag.is_none() { "no tag: means latest" } else { "latest tag" }
                ),
                None,
            );
        }
        if !policy.pull_policy.is_empty() && cv.c.image_pull_policy.as_deref() != Some(policy.pull_policy.as_str()) {
            sink.report(
                "KG-IMG-002",
                cv.obj,
                cv.at("imagePullPolicy"),
                format!(
                    "container `{name}`: imagePullPolicy is {}, the plan says {}",
                    cv.c.image_pull_policy.clone().unwrap_or_else(|| "unset".into()),
                    policy.pull_policy
                ),
                Some(format!("Set imagePullPolicy: {}.", policy.pull_policy)),
            );
        }
        if let Some(comp) = ctx.config.component_for_deployment(&cv.obj.name)
            && cv.obj.kind == "Deployment"
            && comp.container == *name
            && !comp.image.is_empty()
            && image != comp.image
        {
            sink.report(
                "KG-IMG-003",
                cv.obj,
                cv.at("image"),
                format!("container `{name}` runs `{image}`, kubegate.toml names `{}`", comp.image),
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
        let mut config = crate::config::Config::default();
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
