//! `outbox-preview://localhost/…`: previews straight from the engine's memory
//! into `<img src>`, without base64 or JSON. Served from a blocking thread so
//! neither the webview nor the async executor waits on a decode. Only the
//! app's own previews exist here, named by job id; no path reaches the disk.
//!
//! - `/source/{job}/{size}`: the dropped image, `size` px on its longest edge
//! - `/exif/{job}`: the source's embedded EXIF thumbnail (404 if none)
//! - `/output/{job}/{size}`: the generated output (404 before it exists)
//!
//! URLs are immutable: the UI adds `?v=N` when an output is made again.

use crate::state::AppState;
use outbox_engine::preview::Preview;
use outbox_engine::{Engine, JobId};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Instant;
use tauri::http::{header, Request, Response, StatusCode};
use tauri::{Manager, Runtime, UriSchemeContext, UriSchemeResponder};
use tokio::sync::Semaphore;

pub const SCHEME: &str = "outbox-preview";
/// The largest preview the UI may ask for.
const MAX_SIZE: u32 = 2048;

#[derive(Debug, PartialEq, Eq)]
pub enum Route {
    Source(JobId, u32),
    Exif(JobId),
    Output(JobId, u32),
}

pub fn route(path: &str) -> Option<Route> {
    let parts: Vec<&str> = path.trim_start_matches('/').split('/').collect();
    let job = |s: &str| s.parse::<JobId>().ok().filter(|j| *j > 0);
    let size = |s: &str| {
        s.parse::<u32>()
            .ok()
            .filter(|n| (16..=MAX_SIZE).contains(n))
    };
    match parts.as_slice() {
        ["source", j, s] => Some(Route::Source(job(j)?, size(s)?)),
        ["exif", j] => Some(Route::Exif(job(j)?)),
        ["output", j, s] => Some(Route::Output(job(j)?, size(s)?)),
        _ => None,
    }
}

pub fn handle<R: Runtime>(
    ctx: UriSchemeContext<'_, R>,
    request: Request<Vec<u8>>,
    responder: UriSchemeResponder,
) {
    let Some(state) = ctx.app_handle().try_state::<AppState>() else {
        responder.respond(plain(
            StatusCode::SERVICE_UNAVAILABLE,
            "the queue is not open",
        ));
        return;
    };
    let engine = state.engine.clone();
    let path = request.uri().path().to_owned();
    tauri::async_runtime::spawn(async move {
        let asked = Instant::now();
        // One decode per core, first asked first served: a drop of 1,000
        // files must not start 1,000 decodes that all finish late. EXIF
        // thumbnails (a small read, a tiny decode) never wait behind them.
        let _turn = match route(&path) {
            Some(Route::Exif(_)) | None => None,
            Some(_) => decode_slots().acquire().await.ok(),
        };
        let waited = asked.elapsed();
        let answer = tauri::async_runtime::spawn_blocking(move || {
            let answer = respond(&engine, &path);
            tracing::debug!(
                path,
                waited_ms = waited.as_secs_f64() * 1e3,
                served_ms = asked.elapsed().as_secs_f64() * 1e3,
                "preview"
            );
            answer
        })
        .await;
        responder.respond(answer.unwrap_or_else(|e| {
            plain(
                StatusCode::INTERNAL_SERVER_ERROR,
                &format!("the preview task stopped: {e}"),
            )
        }));
    });
}

/// The size the UI's tiles ask for first (`previewUrl.source` in
/// `ui/src/lib/api.ts`).
const TILE_SIZE: u32 = 512;

/// Starts the previews of the first files of a drop, one per decode slot,
/// before their jobs exist: they decode while the enqueue waits for the
/// disk, and each job's first request for its preview picks the result up.
pub fn start_first_previews(engine: &Engine, paths: impl IntoIterator<Item = PathBuf>) {
    for path in paths.into_iter().take(slot_count()) {
        let engine = engine.clone();
        tauri::async_runtime::spawn(async move {
            let asked = Instant::now();
            let _turn = decode_slots().acquire().await.ok();
            let made = tauri::async_runtime::spawn_blocking(move || {
                let started = asked.elapsed();
                engine.prepare_source_preview(&path, TILE_SIZE);
                tracing::debug!(
                    ?path,
                    started_ms = started.as_secs_f64() * 1e3,
                    made_ms = asked.elapsed().as_secs_f64() * 1e3,
                    "early preview"
                );
            });
            if let Err(e) = made.await {
                tracing::warn!("an early preview stopped: {e}");
            }
        });
    }
}

/// One decode slot per core. Read once: on Linux the answer comes from
/// reading cgroup files, which a drop should not pay for again.
fn slot_count() -> usize {
    static COUNT: OnceLock<usize> = OnceLock::new();
    *COUNT.get_or_init(|| std::thread::available_parallelism().map_or(2, |n| n.get()))
}

fn decode_slots() -> &'static Semaphore {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    SLOTS.get_or_init(|| Semaphore::new(slot_count()))
}

fn respond(engine: &Engine, path: &str) -> Response<Vec<u8>> {
    let found = match route(path) {
        None => return plain(StatusCode::NOT_FOUND, "no such preview"),
        Some(Route::Source(job, size)) => engine.source_preview(job, size),
        Some(Route::Exif(job)) => engine.source_exif_thumbnail(job),
        Some(Route::Output(job, size)) => engine.preview(job, size),
    };
    match found {
        Ok(Some(preview)) => image(preview),
        Ok(None) => plain(StatusCode::NOT_FOUND, "no such preview"),
        // The reason reaches the tile through the job's own error.
        Err(e) => plain(StatusCode::UNPROCESSABLE_ENTITY, &e.to_string()),
    }
}

fn image(preview: Arc<Preview>) -> Response<Vec<u8>> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "image/jpeg")
        .header(header::CACHE_CONTROL, "max-age=31536000, immutable")
        .body(preview.jpeg.clone())
        .unwrap_or_else(|_| Response::new(Vec::new()))
}

fn plain(status: StatusCode, text: &str) -> Response<Vec<u8>> {
    let mut response = Response::new(text.as_bytes().to_vec());
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_three_preview_routes_with_sane_numbers_exist() {
        assert_eq!(route("/source/12/512"), Some(Route::Source(12, 512)));
        assert_eq!(route("/exif/3"), Some(Route::Exif(3)));
        assert_eq!(route("/output/9/256"), Some(Route::Output(9, 256)));
        for bad in [
            "/",
            "/source/12",
            "/source/-1/512",
            "/source/0/512",
            "/source/1/5",
            "/source/1/99999",
            "/output/x/512",
            "/../../etc/passwd",
            "/source/1/512/extra",
            "/file/1",
        ] {
            assert_eq!(route(bad), None, "{bad}");
        }
    }
}
