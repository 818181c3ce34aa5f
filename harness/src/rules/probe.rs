//! KG-PROBE: liveness/readiness present and distinct, probe ports declared,
//! timings within the plan's success criteria.

use k8s_openapi::api::core::v1::Probe;

use super::{RuleContext, Sink, containers, fmt_container_port, fmt_port, resolve_port};

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

pub(super) fn check(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    let policy = &ctx.config.policy;
    for cv in containers(ctx.model) {
        // Probes are a Deployment concern; test pods and init containers run to completion.
        if cv.init || cv.obj.kind != "Deployment" {
            continue;
        }
        let name = &cv.c.name;
        if cv.c.liveness_probe.is_none() {
            sink.report(
                "KG-PROBE-001",
                cv.obj,
                cv.field.clone(),
                format!("container `{name}` has no livenessProbe"),
                None,
            );
        }
        if cv.c.readiness_probe.is_none() {
            sink.report(
                "KG-PROBE-002",
                cv.obj,
                cv.field.clone(),
                format!("container `{name}` has no readinessProbe"),
                None,
            );
        }
        if let (Some(l), Some(r)) = (&cv.c.liveness_probe, &cv.c.readiness_probe)
            && handler(l) == handler(r)
        {
            let what = l
                .http_get
                .as_ref()
                .map(|h| format!("GET {} on port {}", h.path.as_deref().unwrap_or("/"), fmt_port(&h.port)));
            sink.report(
                "KG-PROBE-003",
                cv.obj,
                cv.at("readinessProbe"),
                format!(
                    "container `{name}`: readiness and liveness probes are identical ({})",
                    what.unwrap_or_else(|| "same handler".into())
                ),
                None,
            );
        }
        for (field, probe) in probes(cv.c) {
            let Some(p) = probe else { continue };
            if let Some(port) = probe_port(p)
                && resolve_port(cv.c, &port).is_none()
            {
                let declared: Vec<String> =
                    cv.c.ports.as_deref().unwrap_or(&[]).iter().map(fmt_container_port).collect();
                sink.report(
                    "KG-PROBE-004",
                    cv.obj,
                    cv.at(field),
                    format!(
                        "container `{name}`: {field} port `{}` is not a declared containerPort (declared: {})",
                        fmt_port(&port),
                        if declared.is_empty() { "none".into() } else { declared.join(", ") }
                    ),
                    None,
                );
            }
            let t = timing(p);
            if t.timeout > t.period {
                sink.report(
                    "KG-PROBE-005",
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
                    "KG-PROBE-005",
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
                    "KG-PROBE-005",
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
                    "KG-PROBE-005",
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
    use super::super::testkit::{assert_caught, base, mutate, of_rule};

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
}
