//! Running the real `kubegate` binary (assert_cmd over the binary that
//! `kubegate_suites::kubegate_bin` located) over the repo or a built mutant.
//! A failed assertion prints the command, its directory and environment,
//! the exit status, stdout and stderr.

use std::path::{Path, PathBuf};

use assert_cmd::assert::Assert;
use kubegate_suites::kubegate_bin::kubegate_bin;
use kubegate_suites::mutants::{self, Mutant, MutantPath};
use predicates::prelude::*;

/// Fail (never skip) when helm is missing: the static suites need it.
pub fn require_helm() {
    if let Err(e) = kubegate::tools::find_tool("helm") {
        panic!(
            "this test renders the chart with helm, which is missing: {e}\nrun `ci/setup.sh tools` (then `source ci/env.sh`)"
        );
    }
}

/// `kubegate`, to run in `dir` (`NO_COLOR` unset: the tests see what a user
/// piping the output sees).
pub fn kubegate(dir: &Path) -> assert_cmd::Command {
    let mut cmd = assert_cmd::Command::new(kubegate_bin().unwrap_or_else(|e| panic!("{e}")));
    cmd.current_dir(dir).env_remove("NO_COLOR");
    cmd
}

/// stdout of a run.
pub fn stdout(run: &Assert) -> String {
    String::from_utf8_lossy(&run.get_output().stdout).into_owned()
}

/// stdout as JSON (the run used `--format json`).
pub fn json(run: &Assert) -> serde_json::Value {
    serde_json::from_str(&stdout(run)).unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{run}"))
}

/// The findings of a JSON report that no waiver covers.
pub fn unwaived(report: &serde_json::Value) -> impl Iterator<Item = &serde_json::Value> {
    report["findings"].as_array().map(|a| a.as_slice()).unwrap_or_default().iter().filter(|f| f["waived"].is_null())
}

/// The repository root.
pub fn repo() -> PathBuf {
    mutants::repo_root()
}

/// A copy of the repo's deployment (kubegate.toml, manifests, chart,
/// contract) in a fresh temporary directory.
pub fn copy_of_repo() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary directory");
    mutants::copy_tree(&repo(), dir.path()).expect("copy the deployment");
    dir
}

/// `--config kubegate.toml` when the copy has one (else kubegate's defaults
/// describe this repo, relative to the current directory).
pub fn config_args(root: &Path) -> Vec<String> {
    if root.join("kubegate.toml").is_file() { vec!["--config".into(), "kubegate.toml".into()] } else { Vec::new() }
}

/// The config the copy at `root` describes.
pub fn config_of(root: &Path) -> kubegate::config::Config {
    let file = root.join("kubegate.toml");
    kubegate::config::Config::load(file.is_file().then_some(file.as_path())).expect("kubegate.toml of the copy loads")
}

/// One `kubegate check` invocation of a mutant: which scope, with which args.
pub struct Invocation {
    /// `raw`, `helm` or `parity`: where the expected rules must fire.
    pub scope: &'static str,
    pub args: Vec<String>,
}

/// The check runs `path` asks for, over the copy at `root`.
pub fn invocations(root: &Path, path: MutantPath, values: Option<&Path>) -> Vec<Invocation> {
    let config = config_of(root);
    let mut base = vec!["check".to_string(), "--format".into(), "json".into()];
    base.extend(config_args(root));
    let values_args = |with_config_values: bool| {
        let mut v = Vec::new();
        if with_config_values {
            for f in &config.chart.values {
                v.push("--values".to_string());
                v.push(f.display().to_string());
            }
        }
        if let Some(f) = values {
            v.push("--values".to_string());
            v.push(f.display().to_string());
        }
        v
    };
    let raw = || {
        let mut a = base.clone();
        a.extend(["--manifests".into(), config.manifests.display().to_string()]);
        Invocation { scope: "raw", args: a }
    };
    let helm = || {
        let mut a = base.clone();
        a.extend(["--chart".into(), config.chart.path.display().to_string()]);
        a.extend(values_args(true));
        Invocation { scope: "helm", args: a }
    };
    match path {
        MutantPath::Raw => vec![raw()],
        MutantPath::Helm => vec![helm()],
        MutantPath::Both => vec![raw(), helm()],
        MutantPath::Parity => {
            // No path flag: both paths from the config, plus their comparison;
            // the mutant's values are added to the config's.
            let mut a = base.clone();
            a.extend(values_args(false));
            vec![Invocation { scope: "parity", args: a }]
        }
    }
}

/// Build mutant `name` and assert every invocation catches it as declared.
pub fn assert_mutant_caught(name: &str) {
    require_helm();
    let spec_file = mutants::mutants_dir().join(name).join("mutant.toml");
    let mutant: Mutant = mutants::load(&spec_file).unwrap_or_else(|e| panic!("{e}"));
    let dir = tempfile::tempdir().expect("temporary directory");
    let values = mutant.build(&repo(), dir.path()).unwrap_or_else(|e| panic!("{e}"));
    for inv in invocations(dir.path(), mutant.spec.path, values.as_deref()) {
        let what = format!("mutant `{name}` ({}), {} scope", mutant.spec.description, inv.scope);
        let mut run =
            kubegate(dir.path()).args(&inv.args).assert().append_context("case", what.clone()).code(mutant.spec.exit);
        if mutant.spec.exit == 2 {
            for needle in &mutant.spec.error_contains {
                run = run.stderr(predicate::str::contains(needle.as_str()));
            }
            continue;
        }
        let json = json(&run);
        let fired: Vec<(String, String)> = unwaived(&json)
            .map(|f| {
                (
                    f["rule_id"].as_str().unwrap_or_default().to_string(),
                    f["path"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        for rule in &mutant.spec.expect {
            let caught = fired.iter().any(|(r, p)| r == rule && (inv.scope == "parity" || p == inv.scope));
            assert!(caught, "{what}: {rule} did not fire on the {} path; fired: {fired:?}\n{run}", inv.scope);
        }
    }
}
