//! A recipe's AI step: the provider's image for one job, saved (fsynced) in
//! the data folder before anything else happens to it. A paid image is never
//! lost, and never paid for twice: a later attempt of the job (a retry after
//! its post-processing failed, a run that died) finds it there.

use super::tasks::{failed, write_durably, TaskContext};
use super::Failure;
use crate::events::Event;
use crate::model::{ErrorClass, JobId};
use crate::pipeline::{read_source, sniff_format};
use crate::providers::{self, ImageRequest, ProviderView, SourceImage, StageReporter};
use crate::recipe::{AiMode, AiStep};
use crate::secrets::provider_key;
use crate::template::{self, Fields};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Saved images are named after the item's file (the output is), this long at most.
const MAX_STEM_CHARS: usize = 100;

/// Reports a job's generation stages as events.
pub(super) fn stage_reporter(ctx: &TaskContext, job: JobId, started: Instant) -> StageReporter {
    let events = ctx.shared.events.clone();
    Arc::new(move |stage| {
        events.publish(Event::GenerationStage {
            job_id: job,
            stage,
            elapsed_ms: started.elapsed().as_millis() as u64,
        });
    })
}

/// How much of `provider`'s pause is left, if its server asked for one:
/// seen by this run, or recorded by any worker on the database.
async fn pause_left(ctx: &Arc<TaskContext>, provider: &str) -> Option<Duration> {
    let (shared, name) = (ctx.shared.clone(), provider.to_string());
    let now = shared.clock.now_ms();
    let until = match ctx.limits.paused_until(provider, now) {
        Some(until) => until,
        None => tokio::task::spawn_blocking(move || shared.store.provider_cool_down(&name, now))
            .await
            .ok()?
            .unwrap_or_else(|e| {
                tracing::warn!("cannot read {provider}'s pause: {e}");
                None
            })?,
    };
    Some(Duration::from_millis((until - now).max(0) as u64))
}

/// What the blocking preparation found.
enum Prepared {
    /// An earlier attempt's image.
    Saved(PathBuf),
    Call {
        provider: Box<ProviderView>,
        key: String,
        prompt: String,
        /// For an edit: the item's image, its MIME type and file name.
        source: Option<(Vec<u8>, &'static str, String)>,
    },
}

/// The provider's first image for `job`, on disk: saved by an earlier
/// attempt, else asked for now.
pub(super) async fn provider_image(
    ctx: &Arc<TaskContext>,
    job: JobId,
    source: &Path,
    fields: Option<&Fields>,
    step: &AiStep,
    stage: StageReporter,
) -> Result<PathBuf, Failure> {
    let dir = ctx.shared.data.ai_images(job);
    let stem: String = source
        .file_stem()
        .map(|s| s.to_string_lossy().chars().take(MAX_STEM_CHARS).collect())
        .unwrap_or_else(|| "image".into());
    let prepared = {
        let (ctx, dir, stem, source) =
            (ctx.clone(), dir.clone(), stem.clone(), source.to_path_buf());
        let (step, fields) = (step.clone(), fields.cloned());
        tokio::task::spawn_blocking(move || {
            prepare(&ctx, job, &dir, &stem, &source, fields.as_ref(), &step)
        })
        .await
        .map_err(|e| {
            failed(
                ErrorClass::Transient,
                format!("preparing the AI step crashed: {e}"),
            )
        })??
    };
    let (provider, key, prompt, source_image) = match prepared {
        Prepared::Saved(path) => {
            tracing::info!(
                job,
                "reusing the image the provider made in an earlier attempt"
            );
            return Ok(path);
        }
        Prepared::Call {
            provider,
            key,
            prompt,
            source,
        } => (provider, key, prompt, source),
    };
    let cap = Some(provider.settings.max_attempts);
    let with_cap = |e: providers::ProviderError| Failure {
        attempt_cap: cap,
        ..Failure::from(e)
    };
    let generator = providers::build(&provider, &key).map_err(with_cap)?;
    let request = ImageRequest {
        prompt: &prompt,
        source: source_image
            .as_ref()
            .map(|(bytes, mime, file_name)| SourceImage {
                bytes,
                mime,
                file_name,
            }),
    };
    let images = {
        let _slot = ctx.limits.enter(&provider.name, &provider.settings).await;
        // Claimed before another job's 429 paused the provider: wait too.
        if let Some(wait) = pause_left(ctx, &provider.name).await {
            return Err(Failure {
                retry_after: Some(wait),
                waiting: true,
                ..failed(
                    ErrorClass::Transient,
                    format!("{} asked for a pause; waiting for it to end", provider.name),
                )
            });
        }
        let answer = generator.generate(request, stage).await.map_err(with_cap);
        if let Err(Failure {
            retry_after: Some(wait),
            class: ErrorClass::Transient,
            ..
        }) = &answer
        {
            let until = ctx.shared.clock.now_ms() + wait.as_millis() as i64;
            ctx.limits.pause(&provider.name, until);
        }
        answer?
    };
    let ctx = ctx.clone();
    tokio::task::spawn_blocking(move || {
        let mut first = None;
        for (index, image) in images.iter().enumerate() {
            let name = match index {
                0 => format!("{stem}.{}", image.extension),
                n => format!("{stem}-{}.{}", n + 1, image.extension),
            };
            let path = write_durably(&dir, &name, &image.bytes)?;
            first.get_or_insert(path);
        }
        // The image is safe on disk; the money counts as spent.
        if let Err(e) = ctx.shared.store.mark_ai_paid(job) {
            tracing::warn!(job, "cannot record the AI image as paid for: {e}");
        }
        first.ok_or_else(|| {
            failed(
                ErrorClass::Permanent,
                "the provider answered without an image",
            )
        })
    })
    .await
    .map_err(|e| {
        failed(
            ErrorClass::Transient,
            format!("saving the AI image crashed: {e}"),
        )
    })?
}

fn prepare(
    ctx: &TaskContext,
    job: JobId,
    dir: &Path,
    stem: &str,
    source: &Path,
    fields: Option<&Fields>,
    step: &AiStep,
) -> Result<Prepared, Failure> {
    if let Some(saved) = saved_image(dir, stem) {
        // Recorded again: a crash may have come between the file and the record.
        if let Err(e) = ctx.shared.store.mark_ai_paid(job) {
            tracing::warn!(job, "cannot record the AI image as paid for: {e}");
        }
        return Ok(Prepared::Saved(saved));
    }
    let prompt = template::fill(&step.prompt, |name| {
        fields.and_then(|f| template::field_text(f, name))
    })
    .map_err(|e| failed(ErrorClass::Permanent, format!("the prompt: {e}")))?;
    let provider = ctx
        .shared
        .store
        .provider(&step.provider)
        .map_err(|e| failed(ErrorClass::Transient, e.to_string()))?
        .ok_or_else(|| {
            failed(
                ErrorClass::NeedsUser,
                format!(
                    "no AI provider named {:?} (removed?); add it again, then retry",
                    step.provider
                ),
            )
        })?;
    let key = ctx
        .shared
        .secrets
        .get(&provider_key(&ctx.shared.database_id, &provider.name))
        .map_err(|e| {
            failed(
                ErrorClass::NeedsUser,
                format!("cannot read the key of AI provider {:?}: {e}", provider.name),
            )
        })?
        .ok_or_else(|| {
            failed(
                ErrorClass::NeedsUser,
                format!(
                    "AI provider {:?} has no API key in the keychain; set it with `outbox provider secret {} --secret-stdin`",
                    provider.name, provider.name
                ),
            )
        })?;
    let source = match step.mode {
        AiMode::Generate => None,
        AiMode::Edit => {
            let bytes = read_source(source).map_err(|e| failed(e.class, e.message))?;
            let format = sniff_format(source, &bytes).map_err(|e| failed(e.class, e.message))?;
            let file_name = format!(
                "{stem}.{}",
                format.extensions_str().first().copied().unwrap_or("img")
            );
            Some((bytes, format.to_mime_type(), file_name))
        }
    };
    Ok(Prepared::Call {
        provider: Box::new(provider),
        key,
        prompt,
        source,
    })
}

/// The first image an earlier attempt saved: `{stem}.{ext}`.
fn saved_image(dir: &Path, stem: &str) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .find(|path| {
            path.is_file()
                && path
                    .file_stem()
                    .is_some_and(|s| s.to_string_lossy() == stem)
        })
}
