//! The GitHub Actions workflows users copy from `ci/workflows/` cannot run on
//! this project's machines, so they are kept honest here: every YAML document
//! parses (duplicate keys rejected), has `name`, `on` and `jobs`; every job has
//! `runs-on`, a timeout and steps; every step either `run`s or `uses` an action
//! pinned to a version; no secret is written in as a literal; and each
//! workflow creates its cluster with the official action and runs kubegate
//! against that provider, uploading the reports but not the kubeconfig.
//! Their shape is checked too: one job builds (a nextest archive, the CLI,
//! the images), a matrix of partitions runs that archive with
//! `--partition count:K/N`, each on a cluster of its own, uploads its JUnit,
//! and a last job merges them and fails when a partition failed; `verify`
//! appends its summary.md to the job summary. `check.yml`, the workflow a
//! team copies for its own repository, installs kubegate with cargo, runs
//! `kubegate check --format sarif` and uploads that file with
//! github/codeql-action/upload-sarif, so findings annotate the PR's lines.

use std::path::{Path, PathBuf};

use serde_json::Value;

fn workflows_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../ci/workflows")
}

/// Every problem found in one workflow file's text (empty = valid).
fn problems(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let docs: Vec<Value> = match serde_saphyr::from_multiple(text) {
        Ok(docs) => docs,
        Err(e) => return vec![format!("not valid YAML: {e}")],
    };
    if docs.is_empty() {
        found.push("no YAML document".into());
    }
    for (i, doc) in docs.iter().enumerate() {
        let at = |what: &str| format!("document {}: {what}", i + 1);
        let Some(top) = doc.as_object() else {
            found.push(at("is not a mapping"));
            continue;
        };
        for key in ["name", "on", "jobs"] {
            if !top.contains_key(key) {
                found.push(at(&format!("missing top-level `{key}`")));
            }
        }
        let jobs = top.get("jobs").and_then(Value::as_object);
        if jobs.is_some_and(|j| j.is_empty()) {
            found.push(at("`jobs` is empty"));
        }
        for (job_name, job) in jobs.into_iter().flatten() {
            let at = |what: &str| format!("document {}: job `{job_name}`: {what}", i + 1);
            let Some(job) = job.as_object() else {
                found.push(at("is not a mapping"));
                continue;
            };
            for key in ["runs-on", "timeout-minutes", "steps"] {
                if !job.contains_key(key) {
                    found.push(at(&format!("missing `{key}`")));
                }
            }
            let steps = job.get("steps").and_then(Value::as_array);
            if steps.is_some_and(|s| s.is_empty()) {
                found.push(at("`steps` is empty"));
            }
            for (n, step) in steps.into_iter().flatten().enumerate() {
                let at = |what: &str| format!("document {}: job `{job_name}` step {}: {what}", i + 1, n + 1);
                let Some(step) = step.as_object() else {
                    found.push(at("is not a mapping"));
                    continue;
                };
                match (step.get("uses"), step.get("run")) {
                    (Some(_), Some(_)) => found.push(at("has both `uses` and `run`")),
                    (None, None) => found.push(at("has neither `uses` nor `run`")),
                    (Some(uses), None) => match uses.as_str() {
                        Some(u) if !is_pinned(u) => found.push(at(&format!(
                            "`uses: {u}` is not pinned to a version (owner/repo@vX.Y.Z or a commit SHA)"
                        ))),
                        None => found.push(at("`uses` is not a string")),
                        _ => {}
                    },
                    (None, Some(_)) => {}
                }
            }
        }
        secret_literals(doc, "", &mut found);
    }
    for marker in ["ghp_", "github_pat_", "-----BEGIN", "AKIA", "xoxb-", "xoxp-", "client-key-data"] {
        if text.contains(marker) {
            found.push(format!("contains what looks like a secret (`{marker}...`)"));
        }
    }
    found
}

/// `owner/repo[/path]@ref` with ref `vN[.N[.N]]` or a 40-hex commit; local
/// actions (`./...`) are pinned by the checkout itself.
fn is_pinned(uses: &str) -> bool {
    if uses.starts_with("./") {
        return true;
    }
    let Some((action, reference)) = uses.split_once('@') else { return false };
    let action_ok = action.split('/').count() >= 2 && action.split('/').all(|p| !p.is_empty());
    let sha = reference.len() == 40 && reference.chars().all(|c| c.is_ascii_hexdigit());
    let version = reference
        .strip_prefix('v')
        .is_some_and(|v| !v.is_empty() && v.split('.').all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit())));
    action_ok && (sha || version)
}

/// A key that names a credential must get its value from an expression
/// (`${{ secrets.X }}`), never a literal.
fn secret_literals(value: &Value, path: &str, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let here = format!("{path}/{k}");
                let lower = k.to_ascii_lowercase();
                let secretish = ["password", "token", "secret", "api_key", "apikey", "api-key", "private_key"]
                    .iter()
                    .any(|w| lower.contains(w));
                if secretish
                    && let Some(s) = v.as_str()
                    && !s.trim().starts_with("${{")
                {
                    found.push(format!("`{here}` is a literal; use ${{{{ secrets.NAME }}}}"));
                }
                secret_literals(v, &here, found);
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                secret_literals(v, &format!("{path}[{i}]"), found);
            }
        }
        _ => {}
    }
}

fn read(name: &str) -> String {
    let path = workflows_dir().join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{} must exist: {e}", path.display()))
}

fn step_uses(text: &str) -> Vec<String> {
    let doc: Value = serde_saphyr::from_str(text).expect("parses (checked by every_workflow_is_valid)");
    let mut out = Vec::new();
    for job in doc["jobs"].as_object().into_iter().flat_map(|j| j.values()) {
        for step in job["steps"].as_array().into_iter().flatten() {
            if let Some(u) = step.get("uses").and_then(Value::as_str) {
                out.push(u.to_string());
            }
            if let Some(r) = step.get("run").and_then(Value::as_str) {
                out.push(format!("run: {r}"));
            }
        }
    }
    out
}

#[test]
fn every_workflow_is_valid() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(workflows_dir())
        .expect("ci/workflows/ exists")
        .map(|e| e.expect("readable dir entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .collect();
    files.sort();
    let names: Vec<String> = files.iter().map(|p| p.file_name().expect("name").to_string_lossy().into()).collect();
    for expected in ["check.yml", "kind.yml", "minikube.yml"] {
        assert!(names.contains(&expected.to_string()), "{expected} missing: {names:?}");
    }
    let mut report = Vec::new();
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable");
        for p in problems(&text) {
            report.push(format!("{}: {p}", file.display()));
        }
    }
    assert!(report.is_empty(), "workflow problems:\n{}", report.join("\n"));
}

#[test]
fn kind_workflow_creates_kind_and_runs_kubegate_against_it() {
    let steps = step_uses(&read("kind.yml"));
    let joined = steps.join("\n");
    assert!(steps.iter().any(|s| s.starts_with("helm/kind-action@")), "{joined}");
    assert!(joined.contains("cloud-provider-kind"), "LoadBalancer support installed: {joined}");
    assert!(joined.contains("images load --provider kind"), "{joined}");
    assert!(joined.contains("cargo nextest run") && joined.contains("--profile ci"), "{joined}");
    assert!(joined.contains("verify --provider kind"), "{joined}");
    assert!(steps.iter().any(|s| s.starts_with("actions/upload-artifact@")), "{joined}");
}

#[test]
fn minikube_workflow_creates_minikube_and_runs_kubegate_against_it() {
    let steps = step_uses(&read("minikube.yml"));
    let joined = steps.join("\n");
    assert!(steps.iter().any(|s| s.starts_with("medyagh/setup-minikube@")), "{joined}");
    assert!(joined.contains("images load --provider minikube"), "{joined}");
    assert!(joined.contains("cargo nextest run") && joined.contains("--profile ci"), "{joined}");
    assert!(joined.contains("verify --provider minikube"), "{joined}");
}

/// The steps of one job.
fn job_steps(job: &Value) -> Vec<Value> {
    job["steps"].as_array().cloned().unwrap_or_default()
}

/// The `run` scripts of a job's steps, one string.
fn job_runs(job: &Value) -> String {
    job_steps(job).iter().filter_map(|s| s["run"].as_str()).collect::<Vec<_>>().join("\n")
}

/// The steps of a job that use `action` (`owner/repo`).
fn job_uses(job: &Value, action: &str) -> Vec<Value> {
    job_steps(job)
        .into_iter()
        .filter(|s| s["uses"].as_str().is_some_and(|u| u.split('@').next() == Some(action)))
        .collect()
}

/// The value of `--flag VALUE` in a command line.
fn flag_value<'a>(command: &'a str, flag: &str) -> Option<&'a str> {
    let mut words = command.split_whitespace();
    words.find(|w| *w == flag)?;
    words.next()
}

/// A job whose `run` scripts contain `needle`, with its name.
fn job_running<'a>(doc: &'a Value, needle: &str) -> Option<(&'a String, &'a Value)> {
    doc["jobs"].as_object()?.iter().find(|(_, job)| job_runs(job).contains(needle))
}

/// The job ids a job `needs` (a string or a list).
fn needs(job: &Value) -> Vec<String> {
    match &job["needs"] {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

#[test]
fn reports_are_uploaded_without_the_kubeconfig() {
    for name in ["kind.yml", "minikube.yml"] {
        let doc: Value = serde_saphyr::from_str(&read(name)).expect("parses");
        let mut report_jobs = Vec::new();
        for (job_name, job) in doc["jobs"].as_object().expect("jobs") {
            for upload in job_uses(job, "actions/upload-artifact") {
                let paths = upload["with"]["path"].as_str().expect("path list");
                if !paths.lines().any(|l| l.trim() == "target/kubegate/") {
                    continue;
                }
                report_jobs.push(job_name.clone());
                assert_eq!(
                    upload["if"].as_str(),
                    Some("${{ always() }}"),
                    "{name} {job_name}: uploaded even on failure"
                );
                assert!(
                    paths.lines().any(|l| l.trim().starts_with('!') && l.contains(".kubeconfig")),
                    "{name} {job_name}: {paths}"
                );
            }
            // Every job that runs kubegate against its cluster uploads what it wrote.
            let runs = job_runs(job);
            if runs.contains("cargo nextest run") || runs.contains(" verify --provider") {
                assert!(report_jobs.contains(job_name), "{name}: job `{job_name}` uploads no reports");
            }
        }
        assert!(report_jobs.len() >= 2, "{name}: reports of the partitions and of verify: {report_jobs:?}");
    }
}

#[test]
fn tests_are_built_once_and_run_as_partitions_each_on_its_own_cluster() {
    for (name, cluster_action) in [("kind.yml", "helm/kind-action"), ("minikube.yml", "medyagh/setup-minikube")] {
        let doc: Value = serde_saphyr::from_str(&read(name)).expect("parses");
        let (build_name, build) =
            job_running(&doc, "cargo nextest archive").unwrap_or_else(|| panic!("{name}: no archive"));
        let archive_cmd =
            job_runs(build).lines().find(|l| l.contains("cargo nextest archive")).expect("line").to_owned();
        let archive = flag_value(&archive_cmd, "--archive-file").expect("--archive-file").to_owned();
        assert!(archive_cmd.contains("--workspace"), "{name}: the whole workspace is archived: {archive_cmd}");
        // The build job hands over the archive, the CLI and the images.
        let uploaded: Vec<String> = job_uses(build, "actions/upload-artifact")
            .iter()
            .flat_map(|u| {
                u["with"]["path"].as_str().unwrap_or("").lines().map(|l| l.trim().to_owned()).collect::<Vec<_>>()
            })
            .collect();
        assert!(uploaded.contains(&archive), "{name}: {archive} uploaded by `{build_name}`: {uploaded:?}");
        let build_runs = job_runs(build);
        assert!(build_runs.contains("--profile cli -p kubegate"), "{name}: the CLI with its own profile: {build_runs}");
        assert!(build_runs.contains("images build") && build_runs.contains("docker save"), "{name}: {build_runs}");

        let (tests_name, tests) = job_running(&doc, "--partition").unwrap_or_else(|| panic!("{name}: no partitions"));
        assert!(needs(tests).contains(build_name), "{name}: `{tests_name}` needs `{build_name}`");
        let partitions: Vec<i64> = tests["strategy"]["matrix"]["partition"]
            .as_array()
            .unwrap_or_else(|| panic!("{name}: `{tests_name}` has no matrix.partition"))
            .iter()
            .filter_map(Value::as_i64)
            .collect();
        let n = i64::try_from(partitions.len()).expect("few");
        assert!(n >= 2 && partitions == (1..=n).collect::<Vec<_>>(), "{name}: partitions 1..N: {partitions:?}");
        assert_eq!(tests["strategy"]["fail-fast"].as_bool(), Some(false), "{name}: one partition's failure stops none");
        let runs = job_runs(tests);
        assert!(!runs.contains("cargo build") && !runs.contains("nextest archive"), "{name}: partitions build nothing");
        let run = runs.lines().skip_while(|l| !l.contains("cargo nextest run")).collect::<Vec<_>>().join(" ");
        assert_eq!(flag_value(&run, "--archive-file"), Some(archive.as_str()), "{name}: {run}");
        assert!(flag_value(&run, "--workspace-remap").is_some(), "{name}: {run}");
        assert_eq!(flag_value(&run, "--profile"), Some("ci"), "{name}: {run}");
        // (the expressions hold spaces: matched as text, not as one word)
        assert!(run.contains("--partition count:${{ matrix.partition }}/${{ strategy.job-total }}"), "{name}: {run}");
        // Its own cluster, the build's images (not rebuilt) and the build's CLI.
        assert_eq!(job_uses(tests, cluster_action).len(), 1, "{name}: each partition starts its cluster");
        assert!(runs.contains("docker load -i") && runs.contains("images load --provider"), "{name}: {runs}");
        assert_eq!(tests["env"]["KUBEGATE_PREBUILT_IMAGES"].as_str(), Some("1"), "{name}");
        assert!(tests["env"]["KUBEGATE_BIN"].as_str().is_some(), "{name}: the suites use the built CLI");
        assert!(!job_uses(tests, "actions/download-artifact").is_empty(), "{name}: the partitions download the build");

        // One JUnit per partition, collected by a last job that fails with them.
        let junit = job_uses(tests, "actions/upload-artifact")
            .into_iter()
            .find(|u| u["with"]["path"].as_str() == Some("target/nextest/ci/junit.xml"))
            .unwrap_or_else(|| panic!("{name}: partitions upload no JUnit"));
        assert_eq!(junit["if"].as_str(), Some("${{ always() }}"), "{name}");
        let artifact = junit["with"]["name"].as_str().expect("artifact name");
        assert!(artifact.contains("${{ matrix.partition }}"), "{name}: one artifact per partition: {artifact}");
        let prefix = artifact.split("${{").next().expect("prefix");
        let (merge_name, merge) = doc["jobs"]
            .as_object()
            .expect("jobs")
            .iter()
            .find(|(_, j)| needs(j).contains(tests_name))
            .filter(|(_, j)| {
                job_uses(j, "actions/download-artifact")
                    .iter()
                    .any(|d| d["with"]["pattern"].as_str().is_some_and(|p| p.strip_suffix('*') == Some(prefix)))
            })
            .unwrap_or_else(|| panic!("{name}: no job downloads `{prefix}*` after `{tests_name}`"));
        assert_eq!(
            merge["if"].as_str(),
            Some("${{ always() }}"),
            "{name}: `{merge_name}` runs when a partition failed"
        );
        assert!(
            !job_uses(merge, "actions/upload-artifact").is_empty(),
            "{name}: `{merge_name}` uploads the merged JUnit"
        );
        let fails = job_steps(merge).iter().any(|s| {
            s["if"].as_str().is_some_and(|c| c.contains(&format!("needs.{tests_name}.result != 'success'")))
                && s["run"].as_str().is_some_and(|r| r.contains("exit 1"))
        });
        assert!(fails, "{name}: `{merge_name}` fails when a partition failed");

        // verify beside the partitions, on its own cluster.
        let (verify_name, verify) =
            job_running(&doc, " verify --provider").unwrap_or_else(|| panic!("{name}: no verify job"));
        assert_ne!(verify_name, tests_name);
        assert!(needs(verify).contains(build_name), "{name}");
        assert_eq!(job_uses(verify, cluster_action).len(), 1, "{name}: verify starts its own cluster");
    }
}

/// `$NAME` / `"$NAME"` / `${{ env.NAME }}` resolved against the workflow's top-level `env`.
fn resolve_env(doc: &Value, word: &str) -> String {
    let word = word.trim().trim_matches('"');
    let name = word
        .strip_prefix("${{ env.")
        .and_then(|w| w.strip_suffix(" }}"))
        .or_else(|| word.strip_prefix('$'))
        .map(|n| n.trim_matches(['{', '}']));
    match name.and_then(|n| doc["env"][n].as_str()) {
        Some(v) => v.to_string(),
        None => word.to_string(),
    }
}

#[test]
fn check_workflow_uploads_kubegate_sarif_for_pull_request_annotations() {
    let doc: Value = serde_saphyr::from_str(&read("check.yml")).expect("parses");
    let on = &doc["on"];
    assert!(on.get("pull_request").is_some(), "runs on pull requests: {on}");
    assert_eq!(doc["permissions"]["security-events"].as_str(), Some("write"), "upload-sarif needs it");
    let jobs = doc["jobs"].as_object().expect("jobs");
    let (name, job) = job_running(&doc, "kubegate check --format sarif").expect("a job runs kubegate check as SARIF");
    let runs = job_runs(job);
    // kubegate installed with cargo (from git or a path), with its lock file; no cluster, no verify.
    let install = runs.lines().filter(|l| l.contains("cargo install")).collect::<Vec<_>>();
    assert!(!install.is_empty() && install.iter().all(|l| l.contains("--locked")), "{runs}");
    assert!(install.iter().any(|l| l.contains("--git")) && install.iter().any(|l| l.contains("--path")), "{runs}");
    assert!(install.iter().all(|l| l.contains(" kubegate") || l.contains("--path")), "{runs}");
    assert!(!job_uses(job, "azure/setup-helm").is_empty(), "{name}: helm renders the chart");
    for cluster in ["helm/kind-action", "medyagh/setup-minikube"] {
        assert!(jobs.values().all(|j| job_uses(j, cluster).is_empty()), "check.yml starts no cluster");
    }
    assert!(!runs.contains(" verify"), "{runs}");
    // The SARIF kubegate writes is the file upload-sarif uploads, even when the check found something.
    let check = runs.lines().find(|l| l.contains("kubegate check --format sarif")).expect("line");
    let written = resolve_env(&doc, flag_value(check, "--output").expect("--output FILE"));
    let uploads = job_uses(job, "github/codeql-action/upload-sarif");
    assert_eq!(uploads.len(), 1, "{name}: one SARIF upload");
    let uploaded = resolve_env(&doc, uploads[0]["with"]["sarif_file"].as_str().expect("sarif_file"));
    assert_eq!(written, uploaded, "{name}: the uploaded SARIF is the one kubegate wrote");
    assert!(uploads[0]["if"].as_str().is_some_and(|c| c.contains("always()")), "uploaded when findings fail the step");
    // Exit 1 (findings) does not stop the upload; the job still fails on findings.
    let steps = job_steps(job);
    let at = |pred: &dyn Fn(&Value) -> bool| steps.iter().position(pred).expect("step");
    let check_step = at(&|s| s["run"].as_str().is_some_and(|r| r.contains("kubegate check --format sarif")));
    let upload_step = at(&|s| s["uses"].as_str().is_some_and(|u| u.starts_with("github/codeql-action/upload-sarif@")));
    let fail_step = at(&|s| s["if"].as_str().is_some_and(|c| c.contains("exit == '1'")));
    assert!(check_step < upload_step && upload_step < fail_step, "{name}: check, upload, then fail on findings");
    let check_run = steps[check_step]["run"].as_str().unwrap_or_default();
    assert!(check_run.contains("set +e") && check_run.contains("GITHUB_OUTPUT"), "{check_run}");
    assert!(steps[fail_step]["run"].as_str().is_some_and(|r| r.contains("exit 1")));
    assert!(runs.contains("--format markdown >> \"$GITHUB_STEP_SUMMARY\""), "the report in the job summary: {runs}");
}

#[test]
fn verify_appends_its_summary_to_the_job_summary() {
    for name in ["kind.yml", "minikube.yml"] {
        let doc: Value = serde_saphyr::from_str(&read(name)).expect("parses");
        let (verify_name, verify) = job_running(&doc, " verify --provider").expect("verify job");
        let steps = job_steps(verify);
        let command = job_runs(verify).lines().find(|l| l.contains(" verify --provider")).expect("line").to_owned();
        let dir = flag_value(&command, "--report-dir").unwrap_or_else(|| panic!("{name}: verify names its report dir"));
        let verify_at = steps.iter().position(|s| s["run"].as_str() == Some(command.as_str())).expect("verify step");
        let summary = format!("{}/summary.md", dir.trim_end_matches('/'));
        let append = steps
            .iter()
            .position(|s| {
                s["run"].as_str().is_some_and(|r| r.contains(&format!("cat {summary} >> \"$GITHUB_STEP_SUMMARY\"")))
            })
            .unwrap_or_else(|| panic!("{name}: `{verify_name}` appends {summary} to $GITHUB_STEP_SUMMARY"));
        assert!(verify_at < append, "{name}: after verify");
        assert_eq!(steps[append]["if"].as_str(), Some("${{ always() }}"), "{name}: also when verify failed");
    }
}

#[test]
fn env_names_resolve_against_the_workflow() {
    let doc: Value = serde_saphyr::from_str("env:\n  F: out.sarif\n").expect("parses");
    for word in ["$F", "\"$F\"", "${F}", "${{ env.F }}"] {
        assert_eq!(resolve_env(&doc, word), "out.sarif", "{word}");
    }
    assert_eq!(resolve_env(&doc, "plain.sarif"), "plain.sarif");
}

#[test]
fn flag_values_are_read_from_command_lines() {
    assert_eq!(
        flag_value("cargo nextest run --archive-file a.tar.zst --profile ci", "--archive-file"),
        Some("a.tar.zst")
    );
    assert_eq!(flag_value("cargo nextest run --profile", "--profile"), None);
    assert_eq!(flag_value("cargo nextest run", "--partition"), None);
}

#[test]
fn the_checker_rejects_what_it_should() {
    let good = "name: x\non: [push]\njobs:\n  a:\n    runs-on: ubuntu-24.04\n    timeout-minutes: 5\n    steps:\n      - uses: actions/checkout@v4.2.2\n      - run: echo hi\n";
    assert!(problems(good).is_empty(), "{:?}", problems(good));
    let cases = [
        (good.replace("@v4.2.2", "@main"), "not pinned"),
        (good.replace("@v4.2.2", ""), "not pinned"),
        (good.replace("name: x\n", ""), "missing top-level `name`"),
        (good.replace("    timeout-minutes: 5\n", ""), "missing `timeout-minutes`"),
        (good.replace("      - run: echo hi\n", "      - name: nothing\n"), "neither"),
        (format!("{good}env:\n  API_TOKEN: abc123\n"), "is a literal"),
        (good.replace("name: x\n", "name: x\nname: y\n"), "not valid YAML"),
        (good.replace("jobs:\n  a:", "jobs:\n  a:\n    x: ["), "not valid YAML"),
        (format!("{good}# ghp_0123456789abcdef\n"), "secret"),
    ];
    for (text, expected) in cases {
        let p = problems(&text);
        assert!(p.iter().any(|m| m.contains(expected)), "expected `{expected}` for:\n{text}\ngot {p:?}");
    }
    let sha = good.replace("@v4.2.2", "@11bd71901bbe5b1630ceea73d27597364c9af683");
    assert!(problems(&sha).is_empty());
    assert!(problems(&format!("{good}env:\n  API_TOKEN: ${{{{ secrets.API_TOKEN }}}}\n")).is_empty());
}
