//! Properties of the three-way merge over every combination of small values: each field takes
//! the value of the side that changed it since both last agreed, only a field both sides changed
//! goes to the policy, and without agreed values every differing field does.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use twenty_sync_core::engine::{AgreedFields, ConflictPolicy, FieldMap, Winner, merge};

const FIELDS: [&str; 3] = ["a", "b", "c"];

/// A field's value on one side: absent, null, or one of a few values.
fn value() -> impl Strategy<Value = Option<Value>> {
    prop_oneof![
        Just(None),
        Just(Some(Value::Null)),
        Just(Some(json!(0))),
        Just(Some(json!(1))),
        Just(Some(json!("x"))),
    ]
}

fn record(values: &[Option<Value>]) -> Value {
    let mut o = Map::new();
    for (f, v) in FIELDS.iter().zip(values) {
        if let Some(v) = v {
            o.insert((*f).to_owned(), v.clone());
        }
    }
    Value::Object(o)
}

/// Absent and null are one value.
fn norm(v: &Option<Value>) -> Option<&Value> {
    v.as_ref().filter(|v| !v.is_null())
}

proptest! {
    #[test]
    fn each_field_takes_the_change_and_only_both_changed_fields_are_conflicts(
        base in proptest::collection::vec(value(), 3),
        local in proptest::collection::vec(value(), 3),
        twenty in proptest::collection::vec(value(), 3),
        twenty_wins in any::<bool>(),
        agreed_known in any::<bool>(),
    ) {
        let policy = if twenty_wins { ConflictPolicy::TwentyWins } else { ConflictPolicy::LocalWins };
        let mut map = FieldMap::new("c", "people", "person").on_conflict(policy);
        for f in FIELDS {
            map = map.field(f, f);
        }
        let agreed = AgreedFields::of(&map, &record(&base));
        let (l, t) = (record(&local), record(&twenty));
        let r = merge(&map, agreed_known.then_some(&agreed), &l, &t, None, None);

        for (i, f) in FIELDS.iter().enumerate() {
            let conflict = r.fields.iter().find(|(p, _)| p == f).map(|(_, w)| *w);
            let one_sided = r.one_sided.iter().find(|(p, _)| p == f).map(|(_, w)| *w);
            let merged = r.merged.get(*f);
            if norm(&local[i]) == norm(&twenty[i]) {
                // No difference: untouched, not listed.
                prop_assert_eq!((conflict, one_sided), (None, None), "{}", f);
                prop_assert_eq!(merged, local[i].as_ref(), "{}", f);
                continue;
            }
            let local_changed = norm(&local[i]) != norm(&base[i]);
            let twenty_changed = norm(&twenty[i]) != norm(&base[i]);
            let expected = match (agreed_known, local_changed, twenty_changed) {
                (true, true, false) => (None, Some(Winner::Local)),
                (true, false, true) => (None, Some(Winner::Twenty)),
                _ => {
                    let w = if twenty_wins { Winner::Twenty } else { Winner::Local };
                    (Some(w), None)
                }
            };
            prop_assert_eq!((conflict, one_sided), expected, "{}", f);
            let winner = expected.0.or(expected.1);
            let want = match winner {
                Some(Winner::Twenty) => Some(twenty[i].clone().unwrap_or(Value::Null)),
                _ => local[i].clone(),
            };
            prop_assert_eq!(merged, want.as_ref(), "{}", f);
        }
        prop_assert_eq!(r.is_conflict(), !r.fields.is_empty());
    }
}
