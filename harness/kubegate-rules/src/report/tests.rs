//! Renderers over a hand-built outcome: each format parses and carries
//! what the finding says; waived findings stay apart; no colour unless asked.
//! Then snapshots of every format's whole output.

use std::path::PathBuf;
use std::time::Duration;

use super::*;
use crate::outcome::{CheckOutcome, CheckedPath};
use kubegate_core::finding::{ObjectRef, SourceLocation};

fn finding(rule: &str, sev: Severity, path: DeployPath, name: &str, waived: Option<&str>) -> Finding {
    Finding {
        rule_id: rule.into(),
        severity: sev,
        path,
        object: ObjectRef { kind: "Deployment".into(), name: name.into(), namespace: Some("todo-chatbot".into()) },
        field: Some("spec.template.spec.containers[0].livenessProbe".into()),
        message: format!("container `backend` has no livenessProbe ({rule})"),
        fix: "add livenessProbe GET /health on port http".into(),
        source: Some(SourceLocation {
            file: PathBuf::from(if path == DeployPath::Raw {
                "manifests/backend.yaml"
            } else {
                "charts/x/templates/backend.yaml"
            }),
            line: Some(12),
            show: (path == DeployPath::Helm)
                .then(|| "helm template x charts/x -n todo-chatbot --show-only templates/backend.yaml".into()),
        }),
        waived: waived.map(str::to_string),
    }
}

fn outcome(findings: Vec<Finding>) -> CheckOutcome {
    CheckOutcome {
        findings,
        parity: Vec::new(),
        checked: vec![
            CheckedPath { path: DeployPath::Raw, source: "manifests".into(), objects: 10 },
            CheckedPath { path: DeployPath::Helm, source: "charts/x".into(), objects: 11 },
        ],
        rules: crate::rules::catalog().len(),
        not_run: Vec::new(),
    }
}

fn failing_report() -> Report {
    Report::from_check(
        &outcome(vec![
            finding("KG-PROBE-001", Severity::High, DeployPath::Raw, "todo-chatbot-backend", None),
            finding("KG-PROBE-001", Severity::High, DeployPath::Helm, "todo-chatbot-backend", None),
            finding(
                "KG-PROBE-003",
                Severity::Medium,
                DeployPath::Raw,
                "todo-chatbot-frontend",
                Some("frontend has no dependency"),
            ),
            finding("KG-PARITY-001", Severity::High, DeployPath::Helm, "todo-chatbot-backend", None),
        ]),
        None,
    )
}

#[test]
fn cases_follow_findings_and_parity_has_its_own_scope() {
    let r = failing_report();
    let status =
        |check: &str, scope: &str| r.cases.iter().find(|c| c.check == check && c.scope == scope).map(|c| c.status);
    assert_eq!(status("KG-PROBE-001", "raw"), Some(Status::Failed));
    assert_eq!(status("KG-PROBE-001", "helm"), Some(Status::Failed));
    assert_eq!(status("KG-PROBE-003", "raw"), Some(Status::Waived));
    assert_eq!(status("KG-PROBE-003", "helm"), Some(Status::Passed));
    assert_eq!(status("KG-PARITY-001", "parity"), Some(Status::Failed));
    assert_eq!(status("KG-PARITY-001", "helm"), None, "parity rules live in the parity scope only");
    assert_eq!(r.findings().count(), 4, "every finding lands in exactly one case");
    assert!(!r.passed());
    assert_eq!(r.exit_code(), ExitCode::Findings);
}

#[test]
fn only_waived_or_info_findings_pass() {
    let r = Report::from_check(
        &outcome(vec![
            finding("KG-PROBE-003", Severity::Medium, DeployPath::Raw, "a", Some("why")),
            finding("KG-PROBE-001", Severity::Info, DeployPath::Raw, "a", None),
        ]),
        None,
    );
    assert!(r.passed());
    assert_eq!(r.exit_code(), ExitCode::Success);
}

#[test]
fn text_groups_by_object_merges_paths_and_lists_waivers_apart() {
    let text = failing_report().render(Format::Text, RenderOptions { color: false }).expect("text");
    assert!(!text.contains('\x1b'), "no colour unless asked:\n{text}");
    let backend = text.find("\nDeployment/todo-chatbot-backend").expect("backend group");
    let waived = text.find("Waived (1)").expect("waived section");
    assert!(backend < waived);
    assert!(
        text.contains("KG-PROBE-001  high      raw+helm  spec.template.spec.containers[0].livenessProbe"),
        "{text}"
    );
    assert!(text.contains("fix: add livenessProbe"), "{text}");
    assert!(text.contains("at manifests/backend.yaml:12, charts/x/templates/backend.yaml:12"), "{text}");
    assert!(text.contains("reason: frontend has no dependency"), "{text}");
    let last = text.trim_end().lines().last().expect("summary");
    assert!(
        last.starts_with("FAIL  3 findings (3 high) in 1 object; by scope: raw 1, helm 1, parity 1; 1 waived"),
        "{last}"
    );
    let coloured = failing_report().render(Format::Text, RenderOptions { color: true }).expect("text");
    assert!(coloured.contains("\x1b[1;31mFAIL"));
}

#[test]
fn json_has_the_stable_fields() {
    let json = failing_report().render(Format::Json, RenderOptions::default()).expect("json");
    let v: serde_json::Value = serde_json::from_str(&json).expect("valid JSON");
    assert_eq!(v["schema_version"], 1);
    assert_eq!(v["passed"], false);
    assert_eq!(v["summary"]["findings"], 3);
    assert_eq!(v["summary"]["waived"], 1);
    assert_eq!(v["summary"]["by_scope"]["raw"]["objects"], 10);
    let f = &v["findings"][0];
    for key in ["rule_id", "severity", "path", "object", "field", "message", "fix", "source", "waived"] {
        assert!(f.get(key).is_some(), "finding lacks {key}: {f}");
    }
    assert_eq!(f["object"]["namespace"], "todo-chatbot");
    assert_eq!(f["source"]["line"], 12);
    let waived: Vec<_> = v["findings"].as_array().expect("array").iter().filter(|f| !f["waived"].is_null()).collect();
    assert_eq!(waived.len(), 1);
    let probe = v["checks"].as_array().expect("checks").iter().find(|c| c["id"] == "KG-PROBE-001").expect("rule");
    assert_eq!(probe["status"]["raw"], "failed");
}

#[test]
fn sarif_lists_rules_and_located_results() {
    let s = failing_report().render(Format::Sarif, RenderOptions::default()).expect("sarif");
    let v: serde_json::Value = serde_json::from_str(&s).expect("valid JSON");
    assert_eq!(v["version"], "2.1.0");
    let run = &v["runs"][0];
    let rules = run["tool"]["driver"]["rules"].as_array().expect("rules");
    assert_eq!(rules.len(), crate::rules::catalog().len());
    let results = run["results"].as_array().expect("results");
    assert_eq!(results.len(), 4);
    let r0 = &results[0];
    let idx = r0["ruleIndex"].as_u64().expect("ruleIndex") as usize;
    assert_eq!(rules[idx]["id"], r0["ruleId"]);
    let loc = &r0["locations"][0]["physicalLocation"];
    assert!(loc["artifactLocation"]["uri"].as_str().expect("uri").ends_with(".yaml"));
    assert_eq!(loc["region"]["startLine"], 12);
    let suppressed = results.iter().filter(|r| r.get("suppressions").is_some()).count();
    assert_eq!(suppressed, 1);
    // Round trip through the typed model: the document is valid SARIF for serde-sarif.
    let _: serde_sarif::sarif::Sarif = serde_json::from_str(&s).expect("serde-sarif parses it");
}

#[test]
fn junit_has_a_suite_per_scope_and_failures_with_messages() {
    let xml = failing_report().render(Format::Junit, RenderOptions::default()).expect("junit");
    let parsed = quick_junit::Report::deserialize_from_str(&xml).expect("well-formed JUnit");
    let names: Vec<&str> = parsed.test_suites.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["kubegate check (raw)", "kubegate check (helm)", "kubegate check (parity)"]);
    let raw = &parsed.test_suites[0];
    assert_eq!(raw.failures, 1);
    let tc = raw.test_cases.iter().find(|t| t.name.as_str().starts_with("KG-PROBE-001")).expect("case");
    match &tc.status {
        quick_junit::TestCaseStatus::NonSuccess { message, description, .. } => {
            assert!(message.as_ref().expect("message").as_str().contains("Deployment/todo-chatbot-backend"));
            assert!(description.as_ref().expect("text").as_str().contains("fix: add livenessProbe"));
        }
        other => panic!("expected a failure, got {other:?}"),
    }
}

#[test]
fn markdown_has_table_details_and_waivers() {
    let md = failing_report().render(Format::Markdown, RenderOptions::default()).expect("md");
    assert!(md.starts_with("# kubegate check: ❌ FAIL: 3 finding(s), 1 waived"), "{md}");
    assert!(md.contains("| family | raw | helm | parity |"), "{md}");
    assert!(md.contains("| PROBE | ❌"), "{md}");
    assert!(md.contains("| PARITY | – | – | ❌ 1/2 (KG-PARITY-001) |"), "{md}");
    assert!(md.contains("## Waived"));
    assert!(md.contains("frontend has no dependency"));
}

// Snapshots: the whole output of every renderer over fixed reports (no clock,
// no machine path, no random id), committed in report/snapshots/. After an
// intended change: `INSTA_UPDATE=always cargo nextest run -p kubegate report::`,
// then read the `git diff` of the .snap files (or use `cargo insta review`).

/// `failing_report()` trimmed to the PROBE and PARITY families (a few catalog
/// rows rather than all), plus an info finding, a finding with neither field
/// nor source, and a fixed duration.
fn snapshot_check_report() -> Report {
    let mut bare = finding("KG-PROBE-002", Severity::Low, DeployPath::Helm, "todo-chatbot-frontend", None);
    bare.field = None;
    bare.source = None;
    let mut findings = failing_report().findings().cloned().collect::<Vec<_>>();
    findings.push(bare);
    findings.push(finding("KG-PROBE-004", Severity::Info, DeployPath::Raw, "todo-chatbot-frontend", None));
    let mut r = Report::from_check(&outcome(findings), Some(Duration::from_millis(1234)));
    r.checks.retain(|c| c.family == "PROBE" || c.family == "PARITY");
    let kept: Vec<String> = r.checks.iter().map(|c| c.id.clone()).collect();
    r.cases.retain(|c| kept.contains(&c.check));
    r
}

/// A passing run: one waived finding and one note, nothing failing.
fn snapshot_passing_report() -> Report {
    let mut r = Report::from_check(
        &outcome(vec![
            finding("KG-PROBE-003", Severity::Medium, DeployPath::Raw, "todo-chatbot-frontend", Some("no dependency")),
            finding("KG-PROBE-004", Severity::Info, DeployPath::Helm, "todo-chatbot-frontend", None),
        ]),
        None,
    );
    r.checks.retain(|c| c.family == "PROBE");
    let kept: Vec<String> = r.checks.iter().map(|c| c.id.clone()).collect();
    r.cases.retain(|c| kept.contains(&c.check));
    r
}

/// A live suite's report, built from cases as `verify` does: checks grouped
/// by principle, timed cases, a note, a skipped case, a failure.
fn snapshot_live_report() -> Report {
    let check = |id: &str, family: &str, title: &str| CheckInfo {
        id: id.into(),
        family: family.into(),
        severity: Severity::High,
        title: title.into(),
        rationale: format!("{family} of the constitution"),
        fix: "see docs/live.md".into(),
    };
    let timed = |mut case: Case, ms: u64| {
        case.duration = Some(Duration::from_millis(ms));
        case
    };
    let mut failure = finding("LIVE-PROBE-ROLLOUT", Severity::High, DeployPath::Helm, "todo-chatbot-backend", None);
    failure.field = None;
    failure.source = None;
    failure.message = "pods not Ready within 90 s: readiness probe failed (HTTP 503)".into();
    failure.fix = "look at the backend's /ready and its database".into();
    let mut noted = Case::from_findings("LIVE-CONST-DRYRUN", "raw", Vec::new());
    noted.note = Some("12 objects accepted".into());
    Report {
        title: "kubegate verify".into(),
        subject: None,
        checks: vec![
            check("LIVE-CONST-DRYRUN", "P3", "a server-side dry run accepts every object"),
            check("LIVE-LB-ADDRESS", "P3", "the frontend Service gets an external address"),
            check("LIVE-PROBE-ROLLOUT", "P12", "pods Running within 60 s and Ready within 90 s"),
        ],
        scopes: vec![
            ScopeSummary { name: "raw".into(), source: Some("manifests".into()), objects: Some(12) },
            ScopeSummary { name: "helm".into(), source: Some("charts/todo-chatbot".into()), objects: Some(13) },
        ],
        cases: vec![
            timed(noted, 850),
            timed(Case::from_findings("LIVE-CONST-DRYRUN", "helm", Vec::new()), 910),
            Case::skipped("LIVE-LB-ADDRESS", "raw", "the provider has no LoadBalancer controller"),
            timed(Case::from_findings("LIVE-LB-ADDRESS", "helm", Vec::new()), 4_020),
            timed(Case::from_findings("LIVE-PROBE-ROLLOUT", "raw", Vec::new()), 31_500),
            timed(Case::from_findings("LIVE-PROBE-ROLLOUT", "helm", vec![failure]), 90_000),
        ],
        duration: Some(Duration::from_secs(185)),
    }
}

/// `report` in `format`, without colour; SARIF's tool version is masked so a
/// version bump does not touch the snapshots.
fn rendered(report: &Report, format: Format) -> String {
    let out = report.render(format, RenderOptions { color: false }).expect("renders");
    out.replace(&format!("\"version\": \"{}\"", env!("CARGO_PKG_VERSION")), "\"version\": \"[kubegate version]\"")
}

/// One snapshot test per report and format, named after both.
macro_rules! snapshots {
    ($($test:ident: $report:ident as $format:ident,)*) => {
        $(
            #[test]
            fn $test() {
                insta::assert_snapshot!(rendered(&$report(), Format::$format));
            }
        )*
    };
}

snapshots! {
    snapshot_check_text: snapshot_check_report as Text,
    snapshot_check_json: snapshot_check_report as Json,
    snapshot_check_sarif: snapshot_check_report as Sarif,
    snapshot_check_junit: snapshot_check_report as Junit,
    snapshot_check_markdown: snapshot_check_report as Markdown,
    snapshot_passing_text: snapshot_passing_report as Text,
    snapshot_passing_markdown: snapshot_passing_report as Markdown,
    snapshot_live_text: snapshot_live_report as Text,
    snapshot_live_json: snapshot_live_report as Json,
    snapshot_live_sarif: snapshot_live_report as Sarif,
    snapshot_live_junit: snapshot_live_report as Junit,
    snapshot_live_markdown: snapshot_live_report as Markdown,
}
