//! End-to-end scenarios of the harness, one module each.

pub mod e2e;
pub mod paging;
pub mod peer;
pub mod push;
pub mod refused;
pub mod sink;
