//! The Phase IV repositories of `fixtures/repos/`: discovery (`kubegate::discover`) finds in each what its
//! `expect.toml` says (charts, manifest directories, namespace, components, Secrets and ConfigMaps with their keys,
//! or the template and line of a chart that does not render), and every finding it names is a known rule.
//! The findings themselves are asserted once `kubegate check` runs with no config (issue 9).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use kubegate::discover::{Discovery, Origin, Problem, discover};
use serde::Deserialize;

use crate::support::{repo, require_helm};

/// One test per repository, so a report names the one that broke.
macro_rules! repos {
    ($($test:ident => $dir:literal,)*) => {
        $(
            #[test]
            fn $test() {
                assert_discovers($dir);
            }
        )*

        /// Every directory under fixtures/repos has its test above.
        #[test]
        fn every_repo_has_a_test() {
            let listed: Vec<&str> = vec![$($dir),*];
            let mut found: Vec<String> = std::fs::read_dir(repos_dir())
                .expect("fixtures/repos")
                .filter_map(|e| e.ok())
                .filter(|e| e.path().is_dir())
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect();
            found.sort();
            assert_eq!(found, listed, "add the new repository to the repos! list in static/repos.rs");
            assert!(found.len() >= 5, "the issue asks for at least five repositories, found {}", found.len());
        }
    };
}

repos! {
    chart_and_raw => "chart-and-raw",
    chart_broken => "chart-broken",
    chart_only => "chart-only",
    chart_rbac_crd => "chart-rbac-crd",
    raw_only => "raw-only",
    values_secrets => "values-secrets",
}

fn repos_dir() -> PathBuf {
    repo().join("fixtures").join("repos")
}

/// A repository's `expect.toml` (format: fixtures/repos/README.md).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Expect {
    #[allow(dead_code)]
    shape: String,
    #[allow(dead_code)]
    about: String,
    namespace: String,
    #[serde(default)]
    chart: Vec<ChartExpect>,
    #[serde(default)]
    manifests: Vec<ManifestsExpect>,
    #[serde(default)]
    component: Vec<ComponentExpect>,
    #[serde(default)]
    secret: Vec<KeyedExpect>,
    #[serde(default)]
    configmap: Vec<KeyedExpect>,
    #[serde(default)]
    must: Vec<FindingExpect>,
    #[serde(default)]
    must_not: Vec<FindingExpect>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ChartExpect {
    path: String,
    name: String,
    release: String,
    release_from: String,
    objects: Option<usize>,
    error_file: Option<String>,
    error_line: Option<u32>,
    #[serde(default)]
    values_files: Vec<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestsExpect {
    path: String,
    objects: usize,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct ComponentExpect {
    name: String,
    source: String,
    workload: String,
    container: String,
    image: String,
    ports: Vec<i64>,
    port_names: Vec<String>,
    service: Option<String>,
    service_type: Option<String>,
    service_port: Option<i64>,
    liveness: Option<String>,
    readiness: Option<String>,
}

#[derive(Debug, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
struct KeyedExpect {
    name: String,
    keys: BTreeSet<String>,
    all_keys: bool,
    defined_in: BTreeSet<String>,
    #[serde(default)]
    readme_keys: BTreeSet<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FindingExpect {
    rule: String,
    object: Option<String>,
    #[allow(dead_code)]
    why: String,
}

/// Rules issue 9 adds, named in expect.toml until they have ids (fixtures/repos/README.md).
const NEW_RULES: &[&str] = &["new:secret-clash", "new:service-url", "new:cluster-ip", "new:probe-route"];

fn origin(o: Origin) -> String {
    match o {
        Origin::Readme => "readme",
        Origin::Chart => "chart",
        Origin::Manifests => "manifests",
        Origin::Default => "default",
    }
    .into()
}

/// What discovery found, in expect.toml's terms.
fn observed(d: &Discovery) -> (Vec<ChartExpect>, Vec<ManifestsExpect>, Vec<ComponentExpect>) {
    let charts = d
        .charts
        .iter()
        .map(|c| {
            let at = d.problems.iter().find_map(|p| match p {
                Problem::ChartDoesNotRender { chart, at, .. } if *chart == c.path => at.clone(),
                _ => None,
            });
            ChartExpect {
                path: c.path.clone(),
                name: c.name.clone(),
                release: c.release.value.clone(),
                release_from: origin(c.release.from),
                objects: c.objects,
                error_file: at.as_ref().map(|(f, _)| f.clone()),
                error_line: at.map(|(_, l)| l),
                values_files: c.values_files.clone(),
            }
        })
        .collect();
    let manifests = d.manifests.iter().map(|m| ManifestsExpect { path: m.path.clone(), objects: m.objects }).collect();
    let components = d
        .components
        .iter()
        .map(|c| ComponentExpect {
            name: c.name.clone(),
            source: c.source.clone(),
            workload: c.workload.clone(),
            container: c.container.clone(),
            image: c.image.clone(),
            ports: c.ports.iter().map(|p| p.number).collect(),
            port_names: c.ports.iter().filter_map(|p| p.name.clone()).collect(),
            service: c.service.as_ref().map(|s| s.name.clone()),
            service_type: c.service.as_ref().map(|s| s.service_type.clone()),
            service_port: c.service.as_ref().map(|s| s.port),
            liveness: c.liveness.as_ref().map(ToString::to_string),
            readiness: c.readiness.as_ref().map(ToString::to_string),
        })
        .collect();
    (charts, manifests, components)
}

fn keyed(list: &[kubegate::discover::KeyedObject]) -> Vec<KeyedExpect> {
    list.iter()
        .map(|o| KeyedExpect {
            name: o.name.clone(),
            keys: o.keys.clone(),
            all_keys: o.all_keys,
            defined_in: o.defined_in.clone(),
            readme_keys: o.readme_keys.clone(),
        })
        .collect()
}

fn sorted<T, K: Ord>(mut v: Vec<T>, key: impl Fn(&T) -> K) -> Vec<T> {
    v.sort_by_key(|t| key(t));
    v
}

fn assert_discovers(name: &str) {
    require_helm();
    let dir = repos_dir().join(name);
    let expect_path = dir.join("expect.toml");
    let text = std::fs::read_to_string(&expect_path).unwrap_or_else(|e| panic!("{}: {e}", expect_path.display()));
    let expect: Expect = toml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", expect_path.display()));

    let started = Instant::now();
    let d = discover(&dir).unwrap_or_else(|e| panic!("discover {}: {e}", dir.display()));
    eprintln!("discovery of {name} took {} ms:\n{d}", started.elapsed().as_millis());
    let explain = || format!("repository {name}, discovery:\n{d}");

    let (charts, manifests, components) = observed(&d);
    assert_eq!(d.namespace.value, expect.namespace, "namespace\n{}", explain());
    assert_eq!(charts, expect.chart, "charts\n{}", explain());
    assert_eq!(manifests, expect.manifests, "manifest directories\n{}", explain());
    let by_source_name = |c: &ComponentExpect| (c.source.clone(), c.name.clone());
    assert_eq!(
        sorted(components, by_source_name),
        sorted(expect.component, by_source_name),
        "components\n{}",
        explain()
    );
    let by_name = |k: &KeyedExpect| k.name.clone();
    assert_eq!(sorted(keyed(&d.secrets), by_name), sorted(expect.secret, by_name), "secrets\n{}", explain());
    assert_eq!(sorted(keyed(&d.config_maps), by_name), sorted(expect.configmap, by_name), "config maps\n{}", explain());

    // Only a chart that does not render is a problem, and it carries helm's message.
    let renders = expect.chart.iter().all(|c| c.error_file.is_none());
    assert_eq!(d.problems.is_empty(), renders, "problems: {:?}\n{}", d.problems, explain());
    for p in &d.problems {
        let message = p.to_string();
        assert!(message.contains("nil pointer"), "helm's own message is kept: {message}");
    }

    for f in expect.must.iter().chain(&expect.must_not) {
        let known = f.rule.parse::<kubegate::rule_id::RuleId>().is_ok() || NEW_RULES.contains(&f.rule.as_str());
        assert!(
            known,
            "{}: rule {} is neither a kubegate rule nor one of {NEW_RULES:?}",
            expect_path.display(),
            f.rule
        );
        if let Some(object) = &f.object {
            assert!(object.split_once('/').is_some_and(|(k, n)| !k.is_empty() && !n.is_empty()), "object {object}");
        }
    }
    assert_no_secret_value_printed(&dir, &d);
}

/// The summary names Secrets and keys, never a value: none of the README's `--from-literal` values nor the
/// fixtures' committed base64 data appears in it.
fn assert_no_secret_value_printed(dir: &Path, d: &Discovery) {
    let summary = d.to_string();
    for value in ["Sup3rS3cret", "sk-test-not-a-real-key", "cG9zdGdyZXM=", "openssl rand"] {
        assert!(!summary.contains(value), "{}: the summary shows a secret value:\n{summary}", dir.display());
    }
}
