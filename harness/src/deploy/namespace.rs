//! The namespace each deploy path of a run gets, and the guard that removes
//! it again: on success, on failure and on panic.

use super::{DeployError, PATH_LABEL, RUN_ID_LABEL, RunId};
use crate::finding::DeployPath;
use crate::redact::Redactor;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, DeleteParams, ObjectMeta, PostParams};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Environment switch that keeps namespaces for diagnosis (`KUBEGATE_KEEP=1`).
pub const KEEP_ENV: &str = "KUBEGATE_KEEP";
/// Label prefix of the Pod Security admission labels copied from the
/// rendered Namespace object.
pub const POD_SECURITY_PREFIX: &str = "pod-security.kubernetes.io/";

/// The Pod Security labels (`pod-security.kubernetes.io/*`) among `labels`.
pub fn pod_security_labels(labels: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    labels.iter().filter(|(k, _)| k.starts_with(POD_SECURITY_PREFIX)).map(|(k, v)| (k.clone(), v.clone())).collect()
}

/// The Namespace object kubegate creates for one path of one run.
pub fn namespace_object(run: &RunId, path: DeployPath, extra_labels: &BTreeMap<String, String>) -> Namespace {
    named_namespace_object(&run.namespace(path), run, path, extra_labels)
}

/// A Namespace object `name` with kubegate's labels for `run` and `path`.
fn named_namespace_object(
    name: &str,
    run: &RunId,
    path: DeployPath,
    extra_labels: &BTreeMap<String, String>,
) -> Namespace {
    let mut labels = extra_labels.clone();
    labels.insert(RUN_ID_LABEL.to_owned(), run.as_str().to_owned());
    labels.insert(PATH_LABEL.to_owned(), path.to_string());
    labels.insert("app.kubernetes.io/managed-by".to_owned(), "kubegate".to_owned());
    Namespace {
        metadata: ObjectMeta { name: Some(name.to_owned()), labels: Some(labels), ..Default::default() },
        ..Default::default()
    }
}

/// Create the namespace of `path` for `run`, with the given Pod Security
/// labels, and return a guard that deletes it when dropped.
pub async fn create_namespace(
    client: &kube::Client,
    config: &kube::Config,
    run: &RunId,
    path: DeployPath,
    pod_security: &BTreeMap<String, String>,
) -> Result<NamespaceGuard, DeployError> {
    create_named(client, config, run, path, run.namespace(path), pod_security).await
}

/// Create a namespace of `run` beside `path`'s own, `kg-<run>-<path>-<purpose>`
/// ([`RunId::helper_namespace`]), for what a check must run outside the app's
/// namespace (e.g. a pod its Pod Security level refuses), labelled like the
/// path's so the sweeper removes it with the run; the guard deletes it.
pub async fn create_helper_namespace(
    client: &kube::Client,
    config: &kube::Config,
    run: &RunId,
    path: DeployPath,
    purpose: &str,
    pod_security: &BTreeMap<String, String>,
) -> Result<NamespaceGuard, DeployError> {
    create_named(client, config, run, path, run.helper_namespace(path, purpose), pod_security).await
}

async fn create_named(
    client: &kube::Client,
    config: &kube::Config,
    run: &RunId,
    path: DeployPath,
    name: String,
    pod_security: &BTreeMap<String, String>,
) -> Result<NamespaceGuard, DeployError> {
    let ns = named_namespace_object(&name, run, path, &pod_security_labels(pod_security));
    let api: Api<Namespace> = Api::all(client.clone());
    api.create(&PostParams::default(), &ns).await.map_err(|source| DeployError::Api {
        action: "create",
        kind: "Namespace".into(),
        name: name.clone(),
        namespace: String::new(),
        source: Box::new(source),
    })?;
    Ok(NamespaceGuard {
        name,
        run: run.clone(),
        path,
        config: config.clone(),
        diagnostics: None,
        failed: false,
        armed: true,
    })
}

/// Why a namespace did not go away within its deadline.
#[derive(Debug, thiserror::Error)]
pub enum DeleteNamespaceError {
    /// The API refused the delete or a read.
    #[error("deleting namespace {namespace} failed")]
    Api {
        /// The namespace.
        namespace: String,
        /// The API server's answer.
        #[source]
        source: kube::Error,
    },
    /// Watching the namespace failed.
    #[error("watching namespace {namespace} failed")]
    Watch {
        /// The namespace.
        namespace: String,
        /// Why the watch ended.
        #[source]
        source: kube::runtime::wait::Error,
    },
    /// Still there after the deadline; `blockers` names the finalizers.
    #[error("namespace {namespace} still {phase} after {waited_secs}s; blocked by: {}", blockers.join("; "))]
    Stuck {
        /// The namespace.
        namespace: String,
        /// Its phase (`Terminating`, `Active`).
        phase: String,
        /// Seconds waited.
        waited_secs: u64,
        /// Finalizers, conditions and objects that hold it.
        blockers: Vec<String>,
    },
}

/// Delete `namespace` and wait until it is gone, at most `deadline`. On
/// timeout the error names what blocks it: the namespace's own finalizers,
/// the namespace controller's conditions, and objects left in it that carry
/// `metadata.finalizers`.
pub async fn delete_namespace(
    client: &kube::Client,
    namespace: &str,
    deadline: Duration,
) -> Result<(), DeleteNamespaceError> {
    let api_err = |source| DeleteNamespaceError::Api { namespace: namespace.to_owned(), source };
    let api: Api<Namespace> = Api::all(client.clone());
    let started = Instant::now();
    stop_pods_at_once(client, namespace).await;
    let params = DeleteParams::background();
    match api.delete(namespace, &params).await {
        Ok(_) => {}
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(()),
        Err(e) => return Err(api_err(e)),
    }
    let gone = kube::runtime::wait::await_condition(api.clone(), namespace, |o: Option<&Namespace>| o.is_none());
    match tokio::time::timeout(deadline, gone).await {
        Ok(Ok(_)) => Ok(()),
        Ok(Err(source)) => Err(DeleteNamespaceError::Watch { namespace: namespace.to_owned(), source }),
        Err(_) => {
            let ns = api.get_opt(namespace).await.map_err(api_err)?;
            let Some(ns) = ns else { return Ok(()) };
            let mut blockers = namespace_blockers(&ns);
            blockers.extend(stuck_objects(client, namespace).await);
            if blockers.is_empty() {
                blockers.push("nothing reported yet (the namespace controller is still deleting content)".into());
            }
            Err(DeleteNamespaceError::Stuck {
                namespace: namespace.to_owned(),
                phase: ns.status.and_then(|s| s.phase).unwrap_or_else(|| "present".into()),
                waited_secs: started.elapsed().as_secs(),
                blockers,
            })
        }
    }
}

/// The checks are over, so the pods' graceful shutdown (preStop pause,
/// linger, drain: about 12 s here) would only delay the namespace: remove
/// the workloads, then the pods with grace period 0. The kubelet still
/// stops their containers (SIGTERM, SIGKILL after its 2 s minimum), but the
/// pod objects go at once instead of after the kubelet's status round trips,
/// and the namespace controller finds none left: a namespace went in 5.5 s
/// instead of 10.5 s with 1 s of grace (docs/benchmarks.md). Best effort:
/// the namespace's deletion removes everything anyway.
async fn stop_pods_at_once(client: &kube::Client, namespace: &str) {
    use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
    let all = Default::default();
    let orphan = DeleteParams::background();
    let _ = Api::<Deployment>::namespaced(client.clone(), namespace).delete_collection(&orphan, &all).await;
    let _ = Api::<StatefulSet>::namespaced(client.clone(), namespace).delete_collection(&orphan, &all).await;
    let _ = Api::<ReplicaSet>::namespaced(client.clone(), namespace).delete_collection(&orphan, &all).await;
    let pods: Api<k8s_openapi::api::core::v1::Pod> = Api::namespaced(client.clone(), namespace);
    let _ = pods.delete_collection(&DeleteParams::background().grace_period(0), &all).await;
}

/// What the Namespace object itself says blocks its deletion.
pub fn namespace_blockers(ns: &Namespace) -> Vec<String> {
    let mut out = Vec::new();
    for f in ns.metadata.finalizers.iter().flatten() {
        out.push(format!("namespace finalizer {f} (metadata.finalizers)"));
    }
    for c in ns.status.as_ref().and_then(|s| s.conditions.as_ref()).into_iter().flatten() {
        // The namespace controller reports what remains as True conditions.
        if c.status == "True" {
            let msg = c.message.as_deref().unwrap_or("");
            out.push(format!("{}: {msg}", c.type_));
        }
    }
    let spec_finalizers = ns.spec.as_ref().and_then(|s| s.finalizers.as_ref()).into_iter().flatten();
    for f in spec_finalizers {
        // `kubernetes` is always there while the controller empties the
        // namespace; it only explains the wait when nothing else does.
        if f != "kubernetes" || out.is_empty() {
            out.push(format!("namespace finalizer {f} (spec.finalizers)"));
        }
    }
    out
}

/// Objects left in the namespace with finalizers, as `Kind/name [finalizers]`.
async fn stuck_objects(client: &kube::Client, namespace: &str) -> Vec<String> {
    use k8s_openapi::api::{apps::v1::Deployment, core::v1::*, discovery::v1::EndpointSlice};
    async fn scan<K>(client: &kube::Client, ns: &str, out: &mut Vec<String>)
    where
        K: kube::Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + std::fmt::Debug,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(client.clone(), ns);
        if let Ok(list) = api.list(&Default::default()).await {
            for o in list.items {
                let m = o.meta();
                if let Some(f) = m.finalizers.as_ref().filter(|f| !f.is_empty()) {
                    out.push(format!(
                        "{}/{} has finalizers [{}]",
                        K::kind(&Default::default()),
                        m.name.as_deref().unwrap_or("?"),
                        f.join(", ")
                    ));
                }
            }
        }
    }
    let mut out = Vec::new();
    scan::<Pod>(client, namespace, &mut out).await;
    scan::<Service>(client, namespace, &mut out).await;
    scan::<PersistentVolumeClaim>(client, namespace, &mut out).await;
    scan::<ConfigMap>(client, namespace, &mut out).await;
    scan::<Secret>(client, namespace, &mut out).await;
    scan::<Deployment>(client, namespace, &mut out).await;
    scan::<EndpointSlice>(client, namespace, &mut out).await;
    out
}

/// What a guard collects before it deletes a namespace after a failure.
#[derive(Debug, Clone)]
pub struct GuardDiagnostics {
    /// Redacts secret values from everything written.
    pub redactor: Redactor,
    /// Rendered manifests to include (raw YAML or `helm get manifest`).
    pub rendered_manifests: Option<String>,
    /// Helm release whose status to include, if the path is Helm.
    pub helm: Option<crate::diagnostics::HelmRef>,
}

/// Deletes its namespace when dropped, even during a panic, unless
/// `KUBEGATE_KEEP=1`. Before deleting after a failure (a panic, or
/// [`NamespaceGuard::mark_failed`]) it writes a diagnostics bundle.
///
/// `Drop` cannot be async: it runs the cleanup on a thread of its own with
/// its own runtime and client (the caller's runtime may be the one blocked in
/// `drop`), sends the delete and returns; it never waits for the namespace to
/// be gone (use [`NamespaceGuard::cleanup`] for that) and never panics.
pub struct NamespaceGuard {
    name: String,
    run: RunId,
    path: DeployPath,
    config: kube::Config,
    diagnostics: Option<GuardDiagnostics>,
    failed: bool,
    armed: bool,
}

impl std::fmt::Debug for NamespaceGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NamespaceGuard").field("name", &self.name).field("failed", &self.failed).finish()
    }
}

impl NamespaceGuard {
    /// Guard an existing namespace (e.g. one made by someone else).
    pub fn adopt(config: &kube::Config, run: &RunId, path: DeployPath) -> Self {
        NamespaceGuard {
            name: run.namespace(path),
            run: run.clone(),
            path,
            config: config.clone(),
            diagnostics: None,
            failed: false,
            armed: true,
        }
    }

    /// The namespace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The run id.
    pub fn run(&self) -> &RunId {
        &self.run
    }

    /// The deploy path.
    pub fn path(&self) -> DeployPath {
        self.path
    }

    /// Collect a diagnostics bundle before deleting after a failure.
    pub fn with_diagnostics(mut self, d: GuardDiagnostics) -> Self {
        self.diagnostics = Some(d);
        self
    }

    /// Set or replace what diagnostics include (e.g. once the release exists).
    pub fn set_diagnostics(&mut self, d: GuardDiagnostics) {
        self.diagnostics = Some(d);
    }

    /// Record that the test failed: diagnostics are written before deletion.
    pub fn mark_failed(&mut self) {
        self.failed = true;
    }

    /// True when `KUBEGATE_KEEP=1` (or `true`) is set.
    pub fn keep_requested() -> bool {
        matches!(std::env::var(KEEP_ENV).as_deref(), Ok("1" | "true" | "yes"))
    }

    /// Delete the namespace now and wait until it is gone (at most
    /// `deadline`); the error names what blocks it. Diagnostics are written
    /// first if the guard was marked failed. Disarms the guard.
    pub async fn cleanup(mut self, client: &kube::Client, deadline: Duration) -> Result<(), DeleteNamespaceError> {
        self.armed = false;
        if self.failed {
            self.write_diagnostics(client).await;
        }
        if Self::keep_requested() {
            eprintln!("    kept namespace {} ({KEEP_ENV}=1)", self.name);
            return Ok(());
        }
        delete_namespace(client, &self.name, deadline).await
    }

    /// Leave the namespace in place (the caller takes over) and disarm.
    pub fn disarm(mut self) -> String {
        self.armed = false;
        std::mem::take(&mut self.name)
    }

    async fn write_diagnostics(&self, client: &kube::Client) {
        let Some(d) = &self.diagnostics else { return };
        let req = crate::diagnostics::BundleRequest {
            run: self.run.clone(),
            path: self.path,
            namespace: self.name.clone(),
            redactor: d.redactor.clone(),
            rendered_manifests: d.rendered_manifests.clone(),
            helm: d.helm.clone(),
        };
        match crate::diagnostics::collect(client, &req).await {
            Ok(dir) => eprintln!("    diagnostics for {} written to {}", self.name, dir.display()),
            Err(e) => eprintln!("    warning: diagnostics for {} incomplete: {e:#}", self.name),
        }
    }
}

impl Drop for NamespaceGuard {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let failed = self.failed || std::thread::panicking();
        let keep = Self::keep_requested();
        let name = self.name.clone();
        let config = self.config.clone();
        let diag = (failed && self.diagnostics.is_some()).then(|| NamespaceGuard {
            name: self.name.clone(),
            run: self.run.clone(),
            path: self.path,
            config: self.config.clone(),
            diagnostics: self.diagnostics.clone(),
            failed: true,
            armed: false,
        });
        let work = move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => {
                    eprintln!("    warning: cannot clean up namespace {name}: no runtime: {e}");
                    return;
                }
            };
            rt.block_on(async move {
                crate::provider::client::install_crypto_provider();
                let client = match kube::Client::try_from(config) {
                    Ok(c) => c,
                    Err(e) => {
                        eprintln!("    warning: cannot clean up namespace {name}: {e}");
                        return;
                    }
                };
                if let Some(g) = diag {
                    g.write_diagnostics(&client).await;
                }
                if keep {
                    eprintln!("    kept namespace {name} ({KEEP_ENV}=1)");
                    return;
                }
                let api: Api<Namespace> = Api::all(client);
                let params = DeleteParams::background();
                let del = api.delete(&name, &params);
                match tokio::time::timeout(Duration::from_secs(30), del).await {
                    Ok(Ok(_)) => {}
                    Ok(Err(kube::Error::Api(s))) if s.code == 404 => {}
                    Ok(Err(e)) => {
                        eprintln!("    warning: deleting namespace {name} failed: {e} (run `kubegate sweep`)");
                    }
                    Err(_) => eprintln!("    warning: deleting namespace {name} timed out (run `kubegate sweep`)"),
                }
            });
        };
        // Join so the delete is sent before the process may exit.
        match std::thread::Builder::new().name("kubegate-ns-cleanup".into()).spawn(work) {
            Ok(h) => {
                if h.join().is_err() {
                    eprintln!("    warning: cleanup of namespace {} panicked (run `kubegate sweep`)", self.name);
                }
            }
            Err(e) => eprintln!("    warning: cannot spawn cleanup of namespace {}: {e}", self.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namespace_object_has_run_labels_and_only_pod_security_labels_copied() {
        let run = RunId::parse("abc123").expect("valid id");
        let rendered: BTreeMap<String, String> = [
            ("pod-security.kubernetes.io/enforce", "restricted"),
            ("pod-security.kubernetes.io/enforce-version", "latest"),
            ("name", "todo-chatbot"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let ns = namespace_object(&run, DeployPath::Raw, &pod_security_labels(&rendered));
        let labels = ns.metadata.labels.expect("labels");
        assert_eq!(ns.metadata.name.as_deref(), Some("kg-abc123-raw"));
        assert_eq!(labels.get(RUN_ID_LABEL).map(String::as_str), Some("abc123"));
        assert_eq!(labels.get(PATH_LABEL).map(String::as_str), Some("raw"));
        assert_eq!(labels.get("pod-security.kubernetes.io/enforce").map(String::as_str), Some("restricted"));
        assert!(!labels.contains_key("name"));
    }

    #[test]
    fn blockers_name_finalizers_and_conditions() {
        let ns: Namespace = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kg-x-raw"},
            "spec": {"finalizers": ["kubernetes"]},
            "status": {"phase": "Terminating", "conditions": [
                {"type": "NamespaceFinalizersRemaining", "status": "True",
                 "message": "Some content in the namespace has finalizers remaining: example.com/hold in 1 resource instances"},
                {"type": "NamespaceDeletionDiscoveryFailure", "status": "False", "message": "All resources successfully discovered"}
            ]}
        }))
        .expect("fixture");
        let b = namespace_blockers(&ns);
        assert_eq!(b.len(), 1, "{b:?}");
        assert!(b[0].contains("example.com/hold"));
        let mut bare = ns.clone();
        bare.status = None;
        assert_eq!(namespace_blockers(&bare), ["namespace finalizer kubernetes (spec.finalizers)"]);
    }
}
