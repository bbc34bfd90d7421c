//! Every refusal as a status and a JSON body `{"error": "…"}`.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use outbox_engine::Error as EngineError;

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    /// No token, or not this server's.
    #[error("a bearer token is needed (Authorization: Bearer …); `outbox serve` says where it is")]
    Unauthorized,
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the request body is larger than the limit of {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("too many requests; try again in a second")]
    TooManyRequests,
    #[error("{0}")]
    Unprocessable(String),
    #[error("{0}")]
    Engine(#[from] EngineError),
    #[error("{0}")]
    Internal(String),
}

impl ApiError {
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden(_) => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Conflict(_) => StatusCode::CONFLICT,
            ApiError::TooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::TooManyRequests => StatusCode::TOO_MANY_REQUESTS,
            ApiError::Unprocessable(_) => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::Engine(e) => engine_status(e),
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

/// The engine's errors by what the client can do about them.
fn engine_status(e: &EngineError) -> StatusCode {
    match e {
        EngineError::NoSuchJob(_) | EngineError::NoSuchBatch(_) => StatusCode::NOT_FOUND,
        EngineError::InvalidTransition { .. } | EngineError::RetryWouldDuplicate { .. } => {
            StatusCode::CONFLICT
        }
        EngineError::UnknownDestination(_)
        | EngineError::UnknownRecipe { .. }
        | EngineError::UnknownProvider(_)
        | EngineError::InvalidSetting(_)
        | EngineError::Prompt(_) => StatusCode::UNPROCESSABLE_ENTITY,
        EngineError::DatabaseLocked { .. } => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = self.status();
        if status.is_server_error() {
            tracing::error!("local API: {self}");
        } else {
            tracing::debug!(%status, "local API refused: {self}");
        }
        let body = axum::Json(serde_json::json!({ "error": self.to_string() }));
        let mut response = (status, body).into_response();
        match self {
            ApiError::Unauthorized => {
                response
                    .headers_mut()
                    .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            }
            ApiError::TooManyRequests => {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            }
            _ => {}
        }
        response
    }
}
