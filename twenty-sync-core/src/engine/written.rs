//! What a pull into an empty entity has written so far, as a fixed-size Bloom filter.
//!
//! When both the [`StateStore`](crate::StateStore) and the
//! [`SourceOfTruth`](crate::SourceOfTruth) say an entity is empty before its pull
//! ([`known_empty`](crate::StateStore::known_empty)), a record state or a local record of it can
//! only be one this run wrote. The walk then looks up a page's states and local records only
//! when one of its Twenty ids or local keys may be in this filter (a record updated in Twenty
//! during the walk, met again at its end; two Twenty records mapping to one local key). A false
//! positive costs the lookup the walk would have made anyway, never a wrong decision.
//!
//! The filter has a fixed size (2 MiB), so memory stays flat however large the entity: up to
//! about a million ids and keys nearly every page skips its lookups (about 2% false positives
//! at two million entries); past that, more and more pages look up as before.

use std::hash::{Hash, Hasher};

/// Bits in the filter (2 MiB).
const BITS: u64 = 1 << 24;
/// Bits set per entry.
const PROBES: u64 = 4;

/// A Bloom filter of the Twenty ids and local keys written in this run.
pub(crate) struct WrittenFilter {
    words: Vec<u64>,
}

impl WrittenFilter {
    pub(crate) fn new() -> Self {
        WrittenFilter {
            words: vec![0; (BITS / 64) as usize],
        }
    }

    /// The bit positions of `item` (double hashing of one 64-bit hash).
    fn positions(item: &str) -> impl Iterator<Item = u64> + use<> {
        // SipHash with fixed keys: the same positions for the same item within a run (the
        // filter lives for one pull).
        let mut h = std::hash::DefaultHasher::new();
        item.hash(&mut h);
        let hash = h.finish();
        let (a, b) = (hash & 0xffff_ffff, (hash >> 32) | 1);
        (0..PROBES).map(move |i| a.wrapping_add(i.wrapping_mul(b)) % BITS)
    }

    pub(crate) fn insert(&mut self, item: &str) {
        for bit in Self::positions(item) {
            self.words[(bit / 64) as usize] |= 1 << (bit % 64);
        }
    }

    /// `false` when `item` was certainly never inserted.
    pub(crate) fn may_contain(&self, item: &str) -> bool {
        Self::positions(item).all(|bit| self.words[(bit / 64) as usize] & (1 << (bit % 64)) != 0)
    }

    /// Whether any of `items` may have been inserted.
    pub(crate) fn may_contain_any<'a>(&self, items: impl IntoIterator<Item = &'a String>) -> bool {
        items.into_iter().any(|i| self.may_contain(i))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inserted_items_are_always_found_and_others_rarely() {
        let mut f = WrittenFilter::new();
        let inserted: Vec<String> = (0..200_000).map(|i| format!("id-{i}")).collect();
        for i in &inserted {
            f.insert(i);
        }
        assert!(
            inserted.iter().all(|i| f.may_contain(i)),
            "no false negative"
        );
        let others = (0..100_000)
            .filter(|i| f.may_contain(&format!("other-{i}")))
            .count();
        // At 200,000 entries in 2^24 bits with 4 probes the expected rate is about 0.0002%.
        assert!(others < 50, "{others} false positives in 100,000");
        assert!(f.may_contain_any(&["x".to_owned(), inserted[7].clone()]));
        assert!(!f.may_contain_any(&["x".to_owned(), "y".to_owned()]));
    }
}
