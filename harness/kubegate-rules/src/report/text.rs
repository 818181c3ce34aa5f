//! Terminal text: first a short summary per rule (id, severity, count, the
//! objects, one fix; worst rule first), then the details: findings grouped by
//! object (worst object first), each with rule id, severity, path, field,
//! message, source, the command that shows a Helm finding's rendered document
//! and `fix:`; waived findings in their own section; one summary line
//! last, where the eye lands.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use super::{Merged, RenderOptions, Report, display_path, merge_paths, severity_name};
use kubegate_core::finding::{Finding, ObjectRef, Severity};

/// ANSI styling that collapses to nothing without colour.
struct Style {
    on: bool,
}

impl Style {
    fn paint(&self, code: &str, s: &str) -> String {
        if self.on { format!("\x1b[{code}m{s}\x1b[0m") } else { s.to_string() }
    }
    fn bold(&self, s: &str) -> String {
        self.paint("1", s)
    }
    fn dim(&self, s: &str) -> String {
        self.paint("2", s)
    }
    fn severity(&self, sev: Severity) -> String {
        // Padded before painting so columns line up with and without colour.
        let name = format!("{:<8}", severity_name(sev));
        let code = match sev {
            Severity::Critical => "1;31",
            Severity::High => "31",
            Severity::Medium => "33",
            Severity::Low => "36",
            Severity::Info => "2",
        };
        self.paint(code, &name)
    }
}

pub(super) fn render(report: &Report, opts: RenderOptions) -> String {
    let st = Style { on: opts.color };
    let mut out = String::new();

    let _ = writeln!(out, "{}", st.bold(&header(report)));

    // Failing and informational findings: per rule first, then grouped by object.
    let shown: Vec<&Finding> = report.findings().filter(|f| f.waived.is_none()).collect();
    write_rule_summary(&mut out, &st, report, &shown);
    let mut groups: BTreeMap<&ObjectRef, Vec<&Finding>> = BTreeMap::new();
    for f in &shown {
        groups.entry(&f.object).or_default().push(f);
    }
    let mut groups: Vec<(&ObjectRef, Vec<&Finding>)> = groups.into_iter().collect();
    // Worst object first; the BTreeMap order breaks ties by kind and name.
    groups.sort_by_key(|(_, fs)| std::cmp::Reverse(fs.iter().map(|f| f.severity).max()));
    for (object, mut findings) in groups {
        findings.sort_by(|a, b| b.severity.cmp(&a.severity).then_with(|| a.rule_id.cmp(&b.rule_id)));
        let ns = object.namespace.as_deref().map(|n| format!("  (namespace {n})")).unwrap_or_default();
        let _ = writeln!(out, "\n{}{}", st.bold(&object.to_string()), st.dim(&ns));
        for m in merge_paths(findings) {
            write_finding(&mut out, &st, &m);
        }
    }

    let waived: Vec<&Finding> = report.waived().collect();
    if !waived.is_empty() {
        let _ = writeln!(out, "\n{}", st.bold(&format!("Waived ({}), not failing the run:", waived.len())));
        for m in merge_paths(waived) {
            let f = m.finding;
            let _ = writeln!(
                out,
                "  {}  {}  {:<8}  {}{}",
                st.bold(&f.rule_id),
                st.severity(f.severity),
                m.paths(),
                f.object,
                f.field.as_deref().map(|x| format!(" {x}")).unwrap_or_default(),
            );
            let _ = writeln!(out, "      reason: {}", f.waived.as_deref().unwrap_or_default());
        }
    }

    let skipped: Vec<_> = report.cases.iter().filter(|c| c.status == super::Status::Skipped).collect();
    if !skipped.is_empty() {
        let _ = writeln!(out, "\n{}", st.bold(&format!("Skipped ({}):", skipped.len())));
        for c in skipped {
            let _ = writeln!(out, "  {}  {}  {}", c.check, c.scope, c.note.as_deref().unwrap_or_default());
        }
    }

    let _ = writeln!(out, "\n{}", summary(report, &st));
    out
}

/// Objects named per rule before the list is cut short.
const SUMMARY_OBJECTS: usize = 4;

/// One block per rule with unwaived findings: `KG-X-001  high  3x  title`, the objects, one fix.
fn write_rule_summary(out: &mut String, st: &Style, report: &Report, shown: &[&Finding]) {
    let mut rules: Vec<(&str, Vec<&Finding>)> = Vec::new();
    for f in shown {
        match rules.iter_mut().find(|(id, _)| *id == f.rule_id) {
            Some((_, fs)) => fs.push(f),
            None => rules.push((&f.rule_id, vec![f])),
        }
    }
    if rules.len() < 2 {
        return;
    }
    let worst = |fs: &[&Finding]| fs.iter().map(|f| f.severity).max();
    rules.sort_by(|a, b| worst(&b.1).cmp(&worst(&a.1)).then_with(|| b.1.len().cmp(&a.1.len())).then(a.0.cmp(b.0)));
    let _ = writeln!(out, "\n{}", st.bold(&format!("By rule ({} rules, worst first; details below):", rules.len())));
    for (id, fs) in rules {
        let check = report.check(id);
        let mut objects: Vec<String> = Vec::new();
        for f in &fs {
            let o = f.object.to_string();
            if !objects.contains(&o) {
                objects.push(o);
            }
        }
        let more = objects.len().saturating_sub(SUMMARY_OBJECTS);
        objects.truncate(SUMMARY_OBJECTS);
        if more > 0 {
            objects.push(format!("+{more} more"));
        }
        let _ = writeln!(
            out,
            "  {}  {}  {:>3}x  {}",
            st.bold(id),
            st.severity(worst(&fs).unwrap_or(Severity::Info)),
            fs.len(),
            check.map(|c| c.title.as_str()).unwrap_or_default()
        );
        let _ = writeln!(out, "      {}", objects.join(", "));
        if let Some(fix) = check.map(|c| c.fix.as_str()).filter(|f| !f.is_empty()) {
            let _ = writeln!(out, "      {} {fix}", st.paint("32", "fix:"));
        }
    }
    let _ = writeln!(out, "\n{}", st.bold("Details:"));
}

fn write_finding(out: &mut String, st: &Style, m: &Merged<'_>) {
    let f = m.finding;
    let _ = writeln!(
        out,
        "  {}  {}  {:<8}  {}",
        st.bold(&f.rule_id),
        st.severity(f.severity),
        m.paths(),
        f.field.as_deref().unwrap_or("-"),
    );
    let _ = writeln!(out, "      {}", f.message);
    let sources = m.sources();
    if !sources.is_empty() {
        let _ = writeln!(out, "      {}", st.dim(&format!("at {}", sources.join(", "))));
    }
    for show in m.shows() {
        let _ = writeln!(out, "      {}", st.dim(&format!("rendered: {show}")));
    }
    let _ = writeln!(out, "      {} {}", st.paint("32", "fix:"), f.fix);
}

/// `kubegate check: raw 12 objects (manifests), helm 13 objects (charts/x), parity; 52 rules`.
fn header(report: &Report) -> String {
    let scopes: Vec<String> = report
        .scopes
        .iter()
        .map(|s| {
            let mut t = s.name.clone();
            if let Some(n) = s.objects {
                let _ = write!(t, " {n} objects");
            }
            if let Some(src) = &s.source {
                let _ = write!(t, " ({})", display_path(src));
            }
            t
        })
        .collect();
    format!("{}: {}; {} checks", report.title, scopes.join(", "), report.checks.len())
}

/// The last line: verdict, counts by severity, by scope, waived, cases.
fn summary(report: &Report, st: &Style) -> String {
    let failing: Vec<&Finding> = report.failing().collect();
    let mut by_sev: BTreeMap<std::cmp::Reverse<Severity>, usize> = BTreeMap::new();
    for f in &failing {
        *by_sev.entry(std::cmp::Reverse(f.severity)).or_insert(0) += 1;
    }
    let sev_text: Vec<String> = by_sev.iter().map(|(s, n)| format!("{n} {}", severity_name(s.0))).collect();
    let per_scope: Vec<String> = report
        .scopes
        .iter()
        .map(|s| {
            let n = report
                .cases
                .iter()
                .filter(|c| c.scope == s.name)
                .flat_map(|c| &c.findings)
                .filter(|f| super::fails(f))
                .count();
            format!("{} {n}", s.name)
        })
        .collect();
    let objects = {
        let mut o: Vec<&ObjectRef> = failing.iter().map(|f| &f.object).collect();
        o.sort();
        o.dedup();
        o.len()
    };
    let counts = report.status_counts();
    let cases = report.cases.len();
    let passed = counts.get(&super::Status::Passed).copied().unwrap_or(0)
        + counts.get(&super::Status::Waived).copied().unwrap_or(0);
    let waived = report.waived().count();
    let duration = report.duration.map(|d| format!(" in {:.2} s", d.as_secs_f64())).unwrap_or_default();
    if report.passed() {
        format!(
            "{}  no findings on {}; {passed}/{cases} cases passed; {waived} waived{duration}",
            st.paint("1;32", "PASS"),
            report.scopes.iter().map(|s| s.name.as_str()).collect::<Vec<_>>().join(", "),
        )
    } else {
        format!(
            "{}  {} finding{} ({}) in {objects} object{}; by scope: {}; {waived} waived; {passed}/{cases} cases passed{duration}",
            st.paint("1;31", "FAIL"),
            failing.len(),
            if failing.len() == 1 { "" } else { "s" },
            sev_text.join(", "),
            if objects == 1 { "" } else { "s" },
            per_scope.join(", "),
        )
    }
}
