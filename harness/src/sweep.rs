//! Leftovers of killed runs: every run holds a lock file
//! `target/kubegate/runs/<run-id>.lock` while it lives; a namespace labelled
//! `kubegate.io/run-id` whose run holds no lock is a leftover. The sweeper
//! uninstalls its Helm releases and deletes it, with a deadline that names
//! the finalizer blocking it.

use crate::deploy::helm::Helm;
use crate::deploy::namespace::{DeleteNamespaceError, delete_namespace};
use crate::deploy::{PATH_LABEL, RUN_ID_LABEL, RunId};
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ListParams};
use std::fs::File;
use std::path::PathBuf;
use std::time::Duration;

/// The directory of run lock files.
pub fn runs_dir() -> PathBuf {
    crate::dirs::artifacts_dir().join("runs")
}

/// Why a run lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum AcquireRunLockError {
    /// The lock file could not be created or locked.
    #[error("cannot create run lock {path}")]
    Io {
        /// The lock file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// Another live process holds this run id.
    #[error("run {run} is already live (lock {path} held)")]
    Held {
        /// The run id.
        run: String,
        /// The lock file.
        path: PathBuf,
    },
}

/// Marks a run as live for as long as it exists (an exclusive `flock` on
/// the lock file, released by the OS even on `kill -9`).
///
/// Uses std's `File::try_lock` (the same `flock` fd-lock takes) because it
/// can live in a struct without a guard borrowing the file.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
    run: RunId,
}

impl RunLock {
    /// Take the lock of `run` (the lock file holds the pid, for people).
    pub fn acquire(run: &RunId) -> Result<Self, AcquireRunLockError> {
        let dir = runs_dir();
        let path = dir.join(format!("{}.lock", run.as_str()));
        let io = |source| AcquireRunLockError::Io { path: path.clone(), source };
        std::fs::create_dir_all(&dir).map_err(io)?;
        // A sweeper may remove a stale file between our open and lock; then
        // we would hold a lock nobody can see. Re-check the inode and retry.
        let file = loop {
            let file = std::fs::OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io)?;
            match file.try_lock() {
                Ok(()) => {}
                Err(std::fs::TryLockError::WouldBlock) => {
                    return Err(AcquireRunLockError::Held { run: run.to_string(), path });
                }
                Err(std::fs::TryLockError::Error(e)) => return Err(io(e)),
            }
            use std::os::unix::fs::MetadataExt as _;
            let same = match (file.metadata(), std::fs::metadata(&path)) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if same {
                break file;
            }
        };
        use std::io::Write as _;
        let mut f = &file;
        let _ = f.set_len(0);
        let _ = writeln!(f, "{}", std::process::id());
        Ok(RunLock { file, path, run: run.clone() })
    }

    /// The run.
    pub fn run(&self) -> &RunId {
        &self.run
    }
}

impl Drop for RunLock {
    fn drop(&mut self) {
        // Remove first, then unlock: a sweeper never sees an unlocked file of a live run.
        let _ = std::fs::remove_file(&self.path);
        let _ = self.file.unlock();
    }
}

/// True when a process holds the lock of `run`.
pub fn is_run_live(run: &str) -> bool {
    let path = runs_dir().join(format!("{run}.lock"));
    let Ok(file) = std::fs::OpenOptions::new().write(true).open(&path) else { return false };
    match file.try_lock() {
        Ok(()) => {
            let _ = file.unlock();
            false
        }
        Err(std::fs::TryLockError::WouldBlock) => true,
        Err(std::fs::TryLockError::Error(_)) => false,
    }
}

/// Remove lock files no process holds (left by `kill -9`); returns their run ids.
pub fn remove_stale_locks() -> Vec<String> {
    let Ok(entries) = std::fs::read_dir(runs_dir()) else { return Vec::new() };
    let mut removed = Vec::new();
    for e in entries.flatten() {
        let p = e.path();
        let Some(run) = p.file_name().and_then(|n| n.to_str()).and_then(|n| n.strip_suffix(".lock")) else { continue };
        if RunId::parse(run).is_some() && !is_run_live(run) && std::fs::remove_file(&p).is_ok() {
            removed.push(run.to_owned());
        }
    }
    removed.sort();
    removed
}

/// A namespace a dead run left.
#[derive(Debug, Clone)]
pub struct Leftover {
    /// Namespace name.
    pub namespace: String,
    /// The run id label.
    pub run: String,
    /// The path label, if any.
    pub path: Option<String>,
    /// Age of the namespace.
    pub age: Duration,
    /// Already being deleted.
    pub terminating: bool,
}

/// Why sweeping could not start.
#[derive(Debug, thiserror::Error)]
#[error("cannot list namespaces labelled {RUN_ID_LABEL}")]
pub struct ListLeftoversError(#[source] pub kube::Error);

/// Namespaces labelled with a run id whose run is not live, older than
/// `older_than` (all ages when `None`).
pub async fn find_leftovers(
    client: &kube::Client,
    older_than: Option<Duration>,
) -> Result<Vec<Leftover>, ListLeftoversError> {
    let api: Api<Namespace> = Api::all(client.clone());
    let list = api.list(&ListParams::default().labels(RUN_ID_LABEL)).await.map_err(ListLeftoversError)?;
    let now = k8s_openapi::jiff::Timestamp::now();
    Ok(select_leftovers(&list.items, now, older_than, is_run_live))
}

/// The selection behind [`find_leftovers`], with liveness injected (tests).
pub fn select_leftovers(
    namespaces: &[Namespace],
    now: k8s_openapi::jiff::Timestamp,
    older_than: Option<Duration>,
    live: impl Fn(&str) -> bool,
) -> Vec<Leftover> {
    namespaces
        .iter()
        .filter_map(|ns| {
            let labels = ns.metadata.labels.as_ref()?;
            let run = labels.get(RUN_ID_LABEL)?.clone();
            // A label kubegate did not write (or a tampered one) is left alone.
            RunId::parse(&run)?;
            if live(&run) {
                return None;
            }
            let created = ns.metadata.creation_timestamp.as_ref().map(|t| t.0).unwrap_or(now);
            let age = now.duration_since(created).unsigned_abs();
            if older_than.is_some_and(|min| age < min) {
                return None;
            }
            Some(Leftover {
                namespace: ns.metadata.name.clone()?,
                run,
                path: labels.get(PATH_LABEL).cloned(),
                age,
                terminating: ns.metadata.deletion_timestamp.is_some(),
            })
        })
        .collect()
}

/// What happened to one leftover.
#[derive(Debug)]
pub struct Swept {
    /// The leftover.
    pub leftover: Leftover,
    /// Helm releases uninstalled from it.
    pub releases: Vec<String>,
    /// Helm problems (the namespace is deleted anyway).
    pub helm_problems: Vec<String>,
    /// Deletion outcome.
    pub result: Result<(), DeleteNamespaceError>,
}

/// Uninstall the Helm releases of each leftover (when `helm` is given) and
/// delete it, waiting at most `deadline` per namespace.
pub async fn sweep(
    client: &kube::Client,
    helm: Option<&Helm>,
    leftovers: Vec<Leftover>,
    deadline: Duration,
) -> Vec<Swept> {
    let mut out = Vec::new();
    for l in leftovers {
        let mut releases = Vec::new();
        let mut helm_problems = Vec::new();
        if let Some(h) = helm.filter(|_| !l.terminating) {
            match h.list(&l.namespace).await {
                Ok(rels) => {
                    for r in rels {
                        match h.uninstall(&r, &l.namespace).await {
                            Ok(_) => releases.push(r),
                            Err(e) => helm_problems.push(format!("{e}")),
                        }
                    }
                }
                Err(e) => helm_problems.push(format!("{e}")),
            }
        }
        let result = delete_namespace(client, &l.namespace, deadline).await;
        out.push(Swept { leftover: l, releases, helm_problems, result });
    }
    out
}

/// Parse a duration like `90s`, `30m`, `2h`, `1d` (or plain seconds).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num.parse().map_err(|_| format!("invalid duration {s:?}: expected e.g. 90s, 30m, 2h, 1d"))?;
    let secs = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        "d" => n * 86400,
        _ => return Err(format!("invalid duration unit in {s:?}: use s, m, h or d")),
    };
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ns(name: &str, run: Option<&str>, created: &str) -> Namespace {
        let mut labels = serde_json::Map::new();
        if let Some(r) = run {
            labels.insert(RUN_ID_LABEL.into(), r.into());
            labels.insert(PATH_LABEL.into(), "raw".into());
        }
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": name, "labels": labels, "creationTimestamp": created}
        }))
        .expect("namespace")
    }

    #[test]
    fn only_dead_old_enough_kubegate_namespaces_are_leftovers() {
        let now: k8s_openapi::jiff::Timestamp = "2026-11-22T01:00:00Z".parse().expect("ts");
        let all = [
            ns("kg-dead01-raw", Some("dead01"), "2026-11-22T00:00:00Z"),
            ns("kg-live01-raw", Some("live01"), "2026-11-22T00:00:00Z"),
            ns("kg-young1-raw", Some("young1"), "2026-11-22T00:59:00Z"),
            ns("kube-system", None, "2026-11-22T00:00:00Z"),
            ns("weird", Some("Not/Valid"), "2026-11-22T00:00:00Z"),
        ];
        let live = |r: &str| r == "live01";
        let l = select_leftovers(&all, now, Some(Duration::from_secs(300)), live);
        let names: Vec<&str> = l.iter().map(|l| l.namespace.as_str()).collect();
        assert_eq!(names, ["kg-dead01-raw"]);
        assert_eq!(l[0].age, Duration::from_secs(3600));
        assert_eq!(l[0].path.as_deref(), Some("raw"));
        let l = select_leftovers(&all, now, None, live);
        assert_eq!(l.len(), 2, "without --older-than the young one goes too");
    }

    #[test]
    fn run_lock_marks_live_until_dropped() {
        let tmp = tempfile::tempdir().expect("tempdir");
        // SAFETY: tests in this binary that read KUBEGATE_ARTIFACTS_DIR run in this test only.
        unsafe { std::env::set_var(crate::dirs::ARTIFACTS_ENV, tmp.path()) };
        let run = RunId::random();
        assert!(!is_run_live(run.as_str()));
        let lock = RunLock::acquire(&run).expect("lock");
        assert!(is_run_live(run.as_str()));
        assert!(matches!(RunLock::acquire(&run), Err(AcquireRunLockError::Held { .. })));
        drop(lock);
        assert!(!is_run_live(run.as_str()));
        assert!(!tmp.path().join("runs").join(format!("{run}.lock")).exists());
        // A killed run leaves its file unlocked: stale, removed; a live one stays.
        let live = RunLock::acquire(&RunId::parse("live1").expect("id")).expect("lock");
        std::fs::write(tmp.path().join("runs/dead1.lock"), "123\n").expect("write");
        assert_eq!(remove_stale_locks(), ["dead1"]);
        assert!(is_run_live("live1"));
        drop(live);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("2h"), Ok(Duration::from_secs(7200)));
        assert_eq!(parse_duration("1d"), Ok(Duration::from_secs(86400)));
        assert_eq!(parse_duration("45"), Ok(Duration::from_secs(45)));
        assert!(parse_duration("5w").is_err());
        assert!(parse_duration("abc").is_err());
    }
}
