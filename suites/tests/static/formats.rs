//! Every format of a failing check parses and carries the findings; text
//! is plain when piped; `--output` writes the file and still prints the verdict.

use std::path::Path;

use assert_cmd::assert::Assert;
use kubegate_suites::mutants;
use predicates::prelude::*;

use crate::support::*;

/// A copy with the liveness probe removed on both paths (findings on raw and helm).
fn broken_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    let m = mutants::load(&mutants::mutants_dir().join("probe-liveness-removed/mutant.toml"))
        .unwrap_or_else(|e| panic!("{e}"));
    m.build(&repo(), dir.path()).unwrap_or_else(|e| panic!("{e}"));
    dir
}

fn check(root: &Path, format: &str) -> Assert {
    require_helm();
    kubegate(root)
        .args(["check", "--format", format])
        .args(config_args(root))
        .assert()
        .append_context("expected", "findings")
        .code(1)
}

#[test]
fn json_findings_carry_the_stable_fields() {
    let dir = broken_copy();
    let json = json(&check(dir.path(), "json"));
    assert_eq!(json["schema_version"], 1);
    assert_eq!(json["passed"], false);
    let findings = json["findings"].as_array().expect("findings");
    let f = findings.iter().find(|f| f["rule_id"] == "KG-PROBE-001").expect("KG-PROBE-001 finding");
    for key in ["rule_id", "severity", "path", "object", "field", "message", "fix", "source", "waived"] {
        assert!(f.get(key).is_some(), "finding lacks `{key}`: {f}");
    }
    assert_eq!(f["object"]["kind"], "Deployment");
    assert!(f["object"]["name"].as_str().is_some_and(|n| n.starts_with("todo-chatbot-")));
    assert!(f["source"]["file"].as_str().is_some_and(|s| s.ends_with(".yaml") || s.ends_with(".tpl")), "{f}");
    let paths: Vec<&str> =
        findings.iter().filter(|f| f["rule_id"] == "KG-PROBE-001").filter_map(|f| f["path"].as_str()).collect();
    assert!(paths.contains(&"raw") && paths.contains(&"helm"), "{paths:?}");

    // A Helm finding names the command that prints its rendered document, and that command prints it.
    let of_path = |p: &str| findings.iter().find(|f| f["rule_id"] == "KG-PROBE-001" && f["path"] == p);
    assert!(of_path("raw").is_some_and(|f| f["source"].get("show").is_none()), "raw findings have no helm command");
    let helm = of_path("helm").expect("a helm finding");
    let show = helm["source"]["show"].as_str().unwrap_or_else(|| panic!("no show command: {helm}"));
    assert!(
        show.starts_with("helm template todo-chatbot charts/todo-chatbot -n todo-chatbot --show-only templates/"),
        "{show}"
    );
    let words: Vec<&str> = show.split_whitespace().collect();
    let rendered = std::process::Command::new("helm")
        .args(&words[1..])
        .current_dir(dir.path())
        .output()
        .unwrap_or_else(|e| panic!("{show}: {e}"));
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(rendered.status.success(), "{show}: {}", String::from_utf8_lossy(&rendered.stderr));
    let name = helm["object"]["name"].as_str().unwrap_or_default();
    assert!(text.contains("kind: Deployment") && text.contains(&format!("name: {name}")), "{show}:\n{text}");
}

#[test]
fn sarif_is_2_1_0_with_rules_and_located_results() {
    let dir = broken_copy();
    let run = check(dir.path(), "sarif");
    let v: serde_json::Value = serde_json::from_str(&stdout(&run)).unwrap_or_else(|e| panic!("{e}\n{run}"));
    assert_eq!(v["version"], "2.1.0");
    assert!(v["$schema"].as_str().is_some_and(|s| s.contains("sarif")));
    let run0 = &v["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "kubegate");
    let rules = run0["tool"]["driver"]["rules"].as_array().expect("rules");
    assert!(rules.len() >= 35, "the catalog as rules, got {}", rules.len());
    let results = run0["results"].as_array().expect("results");
    let r = results.iter().find(|r| r["ruleId"] == "KG-PROBE-001").expect("a KG-PROBE-001 result");
    assert_eq!(r["level"], "error");
    let loc = &r["locations"][0]["physicalLocation"];
    assert!(loc["artifactLocation"]["uri"].as_str().is_some_and(|u| !u.is_empty()), "{r}");
    assert!(loc["region"]["startLine"].as_u64().is_some_and(|l| l > 0), "{r}");
    assert!(r["message"]["text"].as_str().is_some_and(|t| t.contains("Deployment/")));
}

#[test]
fn junit_is_well_formed_with_a_suite_per_path() {
    let dir = broken_copy();
    let run = check(dir.path(), "junit");
    let report = quick_junit::Report::deserialize_from_str(&stdout(&run)).unwrap_or_else(|e| panic!("{e}\n{run}"));
    let names: Vec<&str> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["kubegate check (raw)", "kubegate check (helm)", "kubegate check (parity)"]);
    for suite in &report.test_suites[..2] {
        let failed: Vec<&str> = suite
            .test_cases
            .iter()
            .filter(|t| matches!(t.status, quick_junit::TestCaseStatus::NonSuccess { .. }))
            .map(|t| t.name.as_str())
            .collect();
        assert!(failed.iter().any(|n| n.starts_with("KG-PROBE-001")), "{}: {failed:?}", suite.name.as_str());
        assert!(suite.test_cases.len() >= 35);
    }
}

#[test]
fn markdown_has_the_family_table() {
    let dir = broken_copy();
    let md = stdout(&check(dir.path(), "markdown"));
    assert!(md.starts_with("# kubegate check: ❌ FAIL"), "{md}");
    assert!(md.contains("| family | raw | helm | parity |"), "{md}");
    assert!(md.lines().any(|l| l.starts_with("| PROBE | ❌")), "{md}");
    assert!(md.contains("**KG-PROBE-001**"), "{md}");
}

#[test]
fn text_is_plain_when_piped_and_ends_with_the_verdict() {
    let dir = broken_copy();
    let text = stdout(&check(dir.path(), "text"));
    assert!(!text.contains('\x1b'), "no colour codes when stdout is not a terminal:\n{text}");
    assert!(text.contains("KG-PROBE-001"), "{text}");
    assert!(text.contains("fix:"), "{text}");
    assert!(
        text.contains("rendered: helm template todo-chatbot charts/todo-chatbot -n todo-chatbot --show-only"),
        "{text}"
    );
    let last = text.trim_end().lines().last().unwrap_or_default();
    assert!(last.starts_with("FAIL"), "{last}");
}

#[test]
fn output_file_gets_the_report_and_stderr_the_verdict() {
    require_helm();
    let dir = broken_copy();
    let out = dir.path().join("report.sarif");
    kubegate(dir.path())
        .args(["check", "--format", "sarif", "--output"])
        .arg(&out)
        .args(config_args(dir.path()))
        .assert()
        .code(1)
        .stdout(predicate::str::is_empty())
        .stderr(predicate::str::starts_with("FAIL"));
    let written = std::fs::read_to_string(&out).expect("report written");
    assert!(written.contains("\"2.1.0\""));
}
