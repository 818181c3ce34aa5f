//! KG-API: only stable apiVersions. Enforced by the model loader: a
//! non-stable apiVersion is bad input (exit 2), not a finding.

use super::{Check, Rule, RuleId};
use crate::finding::Severity;

pub(super) const RULES: &[Rule] = &[STABLE_API_VERSIONS];

const STABLE_API_VERSIONS: Rule = Rule {
    id: RuleId::Api001,
    severity: Severity::Medium,
    title: "only stable apiVersions",
    rationale: "alpha/beta APIs disappear between Kubernetes versions. Enforced while loading (exit 2).",
    fix: "Use the stable apiVersion (apps/v1, autoscaling/v2, policy/v1, networking.k8s.io/v1).",
    check: Check::AtLoad,
};
