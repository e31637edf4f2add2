//! Compact in-memory form of [`RecordState`]s, for stores that keep every record state in memory
//! ([`MemoryState`](super::MemoryState), the file store).
//!
//! A [`RecordState`] holds five strings; in memory that is five heap allocations and about 600
//! bytes per record once indexed both ways. [`EntityRecords`] keeps instead, per record: the
//! local key and the Twenty id each as a [`CompactKey`] (16 bytes inline when it is a canonical
//! UUID), each content hash as its bytes (xxh3-128 inline, an older SHA-256 behind one pointer),
//! the two timestamps and the deleted flag; any other string is kept as it is. Unpacking gives
//! back exactly the strings that were stored. With UUID keys, the two indexes' entries take 192
//! bytes per record (the hash tables' slots and the allocator's overhead come on top). Both
//! indexes are [`ShardedMap`]s (see there why).
//!
//! Serialised, an [`EntityRecords`] is `{"by_key": {<local key>: <RecordState>}}`, as before the
//! packing, so existing `state.json` snapshots load unchanged.

use std::borrow::Cow;
use std::fmt;
use std::hash::{Hash, Hasher};

use chrono::{DateTime, Utc};
use indexmap::Equivalent;
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use crate::model::RecordState;
use crate::sharded::ShardedMap;

/// A key or id as the in-memory indexes keep it: the 16 bytes of a canonical (lowercase,
/// hyphenated) UUID, else the text. Two different strings never pack to the same value, and
/// [`unpack`](Self::unpack) gives back the string that was packed. Looked up through a
/// [`KeyRef`], which packs a string without allocating.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CompactKey {
    /// A canonical UUID.
    Uuid([u8; 16]),
    /// Anything else, as given.
    Text(Box<str>),
}

impl CompactKey {
    /// Packs `s`.
    pub(crate) fn pack(s: &str) -> CompactKey {
        KeyRef::of(s).to_compact()
    }

    /// The packed string, borrowed when it was kept as text.
    pub(crate) fn unpack(&self) -> Cow<'_, str> {
        match self {
            CompactKey::Uuid(b) => Cow::Owned(uuid::Uuid::from_bytes(*b).hyphenated().to_string()),
            CompactKey::Text(s) => Cow::Borrowed(s),
        }
    }

    fn as_ref(&self) -> KeyRef<'_> {
        match self {
            CompactKey::Uuid(b) => KeyRef::Uuid(*b),
            CompactKey::Text(s) => KeyRef::Text(s),
        }
    }
}

/// A [`CompactKey`] borrowing its text: what a lookup packs a string into, without allocating.
/// It hashes as the `CompactKey` it equals.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum KeyRef<'a> {
    /// A canonical UUID.
    Uuid([u8; 16]),
    /// Anything else.
    Text(&'a str),
}

impl<'a> KeyRef<'a> {
    /// Packs `s` for a lookup.
    pub(crate) fn of(s: &'a str) -> KeyRef<'a> {
        let mut buf = uuid::Uuid::encode_buffer();
        match uuid::Uuid::try_parse(s) {
            Ok(u) if u.hyphenated().encode_lower(&mut buf) == s => KeyRef::Uuid(*u.as_bytes()),
            _ => KeyRef::Text(s),
        }
    }

    /// The owned key this one borrows.
    pub(crate) fn to_compact(self) -> CompactKey {
        match self {
            KeyRef::Uuid(b) => CompactKey::Uuid(b),
            KeyRef::Text(t) => CompactKey::Text(t.into()),
        }
    }
}

impl Hash for CompactKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.as_ref().hash(state);
    }
}

impl Equivalent<CompactKey> for KeyRef<'_> {
    fn equivalent(&self, key: &CompactKey) -> bool {
        *self == key.as_ref()
    }
}

/// A content hash: 16 bytes for `xxh3-128:` + 32 lowercase hex digits (the current hash), 32
/// bytes behind a pointer for 64 lowercase hex digits (SHA-256, stored by earlier versions, so
/// it does not widen every other hash), else the text.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Digest {
    Xxh3([u8; 16]),
    Sha256(Box<[u8; 32]>),
    Text(Box<str>),
}

fn is_lower_hex(s: &str) -> bool {
    s.bytes().all(|c| matches!(c, b'0'..=b'9' | b'a'..=b'f'))
}

impl Digest {
    fn pack(s: &str) -> Digest {
        let mut b = [0u8; 32];
        let mut x = [0u8; 16];
        let xxh3 = s.strip_prefix(twenty_mapping::CONTENT_HASH_TAG);
        if s.len() == 64 && is_lower_hex(s) && hex::decode_to_slice(s, &mut b).is_ok() {
            Digest::Sha256(Box::new(b))
        } else if let Some(h) = xxh3.filter(|h| h.len() == 32 && is_lower_hex(h)) {
            match hex::decode_to_slice(h, &mut x) {
                Ok(()) => Digest::Xxh3(x),
                Err(_) => Digest::Text(s.into()),
            }
        } else {
            Digest::Text(s.into())
        }
    }

    fn unpack(&self) -> String {
        match self {
            Digest::Xxh3(x) => format!("{}{}", twenty_mapping::CONTENT_HASH_TAG, hex::encode(x)),
            Digest::Sha256(b) => hex::encode(**b),
            Digest::Text(s) => s.to_string(),
        }
    }
}

/// One record state without its local key.
#[derive(Debug, Clone)]
struct Packed {
    twenty_id: CompactKey,
    twenty_hash: Option<Digest>,
    local_hash: Option<Digest>,
    twenty_updated_at: Option<DateTime<Utc>>,
    local_updated_at: Option<DateTime<Utc>>,
    deleted: bool,
    field_hashes: Option<Box<str>>,
}

impl Packed {
    fn pack(r: &RecordState) -> Packed {
        Packed {
            twenty_id: CompactKey::pack(&r.twenty_id),
            twenty_hash: r.twenty_hash.as_deref().map(Digest::pack),
            local_hash: r.local_hash.as_deref().map(Digest::pack),
            twenty_updated_at: r.twenty_updated_at,
            local_updated_at: r.local_updated_at,
            deleted: r.deleted,
            field_hashes: r.field_hashes.as_deref().map(Box::from),
        }
    }

    fn unpack(&self, local_key: String) -> RecordState {
        RecordState {
            local_key,
            twenty_id: self.twenty_id.unpack().into_owned(),
            twenty_hash: self.twenty_hash.as_ref().map(Digest::unpack),
            local_hash: self.local_hash.as_ref().map(Digest::unpack),
            twenty_updated_at: self.twenty_updated_at,
            local_updated_at: self.local_updated_at,
            deleted: self.deleted,
            field_hashes: self.field_hashes.as_deref().map(str::to_owned),
        }
    }
}

/// Record states of one entity, indexed by local key and by Twenty id.
#[derive(Debug, Clone, Default)]
pub(crate) struct EntityRecords {
    by_key: ShardedMap<CompactKey, Packed>,
    /// Twenty id -> local key.
    by_twenty: ShardedMap<CompactKey, CompactKey>,
}

impl EntityRecords {
    /// Whether there is no state at all.
    pub(crate) fn is_empty(&self) -> bool {
        self.by_key.is_empty()
    }

    /// The state of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<RecordState> {
        self.by_key
            .get(&KeyRef::of(key))
            .map(|p| p.unpack(key.to_owned()))
    }

    /// The local key mapped to `twenty_id`.
    pub(crate) fn key_of(&self, twenty_id: &str) -> Option<Cow<'_, str>> {
        self.by_twenty
            .get(&KeyRef::of(twenty_id))
            .map(CompactKey::unpack)
    }

    /// The state of the record mapped to `twenty_id`.
    pub(crate) fn get_by_twenty(&self, twenty_id: &str) -> Option<RecordState> {
        let key = self.by_twenty.get(&KeyRef::of(twenty_id))?;
        let packed = self.by_key.get(key)?;
        Some(packed.unpack(key.unpack().into_owned()))
    }

    /// Removes the state of `key`.
    pub(crate) fn remove(&mut self, key: &str) {
        self.remove_key(KeyRef::of(key));
    }

    fn remove_key(&mut self, key: KeyRef<'_>) {
        if let Some(old) = self.by_key.swap_remove(&key) {
            if self.by_twenty.get(&old.twenty_id).map(CompactKey::as_ref) == Some(key) {
                self.by_twenty.swap_remove(&old.twenty_id);
            }
        }
    }

    /// Inserts or replaces the state of `record.local_key`.
    pub(crate) fn upsert(&mut self, record: &RecordState) {
        let key = KeyRef::of(&record.local_key);
        self.remove_key(key);
        let key = key.to_compact();
        let packed = Packed::pack(record);
        self.by_twenty.insert(packed.twenty_id.clone(), key.clone());
        self.by_key.insert(key, packed);
    }
}

impl Serialize for EntityRecords {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        struct ByKey<'a>(&'a ShardedMap<CompactKey, Packed>);
        impl Serialize for ByKey<'_> {
            fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                let mut map = s.serialize_map(Some(self.0.len()))?;
                for (key, packed) in self.0.iter() {
                    let key = key.unpack();
                    let state = packed.unpack(key.clone().into_owned());
                    map.serialize_entry(&*key, &state)?;
                }
                map.end()
            }
        }
        let mut map = s.serialize_map(Some(1))?;
        map.serialize_entry("by_key", &ByKey(&self.by_key))?;
        map.end()
    }
}

impl<'de> Deserialize<'de> for EntityRecords {
    fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
        /// `by_key`, packed entry by entry (the unpacked map is never built).
        struct ByKey(EntityRecords);
        impl<'de> Deserialize<'de> for ByKey {
            fn deserialize<D: Deserializer<'de>>(de: D) -> Result<Self, D::Error> {
                struct V;
                impl<'de> Visitor<'de> for V {
                    type Value = ByKey;
                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a map of local keys to record states")
                    }
                    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ByKey, A::Error> {
                        let mut out = EntityRecords::default();
                        while let Some((key, mut state)) =
                            map.next_entry::<String, RecordState>()?
                        {
                            // The map key is the local key, as `upsert` stored it.
                            state.local_key = key;
                            out.upsert(&state);
                        }
                        Ok(ByKey(out))
                    }
                }
                de.deserialize_map(V)
            }
        }
        #[derive(Deserialize)]
        struct Wire {
            #[serde(default)]
            by_key: Option<ByKey>,
        }
        let wire = Wire::deserialize(de)?;
        Ok(wire.by_key.map(|b| b.0).unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn state(key: &str, id: &str, hash: Option<&str>) -> RecordState {
        RecordState {
            local_key: key.into(),
            twenty_id: id.into(),
            twenty_hash: hash.map(str::to_owned),
            local_hash: Some("not-a-hash".into()),
            twenty_updated_at: Utc.timestamp_millis_opt(1_700_000_000_123).single(),
            local_updated_at: None,
            deleted: false,
            field_hashes: None,
        }
    }

    #[test]
    fn unpacking_gives_back_exactly_the_stored_strings() {
        let sha = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
        let cases = [
            state("k1", "7c9e6679-7425-40de-944b-e07fc1f90ae7", Some(sha)),
            // Upper-case UUID and hash: not canonical, kept as text, returned as given.
            state(
                "k2",
                "7C9E6679-7425-40DE-944B-E07FC1F90AE7",
                Some(&sha.to_uppercase()),
            ),
            state("k3", "not-a-uuid", None),
            state("k4", "a", Some("xxh3-128:301159136ebeac945bdfca491c8b7de7")),
            state("k5", "b", Some("xxh3-128:301159136EBEAC945BDFCA491C8B7DE7")),
            // UUID local keys: the canonical one packed, the upper-case one kept as text; two
            // keys, not one.
            state("0e5bd2ad-3b6c-4f3e-9d55-2b1c7a9e4f10", "c", None),
            state("0E5BD2AD-3B6C-4F3E-9D55-2B1C7A9E4F10", "d", None),
        ];
        let mut records = EntityRecords::default();
        for c in &cases {
            records.upsert(c);
        }
        for c in &cases {
            assert_eq!(records.get(&c.local_key).as_ref(), Some(c));
            assert_eq!(records.get_by_twenty(&c.twenty_id).as_ref(), Some(c));
        }
        assert_eq!(records.by_key.len(), 7);
    }

    #[test]
    fn a_compact_key_gives_back_the_string_it_packed_and_no_two_strings_share_one() {
        let canonical = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
        let inputs = [
            canonical,
            "7C9E6679-7425-40DE-944B-E07FC1F90AE7",
            "7c9e6679742540de944be07fc1f90ae7",
            "{7c9e6679-7425-40de-944b-e07fc1f90ae7}",
            "urn:uuid:7c9e6679-7425-40de-944b-e07fc1f90ae7",
            "42",
            "",
        ];
        let packed: Vec<CompactKey> = inputs.iter().map(|s| CompactKey::pack(s)).collect();
        assert!(matches!(packed[0], CompactKey::Uuid(_)));
        let hash = |k: &dyn Fn(&mut std::collections::hash_map::DefaultHasher)| {
            let mut h = std::collections::hash_map::DefaultHasher::new();
            k(&mut h);
            h.finish()
        };
        for (input, key) in inputs.iter().zip(&packed) {
            assert_eq!(key.unpack(), *input);
            // A lookup's borrowed form finds the key: equal, and hashed alike.
            let lookup = KeyRef::of(input);
            assert!(lookup.equivalent(key), "{input}");
            assert_eq!(hash(&|h| lookup.hash(h)), hash(&|h| key.hash(h)), "{input}");
        }
        for (i, a) in packed.iter().enumerate() {
            for b in &packed[i + 1..] {
                assert_ne!(a, b);
                assert!(!a.as_ref().equivalent(b));
            }
        }
    }

    #[test]
    fn moving_a_twenty_id_to_another_key_and_removing_keep_both_indexes_consistent() {
        let id = "7c9e6679-7425-40de-944b-e07fc1f90ae7";
        let mut records = EntityRecords::default();
        records.upsert(&state("old", id, None));
        records.remove("old");
        records.upsert(&state("new", id, None));
        assert_eq!(records.key_of(id).as_deref(), Some("new"));
        assert!(records.get("old").is_none());
        // Replacing a key's state with another Twenty id releases the first id.
        records.upsert(&state("new", "other", None));
        assert_eq!(records.key_of(id).as_deref(), None);
        assert_eq!(records.key_of("other").as_deref(), Some("new"));
    }

    #[test]
    fn serialises_as_the_unpacked_map_and_loads_it_back() {
        let mut records = EntityRecords::default();
        let s = state("k1", "7c9e6679-7425-40de-944b-e07fc1f90ae7", None);
        records.upsert(&s);
        let json = serde_json::to_value(&records).expect("serialises");
        assert_eq!(
            json,
            serde_json::json!({"by_key": {"k1": serde_json::to_value(&s).expect("state")}})
        );
        let back: EntityRecords = serde_json::from_value(json).expect("loads");
        assert_eq!(back.get("k1"), Some(s.clone()));
        assert_eq!(back.key_of(&s.twenty_id).as_deref(), Some("k1"));
    }
}
