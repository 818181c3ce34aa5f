//! What the cluster did while a load ran: when each pod was deleted and
//! when each endpoint joined, stopped being ready or left its
//! EndpointSlice. Recorded on the same clock as the load's requests, so a
//! lost request can be laid beside the endpoint changes around it and the
//! failure can name the hop (see [`super::rollout::judge`]).

use futures::StreamExt;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::watcher::{self, Event};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::time::Instant;

/// One change seen in the namespace.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ClusterEvent {
    /// Time since the load's origin.
    #[serde(serialize_with = "secs")]
    pub at: Duration,
    /// The pod concerned.
    pub pod: String,
    /// What changed.
    pub change: Change,
}

/// The changes a rollout makes to a pod and its endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Change {
    /// The endpoint is in the Service's slice and ready: new connections may reach it.
    EndpointReady,
    /// The endpoint is still listed but not ready (starting, or terminating).
    EndpointNotReady,
    /// The endpoint left the slice.
    EndpointRemoved,
    /// The pod got its deletion timestamp: preStop runs, then SIGTERM.
    PodDeleting,
    /// The pod object is gone (its containers have stopped).
    PodGone,
}

impl std::fmt::Display for Change {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Change::EndpointReady => "endpoint ready",
            Change::EndpointNotReady => "endpoint not ready",
            Change::EndpointRemoved => "left the endpoints",
            Change::PodDeleting => "deletion started (preStop, then SIGTERM)",
            Change::PodGone => "pod gone",
        })
    }
}

impl std::fmt::Display for ClusterEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "+{:.2}s {} {}", self.at.as_secs_f64(), self.pod, self.change)
    }
}

fn secs<S: serde::Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_f64((d.as_secs_f64() * 1000.0).round() / 1000.0)
}

/// Watches a namespace's EndpointSlices and Pods until stopped.
pub struct Timeline {
    events: Arc<Mutex<Vec<ClusterEvent>>>,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Timeline {
    /// Start watching `namespace`; event times count from `origin`.
    pub fn start(client: &kube::Client, namespace: &str, origin: Instant) -> Self {
        let events = Arc::new(Mutex::new(Vec::new()));
        let slices: Api<EndpointSlice> = Api::namespaced(client.clone(), namespace);
        let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
        let tasks = vec![
            tokio::spawn(watch_slices(slices, origin, events.clone())),
            tokio::spawn(watch_pods(pods, origin, events.clone())),
        ];
        Timeline { events, tasks }
    }

    /// Wait until every pod seen deleting is gone (or `deadline` passes).
    pub async fn settled(&self, deadline: Duration) {
        let until = Instant::now() + deadline;
        while Instant::now() < until {
            let open = self.events.lock().map(|e| deleting_not_gone(&e)).unwrap_or(0);
            if open == 0 {
                return;
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// Stop watching; the events in time order.
    pub fn stop(self) -> Vec<ClusterEvent> {
        for t in &self.tasks {
            t.abort();
        }
        let mut events = self.events.lock().map(|e| e.clone()).unwrap_or_default();
        events.sort_by_key(|e| e.at);
        events
    }
}

fn record(events: &Mutex<Vec<ClusterEvent>>, origin: Instant, pod: &str, change: Change) {
    if let Ok(mut e) = events.lock() {
        e.push(ClusterEvent { at: origin.elapsed(), pod: pod.to_owned(), change });
    }
}

/// Endpoint state per pod of one slice: ready or not.
fn endpoint_states(slice: &EndpointSlice) -> BTreeMap<String, bool> {
    slice
        .endpoints
        .iter()
        .filter_map(|ep| {
            let pod = ep.target_ref.as_ref()?.name.clone()?;
            let ready = ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            Some((pod, ready))
        })
        .collect()
}

/// The changes from `before` to `after` (one slice's endpoint states).
pub fn endpoint_changes(before: &BTreeMap<String, bool>, after: &BTreeMap<String, bool>) -> Vec<(String, Change)> {
    let mut out = Vec::new();
    for (pod, ready) in after {
        if before.get(pod) != Some(ready) {
            out.push((pod.clone(), if *ready { Change::EndpointReady } else { Change::EndpointNotReady }));
        }
    }
    for pod in before.keys().filter(|p| !after.contains_key(*p)) {
        out.push((pod.clone(), Change::EndpointRemoved));
    }
    out
}

async fn watch_slices(api: Api<EndpointSlice>, origin: Instant, events: Arc<Mutex<Vec<ClusterEvent>>>) {
    let mut known: BTreeMap<String, BTreeMap<String, bool>> = BTreeMap::new();
    let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
    while let Some(ev) = stream.next().await {
        let (slice, gone) = match ev {
            Ok(Event::Apply(s) | Event::InitApply(s)) => (s, false),
            Ok(Event::Delete(s)) => (s, true),
            Ok(Event::Init | Event::InitDone) | Err(_) => continue,
        };
        let name = slice.metadata.name.clone().unwrap_or_default();
        let after = if gone { BTreeMap::new() } else { endpoint_states(&slice) };
        let before = known.insert(name, after.clone()).unwrap_or_default();
        for (pod, change) in endpoint_changes(&before, &after) {
            record(&events, origin, &pod, change);
        }
    }
}

async fn watch_pods(api: Api<Pod>, origin: Instant, events: Arc<Mutex<Vec<ClusterEvent>>>) {
    let mut deleting: BTreeMap<String, bool> = BTreeMap::new();
    let mut stream = watcher::watcher(api, watcher::Config::default()).boxed();
    while let Some(ev) = stream.next().await {
        match ev {
            Ok(Event::Apply(p) | Event::InitApply(p)) => {
                let name = p.metadata.name.clone().unwrap_or_default();
                if p.metadata.deletion_timestamp.is_some() && !deleting.insert(name.clone(), true).unwrap_or(false) {
                    record(&events, origin, &name, Change::PodDeleting);
                }
            }
            Ok(Event::Delete(p)) => record(&events, origin, &p.metadata.name.unwrap_or_default(), Change::PodGone),
            Ok(Event::Init | Event::InitDone) | Err(_) => {}
        }
    }
}

/// How many pods were seen deleting and are not gone yet.
pub fn deleting_not_gone(events: &[ClusterEvent]) -> usize {
    let gone = |pod: &str| events.iter().any(|e| e.pod == pod && e.change == Change::PodGone);
    events.iter().filter(|e| e.change == Change::PodDeleting && !gone(&e.pod)).count()
}

/// The events from `from` to `to` (times since the origin).
pub fn between(events: &[ClusterEvent], from: Duration, to: Duration) -> Vec<&ClusterEvent> {
    events.iter().filter(|e| e.at >= from && e.at <= to).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn states(list: &[(&str, bool)]) -> BTreeMap<String, bool> {
        list.iter().map(|(p, r)| (p.to_string(), *r)).collect()
    }

    #[test]
    fn changes_name_joins_readiness_flips_and_removals() {
        let before = states(&[("old", true), ("gone", true)]);
        let after = states(&[("old", false), ("new", true)]);
        let mut changes = endpoint_changes(&before, &after);
        changes.sort();
        assert_eq!(
            changes,
            vec![
                ("gone".to_owned(), Change::EndpointRemoved),
                ("new".to_owned(), Change::EndpointReady),
                ("old".to_owned(), Change::EndpointNotReady),
            ]
        );
        assert!(endpoint_changes(&after, &after).is_empty());
    }

    #[test]
    fn settled_means_every_deleting_pod_is_gone() {
        let ev = |pod: &str, change| ClusterEvent { at: Duration::ZERO, pod: pod.into(), change };
        let mut events = vec![ev("a", Change::PodDeleting), ev("b", Change::PodDeleting), ev("a", Change::PodGone)];
        assert_eq!(deleting_not_gone(&events), 1);
        events.push(ev("b", Change::PodGone));
        assert_eq!(deleting_not_gone(&events), 0);
    }

    #[test]
    fn events_print_their_offset_and_change() {
        let e =
            ClusterEvent { at: Duration::from_millis(12_340), pod: "web-1".into(), change: Change::EndpointRemoved };
        assert_eq!(e.to_string(), "+12.34s web-1 left the endpoints");
    }
}
