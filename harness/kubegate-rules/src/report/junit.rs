//! JUnit XML: one `<testsuite>` per scope (raw, helm, parity), one
//! `<testcase>` per check, so CI dashboards show which rule failed on which
//! path. A failure's message names the objects; its text lists each finding
//! with field, message, source and fix. Waived cases pass and say so in
//! `system-out`; skipped cases carry their reason.

use std::fmt::Write as _;

use quick_junit::{NonSuccessKind, Property, TestCase, TestCaseStatus, TestSuite};

use super::{RenderReportError, Report, Status, merge_paths, severity_name};

pub(super) fn render(report: &Report) -> Result<String, RenderReportError> {
    let mut junit = quick_junit::Report::new(report.title.clone());
    if let Some(d) = report.duration {
        junit.set_time(d);
    }
    for scope in &report.scopes {
        let mut suite = TestSuite::new(format!("{} ({})", report.title, scope.name));
        if let Some(n) = scope.objects {
            suite.add_property(Property::new("objects", n.to_string()));
        }
        if let Some(src) = &scope.source {
            suite.add_property(Property::new("source", super::display_path(src)));
        }
        for case in report.cases.iter().filter(|c| c.scope == scope.name) {
            let check = report.check(&case.check);
            let family = check.map(|c| c.family.as_str()).unwrap_or("OTHER");
            let title = check.map(|c| c.title.as_str()).unwrap_or_default();
            let status = match case.status {
                Status::Passed | Status::Waived => TestCaseStatus::success(),
                Status::Skipped => {
                    let mut s = TestCaseStatus::skipped();
                    if let Some(note) = &case.note {
                        s.set_message(note.clone());
                    }
                    s
                }
                Status::Failed => {
                    let failing: Vec<_> = case.findings.iter().filter(|f| super::fails(f)).collect();
                    let mut objects: Vec<String> = failing.iter().map(|f| f.object.to_string()).collect();
                    objects.dedup();
                    let mut s = TestCaseStatus::non_success(NonSuccessKind::Failure);
                    s.set_message(format!("{} finding(s) on {}", failing.len(), objects.join(", ")));
                    s.set_type(format!(
                        "{} {}",
                        case.check,
                        severity_name(
                            failing
                                .first()
                                .map_or(check.map_or(kubegate_core::finding::Severity::Info, |c| c.severity), |f| f
                                    .severity)
                        )
                    ));
                    let mut text = String::new();
                    for m in merge_paths(failing) {
                        let f = m.finding;
                        let _ = writeln!(text, "{} {}: {}", f.object, f.field.as_deref().unwrap_or("-"), f.message);
                        let sources = m.sources();
                        if !sources.is_empty() {
                            let _ = writeln!(text, "  at {}", sources.join(", "));
                        }
                        let _ = writeln!(text, "  fix: {}", f.fix);
                    }
                    s.set_description(text);
                    s
                }
            };
            let mut tc = TestCase::new(format!("{} {title}", case.check), status);
            // `kubegate.<deployment>.<path>.<family>` when the report names its deployment.
            let subject = report.subject.as_deref().map(|s| format!("{s}.")).unwrap_or_default();
            tc.set_classname(format!("kubegate.{subject}{}.{family}", scope.name));
            if let Some(d) = case.duration {
                tc.set_time(d);
            }
            let waived: Vec<String> = case
                .findings
                .iter()
                .filter_map(|f| {
                    f.waived
                        .as_ref()
                        .map(|r| format!("waived: {} {}: {r}", f.object, f.field.as_deref().unwrap_or("-")))
                })
                .collect();
            let mut out = waived.join("\n");
            if case.status != Status::Skipped
                && let Some(note) = &case.note
            {
                if !out.is_empty() {
                    out.push('\n');
                }
                out.push_str(note);
            }
            if !out.is_empty() {
                tc.set_system_out(out);
            }
            suite.add_test_case(tc);
        }
        junit.add_test_suite(suite);
    }
    junit.to_string().map_err(RenderReportError::Junit)
}
