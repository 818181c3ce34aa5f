//! `kubegate.toml`: what the deployment under test is (namespace, release,
//! components, secret keys, contract) and which policy knobs and waivers apply.
//! Every table rejects unknown keys. A file describes exactly the deployment it lists: a key it leaves out
//! (manifests, chart, contract, secrets, components) is absent, not this repo's chatbot; only the plan's
//! policy and the cluster keep their defaults. [`Config::default`] (no file at all) is this repo's chatbot.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

use crate::exit::{ExitCode, HasExitCode};

/// The whole `kubegate.toml`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default = "Config::absent", deny_unknown_fields)]
pub struct Config {
    /// Namespace the application is deployed to (and the chart is rendered for).
    pub namespace: String,
    /// Helm release name.
    pub release: String,
    /// Directory of the raw manifests (every `*.yaml`/`*.yml` in it); empty = no raw manifests.
    pub manifests: PathBuf,
    /// The Helm chart and the values files to render it with; an empty path = no chart.
    pub chart: ChartConfig,
    /// OpenAPI contract of the services (probe paths, status codes); absent or empty = the contract rules
    /// are not run (a note in the report, neither a pass nor a failure).
    pub contract: Option<PathBuf>,
    /// The Secrets the pods read, created outside the tree (AD-5): `[[secret]]`, one table per Secret (the
    /// older single `[secret]` table is read too).
    #[serde(rename = "secret", deserialize_with = "one_or_many")]
    pub secrets: Vec<SecretConfig>,
    /// `[auth]`: how the live checks authenticate to the API.
    pub auth: AuthConfig,
    /// `[request]`: the API request the live checks send through the public component.
    pub request: RequestConfig,
    /// `[liveness]`: how the liveness check makes the API's liveness probe fail.
    pub liveness: LivenessConfig,
    /// Policy knobs: the plan's decisions that generic linters get wrong.
    pub policy: PolicyConfig,
    /// `[cluster]`: which provider the live suites and `verify` use and how to start it.
    pub cluster: crate::cluster::ProviderConfig,
    /// One entry per Deployment of the application.
    #[serde(rename = "component")]
    pub components: Vec<Component>,
    /// Deliberate exceptions, each with a reason.
    #[serde(rename = "waiver")]
    pub waivers: Vec<Waiver>,
    /// Directory relative paths are resolved against (the config file's
    /// directory, or the current directory when no file was read).
    #[serde(skip)]
    pub base_dir: PathBuf,
}

/// `[chart]`: where the chart is and how to render it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ChartConfig {
    /// Chart directory.
    pub path: PathBuf,
    /// Extra values files (`-f`), in order.
    pub values: Vec<PathBuf>,
}

/// `[[secret]]`: a Secret created from the command line, never committed.
/// A live run creates it with a value for each key: the database key gets the
/// URL of the PostgreSQL kubegate starts; any other key comes from
/// `--env-file` or the environment, else is generated (`generate`) or left out
/// (`optional`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecretConfig {
    /// Secret name.
    pub name: String,
    /// Keys the Secret provides (what a `secretKeyRef` may name).
    pub keys: Vec<String>,
    /// The key holding the database URL (the plan's external PostgreSQL).
    pub database_key: Option<String>,
    /// Keys a live run fills with a random value when none is given.
    pub generate: Vec<String>,
    /// Keys the app runs without; left out when none is given.
    pub optional: Vec<String>,
}

/// `[auth]`: how the live checks call the app's API (through the frontend and
/// directly), with a credential made from a key of one of the Secrets.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    /// `none`, `bearer-jwt` (an HS256 JWT signed with the key's value, `sub` = the user) or `header` (the
    /// key's value itself in [`AuthConfig::header`]).
    pub scheme: AuthScheme,
    /// The Secret holding the key.
    pub secret: String,
    /// The key whose value signs the token or is sent as is.
    pub key: String,
    /// The header a `header` credential goes in (e.g. `x-api-key`).
    pub header: String,
}

/// `[request]`: the request the LoadBalancer, rolling-upgrade and autoscaling
/// checks send through the public component: `GET path` with the `[auth]`
/// credential must answer 200 (and 401 without it, when there is auth).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RequestConfig {
    /// The path, e.g. `/api/tasks`.
    pub path: String,
}

/// `[liveness]`: how LIVE-PROBE-LIVENESS makes the API component's liveness
/// probe fail. By default (`sigstop`) kubegate freezes the app itself, with no
/// help from it; `switch` uses a fault route the app provides.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LivenessConfig {
    /// What makes the probe fail.
    pub fault: LivenessFault,
    /// The app's own fault switch (`[liveness.switch]`), used when `fault = "switch"`.
    pub switch: Option<FaultSwitch>,
}

/// The fault the liveness check injects.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum LivenessFault {
    /// SIGSTOP every process of one API container, sent from a short-lived
    /// `hostPID` pod on its node (kubegate's own image): works with any app.
    #[default]
    Sigstop,
    /// `POST` the app's fault route ([`FaultSwitch`]), after deploying with the
    /// switch turned on.
    Switch,
}

/// `[liveness.switch]`: a route of the API that makes its liveness endpoint
/// fail, off unless the deployment turns it on.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FaultSwitch {
    /// The route the check `POST`s to (e.g. `/fault/liveness`).
    pub path: String,
    /// Environment variables set on the API container to turn the switch on (raw manifests).
    pub env: std::collections::BTreeMap<String, String>,
    /// Helm values (`--set key=value`) that turn the switch on (the chart).
    pub helm_set: std::collections::BTreeMap<String, String>,
}

/// How a request to the API proves who sends it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum AuthScheme {
    /// No credential.
    #[default]
    None,
    /// `Authorization: Bearer <HS256 JWT>`.
    BearerJwt,
    /// `<header>: <the key's value>`.
    Header,
}

/// `[policy]`: the plan's decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PolicyConfig {
    /// Required `imagePullPolicy` (AD-4: `Never`); empty = any.
    pub pull_policy: String,
    /// Whether a `latest` tag (or no tag) is acceptable.
    pub allow_latest_tag: bool,
    /// Lowest acceptable runAsUser/runAsGroup/fsGroup.
    pub min_uid: i64,
    /// Capabilities a container may add.
    pub allowed_capabilities: Vec<String>,
    /// Pods must be Running within this many seconds (plan success criterion).
    pub running_within_secs: i64,
    /// Probes must pass within this many seconds (plan success criterion).
    pub ready_within_secs: i64,
    /// RollingUpdate maxSurge the plan wants.
    pub max_surge: String,
    /// RollingUpdate maxUnavailable the plan wants.
    pub max_unavailable: String,
    /// Require a PodDisruptionBudget for Deployments with replicas >= 2.
    pub require_pdb: bool,
    /// Require an autoscaling/v2 HPA per component Deployment.
    pub require_hpa: bool,
    /// Require topology spread or pod anti-affinity for replicas >= 2.
    pub require_spread: bool,
    /// Label keys every application object carries (`app.kubernetes.io/component`
    /// is required on each component's Deployment and Service regardless).
    pub required_labels: Vec<String>,
    /// Key-name fragments that mark a setting as secret (case-insensitive).
    pub secret_key_patterns: Vec<String>,
}

impl PolicyConfig {
    /// [`PolicyConfig::running_within_secs`] as a duration (negative = zero).
    pub fn running_within(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.running_within_secs.max(0).unsigned_abs())
    }

    /// [`PolicyConfig::ready_within_secs`] as a duration (negative = zero); also
    /// the deadline of the live suites' rollout waits.
    pub fn ready_within(&self) -> std::time::Duration {
        std::time::Duration::from_secs(self.ready_within_secs.max(0).unsigned_abs())
    }
}

/// `[[component]]`: one Deployment + Service of the application.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Component {
    /// Short name (`backend`), also `app.kubernetes.io/component`.
    pub name: String,
    /// Deployment name.
    pub deployment: String,
    /// Service name.
    pub service: String,
    /// Container name inside the pod.
    pub container: String,
    /// Image reference with explicit tag.
    pub image: String,
    /// Container port.
    pub port: i32,
    /// Name of the container port (Services and probes use it); empty = the port may be unnamed.
    pub port_name: String,
    /// Port the Service exposes.
    pub service_port: i32,
    /// `ClusterIP`, `LoadBalancer`, ...
    pub service_type: String,
    /// Liveness probe path (also in the contract).
    pub liveness_path: String,
    /// Readiness probe path (also in the contract).
    pub readiness_path: String,
    /// Name of the service in the OpenAPI contract (`x-kubegate-service`); defaults to `name`.
    pub contract_service: Option<String>,
    /// Secret keys the container must read (via secretKeyRef).
    pub secret_keys: Vec<String>,
    /// ConfigMap keys the container must read.
    pub config_keys: Vec<String>,
    /// Image size budget in MiB (checked by verify and the container suite).
    pub image_size_mb: u64,
    /// Components allowed to reach this one; `Some` = a NetworkPolicy must isolate it.
    pub ingress_from: Option<Vec<String>>,
    /// How `kubegate images build` and `verify` build [`Component::image`] from your Dockerfile; absent =
    /// you build it yourself and kubegate takes it as the local Docker engine has it.
    pub build: Option<BuildConfig>,
}

/// `build = { context = "...", ... }` of a component: a plain `docker build` of the repository's own
/// Dockerfile, after an optional command that produces what the context needs (a compiled binary, a
/// frontend bundle). Paths are relative to the config file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BuildConfig {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile, relative to the context (`Dockerfile` when left out).
    #[serde(default)]
    pub dockerfile: Option<PathBuf>,
    /// `--build-arg NAME=value` for each entry (kubegate adds `REVISION`, the git revision).
    #[serde(default)]
    pub args: std::collections::BTreeMap<String, String>,
    /// A command (program and arguments, run in the config file's directory) that prepares the
    /// context before `docker build`; empty = none.
    #[serde(default)]
    pub prepare: Vec<String>,
}

impl BuildConfig {
    /// The reference chatbot's recipe: cargo builds the static musl binary of `package` and
    /// `ci/images/stage-binary.sh` puts it where the component's Dockerfile expects it
    /// (`fixtures/<component>/dist/`).
    fn reference(component: &str, package: &str) -> Self {
        let context = format!("fixtures/{component}");
        BuildConfig {
            context: context.clone().into(),
            dockerfile: None,
            args: Default::default(),
            prepare: ["bash", "ci/images/stage-binary.sh", package, &format!("{context}/dist")]
                .map(String::from)
                .to_vec(),
        }
    }
}

/// `[[waiver]]`: a rule deliberately not applied to some objects.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Waiver {
    /// Rule id, e.g. `KG-PROBE-003`.
    pub rule: String,
    /// `Kind/name` (or `*` for every object).
    #[serde(default = "any_object")]
    pub object: String,
    /// `raw` or `helm` to waive on one path only.
    #[serde(default)]
    pub path: Option<crate::finding::DeployPath>,
    /// Why the exception is deliberate (shown in reports).
    pub reason: String,
}

fn any_object() -> String {
    "*".to_string()
}

impl Default for Config {
    fn default() -> Self {
        Config {
            namespace: "todo-chatbot".into(),
            release: "todo-chatbot".into(),
            manifests: "manifests".into(),
            chart: ChartConfig::default(),
            contract: Some("fixtures/contracts/openapi.yaml".into()),
            secrets: vec![SecretConfig::reference()],
            auth: AuthConfig {
                scheme: AuthScheme::BearerJwt,
                secret: "todo-chatbot-secrets".into(),
                key: "JWT_SECRET".into(),
                header: String::new(),
            },
            request: RequestConfig { path: "/api/tasks".into() },
            liveness: LivenessConfig {
                fault: LivenessFault::Sigstop,
                switch: Some(FaultSwitch {
                    path: "/fault/liveness".into(),
                    env: [("FAULT_INJECTION".to_owned(), "enabled".to_owned())].into(),
                    helm_set: [("faultInjection.enabled".to_owned(), "true".to_owned())].into(),
                }),
            },
            policy: PolicyConfig::default(),
            cluster: crate::cluster::ProviderConfig::default(),
            components: vec![Component::default_backend(), Component::default_frontend()],
            waivers: Vec::new(),
            base_dir: PathBuf::from("."),
        }
    }
}

impl Config {
    /// What a `kubegate.toml` means by the keys it leaves out: no manifests, no chart, no contract, no Secret,
    /// no component; the plan's policy and the default cluster.
    pub fn absent() -> Config {
        Config {
            manifests: PathBuf::new(),
            chart: ChartConfig { path: PathBuf::new(), values: Vec::new() },
            contract: None,
            secrets: Vec::new(),
            auth: AuthConfig::default(),
            request: RequestConfig::default(),
            liveness: LivenessConfig::default(),
            components: Vec::new(),
            ..Config::default()
        }
    }
}

/// `[secret]` (one table, the older form) or `[[secret]]` (several).
fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<SecretConfig>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(SecretConfig),
        Many(Vec<SecretConfig>),
    }
    Ok(match OneOrMany::deserialize(d)? {
        OneOrMany::One(s) => vec![s],
        OneOrMany::Many(v) => v,
    })
}

impl Default for ChartConfig {
    fn default() -> Self {
        ChartConfig { path: "charts/todo-chatbot".into(), values: Vec::new() }
    }
}

impl SecretConfig {
    /// The reference chatbot's Secret (names.md).
    pub fn reference() -> Self {
        SecretConfig {
            name: "todo-chatbot-secrets".into(),
            keys: vec!["DATABASE_URL".into(), "JWT_SECRET".into(), "OPENAI_API_KEY".into()],
            database_key: Some("DATABASE_URL".into()),
            generate: vec!["JWT_SECRET".into()],
            optional: vec!["OPENAI_API_KEY".into()],
        }
    }

    /// Whether the app runs without `key`.
    pub fn is_optional(&self, key: &str) -> bool {
        self.optional.iter().any(|k| k == key)
    }
}

impl Default for PolicyConfig {
    fn default() -> Self {
        PolicyConfig {
            pull_policy: "Never".into(),
            allow_latest_tag: false,
            min_uid: 10000,
            allowed_capabilities: vec!["NET_BIND_SERVICE".into()],
            running_within_secs: 60,
            ready_within_secs: 90,
            max_surge: "1".into(),
            max_unavailable: "0".into(),
            require_pdb: true,
            require_hpa: true,
            require_spread: true,
            required_labels: [
                "app.kubernetes.io/name",
                "app.kubernetes.io/instance",
                "app.kubernetes.io/part-of",
                "app.kubernetes.io/version",
            ]
            .map(String::from)
            .to_vec(),
            secret_key_patterns: [
                "password",
                "passwd",
                "secret",
                "token",
                "api_key",
                "apikey",
                "private_key",
                "credential",
                "database_url",
                "access_key",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// The liveness path of a component that names none (a `[[component]]`
/// without `liveness_path`, or one the config does not list).
pub const DEFAULT_LIVENESS_PATH: &str = "/health";
/// The readiness path of a component that names none.
pub const DEFAULT_READINESS_PATH: &str = "/ready";

impl Default for Component {
    fn default() -> Self {
        Component {
            name: String::new(),
            deployment: String::new(),
            service: String::new(),
            container: String::new(),
            image: String::new(),
            port: 0,
            port_name: String::new(),
            service_port: 0,
            service_type: "ClusterIP".into(),
            liveness_path: DEFAULT_LIVENESS_PATH.into(),
            readiness_path: DEFAULT_READINESS_PATH.into(),
            contract_service: None,
            secret_keys: Vec::new(),
            config_keys: Vec::new(),
            image_size_mb: 0,
            ingress_from: None,
            build: None,
        }
    }
}

impl Component {
    /// The chatbot's backend as names.md describes it.
    pub fn default_backend() -> Self {
        Component {
            name: "backend".into(),
            deployment: "todo-chatbot-backend".into(),
            service: "todo-chatbot-backend".into(),
            container: "backend".into(),
            image: "todo-chatbot-backend:0.1.0".into(),
            port: 8000,
            port_name: "http".into(),
            service_port: 8000,
            service_type: "ClusterIP".into(),
            secret_keys: vec!["DATABASE_URL".into(), "JWT_SECRET".into(), "OPENAI_API_KEY".into()],
            config_keys: ["ENVIRONMENT", "LOG_LEVEL", "OPENAI_BASE_URL", "OPENAI_MODEL", "ALLOWED_ORIGINS"]
                .map(String::from)
                .to_vec(),
            image_size_mb: 300,
            ingress_from: Some(vec!["frontend".into()]),
            build: Some(BuildConfig::reference("backend", "todo-backend")),
            ..Component::default()
        }
    }

    /// The chatbot's frontend as names.md describes it.
    pub fn default_frontend() -> Self {
        Component {
            name: "frontend".into(),
            deployment: "todo-chatbot-frontend".into(),
            service: "todo-chatbot-frontend".into(),
            container: "frontend".into(),
            image: "todo-chatbot-frontend:0.1.0".into(),
            port: 3000,
            port_name: "http".into(),
            service_port: 80,
            service_type: "LoadBalancer".into(),
            config_keys: vec!["BACKEND_URL".into()],
            image_size_mb: 500,
            build: Some(BuildConfig::reference("frontend", "todo-frontend")),
            ..Component::default()
        }
    }

    /// The service name used in the OpenAPI contract.
    pub fn contract_name(&self) -> &str {
        self.contract_service.as_deref().unwrap_or(&self.name)
    }
}

/// `kubegate.toml` could not be read or is invalid.
#[derive(Debug, thiserror::Error)]
pub enum LoadConfigError {
    /// The file could not be read.
    #[error("cannot read config file {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// TOML syntax error, unknown key or wrong type.
    #[error("{}:{}: {message}\n  fix: see docs/rules.md and the committed kubegate.toml for the keys kubegate knows", path.display(), line.map(|l| l.to_string()).unwrap_or_else(|| "?".into()))]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending key, when toml reports a span.
        line: Option<usize>,
        /// toml's message (names the key).
        message: String,
    },
    /// Parsed but inconsistent (e.g. a component without a deployment name).
    #[error("{}: {message}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl HasExitCode for LoadConfigError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::BadInput
    }
}

impl Config {
    /// Read `path`; `None` (no `--config` and no `kubegate.toml` in the
    /// current directory) gives the defaults, based in the current directory.
    pub fn load(path: Option<&Path>) -> Result<Config, LoadConfigError> {
        let Some(path) = path else {
            return Ok(Config::default());
        };
        let text = std::fs::read_to_string(path)
            .map_err(|source| LoadConfigError::Read { path: path.to_path_buf(), source })?;
        let mut config = Config::parse(&text, path)?;
        config.base_dir = match path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        Ok(config)
    }

    /// `--config F` if given, else `./kubegate.toml` if it exists, else defaults.
    pub fn discover(explicit: Option<&Path>) -> Result<Config, LoadConfigError> {
        match explicit {
            Some(p) => Config::load(Some(p)),
            None => {
                let local = Path::new("kubegate.toml");
                Config::load(local.is_file().then_some(local))
            }
        }
    }

    /// Parse TOML text; `path` only names the file in errors.
    pub fn parse(text: &str, path: &Path) -> Result<Config, LoadConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| LoadConfigError::Parse {
            path: path.to_path_buf(),
            line: e.span().map(|s| line_of(text, s.start)),
            message: e.message().trim().to_string(),
        })?;
        config.validate(path)?;
        Ok(config)
    }

    fn validate(&self, path: &Path) -> Result<(), LoadConfigError> {
        let invalid = |message: String| LoadConfigError::Invalid { path: path.to_path_buf(), message };
        for (i, c) in self.components.iter().enumerate() {
            for (key, value) in [("name", &c.name), ("deployment", &c.deployment), ("container", &c.container)] {
                if value.is_empty() {
                    return Err(invalid(format!("[[component]] #{} has no `{key}`", i + 1)));
                }
            }
        }
        for sec in &self.secrets {
            let named = sec.database_key.iter().chain(&sec.generate).chain(&sec.optional);
            if let Some(k) = named.into_iter().find(|k| !sec.keys.contains(k)) {
                return Err(invalid(format!(
                    "[[secret]] `{}` names key `{k}` (database_key, generate or optional) that is not among its `keys`",
                    sec.name
                )));
            }
        }
        if self.auth.scheme != AuthScheme::None
            && self.secret(&self.auth.secret).is_none_or(|s| !s.keys.contains(&self.auth.key))
        {
            return Err(invalid(format!(
                "[auth] uses key `{}` of Secret `{}`, which no [[secret]] lists\n  fix: name a key of one of the [[secret]] tables",
                self.auth.key, self.auth.secret
            )));
        }
        if self.liveness.fault == LivenessFault::Switch
            && self.liveness.switch.as_ref().is_none_or(|s| !s.path.starts_with('/'))
        {
            return Err(invalid(
                "[liveness] fault = \"switch\" needs [liveness.switch] with the route to POST (`path = \"/...\"`) and what turns it on (`env`, `helm_set`)\n  fix: add them, or leave `fault` out: \"sigstop\" needs nothing from the app".into(),
            ));
        }
        if self.auth.scheme == AuthScheme::Header && self.auth.header.trim().is_empty() {
            return Err(invalid("[auth] scheme = \"header\" needs `header` (e.g. \"x-api-key\")".into()));
        }
        for w in &self.waivers {
            if w.rule.parse::<crate::rule_id::RuleId>().is_err() {
                return Err(invalid(format!(
                    "[[waiver]] names unknown rule `{}` (see docs/rules.md for the rule ids)",
                    w.rule
                )));
            }
            if w.reason.trim().is_empty() {
                return Err(invalid(format!("[[waiver]] for `{}` has an empty reason", w.rule)));
            }
        }
        Ok(())
    }

    /// The component the public reaches (the plan's LoadBalancer, AD-3): the
    /// first whose `service_type` is `LoadBalancer`, else the last component.
    pub fn public_component(&self) -> Option<&Component> {
        self.components.iter().find(|c| c.service_type == "LoadBalancer").or(self.components.last())
    }

    /// The API component (the one that holds the database): the first that
    /// reads the database key, else the first that is not public.
    pub fn api_component(&self) -> Option<&Component> {
        let public = self.public_component().map(|c| c.name.as_str());
        self.database_key()
            .and_then(|(_, key)| self.components.iter().find(|c| c.secret_keys.iter().any(|k| k == key)))
            .or_else(|| self.components.iter().find(|c| Some(c.name.as_str()) != public))
            .or(self.components.first())
    }

    /// The Secret and key that hold the database URL, if a [[secret]] names one.
    pub fn database_key(&self) -> Option<(&str, &str)> {
        self.secrets.iter().find_map(|s| s.database_key.as_deref().map(|k| (s.name.as_str(), k)))
    }

    /// A key the app cannot start without and a live run may leave out to
    /// prove it (neither the database key nor optional): the first such.
    pub fn required_key(&self) -> Option<(&str, &str)> {
        self.secrets.iter().find_map(|s| {
            s.keys
                .iter()
                .find(|k| s.database_key.as_ref() != Some(*k) && !s.is_optional(k))
                .map(|k| (s.name.as_str(), k.as_str()))
        })
    }

    /// Resolve a path from the config against its directory.
    pub fn resolve(&self, p: &Path) -> PathBuf {
        if p.is_absolute() || self.base_dir == Path::new(".") || self.base_dir.as_os_str().is_empty() {
            p.to_path_buf()
        } else {
            self.base_dir.join(p)
        }
    }

    /// The raw manifests directory, resolved; `None` when the config names none.
    pub fn manifests_dir(&self) -> Option<PathBuf> {
        (!self.manifests.as_os_str().is_empty()).then(|| self.resolve(&self.manifests))
    }

    /// The chart directory, resolved; `None` when the config names none.
    pub fn chart_dir(&self) -> Option<PathBuf> {
        (!self.chart.path.as_os_str().is_empty()).then(|| self.resolve(&self.chart.path))
    }

    /// The OpenAPI contract file, resolved; `None` when the config names none.
    pub fn contract_file(&self) -> Option<PathBuf> {
        self.contract.as_ref().filter(|p| !p.as_os_str().is_empty()).map(|p| self.resolve(p))
    }

    /// The CLI-created Secret named `name`, if the config lists it.
    pub fn secret(&self, name: &str) -> Option<&SecretConfig> {
        self.secrets.iter().find(|s| s.name == name)
    }

    /// The component whose Deployment is `deployment`.
    pub fn component_for_deployment(&self, deployment: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.deployment == deployment)
    }

    /// The component named `name`.
    pub fn component(&self, name: &str) -> Option<&Component> {
        self.components.iter().find(|c| c.name == name)
    }

    /// The liveness path of component `name`: its `liveness_path`, else
    /// [`DEFAULT_LIVENESS_PATH`] (a component the config does not list, or
    /// lists with an empty path, is treated as one that leaves the key out).
    pub fn liveness_path(&self, name: &str) -> &str {
        self.component(name)
            .map(|c| c.liveness_path.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or(DEFAULT_LIVENESS_PATH)
    }

    /// The readiness path of component `name`: its `readiness_path`, else
    /// [`DEFAULT_READINESS_PATH`] (as [`Config::liveness_path`]).
    pub fn readiness_path(&self, name: &str) -> &str {
        self.component(name)
            .map(|c| c.readiness_path.as_str())
            .filter(|p| !p.is_empty())
            .unwrap_or(DEFAULT_READINESS_PATH)
    }

    /// The name of component `name` in the OpenAPI contract
    /// ([`Component::contract_name`]; `name` itself when the config does not list it).
    pub fn contract_service<'a>(&'a self, name: &'a str) -> &'a str {
        self.component(name).map_or(name, Component::contract_name)
    }
}

/// 1-based line of byte offset `at` in `text`.
fn line_of(text: &str, at: usize) -> usize {
    text.as_bytes()[..at.min(text.len())].iter().filter(|b| **b == b'\n').count() + 1
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_file_describes_only_what_it_lists() {
        let c = Config::parse("", Path::new("k.toml")).expect("empty config parses");
        assert!(c.components.is_empty(), "no silent chatbot components: {:?}", c.components);
        assert!(c.secrets.is_empty() && c.contract_file().is_none());
        assert_eq!((c.manifests_dir(), c.chart_dir()), (None, None));
        assert_eq!(c.policy.pull_policy, "Never", "the plan's policy stays");
        let c = Config::parse("contract = \"\"\n[chart]\npath = \"helm/app\"\n", Path::new("k.toml")).expect("parses");
        assert_eq!(c.contract_file(), None, "an empty contract is no contract");
        assert_eq!(c.chart_dir(), Some(PathBuf::from("helm/app")));
    }

    #[test]
    fn one_secret_table_and_several_are_both_read() {
        let one = "[secret]\nname = \"a\"\nkeys = [\"K\"]\n";
        let c = Config::parse(one, Path::new("k.toml")).expect("[secret] parses");
        assert_eq!(c.secrets.len(), 1);
        assert_eq!(c.secret("a").map(|s| s.keys.clone()), Some(vec!["K".to_string()]));
        let many = "[[secret]]\nname = \"a\"\nkeys = []\n[[secret]]\nname = \"b\"\nkeys = [\"X\"]\n";
        let c = Config::parse(many, Path::new("k.toml")).expect("[[secret]] parses");
        assert_eq!(c.secrets.iter().map(|s| s.name.as_str()).collect::<Vec<_>>(), ["a", "b"]);
    }

    #[test]
    fn secret_sources_and_auth_are_read_and_checked_against_the_keys() {
        let taskly = Config::parse(include_str!("../../../fixtures/taskly/kubegate.toml"), Path::new("taskly.toml"))
            .expect("the second deployment's config parses");
        assert_eq!(taskly.database_key(), Some(("taskly-db", "PG_DSN")));
        assert_eq!(taskly.required_key(), Some(("taskly-auth", "API_TOKEN")), "LLM_KEY is optional");
        assert_eq!((taskly.auth.scheme, taskly.auth.header.as_str()), (AuthScheme::Header, "x-api-key"));
        let reference = Config::default();
        assert_eq!(reference.database_key(), Some(("todo-chatbot-secrets", "DATABASE_URL")));
        assert_eq!(reference.required_key(), Some(("todo-chatbot-secrets", "JWT_SECRET")));

        let base = "[[secret]]\nname = \"s\"\nkeys = [\"A\"]\n";
        for (extra, says) in [
            ("database_key = \"B\"\n", "names key `B`"),
            ("[auth]\nscheme = \"bearer-jwt\"\nsecret = \"s\"\nkey = \"C\"\n", "which no [[secret]] lists"),
            ("[auth]\nscheme = \"header\"\nsecret = \"s\"\nkey = \"A\"\n", "needs `header`"),
        ] {
            let err = Config::parse(&format!("{base}{extra}"), Path::new("k.toml")).expect_err(extra);
            assert!(err.to_string().contains(says), "{extra}: {err}");
            assert_eq!(err.exit_code(), ExitCode::BadInput);
        }
        assert_eq!(taskly.request.path, "/v1/tasks");
        assert_eq!(taskly.api_component().map(|c| c.name.as_str()), Some("api"));
        assert_eq!(taskly.public_component().map(|c| c.name.as_str()), Some("web"));
        assert_eq!(reference.api_component().map(|c| c.name.as_str()), Some("backend"));
        assert_eq!(reference.public_component().map(|c| c.name.as_str()), Some("frontend"));
        let none = Config::parse(base, Path::new("k.toml")).expect("no [auth] = none");
        assert_eq!(none.auth.scheme, AuthScheme::None);
    }

    #[test]
    fn probe_paths_come_from_the_component_with_one_fallback() {
        let taskly = Config::parse(include_str!("../../../fixtures/taskly/kubegate.toml"), Path::new("taskly.toml"))
            .expect("parses");
        assert_eq!((taskly.liveness_path("api"), taskly.readiness_path("api")), ("/healthz", "/readyz"));
        assert_eq!(taskly.liveness_path("nope"), DEFAULT_LIVENESS_PATH, "an unlisted component");
        let text = "[[component]]\nname = \"a\"\ndeployment = \"a\"\ncontainer = \"a\"\nreadiness_path = \"\"\n";
        let c = Config::parse(text, Path::new("k.toml")).expect("parses");
        assert_eq!(c.liveness_path("a"), DEFAULT_LIVENESS_PATH, "key left out");
        assert_eq!(c.readiness_path("a"), DEFAULT_READINESS_PATH, "empty path");
        assert_eq!((taskly.contract_service("web"), taskly.contract_service("x")), ("web", "x"));
    }

    #[test]
    fn the_liveness_fault_is_sigstop_unless_a_switch_is_chosen_and_described() {
        let taskly = Config::parse(include_str!("../../../fixtures/taskly/kubegate.toml"), Path::new("taskly.toml"))
            .expect("parses");
        assert_eq!(taskly.liveness, LivenessConfig { fault: LivenessFault::Sigstop, switch: None });
        let reference = Config::default();
        assert_eq!(reference.liveness.fault, LivenessFault::Sigstop, "the reference is frozen too by default");
        assert!(reference.liveness.switch.is_some(), "its switch is described, one key away");

        let path = Path::new("k.toml");
        let switch = "[liveness]\nfault = \"switch\"\n[liveness.switch]\npath = \"/debug/hang\"\nenv = { HANG = \"1\" }\nhelm_set = { \"debug.hang\" = \"true\" }\n";
        let c = Config::parse(switch, path).expect("a described switch");
        let s = c.liveness.switch.expect("switch");
        assert_eq!((c.liveness.fault, s.path.as_str()), (LivenessFault::Switch, "/debug/hang"));
        assert_eq!(s.env.get("HANG").map(String::as_str), Some("1"));
        assert_eq!(s.helm_set.get("debug.hang").map(String::as_str), Some("true"));

        let err = Config::parse("[liveness]\nfault = \"switch\"\n", path).expect_err("a switch nobody described");
        assert!(err.to_string().contains("[liveness.switch]") && err.to_string().contains("sigstop"), "{err}");
        let err = Config::parse("[liveness]\nfault = \"sigkill\"\n", path).expect_err("unknown fault");
        assert!(err.to_string().contains("sigkill"), "{err}");
    }

    #[test]
    fn committed_kubegate_toml_equals_the_defaults() {
        let text = include_str!("../../../kubegate.toml");
        let c = Config::parse(text, Path::new("kubegate.toml")).expect("committed config parses");
        assert_eq!(c, Config::default());
    }

    #[test]
    fn unknown_key_is_named_with_its_line() {
        let text = "namespace = \"x\"\n[policy]\nmin_uid = 1\npul_policy = \"Always\"\n";
        let err = Config::parse(text, Path::new("k.toml")).expect_err("unknown key rejected");
        match &err {
            LoadConfigError::Parse { line, message, .. } => {
                assert_eq!(*line, Some(4));
                assert!(message.contains("pul_policy"), "{message}");
            }
            other => panic!("unexpected {other:?}"),
        }
        assert_eq!(err.exit_code(), ExitCode::BadInput);
    }

    #[test]
    fn cluster_section_is_read_and_absent_section_means_defaults() {
        use crate::cluster::{ProviderConfig, ProviderKind};
        let path = Path::new("kubegate.toml");
        let c = Config::parse("[cluster]\nprovider = \"kind\"\nname = \"ci\"\n", path).expect("valid");
        assert_eq!(c.cluster.provider, ProviderKind::Kind);
        assert_eq!(c.cluster.name, "ci");
        let c = Config::parse("namespace = \"x\"\n", path).expect("valid");
        assert_eq!(c.cluster, ProviderConfig::default());
    }

    #[test]
    fn a_bad_cluster_field_is_bad_input_naming_the_file() {
        let err = Config::parse("[cluster]\nprovider = \"k3d\"\n", Path::new("conf/kubegate.toml"))
            .expect_err("unknown provider");
        assert!(err.to_string().contains("conf/kubegate.toml"), "{err}");
        assert_eq!(err.exit_code(), ExitCode::BadInput);
    }

    #[test]
    fn components_replace_the_defaults() {
        let text = "[[component]]\nname = \"api\"\ndeployment = \"api\"\ncontainer = \"api\"\nport = 8080\n";
        let c = Config::parse(text, Path::new("k.toml")).expect("parses");
        assert_eq!(c.components.len(), 1);
        assert_eq!(c.components[0].port_name, "", "an unnamed port is the default");
    }

    #[test]
    fn waiver_with_unknown_rule_is_rejected() {
        let text = "[[waiver]]\nrule = \"KG-NOPE-001\"\nreason = \"x\"\n";
        let err = Config::parse(text, Path::new("k.toml")).expect_err("rejected");
        assert!(err.to_string().contains("KG-NOPE-001"));
    }
}
