//! Output records built from a prebuilt skeleton: every target key of one direction, in rule
//! order, compiled once. A record starts as a clone of the skeleton (cloning a map copies its
//! hash table and each key's stored hash: no key is hashed again), each rule writes its value
//! into its slot by position, and the slots no rule filled are dropped at the end.
//!
//! Only plans whose targets are one key (`jobTitle`) or a key and a sub-key
//! (`name.firstName`), none of them overlapping, get a skeleton; the others write through
//! [`FieldPath::set`] as before.

use serde_json::{Map, Value};

use crate::path::FieldPath;

/// Where one rule's value goes: the position of its key among the record's keys, and for a
/// sub-key the position inside that key's object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Slot {
    Top(usize),
    Sub(usize, usize),
}

/// The skeleton of a direction's output records and the slot of each of its rules.
#[derive(Debug)]
pub(crate) struct OutputTemplate {
    /// An object holding every target key, `null` in every slot.
    skeleton: Map<String, Value>,
    /// The slot of the n-th rule of the direction's order.
    slots: Vec<Slot>,
    /// Whether each top-level key holds sub-keys (an object of slots) rather than one slot.
    grouped: Vec<bool>,
}

impl OutputTemplate {
    /// The template for rules writing `targets` (in application order), or `None` when a
    /// target is deeper than a key and a sub-key, has an array index, or overlaps another.
    pub(crate) fn new<'a>(targets: impl IntoIterator<Item = &'a FieldPath>) -> Option<Self> {
        let mut skeleton = Map::new();
        let mut slots = Vec::new();
        let mut grouped: Vec<bool> = Vec::new();
        for path in targets {
            let (root, sub) = path.key_and_sub_key()?;
            let top = match skeleton.keys().position(|k| k == root) {
                Some(i) => i,
                None => {
                    skeleton.insert(
                        root.to_owned(),
                        match sub {
                            Some(_) => Value::Object(Map::new()),
                            None => Value::Null,
                        },
                    );
                    grouped.push(sub.is_some());
                    skeleton.len() - 1
                }
            };
            match (sub, grouped[top]) {
                (Some(sub), true) => {
                    let Some(Value::Object(inner)) = skeleton.values_mut().nth(top) else {
                        return None;
                    };
                    if inner.contains_key(sub) {
                        return None;
                    }
                    inner.insert(sub.to_owned(), Value::Null);
                    slots.push(Slot::Sub(top, inner.len() - 1));
                }
                (None, false) if slots.iter().all(|s| *s != Slot::Top(top)) => {
                    slots.push(Slot::Top(top));
                }
                // A key written whole and by sub-keys, or twice.
                _ => return None,
            }
        }
        Some(OutputTemplate {
            skeleton,
            slots,
            grouped,
        })
    }

    /// A new output record: every slot `null`.
    pub(crate) fn start(&self) -> Value {
        Value::Object(self.skeleton.clone())
    }

    /// Writes the n-th rule's value into `record` (made by [`start`](Self::start)).
    pub(crate) fn put(&self, record: &mut Value, n: usize, value: Value) {
        let Value::Object(map) = record else { return };
        match self.slots[n] {
            Slot::Top(i) => {
                if let Some(slot) = map.values_mut().nth(i) {
                    *slot = value;
                }
            }
            Slot::Sub(i, j) => {
                if let Some(Value::Object(inner)) = map.values_mut().nth(i) {
                    if let Some(slot) = inner.values_mut().nth(j) {
                        *slot = value;
                    }
                }
            }
        }
    }

    /// Drops the slots no rule filled, and keys whose sub-keys were all left empty. Values the
    /// rules wrote are kept as they are (a `null` inside a written object stays).
    pub(crate) fn finish(&self, record: &mut Value) {
        let Value::Object(map) = record else { return };
        let mut unfilled = false;
        for (value, &grouped) in map.values_mut().zip(&self.grouped) {
            match value {
                Value::Null => unfilled = true,
                Value::Object(inner) if grouped => {
                    if inner.values().any(Value::is_null) {
                        inner.retain(|_, v| !v.is_null());
                    }
                    if inner.is_empty() {
                        *value = Value::Null;
                        unfilled = true;
                    }
                }
                _ => {}
            }
        }
        if unfilled {
            map.retain(|_, v| !v.is_null());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn paths(p: &[&str]) -> Vec<FieldPath> {
        p.iter().map(|p| FieldPath::parse(p).unwrap()).collect()
    }

    /// What writing `values` through `FieldPath::set` gives (the reference).
    fn by_set(targets: &[FieldPath], values: &[Value]) -> Value {
        let mut out = Value::Object(Map::new());
        for (t, v) in targets.iter().zip(values) {
            if !v.is_null() {
                t.set(&mut out, v.clone());
            }
        }
        out
    }

    #[test]
    fn fills_slots_and_drops_the_unfilled_ones_as_set_would_leave_them_out() {
        let targets = paths(&[
            "name.firstName",
            "city",
            "name.lastName",
            "emails.primaryEmail",
            "doc",
        ]);
        let t = OutputTemplate::new(&targets).expect("shallow targets get a template");
        let cases = [
            vec![
                json!("Ada"),
                json!("Paris"),
                json!("L"),
                json!("a@b.co"),
                json!({"x": null}),
            ],
            vec![
                Value::Null,
                json!("Paris"),
                json!("L"),
                Value::Null,
                Value::Null,
            ],
            vec![
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
                Value::Null,
            ],
            vec![
                json!("Ada"),
                Value::Null,
                Value::Null,
                json!("a@b.co"),
                json!([null]),
            ],
        ];
        for values in cases {
            let mut out = t.start();
            for (n, v) in values.iter().enumerate() {
                if !v.is_null() {
                    t.put(&mut out, n, v.clone());
                }
            }
            t.finish(&mut out);
            assert_eq!(out, by_set(&targets, &values), "{values:?}");
        }
    }

    #[test]
    fn deep_indexed_or_overlapping_targets_get_no_template() {
        for bad in [
            vec!["a.b.c"],
            vec!["a[0]"],
            vec!["name", "name.firstName"],
            vec!["name.firstName", "name"],
            vec!["city", "city"],
            vec!["name.first", "name.first"],
        ] {
            assert!(OutputTemplate::new(&paths(&bad)).is_none(), "{bad:?}");
        }
    }
}
