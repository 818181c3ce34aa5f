//! kubegate: prove a Kubernetes deployment right before it is submitted.
//!
//! The library behind the `kubegate` CLI and the end-to-end suites. Each
//! module is one idea; start with [`config`] (what is under test), then
//! [`model`] (every manifest, raw or Helm-rendered, as typed objects) and
//! [`rules`] (the constitution as plain functions over that model).
//! Live work goes [`provider`] (a cluster) -> [`images`] -> [`deploy`]
//! (raw and Helm paths) -> [`wait`] -> [`access`] -> suites -> [`report`].

// Every public item is documented; clippy -D warnings in CI enforces it.
#![warn(missing_docs)]

// The floors below this crate, re-exported under the paths the CLI, the
// suites and the docs use (`kubegate::config`, `kubegate::rules`, ...):
// kubegate-core (data), kubegate-rules (the static side, no I/O),
// kubegate-cluster (processes and providers, no rules).
pub use kubegate_cluster::{process, provider, runtime, tools};
pub use kubegate_core::{
    cluster, config, contract, dirs, exit, finding, generated_docs, model, progress, redact, rule_id,
};
pub use kubegate_rules::{outcome, parity, report, rules, waiver};

pub mod access;
pub mod app_source;
pub mod check;
pub mod cli;
pub mod deploy;
pub mod diagnostics;
pub mod discover;
pub mod helm;
pub mod image_check;
pub mod images;
pub mod infer;
pub mod live;
pub mod postgres;
pub mod routes;
pub mod sweep;
pub mod verify;
pub mod wait;
