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

pub mod access;
pub mod check;
pub mod cli;
pub mod config;
pub mod contract;
pub mod deploy;
pub mod diagnostics;
pub mod dirs;
pub mod discover;
pub mod exit;
pub mod finding;
pub mod helm;
pub mod image_check;
pub mod images;
pub mod infer;
pub mod live;
pub mod model;
pub mod parity;
pub mod postgres;
pub mod process;
pub mod progress;
pub mod provider;
pub mod redact;
pub mod report;
pub mod rule_id;
pub mod rules;
pub mod runtime;
pub mod sweep;
pub mod tools;
pub mod verify;
pub mod wait;
pub mod waiver;
