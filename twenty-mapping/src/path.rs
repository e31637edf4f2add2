//! Field paths such as `contact.emails[0].address`, parsed once at compile time.

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};

use serde_json::{Map, Value};

/// Where a path's first key, and its second key when it has one, were found in the last objects
/// they were read from. Records of one source nearly always list their fields in the same
/// order, so looking there first (and checking the key) skips hashing the key; a wrong guess
/// falls back to the hashed lookup and moves the guess. It is only a position: every read still
/// compares the key and returns the current record's value.
#[derive(Debug, Default)]
pub(crate) struct PositionHint {
    key: AtomicUsize,
    sub_key: AtomicUsize,
}

/// One step of a [`FieldPath`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segment {
    /// An object key.
    Key(Box<str>),
    /// An array index.
    Index(usize),
}

/// A parsed path into a JSON value: dot-separated keys with optional `[n]` array indexes.
///
/// ```
/// use twenty_mapping::FieldPath;
/// let path = FieldPath::parse("contact.emails[0].address").unwrap();
/// let record = serde_json::json!({"contact": {"emails": [{"address": "a@b.co"}]}});
/// assert_eq!(path.get(&record), Some(&serde_json::json!("a@b.co")));
/// assert_eq!(path.to_string(), "contact.emails[0].address");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldPath {
    segments: Vec<Segment>,
    text: Box<str>,
}

impl FieldPath {
    /// Parses a path; returns a message explaining the problem when the path is malformed.
    ///
    /// ```
    /// use twenty_mapping::FieldPath;
    /// assert!(FieldPath::parse("contact.emails[0].address").is_ok());
    /// let err = FieldPath::parse("contact..email").unwrap_err();
    /// assert_eq!(err, "path `contact..email` has an empty segment");
    /// assert!(FieldPath::parse("tags[x]").is_err());
    /// ```
    pub fn parse(text: &str) -> Result<FieldPath, String> {
        if text.is_empty() {
            return Err("path is empty".to_owned());
        }
        let mut segments = Vec::new();
        for part in text.split('.') {
            if part.is_empty() {
                return Err(format!("path `{text}` has an empty segment"));
            }
            let (key, mut rest) = match part.find('[') {
                Some(i) => (&part[..i], &part[i..]),
                None => (part, ""),
            };
            if key.is_empty() {
                if segments.is_empty() || !rest.starts_with('[') {
                    return Err(format!("path `{text}` has an index without a key"));
                }
            } else {
                if key.contains(']') || key.chars().any(char::is_whitespace) {
                    return Err(format!("path `{text}` has an invalid key `{key}`"));
                }
                segments.push(Segment::Key(key.into()));
            }
            while !rest.is_empty() {
                let close = rest
                    .find(']')
                    .ok_or_else(|| format!("path `{text}` has an unclosed `[`"))?;
                let index: usize = rest[1..close].parse().map_err(|_| {
                    format!(
                        "path `{text}` has an invalid array index `{}`",
                        &rest[1..close]
                    )
                })?;
                segments.push(Segment::Index(index));
                rest = &rest[close + 1..];
                if !rest.is_empty() && !rest.starts_with('[') {
                    return Err(format!("path `{text}` has text after `]`"));
                }
            }
        }
        Ok(FieldPath {
            segments,
            text: text.into(),
        })
    }

    /// The path as written in the mapping file.
    ///
    /// ```
    /// use twenty_mapping::FieldPath;
    /// let path = FieldPath::parse("name.firstName")?;
    /// assert_eq!(path.as_str(), "name.firstName");
    /// # Ok::<(), String>(())
    /// ```
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The first key of the path (the top-level field), if the path starts with a key.
    ///
    /// ```
    /// use twenty_mapping::FieldPath;
    /// assert_eq!(FieldPath::parse("name.firstName")?.root(), Some("name"));
    /// assert_eq!(FieldPath::parse("tags[2]")?.root(), Some("tags"));
    /// # Ok::<(), String>(())
    /// ```
    pub fn root(&self) -> Option<&str> {
        match self.segments.first() {
            Some(Segment::Key(k)) => Some(k),
            _ => None,
        }
    }

    /// The path's key, and its sub-key when it has one, for paths of one or two keys and no
    /// index (`name.firstName` gives `("name", Some("firstName"))`); `None` for any other path.
    pub(crate) fn key_and_sub_key(&self) -> Option<(&str, Option<&str>)> {
        match self.segments.as_slice() {
            [Segment::Key(k)] => Some((k, None)),
            [Segment::Key(k), Segment::Key(sub)] => Some((k, Some(sub))),
            _ => None,
        }
    }

    /// The remaining keys after the root, joined with dots (`name.firstName` gives `firstName`).
    ///
    /// ```
    /// use twenty_mapping::FieldPath;
    /// assert_eq!(FieldPath::parse("address.addressCity")?.sub_path(), Some("addressCity"));
    /// assert_eq!(FieldPath::parse("city")?.sub_path(), None);
    /// # Ok::<(), String>(())
    /// ```
    pub fn sub_path(&self) -> Option<&str> {
        let root = self.root()?;
        self.text.get(root.len() + 1..)
    }

    /// True when `self` equals `other` or one is a prefix of the other (they would overwrite each other).
    ///
    /// ```
    /// use twenty_mapping::FieldPath;
    /// let name = FieldPath::parse("name")?;
    /// let first = FieldPath::parse("name.firstName")?;
    /// let last = FieldPath::parse("name.lastName")?;
    /// assert!(name.overlaps(&first) && first.overlaps(&name));
    /// assert!(!first.overlaps(&last));
    /// # Ok::<(), String>(())
    /// ```
    pub fn overlaps(&self, other: &FieldPath) -> bool {
        let n = self.segments.len().min(other.segments.len());
        self.segments[..n] == other.segments[..n]
    }

    /// True when `self` is `other` or a prefix of it.
    ///
    /// ```
    /// use twenty_mapping::FieldPath;
    /// let name = FieldPath::parse("name")?;
    /// let first = FieldPath::parse("name.firstName")?;
    /// assert!(name.covers(&first) && name.covers(&name));
    /// assert!(!first.covers(&name));
    /// # Ok::<(), String>(())
    /// ```
    pub fn covers(&self, other: &FieldPath) -> bool {
        self.segments.len() <= other.segments.len()
            && self.segments[..] == other.segments[..self.segments.len()]
    }

    /// Reads the value at this path; `None` when any step is missing.
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::FieldPath;
    /// let record = json!({"tags": ["vip", "new"], "name": {"firstName": "Ada"}});
    /// assert_eq!(FieldPath::parse("tags[1]")?.get(&record), Some(&json!("new")));
    /// assert_eq!(FieldPath::parse("name.lastName")?.get(&record), None);
    /// # Ok::<(), String>(())
    /// ```
    pub fn get<'v>(&self, value: &'v Value) -> Option<&'v Value> {
        get_in(&self.segments, value)
    }

    /// [`get`](Self::get), looking for the first key at the position `hint` remembers before
    /// hashing it (see [`PositionHint`]). Same result as `get`.
    pub(crate) fn get_hinted<'v>(
        &self,
        value: &'v Value,
        hint: &PositionHint,
    ) -> Option<&'v Value> {
        match self.segments.as_slice() {
            [Segment::Key(key), rest @ ..] => {
                let first = get_key_hinted(value, key, &hint.key)?;
                match rest {
                    [Segment::Key(sub), deeper @ ..] => {
                        get_in(deeper, get_key_hinted(first, sub, &hint.sub_key)?)
                    }
                    _ => get_in(rest, first),
                }
            }
            _ => self.get(value),
        }
    }

    /// Writes `new` at this path, creating objects and arrays on the way. When both the existing
    /// and the new value are objects they are merged (composite sub-fields written by several rules).
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_mapping::FieldPath;
    /// let mut record = json!({});
    /// FieldPath::parse("name.firstName")?.set(&mut record, json!("Ada"));
    /// FieldPath::parse("name")?.set(&mut record, json!({"lastName": "Lovelace"})); // merged
    /// FieldPath::parse("tags[1]")?.set(&mut record, json!("vip"));
    /// assert_eq!(record, json!({
    ///     "name": {"firstName": "Ada", "lastName": "Lovelace"},
    ///     "tags": [null, "vip"]
    /// }));
    /// # Ok::<(), String>(())
    /// ```
    pub fn set(&self, root: &mut Value, new: Value) {
        let mut current = root;
        for seg in &self.segments {
            current = match seg {
                Segment::Key(k) => {
                    if !current.is_object() {
                        *current = Value::Object(Map::new());
                    }
                    match current {
                        Value::Object(map) => map.entry(&**k).or_insert(Value::Null),
                        _ => unreachable!("current was just made an object"),
                    }
                }
                Segment::Index(i) => {
                    if !current.is_array() {
                        *current = Value::Array(Vec::new());
                    }
                    match current {
                        Value::Array(items) => {
                            if items.len() <= *i {
                                items.resize(*i + 1, Value::Null);
                            }
                            &mut items[*i]
                        }
                        _ => unreachable!("current was just made an array"),
                    }
                }
            };
        }
        match (current, new) {
            (Value::Object(existing), Value::Object(incoming)) => existing.extend(incoming),
            (slot, new) => *slot = new,
        }
    }
}

/// `value[key]` when `value` is an object, looked for first at the position `hint` remembers.
fn get_key_hinted<'v>(value: &'v Value, key: &str, hint: &AtomicUsize) -> Option<&'v Value> {
    let Value::Object(map) = value else {
        return None;
    };
    let guess = hint.load(Ordering::Relaxed);
    match map.iter().nth(guess) {
        Some((k, v)) if k == key => Some(v),
        _ => {
            let found = map.get(key)?;
            if let Some(i) = map.values().position(|v| std::ptr::eq(v, found)) {
                hint.store(i, Ordering::Relaxed);
            }
            Some(found)
        }
    }
}

fn get_in<'v>(segments: &[Segment], value: &'v Value) -> Option<&'v Value> {
    let mut current = value;
    for seg in segments {
        current = match (seg, current) {
            (Segment::Key(k), Value::Object(map)) => map.get(&**k)?,
            (Segment::Index(i), Value::Array(items)) => items.get(*i)?,
            _ => return None,
        };
    }
    Some(current)
}

impl fmt::Display for FieldPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn parses_keys_and_indexes() {
        let p = FieldPath::parse("a.b[2][0].c").unwrap();
        assert_eq!(
            p.segments,
            vec![
                Segment::Key("a".into()),
                Segment::Key("b".into()),
                Segment::Index(2),
                Segment::Index(0),
                Segment::Key("c".into())
            ]
        );
        assert_eq!(p.root(), Some("a"));
        assert_eq!(p.sub_path(), Some("b[2][0].c"));
    }

    #[test]
    fn rejects_malformed_paths() {
        for bad in ["", "a..b", "a[x]", "a[1", "[0]", "a[1]b", "a b"] {
            assert!(FieldPath::parse(bad).is_err(), "{bad} should be rejected");
        }
    }

    #[test]
    fn set_creates_intermediate_containers_and_merges_objects() {
        let mut v = json!({});
        FieldPath::parse("a.list[1].x")
            .unwrap()
            .set(&mut v, json!(1));
        assert_eq!(v, json!({"a": {"list": [null, {"x": 1}]}}));
        FieldPath::parse("name")
            .unwrap()
            .set(&mut v, json!({"firstName": "A"}));
        FieldPath::parse("name")
            .unwrap()
            .set(&mut v, json!({"lastName": "B"}));
        assert_eq!(v["name"], json!({"firstName": "A", "lastName": "B"}));
    }

    #[test]
    fn hinted_get_equals_get_whatever_the_key_order() {
        let hint = PositionHint::default();
        let paths = [
            "b",
            "a.x",
            "a.y.z",
            "a.x[0]",
            "c[1]",
            "c[1].x",
            "missing",
            "a.missing",
            "missing.x",
        ]
        .map(|p| FieldPath::parse(p).unwrap());
        let records = [
            json!({"a": {"x": 1}, "b": 2, "c": [3, 4]}),
            json!({"b": "two", "c": [5, {"x": 0}], "a": {"y": {"z": 3}, "x": "one"}}),
            json!({"c": [7], "a": 8}),
            json!({"b": 9, "a": {"x": [true], "y": 1}}),
            json!({"a": {"y": {"z": null}}}),
            json!([1, 2]),
        ];
        // Each path reads every record twice (a hit after a miss) with one shared hint per path.
        for path in &paths {
            let hint_for_path = PositionHint::default();
            for record in records.iter().chain(records.iter()) {
                assert_eq!(
                    path.get_hinted(record, &hint_for_path),
                    path.get(record),
                    "{path}"
                );
                assert_eq!(path.get_hinted(record, &hint), path.get(record), "{path}");
            }
        }
    }

    #[test]
    fn overlap_and_cover_follow_prefixes() {
        let name = FieldPath::parse("name").unwrap();
        let first = FieldPath::parse("name.firstName").unwrap();
        let other = FieldPath::parse("names").unwrap();
        assert!(name.overlaps(&first) && first.overlaps(&name));
        assert!(name.covers(&first) && !first.covers(&name));
        assert!(!name.overlaps(&other));
    }
}
