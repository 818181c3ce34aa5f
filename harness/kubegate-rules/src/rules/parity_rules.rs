//! KG-PARITY: the raw manifests and the rendered chart deploy the same
//! system. Applied by [`crate::parity`], which compares the two models.

use super::{Check, Rule, RuleId};
use kubegate_core::finding::Severity;

pub(super) const RULES: &[Rule] = &[PARITY_FIELDS, PARITY_OBJECTS];

/// KG-PARITY-001: an object differs between the paths.
pub const PARITY_FIELDS: Rule = Rule {
    id: RuleId::Parity001,
    severity: Severity::High,
    title: "raw and Helm objects are identical field by field",
    rationale: "AD-2: both deploy paths must produce the same running system.",
    fix: "Change the chart (or its values) or the manifest so both agree.",
    check: Check::Parity,
};

/// KG-PARITY-002: an object exists on one path only.
pub const PARITY_OBJECTS: Rule = Rule {
    id: RuleId::Parity002,
    severity: Severity::High,
    title: "raw and Helm paths render the same set of objects",
    rationale: "An object on one path only means the paths deploy different systems.",
    fix: "Add the object to the other path, or remove it.",
    check: Check::Parity,
};
