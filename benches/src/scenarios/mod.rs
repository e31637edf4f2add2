//! End-to-end scenarios of the harness, one module each.

pub mod paging;
