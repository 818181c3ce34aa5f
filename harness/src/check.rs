//! `kubegate check` as a library call: load one or both deploy paths into
//! the model (and the chart's values, and the routes of the app source its
//! Dockerfiles build), apply every rule, compare the paths, apply waivers.
//! Reports and the CLI sit on top of [`run`].

use std::path::{Path, PathBuf};

use crate::config::Config;
use crate::contract::{Contract, LoadContractError};
use crate::exit::{ExitCode, HasExitCode};
use crate::helm::RenderChartError;
use crate::model::{LoadManifestsError, Model};
// The outcome and the rule application itself are I/O-free (kubegate-rules);
// this module loads what they judge.
pub use kubegate_rules::outcome::{CheckOutcome, CheckedPath, InvalidWaiver, check_models};

/// What to check. `None` paths are skipped; [`CheckRequest::from_config`]
/// fills both from `kubegate.toml`.
#[derive(Debug, Clone)]
pub struct CheckRequest {
    /// The deployment under test.
    pub config: Config,
    /// Raw manifests directory.
    pub manifests: Option<PathBuf>,
    /// Chart directory.
    pub chart: Option<PathBuf>,
    /// Values files for the chart (`-f`), in order.
    pub values: Vec<PathBuf>,
}

impl CheckRequest {
    /// The paths the config names (resolved against its directory); a path it leaves out is not checked.
    pub fn from_config(config: Config) -> Self {
        let manifests = config.manifests_dir();
        let chart = config.chart_dir();
        let values = config.chart.values.iter().map(|v| config.resolve(v)).collect();
        CheckRequest { config, manifests, chart, values }
    }
}

/// The check could not run (bad input or a missing tool); nothing was judged.
#[derive(Debug, thiserror::Error)]
pub enum CheckError {
    /// Neither manifests nor chart to check.
    #[error("nothing to check: give --manifests and/or --chart, or name them in kubegate.toml")]
    NothingToCheck,
    /// The raw manifests could not be read.
    #[error("cannot read the raw manifests")]
    Manifests(#[source] Box<LoadManifestsError>),
    /// The chart could not be rendered.
    #[error("cannot render the Helm chart")]
    Render(#[from] Box<RenderChartError>),
    /// The chart rendered, but its output is not a valid model.
    #[error("the rendered Helm chart is not valid")]
    Rendered(#[source] Box<LoadManifestsError>),
    /// The chart's values.yaml could not be read.
    #[error("cannot read the chart's values")]
    Values(#[source] Box<LoadManifestsError>),
    /// The OpenAPI contract could not be read.
    #[error("cannot read the OpenAPI contract")]
    Contract(#[from] Box<LoadContractError>),
    /// A `kubegate.io/waive` annotation is malformed.
    #[error(transparent)]
    Waiver(#[from] InvalidWaiver),
}

impl HasExitCode for CheckError {
    fn exit_code(&self) -> ExitCode {
        match self {
            CheckError::Render(e) => e.exit_code(),
            _ => ExitCode::BadInput,
        }
    }
}

/// Load what `req` names, apply every rule, compare the paths, apply waivers.
pub fn run(req: &CheckRequest) -> Result<CheckOutcome, CheckError> {
    if req.manifests.is_none() && req.chart.is_none() {
        return Err(CheckError::NothingToCheck);
    }
    let config = &req.config;
    let contract = match config.contract_file() {
        Some(p) => Some(Contract::load(&p).map_err(Box::new)?),
        None => None,
    };
    let raw = match &req.manifests {
        Some(dir) => Some(Model::load_dir(dir).map_err(|e| CheckError::Manifests(Box::new(e)))?),
        None => None,
    };
    let (helm, chart_values) = match &req.chart {
        Some(chart) => {
            let out =
                crate::helm::template(&config.release, chart, &config.namespace, &req.values).map_err(Box::new)?;
            let mut model = Model::from_helm_output(&out, chart).map_err(|e| CheckError::Rendered(Box::new(e)))?;
            for o in &mut model.objects {
                o.source.show = show_only(config, chart, &req.values, &o.source.file);
            }
            (Some(model), Some(chart_values(chart, &req.values)?))
        }
        None => (None, None),
    };
    // The app source behind the images, read here so that the rules stay free of I/O (KG-PROBE-006).
    let apps = crate::app_source::find(&config.base_dir);
    Ok(check_models(config, raw.as_ref(), helm.as_ref(), contract.as_ref(), chart_values.as_ref(), &apps)?)
}

/// `helm template <release> <chart> -n <namespace> [-f values]... --show-only templates/x.yaml`: the command that
/// prints the rendered document of `template` (a template line is not the rendered one). `None` for output helm
/// names no template for.
fn show_only(config: &Config, chart: &Path, values: &[PathBuf], template: &Path) -> Option<String> {
    let inside = template.strip_prefix(chart).ok().filter(|p| p.components().count() >= 2)?;
    let mut words = vec!["helm".to_string(), "template".into(), shell_word(&config.release), shell_word(&shown(chart))];
    words.extend(["-n".to_string(), shell_word(&config.namespace)]);
    for v in values {
        words.extend(["-f".to_string(), shell_word(&shown(v))]);
    }
    words.extend(["--show-only".to_string(), shell_word(&inside.to_string_lossy().replace('\\', "/"))]);
    Some(words.join(" "))
}

/// `p` as typed from the current directory (relative when below it).
fn shown(p: &Path) -> String {
    let rel = std::env::current_dir().ok().and_then(|cwd| p.strip_prefix(cwd).ok().map(Path::to_path_buf));
    let s = rel.as_deref().unwrap_or(p).to_string_lossy().replace('\\', "/");
    let s = s.strip_prefix("./").unwrap_or(&s).to_string();
    if s.is_empty() { ".".into() } else { s }
}

/// `s` quoted for a POSIX shell when it holds anything but plain path characters.
fn shell_word(s: &str) -> String {
    if !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || "-_./=:@+,".contains(c)) {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

/// The chart's `values.yaml` merged with the extra values files (later wins),
/// as JSON: what KG-SECRET-005 inspects for secret defaults.
fn chart_values(chart: &Path, extra: &[PathBuf]) -> Result<serde_json::Value, CheckError> {
    let mut merged = serde_json::Value::Object(Default::default());
    let files = std::iter::once(chart.join("values.yaml")).chain(extra.iter().cloned());
    for file in files {
        let Ok(text) = std::fs::read_to_string(&file) else { continue };
        let v = crate::model::parse_yaml_value(&text, &file).map_err(|e| CheckError::Values(Box::new(e)))?;
        merge(&mut merged, v);
    }
    Ok(merged)
}

fn merge(into: &mut serde_json::Value, from: serde_json::Value) {
    match (into, from) {
        (serde_json::Value::Object(a), serde_json::Value::Object(b)) => {
            for (k, v) in b {
                match a.get_mut(&k) {
                    Some(slot) => merge(slot, v),
                    None => {
                        a.insert(k, v);
                    }
                }
            }
        }
        (slot, v) => *slot = v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::finding::DeployPath;
    use kubegate_rules::rules::testkit::{CONTRACT, base};

    /// A temp dir with `manifests/app.yaml` and the contract; config pointing at it.
    fn tree(manifest: &str) -> (tempfile::TempDir, CheckRequest) {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir(dir.path().join("manifests")).expect("mkdir");
        std::fs::write(dir.path().join("manifests/app.yaml"), manifest).expect("write manifest");
        std::fs::write(dir.path().join("openapi.yaml"), CONTRACT).expect("write contract");
        let config =
            Config { base_dir: dir.path().to_path_buf(), contract: Some("openapi.yaml".into()), ..Config::default() };
        let mut req = CheckRequest::from_config(config);
        req.chart = None;
        (dir, req)
    }

    #[test]
    fn raw_path_alone_clean_tree_passes() {
        let (_dir, req) = tree(&base());
        let out = run(&req).expect("check runs");
        assert_eq!(out.exit_code(), ExitCode::Success, "{:#?}", out.findings);
        assert_eq!(out.checked.len(), 1);
        assert_eq!(out.checked[0].path, DeployPath::Raw);
        assert!(out.checked[0].objects >= 10);
        assert!(out.parity.is_empty());
    }

    #[test]
    fn findings_and_waivers_decide_the_exit_code() {
        let broken = base().replacen("imagePullPolicy: Never", "imagePullPolicy: Always", 1);
        let (_dir, mut req) = tree(&broken);
        let out = run(&req).expect("check runs");
        assert_eq!(out.exit_code(), ExitCode::Findings);
        assert!(out.unwaived().any(|f| f.rule_id == "KG-IMG-002"));
        req.config.waivers.push(crate::config::Waiver {
            rule: "KG-IMG-002".into(),
            object: "Deployment/todo-chatbot-backend".into(),
            path: None,
            reason: "pulled from a local registry in this variant".into(),
        });
        let out = run(&req).expect("check runs");
        assert_eq!(out.exit_code(), ExitCode::Success);
        let waived: Vec<_> = out.waived().collect();
        assert_eq!(waived.len(), 1);
        assert!(waived[0].waived.as_deref().is_some_and(|r| r.contains("local registry")));
    }

    #[test]
    fn helm_findings_name_the_command_that_shows_the_rendered_document() {
        let config = Config { release: "todo".into(), namespace: "it's".into(), ..Config::default() };
        let chart = Path::new("/nowhere/helm/todo");
        let values = [PathBuf::from("/nowhere/values dev.yaml")];
        let show = |file: &str| show_only(&config, chart, &values, Path::new(file));
        assert_eq!(
            show("/nowhere/helm/todo/templates/backend.yaml").as_deref(),
            Some(
                "helm template todo /nowhere/helm/todo -n 'it'\\''s' -f '/nowhere/values dev.yaml' --show-only templates/backend.yaml"
            )
        );
        assert_eq!(
            show("/nowhere/helm/todo/charts/db/templates/sts.yaml")
                .as_deref()
                .map(|s| s.ends_with("--show-only charts/db/templates/sts.yaml")),
            Some(true)
        );
        assert_eq!(show("/nowhere/helm/todo/(helm template output)"), None, "no template named");
        assert_eq!(show("/elsewhere/x.yaml"), None);
    }

    #[test]
    fn bad_input_is_exit_2() {
        let (_dir, req) = tree("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: [x\n");
        let err = run(&req).expect_err("malformed YAML");
        assert_eq!(err.exit_code(), ExitCode::BadInput);
        let (_dir, mut req) = tree(&base());
        req.chart = Some("/nonexistent/chart".into());
        let err = run(&req).expect_err("missing chart");
        assert_eq!(err.exit_code(), ExitCode::BadInput);
        req.manifests = None;
        req.chart = None;
        assert!(matches!(run(&req), Err(CheckError::NothingToCheck)));
    }

    #[test]
    fn malformed_waiver_annotation_is_bad_input() {
        let text = base().replacen(
            "  name: todo-chatbot-config\n",
            "  name: todo-chatbot-config\n  annotations: {kubegate.io/waive: KG-SECRET-002}\n",
            1,
        );
        let (_dir, req) = tree(&text);
        let err = run(&req).expect_err("waiver without reason");
        assert!(err.to_string().contains("no reason"), "{err}");
        assert_eq!(err.exit_code(), ExitCode::BadInput);
    }
}
