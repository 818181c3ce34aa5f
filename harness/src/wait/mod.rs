//! Waits that diagnose instead of timing out.
//!
//! Two layers, after kube-runtime's `wait.rs`:
//! - [`conditions`]: predicates over `Option<&K>` or `&[K]`, and [`watch_until`],
//!   the one generic watch loop that runs them. No timeouts there.
//! - [`Waiter`]: runs a wait under the caller's deadline while it also
//!   watches the namespace's pods and events; a dead end ([`diagnose`]) ends
//!   the wait at once with [`WaitError::DeadEnd`] (cause, the object's
//!   events, a log tail) and [`cause`] names the fields of the spec that
//!   likely cause it; the deadline ends it with [`WaitError::Deadline`],
//!   which still says what was last seen. Every wait returns a
//!   [`WaitReport`] with how long it took and when the kubelet reported Ready.

pub mod cause;
pub mod conditions;
pub mod diagnose;

/// The wait modules' test fixtures (`harness/testdata/wait/`), read one way.
#[cfg(test)]
pub(crate) mod testdata {
    /// A fixture file of `testdata/wait/`, parsed.
    pub fn fixture<T: serde::de::DeserializeOwned>(name: &str) -> T {
        let path = format!("{}/testdata/wait/{name}", env!("CARGO_MANIFEST_DIR"));
        let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("fixture {path}: {e}"));
        serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("fixture {path}: {e}"))
    }

    /// The "now" the fixtures were written for.
    pub fn now() -> k8s_openapi::jiff::Timestamp {
        "2026-11-22T00:02:00Z".parse().expect("timestamp")
    }
}

use crate::diagnostics::{container_log, container_memory, event_time, format_events};
use crate::provider::LoadBalancerSupport;
use crate::redact::Redactor;
use diagnose::{DeadEnd, DeadEndKind, DeadEndPolicy, LoadBalancerEvidence};
use futures::StreamExt;
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet};
use k8s_openapi::api::core::v1::{Event, Namespace, Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::jiff::Timestamp;
use kube::Resource;
use kube::api::{Api, ListParams};
use kube::runtime::{WatchStreamExt, watcher};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub use kube::runtime::wait::Condition;

/// What the generic loop last saw, for a deadline message.
pub type LastSeen = Arc<Mutex<String>>;

/// Watch the objects `api` + `config` select, keeping a complete local copy,
/// until `pred` holds for the set; returns the set.
///
/// # Caveats
/// Sets no timeout: the caller wraps it (see [`Waiter`]). Watch errors are
/// recorded in `seen` and retried after a second, never returned, so a
/// forbidden or unknown kind surfaces as a deadline naming the error.
pub async fn watch_until<K, P>(api: Api<K>, config: watcher::Config, pred: P, seen: &LastSeen) -> Vec<K>
where
    K: Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
    P: Fn(&[K]) -> bool,
{
    let mut stream = std::pin::pin!(watcher(api, config));
    let mut store: BTreeMap<String, K> = BTreeMap::new();
    let mut buffer: BTreeMap<String, K> = BTreeMap::new();
    let key =
        |o: &K| format!("{}/{}", o.meta().namespace.as_deref().unwrap_or(""), o.meta().name.as_deref().unwrap_or(""));
    loop {
        let evaluate = match stream.next().await {
            Some(Ok(watcher::Event::Init)) => {
                buffer.clear();
                false
            }
            Some(Ok(watcher::Event::InitApply(o))) => {
                buffer.insert(key(&o), o);
                false
            }
            Some(Ok(watcher::Event::InitDone)) => {
                store = std::mem::take(&mut buffer);
                true
            }
            Some(Ok(watcher::Event::Apply(o))) => {
                store.insert(key(&o), o);
                true
            }
            Some(Ok(watcher::Event::Delete(o))) => {
                store.remove(&key(&o));
                true
            }
            Some(Err(e)) => {
                set_seen(seen, format!("watch error (retrying): {e}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                false
            }
            None => {
                // The watcher never ends; if it did, avoid a hot loop.
                tokio::time::sleep(Duration::from_secs(1)).await;
                false
            }
        };
        if evaluate {
            let items: Vec<K> = store.values().cloned().collect();
            set_seen(seen, summarize_set(&items));
            if pred(&items) {
                return items;
            }
        }
    }
}

/// Watch one object until `cond` holds; `None` if it holds on absence.
///
/// # Caveats
/// Sets no timeout (see [`watch_until`]).
pub async fn watch_object_until<K>(api: Api<K>, name: &str, cond: impl Condition<K>, seen: &LastSeen) -> Option<K>
where
    K: Resource + Clone + serde::de::DeserializeOwned + serde::Serialize + std::fmt::Debug + Send + 'static,
    K::DynamicType: Default,
{
    let cfg = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let items = watch_until(api, cfg, |set: &[K]| cond.matches_object(set.first()), seen).await;
    items.into_iter().next()
}

fn set_seen(seen: &LastSeen, s: String) {
    if let Ok(mut g) = seen.lock() {
        *g = s;
    }
}

/// One line per object: `Kind/name` and its status (compact, truncated).
pub fn summarize_set<K: Resource + serde::Serialize>(items: &[K]) -> String
where
    K::DynamicType: Default,
{
    if items.is_empty() {
        return format!("no {} found", K::kind(&Default::default()));
    }
    items
        .iter()
        .map(|o| {
            let v = serde_json::to_value(o).unwrap_or_default();
            let status = v.get("status").map(|s| s.to_string()).unwrap_or_else(|| "(no status)".into());
            let status: String = if status.len() > 1500 {
                format!("{}...", status.chars().take(1500).collect::<String>())
            } else {
                status
            };
            format!("{}/{}: {status}", K::kind(&Default::default()), o.meta().name.as_deref().unwrap_or("?"))
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// How long a wait took, and when the kubelet itself reported Ready.
#[derive(Debug, Clone, serde::Serialize)]
pub struct WaitReport {
    /// What was waited for.
    pub what: String,
    /// When the wait began.
    pub started_at: Timestamp,
    /// When the wait saw its condition hold.
    pub finished_at: Timestamp,
    /// `finished_at - started_at`.
    pub took: Duration,
    /// Latest `Ready` transition of the pods concerned (pod condition
    /// `lastTransitionTime`), when the wait is about pods.
    pub kubelet_ready_at: Option<Timestamp>,
}

impl WaitReport {
    /// Time between the kubelet reporting Ready and the wait noticing it:
    /// the overhead of waiting (the API stores the transition in whole
    /// seconds). When Ready came before the wait began, it is the time the
    /// wait took to see that.
    pub fn overhead(&self) -> Option<Duration> {
        let r = self.kubelet_ready_at?.max(self.started_at);
        Some(self.finished_at.duration_since(r).unsigned_abs())
    }
}

/// Why a wait ended without its condition.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// A state the wait can never leave on its own.
    #[error("{what}: dead end after {:.1}s: {dead_end}\n{evidence}", waited.as_secs_f64())]
    DeadEnd {
        /// What was waited for.
        what: String,
        /// How long until the dead end was recognised.
        waited: Duration,
        /// The cause.
        dead_end: DeadEnd,
        /// The object's events and the failing container's log tail (redacted).
        evidence: String,
    },
    /// The caller's deadline passed.
    #[error("{what}: not done within the deadline of {}s\n--- last seen ---\n{last_seen}\n--- pods in {namespace} ---\n{pods}\n--- recent events in {namespace} ---\n{events}", deadline.as_secs())]
    Deadline {
        /// What was waited for.
        what: String,
        /// Namespace.
        namespace: String,
        /// The deadline.
        deadline: Duration,
        /// The last state of the watched objects (status, conditions).
        last_seen: String,
        /// Pod phases, readiness and waiting reasons.
        pods: String,
        /// The namespace's recent events.
        events: String,
    },
    /// The object is there but lacks what the caller asked for.
    #[error("{what}: {detail}")]
    Missing {
        /// What was waited for.
        what: String,
        /// What is missing.
        detail: String,
    },
    /// Reading from the cluster failed.
    #[error("{what}: cannot read from the cluster")]
    Api {
        /// What was waited for.
        what: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

impl WaitError {
    /// The dead end, if that is what ended the wait.
    pub fn dead_end(&self) -> Option<&DeadEnd> {
        match self {
            WaitError::DeadEnd { dead_end, .. } => Some(dead_end),
            _ => None,
        }
    }
}

impl crate::exit::HasExitCode for WaitError {
    fn exit_code(&self) -> crate::exit::ExitCode {
        match self {
            // A dead end is the deployment's fault.
            WaitError::DeadEnd { .. } => crate::exit::ExitCode::Findings,
            WaitError::Deadline { .. } => crate::exit::ExitCode::Infrastructure,
            WaitError::Missing { .. } => crate::exit::ExitCode::Findings,
            WaitError::Api { .. } => crate::exit::ExitCode::Cluster,
        }
    }
}

/// What the dead-end watch looks at besides the namespace's events.
#[derive(Debug, Clone, Default)]
struct Target {
    /// Label selector of the pods concerned (`None`: every pod of the namespace).
    pods: Option<String>,
    /// A Deployment: only pods of its current ReplicaSet count.
    deployment: Option<String>,
    /// A LoadBalancer Service to check for a provider.
    load_balancer: Option<String>,
}

/// Runs waits in one namespace under a deadline, with dead-end diagnosis.
#[derive(Clone)]
pub struct Waiter {
    client: kube::Client,
    namespace: String,
    deadline: Duration,
    policy: DeadEndPolicy,
    redactor: Redactor,
    lb_support: Option<LoadBalancerSupport>,
    lb_grace: Duration,
    log_tail_lines: i64,
    expect: cause::Expectations,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter").field("namespace", &self.namespace).field("deadline", &self.deadline).finish()
    }
}

impl Waiter {
    /// A waiter for `namespace` with a 120 s deadline per wait.
    pub fn new(client: kube::Client, namespace: impl Into<String>) -> Self {
        Waiter {
            client,
            namespace: namespace.into(),
            deadline: Duration::from_secs(120),
            policy: DeadEndPolicy::default(),
            redactor: Redactor::default(),
            lb_support: None,
            lb_grace: Duration::from_secs(15),
            log_tail_lines: 30,
            expect: cause::Expectations::default(),
        }
    }

    /// What the deployment promises its containers (probe paths, ports), so
    /// a dead end names the fields that break the promise.
    pub fn expectations(mut self, e: cause::Expectations) -> Self {
        self.expect = e;
        self
    }

    /// The overall deadline of each wait.
    pub fn deadline(mut self, d: Duration) -> Self {
        self.deadline = d;
        self
    }

    /// Treat these dead ends as expected (e.g. readiness during a DB outage).
    pub fn expect(mut self, kinds: &[DeadEndKind]) -> Self {
        self.policy.ignore.extend_from_slice(kinds);
        self
    }

    /// Redact secret values from log tails and events in errors.
    pub fn redactor(mut self, r: Redactor) -> Self {
        self.redactor = r;
        self
    }

    /// What the provider says about LoadBalancer support, and how long to
    /// give a controller before calling it absent (default 15 s).
    pub fn load_balancer(mut self, support: Option<LoadBalancerSupport>, grace: Duration) -> Self {
        self.lb_support = support;
        self.lb_grace = grace;
        self
    }

    /// The namespace.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// The Deployment's current generation is rolled out
    /// ([`conditions::deployment_rolled_out`]); the report's
    /// `kubelet_ready_at` is the last pod's Ready transition.
    pub async fn deployment_rolled_out(&self, name: &str) -> Result<WaitReport, WaitError> {
        let what = format!("rollout of Deployment {name} in {}", self.namespace);
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), &self.namespace);
        let selector = match api.get_opt(name).await {
            Ok(d) => d.as_ref().and_then(deployment_selector),
            Err(source) => return Err(WaitError::Api { what, source }),
        };
        let target = Target { pods: selector.clone(), deployment: Some(name.to_owned()), load_balancer: None };
        let seen = LastSeen::default();
        let fut = watch_object_until(api, name, conditions::deployment_rolled_out(), &seen);
        let (_obj, mut report) = self.run(what, &target, &seen, fut).await?;
        if let Some(sel) = selector {
            let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
            if let Ok(list) = pods.list(&ListParams::default().labels(&sel)).await {
                report.kubelet_ready_at = list.items.iter().filter_map(conditions::pod_ready_since).max();
            }
        }
        Ok(report)
    }

    /// Pods selected by `selector` until `pred` holds for the set (e.g.
    /// [`conditions::at_least_ready`], [`conditions::none_ready`]).
    pub async fn pods(
        &self,
        what: impl Into<String>,
        selector: &str,
        pred: impl Fn(&[Pod]) -> bool,
    ) -> Result<(Vec<Pod>, WaitReport), WaitError> {
        let api: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let target = Target { pods: Some(selector.to_owned()), ..Default::default() };
        let seen = LastSeen::default();
        let fut = watch_until(api, watcher::Config::default().labels(selector), pred, &seen);
        let (pods, mut report) = self.run(what.into(), &target, &seen, fut).await?;
        report.kubelet_ready_at = pods.iter().filter_map(conditions::pod_ready_since).max();
        Ok((pods, report))
    }

    /// The Service has a LoadBalancer address; returns it (ip or hostname).
    /// Fails at once when no controller provisions LoadBalancer Services.
    pub async fn service_load_balancer(&self, name: &str) -> Result<(String, WaitReport), WaitError> {
        let what = format!("LoadBalancer address of Service {name} in {}", self.namespace);
        let api: Api<Service> = Api::namespaced(self.client.clone(), &self.namespace);
        let target = Target { load_balancer: Some(name.to_owned()), ..Default::default() };
        let seen = LastSeen::default();
        let fut = watch_object_until(api, name, conditions::has_load_balancer_ingress(), &seen);
        let (svc, report) = self.run(what, &target, &seen, fut).await?;
        let addr = svc.as_ref().and_then(conditions::load_balancer_address).unwrap_or_default();
        Ok((addr, report))
    }

    /// The Service's EndpointSlices until `pred` holds (e.g.
    /// [`conditions::endpoints_exclude`] of the stopped pods' IPs).
    pub async fn endpoint_slices(
        &self,
        what: impl Into<String>,
        service: &str,
        pred: impl Fn(&[EndpointSlice]) -> bool,
    ) -> Result<(Vec<EndpointSlice>, WaitReport), WaitError> {
        let api: Api<EndpointSlice> = Api::namespaced(self.client.clone(), &self.namespace);
        let cfg = watcher::Config::default().labels(&format!("kubernetes.io/service-name={service}"));
        let seen = LastSeen::default();
        let fut = watch_until(api, cfg, pred, &seen);
        self.run(what.into(), &Target::default(), &seen, fut).await
    }

    /// Any namespaced object until `cond` holds.
    pub async fn object<K>(
        &self,
        what: impl Into<String>,
        name: &str,
        cond: impl Condition<K>,
    ) -> Result<(Option<K>, WaitReport), WaitError>
    where
        K: Resource<Scope = k8s_openapi::NamespaceResourceScope>
            + Clone
            + serde::de::DeserializeOwned
            + serde::Serialize
            + std::fmt::Debug
            + Send
            + 'static,
        K::DynamicType: Default,
    {
        let api: Api<K> = Api::namespaced(self.client.clone(), &self.namespace);
        let seen = LastSeen::default();
        let fut = watch_object_until(api, name, cond, &seen);
        self.run(what.into(), &Target::default(), &seen, fut).await
    }

    /// The waiter's namespace is gone. On the deadline the error names what
    /// blocks it (finalizers, remaining content).
    pub async fn namespace_gone(&self) -> Result<WaitReport, WaitError> {
        let what = format!("deletion of namespace {}", self.namespace);
        let api: Api<Namespace> = Api::all(self.client.clone());
        let seen = LastSeen::default();
        let started = Instant::now();
        let started_at = Timestamp::now();
        let fut = watch_object_until(api.clone(), &self.namespace, conditions::namespace_gone(), &seen);
        match tokio::time::timeout(self.deadline, fut).await {
            Ok(_) => Ok(WaitReport {
                what,
                started_at,
                finished_at: Timestamp::now(),
                took: started.elapsed(),
                kubelet_ready_at: None,
            }),
            Err(_) => {
                let blockers = match api.get_opt(&self.namespace).await {
                    Ok(Some(ns)) => crate::deploy::namespace::namespace_blockers(&ns).join("\n"),
                    Ok(None) => "gone just now".into(),
                    Err(e) => format!("cannot read it: {e}"),
                };
                Err(WaitError::Deadline {
                    what,
                    namespace: self.namespace.clone(),
                    deadline: self.deadline,
                    last_seen: format!("blocked by:\n{blockers}"),
                    pods: String::new(),
                    events: String::new(),
                })
            }
        }
    }

    /// Run `fut` under the deadline while watching for dead ends.
    async fn run<T>(
        &self,
        what: String,
        target: &Target,
        seen: &LastSeen,
        fut: impl Future<Output = T>,
    ) -> Result<(T, WaitReport), WaitError> {
        let started = Instant::now();
        let started_at = Timestamp::now();
        tokio::select! {
            out = fut => Ok((out, WaitReport {
                what,
                started_at,
                finished_at: Timestamp::now(),
                took: started.elapsed(),
                kubelet_ready_at: None,
            })),
            dead_end = self.find_dead_end(target, started, started_at) => {
                let (dead_end, evidence) = self.evidence(dead_end).await;
                Err(WaitError::DeadEnd { what, waited: started.elapsed(), dead_end, evidence })
            }
            _ = tokio::time::sleep(self.deadline) => {
                let last_seen = seen.lock().map(|s| s.clone()).unwrap_or_default();
                let (pods, events) = self.namespace_snapshot(target).await;
                Err(WaitError::Deadline {
                    what,
                    namespace: self.namespace.clone(),
                    deadline: self.deadline,
                    last_seen: self.redactor.redact_str(&last_seen).into_owned(),
                    pods,
                    events,
                })
            }
        }
    }

    /// Watches pods and events of the namespace until a dead end shows;
    /// never returns otherwise (the caller races it against the wait).
    async fn find_dead_end(&self, target: &Target, started: Instant, started_at: Timestamp) -> DeadEnd {
        let pod_api: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let ev_api: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        let pod_cfg = match &target.pods {
            Some(sel) => watcher::Config::default().labels(sel),
            None => watcher::Config::default(),
        };
        let mut pod_stream = std::pin::pin!(watcher(pod_api, pod_cfg).default_backoff());
        let mut ev_stream = std::pin::pin!(watcher(ev_api, watcher::Config::default()).default_backoff());
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        let mut pods: BTreeMap<String, Pod> = BTreeMap::new();
        let mut events: BTreeMap<String, Event> = BTreeMap::new();
        let mut baseline: HashMap<String, i32> = HashMap::new();
        let mut current_hash: Option<String> = None;
        let mut lb_pods: Option<(Instant, usize)> = None;
        loop {
            tokio::select! {
                ev = pod_stream.next() => match ev {
                    Some(Ok(watcher::Event::Apply(p) | watcher::Event::InitApply(p))) => {
                        pods.insert(p.metadata.name.clone().unwrap_or_default(), p);
                    }
                    Some(Ok(watcher::Event::Delete(p))) => {
                        pods.remove(p.metadata.name.as_deref().unwrap_or_default());
                    }
                    Some(Ok(watcher::Event::Init)) => pods.clear(),
                    Some(Ok(watcher::Event::InitDone) | Err(_)) => {}
                    None => tokio::time::sleep(Duration::from_secs(1)).await,
                },
                ev = ev_stream.next() => match ev {
                    Some(Ok(watcher::Event::Apply(e) | watcher::Event::InitApply(e))) => {
                        let key = e.metadata.uid.clone().or_else(|| e.metadata.name.clone()).unwrap_or_default();
                        // Occurrences before the wait began are history, not evidence.
                        baseline.entry(key.clone()).or_insert_with(|| {
                            if event_time(&e).is_some_and(|t| t < started_at) { e.count.unwrap_or(1) } else { 0 }
                        });
                        events.insert(key, e);
                    }
                    Some(Ok(_) | Err(_)) => {}
                    None => tokio::time::sleep(Duration::from_secs(1)).await,
                },
                _ = tick.tick() => {
                    if let Some(d) = &target.deployment {
                        current_hash = self.current_template_hash(d).await.or(current_hash);
                    }
                }
            }
            let live: Vec<Pod> = pods
                .values()
                .filter(|p| match &current_hash {
                    Some(h) => p.metadata.labels.as_ref().and_then(|l| l.get("pod-template-hash")) == Some(h),
                    None => true,
                })
                .cloned()
                .collect();
            let now = Timestamp::now();
            if let Some(d) = live.iter().find_map(|p| diagnose::classify_pod(p, now, &self.policy)) {
                return d;
            }
            for (key, e) in &events {
                // Only the current ReplicaSet's failures count for a Deployment.
                if let (Some(dep), Some(h)) = (&target.deployment, &current_hash)
                    && e.involved_object.kind.as_deref() == Some("ReplicaSet")
                    && e.involved_object.name.as_deref() != Some(&format!("{dep}-{h}"))
                {
                    continue;
                }
                let new_count = e.count.unwrap_or(1) - baseline.get(key).copied().unwrap_or(0);
                if let Some(d) = diagnose::classify_event(e, new_count, &live, &self.policy) {
                    return d;
                }
            }
            if let Some(svc_name) = &target.load_balancer {
                let waited = started.elapsed();
                if waited >= self.lb_grace || events.values().any(|e| e.reason.as_deref() == Some("AllocationFailed")) {
                    let svcs: Api<Service> = Api::namespaced(self.client.clone(), &self.namespace);
                    if let Ok(Some(svc)) = svcs.get_opt(svc_name).await {
                        let count = match lb_pods {
                            Some((at, n)) if at.elapsed() < Duration::from_secs(5) => n,
                            _ => {
                                let n = self.load_balancer_controller_pods().await;
                                lb_pods = Some((Instant::now(), n));
                                n
                            }
                        };
                        let evidence = LoadBalancerEvidence {
                            support: self.lb_support,
                            controller_pods: count,
                            waited,
                            grace: self.lb_grace,
                        };
                        let evs: Vec<Event> = events.values().cloned().collect();
                        if let Some(d) = diagnose::classify_load_balancer(&svc, &evs, &evidence) {
                            return d;
                        }
                    }
                }
            }
        }
    }

    /// `pod-template-hash` of the Deployment's current ReplicaSet.
    async fn current_template_hash(&self, deployment: &str) -> Option<String> {
        let deps: Api<Deployment> = Api::namespaced(self.client.clone(), &self.namespace);
        let d = deps.get_opt(deployment).await.ok()??;
        let rev = d.metadata.annotations.as_ref()?.get("deployment.kubernetes.io/revision")?.clone();
        let sel = deployment_selector(&d)?;
        let rss: Api<ReplicaSet> = Api::namespaced(self.client.clone(), &self.namespace);
        let list = rss.list(&ListParams::default().labels(&sel)).await.ok()?;
        list.items.into_iter().find_map(|rs| {
            let owned =
                rs.metadata.owner_references.iter().flatten().any(|o| o.kind == "Deployment" && o.name == deployment);
            let same_rev = rs.metadata.annotations.as_ref()?.get("deployment.kubernetes.io/revision") == Some(&rev);
            (owned && same_rev).then(|| rs.metadata.labels.as_ref()?.get("pod-template-hash").cloned()).flatten()
        })
    }

    /// Running pods of an in-cluster LoadBalancer controller (MetalLB).
    async fn load_balancer_controller_pods(&self) -> usize {
        let api: Api<Pod> = Api::all(self.client.clone());
        let mut n = 0;
        for sel in ["app.kubernetes.io/name=metallb", "app=metallb"] {
            if let Ok(list) = api.list(&ListParams::default().labels(sel)).await {
                n += list
                    .items
                    .iter()
                    .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
                    .count();
            }
        }
        n
    }

    /// The dead end with its likely causes in the spec, and its object's
    /// events and container's log tail; all redacted.
    async fn evidence(&self, mut d: DeadEnd) -> (DeadEnd, String) {
        let (kind, name) = d.object.split_once('/').unwrap_or(("", &d.object));
        let (kind, name) = (kind.to_owned(), name.to_owned());
        let ev_api: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        let events = match ev_api.list(&ListParams::default()).await {
            Ok(l) => format_events(&l.items, Some((&kind, &name))),
            Err(e) => format!("(cannot list events: {e})\n"),
        };
        let mut out = format!("--- events of {} ---\n{events}", d.object);
        if kind != "Pod" {
            return (d, self.redactor.redact_str(&out).into_owned());
        }
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let mut seen = cause::Observed::default();
        if let Some(c) = d.container.clone() {
            // A crashed container's useful output is in its previous instance.
            let order = if matches!(d.kind, DeadEndKind::CrashLoop | DeadEndKind::LivenessProbe) {
                [true, false]
            } else {
                [false, true]
            };
            for previous in order {
                if let Ok(text) = container_log(&pods, &name, &c, previous, Some(self.log_tail_lines)).await
                    && !text.trim().is_empty()
                {
                    let which = if previous { "previous" } else { "current" };
                    out.push_str(&format!("--- log tail of {name}/{c} ({which} container) ---\n{}\n", text.trim_end()));
                    seen.log_tail = Some(self.redactor.redact_str(&text).into_owned());
                    break;
                }
            }
            if seen.log_tail.is_none() {
                out.push_str(&format!(
                    "--- log tail of {name}/{c}: none (the container never started or wrote nothing) ---\n"
                ));
            }
            if matches!(d.kind, DeadEndKind::CrashLoop | DeadEndKind::ContainerStart) {
                seen.memory_working_set = container_memory(&self.client, &self.namespace, &name, &c).await;
            }
        }
        if let Ok(Some(pod)) = pods.get_opt(&name).await {
            d.causes = cause::likely_cause(&d, &pod, &self.expect, &seen)
                .into_iter()
                .map(|c| cause::SpecCause {
                    value: self.redactor.redact_str(&c.value).into_owned(),
                    why: self.redactor.redact_str(&c.why).into_owned(),
                    field: c.field,
                })
                .collect();
        }
        (d, self.redactor.redact_str(&out).into_owned())
    }

    /// Pod states and recent events of the namespace, for a deadline message.
    async fn namespace_snapshot(&self, target: &Target) -> (String, String) {
        let pods: Api<Pod> = Api::namespaced(self.client.clone(), &self.namespace);
        let lp = match &target.pods {
            Some(s) => ListParams::default().labels(s),
            None => ListParams::default(),
        };
        let pods = match pods.list(&lp).await {
            Ok(l) if l.items.is_empty() => "(no pods)".to_owned(),
            Ok(l) => l.items.iter().map(pod_line).collect::<Vec<_>>().join("\n"),
            Err(e) => format!("(cannot list pods: {e})"),
        };
        let ev_api: Api<Event> = Api::namespaced(self.client.clone(), &self.namespace);
        let events = match ev_api.list(&ListParams::default()).await {
            Ok(l) => {
                let all = format_events(&l.items, None);
                let lines: Vec<&str> = all.lines().collect();
                lines[lines.len().saturating_sub(15)..].join("\n")
            }
            Err(e) => format!("(cannot list events: {e})"),
        };
        (self.redactor.redact_str(&pods).into_owned(), self.redactor.redact_str(&events).into_owned())
    }
}

/// `k=v,k2=v2` from a Deployment's `spec.selector.matchLabels`.
fn deployment_selector(d: &Deployment) -> Option<String> {
    let ml = d.spec.as_ref()?.selector.match_labels.as_ref()?;
    (!ml.is_empty()).then(|| ml.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","))
}

/// `name phase ready=... restarts=... [waiting reasons]`.
pub fn pod_line(p: &Pod) -> String {
    let st = p.status.as_ref();
    let waiting: Vec<String> = st
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let w = c.state.as_ref()?.waiting.as_ref()?;
            Some(format!("{}: {}", c.name, w.reason.as_deref().unwrap_or("Waiting")))
        })
        .collect();
    format!(
        "{} {} ready={} restarts={}{}",
        p.metadata.name.as_deref().unwrap_or("?"),
        st.and_then(|s| s.phase.as_deref()).unwrap_or("?"),
        conditions::is_pod_ready(p),
        conditions::restart_count(std::slice::from_ref(p)),
        if waiting.is_empty() { String::new() } else { format!(" [{}]", waiting.join(", ")) }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn overhead_is_finish_minus_kubelet_ready() {
        let r = WaitReport {
            what: "x".into(),
            started_at: "2026-11-22T00:00:00Z".parse().expect("ts"),
            finished_at: "2026-11-22T00:00:13.500Z".parse().expect("ts"),
            took: Duration::from_millis(13_500),
            kubelet_ready_at: Some("2026-11-22T00:00:13Z".parse().expect("ts")),
        };
        assert_eq!(r.overhead(), Some(Duration::from_millis(500)));
        let already = WaitReport { kubelet_ready_at: Some("2026-11-21T23:00:00Z".parse().expect("ts")), ..r };
        assert_eq!(already.overhead(), Some(Duration::from_millis(13_500)), "Ready before the wait: its own time");
    }

    #[test]
    fn dead_end_message_is_one_readable_block() {
        let e = WaitError::DeadEnd {
            what: "rollout of Deployment todo-chatbot-backend in kg-x-raw".into(),
            waited: Duration::from_millis(4200),
            dead_end: DeadEnd {
                kind: DeadEndKind::ImageNeverPull,
                object: "Pod/p".into(),
                container: Some("backend".into()),
                reason: "ErrImageNeverPull".into(),
                message: "not present".into(),
                hint: "load it".into(),
                causes: Vec::new(),
            },
            evidence: "--- events of Pod/p ---\n(no events)\n".into(),
        };
        let m = e.to_string();
        assert!(m.starts_with("rollout of Deployment todo-chatbot-backend in kg-x-raw: dead end after 4.2s: Pod/p container backend: ErrImageNeverPull"), "{m}");
        assert!(m.contains("hint: load it") && m.contains("events of Pod/p"), "{m}");
    }

    #[test]
    fn summaries_and_pod_lines_show_state() {
        let p: Pod = serde_saphyr::from_str(
            &std::fs::read_to_string(format!("{}/testdata/wait/pod-image-never-pull.yaml", env!("CARGO_MANIFEST_DIR")))
                .expect("fixture"),
        )
        .expect("pod");
        assert_eq!(
            pod_line(&p),
            "todo-chatbot-backend-7d9-fghij Pending ready=false restarts=0 [backend: ErrImageNeverPull]"
        );
        let s = summarize_set(std::slice::from_ref(&p));
        assert!(s.starts_with("Pod/todo-chatbot-backend-7d9-fghij: {") && s.contains("ErrImageNeverPull"), "{s}");
        assert_eq!(summarize_set::<Pod>(&[]), "no Pod found");
    }
}
