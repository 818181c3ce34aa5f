//! SARIF 2.1.0 (what code-scanning UIs ingest): one run, the checks as
//! `tool.driver.rules`, each finding a result at its file and line; waived
//! findings carry a suppression with the waiver's reason.

use std::collections::BTreeMap;

use serde_sarif::sarif;

use super::{RenderReportError, Report, severity_name};
use kubegate_core::finding::{Finding, Severity};

/// SARIF level of a severity: what blocks a merge is an error.
fn level(s: Severity) -> sarif::ResultLevel {
    match s {
        Severity::Critical | Severity::High => sarif::ResultLevel::Error,
        Severity::Medium => sarif::ResultLevel::Warning,
        Severity::Low | Severity::Info => sarif::ResultLevel::Note,
    }
}

fn props(pairs: impl IntoIterator<Item = (&'static str, serde_json::Value)>, tags: Vec<String>) -> sarif::PropertyBag {
    let additional: BTreeMap<String, serde_json::Value> = pairs.into_iter().map(|(k, v)| (k.to_string(), v)).collect();
    if tags.is_empty() {
        sarif::PropertyBag::builder().additional_properties(additional).build()
    } else {
        sarif::PropertyBag::builder().tags(tags).additional_properties(additional).build()
    }
}

fn result(f: &Finding, rule_index: Option<usize>) -> sarif::Result {
    let field = f.field.as_deref().map(|x| format!(" {x}")).unwrap_or_default();
    let text = format!("{}{field} ({} path): {} Fix: {}", f.object, f.path, f.message, f.fix);
    let logical = sarif::LogicalLocation::builder()
        .name(f.object.name.clone())
        .fully_qualified_name(format!(
            "{}{}{field}",
            f.object.namespace.as_deref().map(|n| format!("{n}/")).unwrap_or_default(),
            f.object
        ))
        .kind(f.object.kind.clone())
        .build();
    let location = match &f.source {
        Some(src) => {
            let artifact = sarif::ArtifactLocation::builder().uri(super::display_path(&src.file)).build();
            let physical = match src.line {
                Some(line) => sarif::PhysicalLocation::builder()
                    .artifact_location(artifact)
                    .region(sarif::Region::builder().start_line(line as i64).build())
                    .build(),
                None => sarif::PhysicalLocation::builder().artifact_location(artifact).build(),
            };
            sarif::Location::builder().physical_location(physical).logical_locations(vec![logical]).build()
        }
        None => sarif::Location::builder().logical_locations(vec![logical]).build(),
    };
    let mut pairs = vec![
        ("path", serde_json::json!(f.path)),
        ("severity", serde_json::json!(severity_name(f.severity))),
        ("object", serde_json::json!(f.object)),
        ("field", serde_json::json!(f.field)),
        ("fix", serde_json::json!(f.fix)),
    ];
    // A Helm finding: the command that prints the rendered document its template line belongs to.
    if let Some(show) = f.source.as_ref().and_then(|s| s.show.as_deref()) {
        pairs.push(("show", serde_json::json!(show)));
    }
    let properties = props(pairs, Vec::new());
    let base = sarif::Result::builder()
        .rule_id(f.rule_id.clone())
        .message(sarif::Message::builder().text(text).build())
        .level(level(f.severity))
        .locations(vec![location])
        .properties(properties);
    match (rule_index, &f.waived) {
        (Some(i), Some(reason)) => base.rule_index(i as i64).suppressions(vec![suppression(reason)]).build(),
        (Some(i), None) => base.rule_index(i as i64).build(),
        (None, Some(reason)) => base.suppressions(vec![suppression(reason)]).build(),
        (None, None) => base.build(),
    }
}

/// A waiver as a SARIF suppression (`external`: kubegate.toml or an
/// annotation, both outside the analysed line).
fn suppression(reason: &str) -> sarif::Suppression {
    sarif::Suppression::builder()
        .kind(serde_json::json!("external"))
        .status(serde_json::json!("accepted"))
        .justification(reason.to_string())
        .build()
}

pub(super) fn render(report: &Report) -> Result<String, RenderReportError> {
    let rules: Vec<sarif::ReportingDescriptor> = report
        .checks
        .iter()
        .map(|c| {
            sarif::ReportingDescriptor::builder()
                .id(c.id.clone())
                .name(c.title.clone())
                .short_description(sarif::MultiformatMessageString::builder().text(c.title.clone()).build())
                .full_description(sarif::MultiformatMessageString::builder().text(c.rationale.clone()).build())
                .help(sarif::MultiformatMessageString::builder().text(format!("Fix: {}", c.fix)).build())
                .default_configuration(
                    sarif::ReportingConfiguration::builder().level(serde_json::json!(level(c.severity))).build(),
                )
                .properties(props([("severity", serde_json::json!(severity_name(c.severity)))], vec![c.family.clone()]))
                .build()
        })
        .collect();
    let results: Vec<sarif::Result> =
        report.findings().map(|f| result(f, report.checks.iter().position(|c| c.id == f.rule_id))).collect();
    let driver = sarif::ToolComponent::builder()
        .name("kubegate")
        .version(env!("CARGO_PKG_VERSION"))
        .information_uri("https://example.invalid/kubegate")
        .rules(rules)
        .build();
    let invocation = sarif::Invocation::builder().execution_successful(true).build();
    let run =
        sarif::Run::builder().tool(sarif::Tool::from(driver)).results(results).invocations(vec![invocation]).build();
    let log =
        sarif::Sarif::builder().schema(sarif::SCHEMA_URL).version(serde_json::json!("2.1.0")).runs(vec![run]).build();
    serde_json::to_string_pretty(&log)
        .map(|mut s| {
            s.push('\n');
            s
        })
        .map_err(|source| RenderReportError::Json { format: "sarif", source })
}
