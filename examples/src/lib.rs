//! Shared helpers of the reference applications in `examples/`.
