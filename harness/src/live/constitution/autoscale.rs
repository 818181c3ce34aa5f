//! LIVE-CONST-HPA's proof that autoscaling works, on a cluster that serves
//! the metrics API: the backend's pods have metrics, a short CPU load through
//! the frontend makes the backend HPA scale its Deployment up, and once the
//! load stops the HPA decides to scale back down. Each wait's deadline comes
//! from the HPA's own settings and the metrics' window; a step that was not
//! seen fails the check and says which.
//!
//! The load is ordinary work of the app: a user with many large objects
//! (made through the contract's create operation on `[request] path`, every
//! property filled) lists them (`GET` on that path) through the frontend, so
//! the backend reads and serialises every row for each request.

use super::super::CheckFailure;
use super::super::app::{DeployedApp, selector_text};
use super::super::context::LiveContext;
use super::super::http::{AppClient, Credential};
use super::super::loadbalancer::{ADDRESS_DEADLINE, external_address};
use crate::contract::Contract;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::autoscaling::v2::HorizontalPodAutoscaler;
use kube::api::Api;
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

pub use crate::diagnostics::METRICS_API;
/// kube-controller-manager's `--horizontal-pod-autoscaler-sync-period`
/// default: how often the HPA controller looks (not part of the object).
const HPA_SYNC: Duration = Duration::from_secs(15);
/// The HPA controller's default tolerance: no scaling while the usage ratio
/// is within 10% of the target (`spec.behavior.*.tolerance` overrides it).
const DEFAULT_TOLERANCE: f64 = 0.1;
/// Kubernetes' default scale-up stabilization window (seconds).
const DEFAULT_SCALE_UP_WINDOW: i64 = 0;
/// Kubernetes' default scale-down stabilization window (seconds).
const DEFAULT_SCALE_DOWN_WINDOW: i64 = 300;
/// Room for the API, the controller's informers and a busy 2-core node.
const SLACK: Duration = Duration::from_secs(15);
/// How long a new pod may go without metrics its HPA can use: two metrics
/// windows (metrics-server's default `--metric-resolution` of 15 s; a rate
/// needs two samples), two HPA syncs and the slack.
pub const FIRST_METRICS_DEADLINE: Duration = Duration::from_secs(2 * 15 + 2 * 15 + 15);
/// The smallest metrics window believed (metrics-server's `--metric-resolution` floor).
const MIN_WINDOW: Duration = Duration::from_secs(10);
/// Objects the load's user owns: every list answer carries all of them.
const LOAD_TASKS: usize = 120;
/// Characters of each string of an object, at most (the contract's
/// `maxLength` may allow fewer: the reference's descriptions take 2000).
const LOAD_DESCRIPTION_CHARS: usize = 1500;
/// Requests in flight at once during the load.
const LOAD_WORKERS: usize = 6;
/// How often the HPA and the scale are read while waiting.
const POLL: Duration = Duration::from_secs(1);

/// What one HPA says about scaling on CPU, with Kubernetes' defaults filled in.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuScaling {
    /// `averageUtilization` target of the `cpu` Resource metric, percent of requests.
    pub target_percent: i32,
    /// `minReplicas` (default 1).
    pub min_replicas: i32,
    /// `maxReplicas`.
    pub max_replicas: i32,
    /// `behavior.scaleUp.stabilizationWindowSeconds` (default 0).
    pub scale_up_window: Duration,
    /// `behavior.scaleDown.stabilizationWindowSeconds` (default 300).
    pub scale_down_window: Duration,
    /// `behavior.scaleUp.tolerance` (default 10%).
    pub scale_up_tolerance: f64,
}

impl CpuScaling {
    /// The CPU utilization settings of `h`, or why it does not scale on CPU utilization.
    pub fn of(h: &HorizontalPodAutoscaler) -> Result<Self, String> {
        let spec = h.spec.as_ref().ok_or("the HPA has no spec")?;
        let target = spec
            .metrics
            .iter()
            .flatten()
            .filter_map(|m| m.resource.as_ref())
            .find(|r| r.name == "cpu" && r.target.type_ == "Utilization")
            .and_then(|r| r.target.average_utilization)
            .ok_or("it does not scale on a cpu Resource metric with an averageUtilization target, the load this check makes cannot move it")?;
        let rules = spec.behavior.as_ref();
        let window = |r: Option<&k8s_openapi::api::autoscaling::v2::HPAScalingRules>, default: i64| {
            let secs = r.and_then(|r| r.stabilization_window_seconds).map_or(default, i64::from);
            Duration::from_secs(u64::try_from(secs).unwrap_or(0))
        };
        let up = rules.and_then(|b| b.scale_up.as_ref());
        let tolerance =
            up.and_then(|r| r.tolerance.as_ref()).and_then(|q| q.0.parse::<f64>().ok()).unwrap_or(DEFAULT_TOLERANCE);
        Ok(CpuScaling {
            target_percent: target,
            min_replicas: spec.min_replicas.unwrap_or(1),
            max_replicas: spec.max_replicas,
            scale_up_window: window(up, DEFAULT_SCALE_UP_WINDOW),
            scale_down_window: window(rules.and_then(|b| b.scale_down.as_ref()), DEFAULT_SCALE_DOWN_WINDOW),
            scale_up_tolerance: tolerance,
        })
    }

    /// The average CPU utilization (percent of requests) above which the HPA scales up.
    pub fn scale_up_above(&self) -> f64 {
        f64::from(self.target_percent) * (1.0 + self.scale_up_tolerance)
    }

    /// How long after the load starts the scale-up must show: the load must
    /// fill two metrics windows (a rate needs two samples), the controller
    /// must sync twice (one to read the new value, one of slack for its
    /// phase), plus the declared scale-up stabilization window.
    pub fn scale_up_deadline(&self, window: Duration) -> Duration {
        self.scale_up_window + 2 * window + 2 * HPA_SYNC + SLACK
    }

    /// How long after the load stops the HPA must decide to scale down (the
    /// decision, not the scale-down itself, which waits out the declared
    /// scale-down stabilization window).
    pub fn scale_down_decision_deadline(window: Duration) -> Duration {
        2 * window + 2 * HPA_SYNC + SLACK
    }
}

/// The metrics API's group is served (metrics-server or another adapter registered it).
pub async fn metrics_api_served(ctx: &LiveContext) -> Result<bool, kube::Error> {
    let (group, version) = METRICS_API.split_once('/').unwrap_or((METRICS_API, ""));
    let groups = ctx.client.list_api_groups().await?;
    Ok(groups.groups.iter().any(|g| g.name == group && g.versions.iter().any(|v| v.version == version)))
}

/// CPU of a Kubernetes quantity (`250m`, `1`, `123456n`, `12u`), in millicores.
pub fn cpu_millis(q: &str) -> Option<f64> {
    let (number, factor) = match q.char_indices().last()? {
        (i, 'n') => (&q[..i], 1e-6),
        (i, 'u') => (&q[..i], 1e-3),
        (i, 'm') => (&q[..i], 1.0),
        _ => (q, 1000.0),
    };
    number.parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0).map(|n| n * factor)
}

/// A Go duration as the metrics API writes `window` (`15s`, `20.5s`, `1m0s`).
pub fn go_duration(s: &str) -> Option<Duration> {
    let mut total = 0.0;
    let mut number = String::new();
    let mut chars = s.chars().peekable();
    let mut any = false;
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let unit = match (c, chars.peek()) {
            ('h', _) => 3600.0,
            ('m', Some('s')) => {
                chars.next();
                0.001
            }
            ('m', _) => 60.0,
            ('s', _) => 1.0,
            _ => return None,
        };
        total += number.parse::<f64>().ok()? * unit;
        number.clear();
        any = true;
    }
    (any && number.is_empty()).then(|| Duration::from_secs_f64(total))
}

/// What the metrics API says about a set of pods: CPU per pod and the window.
#[derive(Debug, Clone, PartialEq)]
pub struct PodCpu {
    /// `(pod, millicores)` for every pod with a sample.
    pub pods: Vec<(String, f64)>,
    /// The longest sampling window among them.
    pub window: Duration,
}

impl PodCpu {
    /// From a `PodMetricsList` answer.
    pub fn from_list(list: &Value) -> PodCpu {
        let mut pods = Vec::new();
        let mut window = Duration::ZERO;
        for item in list["items"].as_array().into_iter().flatten() {
            let name = item["metadata"]["name"].as_str().unwrap_or("?").to_owned();
            let millis: Option<f64> = item["containers"]
                .as_array()
                .map(|cs| cs.iter().filter_map(|c| c["usage"]["cpu"].as_str().and_then(cpu_millis)).sum());
            if let Some(m) = millis {
                pods.push((name, m));
            }
            if let Some(w) = item["window"].as_str().and_then(go_duration) {
                window = window.max(w);
            }
        }
        PodCpu { pods, window }
    }

    /// `pod=12m, pod=8m`.
    pub fn summary(&self) -> String {
        self.pods.iter().map(|(p, m)| format!("{p}={m:.1}m")).collect::<Vec<_>>().join(", ")
    }
}

/// The metrics API's CPU samples of the pods `selector` matches in `namespace`.
async fn pod_cpu(ctx: &LiveContext, namespace: &str, selector: &str) -> Result<PodCpu, String> {
    let uri = format!("/apis/{METRICS_API}/namespaces/{namespace}/pods?labelSelector={}", url_escape(selector));
    let req = http::Request::get(&uri).body(Vec::new()).map_err(|e| e.to_string())?;
    let list: Value = ctx.client.request(req).await.map_err(|e| format!("GET {uri}: {e}"))?;
    Ok(PodCpu::from_list(&list))
}

/// Percent-escape a label selector for a query string.
fn url_escape(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The HPA's current CPU utilization (percent of requests), if it has one.
pub fn current_cpu_percent(h: &HorizontalPodAutoscaler) -> Option<i32> {
    h.status
        .as_ref()?
        .current_metrics
        .iter()
        .flatten()
        .filter_map(|m| m.resource.as_ref())
        .find(|r| r.name == "cpu")
        .and_then(|r| r.current.average_utilization)
}

/// The HPA reports at least one metric value (a failed read leaves an entry
/// with an empty `type` behind).
pub fn has_metric_values(h: &HorizontalPodAutoscaler) -> bool {
    h.status.as_ref().and_then(|s| s.current_metrics.as_ref()).is_some_and(|ms| ms.iter().any(|m| !m.type_.is_empty()))
}

/// The HPA's `AbleToScale` reason, e.g. `ScaleDownStabilized`.
fn able_to_scale_reason(h: &HorizontalPodAutoscaler) -> Option<String> {
    h.status.as_ref()?.conditions.iter().flatten().find(|c| c.type_ == "AbleToScale").and_then(|c| c.reason.clone())
}

/// The HPA's conditions, one line, for failure messages.
fn conditions_line(h: &HorizontalPodAutoscaler) -> String {
    h.status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .map(|cs| {
            cs.iter()
                .map(|c| {
                    format!(
                        "{}={} {}: {}",
                        c.type_,
                        c.status,
                        c.reason.as_deref().unwrap_or(""),
                        c.message.as_deref().unwrap_or("")
                    )
                })
                .collect::<Vec<_>>()
                .join("; ")
        })
        .unwrap_or_else(|| "no conditions".into())
}

/// Requests sent and failed by the load so far.
#[derive(Debug, Default)]
struct LoadCounters {
    sent: AtomicU64,
    failed: AtomicU64,
    last_error: std::sync::Mutex<String>,
}

/// [`LOAD_WORKERS`] loops of `GET path` (whole answer read) until stopped.
struct CpuLoad {
    stop: Arc<AtomicBool>,
    counters: Arc<LoadCounters>,
    workers: Vec<tokio::task::JoinHandle<()>>,
}

impl CpuLoad {
    fn start(client: &AppClient, path: &str, token: Option<&Credential>) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let counters = Arc::new(LoadCounters::default());
        let workers = (0..LOAD_WORKERS)
            .map(|_| {
                let (client, path, token) = (AppClient::new(client.base()), path.to_owned(), token.cloned());
                let (stop, counters) = (stop.clone(), counters.clone());
                tokio::spawn(async move {
                    while !stop.load(Ordering::SeqCst) {
                        counters.sent.fetch_add(1, Ordering::SeqCst);
                        let outcome = match client.get(&path, token.as_ref()).await {
                            Ok(a) if a.status == 200 => None,
                            Ok(a) => Some(format!("HTTP {}", a.status)),
                            Err(e) => Some(e.to_string()),
                        };
                        if let Some(e) = outcome {
                            counters.failed.fetch_add(1, Ordering::SeqCst);
                            *counters.last_error.lock().unwrap_or_else(|p| p.into_inner()) = e;
                            // A refused request costs nothing: do not spin on it.
                            tokio::time::sleep(Duration::from_millis(100)).await;
                        }
                    }
                })
            })
            .collect();
        CpuLoad { stop, counters, workers }
    }

    /// `N requests (M failed, last: why)`.
    fn summary(&self) -> String {
        let (sent, failed) = (self.counters.sent.load(Ordering::SeqCst), self.counters.failed.load(Ordering::SeqCst));
        if failed == 0 {
            format!("{sent} requests, none failed")
        } else {
            let last = self.counters.last_error.lock().unwrap_or_else(|p| p.into_inner()).clone();
            format!("{sent} requests, {failed} failed (last: {last})")
        }
    }

    async fn stop(mut self) -> String {
        self.stop.store(true, Ordering::SeqCst);
        for w in std::mem::take(&mut self.workers) {
            // A worker that panicked sent what it sent; the counters say so.
            let _ = w.await;
        }
        self.summary()
    }
}

/// A user of the app who owns [`LOAD_TASKS`] large objects of the
/// `[request] path` collection (made through the frontend).
struct LoadUser {
    token: Option<Credential>,
    /// The DELETE of one object (`/v1/tasks/{id}`), if the contract has one.
    delete: Option<String>,
    ids: Vec<String>,
}

impl LoadUser {
    /// Create the objects with the contract's POST on `path`, every property
    /// filled ([`crate::contract::RequestBody::full`]).
    async fn create(
        client: &AppClient,
        token: Option<Credential>,
        contract: &Contract,
        path: &str,
    ) -> Result<Self, String> {
        let create = contract.operation("POST", path).ok_or_else(|| {
            format!(
                "the contract ({}) has no POST {path} ([request] path) to create the objects the load lists",
                contract.file.display()
            )
        })?;
        let body = create.request_body.as_ref().map_or(Value::Object(Default::default()), |b| {
            b.full("kubegate autoscaling load ", LOAD_DESCRIPTION_CHARS)
        });
        let delete = contract.item_operation("DELETE", path).map(|_| path.trim_end_matches('/').to_owned());
        let mut ids = Vec::with_capacity(LOAD_TASKS);
        for _ in 0..LOAD_TASKS {
            let a = client.post(path, token.as_ref(), body.clone()).await.map_err(|e| format!("POST {path}: {e}"))?;
            if !(200..300).contains(&a.status) {
                return Err(format!("POST {path} answered {}", a.described()));
            }
            ids.extend(super::super::calls::object_id(&a.json()));
        }
        Ok(LoadUser { token, delete, ids })
    }

    /// Delete the objects again (when the contract can); how many are left.
    async fn remove(self, client: &AppClient) -> usize {
        let Some(collection) = &self.delete else { return self.ids.len() };
        let mut left = 0;
        for id in &self.ids {
            let gone = client
                .call(reqwest::Method::DELETE, &format!("{collection}/{id}"), self.token.as_ref(), None)
                .await
                .is_ok_and(|a| (200..300).contains(&a.status));
            left += usize::from(!gone);
        }
        left
    }
}

/// The Deployment an HPA scales and the selector of its pods.
async fn target(ctx: &LiveContext, app: &DeployedApp, h: &HorizontalPodAutoscaler) -> Result<(String, String), String> {
    let name = h.spec.as_ref().map(|s| s.scale_target_ref.name.clone()).unwrap_or_default();
    let d = Api::<Deployment>::namespaced(ctx.client.clone(), &app.namespace)
        .get(&name)
        .await
        .map_err(|e| format!("cannot read Deployment/{name}: {e}"))?;
    let labels = d.spec.and_then(|s| s.selector.match_labels).unwrap_or_default();
    if labels.is_empty() {
        return Err(format!("Deployment/{name} has no matchLabels selector"));
    }
    Ok((name, selector_text(&labels)))
}

/// The replicas the HPA's target is scaled to now (its scale subresource).
async fn scaled_replicas(ctx: &LiveContext, app: &DeployedApp, deployment: &str) -> Result<i32, String> {
    Api::<Deployment>::namespaced(ctx.client.clone(), &app.namespace)
        .get_scale(deployment)
        .await
        .map(|s| s.spec.and_then(|s| s.replicas).unwrap_or(0))
        .map_err(|e| format!("cannot read the scale of Deployment/{deployment}: {e}"))
}

/// Prove that `hpa` (the backend's) scales its Deployment up under a CPU
/// load through the frontend and decides to scale down once it stops.
/// Returns the facts seen (for the report).
pub async fn prove_scaling(
    ctx: &LiveContext,
    app: &DeployedApp,
    hpa: &HorizontalPodAutoscaler,
) -> Result<Vec<String>, CheckFailure> {
    let name = hpa.metadata.name.clone().unwrap_or_default();
    let obj = format!("HorizontalPodAutoscaler/{name}");
    let fail = |msg: String| CheckFailure::new(app.path, &obj, msg);
    let settings = CpuScaling::of(hpa).map_err(|why| fail(format!("cannot drive it: {why}")))?;
    let (deployment, selector) = target(ctx, app, hpa).await.map_err(fail)?;
    let hpas: Api<HorizontalPodAutoscaler> = Api::namespaced(ctx.client.clone(), &app.namespace);
    let read_hpa = || async { hpas.get(&name).await.map_err(|e| fail(format!("cannot read: {e}"))) };

    // 1. Metrics are read: the metrics API has CPU samples of the target's pods.
    let cpu = pod_cpu(ctx, &app.namespace, &selector).await.map_err(|e| fail(format!("metrics API: {e}")))?;
    if cpu.pods.is_empty() {
        return Err(fail(format!(
            "the metrics API ({METRICS_API}) has no CPU sample of the pods of Deployment/{deployment} ({selector}); is metrics-server scraping the node? (kubectl top pods -n {})",
            app.namespace
        )));
    }
    let window = cpu.window.max(MIN_WINDOW);
    let mut notes = vec![format!("metrics read: {} (window {:.0}s)", cpu.summary(), cpu.window.as_secs_f64())];
    let before = scaled_replicas(ctx, app, &deployment).await.map_err(&fail)?;
    if before >= settings.max_replicas {
        return Err(fail(format!(
            "Deployment/{deployment} is already at maxReplicas {} before the load: a scale-up cannot be shown (a load from an earlier run? its scale-down waits {}s)",
            settings.max_replicas,
            settings.scale_down_window.as_secs()
        )));
    }

    // 2. The load: a user with many large objects lists them through the frontend.
    let ep = external_address(ctx, app, &ctx.service(ctx.public()), ADDRESS_DEADLINE).await?;
    let client = AppClient::new(ep.base_url());
    let token = app.credential(&format!("kg-hpa-{}-{}", app.run, app.path));
    let contract = ctx.contract().map_err(|e| fail(format!("preparing the load: {e}")))?;
    let user = LoadUser::create(&client, token.clone(), contract, &ctx.config.request.path)
        .await
        .map_err(|e| fail(format!("preparing the load (objects of a load user through the frontend): {e}")))?;
    let up_deadline = settings.scale_up_deadline(window);
    let load = CpuLoad::start(&client, &ctx.config.request.path, token.as_ref());
    let started = Instant::now();
    let mut peak: Option<i32> = None;
    let mut above_since: Option<Duration> = None;
    let scaled_up = loop {
        let h = read_hpa().await;
        let h = match h {
            Ok(h) => h,
            Err(e) => {
                load.stop().await;
                user.remove(&client).await;
                return Err(e);
            }
        };
        if let Some(p) = current_cpu_percent(&h) {
            peak = Some(peak.map_or(p, |q| q.max(p)));
            if f64::from(p) > settings.scale_up_above() && above_since.is_none() {
                above_since = Some(started.elapsed());
            }
        }
        let now = scaled_replicas(ctx, app, &deployment).await.unwrap_or(before);
        if now > before {
            break Ok((now, started.elapsed()));
        }
        if started.elapsed() >= up_deadline {
            break Err(h);
        }
        tokio::time::sleep(POLL).await;
    };
    let load_summary = load.stop().await;
    let (after, took) = match scaled_up {
        Ok(v) => {
            // The utilization the scale-up was decided on (written with it).
            if let Some(p) = read_hpa().await.ok().as_ref().and_then(current_cpu_percent) {
                peak = Some(peak.map_or(p, |q| q.max(p)));
            }
            v
        }
        Err(h) => {
            user.remove(&client).await;
            let seen = match (peak, above_since) {
                (None, _) => "the HPA never reported a CPU utilization".to_owned(),
                (Some(p), None) => format!(
                    "the load did not raise CPU above the scale-up threshold: peak {p}% of requests, target {}% (+{:.0}% tolerance)",
                    settings.target_percent,
                    settings.scale_up_tolerance * 100.0
                ),
                (Some(p), Some(at)) => format!(
                    "CPU was above the target from {:.0}s (peak {p}%, target {}%) but the Deployment was not scaled",
                    at.as_secs_f64(),
                    settings.target_percent
                ),
            };
            return Err(fail(format!(
                "no scale-up of Deployment/{deployment} within {}s of the load ({load_summary}; deadline = scale-up window {}s + 2 x metrics window {:.0}s + 2 x HPA sync {}s + {}s): {seen}; replicas {before}; conditions: {}",
                up_deadline.as_secs(),
                settings.scale_up_window.as_secs(),
                window.as_secs_f64(),
                HPA_SYNC.as_secs(),
                SLACK.as_secs(),
                conditions_line(&h)
            )));
        }
    };
    notes.push(format!(
        "scaled up {before} -> {after} replicas {:.0}s after the load started (deadline {}s; peak CPU {}% of requests, target {}%; load: {load_summary})",
        took.as_secs_f64(),
        up_deadline.as_secs(),
        peak.map_or("?".into(), |p| p.to_string()),
        settings.target_percent
    ));

    // 3. Back down: once idle, the HPA wants fewer replicas (and scales down
    //    when its scale-down stabilization window has passed).
    let stopped = Instant::now();
    let down_deadline = CpuScaling::scale_down_decision_deadline(window);
    let down = loop {
        let h = match read_hpa().await {
            Ok(h) => h,
            Err(e) => {
                user.remove(&client).await;
                return Err(e);
            }
        };
        let now = scaled_replicas(ctx, app, &deployment).await.unwrap_or(after);
        let reason = able_to_scale_reason(&h);
        let below = current_cpu_percent(&h).is_some_and(|p| p < settings.target_percent);
        if now < after {
            break Ok(format!(
                "scaled back down {after} -> {now} replicas {:.0}s after the load stopped",
                stopped.elapsed().as_secs_f64()
            ));
        }
        if below && reason.as_deref() == Some("ScaleDownStabilized") {
            break Ok(format!(
                "decided to scale back down {:.0}s after the load stopped (CPU {}% < target {}%); held at {now} replicas by the scale-down stabilization window of {}s",
                stopped.elapsed().as_secs_f64(),
                current_cpu_percent(&h).unwrap_or_default(),
                settings.target_percent,
                settings.scale_down_window.as_secs()
            ));
        }
        if stopped.elapsed() >= down_deadline {
            break Err(h);
        }
        tokio::time::sleep(POLL).await;
    };
    let left = user.remove(&client).await;
    if left > 0 {
        notes.push(format!("{left} of the load user's {LOAD_TASKS} objects could not be deleted"));
    }
    match down {
        Ok(line) => {
            notes.push(line);
            Ok(notes)
        }
        Err(h) => Err(fail(format!(
            "after scaling up to {after}, no scale-down decision within {}s of the load stopping (2 x metrics window {:.0}s + 2 x HPA sync {}s + {}s): CPU {} of requests, conditions: {}",
            down_deadline.as_secs(),
            window.as_secs_f64(),
            HPA_SYNC.as_secs(),
            SLACK.as_secs(),
            current_cpu_percent(&h).map_or("unknown".into(), |p| format!("{p}%")),
            conditions_line(&h)
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn hpa(spec: Value) -> HorizontalPodAutoscaler {
        serde_json::from_value(json!({"metadata": {"name": "b"}, "spec": spec})).expect("hpa fixture")
    }

    #[test]
    fn cpu_quantities_in_millicores() {
        assert_eq!(cpu_millis("250m"), Some(250.0));
        assert_eq!(cpu_millis("1"), Some(1000.0));
        assert_eq!(cpu_millis("1.5"), Some(1500.0));
        assert_eq!(cpu_millis("123456789n"), Some(123.456789));
        assert_eq!(cpu_millis("2000u"), Some(2.0));
        assert_eq!(cpu_millis("abc"), None);
        assert_eq!(cpu_millis(""), None);
    }

    #[test]
    fn go_durations_as_the_metrics_api_writes_them() {
        assert_eq!(go_duration("15s"), Some(Duration::from_secs(15)));
        assert_eq!(go_duration("20.5s"), Some(Duration::from_millis(20_500)));
        assert_eq!(go_duration("1m0s"), Some(Duration::from_secs(60)));
        assert_eq!(go_duration("1m30.5s"), Some(Duration::from_millis(90_500)));
        assert_eq!(go_duration("500ms"), Some(Duration::from_millis(500)));
        assert_eq!(go_duration("15"), None);
        assert_eq!(go_duration("x"), None);
    }

    #[test]
    fn pod_metrics_list_gives_cpu_per_pod_and_the_window() {
        let list = json!({"items": [
            {"metadata": {"name": "b-1"}, "window": "15.2s", "containers": [{"usage": {"cpu": "5000000n"}}, {"usage": {"cpu": "2m"}}]},
            {"metadata": {"name": "b-2"}, "window": "1m0s", "containers": [{"usage": {"cpu": "10m"}}]}
        ]});
        let cpu = PodCpu::from_list(&list);
        assert_eq!(cpu.pods, vec![("b-1".to_owned(), 7.0), ("b-2".to_owned(), 10.0)]);
        assert_eq!(cpu.window, Duration::from_secs(60));
        assert_eq!(cpu.summary(), "b-1=7.0m, b-2=10.0m");
        assert!(PodCpu::from_list(&json!({"items": []})).pods.is_empty());
    }

    #[test]
    fn settings_default_as_kubernetes_does_and_set_the_deadlines() {
        let h = hpa(json!({
            "scaleTargetRef": {"kind": "Deployment", "name": "b"}, "minReplicas": 2, "maxReplicas": 4,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
        }));
        let s = CpuScaling::of(&h).expect("cpu hpa");
        assert_eq!((s.target_percent, s.min_replicas, s.max_replicas), (70, 2, 4));
        assert_eq!(s.scale_up_window, Duration::ZERO);
        assert_eq!(s.scale_down_window, Duration::from_secs(300));
        assert!((s.scale_up_above() - 77.0).abs() < 1e-9);
        // 0 + 2 x 15 + 2 x 15 + 15
        assert_eq!(s.scale_up_deadline(Duration::from_secs(15)), Duration::from_secs(75));
        assert_eq!(CpuScaling::scale_down_decision_deadline(Duration::from_secs(15)), Duration::from_secs(75));

        let slow = hpa(json!({
            "scaleTargetRef": {"kind": "Deployment", "name": "b"}, "maxReplicas": 3,
            "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}}],
            "behavior": {"scaleUp": {"stabilizationWindowSeconds": 60, "tolerance": "0.2"}, "scaleDown": {"stabilizationWindowSeconds": 30}}
        }));
        let s = CpuScaling::of(&slow).expect("cpu hpa");
        assert_eq!(s.min_replicas, 1);
        assert_eq!(s.scale_up_window, Duration::from_secs(60));
        assert_eq!(s.scale_down_window, Duration::from_secs(30));
        assert!((s.scale_up_above() - 60.0).abs() < 1e-9);
        assert_eq!(s.scale_up_deadline(Duration::from_secs(15)), Duration::from_secs(135));
    }

    #[test]
    fn an_hpa_on_memory_cannot_be_driven() {
        let h = hpa(json!({
            "scaleTargetRef": {"kind": "Deployment", "name": "b"}, "maxReplicas": 4,
            "metrics": [{"type": "Resource", "resource": {"name": "memory", "target": {"type": "Utilization", "averageUtilization": 70}}}]
        }));
        assert!(CpuScaling::of(&h).expect_err("memory").contains("cpu Resource metric"));
    }

    #[test]
    fn metric_values_need_a_typed_entry() {
        let with = |metrics: Value| -> HorizontalPodAutoscaler {
            serde_json::from_value(
                json!({"metadata": {"name": "b"}, "status": {"desiredReplicas": 2, "currentMetrics": metrics}}),
            )
            .expect("hpa fixture")
        };
        let read =
            with(json!([{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 12}}}]));
        assert!(has_metric_values(&read));
        assert_eq!(current_cpu_percent(&read), Some(12));
        let failed = with(json!([{"type": ""}]));
        assert!(!has_metric_values(&failed));
        assert_eq!(current_cpu_percent(&failed), None);
        assert!(!has_metric_values(&with(json!([]))));
    }

    #[test]
    fn selectors_are_escaped_for_the_query() {
        assert_eq!(url_escape("app=a,tier=b"), "app%3Da%2Ctier%3Db");
    }
}
