//! The Secrets of the deployment under test (`[[secret]]` in kubegate.toml),
//! made the way the plan says: the API equivalent of `kubectl create secret
//! generic --from-literal/--from-env-file`, with values from an env file or
//! the process environment, never from the repository. Values never appear in
//! `Debug`, errors or output.

use super::{DeployError, FIELD_MANAGER};
use crate::redact::Redactor;
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ObjectMeta, Patch, PatchParams};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// Why secret values could not be gathered. Names keys and lines, never values.
#[derive(Debug, thiserror::Error)]
pub enum LoadSecretError {
    /// The env file could not be read.
    #[error("cannot read env file {file}")]
    Read {
        /// The env file.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A line of the env file is not `KEY=VALUE`.
    #[error("{file}:{line}: {reason} (expected KEY=VALUE, `# comment` or a blank line)")]
    BadLine {
        /// The env file.
        file: PathBuf,
        /// The line number (1-based).
        line: usize,
        /// What is wrong with the line (never its value).
        reason: String,
    },
    /// A required key is in neither the env file nor the environment.
    #[error(
        "key {key} of Secret {secret} has no value\n  fix: put `{key}=...` in the env file (--env-file) or export {key}; or mark it `generate` (random) or `optional` in its [[secret]] of kubegate.toml"
    )]
    Missing {
        /// The Secret.
        secret: String,
        /// The key.
        key: String,
    },
}

/// Secret values by key. `Debug` prints only the keys.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretValues {
    values: BTreeMap<String, String>,
}

impl std::fmt::Debug for SecretValues {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretValues").field("keys", &self.values.keys().collect::<Vec<_>>()).finish()
    }
}

impl SecretValues {
    /// Like `--from-literal KEY=VALUE ...`.
    pub fn from_literals<K: Into<String>, V: Into<String>>(pairs: impl IntoIterator<Item = (K, V)>) -> Self {
        SecretValues { values: pairs.into_iter().map(|(k, v)| (k.into(), v.into())).collect() }
    }

    /// Like `--from-env-file`: `KEY=VALUE` lines (value taken verbatim after
    /// the first `=`, no quote processing), `#` comments and blank lines
    /// skipped, and a bare `KEY` taking its value from the environment.
    pub fn from_env_file(file: &Path) -> Result<Self, LoadSecretError> {
        let text =
            std::fs::read_to_string(file).map_err(|source| LoadSecretError::Read { file: file.to_owned(), source })?;
        Self::parse_env_file(&text, file, |k| std::env::var(k).ok())
    }

    /// The parser behind [`SecretValues::from_env_file`], with the
    /// environment lookup injected (tests).
    pub fn parse_env_file(
        text: &str,
        file: &Path,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, LoadSecretError> {
        let mut values = BTreeMap::new();
        for (i, raw) in text.lines().enumerate() {
            let line = raw.trim_start().trim_end_matches('\r');
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let bad =
                |reason: &str| LoadSecretError::BadLine { file: file.to_owned(), line: i + 1, reason: reason.into() };
            let (key, value) = match line.split_once('=') {
                Some((k, v)) => (k.to_owned(), Some(v.to_owned())),
                None => (line.trim_end().to_owned(), None),
            };
            if key.is_empty() {
                return Err(bad("empty key"));
            }
            if !key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.') {
                // Only the key is named: the line may hold a value.
                return Err(bad(&format!("invalid key {:?}", key.chars().take(40).collect::<String>())));
            }
            let value = match value {
                Some(v) => v,
                None => match env(&key) {
                    Some(v) => v,
                    None => continue,
                },
            };
            values.insert(key, value);
        }
        Ok(SecretValues { values })
    }

    /// The given keys from the process environment (unset keys are left out).
    pub fn from_process_env<'a>(keys: impl IntoIterator<Item = &'a str>) -> Self {
        SecretValues {
            values: keys.into_iter().filter_map(|k| std::env::var(k).ok().map(|v| (k.to_owned(), v))).collect(),
        }
    }

    /// Set (or replace) one value; used to rotate a value.
    pub fn set(&mut self, key: impl Into<String>, value: impl Into<String>) {
        self.values.insert(key.into(), value.into());
    }

    /// A copy without `key` (for the "missing key" broken deployment).
    pub fn without(&self, key: &str) -> Self {
        let mut v = self.clone();
        v.values.remove(key);
        v
    }

    /// The value of `key`, if set. Handle with care: never print it.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.values.get(key).map(String::as_str)
    }

    /// The keys, sorted.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.values.keys().map(String::as_str)
    }

    /// A redactor for these values.
    pub fn redactor(&self) -> Redactor {
        Redactor::new(self.values.iter())
    }

    /// The Secret object (type Opaque, values in `data`, as kubectl makes it).
    pub fn to_secret(&self, name: &str, namespace: &str) -> Secret {
        Secret {
            metadata: ObjectMeta {
                name: Some(name.to_owned()),
                namespace: Some(namespace.to_owned()),
                labels: Some(BTreeMap::from([("app.kubernetes.io/managed-by".to_owned(), FIELD_MANAGER.to_owned())])),
                ..Default::default()
            },
            type_: Some("Opaque".to_owned()),
            data: Some(self.values.iter().map(|(k, v)| (k.clone(), ByteString(v.clone().into_bytes()))).collect()),
            ..Default::default()
        }
    }
}

/// Every Secret of the deployment under test with the values a live run
/// gives it, in kubegate.toml's order. `Debug` prints names and keys only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct SecretSet {
    secrets: Vec<(String, SecretValues)>,
}

impl std::fmt::Debug for SecretSet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.secrets.iter().map(|(name, v)| (name, v.keys().collect::<Vec<_>>()))).finish()
    }
}

impl SecretSet {
    /// The values of every `[[secret]]` of `config`: the database key gets
    /// `database_url`; another key takes its value from `given` (an env file,
    /// or the environment), else a random one when the key is `generate`, else
    /// is left out when `optional`; otherwise the key is [`LoadSecretError::Missing`].
    pub fn from_config(
        config: &crate::config::Config,
        given: &SecretValues,
        database_url: &str,
    ) -> Result<Self, LoadSecretError> {
        let mut secrets = Vec::new();
        for sec in &config.secrets {
            let mut values = SecretValues::default();
            for key in &sec.keys {
                let value = if sec.database_key.as_ref() == Some(key) {
                    Some(database_url.to_owned())
                } else if let Some(v) = given.get(key) {
                    Some(v.to_owned())
                } else if sec.generate.contains(key) {
                    Some(crate::live::context::random_secret())
                } else if sec.is_optional(key) {
                    None
                } else {
                    return Err(LoadSecretError::Missing { secret: sec.name.clone(), key: key.clone() });
                };
                if let Some(v) = value {
                    values.set(key.clone(), v);
                }
            }
            secrets.push((sec.name.clone(), values));
        }
        Ok(SecretSet { secrets })
    }

    /// A set from Secrets as they are (e.g. read back from a namespace).
    pub fn from_secrets(secrets: impl IntoIterator<Item = (String, SecretValues)>) -> Self {
        SecretSet { secrets: secrets.into_iter().collect() }
    }

    /// Secret name and values, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &SecretValues)> {
        self.secrets.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Whether a Secret of this name is in the set.
    pub fn contains(&self, secret: &str) -> bool {
        self.secrets.iter().any(|(n, _)| n == secret)
    }

    /// The value of `key` in Secret `secret`. Handle with care: never print it.
    pub fn get(&self, secret: &str, key: &str) -> Option<&str> {
        self.secrets.iter().find(|(n, _)| n == secret).and_then(|(_, v)| v.get(key))
    }

    /// A copy with `key` of `secret` set to `value` (a rotation, a check's own database).
    pub fn with(&self, secret: &str, key: &str, value: impl Into<String>) -> Self {
        let mut set = self.clone();
        if let Some((_, v)) = set.secrets.iter_mut().find(|(n, _)| n == secret) {
            v.set(key, value);
        }
        set
    }

    /// A copy without `key` of `secret` (the "missing key" broken deployment).
    pub fn without(&self, secret: &str, key: &str) -> Self {
        let mut set = self.clone();
        if let Some((_, v)) = set.secrets.iter_mut().find(|(n, _)| n == secret) {
            *v = v.without(key);
        }
        set
    }

    /// A redactor for every value of every Secret.
    pub fn redactor(&self) -> Redactor {
        Redactor::new(self.secrets.iter().flat_map(|(_, v)| v.values.iter()))
    }
}

/// Create or update every Secret of `set` in `namespace`.
pub async fn apply_secrets(client: &kube::Client, namespace: &str, set: &SecretSet) -> Result<(), DeployError> {
    for (name, values) in set.iter() {
        apply_secret(client, namespace, name, values).await?;
    }
    Ok(())
}

/// Create or update Secret `name` in `namespace` with exactly `values`
/// (server-side apply, so a rotation is the same call).
pub async fn apply_secret(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    values: &SecretValues,
) -> Result<Secret, DeployError> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut obj = values.to_secret(name, namespace);
    // Server-side apply needs apiVersion/kind in the body.
    let body = {
        let mut v = serde_json::to_value(&obj)
            .map_err(|e| DeployError::LoadManifest { file: PathBuf::from("<secret>"), reason: e.to_string() })?;
        v["apiVersion"] = "v1".into();
        v["kind"] = "Secret".into();
        v
    };
    obj =
        api.patch(name, &PatchParams::apply(FIELD_MANAGER).force(), &Patch::Apply(&body)).await.map_err(|source| {
            DeployError::Api {
                action: "apply",
                kind: "Secret".into(),
                name: name.to_owned(),
                namespace: namespace.to_owned(),
                source: Box::new(source),
            }
        })?;
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<SecretValues, LoadSecretError> {
        SecretValues::parse_env_file(text, Path::new("test.env"), |k| (k == "FROM_ENV").then(|| "env-value".into()))
    }

    #[test]
    fn env_file_like_kubectl() {
        let v = parse("# comment\n\nDATABASE_URL=postgres://u:p@h/db?x=1\n  JWT_SECRET=a=b \"c\"\nFROM_ENV\nUNSET\n")
            .expect("valid file");
        assert_eq!(v.get("DATABASE_URL"), Some("postgres://u:p@h/db?x=1"));
        assert_eq!(v.get("JWT_SECRET"), Some("a=b \"c\""), "value verbatim after the first =");
        assert_eq!(v.get("FROM_ENV"), Some("env-value"));
        assert_eq!(v.get("UNSET"), None);
    }

    #[test]
    fn bad_line_names_line_not_value() {
        let err = parse("OK=1\nbad key=hunter22\n").expect_err("invalid key");
        let msg = err.to_string();
        assert!(msg.contains("test.env:2"), "{msg}");
        assert!(!msg.contains("hunter22"), "{msg}");
    }

    #[test]
    fn every_secret_of_the_config_gets_its_values_from_the_database_the_env_generation_or_none() {
        let mut config = crate::config::Config::default();
        config.secrets.push(crate::config::SecretConfig {
            name: "other".into(),
            keys: vec!["API_TOKEN".into()],
            ..Default::default()
        });
        let given = SecretValues::from_literals([("API_TOKEN", "tok"), ("DATABASE_URL", "ignored")]);
        let set = SecretSet::from_config(&config, &given, "postgres://db").expect("all keys have a source");
        assert_eq!(set.get("todo-chatbot-secrets", "DATABASE_URL"), Some("postgres://db"), "the run's database wins");
        assert_eq!(set.get("todo-chatbot-secrets", "JWT_SECRET").map(str::len), Some(48), "generated");
        assert_eq!(set.get("todo-chatbot-secrets", "OPENAI_API_KEY"), None, "optional and not given");
        assert_eq!(set.get("other", "API_TOKEN"), Some("tok"));
        let debug = format!("{set:?}");
        assert!(debug.contains("API_TOKEN") && !debug.contains("tok\"") && !debug.contains("postgres"), "{debug}");
        let shown = set.redactor().redact_str("postgres://db and tok").into_owned();
        assert!(!shown.contains("postgres://db") && !shown.ends_with("tok"), "values are redacted: {shown}");

        let rotated = set.with("other", "API_TOKEN", "new");
        assert_eq!(rotated.get("other", "API_TOKEN"), Some("new"));
        assert_eq!(rotated.without("other", "API_TOKEN").get("other", "API_TOKEN"), None);

        let err = SecretSet::from_config(&config, &SecretValues::default(), "postgres://db").expect_err("no API_TOKEN");
        assert!(matches!(&err, LoadSecretError::Missing { secret, key } if secret == "other" && key == "API_TOKEN"));
        assert!(err.to_string().contains("--env-file"), "{err}");
    }

    #[test]
    fn debug_and_secret_object_hide_nothing_they_should_not() {
        let v = SecretValues::from_literals([("JWT_SECRET", "hunter22")]);
        assert!(!format!("{v:?}").contains("hunter22"));
        let s = v.to_secret("todo-chatbot-secrets", "ns");
        assert_eq!(s.type_.as_deref(), Some("Opaque"));
        assert_eq!(s.data.expect("data")["JWT_SECRET"].0, b"hunter22");
        assert!(s.string_data.is_none());
    }
}
