//! The live suites as library functions: what is checked on a running
//! deployment, for either deploy path. The nextest binaries
//! (`suites/tests/live/*.rs`) and `kubegate verify` call the same functions,
//! so a check means the same thing in both.
//!
//! - [`context`]: the cluster, client, secrets and tools one run uses.
//! - [`app`]: one deployment of one path in its own namespace ([`app::DeployedApp`]).
//! - [`http`]: HTTP calls to the app (JWTs, answers, counted load);
//!   [`tunnel`]: a Service reached through kubegate's port-forward.
//! - [`database`]: a PostgreSQL instance a test owns (to stop and restart it).
//! - one module per suite: [`constitution`], [`probes`], [`loadbalancer`],
//!   [`secrets`], [`parity`], [`rollout`].
//! - [`run`]: every suite for both paths, as one [`crate::report::Report`].
//!
//! Every check returns `Result<Passed, CheckFailure>`; a failure names the
//! path, the object and, when a wait ended in a dead end, the diagnosis.

pub mod app;
pub mod constitution;
pub mod context;
pub mod database;
pub mod http;
pub mod loadbalancer;
pub mod parity;
pub mod probes;
pub mod rollout;
pub mod run;
pub mod secrets;
pub mod timeline;
pub mod tunnel;

use crate::finding::{DeployPath, Finding, ObjectRef, Severity};
use crate::report::{Case, CheckInfo};
use crate::wait::WaitError;
use crate::wait::diagnose::{DeadEnd, DeadEndKind};
use std::time::Duration;

/// One live check: an id, the suite it belongs to and the principle of the
/// plan's constitution it proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LiveCheck {
    /// Stable id, `LIVE-<SUITE>-<NAME>`.
    pub id: &'static str,
    /// Suite (module) name.
    pub suite: &'static str,
    /// Principle (`P3`, `P5`, `P11`, `P12`, `P14`).
    pub principle: &'static str,
    /// What it asserts, one line.
    pub title: &'static str,
    /// True when it breaks its deployment on purpose (own namespace).
    pub destructive: bool,
}

macro_rules! check {
    ($id:literal, $suite:literal, $p:literal, $destructive:literal, $title:literal) => {
        LiveCheck { id: $id, suite: $suite, principle: $p, title: $title, destructive: $destructive }
    };
}

/// Every live check, in suite order.
pub static CHECKS: &[LiveCheck] = &[
    check!("LIVE-CONST-DRYRUN", "constitution", "P3", false, "a server-side dry run accepts every object"),
    check!(
        "LIVE-CONST-PSA",
        "constitution",
        "P5",
        false,
        "the namespace enforces Pod Security restricted and the pods are admitted"
    ),
    check!(
        "LIVE-CONST-PODSPEC",
        "constitution",
        "P12",
        false,
        "running pods carry the declared securityContext, resources and probes"
    ),
    check!("LIVE-CONST-HPA", "constitution", "P12", false, "each HPA reads metrics, or says why it cannot"),
    check!("LIVE-PROBE-ROLLOUT", "probes", "P12", false, "pods Running within 60 s and Ready within 90 s"),
    check!("LIVE-PROBE-ENDPOINTS", "probes", "P12", false, "every contract endpoint answers through its Service"),
    check!(
        "LIVE-PROBE-DBOUTAGE",
        "probes",
        "P12",
        true,
        "database down: backend NotReady, out of the EndpointSlice, no restart; back: Ready"
    ),
    check!(
        "LIVE-PROBE-LIVENESS",
        "probes",
        "P12",
        true,
        "a failing liveness probe makes the kubelet restart the container"
    ),
    check!(
        "LIVE-PROBE-REPLACED",
        "probes",
        "P12",
        true,
        "a deleted backend pod is replaced and Ready; an open port-forward follows it"
    ),
    check!(
        "LIVE-LB-ADDRESS",
        "loadbalancer",
        "P3",
        false,
        "the frontend Service gets an external address; / and /api/tasks answer through it"
    ),
    check!(
        "LIVE-LB-UNPROVISIONED",
        "loadbalancer",
        "P3",
        false,
        "a LoadBalancer nobody provisions is diagnosed as such"
    ),
    check!(
        "LIVE-SECRET-USED",
        "secrets",
        "P5",
        false,
        "pods use the Secret's values (JWT_SECRET signs, DATABASE_URL connects)"
    ),
    check!(
        "LIVE-SECRET-NOLEAK",
        "secrets",
        "P5",
        false,
        "no secret value in ConfigMaps, annotations, events, pod specs, Helm records or logs"
    ),
    check!(
        "LIVE-SECRET-MISSING",
        "secrets",
        "P5",
        true,
        "a missing Secret key is reported as CreateContainerConfigError"
    ),
    check!(
        "LIVE-SECRET-ROTATE",
        "secrets",
        "P5",
        true,
        "a rotated JWT_SECRET works after a rollout restart; old tokens are refused"
    ),
    check!(
        "LIVE-PARITY-OBJECTS",
        "parity",
        "P14",
        false,
        "the live objects of both paths are equal but for allowed differences"
    ),
    check!("LIVE-PARITY-ANSWERS", "parity", "P14", false, "both paths serve the same answers"),
    check!(
        "LIVE-ROLLOUT-UPGRADE",
        "rollout",
        "P12",
        true,
        "helm upgrade to a new image tag under load loses no request"
    ),
];

/// The check with `id`.
pub fn check_info(id: &str) -> Option<&'static LiveCheck> {
    CHECKS.iter().find(|c| c.id == id)
}

impl From<&LiveCheck> for CheckInfo {
    fn from(c: &LiveCheck) -> Self {
        CheckInfo {
            id: c.id.into(),
            family: c.principle.into(),
            severity: Severity::High,
            title: c.title.into(),
            rationale: format!("live suite `{}`", c.suite),
            fix: "see the failure message: it names the object, the cause and the fix".into(),
        }
    }
}

/// What a passing check observed (one line per fact, for reports).
#[derive(Debug, Clone, Default)]
pub struct Passed {
    /// Facts worth reporting (timings, counts).
    pub notes: Vec<String>,
    /// What could not be proven on this cluster and why (e.g. no
    /// metrics-server): reported as a known limitation, never as a pass.
    pub limitations: Vec<String>,
}

impl Passed {
    /// A pass with one note.
    pub fn note(line: impl Into<String>) -> Self {
        Passed { notes: vec![line.into()], limitations: Vec::new() }
    }
    /// Add a note.
    pub fn and(mut self, line: impl Into<String>) -> Self {
        self.notes.push(line.into());
        self
    }
    /// Record a known limitation.
    pub fn limitation(&mut self, why: impl Into<String>) {
        self.limitations.push(why.into());
    }
}

/// A failed check: which path, which object, what was expected and seen,
/// and the dead end when a wait recognised one.
#[derive(Debug, Clone, thiserror::Error)]
#[error("[{path_text}] {object}: {message}{}", self.diagnosis_text())]
pub struct CheckFailure {
    /// The deploy path (`None` for checks over both, e.g. parity).
    pub path: Option<DeployPath>,
    /// `raw`, `helm` or `raw+helm`, for the message.
    pub path_text: String,
    /// The object concerned (`Deployment/todo-chatbot-backend`).
    pub object: String,
    /// What went wrong, with the values seen.
    pub message: String,
    /// The dead end that ended a wait, if any.
    pub dead_end: Option<DeadEnd>,
    /// Events and log tail that came with it (redacted).
    pub evidence: Option<String>,
}

impl CheckFailure {
    /// A failure on `path` about `object`.
    pub fn new(path: DeployPath, object: impl Into<String>, message: impl Into<String>) -> Self {
        CheckFailure {
            path: Some(path),
            path_text: path.to_string(),
            object: object.into(),
            message: message.into(),
            dead_end: None,
            evidence: None,
        }
    }

    /// A failure about both paths at once.
    pub fn both(object: impl Into<String>, message: impl Into<String>) -> Self {
        CheckFailure {
            path: None,
            path_text: "raw+helm".into(),
            object: object.into(),
            message: message.into(),
            dead_end: None,
            evidence: None,
        }
    }

    /// A failed wait: a dead end keeps its diagnosis; a deadline keeps what was last seen.
    pub fn from_wait(path: DeployPath, e: WaitError) -> Self {
        match e {
            WaitError::DeadEnd { what, waited, dead_end, evidence } => CheckFailure {
                path: Some(path),
                path_text: path.to_string(),
                object: dead_end.object.clone(),
                message: format!("{what}: dead end after {:.1}s", waited.as_secs_f64()),
                dead_end: Some(dead_end),
                evidence: Some(evidence),
            },
            other => CheckFailure::new(path, "wait", format!("{other}")),
        }
    }

    /// The dead-end kind, if a wait recognised one.
    pub fn dead_end_kind(&self) -> Option<DeadEndKind> {
        self.dead_end.as_ref().map(|d| d.kind)
    }

    fn diagnosis_text(&self) -> String {
        let mut s = String::new();
        if let Some(d) = &self.dead_end {
            s.push_str(&format!("\n  diagnosis: {d}"));
        }
        if let Some(e) = &self.evidence {
            s.push_str(&format!("\n{e}"));
        }
        s
    }
}

/// A check's result.
pub type CheckResult = Result<Passed, CheckFailure>;

/// One check's outcome on one scope, with its duration.
#[derive(Debug, Clone)]
pub struct CheckRun {
    /// The check.
    pub check: &'static LiveCheck,
    /// `raw`, `helm` or `parity`.
    pub scope: String,
    /// Pass with notes, or the failure.
    pub result: CheckResult,
    /// How long it took.
    pub took: Duration,
}

impl CheckRun {
    /// As a report case (a failure becomes one finding, redacted by the caller's redactor).
    pub fn to_case(&self, redactor: &crate::redact::Redactor) -> Case {
        let mut case = match &self.result {
            Ok(p) => {
                // A known limitation is a waived finding: visible, not a pass.
                let limits = p
                    .limitations
                    .iter()
                    .map(|l| Finding {
                        rule_id: self.check.id.into(),
                        severity: Severity::Medium,
                        path: path_of(&self.scope),
                        object: ObjectRef { kind: "Cluster".into(), name: "limitation".into(), namespace: None },
                        field: None,
                        message: redactor.redact_str(l).into_owned(),
                        fix: "install the missing cluster component to prove this".into(),
                        source: None,
                        waived: Some("known limitation of this cluster".into()),
                    })
                    .collect();
                let mut c = Case::from_findings(self.check.id, self.scope.clone(), limits);
                if !p.notes.is_empty() {
                    c.note = Some(redactor.redact_str(&p.notes.join("; ")).into_owned());
                }
                c
            }
            Err(f) => {
                let (kind, name) = f.object.split_once('/').unwrap_or(("Object", &f.object));
                let finding = Finding {
                    rule_id: self.check.id.into(),
                    severity: Severity::High,
                    path: f.path.unwrap_or_else(|| path_of(&self.scope)),
                    object: ObjectRef { kind: kind.into(), name: name.into(), namespace: None },
                    field: None,
                    message: redactor.redact_str(&f.to_string()).into_owned(),
                    fix: f.dead_end.as_ref().map(|d| d.hint.clone()).unwrap_or_else(|| "see the message".into()),
                    source: None,
                    waived: None,
                };
                Case::from_findings(self.check.id, self.scope.clone(), vec![finding])
            }
        };
        case.duration = Some(self.took);
        case
    }
}

/// The deploy path a scope name stands for (`parity` counts as raw).
fn path_of(scope: &str) -> DeployPath {
    if scope == "helm" { DeployPath::Helm } else { DeployPath::Raw }
}

/// Time `fut` and record its outcome as a [`CheckRun`].
pub async fn timed(id: &str, scope: impl Into<String>, fut: impl Future<Output = CheckResult>) -> CheckRun {
    let started = std::time::Instant::now();
    let result = fut.await;
    CheckRun { check: check_info(id).unwrap_or(&CHECKS[0]), scope: scope.into(), result, took: started.elapsed() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_unique_and_principles_known() {
        let mut ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), CHECKS.len());
        for c in CHECKS {
            assert!(["P3", "P5", "P11", "P12", "P14"].contains(&c.principle), "{}", c.id);
            assert!(c.id.starts_with("LIVE-"), "{}", c.id);
        }
    }

    #[test]
    fn docs_live_md_lists_every_check() {
        let docs = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/live.md"))
            .expect("docs/live.md exists");
        for c in CHECKS {
            let row = format!("| `{}` | {} | {} |", c.id, c.principle, c.title);
            assert!(docs.contains(&row), "docs/live.md lacks or misstates {}: expected a row starting `{row}`", c.id);
        }
    }

    #[test]
    fn failure_names_path_object_and_diagnosis() {
        let mut f = CheckFailure::new(DeployPath::Helm, "Deployment/todo-chatbot-backend", "not ready");
        f.dead_end = Some(DeadEnd {
            kind: DeadEndKind::ImageNeverPull,
            object: "Pod/x".into(),
            container: Some("backend".into()),
            reason: "ErrImageNeverPull".into(),
            message: "image not present".into(),
            hint: "load the image".into(),
        });
        let s = f.to_string();
        assert!(s.starts_with("[helm] Deployment/todo-chatbot-backend: not ready"), "{s}");
        assert!(s.contains("ErrImageNeverPull"), "{s}");
        assert_eq!(f.dead_end_kind(), Some(DeadEndKind::ImageNeverPull));
    }

    #[test]
    fn failed_run_becomes_failed_case_with_redacted_message() {
        let run = CheckRun {
            check: check_info("LIVE-SECRET-USED").expect("known"),
            scope: "raw".into(),
            result: Err(CheckFailure::new(DeployPath::Raw, "Secret/s", "value hunter22 refused")),
            took: Duration::from_millis(5),
        };
        let case = run.to_case(&crate::redact::Redactor::new([("JWT_SECRET", "hunter22")]));
        assert_eq!(case.status, crate::report::Status::Failed);
        assert!(!case.findings[0].message.contains("hunter22"));
        assert!(case.findings[0].message.contains("[raw]"));
    }
}
