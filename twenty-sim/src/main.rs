//! The `twenty-sim` binary: serves a seeded Twenty simulator on loopback.
fn main() {}
