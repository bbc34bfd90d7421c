//! The engine's background worker inside the app: started at launch with the
//! user's settings, started again when they change, stopped cleanly on quit
//! (jobs in flight are released, and the next launch resumes them). It runs
//! on a runtime of its own whose threads have a lower CPU priority, so the
//! window (the webview's frames, the commands it waits for) wins the cores
//! from the queue.

use crate::settings::Settings;
use outbox_engine::worker::lower_this_threads_priority;
use outbox_engine::{Engine, RetryPolicy, WorkerConfig};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;
use tokio::runtime::Runtime;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

/// The queue's runtime (the worker's, and the local API's): built once, never dropped (a runtime cannot be
/// dropped from inside another's tasks, where the app's exit runs).
pub(crate) fn queue_runtime() -> Result<&'static Runtime, &'static str> {
    static RUNTIME: OnceLock<Result<Runtime, String>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .thread_name("outbox-queue")
                // Every thread of it, its blocking pool (SQLite) included.
                .on_thread_start(lower_this_threads_priority)
                .enable_all()
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(String::as_str)
}

#[derive(Default)]
pub struct WorkerControl {
    running: Mutex<Option<(CancellationToken, JoinHandle<()>)>>,
}

/// Previews of a drop get the cores first; outputs follow this much later.
const PREVIEWS_FIRST: Duration = Duration::from_millis(1500);

fn config(settings: &Settings) -> WorkerConfig {
    WorkerConfig {
        upload_concurrency: settings.concurrency as usize,
        generate_after: PREVIEWS_FIRST,
        retry: RetryPolicy::default(),
        ..WorkerConfig::default()
    }
}

impl WorkerControl {
    /// Starts the worker, after stopping the one running (if any). An error
    /// says why the queue cannot run (its threads could not be started).
    pub async fn restart(&self, engine: &Engine, settings: &Settings) -> Result<(), String> {
        let runtime =
            queue_runtime().map_err(|e| format!("cannot start the queue's threads: {e}"))?;
        self.stop().await;
        let stop = CancellationToken::new();
        let worker = engine.worker(config(settings));
        let handle = runtime.spawn({
            let stop = stop.clone();
            async move {
                match worker.run(stop).await {
                    Ok(summary) => tracing::info!(?summary, "worker stopped"),
                    Err(e) => tracing::error!("the worker stopped: {e}"),
                }
            }
        });
        *self.lock() = Some((stop, handle));
        Ok(())
    }

    /// Asks the worker to stop and waits for it (running jobs get its grace
    /// period, then are released for the next launch).
    pub async fn stop(&self) {
        let running = self.lock().take();
        if let Some((stop, handle)) = running {
            stop.cancel();
            if let Err(e) = handle.await {
                tracing::warn!("the worker task ended abnormally: {e}");
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<(CancellationToken, JoinHandle<()>)>> {
        self.running.lock().unwrap_or_else(|p| p.into_inner())
    }
}
