//! KG-SECRET: no secret values anywhere in the tree: env literals,
//! ConfigMaps, committed Secrets, annotations and labels, chart defaults.
//! Messages name keys, never values.

use serde_json::Value;

use std::collections::BTreeMap;

use super::{Check, Rule, RuleContext, RuleId, Sink, containers};
use kubegate_core::finding::{ObjectRef, Severity, SourceLocation};
use kubegate_core::model::{Object, Typed, join_key};

/// Whether a setting's key names a secret (matches a pattern) rather than a
/// reference to one (`existingSecret`, `secretName`, `...Ref`, `..._FILE`) or
/// the header that carries one (`API_KEY_HEADER: x-api-key`, `authHeader`).
pub(crate) fn secret_key(key: &str, patterns: &[String]) -> bool {
    let k: String = key.to_ascii_lowercase().chars().map(|c| if c == '-' || c == '.' { '_' } else { c }).collect();
    let reference = k.starts_with("existing")
        || k.ends_with("name")
        || k.ends_with("ref")
        || k.ends_with("_file")
        || k.ends_with("path")
        || k.ends_with("header")
        || matches!(k.as_str(), "secret" | "secrets" | "create" | "enabled" | "key" | "secretkey");
    !reference && patterns.iter().any(|p| k.contains(&p.to_ascii_lowercase()))
}

/// Whether a setting `key: value` holds a secret: a credential-looking value whatever its key, or a key that names
/// a secret with a value that could be one (not a number, a boolean or a URL without a password: a token's
/// lifetime or `sqlite:///todos.db` is configuration, not a secret).
pub(crate) fn secret_setting(key: &str, value: &str, patterns: &[String]) -> bool {
    !value.trim().is_empty() && ((secret_key(key, patterns) && !plainly_not_secret(value)) || secret_value(value))
}

/// Values no credential takes: numbers, booleans, durations, URLs without a password.
fn plainly_not_secret(v: &str) -> bool {
    let v = v.trim();
    let number = v.parse::<f64>().is_ok();
    let boolean = matches!(v.to_ascii_lowercase().as_str(), "true" | "false" | "yes" | "no" | "on" | "off");
    let duration = v.len() <= 6
        && v.trim_end_matches(['s', 'm', 'h', 'd']).parse::<u64>().is_ok()
        && v.ends_with(['s', 'm', 'h', 'd']);
    let url_without_password = v.contains("://") && !url_with_password(v);
    number || boolean || duration || url_without_password
}

/// Whether a value looks like a credential whatever its key: well-known
/// token prefixes, JWTs, private keys, URLs with a password, long random strings.
pub(crate) fn secret_value(v: &str) -> bool {
    let v = v.trim();
    if v.is_empty() {
        return false;
    }
    let prefixed = ["sk-", "ghp_", "gho_", "github_pat_", "xoxb-", "xoxp-", "AIza", "glpat-"]
        .iter()
        .any(|p| v.starts_with(p) && v.len() >= 20);
    let aws = v.starts_with("AKIA") && v.len() == 20 && v.chars().all(|c| c.is_ascii_uppercase() || c.is_ascii_digit());
    let pem = v.contains("-----BEGIN") && v.contains("PRIVATE KEY");
    let jwt = v.starts_with("eyJ") && v.matches('.').count() == 2 && !v.contains(' ');
    prefixed || aws || pem || jwt || url_with_password(v) || random_looking(v)
}

fn url_with_password(v: &str) -> bool {
    let Some((_, rest)) = v.split_once("://") else { return false };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    match authority.rsplit_once('@') {
        Some((userinfo, _)) => userinfo.split_once(':').is_some_and(|(_, pw)| !pw.is_empty()),
        None => false,
    }
}

/// Long, no spaces, not a URL or path, and high Shannon entropy (hex
/// checksums stay below the threshold; base64 keys exceed it).
fn random_looking(v: &str) -> bool {
    if v.len() < 32 || v.contains(char::is_whitespace) || v.contains("://") || v.starts_with('/') {
        return false;
    }
    let mut counts = std::collections::HashMap::new();
    for c in v.chars() {
        *counts.entry(c).or_insert(0usize) += 1;
    }
    let n = v.chars().count() as f64;
    let entropy: f64 = counts
        .values()
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum();
    let has_digit = v.chars().any(|c| c.is_ascii_digit());
    let has_alpha = v.chars().any(|c| c.is_ascii_alphabetic());
    has_digit && has_alpha && entropy > 4.2
}

/// Annotation/label keys written by tools, never by a person storing a secret.
fn tool_metadata_key(k: &str) -> bool {
    k == crate::waiver::ANNOTATION
        || k == "kubectl.kubernetes.io/last-applied-configuration"
        || k.starts_with("helm.sh/")
        || k.starts_with("meta.helm.sh/")
        || k.starts_with("checksum/")
}

pub(super) const RULES: &[Rule] = &[
    NO_ENV_LITERAL,
    NO_CONFIG_MAP_SECRET,
    NO_COMMITTED_SECRET,
    NO_METADATA_SECRET,
    NO_CHART_DEFAULT,
    NO_CLASH_WITH_CLI_SECRET,
];

const NO_ENV_LITERAL: Rule = Rule {
    id: RuleId::Secret001,
    severity: Severity::Critical,
    title: "no secret literal in env values",
    rationale: "A literal in a manifest is committed to git and readable by anyone with get on the object.",
    fix: "Read it through env.valueFrom.secretKeyRef.",
    check: Check::Model(no_env_literal),
};

const NO_CONFIG_MAP_SECRET: Rule = Rule {
    id: RuleId::Secret002,
    severity: Severity::Critical,
    title: "no secret-looking keys or values in ConfigMaps",
    rationale: "ConfigMaps are neither encrypted nor access-restricted like Secrets (P3).",
    fix: "Move the setting to the Secret and read it with secretKeyRef.",
    check: Check::Model(no_config_map_secret),
};

const NO_COMMITTED_SECRET: Rule = Rule {
    id: RuleId::Secret003,
    severity: Severity::Critical,
    title: "no committed Secret with data",
    rationale: "AD-5: secrets are created from the command line, never committed.",
    fix: "Delete the Secret manifest; document `kubectl create secret generic ...`.",
    check: Check::Model(no_committed_secret),
};

const NO_METADATA_SECRET: Rule = Rule {
    id: RuleId::Secret004,
    severity: Severity::High,
    title: "no secret-looking annotations or labels",
    rationale: "Annotations are readable by anyone who can list the object.",
    fix: "Remove the value; keep secrets in the Secret.",
    check: Check::Model(no_metadata_secret),
};

const NO_CHART_DEFAULT: Rule = Rule {
    id: RuleId::Secret005,
    severity: Severity::Critical,
    title: "chart values carry no secret defaults",
    rationale: "A default in values.yaml is committed and lands in every release record.",
    fix: "Leave secret values empty and reference secrets.existingSecret.",
    check: Check::Model(no_chart_default),
};

const NO_CLASH_WITH_CLI_SECRET: Rule = Rule {
    id: RuleId::Secret006,
    severity: Severity::High,
    title: "no Secret in the tree with the name the plan creates from the command line",
    rationale: "AD-5 creates the Secret with kubectl create secret; a chart or manifest of the same name (even empty) makes helm install fail on the existing object, or overwrites the real values.",
    fix: "Delete the Secret template or manifest (or render it only when the values ask for it); keep creating it from the command line.",
    check: Check::Model(no_clash_with_cli_secret),
};

fn no_clash_with_cli_secret(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for obj in ctx.model.objects.iter().filter(|o| matches!(o.typed, Typed::Secret(_))) {
        if ctx.config.secret(&obj.name).is_some() {
            let how = match ctx.model.path {
                kubegate_core::finding::DeployPath::Helm => "the chart renders",
                kubegate_core::finding::DeployPath::Raw => "the manifests contain",
            };
            sink.report(
                obj,
                None,
                format!(
                    "{how} Secret `{}`, which the plan creates from the command line ([[secret]] of kubegate.toml): one overwrites or blocks the other",
                    obj.name
                ),
                None,
            );
        }
    }
}

fn no_env_literal(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let patterns = &ctx.config.policy.secret_key_patterns;
    for cv in containers(ctx.model) {
        for (i, e) in cv.c.env.as_deref().unwrap_or(&[]).iter().enumerate() {
            let Some(v) = e.value.as_deref() else { continue };
            if secret_setting(&e.name, v, patterns) {
                sink.report(
                    cv.obj,
                    cv.at(&format!("env[{i}].value")),
                    format!(
                        "container `{}`: env `{}` has a literal value that looks like a secret (redacted)",
                        cv.c.name, e.name
                    ),
                    Some(format!("Put `{}` in the Secret and read it with valueFrom.secretKeyRef.", e.name)),
                );
            }
        }
    }
}

fn no_config_map_secret(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let patterns = &ctx.config.policy.secret_key_patterns;
    for (obj, cm) in ctx.model.config_maps() {
        for (k, v) in cm.data.iter().flatten() {
            if secret_setting(k, v, patterns) {
                sink.report(
                    obj,
                    join_key("data", k),
                    format!("ConfigMap key `{k}` looks like a secret setting (value redacted)"),
                    None,
                );
            }
        }
        for k in cm.binary_data.iter().flat_map(|b| b.keys()) {
            if secret_key(k, patterns) {
                sink.report(
                    obj,
                    join_key("binaryData", k),
                    format!("ConfigMap binary key `{k}` looks like a secret"),
                    None,
                );
            }
        }
    }
}

fn no_committed_secret(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for obj in &ctx.model.objects {
        let Typed::Secret(s) = &obj.typed else { continue };
        let mut keys: Vec<&String> = s.data.iter().flatten().filter(|(_, v)| !v.0.is_empty()).map(|(k, _)| k).collect();
        keys.extend(s.string_data.iter().flatten().filter(|(_, v)| !v.is_empty()).map(|(k, _)| k));
        if !keys.is_empty() {
            let list: Vec<&str> = keys.iter().map(|k| k.as_str()).collect();
            sink.report(
                obj,
                Some(if s.data.is_some() { "data".to_string() } else { "stringData".to_string() }),
                format!("Secret `{}` is committed with values for {} (values redacted)", obj.name, list.join(", ")),
                None,
            );
        }
    }
}

/// An object's annotations and labels, and its pod template's, with their field paths.
fn metadata_maps(obj: &Object) -> Vec<(String, &BTreeMap<String, String>)> {
    let mut metadata: Vec<(String, &BTreeMap<String, String>)> =
        vec![("metadata.annotations".into(), obj.annotations()), ("metadata.labels".into(), obj.labels())];
    if let Some(pod) = obj.pod()
        && pod.prefix != "spec"
        && let Some(m) = pod.meta
    {
        let tpl = pod.prefix.trim_end_matches(".spec");
        if let Some(a) = &m.annotations {
            metadata.push((format!("{tpl}.metadata.annotations"), a));
        }
        if let Some(l) = &m.labels {
            metadata.push((format!("{tpl}.metadata.labels"), l));
        }
    }
    metadata
}

fn no_metadata_secret(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let patterns = &ctx.config.policy.secret_key_patterns;
    for obj in &ctx.model.objects {
        for (at, map) in metadata_maps(obj) {
            for (k, v) in map {
                if tool_metadata_key(k) {
                    continue;
                }
                if secret_setting(k, v, patterns) {
                    sink.report(
                        obj,
                        join_key(&at, k),
                        format!("`{k}` in {at} carries a secret-looking value (redacted)"),
                        None,
                    );
                }
            }
        }
    }
}

fn no_chart_default(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let Some(values) = ctx.chart_values else { return };
    let mut hits = Vec::new();
    walk_values(values, "", &ctx.config.policy.secret_key_patterns, &mut hits);
    let file = ctx.model.root.join("values.yaml");
    for field in hits {
        sink.report_ref(
            ObjectRef { kind: "HelmValues".into(), name: "values.yaml".into(), namespace: None },
            Some(field.clone()),
            format!("chart value `{field}` has a secret-looking default (redacted)"),
            None,
            Some(SourceLocation { file: file.clone(), ..Default::default() }),
        );
    }
}

fn walk_values(v: &Value, path: &str, patterns: &[String], hits: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                let p = join_key(path, k);
                if let Value::String(s) = x {
                    if secret_setting(k, s, patterns) {
                        hits.push(p);
                    }
                } else {
                    walk_values(x, &p, patterns, hits);
                }
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                let p = format!("{path}[{i}]");
                match x {
                    Value::String(s) if secret_value(s) => hits.push(p),
                    _ => walk_values(x, &p, patterns, hits),
                }
            }
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, mutate, of_rule};
    use super::*;

    fn pats() -> Vec<String> {
        kubegate_core::config::Config::default().policy.secret_key_patterns
    }

    #[test]
    fn key_heuristics() {
        for k in ["JWT_SECRET", "DATABASE_URL", "OPENAI_API_KEY", "apiKey", "db-password", "authToken"] {
            assert!(secret_key(k, &pats()), "{k}");
        }
        for k in ["existingSecret", "secretName", "OPENAI_BASE_URL", "LOG_LEVEL", "secretKeyRef", "JWT_SECRET_FILE"] {
            assert!(!secret_key(k, &pats()), "{k}");
        }
        // A header's name is not the secret it carries.
        for k in ["API_KEY_HEADER", "api-key-header", "authTokenHeader"] {
            assert!(!secret_key(k, &pats()), "{k}");
        }
    }

    #[test]
    fn a_header_name_in_a_config_map_is_no_secret_but_a_credential_value_still_is() {
        let with = |line: &str| mutate("  LOG_LEVEL: info\n", &format!("  LOG_LEVEL: info\n{line}\n"));
        assert!(of_rule(&with("  API_KEY_HEADER: x-api-key"), "KG-SECRET-002").is_empty());
        let f = assert_caught("KG-SECRET-002", &with("  API_KEY_HEADER: sk-proj-abcdefghijklmnopqrstuvwx"));
        assert!(f[0].message.contains("API_KEY_HEADER") && !f[0].message.contains("sk-proj"), "{}", f[0].message);
    }

    #[test]
    fn value_heuristics() {
        for v in [
            "sk-proj-abcdefghijklmnopqrstuvwx",
            "postgres://app:hunter2@db:5432/app",
            "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
            "Zm9vYmFyYmF6cXV4MTIzNDU2Nzg5MGFiY2RlZmdo",
        ] {
            assert!(secret_value(v), "{v}");
        }
        for v in [
            "http://todo-chatbot-backend:8000",
            "gpt-4o-mini",
            "info",
            "postgres://db:5432/app",
            "3f786850e387550fdab836ed7e6dc881de23001b3f786850e387550fdab836ed",
        ] {
            assert!(!secret_value(v), "{v}");
        }
    }

    #[test]
    fn a_secret_key_with_a_value_no_secret_takes_is_no_finding() {
        for (k, v) in [
            ("accessTokenExpireMinutes", "30"),
            ("ACCESS_TOKEN_EXPIRE_MINUTES", "30"),
            ("DATABASE_URL", "sqlite:///todos.db"),
            ("DATABASE_URL", "postgresql://db:5432/todos"),
            ("TOKEN_TTL", "15m"),
            ("SECRET_ROTATION_ENABLED", "true"),
        ] {
            assert!(!secret_setting(k, v, &pats()), "{k}={v}");
        }
        for (k, v) in [
            ("DATABASE_URL", "postgresql://todo:hunter2@db:5432/todos"),
            ("JWT_SECRET", "change-me-in-production"),
            ("OPENAI_API_KEY", "sk-proj-abcdefghijklmnopqrstuvwx"),
            ("LOG_LEVEL", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"),
        ] {
            assert!(secret_setting(k, v, &pats()), "{k}={v}");
        }
    }

    #[test]
    fn env_literal() {
        let m = mutate(
            "- {name: PORT, value: \"8000\"}",
            "- {name: PORT, value: \"8000\"}\n            - {name: API_TOKEN, value: s3cr3t-t0ken}",
        );
        let f = assert_caught("KG-SECRET-001", &m);
        assert!(!f[0].message.contains("s3cr3t"), "value leaked: {}", f[0].message);
    }

    #[test]
    fn configmap_password() {
        let f = assert_caught(
            "KG-SECRET-002",
            &mutate("  LOG_LEVEL: info\n", "  LOG_LEVEL: info\n  DB_PASSWORD: hunter2\n"),
        );
        assert!(!f[0].message.contains("hunter2"));
    }

    #[test]
    fn committed_secret() {
        let m = format!(
            "{}---\napiVersion: v1\nkind: Secret\nmetadata: {{name: todo-chatbot-secrets, namespace: todo-chatbot}}\nstringData:\n  JWT_SECRET: abc\n  OPENAI_API_KEY: \"\"\n",
            super::super::testkit::base()
        );
        let f = assert_caught("KG-SECRET-003", &m);
        assert!(
            f[0].message.contains("JWT_SECRET")
                && !f[0].message.contains("OPENAI_API_KEY")
                && !f[0].message.contains("abc"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn a_secret_with_the_cli_secret_name_clashes() {
        let empty = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: todo-chatbot-secrets, namespace: todo-chatbot}\ntype: Opaque\n";
        let f = assert_caught("KG-SECRET-006", &format!("{}{empty}", super::super::testkit::base()));
        assert!(f[0].message.contains("todo-chatbot-secrets"), "{}", f[0].message);
        let other = empty.replace("todo-chatbot-secrets", "tls-cert");
        let f = of_rule(&format!("{}{other}", super::super::testkit::base()), "KG-SECRET-006");
        assert!(f.is_empty(), "a Secret of another name is not a clash: {f:#?}");
    }

    #[test]
    fn annotation_secret() {
        assert_caught(
            "KG-SECRET-004",
            &mutate(
                "kind: Service\nmetadata:\n",
                "kind: Service\nmetadata:\n  annotations: {db-url: \"postgres://u:pw@h/db\"}\n",
            ),
        );
    }

    #[test]
    fn chart_value_defaults() {
        let mut hits = Vec::new();
        let v = serde_json::json!({"secrets": {"existingSecret": "todo-chatbot-secrets", "create": false, "JWT_SECRET": "", "OPENAI_API_KEY": "sk-abcdefghijklmnopqrstuvwxyz"}, "image": {"tag": "0.1.0"}});
        walk_values(&v, "", &pats(), &mut hits);
        assert_eq!(hits, vec!["secrets.OPENAI_API_KEY".to_string()]);
    }
}
