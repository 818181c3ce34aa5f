//! The `kubegate` command line: one module per subcommand, each with its
//! `clap` arguments and a `run` that returns the exit code.

use clap::{Parser, Subcommand};

pub mod check;
pub mod cluster;
pub mod images;
pub mod init;
pub mod provider;
pub mod sweep;
pub mod verify;

/// Prove a Kubernetes deployment right before it is submitted or merged.
#[derive(Debug, Parser)]
#[command(name = "kubegate", version, about, long_about = None)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Check manifests and chart without a cluster: rules, contract, parity.
    Check(check::CheckArgs),
    /// Write a commented kubegate.toml describing the repository in DIR (charts, manifests, components, Secrets).
    Init(init::InitArgs),
    /// Build the chatbot's images, or load them into a cluster.
    Images(images::ImagesArgs),
    /// Start, stop or inspect a cluster (local, minikube, kind, existing).
    Cluster(cluster::ClusterArgs),
    /// The main job: build, start a cluster, deploy both paths, run every suite, report.
    Verify(verify::VerifyArgs),
    /// Remove namespaces and releases that a killed run left behind.
    Sweep(sweep::SweepArgs),
    /// Helm's post-renderer for kubegate's variants: rendered manifests on
    /// stdin, the edits of EDITS applied, on stdout (run by helm, not by people).
    #[command(hide = true)]
    PostRender {
        /// The edits file kubegate wrote for the deployment.
        edits: std::path::PathBuf,
    },
}

/// Print `kubegate <command>: error: <e>` and one `caused by:` line per
/// source; return `code` as the process exit code.
pub(crate) fn fail(command: &str, e: &dyn std::error::Error, code: crate::exit::ExitCode) -> i32 {
    eprintln!("kubegate {command}: error: {e}");
    let mut cause = e.source();
    while let Some(c) = cause {
        eprintln!("  caused by: {c}");
        cause = c.source();
    }
    code as i32
}

/// `kubegate post-render EDITS`: stdin to stdout through the edits.
fn post_render(edits: &std::path::Path) -> i32 {
    use std::io::{Read, Write};
    let run = || -> Result<String, crate::deploy::edit::PostRenderError> {
        let edits = crate::deploy::edit::read_edits(edits)?;
        let mut rendered = String::new();
        std::io::stdin()
            .read_to_string(&mut rendered)
            .map_err(|e| crate::deploy::edit::PostRenderError::Yaml(format!("reading stdin: {e}")))?;
        crate::deploy::edit::post_render(&edits, &rendered)
    };
    match run() {
        Ok(out) => match std::io::stdout().write_all(out.as_bytes()) {
            Ok(()) => 0,
            Err(e) => fail("post-render", &e, crate::exit::ExitCode::BadInput),
        },
        Err(e) => {
            // Helm 4 does not show a plugin's stderr: kubegate reads this file.
            let _ = std::fs::write(crate::deploy::edit::error_file(edits), e.to_string());
            fail("post-render", &e, crate::exit::ExitCode::BadInput)
        }
    }
}

/// Entry point of the binary; returns the process exit code.
pub fn main_impl() -> i32 {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap's own code for --help/--version is 0; usage errors are bad input.
            return if e.use_stderr() { crate::exit::ExitCode::BadInput as i32 } else { 0 };
        }
    };
    match cli.command {
        Command::Check(args) => check::run(args),
        Command::Init(args) => init::run(args),
        Command::Images(args) => images::run(args),
        Command::Cluster(args) => cluster::run(args),
        Command::Verify(args) => verify::run(args),
        Command::Sweep(args) => sweep::run(args),
        Command::PostRender { edits } => post_render(&edits),
    }
}
