//! Objects with a fixed set of keys (a PHONES or FULL_NAME value), built from a prebuilt map.
//!
//! Inserting a key into a `serde_json::Map` hashes it; cloning a map copies the stored hashes
//! instead. A transform that always outputs the same keys keeps one map of those keys and
//! clones it for each value, then moves the values in.

use serde_json::{Map, Value};

use crate::template::put_into_null;

/// The keys of an object a transform outputs, in output order.
#[derive(Debug, Clone)]
pub(crate) struct FixedObject<const N: usize> {
    /// The keys, each holding `null`.
    skeleton: Map<String, Value>,
}

impl<const N: usize> FixedObject<N> {
    /// The shape of objects with `keys`, in this order (the keys must be distinct).
    pub(crate) fn new(keys: [&str; N]) -> Self {
        let skeleton: Map<String, Value> = keys
            .iter()
            .map(|k| ((*k).to_owned(), Value::Null))
            .collect();
        debug_assert_eq!(skeleton.len(), N, "keys must be distinct");
        FixedObject { skeleton }
    }

    /// The object with the n-th key holding `values[n]`.
    pub(crate) fn build(&self, values: [Value; N]) -> Value {
        let mut map = self.skeleton.clone();
        for (slot, value) in map.values_mut().zip(values) {
            put_into_null(slot, value);
        }
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn builds_what_inserting_the_keys_in_order_builds() {
        let shape = FixedObject::new(["b", "a", "c"]);
        let built = shape.build([json!(1), json!("x"), json!(null)]);
        let mut inserted = Map::new();
        inserted.insert("b".to_owned(), json!(1));
        inserted.insert("a".to_owned(), json!("x"));
        inserted.insert("c".to_owned(), json!(null));
        assert_eq!(
            serde_json::to_string(&built).unwrap(),
            serde_json::to_string(&Value::Object(inserted)).unwrap()
        );
    }
}
