//! `kubegate cluster`. Placeholder: replaced by the issue that implements it.

/// Arguments of `kubegate cluster`.
#[derive(Debug, clap::Args)]
pub struct ClusterArgs {}

/// Run `kubegate cluster`; returns the exit code.
pub fn run(_args: ClusterArgs) -> i32 {
    eprintln!("kubegate cluster: not implemented yet");
    crate::exit::ExitCode::BadInput as i32
}
