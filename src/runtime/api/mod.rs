//! The HTTP API (axum), on `[http] bind` (127.0.0.1:8888, Jicofo's REST port):
//!
//! * `GET /about/health`: 200 when the component is online and, if a brewery is configured, a
//!   bridge is operational; otherwise 503 with the reason. For load balancers and probes.
//! * `GET /about/version`, `GET /stats` (JSON), `GET /metrics` (Prometheus/OpenMetrics text).
//! * `GET /debug`, `GET /debug/conference/{room}`: per-conference state, off by default.
//! * `POST /conference-request/v1`: the conference request in JSON ([`conference_request`]).
//!
//! Handlers never touch the core: they send a [`Query`] to the main loop, which owns the
//! [`Focus`](crate::core::Focus), and wait for its answer. A loop that does not answer within
//! [`LOOP_ANSWER_TIMEOUT`] makes health fail, which is what a hung focus should look like. The
//! binary runs everything on one thread, so a loop that blocks that thread (rather than waiting
//! on something that never comes) stops the API as well: the probe then times out, which a
//! health check also counts as a failure.

pub mod conference_request;
pub mod errors;
pub mod metrics;
mod server;

pub use server::{ApiServer, PendingRequests};

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use minidom::Element;
use serde_json::{json, Value};
use tokio::sync::{mpsc, oneshot};
use xmpp_parsers::stanza_error::StanzaError;

use crate::config::HttpConfig;
use crate::core::stats::Stats;
use crate::xmpp::focus::ConferenceRequest;

/// How long a handler waits for the main loop to answer a question about its state.
pub const LOOP_ANSWER_TIMEOUT: Duration = Duration::from_secs(5);
/// Questions waiting for the loop, per queue; beyond it handlers answer 503 `busy` at once.
pub const QUERY_QUEUE: usize = 64;

/// The handlers' side of the questions. Questions about state (health, stats, metrics, debug)
/// and conference requests queue apart, so that a burst of anonymous conference requests
/// cannot crowd out a load balancer's health probe.
#[derive(Clone)]
pub struct Queues {
    state: mpsc::Sender<Query>,
    requests: mpsc::Sender<Query>,
}

/// The main loop's side of [`Queues`].
pub struct Inbox {
    pub state: mpsc::Receiver<Query>,
    pub requests: mpsc::Receiver<Query>,
}

/// A pair of queues of [`QUERY_QUEUE`] each.
pub fn queues() -> (Queues, Inbox) {
    let (state, state_rx) = mpsc::channel(QUERY_QUEUE);
    let (requests, requests_rx) = mpsc::channel(QUERY_QUEUE);
    (Queues { state, requests }, Inbox { state: state_rx, requests: requests_rx })
}

/// A question from a handler to the main loop.
#[derive(Debug)]
pub enum Query {
    Stats(oneshot::Sender<Stats>),
    DebugOverview(oneshot::Sender<Value>),
    DebugConference(String, oneshot::Sender<Option<Value>>),
    ConferenceRequest(ConferenceRequest, oneshot::Sender<Result<Element, StanzaError>>),
}

/// What the handlers share.
#[derive(Clone)]
pub struct ApiState {
    queries: Queues,
    /// Health needs a bridge only when bridges are configured.
    bridges_configured: bool,
    /// How long a conference request may wait for its answer (the core answers within
    /// `conference.request_timeout`).
    request_wait: Duration,
}

impl ApiState {
    pub fn new(queries: Queues, bridges_configured: bool, request_wait: Duration) -> Self {
        ApiState { queries, bridges_configured, request_wait }
    }

    /// Sends a question built around a reply channel and waits for the answer.
    async fn ask<T>(&self, wait: Duration, query: impl FnOnce(oneshot::Sender<T>) -> Query) -> Result<T, ApiError> {
        let (tx, rx) = oneshot::channel();
        let query = query(tx);
        let queue = match query {
            Query::ConferenceRequest(..) => &self.queries.requests,
            _ => &self.queries.state,
        };
        queue.try_send(query).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => ApiError::of(&errors::BUSY, errors::BUSY.message),
            mpsc::error::TrySendError::Closed(_) => ApiError::of(&errors::STOPPING, errors::STOPPING.message),
        })?;
        match tokio::time::timeout(wait, rx).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(ApiError::of(&errors::STOPPING, errors::STOPPING.message)),
            Err(_) => Err(ApiError::of(
                &errors::LOOP_STALLED,
                format!("the focus's main loop did not answer within {} s", wait.as_secs()),
            )),
        }
    }
}

/// A JSON error: `{"error": key, "message": text}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    error: &'static str,
    message: String,
}

impl ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "error": self.error, "message": self.message }))).into_response()
    }
}

/// The router for `config`'s endpoints.
pub fn router(state: ApiState, config: &HttpConfig) -> Router {
    let mut router =
        Router::new().route("/about/version", get(version)).route("/stats", get(stats)).route("/metrics", get(metrics));
    if config.health {
        router = router.route("/about/health", get(health));
    }
    if config.debug {
        router = router.route("/debug", get(debug_overview)).route("/debug/conference/{room}", get(debug_conference));
    }
    if config.conference_request {
        router = router.route("/conference-request/v1", post(conference_request).options(|| async { StatusCode::OK }));
    }
    router.fallback(not_found).method_not_allowed_fallback(method_not_allowed).with_state(state)
}

async fn not_found() -> ApiError {
    ApiError::of(&errors::NOT_FOUND, "no such endpoint")
}

async fn method_not_allowed() -> ApiError {
    ApiError::of(&errors::METHOD_NOT_ALLOWED, errors::METHOD_NOT_ALLOWED.message)
}

async fn version() -> Json<Value> {
    Json(json!({ "name": "jitsi-focus", "version": env!("CARGO_PKG_VERSION"), "os": std::env::consts::OS }))
}

/// Why the focus is unhealthy, if it is.
fn unhealthy_reason(stats: &Stats, bridges_configured: bool) -> Option<&'static str> {
    if stats.draining {
        return Some("jitsi-focus is draining: no new conferences");
    }
    if !stats.component_connected {
        return Some("the component is not connected to Prosody");
    }
    if bridges_configured && stats.operational_bridge_count == 0 {
        return Some("no operational video bridge");
    }
    None
}

async fn health(State(state): State<ApiState>) -> Response {
    let stats = match state.ask(LOOP_ANSWER_TIMEOUT, Query::Stats).await {
        Ok(stats) => stats,
        Err(error) => {
            return (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "healthy": false, "reason": error.message })))
                .into_response()
        }
    };
    match unhealthy_reason(&stats, state.bridges_configured) {
        None => Json(json!({ "healthy": true })).into_response(),
        Some(reason) => {
            (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "healthy": false, "reason": reason }))).into_response()
        }
    }
}

async fn stats(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    let stats = state.ask(LOOP_ANSWER_TIMEOUT, Query::Stats).await?;
    let mut body = serde_json::to_value(&stats).expect("stats serialise");
    body["healthy"] = json!(unhealthy_reason(&stats, state.bridges_configured).is_none());
    body["version"] = json!(env!("CARGO_PKG_VERSION"));
    Ok(Json(body))
}

async fn metrics(State(state): State<ApiState>) -> Result<Response, ApiError> {
    let stats = state.ask(LOOP_ANSWER_TIMEOUT, Query::Stats).await?;
    let healthy = unhealthy_reason(&stats, state.bridges_configured).is_none();
    let text = metrics::render(&stats, healthy);
    Ok(([(header::CONTENT_TYPE, metrics::CONTENT_TYPE)], text).into_response())
}

async fn debug_overview(State(state): State<ApiState>) -> Result<Json<Value>, ApiError> {
    Ok(Json(state.ask(LOOP_ANSWER_TIMEOUT, Query::DebugOverview).await?))
}

async fn debug_conference(State(state): State<ApiState>, Path(room): Path<String>) -> Result<Json<Value>, ApiError> {
    match state.ask(LOOP_ANSWER_TIMEOUT, |tx| Query::DebugConference(room.clone(), tx)).await? {
        Some(conference) => Ok(Json(conference)),
        None => Err(ApiError::of(&errors::NOT_FOUND, format!("no conference in room {room:?}"))),
    }
}

async fn conference_request(
    State(state): State<ApiState>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    // A body over `http.max_body_bytes` (413) or cut short: the same JSON shape as other errors.
    let body = match body {
        Ok(body) => body,
        Err(rejection) => {
            let entry = match rejection.status() {
                StatusCode::PAYLOAD_TOO_LARGE => &errors::TOO_LARGE,
                _ => &errors::BAD_BODY,
            };
            return ApiError::of(entry, rejection.body_text()).into_response();
        }
    };
    let token = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
    let request = match conference_request::parse(&body, token) {
        Ok(request) => request,
        Err(e) => return ApiError::of(&errors::BAD_BODY, e.to_string()).into_response(),
    };
    match state.ask(state.request_wait, |tx| Query::ConferenceRequest(request, tx)).await {
        Ok(answer) => {
            let (status, body) = conference_request::answer(answer);
            (status, Json(body)).into_response()
        }
        Err(error) => error.into_response(),
    }
}

/// The token of `Authorization: Bearer TOKEN` (the scheme is case-insensitive, RFC 7235).
fn bearer_token(value: &str) -> Option<String> {
    let (scheme, token) = value.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then(|| token.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bearer_scheme_is_read_in_any_case() {
        assert_eq!(bearer_token("Bearer abc.def").as_deref(), Some("abc.def"));
        assert_eq!(bearer_token("bearer  abc ").as_deref(), Some("abc"));
        assert_eq!(bearer_token("Basic dXNlcg=="), None);
        assert_eq!(bearer_token("Bearer "), None);
    }

    #[tokio::test]
    async fn a_burst_of_conference_requests_cannot_crowd_out_health() {
        let (queues, mut inbox) = queues();
        let state = ApiState::new(queues, false, Duration::from_secs(1));
        // The loop is busy: conference requests fill their queue, and one more hears `busy`.
        let mut waiting = Vec::new();
        for _ in 0..QUERY_QUEUE {
            let (tx, rx) = oneshot::channel();
            state.queries.requests.try_send(Query::ConferenceRequest(ConferenceRequest::default(), tx)).unwrap();
            waiting.push(rx);
        }
        let busy = state.ask(LOOP_ANSWER_TIMEOUT, |tx| Query::ConferenceRequest(ConferenceRequest::default(), tx));
        assert_eq!(busy.await.unwrap_err().error, "busy");
        // A health probe still reaches the loop through its own queue.
        let loop_turn = tokio::spawn(async move {
            match inbox.state.recv().await {
                Some(Query::Stats(reply)) => {
                    reply.send(Stats { component_connected: true, ..Stats::default() }).unwrap()
                }
                other => panic!("{other:?}"),
            }
            inbox
        });
        let stats = state.ask(LOOP_ANSWER_TIMEOUT, Query::Stats).await.unwrap();
        assert!(stats.component_connected);
        loop_turn.await.unwrap();
    }
}
