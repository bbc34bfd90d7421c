//! Engine events to the webview. The engine already coalesces per job every
//! 100 ms; the bridge coalesces again, with the engine's own [`Coalescer`],
//! over [`SEND_INTERVAL`], so a queue finishing thousands of jobs a second
//! costs the UI four small messages a second.
//!
//! A message that changes states carries the status read right after its
//! events, so the counts, the batches and the jobs in progress the window
//! shows come from one reading and agree. Commits by another process (the
//! command line, a second worker) send no events here: the bridge notices
//! them through [`Engine::foreign_commits`] and sends a fresh status with
//! `elsewhere` set, so the window reloads what it shows.

use outbox_engine::events::Coalescer;
use outbox_engine::{Engine, Event, Status};
use serde::Serialize;
use std::time::Duration;
use tauri::ipc::Channel;
use tokio::sync::broadcast;
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;

pub const SEND_INTERVAL: Duration = Duration::from_millis(250);

/// One message to the webview.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Update {
    pub events: Vec<Event>,
    /// Events were lost (the webview fell behind): re-read the snapshot.
    pub resync: bool,
    /// The status read after these events, when they changed any job.
    pub status: Option<Status>,
    /// Another process changed the queue: what is shown may be stale.
    pub elsewhere: bool,
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

    /// The message to send, if anything happened here or `elsewhere`.
    pub fn take(&mut self, elsewhere: bool) -> Option<Update> {
        if self.events.is_empty() && !self.resync && !elsewhere {
            return None;
        }
        Some(Update {
            events: self.events.drain().collect(),
            resync: std::mem::take(&mut self.resync),
            status: None,
            elsewhere,
        })
    }
}

impl Update {
    /// Whether the counts or the jobs in progress may have moved.
    fn changes_states(&self) -> bool {
        self.resync
            || self.elsewhere
            || self.events.iter().any(|e| {
                matches!(
                    e,
                    Event::JobsQueued { .. }
                        | Event::JobChanged { .. }
                        | Event::CountsChanged { .. }
                )
            })
    }
}

/// The next message, if there is anything to say. An idle tick costs one
/// flush and one `data_version` read. When the message changes states, the
/// status is read after its events and the engine's coalescer is flushed
/// again into it, so every change the status counts has its event in the
/// same message (a tile never lags the counts); a change committed in
/// between arrives with the next message.
async fn next_update(
    engine: &Engine,
    events: &mut broadcast::Receiver<Event>,
    pending: &mut Pending,
    seen: &mut Option<i64>,
) -> Option<Update> {
    let version = read_engine(engine, |engine| {
        engine.flush_events();
        engine.foreign_commits()
    })
    .await
    .and_then(|v| {
        v.map_err(|e| tracing::warn!("cannot read the database's version: {e}"))
            .ok()
    });
    drain(events, pending);
    let elsewhere = matches!((*seen, version), (Some(old), Some(new)) if old != new);
    if version.is_some() {
        *seen = version;
    }
    let mut update = pending.take(elsewhere)?;
    if update.changes_states() {
        update.status = read_engine(engine, |engine| {
            let status = engine.status();
            engine.flush_events();
            status
        })
        .await
        .and_then(|s| {
            s.map_err(|e| tracing::warn!("cannot read the status: {e}"))
                .ok()
        });
        drain(events, pending);
        if let Some(more) = pending.take(false) {
            update.events.extend(more.events);
            update.resync |= more.resync;
        }
    }
    Some(update)
}

/// Runs `read` on a blocking thread; `None` if that thread stopped.
async fn read_engine<T: Send + 'static>(
    engine: &Engine,
    read: impl FnOnce(&Engine) -> T + Send + 'static,
) -> Option<T> {
    let engine = engine.clone();
    tauri::async_runtime::spawn_blocking(move || read(&engine))
        .await
        .map_err(|e| tracing::warn!("the engine reading stopped: {e}"))
        .ok()
}

/// What the engine broadcast since the last drain, into `pending`.
fn drain(events: &mut broadcast::Receiver<Event>, pending: &mut Pending) {
    loop {
        match events.try_recv() {
            Ok(event) => pending.push(event),
            Err(TryRecvError::Lagged(_)) => pending.lost_some(),
            Err(TryRecvError::Empty | TryRecvError::Closed) => break,
        }
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
            let mut seen = None;
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
                        if let Some(update) = next_update(&engine, &mut events, &mut pending, &mut seen).await {
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
            retry_at: None,
            attempts: 1,
            link: None,
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
        let update = pending.take(false).expect("something to send");
        assert!(!update.resync);
        assert_eq!(update.events.len(), 4, "{:?}", update.events);
        assert!(update.events.contains(&changed(1, JobState::Completed)));
        assert!(!update.events.contains(&changed(1, JobState::Processing)));
        assert!(update.events.contains(&Event::BytesSent {
            job_id: 2,
            sent: 30,
            total: 30
        }));
        assert!(pending.take(false).is_none(), "nothing is sent twice");
        assert!(pending
            .take(true)
            .is_some_and(|u| u.elsewhere && u.changes_states()));
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
        let update = pending.take(false).expect("something to send");
        assert_eq!(update.events.len(), 2);
        assert!(update.resync);
    }
}
