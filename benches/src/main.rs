//! End-to-end benchmark harness of twenty-sync (`cargo run -p benches --release -- all`).
fn main() {}
