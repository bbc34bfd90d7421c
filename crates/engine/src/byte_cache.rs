//! An in-memory cache with a byte budget, least recently used first out.
//! Holds generated outputs (so they are shown and sent without reading the
//! disk again) and previews; whatever leaves is made again from its file.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// What a cached value costs against the budget.
pub trait Weigh {
    fn bytes(&self) -> usize;
}

impl Weigh for [u8] {
    fn bytes(&self) -> usize {
        self.len()
    }
}

pub struct ByteCache<K, V: ?Sized> {
    budget: usize,
    inner: Mutex<Lru<K, V>>,
}

/// Every use stamps an entry with the next tick; the smallest tick is the
/// least recently used, so a use and an eviction are O(log n).
struct Lru<K, V: ?Sized> {
    entries: HashMap<K, (Arc<V>, u64)>,
    by_use: BTreeMap<u64, K>,
    tick: u64,
    bytes: usize,
}

impl<K: Hash + Eq + Clone, V: Weigh + ?Sized> ByteCache<K, V> {
    pub fn new(budget: usize) -> Self {
        ByteCache {
            budget,
            inner: Mutex::new(Lru {
                entries: HashMap::new(),
                by_use: BTreeMap::new(),
                tick: 0,
                bytes: 0,
            }),
        }
    }

    pub fn insert(&self, key: K, value: Arc<V>) {
        let size = value.bytes();
        if size > self.budget {
            return;
        }
        let mut lru = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        lru.tick += 1;
        let tick = lru.tick;
        lru.bytes += size;
        if let Some((old, old_tick)) = lru.entries.insert(key.clone(), (value, tick)) {
            lru.bytes -= old.bytes();
            lru.by_use.remove(&old_tick);
        }
        lru.by_use.insert(tick, key);
        while lru.bytes > self.budget {
            let Some((_, oldest)) = lru.by_use.pop_first() else {
                break;
            };
            if let Some((evicted, _)) = lru.entries.remove(&oldest) {
                lru.bytes -= evicted.bytes();
            }
        }
    }

    pub fn get(&self, key: &K) -> Option<Arc<V>> {
        let mut lru = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        lru.tick += 1;
        let tick = lru.tick;
        let (value, used) = lru.entries.get_mut(key)?;
        let (value, old_tick) = (value.clone(), std::mem::replace(used, tick));
        lru.by_use.remove(&old_tick);
        lru.by_use.insert(tick, key.clone());
        Some(value)
    }

    /// Drops every entry whose key matches (a job's outputs made again).
    pub fn remove_where(&self, mut matches: impl FnMut(&K) -> bool) {
        let mut lru = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let doomed: Vec<K> = lru.entries.keys().filter(|k| matches(k)).cloned().collect();
        for key in doomed {
            if let Some((value, tick)) = lru.entries.remove(&key) {
                lru.bytes -= value.bytes();
                lru.by_use.remove(&tick);
            }
        }
    }

    /// Bytes held now.
    pub fn bytes(&self) -> usize {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(n: usize) -> Arc<[u8]> {
        Arc::from(vec![0u8; n])
    }

    #[test]
    fn least_recently_used_leaves_first_when_over_budget() {
        let cache = ByteCache::<u32, [u8]>::new(10);
        cache.insert(1, bytes(4));
        cache.insert(2, bytes(4));
        assert!(cache.get(&1).is_some()); // 1 is now the most recent
        cache.insert(3, bytes(4));
        assert!(cache.get(&2).is_none());
        assert!(cache.get(&1).is_some());
        assert!(cache.get(&3).is_some());
        assert_eq!(cache.bytes(), 8);
    }

    #[test]
    fn replacing_a_value_counts_only_the_new_one() {
        let cache = ByteCache::<u32, [u8]>::new(10);
        cache.insert(1, bytes(6));
        cache.insert(1, bytes(2));
        cache.insert(2, bytes(8));
        assert_eq!(cache.bytes(), 10);
        assert_eq!(cache.get(&1).map(|v| v.len()), Some(2));
    }

    #[test]
    fn removing_by_key_frees_the_budget_and_keeps_the_rest() {
        let cache = ByteCache::<(u32, u32), [u8]>::new(10);
        cache.insert((1, 512), bytes(3));
        cache.insert((1, 256), bytes(3));
        cache.insert((2, 512), bytes(3));
        cache.remove_where(|(job, _)| *job == 1);
        assert_eq!(cache.bytes(), 3);
        assert!(cache.get(&(1, 512)).is_none());
        assert!(cache.get(&(2, 512)).is_some());
    }

    #[test]
    fn a_value_larger_than_the_budget_is_not_kept() {
        let cache = ByteCache::<u32, [u8]>::new(3);
        cache.insert(1, bytes(4));
        assert!(cache.get(&1).is_none());
        assert_eq!(cache.bytes(), 0);
    }
}
