//! kubegate's clusters: every external program runs through [`process`]
//! (deadlines, process groups, redacted logs), [`tools`] finds them, and a
//! [`provider`] gives a cluster (local, minikube, kind, existing). Knows no
//! rule: an edit to a rule does not rebuild this crate.

// Every public item is documented; clippy -D warnings in CI enforces it.
#![warn(missing_docs)]

pub mod process;
pub mod provider;
pub mod runtime;
pub mod tools;
