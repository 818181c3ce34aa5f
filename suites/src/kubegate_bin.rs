//! The real `kubegate` binary for suites that test the CLI end to end.
//!
//! `env!("CARGO_BIN_EXE_kubegate")` exists only in the kubegate package's own
//! tests, and this crate is another package. So the binary is located the
//! way escargot does it: `cargo build -p kubegate --bin kubegate
//! --message-format=json` (a no-op when it is fresh, and it guarantees the
//! binary matches the sources, unlike guessing `target/debug/kubegate`),
//! then the artifact's `executable` path. `$KUBEGATE_BIN` overrides this
//! (the benchmark points it at the release build).

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The kubegate binary could not be built or found.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "cannot build the kubegate binary with `{command}`: {problem}\n  fix: run `cargo build -p kubegate` and look at its errors, or set KUBEGATE_BIN to a built binary"
)]
pub struct LocateKubegateError {
    /// The cargo command line.
    pub command: String,
    /// What went wrong (exit status and stderr tail, or the I/O error).
    pub problem: String,
}

/// Path of the `kubegate` binary (built once per process).
pub fn kubegate_bin() -> Result<PathBuf, LocateKubegateError> {
    static BIN: OnceLock<Result<PathBuf, LocateKubegateError>> = OnceLock::new();
    BIN.get_or_init(locate).clone()
}

fn locate() -> Result<PathBuf, LocateKubegateError> {
    if let Some(bin) = std::env::var_os("KUBEGATE_BIN") {
        return Ok(PathBuf::from(bin));
    }
    let cargo = std::env::var_os("CARGO")
        .map(PathBuf::from)
        .or_else(|| option_env!("CARGO").map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from("cargo"));
    let mut args = vec!["build", "-p", "kubegate", "--bin", "kubegate", "--message-format=json-render-diagnostics"];
    // Same profile as this test binary, so a `--release` test run reuses its build.
    if !cfg!(debug_assertions) {
        args.push("--release");
    }
    let command = format!("{} {}", cargo.display(), args.join(" "));
    let fail = |problem: String| LocateKubegateError { command: command.clone(), problem };
    let out = Command::new(&cargo)
        .args(&args)
        .current_dir(crate::mutants::repo_root())
        .output()
        .map_err(|e| fail(e.to_string()))?;
    if !out.status.success() {
        let stderr = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = stderr.lines().rev().take(30).collect();
        let tail: Vec<&str> = tail.into_iter().rev().collect();
        return Err(fail(format!("{}\n{}", out.status, tail.join("\n"))));
    }
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter(|m| m["reason"] == "compiler-artifact" && m["target"]["name"] == "kubegate")
        .find_map(|m| m["executable"].as_str().map(PathBuf::from))
        .ok_or_else(|| fail("cargo reported no executable for the kubegate binary".into()))
}
