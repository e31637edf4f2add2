//! Projections of a record onto the fields each direction writes, and their hashes.
//!
//! The engine compares hashes, never values, to decide "unchanged":
//! - `local_hash` = hash of the local record restricted to the fields a pull may write (all
//!   mapped fields except those owned by `Local`), in local shape;
//! - `twenty_hash` = hash of the Twenty record restricted to the fields a push may write (all
//!   mapped fields except those owned by `Twenty`), in Twenty shape.
//!
//! Both are stored in [`RecordState`](crate::RecordState) after every write, in either
//! direction, which is what keeps our own writes from coming back as changes. Both are computed
//! from the values at the view's paths when the paths allow it (`twenty_mapping::PathsHash`),
//! byte for byte the hash of the built view, which is built only when they do not.

use serde_json::{Map, Value};

use super::mapper::{EntityMapper, FieldOwner, FieldSpec, content_hash, get_path, set_path};

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

/// `local_hash` of a local record: the hash of [`pull_view`], computed without building it when
/// the mapping's local paths allow (see [`view_hash`]).
pub(crate) fn local_hash(m: &dyn EntityMapper, local: &Value) -> String {
    view_hash(m, Side::Local, local).unwrap_or_else(|| content_hash(&pull_view(m, local)))
}

/// `twenty_hash` of a Twenty record (full Twenty shape): the hash of [`push_view`], computed
/// without building it when the mapping's Twenty paths allow (see [`view_hash`]).
pub(crate) fn twenty_hash(m: &dyn EntityMapper, twenty: &Value) -> String {
    view_hash(m, Side::Twenty, twenty).unwrap_or_else(|| content_hash(&push_view(m, twenty)))
}

/// Which view a [`view_hash`] is of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    /// [`pull_view`]: local paths of the fields not owned by `Local`, nulls left out.
    Local,
    /// [`push_view`]: Twenty paths of the fields not owned by `Twenty`, nulls kept.
    Twenty,
}

impl Side {
    fn includes(self, f: &FieldSpec) -> bool {
        match self {
            Side::Local => f.owner != FieldOwner::Local,
            Side::Twenty => f.owner != FieldOwner::Twenty,
        }
    }

    fn path(self, f: &FieldSpec) -> &str {
        match self {
            Side::Local => &f.local_path,
            Side::Twenty => &f.twenty_path,
        }
    }
}

/// The paths of one view of one mapper's fields, and their hasher (`None`: the paths overlap or
/// are deeper than a key and a sub-key, and the view is built and hashed instead).
struct ViewPaths {
    side: Side,
    /// Where the fields were when this was made, and how many: a mapper's fields stay put while
    /// it lives; `paths` tells a later mapper at the same address apart.
    fields_at: usize,
    fields_len: usize,
    /// The included fields, by index, with their paths.
    paths: Vec<(usize, String)>,
    hasher: Option<twenty_mapping::PathsHash>,
}

impl ViewPaths {
    fn new(fields: &[FieldSpec], side: Side) -> ViewPaths {
        let paths: Vec<(usize, String)> = fields
            .iter()
            .enumerate()
            .filter(|(_, f)| side.includes(f))
            .map(|(i, f)| (i, side.path(f).to_owned()))
            .collect();
        let hasher = twenty_mapping::PathsHash::new(paths.iter().map(|(_, p)| p.as_str()));
        ViewPaths {
            side,
            fields_at: fields.as_ptr() as usize,
            fields_len: fields.len(),
            paths,
            hasher,
        }
    }

    /// Whether this was made from `fields` as they are now.
    fn describes(&self, fields: &[FieldSpec], side: Side) -> bool {
        self.side == side
            && self.fields_at == fields.as_ptr() as usize
            && self.fields_len == fields.len()
            && fields.iter().filter(|f| side.includes(f)).count() == self.paths.len()
            && self
                .paths
                .iter()
                .all(|(i, p)| side.includes(&fields[*i]) && side.path(&fields[*i]) == p)
    }
}

/// Views kept per thread; a run uses one or two per entity.
const VIEW_CACHE: usize = 16;

/// The hash of `m`'s `side` view of `record`, from the values at the view's paths (no view is
/// built), or `None` when the paths need the view built (see [`ViewPaths`]). Equal to
/// `content_hash` of the built view, byte for byte: hashes stored by earlier versions still match.
fn view_hash(m: &dyn EntityMapper, side: Side, record: &Value) -> Option<String> {
    thread_local! {
        static VIEWS: std::cell::RefCell<Vec<ViewPaths>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    let fields = m.fields();
    VIEWS.with(|views| {
        let mut views = views.try_borrow_mut().ok()?;
        let at = match views.iter().position(|v| v.describes(fields, side)) {
            Some(at) => at,
            None => {
                if views.len() >= VIEW_CACHE {
                    views.remove(0);
                }
                views.push(ViewPaths::new(fields, side));
                views.len() - 1
            }
        };
        let view = &views[at];
        let hasher = view.hasher.as_ref()?;
        let value_at =
            |path: &str| get_path(record, path).filter(|v| side == Side::Twenty || !v.is_null());
        const STACK: usize = 32;
        let hash = if view.paths.len() <= STACK {
            let mut values: [Option<&Value>; STACK] = [None; STACK];
            for (slot, (_, path)) in values.iter_mut().zip(&view.paths) {
                *slot = value_at(path);
            }
            hasher.hash(&values[..view.paths.len()])
        } else {
            let values: Vec<Option<&Value>> = view.paths.iter().map(|(_, p)| value_at(p)).collect();
            hasher.hash(&values)
        };
        Some(hash.to_string())
    })
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
    fn view_hashes_equal_the_hashes_of_the_built_views() {
        let shallow = FieldMap::new("c", "people", "person")
            .field("email", "emails.primaryEmail")
            .field("first", "name.firstName")
            .field("last", "name.lastName")
            .owned_field("score", "score", FieldOwner::Twenty)
            .owned_field("note", "jobTitle", FieldOwner::Local)
            .field("city", "city");
        // `name` whole and by a sub-key, and a path three keys deep: built and hashed instead.
        let overlapping = FieldMap::new("c", "people", "person")
            .field("name", "name")
            .field("first", "name.firstName")
            .field("a.b", "x.y.z");
        let records = [
            json!({}),
            json!({"email": "a@b.c", "first": "A", "last": null, "score": 3, "note": "n",
                   "city": "P", "name": {"firstName": "Z"}, "a": {"b": [1]},
                   "emails": {"primaryEmail": "a@b.c"}, "jobTitle": null,
                   "x": {"y": {"z": true}}}),
            json!({"name": {"firstName": null, "lastName": "L"}, "emails": null,
                   "city": {"nested": 1}, "first": null}),
            json!({"emails": {"primaryEmail": null}, "jobTitle": "", "score": null}),
        ];
        for m in [&shallow, &overlapping] {
            for r in &records {
                assert_eq!(local_hash(m, r), content_hash(&pull_view(m, r)), "{r}");
                assert_eq!(twenty_hash(m, r), content_hash(&push_view(m, r)), "{r}");
            }
        }
        assert!(view_hash(&shallow, Side::Twenty, &records[1]).is_some());
        assert!(view_hash(&overlapping, Side::Twenty, &records[1]).is_none());
    }

    #[test]
    fn a_mapper_at_the_address_of_a_dropped_one_gets_its_own_view() {
        // Mappers made and dropped in turn may reuse one address for their fields: the cached
        // paths tell them apart.
        for (i, field) in ["city", "jobTitle", "name.firstName", "city"]
            .iter()
            .enumerate()
        {
            let m = FieldMap::new("c", "people", "person").field("v", field);
            let twenty = json!({"city": 1, "jobTitle": 2, "name": {"firstName": 3}});
            assert_eq!(
                twenty_hash(&m, &twenty),
                content_hash(&push_view(&m, &twenty)),
                "mapper {i}"
            );
        }
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
