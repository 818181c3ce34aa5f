//! What a check found: every rule applied to already-loaded models, the
//! paths compared, waivers applied. Loading (files, `helm template`) is the
//! `kubegate` crate's `check::run`; this is the part with no I/O.

use std::path::PathBuf;

use kubegate_core::config::Config;
use kubegate_core::contract::Contract;
use kubegate_core::exit::ExitCode;
use kubegate_core::finding::{DeployPath, Finding};
use kubegate_core::model::Model;

use crate::parity::ParityDiff;
use crate::rules::RuleContext;

/// One deploy path that was checked.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CheckedPath {
    /// raw or helm.
    pub path: DeployPath,
    /// Manifests directory or chart directory.
    pub source: PathBuf,
    /// Number of objects read (helm hooks included).
    pub objects: usize,
}

/// The result of a check.
#[derive(Debug, Clone, serde::Serialize)]
pub struct CheckOutcome {
    /// Every finding, waived ones included (`waived: Some(reason)`), sorted
    /// by path, object, rule.
    pub findings: Vec<Finding>,
    /// Raw-vs-Helm differences (also present as KG-PARITY findings).
    pub parity: Vec<ParityDiff>,
    /// The paths checked, with object counts.
    pub checked: Vec<CheckedPath>,
    /// Number of rules in the catalog that were applied.
    pub rules: usize,
    /// Rules that were not run, with why (the contract rules without a contract): neither passed nor failed.
    pub not_run: Vec<(kubegate_core::rule_id::RuleId, &'static str)>,
}

impl CheckOutcome {
    /// Findings not covered by a waiver.
    pub fn unwaived(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.waived.is_none())
    }

    /// Findings a waiver covers.
    pub fn waived(&self) -> impl Iterator<Item = &Finding> {
        self.findings.iter().filter(|f| f.waived.is_some())
    }

    /// `Findings` if any unwaived finding above Info, else `Success`.
    pub fn exit_code(&self) -> ExitCode {
        if self.unwaived().any(|f| f.severity > kubegate_core::finding::Severity::Info) {
            ExitCode::Findings
        } else {
            ExitCode::Success
        }
    }
}

/// A `kubegate.io/waive` annotation is malformed: the check cannot say
/// which findings it covers, so it judges nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid waiver annotation on {object} ({path} path): {problem}\n  fix: write `kubegate.io/waive: KG-XXX-NNN=reason[,KG-YYY-NNN=reason]`"
)]
pub struct InvalidWaiver {
    /// `Kind/name`.
    pub object: String,
    /// raw or helm.
    pub path: DeployPath,
    /// What is wrong.
    pub problem: String,
}

/// Apply every rule to already-loaded models (no file or helm access):
/// what [`run`] does after loading, usable by tests and other front ends.
pub fn check_models(
    config: &Config,
    raw: Option<&Model>,
    helm: Option<&Model>,
    contract: Option<&Contract>,
    chart_values: Option<&serde_json::Value>,
    apps: &[kubegate_core::app_routes::AppSource],
) -> Result<CheckOutcome, InvalidWaiver> {
    let mut findings = Vec::new();
    let mut checked = Vec::new();
    let models: Vec<&Model> = raw.into_iter().chain(helm).collect();
    for model in &models {
        if let Some((object, problem)) = crate::waiver::invalid_annotations(model).into_iter().next() {
            return Err(InvalidWaiver { object, path: model.path, problem });
        }
        let ctx = RuleContext {
            config,
            model,
            contract,
            chart_values: if model.path == DeployPath::Helm { chart_values } else { None },
            apps,
        };
        findings.extend(crate::rules::check_model(&ctx));
        checked.push(CheckedPath { path: model.path, source: model.root.clone(), objects: model.objects.len() });
    }
    let parity = match (raw, helm) {
        (Some(r), Some(h)) => {
            let diffs = crate::parity::compare(r, h, config);
            findings.extend(crate::parity::findings(&diffs, r, h));
            diffs
        }
        _ => Vec::new(),
    };
    crate::waiver::apply(&mut findings, config, &models);
    findings.sort_by(|a, b| (a.path, &a.object, &a.rule_id, &a.field).cmp(&(b.path, &b.object, &b.rule_id, &b.field)));
    findings.dedup();
    let not_run = crate::rules::catalog()
        .iter()
        .filter_map(|r| Some((r.id, crate::rules::not_run_reason(r, contract)?)))
        .collect();
    Ok(CheckOutcome { findings, parity, checked, rules: crate::rules::catalog().len(), not_run })
}
