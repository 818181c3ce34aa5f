//! KG-CONTRACT: the component Deployments' probes follow the services'
//! OpenAPI contract (path per probe kind, port of the service).

use k8s_openapi::api::core::v1::HTTPGetAction;

use super::{Check, ContainerView, Rule, RuleContext, RuleId, Sink, containers, fmt_port, resolve_port};
use kubegate_core::config::Component;
use kubegate_core::contract::{ProbeKind, expected_port, expected_probe_paths};
use kubegate_core::finding::{ObjectRef, Severity, SourceLocation};

/// The family of these rules: they need a contract and are not run without one.
pub(super) const FAMILY: &str = "CONTRACT";

pub(super) const RULES: &[Rule] = &[PROBE_PATHS, PROBE_PORT, CONTRACT_COVERS];

const PROBE_PATHS: Rule = Rule {
    id: RuleId::Contract001,
    severity: Severity::High,
    title: "probe paths follow the OpenAPI contract",
    rationale: "A probe on a path the service does not implement (or on the wrong probe endpoint) fails or lies.",
    fix: "Use the contract's x-kubegate-probe path for each probe kind.",
    check: Check::Model(probe_paths),
};

const PROBE_PORT: Rule = Rule {
    id: RuleId::Contract002,
    severity: Severity::High,
    title: "probes target the service's port",
    rationale: "A probe on another port checks nothing the contract promises.",
    fix: "Probe the component's container port (by name).",
    check: Check::Model(probe_port),
};

const CONTRACT_COVERS: Rule = Rule {
    id: RuleId::Contract003,
    severity: Severity::High,
    title: "the contract describes every component's probes",
    rationale: "Probe checks without a contract are guesses.",
    fix: "Add the service's liveness/readiness paths (x-kubegate-service, x-kubegate-probe) to the contract.",
    check: Check::Model(contract_covers),
};

fn contract_covers(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let Some(contract) = ctx.contract else { return };
    for comp in &ctx.config.components {
        let svc = comp.contract_name();
        for kind in [ProbeKind::Liveness, ProbeKind::Readiness] {
            if contract.probe_paths(svc, kind).is_empty() {
                sink.report_ref(
                    ObjectRef { kind: "Contract".into(), name: svc.to_string(), namespace: None },
                    None,
                    format!(
                        "{} has no GET operation for service `{svc}` marked x-kubegate-probe: {kind}",
                        contract.file.display()
                    ),
                    None,
                    Some(SourceLocation { file: contract.file.clone(), ..Default::default() }),
                );
            }
        }
    }
}

/// An httpGet probe of a component's container, with what the contract (or
/// kubegate.toml) says about it.
struct HttpProbe<'a> {
    cv: ContainerView<'a>,
    comp: &'a Component,
    /// `livenessProbe`, ...
    field: &'static str,
    kind: ProbeKind,
    http: &'a HTTPGetAction,
}

/// Every httpGet probe of every component's container in a Deployment.
fn http_probes<'a>(ctx: &'a RuleContext<'_>) -> Vec<HttpProbe<'a>> {
    let mut out = Vec::new();
    for cv in containers(ctx.model) {
        if cv.init || cv.obj.kind != "Deployment" {
            continue;
        }
        let Some(comp) = ctx.config.component_for_deployment(&cv.obj.name) else { continue };
        if comp.container != cv.c.name {
            continue;
        }
        let c = cv.c;
        let probes = [
            ("livenessProbe", ProbeKind::Liveness, c.liveness_probe.as_ref()),
            ("readinessProbe", ProbeKind::Readiness, c.readiness_probe.as_ref()),
            ("startupProbe", ProbeKind::Startup, c.startup_probe.as_ref()),
        ];
        for (field, kind, probe) in probes {
            let Some(http) = probe.and_then(|p| p.http_get.as_ref()) else { continue };
            out.push(HttpProbe { cv: cv.clone(), comp, field, kind, http });
        }
    }
    out
}

fn probe_paths(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for HttpProbe { cv, comp, field, kind, http } in http_probes(ctx) {
        let svc = comp.contract_name();
        let path = http.path.as_deref().unwrap_or("/");
        let allowed = expected_probe_paths(ctx.contract, comp, kind);
        if !allowed.is_empty() && !allowed.iter().any(|a| a == path) {
            let exists = ctx.contract.is_some_and(|c| c.has_get(svc, path));
            sink.report(
                cv.obj,
                cv.at(&format!("{field}.httpGet.path")),
                format!(
                    "container `{}`: {field} GETs {path}, the contract's {kind} endpoint for `{svc}` is {}{}",
                    cv.c.name,
                    allowed.join(" or "),
                    if exists { "" } else { " (and the contract has no such path)" }
                ),
                Some(format!("Probe {} with {field}.", allowed[0])),
            );
        }
    }
}

fn probe_port(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for HttpProbe { cv, comp, field, http, .. } in http_probes(ctx) {
        // The contract's port for the service wins over kubegate.toml's.
        let port = expected_port(ctx.contract, comp);
        match resolve_port(cv.c, &http.port) {
            Some(n) if port != 0 && n != port => sink.report(
                cv.obj,
                cv.at(&format!("{field}.httpGet.port")),
                format!(
                    "container `{}`: {field} port `{}` is {n}, the service listens on {port}",
                    cv.c.name,
                    fmt_port(&http.port)
                ),
                Some(format!("Use port `{}`.", comp.port_name)),
            ),
            _ => {}
        }
        if let Some(scheme) = &http.scheme
            && scheme != "HTTP"
        {
            sink.report(
                cv.obj,
                cv.at(&format!("{field}.httpGet.scheme")),
                format!("container `{}`: {field} uses {scheme}, the service speaks plain HTTP", cv.c.name),
                None,
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, findings_with, mutate};

    #[test]
    fn probe_path_not_in_contract() {
        let f = assert_caught(
            "KG-CONTRACT-001",
            &mutate("httpGet: {path: /ready, port: http}", "httpGet: {path: /healthz, port: http}"),
        );
        assert!(
            f[0].message.contains("/healthz")
                && f[0].message.contains("/ready")
                && f[0].message.contains("no such path"),
            "{}",
            f[0].message
        );
    }

    #[test]
    fn probe_on_other_declared_port() {
        let m = mutate(
            "ports: [{name: http, containerPort: 8000}]",
            "ports: [{name: http, containerPort: 8000}, {name: admin, containerPort: 9000}]",
        )
        .replacen("httpGet: {path: /health, port: http}", "httpGet: {path: /health, port: admin}", 1);
        let f = assert_caught("KG-CONTRACT-002", &m);
        assert!(f[0].message.contains("9000") && f[0].message.contains("8000"));
    }

    #[test]
    fn contract_without_probe_for_component() {
        let mut config = kubegate_core::config::Config::default();
        config.components[0].contract_service = Some("api".into());
        let f = findings_with(&super::super::testkit::base(), &config);
        assert!(f.iter().any(|x| x.rule_id == "KG-CONTRACT-003" && x.object.name == "api"), "{f:#?}");
    }
}
