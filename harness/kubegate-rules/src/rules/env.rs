//! KG-ENV: environment wiring: no duplicates, every key reference resolves,
//! every key a component needs is wired in.

use std::collections::BTreeSet;

use super::{Check, ContainerView, Rule, RuleContext, RuleId, Sink, containers};
use kubegate_core::finding::Severity;
use kubegate_core::model::{Model, Typed};

pub(super) const RULES: &[Rule] = &[NO_DUPLICATES, REFERENCES_RESOLVE, REQUIRED_KEYS_WIRED];

const NO_DUPLICATES: Rule = Rule {
    id: RuleId::Env001,
    severity: Severity::Low,
    title: "no duplicate env var names",
    rationale: "The last one silently wins; the first is dead configuration.",
    fix: "Remove the duplicate entry.",
    check: Check::Model(no_duplicates),
};

const REFERENCES_RESOLVE: Rule = Rule {
    id: RuleId::Env002,
    severity: Severity::High,
    title: "every secretKeyRef / configMapKeyRef names a key the plan provides",
    rationale: "A missing key stops the pod in CreateContainerConfigError.",
    fix: "Fix the key or Secret/ConfigMap name, or add the key ([secret].keys / the ConfigMap).",
    check: Check::Model(references_resolve),
};

const REQUIRED_KEYS_WIRED: Rule = Rule {
    id: RuleId::Env003,
    severity: Severity::Medium,
    title: "the container reads every key its component requires",
    rationale: "A required setting that is not wired in makes the app fail at start (or fall back silently).",
    fix: "Add an env entry with secretKeyRef/configMapKeyRef, or envFrom.",
    check: Check::Model(required_keys_wired),
};

/// Keys a ConfigMap in the model provides (`None` when it is not in the model).
fn config_map_keys(model: &Model, name: &str) -> Option<BTreeSet<String>> {
    model.config_maps().find(|(o, _)| o.name == name).map(|(_, cm)| {
        cm.data.iter().flat_map(|d| d.keys()).chain(cm.binary_data.iter().flat_map(|d| d.keys())).cloned().collect()
    })
}

/// Keys a Secret provides: the configured (CLI-created) one from kubegate.toml,
/// others from the model. `None` when unknown.
fn secret_keys(ctx: &RuleContext<'_>, name: &str) -> Option<BTreeSet<String>> {
    if let Some(secret) = ctx.config.secret(name) {
        return Some(secret.keys.iter().cloned().collect());
    }
    ctx.model.objects.iter().find_map(|o| match &o.typed {
        Typed::Secret(s) if o.name == name => Some(
            s.data.iter().flat_map(|d| d.keys()).chain(s.string_data.iter().flat_map(|d| d.keys())).cloned().collect(),
        ),
        _ => None,
    })
}

/// KG-ENV-002 for one container.
fn check_refs(ctx: &RuleContext<'_>, sink: &mut Sink<'_>, cv: &ContainerView<'_>) {
    let name = &cv.c.name;
    for (i, e) in cv.c.env.as_deref().unwrap_or(&[]).iter().enumerate() {
        let Some(from) = &e.value_from else { continue };
        if let Some(r) = &from.secret_key_ref {
            match secret_keys(ctx, &r.name) {
                None => sink.report(cv.obj,
                    cv.at(&format!("env[{i}].valueFrom.secretKeyRef.name")),
                    format!("container `{name}`: env `{}` reads Secret `{}`, which is neither a [[secret]] of kubegate.toml nor in the tree", e.name, r.name),
                    None,
                ),
                Some(keys) if !keys.contains(&r.key) => sink.report(cv.obj,
                    cv.at(&format!("env[{i}].valueFrom.secretKeyRef.key")),
                    format!("container `{name}`: env `{}` reads key `{}` of Secret `{}`, which provides only {}", e.name, r.key, r.name, list(&keys)),
                    None,
                ),
                _ => {}
            }
        }
        if let Some(r) = &from.config_map_key_ref {
            match config_map_keys(ctx.model, &r.name) {
                None => sink.report(
                    cv.obj,
                    cv.at(&format!("env[{i}].valueFrom.configMapKeyRef.name")),
                    format!(
                        "container `{name}`: env `{}` reads ConfigMap `{}`, which is not in the tree",
                        e.name, r.name
                    ),
                    None,
                ),
                Some(keys) if !keys.contains(&r.key) => sink.report(
                    cv.obj,
                    cv.at(&format!("env[{i}].valueFrom.configMapKeyRef.key")),
                    format!(
                        "container `{name}`: env `{}` reads key `{}` of ConfigMap `{}`, which has only {}",
                        e.name,
                        r.key,
                        r.name,
                        list(&keys)
                    ),
                    None,
                ),
                _ => {}
            }
        }
    }
    for (i, ef) in cv.c.env_from.as_deref().unwrap_or(&[]).iter().enumerate() {
        if let Some(r) = &ef.config_map_ref
            && r.optional != Some(true)
            && config_map_keys(ctx.model, &r.name).is_none()
        {
            sink.report(
                cv.obj,
                cv.at(&format!("envFrom[{i}].configMapRef.name")),
                format!("container `{name}`: envFrom ConfigMap `{}` is not in the tree", r.name),
                None,
            );
        }
        if let Some(r) = &ef.secret_ref
            && r.optional != Some(true)
            && secret_keys(ctx, &r.name).is_none()
        {
            sink.report(
                cv.obj,
                cv.at(&format!("envFrom[{i}].secretRef.name")),
                format!(
                    "container `{name}`: envFrom Secret `{}` is neither a [[secret]] of kubegate.toml nor in the tree",
                    r.name
                ),
                None,
            );
        }
    }
}

fn list(keys: &BTreeSet<String>) -> String {
    if keys.is_empty() { "no keys".into() } else { keys.iter().map(String::as_str).collect::<Vec<_>>().join(", ") }
}

/// Keys of the configured Secret / of ConfigMaps that reach the container.
fn wired_keys(ctx: &RuleContext<'_>, cv: &ContainerView<'_>) -> (BTreeSet<String>, BTreeSet<String>) {
    let mut secret = BTreeSet::new();
    let mut config = BTreeSet::new();
    for e in cv.c.env.as_deref().unwrap_or(&[]) {
        let Some(from) = &e.value_from else { continue };
        if let Some(r) = &from.secret_key_ref
            && ctx.config.secret(&r.name).is_some()
        {
            secret.insert(r.key.clone());
        }
        if let Some(r) = &from.config_map_key_ref {
            config.insert(r.key.clone());
        }
    }
    for ef in cv.c.env_from.as_deref().unwrap_or(&[]) {
        if let Some(r) = &ef.secret_ref {
            secret.extend(secret_keys(ctx, &r.name).unwrap_or_default());
        }
        if let Some(r) = &ef.config_map_ref {
            config.extend(config_map_keys(ctx.model, &r.name).unwrap_or_default());
        }
    }
    (secret, config)
}

fn no_duplicates(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in containers(ctx.model) {
        let mut seen = BTreeSet::new();
        for (i, e) in cv.c.env.as_deref().unwrap_or(&[]).iter().enumerate() {
            if !seen.insert(e.name.as_str()) {
                sink.report(
                    cv.obj,
                    cv.at(&format!("env[{i}]")),
                    format!("container `{}`: env `{}` is defined more than once", cv.c.name, e.name),
                    None,
                );
            }
        }
    }
}

fn references_resolve(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in containers(ctx.model) {
        check_refs(ctx, sink, &cv);
    }
}

fn required_keys_wired(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in containers(ctx.model) {
        let Some(comp) = ctx.config.component_for_deployment(&cv.obj.name) else { continue };
        if cv.obj.kind != "Deployment" || comp.container != cv.c.name {
            continue;
        }
        let (secret, config) = wired_keys(ctx, &cv);
        let missing_secret: Vec<&str> =
            comp.secret_keys.iter().filter(|k| !secret.contains(*k)).map(String::as_str).collect();
        let missing_config: Vec<&str> =
            comp.config_keys.iter().filter(|k| !config.contains(*k)).map(String::as_str).collect();
        if !missing_secret.is_empty() {
            sink.report(
                cv.obj,
                cv.at("env"),
                format!(
                    "container `{}` does not read {} from the CLI-created Secret(s) {}",
                    cv.c.name,
                    missing_secret.join(", "),
                    ctx.config.secrets.iter().map(|s| format!("`{}`", s.name)).collect::<Vec<_>>().join(", ")
                ),
                None,
            );
        }
        if !missing_config.is_empty() {
            sink.report(
                cv.obj,
                cv.at("env"),
                format!("container `{}` does not read ConfigMap key(s) {}", cv.c.name, missing_config.join(", ")),
                None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, mutate};

    #[test]
    fn duplicate_env() {
        assert_caught(
            "KG-ENV-001",
            &mutate(
                "- {name: PORT, value: \"8000\"}",
                "- {name: PORT, value: \"8000\"}\n            - {name: PORT, value: \"9000\"}",
            ),
        );
    }

    #[test]
    fn unknown_secret_key() {
        let f = assert_caught(
            "KG-ENV-002",
            &mutate(
                "secretKeyRef: {name: todo-chatbot-secrets, key: JWT_SECRET}",
                "secretKeyRef: {name: todo-chatbot-secrets, key: JWT_SECRETS}",
            ),
        );
        assert!(
            f[0].message.contains("JWT_SECRETS") && f[0].message.contains("DATABASE_URL, JWT_SECRET, OPENAI_API_KEY"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn unknown_config_map_key_or_name() {
        assert_caught("KG-ENV-002", &mutate("key: BACKEND_URL}", "key: BACKEND_URI}"));
        assert_caught(
            "KG-ENV-002",
            &mutate(
                "envFrom: [{configMapRef: {name: todo-chatbot-config}}]",
                "envFrom: [{configMapRef: {name: todo-config}}]",
            ),
        );
    }

    #[test]
    fn required_key_not_wired() {
        let f = assert_caught(
            "KG-ENV-003",
            &mutate(
                "            - {name: JWT_SECRET, valueFrom: {secretKeyRef: {name: todo-chatbot-secrets, key: JWT_SECRET}}}\n",
                "",
            ),
        );
        assert!(f[0].message.contains("JWT_SECRET"));
    }
}
