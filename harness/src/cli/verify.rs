//! `kubegate verify [--config F] [--provider P] [--keep] [--report-dir DIR]`:
//! the main job (see [`crate::verify`]). Prints progress on stderr, the
//! verdict table on stdout, and exits 0 (all passed), 1 (a check failed),
//! 2 (bad input or missing tool), 3 (no cluster), 4 (infrastructure).

use super::provider::ProviderArgs;
use crate::exit::{ExitCode, HasExitCode};
use crate::verify::{VerifyRequest, verdict_table, verify};
use std::path::PathBuf;

/// Arguments of `kubegate verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {
    /// kubegate.toml describing the deployment (default: ./kubegate.toml, else built-in defaults).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    #[command(flatten)]
    provider: ProviderArgs,
    /// Keep the namespaces after the run (for diagnosis); `kubegate sweep` removes them later.
    #[arg(long)]
    keep: bool,
    /// Where to write the reports (default: target/kubegate/<run-id>/).
    #[arg(long, value_name = "DIR")]
    report_dir: Option<PathBuf>,
    /// Skip the destructive checks (database outage, liveness fault, missing key, rotation, upgrade).
    #[arg(long)]
    quick: bool,
    /// Destructive checks run at once, each in a namespace of its own (default: 5 per core, 2 to 16).
    #[arg(long, value_name = "N", env = "KUBEGATE_PARALLEL", value_parser = clap::value_parser!(u16).range(1..=64))]
    parallel: Option<u16>,
    /// The team's `.env`: values for the Secrets' keys (`KEY=VALUE` lines, as `kubectl create secret
    /// --from-env-file` reads them); without it the environment. The database key always gets kubegate's
    /// PostgreSQL; never printed.
    #[arg(long, value_name = "FILE")]
    env_file: Option<PathBuf>,
}

/// `kubegate verify: error: ...` with its causes; the exit code.
fn fail(e: &dyn std::error::Error, code: ExitCode) -> i32 {
    super::fail("verify", e, code)
}

/// Run `kubegate verify`; returns the exit code.
pub fn run(args: VerifyArgs) -> i32 {
    let config = match crate::config::Config::discover(args.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(&e, e.exit_code()),
    };
    let (provider, provider_config) = args.provider.resolve(&config.cluster);
    let req = VerifyRequest {
        config,
        provider,
        provider_config,
        keep: args.keep,
        report_dir: args.report_dir,
        destructive: !args.quick,
        parallel: args.parallel.map_or_else(crate::live::run::default_parallel, usize::from),
        env_file: args.env_file,
    };
    let rt = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&e, ExitCode::Infrastructure),
    };
    let outcome = rt.block_on(async {
        tokio::select! {
            r = verify(&req) => Some(r),
            _ = tokio::signal::ctrl_c() => None,
        }
    });
    let outcome = match outcome {
        // Dropping the future ran the namespace guards' cleanup.
        None => {
            eprintln!("kubegate verify: interrupted; namespaces of this run were deleted (or run `kubegate sweep`)");
            return ExitCode::Interrupted as i32;
        }
        Some(Err(e)) => return fail(&e, e.exit_code()),
        Some(Ok(o)) => o,
    };
    let counts = outcome.report.status_counts();
    println!();
    println!("{}", verdict_table(&outcome.report));
    let failed: Vec<String> = outcome
        .report
        .cases
        .iter()
        .filter(|c| c.status == crate::report::Status::Failed)
        .map(|c| format!("{} ({})", c.check, c.scope))
        .collect();
    let verdict = if failed.is_empty() { "PASS" } else { "FAIL" };
    println!(
        "kubegate verify: {verdict} in {:.0}s ({} cases: {} passed, {} waived/limited, {} failed)",
        outcome.timings.verdict_secs,
        outcome.report.cases.len(),
        counts.get(&crate::report::Status::Passed).unwrap_or(&0),
        counts.get(&crate::report::Status::Waived).unwrap_or(&0),
        failed.len()
    );
    if !failed.is_empty() {
        println!("failed: {}", failed.join(", "));
    }
    println!("reports: {}/{{summary.md,report.json,junit.xml,report.txt,timings.json}}", outcome.report_dir.display());
    if !outcome.left.is_empty() {
        println!("namespaces left in place: {}", outcome.left.join(", "));
    }
    outcome.exit_code() as i32
}
