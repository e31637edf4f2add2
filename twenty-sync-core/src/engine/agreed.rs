//! The values both sides last agreed on, field by field: the common ancestor of a three-way
//! merge. A record changed on both sides since its last sync is merged field by field: a field
//! changed on one side only takes that side's value, and only a field changed on both is
//! settled by ownership and the conflict policy (see [`merge`](super::merge)).
//!
//! Kept in [`RecordState::field_hashes`](crate::RecordState::field_hashes) as text: `fh1:`, 16
//! hex digits for the mapping's layout (its fields' local paths, in order), then 16 per field:
//! the first 64 bits of the XXH3-128 content hash of the field's value in the local shape
//! (absent and `null` hash alike). Hashes written under another layout (a field added, removed
//! or moved in the mapping) are not read: the record's next conflict falls back to the policy
//! on every differing field, and the sync that settles it stores the new layout.

use std::fmt::{self, Write as _};

use serde_json::Value;

use super::mapper::{EntityMapper, get_path};
use super::views::local_hash;
use crate::{RecordState, RunMode};

/// The tag that starts the text form (the version of the encoding).
const TAG: &str = "fh1:";

/// Per-field hashes of a record's mapped values (local shape), as both sides last agreed on
/// them.
///
/// ```
/// use serde_json::json;
/// use twenty_sync_core::engine::{AgreedFields, FieldMap};
///
/// let map = FieldMap::new("contacts", "people", "person").field("title", "jobTitle").field("city", "city");
/// let agreed = AgreedFields::of(&map, &json!({"title": "CTO", "city": "Oslo"}));
/// let text = agreed.to_string(); // what `RecordState::field_hashes` keeps
/// assert_eq!(AgreedFields::parse(&map, &text), Some(agreed.clone()));
/// assert!(agreed.changed(&map, "city", &json!({"title": "CTO", "city": "Bergen"})));
/// assert!(!agreed.changed(&map, "title", &json!({"title": "CTO", "city": "Bergen"})));
///
/// // Hashes written for another mapping (a field added) are not read.
/// let wider = FieldMap::new("contacts", "people", "person")
///     .field("title", "jobTitle").field("city", "city").field("phone", "phone");
/// assert_eq!(AgreedFields::parse(&wider, &text), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgreedFields {
    layout: u64,
    values: Vec<u64>,
}

impl AgreedFields {
    /// The hashes of `local`'s mapped fields (a record in the local shape: the local record,
    /// or a Twenty record mapped to the local shape).
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{AgreedFields, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person").field("title", "jobTitle");
    /// // Fields the mapping does not name play no part.
    /// assert_eq!(
    ///     AgreedFields::of(&map, &json!({"title": "CTO", "notes": "a"})),
    ///     AgreedFields::of(&map, &json!({"title": "CTO", "notes": "b"})),
    /// );
    /// ```
    pub fn of(mapper: &dyn EntityMapper, local: &Value) -> AgreedFields {
        AgreedFields {
            layout: layout_of(mapper),
            values: mapper
                .fields()
                .iter()
                .map(|f| value_hash(get_path(local, &f.local_path)))
                .collect(),
        }
    }

    /// Reads the text form, if it was written under `mapper`'s current layout; `None` for
    /// anything else (another layout, another version of the encoding, not hashes at all).
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{AgreedFields, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person").field("title", "jobTitle");
    /// let text = AgreedFields::of(&map, &json!({"title": "CTO"})).to_string();
    /// assert!(text.starts_with("fh1:"));
    /// assert!(AgreedFields::parse(&map, &text).is_some());
    /// assert_eq!(AgreedFields::parse(&map, "fh1:zz"), None);
    /// ```
    pub fn parse(mapper: &dyn EntityMapper, text: &str) -> Option<AgreedFields> {
        let digits = text.strip_prefix(TAG)?;
        if digits.len() != 16 * (mapper.fields().len() + 1) || !digits.is_ascii() {
            return None;
        }
        let mut words = (0..digits.len())
            .step_by(16)
            .map(|i| u64::from_str_radix(&digits[i..i + 16], 16).ok());
        let layout = words.next()??;
        if layout != layout_of(mapper) {
            return None;
        }
        let values = words.collect::<Option<Vec<u64>>>()?;
        Some(AgreedFields { layout, values })
    }

    /// Whether `record`'s value of the mapped field at `local_path` differs from the agreed one
    /// (`true` for a path the mapping does not name: nothing was agreed on it).
    ///
    /// ```
    /// use serde_json::json;
    /// use twenty_sync_core::engine::{AgreedFields, FieldMap};
    ///
    /// let map = FieldMap::new("contacts", "people", "person").field("title", "jobTitle");
    /// let agreed = AgreedFields::of(&map, &json!({"title": null}));
    /// // Absent and null are the same value.
    /// assert!(!agreed.changed(&map, "title", &json!({})));
    /// assert!(agreed.changed(&map, "title", &json!({"title": ""})));
    /// ```
    pub fn changed(&self, mapper: &dyn EntityMapper, local_path: &str, record: &Value) -> bool {
        mapper
            .fields()
            .iter()
            .position(|f| f.local_path == local_path)
            .is_none_or(|i| self.value_changed(i, get_path(record, local_path)))
    }

    /// Whether `value` differs from the agreed value of the mapping's `i`th field.
    pub(crate) fn value_changed(&self, i: usize, value: Option<&Value>) -> bool {
        self.values.get(i) != Some(&value_hash(value))
    }
}

impl fmt::Display for AgreedFields {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(TAG)?;
        for word in std::iter::once(&self.layout).chain(&self.values) {
            write!(f, "{word:016x}")?;
        }
        Ok(())
    }
}

/// What a state write keeps of the local record both sides agree on once it is written: its
/// `local_hash`, and its [`AgreedFields`] where they are kept (see [`keeps_agreed`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalHashes {
    record: String,
    fields: Option<String>,
}

impl LocalHashes {
    /// The hashes of the local record `local`, with its agreed values if `keep`.
    pub(crate) fn of(m: &dyn EntityMapper, keep: bool, local: &Value) -> LocalHashes {
        LocalHashes {
            record: local_hash(m, local),
            fields: agreed_text(m, keep, local),
        }
    }

    /// Sets `st`'s `local_hash` and `field_hashes`.
    pub(crate) fn store_in(&self, st: &mut RecordState) {
        st.local_hash = Some(self.record.clone());
        st.field_hashes = self.fields.clone();
    }
}

/// Whether a state written by a run of `mode` over `before` (the record's state until then)
/// keeps agreed values: in a sync run, and in any run for a record that already has them (a
/// pull or push run, or a webhook delivery, between the syncs of a record that is synced both
/// ways). A record only ever pulled or pushed one way never pays for them.
pub(crate) fn keeps_agreed(mode: RunMode, before: Option<&RecordState>) -> bool {
    mode == RunMode::Sync || before.is_some_and(|s| s.field_hashes.is_some())
}

/// The text of `record`'s [`AgreedFields`] (a record in the local shape) if `keep`.
pub(crate) fn agreed_text(m: &dyn EntityMapper, keep: bool, record: &Value) -> Option<String> {
    keep.then(|| AgreedFields::of(m, record).to_string())
}

/// The agreed values kept in `st`, if they were written under `m`'s layout.
pub(crate) fn agreed_in(m: &dyn EntityMapper, st: &RecordState) -> Option<AgreedFields> {
    st.field_hashes
        .as_deref()
        .and_then(|text| AgreedFields::parse(m, text))
}

/// The first 64 bits of the content hash of a field's value; absent hashes as `null`.
fn value_hash(value: Option<&Value>) -> u64 {
    let hash = twenty_mapping::content_hash(value.unwrap_or(&Value::Null));
    let mut word = [0u8; 8];
    word.copy_from_slice(&hash.as_bytes()[..8]);
    u64::from_be_bytes(word)
}

/// The layout hash: the mapping's fields' local paths, in order.
fn layout_of(mapper: &dyn EntityMapper) -> u64 {
    let mut paths = String::new();
    for f in mapper.fields() {
        // Paths hold no NUL: the separator keeps `["ab", "c"]` apart from `["a", "bc"]`.
        let _ = write!(paths, "{}\0", f.local_path);
    }
    value_hash(Some(&Value::String(paths)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::FieldMap;
    use serde_json::json;

    fn map() -> FieldMap {
        FieldMap::new("contacts", "people", "person")
            .field("title", "jobTitle")
            .field("address.city", "city")
    }

    #[test]
    fn the_text_form_round_trips_and_is_refused_when_damaged() {
        let m = map();
        let a = AgreedFields::of(&m, &json!({"title": "CTO", "address": {"city": "Oslo"}}));
        let text = a.to_string();
        assert_eq!(text.len(), TAG.len() + 16 * 3);
        assert_eq!(AgreedFields::parse(&m, &text), Some(a));
        assert_eq!(AgreedFields::parse(&m, &text[1..]), None, "tag missing");
        assert_eq!(AgreedFields::parse(&m, &text[..text.len() - 1]), None);
        let mut bad = text.clone();
        bad.replace_range(TAG.len() + 20..TAG.len() + 21, "g");
        assert_eq!(AgreedFields::parse(&m, &bad), None, "not hex");
        let mut multibyte = text;
        multibyte.replace_range(TAG.len()..TAG.len() + 2, "é");
        assert_eq!(AgreedFields::parse(&m, &multibyte), None, "not ASCII");
    }

    #[test]
    fn the_layout_is_the_paths_in_order() {
        let a = FieldMap::new("c", "people", "person")
            .field("ab", "x")
            .field("c", "y");
        let b = FieldMap::new("c", "people", "person")
            .field("a", "x")
            .field("bc", "y");
        let swapped = FieldMap::new("c", "people", "person")
            .field("c", "y")
            .field("ab", "x");
        let text = AgreedFields::of(&a, &json!({})).to_string();
        assert!(AgreedFields::parse(&a, &text).is_some());
        assert_eq!(AgreedFields::parse(&b, &text), None);
        assert_eq!(AgreedFields::parse(&swapped, &text), None);
    }

    #[test]
    fn nested_paths_and_values_of_every_type_are_compared() {
        let m = map();
        let base = json!({"title": ["a", 1], "address": {"city": {"n": 1.5}}});
        let a = AgreedFields::of(&m, &base);
        assert!(!a.changed(&m, "address.city", &base));
        assert!(a.changed(&m, "address.city", &json!({"address": {"city": {"n": 2}}})));
        assert!(!a.changed(&m, "title", &json!({"title": ["a", 1]})));
        assert!(a.changed(&m, "title", &json!({"title": ["a", "1"]})));
        assert!(a.changed(&m, "unmapped", &base));
    }
}
