//! The constitution: every rule kubegate checks, with a stable id, and the
//! plain functions (one module per family) that apply them to a [`Model`].
//!
//! Ids never change meaning; a retired rule keeps its id reserved. The
//! catalog is the single source for `docs/rules.md` and for report texts.

use crate::config::Config;
use crate::contract::Contract;
use crate::finding::{Finding, ObjectRef, Severity, SourceLocation};
use crate::model::{Model, Object, PodView, join_index};
use k8s_openapi::api::core::v1::Container;

mod contract_rules;
mod env;
mod hpa;
mod image;
mod label;
mod net;
mod ns;
mod probe;
mod resources;
mod secret;
mod security;
mod service;
#[cfg(test)]
pub(crate) mod testkit;
mod workload;

pub use workload::{RolloutStrategy, rollout_strategy};

/// One rule of the catalog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Rule {
    /// Stable id, `KG-<FAMILY>-<NNN>`.
    pub id: &'static str,
    /// Family (`PROBE`, `SEC`, ...), the middle part of the id.
    pub family: &'static str,
    /// Severity of a finding.
    pub severity: Severity,
    /// What the rule asserts, one line.
    pub title: &'static str,
    /// Why it matters, one line.
    pub rationale: &'static str,
    /// Generic fix hint (findings carry a specific one).
    pub fix: &'static str,
}

macro_rules! rule {
    ($id:literal, $fam:literal, $sev:ident, $title:literal, $why:literal, $fix:literal) => {
        Rule { id: $id, family: $fam, severity: Severity::$sev, title: $title, rationale: $why, fix: $fix }
    };
}

static CATALOG: &[Rule] = &[
    rule!(
        "KG-RES-001",
        "RES",
        High,
        "CPU requests and limits are set",
        "Without them the scheduler overcommits the node and one pod can starve the others.",
        "Set resources.requests.cpu and resources.limits.cpu on every container."
    ),
    rule!(
        "KG-RES-002",
        "RES",
        High,
        "memory requests and limits are set",
        "Without a memory limit one leaking pod gets the node OOM-killed.",
        "Set resources.requests.memory and resources.limits.memory on every container."
    ),
    rule!(
        "KG-RES-003",
        "RES",
        Medium,
        "requests do not exceed limits",
        "The API server rejects a request above its limit; the pod never starts.",
        "Lower the request or raise the limit."
    ),
    rule!(
        "KG-PROBE-001",
        "PROBE",
        High,
        "liveness probe present",
        "Without it a hung process is never restarted.",
        "Add livenessProbe (httpGet on the contract's liveness path)."
    ),
    rule!(
        "KG-PROBE-002",
        "PROBE",
        High,
        "readiness probe present",
        "Without it traffic reaches pods that cannot serve yet.",
        "Add readinessProbe (httpGet on the contract's readiness path)."
    ),
    rule!(
        "KG-PROBE-003",
        "PROBE",
        Medium,
        "liveness and readiness probes differ",
        "Identical probes restart a pod whose dependency is down instead of just taking it out of rotation.",
        "Point readiness at the readiness endpoint, or waive with a reason."
    ),
    rule!(
        "KG-PROBE-004",
        "PROBE",
        High,
        "probe port is a declared containerPort",
        "A probe on an undeclared port or unknown port name always fails.",
        "Use the container port's name (e.g. `http`) or its number."
    ),
    rule!(
        "KG-PROBE-005",
        "PROBE",
        Medium,
        "probe timings fit the plan's 60 s / 90 s success criteria",
        "The plan wants pods Running within 60 s and probes passing within 90 s; slower timings fail it by construction.",
        "Lower initialDelaySeconds/periodSeconds, keep timeoutSeconds below periodSeconds."
    ),
    rule!(
        "KG-SEC-001",
        "SEC",
        High,
        "runAsNonRoot is true",
        "A root process in a container is one kernel bug from root on the node (PSS restricted).",
        "Set securityContext.runAsNonRoot: true on the pod or container."
    ),
    rule!(
        "KG-SEC-002",
        "SEC",
        Low,
        "UID/GID above the minimum (10000)",
        "Low UIDs collide with host users.",
        "Set runAsUser/runAsGroup/fsGroup to 10001 or higher."
    ),
    rule!(
        "KG-SEC-003",
        "SEC",
        Medium,
        "readOnlyRootFilesystem is true",
        "A writable root lets an attacker drop tools into the container.",
        "Set readOnlyRootFilesystem: true and mount an emptyDir where the app writes."
    ),
    rule!(
        "KG-SEC-004",
        "SEC",
        High,
        "allowPrivilegeEscalation is false",
        "setuid binaries could gain privileges (PSS restricted).",
        "Set securityContext.allowPrivilegeEscalation: false."
    ),
    rule!(
        "KG-SEC-005",
        "SEC",
        Critical,
        "container is not privileged",
        "A privileged container is root on the node (PSS baseline).",
        "Remove securityContext.privileged or set it to false."
    ),
    rule!(
        "KG-SEC-006",
        "SEC",
        High,
        "capabilities drop ALL and add none beyond the allowed",
        "Default capabilities (NET_RAW, ...) are not needed by a web service (PSS restricted).",
        "Set capabilities.drop: [ALL] and no add (NET_BIND_SERVICE at most)."
    ),
    rule!(
        "KG-SEC-007",
        "SEC",
        Medium,
        "seccompProfile is RuntimeDefault",
        "Without a seccomp profile every syscall is open (PSS restricted).",
        "Set securityContext.seccompProfile.type: RuntimeDefault."
    ),
    rule!(
        "KG-SEC-008",
        "SEC",
        Critical,
        "no hostNetwork, hostPID or hostIPC",
        "Host namespaces break pod isolation (PSS baseline).",
        "Remove hostNetwork/hostPID/hostIPC."
    ),
    rule!(
        "KG-SEC-009",
        "SEC",
        High,
        "no hostPath volumes (no docker.sock)",
        "A hostPath mount exposes the node's files; docker.sock is root on the node.",
        "Use emptyDir, a ConfigMap or a PersistentVolumeClaim."
    ),
    rule!(
        "KG-SEC-010",
        "SEC",
        Medium,
        "no hostPort",
        "hostPort ties pods to nodes and bypasses NetworkPolicy.",
        "Remove hostPort; expose through a Service."
    ),
    rule!(
        "KG-SEC-011",
        "SEC",
        Medium,
        "automountServiceAccountToken is false",
        "The pods need no Kubernetes API access; a mounted token is a free credential for an attacker.",
        "Set automountServiceAccountToken: false on the pod spec."
    ),
    rule!(
        "KG-IMG-001",
        "IMG",
        Medium,
        "image has an explicit tag (not latest)",
        "A floating tag makes the deployment irreproducible.",
        "Use an explicit version tag, e.g. `todo-chatbot-backend:0.1.0`."
    ),
    rule!(
        "KG-IMG-002",
        "IMG",
        Medium,
        "imagePullPolicy is what the plan says (Never)",
        "AD-4: images are built locally and loaded into the cluster; any pull fails.",
        "Set imagePullPolicy: Never (or change [policy].pull_policy)."
    ),
    rule!(
        "KG-IMG-003",
        "IMG",
        Medium,
        "image is the one kubegate.toml names",
        "The images suite builds and loads exactly that reference.",
        "Use the component's configured image, or update kubegate.toml."
    ),
    rule!(
        "KG-SECRET-001",
        "SECRET",
        Critical,
        "no secret literal in env values",
        "A literal in a manifest is committed to git and readable by anyone with get on the object.",
        "Read it through env.valueFrom.secretKeyRef."
    ),
    rule!(
        "KG-SECRET-002",
        "SECRET",
        Critical,
        "no secret-looking keys or values in ConfigMaps",
        "ConfigMaps are neither encrypted nor access-restricted like Secrets (P3).",
        "Move the setting to the Secret and read it with secretKeyRef."
    ),
    rule!(
        "KG-SECRET-003",
        "SECRET",
        Critical,
        "no committed Secret with data",
        "AD-5: secrets are created from the command line, never committed.",
        "Delete the Secret manifest; document `kubectl create secret generic ...`."
    ),
    rule!(
        "KG-SECRET-004",
        "SECRET",
        High,
        "no secret-looking annotations or labels",
        "Annotations are readable by anyone who can list the object.",
        "Remove the value; keep secrets in the Secret."
    ),
    rule!(
        "KG-SECRET-005",
        "SECRET",
        Critical,
        "chart values carry no secret defaults",
        "A default in values.yaml is committed and lands in every release record.",
        "Leave secret values empty and reference secrets.existingSecret."
    ),
    rule!(
        "KG-ENV-001",
        "ENV",
        Low,
        "no duplicate env var names",
        "The last one silently wins; the first is dead configuration.",
        "Remove the duplicate entry."
    ),
    rule!(
        "KG-ENV-002",
        "ENV",
        High,
        "every secretKeyRef / configMapKeyRef names a key the plan provides",
        "A missing key stops the pod in CreateContainerConfigError.",
        "Fix the key or Secret/ConfigMap name, or add the key ([secret].keys / the ConfigMap)."
    ),
    rule!(
        "KG-ENV-003",
        "ENV",
        Medium,
        "the container reads every key its component requires",
        "A required setting that is not wired in makes the app fail at start (or fall back silently).",
        "Add an env entry with secretKeyRef/configMapKeyRef, or envFrom."
    ),
    rule!(
        "KG-SVC-001",
        "SVC",
        High,
        "Service selector matches pod labels",
        "A Service selecting no pod has no endpoints; every request fails.",
        "Make spec.selector a subset of the pod template labels."
    ),
    rule!(
        "KG-SVC-002",
        "SVC",
        Medium,
        "Service targetPort names or numbers a containerPort",
        "A targetPort typo sends traffic to a closed port.",
        "Use the container port's name or number."
    ),
    rule!(
        "KG-SVC-003",
        "SVC",
        Medium,
        "Service type as planned (no NodePort)",
        "AD-3: the frontend is a LoadBalancer, the backend internal (ClusterIP).",
        "Set spec.type to the component's service_type."
    ),
    rule!(
        "KG-SVC-004",
        "SVC",
        Medium,
        "Service port as planned",
        "Clients and the frontend's BACKEND_URL use the planned port.",
        "Set spec.ports[].port to the component's service_port."
    ),
    rule!(
        "KG-WL-001",
        "WL",
        High,
        "Deployment selector matches its template labels",
        "The API server rejects a selector that does not match; a partial match adopts foreign pods.",
        "Make spec.selector.matchLabels a subset of spec.template.metadata.labels."
    ),
    rule!(
        "KG-WL-002",
        "WL",
        Medium,
        "RollingUpdate with maxSurge 1 / maxUnavailable 0",
        "P12: updates never drop below the desired replica count.",
        "Set strategy.type RollingUpdate, rollingUpdate.maxSurge 1, maxUnavailable 0."
    ),
    rule!(
        "KG-WL-003",
        "WL",
        Medium,
        "PodDisruptionBudget where replicas >= 2",
        "Without one a node drain may evict every replica at once.",
        "Add a policy/v1 PodDisruptionBudget (minAvailable 1) selecting the pods."
    ),
    rule!(
        "KG-WL-004",
        "WL",
        Low,
        "topology spread or anti-affinity where replicas >= 2",
        "Replicas on one node share its failure.",
        "Add topologySpreadConstraints (kubernetes.io/hostname) or podAntiAffinity."
    ),
    rule!(
        "KG-WL-005",
        "WL",
        Low,
        "graceful shutdown fits the grace period",
        "P12: SIGTERM handling needs the preStop pause and shutdown to finish before SIGKILL.",
        "Keep terminationGracePeriodSeconds above the preStop sleep."
    ),
    rule!(
        "KG-WL-006",
        "WL",
        High,
        "every configured component has its Deployment and container",
        "A component missing from a path means that path deploys a different system (AD-2).",
        "Add the Deployment (with the named container) or fix kubegate.toml."
    ),
    rule!(
        "KG-NS-001",
        "NS",
        Medium,
        "objects live in the planned namespace, never `default`",
        "The default namespace mixes the app with everything else; an unset namespace follows the kube context.",
        "Set metadata.namespace to the planned namespace."
    ),
    rule!(
        "KG-LABEL-001",
        "LABEL",
        Low,
        "app.kubernetes.io/* labels present and consistent",
        "Tools and selectors rely on the recommended labels; inconsistent values split the app.",
        "Set app.kubernetes.io/{name,instance,component,part-of,version} consistently."
    ),
    rule!(
        "KG-API-001",
        "API",
        Medium,
        "only stable apiVersions",
        "alpha/beta APIs disappear between Kubernetes versions. Enforced while loading (exit 2).",
        "Use the stable apiVersion (apps/v1, autoscaling/v2, policy/v1, networking.k8s.io/v1)."
    ),
    rule!(
        "KG-NET-001",
        "NET",
        Low,
        "a NetworkPolicy isolates each component that lists ingress_from",
        "Without one every pod in the cluster can reach the backend.",
        "Add a NetworkPolicy selecting the pods, policyTypes [Ingress], from the allowed components only."
    ),
    rule!(
        "KG-HPA-001",
        "HPA",
        Low,
        "an autoscaling/v2 HPA targets each component Deployment",
        "P12 asks for an autoscaler; one pointing at a missing Deployment does nothing.",
        "Add an HPA whose scaleTargetRef names the Deployment."
    ),
    rule!(
        "KG-HPA-002",
        "HPA",
        Low,
        "HPA bounds and metrics are usable",
        "CPU utilisation needs CPU requests; minReplicas above maxReplicas is rejected.",
        "Set cpu requests on the target and minReplicas <= maxReplicas."
    ),
    rule!(
        "KG-CONTRACT-001",
        "CONTRACT",
        High,
        "probe paths follow the OpenAPI contract",
        "A probe on a path the service does not implement (or on the wrong probe endpoint) fails or lies.",
        "Use the contract's x-kubegate-probe path for each probe kind."
    ),
    rule!(
        "KG-CONTRACT-002",
        "CONTRACT",
        High,
        "probes target the service's port",
        "A probe on another port checks nothing the contract promises.",
        "Probe the component's container port (by name)."
    ),
    rule!(
        "KG-CONTRACT-003",
        "CONTRACT",
        High,
        "the contract describes every component's probes",
        "Probe checks without a contract are guesses.",
        "Add the service's liveness/readiness paths (x-kubegate-service, x-kubegate-probe) to the contract."
    ),
    rule!(
        "KG-PARITY-001",
        "PARITY",
        High,
        "raw and Helm objects are identical field by field",
        "AD-2: both deploy paths must produce the same running system.",
        "Change the chart (or its values) or the manifest so both agree."
    ),
    rule!(
        "KG-PARITY-002",
        "PARITY",
        High,
        "raw and Helm paths render the same set of objects",
        "An object on one path only means the paths deploy different systems.",
        "Add the object to the other path, or remove it."
    ),
];

/// Every rule kubegate knows, in id order within families.
pub fn catalog() -> &'static [Rule] {
    CATALOG
}

/// The rule with id `id`.
pub fn rule(id: &str) -> Option<&'static Rule> {
    CATALOG.iter().find(|r| r.id == id)
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
}

/// Collects findings for one context, filling the rule's severity and fix.
pub(crate) struct Sink<'a> {
    ctx: &'a RuleContext<'a>,
    findings: Vec<Finding>,
}

impl<'a> Sink<'a> {
    fn new(ctx: &'a RuleContext<'a>) -> Self {
        Sink { ctx, findings: Vec::new() }
    }

    /// Report `rule` on `obj` at `field` with a message naming actual values.
    pub(crate) fn report(
        &mut self,
        rule_id: &str,
        obj: &Object,
        field: impl Into<Option<String>>,
        message: String,
        fix: Option<String>,
    ) {
        let field = field.into();
        let source = Some(SourceLocation {
            file: obj.source.file.clone(),
            line: field.as_deref().and_then(|f| obj.line_of(f)).or(obj.source.line),
        });
        self.report_ref(rule_id, obj.object_ref(), field, message, fix, source);
    }

    /// Report on something that is not a single object (a missing Deployment, the contract).
    pub(crate) fn report_ref(
        &mut self,
        rule_id: &str,
        object: ObjectRef,
        field: Option<String>,
        message: String,
        fix: Option<String>,
        source: Option<SourceLocation>,
    ) {
        let rule = rule(rule_id).unwrap_or_else(|| panic!("rule {rule_id} is not in the catalog"));
        self.findings.push(Finding {
            rule_id: rule.id.to_string(),
            severity: rule.severity,
            path: self.ctx.model.path,
            object,
            field,
            message,
            fix: fix.unwrap_or_else(|| rule.fix.to_string()),
            source,
            waived: None,
        });
    }
}

/// A container of some pod spec, with the field path that leads to it.
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

/// Apply every rule of the catalog (parity aside) to one path.
pub fn check_model(ctx: &RuleContext<'_>) -> Vec<Finding> {
    let mut sink = Sink::new(ctx);
    resources::check(ctx, &mut sink);
    probe::check(ctx, &mut sink);
    security::check(ctx, &mut sink);
    image::check(ctx, &mut sink);
    secret::check(ctx, &mut sink);
    env::check(ctx, &mut sink);
    service::check(ctx, &mut sink);
    workload::check(ctx, &mut sink);
    ns::check(ctx, &mut sink);
    label::check(ctx, &mut sink);
    // KG-API-001 is enforced by the model loader (non-stable apiVersions are bad input).
    net::check(ctx, &mut sink);
    hpa::check(ctx, &mut sink);
    contract_rules::check(ctx, &mut sink);
    sink.findings
}

/// The containerPort number a probe/Service port refers to in `c`
/// (named ports resolved); `None` when `c` declares no such port.
pub(crate) fn resolve_port(
    c: &Container,
    port: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString,
) -> Option<i32> {
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
pub(crate) fn fmt_container_port(p: &k8s_openapi::api::core::v1::ContainerPort) -> String {
    match &p.name {
        Some(n) => format!("{} ({n})", p.container_port),
        None => p.container_port.to_string(),
    }
}

/// `8000` or `http` for messages.
pub(crate) fn fmt_port(p: &k8s_openapi::apimachinery::pkg::util::intstr::IntOrString) -> String {
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
    fn ids_are_unique_well_formed_and_match_their_family() {
        let mut seen = std::collections::BTreeSet::new();
        for r in catalog() {
            assert!(seen.insert(r.id), "duplicate id {}", r.id);
            let parts: Vec<&str> = r.id.split('-').collect();
            assert_eq!(parts.len(), 3, "{}", r.id);
            assert_eq!(parts[0], "KG");
            assert_eq!(parts[1], r.family, "{}", r.id);
            assert!(parts[2].len() == 3 && parts[2].chars().all(|c| c.is_ascii_digit()), "{}", r.id);
            assert!(!r.title.is_empty() && !r.rationale.is_empty() && !r.fix.is_empty());
        }
        assert!(catalog().len() >= 35);
    }

    #[test]
    fn every_rule_id_the_code_reports_is_in_the_catalog() {
        let sources = [
            include_str!("contract_rules.rs"),
            include_str!("env.rs"),
            include_str!("hpa.rs"),
            include_str!("image.rs"),
            include_str!("label.rs"),
            include_str!("net.rs"),
            include_str!("ns.rs"),
            include_str!("probe.rs"),
            include_str!("resources.rs"),
            include_str!("secret.rs"),
            include_str!("security.rs"),
            include_str!("service.rs"),
            include_str!("workload.rs"),
            include_str!("../parity.rs"),
        ];
        let mut used = 0;
        for src in sources {
            for (i, _) in src.match_indices("\"KG-") {
                let id: String = src[i + 1..].chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
                assert!(rule(&id).is_some(), "code reports {id}, which the catalog lacks");
                used += 1;
            }
        }
        assert!(used >= 50);
    }

    #[test]
    fn docs_rules_md_lists_every_rule_with_its_title() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/rules.md"))
            .expect("docs/rules.md exists");
        for r in catalog() {
            let row = format!("| `{}` | {:?} | {} |", r.id, r.severity, r.title);
            assert!(docs.contains(&row), "docs/rules.md lacks or misstates {}: expected a row starting `{row}`", r.id);
        }
    }
}
