//! The `kubegate` command line. Placeholder until the subcommands land.

/// Entry point of the binary; returns the process exit code.
pub fn main_impl() -> i32 {
    eprintln!("kubegate: no subcommands yet");
    2
}
