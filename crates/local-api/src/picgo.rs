//! The PicGo protocol, which Markdown editors (Typora, Obsidian's image
//! upload plugins) already speak to a local uploader:
//!
//! - `POST /upload` with `{"list": ["/abs/a.png", …]}` answers, once every
//!   image is delivered, `{"success": true, "result": ["<link>", …]}` in the
//!   list's order, else `{"success": false, "message": "…"}` (always HTTP
//!   200, as PicGo answers).
//! - With no body or an empty list PicGo uploads the clipboard's image: the
//!   app reads its clipboard ([`PicGoConfig::clipboard`]); a headless
//!   `outbox serve` has none and answers `success: false` saying so.
//! - `POST /heartbeat` (and `GET`): `{"success": true, "result": "alive"}`.
//!
//! PicGo's protocol has no token, so every path must be an absolute path
//! to a readable image file (not a folder), checked by its content; the
//! request is refused whole otherwise. An image already delivered to the
//! same destination (by path, or the same bytes under another name)
//! answers its existing link.

use crate::items::{read_item, Waiter};
use crate::{blocking, ClipboardImage, PicGoConfig, Shared};
use axum::body::Bytes;
use axum::extract::State;
use axum::Json;
use outbox_engine::{JobId, JobState, NewItem};
use serde::Deserialize;
use serde_json::{json, Value};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub(crate) struct PicGoState {
    pub api: Shared,
    pub config: PicGoConfig,
}

/// What editors send; other keys (PicGo-Core's) are ignored.
#[derive(Debug, Default, Deserialize)]
struct UploadBody {
    #[serde(default)]
    list: Vec<Value>,
}

pub(crate) async fn heartbeat() -> Json<Value> {
    Json(json!({ "success": true, "result": "alive" }))
}

fn failure(message: impl Into<String>) -> Json<Value> {
    let message = message.into();
    tracing::info!("PicGo upload refused: {message}");
    Json(json!({ "success": false, "message": message }))
}

pub(crate) async fn upload(State(state): State<Arc<PicGoState>>, body: Bytes) -> Json<Value> {
    let request: UploadBody = if body.iter().all(u8::is_ascii_whitespace) {
        UploadBody::default()
    } else {
        match serde_json::from_slice(&body) {
            Ok(request) => request,
            Err(e) => return failure(format!("the body is not PicGo's JSON ({e})")),
        }
    };
    if request.list.is_empty() {
        let Some(read) = state.config.clipboard.clone() else {
            return failure(
                "Outbox has no clipboard to upload from here; send {\"list\": [\"/path/to/image.png\"]}",
            );
        };
        return match deliver_clipboard(&state, read).await {
            Ok(link) => Json(json!({ "success": true, "result": [link] })),
            Err(message) => failure(message),
        };
    }
    let mut paths = Vec::with_capacity(request.list.len());
    for entry in &request.list {
        match entry.as_str() {
            Some(path) => paths.push(path.to_string()),
            None => return failure(format!("{entry} is not a path")),
        }
    }
    match deliver(&state, paths).await {
        Ok(links) => Json(json!({ "success": true, "result": links })),
        Err(message) => failure(message),
    }
}

/// Queues the images and waits for each one's link.
async fn deliver(state: &PicGoState, paths: Vec<String>) -> Result<Vec<String>, String> {
    let checked = tokio::task::spawn_blocking(move || {
        paths
            .iter()
            .map(|p| readable_image(p))
            .collect::<Result<Vec<NewItem>, String>>()
    })
    .await
    .map_err(|e| e.to_string())??;
    // The same path twice is one job.
    let mut unique: Vec<NewItem> = Vec::new();
    for item in &checked {
        if !unique.iter().any(|u| u.path == item.path) {
            unique.push(item.clone());
        }
    }
    let mut waiter = Waiter::with_timeout(&state.api, state.config.timeout);
    let options = state.config.options.get();
    let queued = unique.clone();
    let report = blocking(&state.api.engine, move |e| e.enqueue(queued, &options))
        .await
        .map_err(|e| e.to_string())?;
    // Each path's job: new, or the one already there.
    let mut added = report.added.into_iter();
    let mut duplicates = report.duplicates.into_iter().peekable();
    let mut jobs: Vec<(PathBuf, JobId)> = Vec::new();
    for item in &unique {
        let job = match duplicates.next_if(|d| d.path == item.path) {
            Some(d) => Some(d.existing_job),
            None => added.next(),
        };
        let job = job.ok_or_else(|| format!("{} was not queued", item.path.display()))?;
        jobs.push((item.path.clone(), job));
    }
    let mut links: Vec<(PathBuf, String)> = Vec::new();
    for (path, job) in &jobs {
        let link = link_of(state, &mut waiter, &path.display().to_string(), *job).await?;
        links.push((path.clone(), link));
    }
    Ok(checked
        .iter()
        .filter_map(|item| {
            links
                .iter()
                .find(|(p, _)| *p == item.path)
                .map(|(_, l)| l.clone())
        })
        .collect())
}

/// Queues the clipboard's image (as a paste in the window is) and waits
/// for its link.
async fn deliver_clipboard(state: &PicGoState, read: ClipboardImage) -> Result<String, String> {
    let bytes = tokio::task::spawn_blocking(move || (read.0)())
        .await
        .map_err(|e| e.to_string())??;
    let mut waiter = Waiter::with_timeout(&state.api, state.config.timeout);
    let options = state.config.options.get();
    let report = blocking(&state.api.engine, move |e| e.add_pasted(&bytes, &options))
        .await
        .map_err(|e| e.to_string())?;
    let job = match (report.added.first(), report.duplicates.first()) {
        (Some(&job), _) => job,
        (None, Some(d)) => d.existing_job,
        (None, None) => {
            let why = report.skipped.first().map(|s| s.reason.clone());
            return Err(format!(
                "the clipboard's image was not queued: {}",
                why.unwrap_or_else(|| "no reason given".into())
            ));
        }
    };
    link_of(state, &mut waiter, "the clipboard's image", job).await
}

/// Waits for `job`'s link (or the earlier job's, for the same image under
/// another name); `what` names it in a failure.
async fn link_of(
    state: &PicGoState,
    waiter: &mut Waiter,
    what: &str,
    mut job: JobId,
) -> Result<String, String> {
    loop {
        let view = read_item(&state.api, job)
            .await
            .map_err(|e| e.to_string())?;
        // The same image under another name: the earlier job's link.
        let earlier = view
            .job
            .error
            .as_ref()
            .filter(|_| view.job.state == JobState::Cancelled)
            .and_then(|e| outbox_engine::duplicate_of(&e.message))
            .filter(|&earlier| earlier != job);
        if let Some(earlier) = earlier {
            job = earlier;
            continue;
        }
        if view.finished {
            return match (view.job.state, view.link) {
                (JobState::Completed, Some(link)) => Ok(link),
                (JobState::Completed, None) => Err(format!(
                    "{what} was delivered, but its destination gives no link"
                )),
                (state, _) => {
                    let why = view
                        .job
                        .error
                        .map(|e| e.message)
                        .unwrap_or_else(|| state.to_string());
                    Err(format!("{what}: {why}"))
                }
            };
        }
        if !waiter.more().await {
            return Err(format!(
                "{what} is not delivered yet (job {job}, {}); it stays queued",
                view.job.state
            ));
        }
    }
}

/// An absolute path to a file whose first bytes are an image Outbox reads.
fn readable_image(given: &str) -> Result<NewItem, String> {
    let path = Path::new(given.strip_prefix("file://").unwrap_or(given));
    if !path.is_absolute() {
        return Err(format!("{given}: a path must be absolute"));
    }
    let metadata = std::fs::metadata(path).map_err(|e| format!("{given}: {e}"))?;
    if !metadata.is_file() {
        return Err(format!("{given}: not a file"));
    }
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(path)
        .and_then(|f| f.take(64).read_to_end(&mut head))
        .map_err(|e| format!("{given}: {e}"))?;
    if image::guess_format(&head).is_err() {
        return Err(format!("{given}: not an image Outbox reads"));
    }
    let mut scan = outbox_engine::scan(&[path.to_path_buf()]);
    match (scan.items.pop(), scan.skipped.pop()) {
        (Some(item), _) => Ok(item),
        (None, Some(s)) => Err(format!("{given}: {}", s.reason)),
        (None, None) => Err(format!("{given}: not found")),
    }
}
