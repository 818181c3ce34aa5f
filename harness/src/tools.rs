//! Finding external tools (`helm`, ...): on PATH first, then in kubegate's
//! tool cache (`~/.cache/kubegate/tools/bin`, where `ci/setup.sh tools` puts them).

use std::path::{Path, PathBuf};

use crate::exit::{ExitCode, HasExitCode};

/// A required tool is not installed.
#[derive(Debug, thiserror::Error)]
#[error("`{tool}` not found on PATH nor in {}\n  fix: run `ci/setup.sh tools` (installs it under ~/.cache/kubegate/tools), or install {tool} and put it on PATH", cache_dir.display())]
pub struct FindToolError {
    /// The tool's binary name.
    pub tool: String,
    /// The cache directory that was searched too.
    pub cache_dir: PathBuf,
}

impl HasExitCode for FindToolError {
    fn exit_code(&self) -> ExitCode {
        ExitCode::BadInput
    }
}

/// `~/.cache/kubegate/tools/bin` (or `$XDG_CACHE_HOME/kubegate/tools/bin`).
pub fn tool_cache_bin() -> PathBuf {
    let cache = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("kubegate").join("tools").join("bin")
}

/// Locate `tool`: each PATH entry, then the tool cache.
pub fn find_tool(tool: &str) -> Result<PathBuf, FindToolError> {
    let on_path = std::env::var_os("PATH").map(|p| std::env::split_paths(&p).collect::<Vec<_>>()).unwrap_or_default();
    let cache = tool_cache_bin();
    on_path
        .iter()
        .chain(std::iter::once(&cache))
        .map(|dir| dir.join(tool))
        .find(|candidate| is_executable(candidate))
        .ok_or_else(|| FindToolError { tool: tool.to_string(), cache_dir: cache })
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).map(|m| m.is_file() && m.permissions().mode() & 0o111 != 0).unwrap_or(false)
}

/// Output of a finished command.
#[derive(Debug)]
pub struct CommandOutput {
    /// Exit status (None when killed by a signal).
    pub status: Option<i32>,
    /// Captured stdout.
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
}

/// Run `cmd` to completion with a deadline; on timeout the process is
/// killed and `Err(None)` returned; spawn errors are `Err(Some(e))`.
pub fn run_with_timeout(
    mut cmd: std::process::Command,
    timeout: std::time::Duration,
) -> Result<CommandOutput, Option<std::io::Error>> {
    use std::io::Read;
    use std::process::Stdio;
    let mut child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().map_err(Some)?;
    // Drain both pipes on threads so a chatty child cannot block on a full pipe.
    let mut out = child.stdout.take().expect("stdout is piped");
    let mut err = child.stderr.take().expect("stderr is piped");
    let t_out = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = out.read_to_end(&mut s);
        s
    });
    let t_err = std::thread::spawn(move || {
        let mut s = Vec::new();
        let _ = err.read_to_end(&mut s);
        s
    });
    let deadline = std::time::Instant::now() + timeout;
    let status = loop {
        match child.try_wait().map_err(Some)? {
            Some(status) => break status,
            None if std::time::Instant::now() >= deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(None);
            }
            None => std::thread::sleep(std::time::Duration::from_millis(10)),
        }
    };
    let stdout = String::from_utf8_lossy(&t_out.join().unwrap_or_default()).into_owned();
    let stderr = String::from_utf8_lossy(&t_err.join().unwrap_or_default()).into_owned();
    Ok(CommandOutput { status: status.code(), stdout, stderr })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_says_how_to_install() {
        let err = find_tool("kubegate-no-such-tool").expect_err("not installed");
        assert!(err.to_string().contains("ci/setup.sh tools"), "{err}");
        assert_eq!(err.exit_code(), ExitCode::BadInput);
    }

    #[test]
    fn timeout_kills_the_child() {
        let mut cmd = std::process::Command::new("sleep");
        cmd.arg("5");
        let started = std::time::Instant::now();
        let r = run_with_timeout(cmd, std::time::Duration::from_millis(200));
        assert!(matches!(r, Err(None)));
        assert!(started.elapsed() < std::time::Duration::from_secs(2));
    }
}
