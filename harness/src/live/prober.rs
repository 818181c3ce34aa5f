//! The kubelet's own count of the probes it ran: `prober_probe_total` on
//! its `/metrics/probes`, read through the API server's node proxy (what
//! `kubectl get --raw /api/v1/nodes/<node>/proxy/metrics/probes` shows).
//! A check that must show a probe does NOT fail under a fault can then see
//! the probes run and succeed, instead of waiting out the longest time the
//! kubelet could take to run them.

use k8s_openapi::api::core::v1::Pod;
use std::collections::BTreeMap;

/// How one container's probes of one type have ended so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProbeCount {
    /// `result="successful"`.
    pub successful: u64,
    /// `result="failed"` (and `"unknown"`: not a success either).
    pub failed: u64,
}

impl ProbeCount {
    /// The probes that ended since `before`: `(successful, failed)`.
    pub fn since(&self, before: &ProbeCount) -> (u64, u64) {
        (self.successful.saturating_sub(before.successful), self.failed.saturating_sub(before.failed))
    }
}

/// The `probe_type` label of a liveness probe.
pub const LIVENESS: &str = "Liveness";

/// `prober_probe_total` of `probe_type` for each pod of `namespace` in the
/// text of a kubelet's `/metrics/probes` (Prometheus text format), by pod
/// name, for the container `container`.
pub fn parse(text: &str, namespace: &str, container: &str, probe_type: &str) -> BTreeMap<String, ProbeCount> {
    let mut out: BTreeMap<String, ProbeCount> = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix("prober_probe_total{") else { continue };
        let Some((labels, value)) = rest.rsplit_once('}') else { continue };
        let Ok(value) = value.trim().parse::<f64>() else { continue };
        let label = |key: &str| {
            labels.split(',').find_map(|kv| {
                let (k, v) = kv.split_once('=')?;
                (k.trim() == key).then(|| v.trim().trim_matches('"').to_owned())
            })
        };
        if label("namespace").as_deref() != Some(namespace)
            || label("container").as_deref() != Some(container)
            || label("probe_type").as_deref() != Some(probe_type)
        {
            continue;
        }
        let Some(pod) = label("pod") else { continue };
        let count = out.entry(pod).or_default();
        // A counter: whole numbers, written as floats by the format.
        let n = value.max(0.0) as u64;
        match label("result").as_deref() {
            Some("successful") => count.successful += n,
            _ => count.failed += n,
        }
    }
    out
}

/// The liveness counts of `container` in each of `pods` (by pod name), read
/// from the kubelets of their nodes; an error says why they cannot be read
/// (no `nodes/proxy` permission, a kubelet that does not serve the metrics).
pub async fn liveness_counts(
    client: &kube::Client,
    pods: &[Pod],
    container: &str,
) -> Result<BTreeMap<String, ProbeCount>, String> {
    let mut nodes: BTreeMap<String, (String, Vec<String>)> = BTreeMap::new();
    for p in pods {
        let (Some(name), Some(ns)) = (p.metadata.name.clone(), p.metadata.namespace.clone()) else { continue };
        let node =
            p.spec.as_ref().and_then(|s| s.node_name.clone()).ok_or_else(|| format!("Pod/{name} is on no node"))?;
        nodes.entry(node).or_insert_with(|| (ns, Vec::new())).1.push(name);
    }
    let mut out = BTreeMap::new();
    for (node, (ns, names)) in nodes {
        let path = format!("/api/v1/nodes/{node}/proxy/metrics/probes");
        let req = http::Request::get(&path).body(Vec::new()).map_err(|e| format!("{path}: {e}"))?;
        let text = client.request_text(req).await.map_err(|e| format!("GET {path}: {e}"))?;
        let counts = parse(&text, &ns, container, LIVENESS);
        for name in names {
            // No line yet: the kubelet has not run the probe.
            out.insert(name.clone(), counts.get(&name).copied().unwrap_or_default());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TEXT: &str = r#"# HELP prober_probe_total [BETA] Cumulative number of a liveness, readiness or startup probe for a container by result.
# TYPE prober_probe_total counter
prober_probe_total{container="api",namespace="kg-a-raw",pod="api-1",pod_uid="u1",probe_type="Liveness",result="successful"} 7
prober_probe_total{container="api",namespace="kg-a-raw",pod="api-1",pod_uid="u1",probe_type="Liveness",result="failed"} 2
prober_probe_total{container="api",namespace="kg-a-raw",pod="api-1",pod_uid="u1",probe_type="Readiness",result="successful"} 40
prober_probe_total{container="web",namespace="kg-a-raw",pod="web-1",pod_uid="u2",probe_type="Liveness",result="successful"} 9
prober_probe_total{container="api",namespace="kg-b-raw",pod="api-1",pod_uid="u3",probe_type="Liveness",result="successful"} 100
prober_probe_total{container="api",namespace="kg-a-raw",pod="api-2",pod_uid="u4",probe_type="Liveness",result="unknown"} 1
prober_probe_duration_seconds_bucket{container="api",namespace="kg-a-raw",pod="api-1",probe_type="Liveness",le="0.005"} 50
"#;

    #[test]
    fn counts_are_per_pod_of_the_namespace_container_and_probe_type() {
        let counts = parse(TEXT, "kg-a-raw", "api", LIVENESS);
        assert_eq!(
            counts,
            BTreeMap::from([
                ("api-1".to_owned(), ProbeCount { successful: 7, failed: 2 }),
                ("api-2".to_owned(), ProbeCount { successful: 0, failed: 1 }),
            ])
        );
        assert_eq!(parse(TEXT, "kg-a-raw", "api", "Readiness")["api-1"].successful, 40);
        assert!(parse("garbage\nprober_probe_total{broken 3\n", "kg-a-raw", "api", LIVENESS).is_empty());
    }

    #[test]
    fn probes_since_a_count_are_the_difference() {
        let before = ProbeCount { successful: 7, failed: 2 };
        assert_eq!(ProbeCount { successful: 10, failed: 2 }.since(&before), (3, 0));
        assert_eq!(ProbeCount { successful: 7, failed: 3 }.since(&before), (0, 1));
        // A restarted kubelet starts its counters again: never negative.
        assert_eq!(ProbeCount::default().since(&before), (0, 0));
    }
}
