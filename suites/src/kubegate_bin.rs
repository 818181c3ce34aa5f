//! The real `kubegate` binary for suites that test the CLI end to end.
//!
//! `env!("CARGO_BIN_EXE_kubegate")` (and so assert_cmd's `cargo_bin`) exists
//! only in the kubegate package's own tests, and this crate is another
//! package. So escargot builds it: `cargo build -p kubegate --bin kubegate`
//! (a no-op when it is fresh, and it guarantees the binary matches the
//! sources, unlike guessing `target/debug/kubegate`), then the artifact's
//! path. `$KUBEGATE_BIN` overrides this (ci/test.sh and the benchmark point
//! it at a build they made).

use std::path::PathBuf;
use std::sync::OnceLock;

/// The kubegate binary could not be built or found.
#[derive(Debug, Clone, thiserror::Error)]
#[error(
    "cannot build the kubegate binary with `cargo build -p kubegate --bin kubegate`: {problem}\n  fix: run `cargo build -p kubegate` and look at its errors, or set KUBEGATE_BIN to a built binary"
)]
pub struct LocateKubegateError {
    /// What went wrong (the tail of cargo's error output, or the I/O error).
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
    escargot::CargoBuild::new()
        .manifest_path(crate::mutants::repo_root().join("Cargo.toml"))
        .package("kubegate")
        .bin("kubegate")
        // Same profile as this test binary, so a `--release` test run reuses its build.
        .current_release()
        // Compiler errors rendered on stderr, which the error then shows.
        .arg("--message-format=json-render-diagnostics")
        .run()
        .map(|run| run.path().to_path_buf())
        .map_err(|e| LocateKubegateError { problem: tail(&e.to_string(), 30) })
}

/// The last `n` lines of `text` (cargo's errors end with the useful part).
fn tail(text: &str, n: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}
