//! The live checks' own database: the throwaway PostgreSQL of
//! [`crate::postgres`], which the container suite uses too.

pub use crate::postgres::{TestDatabase, TestDatabaseError, instances_root, sweep_stale};
