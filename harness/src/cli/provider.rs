//! Which cluster provider, decided in one place for every subcommand and the
//! test suites: `--provider`, else `$KUBEGATE_PROVIDER`, else `provider` in
//! the `[cluster]` section of kubegate.toml, else `local`; the minikube
//! profile / kind cluster name likewise from `--name`, `$KUBEGATE_CLUSTER_NAME`
//! or `[cluster] name`. clap reads the flags and the environment.

use crate::provider::{ProviderConfig, ProviderKind};

/// Environment variable that picks the provider when `--provider` is absent.
pub const PROVIDER_ENV: &str = "KUBEGATE_PROVIDER";
/// Environment variable that names the cluster when `--name` is absent.
pub const CLUSTER_NAME_ENV: &str = "KUBEGATE_CLUSTER_NAME";

/// `--provider` and `--name`, shared by the subcommands that use a cluster.
#[derive(Debug, Clone, Default, PartialEq, Eq, clap::Args)]
pub struct ProviderArgs {
    /// Cluster provider (default: `[cluster] provider` of kubegate.toml, else local).
    #[arg(long, value_enum, env = PROVIDER_ENV)]
    pub provider: Option<ProviderKind>,
    /// minikube profile / kind cluster name (default: `[cluster] name` of kubegate.toml, else kubegate).
    #[arg(long, env = CLUSTER_NAME_ENV)]
    pub name: Option<String>,
}

impl ProviderArgs {
    /// The choice made by the environment alone (the test suites have no
    /// command line); an unknown provider is an error naming the choices.
    pub fn from_env() -> Result<Self, clap::Error> {
        use clap::Parser;
        #[derive(clap::Parser)]
        struct EnvOnly {
            #[command(flatten)]
            provider: ProviderArgs,
        }
        EnvOnly::try_parse_from(["kubegate"]).map(|e| e.provider)
    }

    /// The provider and its settings: this choice over `cluster` (the
    /// `[cluster]` section of kubegate.toml).
    pub fn resolve(&self, cluster: &ProviderConfig) -> (ProviderKind, ProviderConfig) {
        let mut cfg = cluster.clone();
        cfg.provider = self.provider.unwrap_or(cluster.provider);
        if let Some(name) = self.name.as_ref().filter(|n| !n.trim().is_empty()) {
            cfg.name = name.clone();
        }
        (cfg.provider, cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Debug, clap::Parser)]
    struct T {
        #[command(flatten)]
        provider: ProviderArgs,
    }

    #[test]
    fn provider_and_name_come_from_the_command_line_over_the_file() {
        let base = ProviderConfig { provider: ProviderKind::Minikube, ..Default::default() };
        let (kind, cfg) = ProviderArgs::default().resolve(&base);
        assert_eq!((kind, cfg.name.as_str()), (ProviderKind::Minikube, "kubegate"));
        let args = ProviderArgs { provider: Some(ProviderKind::Kind), name: Some("ci".into()) };
        let (kind, cfg) = args.resolve(&base);
        assert_eq!((kind, cfg.provider, cfg.name.as_str()), (ProviderKind::Kind, ProviderKind::Kind, "ci"));
    }

    #[test]
    fn provider_names_parse_and_unknown_ones_are_named() {
        for (name, kind) in [
            ("local", ProviderKind::Local),
            ("minikube", ProviderKind::Minikube),
            ("kind", ProviderKind::Kind),
            ("existing", ProviderKind::Existing),
        ] {
            let t = T::try_parse_from(["t", "--provider", name]).expect("a provider");
            assert_eq!(t.provider.provider, Some(kind));
        }
        let err = T::try_parse_from(["t", "--provider", "k3d"]).expect_err("not a provider").to_string();
        assert!(err.contains("k3d") && err.contains("local, minikube, kind, existing"), "{err}");
    }
}
