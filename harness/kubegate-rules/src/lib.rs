//! kubegate's static side: the constitution as plain functions over the
//! model ([`rules`]), raw-vs-Helm [`parity`], [`waiver`]s, the applied result
//! ([`outcome`]) and the [`report`] formats. Loading files and rendering
//! charts is the `kubegate` crate's; this crate does no I/O but reading the
//! docs it checks in tests.

// Every public item is documented; clippy -D warnings in CI enforces it.
#![warn(missing_docs)]

pub mod outcome;
pub mod parity;
pub mod report;
pub mod rules;
pub mod waiver;
