//! One typed stream of what happens in the queue, coalesced: within each
//! flush interval a subscriber gets at most one event per job (its latest
//! state, its latest byte count) and one set of counts, so a queue finishing
//! thousands of jobs a second cannot flood a window or a terminal.
//!
//! A subscriber that still falls behind gets `RecvError::Lagged` from the
//! broadcast channel and should re-read the status from the engine.

use crate::model::{BatchId, ErrorClass, JobId, JobState, Phase, StateCounts};
use crate::providers::Stage;
use serde::Serialize;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, Weak};
use std::time::Duration;
use tokio::sync::broadcast;

/// How often coalesced events are delivered.
pub const FLUSH_INTERVAL: Duration = Duration::from_millis(100);
const CHANNEL_CAPACITY: usize = 4096;

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    JobsQueued {
        batch_id: BatchId,
        jobs: u64,
    },
    JobChanged {
        job_id: JobId,
        state: JobState,
        phase: Phase,
        error: Option<(ErrorClass, String)>,
        /// When a job put back to wait (a retry, a destination that asked to
        /// wait) is tried again, in ms since the epoch.
        retry_at: Option<i64>,
        /// Attempts spent so far.
        attempts: u32,
        /// Where the delivered output can be reached (completed jobs whose
        /// destination gives one).
        link: Option<String>,
    },
    BytesSent {
        job_id: JobId,
        sent: u64,
        total: u64,
    },
    CountsChanged {
        counts: StateCounts,
    },
    /// An AI generation moved on; `elapsed_ms` since its attempt started.
    GenerationStage {
        job_id: JobId,
        stage: Stage,
        elapsed_ms: u64,
    },
}

/// Events waiting for the next delivery: every batch queued, and the latest
/// change, the latest progress and the latest counts. The bus uses it, and so
/// can a subscriber that delivers less often (the desktop bridge).
#[derive(Default)]
pub struct Coalescer {
    queued: Vec<Event>,
    /// Each job's latest progress: bytes sent, or a generation's stage.
    bytes: HashMap<JobId, Event>,
    jobs: HashMap<JobId, Event>,
    counts: Option<Event>,
}

impl Coalescer {
    pub fn push(&mut self, event: Event) {
        match &event {
            Event::JobsQueued { .. } => self.queued.push(event),
            Event::BytesSent { job_id, .. } | Event::GenerationStage { job_id, .. } => {
                self.bytes.insert(*job_id, event);
            }
            Event::JobChanged { job_id, .. } => {
                // A newer state makes older progress moot.
                self.bytes.remove(job_id);
                self.jobs.insert(*job_id, event);
            }
            Event::CountsChanged { .. } => self.counts = Some(event),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.queued.is_empty()
            && self.bytes.is_empty()
            && self.jobs.is_empty()
            && self.counts.is_none()
    }

    /// Everything waiting, emptied: batches queued, progress, changes, counts.
    pub fn drain(&mut self) -> impl Iterator<Item = Event> + '_ {
        self.queued
            .drain(..)
            .chain(self.bytes.drain().map(|(_, e)| e))
            .chain(self.jobs.drain().map(|(_, e)| e))
            .chain(self.counts.take())
    }
}

struct Inner {
    pending: Mutex<Coalescer>,
    sender: broadcast::Sender<Event>,
    flusher_started: std::sync::Once,
}

#[derive(Clone)]
pub(crate) struct EventBus {
    inner: Arc<Inner>,
}

impl EventBus {
    pub(crate) fn new() -> Self {
        let (sender, _) = broadcast::channel(CHANNEL_CAPACITY);
        EventBus {
            inner: Arc::new(Inner {
                pending: Mutex::new(Coalescer::default()),
                sender,
                flusher_started: std::sync::Once::new(),
            }),
        }
    }

    pub(crate) fn has_subscribers(&self) -> bool {
        self.inner.sender.receiver_count() > 0
    }

    pub(crate) fn publish(&self, event: Event) {
        if !self.has_subscribers() {
            return;
        }
        self.inner
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push(event);
    }

    /// Delivers what is pending now instead of at the next interval.
    pub(crate) fn flush(&self) {
        self.inner.flush();
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        let receiver = self.inner.sender.subscribe();
        self.inner.flusher_started.call_once(|| {
            let weak = Arc::downgrade(&self.inner);
            std::thread::Builder::new()
                .name("outbox-events".into())
                .spawn(move || flush_loop(weak))
                .map_err(|e| tracing::error!("cannot start the event thread: {e}"))
                .ok();
        });
        receiver
    }
}

impl Inner {
    fn flush(&self) {
        let events: Vec<Event> = {
            let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
            pending.drain().collect()
        };
        for event in events {
            // No receivers left is not an error: nobody is watching.
            let _ = self.sender.send(event);
        }
    }
}

/// Runs until the bus is dropped.
fn flush_loop(inner: Weak<Inner>) {
    loop {
        std::thread::sleep(FLUSH_INTERVAL);
        let Some(inner) = inner.upgrade() else { return };
        inner.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_of_changes_to_one_job_arrives_as_its_latest_state() {
        let bus = EventBus::new();
        let mut rx = bus.subscribe();
        for state in [
            JobState::Processing,
            JobState::Pending,
            JobState::Processing,
            JobState::Completed,
        ] {
            bus.publish(Event::JobChanged {
                job_id: 7,
                state,
                phase: Phase::Upload,
                error: None,
                retry_at: None,
                attempts: 1,
                link: None,
            });
        }
        for sent in 0..1000 {
            bus.publish(Event::BytesSent {
                job_id: 8,
                sent,
                total: 1000,
            });
        }
        std::thread::sleep(FLUSH_INTERVAL * 3);
        let mut got = Vec::new();
        while let Ok(e) = rx.try_recv() {
            got.push(e);
        }
        assert_eq!(got.len(), 2, "{got:?}");
        assert!(got.contains(&Event::JobChanged {
            job_id: 7,
            state: JobState::Completed,
            phase: Phase::Upload,
            error: None,
            retry_at: None,
            attempts: 1,
            link: None,
        }));
        assert!(got.contains(&Event::BytesSent {
            job_id: 8,
            sent: 999,
            total: 1000
        }));
    }
}
