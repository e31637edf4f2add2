//! Projections of a record onto the fields each direction writes, and their hashes.
//!
//! The engine compares hashes, never values, to decide "unchanged":
//! - `local_hash` = hash of the local record restricted to the fields a pull may write (all
//!   mapped fields except those owned by `Local`), in local shape;
//! - `twenty_hash` = hash of the Twenty record restricted to the fields a push may write (all
//!   mapped fields except those owned by `Twenty`), in Twenty shape.
//!
//! Both are stored in [`RecordState`](crate::RecordState) after every write, in either
//! direction, which is what keeps our own writes from coming back as changes.

use serde_json::{Map, Value};

use super::mapper::{content_hash, get_path, set_path, EntityMapper, FieldOwner};

/// The local fields a pull may write, in local shape. A `null` field is left out like a
/// missing one: a table stores both as NULL and reads them back as `null`, so a record the pull
/// wrote without a field must hash the same when it is read back with that field `null`
/// (otherwise every such record looks changed locally, and a sync turns a change made only in
/// Twenty into a conflict).
pub(crate) fn pull_view(m: &dyn EntityMapper, local: &Value) -> Value {
    let mut out = Value::Object(Map::new());
    for f in m.fields() {
        if f.owner == FieldOwner::Local {
            continue;
        }
        if let Some(v) = get_path(local, &f.local_path).filter(|v| !v.is_null()) {
            set_path(&mut out, &f.local_path, v.clone());
        }
    }
    out
}

/// The Twenty fields a push may write, in Twenty shape.
pub(crate) fn push_view(m: &dyn EntityMapper, twenty: &Value) -> Value {
    let mut out = Value::Object(Map::new());
    for f in m.fields() {
        if f.owner == FieldOwner::Twenty {
            continue;
        }
        if let Some(v) = get_path(twenty, &f.twenty_path) {
            set_path(&mut out, &f.twenty_path, v.clone());
        }
    }
    out
}

/// `local_hash` of a local record.
pub(crate) fn local_hash(m: &dyn EntityMapper, local: &Value) -> String {
    content_hash(&pull_view(m, local))
}

/// `twenty_hash` of a Twenty record (full Twenty shape).
pub(crate) fn twenty_hash(m: &dyn EntityMapper, twenty: &Value) -> String {
    content_hash(&push_view(m, twenty))
}

/// Whether `v` holds no value: `null`, `""`, `[]` or `{}`. Twenty answers these for what was
/// never set (composite sub-fields, a TEXT `""` stored as null).
pub(crate) fn is_empty_value(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(items) => items.is_empty(),
        Value::Object(map) => map.is_empty(),
        _ => false,
    }
}

/// `twenty_hash` of a Twenty record with empty values (`null`, `""`, `[]`, `{}`) left out, at any
/// depth. Twenty fills the sub-fields of a composite we did not send (`additionalPhones: []`,
/// `addressStreet2: ""`...), so the record it stores hashes differently from the one we sent
/// even when nothing changed; this hash equals the sent one's in that case. Used only to
/// recognise our own write (a mismatch just means "maybe changed").
pub(crate) fn twenty_hash_sparse(m: &dyn EntityMapper, twenty: &Value) -> String {
    fn prune(v: &Value) -> Option<Value> {
        match v {
            v if is_empty_value(v) => None,
            Value::Object(o) => {
                let out: Map<String, Value> = o
                    .iter()
                    .filter_map(|(k, v)| prune(v).map(|v| (k.clone(), v)))
                    .collect();
                (!out.is_empty()).then_some(Value::Object(out))
            }
            other => Some(other.clone()),
        }
    }
    let view = push_view(m, twenty);
    content_hash(&prune(&view).unwrap_or(Value::Object(Map::new())))
}

/// A patch setting `paths` of `new` (Twenty shape). Composite fields are sent whole: each
/// changed top-level field starts from its `current` value in Twenty, so sub-fields the mapping
/// does not cover are kept.
pub(crate) fn patch_of(new: &Value, current: Option<&Value>, paths: &[String]) -> Value {
    let mut out = Value::Object(Map::new());
    for p in paths {
        let top = p.split('.').next().unwrap_or(p);
        if get_path(&out, top).is_none() {
            let base = current
                .and_then(|c| get_path(c, top))
                .filter(|v| v.is_object())
                .cloned()
                .unwrap_or(Value::Null);
            set_path(&mut out, top, base);
        }
        set_path(
            &mut out,
            p,
            get_path(new, p).cloned().unwrap_or(Value::Null),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::mapper::FieldMap;
    use serde_json::json;

    #[test]
    fn owned_fields_are_left_out_of_the_other_sides_view() {
        let m = FieldMap::new("c", "people", "person")
            .field("email", "emails.primaryEmail")
            .owned_field("score", "score", FieldOwner::Twenty)
            .owned_field("note", "jobTitle", FieldOwner::Local);
        let tw = json!({"emails": {"primaryEmail": "a@b.c"}, "score": 3, "jobTitle": "x"});
        assert_eq!(
            push_view(&m, &tw),
            json!({"emails": {"primaryEmail": "a@b.c"}, "jobTitle": "x"})
        );
        let local = json!({"email": "a@b.c", "score": 3, "note": "x"});
        assert_eq!(pull_view(&m, &local), json!({"email": "a@b.c", "score": 3}));
        // `null` hashes like missing (a SQL store reads a missing field back as NULL).
        let mut read_back = local.clone();
        read_back["email"] = Value::Null;
        let mut missing = local.clone();
        missing.as_object_mut().unwrap().remove("email");
        assert_eq!(local_hash(&m, &read_back), local_hash(&m, &missing));
        assert_ne!(local_hash(&m, &read_back), local_hash(&m, &local));
    }

    #[test]
    fn patch_keeps_unmapped_sub_fields_of_composites() {
        let v = json!({"name": {"firstName": "A", "lastName": "B"}, "city": "X"});
        let cur = json!({"name": {"firstName": "Z", "lastName": "B"}, "city": "Y"});
        assert_eq!(
            patch_of(&v, Some(&cur), &["name.firstName".into()]),
            json!({"name": {"firstName": "A", "lastName": "B"}})
        );
        assert_eq!(patch_of(&v, None, &["city".into()]), json!({"city": "X"}));
    }
}
