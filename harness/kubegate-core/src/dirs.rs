//! Where kubegate keeps things on disk, decided here and nowhere else:
//! - the **cache** (tools, images, the host database's credentials), shared by
//!   every checkout and by the `ci/setup/*.sh` scripts: `$KUBEGATE_CACHE`,
//!   else `$XDG_CACHE_HOME/kubegate`, else `~/.cache/kubegate`;
//! - the **state** directory (cluster state files, locks, run locks, reports):
//!   `$KUBEGATE_STATE_DIR`, else `target/kubegate` of the workspace;
//! - the **artifacts** directory (reports and diagnostics bundles):
//!   `$KUBEGATE_ARTIFACTS_DIR`, else the state directory;
//! - the local provider's **cluster** directory: `$KUBEGATE_CLUSTER_DIR`, else
//!   `<checkout>/target/kubegate/cluster`.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Overrides the cache root (the `ci/setup/*.sh` scripts read it too).
pub const CACHE_ENV: &str = "KUBEGATE_CACHE";
/// Overrides the state directory.
pub const STATE_DIR_ENV: &str = "KUBEGATE_STATE_DIR";
/// Overrides the artifacts root (default: the state directory).
pub const ARTIFACTS_ENV: &str = "KUBEGATE_ARTIFACTS_DIR";
/// Overrides the local cluster's directory (default `<repo>/target/kubegate/cluster`).
pub const CLUSTER_DIR_ENV: &str = "KUBEGATE_CLUSTER_DIR";

/// A set, non-empty environment variable.
fn var(name: &str) -> Option<OsString> {
    std::env::var_os(name).filter(|v| !v.is_empty())
}

/// The cache root: `$KUBEGATE_CACHE`, else `$XDG_CACHE_HOME/kubegate` (when
/// absolute), else `~/.cache/kubegate`.
pub fn cache_root() -> PathBuf {
    cache_root_from(var(CACHE_ENV), var("XDG_CACHE_HOME"), var("HOME"))
}

/// [`cache_root`] with its inputs given.
fn cache_root_from(kubegate: Option<OsString>, xdg: Option<OsString>, home: Option<OsString>) -> PathBuf {
    if let Some(dir) = kubegate {
        return PathBuf::from(dir);
    }
    xdg.map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .or_else(|| home.map(|h| PathBuf::from(h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"))
        .join("kubegate")
}

/// Where `ci/setup.sh tools` installs helm, kubectl, ...: `<cache>/tools/bin`.
pub fn tool_cache_bin() -> PathBuf {
    cache_root().join("tools").join("bin")
}

/// Where kubegate keeps cluster state, logs and locks: `$KUBEGATE_STATE_DIR`,
/// else `target/kubegate/` of the enclosing Cargo workspace (found from the
/// working directory, so test binaries run from a member crate agree with the
/// CLI run from the root; `$CARGO_TARGET_DIR/kubegate` when that is set), else
/// `./target/kubegate`.
pub fn state_dir() -> PathBuf {
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
    state_dir_from(var(STATE_DIR_ENV), var("CARGO_TARGET_DIR"), &cwd)
}

/// [`state_dir`] with its inputs given.
fn state_dir_from(state_env: Option<OsString>, target_env: Option<OsString>, cwd: &Path) -> PathBuf {
    if let Some(dir) = state_env.filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    if let Some(target) = target_env.filter(|d| !d.is_empty()) {
        return PathBuf::from(target).join("kubegate");
    }
    let root = cwd
        .ancestors()
        .find(|dir| {
            std::fs::read_to_string(dir.join("Cargo.toml"))
                .is_ok_and(|text| text.lines().any(|l| l.trim() == "[workspace]"))
        })
        .unwrap_or(cwd);
    root.join("target").join("kubegate")
}

/// Where kubegate writes reports and diagnostics: `$KUBEGATE_ARTIFACTS_DIR`,
/// else the [`state_dir`].
pub fn artifacts_dir() -> PathBuf {
    var(ARTIFACTS_ENV).map(PathBuf::from).unwrap_or_else(state_dir)
}

/// The local provider's cluster directory for the checkout `repo`:
/// `$KUBEGATE_CLUSTER_DIR`, else `<repo>/target/kubegate/cluster`.
pub fn cluster_dir(repo: &Path) -> PathBuf {
    var(CLUSTER_DIR_ENV).map(PathBuf::from).unwrap_or_else(|| repo.join("target/kubegate/cluster"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_root_prefers_kubegate_cache_then_xdg_then_home() {
        let some = |s: &str| Some(OsString::from(s));
        assert_eq!(cache_root_from(some("/k"), some("/x"), some("/h")), PathBuf::from("/k"));
        assert_eq!(cache_root_from(None, some("/x"), some("/h")), PathBuf::from("/x/kubegate"));
        assert_eq!(cache_root_from(None, some("relative"), some("/h")), PathBuf::from("/h/.cache/kubegate"));
        assert_eq!(cache_root_from(None, None, some("/h")), PathBuf::from("/h/.cache/kubegate"));
    }

    #[test]
    fn state_dir_prefers_env_then_target_then_workspace_root() {
        let ws = tempfile::tempdir().expect("tempdir");
        std::fs::write(ws.path().join("Cargo.toml"), "[workspace]\nmembers = []\n").expect("write");
        let member = ws.path().join("suites");
        std::fs::create_dir_all(&member).expect("mkdir");
        std::fs::write(member.join("Cargo.toml"), "[package]\n").expect("write");
        assert_eq!(state_dir_from(Some("/s".into()), Some("/t".into()), &member), PathBuf::from("/s"));
        assert_eq!(state_dir_from(Some("".into()), Some("/t".into()), &member), PathBuf::from("/t/kubegate"));
        assert_eq!(state_dir_from(None, None, &member), ws.path().join("target/kubegate"));
    }
}
