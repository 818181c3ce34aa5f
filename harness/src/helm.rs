//! Rendering the chart with the real `helm template` (no reimplementation of
//! Helm's template engine), with a deadline so a broken chart cannot hang a run.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::exit::{ExitCode, HasExitCode};
use crate::process::{Cmd, CommandRunner, RunCommandError, SystemRunner, tail};
use crate::tools::{FindToolError, find_tool_with};

/// How long `helm template` may take before it is killed.
pub const RENDER_TIMEOUT: Duration = Duration::from_secs(60);

/// `helm template` could not produce manifests.
#[derive(Debug, thiserror::Error)]
pub enum RenderChartError {
    /// helm is not installed.
    #[error(transparent)]
    HelmMissing(#[from] FindToolError),
    /// The chart directory does not exist or has no Chart.yaml.
    #[error("chart directory {} has no Chart.yaml\n  fix: point --chart (or [chart].path in kubegate.toml) at the chart directory", chart.display())]
    ChartMissing {
        /// The directory.
        chart: PathBuf,
    },
    /// A values file does not exist.
    #[error("values file {} does not exist", file.display())]
    ValuesMissing {
        /// The file.
        file: PathBuf,
    },
    /// helm could not be started.
    #[error("cannot run {}", helm.display())]
    Spawn {
        /// helm binary.
        helm: PathBuf,
        /// I/O error.
        #[source]
        source: std::io::Error,
    },
    /// helm ran longer than the deadline.
    #[error("`{command}` did not finish within {}s and was killed", timeout.as_secs())]
    Timeout {
        /// Command line.
        command: String,
        /// The deadline.
        timeout: Duration,
    },
    /// helm failed (template error, schema violation, ...).
    #[error("`{command}` failed (exit {}):\n{stderr_tail}", status.map(|s| s.to_string()).unwrap_or_else(|| "signal".into()))]
    Failed {
        /// Command line.
        command: String,
        /// Exit status.
        status: Option<i32>,
        /// Last lines of helm's stderr.
        stderr_tail: String,
    },
}

impl HasExitCode for RenderChartError {
    fn exit_code(&self) -> ExitCode {
        match self {
            RenderChartError::Timeout { .. } => ExitCode::Infrastructure,
            _ => ExitCode::BadInput,
        }
    }
}

/// `helm template <release> <chart> --namespace <ns> -f <values>...`; returns stdout.
pub fn template(release: &str, chart: &Path, namespace: &str, values: &[PathBuf]) -> Result<String, RenderChartError> {
    template_with(&SystemRunner, release, chart, namespace, values)
}

/// [`template`] with helm run by `runner`.
pub fn template_with(
    runner: &dyn CommandRunner,
    release: &str,
    chart: &Path,
    namespace: &str,
    values: &[PathBuf],
) -> Result<String, RenderChartError> {
    if !chart.join("Chart.yaml").is_file() {
        return Err(RenderChartError::ChartMissing { chart: chart.to_path_buf() });
    }
    if let Some(missing) = values.iter().find(|v| !v.is_file()) {
        return Err(RenderChartError::ValuesMissing { file: missing.clone() });
    }
    let helm = find_tool_with(runner, "helm")?;
    let mut args: Vec<String> =
        vec!["template".into(), release.into(), chart.display().to_string(), "--namespace".into(), namespace.into()];
    for v in values {
        args.push("-f".into());
        args.push(v.display().to_string());
    }
    let command = format!("helm {}", args.join(" "));
    let cmd = Cmd::new(helm.display().to_string(), args).timeout(RENDER_TIMEOUT);
    let out = runner.run(&cmd).map_err(|e| match e {
        RunCommandError::TimedOut { .. } => {
            RenderChartError::Timeout { command: command.clone(), timeout: RENDER_TIMEOUT }
        }
        RunCommandError::Spawn { source, .. } => RenderChartError::Spawn { helm: helm.clone(), source },
        other => RenderChartError::Spawn { helm: helm.clone(), source: std::io::Error::other(other.to_string()) },
    })?;
    if out.code != Some(0) {
        return Err(RenderChartError::Failed {
            command,
            status: out.code,
            stderr_tail: indented_tail(&out.stderr, 20),
        });
    }
    Ok(out.stdout)
}

/// The last `n` lines of `text`, indented for an error screen.
fn indented_tail(text: &str, n: usize) -> String {
    tail(text, n).lines().map(|l| format!("  | {l}")).collect::<Vec<_>>().join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_chart_is_bad_input() {
        let err = template("r", Path::new("/nonexistent/chart"), "ns", &[]).expect_err("no chart");
        assert!(matches!(err, RenderChartError::ChartMissing { .. }));
        assert_eq!(err.exit_code(), ExitCode::BadInput);
    }

    #[test]
    fn tail_keeps_last_lines() {
        assert_eq!(indented_tail("a\nb\nc\n", 2), "  | b\n  | c");
    }

    /// A chart directory and a values file, as `helm template` needs them.
    fn chart_and_values() -> (tempfile::TempDir, PathBuf, PathBuf) {
        let dir = tempfile::tempdir().expect("tempdir");
        let chart = dir.path().join("chart");
        std::fs::create_dir_all(&chart).expect("mkdir");
        std::fs::write(chart.join("Chart.yaml"), "name: c\n").expect("Chart.yaml");
        let values = dir.path().join("values-ci.yaml");
        std::fs::write(&values, "replicas: 1\n").expect("values");
        (dir, chart, values)
    }

    #[test]
    fn template_runs_helm_template_with_its_deadline_through_the_runner() {
        use crate::process::{FakeRunner, Output};
        let (_dir, chart, values) = chart_and_values();
        let fake = FakeRunner::new();
        fake.reply(&["/fake/bin/helm", "template"], [Output::ok("kind: Service\n")]);
        let out = template_with(fake.as_ref(), "todo", &chart, "kg-1", std::slice::from_ref(&values)).expect("renders");
        assert_eq!(out, "kind: Service\n");
        let chart = chart.display().to_string();
        let values = values.display().to_string();
        assert_eq!(
            fake.calls(),
            [["/fake/bin/helm", "template", "todo", chart.as_str(), "--namespace", "kg-1", "-f", values.as_str()]]
        );
        assert_eq!(fake.commands()[0].timeout, RENDER_TIMEOUT);
    }

    #[test]
    fn a_failing_helm_is_bad_input_with_its_stderr_tail() {
        use crate::process::{FakeRunner, Output};
        let (_dir, chart, _values) = chart_and_values();
        let fake = FakeRunner::new();
        fake.reply(&["/fake/bin/helm"], [Output::failed(1, "", "Error: template: bad.yaml:3: unexpected EOF\n")]);
        let err = template_with(fake.as_ref(), "todo", &chart, "kg-1", &[]).expect_err("helm failed");
        assert!(matches!(&err, RenderChartError::Failed { status: Some(1), .. }), "{err}");
        assert!(err.to_string().contains("  | Error: template: bad.yaml:3"), "{err}");
        assert_eq!(err.exit_code(), ExitCode::BadInput);
    }
}
