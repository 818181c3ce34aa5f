//! The diagnostics bundle written on failure, before cleanup, under
//! `target/kubegate/<run-id>/<path>/`: events, a describe-equivalent of every
//! pod, deployment, replicaset, service and endpointslice (object YAML with
//! status, then its events), container logs (current and previous), the
//! rendered manifests and the Helm release status. Everything passes through
//! the [`Redactor`]; of a Secret only the key names are written.

use crate::deploy::helm::Helm;
use crate::deploy::run_id::RunId;
use crate::finding::DeployPath;
use crate::redact::Redactor;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Pod, Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::Resource;
use kube::api::{Api, ListParams, LogParams};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A Helm release to include in the bundle.
#[derive(Debug, Clone)]
pub struct HelmRef {
    /// The CLI bound to the cluster.
    pub helm: Helm,
    /// Release name.
    pub release: String,
}

/// What to collect.
#[derive(Debug, Clone)]
pub struct BundleRequest {
    /// The run.
    pub run: RunId,
    /// The path (directory name in the bundle).
    pub path: DeployPath,
    /// Namespace to describe.
    pub namespace: String,
    /// Applied to every byte written.
    pub redactor: Redactor,
    /// Rendered manifests (raw YAML or `helm template` output).
    pub rendered_manifests: Option<String>,
    /// The Helm release, on the Helm path.
    pub helm: Option<HelmRef>,
}

/// Why the bundle could not be written (what could be read is still written).
#[derive(Debug, thiserror::Error)]
pub enum CollectDiagnosticsError {
    /// The bundle directory could not be written.
    #[error("cannot write diagnostics to {dir}")]
    Write {
        /// The bundle directory.
        dir: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
}

/// The bundle directory of one path of one run.
pub fn bundle_dir(run: &RunId, path: DeployPath) -> PathBuf {
    crate::dirs::artifacts_dir().join(run.as_str()).join(path.to_string())
}

struct Writer<'a> {
    dir: PathBuf,
    redactor: &'a Redactor,
    problems: Vec<String>,
    files: Vec<String>,
}

impl Writer<'_> {
    fn write(&mut self, rel: &str, text: &str) -> Result<(), CollectDiagnosticsError> {
        let p = self.dir.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent)
                .map_err(|source| CollectDiagnosticsError::Write { dir: parent.to_owned(), source })?;
        }
        std::fs::write(&p, self.redactor.redact_str(text).as_bytes())
            .map_err(|source| CollectDiagnosticsError::Write { dir: self.dir.clone(), source })?;
        self.files.push(rel.to_owned());
        Ok(())
    }
}

/// Write the bundle; returns its directory. Read failures are listed in
/// `README.txt` of the bundle rather than aborting: a partial bundle beats none.
pub async fn collect(client: &kube::Client, req: &BundleRequest) -> Result<PathBuf, CollectDiagnosticsError> {
    let dir = bundle_dir(&req.run, req.path);
    std::fs::create_dir_all(&dir).map_err(|source| CollectDiagnosticsError::Write { dir: dir.clone(), source })?;
    let mut w = Writer { dir: dir.clone(), redactor: &req.redactor, problems: Vec::new(), files: Vec::new() };
    let ns = req.namespace.as_str();

    let events: Vec<Event> = match Api::<Event>::namespaced(client.clone(), ns).list(&ListParams::default()).await {
        Ok(l) => l.items,
        Err(e) => {
            w.problems.push(format!("events: {e}"));
            Vec::new()
        }
    };
    w.write("events.txt", &format_events(&events, None))?;

    describe_all::<Pod>(client, ns, &events, &mut w).await?;
    describe_all::<Deployment>(client, ns, &events, &mut w).await?;
    describe_all::<ReplicaSet>(client, ns, &events, &mut w).await?;
    describe_all::<Service>(client, ns, &events, &mut w).await?;
    describe_all::<EndpointSlice>(client, ns, &events, &mut w).await?;

    // Secrets: names and key names only, never data.
    match Api::<Secret>::namespaced(client.clone(), ns).list(&ListParams::default()).await {
        Ok(l) => {
            let mut t = String::from("# Secret values are never written; key names only.\n");
            for s in l.items {
                let keys: Vec<String> = s.data.map(|d| d.into_keys().collect()).unwrap_or_default();
                let _ = writeln!(t, "{}: [{}]", s.metadata.name.unwrap_or_default(), keys.join(", "));
            }
            w.write("secrets.txt", &t)?;
        }
        Err(e) => w.problems.push(format!("secrets: {e}")),
    }

    // Logs, current and previous, of every container.
    let pods: Api<Pod> = Api::namespaced(client.clone(), ns);
    if let Ok(list) = pods.list(&ListParams::default()).await {
        for p in list.items {
            let pname = p.metadata.name.clone().unwrap_or_default();
            let containers = p
                .spec
                .iter()
                .flat_map(|s| s.init_containers.iter().flatten().chain(s.containers.iter()).map(|c| c.name.clone()));
            for c in containers.collect::<Vec<_>>() {
                for previous in [false, true] {
                    if let Ok(text) = container_log(&pods, &pname, &c, previous, Some(500)).await {
                        let suffix = if previous { ".previous" } else { "" };
                        w.write(&format!("logs/{pname}.{c}{suffix}.log"), &text)?;
                    }
                }
            }
        }
    }

    if let Some(m) = &req.rendered_manifests {
        w.write("manifests.yaml", m)?;
    }
    if let Some(h) = &req.helm {
        for (file, result) in [
            ("helm-status.txt", h.helm.status(&h.release, ns).await),
            ("helm-manifest.yaml", h.helm.get_manifest(&h.release, ns).await),
        ] {
            match result {
                Ok(t) => w.write(file, &t)?,
                Err(e) => w.problems.push(format!("{file}: {e}")),
            }
        }
        match h.helm.history(&h.release, ns).await {
            Ok(revs) => {
                let mut t = String::from("REVISION\tSTATUS\tCHART\tDESCRIPTION\n");
                for r in revs {
                    let _ = writeln!(t, "{}\t{}\t{}\t{}", r.revision, r.status, r.chart, r.description);
                }
                w.write("helm-history.txt", &t)?;
            }
            Err(e) => w.problems.push(format!("helm-history: {e}")),
        }
    }

    let mut readme = format!(
        "kubegate diagnostics: run {} path {} namespace {ns}\nsecret values redacted as [REDACTED:<KEY>]\n\nfiles:\n",
        req.run, req.path
    );
    for f in &w.files {
        let _ = writeln!(readme, "  {f}");
    }
    if !w.problems.is_empty() {
        readme.push_str("\ncould not collect:\n");
        for p in &w.problems {
            let _ = writeln!(readme, "  {p}");
        }
    }
    w.write("README.txt", &readme)?;
    Ok(dir)
}

async fn describe_all<K>(
    client: &kube::Client,
    ns: &str,
    events: &[Event],
    w: &mut Writer<'_>,
) -> Result<(), CollectDiagnosticsError>
where
    K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + Serialize
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let kind = K::kind(&Default::default()).to_string();
    match Api::<K>::namespaced(client.clone(), ns).list(&ListParams::default()).await {
        Ok(list) => {
            for o in list.items {
                let name = o.meta().name.clone().unwrap_or_default();
                let text = describe(&o, &kind, &name, events);
                w.write(&format!("describe/{}-{name}.yaml", kind.to_lowercase()), &text)?;
            }
        }
        Err(e) => w.problems.push(format!("{kind}: {e}")),
    }
    Ok(())
}

/// The describe-equivalent of one object: its YAML (without managedFields)
/// followed by its events as comments.
pub fn describe<K: Serialize>(obj: &K, kind: &str, name: &str, events: &[Event]) -> String {
    let mut v = serde_json::to_value(obj).unwrap_or_default();
    if let Some(m) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
        m.remove("managedFields");
    }
    let yaml = serde_saphyr::to_string(&v).unwrap_or_else(|e| format!("# cannot render: {e}\n"));
    let ev = format_events(events, Some((kind, name)));
    let ev: String = ev.lines().map(|l| format!("# {l}\n")).collect();
    format!("# {kind}/{name}\n{yaml}\n# --- events ---\n{ev}")
}

/// Events as a table, oldest first, optionally only those about `kind/name`.
pub fn format_events(events: &[Event], about: Option<(&str, &str)>) -> String {
    let mut evs: Vec<&Event> = events
        .iter()
        .filter(|e| {
            about.is_none_or(|(k, n)| {
                e.involved_object.kind.as_deref() == Some(k) && e.involved_object.name.as_deref() == Some(n)
            })
        })
        .collect();
    evs.sort_by_key(|e| event_time(e));
    if evs.is_empty() {
        return "(no events)\n".into();
    }
    let mut t = String::new();
    for e in evs {
        let _ = writeln!(
            t,
            "{} {} {} {}/{} x{}: {}",
            event_time(e).map(|t| t.to_string()).unwrap_or_else(|| "-".into()),
            e.type_.as_deref().unwrap_or("-"),
            e.reason.as_deref().unwrap_or("-"),
            e.involved_object.kind.as_deref().unwrap_or("?"),
            e.involved_object.name.as_deref().unwrap_or("?"),
            e.count.unwrap_or(1),
            e.message.as_deref().unwrap_or("").trim()
        );
    }
    t
}

/// The latest time an event reports.
pub fn event_time(e: &Event) -> Option<k8s_openapi::jiff::Timestamp> {
    e.last_timestamp
        .as_ref()
        .map(|t| t.0)
        .or_else(|| e.event_time.as_ref().map(|t| t.0))
        .or_else(|| e.first_timestamp.as_ref().map(|t| t.0))
        .or_else(|| e.metadata.creation_timestamp.as_ref().map(|t| t.0))
}

/// The last `lines` lines of a container's log (all without a count); with
/// `previous`, of its last instance, where a crashed container's output is.
pub async fn container_log(
    pods: &Api<Pod>,
    pod: &str,
    container: &str,
    previous: bool,
    lines: Option<i64>,
) -> Result<String, kube::Error> {
    let lp = LogParams { container: Some(container.to_owned()), previous, tail_lines: lines, ..Default::default() };
    pods.logs(pod, &lp).await
}

/// The resource metrics API (metrics-server).
pub const METRICS_API: &str = "metrics.k8s.io/v1beta1";

/// A container's memory working set in bytes, from the metrics API; `None`
/// when the API is not served or has no sample of it yet.
pub async fn container_memory(client: &kube::Client, namespace: &str, pod: &str, container: &str) -> Option<u64> {
    let uri = format!("/apis/{METRICS_API}/namespaces/{namespace}/pods/{pod}");
    let req = http::Request::get(&uri).body(Vec::new()).ok()?;
    let metrics: serde_json::Value =
        tokio::time::timeout(std::time::Duration::from_secs(5), client.request(req)).await.ok()?.ok()?;
    memory_of(&metrics, container)
}

/// The memory usage of `container` in a `PodMetrics` object, in bytes.
pub fn memory_of(metrics: &serde_json::Value, container: &str) -> Option<u64> {
    let c = metrics["containers"].as_array()?.iter().find(|c| c["name"] == container)?;
    let bytes = crate::rules::parse_quantity(c["usage"]["memory"].as_str()?)?;
    (bytes.is_finite() && bytes >= 0.0).then_some(bytes as u64)
}

/// Write `text` (redacted) to `dir/file`, creating `dir`; for callers that
/// add their own files to a bundle (e.g. a suite's failure message).
pub fn write_redacted(dir: &Path, file: &str, text: &str, redactor: &Redactor) -> std::io::Result<PathBuf> {
    std::fs::create_dir_all(dir)?;
    let p = dir.join(file);
    std::fs::write(&p, redactor.redact_str(text).as_bytes())?;
    Ok(p)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(kind: &str, name: &str, reason: &str, msg: &str, t: &str) -> Event {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": format!("{name}.1"), "namespace": "ns"},
            "involvedObject": {"kind": kind, "name": name},
            "reason": reason, "message": msg, "type": "Warning", "count": 2,
            "lastTimestamp": t
        }))
        .expect("event fixture")
    }

    #[test]
    fn events_are_filtered_and_sorted() {
        let evs = vec![
            event("Pod", "b", "Failed", "second", "2026-01-01T00:00:02Z"),
            event("Pod", "a", "Other", "other pod", "2026-01-01T00:00:00Z"),
            event("Pod", "b", "Pulling", "first", "2026-01-01T00:00:01Z"),
        ];
        let t = format_events(&evs, Some(("Pod", "b")));
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines.len(), 2, "{t}");
        assert!(lines[0].ends_with("first") && lines[1].ends_with("second"), "{t}");
        assert!(lines[0].contains("x2"));
    }

    #[test]
    fn describe_strips_managed_fields_and_appends_events() {
        let pod: Pod = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p", "managedFields": [{"manager": "kubegate"}]},
            "status": {"phase": "Pending"}
        }))
        .expect("pod fixture");
        let d = describe(
            &pod,
            "Pod",
            "p",
            &[event("Pod", "p", "BackOff", "Back-off pulling image", "2026-01-01T00:00:00Z")],
        );
        assert!(!d.contains("managedFields"));
        assert!(d.contains("phase: Pending"));
        assert!(d.contains("# --- events ---") && d.contains("Back-off pulling image"));
    }

    #[test]
    fn memory_comes_from_the_pod_metrics_of_the_container() {
        let m = serde_json::json!({"containers": [
            {"name": "sidecar", "usage": {"cpu": "1m", "memory": "1Mi"}},
            {"name": "backend", "usage": {"cpu": "3m", "memory": "12288Ki"}}
        ]});
        assert_eq!(memory_of(&m, "backend"), Some(12 * 1024 * 1024));
        assert_eq!(memory_of(&m, "other"), None);
    }

    #[test]
    fn writer_redacts_everything() {
        let tmp = tempfile::tempdir().expect("tempdir");
        let r = Redactor::new([("JWT_SECRET", "hunter22")]);
        let mut w = Writer { dir: tmp.path().to_owned(), redactor: &r, problems: vec![], files: vec![] };
        w.write("logs/x.log", "token hunter22 here").expect("write");
        let back = std::fs::read_to_string(tmp.path().join("logs/x.log")).expect("read");
        assert_eq!(back, "token [REDACTED:JWT_SECRET] here");
    }
}
