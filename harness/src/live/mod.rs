//! The live suites as library functions: what is checked on a running
//! deployment, for either deploy path. The nextest binaries
//! (`suites/tests/live/*.rs`) and `kubegate verify` call the same functions,
//! so a check means the same thing in both.
//!
//! - [`context`]: the cluster, client, secrets and tools one run uses.
//! - [`app`]: one deployment of one path in its own namespace ([`app::DeployedApp`]).
//! - [`http`]: HTTP calls to the app (JWTs, answers, counted load);
//!   [`tunnel`]: a Service reached through kubegate's port-forward;
//!   [`calls`]: every operation of the contract called, with bodies and
//!   objects made from the contract alone.
//! - [`crate::postgres`]: a PostgreSQL instance a check owns (to stop and restart it);
//!   [`freeze`]: an app container frozen with SIGSTOP from its node (the liveness fault);
//!   [`prober`]: the kubelet's own count of the probes it ran.
//! - one module per suite: [`constitution`], [`probes`], [`loadbalancer`],
//!   [`secrets`], [`parity`], [`rollout`]; [`proxy`]: what a 502 from the
//!   public component's proxy points at, for each of them.
//! - [`checks`]: every check as one item (id, principle, what it runs on, body,
//!   nextest name, broken variant): the one table `verify` and nextest run.
//! - [`run`]: the table for both paths, as `kubegate verify` runs it.
//!
//! Every check returns `Result<Passed, CheckFailure>`; a failure names the
//! path, the object and, when a wait ended in a dead end, the diagnosis.

pub mod app;
pub mod calls;
pub mod checks;
pub mod constitution;
pub mod context;
pub mod freeze;
pub mod http;
pub mod loadbalancer;
pub mod parity;
pub mod prober;
pub mod probes;
pub mod proxy;
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

pub use checks::{CHECKS, LiveCheck, check_info};

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
                    // The first field the diagnosis names, so reports point at it.
                    field: f.dead_end.as_ref().and_then(|d| d.causes.first()).map(|c| c.field.clone()),
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
pub fn path_of(scope: &str) -> DeployPath {
    if scope == "helm" { DeployPath::Helm } else { DeployPath::Raw }
}

/// Time `fut` and record its outcome as a [`CheckRun`] of `check`.
pub async fn timed(
    check: &'static LiveCheck,
    scope: impl Into<String>,
    fut: impl Future<Output = CheckResult>,
) -> CheckRun {
    let started = std::time::Instant::now();
    let result = fut.await;
    CheckRun { check, scope: scope.into(), result, took: started.elapsed() }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            causes: Vec::new(),
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
