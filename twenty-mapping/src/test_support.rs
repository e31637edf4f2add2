//! Strategies shared by the crate's property tests.

use proptest::prelude::*;
use serde_json::{Value, json};

/// The JSON scalars other than strings, each equally likely: null, booleans, the whole `u64`
/// and `i64` ranges, and finite floats. Tests add the strings, keys and nesting they need
/// (give this arm weight 5 to keep each scalar as likely as one of their own arms).
pub(crate) fn arb_non_string_scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<u64>().prop_map(|n| json!(n)),
        any::<i64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| json!(f)),
    ]
}
