//! KG-PROBE: liveness/readiness present and distinct, probe ports declared,
//! timings within the plan's success criteria, probe paths among the routes
//! the app's own source declares.

use k8s_openapi::api::core::v1::Probe;

use super::{
    Check, ContainerView, Rule, RuleContext, RuleId, Sink, containers, fmt_container_port, fmt_port, resolve_port,
};
use kubegate_core::finding::Severity;

pub(super) const RULES: &[Rule] = &[LIVENESS, READINESS, DISTINCT, PORT_DECLARED, TIMINGS, ROUTE_SERVED];

const LIVENESS: Rule = Rule {
    id: RuleId::Probe001,
    severity: Severity::High,
    title: "liveness probe present",
    rationale: "Without it a hung process is never restarted.",
    fix: "Add livenessProbe (httpGet on the contract's liveness path).",
    check: Check::Model(liveness),
};

const READINESS: Rule = Rule {
    id: RuleId::Probe002,
    severity: Severity::High,
    title: "readiness probe present",
    rationale: "Without it traffic reaches pods that cannot serve yet.",
    fix: "Add readinessProbe (httpGet on the contract's readiness path).",
    check: Check::Model(readiness),
};

const DISTINCT: Rule = Rule {
    id: RuleId::Probe003,
    severity: Severity::Medium,
    title: "liveness and readiness probes differ",
    rationale: "Identical probes restart a pod whose dependency is down instead of just taking it out of rotation.",
    fix: "Point readiness at the readiness endpoint, or waive with a reason.",
    check: Check::Model(distinct),
};

const PORT_DECLARED: Rule = Rule {
    id: RuleId::Probe004,
    severity: Severity::High,
    title: "probe port is a declared containerPort",
    rationale: "A probe on an undeclared port or unknown port name always fails.",
    fix: "Use the container port's name (e.g. `http`) or its number.",
    check: Check::Model(port_declared),
};

const TIMINGS: Rule = Rule {
    id: RuleId::Probe005,
    severity: Severity::Medium,
    title: "probe timings fit the plan's 60 s / 90 s success criteria",
    rationale: "The plan wants pods Running within 60 s and probes passing within 90 s; slower timings fail it by construction.",
    fix: "Lower initialDelaySeconds/periodSeconds, keep timeoutSeconds below periodSeconds.",
    check: Check::Model(timings),
};

const ROUTE_SERVED: Rule = Rule {
    id: RuleId::Probe006,
    severity: Severity::Medium,
    title: "probe path is a route the app's own code serves",
    rationale: "A probe on a path the application does not serve gets 404: the pod never turns ready, or is restarted over and over. Judged only where a Dockerfile's build context holds the app's source and every route there is a literal path.",
    fix: "Probe a path the app serves, or add the route to the app.",
    check: Check::Model(route_served),
};

/// The probes of a container with their field names.
pub(crate) fn probes(c: &k8s_openapi::api::core::v1::Container) -> [(&'static str, Option<&Probe>); 3] {
    [
        ("livenessProbe", c.liveness_probe.as_ref()),
        ("readinessProbe", c.readiness_probe.as_ref()),
        ("startupProbe", c.startup_probe.as_ref()),
    ]
}

/// The port a probe's handler targets, if it has one.
pub(crate) fn probe_port(p: &Probe) -> Option<k8s_openapi::apimachinery::pkg::util::intstr::IntOrString> {
    use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
    p.http_get
        .as_ref()
        .map(|h| h.port.clone())
        .or_else(|| p.tcp_socket.as_ref().map(|t| t.port.clone()))
        .or_else(|| p.grpc.as_ref().map(|g| IntOrString::Int(g.port)))
}

fn handler(p: &Probe) -> serde_json::Value {
    serde_json::json!({
        "httpGet": p.http_get.as_ref().map(|h| (h.path.clone(), fmt_port(&h.port))),
        "tcpSocket": p.tcp_socket.as_ref().map(|t| fmt_port(&t.port)),
        "exec": p.exec.as_ref().map(|e| e.command.clone()),
        "grpc": p.grpc.as_ref().map(|g| (g.port, g.service.clone())),
    })
}

/// Effective timings (Kubernetes defaults filled in).
struct Timing {
    initial: i32,
    period: i32,
    timeout: i32,
    failures: i32,
}

fn timing(p: &Probe) -> Timing {
    Timing {
        initial: p.initial_delay_seconds.unwrap_or(0),
        period: p.period_seconds.unwrap_or(10),
        timeout: p.timeout_seconds.unwrap_or(1),
        failures: p.failure_threshold.unwrap_or(3),
    }
}

/// Containers probes apply to: a Deployment's app containers (test pods and
/// init containers run to completion).
fn probed<'a>(ctx: &'a RuleContext<'_>) -> impl Iterator<Item = ContainerView<'a>> {
    containers(ctx.model).into_iter().filter(|cv| !cv.init && cv.obj.kind == "Deployment")
}

fn liveness(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in probed(ctx).filter(|cv| cv.c.liveness_probe.is_none()) {
        sink.report(cv.obj, cv.field.clone(), format!("container `{}` has no livenessProbe", cv.c.name), None);
    }
}

fn readiness(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in probed(ctx).filter(|cv| cv.c.readiness_probe.is_none()) {
        sink.report(cv.obj, cv.field.clone(), format!("container `{}` has no readinessProbe", cv.c.name), None);
    }
}

fn distinct(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in probed(ctx) {
        if let (Some(l), Some(r)) = (&cv.c.liveness_probe, &cv.c.readiness_probe)
            && handler(l) == handler(r)
        {
            let what = l
                .http_get
                .as_ref()
                .map(|h| format!("GET {} on port {}", h.path.as_deref().unwrap_or("/"), fmt_port(&h.port)));
            sink.report(
                cv.obj,
                cv.at("readinessProbe"),
                format!(
                    "container `{}`: readiness and liveness probes are identical ({})",
                    cv.c.name,
                    what.unwrap_or_else(|| "same handler".into())
                ),
                None,
            );
        }
    }
}

fn port_declared(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in probed(ctx) {
        for (field, probe) in probes(cv.c) {
            let Some(port) = probe.and_then(probe_port) else { continue };
            if resolve_port(cv.c, &port).is_some() {
                continue;
            }
            let declared: Vec<String> = cv.c.ports.as_deref().unwrap_or(&[]).iter().map(fmt_container_port).collect();
            sink.report(
                cv.obj,
                cv.at(field),
                format!(
                    "container `{}`: {field} port `{}` is not a declared containerPort (declared: {})",
                    cv.c.name,
                    fmt_port(&port),
                    if declared.is_empty() { "none".into() } else { declared.join(", ") }
                ),
                None,
            );
        }
    }
}

fn route_served(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    use kubegate_core::app_routes::app_for;
    for cv in containers(ctx.model).into_iter().filter(|cv| !cv.init) {
        let labels = super::pod_labels(&cv.pod);
        let component = labels.get("app.kubernetes.io/component").map(String::as_str).unwrap_or_default();
        let image = cv.c.image.as_deref().unwrap_or_default();
        let Some(app) = app_for(ctx.apps, image, &[cv.c.name.as_str(), component]).filter(|a| a.judges()) else {
            continue;
        };
        for (field, probe) in probes(cv.c) {
            let Some(get) = probe.and_then(|p| p.http_get.as_ref()) else { continue };
            let path = get.path.as_deref().unwrap_or("/");
            if app.serves(path) {
                continue;
            }
            let mut files: Vec<&str> = app.routes.iter().map(|r| r.file.as_str()).collect();
            files.dedup();
            let mut shown: Vec<&str> = app.routes.iter().map(|r| r.path.as_str()).take(8).collect();
            if app.routes.len() > shown.len() {
                shown.push("...");
            }
            let frameworks: Vec<String> = app.frameworks().iter().map(ToString::to_string).collect();
            sink.report(
                cv.obj,
                cv.at(&format!("{field}.httpGet.path")),
                format!(
                    "container `{}`: {field} path `{path}` is not found in the app's routes (looked in {}/, built by {}: {} route(s) in {}: {})",
                    cv.c.name,
                    app.context,
                    app.dockerfile,
                    frameworks.join("/"),
                    files.join(", "),
                    shown.join(", ")
                ),
                Some(format!(
                    "Probe a path the app serves ({}), or add a `{path}` route to {}.",
                    app.routes.iter().map(|r| r.path.as_str()).find(|p| p.contains("health") || p.contains("ready")).unwrap_or(&app.routes[0].path),
                    files[0]
                )),
            );
        }
    }
}

fn timings(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let policy = &ctx.config.policy;
    for cv in probed(ctx) {
        let name = &cv.c.name;
        for (field, probe) in probes(cv.c) {
            let Some(t) = probe.map(timing) else { continue };
            if t.timeout > t.period {
                sink.report(
                    cv.obj,
                    cv.at(&format!("{field}.timeoutSeconds")),
                    format!(
                        "container `{name}`: {field} timeoutSeconds {} exceeds periodSeconds {}",
                        t.timeout, t.period
                    ),
                    None,
                );
            }
        }
        // When does the first readiness check run, and how soon after the app
        // becomes ready (at the latest by running_within) is it noticed?
        if let Some(r) = &cv.c.readiness_probe {
            let rt = timing(r);
            let startup_first = cv.c.startup_probe.as_ref().map(|s| timing(s).initial).unwrap_or(0);
            let first = rt.initial.max(startup_first) as i64;
            if first > policy.running_within_secs {
                sink.report(
                    cv.obj,
                    cv.at("readinessProbe.initialDelaySeconds"),
                    format!(
                        "container `{name}`: first readiness check at {first}s, after the plan's {}s start window",
                        policy.running_within_secs
                    ),
                    None,
                );
            }
            let noticed = first.max(policy.running_within_secs) + rt.period as i64;
            if noticed > policy.ready_within_secs {
                sink.report(
                    cv.obj,
                    cv.at("readinessProbe.periodSeconds"),
                    format!(
                        "container `{name}`: a pod ready at {}s is seen ready only at {noticed}s (readiness periodSeconds {}), beyond the plan's {}s",
                        first.max(policy.running_within_secs),
                        rt.period,
                        policy.ready_within_secs
                    ),
                    None,
                );
            }
        }
        if let Some(s) = &cv.c.startup_probe {
            let st = timing(s);
            let window = st.initial as i64 + st.period as i64 * st.failures as i64;
            if window > policy.ready_within_secs {
                sink.report(
                    cv.obj,
                    cv.at("startupProbe"),
                    format!(
                        "container `{name}`: startupProbe tolerates {window}s of start-up (initialDelaySeconds {} + periodSeconds {} x failureThreshold {}), beyond the plan's {}s",
                        st.initial, st.period, st.failures, policy.ready_within_secs
                    ),
                    None,
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, base, findings_with_apps, mutate, of_rule};
    use kubegate_core::app_routes::{AppSource, Framework, Route};
    use kubegate_core::config::Config;

    #[test]
    fn liveness_missing() {
        let m = mutate(
            "          livenessProbe:\n            httpGet: {path: /health, port: http}\n            initialDelaySeconds: 10\n            periodSeconds: 30\n            timeoutSeconds: 2\n            failureThreshold: 3\n",
            "",
        );
        assert_caught("KG-PROBE-001", &m);
    }

    #[test]
    fn readiness_missing() {
        let m = mutate(
            "          readinessProbe:\n            httpGet: {path: /ready, port: http}\n            initialDelaySeconds: 5\n            periodSeconds: 10\n            timeoutSeconds: 2\n            failureThreshold: 3\n",
            "",
        );
        assert_caught("KG-PROBE-002", &m);
    }

    #[test]
    fn identical_probes_unless_waived() {
        let m = mutate("httpGet: {path: /ready, port: http}", "httpGet: {path: /health, port: http}");
        let f = assert_caught("KG-PROBE-003", &m);
        assert!(f[0].message.contains("GET /health on port http"), "{}", f[0].message);
        let waived = m.replacen("    metadata:\n      labels:\n", "    metadata:\n      annotations: {kubegate.io/waive: \"KG-PROBE-003=one endpoint serves both\"}\n      labels:\n", 1);
        assert!(of_rule(&waived, "KG-PROBE-003").is_empty());
    }

    #[test]
    fn probe_on_undeclared_port() {
        let f = assert_caught(
            "KG-PROBE-004",
            &mutate("httpGet: {path: /health, port: http}", "httpGet: {path: /health, port: 9000}"),
        );
        assert!(f[0].message.contains("9000") && f[0].message.contains("8000 (http)"), "{}", f[0].message);
        assert_caught(
            "KG-PROBE-004",
            &mutate("httpGet: {path: /ready, port: http}", "httpGet: {path: /ready, port: htp}"),
        );
    }

    #[test]
    fn slow_timings() {
        assert_caught(
            "KG-PROBE-005",
            &mutate(
                "initialDelaySeconds: 5\n            periodSeconds: 10",
                "initialDelaySeconds: 120\n            periodSeconds: 10",
            ),
        );
        assert_caught(
            "KG-PROBE-005",
            &mutate(
                "periodSeconds: 2\n            failureThreshold: 30",
                "periodSeconds: 10\n            failureThreshold: 30",
            ),
        );
        assert_caught(
            "KG-PROBE-005",
            &mutate(
                "initialDelaySeconds: 5\n            periodSeconds: 10\n            timeoutSeconds: 2",
                "initialDelaySeconds: 5\n            periodSeconds: 10\n            timeoutSeconds: 20",
            ),
        );
        assert!(of_rule(&base(), "KG-PROBE-005").is_empty());
    }

    fn app(context: &str, routes: &[&str], dynamic: bool) -> AppSource {
        AppSource {
            dockerfile: format!("{context}/Dockerfile"),
            context: context.into(),
            files_read: 1,
            routes: routes
                .iter()
                .enumerate()
                .map(|(i, p)| Route {
                    path: p.to_string(),
                    subtree: false,
                    framework: Framework::FastApi,
                    file: format!("{context}/main.py"),
                    line: i + 1,
                })
                .collect(),
            mounts: Vec::new(),
            dynamic: dynamic.then(|| format!("{context}/main.py:9")),
        }
    }

    fn route_findings(apps: &[AppSource]) -> Vec<kubegate_core::finding::Finding> {
        findings_with_apps(&base(), &Config::default(), apps)
            .into_iter()
            .filter(|f| f.rule_id == "KG-PROBE-006")
            .collect()
    }

    #[test]
    fn probe_path_the_app_does_not_serve() {
        // backend serves /health only: its readinessProbe on /ready is not among the routes.
        let apps =
            [app("backend", &["/health", "/api/tasks"], false), app("frontend", &["/", "/health", "/ready"], false)];
        let f = route_findings(&apps);
        assert_eq!(f.len(), 1, "{f:#?}");
        assert_eq!(f[0].object.name, "todo-chatbot-backend");
        assert_eq!(f[0].field.as_deref(), Some("spec.template.spec.containers[0].readinessProbe.httpGet.path"));
        for part in [
            "`/ready` is not found in the app's routes",
            "looked in backend/",
            "backend/Dockerfile",
            "FastAPI",
            "backend/main.py",
            "/health, /api/tasks",
        ] {
            assert!(f[0].message.contains(part), "{part}: {}", f[0].message);
        }
        assert!(f[0].fix.contains("/health") && f[0].fix.contains("`/ready` route to backend/main.py"), "{}", f[0].fix);
        assert!(f[0].source.as_ref().and_then(|s| s.line).is_some(), "a line to jump to");
    }

    #[test]
    fn no_source_or_computed_routes_judge_nothing() {
        assert!(route_findings(&[]).is_empty(), "no Dockerfile found");
        assert!(route_findings(&[app("backend", &[], false)]).is_empty(), "no source in the build context");
        assert!(route_findings(&[app("backend", &["/health"], true)]).is_empty(), "a route whose path is computed");
        let unrelated = [app("worker", &["/metrics"], false)];
        assert!(route_findings(&unrelated).is_empty(), "a Dockerfile that builds none of the containers");
        let served = [app("backend", &["/health", "/ready"], false)];
        assert!(route_findings(&served).is_empty());
    }
}
