//! `kubegate sweep`: remove the namespaces (and Helm releases) that killed
//! runs left behind. Live runs (their lock held) are never touched.

use crate::deploy::helm::Helm;
use crate::exit::{ExitCode, HasExitCode};
use crate::progress::Step;
use crate::sweep::{find_leftovers, parse_duration, sweep};
use std::path::PathBuf;
use std::time::Duration;

/// Arguments of `kubegate sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {
    /// Only namespaces older than this (e.g. 30m, 2h, 1d); default: every
    /// namespace of a run that is not live.
    #[arg(long, value_parser = parse_duration)]
    pub older_than: Option<Duration>,
    /// kubeconfig to use; default: $KUBECONFIG, else the cluster of the
    /// provider (--provider, $KUBEGATE_PROVIDER, default local).
    #[arg(long, env = "KUBECONFIG")]
    pub kubeconfig: Option<PathBuf>,
    /// The provider whose cluster to sweep when no kubeconfig is given.
    #[command(flatten)]
    pub provider: super::provider::ProviderArgs,
    /// Context in the kubeconfig (default: its current context).
    #[arg(long)]
    pub context: Option<String>,
    /// List what would be removed, remove nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// How long to wait for each namespace to go.
    #[arg(long, value_parser = parse_duration, default_value = "120s")]
    pub deadline: Duration,
}

/// Run `kubegate sweep`; returns the exit code.
pub fn run(args: SweepArgs) -> i32 {
    let rt = match tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::Infrastructure as i32;
        }
    };
    rt.block_on(run_async(args)) as i32
}

fn kubeconfig_of(args: &SweepArgs) -> Result<(PathBuf, Option<String>), String> {
    if let Some(k) = &args.kubeconfig {
        return Ok((k.clone(), args.context.clone()));
    }
    let (kind, cfg) = args.provider.resolve(&crate::provider::ProviderConfig::default());
    let provider = crate::provider::provider_for(kind, &cfg);
    match provider.status() {
        Ok(Some(info)) => Ok((info.kubeconfig, args.context.clone().or(info.context))),
        Ok(None) => {
            Err(format!("no {kind:?} cluster is running: nothing to sweep (pass --kubeconfig for another cluster)"))
        }
        Err(e) => Err(format!("{e:#}")),
    }
}

async fn run_async(args: SweepArgs) -> ExitCode {
    let (kubeconfig, context) = match kubeconfig_of(&args) {
        Ok(k) => k,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::Cluster;
        }
    };
    let client = match crate::deploy::client_for(&kubeconfig, context.as_deref()).await {
        Ok((c, _)) => c,
        Err(e) => {
            eprintln!("error: {}", chain(&e));
            return e.exit_code();
        }
    };
    let step = Step::start(format!("finding leftovers of dead runs ({})", kubeconfig.display()));
    let leftovers = match find_leftovers(&client, args.older_than).await {
        Ok(l) => l,
        Err(e) => {
            step.failed();
            eprintln!("error: {}", chain(&e));
            return ExitCode::Cluster;
        }
    };
    for l in &leftovers {
        step.note(format!(
            "{} (run {}, path {}, age {}s{})",
            l.namespace,
            l.run,
            l.path.as_deref().unwrap_or("?"),
            l.age.as_secs(),
            if l.terminating { ", already terminating" } else { "" }
        ));
    }
    step.note(format!("{} leftover namespace(s)", leftovers.len()));
    if !args.dry_run {
        let stale = crate::sweep::remove_stale_locks();
        if !stale.is_empty() {
            step.note(format!("removed stale run locks: {}", stale.join(", ")));
        }
    }
    step.ok();
    if args.dry_run || leftovers.is_empty() {
        return ExitCode::Success;
    }
    let helm = Helm::new(Some(&kubeconfig), context.as_deref()).ok();
    let step = Step::start(format!("removing {} namespace(s)", leftovers.len()));
    if helm.is_none() {
        step.note("helm not found: releases are removed with their namespaces only");
    }
    let swept = sweep(&client, helm.as_ref(), leftovers, args.deadline).await;
    let mut stuck = 0;
    for s in &swept {
        for r in &s.releases {
            step.note(format!("{}: uninstalled release {r}", s.leftover.namespace));
        }
        for p in &s.helm_problems {
            step.note(format!("{}: helm: {p}", s.leftover.namespace));
        }
        match &s.result {
            Ok(()) => step.note(format!("{}: deleted", s.leftover.namespace)),
            Err(e) => {
                stuck += 1;
                step.note(format!("{}: {}", s.leftover.namespace, chain(e)));
            }
        }
    }
    if stuck > 0 {
        step.failed();
        eprintln!(
            "error: {stuck} namespace(s) not removed within {}s (see above for what blocks them)",
            args.deadline.as_secs()
        );
        ExitCode::Cluster
    } else {
        step.ok();
        ExitCode::Success
    }
}

/// An error and its causes, one "caused by:" line each.
fn chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(c) = src {
        s.push_str(&format!("\n  caused by: {c}"));
        src = c.source();
    }
    s
}
