//! `kubegate images`. Placeholder: replaced by the issue that implements it.

/// Arguments of `kubegate images`.
#[derive(Debug, clap::Args)]
pub struct ImagesArgs {}

/// Run `kubegate images`; returns the exit code.
pub fn run(_args: ImagesArgs) -> i32 {
    eprintln!("kubegate images: not implemented yet");
    crate::exit::ExitCode::BadInput as i32
}
