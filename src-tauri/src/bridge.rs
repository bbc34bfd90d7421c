//! Engine events to the webview. The engine already coalesces per job every
//! 100 ms; the bridge coalesces again, with the engine's own [`Coalescer`],
//! over [`SEND_INTERVAL`], so a queue finishing thousands of jobs a second
//! costs the UI four small messages a second.

use outbox_engine::events::Coalescer;
use outbox_engine::{Engine, Event};
use serde::Serialize;
use std::time::Duration;
use tauri::ipc::Channel;
use tokio::sync::broadcast::error::RecvError;
use tokio_util::sync::CancellationToken;

pub const SEND_INTERVAL: Duration = Duration::from_millis(250);

/// One message to the webview.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Update {
    pub events: Vec<Event>,
    /// Events were lost (the webview fell behind): re-read the snapshot.
    pub resync: bool,
}

/// What is waiting to be sent: the engine's own coalescing (latest change
/// and progress per job), and whether events were lost.
#[derive(Default)]
pub struct Pending {
    events: Coalescer,
    resync: bool,
}

impl Pending {
    pub fn push(&mut self, event: Event) {
        self.events.push(event);
    }

    pub fn lost_some(&mut self) {
        self.resync = true;
    }

    /// The message to send, if anything happened.
    pub fn take(&mut self) -> Option<Update> {
        if self.events.is_empty() && !self.resync {
            return None;
        }
        Some(Update {
            events: self.events.drain().collect(),
            resync: std::mem::take(&mut self.resync),
        })
    }
}

/// Forwards the engine's events to `channel` until the returned token is
/// cancelled or the webview stops listening.
pub fn forward(engine: Engine, channel: Channel<Update>) -> CancellationToken {
    let stop = CancellationToken::new();
    let mut events = engine.subscribe();
    tauri::async_runtime::spawn({
        let stop = stop.clone();
        async move {
            let mut pending = Pending::default();
            let mut tick = tokio::time::interval(SEND_INTERVAL);
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    received = events.recv() => match received {
                        Ok(event) => pending.push(event),
                        Err(RecvError::Lagged(_)) => pending.lost_some(),
                        Err(RecvError::Closed) => break,
                    },
                    _ = tick.tick() => {
                        if let Some(update) = pending.take() {
                            if let Err(e) = channel.send(update) {
                                tracing::debug!("the webview stopped listening: {e}");
                                break;
                            }
                        }
                    }
                }
            }
        }
    });
    stop
}

#[cfg(test)]
mod tests {
    use super::*;
    use outbox_engine::{JobId, JobState, Phase, StateCounts};

    fn changed(job_id: JobId, state: JobState) -> Event {
        Event::JobChanged {
            job_id,
            state,
            phase: Phase::Upload,
            error: None,
        }
    }

    #[test]
    fn only_the_latest_change_of_each_job_is_sent() {
        let mut pending = Pending::default();
        pending.push(changed(1, JobState::Processing));
        pending.push(changed(2, JobState::Processing));
        pending.push(changed(1, JobState::Completed));
        for sent in [10, 20, 30] {
            pending.push(Event::BytesSent {
                job_id: 2,
                sent,
                total: 30,
            });
        }
        pending.push(Event::CountsChanged {
            counts: StateCounts::default(),
        });
        let update = pending.take().expect("something to send");
        assert!(!update.resync);
        assert_eq!(update.events.len(), 4, "{:?}", update.events);
        assert!(update.events.contains(&changed(1, JobState::Completed)));
        assert!(!update.events.contains(&changed(1, JobState::Processing)));
        assert!(update.events.contains(&Event::BytesSent {
            job_id: 2,
            sent: 30,
            total: 30
        }));
        assert!(pending.take().is_none(), "nothing is sent twice");
    }

    #[test]
    fn every_batch_queued_is_sent_and_a_loss_asks_for_a_resync() {
        let mut pending = Pending::default();
        pending.push(Event::JobsQueued {
            batch_id: 1,
            jobs: 3,
        });
        pending.push(Event::JobsQueued {
            batch_id: 2,
            jobs: 4,
        });
        pending.lost_some();
        let update = pending.take().expect("something to send");
        assert_eq!(update.events.len(), 2);
        assert!(update.resync);
    }
}
