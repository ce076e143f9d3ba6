//! The HTTP side of `jitsi-reservations` (axum): the reservation contract the focus and
//! Prosody's `mod_reservations` call ([`contract`]) and the management API ([`manage`]). Handlers take the time from a [`Clock`]
//! so tests can run them at any instant.

pub mod contract;
pub mod manage;
pub mod page;

use std::sync::Arc;

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use jiff::{SignedDuration, Timestamp};
use serde_json::json;

use super::policy::AdHocPolicy;
use super::store::Store;

/// Where handlers get the current time.
pub type Clock = Arc<dyn Fn() -> Timestamp + Send + Sync>;

/// The system clock.
pub fn system_clock() -> Clock {
    Arc::new(Timestamp::now)
}

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub ad_hoc: Arc<AdHocPolicy>,
    /// How long an ad-hoc conference may last (the focus ends it then).
    pub ad_hoc_duration: SignedDuration,
    pub clock: Clock,
    /// Management API bearer tokens (secrets: never logged).
    pub tokens: Arc<Vec<String>>,
}

/// The whole router.
pub fn router(state: AppState) -> axum::Router {
    contract::routes().merge(manage::routes()).merge(page::routes()).with_state(state)
}

/// A JSON error in the shape the reservation clients read (`error`, `message`).
pub struct ApiError {
    pub status: StatusCode,
    pub error: &'static str,
    pub message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, error: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, error, message: message.into() }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The database failed: 503, so that the focus retries (it retries 5xx answers).
    pub fn unavailable(error: impl std::fmt::Display) -> Self {
        tracing::error!("database error: {error}");
        Self::new(StatusCode::SERVICE_UNAVAILABLE, "unavailable", "The reservation database is unavailable")
    }
}

/// A positive integer id from a path segment; otherwise a 400 naming it as `what`
/// ("conference id", "id").
pub fn parse_id(id: &str, what: &str) -> Result<i64, ApiError> {
    id.parse::<i64>().ok().filter(|n| *n > 0).ok_or_else(|| ApiError::bad_request(format!("{id:?} is not {what}")))
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.error, "message": self.message }))).into_response()
    }
}
