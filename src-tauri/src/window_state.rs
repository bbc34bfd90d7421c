//! The window's size and place across launches (tauri-plugin-window-state).
//! The plugin saves when the window is closed and the app exits; a crash or
//! a killed process does neither, so the state is also saved shortly after
//! each resize or move settles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tauri::{Manager, Runtime, WindowEvent};
use tauri_plugin_window_state::{AppHandleExt, StateFlags};

/// How long a resize or move must be still before it is saved.
const SETTLE: Duration = Duration::from_millis(400);

/// Bumped by each resize or move: only the last one's wait saves.
static CHANGES: AtomicU64 = AtomicU64::new(0);

pub fn on_window_event<R: Runtime>(window: &tauri::Window<R>, event: &WindowEvent) {
    if !matches!(event, WindowEvent::Resized(_) | WindowEvent::Moved(_)) {
        return;
    }
    let change = CHANGES.fetch_add(1, Ordering::SeqCst) + 1;
    let app = window.app_handle().clone();
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(SETTLE).await;
        if CHANGES.load(Ordering::SeqCst) == change {
            if let Err(e) = app.save_window_state(StateFlags::all()) {
                tracing::warn!("cannot save the window's size and place: {e}");
            }
        }
    });
}
