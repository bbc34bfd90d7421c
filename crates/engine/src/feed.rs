//! The change feed across processes: what another process commits to this
//! database (`outbox add` in a terminal, a second worker, the app) becomes
//! the events this process publishes for its own changes, within a tick, so
//! an open window or an API client's event stream sees it.
//!
//! Every change of a job's state, phase, error or attempts is logged in
//! `job_changes` by a trigger (the same transaction as the change), and a
//! new batch is a new id. Each tick reads SQLite's `data_version`, which
//! moves only when another connection commits; while it stays, whatever was
//! logged meanwhile is this process's own and already published, so the
//! place in the log just moves on. Once it moved, everything logged since
//! the last tick is published: this process's own changes of that tick are
//! published twice, which changes nothing (an event carries the whole state).

use crate::error::Result;
use crate::events::Event;
use crate::store::FeedMark;
use crate::worker::blocking;
use crate::Shared;
use std::sync::Arc;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// How often the feed looks: the latency a window sees.
pub const TICK: Duration = Duration::from_millis(250);
/// Changes read in one tick at most (a batch of 20,000 paused elsewhere is
/// published over a few ticks).
const MOST_PER_TICK: usize = 2_000;
/// Changes kept in the log for readers that are behind.
pub(crate) const KEPT_CHANGES: i64 = 20_000;

/// Publishes other processes' changes until `stop`.
pub(crate) async fn follow(shared: Arc<Shared>, stop: CancellationToken) -> Result<()> {
    let mut place = blocking(&shared, |s| s.store.feed_mark()).await?;
    let mut ticks = tokio::time::interval(TICK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return Ok(()),
            _ = ticks.tick() => {}
        }
        place = match blocking(&shared, move |s| step(s, place)).await {
            Ok(next) => next,
            Err(e) => {
                // A locked or busy database now and then: the next tick reads again.
                tracing::debug!("the change feed could not read the queue: {e}");
                place
            }
        };
    }
}

/// One tick: publishes what other processes changed since `place`, and
/// returns the new place.
fn step(shared: &Shared, place: FeedMark) -> Result<FeedMark> {
    let now = shared.store.feed_mark()?;
    if now.version == place.version {
        return Ok(now);
    }
    let read = shared
        .store
        .feed_read(place.seq, now.seq, place.batch, MOST_PER_TICK)?;
    let events = &shared.events;
    for &(batch_id, jobs) in &read.batches {
        events.publish(Event::JobsQueued { batch_id, jobs });
    }
    for job in read.jobs {
        events.publish(Event::JobChanged {
            job_id: job.id,
            state: job.state,
            phase: job.phase,
            error: job.error.map(|e| (e.class, e.message)),
            retry_at: job.next_attempt_at,
            attempts: job.attempts,
            link: job.remote.and_then(|r| r.url),
        });
    }
    if events.has_subscribers() {
        events.publish(Event::CountsChanged {
            counts: shared.store.counts()?,
        });
    }
    // New or changed work elsewhere may be this process's worker's to do.
    shared.notify.notify_one();
    Ok(FeedMark {
        seq: read.seq,
        batch: read.batches.last().map_or(place.batch, |b| b.0),
        // Read on next tick when more was logged than one tick reads.
        version: if read.more {
            place.version
        } else {
            now.version
        },
    })
}
