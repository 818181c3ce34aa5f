//! Exit codes of the `kubegate` CLI, one per class of outcome, so CI can
//! tell "your deployment is wrong" from "kubegate could not run".

/// What a `kubegate` run ended with; `as i32` is the process exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i32)]
pub enum ExitCode {
    /// Everything checked passed.
    Success = 0,
    /// The deployment under test has findings, or a suite failed.
    Findings = 1,
    /// Bad input (malformed YAML, unknown field, chart that does not render,
    /// bad config or flag) or a required tool (helm, docker, ...) missing.
    BadInput = 2,
    /// The cluster could not be reached, started or stopped.
    Cluster = 3,
    /// Deploying or waiting failed for a reason outside the deployment
    /// (Docker down, image build failed, deadline of a wait exceeded).
    Infrastructure = 4,
    /// Interrupted (Ctrl-C / SIGTERM); cleanup ran.
    Interrupted = 130,
}

/// Implemented by every error type the CLI can end with.
pub trait HasExitCode {
    /// The exit code this error ends the process with.
    fn exit_code(&self) -> ExitCode;
}
