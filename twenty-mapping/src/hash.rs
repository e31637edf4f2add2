//! Stable content hashes: SHA-256 over canonical JSON (object keys sorted, no whitespace).

use std::fmt;
use std::io::Write;

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// SHA-256 of a record's canonical JSON. Equal records hash equal whatever their key order.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash([u8; 32]);

impl ContentHash {
    /// The raw digest.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Parses the 64-character lowercase hex form.
    pub fn from_hex(text: &str) -> Option<ContentHash> {
        let mut out = [0u8; 32];
        hex::decode_to_slice(text, &mut out).ok()?;
        Some(ContentHash(out))
    }
}

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 64];
        hex::encode_to_slice(self.0, &mut buf).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&buf).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({self})")
    }
}

impl Serialize for ContentHash {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for ContentHash {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        ContentHash::from_hex(&text)
            .ok_or_else(|| serde::de::Error::custom("expected 64 hex characters"))
    }
}

/// Hashes a value's canonical JSON (sorted keys, compact) with SHA-256.
///
/// ```
/// use twenty_mapping::content_hash;
/// let a = serde_json::json!({"b": 1, "a": {"y": [1, 2], "x": "s"}});
/// let b = serde_json::json!({"a": {"x": "s", "y": [1, 2]}, "b": 1});
/// assert_eq!(content_hash(&a), content_hash(&b));
/// assert_eq!(content_hash(&a).to_string().len(), 64);
/// ```
pub fn content_hash(v: &Value) -> ContentHash {
    // Canonical JSON goes into a reused per-thread buffer and is hashed in one call: far fewer
    // small hasher updates and no allocation per record once the buffer has grown.
    thread_local! {
        static BUF: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
    }
    BUF.with(|buf| match buf.try_borrow_mut() {
        Ok(mut buf) => {
            buf.clear();
            write_canonical(&mut *buf, v);
            ContentHash(Sha256::digest(&buf[..]).into())
        }
        Err(_) => {
            let mut hasher = HashWriter(Sha256::new());
            write_canonical(&mut hasher, v);
            ContentHash(hasher.0.finalize().into())
        }
    })
}

/// Writes the canonical JSON form of `v` (what [`content_hash`] hashes).
pub fn canonical_json(v: &Value) -> String {
    let mut out = Vec::new();
    write_canonical(&mut out, v);
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

struct HashWriter(Sha256);

impl Write for HashWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

fn write_canonical<W: Write>(w: &mut W, v: &Value) {
    // Writing to a Vec or a hasher cannot fail, so results are ignored deliberately.
    match v {
        Value::Object(map) => {
            let _ = w.write_all(b"{");
            if map.keys().is_sorted() {
                write_entries(w, map.iter());
            } else {
                let mut entries: Vec<(&String, &Value)> = map.iter().collect();
                entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
                write_entries(w, entries.into_iter());
            }
            let _ = w.write_all(b"}");
        }
        Value::Array(items) => {
            let _ = w.write_all(b"[");
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    let _ = w.write_all(b",");
                }
                write_canonical(w, item);
            }
            let _ = w.write_all(b"]");
        }
        scalar => {
            let _ = serde_json::to_writer(&mut *w, scalar);
        }
    }
}

fn write_entries<'v, W: Write>(w: &mut W, entries: impl Iterator<Item = (&'v String, &'v Value)>) {
    for (i, (k, val)) in entries.enumerate() {
        if i > 0 {
            let _ = w.write_all(b",");
        }
        let _ = serde_json::to_writer(&mut *w, k);
        let _ = w.write_all(b":");
        write_canonical(w, val);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        let v = json!({"z": {"b": 1, "a": 2}, "a": [ {"d": null, "c": "x"} ]});
        assert_eq!(
            canonical_json(&v),
            r#"{"a":[{"c":"x","d":null}],"z":{"a":2,"b":1}}"#
        );
    }

    #[test]
    fn hash_changes_with_content_and_round_trips_through_serde() {
        let a = content_hash(&json!({"a": 1}));
        let b = content_hash(&json!({"a": 2}));
        assert_ne!(a, b);
        let text = serde_json::to_string(&a).unwrap();
        let back: ContentHash = serde_json::from_str(&text).unwrap();
        assert_eq!(a, back);
        assert_eq!(
            content_hash(&json!({})).to_string(),
            // sha256("{}")
            "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
        );
    }
}
