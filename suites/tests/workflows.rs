//! The GitHub Actions workflows users copy from `ci/workflows/` cannot run on
//! this project's machines, so they are kept honest here: every YAML document
//! parses (duplicate keys rejected), has `name`, `on` and `jobs`; every job has
//! `runs-on`, a timeout and steps; every step either `run`s or `uses` an action
//! pinned to a version; no secret is written in as a literal; and each
//! workflow creates its cluster with the official action and runs kubegate
//! against that provider, uploading the reports but not the kubeconfig.

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
    assert!(names.contains(&"kind.yml".to_string()) && names.contains(&"minikube.yml".to_string()), "{names:?}");
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

#[test]
fn reports_are_uploaded_without_the_kubeconfig() {
    for name in ["kind.yml", "minikube.yml"] {
        let doc: Value = serde_saphyr::from_str(&read(name)).expect("parses");
        let upload = doc["jobs"]
            .as_object()
            .into_iter()
            .flat_map(|j| j.values())
            .flat_map(|job| job["steps"].as_array().cloned().unwrap_or_default())
            .find(|s| s.get("uses").and_then(Value::as_str).is_some_and(|u| u.starts_with("actions/upload-artifact@")))
            .unwrap_or_else(|| panic!("{name}: no upload-artifact step"));
        assert_eq!(upload["if"].as_str(), Some("${{ always() }}"), "{name}: reports uploaded even on failure");
        let paths = upload["with"]["path"].as_str().expect("path list");
        assert!(paths.lines().any(|l| l.trim() == "target/kubegate/"), "{name}: {paths}");
        assert!(paths.lines().any(|l| l.trim().starts_with('!') && l.contains(".kubeconfig")), "{name}: {paths}");
    }
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
