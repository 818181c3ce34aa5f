//! The constitution: every rule kubegate checks, with a stable id, and the
//! plain functions (one module per family) that apply them to a [`Model`].
//!
//! Ids never change meaning; a retired rule keeps its id reserved. The
//! catalog is the single source for `docs/rules.md` and for report texts.

pub use kubegate_core::rule_id::{RuleId, UnknownRuleId};

use k8s_openapi::api::core::v1::Container;
use kubegate_core::config::Config;
use kubegate_core::contract::Contract;
use kubegate_core::finding::{Finding, ObjectRef, Severity, SourceLocation};
use kubegate_core::model::{Model, Object, PodView, join_index};

mod api;
mod contract_rules;
pub mod docs;
mod env;
mod hpa;
mod image;
mod label;
mod net;
mod ns;
mod parity_rules;
mod probe;
mod resources;
mod secret;
mod security;
mod service;
#[cfg(any(test, feature = "testkit"))]
pub mod testkit;
mod url;
mod workload;

pub use parity_rules::{PARITY_FIELDS, PARITY_OBJECTS};
pub use resources::parse_quantity;
pub use url::{Url, in_cluster_service, urls};
pub use workload::{RolloutStrategy, rollout_strategy};

/// One rule of the catalog: its id, what it asserts and why, the generic fix,
/// and how it is applied. Each family's file declares its rules as `const`
/// items next to their functions and lists them in its `RULES`.
#[derive(Debug, Clone, Copy)]
pub struct Rule {
    /// Stable id, `KG-<FAMILY>-<NNN>`.
    pub id: RuleId,
    /// Severity of a finding.
    pub severity: Severity,
    /// What the rule asserts, one line.
    pub title: &'static str,
    /// Why it matters, one line.
    pub rationale: &'static str,
    /// Generic fix hint (findings carry a specific one).
    pub fix: &'static str,
    /// How the rule is applied.
    pub check: Check,
}

impl Rule {
    /// Family (`PROBE`, `SEC`, ...), the middle part of the id.
    pub const fn family(&self) -> &'static str {
        self.id.family()
    }
}

/// How a rule is applied.
#[derive(Debug, Clone, Copy)]
pub enum Check {
    /// A function over one deploy path's model, reporting into a [`Sink`]
    /// that is bound to the rule.
    Model(fn(&RuleContext<'_>, &mut Sink<'_>)),
    /// Enforced while the model loads: a violation is bad input (exit 2).
    AtLoad,
    /// Comparing the two deploy paths ([`crate::parity`]).
    Parity,
}

/// The families, in catalog (and report) order.
static FAMILIES: &[&[Rule]] = &[
    resources::RULES,
    probe::RULES,
    security::RULES,
    image::RULES,
    secret::RULES,
    env::RULES,
    service::RULES,
    workload::RULES,
    ns::RULES,
    label::RULES,
    api::RULES,
    net::RULES,
    url::RULES,
    hpa::RULES,
    contract_rules::RULES,
    parity_rules::RULES,
];

static CATALOG: std::sync::LazyLock<Vec<Rule>> =
    std::sync::LazyLock::new(|| FAMILIES.iter().flat_map(|f| f.iter().copied()).collect());

/// Every rule kubegate knows, in id order within families.
pub fn catalog() -> &'static [Rule] {
    &CATALOG
}

/// What a rule function sees: the configuration, one path's model, the contract.
pub struct RuleContext<'a> {
    /// The deployment under test.
    pub config: &'a Config,
    /// One deploy path's objects.
    pub model: &'a Model,
    /// The OpenAPI contract, when the config names one.
    pub contract: Option<&'a Contract>,
    /// Helm chart's `values.yaml` (defaults) as JSON, on the Helm path.
    pub chart_values: Option<&'a serde_json::Value>,
    /// The apps the repository's Dockerfiles build, with the routes their source declares (KG-PROBE-006).
    pub apps: &'a [kubegate_core::app_routes::AppSource],
}

/// Where one rule's function reports: bound to that rule (it fills the id,
/// severity and generic fix) and to the deploy path being checked.
pub struct Sink<'a> {
    rule: &'static Rule,
    path: kubegate_core::finding::DeployPath,
    findings: &'a mut Vec<Finding>,
}

impl Sink<'_> {
    /// Report the rule on `obj` at `field` with a message naming actual values.
    pub(crate) fn report(
        &mut self,
        obj: &Object,
        field: impl Into<Option<String>>,
        message: String,
        fix: Option<String>,
    ) {
        let field = field.into();
        let source = Some(SourceLocation {
            file: obj.source.file.clone(),
            line: field.as_deref().and_then(|f| obj.line_of(f)).or(obj.source.line),
            show: obj.source.show.clone(),
        });
        self.report_ref(obj.object_ref(), field, message, fix, source);
    }

    /// Report on something that is not a single object (a missing Deployment, the contract).
    pub(crate) fn report_ref(
        &mut self,
        object: ObjectRef,
        field: Option<String>,
        message: String,
        fix: Option<String>,
        source: Option<SourceLocation>,
    ) {
        self.findings.push(self.rule.finding(self.path, object, field, message, fix, source));
    }
}

impl Rule {
    /// A finding of this rule (not waived), with the generic fix unless `fix` is given.
    pub(crate) fn finding(
        &self,
        path: kubegate_core::finding::DeployPath,
        object: ObjectRef,
        field: Option<String>,
        message: String,
        fix: Option<String>,
        source: Option<SourceLocation>,
    ) -> Finding {
        Finding {
            rule_id: self.id.into(),
            severity: self.severity,
            path,
            object,
            field,
            message,
            fix: fix.unwrap_or_else(|| self.fix.to_string()),
            source,
            waived: None,
        }
    }
}

/// A container of some pod spec, with the field path that leads to it.
#[derive(Clone)]
pub(crate) struct ContainerView<'a> {
    pub obj: &'a Object,
    pub pod: PodView<'a>,
    pub c: &'a Container,
    /// e.g. `spec.template.spec.containers[0]`.
    pub field: String,
    /// An init container (probes do not apply).
    pub init: bool,
}

impl ContainerView<'_> {
    /// `field` + `.rest`.
    pub fn at(&self, rest: &str) -> String {
        format!("{}.{rest}", self.field)
    }
}

/// Every container (init containers first) of every pod spec in the model.
pub(crate) fn containers(model: &Model) -> Vec<ContainerView<'_>> {
    let mut out = Vec::new();
    for (obj, pod) in model.pods() {
        let lists: [(&[Container], bool, &str); 2] = [
            (pod.spec.init_containers.as_deref().unwrap_or(&[]), true, "initContainers"),
            (&pod.spec.containers, false, "containers"),
        ];
        for (items, init, name) in lists {
            for (i, c) in items.iter().enumerate() {
                out.push(ContainerView { obj, pod, c, field: join_index(&format!("{}.{name}", pod.prefix), i), init });
            }
        }
    }
    out
}

/// Labels of a pod template (empty when none).
pub(crate) fn pod_labels<'a>(pod: &PodView<'a>) -> std::collections::BTreeMap<String, String> {
    pod.meta.and_then(|m| m.labels.clone()).unwrap_or_default()
}

/// `{a=b, c=d}` for messages.
pub(crate) fn fmt_labels(m: &std::collections::BTreeMap<String, String>) -> String {
    let inner: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
    format!("{{{}}}", inner.join(", "))
}

/// Apply every rule of the catalog that reads one path's model (the
/// load-time and parity rules aside).
pub fn check_model(ctx: &RuleContext<'_>) -> Vec<Finding> {
    let mut findings = Vec::new();
    for rule in catalog().iter().filter(|r| not_run_reason(r, ctx.contract).is_none()) {
        if let Check::Model(apply) = rule.check {
            apply(ctx, &mut Sink { rule, path: ctx.model.path, findings: &mut findings });
        }
    }
    findings
}

/// Why `rule` is not run, when it is not: the contract rules need an OpenAPI contract. Such a rule is reported
/// as not run, neither passed nor failed.
pub fn not_run_reason(rule: &Rule, contract: Option<&Contract>) -> Option<&'static str> {
    (rule.family() == contract_rules::FAMILY && contract.is_none()).then_some(
        "not run: no contract (name an OpenAPI contract with `contract = \"openapi.yaml\"` in kubegate.toml)",
    )
}

/// The containerPort number a probe/Service port refers to in `c`
/// (named ports resolved); `None` when `c` declares no such port.
pub fn resolve_port(c: &Container, port: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> Option<i32> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    let ports = c.ports.as_deref().unwrap_or(&[]);
    match port {
        IntOrString::Int(n) => ports.iter().find(|p| p.container_port == *n).map(|p| p.container_port),
        IntOrString::String(name) => match name.parse::<i32>() {
            Ok(n) => ports.iter().find(|p| p.container_port == n).map(|p| p.container_port),
            Err(_) => ports.iter().find(|p| p.name.as_deref() == Some(name.as_str())).map(|p| p.container_port),
        },
    }
}

/// A declared containerPort for messages: `8000 (http)`, or `8000` unnamed.
pub fn fmt_container_port(p: &k8s_openapi::api::core::v1::ContainerPort) -> String {
    match &p.name {
        Some(n) => format!("{} ({n})", p.container_port),
        None => p.container_port.to_string(),
    }
}

/// `8000` or `http` for messages.
pub fn fmt_port(p: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> String {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => s.clone(),
    }
}

/// Whether equality-based `selector` selects `labels` (every pair present).
pub(crate) fn selects(
    selector: &std::collections::BTreeMap<String, String>,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// Whether a LabelSelector (matchLabels and matchExpressions) selects `labels`.
/// An empty selector selects everything, as in Kubernetes.
pub(crate) fn label_selector_selects(
    sel: &k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector,
    labels: &std::collections::BTreeMap<String, String>,
) -> bool {
    let by_labels = sel.match_labels.as_ref().is_none_or(|m| selects(m, labels));
    let by_exprs = sel.match_expressions.iter().flatten().all(|e| {
        let values = e.values.as_deref().unwrap_or(&[]);
        let v = labels.get(&e.key);
        match e.operator.as_str() {
            "In" => v.is_some_and(|v| values.contains(v)),
            "NotIn" => v.is_none_or(|v| !values.contains(v)),
            "Exists" => v.is_some(),
            "DoesNotExist" => v.is_none(),
            _ => false,
        }
    });
    by_labels && by_exprs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_rule_id_has_exactly_one_rule_and_the_catalog_is_in_id_order() {
        let ids: Vec<RuleId> = catalog().iter().map(|r| r.id).collect();
        assert_eq!(ids, RuleId::ALL, "every RuleId needs one Rule, listed in its family's RULES");
        for r in catalog() {
            assert!(!r.title.is_empty() && !r.rationale.is_empty() && !r.fix.is_empty(), "{}", r.id);
        }
        assert!(catalog().len() >= 35);
    }

    #[test]
    fn each_family_declares_only_its_own_rules() {
        for family in FAMILIES {
            let first = family[0].family();
            assert!(family.iter().all(|r| r.family() == first), "family {first} lists a rule of another family");
        }
    }

    #[test]
    fn docs_rules_md_lists_every_rule_with_its_title() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../docs/rules.md"))
            .expect("docs/rules.md exists");
        for r in catalog() {
            let row = format!("| `{}` | {:?} | {} |", r.id, r.severity, r.title);
            assert!(docs.contains(&row), "docs/rules.md lacks or misstates {}: expected a row starting `{row}`", r.id);
        }
    }
}
