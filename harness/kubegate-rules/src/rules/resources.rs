//! KG-RES: CPU and memory requests and limits.

use super::{Check, Rule, RuleContext, RuleId, Sink, containers};
use kubegate_core::finding::Severity;

pub(super) const RULES: &[Rule] = &[CPU_SET, MEMORY_SET, REQUESTS_WITHIN_LIMITS];

const CPU_SET: Rule = Rule {
    id: RuleId::Res001,
    severity: Severity::High,
    title: "CPU requests and limits are set",
    rationale: "Without them the scheduler overcommits the node and one pod can starve the others.",
    fix: "Set resources.requests.cpu and resources.limits.cpu on every container.",
    check: Check::Model(cpu_set),
};

const MEMORY_SET: Rule = Rule {
    id: RuleId::Res002,
    severity: Severity::High,
    title: "memory requests and limits are set",
    rationale: "Without a memory limit one leaking pod gets the node OOM-killed.",
    fix: "Set resources.requests.memory and resources.limits.memory on every container.",
    check: Check::Model(memory_set),
};

const REQUESTS_WITHIN_LIMITS: Rule = Rule {
    id: RuleId::Res003,
    severity: Severity::Medium,
    title: "requests do not exceed limits",
    rationale: "The API server rejects a request above its limit; the pod never starts.",
    fix: "Lower the request or raise the limit.",
    check: Check::Model(requests_within_limits),
};

/// A Kubernetes quantity (`100m`, `0.5`, `128Mi`, `1G`, `1e3`) as a number.
pub fn parse_quantity(q: &str) -> Option<f64> {
    let q = q.trim();
    let suffixes: [(&str, f64); 13] = [
        ("Ki", 1024f64),
        ("Mi", 1024f64.powi(2)),
        ("Gi", 1024f64.powi(3)),
        ("Ti", 1024f64.powi(4)),
        ("Pi", 1024f64.powi(5)),
        ("Ei", 1024f64.powi(6)),
        ("n", 1e-9),
        ("u", 1e-6),
        ("m", 1e-3),
        ("k", 1e3),
        ("M", 1e6),
        ("G", 1e9),
        ("T", 1e12),
    ];
    for (s, mult) in suffixes {
        if let Some(n) = q.strip_suffix(s) {
            return n.parse::<f64>().ok().map(|v| v * mult);
        }
    }
    q.parse::<f64>().ok()
}

/// `resources.<which>.<name>` of a container (`which`: requests or limits).
fn quantity(c: &k8s_openapi::api::core::v1::Container, which: &str, name: &str) -> Option<String> {
    let res = c.resources.as_ref();
    res.and_then(|r| if which == "requests" { r.requests.as_ref() } else { r.limits.as_ref() })
        .and_then(|m| m.get(name))
        .map(|q| q.0.clone())
}

fn cpu_set(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    requests_and_limits_set(ctx, sink, "cpu");
}

fn memory_set(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    requests_and_limits_set(ctx, sink, "memory");
}

/// Both `resources.requests.<name>` and `resources.limits.<name>` are set.
fn requests_and_limits_set(ctx: &RuleContext<'_>, sink: &mut Sink<'_>, name: &str) {
    for cv in containers(ctx.model) {
        let missing: Vec<&str> =
            ["requests", "limits"].into_iter().filter(|w| quantity(cv.c, w, name).is_none()).collect();
        if !missing.is_empty() {
            let fields: Vec<String> = missing.iter().map(|w| format!("resources.{w}.{name}")).collect();
            sink.report(
                cv.obj,
                cv.at("resources"),
                format!("container `{}` has no {}", cv.c.name, fields.join(" and ")),
                None,
            );
        }
    }
}

fn requests_within_limits(ctx: &RuleContext<'_>, sink: &mut Sink<'_>) {
    for cv in containers(ctx.model) {
        for name in ["cpu", "memory"] {
            let (Some(req), Some(lim)) = (quantity(cv.c, "requests", name), quantity(cv.c, "limits", name)) else {
                continue;
            };
            match (parse_quantity(&req), parse_quantity(&lim)) {
                (Some(r), Some(l)) if r > l => sink.report(
                    cv.obj,
                    cv.at(&format!("resources.requests.{name}")),
                    format!("container `{}` requests {name} {req} above its limit {lim}", cv.c.name),
                    None,
                ),
                (None, _) | (_, None) => sink.report(
                    cv.obj,
                    cv.at(&format!("resources.requests.{name}")),
                    format!("container `{}` has an unparsable {name} quantity (request {req}, limit {lim})", cv.c.name),
                    Some("Use Kubernetes quantities like 100m, 0.5, 128Mi.".into()),
                ),
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit::{assert_caught, mutate};
    use super::parse_quantity;

    #[test]
    fn quantities() {
        assert_eq!(parse_quantity("100m"), Some(0.1));
        assert_eq!(parse_quantity("128Mi"), Some(134217728.0));
        assert_eq!(parse_quantity("1G"), Some(1e9));
        assert_eq!(parse_quantity("2"), Some(2.0));
        assert_eq!(parse_quantity("lots"), None);
    }

    #[test]
    fn cpu_limit_missing() {
        let f = assert_caught("KG-RES-001", &mutate("limits: {cpu: 500m, memory: 256Mi}", "limits: {memory: 256Mi}"));
        assert!(f[0].message.contains("resources.limits.cpu"), "{}", f[0].message);
        assert_eq!(f[0].field.as_deref(), Some("spec.template.spec.containers[0].resources"));
    }

    #[test]
    fn memory_missing() {
        assert_caught("KG-RES-002", &mutate("requests: {cpu: 100m, memory: 128Mi}", "requests: {cpu: 100m}"));
    }

    #[test]
    fn request_above_limit() {
        let f = assert_caught(
            "KG-RES-003",
            &mutate("requests: {cpu: 100m, memory: 128Mi}", "requests: {cpu: 100m, memory: 1Gi}"),
        );
        assert!(f[0].message.contains("1Gi") && f[0].message.contains("256Mi"));
    }
}
