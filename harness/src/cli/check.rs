//! `kubegate check`. Placeholder: replaced by the issue that implements it.

/// Arguments of `kubegate check`.
#[derive(Debug, clap::Args)]
pub struct CheckArgs {}

/// Run `kubegate check`; returns the exit code.
pub fn run(_args: CheckArgs) -> i32 {
    eprintln!("kubegate check: not implemented yet");
    crate::exit::ExitCode::BadInput as i32
}
