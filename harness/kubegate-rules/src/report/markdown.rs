//! Markdown for a pull request or a CI summary: the verdict, a pass/fail
//! table per family and scope, then the findings grouped by object, then
//! the waivers with their reasons (listed apart: they do not fail the run).

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Report, Status, merge_paths, severity_name};
use kubegate_core::finding::{Finding, ObjectRef};

/// Escape what would break a table cell or start markup.
fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

pub(super) fn render(report: &Report) -> String {
    let mut out = String::new();
    let failing = report.failing().count();
    let waived = report.waived().count();
    let verdict = if report.passed() { "✅ PASS".to_string() } else { format!("❌ FAIL: {failing} finding(s)") };
    let _ = writeln!(out, "# {}: {verdict}, {waived} waived\n", report.title);
    for s in &report.scopes {
        let objects = s.objects.map(|n| format!(": {n} objects")).unwrap_or_default();
        let source = s.source.as_deref().map(|p| format!(" from `{}`", super::display_path(p))).unwrap_or_default();
        let _ = writeln!(out, "- **{}**{objects}{source}", s.name);
    }

    // Table: one row per family, one column per scope, "passed/total".
    let _ = writeln!(
        out,
        "\n| family | {} |",
        report.scopes.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(" | ")
    );
    let _ = writeln!(out, "|---|{}", "---|".repeat(report.scopes.len()));
    for family in report.families() {
        let mut row = format!("| {family} |");
        for scope in &report.scopes {
            let cases: Vec<_> = report
                .cases
                .iter()
                .filter(|c| c.scope == scope.name && report.check(&c.check).is_some_and(|k| k.family == family))
                .collect();
            if cases.is_empty() {
                row.push_str(" – |");
                continue;
            }
            let failed: Vec<&str> =
                cases.iter().filter(|c| c.status == Status::Failed).map(|c| c.check.as_str()).collect();
            let ok = cases.iter().filter(|c| matches!(c.status, Status::Passed | Status::Waived)).count();
            let mark = if failed.is_empty() { "✅" } else { "❌" };
            let detail = if failed.is_empty() { String::new() } else { format!(" ({})", failed.join(", ")) };
            let _ = write!(row, " {mark} {ok}/{}{detail} |", cases.len());
        }
        let _ = writeln!(out, "{row}");
    }

    let shown: Vec<&Finding> = report.findings().filter(|f| f.waived.is_none()).collect();
    if !shown.is_empty() {
        let _ = writeln!(out, "\n## Findings\n");
        let mut groups: BTreeMap<&ObjectRef, Vec<&Finding>> = BTreeMap::new();
        for f in shown {
            groups.entry(&f.object).or_default().push(f);
        }
        for (object, mut findings) in groups {
            findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.rule_id.cmp(&b.rule_id)));
            let ns = object.namespace.as_deref().map(|n| format!(" (namespace `{n}`)")).unwrap_or_default();
            let _ = writeln!(out, "### {object}{ns}\n");
            for m in merge_paths(findings) {
                let f = m.finding;
                let field = f.field.as_deref().map(|x| format!(" `{x}`")).unwrap_or_default();
                let at = m.sources().iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
                let at = if at.is_empty() { at } else { format!(" at {at}") };
                let shows = m.shows().iter().map(|s| format!("`{s}`")).collect::<Vec<_>>().join(", ");
                let at = if shows.is_empty() { at } else { format!("{at} (rendered: {shows})") };
                let _ = writeln!(
                    out,
                    "- **{}** ({}, {}){field}: {}{at}  \n  fix: {}",
                    f.rule_id,
                    severity_name(f.severity),
                    m.paths(),
                    f.message,
                    f.fix
                );
            }
            out.push('\n');
        }
    }

    let waived: Vec<&Finding> = report.waived().collect();
    if !waived.is_empty() {
        let _ = writeln!(out, "\n## Waived\n\n| rule | path | object | field | reason |\n|---|---|---|---|---|");
        for m in merge_paths(waived) {
            let f = m.finding;
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                f.rule_id,
                m.paths(),
                cell(&f.object.to_string()),
                cell(f.field.as_deref().unwrap_or("-")),
                cell(f.waived.as_deref().unwrap_or_default())
            );
        }
    }

    let skipped: Vec<_> = report.cases.iter().filter(|c| c.status == Status::Skipped).collect();
    if !skipped.is_empty() {
        let _ = writeln!(out, "\n## Skipped\n");
        for c in skipped {
            let _ = writeln!(out, "- {} ({}): {}", c.check, c.scope, c.note.as_deref().unwrap_or_default());
        }
    }
    out
}
