//! Shared helpers for kubegate's suites (the tests live in `tests/`).
