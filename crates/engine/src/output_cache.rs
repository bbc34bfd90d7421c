//! Generated outputs kept in memory so they can be shown and sent without
//! reading the disk again, within a byte budget (least recently used first
//! out). An evicted output is read back from its file in the data folder.

use crate::model::JobId;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

pub(crate) struct OutputCache {
    budget: usize,
    inner: Mutex<Lru>,
}

#[derive(Default)]
struct Lru {
    entries: HashMap<JobId, Arc<[u8]>>,
    /// Oldest first; may hold ids already replaced or removed (skipped on eviction).
    order: VecDeque<JobId>,
    bytes: usize,
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
        if let Some(old) = lru.entries.insert(job, bytes.clone()) {
            lru.bytes -= old.len();
        }
        lru.bytes += bytes.len();
        lru.order.push_back(job);
        while lru.bytes > self.budget {
            let Some(oldest) = lru.order.pop_front() else {
                break;
            };
            // Only evict if this is the entry's latest position in the order.
            if lru.order.contains(&oldest) {
                continue;
            }
            if let Some(evicted) = lru.entries.remove(&oldest) {
                lru.bytes -= evicted.len();
            }
        }
    }

    pub(crate) fn get(&self, job: JobId) -> Option<Arc<[u8]>> {
        let mut lru = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let hit = lru.entries.get(&job).cloned();
        if hit.is_some() {
            lru.order.retain(|&j| j != job);
            lru.order.push_back(job);
        }
        hit
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
