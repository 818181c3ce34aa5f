//! Running external programs (minikube, kind, docker, ctr, cargo, helm, the
//! local cluster's scripts), in one place.
//!
//! Every call goes through the [`CommandRunner`] trait so that unit tests can
//! check the exact argv a caller runs and feed it canned outputs
//! ([`FakeRunner`]), while [`SystemRunner`] runs the real thing on tokio's
//! process support with a deadline: a hung `minikube start` is killed (with
//! its whole process group) and reported with the tail of its stderr, never
//! waited on forever. Long steps stream their output line by line
//! ([`CommandRunner::run_streamed`]) so the user sees progress.
//!
//! Long-running helpers (`minikube tunnel`, `cloud-provider-kind`) are started
//! with [`CommandRunner::spawn`] and kept alive by a [`Supervised`] watcher that
//! restarts them when they die and stops them when it is dropped.

use std::collections::VecDeque;
use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

/// Default deadline of a command that has not set its own.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Between SIGTERM and SIGKILL when a command is stopped at its deadline.
pub const KILL_GRACE: Duration = Duration::from_secs(2);
/// How long to wait for output after the program exited (helpers it started
/// may keep its pipes open).
const PIPE_GRACE: Duration = Duration::from_secs(2);

/// One external command: program, arguments, environment, directory, deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cmd {
    /// Program name (looked up on PATH) or path.
    pub program: String,
    /// Arguments, without the program.
    pub args: Vec<String>,
    /// Extra environment variables for this command only.
    pub env: Vec<(String, String)>,
    /// Variables of this process's environment the command must not inherit.
    pub env_remove: Vec<String>,
    /// Working directory (default: this process's).
    pub current_dir: Option<PathBuf>,
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
            env_remove: Vec::new(),
            current_dir: None,
            timeout: DEFAULT_TIMEOUT,
            stdin: None,
        }
    }

    /// Append one argument.
    pub fn arg(mut self, arg: impl Into<String>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Append arguments.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Set an environment variable for this command.
    pub fn env(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.env.push((key.into(), value.into()));
        self
    }

    /// Do not pass this variable of our environment on.
    pub fn env_remove(mut self, key: impl Into<String>) -> Self {
        self.env_remove.push(key.into());
        self
    }

    /// Run in this directory.
    pub fn current_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        self.current_dir = Some(dir.into());
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

    /// `Ok(self)` on success, otherwise [`RunCommandError::Failed`] with the
    /// command line and the tail of stderr (stdout if stderr is empty).
    pub fn into_result(self, cmd: &Cmd) -> Result<Output, RunCommandError> {
        if self.success() {
            return Ok(self);
        }
        let evidence = if self.stderr.trim().is_empty() { &self.stdout } else { &self.stderr };
        Err(RunCommandError::Failed {
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

/// Why a command could not be run to completion (or, from
/// [`CommandRunner::run_ok`], did not succeed).
#[derive(Debug, thiserror::Error)]
pub enum RunCommandError {
    /// The program does not exist.
    #[error("`{program}` not found on PATH")]
    NotFound {
        /// The program name.
        program: String,
    },
    /// It could not be started (permissions, fork failure, ...).
    #[error("could not start `{command}`")]
    Spawn {
        /// The command line.
        command: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// It ran past its deadline and was killed.
    #[error("`{command}` did not finish within {after_secs}s and was killed\n--- stderr (tail) ---\n{stderr_tail}")]
    TimedOut {
        /// The command line.
        command: String,
        /// Its deadline in seconds.
        after_secs: u64,
        /// Last lines of its stderr.
        stderr_tail: String,
    },
    /// It finished with a non-zero exit ([`Output::into_result`]).
    #[error("`{command}` failed with {status}\n--- stderr (tail) ---\n{stderr_tail}")]
    Failed {
        /// The command line.
        command: String,
        /// Exit status text.
        status: String,
        /// Last lines of its stderr (stdout when stderr is empty).
        stderr_tail: String,
    },
    /// Its log file could not be opened.
    #[error("could not open log file {path}")]
    Log {
        /// The log file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
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

/// Called with each line a command prints (stdout and stderr alike, without
/// the newline) while it runs.
pub type OnLine<'a> = &'a mut (dyn FnMut(&str) + Send);

/// Runs external commands. Implemented by [`SystemRunner`] (real processes)
/// and [`FakeRunner`] (records argv, answers with canned outputs).
pub trait CommandRunner: Send + Sync {
    /// Run to completion (or kill at the deadline), capture the output, and
    /// hand each line to `on_line` as it comes.
    /// A non-zero exit is an `Ok(Output)`; callers decide (see [`Output::into_result`]).
    fn run_streamed(&self, cmd: &Cmd, on_line: OnLine<'_>) -> Result<Output, RunCommandError>;
    /// [`CommandRunner::run_streamed`] without watching the lines.
    fn run(&self, cmd: &Cmd) -> Result<Output, RunCommandError> {
        self.run_streamed(cmd, &mut |_| {})
    }
    /// [`CommandRunner::run`], with a non-zero exit as an error carrying its output.
    fn run_ok(&self, cmd: &Cmd) -> Result<Output, RunCommandError> {
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

/// A shared [`SystemRunner`], the runner callers use outside tests.
pub fn system() -> Arc<dyn CommandRunner> {
    Arc::new(SystemRunner)
}

fn spawn_error(cmd: &Cmd, source: std::io::Error) -> RunCommandError {
    if source.kind() == std::io::ErrorKind::NotFound {
        RunCommandError::NotFound { program: cmd.program.clone() }
    } else {
        RunCommandError::Spawn { command: cmd.to_string(), source }
    }
}

/// `cmd` as a std command in a process group of its own, so a timeout or
/// stop ends its children too (minikube and kind start helpers of their own).
fn std_command(cmd: &Cmd) -> Command {
    use std::os::unix::process::CommandExt;
    let mut command = Command::new(&cmd.program);
    command.args(&cmd.args);
    for key in &cmd.env_remove {
        command.env_remove(key);
    }
    for (k, v) in &cmd.env {
        command.env(k, v);
    }
    if let Some(dir) = &cmd.current_dir {
        command.current_dir(dir);
    }
    command.process_group(0);
    command
}

/// Send `signal` to process group `pgid` (no error if it is gone already).
fn signal_group(pgid: u32, signal: Signal) {
    if let Ok(pgid) = i32::try_from(pgid) {
        let _ = nix::sys::signal::killpg(nix::unistd::Pid::from_raw(pgid), signal);
    }
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

/// Pid of a process on this host (not this one) running `program` (the file
/// name of its argv[0]) with `arg` among its arguments, if given.
pub fn host_process_running(program: &str, arg: Option<&str>) -> Option<u32> {
    let me = std::process::id();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|entry| {
        let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
        if pid == me || !pid_alive(pid) {
            return None;
        }
        let argv = pid_argv(pid)?;
        let name = Path::new(argv.first()?).file_name()?.to_str()?.to_string();
        (name == program && arg.is_none_or(|a| argv[1..].iter().any(|x| x == a))).then_some(pid)
    })
}

/// Stop a process group we do not hold a handle for (e.g. a tunnel started
/// by an earlier kubegate process): TERM, wait up to `grace`, KILL.
pub fn stop_pid(pid: u32, grace: Duration) {
    if !pid_alive(pid) {
        return;
    }
    signal_group(pid, Signal::SIGTERM);
    let deadline = Instant::now() + grace;
    while pid_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    if pid_alive(pid) {
        signal_group(pid, Signal::SIGKILL);
    }
}

/// One of a child's output pipes, read line by line.
struct Pipe<R> {
    reader: tokio::io::BufReader<R>,
    /// The line being read (read_until may stop part-way when cancelled).
    line: Vec<u8>,
    /// Everything read so far.
    all: Vec<u8>,
    open: bool,
}

impl<R: tokio::io::AsyncRead + Unpin> Pipe<R> {
    fn new(pipe: R) -> Self {
        Self { reader: tokio::io::BufReader::new(pipe), line: Vec::new(), all: Vec::new(), open: true }
    }

    /// The next line (kept in `all` too); `None` and closed at the end.
    async fn next_line(&mut self) -> Option<String> {
        use tokio::io::AsyncBufReadExt;
        match self.reader.read_until(b'\n', &mut self.line).await {
            // A call cancelled part-way leaves its bytes in `line` and the next
            // one counts only its own: a last line without a newline may be there.
            Ok(0) | Err(_) if self.line.is_empty() => {
                self.open = false;
                None
            }
            Ok(0) | Err(_) => {
                self.open = false;
                let line = String::from_utf8_lossy(&self.line).trim_end_matches(['\n', '\r']).to_owned();
                self.all.append(&mut self.line);
                Some(line)
            }
            Ok(_) => {
                let line = String::from_utf8_lossy(&self.line).trim_end_matches(['\n', '\r']).to_owned();
                self.all.append(&mut self.line);
                Some(line)
            }
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.all).into_owned()
    }
}

impl SystemRunner {
    /// [`CommandRunner::run_streamed`] for async callers.
    pub async fn run_async(&self, cmd: &Cmd, on_line: OnLine<'_>) -> Result<Output, RunCommandError> {
        let mut command = tokio::process::Command::from(std_command(cmd));
        command
            .stdin(if cmd.stdin.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let mut child = command.spawn().map_err(|e| spawn_error(cmd, e))?;
        let pgid = child.id().unwrap_or_default();
        if let (Some(bytes), Some(mut stdin)) = (cmd.stdin.clone(), child.stdin.take()) {
            tokio::spawn(async move {
                use tokio::io::AsyncWriteExt;
                let _ = stdin.write_all(&bytes).await;
            });
        }
        let mut stdout = Pipe::new(child.stdout.take().expect("stdout is piped"));
        let mut stderr = Pipe::new(child.stderr.take().expect("stderr is piped"));
        let deadline = tokio::time::Instant::now() + cmd.timeout;
        let mut exited = None;
        let mut wake = deadline;
        while stdout.open || stderr.open || exited.is_none() {
            tokio::select! {
                // Output first: on a busy machine the grace below may be over by the time this task runs
                // again, and what the child wrote before it exited must still be read.
                biased;
                Some(line) = stdout.next_line(), if stdout.open => on_line(&line),
                Some(line) = stderr.next_line(), if stderr.open => on_line(&line),
                status = child.wait(), if exited.is_none() => {
                    let status = status.map_err(|source| RunCommandError::Spawn { command: cmd.to_string(), source })?;
                    exited = Some(status);
                    wake = tokio::time::Instant::now() + PIPE_GRACE;
                }
                () = tokio::time::sleep_until(wake) => break,
            }
        }
        match exited {
            Some(status) => Ok(Output { code: status.code(), stdout: stdout.text(), stderr: stderr.text() }),
            None => {
                signal_group(pgid, Signal::SIGTERM);
                let _ = tokio::time::timeout(KILL_GRACE, child.wait()).await;
                signal_group(pgid, Signal::SIGKILL);
                let _ = child.kill().await;
                Err(RunCommandError::TimedOut {
                    command: cmd.to_string(),
                    after_secs: cmd.timeout.as_secs(),
                    stderr_tail: tail(&stderr.text(), 30),
                })
            }
        }
    }
}

impl CommandRunner for SystemRunner {
    fn run_streamed(&self, cmd: &Cmd, on_line: OnLine<'_>) -> Result<Output, RunCommandError> {
        crate::runtime::block_on(self.run_async(cmd, on_line))
    }

    fn spawn(&self, cmd: &Cmd, log: &Path) -> Result<Box<dyn Child>, RunCommandError> {
        let log_err = |source| RunCommandError::Log { path: log.to_path_buf(), source };
        if let Some(dir) = log.parent() {
            std::fs::create_dir_all(dir).map_err(log_err)?;
        }
        let out = std::fs::OpenOptions::new().create(true).append(true).open(log).map_err(log_err)?;
        let err = out.try_clone().map_err(log_err)?;
        let mut command = std_command(cmd);
        command.stdin(Stdio::null()).stdout(out).stderr(err);
        let child = command.spawn().map_err(|e| spawn_error(cmd, e))?;
        Ok(Box::new(SystemChild { child }))
    }

    fn find_program(&self, program: &str) -> Option<PathBuf> {
        find_on_path(program)
    }
}

/// `program` resolved against PATH (or as given, if it contains a slash).
pub fn find_on_path(program: &str) -> Option<PathBuf> {
    which::which(program).ok()
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
        signal_group(self.child.id(), Signal::SIGTERM);
        let deadline = Instant::now() + grace;
        while Instant::now() < deadline {
            if self.child.try_wait()?.is_some() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        signal_group(self.child.id(), Signal::SIGKILL);
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
    fn run_streamed(&self, cmd: &Cmd, on_line: OnLine<'_>) -> Result<Output, RunCommandError> {
        self.calls.lock().expect("fake lock").push(cmd.clone());
        if self.find_program(&cmd.program).is_none() {
            return Err(RunCommandError::NotFound { program: cmd.program.clone() });
        }
        let argv = cmd.argv();
        let mut replies = self.replies.lock().expect("fake lock");
        for (prefix, outputs) in replies.iter_mut() {
            if argv.starts_with(prefix) {
                let out = if outputs.len() > 1 { outputs.pop_front() } else { outputs.front().cloned() };
                let out = out.unwrap_or_default();
                out.stdout.lines().chain(out.stderr.lines()).for_each(&mut *on_line);
                return Ok(out);
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
    fn streams_each_line_as_it_comes_and_keeps_both_streams() {
        let mut lines = Vec::new();
        let cmd = Cmd::new("sh", ["-c", "echo one; echo two >&2; printf three"]);
        let out = SystemRunner.run_streamed(&cmd, &mut |l| lines.push(l.to_owned())).expect("sh runs");
        lines.sort();
        assert_eq!(lines, ["one", "three", "two"]);
        assert_eq!((out.stdout.as_str(), out.stderr.as_str()), ("one\nthree", "two\n"));
    }

    #[test]
    fn runs_in_its_directory_without_the_removed_variables() {
        let dir = tempfile::tempdir().expect("tempdir");
        let cmd = Cmd::new("sh", ["-c", "pwd; echo \"${HOME:-unset}\""]).current_dir(dir.path()).env_remove("HOME");
        let out = SystemRunner.run_ok(&cmd).expect("sh runs");
        let canonical = dir.path().canonicalize().expect("canonical");
        assert_eq!(out.stdout, format!("{}\nunset\n", canonical.display()));
    }

    #[test]
    fn finds_a_host_process_by_command_line() {
        let mut child = Command::new("sleep").arg("7.25").spawn().expect("sleep starts");
        // The child shows its own command line only once it has exec'd (later on a busy machine).
        let until = Instant::now() + Duration::from_secs(5);
        while host_process_running("sleep", Some("7.25")).is_none() && Instant::now() < until {
            std::thread::sleep(Duration::from_millis(20));
        }
        assert_eq!(host_process_running("sleep", Some("7.25")), Some(child.id()));
        assert_eq!(host_process_running("sleep", Some("7.2")), None, "whole arguments only");
        child.kill().expect("kill");
        child.wait().expect("wait");
        assert_eq!(host_process_running("sleep", Some("7.25")), None);
    }

    #[test]
    fn timeout_kills_the_child() {
        let started = Instant::now();
        let r = SystemRunner.run(&Cmd::new("sleep", ["5"]).timeout(Duration::from_millis(200)));
        assert!(matches!(r, Err(RunCommandError::TimedOut { .. })));
        assert!(started.elapsed() < Duration::from_secs(2));
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
