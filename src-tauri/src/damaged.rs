//! A damaged queue database at launch: the window says so, with the reason,
//! and the database is replaced only when the user agrees (it is kept beside
//! the fresh one). Until then the app has no engine and the window asks
//! nothing else of it.

use crate::commands::off_executor;
use crate::error::{CommandError, CommandResult};
use outbox_engine::{Engine, EngineOptions};
use serde::Serialize;
use std::path::PathBuf;
use std::sync::Mutex;
use tauri::{AppHandle, State};

/// What the window shows about the damage.
#[derive(Clone, Debug, Serialize)]
pub struct DamagedDatabase {
    pub path: PathBuf,
    pub reason: String,
}

/// The damage found at launch, until the user has the database replaced.
#[derive(Default)]
pub struct DamagedState(pub Mutex<Option<DamagedDatabase>>);

impl DamagedState {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<DamagedDatabase>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The damage found at launch, if any: the window asks first.
#[tauri::command]
pub fn damaged_database(state: State<'_, DamagedState>) -> Option<DamagedDatabase> {
    state.lock().clone()
}

/// The user agreed: keeps the damaged database as a copy, opens a fresh one
/// and starts the app on it. Returns where the copy is. Once only: the
/// damage is taken out of the state first, so a second call is refused.
#[tauri::command]
pub async fn start_fresh_database(
    app: AppHandle,
    state: State<'_, DamagedState>,
) -> CommandResult<PathBuf> {
    let Some(damaged) = state.lock().take() else {
        return Err(CommandError::Invalid(
            "the database is not damaged, or is being replaced; nothing was changed".into(),
        ));
    };
    let path = damaged.path.clone();
    let kept = match off_executor(move || outbox_engine::damaged::set_aside(&path)).await {
        Ok(kept) => kept,
        Err(e) => {
            // Nothing fresh was made: the user may try again, or quit.
            *state.lock() = Some(damaged);
            return Err(e);
        }
    };
    tracing::warn!(kept = %kept.display(), "damaged database kept; starting a fresh queue");
    let engine = off_executor(|| Engine::open(EngineOptions::default()))
        .await
        .map_err(|e| {
            CommandError::Shell(format!(
                "the damaged database is kept as {}, but a fresh one could not be opened: {e}; quit and start Outbox again",
                kept.display()
            ))
        })?;
    crate::start(&app, engine).await;
    Ok(kept)
}

/// The user would rather leave the damaged database as it is.
#[tauri::command]
pub fn quit(app: AppHandle) {
    app.exit(0);
}
