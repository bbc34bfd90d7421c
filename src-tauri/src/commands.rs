//! The commands the web UI calls: each one converts its arguments, calls the
//! engine (on a blocking thread when it touches the disk) and returns a typed
//! result or a [`CommandError`]. No decisions about the queue are made here.

use crate::bridge;
use crate::error::{CommandError, CommandResult};
use crate::local_api::{Listening, Wanted};
use crate::preview_scheme;
use crate::settings::{self, Settings};
use crate::single_instance::LaunchPaths;
use crate::state::AppState;
use outbox_engine::forms;
use outbox_engine::import::ImportReport;
use outbox_engine::providers::ProviderView;
use outbox_engine::template::Fields;
use outbox_engine::{
    AddOptions, AddReport, BatchId, DestinationView, Engine, HistoryQuery, JobDetail, JobId,
    JobState, JobView, RecipeView, RetryTarget, Status,
};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;
use tauri::ipc::{Channel, InvokeBody, Request};
use tauri::{AppHandle, State};
use tauri_plugin_clipboard_manager::ClipboardExt;
use tauri_plugin_opener::OpenerExt;

/// Runs engine work that reads or writes the disk off the async executor.
async fn blocking<T: Send + 'static>(
    state: &State<'_, AppState>,
    work: impl FnOnce(&Engine) -> Result<T, outbox_engine::Error> + Send + 'static,
) -> CommandResult<T> {
    let engine = state.engine.clone();
    off_executor(move || work(&engine)).await
}

/// Runs work that touches the disk or decodes images on a blocking thread.
pub(crate) async fn off_executor<T: Send + 'static, E: Into<CommandError> + Send + 'static>(
    work: impl FnOnce() -> Result<T, E> + Send + 'static,
) -> CommandResult<T> {
    tauri::async_runtime::spawn_blocking(work)
        .await
        .map_err(|e| CommandError::Shell(format!("the task stopped: {e}")))?
        .map_err(Into::into)
}

/// Everything the window shows at start and after a reload.
#[derive(Serialize)]
pub struct Snapshot {
    status: Status,
    settings: Settings,
    destinations: Vec<DestinationView>,
    recipes: Vec<RecipeView>,
    data_dir: PathBuf,
}

#[tauri::command]
pub async fn snapshot(state: State<'_, AppState>) -> CommandResult<Snapshot> {
    let settings = state.settings();
    blocking(&state, move |engine| {
        Ok(Snapshot {
            status: engine.status()?,
            destinations: engine.destinations()?,
            recipes: engine.recipes()?,
            data_dir: engine.data_dir().to_path_buf(),
            settings,
        })
    })
    .await
}

/// The queue at a glance, for the panel's refresh between snapshots.
#[tauri::command]
pub async fn status(state: State<'_, AppState>) -> CommandResult<Status> {
    blocking(&state, |engine| engine.status()).await
}

/// Starts sending the queue's changes to `channel` (a reload subscribes again
/// and the old subscription ends).
#[tauri::command]
pub fn subscribe(state: State<'_, AppState>, channel: Channel<bridge::Update>) {
    let token = bridge::forward(state.engine.clone(), channel);
    let old = state
        .subscription
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .replace(token);
    if let Some(old) = old {
        old.cancel();
    }
}

/// What applies to one drop only; the lasting choices (destination, recipe,
/// priority, order, review) are the settings.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
pub struct AddRequest {
    batch_name: Option<String>,
    /// Queue again what is queued or delivered already.
    force: bool,
}

fn add_options(settings: &Settings, request: AddRequest) -> AddOptions {
    AddOptions {
        destination: settings.destination.clone(),
        recipe: settings.recipe.clone(),
        priority: settings.priority,
        sequential: settings.sequential,
        batch_name: request.batch_name.filter(|n| !n.trim().is_empty()),
        force: request.force,
        max_attempts: settings.max_attempts,
        review: !settings.auto_accept,
    }
}

/// Files and folders dropped, picked or pasted as paths.
#[tauri::command]
pub async fn add_paths(
    state: State<'_, AppState>,
    paths: Vec<PathBuf>,
    request: Option<AddRequest>,
) -> CommandResult<AddReport> {
    let options = add_options(&state.settings(), request.unwrap_or_default());
    blocking(&state, move |engine| {
        let asked = std::time::Instant::now();
        let scan = outbox_engine::scan(&paths);
        let scanned = asked.elapsed();
        preview_scheme::start_first_previews(engine, scan.items.iter().map(|i| i.path.clone()));
        let added = engine.add_scanned(scan, &options);
        tracing::debug!(
            scanned_ms = scanned.as_secs_f64() * 1e3,
            added_ms = asked.elapsed().as_secs_f64() * 1e3,
            "add paths"
        );
        added
    })
    .await
}

/// An image pasted from the clipboard: its bytes are the raw request body.
#[tauri::command]
pub async fn add_pasted(
    state: State<'_, AppState>,
    request: Request<'_>,
) -> CommandResult<AddReport> {
    let InvokeBody::Raw(bytes) = request.body() else {
        return Err(CommandError::Invalid(
            "a pasted image must be sent as raw bytes".into(),
        ));
    };
    let bytes = bytes.clone();
    let options = add_options(&state.settings(), AddRequest::default());
    blocking(&state, move |engine| engine.add_pasted(&bytes, &options)).await
}

/// A CSV or JSON manifest of items (fields and an image path or URL each).
#[tauri::command]
pub async fn import_manifest(
    state: State<'_, AppState>,
    path: PathBuf,
) -> CommandResult<ImportReport> {
    let options = add_options(&state.settings(), AddRequest::default());
    Ok(state.engine.import(&path, &options).await?)
}

/// A recipe's AI prompt filled from sample fields, before anything runs
/// (`None`: the recipe has no AI step).
#[tauri::command]
pub async fn prompt_preview(
    state: State<'_, AppState>,
    recipe: String,
    fields: Fields,
) -> CommandResult<Option<String>> {
    blocking(&state, move |engine| engine.prompt_for(&recipe, &fields)).await
}

#[derive(Debug, Deserialize)]
pub struct HistoryRequest {
    state: Option<JobState>,
    batch: Option<BatchId>,
    #[serde(default)]
    search: Option<String>,
    #[serde(default)]
    destination: Option<String>,
    #[serde(default)]
    since: Option<i64>,
    #[serde(default)]
    until: Option<i64>,
    limit: u32,
    offset: u32,
}

impl From<HistoryRequest> for HistoryQuery {
    fn from(r: HistoryRequest) -> HistoryQuery {
        HistoryQuery {
            state: r.state,
            batch: r.batch,
            search: r.search,
            destination: r.destination,
            since: r.since,
            until: r.until,
            limit: r.limit.clamp(1, 1000),
            offset: r.offset,
        }
    }
}

#[tauri::command]
pub async fn history(
    state: State<'_, AppState>,
    query: HistoryRequest,
) -> CommandResult<Vec<JobView>> {
    let query = HistoryQuery::from(query);
    blocking(&state, move |engine| engine.history(&query)).await
}

/// How many jobs a history filter matches (the gallery's length).
#[tauri::command]
pub async fn history_count(
    state: State<'_, AppState>,
    query: HistoryRequest,
) -> CommandResult<u64> {
    let query = HistoryQuery::from(query);
    blocking(&state, move |engine| engine.history_count(&query)).await
}

/// One job with its output, fields and every attempt (the detail view).
#[tauri::command]
pub async fn job_detail(
    state: State<'_, AppState>,
    job: JobId,
) -> CommandResult<Option<JobDetail>> {
    blocking(&state, move |engine| engine.job_detail(job)).await
}

/// Retried and refused jobs (refused: they would duplicate another).
#[derive(Serialize)]
pub struct RetryResult {
    retried: Vec<JobId>,
    refused: Vec<String>,
}

#[tauri::command]
pub async fn retry(state: State<'_, AppState>, jobs: Vec<JobId>) -> CommandResult<RetryResult> {
    retry_target(&state, RetryTarget::Jobs(jobs)).await
}

#[tauri::command]
pub async fn retry_failed(
    state: State<'_, AppState>,
    batch: Option<BatchId>,
) -> CommandResult<RetryResult> {
    let target = batch.map_or(RetryTarget::AllFailed, RetryTarget::Batch);
    retry_target(&state, target).await
}

async fn retry_target(
    state: &State<'_, AppState>,
    target: RetryTarget,
) -> CommandResult<RetryResult> {
    let report = blocking(state, move |engine| engine.retry(&target)).await?;
    Ok(RetryResult {
        retried: report.retried,
        refused: report.refused.iter().map(ToString::to_string).collect(),
    })
}

#[tauri::command]
pub async fn cancel(state: State<'_, AppState>, jobs: Vec<JobId>) -> CommandResult<()> {
    blocking(&state, move |engine| engine.cancel(&jobs)).await
}

#[tauri::command]
pub async fn pause(state: State<'_, AppState>, batch: Option<BatchId>) -> CommandResult<u64> {
    blocking(&state, move |engine| engine.pause(batch)).await
}

#[tauri::command]
pub async fn resume(state: State<'_, AppState>, batch: Option<BatchId>) -> CommandResult<u64> {
    blocking(&state, move |engine| engine.resume(batch)).await
}

#[tauri::command]
pub async fn set_priority(
    state: State<'_, AppState>,
    jobs: Vec<JobId>,
    priority: i64,
) -> CommandResult<()> {
    blocking(&state, move |engine| engine.set_priority(&jobs, priority)).await
}

/// Deletes finished jobs older than `days` days; returns how many.
#[tauri::command]
pub async fn clean(state: State<'_, AppState>, days: u32) -> CommandResult<u64> {
    let age = Duration::from_secs(u64::from(days) * 24 * 3600);
    blocking(&state, move |engine| engine.clean(age)).await
}

#[tauri::command]
pub async fn accept(state: State<'_, AppState>, jobs: Vec<JobId>) -> CommandResult<()> {
    blocking(&state, move |engine| engine.accept(&jobs)).await
}

#[tauri::command]
pub async fn regenerate(state: State<'_, AppState>, jobs: Vec<JobId>) -> CommandResult<()> {
    blocking(&state, move |engine| engine.regenerate(&jobs)).await
}

/// Opens where a delivered job went: its web address in the browser, or its
/// file shown in the file manager.
#[tauri::command]
pub async fn open_location(
    app: AppHandle,
    state: State<'_, AppState>,
    job: JobId,
) -> CommandResult<()> {
    let view = blocking(&state, move |engine| engine.job(job)).await?;
    let url = view
        .and_then(|j| j.remote)
        .and_then(|r| r.url)
        .ok_or_else(|| CommandError::Invalid(format!("job {job} has no uploaded location yet")))?;
    let opener = app.opener();
    if let Some(path) = file_path(&url) {
        opener
            .reveal_item_in_dir(path)
            .map_err(|e| CommandError::Shell(format!("cannot show the file: {e}")))
    } else if url.starts_with("https://") || url.starts_with("http://") {
        opener
            .open_url(url, None::<&str>)
            .map_err(|e| CommandError::Shell(format!("cannot open the address: {e}")))
    } else {
        Err(CommandError::Invalid(format!(
            "Outbox opens only web addresses and files, not {url}"
        )))
    }
}

/// The file a `file://` URL names (`%XX` escapes decoded); `None` for any
/// other URL.
fn file_path(url: &str) -> Option<PathBuf> {
    url::Url::parse(url).ok()?.to_file_path().ok()
}

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> Settings {
    state.settings()
}

/// Saves the settings; the worker starts again when what it uses changed,
/// and so does the local API. A port the API cannot have refuses the change
/// whole: nothing is saved and what listened before listens again.
#[tauri::command]
pub async fn set_settings(
    app: AppHandle,
    state: State<'_, AppState>,
    settings: Settings,
) -> CommandResult<Settings> {
    settings.validate()?;
    let old = state.settings();
    let (was, wanted) = (Wanted::from(&old), Wanted::from(&settings));
    if was != wanted {
        if let Err(problem) = state.api.apply(&app, &state.engine, wanted).await {
            if let Err(again) = state.api.apply(&app, &state.engine, was).await {
                tracing::warn!("the local API is off: {again}");
            }
            return Err(CommandError::Invalid(problem));
        }
    }
    settings::save(&app, state.engine.data_dir(), &settings)?;
    state.api.follow(&settings);
    *state.settings.lock().unwrap_or_else(|p| p.into_inner()) = settings.clone();
    if old.concurrency != settings.concurrency {
        state
            .worker
            .restart(&state.engine, &settings)
            .await
            .map_err(CommandError::Shell)?;
    }
    Ok(settings)
}

/// Where the local API listens now, or why it does not.
#[tauri::command]
pub fn local_api(state: State<'_, AppState>) -> Listening {
    state.api.listening()
}

/// The local API's bearer token (from the keychain; made on first use).
#[tauri::command]
pub async fn local_api_token(state: State<'_, AppState>) -> CommandResult<String> {
    blocking(&state, |engine| engine.api_token()).await
}

/// A new token: the old one is refused from now on, by a server that runs
/// again with the new one.
#[tauri::command]
pub async fn renew_local_api_token(
    app: AppHandle,
    state: State<'_, AppState>,
) -> CommandResult<String> {
    let token = blocking(&state, |engine| engine.renew_api_token()).await?;
    let wanted = Wanted::from(&state.settings());
    state
        .api
        .apply(&app, &state.engine, wanted)
        .await
        .map_err(CommandError::Shell)?;
    Ok(token)
}

#[tauri::command]
pub async fn destinations(state: State<'_, AppState>) -> CommandResult<Vec<DestinationView>> {
    blocking(&state, |engine| engine.destinations()).await
}

/// The files this app was launched with (`outbox-desktop photo.jpg`), once.
#[tauri::command]
pub fn take_launch_paths(paths: State<'_, LaunchPaths>) -> Vec<PathBuf> {
    std::mem::take(&mut *paths.0.lock().unwrap_or_else(|p| p.into_inner()))
}

/// Puts text on the system clipboard (links, formatted by the window). From
/// the shell, so it works without a click too: as uploads end, with the
/// window in the tray.
#[tauri::command]
pub fn copy_text(app: AppHandle, text: String) -> CommandResult<()> {
    app.clipboard()
        .write_text(text)
        .map_err(|e| CommandError::Shell(format!("cannot use the clipboard: {e}")))
}

/// What each destination kind asks for: the app draws its forms from this.
#[tauri::command]
pub fn destination_forms() -> Vec<forms::KindForm> {
    forms::destination_forms()
}

/// A destination's settings as its form's values, for editing.
#[tauri::command]
pub async fn destination_form(
    state: State<'_, AppState>,
    name: String,
) -> CommandResult<DestinationForm> {
    let found = blocking(&state, move |engine| {
        Ok(engine.destinations()?.into_iter().find(|d| d.name == name))
    })
    .await?;
    let d = found.ok_or_else(|| CommandError::Invalid("no such destination".into()))?;
    Ok(DestinationForm {
        values: forms::destination_form_values(&d.kind, &d.settings),
        name: d.name,
        kind: d.kind,
        max_concurrent: d.max_concurrent,
        secret: None,
        existing: true,
    })
}

/// A destination form as the app fills it.
#[derive(Debug, Deserialize, Serialize)]
pub struct DestinationForm {
    name: String,
    kind: String,
    values: serde_json::Map<String, serde_json::Value>,
    max_concurrent: Option<u32>,
    /// A new secret; `None` keeps the one in the keychain.
    secret: Option<String>,
    /// Saves over the destination of this name instead of adding one.
    existing: bool,
}

/// A form's outcome with its name checked too: every problem at once, each
/// on its field.
fn checked_form<T>(name: &str, checked: Result<T, Vec<forms::FieldError>>) -> CommandResult<T> {
    let mut problems = Vec::new();
    if name.trim().is_empty() {
        problems.push(forms::FieldError {
            field: Some("name".into()),
            message: "A name is needed.".into(),
        });
    }
    match checked {
        Ok(value) if problems.is_empty() => Ok(value),
        Ok(_) => Err(CommandError::Fields(problems)),
        Err(errors) => {
            problems.extend(errors);
            Err(CommandError::Fields(problems))
        }
    }
}

/// Adds or edits a destination from its form; a refusal names each field's
/// problem.
#[tauri::command]
pub async fn save_destination(
    state: State<'_, AppState>,
    form: DestinationForm,
) -> CommandResult<()> {
    let settings = checked_form(
        &form.name,
        forms::destination_settings_from_form(&form.kind, &form.values),
    )?;
    let view = DestinationView {
        name: form.name.trim().to_string(),
        kind: form.kind,
        settings,
        max_concurrent: form.max_concurrent,
    };
    let secret = form.secret.filter(|s| !s.is_empty());
    blocking(&state, move |engine| {
        if form.existing {
            engine.update_destination(view, secret.as_deref())
        } else {
            engine.add_destination(view, secret.as_deref())
        }
    })
    .await
}

/// What each AI provider kind asks for.
#[tauri::command]
pub fn provider_forms() -> Vec<forms::KindForm> {
    forms::provider_forms()
}

/// The AI providers, as the settings list them.
#[tauri::command]
pub async fn providers(state: State<'_, AppState>) -> CommandResult<Vec<ProviderView>> {
    blocking(&state, |engine| engine.providers()).await
}

/// A provider's settings as its form's values, for editing.
#[tauri::command]
pub async fn provider_form(
    state: State<'_, AppState>,
    name: String,
) -> CommandResult<DestinationForm> {
    let found = blocking(&state, move |engine| {
        Ok(engine.providers()?.into_iter().find(|p| p.name == name))
    })
    .await?;
    let p = found.ok_or_else(|| CommandError::Invalid("no such provider".into()))?;
    Ok(DestinationForm {
        values: forms::provider_form_values(&p.settings),
        name: p.name,
        kind: p.kind.as_str().to_string(),
        max_concurrent: None,
        secret: None,
        existing: true,
    })
}

/// Adds or edits an AI provider from its form (the same shape as a
/// destination's; `max_concurrent` is one of its fields instead).
#[tauri::command]
pub async fn save_provider(state: State<'_, AppState>, form: DestinationForm) -> CommandResult<()> {
    let view = checked_form(
        &form.name,
        forms::provider_from_form(&form.name, &form.kind, &form.values),
    )?;
    let key = form.secret.filter(|s| !s.is_empty());
    blocking(&state, move |engine| match (form.existing, key) {
        (true, key) => engine.update_provider(&view, key.as_deref()),
        (false, Some(key)) => engine.add_provider(&view, &key),
        (false, None) => Err(outbox_engine::Error::InvalidSetting(
            "an AI provider needs its API key".into(),
        )),
    })
    .await
}

#[tauri::command]
pub async fn remove_provider(state: State<'_, AppState>, name: String) -> CommandResult<()> {
    blocking(&state, move |engine| engine.remove_provider(&name)).await
}

/// Checks a provider's address and key without generating (nothing is paid).
#[tauri::command]
pub async fn test_provider(state: State<'_, AppState>, name: String) -> CommandResult<String> {
    Ok(state.engine.test_provider(&name).await?)
}

#[tauri::command]
pub async fn remove_destination(state: State<'_, AppState>, name: String) -> CommandResult<()> {
    blocking(&state, move |engine| engine.remove_destination(&name)).await
}

/// Replaces a destination's password, token or key in the keychain. Jobs
/// read the secret when they run, so those waiting on it use the new one.
#[tauri::command]
pub async fn set_destination_secret(
    state: State<'_, AppState>,
    name: String,
    secret: String,
) -> CommandResult<()> {
    blocking(&state, move |engine| {
        engine.set_destination_secret(&name, &secret)
    })
    .await
}

/// Checks a destination; the answer says in one sentence what is wrong.
#[tauri::command]
pub async fn test_destination(state: State<'_, AppState>, name: String) -> CommandResult<String> {
    Ok(state.engine.test_destination(&name).await?)
}

#[tauri::command]
pub async fn recipes(state: State<'_, AppState>) -> CommandResult<Vec<RecipeView>> {
    blocking(&state, |engine| engine.recipes()).await
}

#[tauri::command]
pub async fn remove_recipe(state: State<'_, AppState>, name: String) -> CommandResult<()> {
    blocking(&state, move |engine| engine.remove_recipe(&name)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_urls_are_decoded_to_their_bytes() {
        assert_eq!(
            file_path("file:///tmp/a%20b/%C3%A9t%C3%A9.jpg"),
            Some(PathBuf::from("/tmp/a b/été.jpg"))
        );
        assert_eq!(file_path("file:///x/100%"), Some(PathBuf::from("/x/100%")));
    }

    #[test]
    fn auto_accept_off_holds_outputs_for_review() {
        let settings = Settings {
            auto_accept: false,
            max_attempts: 7,
            ..Settings::default()
        };
        let options = add_options(&settings, AddRequest::default());
        assert!(options.review);
        assert_eq!(options.max_attempts, 7);
    }

    #[test]
    fn a_drop_takes_the_lasting_choices_from_the_settings_and_its_own_once() {
        let settings = Settings {
            destination: Some("shop".into()),
            priority: 5,
            sequential: true,
            ..Settings::default()
        };
        let request: AddRequest =
            serde_json::from_str(r#"{"batch_name": "Shoot A", "force": true}"#).unwrap();
        let options = add_options(&settings, request);
        assert_eq!(options.destination.as_deref(), Some("shop"));
        assert_eq!((options.priority, options.sequential), (5, true));
        assert_eq!(options.batch_name.as_deref(), Some("Shoot A"));
        assert!(options.force);
        let blank: AddRequest = serde_json::from_str(r#"{"batch_name": "  "}"#).unwrap();
        let options = add_options(&settings, blank);
        assert_eq!(options.batch_name, None, "a blank name is no name");
        assert!(!options.force);
    }
}
