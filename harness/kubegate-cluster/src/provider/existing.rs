//! The `existing` provider: whatever the kubeconfig context points at.
//!
//! It never creates or deletes a cluster. It refuses a context that looks
//! like production (a name or server with a `prod`/`production`/`live` word,
//! or an API server that is not on this machine or a private network) unless
//! `allow_production = true` (`--i-know-this-is-production`). Images can only
//! be loaded when kind or minikube is detected underneath; otherwise it says
//! how to make them available.

use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Arc;

use kube::config::Kubeconfig;

use super::detect::{ClusterFacts, Detection};
use super::{ClusterInfo, LoadBalancerSupport, Provider, ProviderConfig, ProviderError, ProviderKind};
use crate::process::CommandRunner;
use kubegate_core::progress::Step;

/// Words that mark a context, cluster or server name as production.
const PRODUCTION_WORDS: &[&str] = &["prod", "production", "prd", "live"];

/// The context `existing` would use, resolved from the kubeconfig.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedContext {
    /// The file that defines the context.
    pub kubeconfig: PathBuf,
    /// Context name.
    pub context: String,
    /// Cluster name the context refers to.
    pub cluster: String,
    /// The cluster's API server URL.
    pub server: Option<String>,
}

/// Why a context looks like production, if it does.
pub fn production_reason(context: &str, cluster: &str, server: Option<&str>) -> Option<String> {
    let has_word = |text: &str| {
        text.split(|c: char| !c.is_ascii_alphabetic())
            .map(|w| w.to_ascii_lowercase())
            .find(|w| PRODUCTION_WORDS.contains(&w.as_str()))
    };
    for (what, text) in [("context", context), ("cluster", cluster), ("server", server.unwrap_or(""))] {
        if let Some(word) = has_word(text) {
            return Some(format!("{what} `{text}` contains the word `{word}`"));
        }
    }
    match server {
        None => Some(format!("context `{context}` has no server address")),
        Some(url) => match server_host(url) {
            Some(host) if is_local_host(&host) => None,
            Some(host) => Some(format!("server `{url}` is not on this machine or a private network (host `{host}`)")),
            None => Some(format!("server `{url}` has no readable host")),
        },
    }
}

/// The host part of an API server URL (`https://[::1]:6443/x` -> `::1`).
fn server_host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host =
        if let Some(v6) = authority.strip_prefix('[') { v6.split(']').next()? } else { authority.split(':').next()? };
    (!host.is_empty()).then(|| host.to_ascii_lowercase())
}

/// Loopback, private (RFC 1918 / unique-local), link-local, or a name that
/// only resolves locally (localhost, Docker Desktop's names, `.local`).
fn is_local_host(host: &str) -> bool {
    if let Ok(ip) = host.parse::<IpAddr>() {
        return match ip {
            IpAddr::V4(v4) => v4.is_loopback() || v4.is_private() || v4.is_link_local(),
            IpAddr::V6(v6) => {
                v6.is_loopback() || (v6.segments()[0] & 0xfe00) == 0xfc00 || (v6.segments()[0] & 0xffc0) == 0xfe80
            }
        };
    }
    host == "localhost"
        || host.ends_with(".localhost")
        || host.ends_with(".local")
        || host == "host.docker.internal"
        || host == "kubernetes.docker.internal"
}

/// Files kubectl would read: `$KUBECONFIG` entries, else `~/.kube/config`.
fn kubeconfig_files(explicit: Option<&PathBuf>) -> Vec<PathBuf> {
    if let Some(path) = explicit {
        return vec![path.clone()];
    }
    if let Some(value) = std::env::var_os("KUBECONFIG") {
        let paths: Vec<PathBuf> = std::env::split_paths(&value).filter(|p| !p.as_os_str().is_empty()).collect();
        if !paths.is_empty() {
            return paths;
        }
    }
    vec![super::minikube::default_kubeconfig()]
}

/// Find the context (named, or the current one) across kubeconfig files,
/// with kubectl's precedence: the first file that sets it wins.
pub fn resolve_context(files: &[PathBuf], wanted: Option<&str>) -> Result<ResolvedContext, ProviderError> {
    let mut configs = Vec::new();
    for file in files {
        if !file.exists() {
            continue;
        }
        let kc = Kubeconfig::read_from(file).map_err(|e| ProviderError::Other {
            context: format!("reading kubeconfig {}", file.display()),
            source: Box::new(e),
        })?;
        configs.push((file.clone(), kc));
    }
    let listed = files.iter().map(|f| f.display().to_string()).collect::<Vec<_>>().join(", ");
    let name = match wanted {
        Some(n) => n.to_string(),
        None => configs.iter().find_map(|(_, kc)| kc.current_context.clone()).ok_or_else(|| {
            ProviderError::Refused(format!(
                "no current context in {listed}; set `context` in [cluster] or run `kubectl config use-context NAME`"
            ))
        })?,
    };
    let (file, ctx) = configs
        .iter()
        .find_map(|(f, kc)| kc.contexts.iter().find(|c| c.name == name).and_then(|c| c.context.clone()).map(|c| (f, c)))
        .ok_or_else(|| ProviderError::Refused(format!("context `{name}` is not defined in {listed}")))?;
    let server = configs.iter().find_map(|(_, kc)| {
        kc.clusters.iter().find(|c| c.name == ctx.cluster).and_then(|c| c.cluster.as_ref()?.server.clone())
    });
    Ok(ResolvedContext { kubeconfig: file.clone(), context: name, cluster: ctx.cluster, server })
}

/// The existing-cluster provider.
pub struct Existing {
    cfg: ProviderConfig,
    runner: Arc<dyn CommandRunner>,
    gather: super::detect::FactsSource,
    ready: super::detect::ReadyCheck,
}

impl Existing {
    /// A provider for `cfg.context` (or the current context) of
    /// `cfg.kubeconfig` (or `$KUBECONFIG` / `~/.kube/config`).
    pub fn new(cfg: ProviderConfig, runner: Arc<dyn CommandRunner>) -> Self {
        Self { cfg, runner, gather: Box::new(super::detect::gather), ready: Box::new(super::detect::check_ready) }
    }

    /// Use these instead of asking the cluster (tests).
    pub fn with_cluster_checks(
        mut self,
        gather: impl Fn(&ClusterInfo) -> Result<ClusterFacts, ProviderError> + Send + Sync + 'static,
        ready: impl Fn(&ClusterInfo) -> Result<(), String> + Send + Sync + 'static,
    ) -> Self {
        self.gather = Box::new(gather);
        self.ready = Box::new(ready);
        self
    }

    /// The context this provider uses.
    pub fn resolve(&self) -> Result<ResolvedContext, ProviderError> {
        resolve_context(&kubeconfig_files(self.cfg.kubeconfig.as_ref()), self.cfg.context.as_deref())
    }

    /// The context, unless it looks like production and that is not allowed.
    fn guarded(&self) -> Result<ResolvedContext, ProviderError> {
        let ctx = self.resolve()?;
        if let Some(reason) = production_reason(&ctx.context, &ctx.cluster, ctx.server.as_deref()) {
            if !self.cfg.allow_production {
                return Err(ProviderError::Refused(format!(
                    "context `{}` ({}) looks like production: {reason}. kubegate creates and deletes namespaces \
                     and releases there. Switch context, or pass --i-know-this-is-production \
                     (allow_production = true in [cluster]) if this really is a cluster for tests.",
                    ctx.context,
                    ctx.kubeconfig.display()
                )));
            }
            eprintln!("    warning: using production-looking context `{}` as allowed: {reason}", ctx.context);
        }
        Ok(ctx)
    }

    fn info(ctx: &ResolvedContext) -> ClusterInfo {
        ClusterInfo {
            provider: ProviderKind::Existing,
            kubeconfig: ctx.kubeconfig.clone(),
            context: Some(ctx.context.clone()),
            load_balancer: LoadBalancerSupport::None,
            node_ip: None,
        }
    }

    fn detection(&self, info: &ClusterInfo) -> Result<Detection, ProviderError> {
        (self.gather)(info).map(|f| super::detect::classify(&f))
    }
}

impl Provider for Existing {
    fn kind(&self) -> ProviderKind {
        ProviderKind::Existing
    }

    fn up(&self) -> Result<ClusterInfo, ProviderError> {
        let ctx = self.guarded()?;
        let step = Step::start(format!("existing cluster: context {} ({})", ctx.context, ctx.kubeconfig.display()));
        let mut info = Self::info(&ctx);
        if let Err(blocker) = (self.ready)(&info) {
            step.failed();
            return Err(ProviderError::NotReady { waited_secs: 0, blocker });
        }
        let detection = self.detection(&info);
        if let Ok(d) = &detection {
            step.note(d.to_string());
        }
        info.load_balancer = step.finish(detection)?.load_balancer;
        Ok(info)
    }

    fn down(&self) -> Result<(), ProviderError> {
        eprintln!("    existing provider: nothing to stop (kubegate never creates or deletes this cluster)");
        Ok(())
    }

    fn status(&self) -> Result<Option<ClusterInfo>, ProviderError> {
        let ctx = self.resolve()?;
        let mut info = Self::info(&ctx);
        if (self.ready)(&info).is_err() {
            return Ok(None);
        }
        info.load_balancer = self.detection(&info).map(|d| d.load_balancer).unwrap_or(LoadBalancerSupport::None);
        Ok(Some(info))
    }

    fn load_images(&self, images: &[String]) -> Result<(), ProviderError> {
        let ctx = self.guarded()?;
        let info = Self::info(&ctx);
        let detection = self.detection(&info)?;
        let mut cfg = self.cfg.clone();
        match (detection.provider, detection.cluster_name) {
            (Some(ProviderKind::Kind), Some(name)) => {
                cfg.name = name;
                super::kind::Kind::new(cfg, self.runner.clone()).load_images(images)
            }
            (Some(ProviderKind::Minikube), Some(profile)) => {
                cfg.name = profile;
                super::minikube::Minikube::new(cfg, self.runner.clone()).load_images(images)
            }
            _ => Err(ProviderError::Refused(format!(
                "cannot load images into context `{}`: it is not a kind or minikube cluster ({}). Push {} to a \
                 registry the cluster can pull from and set the image names in your values/manifests, or run \
                 with --provider kind, minikube or local.",
                ctx.context,
                detection.evidence.join("; "),
                images.join(", ")
            ))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::{FakeRunner, Output};
    use crate::provider::detect::NodeFacts;

    fn kubeconfig(current: &str, contexts: &[(&str, &str)]) -> String {
        let mut s = format!("apiVersion: v1\nkind: Config\ncurrent-context: {current}\nclusters:\n");
        for (name, server) in contexts {
            s += &format!("- name: {name}\n  cluster:\n    server: {server}\n");
        }
        s += "contexts:\n";
        for (name, _) in contexts {
            s += &format!("- name: {name}\n  context:\n    cluster: {name}\n    user: u\n");
        }
        s + "users:\n- name: u\n  user:\n    token: not-a-real-token\n"
    }

    fn write(dir: &std::path::Path, name: &str, text: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, text).expect("write kubeconfig");
        p
    }

    fn existing(cfg: ProviderConfig, fake: &Arc<FakeRunner>, facts: ClusterFacts) -> Existing {
        Existing::new(cfg, fake.clone()).with_cluster_checks(move |_| Ok(facts.clone()), |_| Ok(()))
    }

    #[test]
    fn production_looking_contexts() {
        assert_eq!(production_reason("kind-kubegate", "kind-kubegate", Some("https://127.0.0.1:40123")), None);
        assert_eq!(production_reason("minikube", "minikube", Some("https://192.168.49.2:8443")), None);
        assert_eq!(production_reason("docker-desktop", "d", Some("https://kubernetes.docker.internal:6443")), None);
        assert_eq!(production_reason("local", "local", Some("https://[::1]:6443")), None);
        assert!(production_reason("prod-eu", "c", Some("https://127.0.0.1")).expect("prod").contains("`prod`"));
        assert!(production_reason("x", "live_cluster", Some("https://10.0.0.1")).expect("live").contains("cluster"));
        assert!(production_reason("x", "y", Some("https://api.production.example.com")).is_some());
        let eks = production_reason(
            "arn:aws:eks:eu-west-1:1:cluster/test",
            "t",
            Some("https://ABC.gr7.eu-west-1.eks.amazonaws.com"),
        )
        .expect("remote server");
        assert!(eks.contains("not on this machine"), "{eks}");
        assert!(production_reason("x", "y", Some("https://8.8.8.8:443")).is_some());
        assert_eq!(production_reason("product-demo", "c", Some("https://127.0.0.1")), None, "`product` is not `prod`");
        assert!(production_reason("x", "y", None).is_some());
    }

    #[test]
    fn refuses_production_unless_allowed() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(
            dir.path(),
            "config",
            &kubeconfig(
                "gke_acme_prod",
                &[("gke_acme_prod", "https://34.1.2.3"), ("kind-dev", "https://127.0.0.1:4000")],
            ),
        );
        let fake = FakeRunner::new();
        let cfg = ProviderConfig { kubeconfig: Some(file.clone()), ..Default::default() };
        let err = existing(cfg.clone(), &fake, ClusterFacts::default()).up().expect_err("refused");
        let text = err.to_string();
        assert!(matches!(err, ProviderError::Refused(_)));
        assert!(text.contains("gke_acme_prod") && text.contains("--i-know-this-is-production"), "{text}");
        assert!(!text.contains("not-a-real-token"), "no credentials in messages");

        let allowed = ProviderConfig { allow_production: true, ..cfg.clone() };
        let info = existing(allowed, &fake, ClusterFacts::default()).up().expect("allowed");
        assert_eq!(info.context.as_deref(), Some("gke_acme_prod"));

        let other = ProviderConfig { context: Some("kind-dev".into()), ..cfg };
        let facts = ClusterFacts {
            context: Some("kind-dev".into()),
            nodes: vec![NodeFacts { name: "dev-control-plane".into(), ..Default::default() }],
            metallb_namespace: true,
            ..Default::default()
        };
        let info = existing(other, &fake, facts).up().expect("local context");
        assert_eq!((info.kubeconfig, info.load_balancer), (file, LoadBalancerSupport::Metallb));
        assert!(fake.calls().is_empty(), "existing runs no commands to come up");
    }

    #[test]
    fn picks_the_first_file_that_defines_the_context() {
        let dir = tempfile::tempdir().expect("tempdir");
        let a = write(dir.path(), "a", &kubeconfig("kind-a", &[("kind-a", "https://127.0.0.1:1")]));
        let b = write(dir.path(), "b", &kubeconfig("kind-b", &[("kind-b", "https://127.0.0.1:2")]));
        let missing = dir.path().join("missing");
        let r = resolve_context(&[missing.clone(), a.clone(), b.clone()], None).expect("current context");
        assert_eq!((r.context.as_str(), &r.kubeconfig), ("kind-a", &a));
        let r = resolve_context(&[a, b.clone()], Some("kind-b")).expect("named");
        assert_eq!((r.kubeconfig, r.server.as_deref()), (b, Some("https://127.0.0.1:2")));
        let err = resolve_context(&[missing], Some("nope")).expect_err("undefined");
        assert!(err.to_string().contains("context `nope` is not defined"), "{err}");
    }

    #[test]
    fn load_images_uses_kind_underneath_or_explains() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(dir.path(), "config", &kubeconfig("kind-dev", &[("kind-dev", "https://127.0.0.1:4000")]));
        let cfg = ProviderConfig { kubeconfig: Some(file), ..Default::default() };
        let fake = FakeRunner::new();
        fake.reply(&["kind", "load"], [Output::ok("")]);
        let kind_facts = ClusterFacts {
            context: Some("kind-dev".into()),
            nodes: vec![NodeFacts {
                name: "dev-control-plane".into(),
                provider_id: Some("kind://docker/dev/dev-control-plane".into()),
                ..Default::default()
            }],
            ..Default::default()
        };
        existing(cfg.clone(), &fake, kind_facts).load_images(&["app:1".into()]).expect("kind underneath");
        assert_eq!(fake.calls(), vec![vec!["kind", "load", "docker-image", "--name", "dev", "app:1"]]);

        let err = existing(cfg, &fake, ClusterFacts::default()).load_images(&["app:1".into()]).expect_err("unknown");
        assert!(err.to_string().contains("cannot load images") && err.to_string().contains("registry"), "{err}");
        assert_eq!(fake.calls().len(), 1, "nothing run for an unknown cluster");
    }

    #[test]
    fn down_never_deletes() {
        let fake = FakeRunner::new();
        existing(ProviderConfig::default(), &fake, ClusterFacts::default()).down().expect("no-op");
        assert!(fake.calls().is_empty());
    }
}
