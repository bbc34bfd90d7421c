//! The whole queue: its status (as `outbox status --json`), pause, resume.

use crate::error::ApiError;
use crate::{blocking, Shared};
use axum::extract::{Query, State};
use axum::Json;
use outbox_engine::Status;
use serde::{Deserialize, Serialize};

pub(crate) async fn status(State(state): State<Shared>) -> Result<Json<Status>, ApiError> {
    Ok(Json(blocking(&state.engine, |e| e.status()).await?))
}

#[derive(Debug, Default, Deserialize)]
pub(crate) struct BatchQuery {
    /// Only this batch; without it, the whole queue.
    batch: Option<i64>,
}

#[derive(Debug, Serialize)]
pub(crate) struct Paused {
    batch: Option<i64>,
    paused: bool,
    /// Jobs of the batch paused or resumed (0 for the whole queue: a flag).
    jobs: u64,
}

pub(crate) async fn pause(
    State(state): State<Shared>,
    Query(query): Query<BatchQuery>,
) -> Result<Json<Paused>, ApiError> {
    set_paused(state, query.batch, true).await
}

pub(crate) async fn resume(
    State(state): State<Shared>,
    Query(query): Query<BatchQuery>,
) -> Result<Json<Paused>, ApiError> {
    set_paused(state, query.batch, false).await
}

async fn set_paused(
    state: Shared,
    batch: Option<i64>,
    paused: bool,
) -> Result<Json<Paused>, ApiError> {
    let jobs = blocking(&state.engine, move |e| {
        if paused {
            e.pause(batch)
        } else {
            e.resume(batch)
        }
    })
    .await?;
    Ok(Json(Paused {
        batch,
        paused,
        jobs,
    }))
}
