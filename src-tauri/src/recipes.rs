//! Recipes edited in forms: their steps' descriptions, saving one, and trying
//! one on a sample while it is edited (a quick sketch at preview size, then
//! the exact output's size and bytes). The sample is the item the user picked
//! in the queue, or a photo shipped with the app; it is decoded once and kept
//! while the recipe changes.

use crate::commands::off_executor;
use crate::error::{CommandError, CommandResult};
use crate::state::AppState;
use outbox_engine::forms::{self, StepValues};
use outbox_engine::preview::{self, Sample};
use outbox_engine::recipe::Recipe;
use outbox_engine::JobId;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use tauri::ipc::Response;
use tauri::State;

/// The photo a recipe is tried on when no item is picked.
const SAMPLE_JPEG: &[u8] = include_bytes!("../assets/sample.jpg");
/// A sketch's longest edge: the size the form shows it at, on a dense screen.
const SKETCH_SIZE: u32 = 640;
/// What a recipe tried before it has a name is called (`{recipe}` in a name).
const SKETCH_NAME: &str = "recipe";

/// The last sample decoded, kept for the next change of the recipe.
#[derive(Default)]
pub struct SampleCache(Mutex<Option<Arc<Sample>>>);

/// A recipe as its form holds it.
#[derive(Debug, Deserialize, Serialize)]
pub struct RecipeForm {
    name: String,
    steps: Vec<StepValues>,
}

/// What a recipe makes of the sample, exactly.
#[derive(Debug, Serialize)]
pub struct Trial {
    width: u32,
    height: u32,
    bytes: usize,
    file_name: String,
    /// The sample's file name.
    sample: String,
}

#[tauri::command]
pub fn recipe_forms() -> Vec<forms::KindForm> {
    forms::recipe_forms()
}

/// A saved recipe's steps, for editing (a built-in one as a start for a new
/// recipe).
#[tauri::command]
pub async fn recipe_form(state: State<'_, AppState>, name: String) -> CommandResult<RecipeForm> {
    let engine = state.engine.clone();
    let recipe = off_executor(move || engine.recipe(&name)).await?;
    Ok(RecipeForm {
        steps: forms::recipe_form_steps(&recipe),
        name: recipe.name,
    })
}

/// Saves a recipe from its form (a new one, or over a saved one of that
/// name); a refusal names each step's problem.
#[tauri::command]
pub async fn save_recipe(state: State<'_, AppState>, form: RecipeForm) -> CommandResult<()> {
    let recipe = checked(&form.name, &form)?;
    let engine = state.engine.clone();
    off_executor(move || engine.save_recipe(&recipe)).await
}

/// The recipe on the sample at preview size, as JPEG bytes.
#[tauri::command]
pub async fn sketch_recipe(
    state: State<'_, AppState>,
    samples: State<'_, SampleCache>,
    form: RecipeForm,
    source: Option<JobId>,
) -> CommandResult<Response> {
    let recipe = checked(form.tried_name(), &form)?;
    let sample = sample(&state, &samples, source).await?;
    let made = off_executor(move || preview::sketch(&sample, &recipe, SKETCH_SIZE)).await?;
    Ok(Response::new(made.jpeg))
}

/// The recipe's exact output on the whole sample file.
#[tauri::command]
pub async fn try_recipe(
    state: State<'_, AppState>,
    samples: State<'_, SampleCache>,
    form: RecipeForm,
    source: Option<JobId>,
) -> CommandResult<Trial> {
    let recipe = checked(form.tried_name(), &form)?;
    let sample = sample(&state, &samples, source).await?;
    off_executor(move || {
        let path = sample.path();
        preview::trial(path, &recipe).map(|out| Trial {
            width: out.width,
            height: out.height,
            bytes: out.bytes.len(),
            file_name: out.file_name,
            sample: file_name(path),
        })
    })
    .await
}

impl RecipeForm {
    /// A recipe is tried before it has a name.
    fn tried_name(&self) -> &str {
        if self.name.trim().is_empty() {
            SKETCH_NAME
        } else {
            &self.name
        }
    }
}

/// The recipe of a form under `name`.
fn checked(name: &str, form: &RecipeForm) -> CommandResult<Recipe> {
    forms::recipe_from_form(name, &form.steps).map_err(CommandError::Steps)
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// The picked item's source, or the shipped photo; decoded once.
async fn sample(
    state: &State<'_, AppState>,
    samples: &State<'_, SampleCache>,
    source: Option<JobId>,
) -> CommandResult<Arc<Sample>> {
    let engine = state.engine.clone();
    let path = off_executor(move || -> Result<PathBuf, outbox_engine::Error> {
        if let Some(job) = source.and_then(|id| engine.job(id).transpose()) {
            return Ok(job?.source);
        }
        shipped_sample(engine.data_dir())
    })
    .await?;
    if let Some(kept) = samples.0.lock().unwrap_or_else(|p| p.into_inner()).as_ref() {
        if kept.path() == path {
            return Ok(kept.clone());
        }
    }
    let loaded = Arc::new(
        off_executor(move || {
            Sample::load(&path)
                .map_err(|e| CommandError::Invalid(format!("the sample cannot be read: {e}")))
        })
        .await?,
    );
    *samples.0.lock().unwrap_or_else(|p| p.into_inner()) = Some(loaded.clone());
    Ok(loaded)
}

/// The shipped photo as a file in the data folder (the pipeline reads files).
fn shipped_sample(data_dir: &Path) -> Result<PathBuf, outbox_engine::Error> {
    let path = data_dir.join("sample.jpg");
    if std::fs::metadata(&path).map(|m| m.len()).ok() != Some(SAMPLE_JPEG.len() as u64) {
        std::fs::write(&path, SAMPLE_JPEG).map_err(|source| outbox_engine::Error::Io {
            action: "write",
            path: path.clone(),
            source,
        })?;
    }
    Ok(path)
}
