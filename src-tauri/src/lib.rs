//! Outbox's desktop shell: a thin Tauri layer over [`outbox_engine`]. It opens
//! the engine, runs its worker, serves previews over a custom URI scheme,
//! forwards queue events to the web UI and keeps the app alive in the tray
//! while work remains. Decisions about the queue belong to the engine.

mod bridge;
mod commands;
mod error;
mod lifecycle;
mod preview_scheme;
mod settings;
mod state;
mod worker;

use outbox_engine::{Engine, EngineOptions};
use state::AppState;
use std::sync::Mutex;
use tauri::{Manager, RunEvent};

/// Starts the app; returns when it quits.
pub fn run() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("OUTBOX_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .init();

    // The data folder: OUTBOX_DATA_DIR, else the XDG data folder (shared
    // with the command line).
    let engine = Engine::open(EngineOptions::default())?;
    tracing::info!(data = %engine.data_dir().display(), "Outbox starting");

    let app = tauri::Builder::default()
        .plugin(tauri_plugin_store::Builder::new().build())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .register_asynchronous_uri_scheme_protocol(preview_scheme::SCHEME, preview_scheme::handle)
        .setup(move |app| {
            let handle = app.handle().clone();
            let settings = settings::load(&handle, engine.data_dir());
            app.manage(AppState {
                engine: engine.clone(),
                worker: worker::WorkerControl::default(),
                settings: Mutex::new(settings.clone()),
                subscription: Mutex::new(None),
            });
            // Pending work (from this or an earlier launch) resumes now.
            let state = handle.state::<AppState>();
            tauri::async_runtime::block_on(state.worker.restart(&engine, &settings));
            if let Err(e) = lifecycle::create_tray(&handle) {
                tracing::warn!("no tray icon (closing the window will quit): {e}");
            }
            lifecycle::watch(handle, engine.clone());
            Ok(())
        })
        .on_window_event(lifecycle::on_window_event)
        .invoke_handler(tauri::generate_handler![
            commands::snapshot,
            commands::status,
            commands::subscribe,
            commands::add_paths,
            commands::add_pasted,
            commands::import_manifest,
            commands::prompt_preview,
            commands::history,
            commands::retry,
            commands::retry_failed,
            commands::cancel,
            commands::pause,
            commands::resume,
            commands::set_priority,
            commands::clean,
            commands::accept,
            commands::regenerate,
            commands::open_location,
            commands::get_settings,
            commands::set_settings,
            commands::destinations,
            commands::add_destination,
            commands::remove_destination,
            commands::test_destination,
            commands::recipes,
            commands::save_recipe,
            commands::remove_recipe,
        ])
        .build(tauri::generate_context!())?;

    app.run(|app, event| {
        if let RunEvent::Exit = event {
            // Running jobs get the worker's grace period, then are released
            // for the next launch; nothing is lost either way.
            let state = app.state::<AppState>();
            tauri::async_runtime::block_on(state.worker.stop());
            state.engine.flush_events();
        }
    });
    Ok(())
}
