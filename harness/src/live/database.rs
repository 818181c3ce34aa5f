//! A PostgreSQL instance that one test owns: its own data directory, its
//! own port on the node IP, stopped and started again at will (the
//! database-outage check), and always stopped and removed when dropped.
//! The shared host database (`ci/setup/postgres.sh`) is never touched.
//!
//! Runs Debian's server binaries (`/usr/lib/postgresql/<v>/bin`) as the
//! `postgres` user when kubegate runs as root (the server refuses root).
//! A killed test leaves an instance behind: [`sweep_stale`] stops the ones
//! whose owning process is gone.

use std::net::{IpAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

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
    /// A command failed.
    #[error("`{command}` failed with {status}: {output}")]
    Command {
        /// The command.
        command: String,
        /// Exit status text.
        status: String,
        /// Tail of its output.
        output: String,
    },
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
#[derive(Debug)]
pub struct TestDatabase {
    bin: PathBuf,
    dir: PathBuf,
    listen: IpAddr,
    port: u16,
    password: String,
    as_postgres: bool,
}

impl TestDatabase {
    /// Create and start an instance listening on `listen` (the node IP, so
    /// pods reach it) on a free port; role `kubegate` with a random password.
    pub fn start(listen: IpAddr) -> Result<Self, TestDatabaseError> {
        let bin = server_bin().ok_or(TestDatabaseError::NoServer)?;
        let as_postgres = is_root();
        let root = instances_root();
        let io = |action, path: &Path| {
            let path = path.to_owned();
            move |source| TestDatabaseError::Io { action, path, source }
        };
        std::fs::create_dir_all(&root).map_err(io("cannot create", &root))?;
        let dir = root.join(format!("{}-{}", std::process::id(), super::context::random_secret()[..6].to_owned()));
        std::fs::create_dir_all(&dir).map_err(io("cannot create", &dir))?;
        std::fs::write(dir.join("owner.pid"), std::process::id().to_string()).map_err(io("cannot write", &dir))?;
        let password = super::context::random_secret();
        let pwfile = dir.join("pwfile");
        std::fs::write(&pwfile, &password).map_err(io("cannot write", &pwfile))?;
        if as_postgres {
            chown_postgres(&dir)?;
            chown_postgres(&pwfile)?;
        }
        let port = free_port(listen).map_err(io("cannot find a free port on", Path::new(&listen.to_string())))?;
        let db = TestDatabase { bin, dir, listen, port, password, as_postgres };
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
            ],
        )?;
        let _ = std::fs::remove_file(&pwfile);
        // Pods connect from the pod network: allow password logins from anywhere
        // the instance listens (it listens on the node IP only).
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
        self.run(
            "pg_ctl",
            &["-D", &self.data_dir().display().to_string(), "-l", &log, "-o", &opts, "-w", "-t", "30", "start"],
        )
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.join("data")
    }

    fn run(&self, tool: &str, args: &[&str]) -> Result<(), TestDatabaseError> {
        let exe = self.bin.join(tool);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&exe);
            c
        } else {
            Command::new(&exe)
        };
        cmd.args(args).current_dir(&self.dir).stdin(Stdio::null());
        let out =
            cmd.output().map_err(|source| TestDatabaseError::Io { action: "cannot run", path: exe.clone(), source })?;
        if out.status.success() {
            return Ok(());
        }
        let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        let tail: Vec<&str> = text.lines().collect();
        Err(TestDatabaseError::Command {
            command: format!("{tool} {}", args.iter().take(2).copied().collect::<Vec<_>>().join(" ")),
            status: out.status.to_string(),
            // The password never appears in initdb/pg_ctl output (it is read from a file).
            output: tail[tail.len().saturating_sub(8)..].join("\n"),
        })
    }
}

impl Drop for TestDatabase {
    fn drop(&mut self) {
        let _ = self.stop();
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
        let alive = owner.is_some_and(|pid| Path::new(&format!("/proc/{pid}")).exists());
        if alive {
            continue;
        }
        let db = TestDatabase {
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

fn chown_postgres(p: &Path) -> Result<(), TestDatabaseError> {
    let out = Command::new("chown").args(["-R", "postgres:postgres"]).arg(p).output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => Err(TestDatabaseError::Command {
            command: format!("chown -R postgres:postgres {}", p.display()),
            status: o.status.to_string(),
            output: String::from_utf8_lossy(&o.stderr).into_owned(),
        }),
        Err(source) => Err(TestDatabaseError::Io { action: "cannot run chown on", path: p.to_owned(), source }),
    }
}

fn free_port(ip: IpAddr) -> std::io::Result<u16> {
    let l = TcpListener::bind((ip, 0))?;
    Ok(l.local_addr()?.port())
}

/// Wait until `addr` accepts TCP connections (at most `deadline`).
pub fn wait_tcp(addr: std::net::SocketAddr, deadline: Duration) -> bool {
    let until = std::time::Instant::now() + deadline;
    while std::time::Instant::now() < until {
        if std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(500)).is_ok() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    false
}
