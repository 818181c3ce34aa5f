//! Running the real `kubegate` binary over the repo or a built mutant, and
//! failing with everything needed to see why (command, directory, exit
//! status, stdout, stderr).

use std::path::{Path, PathBuf};
use std::process::Command;

use kubegate_suites::kubegate_bin::kubegate_bin;
use kubegate_suites::mutants::{self, Mutant, MutantPath};

/// What one `kubegate` run gave.
pub struct Run {
    pub command: String,
    pub dir: PathBuf,
    pub code: Option<i32>,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// Everything about the run, for a failure message.
    pub fn explain(&self) -> String {
        format!(
            "command: {}\ndirectory: {}\nexit: {:?}\n--- stdout ---\n{}\n--- stderr ---\n{}",
            self.command,
            self.dir.display(),
            self.code,
            tail(&self.stdout, 80),
            tail(&self.stderr, 40)
        )
    }

    /// stdout as JSON (the run used `--format json`).
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{}", self.explain()))
    }
}

fn tail(s: &str, lines: usize) -> String {
    let all: Vec<&str> = s.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Fail (never skip) when helm is missing: the static suites need it.
pub fn require_helm() {
    if let Err(e) = kubegate::tools::find_tool("helm") {
        panic!(
            "this test renders the chart with helm, which is missing: {e}\nrun `ci/setup.sh tools` (then `source ci/env.sh`)"
        );
    }
}

/// Run `kubegate <args>` in `dir` with extra environment.
pub fn kubegate_in(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Run {
    let bin = kubegate_bin().unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = Command::new(&bin);
    cmd.args(args).current_dir(dir).env_remove("NO_COLOR");
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    Run {
        command: format!("kubegate {}", args.join(" ")),
        dir: dir.to_path_buf(),
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
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
        let args: Vec<&str> = inv.args.iter().map(String::as_str).collect();
        let run = kubegate_in(dir.path(), &args, &[]);
        let what = format!("mutant `{name}` ({}), {} scope", mutant.spec.description, inv.scope);
        assert_eq!(run.code, Some(mutant.spec.exit), "{what}: wrong exit code\n{}", run.explain());
        if mutant.spec.exit == 2 {
            for needle in &mutant.spec.error_contains {
                assert!(
                    run.stderr.contains(needle.as_str()),
                    "{what}: the error does not name `{needle}`\n{}",
                    run.explain()
                );
            }
            continue;
        }
        let json = run.json();
        let fired: Vec<(String, String)> = json["findings"]
            .as_array()
            .map(|a| a.as_slice())
            .unwrap_or_default()
            .iter()
            .filter(|f| f["waived"].is_null())
            .map(|f| {
                (
                    f["rule_id"].as_str().unwrap_or_default().to_string(),
                    f["path"].as_str().unwrap_or_default().to_string(),
                )
            })
            .collect();
        for rule in &mutant.spec.expect {
            let caught = fired.iter().any(|(r, p)| r == rule && (inv.scope == "parity" || p == inv.scope));
            assert!(
                caught,
                "{what}: {rule} did not fire on the {} path; fired: {fired:?}\n{}",
                inv.scope,
                run.explain()
            );
        }
    }
}
