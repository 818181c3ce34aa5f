//! The Helm path: the `helm` CLI (Helm 3 or 4) driven with an explicit
//! kubeconfig, so releases land in the run's namespace and both paths can
//! run at once. kubegate never passes `--wait`: it waits itself, with
//! diagnosis ([`crate::wait`]). Secret values never go through `--set`:
//! the chart reads the Secret kubegate made (`secrets.existingSecret`).

use super::DeployError;
use super::edit::PostRenderer;
use crate::process::{Cmd, RunCommandError, SystemRunner};
use crate::redact::Redactor;
use std::path::{Path, PathBuf};

/// Backstop deadline of one `helm` command (kubegate never passes `--wait`;
/// `helm test` has its own, shorter `--timeout`).
const HELM_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(1800);

/// Release name of the chart (names.md).
pub const RELEASE: &str = "todo-chatbot";

/// A failed `helm` command, with its evidence (output redacted).
#[derive(Debug, thiserror::Error)]
#[error("`{command}` failed with {status}\n--- stderr (tail) ---\n{stderr_tail}\n--- stdout (tail) ---\n{stdout_tail}")]
pub struct HelmCommandError {
    /// The command line (without the kubeconfig path).
    pub command: String,
    /// Exit status, or why it could not be started.
    pub status: String,
    /// Last lines of stdout.
    pub stdout_tail: String,
    /// Last lines of stderr.
    pub stderr_tail: String,
}

/// Where the `helm` binary is: `$KUBEGATE_HELM`, else the shared finder
/// ([`crate::tools::find_tool`]: PATH, then `~/.cache/kubegate/tools/bin`).
pub fn find_helm() -> Result<PathBuf, DeployError> {
    if let Some(p) = std::env::var_os("KUBEGATE_HELM").map(PathBuf::from).filter(|p| p.is_file()) {
        return Ok(p);
    }
    crate::tools::find_tool("helm").map_err(|e| DeployError::HelmMissing { cache: e.cache_dir })
}

/// The `helm` CLI bound to one cluster.
#[derive(Debug, Clone)]
pub struct Helm {
    bin: PathBuf,
    kubeconfig: Option<PathBuf>,
    context: Option<String>,
    redactor: Redactor,
    /// The binary's major version, asked once (post-renderer flags differ in 3 and 4).
    major: std::sync::Arc<std::sync::OnceLock<u32>>,
}

/// What to install: chart, namespace and overrides.
#[derive(Debug, Clone)]
pub struct HelmInstall {
    /// Release name (default `todo-chatbot`).
    pub release: String,
    /// Chart directory, e.g. `charts/todo-chatbot`.
    pub chart: PathBuf,
    /// Namespace (must exist; kubegate creates it).
    pub namespace: String,
    /// `-f` files, in order.
    pub values_files: Vec<PathBuf>,
    /// The Secret kubegate made, for charts that read `secrets.existingSecret` (the reference chart's
    /// convention; `None` passes no secret settings).
    pub existing_secret: Option<String>,
    /// `--set key=value` pairs, in order, after kubegate's own.
    pub set: Vec<(String, String)>,
    /// Edits of the rendered objects (a variant's), run as Helm's post-renderer.
    pub post_renderer: Option<PostRenderer>,
}

impl HelmInstall {
    /// The app's chart as release `todo-chatbot` in `namespace`.
    pub fn new(chart: impl Into<PathBuf>, namespace: impl Into<String>) -> Self {
        HelmInstall {
            release: RELEASE.to_owned(),
            chart: chart.into(),
            namespace: namespace.into(),
            values_files: Vec::new(),
            existing_secret: None,
            set: Vec::new(),
            post_renderer: None,
        }
    }
    /// Add a values file.
    pub fn with_values_file(mut self, f: impl Into<PathBuf>) -> Self {
        self.values_files.push(f.into());
        self
    }
    /// Add `--set key=value` (e.g. `backend.image.tag=0.1.1`).
    pub fn with_set(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.set.push((key.into(), value.into()));
        self
    }

    /// The chart/values arguments shared by install, upgrade and template.
    fn value_args(&self) -> Vec<String> {
        let mut a = vec!["--set".to_owned(), "namespace.create=false".to_owned()];
        if let Some(secret) = &self.existing_secret {
            a.extend(["--set".to_owned(), format!("secrets.existingSecret={secret}")]);
            a.extend(["--set".to_owned(), "secrets.create=false".to_owned()]);
        }
        for f in &self.values_files {
            a.push("-f".into());
            a.push(f.display().to_string());
        }
        for (k, v) in &self.set {
            a.push("--set".into());
            a.push(format!("{k}={v}"));
        }
        a
    }
}

/// One entry of `helm history`.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct HelmRevision {
    /// Revision number.
    pub revision: u32,
    /// `deployed`, `superseded`, `failed`, ...
    pub status: String,
    /// Chart name-version.
    pub chart: String,
    /// App version.
    #[serde(default)]
    pub app_version: String,
    /// Helm's description (`Install complete`, `Rollback to 1`, ...).
    #[serde(default)]
    pub description: String,
}

impl Helm {
    /// `helm` found by [`find_helm`], for `kubeconfig` (and `context`).
    pub fn new(kubeconfig: Option<&Path>, context: Option<&str>) -> Result<Self, DeployError> {
        Ok(Helm {
            bin: find_helm()?,
            kubeconfig: kubeconfig.map(Path::to_owned),
            context: context.map(str::to_owned),
            redactor: Redactor::default(),
            major: Default::default(),
        })
    }

    /// Redact these values from every output and error.
    pub fn with_redactor(mut self, r: Redactor) -> Self {
        self.redactor = r;
        self
    }

    /// The helm binary in use.
    pub fn bin(&self) -> &Path {
        &self.bin
    }

    /// The binary's major version (3 or 4).
    pub fn major(&self) -> u32 {
        *self.major.get_or_init(|| super::edit::helm_major(&self.bin))
    }

    /// Run `helm <args>`; stdout (redacted) on success.
    pub async fn run(&self, args: &[String]) -> Result<String, HelmCommandError> {
        self.run_with(args, None).await
    }

    /// Run an install, upgrade or template of `i`: its post-renderer, if any, added.
    async fn run_chart(&self, mut args: Vec<String>, i: &HelmInstall) -> Result<String, HelmCommandError> {
        let Some(p) = &i.post_renderer else { return self.run(&args).await };
        args.extend(p.helm_args(self.major()));
        self.run_with(&args, Some(&p.plugins_dir)).await.map_err(|mut e| {
            if let Some(why) = p.last_error() {
                e.stderr_tail.push_str(&format!("\nkubegate post-render: {why}"));
            }
            e
        })
    }

    /// Run `helm <args>`, with `HELM_PLUGINS` when given (Helm 4 finds the post-renderer plugin there).
    async fn run_with(&self, args: &[String], plugins: Option<&Path>) -> Result<String, HelmCommandError> {
        let mut cmd = Cmd::new(self.bin.display().to_string(), Vec::<String>::new()).timeout(HELM_TIMEOUT);
        if let Some(dir) = plugins {
            cmd = cmd.env("HELM_PLUGINS", dir.display().to_string());
        }
        if let Some(k) = &self.kubeconfig {
            cmd = cmd.args(["--kubeconfig".to_string(), k.display().to_string()]);
        }
        if let Some(c) = &self.context {
            cmd = cmd.args(["--kube-context", c]);
        }
        let cmd = cmd.args(args.iter().cloned());
        let command = self.redactor.redact_str(&format!("helm {}", args.join(" "))).into_owned();
        let out = SystemRunner.run_async(&cmd, &mut |_| {}).await.map_err(|e| HelmCommandError {
            command: command.clone(),
            status: match &e {
                RunCommandError::TimedOut { after_secs, .. } => format!("a timeout ({after_secs}s, killed)"),
                _ => format!("could not start {}: {e}", self.bin.display()),
            },
            stdout_tail: String::new(),
            stderr_tail: match &e {
                RunCommandError::TimedOut { stderr_tail, .. } => self.redactor.redact_str(stderr_tail).into_owned(),
                _ => String::new(),
            },
        })?;
        let stdout = self.redactor.redact_str(&out.stdout).into_owned();
        if out.success() {
            return Ok(stdout);
        }
        let stderr = self.redactor.redact_str(&out.stderr).into_owned();
        Err(HelmCommandError {
            command,
            status: match out.code {
                Some(code) => format!("exit status: {code}"),
                None => "a signal".into(),
            },
            stdout_tail: tail(&stdout, 30),
            stderr_tail: tail(&stderr, 30),
        })
    }

    /// `helm upgrade --install` with kubegate's settings (namespace not
    /// created by the chart, existing Secret, no `--wait`).
    pub async fn upgrade_install(&self, i: &HelmInstall) -> Result<String, HelmCommandError> {
        let mut a = strings(&["upgrade", "--install", &i.release]);
        a.push(i.chart.display().to_string());
        a.extend(strings(&["--namespace", &i.namespace]));
        a.extend(i.value_args());
        self.run_chart(a, i).await
    }

    /// `helm upgrade` of an existing release (e.g. a new image tag).
    pub async fn upgrade(&self, i: &HelmInstall) -> Result<String, HelmCommandError> {
        let mut a = strings(&["upgrade", &i.release]);
        a.push(i.chart.display().to_string());
        a.extend(strings(&["--namespace", &i.namespace]));
        a.extend(i.value_args());
        self.run_chart(a, i).await
    }

    /// `helm template` with the same values (namespace object included, as
    /// the chart renders it when `namespace.create=true`).
    pub async fn template(&self, i: &HelmInstall, include_namespace: bool) -> Result<String, HelmCommandError> {
        let mut a = strings(&["template", &i.release]);
        a.push(i.chart.display().to_string());
        a.extend(strings(&["--namespace", &i.namespace]));
        a.extend(i.value_args());
        if include_namespace {
            a.extend(strings(&["--set", "namespace.create=true"]));
        }
        self.run_chart(a, i).await
    }

    /// `helm rollback <release> <revision>`.
    pub async fn rollback(&self, release: &str, namespace: &str, revision: u32) -> Result<String, HelmCommandError> {
        self.run(&strings(&["rollback", release, &revision.to_string(), "--namespace", namespace])).await
    }

    /// `helm test <release> --logs` (the chart's test hook).
    pub async fn test(&self, release: &str, namespace: &str, timeout_secs: u64) -> Result<String, HelmCommandError> {
        let t = format!("{timeout_secs}s");
        self.run(&strings(&["test", release, "--namespace", namespace, "--logs", "--timeout", &t])).await
    }

    /// `helm get values` (`all`: computed values, not just user-supplied).
    pub async fn get_values(&self, release: &str, namespace: &str, all: bool) -> Result<String, HelmCommandError> {
        let mut a = strings(&["get", "values", release, "--namespace", namespace, "-o", "yaml"]);
        if all {
            a.push("--all".into());
        }
        self.run(&a).await
    }

    /// `helm get manifest`.
    pub async fn get_manifest(&self, release: &str, namespace: &str) -> Result<String, HelmCommandError> {
        self.run(&strings(&["get", "manifest", release, "--namespace", namespace])).await
    }

    /// `helm status`.
    pub async fn status(&self, release: &str, namespace: &str) -> Result<String, HelmCommandError> {
        self.run(&strings(&["status", release, "--namespace", namespace])).await
    }

    /// `helm history -o json`, oldest first.
    pub async fn history(&self, release: &str, namespace: &str) -> Result<Vec<HelmRevision>, HelmCommandError> {
        let out = self.run(&strings(&["history", release, "--namespace", namespace, "-o", "json"])).await?;
        serde_json::from_str(&out).map_err(|e| HelmCommandError {
            command: format!("helm history {release} -n {namespace} -o json"),
            status: format!("unreadable JSON: {e}"),
            stdout_tail: tail(&out, 10),
            stderr_tail: String::new(),
        })
    }

    /// Release names in `namespace` (`helm list -q`; Helm 4 has no `--all`).
    pub async fn list(&self, namespace: &str) -> Result<Vec<String>, HelmCommandError> {
        let out = self.run(&strings(&["list", "--namespace", namespace, "-q"])).await?;
        Ok(out.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect())
    }

    /// `helm uninstall`.
    pub async fn uninstall(&self, release: &str, namespace: &str) -> Result<String, HelmCommandError> {
        self.run(&strings(&["uninstall", release, "--namespace", namespace])).await
    }
}

/// The whole Helm path after the namespace exists: the Secret from
/// `secrets`, then `helm upgrade --install` (returns helm's stdout).
pub async fn deploy(
    client: &kube::Client,
    helm: &Helm,
    install: &HelmInstall,
    secrets: &super::secret::SecretSet,
) -> Result<String, DeployError> {
    super::secret::apply_secrets(client, &install.namespace, secrets).await?;
    Ok(helm.upgrade_install(install).await?)
}

fn strings(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| (*s).to_owned()).collect()
}

/// The last `n` lines of `s`.
pub fn tail(s: &str, n: usize) -> String {
    let lines: Vec<&str> = s.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubegate_settings_come_first_and_user_sets_override_them() {
        let mut i = HelmInstall::new("charts/todo-chatbot", "kg-abc-helm")
            .with_values_file("v.yaml")
            .with_set("backend.image.tag", "0.1.1");
        assert!(!i.value_args().iter().any(|x| x.starts_with("secrets.")), "no Secret named, no secret settings");
        i.existing_secret = Some("todo-chatbot-secrets".into());
        let a = i.value_args();
        let pos = |s: &str| a.iter().position(|x| x == s).unwrap_or(usize::MAX);
        assert!(pos("namespace.create=false") < pos("v.yaml"));
        assert!(pos("v.yaml") < pos("backend.image.tag=0.1.1"));
        assert!(a.contains(&"secrets.existingSecret=todo-chatbot-secrets".to_owned()));
        assert!(!a.iter().any(|x| x.starts_with("--wait")), "kubegate waits itself");
    }

    #[tokio::test]
    async fn failing_command_reports_redacted_evidence() {
        // /bin/sh stands in for helm so the failure path runs without a cluster.
        let h = Helm {
            bin: PathBuf::from("/bin/sh"),
            kubeconfig: None,
            context: None,
            redactor: Redactor::new([("JWT_SECRET", "hunter22")]),
            major: Default::default(),
        };
        let err =
            h.run(&strings(&["-c", "echo out-hunter22; echo err-hunter22 >&2; exit 3"])).await.expect_err("exit 3");
        let msg = err.to_string();
        assert!(msg.contains("exit status: 3"), "{msg}");
        assert!(msg.contains("err-[REDACTED:JWT_SECRET]"), "{msg}");
        assert!(!msg.contains("hunter22"), "{msg}");
    }

    #[test]
    fn history_json_parses() {
        let j = r#"[{"revision":1,"updated":"x","status":"superseded","chart":"todo-chatbot-0.1.0","app_version":"0.1.0","description":"Install complete"},
                   {"revision":2,"updated":"y","status":"deployed","chart":"todo-chatbot-0.1.0","app_version":"0.1.0","description":"Upgrade complete"}]"#;
        let h: Vec<HelmRevision> = serde_json::from_str(j).expect("helm history json");
        assert_eq!(h[1].revision, 2);
        assert_eq!(h[1].status, "deployed");
    }
}
