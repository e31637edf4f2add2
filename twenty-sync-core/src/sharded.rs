//! [`ShardedMap`]: a hash map split into shards that grow one at a time, for the stores that keep
//! an entry per record in memory ([`MemoryState`](crate::memory::MemoryState), the file store).
//!
//! A map keeps its entries in one vector. Growing it allocates a vector twice the size and copies
//! every entry into it while the old one is still alive, so at that moment the process holds
//! both, and the allocator may keep the freed one resident a while longer. A full pull of
//! 1,000,000 people into the file store peaked at 674 MiB with one map per index, and at 459 MiB
//! with the same maps reserved to their final size up front (no growth at all; `benches pull
//! 1000000` into the file store, 2026-12-06).
//!
//! Here the entries are spread over [`SHARDS`] maps by the key's hash, with unequal shares: shard
//! `i` takes a share proportional to `2^(i / SHARDS)`. The shards' sizes then step evenly through
//! a factor of two, so as the map grows they reach their size thresholds one after the other,
//! spread over each doubling of the whole, instead of all within a few thousand inserts of each
//! other (which, with equal shares, would leave most shards' old vectors freed at nearly the same
//! moment). Each growth copies one shard, at most about a twelfth of the entries.

use std::collections::hash_map::DefaultHasher;
use std::hash::{BuildHasher, BuildHasherDefault, Hash};
use std::sync::LazyLock;

use indexmap::{Equivalent, IndexMap};

/// Number of shards.
const SHARDS: usize = 16;

/// Picks a key's shard. A fixed hasher, independent of the shards' own (randomly keyed) hashers:
/// with the same hasher, every key of a shard would share the bits that pick the shard, and the
/// shard's table would use fewer of its own.
type ShardHasher = BuildHasherDefault<DefaultHasher>;

/// The highest key hash of each shard: shard `i` takes the hashes up to `BOUNDS[i]`, a share of
/// the hash space proportional to `2^(i / SHARDS)`.
static BOUNDS: LazyLock<[u64; SHARDS]> = LazyLock::new(|| {
    let weight = |i: usize| (i as f64 / SHARDS as f64).exp2();
    let total: f64 = (0..SHARDS).map(weight).sum();
    let mut bounds = [u64::MAX; SHARDS];
    let mut cumulative = 0.0;
    for (i, bound) in bounds.iter_mut().enumerate().take(SHARDS - 1) {
        cumulative += weight(i);
        // `as` saturates: the last bound stays `u64::MAX` whatever the rounding.
        *bound = (cumulative / total * u64::MAX as f64) as u64;
    }
    bounds
});

/// A hash map of `K` to `V` in [`SHARDS`] [`IndexMap`]s. Iteration goes shard by shard; within a
/// shard, in insertion order until a removal moves the shard's last entry into the gap.
#[derive(Debug, Clone)]
pub(crate) struct ShardedMap<K, V> {
    shards: Vec<IndexMap<K, V>>,
}

impl<K, V> Default for ShardedMap<K, V> {
    fn default() -> Self {
        ShardedMap {
            shards: (0..SHARDS).map(|_| IndexMap::new()).collect(),
        }
    }
}

impl<K: Hash + Eq, V> ShardedMap<K, V> {
    fn shard_of<Q: Hash + ?Sized>(key: &Q) -> usize {
        let hash = ShardHasher::default().hash_one(key);
        BOUNDS.partition_point(|&bound| bound < hash)
    }

    /// Number of entries.
    pub(crate) fn len(&self) -> usize {
        self.shards.iter().map(IndexMap::len).sum()
    }

    /// Whether there is no entry.
    pub(crate) fn is_empty(&self) -> bool {
        self.shards.iter().all(IndexMap::is_empty)
    }

    /// The value of `key`.
    pub(crate) fn get<Q>(&self, key: &Q) -> Option<&V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.shards[Self::shard_of(key)].get(key)
    }

    /// Inserts or replaces the value of `key`; returns the value it replaced.
    pub(crate) fn insert(&mut self, key: K, value: V) -> Option<V> {
        let shard = Self::shard_of(&key);
        self.shards[shard].insert(key, value)
    }

    /// Removes `key` and returns its value.
    pub(crate) fn swap_remove<Q>(&mut self, key: &Q) -> Option<V>
    where
        Q: Hash + Equivalent<K> + ?Sized,
    {
        self.shards[Self::shard_of(key)].swap_remove(key)
    }

    /// Every entry, shard by shard.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        self.shards.iter().flat_map(IndexMap::iter)
    }

    /// Every value, shard by shard.
    pub(crate) fn values(&self) -> impl Iterator<Item = &V> {
        self.shards.iter().flat_map(IndexMap::values)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::*;

    /// A deterministic sequence of pseudo-random numbers (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
    }

    #[test]
    fn behaves_like_a_hash_map_under_random_inserts_replacements_and_removals() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut sharded: ShardedMap<String, u64> = ShardedMap::default();
        let mut plain: HashMap<String, u64> = HashMap::new();
        for step in 0..20_000u64 {
            let key = format!("key-{}", rng.next() % 3_000);
            match rng.next() % 3 {
                0 => assert_eq!(sharded.swap_remove(key.as_str()), plain.remove(&key)),
                _ => assert_eq!(sharded.insert(key.clone(), step), plain.insert(key, step)),
            }
        }
        assert_eq!(sharded.len(), plain.len());
        assert_eq!(sharded.is_empty(), plain.is_empty());
        for (k, v) in &plain {
            assert_eq!(sharded.get(k.as_str()), Some(v), "{k}");
        }
        let iterated: HashMap<String, u64> = sharded.iter().map(|(k, v)| (k.clone(), *v)).collect();
        assert_eq!(iterated, plain);
        assert_eq!(sharded.values().count(), plain.len());
    }

    #[test]
    fn shards_hold_shares_that_step_through_a_factor_of_two() {
        let mut map: ShardedMap<String, ()> = ShardedMap::default();
        let n = 200_000;
        for i in 0..n {
            // Sequential keys: the shard comes from a hash of the whole key.
            map.insert(format!("{i}"), ());
        }
        let sizes: Vec<usize> = map.shards.iter().map(IndexMap::len).collect();
        assert_eq!(sizes.iter().sum::<usize>(), n);
        let step = (1.0 / SHARDS as f64).exp2();
        for (i, pair) in sizes.windows(2).enumerate() {
            let ratio = pair[1] as f64 / pair[0] as f64;
            assert!(
                (ratio / step - 1.0).abs() < 0.05,
                "shard {} / shard {i}: {ratio:.3}, expected about {step:.3} ({sizes:?})",
                i + 1
            );
        }
        assert!(ShardedMap::<String, ()>::default().is_empty());
    }

    #[test]
    fn the_shards_grow_one_after_the_other_across_a_doubling() {
        let mut map: ShardedMap<String, ()> = ShardedMap::default();
        let capacities = |m: &ShardedMap<String, ()>| -> Vec<usize> {
            m.shards.iter().map(IndexMap::capacity).collect()
        };
        // Growths (entry count at the insert that grew some shard) between 100,000 and 200,000.
        let (from, to) = (100_000, 200_000);
        let mut growths = Vec::new();
        let mut before = capacities(&map);
        for i in 0..to {
            map.insert(format!("key-{i}"), ());
            let now = capacities(&map);
            if i >= from && now != before {
                growths.push(i);
            }
            before = now;
        }
        // Every shard doubles once per doubling of the whole.
        assert_eq!(growths.len(), SHARDS, "{growths:?}");
        // Spread over the doubling: with equal shares they would all fall within a few
        // thousand inserts of each other.
        let min_gap = growths.windows(2).map(|w| w[1] - w[0]).min().unwrap_or(0);
        assert!(min_gap > 1_000, "{growths:?}");
        assert!(
            growths[SHARDS - 1] - growths[0] > (to - from) / 2,
            "{growths:?}"
        );
    }
}
