//! What the shell holds for the app's lifetime, in Tauri's managed state.

use crate::local_api::ApiControl;
use crate::settings::Settings;
use crate::worker::WorkerControl;
use outbox_engine::Engine;
use std::sync::Mutex;
use tokio_util::sync::CancellationToken;

pub struct AppState {
    pub engine: Engine,
    pub worker: WorkerControl,
    /// The local API's servers (off unless the settings turn them on).
    pub api: ApiControl,
    pub settings: Mutex<Settings>,
    /// The webview's event subscription; a reload replaces it.
    pub subscription: Mutex<Option<CancellationToken>>,
}

impl AppState {
    pub fn settings(&self) -> Settings {
        self.settings
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
}
