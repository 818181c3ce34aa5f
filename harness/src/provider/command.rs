//! Running the providers' external tools (minikube, kind, docker, ...).
//!
//! Every call goes through the [`CommandRunner`] trait so that unit tests can
//! check the exact argv a provider runs and feed it canned outputs
//! ([`FakeRunner`]), while [`SystemRunner`] runs the real thing with a deadline:
//! a hung `minikube start` is killed (with its whole process group) and
//! reported with the tail of its stderr, never waited on forever.
//!
//! Long-running helpers (`minikube tunnel`, `cloud-provider-kind`) are started
//! with [`CommandRunner::spawn`] and kept alive by a [`Supervised`] watcher that
//! restarts them when they die and stops them when it is dropped.

use std::collections::VecDeque;
use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::ProviderError;

/// Default deadline of a command that has not set its own.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);

/// One external command: program, arguments, extra environment, deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// Program name (looked up on PATH) or path.
    pub program: String,
    /// Arguments, without the program.
    pub args: Vec<String>,
    /// Extra environment variables for this command only.
    pub env: Vec<(String, String)>,
    /// Killed (with its process group) when it runs longer than this.
    pub timeout: Duration,
    /// Bytes written to its stdin (stdin is empty otherwise).
    pub stdin: Option<Vec<u8>>,
}

impl Cmd {
    /// `program args...` with the default deadline.
    pub fn new<I, S>(program: impl Into<String>, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
            env: Vec::new(),
            timeout: DEFAULT_TIMEOUT,
            stdin: None,
        }
    }

    /// Append one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Set an environment variable for this command.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Set the deadline.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// Feed these bytes to stdin.
    pub fn stdin(mut self, bytes: impl Into<Vec<u8>>) -> Self {
        self.stdin = Some(bytes.into());
        self
    }

    /// Program followed by arguments, as tests compare them.
    pub fn argv(&self) -> Vec<String> {
        std::iter::once(self.program.clone()).chain(self.args.iter().cloned()).collect()
    }
}

impl fmt::Display for Cmd {
    /// Shell-like rendering for messages (arguments with spaces quoted).
    /// Environment values are left out: they may hold credentials.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let quoted: Vec<String> = self
            .argv()
            .into_iter()
            .map(|a| if a.is_empty() || a.contains(char::is_whitespace) { format!("'{a}'") } else { a })
            .collect();
        f.write_str(&quoted.join(" "))
    }
}

/// What a finished command produced.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Output {
    /// Exit code; `None` when it was ended by a signal.
    pub code: Option<i32>,
    /// Its stdout, lossily decoded as UTF-8.
    pub stdout: String,
    /// Its stderr, lossily decoded as UTF-8.
    pub stderr: String,
}

impl Output {
    /// A successful run that printed `stdout`.
    pub fn ok(stdout: impl Into<String>) -> Self {
        Self { code: Some(0), stdout: stdout.into(), stderr: String::new() }
    }

    /// A failed run with this exit code, stdout and stderr.
    pub fn failed(code: i32, stdout: impl Into<String>, stderr: impl Into<String>) -> Self {
        Self { code: Some(code), stdout: stdout.into(), stderr: stderr.into() }
    }

    /// Exit code 0.
    pub fn success(&self) -> bool {
        self.code == Some(0)
    }

    /// `exit code N` or `a signal`, for messages.
    pub fn status_text(&self) -> String {
        match self.code {
            Some(code) => format!("exit code {code}"),
            None => "a signal".to_string(),
        }
    }

    /// `Ok(self)` on success, otherwise [`ProviderError::CommandFailed`] with
    /// the command line and the tail of stderr (stdout if stderr is empty).
    pub fn into_result(self, cmd: &Cmd) -> Result<Output, ProviderError> {
        if self.success() {
            return Ok(self);
        }
        let evidence = if self.stderr.trim().is_empty() { &self.stdout } else { &self.stderr };
        Err(ProviderError::CommandFailed {
            command: cmd.to_string(),
            status: self.status_text(),
            stderr_tail: tail(evidence, 30),
        })
    }
}

/// The last `lines` lines of `text`.
pub fn tail(text: &str, lines: usize) -> String {
    let all: Vec<&str> = text.trim_end().lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Why a command could not be run to completion.
#[derive(Debug, thiserror::Error)]
pub enum RunCommandError {
    /// The program does not exist.
    #[error("`{program}` not found on PATH")]
    NotFound { program: String },
    /// It could not be started (permissions, fork failure, ...).
    #[error("could not start `{command}`")]
    Spawn {
        command: String,
        #[source]
        source: std::io::Error,
    },
    /// It ran past its deadline and was killed.
    #[error("`{command}` did not finish within {after_secs}s and was killed\n--- stderr (tail) ---\n{stderr_tail}")]
    TimedOut { command: String, after_secs: u64, stderr_tail: String },
    /// Its log file could not be opened.
    #[error("could not open log file {path}")]
    Log {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl From<RunCommandError> for ProviderError {
    fn from(e: RunCommandError) -> Self {
        match e {
            RunCommandError::NotFound { program } => {
                ProviderError::ToolMissing { hint: install_hint(&program).to_string(), tool: program }
            }
            RunCommandError::TimedOut { command, after_secs, stderr_tail } => ProviderError::CommandFailed {
                command,
                status: format!("a timeout ({after_secs}s, killed)"),
                stderr_tail,
            },
            other => ProviderError::Other { context: other.to_string(), source: Box::new(other) },
        }
    }
}

/// Where to get a tool kubegate shells out to.
pub fn install_hint(program: &str) -> &'static str {
    match program {
        "minikube" => "install minikube (https://minikube.sigs.k8s.io/docs/start/) or pick another --provider",
        "kind" => "install kind (`go install sigs.k8s.io/kind@latest`) or pick another --provider",
        "cloud-provider-kind" => {
            "install it for LoadBalancer Services on kind (`go install sigs.k8s.io/cloud-provider-kind@latest`) or install MetalLB in the cluster"
        }
        "docker" => "install Docker (or run `ci/setup.sh docker`)",
        _ => "install it and make sure it is on PATH",
    }
}

/// A started long-running process (see [`CommandRunner::spawn`]).
pub trait Child: Send {
    /// Its process id (also the id of its own process group).
    fn pid(&self) -> u32;
    /// `Some(description)` once it has exited, `None` while it runs.
    fn try_wait(&mut self) -> std::io::Result<Option<String>>;
    /// SIGTERM its process group, wait up to `grace`, then SIGKILL.
    fn stop(&mut self, grace: Duration) -> std::io::Result<()>;
}

/// Runs external commands. Implemented by [`SystemRunner`] (real processes)
/// and [`FakeRunner`] (records argv, answers with canned outputs).
pub trait CommandRunner: Send + Sync {
    /// Run to completion (or kill at the deadline) and capture the output.
    /// A non-zero exit is an `Ok(Output)`; callers decide (see [`Output::into_result`]).
    fn run(&self, cmd: &Cmd) -> Result<Output, RunCommandError>;
    /// [`CommandRunner::run`], with a non-zero exit as an error carrying its output.
    fn run_ok(&self, cmd: &Cmd) -> Result<Output, ProviderError> {
        self.run(cmd)?.into_result(cmd)
    }
    /// Start a long-running process in its own process group, stdout and
    /// stderr appended to `log`. The deadline of `cmd` is ignored.
    fn spawn(&self, cmd: &Cmd, log: &Path) -> Result<Box<dyn Child>, RunCommandError>;
    /// Full path of `program` if it is on PATH.
    fn find_program(&self, program: &str) -> Option<PathBuf>;
}

/// Runs real processes.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemRunner;

/// A shared [`SystemRunner`], the runner providers use outside tests.
pub fn system() -> Arc<dyn CommandRunner> {
    Arc::new(SystemRunner)
}

impl SystemRunner {
    fn command(cmd: &Cmd) -> Command {
        use std::os::unix::process::CommandExt;
        let mut command = Command::new(&cmd.program);
        command.args(&cmd.args);
        for (k, v) in &cmd.env {
            command.env(k, v);
        }
        // Own process group: a timeout or stop ends its children too
        // (minikube and kind start helpers of their own).
        command.process_group(0);
        command
    }

    fn spawn_error(cmd: &Cmd, source: std::io::Error) -> RunCommandError {
        if source.kind() == std::io::ErrorKind::NotFound {
            RunCommandError::NotFound { program: cmd.program.clone() }
        } else {
            RunCommandError::Spawn { command: cmd.to_string(), source }
        }
    }
}

/// Send `signal` (a name such as `TERM`) to process group `pgid`. Uses the
/// shell's `kill` builtin so the crate needs no libc binding.
fn signal_group(pgid: u32, signal: &str) {
    let _ = Command::new("sh")
        .args(["-c", &format!("kill -s {signal} -- -{pgid} 2>/dev/null")])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Whether a process with this pid exists and is not a zombie (Linux /proc).
pub fn pid_alive(pid: u32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        // Field 3 (after the parenthesised command name) is the state.
        Ok(stat) => stat.rsplit_once(')').map(|(_, rest)| !rest.trim_start().starts_with('Z')).unwrap_or(false),
        Err(_) => false,
    }
}

/// The argv of a running process (Linux /proc).
pub fn pid_argv(pid: u32) -> Option<Vec<String>> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(raw.split(|b| *b == 0).filter(|p| !p.is_empty()).map(|p| String::from_utf8_lossy(p).into_owned()).collect())
}

/// The command line of a running process (Linux /proc), arguments joined by spaces.
pub fn pid_cmdline(pid: u32) -> Option<String> {
    pid_argv(pid).map(|argv| argv.join(" "))
}

/// Stop a process group we do not hold a handle for (e.g. a tunnel started
/// by an earlier kubegate process): TERM, wait up to `grace`, KILL.
pub fn stop_pid(pid: u32, grace: Duration) {
    if !pid_alive(pid) {
        return;
    }
    signal_group(pid, "TERM");
    let deadline = Instant::now() + grace;
    while pid_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if pid_alive(pid) {
        signal_group(pid, "KILL");
    }
}

fn read_all(mut pipe: impl Read + Send + 'static) -> std::sync::mpsc::Receiver<Vec<u8>> {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = pipe.read_to_end(&mut buf);
        let _ = tx.send(buf);
    });
    rx
}

impl CommandRunner for SystemRunner {
    fn run(&self, cmd: &Cmd) -> Result<Output, RunCommandError> {
        let mut command = Self::command(cmd);
        command
            .stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = command.spawn().map_err(|e| Self::spawn_error(cmd, e))?;
        if let (Some(bytes), Some(mut stdin)) = (cmd.stdin.clone(), child.stdin.take()) {
            std::thread::spawn(move || {
                use std::io::Write;
                let _ = stdin.write_all(&bytes);
            });
        }
        let stdout = read_all(child.stdout.take().expect("stdout is piped"));
        let stderr = read_all(child.stderr.take().expect("stderr is piped"));
        let started = Instant::now();
        let mut pause = Duration::from_millis(5);
        let status = loop {
            match child.try_wait() {
                Ok(Some(status)) => break Some(status),
                Ok(None) if started.elapsed() >= cmd.timeout => break None,
                Ok(None) => {
                    std::thread::sleep(pause);
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                Err(e) => return Err(RunCommandError::Spawn { command: cmd.to_string(), source: e }),
            }
        };
        // Grandchildren may keep the pipes open after the child exits; wait
        // for them only briefly.
        let collect = |rx: std::sync::mpsc::Receiver<Vec<u8>>| {
            String::from_utf8_lossy(&rx.recv_timeout(Duration::from_secs(2)).unwrap_or_default()).into_owned()
        };
        match status {
            Some(status) => Ok(Output { code: status.code(), stdout: collect(stdout), stderr: collect(stderr) }),
            None => {
                signal_group(child.id(), "TERM");
                std::thread::sleep(Duration::from_millis(500));
                signal_group(child.id(), "KILL");
                let _ = child.kill();
                let _ = child.wait();
                Err(RunCommandError::TimedOut {
                    command: cmd.to_string(),
                    after_secs: cmd.timeout.as_secs(),
                    stderr_tail: tail(&collect(stderr), 30),
                })
            }
        }
    }

    fn spawn(&self, cmd: &Cmd, log: &Path) -> Result<Box<dyn Child>, RunCommandError> {
        let log_err = |source| RunCommandError::Log { path: log.to_path_buf(), source };
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(log_err)?;
        }
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(log_err)?;
        let err = out.try_clone().map_err(log_err)?;
        let mut command = Self::command(cmd);
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = command.spawn().map_err(|e| Self::spawn_error(cmd, e))?;
        Ok(Box::new(SystemChild { child }))
    }

    fn find_program(&self, program: &str) -> Option<PathBuf> {
        find_on_path(program)
    }
}

/// `program` resolved against PATH (or as given, if it contains a slash).
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    let executable =
        |p: &Path| p.metadata().map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false);
    if program.contains('/') {
        let p = PathBuf::from(program);
        return executable(&p).then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?).map(|dir| dir.join(program)).find(|p| executable(p))
}

struct SystemChild {
    child: std::process::Child,
}

impl Child for SystemChild {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn try_wait(&mut self) -> std::io::Result<Option<String>> {
        Ok(self.child.try_wait()?.map(|s| s.to_string()))
    }

    fn stop(&mut self, grace: Duration) -> std::io::Result<()> {
        if self.child.try_wait()?.is_some() {
            return Ok(());
        }
        signal_group(self.child.id(), "TERM");
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(self.child.id(), "KILL");
        let _ = self.child.kill();
        self.child.wait().map(|_| ())
    }
}

/// A long-running helper kept alive by a watcher thread: restarted (after a
/// short back-off) when it exits, stopped when this value is dropped or
/// [`Supervised::stop`] is called. Its pid is written to `pid_file` so a later
/// kubegate process can find it ([`adopt_pid_file`]) and `down` can stop it.
pub struct Supervised {
    name: String,
    stop: Arc<AtomicBool>,
    detach: Arc<AtomicBool>,
    pid: Arc<AtomicU32>,
    restarts: Arc<AtomicU32>,
    watcher: Option<JoinHandle<()>>,
    pid_file: PathBuf,
}

/// What the watcher thread shares with its [`Supervised`] handle.
struct Watch {
    runner: Arc<dyn CommandRunner>,
    cmd: Cmd,
    log: PathBuf,
    pid_file: PathBuf,
    name: String,
    stop: Arc<AtomicBool>,
    detach: Arc<AtomicBool>,
    pid: Arc<AtomicU32>,
    restarts: Arc<AtomicU32>,
}

impl Supervised {
    /// Start `cmd` now (an error if it cannot start at all) and watch it.
    pub fn start(
        runner: Arc<dyn CommandRunner>,
        name: impl Into<String>,
        cmd: Cmd,
        log: PathBuf,
        pid_file: PathBuf,
    ) -> Result<Self, RunCommandError> {
        let name = name.into();
        append_log(&log, &format!("kubegate: starting {name}: {cmd}"));
        let first = runner.spawn(&cmd, &log)?;
        write_pid_file(&pid_file, first.pid());
        let w = Watch {
            runner,
            cmd,
            log,
            pid_file: pid_file.clone(),
            name: name.clone(),
            stop: Arc::new(AtomicBool::new(false)),
            detach: Arc::new(AtomicBool::new(false)),
            pid: Arc::new(AtomicU32::new(first.pid())),
            restarts: Arc::new(AtomicU32::new(0)),
        };
        let (stop, detach, pid, restarts) = (w.stop.clone(), w.detach.clone(), w.pid.clone(), w.restarts.clone());
        let watcher = std::thread::Builder::new()
            .name(format!("watch {name}"))
            .spawn(move || w.run(first))
            .map_err(|source| RunCommandError::Spawn { command: "watcher thread".into(), source })?;
        Ok(Self { name, stop, detach, pid, restarts, watcher: Some(watcher), pid_file })
    }

    /// Pid of the current instance.
    pub fn pid(&self) -> u32 {
        self.pid.load(Ordering::SeqCst)
    }

    /// How many times it was restarted after dying.
    pub fn restarts(&self) -> u32 {
        self.restarts.load(Ordering::SeqCst)
    }

    /// What it is (`minikube tunnel`, ...).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Stop watching, stop the process, remove the pid file.
    pub fn stop(mut self) {
        self.shutdown(false);
    }

    /// Stop watching but leave the process running (it outlives this kubegate
    /// process); its pid file stays so the next process can adopt it.
    pub fn detach(mut self) {
        self.shutdown(true);
    }

    fn shutdown(&mut self, detach: bool) {
        self.detach.store(detach, Ordering::SeqCst);
        self.stop.store(true, Ordering::SeqCst);
        if let Some(w) = self.watcher.take() {
            let _ = w.join();
        }
        if !detach {
            let _ = std::fs::remove_file(&self.pid_file);
        }
    }
}

impl Drop for Supervised {
    fn drop(&mut self) {
        if self.watcher.is_some() {
            self.shutdown(false);
        }
    }
}

impl Watch {
    fn run(self, mut child: Box<dyn Child>) {
        let mut backoff = Duration::from_millis(200);
        loop {
            if self.stop.load(Ordering::SeqCst) {
                if !self.detach.load(Ordering::SeqCst) {
                    let _ = child.stop(Duration::from_secs(5));
                }
                return;
            }
            let how = match child.try_wait() {
                Ok(None) => {
                    std::thread::sleep(Duration::from_millis(100));
                    continue;
                }
                Ok(Some(how)) => how,
                Err(e) => format!("an unreadable status ({e})"),
            };
            append_log(&self.log, &format!("kubegate: {} exited with {how}; restarting in {backoff:?}", self.name));
            std::thread::sleep(backoff);
            backoff = (backoff * 2).min(Duration::from_secs(10));
            if self.stop.load(Ordering::SeqCst) {
                return;
            }
            match self.runner.spawn(&self.cmd, &self.log) {
                Ok(next) => {
                    child = next;
                    self.pid.store(child.pid(), Ordering::SeqCst);
                    self.restarts.fetch_add(1, Ordering::SeqCst);
                    write_pid_file(&self.pid_file, child.pid());
                }
                Err(e) => append_log(&self.log, &format!("kubegate: could not restart {}: {e}", self.name)),
            }
        }
    }
}

fn append_log(log: &Path, line: &str) {
    use std::io::Write;
    if let Some(dir) = log.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    if let Ok(mut f) = std::fs::OpenOptions::new().create(true).append(true).open(log) {
        let _ = writeln!(f, "{line}");
    }
}

fn write_pid_file(path: &Path, pid: u32) {
    if path.as_os_str().is_empty() {
        return;
    }
    if let Some(dir) = path.parent() {
        let _ = std::fs::create_dir_all(dir);
    }
    let _ = std::fs::write(path, format!("{pid}\n"));
}

/// The pid recorded in `pid_file` if that process is still running and its
/// command line contains `expect` (so a recycled pid is not mistaken for it).
pub fn adopt_pid_file(pid_file: &Path, expect: &str) -> Option<u32> {
    let pid: u32 = std::fs::read_to_string(pid_file).ok()?.trim().parse().ok()?;
    (pid_alive(pid) && pid_cmdline(pid).is_some_and(|c| c.contains(expect))).then_some(pid)
}

/// Test double: records every command, answers from canned replies, and
/// spawns a real stand-in process (default `sleep 600`) for `spawn`.
#[derive(Default)]
pub struct FakeRunner {
    calls: Mutex<Vec<Cmd>>,
    spawned: Mutex<Vec<Cmd>>,
    replies: Mutex<Vec<(Vec<String>, VecDeque<Output>)>>,
    programs: Mutex<Option<Vec<String>>>,
    stand_in: Mutex<Option<Cmd>>,
}

impl FakeRunner {
    /// A fake where every program is "installed" and nothing has a reply yet.
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// Commands whose argv starts with `prefix` get `outputs` in turn; the
    /// last one repeats. Earlier-registered prefixes win.
    pub fn reply(&self, prefix: &[&str], outputs: impl IntoIterator<Item = Output>) {
        let prefix = prefix.iter().map(|s| s.to_string()).collect();
        self.replies.lock().expect("fake lock").push((prefix, outputs.into_iter().collect()));
    }

    /// Only these programs are on the fake PATH (all are, until this is called).
    pub fn set_programs(&self, programs: &[&str]) {
        *self.programs.lock().expect("fake lock") = Some(programs.iter().map(|s| s.to_string()).collect());
    }

    /// What `spawn` really starts in place of the requested command.
    pub fn set_stand_in(&self, cmd: Cmd) {
        *self.stand_in.lock().expect("fake lock") = Some(cmd);
    }

    /// Argv of every `run` so far, in order.
    pub fn calls(&self) -> Vec<Vec<String>> {
        self.calls.lock().expect("fake lock").iter().map(Cmd::argv).collect()
    }

    /// Full `Cmd` of every `run` so far (deadline, env, stdin included).
    pub fn commands(&self) -> Vec<Cmd> {
        self.calls.lock().expect("fake lock").clone()
    }

    /// Argv of every `spawn` so far, in order.
    pub fn spawned(&self) -> Vec<Vec<String>> {
        self.spawned.lock().expect("fake lock").iter().map(Cmd::argv).collect()
    }
}

impl CommandRunner for FakeRunner {
    fn run(&self, cmd: &Cmd) -> Result<Output, RunCommandError> {
        self.calls.lock().expect("fake lock").push(cmd.clone());
        if self.find_program(&cmd.program).is_none() {
            return Err(RunCommandError::NotFound { program: cmd.program.clone() });
        }
        let argv = cmd.argv();
        let mut replies = self.replies.lock().expect("fake lock");
        for (prefix, outputs) in replies.iter_mut() {
            if argv.starts_with(prefix) {
                let out = if outputs.len() > 1 { outputs.pop_front() } else { outputs.front().cloned() };
                return Ok(out.unwrap_or_default());
            }
        }
        Ok(Output::failed(99, "", format!("FakeRunner: no canned reply for `{cmd}`")))
    }

    fn spawn(&self, cmd: &Cmd, log: &Path) -> Result<Box<dyn Child>, RunCommandError> {
        self.spawned.lock().expect("fake lock").push(cmd.clone());
        let stand_in = self.stand_in.lock().expect("fake lock").clone().unwrap_or_else(|| Cmd::new("sleep", ["600"]));
        SystemRunner.spawn(&stand_in, log)
    }

    fn find_program(&self, program: &str) -> Option<PathBuf> {
        match &*self.programs.lock().expect("fake lock") {
            Some(list) if !list.iter().any(|p| p == program) => None,
            _ => Some(PathBuf::from("/fake/bin").join(program)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_and_captures_both_streams() {
        let out = SystemRunner.run(&Cmd::new("sh", ["-c", "echo out; echo err >&2; exit 3"])).expect("sh runs");
        assert_eq!(out.code, Some(3));
        assert_eq!(out.stdout, "out\n");
        assert_eq!(out.stderr, "err\n");
        let err = out.into_result(&Cmd::new("sh", ["-c", "x"])).expect_err("exit 3 is a failure");
        assert!(err.to_string().contains("exit code 3") && err.to_string().contains("err"), "{err}");
    }

    #[test]
    fn feeds_stdin() {
        let out = SystemRunner.run(&Cmd::new("cat", Vec::<String>::new()).stdin("hello")).expect("cat runs");
        assert_eq!(out.stdout, "hello");
    }

    #[test]
    fn kills_at_the_deadline_with_its_children() {
        let started = Instant::now();
        let cmd = Cmd::new("sh", ["-c", "echo starting >&2; sleep 30 & sleep 30"]).timeout(Duration::from_millis(300));
        let err = SystemRunner.run(&cmd).expect_err("must time out");
        assert!(started.elapsed() < Duration::from_secs(10), "took {:?}", started.elapsed());
        match err {
            RunCommandError::TimedOut { stderr_tail, .. } => assert!(stderr_tail.contains("starting")),
            other => panic!("expected a timeout, got {other}"),
        }
    }

    #[test]
    fn missing_program_is_tool_missing() {
        let err = SystemRunner.run(&Cmd::new("kubegate-no-such-tool", ["x"])).expect_err("not installed");
        assert!(matches!(err, RunCommandError::NotFound { .. }));
        assert!(matches!(ProviderError::from(err), ProviderError::ToolMissing { .. }));
        assert!(find_on_path("sh").is_some());
        assert!(find_on_path("kubegate-no-such-tool").is_none());
    }

    #[test]
    fn fake_records_argv_and_replays_outputs_in_turn() {
        let fake = FakeRunner::new();
        fake.reply(&["kind", "get", "clusters"], [Output::ok("a\n"), Output::ok("a\nb\n")]);
        let cmd = Cmd::new("kind", ["get", "clusters"]);
        assert_eq!(fake.run(&cmd).expect("reply").stdout, "a\n");
        assert_eq!(fake.run(&cmd).expect("reply").stdout, "a\nb\n");
        assert_eq!(fake.run(&cmd).expect("reply").stdout, "a\nb\n", "last reply repeats");
        let unknown = fake.run(&Cmd::new("kind", ["delete"])).expect("fake answers");
        assert_eq!(unknown.code, Some(99));
        assert_eq!(fake.calls().len(), 4);
        assert_eq!(fake.calls()[0], vec!["kind", "get", "clusters"]);
        fake.set_programs(&["minikube"]);
        assert!(matches!(fake.run(&cmd), Err(RunCommandError::NotFound { .. })));
    }

    #[test]
    fn supervised_restarts_a_dying_child_and_stops_on_drop() {
        let dir = tempfile::tempdir().expect("tempdir");
        let fake = FakeRunner::new();
        fake.set_stand_in(Cmd::new("sleep", ["0.1"]));
        let sup = Supervised::start(
            fake.clone(),
            "helper",
            Cmd::new("helper", ["--flag"]),
            dir.path().join("helper.log"),
            dir.path().join("helper.pid"),
        )
        .expect("starts");
        let deadline = Instant::now() + Duration::from_secs(10);
        while sup.restarts() < 2 && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        assert!(sup.restarts() >= 2, "restarted {} times", sup.restarts());
        assert!(fake.spawned().iter().all(|argv| argv == &vec!["helper", "--flag"]));
        let log = std::fs::read_to_string(dir.path().join("helper.log")).expect("log written");
        assert!(log.contains("helper exited with"), "{log}");

        fake.set_stand_in(Cmd::new("sleep", ["600"]));
        let sup2 = Supervised::start(
            fake.clone(),
            "long",
            Cmd::new("long", Vec::<String>::new()),
            dir.path().join("long.log"),
            dir.path().join("long.pid"),
        )
        .expect("starts");
        let pid = sup2.pid();
        assert!(pid_alive(pid));
        // Right after fork the child still shows our command line; wait for its exec.
        let deadline = Instant::now() + Duration::from_secs(5);
        while pid_cmdline(pid).is_none_or(|c| !c.contains("sleep")) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(adopt_pid_file(&dir.path().join("long.pid"), "sleep 600"), Some(pid));
        assert_eq!(adopt_pid_file(&dir.path().join("long.pid"), "something else"), None);
        drop(sup2);
        assert!(!pid_alive(pid), "dropped supervisor stops its child");
        assert!(!dir.path().join("long.pid").exists());
        sup.stop();
    }
}
