//! `kubegate-freezer <container-id>`: stop (SIGSTOP) every process of one
//! container and say which. kubegate's liveness check (LIVE-PROBE-LIVENESS)
//! runs it in a short-lived pod with `hostPID: true` on the node of the pod
//! under test. From inside the container's own PID namespace the kernel does
//! not deliver a signal to that namespace's PID 1 (the app); from the node's
//! PID namespace, an ancestor, SIGSTOP always reaches it. A frozen app stops
//! answering its liveness probe, and the kubelet's SIGKILL still ends it.
//!
//! It finds the processes by cgroup: the container's id (as the pod's
//! `containerStatuses[].containerID` gives it: `containerd://<id>`,
//! `docker://<id>`, `cri-o://<id>` or the bare id) is a component of the path
//! in `/proc/<pid>/cgroup` of each of them, whatever the cgroup version and
//! driver.
//!
//! It holds the freeze for as long as it runs: on SIGTERM (its pod deleted)
//! it sends SIGCONT to what it stopped and exits. kubegate deletes it once
//! the kubelet has decided to kill the frozen container, so the app can act
//! on the kubelet's SIGTERM instead of waiting out the grace period for
//! SIGKILL; and a kubegate that dies leaves nothing frozen once its
//! namespace goes.
//!
//! Output on stdout, one line per stopped process, then a summary (flushed
//! at once: kubegate reads it while the freezer still runs); after SIGTERM,
//! one more line:
//!
//! ```text
//! pid=<pid> comm=<name> state=<state in /proc/<pid>/stat, T once stopped>
//! stopped=<n> container=<id> at_unix_ms=<when the first SIGSTOP was sent>
//! thawed=<n> at_unix_ms=<when>
//! ```
//!
//! Exit 0: stopped at least one and thawed on SIGTERM; 1: found none, or a
//! stop failed (stderr says why; anything already stopped is thawed); 2: usage.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [arg] = args.as_slice() else {
        eprintln!("usage: kubegate-freezer <container-id> (containerd://<id>, docker://<id>, cri-o://<id> or <id>)");
        return ExitCode::from(2);
    };
    let id = match container_id(arg) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("kubegate-freezer: {e}");
            return ExitCode::from(2);
        }
    };
    // Blocked before the first SIGSTOP, so a SIGTERM that comes early waits
    // for `sigwait` instead of ending us with the container left frozen.
    let term = match TermSignals::block() {
        Ok(t) => t,
        Err(e) => {
            eprintln!("kubegate-freezer: cannot block SIGTERM: {e}");
            return ExitCode::from(1);
        }
    };
    let report = match freeze(Path::new("/proc"), id) {
        Ok(report) => report,
        Err(e) => {
            eprintln!("kubegate-freezer: {e}");
            return ExitCode::from(1);
        }
    };
    let mut out = std::io::stdout().lock();
    // kubegate reads the summary from the pod's log while we wait.
    let _ = write!(out, "{report}").and_then(|()| out.flush());
    term.wait();
    let thawed = thaw(&report.stopped);
    let _ = writeln!(out, "thawed={thawed} at_unix_ms={}", unix_ms(SystemTime::now())).and_then(|()| out.flush());
    ExitCode::SUCCESS
}

/// SIGTERM and SIGINT, blocked for this (single-threaded) process until
/// [`TermSignals::wait`] takes one.
struct TermSignals(libc::sigset_t);

impl TermSignals {
    fn block() -> std::io::Result<Self> {
        // SAFETY: sigemptyset/sigaddset fill a local sigset_t; sigprocmask
        // reads it. No memory of ours is shared with the kernel beyond that.
        unsafe {
            let mut set: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut set);
            libc::sigaddset(&mut set, libc::SIGTERM);
            libc::sigaddset(&mut set, libc::SIGINT);
            if libc::sigprocmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(TermSignals(set))
        }
    }

    /// Until SIGTERM or SIGINT arrives (at once if one already has).
    fn wait(&self) {
        let mut sig: libc::c_int = 0;
        // SAFETY: sigwait reads the set and writes one int of ours.
        while unsafe { libc::sigwait(&self.0, &mut sig) } != 0 {}
    }
}

/// SIGCONT to each stopped process; how many still existed.
fn thaw(stopped: &[Stopped]) -> usize {
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    stopped.iter().filter(|s| unsafe { libc::kill(s.pid, libc::SIGCONT) } == 0).count()
}

fn unix_ms(t: SystemTime) -> u128 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis())
}

/// The bare id of a container reference: `<runtime>://<id>` or `<id>`, where
/// the id is lowercase hex of at least 12 characters (the runtimes give 64).
fn container_id(s: &str) -> Result<&str, String> {
    let id = s.split_once("://").map_or(s, |(_, id)| id);
    if id.len() >= 12 && id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
        Ok(id)
    } else {
        Err(format!(
            "`{s}` is not a container id: want `containerd://<hex id>` (or docker://, cri-o://, or the bare id), as the pod's status.containerStatuses[].containerID gives it"
        ))
    }
}

/// True when one line of `/proc/<pid>/cgroup` (v1 `N:controllers:/path`, v2
/// `0::/path`) puts the process in container `id`: a component of the path
/// is the id itself (cgroupfs driver: `/kubepods/burstable/pod<uid>/<id>`) or
/// ends in `-<id>` or `-<id>.scope` (systemd driver: `cri-containerd-<id>.scope`,
/// `docker-<id>.scope`, `crio-<id>.scope`). CRI-O's monitor
/// (`crio-conmon-<id>.scope`) is not the container.
fn cgroup_line_matches(line: &str, id: &str) -> bool {
    let Some(path) = line.splitn(3, ':').nth(2) else { return false };
    path.split('/').any(|part| {
        let part = part.strip_suffix(".scope").unwrap_or(part);
        part == id || (!part.starts_with("crio-conmon-") && part.rsplit_once('-').is_some_and(|(_, tail)| tail == id))
    })
}

/// Every process under `proc_root` whose cgroup is container `id`'s, as
/// (pid, comm), by pid; this process is never among them.
fn processes_of(proc_root: &Path, id: &str) -> Result<Vec<(i32, String)>, String> {
    let me = i32::try_from(std::process::id()).unwrap_or(0);
    let entries = std::fs::read_dir(proc_root).map_err(|e| format!("cannot list {}: {e}", proc_root.display()))?;
    let mut found: Vec<(i32, String)> = entries
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            // A process that exits between the listing and the read is skipped.
            let cgroup = std::fs::read_to_string(e.path().join("cgroup")).ok()?;
            if pid == me || !cgroup.lines().any(|l| cgroup_line_matches(l, id)) {
                return None;
            }
            let comm = std::fs::read_to_string(e.path().join("comm")).unwrap_or_default();
            Some((pid, comm.trim_end().to_owned()))
        })
        .collect();
    found.sort();
    Ok(found)
}

/// Send SIGSTOP to `pid`.
fn stop(pid: i32) -> std::io::Result<()> {
    // SAFETY: kill(2) takes two integers and touches no memory of ours.
    let rc = unsafe { libc::kill(pid, libc::SIGSTOP) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error()) }
}

/// The state letter of `/proc/<pid>/stat` (`T` once stopped). The command
/// name in parentheses may hold spaces and parentheses itself, so the state
/// is the first field after the last `)`.
fn state(proc_root: &Path, pid: i32) -> Option<char> {
    let stat = std::fs::read_to_string(proc_root.join(pid.to_string()).join("stat")).ok()?;
    stat.rsplit_once(')')?.1.trim_start().chars().next()
}

/// One stopped process.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Stopped {
    pid: i32,
    comm: String,
    state: char,
}

/// What [`freeze`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Report {
    id: String,
    stopped: Vec<Stopped>,
    at_unix_ms: u128,
}

impl std::fmt::Display for Report {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for s in &self.stopped {
            writeln!(f, "pid={} comm={} state={}", s.pid, s.comm, s.state)?;
        }
        writeln!(f, "stopped={} container={} at_unix_ms={}", self.stopped.len(), self.id, self.at_unix_ms)
    }
}

/// Scans for the container's processes until one finds no new ones (a
/// process may fork while its siblings are being stopped).
const MAX_SCANS: usize = 5;
/// How long a stopped process may take to show state `T`.
const STOP_SETTLES: Duration = Duration::from_secs(2);

/// SIGSTOP every process of container `id` found under `proc_root`, then
/// wait (briefly) until each shows as stopped.
fn freeze(proc_root: &Path, id: &str) -> Result<Report, String> {
    let mut stopped: Vec<Stopped> = Vec::new();
    let mut at: Option<SystemTime> = None;
    for _ in 0..MAX_SCANS {
        let new: Vec<(i32, String)> = processes_of(proc_root, id)?
            .into_iter()
            .filter(|(pid, _)| !stopped.iter().any(|s| s.pid == *pid))
            .collect();
        if new.is_empty() {
            break;
        }
        for (pid, comm) in new {
            at.get_or_insert_with(SystemTime::now);
            match stop(pid) {
                Ok(()) => stopped.push(Stopped { pid, comm, state: '?' }),
                // Gone between the scan and the signal: nothing left to freeze.
                Err(e) if e.raw_os_error() == Some(libc::ESRCH) => {}
                Err(e) => {
                    thaw(&stopped);
                    return Err(format!(
                        "cannot stop pid {pid} ({comm}) of container {id}: {e}; signalling another user's process needs CAP_KILL: run the pod as root (runAsUser 0) with capabilities add [KILL]"
                    ));
                }
            }
        }
    }
    if stopped.is_empty() {
        return Err(format!(
            "no process of container {id} under {}: the pod must run on the container's node (spec.nodeName) with hostPID: true, and the container must be running",
            proc_root.display()
        ));
    }
    let settle = Instant::now() + STOP_SETTLES;
    for s in &mut stopped {
        loop {
            s.state = state(proc_root, s.pid).unwrap_or('?');
            if matches!(s.state, 'T' | 't') || Instant::now() >= settle {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    let at_unix_ms = at.map_or(0, unix_ms);
    Ok(Report { id: id.to_owned(), stopped, at_unix_ms })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    const ID: &str = "3f0c9a7e5b1d4c2a8e6f0b9d7c5a3e1f2b4d6c8a0e9f7b5d3c1a2e4f6b8d0c9a";
    const OTHER: &str = "aa0c9a7e5b1d4c2a8e6f0b9d7c5a3e1f2b4d6c8a0e9f7b5d3c1a2e4f6b8d0c9b";

    /// A directory under the system temp dir, removed when dropped.
    struct TempDir(PathBuf);

    impl TempDir {
        fn new(name: &str) -> Self {
            let dir = std::env::temp_dir().join(format!("kubegate-freezer-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            TempDir(dir)
        }

        /// A fake `/proc/<pid>` with these files.
        fn process(&self, pid: i32, files: &[(&str, &str)]) {
            let dir = self.0.join(pid.to_string());
            std::fs::create_dir_all(&dir).expect("pid dir");
            for (name, text) in files {
                std::fs::write(dir.join(name), text).expect("proc file");
            }
        }
    }

    impl Drop for TempDir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn container_ids_come_from_any_runtime_and_anything_else_is_refused() {
        for given in [format!("containerd://{ID}"), format!("docker://{ID}"), format!("cri-o://{ID}"), ID.to_owned()] {
            assert_eq!(container_id(&given), Ok(ID), "{given}");
        }
        for bad in ["", "containerd://", "containerd://abc", "containerd://../../etc", &ID.to_uppercase()] {
            let err = container_id(bad).expect_err(bad);
            assert!(err.contains("containerID"), "{err}");
        }
    }

    #[test]
    fn cgroup_lines_of_every_version_and_driver_match_the_container_only() {
        let pod = "pod5d4c3b2a-1f0e-4d9c-8b7a-6f5e4d3c2b1a";
        let matching = [
            // cgroup v2, systemd driver (containerd, CRI-O, cri-dockerd).
            format!(
                "0::/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-{pod}.slice/cri-containerd-{ID}.scope"
            ),
            format!("0::/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-{pod}.slice/crio-{ID}.scope"),
            format!("0::/kubepods.slice/kubepods-{pod}.slice/docker-{ID}.scope"),
            // cgroup v2, cgroupfs driver; and as seen from a private cgroup namespace.
            format!("0::/kubepods/burstable/{pod}/{ID}"),
            format!("0::/../../{pod}/{ID}"),
            // cgroup v1, cgroupfs driver under a --cgroup-root (kubegate's local cluster).
            format!("4:memory:/kubegate/kubepods/besteffort/{pod}/{ID}"),
            // cgroup v1, systemd driver, Docker.
            format!(
                "5:cpu,cpuacct:/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-{pod}.slice/docker-{ID}.scope"
            ),
            // kind: the node is itself a container.
            format!("0::/kubelet.slice/kubelet-kubepods.slice/kubelet-kubepods-{pod}.slice/cri-containerd-{ID}.scope"),
        ];
        for line in &matching {
            assert!(cgroup_line_matches(line, ID), "{line}");
        }
        let other = [
            // The pod's other containers (its sandbox, a sidecar).
            format!("0::/kubepods/burstable/{pod}/{OTHER}"),
            format!("0::/kubepods.slice/kubepods-{pod}.slice/cri-containerd-{OTHER}.scope"),
            // An id that only starts or ends like ours.
            format!("0::/kubepods/burstable/{pod}/{ID}0"),
            format!("0::/kubepods/burstable/{pod}/0{ID}"),
            // CRI-O's monitor process, the pod's own cgroup, the host.
            format!("0::/kubepods.slice/kubepods-{pod}.slice/crio-conmon-{ID}.scope"),
            format!("0::/kubepods/burstable/{pod}"),
            "9:name=systemd:/".to_owned(),
            "0::/".to_owned(),
            String::new(),
            // The id outside the path (a controller list) is not a match.
            format!("1:{ID}:/"),
        ];
        for line in &other {
            assert!(!cgroup_line_matches(line, ID), "{line}");
        }
    }

    #[test]
    fn processes_are_found_by_any_cgroup_line_in_pid_order() {
        let proc = TempDir::new("scan");
        let v1 = format!("9:name=systemd:/\n4:memory:/kubegate/kubepods/besteffort/podx/{ID}\n0::/\n");
        proc.process(12, &[("cgroup", &v1), ("comm", "worker\n")]);
        proc.process(10, &[("cgroup", &format!("0::/kubepods/podx/{ID}\n")), ("comm", "todo-backend\n")]);
        proc.process(11, &[("cgroup", &format!("0::/kubepods/podx/{OTHER}\n")), ("comm", "pause\n")]);
        // Exited between the listing and the read: no cgroup file.
        proc.process(13, &[("comm", "gone\n")]);
        std::fs::create_dir_all(proc.0.join("self")).expect("non-numeric entry");
        let found = processes_of(&proc.0, ID).expect("listed");
        assert_eq!(found, [(10, "todo-backend".to_owned()), (12, "worker".to_owned())]);
        assert_eq!(processes_of(&proc.0, OTHER).expect("listed"), [(11, "pause".to_owned())]);
        let missing = processes_of(&proc.0.join("nope"), ID).expect_err("no such dir");
        assert!(missing.contains("cannot list"), "{missing}");
    }

    #[test]
    fn the_state_follows_the_last_parenthesis() {
        let proc = TempDir::new("stat");
        proc.process(7, &[("stat", "7 (a) b (c)) T 1 7 7 0 -1\n")]);
        proc.process(8, &[("stat", "8 (plain) S 1 8 8 0 -1\n")]);
        assert_eq!(state(&proc.0, 7), Some('T'));
        assert_eq!(state(&proc.0, 8), Some('S'));
        assert_eq!(state(&proc.0, 9), None);
    }

    /// A real child process, killed when dropped.
    struct Child(std::process::Child);

    impl Drop for Child {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }

    #[test]
    fn freeze_stops_the_containers_processes_and_reports_them() {
        let child = Child(std::process::Command::new("sleep").arg("30").spawn().expect("sleep runs"));
        let pid = i32::try_from(child.0.id()).expect("pid fits");
        // A /proc whose only process of the container is the child (its real
        // cgroup is the test's own); its state comes from the real /proc.
        let proc = TempDir::new("freeze");
        proc.process(pid, &[("cgroup", &format!("0::/kubepods/podx/{ID}\n")), ("comm", "sleep\n")]);
        std::os::unix::fs::symlink(format!("/proc/{pid}/stat"), proc.0.join(pid.to_string()).join("stat"))
            .expect("link the real stat");
        let before = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_millis();
        let report = freeze(&proc.0, ID).expect("stopped");
        assert_eq!(report.stopped, [Stopped { pid, comm: "sleep".into(), state: 'T' }], "the kernel stopped it");
        assert!(report.at_unix_ms >= before, "{} < {before}", report.at_unix_ms);
        assert_eq!(
            report.to_string(),
            format!("pid={pid} comm=sleep state=T\nstopped=1 container={ID} at_unix_ms={}\n", report.at_unix_ms)
        );

        assert_eq!(thaw(&report.stopped), 1, "SIGCONT reaches it");
        let settle = Instant::now() + STOP_SETTLES;
        while state(&proc.0, pid) == Some('T') && Instant::now() < settle {
            std::thread::sleep(Duration::from_millis(10));
        }
        let thawed = state(&proc.0, pid);
        assert!(matches!(thawed, Some('R' | 'S')), "thawed, it runs (and sleeps) on: {thawed:?}");

        let err = freeze(&proc.0, OTHER).expect_err("no process of that container");
        assert!(err.contains("hostPID: true") && err.contains(OTHER), "{err}");
    }
}
