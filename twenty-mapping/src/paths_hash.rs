//! Content hashes of a record's projection onto a fixed set of dotted paths, computed from the
//! borrowed values at those paths: no projected record is built.
//!
//! The sync engine stores, for every record, the hash of the record restricted to the fields a
//! direction writes. Building that projection clones each value and allocates every key and map;
//! [`PathsHash`] works out the order of the keys once, then encodes the borrowed values in that
//! order, byte for byte what [`content_hash`](crate::content_hash) encodes for the projection.

use serde_json::Value;

use crate::ContentHash;
use crate::hash::{encode, encode_object_header, encoded_key, hash_encoding, patch_object_len};

/// What one top-level key of the projection holds, with keys in byte order.
#[derive(Debug, Clone)]
enum Content {
    /// The value of one path.
    One(usize),
    /// An object of sub-keys, each the value of one path.
    Group(Vec<(Box<[u8]>, usize)>),
}

/// Hashes the projection of a record onto `paths` (dotted: `city`, `name.firstName`), given the
/// value found at each path. Only paths of one key or a key and a sub-key, none a prefix of
/// another and none repeated, get one (see [`PathsHash::new`]).
///
/// ```
/// use serde_json::json;
/// use twenty_mapping::{content_hash, PathsHash};
/// let paths = PathsHash::new(["name.lastName", "city", "name.firstName"]).unwrap();
/// let (first, city) = (json!("Ada"), json!("Paris"));
/// // `name.lastName` absent: the projection is {"name": {"firstName": "Ada"}, "city": "Paris"}.
/// let hash = paths.hash(&[None, Some(&city), Some(&first)]);
/// assert_eq!(hash, content_hash(&json!({"city": "Paris", "name": {"firstName": "Ada"}})));
/// ```
#[derive(Debug, Clone)]
pub struct PathsHash {
    /// The top-level keys in byte order, each with its encoding.
    sorted: Vec<(Box<[u8]>, Content)>,
    paths: usize,
}

impl PathsHash {
    /// The hasher for `paths`, or `None` when a path is empty, has an empty segment or more than
    /// two, repeats, or is a prefix of another (`name` and `name.firstName`): the projection
    /// then depends on the order the paths are written in, and the caller hashes the projected
    /// record instead.
    ///
    /// ```
    /// use twenty_mapping::PathsHash;
    /// assert!(PathsHash::new(["city", "name.firstName", "name.lastName"]).is_some());
    /// assert!(PathsHash::new(["name", "name.firstName"]).is_none()); // a prefix of another
    /// assert!(PathsHash::new(["a.b.c"]).is_none()); // more than two keys
    /// ```
    pub fn new<'a>(paths: impl IntoIterator<Item = &'a str>) -> Option<PathsHash> {
        // (top-level key, sub-key) of each path, in the given order.
        let mut parsed: Vec<(&str, Option<&str>)> = Vec::new();
        for path in paths {
            let mut segments = path.split('.');
            let key = segments.next().filter(|k| !k.is_empty())?;
            let sub = match segments.next() {
                Some("") => return None,
                other => other,
            };
            if segments.next().is_some() {
                return None;
            }
            parsed.push((key, sub));
        }
        let mut tops: Vec<(&str, Content)> = Vec::new();
        for (n, &(key, sub)) in parsed.iter().enumerate() {
            match (tops.iter_mut().find(|(k, _)| *k == key), sub) {
                (None, None) => tops.push((key, Content::One(n))),
                (None, Some(sub)) => {
                    tops.push((key, Content::Group(vec![(encoded_key(sub), n)])));
                }
                (Some((_, Content::Group(subs))), Some(sub)) => {
                    if parsed[..n].contains(&(key, Some(sub))) {
                        return None;
                    }
                    subs.push((encoded_key(sub), n));
                }
                // A key written whole twice, or whole and by sub-keys.
                (Some(_), _) => return None,
            }
        }
        // Keys in byte order (the encodings start with the length: sort by the keys).
        for (_, content) in &mut tops {
            if let Content::Group(subs) = content {
                subs.sort_by(|a, b| parsed[a.1].1.cmp(&parsed[b.1].1));
            }
        }
        tops.sort_by(|a, b| a.0.cmp(b.0));
        Some(PathsHash {
            sorted: tops
                .into_iter()
                .map(|(key, content)| (encoded_key(key), content))
                .collect(),
            paths: parsed.len(),
        })
    }

    /// The number of paths; [`hash`](Self::hash) takes one value per path.
    ///
    /// ```
    /// use twenty_mapping::PathsHash;
    /// let hasher = PathsHash::new(["city", "name.firstName"]).unwrap();
    /// assert_eq!(hasher.paths(), 2);
    /// ```
    pub fn paths(&self) -> usize {
        self.paths
    }

    /// The content hash of the object that writing `values[n]` at the n-th path gives (`None`:
    /// nothing written there; `Some(null)` is a `null` written). A key whose sub-keys all got
    /// nothing is left out, as when nothing was written under it.
    ///
    /// # Panics
    /// When `values` holds fewer values than there are paths.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::{content_hash, PathsHash, FieldPath};
    /// let record = json!({"id": 7, "city": null, "name": {"firstName": "Ada", "lastName": "L"}});
    /// let paths = ["city", "name.firstName"];
    /// let hasher = PathsHash::new(paths).unwrap();
    /// let values: Vec<_> = paths.iter().map(|p| FieldPath::parse(p).unwrap().get(&record)).collect();
    /// // The hash of the projection {"city": null, "name": {"firstName": "Ada"}}, never built.
    /// assert_eq!(hasher.hash(&values), content_hash(&json!({"city": null, "name": {"firstName": "Ada"}})));
    /// ```
    pub fn hash(&self, values: &[Option<&Value>]) -> ContentHash {
        assert!(
            values.len() >= self.paths,
            "one value per path: {} paths, {} values",
            self.paths,
            values.len()
        );
        hash_encoding(|out| {
            let start = out.len();
            encode_object_header(out, 0);
            let mut present = 0;
            for (key, content) in &self.sorted {
                match content {
                    Content::One(n) => {
                        if let Some(value) = values[*n] {
                            out.extend_from_slice(key);
                            encode(out, value);
                            present += 1;
                        }
                    }
                    Content::Group(subs) => {
                        let filled = subs.iter().filter(|(_, n)| values[*n].is_some()).count();
                        if filled == 0 {
                            continue;
                        }
                        out.extend_from_slice(key);
                        encode_object_header(out, filled);
                        for (sub, n) in subs {
                            if let Some(value) = values[*n] {
                                out.extend_from_slice(sub);
                                encode(out, value);
                            }
                        }
                        present += 1;
                    }
                }
            }
            patch_object_len(out, start, present);
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::content_hash;
    use proptest::prelude::*;
    use serde_json::{Map, json};

    /// The projection the paths describe, built by writing each present value at its path in
    /// order (objects created on the way), as the sync engine's views do.
    fn projected(paths: &[&str], values: &[Option<Value>]) -> Value {
        let mut out = Map::new();
        for (path, value) in paths.iter().zip(values) {
            let Some(value) = value else { continue };
            match path.split_once('.') {
                None => {
                    out.insert((*path).to_owned(), value.clone());
                }
                Some((key, sub)) => {
                    let inner = out
                        .entry(key.to_owned())
                        .or_insert_with(|| Value::Object(Map::new()));
                    inner
                        .as_object_mut()
                        .expect("groups are objects")
                        .insert(sub.to_owned(), value.clone());
                }
            }
        }
        Value::Object(out)
    }

    #[test]
    fn refuses_paths_whose_projection_depends_on_their_order() {
        assert!(PathsHash::new(["name", "name.firstName"]).is_none());
        assert!(PathsHash::new(["name.firstName", "name"]).is_none());
        assert!(PathsHash::new(["city", "city"]).is_none());
        assert!(PathsHash::new(["a.b", "a.b"]).is_none());
        assert!(PathsHash::new(["a.b.c"]).is_none());
        assert!(PathsHash::new(["", "a"]).is_none());
        assert!(PathsHash::new(["a."]).is_none());
        assert!(PathsHash::new(["a", "b.c", "b.d"]).is_some());
        assert_eq!(PathsHash::new(Vec::<&str>::new()).unwrap().paths(), 0);
    }

    #[test]
    fn hashes_the_projection_with_nulls_written_and_absent_values_left_out() {
        let paths = [
            "emails.primaryEmail",
            "jobTitle",
            "name.lastName",
            "name.firstName",
        ];
        let h = PathsHash::new(paths).unwrap();
        let cases: Vec<Vec<Option<Value>>> = vec![
            vec![
                Some(json!("a@b.c")),
                Some(json!("CTO")),
                Some(json!("L")),
                Some(json!("F")),
            ],
            vec![None, Some(Value::Null), None, None],
            vec![None, None, None, None],
            vec![Some(json!({"x": [1, 2]})), None, Some(Value::Null), None],
        ];
        for values in cases {
            let refs: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
            assert_eq!(
                h.hash(&refs),
                content_hash(&projected(&paths, &values)),
                "{values:?}"
            );
        }
    }

    fn arb_leaf() -> impl Strategy<Value = Option<Value>> {
        prop_oneof![
            Just(None),
            Just(Some(Value::Null)),
            any::<i64>().prop_map(|i| Some(json!(i))),
            "[a-z ]{0,6}".prop_map(|s| Some(json!(s))),
            prop::collection::vec("[a-z]{0,3}", 0..3).prop_map(|v| Some(json!(v))),
            ("[a-c]{1,2}", "[a-z]{0,3}").prop_map(|(k, v)| Some(json!({ k: v }))),
        ]
    }

    proptest! {
        /// Any set of shallow, non-overlapping paths, in any order, with any values: the hash
        /// is that of the projected record.
        #[test]
        fn equals_the_content_hash_of_the_projected_record(
            names in prop::collection::btree_set("[a-d]{1,2}(\\.[a-d]{1,2})?", 0..8),
            leaves in prop::collection::vec(arb_leaf(), 8),
            rotate in 0usize..8,
        ) {
            let mut paths: Vec<&str> = names.iter().map(String::as_str).collect();
            let len = paths.len();
            if len > 0 {
                paths.rotate_left(rotate % len);
            }
            let values: Vec<Option<Value>> = leaves.into_iter().take(paths.len()).collect();
            let refs: Vec<Option<&Value>> = values.iter().map(Option::as_ref).collect();
            match PathsHash::new(paths.iter().copied()) {
                Some(h) => prop_assert_eq!(h.hash(&refs), content_hash(&projected(&paths, &values))),
                None => {
                    // Refused only when a path is a prefix of another.
                    let overlapping = paths.iter().any(|p| {
                        paths.iter().any(|q| q.len() > p.len() && q.starts_with(&format!("{p}.")))
                    });
                    prop_assert!(overlapping, "{:?}", paths);
                }
            }
        }
    }
}
