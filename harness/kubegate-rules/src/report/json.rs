//! JSON report. The schema is stable: fields are only ever added, and
//! [`JSON_SCHEMA_VERSION`] changes when one changes meaning.
//!
//! ```json
//! { "schema_version": 1, "tool": "kubegate check", "passed": false,
//!   "summary": { "findings": 1, "waived": 0, "info": 0,
//!                "by_severity": {"high": 1}, "by_scope": {"raw": {"objects": 12, "findings": 1, "waived": 0}},
//!                "cases": {"passed": 90, "failed": 1, "waived": 0, "skipped": 0}, "duration_ms": 310 },
//!   "findings": [ { "rule_id": "KG-PROBE-001", "severity": "high", "path": "raw",
//!                   "object": {"kind": "Deployment", "name": "todo-chatbot-backend", "namespace": "todo-chatbot"},
//!                   "field": "spec.template.spec.containers[0].livenessProbe", "message": "...", "fix": "...",
//!                   "source": {"file": "manifests/backend.yaml", "line": 12}, "waived": null } ],
//!   (a Helm finding's source adds "show": "helm template <release> <chart> -n <ns> --show-only templates/x.yaml")
//!   "checks": [ { "id": "KG-PROBE-001", "family": "PROBE", "severity": "high", "title": "...",
//!                 "rationale": "...", "fix": "...", "status": {"raw": "failed", "helm": "passed"} } ] }
//! ```
//! `findings` holds every finding, waived ones too (`waived` is the reason).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{RenderReportError, Report, Status, fails, severity_name};
use kubegate_core::finding::{DeployPath, Finding, ObjectRef, Severity};

/// Version of the JSON report schema.
pub const JSON_SCHEMA_VERSION: u32 = 1;

#[derive(Serialize)]
struct JsonReport<'a> {
    schema_version: u32,
    tool: &'a str,
    passed: bool,
    summary: Summary,
    findings: Vec<JsonFinding<'a>>,
    checks: Vec<JsonCheck<'a>>,
}

#[derive(Serialize)]
struct Summary {
    /// Findings that fail the run.
    findings: usize,
    waived: usize,
    /// Unwaived `info` findings (never failing).
    info: usize,
    by_severity: BTreeMap<&'static str, usize>,
    by_scope: BTreeMap<String, ScopeCounts>,
    cases: BTreeMap<&'static str, usize>,
    duration_ms: Option<u128>,
}

#[derive(Serialize)]
struct ScopeCounts {
    objects: Option<usize>,
    source: Option<String>,
    findings: usize,
    waived: usize,
}

/// A finding with `source.file` as the user would type it.
#[derive(Serialize)]
struct JsonFinding<'a> {
    rule_id: &'a str,
    severity: Severity,
    path: DeployPath,
    object: &'a ObjectRef,
    field: Option<&'a str>,
    message: &'a str,
    fix: &'a str,
    source: Option<JsonSource>,
    waived: Option<&'a str>,
}

#[derive(Serialize)]
struct JsonSource {
    file: String,
    line: Option<usize>,
    /// Helm path: the `helm template ... --show-only <template>` command that prints the rendered document.
    #[serde(skip_serializing_if = "Option::is_none")]
    show: Option<String>,
}

#[derive(Serialize)]
struct JsonCheck<'a> {
    id: &'a str,
    family: &'a str,
    severity: Severity,
    title: &'a str,
    rationale: &'a str,
    fix: &'a str,
    status: BTreeMap<&'a str, Status>,
}

impl<'a> From<&'a Finding> for JsonFinding<'a> {
    fn from(f: &'a Finding) -> Self {
        JsonFinding {
            rule_id: &f.rule_id,
            severity: f.severity,
            path: f.path,
            object: &f.object,
            field: f.field.as_deref(),
            message: &f.message,
            fix: &f.fix,
            source: f.source.as_ref().map(|s| JsonSource {
                file: super::display_path(&s.file),
                line: s.line,
                show: s.show.clone(),
            }),
            waived: f.waived.as_deref(),
        }
    }
}

pub(super) fn render(report: &Report) -> Result<String, RenderReportError> {
    let mut by_severity = BTreeMap::new();
    for f in report.failing() {
        *by_severity.entry(severity_name(f.severity)).or_insert(0) += 1;
    }
    let by_scope = report
        .scopes
        .iter()
        .map(|s| {
            let found = || report.cases.iter().filter(|c| c.scope == s.name).flat_map(|c| &c.findings);
            let counts = ScopeCounts {
                objects: s.objects,
                source: s.source.as_deref().map(super::display_path),
                findings: found().filter(|f| fails(f)).count(),
                waived: found().filter(|f| f.waived.is_some()).count(),
            };
            (s.name.clone(), counts)
        })
        .collect();
    let cases = report.status_counts().into_iter().map(|(s, n)| (s.as_str(), n)).collect();
    let checks = report
        .checks
        .iter()
        .map(|c| JsonCheck {
            id: &c.id,
            family: &c.family,
            severity: c.severity,
            title: &c.title,
            rationale: &c.rationale,
            fix: &c.fix,
            status: report.cases.iter().filter(|k| k.check == c.id).map(|k| (k.scope.as_str(), k.status)).collect(),
        })
        .collect();
    let json = JsonReport {
        schema_version: JSON_SCHEMA_VERSION,
        tool: &report.title,
        passed: report.passed(),
        summary: Summary {
            findings: report.failing().count(),
            waived: report.waived().count(),
            info: report.notes().count(),
            by_severity,
            by_scope,
            cases,
            duration_ms: report.duration.map(|d| d.as_millis()),
        },
        findings: report.findings().map(JsonFinding::from).collect(),
        checks,
    };
    serde_json::to_string_pretty(&json)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|source| RenderReportError::Json { format: "json", source })
}
