//! `kubegate verify`. Placeholder: replaced by the issue that implements it.

/// Arguments of `kubegate verify`.
#[derive(Debug, clap::Args)]
pub struct VerifyArgs {}

/// Run `kubegate verify`; returns the exit code.
pub fn run(_args: VerifyArgs) -> i32 {
    eprintln!("kubegate verify: not implemented yet");
    crate::exit::ExitCode::BadInput as i32
}
