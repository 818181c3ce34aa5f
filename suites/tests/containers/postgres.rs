//! PostgreSQL for the containers: the host's (ci/setup/postgres.sh), and a
//! private throw-away instance the readiness test may stop and start without
//! disturbing any other test.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Host name containers use for the Docker host (mapped to the bridge
/// gateway with `host-gateway`).
pub const HOST_FROM_CONTAINER: &str = "host.docker.internal";

/// The host database's URL as a container must use it (host part replaced
/// by [`HOST_FROM_CONTAINER`]). From `TEST_DATABASE_URL`, else the file
/// ci/setup/postgres.sh writes.
pub fn host_database_url_for_containers() -> Result<String, String> {
    let url = match std::env::var("TEST_DATABASE_URL") {
        Ok(url) if !url.is_empty() => url,
        _ => {
            let file = kubegate::dirs::cache_root().join("postgres/database_url");
            std::fs::read_to_string(&file).map(|s| s.trim().to_owned()).map_err(|e| {
                format!("no database: {} unreadable ({e}); start PostgreSQL: ci/setup.sh postgres", file.display())
            })?
        }
    };
    // postgres://user:password@HOST:port/db -> HOST replaced.
    let (scheme_creds, rest) = url.rsplit_once('@').ok_or("database URL has no '@host' part")?;
    let (_host, port_db) = rest.split_once(':').ok_or("database URL has no ':port' after the host")?;
    Ok(format!("{scheme_creds}@{HOST_FROM_CONTAINER}:{port_db}"))
}

/// The password part of the host database URL (to look for in logs).
pub fn host_database_password() -> Option<String> {
    std::fs::read_to_string(kubegate::dirs::cache_root().join("postgres/password")).ok().map(|s| s.trim().to_owned())
}

/// A PostgreSQL server of its own, in a temporary directory, on a free port.
/// Stopped and removed on drop.
pub struct PrivatePostgres {
    dir: tempfile::TempDir,
    bin: PathBuf,
    /// TCP port it listens on (all interfaces).
    pub port: u16,
    /// Password of the superuser `kubegate`.
    pub password: String,
}

impl PrivatePostgres {
    /// `initdb` a new cluster (as user `postgres` when run as root: the
    /// server refuses to run as root) and start it.
    pub fn start_new() -> Result<Self, String> {
        let bin = server_bin_dir()?;
        let dir = tempfile::Builder::new().prefix("kubegate-pg-").tempdir().map_err(|e| format!("tempdir: {e}"))?;
        let password = format!("pw{:x}", rand::random::<u64>());
        std::fs::write(dir.path().join("pwfile"), &password).map_err(|e| format!("pwfile: {e}"))?;
        if is_root() {
            run(Command::new("chown").args(["-R", "postgres:postgres"]).arg(dir.path()))?;
        }
        let data = dir.path().join("data");
        run(as_postgres(&bin.join("initdb"))
            .arg("-D")
            .arg(&data)
            .args(["-U", "kubegate", "--auth-local=trust", "--auth-host=scram-sha-256", "--no-sync", "-E", "UTF8"])
            .arg(format!("--pwfile={}", dir.path().join("pwfile").display())))?;
        // Containers connect from the Docker bridge network.
        let mut hba = std::fs::OpenOptions::new()
            .append(true)
            .open(data.join("pg_hba.conf"))
            .map_err(|e| format!("pg_hba.conf: {e}"))?;
        use std::io::Write;
        writeln!(hba, "host all kubegate 172.16.0.0/12 scram-sha-256\nhost all kubegate 10.0.0.0/8 scram-sha-256\nhost all kubegate 192.168.0.0/16 scram-sha-256")
            .map_err(|e| format!("pg_hba.conf: {e}"))?;
        let port = free_port()?;
        let pg = PrivatePostgres { dir, bin, port, password };
        pg.start()?;
        Ok(pg)
    }

    /// URL for a container (through [`HOST_FROM_CONTAINER`]), database `postgres`.
    pub fn url_for_containers(&self) -> String {
        format!("postgres://kubegate:{}@{HOST_FROM_CONTAINER}:{}/postgres", self.password, self.port)
    }

    /// Start the server and wait until it accepts connections.
    pub fn start(&self) -> Result<(), String> {
        let data = self.dir.path().join("data");
        run(as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(&data)
            .arg("-l")
            .arg(self.dir.path().join("server.log"))
            .args(["-w", "-t", "60", "-o"])
            // pg_ctl hands these to a shell: quote the `*`.
            .arg(format!("-p {} -c listen_addresses='*' -k {}", self.port, self.dir.path().display()))
            .arg("start"))
    }

    /// Stop the server (fast: open connections are cut, as in an outage).
    pub fn stop(&self) -> Result<(), String> {
        run(as_postgres(&self.bin.join("pg_ctl"))
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-m", "fast", "-w", "-t", "60", "stop"]))
    }

    fn running(&self) -> bool {
        self.dir.path().join("data/postmaster.pid").exists()
    }
}

impl Drop for PrivatePostgres {
    fn drop(&mut self) {
        if self.running()
            && let Err(e) = self.stop()
        {
            eprintln!("private PostgreSQL on port {} did not stop: {e}", self.port);
        }
    }
}

/// Newest `/usr/lib/postgresql/<major>/bin` (Debian), else the directory of
/// `initdb` on PATH.
fn server_bin_dir() -> Result<PathBuf, String> {
    let mut candidates: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path().join("bin"))))
        .filter(|(_, bin): &(u32, PathBuf)| bin.join("initdb").is_file())
        .collect();
    candidates.sort();
    if let Some((_, bin)) = candidates.pop() {
        return Ok(bin);
    }
    std::env::var_os("PATH")
        .and_then(|paths| std::env::split_paths(&paths).find(|p| p.join("initdb").is_file()))
        .ok_or_else(|| {
            "PostgreSQL server binaries (initdb, pg_ctl) not found; install them: ci/setup.sh postgres".into()
        })
}

fn is_root() -> bool {
    Command::new("id").arg("-u").output().map(|o| o.stdout.starts_with(b"0\n")).unwrap_or(false)
}

fn as_postgres(program: &Path) -> Command {
    if is_root() {
        let mut cmd = Command::new("runuser");
        cmd.args(["-u", "postgres", "--"]).arg(program).current_dir("/");
        cmd
    } else {
        Command::new(program)
    }
}

fn run(cmd: &mut Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("cannot run {cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{cmd:?} failed with {}\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn free_port() -> Result<u16, String> {
    let listener = TcpListener::bind("0.0.0.0:0").map_err(|e| format!("no free port: {e}"))?;
    listener.local_addr().map(|a| a.port()).map_err(|e| e.to_string())
}
