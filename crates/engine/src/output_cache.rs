//! Generated outputs kept in memory so they can be shown and sent without
//! reading the disk again, within a byte budget (least recently used first
//! out). An evicted output is read back from its file in the data folder.

use crate::model::JobId;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

pub(crate) struct OutputCache {
    budget: usize,
    inner: Mutex<Lru>,
}

/// Every use stamps an entry with the next tick; the smallest tick is the
/// least recently used, so a use and an eviction are O(log n).
#[derive(Default)]
struct Lru {
    entries: HashMap<JobId, (Arc<[u8]>, u64)>,
    by_use: BTreeMap<u64, JobId>,
    tick: u64,
    bytes: usize,
}

impl Lru {
    fn stamp(&mut self) -> u64 {
        self.tick += 1;
        self.tick
    }
}

impl OutputCache {
    pub(crate) fn new(budget: usize) -> Self {
        OutputCache {
            budget,
            inner: Mutex::new(Lru::default()),
        }
    }

    pub(crate) fn insert(&self, job: JobId, bytes: Arc<[u8]>) {
        if bytes.len() > self.budget {
            return;
        }
        let mut lru = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let tick = lru.stamp();
        lru.bytes += bytes.len();
        if let Some((old, old_tick)) = lru.entries.insert(job, (bytes, tick)) {
            lru.bytes -= old.len();
            lru.by_use.remove(&old_tick);
        }
        lru.by_use.insert(tick, job);
        while lru.bytes > self.budget {
            let Some((_, oldest)) = lru.by_use.pop_first() else {
                break;
            };
            if let Some((evicted, _)) = lru.entries.remove(&oldest) {
                lru.bytes -= evicted.len();
            }
        }
    }

    pub(crate) fn get(&self, job: JobId) -> Option<Arc<[u8]>> {
        let mut lru = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let tick = lru.stamp();
        let (bytes, used) = lru.entries.get_mut(&job)?;
        let (bytes, old_tick) = (bytes.clone(), std::mem::replace(used, tick));
        lru.by_use.remove(&old_tick);
        lru.by_use.insert(tick, job);
        Some(bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn least_recently_used_output_leaves_first_when_over_budget() {
        let cache = OutputCache::new(10);
        cache.insert(1, Arc::from(vec![0u8; 4]));
        cache.insert(2, Arc::from(vec![0u8; 4]));
        assert!(cache.get(1).is_some()); // 1 is now the most recent
        cache.insert(3, Arc::from(vec![0u8; 4]));
        assert!(cache.get(2).is_none());
        assert!(cache.get(1).is_some());
        assert!(cache.get(3).is_some());
    }

    #[test]
    fn an_output_larger_than_the_budget_is_not_kept() {
        let cache = OutputCache::new(3);
        cache.insert(1, Arc::from(vec![0u8; 4]));
        assert!(cache.get(1).is_none());
    }
}
