//! Likely causes in the spec. A dead end says what the runtime saw
//! (CrashLoopBackOff, Unhealthy, OOMKilled); the cause is usually a field
//! someone wrote. [`likely_cause`] names those fields with their values and
//! why they fit the symptom, from the pod (spec and status), what the
//! deployment promises ([`Expectations`]: kubegate.toml and the contract)
//! and what was seen beside it ([`Observed`]: the log tail, the memory
//! working set). [`proxy_target`] does the same for a 502/503/504 from the
//! public component. Pure functions, each case unit-tested on fixtures.
//!
//! No Secret value is read: env vars from a Secret are named, never resolved.

use super::diagnose::{DeadEnd, DeadEndKind, MissingRef, missing_config_ref};
use crate::config::Config;
use crate::contract::{Contract, ProbeKind, expected_port, expected_probe_paths};
use crate::rules::{fmt_container_port, fmt_port, in_cluster_service, parse_quantity, resolve_port, urls};
use k8s_openapi::api::core::v1::{ConfigMap, Container, ContainerStateTerminated, Pod, PodSpec, Probe};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::fmt::Write as _;

/// A field of the spec that likely causes a dead end.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SpecCause {
    /// Where, as a path into the pod (`spec.containers[backend].readinessProbe.httpGet.path`).
    pub field: String,
    /// Its value as deployed (`/not-ready-here`, `(none)`; never a Secret's value).
    pub value: String,
    /// Why it fits the symptom, against what (the contract, the declared ports, the Services).
    pub why: String,
}

impl std::fmt::Display for SpecCause {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} = {}: {}", self.field, self.value, self.why)
    }
}

/// Causes as message lines (`\n  cause: ...` each); empty for none.
pub fn format_causes(causes: &[SpecCause]) -> String {
    causes.iter().map(|c| format!("\n  cause: {c}")).collect()
}

/// What the deployment promises one container: its probe paths and port.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    /// The component (`backend`).
    pub component: String,
    /// Its Deployment (pods are named `<deployment>-<hash>-<id>`).
    pub deployment: String,
    /// Its container.
    pub container: String,
    /// Paths each probe kind may GET (empty: nothing promised).
    pub probe_paths: Vec<(ProbeKind, Vec<String>)>,
    /// The port it listens on (0: unknown).
    pub port: i32,
    /// Where the promise comes from, for messages (`the contract (openapi.yaml)`, `kubegate.toml`).
    pub source: String,
}

impl Expected {
    fn paths(&self, kind: ProbeKind) -> &[String] {
        self.probe_paths.iter().find(|(k, _)| *k == kind).map_or(&[], |(_, p)| p.as_slice())
    }
}

/// What the deployment promises each of its containers.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Expectations {
    /// One entry per component.
    pub containers: Vec<Expected>,
}

impl Expectations {
    /// From kubegate.toml's components and, when there is one, the contract
    /// (the same paths and ports the static rules judge by).
    pub fn new(config: &Config, contract: Option<&Contract>) -> Self {
        let source = match contract {
            Some(c) => format!(
                "the contract ({})",
                c.file.file_name().map_or_else(|| c.file.display().to_string(), |n| n.to_string_lossy().into_owned())
            ),
            None => "kubegate.toml".to_owned(),
        };
        let containers = config
            .components
            .iter()
            .map(|comp| Expected {
                component: comp.name.clone(),
                deployment: comp.deployment.clone(),
                container: comp.container.clone(),
                probe_paths: [ProbeKind::Liveness, ProbeKind::Readiness, ProbeKind::Startup]
                    .into_iter()
                    .map(|k| (k, expected_probe_paths(contract, comp, k)))
                    .collect(),
                port: expected_port(contract, comp),
                source: source.clone(),
            })
            .collect();
        Expectations { containers }
    }

    /// [`Expectations::new`] with the contract kubegate.toml names, if it
    /// reads (a contract that does not is the static check's finding, not this one's).
    pub fn load(config: &Config) -> Self {
        let contract = config.contract_file().and_then(|f| Contract::load(&f).ok());
        Expectations::new(config, contract.as_ref())
    }

    /// The promise for `container` of pod `pod_name` (matched by Deployment name first).
    pub fn of(&self, pod_name: &str, container: &str) -> Option<&Expected> {
        let all: Vec<&Expected> = self.containers.iter().filter(|e| e.container == container).collect();
        all.iter().find(|e| pod_name.starts_with(&format!("{}-", e.deployment))).or(all.first()).copied()
    }
}

/// What was seen beside the pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Observed {
    /// The failing container's log tail (the previous instance's when it crashed), redacted.
    pub log_tail: Option<String>,
    /// Its memory working set from the metrics API, in bytes.
    pub memory_working_set: Option<u64>,
}

/// The fields of `pod`'s spec that likely cause `d`, with their values and why.
pub fn likely_cause(d: &DeadEnd, pod: &Pod, expect: &Expectations, seen: &Observed) -> Vec<SpecCause> {
    let Some(spec) = pod.spec.as_ref() else { return Vec::new() };
    if d.kind == DeadEndKind::Unschedulable {
        return scheduling(spec, &d.message);
    }
    let Some(at) = Site::find(spec, d.container.as_deref()) else { return Vec::new() };
    let pod_name = pod.metadata.name.as_deref().unwrap_or("");
    let status = pod
        .status
        .iter()
        .flat_map(|s| s.init_container_statuses.iter().flatten().chain(s.container_statuses.iter().flatten()))
        .find(|cs| cs.name == at.c.name);
    // The instance that ended: the current one if it has, else the last one.
    let ended = status.and_then(|cs| {
        cs.state.as_ref().and_then(|s| s.terminated.as_ref()).or(cs.last_state.as_ref()?.terminated.as_ref())
    });
    match d.kind {
        DeadEndKind::ImagePull | DeadEndKind::ImageNeverPull => vec![image(&at, d.kind)],
        DeadEndKind::ContainerConfig => config_refs(spec, &at, &d.message),
        DeadEndKind::CrashLoop | DeadEndKind::ContainerStart => exited(spec, &at, ended, &d.message, seen),
        DeadEndKind::LivenessProbe | DeadEndKind::ReadinessProbe | DeadEndKind::StartupProbe => {
            probe(&at, d.kind, &d.message, expect.of(pod_name, &at.c.name))
        }
        DeadEndKind::Unschedulable
        | DeadEndKind::PodRejected
        | DeadEndKind::NoLoadBalancerProvider
        | DeadEndKind::LoadBalancerAllocation => Vec::new(),
    }
}

/// One container of a pod spec and how its fields are named.
struct Site<'a> {
    c: &'a Container,
    /// `containers` or `initContainers`.
    list: &'static str,
}

impl<'a> Site<'a> {
    fn find(spec: &'a PodSpec, name: Option<&str>) -> Option<Self> {
        let init = spec.init_containers.iter().flatten().map(|c| (c, "initContainers"));
        let main = spec.containers.iter().map(|c| (c, "containers"));
        let mut all = main.chain(init);
        let (c, list) = match name {
            Some(n) => all.find(|(c, _)| c.name == n)?,
            None => all.next()?,
        };
        Some(Site { c, list })
    }

    /// `spec.containers[backend].<rest>`.
    fn at(&self, rest: &str) -> String {
        format!("spec.{}[{}].{rest}", self.list, self.c.name)
    }
}

/// A list of strings as written in YAML flow style: `["serve", "--port"]`.
fn list_text(items: &[String]) -> String {
    serde_json::to_string(items).unwrap_or_default()
}

fn image(at: &Site<'_>, kind: DeadEndKind) -> SpecCause {
    let image = at.c.image.clone().unwrap_or_default();
    let policy = at.c.image_pull_policy.clone().unwrap_or_else(|| "IfNotPresent".into());
    let why = if kind == DeadEndKind::ImageNeverPull {
        format!(
            "imagePullPolicy is {policy} and the node's container runtime has no such image: load it or fix the tag"
        )
    } else {
        format!("the node cannot pull it (imagePullPolicy {policy}): check the repository and tag")
    };
    SpecCause { field: at.at("image"), value: image, why }
}

/// The references to the Secret/ConfigMap (or key) the kubelet says is missing.
fn config_refs(spec: &PodSpec, at: &Site<'_>, message: &str) -> Vec<SpecCause> {
    if message.contains("runAsNonRoot") {
        return vec![non_root(spec, at)];
    }
    let Some(MissingRef { kind, name, key }) = missing_config_ref(message) else { return Vec::new() };
    let missing = match &key {
        Some(k) => format!("{kind} {name} has no key {k}"),
        None => format!("{kind} {name} does not exist"),
    };
    let mut out = Vec::new();
    for e in at.c.env.iter().flatten() {
        let Some(from) = &e.value_from else { continue };
        let found = match kind {
            "Secret" => from.secret_key_ref.as_ref().map(|r| (&r.name, &r.key, r.optional, "secretKeyRef")),
            _ => from.config_map_key_ref.as_ref().map(|r| (&r.name, &r.key, r.optional, "configMapKeyRef")),
        };
        let Some((ref_name, ref_key, optional, how)) = found else { continue };
        if *ref_name == name && key.as_ref().is_none_or(|k| k == ref_key) && optional != Some(true) {
            out.push(SpecCause {
                field: at.at(&format!("env[{}].valueFrom.{how}", e.name)),
                value: format!("{ref_name}/{ref_key}"),
                why: format!("{missing} in the namespace; create it, or set optional: true if the app runs without it"),
            });
        }
    }
    for (i, e) in at.c.env_from.iter().flatten().enumerate() {
        let r = match kind {
            "Secret" => e.secret_ref.as_ref().map(|r| (&r.name, r.optional, "secretRef")),
            _ => e.config_map_ref.as_ref().map(|r| (&r.name, r.optional, "configMapRef")),
        };
        if let Some((ref_name, optional, how)) = r
            && *ref_name == name
            && optional != Some(true)
        {
            out.push(SpecCause {
                field: at.at(&format!("envFrom[{i}].{how}.name")),
                value: ref_name.clone(),
                why: format!("{missing} in the namespace"),
            });
        }
    }
    out
}

fn non_root(spec: &PodSpec, at: &Site<'_>) -> SpecCause {
    let (field, uid) = run_as_user(spec, at);
    SpecCause {
        field,
        value: uid.map_or_else(|| "(none: the image's USER)".into(), |u| u.to_string()),
        why: "runAsNonRoot is true and the image runs as root: set runAsUser to a non-zero uid, or build the image with a numeric non-root USER".into(),
    }
}

/// The effective runAsUser field (container over pod) and its value.
fn run_as_user(spec: &PodSpec, at: &Site<'_>) -> (String, Option<i64>) {
    match at.c.security_context.as_ref().and_then(|s| s.run_as_user) {
        Some(u) => (at.at("securityContext.runAsUser"), Some(u)),
        None => ("spec.securityContext.runAsUser".into(), spec.security_context.as_ref().and_then(|s| s.run_as_user)),
    }
}

/// Words in a runtime message or log that mean a permission problem.
const PERMISSION_WORDS: [&str; 6] =
    ["permission denied", "read-only file system", "eacces", "erofs", "operation not permitted", "eperm"];

/// The lines of `text` that speak of a permission problem.
fn permission_lines(text: &str) -> Vec<&str> {
    text.lines().filter(|l| PERMISSION_WORDS.iter().any(|w| l.to_ascii_lowercase().contains(w))).collect()
}

/// A container that ended (or could not start): its memory limit when it was
/// killed for memory, else its command and exit code, and its security
/// context and mounts when the runtime or the log speaks of permissions.
fn exited(
    spec: &PodSpec,
    at: &Site<'_>,
    ended: Option<&ContainerStateTerminated>,
    message: &str,
    seen: &Observed,
) -> Vec<SpecCause> {
    let runtime = format!("{message}\n{}", ended.and_then(|t| t.message.as_deref()).unwrap_or(""));
    let oom = ended.is_some_and(|t| t.reason.as_deref() == Some("OOMKilled"))
        || runtime.contains("OOM")
        || runtime.contains("memory limit too low");
    if oom {
        return vec![memory(at, ended, &runtime, seen)];
    }
    let log = seen.log_tail.as_deref().unwrap_or("");
    let mut out = vec![command(at, ended, &runtime, log)];
    let mut lines = permission_lines(&runtime);
    lines.extend(permission_lines(log));
    if !lines.is_empty() {
        out.extend(permissions(spec, at, &lines));
    }
    out
}

fn memory(at: &Site<'_>, ended: Option<&ContainerStateTerminated>, runtime: &str, seen: &Observed) -> SpecCause {
    let resources = at.c.resources.as_ref();
    let limit = resources.and_then(|r| r.limits.as_ref()?.get("memory")).map(|q| q.0.clone());
    let request = resources.and_then(|r| r.requests.as_ref()?.get("memory")).map(|q| q.0.clone());
    let mut why = match ended {
        Some(t) if t.reason.as_deref() == Some("OOMKilled") => {
            format!("the container was OOMKilled (exit {}) at this limit", t.exit_code)
        }
        _ => format!("the runtime could not start the container within this limit ({})", short(runtime.trim())),
    };
    if let Some(r) = &request {
        let _ = write!(why, " (request {r})");
    }
    match (seen.memory_working_set, limit.as_deref().and_then(parse_quantity)) {
        (Some(used), Some(l)) => {
            let _ = write!(why, "; its working set was {} of {} (metrics API)", mib(used as f64), mib(l));
        }
        (Some(used), None) => {
            let _ = write!(why, "; its working set was {} (metrics API)", mib(used as f64));
        }
        _ => {}
    }
    why.push_str(if limit.is_some() {
        ": raise it above the container's peak use"
    } else {
        ": without a limit the node itself ran out of memory; set requests.memory to what the container uses"
    });
    SpecCause { field: at.at("resources.limits.memory"), value: limit.unwrap_or_else(|| "(none)".into()), why }
}

fn mib(bytes: f64) -> String {
    format!("{:.1} MiB", bytes / (1024.0 * 1024.0))
}

/// The command (or args, or the image's entrypoint) and what its exit says.
fn command(at: &Site<'_>, ended: Option<&ContainerStateTerminated>, runtime: &str, log: &str) -> SpecCause {
    let c = at.c;
    let command = c.command.as_deref().filter(|v| !v.is_empty());
    let args = c.args.as_deref().filter(|v| !v.is_empty());
    let (field, value) = match (command, args) {
        (Some(cmd), Some(a)) => (at.at("command"), format!("{} with args {}", list_text(cmd), list_text(a))),
        (Some(cmd), None) => (at.at("command"), list_text(cmd)),
        (None, Some(a)) => (at.at("args"), format!("{} (to the image's entrypoint)", list_text(a))),
        (None, None) => (at.at("command"), "(image default entrypoint)".into()),
    };
    let mut why = match ended {
        Some(t) => format!(
            "exit code {} ({})",
            t.exit_code,
            exit_code_meaning(t.exit_code, t.reason.as_deref().unwrap_or(""), runtime)
        ),
        None => format!("the runtime cannot start it ({})", start_failure_meaning(runtime)),
    };
    match telling_line(log) {
        Some(line) => {
            let _ = write!(why, "; its log says: {}", short(line));
        }
        None if ended.is_some() => why.push_str("; it wrote no log"),
        None => {}
    }
    SpecCause { field, value, why }
}

/// What an exit code commonly means (`reason` and `message` are the runtime's).
pub fn exit_code_meaning(code: i32, reason: &str, message: &str) -> String {
    if matches!(reason, "StartError" | "ContainerCannotRun") || code == 128 {
        return start_failure_meaning(message);
    }
    match code {
        0 => "it finished successfully, but a Deployment's container must keep running: the command runs something that ends".into(),
        1 => "the application reported an error and stopped".into(),
        2 => "by convention a usage error: bad arguments or configuration".into(),
        126 => "the command was found but cannot be executed: not executable, or not a binary for this platform".into(),
        127 => "the command was not found: not in the image or not on PATH".into(),
        137 => "killed by SIGKILL (128+9): the OOM killer, a failed liveness probe, or a stop past terminationGracePeriodSeconds".into(),
        139 => "a segmentation fault (128+11)".into(),
        143 => "stopped by SIGTERM (128+15)".into(),
        n if (129..160).contains(&n) => format!("killed by signal {} (128+{})", n - 128, n - 128),
        n => format!("the application exited with code {n}"),
    }
}

/// What a runtime's start failure (StartError, RunContainerError) says.
fn start_failure_meaning(message: &str) -> String {
    let lower = message.to_ascii_lowercase();
    let what = if lower.contains("no such file or directory") || lower.contains("not found in $path") {
        "the command is not in the image"
    } else if lower.contains("permission denied") {
        "the command is in the image but not executable by the container's user"
    } else if lower.contains("exec format error") {
        "the command is not a binary for this platform"
    } else {
        "the runtime could not start the command"
    };
    match runtime_detail(message) {
        Some(detail) => format!("{what}: {}", short(detail)),
        None => what.into(),
    }
}

/// The informative tail of a runtime error: from `exec:` on, else the last `: `-separated part.
fn runtime_detail(message: &str) -> Option<&str> {
    let m = message.trim();
    if m.is_empty() {
        return None;
    }
    Some(match m.find("exec: ") {
        Some(i) => m[i..].trim_end_matches(": unknown").trim(),
        None => m.rsplit(": ").find(|p| *p != "unknown").unwrap_or(m),
    })
}

/// The log line that most likely says why it stopped: the last that reads
/// like an error, else the last non-empty one.
fn telling_line(log: &str) -> Option<&str> {
    const WORDS: [&str; 11] = [
        "error",
        "fatal",
        "panic",
        "unknown",
        "denied",
        "not found",
        "failed",
        "invalid",
        "cannot",
        "refused",
        "missing",
    ];
    let lines: Vec<&str> = log.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines.iter().rev().find(|l| WORDS.iter().any(|w| l.to_ascii_lowercase().contains(w))).or(lines.last()).copied()
}

/// At most 160 characters of `s`, on one line.
fn short(s: &str) -> String {
    let one: String = s.chars().map(|c| if c == '\n' { ' ' } else { c }).collect();
    if one.chars().count() > 160 { format!("{}...", one.chars().take(160).collect::<String>()) } else { one }
}

/// Security context and mounts, against the paths a permission error names.
fn permissions(spec: &PodSpec, at: &Site<'_>, lines: &[&str]) -> Vec<SpecCause> {
    let c = at.c;
    let psc = spec.security_context.as_ref();
    let sc = c.security_context.as_ref();
    let path = lines.iter().find_map(|l| path_in(l));
    let mounts: Vec<(&str, bool, String)> = c
        .volume_mounts
        .iter()
        .flatten()
        .map(|m| (m.mount_path.as_str(), m.read_only == Some(true), volume_kind(spec, &m.name)))
        .collect();
    let writable: Vec<String> = mounts
        .iter()
        .filter(|(_, ro, kind)| !ro && !kind.starts_with("configMap") && !kind.starts_with("secret"))
        .map(|(p, _, kind)| format!("{p} ({kind})"))
        .collect();
    let writable_text = if writable.is_empty() { "none".to_owned() } else { writable.join(", ") };
    let mut out = Vec::new();
    let under = path.and_then(|p| {
        c.volume_mounts.iter().flatten().filter(|m| under_mount(p, &m.mount_path)).max_by_key(|m| m.mount_path.len())
    });
    match (path, under) {
        (Some(p), Some(m)) => {
            let kind = volume_kind(spec, &m.name);
            if m.read_only == Some(true) {
                out.push(SpecCause {
                    field: at.at(&format!("volumeMounts[{}].readOnly", m.name)),
                    value: "true".into(),
                    why: format!("{p} is on this read-only mount ({kind})"),
                });
            } else if kind.starts_with("configMap") || kind.starts_with("secret") {
                out.push(SpecCause {
                    field: at.at(&format!("volumeMounts[{}]", m.name)),
                    value: format!("{} ({kind})", m.mount_path),
                    why: format!(
                        "{p} is on a {} volume, which is always read-only: write elsewhere (an emptyDir)",
                        kind.split_whitespace().next().unwrap_or("")
                    ),
                });
            } else {
                let fs_group = psc.and_then(|s| s.fs_group);
                out.push(SpecCause {
                    field: "spec.securityContext.fsGroup".into(),
                    value: fs_group.map_or_else(|| "(none)".into(), |g| g.to_string()),
                    why: format!(
                        "{p} is on volume {} ({kind}), writable but owned by another user; fsGroup makes a volume group-writable for the pod",
                        m.name
                    ),
                });
            }
        }
        (Some(p), None) if sc.and_then(|s| s.read_only_root_filesystem) == Some(true) => out.push(SpecCause {
            field: at.at("securityContext.readOnlyRootFilesystem"),
            value: "true".into(),
            why: format!(
                "{p} is on no volume mount, so on the read-only root filesystem: mount an emptyDir at its directory (writable mounts: {writable_text})"
            ),
        }),
        _ => {
            if sc.and_then(|s| s.read_only_root_filesystem) == Some(true) {
                out.push(SpecCause {
                    field: at.at("securityContext.readOnlyRootFilesystem"),
                    value: "true".into(),
                    why: format!("only mounted volumes are writable (writable mounts: {writable_text})"),
                });
            }
        }
    }
    let (uid_field, uid) = run_as_user(spec, at);
    let gid = sc.and_then(|s| s.run_as_group).or(psc.and_then(|s| s.run_as_group));
    let fs_group = psc.and_then(|s| s.fs_group);
    out.push(SpecCause {
        field: uid_field,
        value: uid.map_or_else(|| "(none: the image's USER)".into(), |u| u.to_string()),
        why: format!(
            "the process runs as this uid (runAsGroup {}, fsGroup {}): it can write only where that user or group may; the runtime says: {}",
            gid.map_or_else(|| "(none)".into(), |g| g.to_string()),
            fs_group.map_or_else(|| "(none)".into(), |g| g.to_string()),
            short(lines[0].trim())
        ),
    });
    out
}

/// The first absolute path in a line (`open /data/x: read-only file system`, `'/data/x'`).
fn path_in(line: &str) -> Option<&str> {
    line.split(|c: char| c.is_whitespace() || matches!(c, '\'' | '"' | '`' | ',' | '(' | ')'))
        .map(|w| w.trim_end_matches([':', '.', ';']))
        .find(|w| w.starts_with('/') && w.len() > 1 && !w.starts_with("//"))
}

fn under_mount(path: &str, mount: &str) -> bool {
    let mount = mount.trim_end_matches('/');
    path == mount || path.starts_with(&format!("{mount}/"))
}

/// `emptyDir tmp`, `configMap config`, `persistentVolumeClaim data`, ...
fn volume_kind(spec: &PodSpec, name: &str) -> String {
    let Some(v) = spec.volumes.iter().flatten().find(|v| v.name == name) else { return format!("volume {name}") };
    let kind = if v.empty_dir.is_some() {
        "emptyDir"
    } else if v.config_map.is_some() {
        "configMap"
    } else if v.secret.is_some() {
        "secret"
    } else if v.persistent_volume_claim.is_some() {
        "persistentVolumeClaim"
    } else if v.host_path.is_some() {
        "hostPath"
    } else if v.projected.is_some() {
        "projected"
    } else {
        "volume"
    };
    format!("{kind} {name}")
}

/// The probe's kind, path, port and timings against the promise and the declared ports.
fn probe(at: &Site<'_>, kind: DeadEndKind, message: &str, expect: Option<&Expected>) -> Vec<SpecCause> {
    let c = at.c;
    let (pk, name, p): (ProbeKind, &str, Option<&Probe>) = match kind {
        DeadEndKind::LivenessProbe => (ProbeKind::Liveness, "livenessProbe", c.liveness_probe.as_ref()),
        DeadEndKind::StartupProbe => (ProbeKind::Startup, "startupProbe", c.startup_probe.as_ref()),
        _ => (ProbeKind::Readiness, "readinessProbe", c.readiness_probe.as_ref()),
    };
    let Some(p) = p else { return Vec::new() };
    let declared: Vec<String> = c.ports.iter().flatten().map(fmt_container_port).collect();
    let declared = if declared.is_empty() { "none declared".to_owned() } else { declared.join(", ") };
    let status = http_status(message);
    let mut out = Vec::new();
    let port_field;
    let port_value: Option<&IntOrString>;
    if let Some(h) = &p.http_get {
        let path = h.path.as_deref().unwrap_or("/");
        let path_field = at.at(&format!("{name}.httpGet.path"));
        if let Some(e) = expect
            && !e.paths(pk).is_empty()
            && !e.paths(pk).iter().any(|w| w == path)
        {
            out.push(SpecCause {
                field: path_field.clone(),
                value: path.to_owned(),
                why: format!(
                    "{path} is not in {} (it declares {} for {}'s {pk} probe){}",
                    e.source,
                    e.paths(pk).join(" or "),
                    e.component,
                    status.map(|s| format!("; the app answers it {s}")).unwrap_or_default()
                ),
            });
        } else if let Some(s) = status {
            let why = match s {
                404 => format!("the app answers {s}: it serves no such path"),
                500..=599 => format!(
                    "the app answers {s}: it reports itself {} (a dependency it checks, such as the database, may be down; see its log)",
                    if pk == ProbeKind::Readiness { "not ready" } else { "unhealthy" }
                ),
                _ => format!("the app answers {s}; the probe wants 200-399"),
            };
            out.push(SpecCause { field: path_field, value: path.to_owned(), why });
        }
        port_field = at.at(&format!("{name}.httpGet.port"));
        port_value = Some(&h.port);
    } else if let Some(t) = &p.tcp_socket {
        port_field = at.at(&format!("{name}.tcpSocket.port"));
        port_value = Some(&t.port);
    } else {
        port_field = String::new();
        port_value = None;
        if let Some(e) = &p.exec {
            out.push(SpecCause {
                field: at.at(&format!("{name}.exec.command")),
                value: list_text(e.command.as_deref().unwrap_or(&[])),
                why: format!("the command fails in the container: {}", short(message)),
            });
        }
    }
    if let Some(port) = port_value {
        let shown = match (port, resolve_port(c, port)) {
            (IntOrString::String(n), Some(num)) if n.parse::<i32>().is_err() => format!("{n} ({num})"),
            _ => fmt_port(port),
        };
        let number = resolve_port(c, port).or(match port {
            IntOrString::Int(n) => Some(*n),
            IntOrString::String(s) => s.parse().ok(),
        });
        let why = match number {
            None => Some(format!("names no containerPort (ports: {declared})")),
            Some(n) if resolve_port(c, port).is_none() => Some(format!("port {n} is not a containerPort ({declared})")),
            Some(n) => match expect {
                Some(e) if e.port != 0 && e.port != n => {
                    Some(format!("{} listens on {} ({}), not {n}", e.component, e.port, e.source))
                }
                _ if message.contains("connection refused") => {
                    Some(format!("nothing listens on {n}: the app listens on another port or has not started"))
                }
                _ => None,
            },
        };
        if let Some(why) = why {
            out.push(SpecCause { field: port_field, value: shown, why });
        }
    }
    let timed_out = ["timeout", "deadline exceeded", "timed out"].iter().any(|w| message.contains(w));
    if timed_out || pk == ProbeKind::Startup || out.is_empty() {
        let t = |v: Option<i32>, d: i32| v.unwrap_or(d);
        let (delay, period, timeout, threshold) = (
            t(p.initial_delay_seconds, 0),
            t(p.period_seconds, 10),
            t(p.timeout_seconds, 1),
            t(p.failure_threshold, 3),
        );
        let why = if timed_out {
            format!("the app does not answer within timeoutSeconds {timeout}: raise it, or find what makes it slow")
        } else if pk == ProbeKind::Startup {
            format!(
                "the app gets {}s to start (initialDelaySeconds + periodSeconds x failureThreshold); failing: {}",
                delay + period * threshold,
                short(message)
            )
        } else {
            format!("failing: {}", short(message))
        };
        out.push(SpecCause {
            field: at.at(name),
            value: format!(
                "initialDelaySeconds {delay}, periodSeconds {period}, timeoutSeconds {timeout}, failureThreshold {threshold}"
            ),
            why,
        });
    }
    out
}

/// The status code in a kubelet probe message (`HTTP probe failed with statuscode: 404`).
fn http_status(message: &str) -> Option<u16> {
    message.split_once("statuscode: ")?.1.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok()
}

/// Requests, node selector and tolerations against the scheduler's message.
fn scheduling(spec: &PodSpec, message: &str) -> Vec<SpecCause> {
    let mut out = Vec::new();
    for resource in ["cpu", "memory"] {
        if !message.contains(&format!("Insufficient {resource}")) {
            continue;
        }
        for c in &spec.containers {
            if let Some(q) = c.resources.as_ref().and_then(|r| r.requests.as_ref()?.get(resource)) {
                out.push(SpecCause {
                    field: format!("spec.containers[{}].resources.requests.{resource}", c.name),
                    value: q.0.clone(),
                    why: format!(
                        "no node has this much {resource} free for the pod: lower the request or free the node"
                    ),
                });
            }
        }
    }
    if (message.contains("node affinity") || message.contains("node selector"))
        && let Some(sel) = &spec.node_selector
    {
        out.push(SpecCause {
            field: "spec.nodeSelector".into(),
            value: sel.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
            why: "no node carries these labels".into(),
        });
    }
    out
}

/// A Service of the namespace as the proxy diagnosis sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceView {
    /// Name.
    pub name: String,
    /// Its ports (`spec.ports[].port`).
    pub ports: Vec<i32>,
    /// Ready endpoints across its EndpointSlices (`None`: not known).
    pub ready_endpoints: Option<usize>,
}

impl ServiceView {
    fn text(&self) -> String {
        let ports: Vec<String> = self.ports.iter().map(ToString::to_string).collect();
        format!("{}:{}", self.name, ports.join("/"))
    }
}

/// The proxy target of the public component: each env var of `c` whose value
/// is an in-cluster URL (a literal, or a ConfigMap key; Secret references are
/// never read), against the Services of the namespace. The cause of a
/// 502/503/504 on an API path when one is wrong; otherwise what the target is
/// and that it looks right, so the failure is elsewhere. Fields are named
/// under `spec` (`spec`, or `Deployment/web spec.template.spec`).
pub fn proxy_target(spec: &str, c: &Container, config_maps: &[ConfigMap], services: &[ServiceView]) -> Vec<SpecCause> {
    let listed = || {
        if services.is_empty() {
            "none".to_owned()
        } else {
            services.iter().map(ServiceView::text).collect::<Vec<_>>().join(", ")
        }
    };
    let mut out = Vec::new();
    let mut secret_refs = Vec::new();
    for (name, field, value, from) in env_settings(spec, c, config_maps, &mut secret_refs) {
        for url in urls(&value) {
            if !matches!(url.scheme, "http" | "https") {
                continue;
            }
            let Some(svc_name) = in_cluster_service(url.host) else { continue };
            let port = url.port.unwrap_or(if url.scheme == "https" { 443 } else { 80 });
            let why = match services.iter().find(|s| s.name == svc_name) {
                None => format!("{name} names Service {svc_name}, which does not exist (Services: {})", listed()),
                Some(s) if !s.ports.contains(&port) => {
                    format!("{name} names port {port} of Service {svc_name}, which exposes {}", s.text())
                }
                Some(s) if s.ready_endpoints == Some(0) => format!(
                    "{name} names Service {svc_name}:{port}, which has no ready endpoint: its pods are not Ready or its selector matches none"
                ),
                Some(s) => format!(
                    "{name} names Service {svc_name}:{port}, which exists{}: the target is right, so the hop failed past it (the API's answer or its path prefix; see the API's log)",
                    s.ready_endpoints.map(|n| format!(" with {n} ready endpoint(s)")).unwrap_or_default()
                ),
            };
            out.push(SpecCause { field: field.clone(), value: format!("{value}{from}"), why });
        }
    }
    if out.is_empty() {
        out.push(SpecCause {
            field: format!("{spec}.containers[{}].env", c.name),
            value: "(no in-cluster URL)".into(),
            why: format!(
                "no env var of the public container holds an http:// URL of a Service, so where it proxies is not in its spec{} (Services: {})",
                if secret_refs.is_empty() {
                    String::new()
                } else {
                    format!("; {} come from Secrets and are not read", secret_refs.join(", "))
                },
                listed()
            ),
        });
    }
    out
}

/// `(name, field, value, " (from ...)")` of every env var of `c` whose value
/// kubegate may read; the names of those from Secrets go to `secret_refs`.
fn env_settings(
    spec: &str,
    c: &Container,
    config_maps: &[ConfigMap],
    secret_refs: &mut Vec<String>,
) -> Vec<(String, String, String, String)> {
    let data = |cm: &str, key: &str| -> Option<String> {
        config_maps.iter().find(|m| m.metadata.name.as_deref() == Some(cm))?.data.as_ref()?.get(key).cloned()
    };
    let mut out = Vec::new();
    for e in c.env.iter().flatten() {
        let field = format!("{spec}.containers[{}].env[{}]", c.name, e.name);
        if let Some(v) = &e.value {
            out.push((e.name.clone(), field, v.clone(), String::new()));
        } else if let Some(r) = e.value_from.as_ref().and_then(|f| f.config_map_key_ref.as_ref()) {
            if let Some(v) = data(&r.name, &r.key) {
                out.push((e.name.clone(), field, v, format!(" (ConfigMap {} key {})", r.name, r.key)));
            }
        } else if e.value_from.as_ref().is_some_and(|f| f.secret_key_ref.is_some()) {
            secret_refs.push(e.name.clone());
        }
    }
    for (i, from) in c.env_from.iter().flatten().enumerate() {
        if let Some(r) = &from.config_map_ref
            && let Some(cm) = config_maps.iter().find(|m| m.metadata.name.as_deref() == Some(r.name.as_str()))
        {
            let prefix = from.prefix.clone().unwrap_or_default();
            for (k, v) in cm.data.iter().flatten() {
                out.push((
                    format!("{prefix}{k}"),
                    format!("{spec}.containers[{}].envFrom[{i}]", c.name),
                    v.clone(),
                    format!(" (ConfigMap {} key {k})", r.name),
                ));
            }
        }
        if let Some(r) = &from.secret_ref {
            secret_refs.push(format!("envFrom Secret {}", r.name));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wait::diagnose::{DeadEndPolicy, classify_event, classify_pod};
    use crate::wait::testdata::{fixture, now};
    use k8s_openapi::api::core::v1::Event;

    /// The dead end of a pod fixture and its causes.
    fn pod_causes(name: &str, seen: &Observed) -> (DeadEnd, Vec<SpecCause>) {
        let pod: Pod = fixture(name);
        let d = classify_pod(&pod, now(), &DeadEndPolicy::default()).expect("a dead end");
        let causes = likely_cause(&d, &pod, &Expectations::default(), seen);
        (d, causes)
    }
    fn reference() -> Expectations {
        let file = format!("{}/../fixtures/contracts/openapi.yaml", env!("CARGO_MANIFEST_DIR"));
        let contract = Contract::load(std::path::Path::new(&file)).expect("the reference contract");
        Expectations::new(&Config::default(), Some(&contract))
    }
    fn taskly() -> Expectations {
        let file = std::path::PathBuf::from(format!("{}/../fixtures/taskly/kubegate.toml", env!("CARGO_MANIFEST_DIR")));
        Expectations::load(&Config::load(Some(&file)).expect("taskly's kubegate.toml"))
    }
    fn one<'a>(causes: &'a [SpecCause], field: &str) -> &'a SpecCause {
        causes.iter().find(|c| c.field == field).unwrap_or_else(|| panic!("no cause on {field}: {causes:#?}"))
    }

    #[test]
    fn oom_killed_names_the_memory_limit_and_the_working_set() {
        let seen = Observed { memory_working_set: Some(60 * 1024 * 1024), ..Default::default() };
        let (d, causes) = pod_causes("pod-oom-killed.yaml", &seen);
        assert_eq!(d.kind, DeadEndKind::CrashLoop);
        assert_eq!(causes.len(), 1, "memory alone: {causes:#?}");
        let c = one(&causes, "spec.containers[backend].resources.limits.memory");
        assert_eq!(c.value, "64Mi");
        assert!(c.why.contains("OOMKilled (exit 137)") && c.why.contains("request 32Mi"), "{c}");
        assert!(c.why.contains("working set was 60.0 MiB of 64.0 MiB (metrics API)"), "{c}");
        let (_, without) = pod_causes("pod-oom-killed.yaml", &Observed::default());
        assert!(!without[0].why.contains("working set"), "no metrics, no figure: {}", without[0]);
    }

    #[test]
    fn a_container_that_cannot_start_for_memory_names_the_limit() {
        let (d, causes) = pod_causes("pod-memory-too-low.yaml", &Observed::default());
        assert_eq!(d.kind, DeadEndKind::ContainerStart);
        let c = one(&causes, "spec.containers[backend].resources.limits.memory");
        assert_eq!(c.value, "4Mi");
        assert!(c.why.contains("could not start the container within this limit"), "{c}");
    }

    #[test]
    fn exit_codes_name_args_command_and_the_log() {
        let seen = Observed {
            log_tail: Some("todo-backend: unknown command \"bogus\"\n\nUSAGE:\n    todo-backend [serve]\n".into()),
            ..Default::default()
        };
        let (_, causes) = pod_causes("pod-bad-args.yaml", &seen);
        let c = one(&causes, "spec.containers[backend].args");
        assert_eq!(c.value, "[\"bogus\"] (to the image's entrypoint)");
        assert!(c.why.starts_with("exit code 2 (by convention a usage error"), "{c}");
        assert!(c.why.contains("its log says: todo-backend: unknown command \"bogus\""), "{c}");
        // The crash-loop fixture overrides nothing: the image's entrypoint, exit 1, no log.
        let (_, causes) = pod_causes("pod-crashloop.yaml", &Observed::default());
        let c = one(&causes, "spec.containers[backend].command");
        assert_eq!(c.value, "(image default entrypoint)");
        assert!(c.why.contains("exit code 1 (the application reported an error") && c.why.contains("no log"), "{c}");
    }

    #[test]
    fn a_missing_binary_is_named_from_the_start_error() {
        let (d, causes) = pod_causes("pod-missing-command.yaml", &Observed::default());
        assert_eq!(d.kind, DeadEndKind::CrashLoop);
        let c = one(&causes, "spec.containers[backend].command");
        assert_eq!(c.value, "[\"/bin/kubegate-missing\"]");
        assert!(
            c.why.starts_with("exit code 128 (the command is not in the image: exec: \"/bin/kubegate-missing\""),
            "{c}"
        );
    }

    #[test]
    fn exit_code_meanings() {
        assert!(exit_code_meaning(127, "Error", "").contains("not found"));
        assert!(exit_code_meaning(126, "Error", "").contains("cannot be executed"));
        assert!(exit_code_meaning(137, "Error", "").contains("SIGKILL"));
        assert!(exit_code_meaning(0, "Completed", "").contains("must keep running"));
        assert_eq!(exit_code_meaning(134, "Error", ""), "killed by signal 6 (128+6)");
        assert!(exit_code_meaning(128, "StartError", "exec: \"x\": permission denied").contains("not executable"));
    }

    #[test]
    fn permission_errors_name_security_context_and_mounts() {
        let seen = Observed {
            log_tail: Some("starting\nError: open /data/tasks.db: read-only file system\n".into()),
            ..Default::default()
        };
        let (_, causes) = pod_causes("pod-permission.yaml", &seen);
        let ro = one(&causes, "spec.containers[backend].securityContext.readOnlyRootFilesystem");
        assert_eq!(ro.value, "true");
        assert!(
            ro.why.contains("/data/tasks.db is on no volume mount") && ro.why.contains("/tmp (emptyDir tmp)"),
            "{ro}"
        );
        let uid = one(&causes, "spec.securityContext.runAsUser");
        assert_eq!(uid.value, "10001");
        assert!(uid.why.contains("runAsGroup 10001, fsGroup (none)"), "{uid}");
        // Under a read-only mount: that mount is named.
        let seen = Observed {
            log_tail: Some("EACCES: permission denied, open '/config/app.yaml'".into()),
            ..Default::default()
        };
        let (_, causes) = pod_causes("pod-permission.yaml", &seen);
        let m = one(&causes, "spec.containers[backend].volumeMounts[config]");
        assert!(m.why.contains("/config/app.yaml is on a configMap volume, which is always read-only"), "{m}");
    }

    #[test]
    fn a_crash_without_permission_words_names_no_security_context() {
        let seen = Observed { log_tail: Some("panic: database unreachable".into()), ..Default::default() };
        let (_, causes) = pod_causes("pod-permission.yaml", &seen);
        assert_eq!(causes.len(), 1, "{causes:#?}");
    }

    fn unhealthy(pod: &Pod, probe: &str, message: &str) -> DeadEnd {
        let mut ev: Event = fixture("event-unhealthy-liveness.yaml");
        ev.message = Some(format!("{probe} probe failed: {message}"));
        ev.involved_object.name = pod.metadata.name.clone();
        let container = &pod.spec.as_ref().expect("spec").containers[0].name;
        ev.involved_object.field_path = Some(format!("spec.containers{{{container}}}"));
        classify_event(&ev, 9, std::slice::from_ref(pod), &DeadEndPolicy::default()).expect("a dead end")
    }

    #[test]
    fn a_readiness_path_outside_the_contract_is_named_with_the_contracts_path() {
        let mut pod: Pod = fixture("pod-ready.yaml");
        let c = &mut pod.spec.as_mut().expect("spec").containers[0];
        c.readiness_probe.as_mut().and_then(|p| p.http_get.as_mut()).expect("httpGet").path = Some("/readyz".into());
        let d = unhealthy(&pod, "Readiness", "HTTP probe failed with statuscode: 404");
        let causes = likely_cause(&d, &pod, &reference(), &Observed::default());
        let c = one(&causes, "spec.containers[backend].readinessProbe.httpGet.path");
        assert_eq!(c.value, "/readyz");
        assert_eq!(
            c.why,
            "/readyz is not in the contract (openapi.yaml) (it declares /ready for backend's readiness probe); the app answers it 404"
        );
        assert!(!causes.iter().any(|c| c.field.ends_with(".port")), "the port is right: {causes:#?}");
    }

    #[test]
    fn a_probe_port_that_is_no_container_port_is_named() {
        // taskly: unnamed port 8080, contract paths /healthz and /readyz.
        let mut pod: Pod = fixture("pod-ready.yaml");
        pod.metadata.name = Some("taskly-api-5f6-abcde".into());
        let c = &mut pod.spec.as_mut().expect("spec").containers[0];
        c.name = "api".into();
        c.ports = Some(vec![serde_json::from_value(serde_json::json!({"containerPort": 8080})).expect("port")]);
        c.readiness_probe = Some(
            serde_json::from_value(serde_json::json!({"httpGet": {"path": "/readyz", "port": 8081}})).expect("probe"),
        );
        let d = unhealthy(
            &pod,
            "Readiness",
            "Get \"http://10.244.0.5:8081/readyz\": dial tcp 10.244.0.5:8081: connect: connection refused",
        );
        let causes = likely_cause(&d, &pod, &taskly(), &Observed::default());
        assert_eq!(causes.len(), 1, "the path is the contract's: {causes:#?}");
        let c = one(&causes, "spec.containers[api].readinessProbe.httpGet.port");
        assert_eq!((c.value.as_str(), c.why.as_str()), ("8081", "port 8081 is not a containerPort (8080)"));
        // A named port resolving to the wrong number: the service's port is named.
        let mut named: Pod = fixture("pod-ready.yaml");
        let c = &mut named.spec.as_mut().expect("spec").containers[0];
        c.ports = Some(vec![
            serde_json::from_value(serde_json::json!({"name": "http", "containerPort": 9000})).expect("port"),
        ]);
        let d = unhealthy(&named, "Liveness", "Get \"http://10.244.0.5:9000/health\": connection refused");
        let causes = likely_cause(&d, &named, &reference(), &Observed::default());
        let c = one(&causes, "spec.containers[backend].livenessProbe.httpGet.port");
        assert_eq!(c.value, "http (9000)");
        assert!(c.why.contains("backend listens on 8000 (the contract (openapi.yaml)), not 9000"), "{c}");
    }

    #[test]
    fn a_failing_probe_that_matches_the_contract_names_status_and_timings() {
        let pod: Pod = fixture("pod-ready.yaml");
        let d = unhealthy(&pod, "Readiness", "HTTP probe failed with statuscode: 503");
        let causes = likely_cause(&d, &pod, &reference(), &Observed::default());
        let c = one(&causes, "spec.containers[backend].readinessProbe.httpGet.path");
        assert!(c.why.contains("answers 503: it reports itself not ready"), "{c}");
        let d = unhealthy(&pod, "Liveness", "Get \"http://10.244.0.5:8000/health\": context deadline exceeded");
        let causes = likely_cause(&d, &pod, &reference(), &Observed::default());
        let t = one(&causes, "spec.containers[backend].livenessProbe");
        assert!(t.value.contains("timeoutSeconds 1") && t.why.contains("within timeoutSeconds 1"), "{t}");
    }

    #[test]
    fn missing_secret_key_names_the_env_reference_never_a_value() {
        let mut pod: Pod = fixture("pod-missing-key.yaml");
        pod.spec.as_mut().expect("spec").containers[0].env = Some(vec![
            serde_json::from_value(serde_json::json!({"name": "JWT_SECRET", "valueFrom": {"secretKeyRef": {"name": "todo-chatbot-secrets", "key": "JWT_SECRET"}}})).expect("env"),
            serde_json::from_value(serde_json::json!({"name": "OTHER", "valueFrom": {"secretKeyRef": {"name": "todo-chatbot-secrets", "key": "OTHER"}}})).expect("env"),
        ]);
        let d = classify_pod(&pod, now(), &DeadEndPolicy::default()).expect("dead end");
        let causes = likely_cause(&d, &pod, &Expectations::default(), &Observed::default());
        assert_eq!(causes.len(), 1, "{causes:#?}");
        assert_eq!(causes[0].field, "spec.containers[backend].env[JWT_SECRET].valueFrom.secretKeyRef");
        assert_eq!(causes[0].value, "todo-chatbot-secrets/JWT_SECRET");
    }

    #[test]
    fn image_and_scheduling_causes() {
        let (_, causes) = pod_causes("pod-image-never-pull.yaml", &Observed::default());
        assert_eq!(causes[0].field, "spec.containers[backend].image");
        assert_eq!(causes[0].value, "todo-chatbot-backend:9.9.9");
        let mut pod: Pod = fixture("pod-unschedulable.yaml");
        pod.spec.as_mut().expect("spec").containers[0].resources =
            Some(serde_json::from_value(serde_json::json!({"requests": {"cpu": "4"}})).expect("resources"));
        let d = classify_pod(&pod, now(), &DeadEndPolicy::default()).expect("dead end");
        let causes = likely_cause(&d, &pod, &Expectations::default(), &Observed::default());
        assert_eq!(causes[0].field, "spec.containers[backend].resources.requests.cpu");
        assert_eq!(causes[0].value, "4");
    }

    fn web(env: serde_json::Value) -> Container {
        serde_json::from_value(serde_json::json!({"name": "web", "env": env})).expect("container")
    }
    fn services() -> Vec<ServiceView> {
        vec![
            ServiceView { name: "taskly-api".into(), ports: vec![8080], ready_endpoints: Some(1) },
            ServiceView { name: "taskly-web".into(), ports: vec![80], ready_endpoints: Some(1) },
        ]
    }

    #[test]
    fn a_proxy_target_naming_no_service_is_the_cause() {
        let cm: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "taskly-config"}, "data": {"BACKEND_URL": "http://todo-api:8000", "LOG_LEVEL": "info"}
        }))
        .expect("configmap");
        let c = web(serde_json::json!([
            {"name": "BACKEND_URL", "valueFrom": {"configMapKeyRef": {"name": "taskly-config", "key": "BACKEND_URL"}}},
            {"name": "OPENAI_BASE_URL", "value": "https://api.openai.com/v1"},
            {"name": "API_TOKEN", "valueFrom": {"secretKeyRef": {"name": "taskly-auth", "key": "API_TOKEN"}}}
        ]));
        let causes = proxy_target("spec", &c, &[cm], &services());
        assert_eq!(causes.len(), 1, "external URLs are not proxy targets: {causes:#?}");
        assert_eq!(
            causes[0].to_string(),
            "spec.containers[web].env[BACKEND_URL] = http://todo-api:8000 (ConfigMap taskly-config key BACKEND_URL): \
             BACKEND_URL names Service todo-api, which does not exist (Services: taskly-api:8080, taskly-web:80)"
        );
    }

    #[test]
    fn a_proxy_target_on_a_wrong_port_or_without_endpoints_is_the_cause() {
        let c = web(serde_json::json!([{"name": "BACKEND_URL", "value": "http://taskly-api:8000"}]));
        let causes = proxy_target("spec", &c, &[], &services());
        assert!(
            causes[0].why.contains("names port 8000 of Service taskly-api, which exposes taskly-api:8080"),
            "{}",
            causes[0]
        );
        let c = web(
            serde_json::json!([{"name": "BACKEND_URL", "value": "http://taskly-api.kg-x.svc.cluster.local:8080/v1"}]),
        );
        let mut down = services();
        down[0].ready_endpoints = Some(0);
        assert!(proxy_target("spec", &c, &[], &down)[0].why.contains("has no ready endpoint"));
        let right = proxy_target("spec", &c, &[], &services());
        assert!(right[0].why.contains("which exists with 1 ready endpoint(s): the target is right"), "{}", right[0]);
    }

    #[test]
    fn a_proxy_target_only_in_a_secret_is_not_read() {
        let c = web(serde_json::json!([
            {"name": "BACKEND_URL", "valueFrom": {"secretKeyRef": {"name": "s", "key": "BACKEND_URL"}}}
        ]));
        let causes = proxy_target("spec", &c, &[], &services());
        assert_eq!(causes[0].value, "(no in-cluster URL)");
        assert!(causes[0].why.contains("BACKEND_URL come from Secrets and are not read"), "{}", causes[0]);
    }
}
