//! The contract every [`SourceOfTruth`](crate::SourceOfTruth) and [`StateStore`](crate::StateStore)
//! implementation must pass, as plain async functions (after object_store's `integration.rs`).
//!
//! Each check takes the implementation under test (and, for sources, a [`LocalEditor`] that makes
//! local changes through it), runs against an entity name of its own so that checks can share one
//! store, and **panics** with a message saying which rule was broken. Call them from your crate's
//! tests:
//!
//! ```
//! use twenty_sync_core::conformance;
//! use twenty_sync_core::memory::{MemorySource, MemoryState};
//!
//! # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
//! conformance::state::run_all(&MemoryState::new()).await;
//! let source = MemorySource::new();
//! conformance::source::run_all(&source, &source).await;
//! # });
//! ```
//!
//! A store that needs its entities declared up front (tables) calls the individual checks with
//! entity names it prepared; `run_all` uses names of the form `conformance_<check>`. Stores
//! should be empty when `run_all` starts (a fresh schema or directory).
//!
//! Rules pinned beyond the trait docs:
//! - In a [`StateCommit`](crate::StateCommit), removals are applied before upserts (record states
//!   and pending creates alike), and after the commit a Twenty id maps to at most one local key;
//!   a commit that would break that fails with
//!   [`StoreErrorKind::Conflict`](crate::StoreErrorKind::Conflict) and changes nothing.
//! - A lease renewed by its holder keeps its fencing token; a new holder gets a larger one.
//! - Audit queries with a limit return the newest entries, oldest first; entries are ordered by
//!   the order they were committed (the checks commit them with increasing `at`).

mod editor;
pub mod source;
pub mod state;
mod support;

pub use editor::LocalEditor;
