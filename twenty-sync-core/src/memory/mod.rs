//! In-memory implementations of [`SourceOfTruth`](crate::SourceOfTruth) and
//! [`StateStore`](crate::StateStore), for tests, examples and dry runs.
//!
//! Both are thread-safe and cheap to clone (clones share data). They pass the
//! [`conformance`](crate::conformance) suite like every other implementation, so tests written
//! against them hold for the real stores too.

pub(crate) mod packed;
mod source;
mod state;
pub(crate) mod state_data;

pub use source::MemorySource;
pub(crate) use source::{parse_seq, seq_checkpoint};
pub use state::{Clock, MemoryState};
pub use state_data::KEPT_RUNS;
