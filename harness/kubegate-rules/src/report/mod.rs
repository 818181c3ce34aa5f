//! Reports: one neutral [`Report`] of cases (check x scope, each passed,
//! failed, waived or skipped, carrying its findings), rendered as text for a
//! terminal, or JSON, SARIF 2.1.0, JUnit XML and Markdown for machines and
//! pull requests.
//!
//! `kubegate check` builds its report with [`Report::from_check`]; live
//! suites build theirs from [`Case`]s directly (a scope is then `raw` or
//! `helm`, a check a live test with its principle as family). Renderers only
//! read the report, so every front end gets all five formats.
//!
//! No renderer adds data a finding does not carry: findings never contain a
//! secret value (rules and parity redact), so neither does a report.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Serialize;

use crate::outcome::CheckOutcome;
use kubegate_core::exit::ExitCode;
use kubegate_core::finding::{DeployPath, Finding, Severity};

mod json;
mod junit;
mod markdown;
mod sarif;
mod text;

pub use json::JSON_SCHEMA_VERSION;

/// Scope name of the raw-vs-Helm comparison (its findings carry the path
/// whose side drifts, but the case belongs to neither path alone).
pub const PARITY_SCOPE: &str = "parity";

/// Rule family whose checks run in the [`PARITY_SCOPE`].
const PARITY_FAMILY: &str = "PARITY";

/// Output formats of every report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Grouped by object, for a terminal (colour only on a TTY).
    Text,
    /// Stable JSON schema, versioned by [`JSON_SCHEMA_VERSION`] (fields: `report/json.rs`).
    Json,
    /// SARIF 2.1.0, for code-scanning UIs.
    Sarif,
    /// JUnit XML: one testsuite per scope, one testcase per check.
    Junit,
    /// Markdown: pass/fail table per family and scope, then details.
    Markdown,
}

/// How to render text.
#[derive(Debug, Clone, Copy, Default)]
pub struct RenderOptions {
    /// ANSI colours (the CLI sets this only when stdout is a terminal and
    /// `NO_COLOR` is unset).
    pub color: bool,
}

/// A report could not be rendered (a serializer failed; not the user's fault).
#[derive(Debug, thiserror::Error)]
pub enum RenderReportError {
    /// JSON or SARIF serialisation failed.
    #[error("cannot serialise the {format} report")]
    Json {
        /// `json` or `sarif`.
        format: &'static str,
        /// serde_json's error.
        #[source]
        source: serde_json::Error,
    },
    /// JUnit XML serialisation failed.
    #[error("cannot serialise the JUnit report")]
    Junit(#[source] quick_junit::SerializeError),
}

/// What one check is: a rule of the catalog, or a live test.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CheckInfo {
    /// Stable id (`KG-PROBE-001`, or a live test's id).
    pub id: String,
    /// Family or principle (`PROBE`, `SEC`, `P12`, ...): the report's grouping.
    pub family: String,
    /// Severity of a failure.
    pub severity: Severity,
    /// What the check asserts, one line.
    pub title: String,
    /// Why it matters, one line.
    pub rationale: String,
    /// Generic fix hint (findings carry a specific one).
    pub fix: String,
}

impl From<&crate::rules::Rule> for CheckInfo {
    fn from(r: &crate::rules::Rule) -> Self {
        CheckInfo {
            id: r.id.into(),
            family: r.family().into(),
            severity: r.severity,
            title: r.title.into(),
            rationale: r.rationale.into(),
            fix: r.fix.into(),
        }
    }
}

/// Outcome of one case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// Nothing wrong (informational findings at most).
    Passed,
    /// Every finding is covered by a waiver.
    Waived,
    /// Not run (the note says why).
    Skipped,
    /// At least one unwaived finding above `info`.
    Failed,
}

impl Status {
    /// Lower-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Passed => "passed",
            Status::Waived => "waived",
            Status::Skipped => "skipped",
            Status::Failed => "failed",
        }
    }
}

/// One check applied in one scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Case {
    /// [`CheckInfo::id`] of the check.
    pub check: String,
    /// `raw`, `helm`, [`PARITY_SCOPE`], or a live suite's scope.
    pub scope: String,
    /// Outcome.
    pub status: Status,
    /// What the check found here, waived findings included.
    pub findings: Vec<Finding>,
    /// Why it was skipped, or extra detail for a live case.
    pub note: Option<String>,
    /// How long it took (live cases).
    pub duration: Option<Duration>,
}

impl Case {
    /// A case whose status follows from its findings (see [`Status`]).
    pub fn from_findings(check: impl Into<String>, scope: impl Into<String>, findings: Vec<Finding>) -> Self {
        let status = if findings.iter().any(fails) {
            Status::Failed
        } else if !findings.is_empty() && findings.iter().all(|f| f.waived.is_some()) {
            Status::Waived
        } else {
            Status::Passed
        };
        Case { check: check.into(), scope: scope.into(), status, findings, note: None, duration: None }
    }

    /// A case that did not run, with the reason.
    pub fn skipped(check: impl Into<String>, scope: impl Into<String>, reason: impl Into<String>) -> Self {
        Case {
            check: check.into(),
            scope: scope.into(),
            status: Status::Skipped,
            findings: Vec::new(),
            note: Some(reason.into()),
            duration: None,
        }
    }
}

/// True when `f` fails a run: unwaived and above `info`.
pub fn fails(f: &Finding) -> bool {
    f.waived.is_none() && f.severity > Severity::Info
}

/// One scope that was checked, with what it covered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScopeSummary {
    /// `raw`, `helm`, `parity`, ...
    pub name: String,
    /// Manifests directory, chart directory, ...
    pub source: Option<PathBuf>,
    /// Objects read in this scope.
    pub objects: Option<usize>,
}

/// A whole run: the checks, the scopes and one case per check and scope.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    /// `kubegate check`, or the live suite's name.
    pub title: String,
    /// The deployment under test (its release name), when the report is of one
    /// of several (`kubegate verify`): JUnit case classes carry it.
    pub subject: Option<String>,
    /// Every check that could produce a case, in catalog order.
    pub checks: Vec<CheckInfo>,
    /// The scopes, in order.
    pub scopes: Vec<ScopeSummary>,
    /// One case per check and scope.
    pub cases: Vec<Case>,
    /// Wall time of the run.
    pub duration: Option<Duration>,
}

impl Report {
    /// The report of `kubegate check`: every catalog rule on every checked
    /// path, the PARITY rules once in the `parity` scope when both paths ran.
    pub fn from_check(outcome: &CheckOutcome, duration: Option<Duration>) -> Report {
        let mut checks: Vec<CheckInfo> = crate::rules::catalog().iter().map(CheckInfo::from).collect();
        // A finding from a rule the catalog does not list (should not happen)
        // still gets a case instead of vanishing from the report.
        for f in &outcome.findings {
            if !checks.iter().any(|c| c.id == f.rule_id) {
                checks.push(CheckInfo {
                    id: f.rule_id.clone(),
                    family: f.rule_id.split('-').nth(1).unwrap_or("OTHER").to_string(),
                    severity: f.severity,
                    title: f.rule_id.clone(),
                    rationale: String::new(),
                    fix: f.fix.clone(),
                });
            }
        }
        let mut scopes: Vec<ScopeSummary> = outcome
            .checked
            .iter()
            .map(|c| ScopeSummary {
                name: c.path.to_string(),
                source: Some(c.source.clone()),
                objects: Some(c.objects),
            })
            .collect();
        let parity_ran = outcome.checked.len() > 1;
        if parity_ran {
            scopes.push(ScopeSummary { name: PARITY_SCOPE.into(), source: None, objects: None });
        }
        let mut cases = Vec::new();
        for check in &checks {
            let is_parity = check.family == PARITY_FAMILY;
            let in_scope =
                |f: &Finding, scope: &str| f.rule_id == check.id && (is_parity || f.path.to_string() == scope);
            for scope in &scopes {
                if is_parity != (scope.name == PARITY_SCOPE) {
                    continue;
                }
                if let Some((_, reason)) = outcome.not_run.iter().find(|(id, _)| id.as_str() == check.id) {
                    cases.push(Case::skipped(check.id.clone(), scope.name.clone(), *reason));
                    continue;
                }
                let found = outcome.findings.iter().filter(|f| in_scope(f, &scope.name)).cloned().collect();
                cases.push(Case::from_findings(check.id.clone(), scope.name.clone(), found));
            }
        }
        Report { title: "kubegate check".into(), subject: None, checks, scopes, cases, duration }
    }

    /// The check with id `id`.
    pub fn check(&self, id: &str) -> Option<&CheckInfo> {
        self.checks.iter().find(|c| c.id == id)
    }

    /// Every finding, waived ones included, in case order.
    pub fn findings(&self) -> impl Iterator<Item = &Finding> {
        self.cases.iter().flat_map(|c| c.findings.iter())
    }

    /// Findings that fail the run.
    pub fn failing(&self) -> impl Iterator<Item = &Finding> {
        self.findings().filter(|f| fails(f))
    }

    /// Findings a waiver covers.
    pub fn waived(&self) -> impl Iterator<Item = &Finding> {
        self.findings().filter(|f| f.waived.is_some())
    }

    /// Findings neither failing nor waived (`info`).
    pub fn notes(&self) -> impl Iterator<Item = &Finding> {
        self.findings().filter(|f| f.waived.is_none() && !fails(f))
    }

    /// True when no case failed.
    pub fn passed(&self) -> bool {
        self.cases.iter().all(|c| c.status != Status::Failed)
    }

    /// `Findings` when a case failed, else `Success`.
    pub fn exit_code(&self) -> ExitCode {
        if self.passed() { ExitCode::Success } else { ExitCode::Findings }
    }

    /// Number of cases per status.
    pub fn status_counts(&self) -> BTreeMap<Status, usize> {
        let mut counts = BTreeMap::new();
        for c in &self.cases {
            *counts.entry(c.status).or_insert(0) += 1;
        }
        counts
    }

    /// Families in first-seen (catalog) order.
    pub fn families(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for c in &self.checks {
            if !out.contains(&c.family.as_str()) {
                out.push(&c.family);
            }
        }
        out
    }

    /// Render in `format`.
    pub fn render(&self, format: Format, opts: RenderOptions) -> Result<String, RenderReportError> {
        match format {
            Format::Text => Ok(text::render(self, opts)),
            Format::Json => json::render(self),
            Format::Sarif => sarif::render(self),
            Format::Junit => junit::render(self),
            Format::Markdown => Ok(markdown::render(self)),
        }
    }
}

/// Lower-case severity name.
pub(crate) fn severity_name(s: Severity) -> &'static str {
    match s {
        Severity::Info => "info",
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High => "high",
        Severity::Critical => "critical",
    }
}

/// `file:line` of a finding's source, relative to the current directory
/// when it lies below it (shorter, and what editors and SARIF viewers resolve).
pub(crate) fn source_text(f: &Finding) -> Option<String> {
    let s = f.source.as_ref()?;
    let file = display_path(&s.file);
    Some(match s.line {
        Some(l) => format!("{file}:{l}"),
        None => file,
    })
}

/// `p` relative to the current directory when below it, with `/` separators.
pub(crate) fn display_path(p: &Path) -> String {
    let rel = std::env::current_dir()
        .ok()
        .and_then(|cwd| p.strip_prefix(&cwd).ok().map(Path::to_path_buf))
        .unwrap_or_else(|| p.to_path_buf());
    let s = rel.to_string_lossy().replace('\\', "/");
    s.strip_prefix("./").map(str::to_string).unwrap_or(s)
}

/// Findings that differ only by deploy path, merged so the same broken
/// field on both paths reads as one line (`raw+helm`).
pub(crate) struct Merged<'a> {
    /// The first finding (rule, object, field, message are shared).
    pub finding: &'a Finding,
    /// Every merged finding, one per path.
    pub members: Vec<&'a Finding>,
}

impl Merged<'_> {
    /// `raw`, `helm` or `raw+helm`.
    pub fn paths(&self) -> String {
        let mut paths: Vec<DeployPath> = self.members.iter().map(|f| f.path).collect();
        paths.sort();
        paths.dedup();
        paths.iter().map(ToString::to_string).collect::<Vec<_>>().join("+")
    }

    /// Distinct `file:line` sources of the members.
    pub fn sources(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for s in self.members.iter().filter_map(|f| source_text(f)) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }

    /// Distinct commands that show the rendered documents of the members (the Helm path's).
    pub fn shows(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for s in self.members.iter().filter_map(|f| f.source.as_ref()?.show.as_deref()) {
            if !out.contains(&s) {
                out.push(s);
            }
        }
        out
    }
}

/// Merge findings that differ only by path (and source), keeping order.
pub(crate) fn merge_paths<'a>(findings: impl IntoIterator<Item = &'a Finding>) -> Vec<Merged<'a>> {
    let mut out: Vec<Merged<'a>> = Vec::new();
    for f in findings {
        let same = |g: &Finding| {
            g.rule_id == f.rule_id
                && g.object == f.object
                && g.field == f.field
                && g.message == f.message
                && g.waived == f.waived
                && g.path != f.path
        };
        match out.iter_mut().find(|m| m.members.iter().all(|g| same(g))) {
            Some(m) => m.members.push(f),
            None => out.push(Merged { finding: f, members: vec![f] }),
        }
    }
    out
}

#[cfg(test)]
pub(crate) mod tests;
