//! Each provider's limits within one worker: requests at once, and requests
//! started per minute, spread evenly (a burst at the start of each minute is
//! what providers answer with 429).

use super::ProviderSettings;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::time::Instant;

#[derive(Default)]
pub(crate) struct ProviderLimits {
    gates: Mutex<HashMap<String, Arc<Gate>>>,
    /// Pauses a provider's server asked for (ms on the engine's clock), known
    /// here before the failure is recorded: a request waiting for the same
    /// slot must not go out meanwhile.
    pauses: Mutex<HashMap<String, i64>>,
}

/// One provider's limits; made anew when its settings change.
struct Gate {
    max_concurrent: u32,
    spacing: Option<Duration>,
    slots: Arc<Semaphore>,
    next_start: tokio::sync::Mutex<Instant>,
}

/// Held while a request is under way.
pub(crate) struct Entered {
    _slot: Option<OwnedSemaphorePermit>,
}

impl ProviderLimits {
    /// Waits until `provider` may take one more request, then holds its slot.
    pub(crate) async fn enter(&self, provider: &str, settings: &ProviderSettings) -> Entered {
        let gate = self.gate(provider, settings);
        // The semaphore is never closed: acquiring cannot fail.
        let slot = gate.slots.clone().acquire_owned().await.ok();
        if let Some(spacing) = gate.spacing {
            let mut next = gate.next_start.lock().await;
            let now = Instant::now();
            if *next > now {
                tokio::time::sleep_until(*next).await;
            }
            *next = (*next).max(now) + spacing;
        }
        Entered { _slot: slot }
    }

    /// Records that `provider` asked for no requests before `until`.
    pub(crate) fn pause(&self, provider: &str, until: i64) {
        let mut pauses = self.pauses.lock().unwrap_or_else(|p| p.into_inner());
        let end = pauses.entry(provider.to_string()).or_insert(until);
        *end = (*end).max(until);
    }

    /// The end of `provider`'s pause, if it is after `now`.
    pub(crate) fn paused_until(&self, provider: &str, now: i64) -> Option<i64> {
        let pauses = self.pauses.lock().unwrap_or_else(|p| p.into_inner());
        pauses.get(provider).copied().filter(|&until| until > now)
    }

    fn gate(&self, provider: &str, settings: &ProviderSettings) -> Arc<Gate> {
        let spacing = settings
            .requests_per_minute
            .filter(|&n| n > 0)
            .map(|n| Duration::from_secs(60) / n);
        let max_concurrent = settings.max_concurrent.max(1);
        let mut gates = self.gates.lock().unwrap_or_else(|p| p.into_inner());
        match gates.get(provider) {
            Some(gate) if gate.max_concurrent == max_concurrent && gate.spacing == spacing => {
                gate.clone()
            }
            _ => {
                let gate = Arc::new(Gate {
                    max_concurrent,
                    spacing,
                    slots: Arc::new(Semaphore::new(max_concurrent as usize)),
                    next_start: tokio::sync::Mutex::new(Instant::now()),
                });
                gates.insert(provider.to_string(), gate.clone());
                gate
            }
        }
    }
}
