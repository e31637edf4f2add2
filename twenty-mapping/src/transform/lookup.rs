//! Text-to-text tables of the lookup transforms (`value_map`, `tags`, `job_title` synonyms).
//!
//! Mapping tables are usually a handful of entries: comparing the key with each entry (lengths
//! first) costs less than hashing it, so small tables are scanned and only large ones hashed.

use std::collections::HashMap;

/// Up to this many entries, a table is scanned rather than hashed.
const SCAN_MAX: usize = 8;

/// A table from text to text, looked up by exact key.
#[derive(Debug, Clone)]
pub(crate) enum Lookup {
    /// Few entries, scanned in order (keys are distinct).
    Scan(Vec<(String, String)>),
    /// Many entries.
    Hashed(HashMap<String, String>),
}

impl From<HashMap<String, String>> for Lookup {
    fn from(map: HashMap<String, String>) -> Self {
        if map.len() <= SCAN_MAX {
            Lookup::Scan(map.into_iter().collect())
        } else {
            Lookup::Hashed(map)
        }
    }
}

impl Lookup {
    /// The value of `key`.
    pub(crate) fn get(&self, key: &str) -> Option<&String> {
        match self {
            Lookup::Scan(entries) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            Lookup::Hashed(map) => map.get(key),
        }
    }

    /// The value of `key.to_lowercase()`, lowercasing short ASCII keys on the stack.
    pub(crate) fn get_lowercased(&self, key: &str) -> Option<&String> {
        const STACK_MAX: usize = 64;
        if key.is_ascii() && key.len() <= STACK_MAX {
            let mut buf = [0u8; STACK_MAX];
            let lowered = &mut buf[..key.len()];
            lowered.copy_from_slice(key.as_bytes());
            // For ASCII text, `to_lowercase` is the ASCII mapping.
            lowered.make_ascii_lowercase();
            if let Ok(lowered) = std::str::from_utf8(lowered) {
                return self.get(lowered);
            }
        }
        self.get(&key.to_lowercase())
    }

    /// Whether the table has no entry.
    pub(crate) fn is_empty(&self) -> bool {
        match self {
            Lookup::Scan(entries) => entries.is_empty(),
            Lookup::Hashed(map) => map.is_empty(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanned_and_hashed_tables_answer_like_the_map() {
        for size in [0, 1, SCAN_MAX, SCAN_MAX + 1, 40] {
            let map: HashMap<String, String> = (0..size)
                .map(|i| (format!("k{i}"), format!("v{i}")))
                .collect();
            let table = Lookup::from(map.clone());
            assert_eq!(matches!(table, Lookup::Scan(_)), size <= SCAN_MAX);
            assert_eq!(table.is_empty(), size == 0);
            for key in (0..size + 2)
                .map(|i| format!("k{i}"))
                .chain(["".into(), "K1".into()])
            {
                assert_eq!(table.get(&key), map.get(&key), "{key}");
                assert_eq!(
                    table.get_lowercased(&key),
                    map.get(&key.to_lowercase()),
                    "{key}"
                );
            }
        }
        let table = Lookup::from(HashMap::from([
            ("vip".to_owned(), "VIP".to_owned()),
            ("été".to_owned(), "SUMMER".to_owned()),
        ]));
        for key in ["VIP", "Vip", "vip", "ÉTÉ", "Été"] {
            assert!(table.get_lowercased(key).is_some(), "{key}");
        }
        assert_eq!(table.get_lowercased(&"V".repeat(100)), None);
    }
}
