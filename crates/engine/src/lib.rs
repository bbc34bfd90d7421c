//! The Tauri-free core of Outbox.
//!
//! One handle, [`Engine`], is what the command line and the desktop shell
//! hold: it adds items to a durable SQLite queue, answers status and history,
//! carries out the user's actions, streams [`Event`]s, and makes the
//! background [`Worker`] that generates outputs and delivers them.
//!
//! Everything that changes a job goes through the store, whose statements are
//! each checked against the state machine in [`JobState::can_become`].

pub mod byte_cache;
pub mod clock;
mod codec;
pub mod damaged;
pub mod destinations;
mod durable;
mod error;
pub mod events;
pub mod feed;
pub mod forms;
mod geometry;
pub mod import;
pub mod jpeg_meta;
mod model;
mod pasted;
pub mod paths;
pub mod pipeline;
pub mod preview;
pub mod providers;
pub mod recipe;
mod retention;
mod scan;
pub mod secrets;
mod store;
pub mod template;
mod watermark;
pub mod worker;

pub use clock::{Clock, ManualClock, SystemClock};
pub use error::{Error, Result};
pub use events::Event;
pub use model::*;
pub use scan::{is_image_name, scan, Scan, Skipped, IMAGE_EXTENSIONS};
pub use store::{duplicate_of, source_key, Duplicate, NewItem, RetryTarget, DEFAULT_BUSY_TIMEOUT};
pub use worker::{RetryPolicy, Worker, WorkerConfig, WorkerSummary};

use byte_cache::ByteCache;
use destinations::ResolveDestination;
use events::EventBus;
use import::ImportReport;
use paths::DataDir;
use providers::ProviderView;
use recipe::Recipe;
use secrets::{Keychain, Secrets};
use serde::Serialize;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use store::{EnqueueBatch, Store};
use template::Fields;
use tokio::sync::{broadcast, Notify};
use tokio_util::sync::CancellationToken;

/// The name of the destination used when none is given.
pub const DEFAULT_DESTINATION: &str = "default";
/// Automatic attempts per job unless told otherwise.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 3;

/// What the engine and its worker share.
pub(crate) struct Shared {
    pub store: Store,
    pub data: DataDir,
    pub events: EventBus,
    pub clock: Arc<dyn Clock>,
    pub cache: ByteCache<JobId, [u8]>,
    pub previews: ByteCache<(JobId, u32), preview::Preview>,
    /// Previews of the jobs' source images (what was dropped), and their
    /// EXIF thumbnails (size 0).
    pub source_previews: ByteCache<(JobId, u32), preview::Preview>,
    /// Source previews started before their job was queued.
    pub early_previews: preview::EarlyPreviews,
    /// Wakes this process's worker when work is added or changed here.
    pub notify: Notify,
    /// Where destinations' passwords and tokens are kept.
    pub secrets: Arc<dyn Secrets>,
    /// This database's id, part of every keychain key.
    pub database_id: String,
}

/// An EXIF block (APP1) holds at most 64 KiB and comes first in a JPEG.
const EXIF_HEAD_BYTES: usize = 128 << 10;

pub struct EngineOptions {
    /// The data folder; `None` means `OUTBOX_DATA_DIR`, then the XDG data folder.
    pub data_dir: Option<PathBuf>,
    pub clock: Arc<dyn Clock>,
    /// How long to wait for another process's lock on the database.
    pub busy_timeout: Duration,
    /// Memory for generated outputs kept for previews and uploads.
    pub output_cache_bytes: usize,
    /// Memory for previews (least recently shown leave first; made again
    /// from the output file when shown again).
    pub preview_cache_bytes: usize,
    /// Where destinations' secrets are kept: the OS keychain.
    pub secrets: Arc<dyn Secrets>,
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            data_dir: None,
            clock: Arc::new(SystemClock),
            busy_timeout: DEFAULT_BUSY_TIMEOUT,
            output_cache_bytes: 256 << 20,
            preview_cache_bytes: 64 << 20,
            secrets: Keychain::shared(),
        }
    }
}

/// What to add, and how.
#[derive(Clone, Debug, PartialEq)]
pub struct AddOptions {
    /// Destination name; `None` is the default folder (`~/Pictures/Outbox`).
    pub destination: Option<String>,
    /// Recipe name; `None` is `web`.
    pub recipe: Option<String>,
    pub priority: i64,
    /// Deliver this batch's items strictly in order.
    pub sequential: bool,
    pub batch_name: Option<String>,
    /// Queue even what is queued or delivered already.
    pub force: bool,
    pub max_attempts: u32,
    /// Hold each output for the user to accept before it is uploaded.
    pub review: bool,
}

impl Default for AddOptions {
    fn default() -> Self {
        AddOptions {
            destination: None,
            recipe: None,
            priority: 0,
            sequential: false,
            batch_name: None,
            force: false,
            max_attempts: DEFAULT_MAX_ATTEMPTS,
            review: false,
        }
    }
}

/// What an add did, item by item.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct AddReport {
    pub batch_id: Option<BatchId>,
    pub added: Vec<JobId>,
    pub duplicates: Vec<Duplicate>,
    pub skipped: Vec<Skipped>,
}

/// What a retry did.
#[derive(Debug, Default)]
pub struct RetryReport {
    pub retried: Vec<JobId>,
    /// Jobs left as they were, with the reason (they would duplicate another).
    pub refused: Vec<Error>,
}

#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl Engine {
    /// Opens (or creates) the queue in the data folder.
    pub fn open(options: EngineOptions) -> Result<Engine> {
        let root = paths::resolve_data_dir(options.data_dir.as_deref())?;
        let data = DataDir::create(root)?;
        let store = Store::open(&data.database(), options.busy_timeout)?;
        let database_id = store.database_id()?;
        Ok(Engine {
            shared: Arc::new(Shared {
                store,
                data,
                events: EventBus::new(),
                clock: options.clock,
                cache: ByteCache::new(options.output_cache_bytes),
                previews: ByteCache::new(options.preview_cache_bytes),
                source_previews: ByteCache::new(options.preview_cache_bytes),
                early_previews: preview::EarlyPreviews::default(),
                notify: Notify::new(),
                secrets: options.secrets,
                database_id,
            }),
        })
    }

    pub fn data_dir(&self) -> &Path {
        self.shared.data.root()
    }

    pub fn database_path(&self) -> &Path {
        self.shared.store.path()
    }

    /// Reads every page of the database (`PRAGMA quick_check`): damage past
    /// the pages a command happens to read is an `Error::CorruptDatabase`.
    pub fn check_database(&self) -> Result<()> {
        let path = self.database_path().to_path_buf();
        self.shared.store.read(|conn| {
            let mut check = conn.prepare("PRAGMA quick_check")?;
            let problems = check
                .query_map([], |r| r.get::<_, String>(0))?
                .take(3)
                .collect::<rusqlite::Result<Vec<_>>>()?;
            if problems == ["ok"] {
                Ok(())
            } else {
                Err(Error::CorruptDatabase {
                    path,
                    reason: problems.join("; ").replace('\n', " "),
                })
            }
        })
    }

    /// Scans `paths` (files, and folders recursively) and queues the images.
    pub fn add(&self, paths: &[PathBuf], options: &AddOptions) -> Result<AddReport> {
        self.add_scanned(scan::scan(paths), options)
    }

    /// Queues what a [`scan`] found, and lists what it skipped.
    pub fn add_scanned(&self, scan: Scan, options: &AddOptions) -> Result<AddReport> {
        let mut report = self.enqueue(scan.items, options)?;
        report.skipped = scan.skipped;
        Ok(report)
    }

    /// Queues an image pasted from the clipboard (saved in the data folder).
    pub fn add_pasted(&self, bytes: &[u8], options: &AddOptions) -> Result<AddReport> {
        let path = pasted::save(&self.shared.data.pasted(), bytes)?;
        self.add(&[path], options)
    }

    /// Queues items already found (by a scan, a manifest import, a paste).
    /// Durable when it returns: the commit waits for the disk.
    pub fn enqueue(&self, items: Vec<NewItem>, options: &AddOptions) -> Result<AddReport> {
        let enqueued = self.enqueue_items(&items, options)?;
        Ok(AddReport {
            batch_id: enqueued.batch_id,
            added: enqueued.jobs,
            duplicates: enqueued.duplicates,
            skipped: Vec::new(),
        })
    }

    /// Queues the items of a CSV or JSON manifest (one item a row: its
    /// fields and an image path or URL; URLs are downloaded into the data
    /// folder). Rows without a usable image, malformed rows and duplicates
    /// are listed with their reason; the rest is queued as one batch.
    pub async fn import(&self, manifest: &Path, options: &AddOptions) -> Result<ImportReport> {
        self.import_with_limits(manifest, options, &import::DownloadLimits::default())
            .await
    }

    /// [`Engine::import`] with other download limits.
    pub async fn import_with_limits(
        &self,
        manifest: &Path,
        options: &AddOptions,
        limits: &import::DownloadLimits,
    ) -> Result<ImportReport> {
        let path = manifest.to_path_buf();
        let (rows, mut skipped) = tokio::task::spawn_blocking(move || import::read(&path))
            .await
            .map_err(|e| Error::io("read the manifest", manifest, std::io::Error::other(e)))??;
        let downloads = self.shared.data.imports();
        std::fs::create_dir_all(&downloads)
            .map_err(|e| Error::io("create the folder", &downloads, e))?;
        let found = import::download_all(rows, &downloads, limits, &mut skipped).await;
        let (numbers, items): (Vec<u64>, Vec<NewItem>) = found.into_iter().unzip();
        let mut options = options.clone();
        if options.batch_name.is_none() {
            options.batch_name = manifest
                .file_name()
                .map(|n| n.to_string_lossy().into_owned());
        }
        let engine = self.clone();
        let (enqueued, items) = tokio::task::spawn_blocking(move || {
            engine.enqueue_items(&items, &options).map(|e| (e, items))
        })
        .await
        .map_err(|e| Error::io("queue", manifest, std::io::Error::other(e)))??;
        // Each item was either queued or a duplicate, in order.
        let mut report = ImportReport {
            batch_id: enqueued.batch_id,
            ..ImportReport::default()
        };
        let mut jobs = enqueued.added_items.iter().zip(&enqueued.jobs).peekable();
        let mut duplicates = enqueued.duplicates.iter();
        for (index, row) in numbers.into_iter().enumerate() {
            if let Some((_, &job)) = jobs.next_if(|(at, _)| **at == index) {
                report.added.push(import::ImportedRow { row, job });
            } else if let Some(d) = duplicates.next() {
                let place = d
                    .url
                    .as_deref()
                    .map(|u| format!(" at {u}"))
                    .unwrap_or_default();
                skipped.push(import::SkippedRow {
                    row,
                    reason: format!(
                        "a duplicate: {} is already {} as job {}{place}",
                        items[index].path.display(),
                        d.state,
                        d.existing_job
                    ),
                });
            }
        }
        skipped.sort_by_key(|s| s.row);
        report.skipped = skipped;
        if let Some(batch_id) = report.batch_id {
            tracing::info!(
                batch_id,
                added = report.added.len(),
                skipped = report.skipped.len(),
                "manifest imported"
            );
        }
        Ok(report)
    }

    /// Downloads images named by URL into the data folder (public addresses
    /// only unless `limits` say otherwise), a few at once: for each URL, in
    /// order, the item to queue or why it cannot be had.
    pub async fn download(
        &self,
        urls: &[String],
        limits: &import::DownloadLimits,
    ) -> Result<Vec<std::result::Result<NewItem, String>>> {
        let dir = self.shared.data.imports();
        tokio::fs::create_dir_all(&dir)
            .await
            .map_err(|e| Error::io("create the folder", &dir, e))?;
        let rows = urls
            .iter()
            .enumerate()
            .map(|(row, url)| import::Resolved {
                row: row as u64,
                fields: Fields::new(),
                source: import::Source::Url(url.clone()),
            })
            .collect();
        let mut skipped = Vec::new();
        let found = import::download_all(rows, &dir, limits, &mut skipped).await;
        let mut out: Vec<std::result::Result<NewItem, String>> =
            vec![Err("not downloaded".to_string()); urls.len()];
        for (row, item) in found {
            if let Some(slot) = out.get_mut(row as usize) {
                *slot = Ok(item);
            }
        }
        for s in skipped {
            if let Some(slot) = out.get_mut(s.row as usize) {
                *slot = Err(s.reason);
            }
        }
        Ok(out)
    }

    fn enqueue_items(&self, items: &[NewItem], options: &AddOptions) -> Result<store::Enqueued> {
        let recipe = self.recipe(options.recipe.as_deref().unwrap_or(recipe::DEFAULT_RECIPE))?;
        let destination = self.destination_for_add(options.destination.as_deref())?;
        if options.max_attempts == 0 {
            return Err(Error::InvalidSetting(
                "max attempts must be at least 1".into(),
            ));
        }
        let recipe_json = serde_json::to_string(&recipe)
            .map_err(|e| Error::InvalidSetting(format!("recipe: {e}")))?;
        // An AI recipe needs its provider now: its cost is frozen per job.
        let ai = match recipe.split_ai() {
            Some((step, _)) => {
                let provider = self
                    .shared
                    .store
                    .provider(&step.provider)?
                    .ok_or_else(|| Error::UnknownProvider(step.provider.clone()))?;
                Some((provider.name.clone(), provider.cost_per_item()))
            }
            None => None,
        };
        let now = self.shared.clock.now_ms();
        let name = options
            .batch_name
            .clone()
            .unwrap_or_else(|| format!("{} item(s)", items.len()));
        let enqueued = self.shared.store.enqueue(
            &EnqueueBatch {
                name: &name,
                sequential: options.sequential,
                priority: options.priority,
                max_attempts: options.max_attempts,
                force: options.force,
                review: options.review,
                destination: &destination,
                recipe_json: &recipe_json,
                items,
                ai: ai.as_ref().map(|(provider, cost)| store::AiCall {
                    provider,
                    cost: *cost,
                }),
            },
            now,
        )?;
        if let Some(batch_id) = enqueued.batch_id {
            self.shared.events.publish(Event::JobsQueued {
                batch_id,
                jobs: enqueued.jobs.len() as u64,
            });
            self.work_changed();
        }
        Ok(enqueued)
    }

    fn destination_for_add(&self, name: Option<&str>) -> Result<store::DestinationRow> {
        let name = name.unwrap_or(DEFAULT_DESTINATION);
        if let Some(row) = self.shared.store.destination(name)? {
            return Ok(row);
        }
        if name != DEFAULT_DESTINATION {
            return Err(Error::UnknownDestination(name.to_string()));
        }
        let folder = paths::default_delivery_folder()?;
        let view = DestinationView {
            name: DEFAULT_DESTINATION.into(),
            kind: "folder".into(),
            settings: serde_json::json!({ "path": folder, "create": true }),
            max_concurrent: None,
        };
        match self
            .shared
            .store
            .add_destination(&view, self.shared.clock.now_ms())
        {
            Ok(()) | Err(Error::DestinationExists(_)) => {}
            Err(e) => return Err(e),
        }
        self.shared
            .store
            .destination(name)?
            .ok_or_else(|| Error::UnknownDestination(name.to_string()))
    }

    /// Saves a destination after checking its settings; its secret (a
    /// password, token or key), if any, goes to the keychain, never the
    /// database.
    pub fn add_destination(
        &self,
        destination: DestinationView,
        secret: Option<&str>,
    ) -> Result<()> {
        check_destination(&destination)?;
        if self.shared.store.destination(&destination.name)?.is_some() {
            return Err(Error::DestinationExists(destination.name));
        }
        if let Some(secret) = secret {
            // Before the row: a destination is never saved without its secret.
            self.keep_destination_secret(&destination.name, secret)?;
        }
        self.shared
            .store
            .add_destination(&destination, self.shared.clock.now_ms())
    }

    /// Replaces a destination's settings (and its secret, when one is
    /// given) after checking them. Allowed while it has queued jobs: they
    /// keep the settings they were queued with, and read the secret when
    /// they run.
    pub fn update_destination(
        &self,
        destination: DestinationView,
        secret: Option<&str>,
    ) -> Result<()> {
        check_destination(&destination)?;
        self.shared.store.update_destination(&destination)?;
        if let Some(secret) = secret {
            self.set_destination_secret(&destination.name, secret)?;
        }
        Ok(())
    }

    fn secret_key(&self, destination: &str) -> String {
        secrets::destination_key(&self.shared.database_id, destination)
    }

    /// Replaces a destination's secret in the keychain.
    pub fn set_destination_secret(&self, name: &str, secret: &str) -> Result<()> {
        if self.shared.store.destination(name)?.is_none() {
            return Err(Error::UnknownDestination(name.to_string()));
        }
        self.keep_destination_secret(name, secret)
    }

    fn keep_destination_secret(&self, name: &str, secret: &str) -> Result<()> {
        if secret.is_empty() {
            return Err(Error::InvalidSetting("the secret is empty".into()));
        }
        self.shared
            .secrets
            .set(&self.secret_key(name), secret)
            .map_err(Error::Keychain)
    }

    /// The app's local API token, from the keychain; made and kept there
    /// on first use.
    pub fn api_token(&self) -> Result<String> {
        let key = secrets::api_token_key(&self.shared.database_id);
        match self.shared.secrets.get(&key)? {
            Some(token) => Ok(token),
            None => self.renew_api_token(),
        }
    }

    /// A new local API token in the keychain: the old one stops working.
    pub fn renew_api_token(&self) -> Result<String> {
        let token = secrets::new_token()?;
        let key = secrets::api_token_key(&self.shared.database_id);
        self.shared.secrets.set(&key, &token)?;
        Ok(token)
    }

    pub fn destinations(&self) -> Result<Vec<DestinationView>> {
        Ok(self
            .shared
            .store
            .destinations()?
            .into_iter()
            .map(|d| d.view)
            .collect())
    }

    /// Removes a destination and its secret.
    pub fn remove_destination(&self, name: &str) -> Result<()> {
        let kind = self.shared.store.destination(name)?.map(|d| d.view.kind);
        self.shared.store.remove_destination(name)?;
        if kind.as_deref() != Some("folder") {
            if let Err(e) = self.shared.secrets.delete(&self.secret_key(name)) {
                tracing::warn!(destination = name, "its secret stays in the keychain: {e}");
            }
        }
        Ok(())
    }

    /// Checks that a destination is reachable and takes its credentials;
    /// says what was checked, or what is wrong in one sentence
    /// ([`Error::DestinationCheck`], with the setting to fix when one is to
    /// blame).
    pub async fn test_destination(&self, name: &str) -> Result<String> {
        let row = self
            .shared
            .store
            .destination(name)?
            .ok_or_else(|| Error::UnknownDestination(name.to_string()))?;
        let snapshot = destinations::DestinationSnapshot {
            name: row.view.name.clone(),
            kind: row.view.kind.clone(),
            settings: row.view.settings.clone(),
        };
        let resolver = destinations::BuiltinDestinations::new(
            self.shared.secrets.clone(),
            self.shared.database_id.clone(),
        );
        let failed = |e: destinations::DeliveryError| Error::DestinationCheck {
            message: e.message,
            field: e.field,
        };
        let destination = tokio::task::spawn_blocking(move || resolver.resolve(&snapshot))
            .await
            .map_err(|e| Error::DestinationCheck {
                message: e.to_string(),
                field: None,
            })?
            .map_err(failed)?;
        destination.check().await.map_err(failed)
    }

    /// Saves an AI provider after checking its settings; its API key goes
    /// to the keychain, never the database.
    pub fn add_provider(&self, provider: &ProviderView, key: &str) -> Result<()> {
        provider.validate().map_err(Error::InvalidSetting)?;
        if self.shared.store.provider(&provider.name)?.is_some() {
            return Err(Error::ProviderExists(provider.name.clone()));
        }
        self.set_provider_key(&provider.name, key)?;
        self.shared
            .store
            .add_provider(provider, self.shared.clock.now_ms())
    }

    /// Replaces an AI provider's settings (and its key, when one is given).
    pub fn update_provider(&self, provider: &ProviderView, key: Option<&str>) -> Result<()> {
        provider.validate().map_err(Error::InvalidSetting)?;
        self.shared.store.update_provider(provider)?;
        if let Some(key) = key {
            self.set_provider_key(&provider.name, key)?;
        }
        // A raised spending cap lets waiting jobs go on now.
        self.work_changed();
        Ok(())
    }

    /// Replaces an AI provider's API key in the keychain.
    pub fn set_provider_key(&self, name: &str, key: &str) -> Result<()> {
        if key.trim().is_empty() {
            return Err(Error::InvalidSetting("the API key is empty".into()));
        }
        self.shared
            .secrets
            .set(&secrets::provider_key(&self.shared.database_id, name), key)
            .map_err(Error::Keychain)
    }

    pub fn providers(&self) -> Result<Vec<ProviderView>> {
        self.shared.store.providers()
    }

    /// Removes an AI provider (refused while unfinished jobs use it) and its key.
    pub fn remove_provider(&self, name: &str) -> Result<()> {
        self.shared.store.remove_provider(name)?;
        let key = secrets::provider_key(&self.shared.database_id, name);
        if let Err(e) = self.shared.secrets.delete(&key) {
            tracing::warn!(provider = name, "its key stays in the keychain: {e}");
        }
        Ok(())
    }

    /// Checks that a provider is reachable and takes its key, without
    /// generating anything (nothing is paid); one sentence either way.
    pub async fn test_provider(&self, name: &str) -> Result<String> {
        let provider = self
            .shared
            .store
            .provider(name)?
            .ok_or_else(|| Error::UnknownProvider(name.to_string()))?;
        let shared = self.shared.clone();
        let key_name = secrets::provider_key(&self.shared.database_id, name);
        let key = tokio::task::spawn_blocking(move || shared.secrets.get(&key_name))
            .await
            .map_err(|e| Error::ProviderCheck(e.to_string()))??
            .ok_or_else(|| {
                Error::ProviderCheck(format!(
                    "AI provider {name:?} has no API key in the keychain"
                ))
            })?;
        let generator =
            providers::build(&provider, &key).map_err(|e| Error::ProviderCheck(e.message))?;
        generator
            .check()
            .await
            .map_err(|e| Error::ProviderCheck(e.message))
    }

    /// The prompt recipe `recipe` would send for an item with these fields
    /// (the app's preview before running); `None` when the recipe has no AI
    /// step. A field the item lacks is an [`Error::Prompt`] naming it.
    pub fn prompt_for(&self, recipe: &str, fields: &Fields) -> Result<Option<String>> {
        let recipe = self.recipe(recipe)?;
        let Some((step, _)) = recipe.split_ai() else {
            return Ok(None);
        };
        template::fill(&step.prompt, |name| template::field_text(fields, name))
            .map(Some)
            .map_err(Error::Prompt)
    }

    /// Saves a recipe under its name (replacing the one saved before, never a
    /// built-in one). Queued jobs keep the copy they were queued with.
    pub fn save_recipe(&self, recipe: &Recipe) -> Result<()> {
        if recipe.name.trim().is_empty() {
            return Err(Error::InvalidSetting("a recipe needs a name".into()));
        }
        if recipe::builtin_recipes()
            .iter()
            .any(|r| r.name == recipe.name)
        {
            return Err(Error::BuiltinRecipe(recipe.name.clone()));
        }
        recipe
            .validate()
            .map_err(|e| Error::InvalidSetting(format!("recipe {:?}: {e}", recipe.name)))?;
        let json = serde_json::to_string(recipe)
            .map_err(|e| Error::InvalidSetting(format!("recipe {:?}: {e}", recipe.name)))?;
        self.shared
            .store
            .save_recipe(recipe, &json, self.shared.clock.now_ms())
    }

    /// The recipe called `name`: a saved one, else a built-in one.
    pub fn recipe(&self, name: &str) -> Result<Recipe> {
        if let Some(json) = self.shared.store.recipe_json(name)? {
            return parse_saved_recipe(name, &json);
        }
        match recipe::builtin_recipes()
            .into_iter()
            .find(|r| r.name == name)
        {
            Some(recipe) => Ok(recipe),
            None => Err(self.unknown_recipe(name)),
        }
    }

    /// The built-in recipes, then the saved ones by name.
    pub fn recipes(&self) -> Result<Vec<RecipeView>> {
        let builtin = recipe::builtin_recipes()
            .into_iter()
            .map(|recipe| RecipeView {
                recipe,
                builtin: true,
            });
        let saved = self
            .shared
            .store
            .recipes_json()?
            .into_iter()
            .map(|(name, json)| {
                Ok(RecipeView {
                    recipe: parse_saved_recipe(&name, &json)?,
                    builtin: false,
                })
            });
        builtin.map(Ok).chain(saved).collect()
    }

    /// Removes a saved recipe.
    pub fn remove_recipe(&self, name: &str) -> Result<()> {
        if recipe::builtin_recipes().iter().any(|r| r.name == name) {
            return Err(Error::BuiltinRecipe(name.to_string()));
        }
        if self.shared.store.remove_recipe(name)? {
            Ok(())
        } else {
            Err(self.unknown_recipe(name))
        }
    }

    fn unknown_recipe(&self, name: &str) -> Error {
        let mut known: Vec<String> = recipe::builtin_recipes()
            .into_iter()
            .map(|r| r.name)
            .collect();
        if let Ok(saved) = self.shared.store.recipes_json() {
            known.extend(saved.into_iter().map(|(name, _)| name));
        }
        Error::UnknownRecipe {
            name: name.to_string(),
            known: known.join(", "),
        }
    }

    pub fn status(&self) -> Result<Status> {
        self.shared.store.status(self.shared.clock.now_ms())
    }

    /// A number that changes whenever another process commits to this
    /// queue's database; compare two readings to know whether to look again.
    pub fn foreign_commits(&self) -> Result<i64> {
        self.shared.store.foreign_commits()
    }

    pub fn counts(&self) -> Result<StateCounts> {
        self.shared.store.counts()
    }

    pub fn batch(&self, id: BatchId) -> Result<Option<BatchView>> {
        self.shared.store.batch(id, self.shared.clock.now_ms())
    }

    pub fn history(&self, query: &HistoryQuery) -> Result<Vec<JobView>> {
        self.shared.store.history(query)
    }

    /// How many jobs `query`'s filter matches (its page ignored).
    pub fn history_count(&self, query: &HistoryQuery) -> Result<u64> {
        self.shared.store.history_count(query)
    }

    pub fn job(&self, id: JobId) -> Result<Option<JobView>> {
        self.shared.store.job(id)
    }

    /// A job with its output, fields and every attempt, for its detail view.
    pub fn job_detail(&self, id: JobId) -> Result<Option<JobDetail>> {
        self.shared.store.job_detail(id)
    }

    /// Puts failed (or cancelled) jobs back at the front of the queue.
    pub fn retry(&self, target: &RetryTarget) -> Result<RetryReport> {
        let (retried, refused) = self
            .shared
            .store
            .retry(target, self.shared.clock.now_ms())?;
        self.work_changed();
        Ok(RetryReport { retried, refused })
    }

    /// Cancels jobs; one being worked on is stopped.
    pub fn cancel(&self, jobs: &[JobId]) -> Result<()> {
        self.shared.store.cancel(jobs, self.shared.clock.now_ms())?;
        self.work_changed();
        Ok(())
    }

    /// Pauses the queue (`None`) or one batch; returns the jobs paused.
    pub fn pause(&self, batch: Option<BatchId>) -> Result<u64> {
        let n = self.shared.store.pause(batch)?;
        self.work_changed();
        Ok(n)
    }

    pub fn resume(&self, batch: Option<BatchId>) -> Result<u64> {
        let n = self.shared.store.resume(batch)?;
        self.work_changed();
        Ok(n)
    }

    pub fn set_priority(&self, jobs: &[JobId], priority: i64) -> Result<()> {
        self.shared.store.set_priority(jobs, priority)?;
        self.work_changed();
        Ok(())
    }

    /// Deletes finished jobs older than `older_than`, and their output files.
    pub fn clean(&self, older_than: Duration) -> Result<u64> {
        let cutoff = self.shared.clock.now_ms() - older_than.as_millis() as i64;
        let owned = retention::owned_folders(&self.shared.data);
        let cleaned = self.shared.store.clean(cutoff, &owned)?;
        retention::delete_files(&self.shared.data, &cleaned);
        self.work_changed();
        Ok(cleaned.jobs)
    }

    /// How much finished work the queue keeps.
    pub fn retention(&self) -> Result<Retention> {
        self.shared.store.retention()
    }

    /// New retention rules, checked (each keeps something); the worker
    /// applies them as it goes, [`Engine::apply_retention`] at once.
    pub fn set_retention(&self, rules: &Retention) -> Result<()> {
        self.shared.store.set_retention(rules)
    }

    /// Removes what the retention rules no longer keep; how many jobs went.
    pub fn apply_retention(&self) -> Result<u64> {
        let removed = retention::apply(&self.shared)?;
        if removed > 0 {
            self.work_changed();
        }
        Ok(removed)
    }

    /// Lets outputs held for review go to their destinations.
    pub fn accept(&self, jobs: &[JobId]) -> Result<()> {
        self.shared.store.accept(jobs)?;
        self.work_changed();
        Ok(())
    }

    /// Makes held outputs again (an AI recipe gives a new result); they are
    /// held for review again.
    pub fn regenerate(&self, jobs: &[JobId]) -> Result<()> {
        let files = self.shared.store.regenerate(jobs)?;
        for &job in jobs {
            self.shared.cache.remove_where(|j| *j == job);
            self.shared.previews.remove_where(|(j, _)| *j == job);
        }
        for file in files {
            if let Err(e) = std::fs::remove_file(&file) {
                tracing::warn!(path = %file.display(), "cannot delete an output file: {e}");
            }
        }
        self.work_changed();
        Ok(())
    }

    /// The coalesced event stream.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// Delivers pending events now (before exiting, say).
    /// Publishes what other processes change on this database (the command
    /// line, a second worker) as this engine's own events, until `stop`; the
    /// app and `outbox serve` run it beside their worker. See [`feed`].
    pub async fn follow_other_processes(&self, stop: CancellationToken) -> Result<()> {
        feed::follow(self.shared.clone(), stop).await
    }

    pub fn flush_events(&self) {
        self.shared.events.flush();
    }

    /// A worker over this engine's queue; call [`Worker::run`] to start it.
    pub fn worker(&self, config: WorkerConfig) -> Worker {
        Worker::new(self.shared.clone(), config)
    }

    /// A generated output's bytes: from memory, else from its file.
    pub fn output_bytes(&self, job: JobId) -> Result<Option<Arc<[u8]>>> {
        if let Some(bytes) = self.shared.cache.get(&job) {
            return Ok(Some(bytes));
        }
        let Some(path) = self.shared.store.output_path(job)? else {
            return Ok(None);
        };
        let bytes: Arc<[u8]> = std::fs::read(&path)
            .map_err(|e| Error::io("read the output", &path, e))?
            .into();
        self.shared.cache.insert(job, bytes.clone());
        Ok(Some(bytes))
    }

    /// The preview of a job's generated output, at most `size` pixels on its
    /// longest edge: from memory, else made again from the output (`None`
    /// before the output exists).
    pub fn preview(&self, job: JobId, size: u32) -> Result<Option<Arc<preview::Preview>>> {
        if let Some(preview) = self.shared.previews.get(&(job, size)) {
            return Ok(Some(preview));
        }
        let Some(bytes) = self.output_bytes(job)? else {
            return Ok(None);
        };
        let format = image::guess_format(&bytes).map_err(|e| Error::Preview {
            job,
            message: format!("the output is not an image: {e}"),
        })?;
        let made = preview::preview(&bytes, format, size).map_err(|e| Error::Preview {
            job,
            message: e.message,
        })?;
        let made = Arc::new(made);
        self.shared.previews.insert((job, size), made.clone());
        Ok(Some(made))
    }

    /// The preview of a job's source image, at most `size` pixels on its
    /// longest edge (`None` for a job that does not exist).
    pub fn source_preview(&self, job: JobId, size: u32) -> Result<Option<Arc<preview::Preview>>> {
        if let Some(preview) = self.shared.source_previews.get(&(job, size)) {
            return Ok(Some(preview));
        }
        let Some(path) = self.shared.store.source_path(job)? else {
            return Ok(None);
        };
        let make = || preview::preview_file(&path, size).map(Arc::new);
        let made = match self.shared.early_previews.take(&path, size) {
            Some(early) => early.get_or_init(make).clone(),
            None => make(),
        }
        .map_err(|e| Error::Preview {
            job,
            message: e.message,
        })?;
        self.shared
            .source_previews
            .insert((job, size), made.clone());
        Ok(Some(made))
    }

    /// Makes the preview of a file about to be queued, for the first
    /// [`Engine::source_preview`] of its job to pick up: a drop's first
    /// previews are decoded while the enqueue waits for the disk. Blocks
    /// while it decodes; a file that is no image fails its job's request,
    /// with the reason, as it would have anyway.
    pub fn prepare_source_preview(&self, path: &Path, size: u32) {
        self.shared
            .early_previews
            .start(path, size)
            .get_or_init(|| preview::preview_file(path, size).map(Arc::new));
    }

    /// The EXIF thumbnail embedded in a job's source JPEG, if it has one: it
    /// is in the file's first segments, so only they are read.
    pub fn source_exif_thumbnail(&self, job: JobId) -> Result<Option<Arc<preview::Preview>>> {
        if let Some(preview) = self.shared.source_previews.get(&(job, 0)) {
            return Ok(Some(preview));
        }
        let Some(path) = self.shared.store.source_path(job)? else {
            return Ok(None);
        };
        let mut head = Vec::with_capacity(EXIF_HEAD_BYTES);
        let read = std::fs::File::open(&path).and_then(|f| {
            std::io::Read::read_to_end(
                &mut std::io::Read::take(f, EXIF_HEAD_BYTES as u64),
                &mut head,
            )
        });
        if let Err(e) = read {
            return Err(Error::io("read the image", &path, e));
        }
        let Some(made) = preview::exif_thumbnail(&head) else {
            return Ok(None);
        };
        let made = Arc::new(made);
        self.shared.source_previews.insert((job, 0), made.clone());
        Ok(Some(made))
    }

    fn work_changed(&self) {
        self.shared.notify.notify_waiters();
        self.shared.notify.notify_one();
        if self.shared.events.has_subscribers() {
            if let Ok(counts) = self.counts() {
                self.shared.events.publish(Event::CountsChanged { counts });
            }
        }
    }
}

/// A recipe as the settings show it.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct RecipeView {
    #[serde(flatten)]
    pub recipe: Recipe,
    pub builtin: bool,
}

fn parse_saved_recipe(name: &str, json: &str) -> Result<Recipe> {
    serde_json::from_str(json).map_err(|e| Error::CorruptRecipe {
        name: name.to_string(),
        message: e.to_string(),
    })
}

/// What a destination must be before it is saved, added or edited.
fn check_destination(destination: &DestinationView) -> Result<()> {
    destinations::validate_settings(&destination.kind, &destination.settings)
        .map_err(Error::InvalidSetting)?;
    if destination.name.trim().is_empty() {
        return Err(Error::InvalidSetting("a destination needs a name".into()));
    }
    if destination.max_concurrent == Some(0) {
        return Err(Error::InvalidSetting(
            "uploads at once must be 1 or more (empty: no limit)".into(),
        ));
    }
    Ok(())
}
