//! A throwaway PostgreSQL instance that one test owns: its own data
//! directory, its own port, stopped and started again at will (the
//! database-outage checks of the live and the container suites), and always
//! stopped and removed when dropped. The shared host database
//! (`ci/setup/postgres.sh`) is never touched.
//!
//! Runs Debian's server binaries (`/usr/lib/postgresql/<v>/bin`) through the
//! process layer, as the `postgres` user when kubegate runs as root (the
//! server refuses root). A killed test leaves an instance behind:
//! [`sweep_stale`] stops the ones whose owning process is gone.

use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use crate::process::{Cmd, CommandRunner, RunCommandError};

/// Deadline of one `initdb` or `pg_ctl` call (pg_ctl's own wait is shorter).
const COMMAND_TIMEOUT: Duration = Duration::from_secs(90);
/// How long `pg_ctl start -w` waits for the server to accept connections.
const START_WAIT_SECS: &str = "60";

/// Where test instances live (one directory each).
pub fn instances_root() -> PathBuf {
    std::env::temp_dir().join("kubegate-pg")
}

/// Why the test database could not be started or stopped.
#[derive(Debug, thiserror::Error)]
pub enum TestDatabaseError {
    /// No PostgreSQL server binaries found.
    #[error("no PostgreSQL server under /usr/lib/postgresql/*/bin: run `ci/setup.sh postgres`")]
    NoServer,
    /// A command could not run or failed.
    #[error(transparent)]
    Command(#[from] RunCommandError),
    /// A file step failed.
    #[error("{action} {}", path.display())]
    Io {
        /// What was being done.
        action: &'static str,
        /// Where.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A running (or stopped) PostgreSQL instance of one test.
pub struct TestDatabase {
    runner: Arc<dyn CommandRunner>,
    bin: PathBuf,
    dir: PathBuf,
    listen: IpAddr,
    port: u16,
    password: String,
    as_postgres: bool,
}

impl std::fmt::Debug for TestDatabase {
    // Not derived: the password is a secret value.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestDatabase")
            .field("dir", &self.dir)
            .field("listen", &self.listen)
            .field("port", &self.port)
            .finish()
    }
}

impl TestDatabase {
    /// Create and start an instance listening on `listen` on a free port;
    /// role `kubegate` with a random password. The live checks pass the node
    /// IP (so pods reach it), the container suite `0.0.0.0` (so containers
    /// reach it through the Docker bridge).
    pub fn start(listen: IpAddr) -> Result<Self, TestDatabaseError> {
        Self::start_with(crate::process::system(), listen)
    }

    /// [`TestDatabase::start`] with the commands run by `runner`.
    pub fn start_with(runner: Arc<dyn CommandRunner>, listen: IpAddr) -> Result<Self, TestDatabaseError> {
        let bin = server_bin().ok_or(TestDatabaseError::NoServer)?;
        let as_postgres = is_root();
        let root = instances_root();
        let io = |action, path: &Path| {
            let path = path.to_owned();
            move |source| TestDatabaseError::Io { action, path, source }
        };
        std::fs::create_dir_all(&root).map_err(io("cannot create", &root))?;
        let secret = crate::live::context::random_secret;
        let dir = root.join(format!("{}-{}", std::process::id(), &secret()[..6]));
        std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
        std::fs::write(dir.join("owner.pid"), std::process::id().to_string()).map_err(io("cannot write", &dir))?;
        let password = secret();
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, &password).map_err(io("cannot write", &pwfile))?;
        let port = free_port(listen).map_err(io("cannot find a free port on", Path::new(&listen.to_string())))?;
        let db = TestDatabase { runner, bin, dir, listen, port, password, as_postgres };
        if as_postgres {
            db.runner.run_ok(&Cmd::new("chown", ["-R", "postgres:postgres"]).arg(db.dir.display().to_string()))?;
        }
        let data = db.data_dir();
        db.run(
            "initdb",
            &[
                "-D",
                &data.display().to_string(),
                "-U",
                "kubegate",
                "--pwfile",
                &pwfile.display().to_string(),
                "--auth-host=scram-sha-256",
                "--auth-local=trust",
                "--no-sync",
                "-E",
                "UTF8",
            ],
        )?;
        let _ = std::fs::remove_file(&pwfile);
        // Clients connect from the pod network or the Docker bridge: allow
        // password logins from anywhere the instance listens.
        let hba = data.join("pg_hba.conf");
        let mut text = std::fs::read_to_string(&hba).map_err(io("cannot read", &hba))?;
        text.push_str("\nhost all kubegate 0.0.0.0/0 scram-sha-256\nhost all kubegate ::/0 scram-sha-256\n");
        std::fs::write(&hba, text).map_err(io("cannot write", &hba))?;
        db.start_again()?;
        Ok(db)
    }

    /// `postgres://kubegate:<password>@<listen>:<port>/postgres` (a secret value).
    pub fn url(&self) -> String {
        let host = match self.listen {
            IpAddr::V4(v4) => v4.to_string(),
            IpAddr::V6(v6) => format!("[{v6}]"),
        };
        self.url_for_host(&host)
    }

    /// [`TestDatabase::url`] with another host part (a container reaches the
    /// instance through `host.docker.internal`).
    pub fn url_for_host(&self, host: &str) -> String {
        format!("postgres://kubegate:{}@{host}:{}/postgres", self.password, self.port)
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Stop the server at once (`pg_ctl stop -m immediate`): clients see
    /// their connections reset and new ones refused.
    pub fn stop(&self) -> Result<(), TestDatabaseError> {
        self.run("pg_ctl", &["-D", &self.data_dir().display().to_string(), "-m", "immediate", "-w", "stop"])
    }

    /// Start the (stopped) server again and wait until it accepts connections.
    pub fn start_again(&self) -> Result<(), TestDatabaseError> {
        let opts = format!(
            "-c listen_addresses={} -c port={} -c unix_socket_directories={} -c fsync=off",
            self.listen,
            self.port,
            self.dir.display()
        );
        let log = self.dir.join("server.log").display().to_string();
        let data = self.data_dir().display().to_string();
        self.run("pg_ctl", &["-D", &data, "-l", &log, "-o", &opts, "-w", "-t", START_WAIT_SECS, "start"])
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    /// Whether a server of this instance is (or was left) running.
    fn running(&self) -> bool {
        self.data_dir().join("postmaster.pid").exists()
    }

    /// Run a server tool, as `postgres` when we are root. The password never
    /// appears in a command line or in initdb/pg_ctl output (it is read from a file).
    fn run(&self, tool: &str, args: &[&str]) -> Result<(), TestDatabaseError> {
        let exe = self.bin.join(tool).display().to_string();
        let cmd = if self.as_postgres {
            Cmd::new("runuser", ["-u", "postgres", "--", &exe])
        } else {
            Cmd::new(exe, Vec::<String>::new())
        };
        let cmd = cmd.args(args.iter().copied()).current_dir(&self.dir).timeout(COMMAND_TIMEOUT);
        self.runner.run_ok(&cmd)?;
        Ok(())
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        if self.running()
            && let Err(e) = self.stop()
        {
            eprintln!("test database on port {} did not stop: {e}", self.port);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Stop and remove instances whose owning process is gone (a killed test).
/// Returns how many were removed.
pub fn sweep_stale() -> usize {
    let Ok(entries) = std::fs::read_dir(instances_root()) else { return 0 };
    let Some(bin) = server_bin() else { return 0 };
    let mut n = 0;
    for e in entries.flatten() {
        let dir = e.path();
        let owner = std::fs::read_to_string(dir.join("owner.pid")).ok().and_then(|s| s.trim().parse::<u32>().ok());
        if owner.is_some_and(crate::process::pid_alive) {
            continue;
        }
        let db = TestDatabase {
            runner: crate::process::system(),
            bin: bin.clone(),
            dir: dir.clone(),
            listen: IpAddr::from([127, 0, 0, 1]),
            port: 0,
            password: String::new(),
            as_postgres: is_root(),
        };
        drop(db); // stops the server and removes the directory
        n += 1;
    }
    n
}

/// The newest `/usr/lib/postgresql/<v>/bin` holding `pg_ctl`.
fn server_bin() -> Option<PathBuf> {
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .flatten()
        .filter_map(|e| {
            let v = e.file_name().to_string_lossy().parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("pg_ctl").is_file().then_some((v, bin))
        })
        .collect();
    versions.sort();
    versions.pop().map(|(_, b)| b)
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| s.lines().find(|l| l.starts_with("Uid:")).map(|l| l.split_whitespace().nth(1) == Some("0")))
        .unwrap_or(false)
}

fn free_port(ip: IpAddr) -> std::io::Result<u16> {
    let l = TcpListener::bind((ip, 0))?;
    Ok(l.local_addr()?.port())
}
