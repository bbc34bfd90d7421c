//! `GET /v1/events`: the engine's event stream (the one the window uses) as
//! server-sent events, resumable.
//!
//! How resume works: one task numbers every engine event as it arrives
//! (`<server start ms>-<n>`, so ids of an earlier server never match) and
//! keeps the latest ones in a bounded ring. A client reconnecting with
//! `Last-Event-ID` gets every event after that id from the ring, then the
//! live ones, with nothing lost or repeated in between (it subscribes under
//! the ring's lock). When the id is older than the ring, from another server
//! run, or unreadable, or when a client falls behind, it gets one `resync`
//! event instead: events were lost, read `/v1/status` (and the items it
//! follows) again. Its id is the newest, so the next reconnect resumes
//! from there.

use crate::Shared;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::stream::{self, Stream};
use outbox_engine::{Engine, Event};
use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// One numbered event, its JSON made once for every client.
#[derive(Debug)]
pub struct Numbered {
    pub id: u64,
    /// The SSE event name: the engine event's `type`, or `resync`.
    pub name: String,
    pub data: String,
}

struct Ring {
    next: u64,
    entries: VecDeque<Arc<Numbered>>,
}

struct Inner {
    epoch: u64,
    capacity: usize,
    ring: Mutex<Ring>,
    live: broadcast::Sender<Arc<Numbered>>,
}

/// The numbered, replayable event stream of one server.
#[derive(Clone)]
pub struct EventHub {
    inner: Arc<Inner>,
}

/// Where a reconnecting client starts.
pub(crate) struct Resume {
    pub replay: Vec<Arc<Numbered>>,
    /// Events were lost: the client must read the state again.
    pub resync: Option<&'static str>,
    pub live: broadcast::Receiver<Arc<Numbered>>,
}

impl EventHub {
    /// Subscribes to `engine`'s events and numbers them until `stop`.
    pub fn start(engine: &Engine, capacity: usize, stop: CancellationToken) -> EventHub {
        let epoch = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let hub = EventHub::new(epoch, capacity);
        let mut events = engine.subscribe();
        let feeder = hub.clone();
        tokio::spawn(async move {
            loop {
                let received = tokio::select! {
                    _ = stop.cancelled() => return,
                    r = events.recv() => r,
                };
                match received {
                    Ok(event) => feeder.publish_event(&event),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(lost = n, "local API: the event stream fell behind");
                        feeder.publish("resync", LOST_BY_SERVER.to_string());
                    }
                    Err(broadcast::error::RecvError::Closed) => return,
                }
            }
        });
        hub
    }

    fn new(epoch: u64, capacity: usize) -> EventHub {
        let (live, _) = broadcast::channel(capacity.max(16));
        EventHub {
            inner: Arc::new(Inner {
                epoch,
                capacity: capacity.max(1),
                ring: Mutex::new(Ring {
                    next: 1,
                    entries: VecDeque::new(),
                }),
                live,
            }),
        }
    }

    fn publish_event(&self, event: &Event) {
        let data = match serde_json::to_string(event) {
            Ok(data) => data,
            Err(e) => {
                tracing::error!("local API: an event is not JSON: {e}");
                return;
            }
        };
        let name = serde_json::to_value(event)
            .ok()
            .and_then(|v| v.get("type").and_then(|t| t.as_str()).map(str::to_string))
            .unwrap_or_else(|| "event".into());
        self.publish(&name, data);
    }

    fn publish(&self, name: &str, data: String) {
        let mut ring = self.inner.ring.lock().unwrap_or_else(|p| p.into_inner());
        let numbered = Arc::new(Numbered {
            id: ring.next,
            name: name.to_string(),
            data,
        });
        ring.next += 1;
        if ring.entries.len() == self.inner.capacity {
            ring.entries.pop_front();
        }
        ring.entries.push_back(numbered.clone());
        // Sent under the lock: a client subscribing now sees it once.
        let _ = self.inner.live.send(numbered);
    }

    /// The SSE id of event `n`.
    pub fn event_id(&self, n: u64) -> String {
        format!("{}-{n}", self.inner.epoch)
    }

    /// A live receiver (for `?wait=`: something changed, look again).
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Arc<Numbered>> {
        self.inner.live.subscribe()
    }

    /// The newest event's number (0 before any).
    fn newest(&self, ring: &Ring) -> u64 {
        ring.next - 1
    }

    /// Where a client that last saw `last_event_id` picks up.
    pub(crate) fn resume(&self, last_event_id: Option<&str>) -> Resume {
        let ring = self.inner.ring.lock().unwrap_or_else(|p| p.into_inner());
        let live = self.inner.live.subscribe();
        let Some(last) = last_event_id else {
            return Resume {
                replay: Vec::new(),
                resync: None,
                live,
            };
        };
        let seen = last
            .split_once('-')
            .filter(|(epoch, _)| epoch.parse::<u64>().ok() == Some(self.inner.epoch))
            .and_then(|(_, n)| n.parse::<u64>().ok())
            .filter(|&n| n <= self.newest(&ring));
        let oldest = ring.entries.front().map_or(ring.next, |e| e.id);
        match seen {
            // Every event after `n` is still in the ring.
            Some(n) if n + 1 >= oldest => Resume {
                replay: ring.entries.iter().filter(|e| e.id > n).cloned().collect(),
                resync: None,
                live,
            },
            Some(_) => Resume {
                replay: Vec::new(),
                resync: Some("the events after Last-Event-ID are no longer kept"),
                live,
            },
            None => Resume {
                replay: Vec::new(),
                resync: Some("Last-Event-ID is not an event of this server run"),
                live,
            },
        }
    }

    fn newest_id(&self) -> u64 {
        let ring = self.inner.ring.lock().unwrap_or_else(|p| p.into_inner());
        self.newest(&ring)
    }
}

const LOST_BY_SERVER: &str =
    r#"{"reason":"the server fell behind the queue's events; read /v1/status again"}"#;

fn to_sse(hub: &EventHub, e: &Numbered) -> SseEvent {
    SseEvent::default()
        .id(hub.event_id(e.id))
        .event(e.name.as_str())
        .data(e.data.as_str())
}

fn resync(hub: &EventHub, reason: &str) -> SseEvent {
    let data = serde_json::json!({ "reason": format!("{reason}; read /v1/status again") });
    SseEvent::default()
        .id(hub.event_id(hub.newest_id()))
        .event("resync")
        .data(data.to_string())
}

/// What one client's stream does next.
struct Client {
    hub: EventHub,
    replay: std::vec::IntoIter<Arc<Numbered>>,
    resync: Option<&'static str>,
    live: broadcast::Receiver<Arc<Numbered>>,
    stop: CancellationToken,
}

pub(crate) async fn stream(
    State(state): State<Shared>,
    headers: HeaderMap,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let last = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .map(str::trim);
    let resume = state.hub.resume(last);
    let client = Client {
        hub: state.hub.clone(),
        replay: resume.replay.into_iter(),
        resync: resume.resync,
        live: resume.live,
        stop: state.stop.clone(),
    };
    let events = stream::unfold(client, |mut c| async move {
        if let Some(reason) = c.resync.take() {
            let event = resync(&c.hub, reason);
            return Some((Ok(event), c));
        }
        if let Some(e) = c.replay.next() {
            let event = to_sse(&c.hub, &e);
            return Some((Ok(event), c));
        }
        let received = tokio::select! {
            _ = c.stop.cancelled() => return None,
            r = c.live.recv() => r,
        };
        let event = match received {
            Ok(e) => to_sse(&c.hub, &e),
            Err(broadcast::error::RecvError::Lagged(_)) => {
                resync(&c.hub, "this client fell behind")
            }
            Err(broadcast::error::RecvError::Closed) => return None,
        };
        Some((Ok(event), c))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(r: &Resume) -> Vec<u64> {
        r.replay.iter().map(|e| e.id).collect()
    }

    #[test]
    fn resume_replays_what_came_after_the_last_id() {
        let hub = EventHub::new(42, 4);
        for i in 0..3 {
            hub.publish("x", format!("{i}"));
        }
        let r = hub.resume(Some("42-1"));
        assert_eq!((ids(&r), r.resync), (vec![2, 3], None));
        let r = hub.resume(Some("42-3"));
        assert_eq!((ids(&r), r.resync), (vec![], None));
        let r = hub.resume(None);
        assert_eq!((ids(&r), r.resync), (vec![], None));
    }

    #[test]
    fn an_id_older_than_the_ring_or_of_another_run_asks_for_a_resync() {
        let hub = EventHub::new(42, 4);
        for i in 0..10 {
            hub.publish("x", format!("{i}"));
        }
        // The ring holds 7..=10: after 6 nothing is lost, after 5 one is.
        let r = hub.resume(Some("42-6"));
        assert_eq!((ids(&r), r.resync), (vec![7, 8, 9, 10], None));
        let r = hub.resume(Some("42-5"));
        assert!(r.resync.is_some() && r.replay.is_empty());
        for stale in ["41-9", "42-11", "nonsense", "42-"] {
            assert!(hub.resume(Some(stale)).resync.is_some(), "{stale}");
        }
    }

    #[test]
    fn a_resumed_client_gets_later_events_live_once() {
        let hub = EventHub::new(1, 8);
        hub.publish("x", "a".into());
        let mut r = hub.resume(Some("1-0"));
        hub.publish("x", "b".into());
        assert_eq!(ids(&r), vec![1]);
        let live = r.live.try_recv().expect("b live");
        assert_eq!((live.id, live.data.as_str()), (2, "b"));
        assert!(r.live.try_recv().is_err());
    }
}
