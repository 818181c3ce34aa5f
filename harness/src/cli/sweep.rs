//! `kubegate sweep`. Placeholder: replaced by the issue that implements it.

/// Arguments of `kubegate sweep`.
#[derive(Debug, clap::Args)]
pub struct SweepArgs {}

/// Run `kubegate sweep`; returns the exit code.
pub fn run(_args: SweepArgs) -> i32 {
    eprintln!("kubegate sweep: not implemented yet");
    crate::exit::ExitCode::BadInput as i32
}
