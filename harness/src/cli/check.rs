//! `kubegate check`: the constitution, the contract and raw-vs-Helm parity
//! over manifests and chart, without a cluster.
//!
//! With no path flag both paths named in `kubegate.toml` are checked, and
//! compared; `--manifests` or `--chart` alone checks that path alone (against
//! the same config). Without `--config` and without `./kubegate.toml` the
//! repository in the current directory is discovered ([`crate::discover`]) and
//! checked as [`crate::infer`] describes it; what was found is printed to
//! stderr first. Exit 0 when everything passes, 1 on unwaived findings,
//! 2 when the input is bad or a tool (helm) is missing.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use crate::check::{CheckError, CheckRequest};
use crate::config::{Config, LoadConfigError};
use crate::exit::{ExitCode, HasExitCode};
use crate::report::{Format, RenderOptions, RenderReportError, Report};

/// Arguments of `kubegate check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    /// The deployment under test (default: ./kubegate.toml if present, else
    /// what discovery finds in the current directory).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Check this raw manifests directory (alone, unless --chart is given too).
    #[arg(long, value_name = "DIR")]
    pub manifests: Option<PathBuf>,
    /// Check this Helm chart (alone, unless --manifests is given too).
    #[arg(long, value_name = "DIR")]
    pub chart: Option<PathBuf>,
    /// Values file for the chart (repeatable, later wins). With --chart these
    /// replace the config's values files; without it they are added to them.
    #[arg(long = "values", short = 'f', value_name = "FILE")]
    pub values: Vec<PathBuf>,
    /// Report format.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write the report to FILE instead of stdout (a one-line summary still
    /// goes to stderr).
    #[arg(long, short = 'o', value_name = "FILE")]
    pub output: Option<PathBuf>,
}

/// `kubegate check` could not judge the deployment.
#[derive(Debug, thiserror::Error)]
pub enum RunCheckError {
    /// kubegate.toml is unreadable or invalid.
    #[error("invalid configuration")]
    Config(#[from] LoadConfigError),
    /// No kubegate.toml, and the current directory cannot be searched.
    #[error(transparent)]
    Discover(#[from] crate::discover::DiscoverError),
    /// `--values` without a chart to render.
    #[error("--values needs a chart: add --chart DIR (with --manifests alone no chart is rendered)")]
    ValuesWithoutChart,
    /// The check could not run (bad manifests, chart, contract, helm missing).
    #[error(transparent)]
    Check(#[from] CheckError),
    /// The report could not be rendered.
    #[error(transparent)]
    Render(#[from] RenderReportError),
    /// The report could not be written.
    #[error("cannot write the report to {}\n  fix: check that the directory exists and is writable", path.display())]
    Write {
        /// `--output` file, or `-` for stdout.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

impl HasExitCode for RunCheckError {
    fn exit_code(&self) -> ExitCode {
        match self {
            RunCheckError::Config(e) => e.exit_code(),
            RunCheckError::Discover(e) => e.exit_code(),
            RunCheckError::Check(e) => e.exit_code(),
            RunCheckError::ValuesWithoutChart | RunCheckError::Write { .. } => ExitCode::BadInput,
            // A serializer failing is kubegate's fault, not the input's.
            RunCheckError::Render(_) => ExitCode::Infrastructure,
        }
    }
}

/// Run `kubegate check`; returns the exit code.
pub fn run(args: CheckArgs) -> i32 {
    match check(&args) {
        Ok(code) => code as i32,
        Err(e) => {
            print_error(&e);
            e.exit_code() as i32
        }
    }
}

/// What `args` ask for, as a request to [`crate::check::run`].
pub fn request(args: &CheckArgs, config: Config) -> Result<CheckRequest, RunCheckError> {
    if args.manifests.is_none() && args.chart.is_none() {
        let mut req = CheckRequest::from_config(config);
        req.values.extend(args.values.iter().cloned());
        return Ok(req);
    }
    if args.chart.is_none() && !args.values.is_empty() {
        return Err(RunCheckError::ValuesWithoutChart);
    }
    Ok(CheckRequest {
        config,
        manifests: args.manifests.clone(),
        chart: args.chart.clone(),
        values: args.values.clone(),
    })
}

fn check(args: &CheckArgs) -> Result<ExitCode, RunCheckError> {
    let started = Instant::now();
    let config = config(args)?;
    let req = request(args, config)?;
    let outcome = crate::check::run(&req)?;
    let report = Report::from_check(&outcome, Some(started.elapsed()));

    let to_terminal = args.output.is_none() && std::io::stdout().is_terminal();
    let color = args.format == Format::Text && to_terminal && std::env::var_os("NO_COLOR").is_none();
    let rendered = report.render(args.format, RenderOptions { color })?;
    match &args.output {
        Some(path) => {
            write_file(path, &rendered)?;
            // The file is for machines; the person running the command still
            // wants the verdict.
            let text = report.render(Format::Text, RenderOptions { color: false })?;
            let summary = text.trim_end().lines().last().unwrap_or_default();
            eprintln!("{summary}\nreport ({:?}) written to {}", args.format, path.display());
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(rendered.as_bytes())
                .and_then(|()| out.flush())
                .map_err(|source| RunCheckError::Write { path: PathBuf::from("-"), source })?;
        }
    }
    Ok(report.exit_code())
}

/// `--config`, else `./kubegate.toml`, else the repository here as discovery finds it (told on stderr, so a
/// JSON or SARIF stdout stays clean).
fn config(args: &CheckArgs) -> Result<Config, RunCheckError> {
    if args.config.is_some() || Path::new("kubegate.toml").is_file() {
        return Ok(Config::discover(args.config.as_deref())?);
    }
    let discovery = crate::discover::discover(Path::new("."))?;
    let mut told = String::from("kubegate check: no kubegate.toml here; checking what was found:\n");
    for line in discovery.to_string().lines() {
        told.push_str(&format!("  {line}\n"));
    }
    told.push_str("  (`kubegate init` writes this down as kubegate.toml, to review and commit)");
    eprintln!("{told}");
    Ok(crate::infer::config(&discovery))
}

fn write_file(path: &Path, text: &str) -> Result<(), RunCheckError> {
    std::fs::write(path, text).map_err(|source| RunCheckError::Write { path: path.to_path_buf(), source })
}

/// `kubegate check: error: <message>` then one `caused by:` line per source,
/// so the file, line, field and fix named anywhere in the chain are shown.
fn print_error(e: &RunCheckError) {
    let mut text = format!("kubegate check: error: {e}");
    let mut source = std::error::Error::source(e);
    // `transparent` variants share their source's message: skip the repeat.
    let mut last = e.to_string();
    while let Some(s) = source {
        let msg = s.to_string();
        if msg != last {
            text.push_str(&format!("\n  caused by: {}", msg.replace('\n', "\n  ")));
        }
        last = msg;
        source = s.source();
    }
    eprintln!("{text}");
}
