//! Finding external tools (`helm`, ...): on PATH first, then in kubegate's
//! tool cache (`~/.cache/kubegate/tools/bin`, where `ci/setup.sh tools` puts them).

use std::path::PathBuf;

use crate::process::CommandRunner;
use kubegate_core::exit::{ExitCode, HasExitCode};

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

/// Locate `tool`: PATH, then the tool cache ([`kubegate_core::dirs::tool_cache_bin`]).
pub fn find_tool(tool: &str) -> Result<PathBuf, FindToolError> {
    find_tool_with(&crate::process::SystemRunner, tool)
}

/// [`find_tool`] with PATH as `runner` sees it (a fake runner has its own).
pub fn find_tool_with(runner: &dyn CommandRunner, tool: &str) -> Result<PathBuf, FindToolError> {
    let cache = kubegate_core::dirs::tool_cache_bin();
    runner
        .find_program(tool)
        .or_else(|| {
            let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
            which::which_in(tool, Some(&cache), cwd).ok()
        })
        .ok_or_else(|| FindToolError { tool: tool.to_string(), cache_dir: cache })
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
}
