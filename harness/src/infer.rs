//! The deployment under test that a [`Discovery`] implies, as a [`Config`]: what `kubegate check` uses when no
//! `kubegate.toml` is given or found, and what `kubegate init` writes (with comments). One place decides which
//! chart, manifests, Secrets and components a repository nobody configured is checked with.

use std::collections::BTreeSet;
use std::path::PathBuf;

use crate::config::{ChartConfig, Component, Config, PolicyConfig, SecretConfig};
use crate::discover::{ChartFound, ComponentFound, Discovery, KeyedObject, ProbeFound};

/// The Config `d` implies. Paths are relative to `d.root`, which becomes the base directory. Policy and cluster
/// are the plan's defaults but for [`PolicyConfig::require_hpa`] (see [`inferred_policy`]); the OpenAPI contract
/// discovery found, when kubegate can read it (without one the contract rules say they were not run).
pub fn config(d: &Discovery) -> Config {
    let chart = chart(d);
    Config {
        policy: inferred_policy(),
        namespace: d.namespace.value.clone(),
        release: chart.map(|c| c.release.value.clone()).unwrap_or_else(|| d.namespace.value.clone()),
        manifests: d.manifests.first().map(|m| PathBuf::from(&m.path)).unwrap_or_default(),
        chart: ChartConfig { path: chart.map(|c| PathBuf::from(&c.path)).unwrap_or_default(), values: Vec::new() },
        contract: contract(d).map(PathBuf::from),
        secrets: cli_secrets(d)
            .map(|s| SecretConfig { name: s.name.clone(), keys: all_keys(s), ..SecretConfig::default() })
            .collect(),
        components: components(d).map(component).collect(),
        base_dir: d.root.clone(),
        ..Config::absent()
    }
}

/// The plan's policy, except that not every component needs its own HPA: a team autoscales the components it
/// chooses, and the HPAs it has are still checked (their target exists, their bounds are usable).
pub fn inferred_policy() -> PolicyConfig {
    PolicyConfig { require_hpa: false, ..PolicyConfig::default() }
}

/// The contract the deployment is checked against: the one discovery found, when it is readable.
pub fn contract(d: &Discovery) -> Option<&str> {
    d.contract.as_ref().filter(|c| c.unreadable.is_none()).map(|c| c.path.as_str())
}

/// The chart the deployment is installed from: the first that renders, else the first found.
pub fn chart(d: &Discovery) -> Option<&ChartFound> {
    d.charts.iter().find(|c| c.objects.is_some()).or(d.charts.first())
}

/// The Secrets the plan creates from the command line (AD-5): those the README creates, and those the pods read
/// that the tree does not define.
pub fn cli_secrets(d: &Discovery) -> impl Iterator<Item = &KeyedObject> {
    d.secrets.iter().filter(|s| !s.readme_keys.is_empty() || s.defined_in.is_empty())
}

/// Keys the pods read and keys the README creates, sorted.
pub fn all_keys(s: &KeyedObject) -> Vec<String> {
    s.keys.iter().chain(&s.readme_keys).cloned().collect::<BTreeSet<_>>().into_iter().collect()
}

/// The components of one source: the chart's (what gets installed) when it renders, else the first manifest
/// directory's. Deployments only: `[[component]]` describes Deployments.
pub fn components(d: &Discovery) -> impl Iterator<Item = &ComponentFound> {
    let source = chart(d)
        .filter(|c| c.objects.is_some())
        .map(|c| c.path.clone())
        .or_else(|| d.manifests.first().map(|m| m.path.clone()));
    d.components.iter().filter(move |c| Some(&c.source) == source.as_ref() && c.workload.starts_with("Deployment/"))
}

/// Frontends are exposed with a LoadBalancer (AD-3); everything else stays inside the cluster.
pub fn planned_service_type(c: &ComponentFound) -> &'static str {
    let frontend = ["front", "web", "ui"].iter().any(|w| c.name.contains(w) || c.container.contains(w));
    if frontend { "LoadBalancer" } else { "ClusterIP" }
}

/// The probe path of an HTTP probe; empty for none or another kind.
pub fn probe_path(p: &Option<ProbeFound>) -> String {
    match p {
        Some(ProbeFound::Http { path, .. }) => path.clone(),
        _ => String::new(),
    }
}

fn component(c: &ComponentFound) -> Component {
    let deployment = c.workload.split_once('/').map(|(_, n)| n).unwrap_or(&c.workload);
    let port = c.ports.first();
    Component {
        name: c.name.clone(),
        deployment: deployment.to_string(),
        service: c.service.as_ref().map(|s| s.name.clone()).unwrap_or_default(),
        container: c.container.clone(),
        image: c.image.clone(),
        port: port.and_then(|p| i32::try_from(p.number).ok()).unwrap_or(0),
        port_name: port.and_then(|p| p.name.clone()).unwrap_or_default(),
        service_port: c.service.as_ref().and_then(|s| i32::try_from(s.port).ok()).unwrap_or(0),
        service_type: planned_service_type(c).to_string(),
        liveness_path: probe_path(&c.liveness),
        readiness_path: probe_path(&c.readiness),
        contract_service: None,
        secret_keys: c.secret_keys.iter().cloned().collect(),
        config_keys: c.config_keys.iter().cloned().collect(),
        image_size_mb: 0,
        ingress_from: None,
        // Which Dockerfile builds the image is not inferred yet: `init` leaves `build` out (the team builds it).
        build: None,
    }
}
