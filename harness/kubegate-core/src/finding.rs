//! A finding: one rule that one object of one deploy path breaks. Rules
//! produce them, waivers mark them, reports print them.

use serde::{Deserialize, Serialize};
use std::path::PathBuf;

/// How bad a finding is (policy-checks.md gives each rule a suggested one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing; never fails a run on its own.
    Info,
    /// Low.
    Low,
    /// Medium.
    Medium,
    /// High.
    High,
    /// Critical.
    Critical,
}

/// The two ways the plan deploys the same application (AD-2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployPath {
    /// `manifests/` applied as they are.
    Raw,
    /// The Helm chart, rendered or installed.
    Helm,
}

impl std::fmt::Display for DeployPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            DeployPath::Raw => "raw",
            DeployPath::Helm => "helm",
        })
    }
}

/// Which Kubernetes object a finding is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectRef {
    /// `Deployment`, `Service`, ...
    pub kind: String,
    /// `metadata.name`.
    pub name: String,
    /// `metadata.namespace`, if set.
    pub namespace: Option<String>,
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// Where in the user's files an object came from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceLocation {
    /// The manifest file, or the chart template (`# Source:` of `helm template`).
    pub file: PathBuf,
    /// 1-based line of the object's start (or of the field, when known).
    pub line: Option<usize>,
    /// On the Helm path: the command that prints the rendered document the line is in
    /// (`helm template <release> <chart> -n <ns> --show-only templates/x.yaml`), since a template's line is not
    /// the rendered one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub show: Option<String>,
}

/// One rule broken by one object on one path.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable rule id, e.g. `KG-PROBE-003`.
    pub rule_id: String,
    /// Severity of the rule.
    pub severity: Severity,
    /// Deploy path the object belongs to.
    pub path: DeployPath,
    /// The object.
    pub object: ObjectRef,
    /// Field path inside the object, e.g. `spec.template.spec.containers[0].livenessProbe`.
    pub field: Option<String>,
    /// What is wrong, naming the actual values. Never contains a secret value.
    pub message: String,
    /// How to fix it.
    pub fix: String,
    /// Where the object is defined, when known.
    pub source: Option<SourceLocation>,
    /// `Some(reason)` when a waiver covers this finding; waived findings are
    /// reported separately and do not fail the run.
    pub waived: Option<String>,
}
