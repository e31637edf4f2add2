//! Output records built from a prebuilt skeleton: every target key of one direction, in rule
//! order, compiled once. The rules' values are collected first (one slot per rule); the record is
//! then a clone of the skeleton (cloning a map copies its hash table and each key's stored hash:
//! no key is hashed again) with each value moved into its key in one pass, and the keys no rule
//! filled dropped.
//!
//! Only plans whose targets are one key (`jobTitle`) or a key and a sub-key
//! (`name.firstName`), none of them overlapping, get a skeleton; the others write through
//! [`FieldPath::set`] as before.

use serde_json::{Map, Value};

use crate::path::FieldPath;

/// What one top-level key of the skeleton holds: the value of one rule, or an object of sub-keys
/// each holding the value of one rule. Rules are numbered in the direction's order.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Layout {
    One(usize),
    Group(Vec<usize>),
}

/// The skeleton of a direction's output records and where each rule's value goes.
#[derive(Debug)]
pub(crate) struct OutputTemplate {
    /// An object holding every target key, `null` in every slot.
    skeleton: Map<String, Value>,
    /// What each top-level key of the skeleton holds, in the skeleton's order.
    layout: Vec<Layout>,
    /// The number of rules (slots) the template expects values for.
    rules: usize,
}

impl OutputTemplate {
    /// The template for rules writing `targets` (in application order), or `None` when a
    /// target is deeper than a key and a sub-key, has an array index, or overlaps another.
    pub(crate) fn new<'a>(targets: impl IntoIterator<Item = &'a FieldPath>) -> Option<Self> {
        let mut skeleton = Map::new();
        let mut layout: Vec<Layout> = Vec::new();
        let mut rules = 0;
        for (n, path) in targets.into_iter().enumerate() {
            rules = n + 1;
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
                    layout.push(match sub {
                        Some(_) => Layout::Group(Vec::new()),
                        None => Layout::One(n),
                    });
                    skeleton.len() - 1
                }
            };
            match (sub, &mut layout[top]) {
                (Some(sub), Layout::Group(subs)) => {
                    let Some(Value::Object(inner)) = skeleton.values_mut().nth(top) else {
                        return None;
                    };
                    if inner.contains_key(sub) {
                        return None;
                    }
                    inner.insert(sub.to_owned(), Value::Null);
                    subs.push(n);
                }
                (None, Layout::One(first)) if *first == n => {}
                // A key written whole and by sub-keys, or twice.
                _ => return None,
            }
        }
        Some(OutputTemplate {
            skeleton,
            layout,
            rules,
        })
    }

    /// The number of rules (value slots) of the template.
    pub(crate) fn rules(&self) -> usize {
        self.rules
    }

    /// The output record: the skeleton with the n-th rule's value (`values[n]`, `null` when the
    /// rule wrote nothing) moved into its key; keys no rule filled are left out, and so are keys
    /// whose sub-keys were all left empty. Values the rules wrote are kept as they are (a `null`
    /// inside a written object stays). Takes the values out of `values`.
    pub(crate) fn fill(&self, values: &mut [Value]) -> Value {
        let mut map = self.skeleton.clone();
        let mut unfilled = false;
        for (slot, layout) in map.values_mut().zip(&self.layout) {
            match layout {
                Layout::One(n) => {
                    // A swap moves the value in and the skeleton's null out: nothing to drop.
                    std::mem::swap(slot, &mut values[*n]);
                    unfilled |= slot.is_null();
                }
                Layout::Group(subs) => {
                    let Value::Object(inner) = slot else { continue };
                    let mut empty_subs = 0;
                    for (sub_slot, n) in inner.values_mut().zip(subs) {
                        std::mem::swap(sub_slot, &mut values[*n]);
                        empty_subs += usize::from(sub_slot.is_null());
                    }
                    if empty_subs == subs.len() {
                        *slot = Value::Null;
                        unfilled = true;
                    } else if empty_subs > 0 {
                        inner.retain(|_, v| !v.is_null());
                    }
                }
            }
        }
        if unfilled {
            map.retain(|_, v| !v.is_null());
        }
        Value::Object(map)
    }
}

/// Writes `value` into `slot`, which holds `null`. A null owns nothing, so the old value is
/// forgotten instead of dropped: dropping a `Value` is an out-of-line call even for a null, and
/// records are filled one slot at a time.
pub(crate) fn put_into_null(slot: &mut Value, value: Value) {
    let old = std::mem::replace(slot, value);
    debug_assert!(old.is_null(), "the slot was already filled");
    std::mem::forget(old);
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
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

    /// The keys a template record lists, in order: each key (and sub-key) where the first rule
    /// writing it puts it, as in the skeleton, and only those present in `record`.
    fn skeleton_order(targets: &[FieldPath], record: &Value) -> Vec<String> {
        let present = |name: &str| FieldPath::parse(name).unwrap().get(record).is_some();
        let mut roots: Vec<&str> = Vec::new();
        for path in targets {
            let (key, _) = path.key_and_sub_key().unwrap();
            if !roots.contains(&key) {
                roots.push(key);
            }
        }
        let mut order = Vec::new();
        for root in roots.into_iter().filter(|r| present(r)) {
            order.push(root.to_owned());
            for path in targets {
                if let Some((key, Some(sub))) = path.key_and_sub_key() {
                    if key == root && present(path.as_str()) {
                        order.push(format!("{key}.{sub}"));
                    }
                }
            }
        }
        order
    }

    /// The keys `record` lists, in order, sub-keys of objects as `key.sub`.
    fn listed_order(record: &Value) -> Vec<String> {
        let mut out = Vec::new();
        for (key, value) in record.as_object().unwrap() {
            out.push(key.clone());
            if let Value::Object(inner) = value {
                out.extend(inner.keys().map(|sub| format!("{key}.{sub}")));
            }
        }
        out
    }

    /// Fills the template and checks the record against the reference, and the order of its
    /// keys against the skeleton's.
    fn check(t: &OutputTemplate, targets: &[FieldPath], values: &[Value]) {
        let want = by_set(targets, values);
        let mut slots = values.to_vec();
        let got = t.fill(&mut slots);
        assert!(slots.iter().all(Value::is_null), "fill takes every value");
        assert_eq!(got, want, "{values:?}");
        let whole_values: Vec<String> = targets
            .iter()
            .filter(|p| p.key_and_sub_key().is_some_and(|(_, sub)| sub.is_none()))
            .map(|p| p.as_str().to_owned())
            .collect();
        // Objects written whole by a rule keep their own order; only slot keys are compared.
        let slot_keys = |keys: Vec<String>| -> Vec<String> {
            keys.into_iter()
                .filter(|k| !whole_values.iter().any(|w| k.starts_with(&format!("{w}."))))
                .collect()
        };
        assert_eq!(
            slot_keys(listed_order(&got)),
            skeleton_order(targets, &want),
            "{values:?}"
        );
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
        assert_eq!(t.rules(), 5);
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
            check(&t, &targets, &values);
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

    /// Keys that sort differently as bytes, as characters and by length, or share long prefixes.
    const KEYS: [&str; 12] = [
        "a",
        "B",
        "é",
        "z",
        "primaryPhoneNumber",
        "primaryPhoneCountryCode",
        "primaryPhoneCallingCode",
        "primaryPhone",
        "ab",
        "a\u{0}",
        "日本",
        "",
    ];

    fn arb_value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            5 => crate::test_support::arb_non_string_scalar(),
            1 => "[a-zé日 ]{0,12}".prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 5, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..5).prop_map(Value::Array),
                prop::collection::vec((prop::sample::select(KEYS.to_vec()), inner), 0..6).prop_map(
                    |kv| Value::Object(kv.into_iter().map(|(k, v)| (k.to_owned(), v)).collect())
                ),
            ]
        })
    }

    /// Targets: distinct keys and sub-keys, in any order, none overlapping.
    fn arb_targets() -> impl Strategy<Value = Vec<FieldPath>> {
        let names = [
            "a",
            "B",
            "é",
            "z",
            "primaryPhone",
            "ab",
            "日本",
            "name",
            "emails",
        ];
        prop::collection::vec(
            (
                prop::sample::select(names.to_vec()),
                prop::option::of(prop::sample::select(KEYS[..11].to_vec())),
            ),
            0..10,
        )
        .prop_map(|picked| {
            let mut out: Vec<FieldPath> = Vec::new();
            for (key, sub) in picked {
                let text = match sub {
                    // Sub-keys that are not valid path segments are left out.
                    Some(sub) if !sub.is_empty() && !sub.contains('\u{0}') => {
                        format!("{key}.{sub}")
                    }
                    _ => key.to_owned(),
                };
                let path = FieldPath::parse(&text).unwrap();
                if out.iter().all(|p| !p.overlaps(&path)) {
                    out.push(path);
                }
            }
            out
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        /// Records filled, partly filled or empty, with values of every kind (nested objects with
        /// unicode and prefix-sharing keys, arrays, every kind of number): the template's record
        /// equals the one `set` writes.
        #[test]
        fn template_record_equals_the_generic_one(
            targets in arb_targets(),
            values in prop::collection::vec(arb_value(), 10),
        ) {
            let t = OutputTemplate::new(&targets).expect("shallow distinct targets");
            check(&t, &targets, &values[..targets.len()]);
        }
    }
}
