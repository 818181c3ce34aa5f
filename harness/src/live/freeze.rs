//! The liveness check's fault without the app's help (`[liveness] fault =
//! "sigstop"`): every process of one container frozen with SIGSTOP, so it
//! stops answering its liveness probe while it still exists; the kubelet's
//! SIGKILL ends it (a stopped process cannot ignore SIGKILL).
//!
//! The signal comes from the node's PID namespace, not from inside the
//! container: the app is PID 1 of its container's PID namespace, and the
//! kernel drops a signal sent to a namespace's init from inside that
//! namespace unless the init installed a handler for it; SIGSTOP can have no
//! handler, so it would never arrive. From an ancestor namespace SIGSTOP (like
//! SIGKILL) always reaches it. So a short-lived pod with `hostPID: true` runs
//! kubegate's own image ([`crate::images::FREEZER_IMAGE`], the
//! `kubegate-freezer` crate) on the app pod's node (`nodeName`), in a
//! namespace of the run's own whose Pod Security level allows it (the app's
//! namespace enforces `restricted`). It finds the container's processes by
//! their cgroup, stops them, says which, and holds the freeze until its pod
//! is deleted ([`Freeze::thaw`]): the check thaws the container once the
//! kubelet has decided to kill it, so the app acts on the kubelet's SIGTERM
//! instead of sitting out the grace period until SIGKILL.

use super::CheckFailure;
use super::app::DeployedApp;
use super::context::LiveContext;
use crate::deploy::NamespaceGuard;
use crate::deploy::namespace::create_helper_namespace;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::jiff::Timestamp;
use kube::api::{Api, DeleteParams, LogParams, PostParams};
use std::time::Duration;

/// The freezer's namespace is `kg-<run>-<path>-freezer`.
pub const PURPOSE: &str = "freezer";
/// Name of the freezer pod and of its container.
const NAME: &str = "kubegate-freezer";
/// From creating the freezer pod to its report (it needs milliseconds; the
/// rest is the kubelet starting a container on a busy node).
const DEADLINE: Duration = Duration::from_secs(90);
/// How often the freezer's log is read for its report.
const POLL: Duration = Duration::from_millis(250);
/// How long a new namespace may lack its `default` ServiceAccount (pods are
/// refused until the controller has made it).
const SERVICE_ACCOUNT_WAIT: Duration = Duration::from_secs(30);

/// A process the freezer stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrozenProcess {
    /// Its pid in the node's PID namespace.
    pub pid: i32,
    /// Its command name (`/proc/<pid>/comm`).
    pub comm: String,
    /// Its state right after the stop (`T`: stopped).
    pub state: String,
}

/// What the freezer did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frozen {
    /// Every process it stopped.
    pub processes: Vec<FrozenProcess>,
    /// When it sent the first SIGSTOP (the node's clock).
    pub at: Timestamp,
    /// The node.
    pub node: String,
}

impl Frozen {
    /// `pid 4711 (todo-backend), ...` for reports.
    pub fn describe(&self) -> String {
        let each: Vec<String> = self
            .processes
            .iter()
            .map(|p| {
                let state = if p.state == "T" { String::new() } else { format!(", state {}", p.state) };
                format!("pid {} ({}{state})", p.pid, p.comm)
            })
            .collect();
        format!("{} on node {}", each.join(", "), self.node)
    }
}

/// The id of `container`'s running instance in `pod`, as its status gives it
/// (`containerd://<id>`, `docker://<id>`).
pub fn container_id(pod: &Pod, container: &str) -> Result<String, String> {
    let statuses = pod.status.as_ref().and_then(|s| s.container_statuses.as_ref());
    let Some(status) = statuses.into_iter().flatten().find(|c| c.name == container) else {
        return Err(format!("has no status for container `{container}` (kubegate.toml's `container`)"));
    };
    if status.state.as_ref().and_then(|s| s.running.as_ref()).is_none() {
        return Err(format!("container `{container}` is not running"));
    }
    status
        .container_id
        .clone()
        .filter(|id| !id.is_empty())
        .ok_or_else(|| format!("container `{container}` reports no containerID"))
}

/// The freezer pod for the container `container_id` on `node`: the node's PID
/// namespace, root with CAP_KILL only (signalling another user's process
/// needs it), no service account token, never restarted. No resource
/// requests: it runs for milliseconds, and a node full of requests must still
/// admit it.
pub fn freezer_pod(node: &str, container_id: &str) -> Pod {
    let pod = serde_json::json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": NAME,
            "labels": {"app.kubernetes.io/name": NAME, "app.kubernetes.io/managed-by": "kubegate"},
        },
        "spec": {
            "nodeName": node,
            "hostPID": true,
            "restartPolicy": "Never",
            "automountServiceAccountToken": false,
            "enableServiceLinks": false,
            "terminationGracePeriodSeconds": 1,
            // nodeName skips the scheduler, not the kubelet's taint check.
            "tolerations": [{"operator": "Exists"}],
            "containers": [{
                "name": NAME,
                "image": crate::images::FREEZER_IMAGE,
                // kubegate loads it into the node; there is no registry to pull from.
                "imagePullPolicy": "Never",
                "args": [container_id],
                "securityContext": {
                    "runAsUser": 0,
                    "runAsGroup": 0,
                    "runAsNonRoot": false,
                    "allowPrivilegeEscalation": false,
                    "readOnlyRootFilesystem": true,
                    "capabilities": {"drop": ["ALL"], "add": ["KILL"]},
                    "seccompProfile": {"type": "RuntimeDefault"},
                },
            }],
        },
    });
    serde_json::from_value(pod).unwrap_or_else(|e| unreachable!("a literal pod spec: {e}"))
}

/// The freezer's output: one `pid=<pid> comm=<name> state=<s>` line per
/// stopped process, then `stopped=<n> container=<id> at_unix_ms=<ms>`.
pub fn parse_output(text: &str) -> Result<(Vec<FrozenProcess>, Timestamp), String> {
    let field = |line: &str, key: &str| {
        line.split_whitespace().find_map(|f| f.strip_prefix(key).and_then(|v| v.strip_prefix('='))).map(str::to_owned)
    };
    let mut processes = Vec::new();
    for line in text.lines().filter(|l| l.starts_with("pid=")) {
        let pid = field(line, "pid").and_then(|p| p.parse().ok()).ok_or_else(|| format!("unreadable line `{line}`"))?;
        processes.push(FrozenProcess {
            pid,
            comm: field(line, "comm").unwrap_or_default(),
            state: field(line, "state").unwrap_or_default(),
        });
    }
    let summary = text.lines().find(|l| l.starts_with("stopped=")).ok_or("no `stopped=` summary line")?;
    let count: usize = field(summary, "stopped").and_then(|n| n.parse().ok()).unwrap_or(usize::MAX);
    if count != processes.len() || processes.is_empty() {
        return Err(format!("the summary `{summary}` does not match the {} process lines", processes.len()));
    }
    let at = field(summary, "at_unix_ms")
        .and_then(|ms| ms.parse::<i64>().ok())
        .and_then(|ms| Timestamp::from_millisecond(ms).ok())
        .ok_or_else(|| format!("no time in `{summary}`"))?;
    Ok((processes, at))
}

/// SIGSTOP every process of `container` in `pod` (an API pod of `app`) from
/// a freezer pod on its node. Returns once the freezer has reported what it
/// stopped; the freeze lasts until [`Freeze::thaw`].
pub async fn freeze(ctx: &LiveContext, app: &DeployedApp, pod: &Pod, container: &str) -> Result<Freeze, CheckFailure> {
    let pod_name = pod.metadata.name.clone().unwrap_or_default();
    let target = format!("Pod/{pod_name}");
    let fail = |object: &str, why: String| CheckFailure::new(app.path, object, why);
    let id = container_id(pod, container).map_err(|e| fail(&target, e))?;
    let node =
        pod.spec.as_ref().and_then(|s| s.node_name.clone()).ok_or_else(|| fail(&target, "is on no node".into()))?;
    let privileged = [("pod-security.kubernetes.io/enforce".to_owned(), "privileged".to_owned())].into();
    let guard = create_helper_namespace(&ctx.client, &ctx.kube_config, &app.run, app.path, PURPOSE, &privileged)
        .await
        .map_err(|e| fail("freezer namespace", super::app::error_chain(&e)))?;
    let ns = guard.name().to_owned();
    let freezer = format!("Pod/{NAME} in {ns}");
    let pods: Api<Pod> = Api::namespaced(ctx.client.clone(), &ns);
    let spec = freezer_pod(&node, &id);
    let started = tokio::time::Instant::now();
    loop {
        match pods.create(&PostParams::default(), &spec).await {
            Ok(_) => break,
            // A namespace this new may not have its default ServiceAccount yet.
            Err(kube::Error::Api(s))
                if s.message.contains("serviceaccount") && started.elapsed() < SERVICE_ACCOUNT_WAIT =>
            {
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => return Err(fail(&freezer, format!("cannot create it: {e}"))),
        }
    }
    let params = LogParams { container: Some(NAME.into()), ..Default::default() };
    let what = format!("stopping container {id} of {target} on node {node}");
    loop {
        let pod = pods.get_opt(NAME).await.map_err(|e| fail(&freezer, format!("cannot read it: {e}")))?;
        let phase = pod.as_ref().and_then(|p| p.status.as_ref()?.phase.clone()).unwrap_or_default();
        // Its log exists once its container has started.
        let output = if matches!(phase.as_str(), "Running" | "Succeeded" | "Failed") {
            pods.logs(NAME, &params).await.map_err(|e| fail(&freezer, format!("cannot read its log: {e}")))?
        } else {
            String::new()
        };
        if phase == "Failed" || (phase == "Succeeded" && !output.contains("stopped=")) {
            return Err(fail(&freezer, format!("{what} failed ({phase}):\n{}", output.trim_end())));
        }
        if output.lines().any(|l| l.starts_with("stopped=")) {
            let (processes, at) =
                parse_output(&output).map_err(|e| fail(&freezer, format!("{e}; its output:\n{output}")))?;
            return Ok(Freeze { frozen: Frozen { processes, at, node }, guard });
        }
        if started.elapsed() > DEADLINE {
            return Err(fail(
                &freezer,
                format!("{what}: no report after {}s (phase {phase:?}):\n{}", DEADLINE.as_secs(), output.trim_end()),
            ));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// A freeze in place: what was stopped, and the freezer holding it.
pub struct Freeze {
    /// What the freezer stopped, and when.
    pub frozen: Frozen,
    guard: NamespaceGuard,
}

impl Freeze {
    /// End the freeze: delete the freezer pod; on the kubelet's SIGTERM it
    /// sends SIGCONT to what it stopped. Dropped instead, the namespace goes
    /// in the background and the thaw with it.
    pub async fn thaw(&self, client: &kube::Client) -> Result<(), String> {
        let pods: Api<Pod> = Api::namespaced(client.clone(), self.guard.name());
        match pods.delete(NAME, &DeleteParams::default()).await {
            Ok(_) => Ok(()),
            Err(e) => Err(format!("cannot delete Pod/{NAME} in {}: {e}", self.guard.name())),
        }
    }

    /// Delete the freezer's namespace (thawing first if [`Freeze::thaw`] was not called).
    pub async fn cleanup(self, client: &kube::Client, timeout: Duration) -> Result<(), String> {
        let ns = self.guard.name().to_owned();
        self.guard.cleanup(client, timeout).await.map_err(|e| format!("{ns}: {}", super::app::error_chain(&e)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "containerd://3f0c9a7e5b1d4c2a8e6f0b9d7c5a3e1f2b4d6c8a0e9f7b5d3c1a2e4f6b8d0c9a";

    fn pod(statuses: serde_json::Value) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "api-1"},
            "spec": {"nodeName": "node-a", "containers": [{"name": "api"}, {"name": "proxy"}]},
            "status": {"containerStatuses": statuses},
        }))
        .expect("pod")
    }

    #[test]
    fn the_container_id_is_the_running_instance_of_the_named_container() {
        let running = |name: &str, id: &str| {
            serde_json::json!({"name": name, "containerID": id, "image": "x", "imageID": "", "ready": true,
                "restartCount": 0, "state": {"running": {"startedAt": "2026-12-07T06:00:00Z"}}})
        };
        let p = pod(serde_json::json!([running("proxy", "containerd://ffff0000ffff0000"), running("api", ID)]));
        assert_eq!(container_id(&p, "api").as_deref(), Ok(ID));
        let err = container_id(&p, "backend").expect_err("no such container");
        assert!(err.contains("`backend`") && err.contains("kubegate.toml"), "{err}");
        let waiting = pod(serde_json::json!([{"name": "api", "image": "x", "imageID": "", "ready": false,
            "restartCount": 1, "state": {"waiting": {"reason": "CrashLoopBackOff"}}}]));
        assert!(container_id(&waiting, "api").expect_err("not running").contains("not running"));
    }

    #[test]
    fn the_freezer_pod_runs_on_the_node_in_its_pid_namespace_with_kill_only() {
        let p = serde_json::to_value(freezer_pod("node-a", ID)).expect("serialises");
        let spec = &p["spec"];
        assert_eq!(spec["nodeName"], "node-a");
        assert_eq!(spec["hostPID"], true);
        assert_eq!(spec["restartPolicy"], "Never");
        assert_eq!(spec["automountServiceAccountToken"], false);
        assert_eq!(p["metadata"]["labels"]["app.kubernetes.io/name"], "kubegate-freezer");
        let c = &spec["containers"][0];
        assert_eq!(c["name"], NAME, "its log is read by this name");
        assert_eq!(c["image"], crate::images::FREEZER_IMAGE);
        assert_eq!(c["imagePullPolicy"], "Never");
        assert_eq!(c["args"], serde_json::json!([ID]));
        assert!(c.get("resources").is_none(), "best effort: admitted on a full node");
        let sc = &c["securityContext"];
        assert_eq!((sc["runAsUser"].as_i64(), sc["runAsNonRoot"].as_bool()), (Some(0), Some(false)));
        assert_eq!(sc["capabilities"], serde_json::json!({"drop": ["ALL"], "add": ["KILL"]}));
        assert_eq!(sc["allowPrivilegeEscalation"], false);
        assert!(sc.get("privileged").is_none(), "no more than CAP_KILL");
    }

    #[test]
    fn the_output_names_each_stopped_process_and_when() {
        let out = "pid=4711 comm=todo-backend state=T\npid=4720 comm=worker state=S\nstopped=2 container=3f0c at_unix_ms=1796623200123\n";
        let (procs, at) = parse_output(out).expect("parsed");
        assert_eq!(
            procs,
            [
                FrozenProcess { pid: 4711, comm: "todo-backend".into(), state: "T".into() },
                FrozenProcess { pid: 4720, comm: "worker".into(), state: "S".into() },
            ]
        );
        assert_eq!(at.as_millisecond(), 1_796_623_200_123);
        let frozen = Frozen { processes: procs, at, node: "node-a".into() };
        assert_eq!(frozen.describe(), "pid 4711 (todo-backend), pid 4720 (worker, state S) on node node-a");
        for bad in ["", "pid=1 comm=a state=T\n", "stopped=2 container=x at_unix_ms=1\npid=1 comm=a state=T\n"] {
            assert!(parse_output(bad).is_err(), "{bad:?}");
        }
        assert!(
            parse_output("pid=1 comm=a state=T\nstopped=1 container=x\n").expect_err("no time").contains("no time")
        );
    }
}
