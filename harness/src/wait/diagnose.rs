//! Dead ends: states a wait can never leave on its own (an image that cannot
//! be pulled, a container that keeps crashing, a missing Secret, a pod that
//! cannot be scheduled or admitted, probes failing past their threshold, a
//! LoadBalancer nobody provisions). Classified by pure functions over pods,
//! events and Services, so each case is unit-tested on fixtures.

use super::cause::{SpecCause, format_causes};
use crate::provider::LoadBalancerSupport;
use k8s_openapi::api::core::v1::{Event, Pod, Probe, Service};
use std::time::Duration;

/// Which kind of dead end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeadEndKind {
    /// ImagePullBackOff / ErrImagePull / InvalidImageName.
    ImagePull,
    /// ErrImageNeverPull: `imagePullPolicy: Never` and the image is not on the node.
    ImageNeverPull,
    /// CrashLoopBackOff.
    CrashLoop,
    /// CreateContainerConfigError (missing Secret/ConfigMap or key).
    ContainerConfig,
    /// CreateContainerError / RunContainerError.
    ContainerStart,
    /// The scheduler cannot place the pod.
    Unschedulable,
    /// The ReplicaSet cannot create pods (Pod Security, quota, ...).
    PodRejected,
    /// Liveness probe failing beyond its failureThreshold.
    LivenessProbe,
    /// Readiness probe failing beyond its failureThreshold.
    ReadinessProbe,
    /// Startup probe failing beyond its failureThreshold.
    StartupProbe,
    /// A LoadBalancer Service that no controller provisions.
    NoLoadBalancerProvider,
    /// The LoadBalancer controller refused to allocate an address.
    LoadBalancerAllocation,
}

/// A dead end found while waiting, with the evidence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeadEnd {
    /// Which dead end.
    pub kind: DeadEndKind,
    /// The object at fault, `Kind/name`.
    pub object: String,
    /// The container at fault, if any.
    pub container: Option<String>,
    /// The reason Kubernetes gives (`ImagePullBackOff`, `Unhealthy`, ...).
    pub reason: String,
    /// Kubernetes' message.
    pub message: String,
    /// What it means and what to do.
    pub hint: String,
    /// The fields of the spec that likely cause it, with their values
    /// ([`super::cause::likely_cause`]; filled in by the waiter, which reads
    /// the pod, its log and metrics).
    pub causes: Vec<SpecCause>,
}

impl std::fmt::Display for DeadEnd {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.object)?;
        if let Some(c) = &self.container {
            write!(f, " container {c}")?;
        }
        write!(f, ": {}: {}{}\n  hint: {}", self.reason, self.message, format_causes(&self.causes), self.hint)
    }
}

/// Which dead ends a wait treats as expected (e.g. the DB-outage test
/// expects readiness failures; the liveness test expects restarts).
#[derive(Debug, Clone)]
pub struct DeadEndPolicy {
    /// Kinds not reported.
    pub ignore: Vec<DeadEndKind>,
    /// An Unschedulable pod younger than this is not yet a dead end (a fresh
    /// node may still carry its not-ready taint).
    pub scheduling_grace: Duration,
    /// A pod the scheduler cannot place for lack of CPU or memory waits this
    /// long before that is a dead end: on a node shared by checks running side
    /// by side, namespaces being torn down free their requests within seconds.
    pub capacity_grace: Duration,
}

impl Default for DeadEndPolicy {
    fn default() -> Self {
        DeadEndPolicy {
            ignore: Vec::new(),
            scheduling_grace: Duration::from_secs(5),
            capacity_grace: Duration::from_secs(45),
        }
    }
}

impl DeadEndPolicy {
    fn allows(&self, k: DeadEndKind) -> bool {
        !self.ignore.contains(&k)
    }
}

/// A dead end of one pod, from its status alone.
pub fn classify_pod(pod: &Pod, now: k8s_openapi::jiff::Timestamp, policy: &DeadEndPolicy) -> Option<DeadEnd> {
    if pod.metadata.deletion_timestamp.is_some() {
        return None; // going away: not what the wait is about
    }
    let pname = pod.metadata.name.clone().unwrap_or_default();
    let status = pod.status.as_ref()?;
    let statuses = status.init_container_statuses.iter().flatten().chain(status.container_statuses.iter().flatten());
    for cs in statuses {
        let Some(w) = cs.state.as_ref().and_then(|s| s.waiting.as_ref()) else { continue };
        let reason = w.reason.clone().unwrap_or_default();
        let message = w.message.clone().unwrap_or_default();
        let (kind, hint) = match reason.as_str() {
            "ErrImageNeverPull" => (
                DeadEndKind::ImageNeverPull,
                format!(
                    "image {} is not in the node's container runtime and imagePullPolicy is Never: build and load it (`kubegate images build` / `kubegate images load`) or fix the tag",
                    cs.image
                ),
            ),
            "ImagePullBackOff" | "ErrImagePull" | "InvalidImageName" => (
                DeadEndKind::ImagePull,
                format!(
                    "image {} cannot be pulled: check its name and tag (no registry is used here: images are loaded into the node)",
                    cs.image
                ),
            ),
            "CrashLoopBackOff" => (
                DeadEndKind::CrashLoop,
                format!(
                    "the container keeps exiting ({} restarts): see the cause above and its log tail below",
                    cs.restart_count
                ),
            ),
            // The kubelet's informer cache not synced yet ("failed to sync
            // secret cache: timed out waiting for the condition") is
            // transient: it retries on its own. Anything else (a missing
            // Secret or key, runAsNonRoot with a root image) stays.
            "CreateContainerConfigError" if is_transient_config_error(&message) => continue,
            "CreateContainerConfigError" => (DeadEndKind::ContainerConfig, missing_config_hint(&message)),
            "CreateContainerError" | "RunContainerError" => (
                DeadEndKind::ContainerStart,
                "the runtime cannot create or start the container: see the cause above (its command, memory limit, securityContext or mounts)"
                    .to_owned(),
            ),
            _ => continue,
        };
        if policy.allows(kind) {
            return Some(DeadEnd {
                kind,
                object: format!("Pod/{pname}"),
                container: Some(cs.name.clone()),
                reason,
                message,
                hint,
                causes: Vec::new(),
            });
        }
    }
    let unsched =
        status.conditions.iter().flatten().find(|c| {
            c.type_ == "PodScheduled" && c.status == "False" && c.reason.as_deref() == Some("Unschedulable")
        })?;
    let since = unsched.last_transition_time.as_ref().map(|t| t.0).unwrap_or(now);
    let age = now.duration_since(since).unsigned_abs();
    let message = unsched.message.clone().unwrap_or_default();
    let grace = if message.contains("Insufficient") { policy.capacity_grace } else { policy.scheduling_grace };
    if policy.allows(DeadEndKind::Unschedulable) && age >= grace {
        return Some(DeadEnd {
            kind: DeadEndKind::Unschedulable,
            object: format!("Pod/{pname}"),
            container: None,
            reason: "FailedScheduling".into(),
            message,
            hint: "no node can take the pod: lower its resource requests or replicas, or free the node (two namespaces of the app must fit on one 2-core node)".into(),
            causes: Vec::new(),
        });
    }
    None
}

/// A CreateContainerConfigError the kubelet recovers from by itself: its
/// Secret/ConfigMap cache had not synced when the container was created.
pub fn is_transient_config_error(message: &str) -> bool {
    message.starts_with("failed to sync secret cache") || message.starts_with("failed to sync configmap cache")
}

/// A Secret or ConfigMap (or one key of it) a CreateContainerConfigError says is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MissingRef {
    /// `Secret` or `ConfigMap`.
    pub kind: &'static str,
    /// Its name (without the namespace).
    pub name: String,
    /// The missing key; `None` when the whole object is missing.
    pub key: Option<String>,
}

/// What a CreateContainerConfigError message says is missing. The kubelet
/// writes `secret "NAME" not found`, `couldn't find key KEY in Secret NS/NAME`
/// and the same two for configmaps.
pub fn missing_config_ref(message: &str) -> Option<MissingRef> {
    if let Some(rest) = message.strip_prefix("couldn't find key ")
        && let Some((key, obj)) = rest.split_once(" in ")
        && let Some((kind, qualified)) = obj.split_once(' ')
    {
        let kind = match kind {
            "Secret" => "Secret",
            "ConfigMap" => "ConfigMap",
            _ => return None,
        };
        let name = qualified.rsplit_once('/').map_or(qualified, |(_, n)| n);
        return Some(MissingRef { kind, name: name.to_owned(), key: Some(key.to_owned()) });
    }
    for (prefix, kind) in [("secret \"", "Secret"), ("configmap \"", "ConfigMap")] {
        if let Some(rest) = message.strip_prefix(prefix)
            && let Some((name, _)) = rest.split_once('"')
        {
            return Some(MissingRef { kind, name: name.to_owned(), key: None });
        }
    }
    None
}

/// What a CreateContainerConfigError message says is missing, and the fix.
pub fn missing_config_hint(message: &str) -> String {
    match missing_config_ref(message) {
        Some(MissingRef { kind, name, key: Some(key) }) => {
            format!("key {key} is missing from {kind} {name}: add it to the {kind} (or mark the reference optional)")
        }
        Some(MissingRef { kind, name, key: None }) => format!(
            "{kind} {name} does not exist in the namespace: create it before deploying (a Secret from the command line: `kubectl create secret generic {name} ...`)"
        ),
        None => "a referenced Secret, ConfigMap or key is missing (see the message)".into(),
    }
}

/// Which probe an `Unhealthy` event is about.
fn probe_of(message: &str) -> Option<(DeadEndKind, &'static str)> {
    if message.starts_with("Liveness probe") {
        Some((DeadEndKind::LivenessProbe, "liveness"))
    } else if message.starts_with("Readiness probe") {
        Some((DeadEndKind::ReadinessProbe, "readiness"))
    } else if message.starts_with("Startup probe") {
        Some((DeadEndKind::StartupProbe, "startup"))
    } else {
        None
    }
}

/// The container name in an event's `fieldPath` (`spec.containers{backend}`).
fn container_of(field_path: &str) -> Option<&str> {
    field_path.split_once('{')?.1.strip_suffix('}')
}

/// A dead end an event shows. `new_count` is how often the event recurred
/// since the wait began (its `count` minus the count already seen before).
pub fn classify_event(ev: &Event, new_count: i32, pods: &[Pod], policy: &DeadEndPolicy) -> Option<DeadEnd> {
    let reason = ev.reason.as_deref()?;
    let message = ev.message.clone().unwrap_or_default();
    let obj_kind = ev.involved_object.kind.as_deref().unwrap_or("");
    let obj_name = ev.involved_object.name.clone().unwrap_or_default();
    match (reason, obj_kind) {
        ("FailedCreate", "ReplicaSet") if new_count > 0 && policy.allows(DeadEndKind::PodRejected) => Some(DeadEnd {
            kind: DeadEndKind::PodRejected,
            object: format!("ReplicaSet/{obj_name}"),
            container: None,
            reason: reason.into(),
            message: message.clone(),
            hint: if message.contains("PodSecurity") {
                "Pod Security admission rejects the pod: fix its securityContext to meet the namespace's level".into()
            } else {
                "the ReplicaSet cannot create pods (admission, quota or an invalid spec)".into()
            },
            causes: Vec::new(),
        }),
        ("Unhealthy", "Pod") => {
            let (kind, probe_name) = probe_of(&message)?;
            if !policy.allows(kind) {
                return None;
            }
            let pod = pods.iter().find(|p| p.metadata.name.as_deref() == Some(&obj_name))?;
            if pod.metadata.deletion_timestamp.is_some() {
                return None;
            }
            let container = ev.involved_object.field_path.as_deref().and_then(container_of).map(str::to_owned);
            let threshold = probe_threshold(pod, container.as_deref(), kind).unwrap_or(3);
            (new_count > threshold).then(|| DeadEnd {
                kind,
                object: format!("Pod/{obj_name}"),
                container: container.clone(),
                reason: reason.into(),
                message: message.clone(),
                hint: format!(
                    "the {probe_name} probe failed {new_count} times, beyond its failureThreshold {threshold}: see the cause above (its path, port or timings)"
                ),
                causes: Vec::new(),
            })
        }
        _ => None,
    }
}

fn probe_threshold(pod: &Pod, container: Option<&str>, kind: DeadEndKind) -> Option<i32> {
    let spec = pod.spec.as_ref()?;
    let c = spec.containers.iter().find(|c| container.is_none_or(|n| c.name == n))?;
    let probe: Option<&Probe> = match kind {
        DeadEndKind::LivenessProbe => c.liveness_probe.as_ref(),
        DeadEndKind::ReadinessProbe => c.readiness_probe.as_ref(),
        DeadEndKind::StartupProbe => c.startup_probe.as_ref(),
        _ => None,
    };
    Some(probe?.failure_threshold.unwrap_or(3))
}

/// Event reasons of LoadBalancer controllers that are provisioning (or
/// refusing) a Service.
const LB_PROGRESS_REASONS: [&str; 4] = ["IPAllocated", "nodeAssigned", "EnsuringLoadBalancer", "EnsuredLoadBalancer"];
const LB_FAILURE_REASONS: [&str; 3] = ["AllocationFailed", "SyncLoadBalancerFailed", "LoadBalancerFailed"];

/// What is known about LoadBalancer provisioning on the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadBalancerEvidence {
    /// What the provider says (`None`: not told; then pods are looked for).
    pub support: Option<LoadBalancerSupport>,
    /// Running MetalLB (or other in-cluster LB controller) pods found.
    pub controller_pods: usize,
    /// How long the Service has waited for an address.
    pub waited: Duration,
    /// How long to give a controller before calling it absent.
    pub grace: Duration,
}

/// A dead end of a LoadBalancer Service still without an address.
pub fn classify_load_balancer(svc: &Service, events: &[Event], ev: &LoadBalancerEvidence) -> Option<DeadEnd> {
    if svc.spec.as_ref()?.type_.as_deref() != Some("LoadBalancer")
        || super::conditions::load_balancer_address(svc).is_some()
    {
        return None;
    }
    let name = svc.metadata.name.clone().unwrap_or_default();
    let about: Vec<&Event> = events
        .iter()
        .filter(|e| {
            e.involved_object.kind.as_deref() == Some("Service") && e.involved_object.name.as_deref() == Some(&name)
        })
        .collect();
    if let Some(f) = about.iter().find(|e| LB_FAILURE_REASONS.contains(&e.reason.as_deref().unwrap_or(""))) {
        return Some(DeadEnd {
            kind: DeadEndKind::LoadBalancerAllocation,
            object: format!("Service/{name}"),
            container: None,
            reason: f.reason.clone().unwrap_or_default(),
            message: f.message.clone().unwrap_or_default(),
            hint: "the LoadBalancer controller refuses this Service: check its address pool (MetalLB IPAddressPool) and the Service's annotations".into(),
            causes: Vec::new(),
        });
    }
    if ev.waited < ev.grace {
        return None;
    }
    let progressing = about.iter().any(|e| LB_PROGRESS_REASONS.contains(&e.reason.as_deref().unwrap_or("")));
    let provider_named =
        matches!(ev.support, Some(LoadBalancerSupport::MinikubeTunnel | LoadBalancerSupport::CloudProviderKind));
    let none_declared = ev.support == Some(LoadBalancerSupport::None);
    if none_declared || (!progressing && !provider_named && ev.controller_pods == 0) {
        return Some(DeadEnd {
            kind: DeadEndKind::NoLoadBalancerProvider,
            object: format!("Service/{name}"),
            container: None,
            reason: "NoLoadBalancerProvider".into(),
            message: format!(
                "no ingress address after {}s; no LoadBalancer controller events for the Service and no MetalLB controller pods in the cluster",
                ev.waited.as_secs()
            ),
            hint: "nothing provisions LoadBalancer Services on this cluster: install MetalLB (local provider: `kubegate cluster up` does), run `minikube tunnel`, or cloud-provider-kind beside kind. kubegate does not fall back to NodePort".into(),
            causes: Vec::new(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::testdata::{fixture, now};

    fn pod_dead_end(name: &str) -> Option<DeadEnd> {
        classify_pod(&fixture(name), now(), &DeadEndPolicy::default())
    }

    #[test]
    fn healthy_pod_is_no_dead_end() {
        assert_eq!(pod_dead_end("pod-ready.yaml"), None);
    }

    #[test]
    fn image_never_pull_names_image_and_fix() {
        let d = pod_dead_end("pod-image-never-pull.yaml").expect("dead end");
        assert_eq!(d.kind, DeadEndKind::ImageNeverPull);
        assert_eq!(d.container.as_deref(), Some("backend"));
        assert!(d.hint.contains("todo-chatbot-backend:9.9.9") && d.hint.contains("images load"), "{d}");
    }

    #[test]
    fn image_pull_backoff_and_crash_loop() {
        assert_eq!(pod_dead_end("pod-image-pull-backoff.yaml").expect("dead end").kind, DeadEndKind::ImagePull);
        let d = pod_dead_end("pod-crashloop.yaml").expect("dead end");
        assert_eq!(d.kind, DeadEndKind::CrashLoop);
        assert!(d.hint.contains("4 restarts"));
    }

    #[test]
    fn missing_secret_and_missing_key_are_named() {
        let d = pod_dead_end("pod-missing-secret.yaml").expect("dead end");
        assert_eq!(d.kind, DeadEndKind::ContainerConfig);
        assert!(d.hint.contains("Secret todo-chatbot-secrets does not exist"), "{}", d.hint);
        let d = pod_dead_end("pod-missing-key.yaml").expect("dead end");
        assert!(d.hint.contains("key JWT_SECRET is missing from Secret todo-chatbot-secrets"), "{}", d.hint);
    }

    #[test]
    fn an_unsynced_kubelet_cache_is_no_dead_end() {
        // Seen live: the kubelet retries and the pod starts a second later.
        assert_eq!(pod_dead_end("pod-config-cache-not-synced.yaml"), None);
        assert!(is_transient_config_error("failed to sync secret cache: timed out waiting for the condition"));
        assert!(!is_transient_config_error("container has runAsNonRoot and image will run as root"));
    }

    #[test]
    fn unschedulable_after_grace_only() {
        let p: Pod = fixture("pod-unschedulable.yaml");
        let d = classify_pod(&p, now(), &DeadEndPolicy::default()).expect("dead end");
        assert_eq!(d.kind, DeadEndKind::Unschedulable);
        assert!(d.message.contains("Insufficient cpu"));
        let early: k8s_openapi::jiff::Timestamp = "2026-11-22T00:00:02Z".parse().expect("ts");
        assert_eq!(classify_pod(&p, early, &DeadEndPolicy::default()), None, "within the grace period");
        // Lack of CPU may pass as other namespaces go: a longer grace than other reasons.
        let short = DeadEndPolicy { capacity_grace: Duration::from_secs(600), ..Default::default() };
        assert_eq!(classify_pod(&p, now(), &short), None, "insufficient cpu within the capacity grace");
        let mut tainted = p.clone();
        for c in tainted.status.as_mut().and_then(|s| s.conditions.as_mut()).into_iter().flatten() {
            c.message = Some("0/1 nodes are available: 1 node(s) had untolerated taint".into());
        }
        assert!(classify_pod(&tainted, now(), &short).is_some(), "other reasons keep the short grace");
    }

    #[test]
    fn ignored_kinds_are_not_reported() {
        let policy = DeadEndPolicy { ignore: vec![DeadEndKind::CrashLoop], ..Default::default() };
        assert_eq!(classify_pod(&fixture("pod-crashloop.yaml"), now(), &policy), None);
    }

    #[test]
    fn liveness_beyond_threshold_only() {
        let ev: Event = fixture("event-unhealthy-liveness.yaml");
        let pods = [fixture::<Pod>("pod-ready.yaml")];
        let p = DeadEndPolicy::default();
        let d = classify_event(&ev, 4, &pods, &p).expect("4 > failureThreshold 3");
        assert_eq!(d.kind, DeadEndKind::LivenessProbe);
        assert_eq!(d.container.as_deref(), Some("backend"));
        assert_eq!(
            classify_event(&ev, 3, &pods, &p),
            None,
            "at the threshold the kubelet restarts: not yet a dead end"
        );
        assert_eq!(classify_event(&ev, 4, &[], &p), None, "pod gone");
        let allow = DeadEndPolicy { ignore: vec![DeadEndKind::LivenessProbe], ..Default::default() };
        assert_eq!(classify_event(&ev, 9, &pods, &allow), None);
    }

    #[test]
    fn pod_security_rejection_is_a_dead_end() {
        let ev: Event = fixture("event-failed-create.yaml");
        let d = classify_event(&ev, 1, &[], &DeadEndPolicy::default()).expect("dead end");
        assert_eq!(d.kind, DeadEndKind::PodRejected);
        assert!(d.hint.contains("Pod Security"));
        assert_eq!(classify_event(&ev, 0, &[], &DeadEndPolicy::default()), None, "stale event");
    }

    #[test]
    fn load_balancer_without_provider() {
        let pending: Service = fixture("service-lb-pending.yaml");
        let ready: Service = fixture("service-lb-ip.yaml");
        let mut ev = LoadBalancerEvidence {
            support: None,
            controller_pods: 0,
            waited: Duration::from_secs(20),
            grace: Duration::from_secs(15),
        };
        let d = classify_load_balancer(&pending, &[], &ev).expect("dead end");
        assert_eq!(d.kind, DeadEndKind::NoLoadBalancerProvider);
        assert!(d.hint.contains("NodePort"));
        assert_eq!(classify_load_balancer(&ready, &[], &ev), None, "has an address");
        ev.controller_pods = 2;
        assert_eq!(classify_load_balancer(&pending, &[], &ev), None, "MetalLB is there: keep waiting");
        ev.support = Some(LoadBalancerSupport::None);
        assert!(classify_load_balancer(&pending, &[], &ev).is_some(), "provider says none");
        ev.support = None;
        ev.controller_pods = 0;
        ev.waited = Duration::from_secs(3);
        assert_eq!(classify_load_balancer(&pending, &[], &ev), None, "within grace");
    }

    #[test]
    fn load_balancer_allocation_failure_is_at_once() {
        let pending: Service = fixture("service-lb-pending.yaml");
        let ev: Event = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "e"}, "involvedObject": {"kind": "Service", "name": "todo-chatbot-frontend"},
            "reason": "AllocationFailed", "message": "Failed to allocate IP for \"x\": no available IPs"
        }))
        .expect("event");
        let evidence = LoadBalancerEvidence {
            support: Some(LoadBalancerSupport::Metallb),
            controller_pods: 2,
            waited: Duration::from_secs(1),
            grace: Duration::from_secs(15),
        };
        let d = classify_load_balancer(&pending, &[ev], &evidence).expect("dead end");
        assert_eq!(d.kind, DeadEndKind::LoadBalancerAllocation);
        assert!(d.message.contains("no available IPs"));
    }
}
