//! Outbox's desktop shell: a thin Tauri layer over [`outbox_engine`]. It opens
//! the engine, runs its worker, serves previews over a custom URI scheme,
//! forwards queue events to the web UI and keeps the app alive in the tray
//! while work remains. Decisions about the queue belong to the engine.

mod bridge;
mod commands;
mod damaged;
mod error;
mod lifecycle;
mod local_api;
mod preview_scheme;
mod recipes;
mod settings;
mod single_instance;
mod state;
mod window_state;
mod worker;

use damaged::{DamagedDatabase, DamagedState};
use outbox_engine::{Engine, EngineOptions};
use state::AppState;
use std::sync::Mutex;
use tauri::{AppHandle, Manager, RunEvent};

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
    // with the command line). A damaged database is the user's to decide on
    // (see `damaged`); any other failure to open it stops the launch.
    let (engine, damaged) = match Engine::open(EngineOptions::default()) {
        Ok(engine) => (Some(engine), None),
        Err(outbox_engine::Error::CorruptDatabase { path, reason }) => {
            tracing::error!(path = %path.display(), "the database is damaged: {reason}");
            (None, Some(DamagedDatabase { path, reason }))
        }
        Err(e) => return Err(e.into()),
    };

    // The one app of this data folder: a second launch hands over and exits.
    let data_dir = outbox_engine::paths::resolve_data_dir(None)?;
    let launch = single_instance::launch_paths(
        &std::env::args().skip(1).collect::<Vec<_>>(),
        &std::env::current_dir().unwrap_or_default(),
    );
    let app = tauri::Builder::default()
        .plugin(single_instance::plugin(&data_dir))
        .plugin(tauri_plugin_store::Builder::new().build())
        // The window's size and place, kept across launches.
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_clipboard_manager::init())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_opener::init())
        .register_asynchronous_uri_scheme_protocol(preview_scheme::SCHEME, preview_scheme::handle)
        .manage(DamagedState(Mutex::new(damaged)))
        .manage(recipes::SampleCache::default())
        .manage(single_instance::LaunchPaths(Mutex::new(launch)))
        .setup(move |app| {
            if let Some(engine) = engine {
                tauri::async_runtime::block_on(start(app.handle(), engine));
            }
            Ok(())
        })
        .on_window_event(|window, event| {
            lifecycle::on_window_event(window, event);
            window_state::on_window_event(window, event);
        })
        .invoke_handler(tauri::generate_handler![
            damaged::damaged_database,
            damaged::start_fresh_database,
            damaged::quit,
            commands::snapshot,
            commands::status,
            commands::subscribe,
            commands::add_paths,
            commands::add_pasted,
            commands::import_manifest,
            commands::prompt_preview,
            commands::history,
            commands::job_detail,
            commands::history_count,
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
            commands::local_api,
            commands::local_api_token,
            commands::renew_local_api_token,
            commands::destinations,
            commands::copy_text,
            commands::take_launch_paths,
            commands::destination_forms,
            commands::destination_form,
            commands::save_destination,
            commands::provider_forms,
            commands::providers,
            commands::provider_form,
            commands::save_provider,
            commands::remove_provider,
            commands::test_provider,
            commands::remove_destination,
            commands::set_destination_secret,
            commands::test_destination,
            commands::recipes,
            recipes::recipe_forms,
            recipes::recipe_form,
            recipes::save_recipe,
            recipes::sketch_recipe,
            recipes::try_recipe,
            commands::remove_recipe,
        ])
        .build(tauri::generate_context!())?;

    app.run(|app, event| {
        if let RunEvent::Exit = event {
            // Running jobs get the worker's grace period, then are released
            // for the next launch; nothing is lost either way.
            if let Some(state) = app.try_state::<AppState>() {
                tauri::async_runtime::block_on(state.api.stop());
                tauri::async_runtime::block_on(state.worker.stop());
                state.engine.flush_events();
            }
        }
    });
    Ok(())
}

/// The app on an open engine: settings, the worker (pending work from this
/// or an earlier launch resumes now), the local API when turned on, the
/// tray, batch notifications.
async fn start(app: &AppHandle, engine: Engine) {
    tracing::info!(data = %engine.data_dir().display(), "Outbox starting");
    let settings = settings::load(app, engine.data_dir());
    app.manage(AppState {
        engine: engine.clone(),
        worker: worker::WorkerControl::default(),
        api: local_api::ApiControl::new(&settings),
        settings: Mutex::new(settings.clone()),
        subscription: Mutex::new(None),
    });
    if let Err(e) = app
        .state::<AppState>()
        .worker
        .restart(&engine, &settings)
        .await
    {
        tracing::error!("the queue does not run: {e}");
    }
    // What the command line or a second worker does on this database shows
    // in the window, for the app's lifetime.
    match worker::queue_runtime() {
        Ok(runtime) => {
            let engine = engine.clone();
            runtime.spawn(async move {
                let forever = tokio_util::sync::CancellationToken::new();
                if let Err(e) = engine.follow_other_processes(forever).await {
                    tracing::error!("other processes' changes are not followed: {e}");
                }
            });
        }
        Err(e) => tracing::error!("other processes' changes are not followed: {e}"),
    }
    let api = local_api::Wanted::from(&settings);
    if let Err(e) = app.state::<AppState>().api.apply(app, &engine, api).await {
        tracing::error!("the local API is off: {e}");
    }
    if let Err(e) = lifecycle::create_tray(app) {
        tracing::warn!("no tray icon (closing the window will quit): {e}");
    }
    lifecycle::watch(app.clone(), engine);
}
