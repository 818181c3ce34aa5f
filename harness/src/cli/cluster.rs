//! `kubegate cluster up|down|status [--provider local|minikube|kind|existing]`:
//! start, stop or inspect the cluster the live suites run on.
//!
//! `up` goes through [`crate::provider::ensure`], so the CLI and the test
//! processes share one cluster (and one state file); `down` forgets it again.

use std::path::{Path, PathBuf};

use crate::exit::{ExitCode, HasExitCode};
use crate::provider::{ClusterInfo, ProviderConfig, ProviderKind, ensure, provider_for};

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
    /// Which provider; default: `provider` in the `[cluster]` section of
    /// kubegate.toml, else `local`.
    #[arg(long, value_parser = parse_provider_kind)]
    provider: Option<ProviderKind>,
    /// kubegate.toml whose `[cluster]` section configures the provider
    /// (default: ./kubegate.toml when it exists).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Print the cluster's facts as JSON on stdout instead of text.
    #[arg(long)]
    json: bool,
}

/// `local|minikube|kind|existing` as a [`ProviderKind`].
pub fn parse_provider_kind(s: &str) -> Result<ProviderKind, String> {
    match s {
        "local" => Ok(ProviderKind::Local),
        "minikube" => Ok(ProviderKind::Minikube),
        "kind" => Ok(ProviderKind::Kind),
        "existing" => Ok(ProviderKind::Existing),
        other => Err(format!("unknown provider `{other}` (local, minikube, kind, existing)")),
    }
}

/// kubegate.toml could not be read for its `[cluster]` section.
#[derive(Debug, thiserror::Error)]
pub enum LoadClusterConfigError {
    /// The file could not be read.
    #[error("cannot read {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or its `[cluster]` section has a bad field.
    #[error("{path}: invalid [cluster] section: {message}")]
    Parse { path: PathBuf, message: String },
}

impl HasExitCode for LoadClusterConfigError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::BadInput
    }
}

/// The `[cluster]` section of `path` (defaults when the section is absent).
pub fn load_cluster_config(path: &Path) -> Result<ProviderConfig, LoadClusterConfigError> {
    let text = std::fs::read_to_string(path)
        .map_err(|source| LoadClusterConfigError::Read { path: path.to_path_buf(), source })?;
    parse_cluster_config(&text, path)
}

/// [`load_cluster_config`] on text already read.
pub fn parse_cluster_config(text: &str, path: &Path) -> Result<ProviderConfig, LoadClusterConfigError> {
    #[derive(serde::Deserialize)]
    struct File {
        #[serde(default)]
        cluster: Option<toml::Value>,
    }
    let parse_err = |message: String| LoadClusterConfigError::Parse { path: path.to_path_buf(), message };
    let file: File = toml::from_str(text).map_err(|e| parse_err(e.to_string()))?;
    match file.cluster {
        None => Ok(ProviderConfig::default()),
        Some(section) => section.try_into().map_err(|e: toml::de::Error| parse_err(e.to_string())),
    }
}

/// Run `kubegate cluster`; returns the exit code.
pub fn run(args: ClusterArgs) -> i32 {
    let (common, action) = match &args.action {
        ClusterAction::Up(c) => (c, "up"),
        ClusterAction::Down(c) => (c, "down"),
        ClusterAction::Status(c) => (c, "status"),
    };
    let config_path = common.config.clone().or_else(|| {
        let default = PathBuf::from("kubegate.toml");
        default.is_file().then_some(default)
    });
    let cfg = match config_path.as_deref().map(load_cluster_config).transpose() {
        Ok(cfg) => cfg.unwrap_or_default(),
        Err(e) => return fail(&e, e.exit_code()),
    };
    let kind = common.provider.unwrap_or(cfg.provider);
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

    #[test]
    fn provider_names_parse_and_unknown_ones_are_named() {
        assert_eq!(parse_provider_kind("local"), Ok(ProviderKind::Local));
        assert_eq!(parse_provider_kind("minikube"), Ok(ProviderKind::Minikube));
        assert_eq!(parse_provider_kind("kind"), Ok(ProviderKind::Kind));
        assert_eq!(parse_provider_kind("existing"), Ok(ProviderKind::Existing));
        let err = parse_provider_kind("k3d").expect_err("not a provider");
        assert!(err.contains("k3d") && err.contains("local, minikube, kind, existing"), "{err}");
    }

    #[test]
    fn cluster_section_is_read_and_absent_section_means_defaults() {
        let path = Path::new("kubegate.toml");
        let cfg = parse_cluster_config("[cluster]\nprovider = \"kind\"\nname = \"ci\"\n", path).expect("valid");
        assert_eq!(cfg.provider, ProviderKind::Kind);
        assert_eq!(cfg.name, "ci");
        let cfg = parse_cluster_config("[other]\nx = 1\n", path).expect("valid");
        assert_eq!(cfg, ProviderConfig::default());
    }

    #[test]
    fn a_bad_cluster_field_is_bad_input_naming_the_file() {
        let err = parse_cluster_config("[cluster]\nprovider = \"k3d\"\n", Path::new("conf/kubegate.toml"))
            .expect_err("unknown provider");
        assert!(err.to_string().contains("conf/kubegate.toml"), "{err}");
        assert_eq!(err.exit_code(), ExitCode::BadInput);
    }

    #[test]
    fn cli_parses_up_down_status_with_provider() {
        use clap::Parser;
        #[derive(Debug, clap::Parser)]
        struct T {
            #[command(flatten)]
            args: ClusterArgs,
        }
        let t = T::try_parse_from(["t", "up", "--provider", "kind"]).expect("parses");
        assert!(matches!(t.args.action, ClusterAction::Up(CommonArgs { provider: Some(ProviderKind::Kind), .. })));
        let t = T::try_parse_from(["t", "status", "--json"]).expect("parses");
        assert!(matches!(t.args.action, ClusterAction::Status(CommonArgs { provider: None, json: true, .. })));
        assert!(T::try_parse_from(["t", "down", "--provider", "k3d"]).is_err());
    }
}
