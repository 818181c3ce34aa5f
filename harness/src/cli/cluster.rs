//! `kubegate cluster up|down|status [--provider local|minikube|kind|existing]`:
//! start, stop or inspect the cluster the live suites run on.
//!
//! `up` goes through [`crate::provider::ensure`], so the CLI and the test
//! processes share one cluster (and one state file); `down` forgets it again.

use std::path::PathBuf;

use super::provider::ProviderArgs;
use crate::exit::{ExitCode, HasExitCode};
use crate::provider::{ClusterInfo, ensure, provider_for};

/// Arguments of `kubegate cluster`.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    action: ClusterAction,
}

#[derive(Debug, clap::Subcommand)]
enum ClusterAction {
    /// Start the cluster (or reuse a running one) and wait until it is ready:
    /// node Ready, DNS answering, LoadBalancer capability known.
    Up(CommonArgs),
    /// Stop what `up` started and remove what it made (`existing`: nothing).
    Down(CommonArgs),
    /// Say whether the cluster is running and ready; exit 0 if so, 3 if not.
    Status(CommonArgs),
}

#[derive(Debug, clap::Args)]
struct CommonArgs {
    #[command(flatten)]
    provider: ProviderArgs,
    /// kubegate.toml whose `[cluster]` section configures the provider
    /// (default: ./kubegate.toml when it exists).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the cluster's facts as JSON on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// Run `kubegate cluster`; returns the exit code.
pub fn run(args: ClusterArgs) -> i32 {
    let (common, action) = match &args.action {
        ClusterAction::Up(c) => (c, "up"),
        ClusterAction::Down(c) => (c, "down"),
        ClusterAction::Status(c) => (c, "status"),
    };
    let config = match crate::config::Config::discover(common.config.as_deref()) {
        Ok(c) => c,
        Err(e) => return fail(&e, e.exit_code()),
    };
    let (kind, cfg) = common.provider.resolve(&config.cluster);
    let result = match action {
        "up" => ensure::ensure_cluster(kind, &cfg).map(Some),
        "down" => {
            let result = provider_for(kind, &cfg).down();
            if result.is_ok() {
                ensure::forget(kind);
                eprintln!("kubegate: {kind} cluster is down");
            }
            result.map(|()| None)
        }
        _ => provider_for(kind, &cfg).status(),
    };
    match result {
        Ok(Some(info)) => {
            print_info(&info, common.json);
            ExitCode::Success as i32
        }
        Ok(None) if action == "down" => ExitCode::Success as i32,
        Ok(None) => {
            if common.json {
                println!("null");
            }
            eprintln!(
                "kubegate: no {kind} cluster is running (start one with `kubegate cluster up --provider {kind}`)"
            );
            ExitCode::Cluster as i32
        }
        Err(e) => fail(&e, e.exit_code()),
    }
}

fn print_info(info: &ClusterInfo, json: bool) {
    if json {
        println!("{}", serde_json::to_string_pretty(info).expect("ClusterInfo serialises to JSON"));
        return;
    }
    let lb = serde_json::to_value(info.load_balancer).ok().and_then(|v| v.as_str().map(String::from));
    println!("provider:      {}", info.provider);
    println!("kubeconfig:    {}", info.kubeconfig.display());
    println!("context:       {}", info.context.as_deref().unwrap_or("(current)"));
    println!("load balancer: {}", lb.as_deref().unwrap_or("?"));
    if let Some(ip) = info.node_ip {
        println!("node IP:       {ip}");
    }
    println!("use it:        export KUBECONFIG={}", info.kubeconfig.display());
}

/// `kubegate cluster: error: ...` with its causes; the exit code.
fn fail(e: &dyn std::error::Error, code: ExitCode) -> i32 {
    super::fail("cluster", e, code)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::provider::ProviderKind;

    #[test]
    fn cli_parses_up_down_status_with_provider() {
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct T {
            #[command(flatten)]
            args: ClusterArgs,
        }
        let t = T::try_parse_from(["t", "up", "--provider", "kind"]).expect("parses");
        assert!(matches!(
            t.args.action,
            ClusterAction::Up(CommonArgs { provider: ProviderArgs { provider: Some(ProviderKind::Kind), .. }, .. })
        ));
        let t = T::try_parse_from(["t", "status", "--json", "--provider", "local"]).expect("parses");
        assert!(matches!(
            t.args.action,
            ClusterAction::Status(CommonArgs {
                provider: ProviderArgs { provider: Some(ProviderKind::Local), .. },
                json: true,
                ..
            })
        ));
        assert!(T::try_parse_from(["t", "down", "--provider", "k3d"]).is_err());
    }
}
