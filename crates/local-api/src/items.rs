//! Items and batches: add (`202 Accepted`, then poll), read with `?wait=`,
//! retry, cancel.

use crate::error::ApiError;
use crate::intake::{self, AddRequest, Refused};
use crate::{blocking, Shared};
use axum::extract::{FromRequest, Multipart, Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use outbox_engine::{
    AttemptView, BatchView, HistoryQuery, JobId, JobState, JobView, NewItem, OutputView, Phase,
    RetryTarget,
};
use serde::{Deserialize, Serialize};
use std::time::{Duration, Instant};

pub fn item_location(id: JobId) -> String {
    format!("/v1/items/{id}")
}

pub fn batch_location(id: i64) -> String {
    format!("/v1/batches/{id}")
}

// ------------------------------------------------------------------ add

#[derive(Debug, Serialize)]
pub struct AddedItem {
    pub id: JobId,
    pub location: String,
    pub source: String,
}

#[derive(Debug, Serialize)]
pub struct DuplicateItem {
    pub source: String,
    pub existing_job: JobId,
    pub location: String,
    pub state: JobState,
    pub url: Option<String>,
}

/// The answer to an add: what was queued, found already there, refused.
#[derive(Debug, Serialize)]
pub struct AddAnswer {
    pub batch_id: Option<i64>,
    pub location: Option<String>,
    pub items: Vec<AddedItem>,
    pub duplicates: Vec<DuplicateItem>,
    pub refused: Vec<Refused>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub(crate) async fn add(State(state): State<Shared>, req: Request) -> Result<Response, ApiError> {
    let multipart = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("multipart/form-data"));
    let limit = state.config.max_body_bytes;
    let mut refused = Vec::new();
    let mut items = Vec::new();
    let request = if multipart {
        let body = Multipart::from_request(req, &())
            .await
            .map_err(|e| ApiError::BadRequest(e.body_text()))?;
        let uploads = state.engine.data_dir().join("uploads");
        let (request, files) = intake::read_multipart(body, &uploads, limit).await?;
        for file in files {
            match file.saved {
                Ok(path) => {
                    let scan = outbox_engine::scan(&[path]);
                    items.extend(scan.items);
                    refused.extend(scan.skipped.into_iter().map(|s| Refused {
                        input: file.name.clone(),
                        reason: s.reason,
                    }));
                }
                Err(reason) => refused.push(Refused {
                    input: file.name,
                    reason,
                }),
            }
        }
        request
    } else {
        let Json(request) =
            Json::<AddRequest>::from_request(req, &())
                .await
                .map_err(|e| match e.status() {
                    StatusCode::PAYLOAD_TOO_LARGE => ApiError::TooLarge { limit },
                    _ => ApiError::BadRequest(e.body_text()),
                })?;
        request
    };
    let paths = request.paths.clone();
    items.extend(
        tokio::task::spawn_blocking(move || {
            let mut refused = Vec::new();
            let items = intake::scan_paths(&paths, &mut refused);
            (items, refused)
        })
        .await
        .map(|(found, r)| {
            refused.extend(r);
            found
        })
        .map_err(|e| ApiError::Internal(e.to_string()))?,
    );
    if !request.urls.is_empty() {
        let fetched = state
            .engine
            .download(&request.urls, &Default::default())
            .await?;
        for (url, got) in request.urls.iter().zip(fetched) {
            match got {
                Ok(item) => items.push(item),
                Err(reason) => refused.push(Refused {
                    input: url.clone(),
                    reason,
                }),
            }
        }
    }
    if let Some(fields) = &request.fields {
        for item in &mut items {
            item.fields = Some(serde_json::Value::Object(fields.clone()));
        }
    }
    if items.is_empty() {
        let answer = AddAnswer {
            batch_id: None,
            location: None,
            items: Vec::new(),
            duplicates: Vec::new(),
            refused,
            error: Some("nothing to queue: no image among the inputs".into()),
        };
        return Ok((StatusCode::UNPROCESSABLE_ENTITY, Json(answer)).into_response());
    }
    let options = request.options();
    let queued = items.clone();
    let report = blocking(&state.engine, move |e| e.enqueue(queued, &options)).await?;
    let answer = answer(&items, report, refused);
    let (status, location) = match &answer.location {
        Some(location) => (StatusCode::ACCEPTED, Some(location.clone())),
        None => (StatusCode::OK, None),
    };
    let mut response = (status, Json(answer)).into_response();
    if let Some(value) = location.and_then(|l| HeaderValue::from_str(&l).ok()) {
        response.headers_mut().insert(header::LOCATION, value);
    }
    Ok(response)
}

/// The report item by item: the jobs were made in the items' order, each
/// item either a new job or a duplicate of one.
fn answer(items: &[NewItem], report: outbox_engine::AddReport, refused: Vec<Refused>) -> AddAnswer {
    let mut jobs = report.added.into_iter();
    let mut duplicates = report.duplicates.into_iter().peekable();
    let mut added = Vec::new();
    let mut dups = Vec::new();
    for item in items {
        if let Some(d) = duplicates.next_if(|d| d.path == item.path) {
            dups.push(DuplicateItem {
                source: d.path.display().to_string(),
                existing_job: d.existing_job,
                location: item_location(d.existing_job),
                state: d.state,
                url: d.url,
            });
        } else if let Some(id) = jobs.next() {
            added.push(AddedItem {
                id,
                location: item_location(id),
                source: item.path.display().to_string(),
            });
        }
    }
    AddAnswer {
        batch_id: report.batch_id,
        location: report.batch_id.map(batch_location),
        items: added,
        duplicates: dups,
        refused,
        error: None,
    }
}

// ------------------------------------------------------------------ read

#[derive(Debug, Default, Deserialize)]
pub(crate) struct WaitQuery {
    /// Seconds to wait for the item (or batch) to finish.
    wait: Option<f64>,
}

/// Progress in percent: generating is the first half, uploading the second
/// (by bytes sent when the destination reports them).
#[derive(Debug, Serialize)]
pub struct Progress {
    pub percent: f64,
    pub bytes_sent: u64,
    pub bytes_total: Option<u64>,
}

#[derive(Debug, Serialize)]
pub struct ItemView {
    #[serde(flatten)]
    pub job: JobView,
    pub location: String,
    pub finished: bool,
    pub progress: Progress,
    /// Where the delivered output is (completed items whose destination
    /// gives a link).
    pub link: Option<String>,
    pub output: Option<OutputView>,
    pub fields: Option<serde_json::Value>,
    /// Every attempt with its outcome and error, oldest first.
    pub attempt_log: Vec<AttemptView>,
}

fn progress(job: &JobView) -> Progress {
    let percent = match (job.state, job.phase) {
        (JobState::Completed, _) => 100.0,
        (_, Phase::Generate) => 0.0,
        (_, Phase::Upload) => match job.bytes_total {
            Some(total) if total > 0 => {
                50.0 + 50.0 * (job.bytes_sent.min(total) as f64 / total as f64)
            }
            _ => 50.0,
        },
    };
    Progress {
        percent,
        bytes_sent: job.bytes_sent,
        bytes_total: job.bytes_total,
    }
}

pub(crate) async fn read_item(state: &Shared, id: JobId) -> Result<ItemView, ApiError> {
    let detail = blocking(&state.engine, move |e| e.job_detail(id))
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("no item {id}")))?;
    Ok(ItemView {
        location: item_location(id),
        finished: detail.job.state.is_finished() && !detail.job.awaiting_review,
        progress: progress(&detail.job),
        link: detail.job.remote.as_ref().and_then(|r| r.url.clone()),
        output: detail.output,
        fields: detail.fields,
        attempt_log: detail.attempts,
        job: detail.job,
    })
}

/// Waits for something to change, up to a deadline.
pub(crate) struct Waiter {
    deadline: Option<Instant>,
    changes: tokio::sync::broadcast::Receiver<std::sync::Arc<crate::events::Numbered>>,
    stop: tokio_util::sync::CancellationToken,
}

impl Waiter {
    pub fn new(state: &Shared, wait: Option<f64>) -> Result<Waiter, ApiError> {
        let deadline = match wait {
            None => None,
            Some(s) if s.is_finite() && s >= 0.0 => {
                let s = Duration::from_secs_f64(s).min(state.config.max_wait);
                Some(Instant::now() + s)
            }
            Some(s) => {
                return Err(ApiError::BadRequest(format!(
                    "wait is a number of seconds, 0 or more, not {s}"
                )))
            }
        };
        Ok(Waiter {
            deadline,
            changes: state.hub.subscribe(),
            stop: state.stop.clone(),
        })
    }

    pub fn with_timeout(state: &Shared, timeout: Duration) -> Waiter {
        Waiter {
            deadline: Some(Instant::now() + timeout),
            changes: state.hub.subscribe(),
            stop: state.stop.clone(),
        }
    }

    /// Waits for an event (or a second: another process may have changed
    /// the queue); false once the time is up.
    pub async fn more(&mut self) -> bool {
        let Some(deadline) = self.deadline else {
            return false;
        };
        let now = Instant::now();
        if now >= deadline || self.stop.is_cancelled() {
            return false;
        }
        let slice = (deadline - now).min(Duration::from_secs(1));
        tokio::select! {
            _ = self.changes.recv() => {}
            _ = tokio::time::sleep(slice) => {}
            _ = self.stop.cancelled() => {}
        }
        true
    }
}

pub(crate) async fn item(
    State(state): State<Shared>,
    Path(id): Path<JobId>,
    Query(query): Query<WaitQuery>,
) -> Result<Json<ItemView>, ApiError> {
    let mut waiter = Waiter::new(&state, query.wait)?;
    loop {
        let view = read_item(&state, id).await?;
        if view.finished || !waiter.more().await {
            return Ok(Json(view));
        }
    }
}

#[derive(Debug, Serialize)]
pub struct BatchItem {
    pub id: JobId,
    pub location: String,
    pub source: String,
    pub state: JobState,
    pub phase: Phase,
    pub link: Option<String>,
    pub error: Option<outbox_engine::JobError>,
}

#[derive(Debug, Serialize)]
pub struct BatchAnswer {
    #[serde(flatten)]
    pub batch: BatchView,
    pub location: String,
    pub finished: bool,
    /// Finished items out of all, in percent.
    pub percent: f64,
    /// In the order they were added.
    pub items: Vec<BatchItem>,
}

async fn read_batch(state: &Shared, id: i64) -> Result<BatchAnswer, ApiError> {
    let (batch, jobs) = blocking(&state.engine, move |e| {
        let batch = e.batch(id)?;
        let jobs = e.history(&HistoryQuery {
            batch: Some(id),
            limit: u32::MAX,
            ..HistoryQuery::default()
        })?;
        Ok((batch, jobs))
    })
    .await?;
    let batch = batch.ok_or_else(|| ApiError::NotFound(format!("no batch {id}")))?;
    let mut items: Vec<BatchItem> = jobs
        .into_iter()
        .map(|j| BatchItem {
            id: j.id,
            location: item_location(j.id),
            source: j.source.display().to_string(),
            state: j.state,
            phase: j.phase,
            link: j.remote.and_then(|r| r.url),
            error: j.error,
        })
        .collect();
    items.sort_by_key(|i| i.id);
    let counts = batch.counts;
    let finished = counts.total > 0 && counts.finished() == counts.total;
    let percent = if counts.total == 0 {
        100.0
    } else {
        100.0 * counts.finished() as f64 / counts.total as f64
    };
    Ok(BatchAnswer {
        location: batch_location(id),
        finished,
        percent,
        items,
        batch,
    })
}

pub(crate) async fn batch(
    State(state): State<Shared>,
    Path(id): Path<i64>,
    Query(query): Query<WaitQuery>,
) -> Result<Json<BatchAnswer>, ApiError> {
    let mut waiter = Waiter::new(&state, query.wait)?;
    loop {
        let view = read_batch(&state, id).await?;
        if view.finished || !waiter.more().await {
            return Ok(Json(view));
        }
    }
}

// ------------------------------------------------------------------ act

pub(crate) async fn retry(
    State(state): State<Shared>,
    Path(id): Path<JobId>,
) -> Result<Json<ItemView>, ApiError> {
    blocking(&state.engine, move |e| {
        e.retry(&RetryTarget::Jobs(vec![id]))
    })
    .await?;
    Ok(Json(read_item(&state, id).await?))
}

pub(crate) async fn cancel(
    State(state): State<Shared>,
    Path(id): Path<JobId>,
) -> Result<Json<ItemView>, ApiError> {
    blocking(&state.engine, move |e| e.cancel(&[id])).await?;
    Ok(Json(read_item(&state, id).await?))
}
