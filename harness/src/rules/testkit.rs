//! Test helpers for rule unit tests.
