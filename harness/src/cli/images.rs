//! `kubegate images build | load`: the chatbot's images, built locally and
//! handed to a cluster's container runtime without a registry (AD-4).

use std::path::PathBuf;

use super::provider::ProviderArgs;
use crate::exit::{ExitCode, HasExitCode};

/// Arguments of `kubegate images`.
#[derive(Debug, clap::Args)]
pub struct ImagesArgs {
    #[command(subcommand)]
    action: ImagesAction,
}

#[derive(Debug, clap::Subcommand)]
enum ImagesAction {
    /// Build each component's image as kubegate.toml's `build` says (prepare, then docker build), tagged as it
    /// names them, and kubegate's own image for the liveness check (unless `[liveness] fault = "switch"`).
    Build {
        /// kubegate.toml to read the components from (default: ./kubegate.toml, else built-in defaults).
        #[arg(long)]
        config: Option<PathBuf>,
    },
    /// Load the locally built images (the components' and kubegate's own) into a cluster's container runtime.
    Load {
        #[command(flatten)]
        provider: ProviderArgs,
        /// kubegate.toml to read the image names (and `[cluster]`) from.
        #[arg(long)]
        config: Option<PathBuf>,
    },
}

/// `kubegate images: error: ...` with its causes; the exit code.
fn fail(e: &dyn std::error::Error, code: ExitCode) -> i32 {
    super::fail("images", e, code)
}

/// Run `kubegate images`; returns the exit code.
pub fn run(args: ImagesArgs) -> i32 {
    match args.action {
        ImagesAction::Build { config } => {
            let config = match crate::config::Config::discover(config.as_deref()) {
                Ok(c) => c,
                Err(e) => return fail(&e, e.exit_code()),
            };
            // The components' images, then kubegate's own (the liveness check's freezer).
            let recipes = match crate::images::recipes(&config)
                .and_then(|r| Ok([r, crate::images::kubegate_recipes(&config)?].concat()))
            {
                Ok(r) => r,
                Err(e) => return fail(&e, e.exit_code()),
            };
            match crate::images::build(&crate::process::SystemRunner, &recipes) {
                Ok(built) => {
                    for image in built {
                        println!("{}\t{}\t{:.1} MB", image.image, image.id, image.size_bytes as f64 / 1e6);
                    }
                    ExitCode::Success as i32
                }
                Err(e) => fail(&e, e.exit_code()),
            }
        }
        ImagesAction::Load { provider, config } => {
            let config = match crate::config::Config::discover(config.as_deref()) {
                Ok(c) => c,
                Err(e) => return fail(&e, e.exit_code()),
            };
            let mut images: Vec<String> = config.components.iter().map(|c| c.image.clone()).collect();
            images.extend(crate::images::kubegate_images(&config));
            let (kind, provider_config) = provider.resolve(&config.cluster);
            let step = crate::progress::Step::start(format!("loading {} into the {kind} cluster", images.join(", ")));
            match crate::provider::provider_for(kind, &provider_config).load_images(&images) {
                Ok(()) => {
                    step.ok();
                    ExitCode::Success as i32
                }
                Err(e) => {
                    step.failed();
                    fail(&e, e.exit_code())
                }
            }
        }
    }
}
