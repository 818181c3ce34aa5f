//! The Phase IV repositories of `fixtures/repos/`: discovery (`kubegate::discover`) finds in each what its
//! `expect.toml` says (charts, manifest directories, namespace, components, Secrets and ConfigMaps with their keys,
//! or the template and line of a chart that does not render); `kubegate check` with no config there exits 0 or 1
//! (2 only for the chart that does not render, naming helm's template and line) and reports every `must` and none
//! of the `must_not` findings; `kubegate init` writes a config that `kubegate check --config` runs as it is.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Instant;

use kubegate::discover::{Discovery, Origin, Problem, discover};
use serde::Deserialize;

use crate::support::{json, kubegate, repo, require_helm, unwaived};

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
        assert!(
            f.rule.parse::<kubegate::rule_id::RuleId>().is_ok(),
            "{}: rule {} is not a kubegate rule",
            expect_path.display(),
            f.rule
        );
        if let Some(object) = &f.object {
            assert!(object.split_once('/').is_some_and(|(k, n)| !k.is_empty() && !n.is_empty()), "object {object}");
        }
    }
    assert_no_secret_value_printed(&dir, &d);
    assert_check_and_init(name, &dir, &expect.chart, &expect.must, &expect.must_not);
}

/// `kubegate check` with no config in the repository: exit 0 or 1 (2 with helm's template and line for a chart
/// that does not render), every `must` reported, no `must_not`; then `init` and `check --config` on its output.
fn assert_check_and_init(
    name: &str,
    dir: &Path,
    charts: &[ChartExpect],
    must: &[FindingExpect],
    must_not: &[FindingExpect],
) {
    let broken = charts.iter().find(|c| c.error_file.is_some());
    let started = Instant::now();
    let run = kubegate(dir).args(["check", "--format", "json"]).assert();
    let elapsed = started.elapsed();
    let output = run.get_output();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    let code = output.status.code();
    if let Some(chart) = broken {
        assert_eq!(code, Some(2), "{name}: a chart that does not render is bad input\n{stderr}");
        let file = chart.error_file.as_deref().unwrap_or_default();
        let line = chart.error_line.unwrap_or_default();
        assert!(stderr.contains(&format!("{file}:{line}")), "{name}: helm's {file}:{line} is named\n{stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        let init = kubegate(dir).args(["init", "--output", "/dev/null", "--force"]).assert().code(2);
        let init_err = String::from_utf8_lossy(&init.get_output().stderr).into_owned();
        assert!(init_err.contains(file), "init names the template: {init_err}");
        return;
    }
    assert!(matches!(code, Some(0 | 1)), "{name}: kubegate check exits 0 or 1, got {code:?}\n{stderr}");
    assert!(stderr.contains("no kubegate.toml here"), "{name}: what was discovered is told on stderr\n{stderr}");
    let report = json(&run);
    let fired: Vec<(String, String)> = unwaived(&report)
        .map(|f| {
            let object = format!(
                "{}/{}",
                f["object"]["kind"].as_str().unwrap_or(""),
                f["object"]["name"].as_str().unwrap_or("")
            );
            (f["rule_id"].as_str().unwrap_or("").to_string(), object)
        })
        .collect();
    eprintln!("check of {name} took {} ms: {} findings", elapsed.as_millis(), fired.len());
    let matches = |e: &FindingExpect| {
        fired.iter().any(|(rule, object)| *rule == e.rule && e.object.as_ref().is_none_or(|o| o == object))
    };
    for e in must {
        assert!(matches(e), "{name}: must report {} on {:?} ({})\nfired: {fired:#?}", e.rule, e.object, e.why);
    }
    for e in must_not {
        assert!(!matches(e), "{name}: must not report {} on {:?} ({})\nfired: {fired:#?}", e.rule, e.object, e.why);
    }
    assert!(!must.is_empty(), "{name}: expect.toml asserts at least one finding");

    let out = tempfile::tempdir().expect("tempdir");
    let config = out.path().join("kubegate.toml");
    let started = Instant::now();
    kubegate(dir).args(["init", "--output"]).arg(&config).assert().code(0);
    eprintln!("init of {name} took {} ms", started.elapsed().as_millis());
    // The config's paths are relative to its directory, and nothing may be
    // written into the fixture: check a copy of the repository with the
    // config in its root.
    let text = std::fs::read_to_string(&config).expect("init wrote the file");
    let copy = tempfile::tempdir().expect("tempdir");
    copy_tree(dir, copy.path());
    std::fs::write(copy.path().join("kubegate.toml"), &text).expect("write the config into the copy");
    let run = kubegate(copy.path()).args(["check", "--format", "json", "--config", "kubegate.toml"]).assert();
    let code = run.get_output().status.code();
    let stderr = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    assert!(
        matches!(code, Some(0 | 1)),
        "{name}: check --config <init's file> exits 0 or 1, got {code:?}\n{stderr}\n{text}"
    );
    let with_config = json(&run)["findings"].as_array().map(Vec::len).unwrap_or_default();
    assert_eq!(with_config, fired.len(), "{name}: init's config checks what the zero-config check checks\n{text}");
}

/// The summary names Secrets and keys, never a value: none of the README's `--from-literal` values nor the
/// fixtures' committed base64 data appears in it.
fn assert_no_secret_value_printed(dir: &Path, d: &Discovery) {
    let summary = d.to_string();
    for value in ["Sup3rS3cret", "sk-test-not-a-real-key", "cG9zdGdyZXM=", "openssl rand"] {
        assert!(!summary.contains(value), "{}: the summary shows a secret value:\n{summary}", dir.display());
    }
}

/// Copy the files under `from` into `to` (a fixture repository: small, no links).
fn copy_tree(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from).unwrap_or_else(|e| panic!("read {}: {e}", from.display())).flatten() {
        let (src, dst) = (entry.path(), to.join(entry.file_name()));
        if src.is_dir() {
            std::fs::create_dir_all(&dst).unwrap_or_else(|e| panic!("create {}: {e}", dst.display()));
            copy_tree(&src, &dst);
        } else {
            std::fs::copy(&src, &dst).unwrap_or_else(|e| panic!("copy {}: {e}", src.display()));
        }
    }
}

/// fixtures/taskly without its kubegate.toml: discovery takes its `openapi.yaml` as the contract, the zero-config
/// check runs the contract rules against it (they pass: its probes follow it), and `init` writes it down. An
/// `openapi.json` that is no OpenAPI 3 document is named and not used, and the check still runs.
#[test]
fn an_openapi_contract_at_the_root_is_used_without_a_config() {
    require_helm();
    let copy = tempfile::tempdir().expect("tempdir");
    copy_tree(&repo().join("fixtures").join("taskly"), copy.path());
    std::fs::remove_file(copy.path().join("kubegate.toml")).expect("remove taskly's kubegate.toml");
    // Its Namespace (raw path only) is waived in that kubegate.toml (KG-PARITY-002); without the
    // config it is rightly a parity failure, which is not what this test is about.
    std::fs::remove_file(copy.path().join("k8s/00-namespace.yaml")).expect("remove taskly's Namespace");

    let d = discover(copy.path()).unwrap_or_else(|e| panic!("{e}"));
    let found = d.contract.as_ref().expect("openapi.yaml found");
    assert_eq!((found.path.as_str(), found.unreadable.as_deref()), ("openapi.yaml", None));
    assert!(found.operations > 5, "{found:?}");
    assert_eq!(kubegate::infer::config(&d).contract.as_deref(), Some(Path::new("openapi.yaml")));

    let run = kubegate(copy.path()).args(["check", "--format", "json"]).assert();
    let stderr = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    assert_eq!(run.get_output().status.code(), Some(0), "taskly follows its contract\n{stderr}");
    assert!(stderr.contains("contract: openapi.yaml"), "{stderr}");
    let report = json(&run);
    let contract_rules: Vec<&serde_json::Value> =
        report["checks"].as_array().expect("checks").iter().filter(|c| c["family"] == "CONTRACT").collect();
    assert_eq!(contract_rules.len(), 3);
    for c in contract_rules {
        assert_eq!(c["status"]["raw"], "passed", "{c}");
        assert_eq!(c["status"]["helm"], "passed", "{c}");
    }
    // The contract is checked, not just named: a probe path it lacks is a finding.
    let web = copy.path().join("k8s").join("web.yaml");
    let text = std::fs::read_to_string(&web).expect("k8s/web.yaml");
    std::fs::write(&web, text.replacen("path: /-/ready\n", "path: /-/readyz\n", 1)).expect("write");
    let run = kubegate(copy.path()).args(["check", "--format", "json"]).assert().code(1);
    assert!(unwaived(&json(&run)).any(|f| f["rule_id"] == "KG-CONTRACT-001" && f["path"] == "raw"));

    let out = tempfile::tempdir().expect("tempdir");
    let config = out.path().join("kubegate.toml");
    kubegate(copy.path()).args(["init", "--output"]).arg(&config).assert().code(0);
    let written = std::fs::read_to_string(&config).expect("init wrote the file");
    assert!(written.contains("\ncontract = \"openapi.yaml\"\n"), "{written}");

    // Not OpenAPI: named, not used; the contract rules are then not run, and nothing aborts.
    let other = tempfile::tempdir().expect("tempdir");
    copy_tree(&repo().join("fixtures").join("repos").join("raw-only"), other.path());
    std::fs::create_dir_all(other.path().join("docs")).expect("mkdir docs");
    std::fs::write(other.path().join("docs").join("openapi.json"), r#"{"swagger": "2.0", "paths": {}}"#)
        .expect("write");
    let d = discover(other.path()).unwrap_or_else(|e| panic!("{e}"));
    let found = d.contract.as_ref().expect("docs/openapi.json found");
    assert_eq!(found.path, "docs/openapi.json");
    assert!(found.unreadable.as_deref().is_some_and(|w| w.contains("not an OpenAPI 3 document")), "{found:?}");
    assert_eq!(kubegate::infer::config(&d).contract, None);
    let run = kubegate(other.path()).args(["check", "--format", "json"]).assert().code(1);
    let stderr = String::from_utf8_lossy(&run.get_output().stderr).into_owned();
    assert!(stderr.contains("docs/openapi.json cannot be read as an OpenAPI 3 contract"), "{stderr}");
}
