//! Small helpers shared by the checks.

use std::fmt::Display;

use chrono::{DateTime, TimeZone, Utc};
use serde_json::Value;

/// Unwraps a store result, panicking with what the check was doing.
#[track_caller]
pub(crate) fn ok<T, E: Display>(result: Result<T, E>, doing: &str) -> T {
    match result {
        Ok(v) => v,
        Err(e) => panic!("conformance: {doing} failed: {e}"),
    }
}

/// A fixed instant plus `secs` seconds (whole seconds survive every backend's precision).
pub(crate) fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_893_456_000 + secs, 0)
        .single()
        .unwrap_or_else(Utc::now)
}

/// Whether every field of `expected` (an object) is present with the same value in `actual`.
/// Stores may add columns of their own; they must not change or drop ours.
pub(crate) fn contains(actual: &Value, expected: &Value) -> bool {
    match (actual, expected) {
        (Value::Object(a), Value::Object(e)) => e
            .iter()
            .all(|(k, v)| a.get(k).is_some_and(|av| same_value(av, v))),
        _ => same_value(actual, expected),
    }
}

fn same_value(a: &Value, b: &Value) -> bool {
    match (a.as_f64(), b.as_f64()) {
        (Some(x), Some(y)) => x == y,
        _ => a == b,
    }
}
