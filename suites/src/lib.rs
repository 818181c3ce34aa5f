//! Shared helpers for kubegate's suites (the tests live in `tests/`).

pub mod kubegate_bin;
pub mod live;
pub mod mutants;
