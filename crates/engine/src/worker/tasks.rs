//! The slow part of a job, off the worker loop: generating its output, or
//! delivering it. Each task ends by sending one [`Outcome`] back to the loop.

use super::{ai_step, background, Failure, Outcome};
use crate::destinations::{
    BoxFuture, Delivery, DeliveryError, Destination, DestinationSnapshot, ResolveDestination, Steps,
};
use crate::events::Event;
use crate::model::{ErrorClass, JobId, Phase};
use crate::pipeline::{Generate, GeneratedImage, SourceItem};
use crate::preview::DEFAULT_PREVIEW_SIZE;
use crate::providers::{ProviderLimits, Stage};
use crate::recipe::Recipe;
use crate::store::{Claimed, Generated, OutputRow};
use crate::template::Fields;
use crate::Shared;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

pub(crate) struct TaskContext {
    pub(super) shared: Arc<Shared>,
    /// The worker run holding the jobs.
    run: i64,
    generator: Arc<dyn Generate>,
    resolver: Arc<dyn ResolveDestination>,
    /// Destinations built from frozen settings, by those settings.
    destinations: Mutex<HashMap<String, Arc<dyn Destination>>>,
    /// Each AI provider's concurrency and rate, over this run's jobs.
    pub(super) limits: ProviderLimits,
}

impl TaskContext {
    pub(crate) fn new(
        shared: Arc<Shared>,
        run: i64,
        generator: Arc<dyn Generate>,
        resolver: Arc<dyn ResolveDestination>,
    ) -> Self {
        TaskContext {
            shared,
            run,
            generator,
            resolver,
            destinations: Mutex::new(HashMap::new()),
            limits: ProviderLimits::default(),
        }
    }

    fn destination(&self, frozen: &str) -> Result<Arc<dyn Destination>, Failure> {
        let cached = {
            let cache = self.destinations.lock().unwrap_or_else(|p| p.into_inner());
            cache.get(frozen).cloned()
        };
        if let Some(d) = cached {
            return Ok(d);
        }
        let snapshot: DestinationSnapshot = serde_json::from_str(frozen).map_err(|e| {
            failed(
                ErrorClass::Permanent,
                format!("the destination settings saved with this job are unreadable: {e}"),
            )
        })?;
        // Built outside the lock: it may wait on the keychain.
        let destination = self.resolver.resolve(&snapshot).map_err(Failure::from)?;
        let mut cache = self.destinations.lock().unwrap_or_else(|p| p.into_inner());
        cache.insert(frozen.to_string(), destination.clone());
        Ok(destination)
    }

    /// Builds the destination again next time (its secret may have been
    /// fixed since it failed).
    fn forget_destination(&self, frozen: &str) {
        let mut cache = self.destinations.lock().unwrap_or_else(|p| p.into_inner());
        cache.remove(frozen);
    }
}

/// A job's steps: saved in its row, progress published as events.
struct JobSteps {
    shared: Arc<Shared>,
    job: JobId,
    run: i64,
    saved: Option<serde_json::Value>,
    outcome_unknown: bool,
    total: u64,
}

impl Steps for JobSteps {
    fn saved(&self) -> Option<serde_json::Value> {
        self.saved.clone()
    }

    fn may_have_arrived(&self) -> bool {
        self.outcome_unknown
    }

    /// A durable write (it waits for the disk): off the async executor.
    fn save(&self, state: serde_json::Value) -> BoxFuture<'_, Result<(), DeliveryError>> {
        let (shared, job, run) = (self.shared.clone(), self.job, self.run);
        Box::pin(async move {
            let saved = tokio::task::spawn_blocking(move || {
                shared.store.save_upload_steps(job, run, &state.to_string())
            })
            .await;
            match saved {
                Ok(Ok(true)) => Ok(()),
                Ok(Ok(false)) => Err(DeliveryError::new(
                    ErrorClass::Transient,
                    "the job was taken from this worker (cancelled?)",
                )),
                Ok(Err(e)) => Err(DeliveryError::new(
                    ErrorClass::Transient,
                    format!("cannot save the upload's progress: {e}"),
                )),
                Err(e) => Err(DeliveryError::new(
                    ErrorClass::Transient,
                    format!("saving the upload's progress crashed: {e}"),
                )),
            }
        })
    }

    fn sent(&self, bytes: u64) {
        self.shared.events.publish(Event::BytesSent {
            job_id: self.job,
            sent: bytes.min(self.total),
            total: self.total,
        });
    }
}

pub(super) fn failed(class: ErrorClass, message: impl Into<String>) -> Failure {
    Failure {
        class,
        message: message.into(),
        retry_after: None,
        attempt_cap: None,
        waiting: false,
    }
}

impl From<DeliveryError> for Failure {
    fn from(e: DeliveryError) -> Self {
        Failure {
            class: e.class,
            message: e.message,
            retry_after: e.retry_after,
            attempt_cap: None,
            waiting: e.waiting,
        }
    }
}

pub(crate) fn spawn(
    ctx: Arc<TaskContext>,
    claimed: Claimed,
    cancel: CancellationToken,
    done: UnboundedSender<(JobId, Outcome)>,
) {
    let job = claimed.job_id;
    tokio::spawn(async move {
        let outcome = tokio::select! {
            biased;
            _ = cancel.cancelled() => Outcome::Released,
            outcome = run(&ctx, claimed) => outcome,
        };
        // The loop is gone only when the worker stopped; the job is then
        // recovered from the database by the next run.
        let _ = done.send((job, outcome));
    });
}

async fn run(ctx: &Arc<TaskContext>, claimed: Claimed) -> Outcome {
    let result = match claimed.phase {
        Phase::Generate => generate(ctx, claimed).await,
        Phase::Upload => upload(ctx, claimed).await,
    };
    result.unwrap_or_else(Outcome::Failed)
}

async fn generate(ctx: &Arc<TaskContext>, claimed: Claimed) -> Result<Outcome, Failure> {
    let started = Instant::now();
    let recipe: Recipe = match serde_json::from_str(&claimed.recipe_json) {
        Ok(recipe) => recipe,
        Err(e) => {
            return Err(failed(
                ErrorClass::Permanent,
                format!("the recipe saved with this job is unreadable: {e}"),
            ))
        }
    };
    let fields: Option<Fields> = match claimed.fields.as_deref().map(serde_json::from_str) {
        None => None,
        Some(Ok(fields)) => Some(fields),
        Some(Err(e)) => {
            return Err(failed(
                ErrorClass::Permanent,
                format!("the item's fields are unreadable: {e}"),
            ))
        }
    };
    let job = claimed.job_id;
    let claimed_ai = claimed.ai;
    // An AI step first: the provider's image, saved, becomes the source of
    // the recipe's local operations.
    let (source, recipe) = match recipe.split_ai().map(|(step, rest)| (step.clone(), rest)) {
        None => (claimed.source.clone(), recipe),
        Some((step, rest)) => {
            let stage = ai_step::stage_reporter(ctx, job, started);
            let image = ai_step::provider_image(
                ctx,
                job,
                &claimed.source,
                fields.as_ref(),
                &step,
                stage.clone(),
            )
            .await?;
            stage(Stage::PostProcessing);
            (image, rest)
        }
    };
    let generator = ctx.generator.clone();
    let outputs = ctx.shared.data.outputs();
    let result = background::run(move || {
        let item = SourceItem {
            path: &source,
            fields: fields.as_ref(),
        };
        let image = generator
            .generate(item, &recipe)
            .map_err(|e| failed(e.class, e.message))?;
        let path = write_output(&outputs, job, &image)?;
        Ok::<_, Failure>((image, path))
    })
    .await;
    let (image, path) = result.map_err(|background::Crashed(why)| {
        failed(
            ErrorClass::Permanent,
            format!("generating the output crashed: {why}"),
        )
    })??;
    let GeneratedImage {
        bytes,
        mime,
        file_name,
        width,
        height,
        source_hash,
        preview,
    } = image;
    let hash = *blake3::hash(&bytes).as_bytes();
    let size = bytes.len() as u64;
    ctx.shared.cache.insert(job, Arc::from(bytes));
    if let Some(preview) = preview {
        // Kept where `Engine::preview(job, DEFAULT_PREVIEW_SIZE)` looks, when
        // it is that preview: that size, or the output's own when smaller.
        let longest = preview.width.max(preview.height);
        if longest == DEFAULT_PREVIEW_SIZE
            || (longest < DEFAULT_PREVIEW_SIZE && longest == width.max(height))
        {
            let key = (job, DEFAULT_PREVIEW_SIZE);
            ctx.shared.previews.insert(key, Arc::new(preview));
        }
    }
    Ok(Outcome::Generated(Generated {
        output: OutputRow {
            path,
            file_name,
            mime: mime.to_string(),
            size,
            width,
            height,
            hash,
        },
        source_hash,
        check_content: !claimed_ai,
    }))
}

/// Writes the output into the data folder and waits for the disk, before its
/// job is allowed to move on: a generated image is never lost to a crash.
fn write_output(dir: &Path, job: JobId, image: &GeneratedImage) -> Result<PathBuf, Failure> {
    let extension = Path::new(&image.file_name)
        .extension()
        .map(|e| e.to_string_lossy().into_owned())
        .unwrap_or_else(|| "img".into());
    write_durably(dir, &format!("{job}.{extension}"), &image.bytes)
}

/// Writes `name` in `dir` (made if missing) through a temporary file, and
/// waits for the disk: the file is whole or absent after a crash.
pub(super) fn write_durably(dir: &Path, name: &str, bytes: &[u8]) -> Result<PathBuf, Failure> {
    crate::durable::write_file(dir, name, bytes).map_err(|e| {
        let class = match e.kind() {
            std::io::ErrorKind::StorageFull
            | std::io::ErrorKind::PermissionDenied
            | std::io::ErrorKind::ReadOnlyFilesystem => ErrorClass::NeedsUser,
            _ => ErrorClass::Transient,
        };
        failed(
            class,
            format!("cannot save the output in {}: {e}", dir.display()),
        )
    })
}

async fn upload(ctx: &Arc<TaskContext>, claimed: Claimed) -> Result<Outcome, Failure> {
    let Some(output) = claimed.output else {
        return Err(failed(
            ErrorClass::Permanent,
            "no generated output is recorded for this job",
        ));
    };
    // Building a destination may ask the keychain (D-Bus): not on the executor.
    let frozen = claimed.destination_json.clone();
    let destination = {
        let (ctx, frozen) = (ctx.clone(), frozen.clone());
        tokio::task::spawn_blocking(move || ctx.destination(&frozen))
            .await
            .map_err(|e| {
                failed(
                    ErrorClass::Transient,
                    format!("building the destination: {e}"),
                )
            })??
    };
    let job = claimed.job_id;
    let fields = claimed
        .fields
        .as_deref()
        .and_then(|f| serde_json::from_str(f).ok());
    let delivery = Delivery {
        queue_id: ctx.shared.database_id.clone(),
        job_id: job,
        file_name: output.file_name,
        mime: output.mime,
        size: output.size,
        hash: output.hash,
        bytes: ctx.shared.cache.get(&job),
        path: output.path,
        fields,
    };
    if delivery.bytes.is_none() && !delivery.path.is_file() {
        return Err(failed(
            ErrorClass::Permanent,
            format!(
                "the generated output {} is missing from the data folder",
                delivery.path.display()
            ),
        ));
    }
    let saved = claimed
        .upload_steps
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok());
    // Steps already saved mean the first one (the upload) is done: asking
    // the destination again would find it anyway.
    if claimed.outcome_unknown && saved.is_none() {
        match destination.reconcile(&delivery).await {
            Ok(Some(remote)) => {
                tracing::info!(
                    job,
                    "an interrupted upload had arrived; not sending it again"
                );
                return Ok(Outcome::Delivered(remote, delivery.size));
            }
            Ok(None) => {}
            Err(e) => {
                if e.class == ErrorClass::NeedsUser {
                    ctx.forget_destination(&frozen);
                }
                return Err(Failure {
                    message: format!(
                        "cannot check whether an interrupted upload arrived: {}",
                        e.message
                    ),
                    ..Failure::from(e)
                });
            }
        }
    }
    let steps = Arc::new(JobSteps {
        shared: ctx.shared.clone(),
        job,
        run: ctx.run,
        saved,
        outcome_unknown: claimed.outcome_unknown,
        total: delivery.size,
    });
    let remote = match destination.deliver(&delivery, steps.clone()).await {
        Ok(remote) => remote,
        Err(e) => {
            if e.class == ErrorClass::NeedsUser {
                ctx.forget_destination(&frozen);
            }
            return Err(e.into());
        }
    };
    steps.sent(delivery.size);
    Ok(Outcome::Delivered(remote, delivery.size))
}
