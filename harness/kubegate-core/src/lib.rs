//! kubegate's data, shared by every other crate: what is under test
//! ([`config`], [`cluster`], [`contract`]), every manifest as typed objects
//! ([`model`]), what a check reports ([`finding`], [`rule_id`]) and how a run
//! ends ([`exit`]). No cluster client, no async runtime, no process calls.

// Every public item is documented; clippy -D warnings in CI enforces it.
#![warn(missing_docs)]

pub mod app_routes;
pub mod cluster;
pub mod config;
pub mod contract;
pub mod dirs;
pub mod exit;
pub mod finding;
pub mod generated_docs;
pub mod model;
pub mod progress;
pub mod redact;
pub mod rule_id;
