//! The management API under `/api/v1/`: meetings (create, list, read, change, cancel) and
//! conferences (running and past), for operators' scripts and the booking page. Every route
//! but the OpenAPI document needs `Authorization: Bearer <token>` with one of `api.tokens`,
//! compared in constant time; tokens are never logged. Bodies are JSON; anything malformed is
//! a 400 naming what is wrong — never a 500, never a stored half-record.
//!
//! The OpenAPI document is generated from these handlers ([`ApiDoc`]) and checked in
//! (`docs/reservations-openapi.json`; a test keeps the two equal).

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use jiff::{SignedDuration, Timestamp};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{IntoParams, Modify, OpenApi, ToSchema};

use super::contract::format_time;
use super::{parse_id, ApiError, AppState};
use crate::reservations::model::{Conference, Meeting, Recurrence};
use crate::reservations::policy;
use crate::reservations::store::NewMeeting;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi))
        .route("/api/v1/meetings", get(list_meetings).post(create_meeting))
        .route("/api/v1/meetings/{id}", get(read_meeting).put(change_meeting).delete(cancel_meeting))
        .route("/api/v1/conferences", get(list_conferences))
}

/// The generated OpenAPI document.
#[derive(OpenApi)]
#[openapi(
    info(title = "jitsi-reservations management API", description = "Meetings and conferences of a jitsi-reservations server."),
    paths(list_meetings, create_meeting, read_meeting, change_meeting, cancel_meeting, list_conferences),
    components(schemas(MeetingInput, MeetingView, ConferenceView, ErrorBody)),
    modifiers(&BearerAuth),
    security(("bearer" = []))
)]
pub struct ApiDoc;

struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

/// The document as served and checked in (pretty JSON, stable order).
pub fn openapi_json() -> String {
    ApiDoc::openapi().to_pretty_json().expect("the OpenAPI document serialises")
}

async fn openapi() -> Response {
    ([(axum::http::header::CONTENT_TYPE, "application/json")], openapi_json()).into_response()
}

/// `{"error", "message"}` of every error answer.
#[derive(Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: String,
    pub message: String,
}

/// A meeting to create or the new version of one (PUT replaces all fields).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MeetingInput {
    /// Room name: lower-case letters, digits, `.`, `_`, `-`.
    pub room: String,
    /// Bare JIDs allowed to open the room; empty or absent: anyone.
    #[serde(default)]
    pub owners: Vec<String>,
    /// RFC 3339, e.g. `2026-12-01T14:00:00+01:00`.
    pub start: String,
    /// RFC 3339; or give `duration_seconds`.
    pub end: Option<String>,
    pub duration_seconds: Option<i64>,
    /// IANA time zone for refusal texts and weekly repetition; default UTC.
    pub time_zone: Option<String>,
    /// Seconds before the start the room may open; default 0.
    pub early_join_seconds: Option<i64>,
    /// Repeat every N weeks.
    pub every_weeks: Option<u32>,
    /// RFC 3339: the last repetition starts no later.
    pub until: Option<String>,
    pub max_participants: Option<u32>,
    /// A refusal text of your own, used instead of the generated ones.
    pub message: Option<String>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct MeetingView {
    pub id: i64,
    pub room: String,
    pub owners: Vec<String>,
    pub start: String,
    pub end: String,
    pub time_zone: String,
    pub early_join_seconds: i64,
    pub every_weeks: Option<u32>,
    pub until: Option<String>,
    pub max_participants: Option<u32>,
    pub message: Option<String>,
    pub cancelled: bool,
}

impl From<&Meeting> for MeetingView {
    fn from(m: &Meeting) -> Self {
        let (every_weeks, until) = match m.recurrence {
            Some(Recurrence::Weekly { interval, until }) => (Some(interval), until.map(|u| u.to_string())),
            None => (None, None),
        };
        MeetingView {
            id: m.id,
            room: m.room.clone(),
            owners: m.owners.clone(),
            start: m.start.to_string(),
            end: m.end.to_string(),
            time_zone: m.time_zone.clone(),
            early_join_seconds: m.early_join.as_secs(),
            every_weeks,
            until,
            max_participants: m.max_participants,
            message: m.message.clone(),
            cancelled: m.cancelled,
        }
    }
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ConferenceView {
    pub id: i64,
    pub room: String,
    pub meeting_id: Option<i64>,
    pub mail_owner: Option<String>,
    pub started_at: String,
    pub duration_seconds: Option<i64>,
    pub max_occupants: Option<u32>,
    /// Absent while it runs.
    pub ended_at: Option<String>,
}

impl From<&Conference> for ConferenceView {
    fn from(c: &Conference) -> Self {
        ConferenceView {
            id: c.id,
            room: c.room.clone(),
            meeting_id: c.meeting_id,
            mail_owner: c.mail_owner.clone(),
            started_at: format_time(c.started_at),
            duration_seconds: c.duration_secs,
            max_occupants: c.max_occupants,
            ended_at: c.ended_at.map(format_time),
        }
    }
}

/// Checks `Authorization: Bearer <token>` against the configured tokens in constant time.
pub fn authorize(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let unauthorized = |why: &str| ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", why);
    if state.tokens.is_empty() {
        return Err(unauthorized("The management API is off: no api.tokens are configured"));
    }
    let given = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .ok_or_else(|| unauthorized("Authorization: Bearer <token> is required"))?;
    // Every token is compared (no early exit), each in constant time.
    let matched =
        state.tokens.iter().fold(0u8, |any, token| any | token.as_bytes().ct_eq(given.as_bytes()).unwrap_u8());
    if matched == 1 {
        Ok(())
    } else {
        Err(unauthorized("The token is not valid"))
    }
}

fn parse_time(field: &str, text: &str) -> Result<Timestamp, ApiError> {
    text.parse::<Timestamp>().map_err(|_| {
        ApiError::bad_request(format!("{field}: {text:?} is not an RFC 3339 time such as 2026-12-01T14:00:00+01:00"))
    })
}

/// The checked meeting of an input, or a 400 saying what is wrong.
pub fn new_meeting(input: MeetingInput) -> Result<NewMeeting, ApiError> {
    let bad = |why: &str| ApiError::bad_request(why);
    policy::validate_room_name(&input.room).map_err(|why| bad(&format!("room: {why}")))?;
    for owner in &input.owners {
        policy::validate_owner(owner).map_err(|why| bad(&format!("owners: {why}")))?;
    }
    let start = parse_time("start", &input.start)?;
    let end = match (&input.end, input.duration_seconds) {
        (Some(_), Some(_)) => return Err(bad("end and duration_seconds: give one, not both")),
        (Some(end), None) => parse_time("end", end)?,
        (None, Some(seconds)) if seconds > 0 => {
            start.checked_add(SignedDuration::from_secs(seconds)).map_err(|_| bad("duration_seconds: too long"))?
        }
        (None, Some(_)) => return Err(bad("duration_seconds: must be positive")),
        (None, None) => return Err(bad("end: missing (or give duration_seconds)")),
    };
    let time_zone = policy::canonical_time_zone(input.time_zone.as_deref().unwrap_or("UTC"))
        .map_err(|why| bad(&format!("time_zone: {why}")))?;
    let early_join = SignedDuration::from_secs(input.early_join_seconds.unwrap_or(0));
    let recurrence = match input.every_weeks {
        Some(interval) => Some(Recurrence::Weekly {
            interval,
            until: input.until.as_deref().map(|u| parse_time("until", u)).transpose()?,
        }),
        None if input.until.is_some() => return Err(bad("until: only with every_weeks")),
        None => None,
    };
    let meeting = NewMeeting {
        room: input.room,
        // Stored lower case and once each: owners are compared case-insensitively.
        owners: dedup_lowercase(&input.owners),
        start,
        end,
        time_zone,
        early_join,
        recurrence,
        max_participants: input.max_participants,
        message: input.message.filter(|m| !m.trim().is_empty()),
    };
    check_meeting(&meeting).map_err(|why| bad(&why))?;
    Ok(meeting)
}

/// Every booking rule of the policy (schedule, limits, message) on a meeting to be stored.
pub fn check_meeting(m: &NewMeeting) -> Result<(), String> {
    policy::validate_meeting(&Meeting {
        id: 0,
        room: m.room.clone(),
        owners: m.owners.clone(),
        start: m.start,
        end: m.end,
        time_zone: m.time_zone.clone(),
        early_join: m.early_join,
        recurrence: m.recurrence,
        max_participants: m.max_participants,
        message: m.message.clone(),
        cancelled: false,
    })
}

/// A meeting as answered, or a 404 when there is none with that id.
fn meeting_or_404(found: Option<Meeting>, id: i64) -> Result<Response, ApiError> {
    match found {
        Some(m) => Ok(Json(MeetingView::from(&m)).into_response()),
        None => Err(ApiError::not_found(format!("No meeting {id}"))),
    }
}

/// Owners as stored: lower case and once each (they are compared case-insensitively).
pub fn dedup_lowercase(owners: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for owner in owners.iter().map(|o| o.to_lowercase()) {
        if !out.contains(&owner) {
            out.push(owner);
        }
    }
    out
}

/// A `room` filter: any name a conference can have (so never a NUL byte, which PostgreSQL
/// refuses as a query parameter), or a 400.
fn room_filter(room: Option<&str>) -> Result<Option<&str>, ApiError> {
    if let Some(room) = room {
        policy::validate_conference_name(room).map_err(|why| ApiError::bad_request(format!("room: {why}")))?;
    }
    Ok(room)
}

fn json_input(body: &[u8]) -> Result<MeetingInput, ApiError> {
    serde_json::from_slice(body).map_err(|e| ApiError::bad_request(format!("the body is not a meeting: {e}")))
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct MeetingsQuery {
    /// Only this room's meetings.
    pub room: Option<String>,
    /// Cancelled meetings too.
    #[serde(default)]
    pub all: bool,
}

#[utoipa::path(get, path = "/api/v1/meetings", params(MeetingsQuery),
    responses((status = 200, body = [MeetingView]), (status = 401, body = ErrorBody)))]
async fn list_meetings(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<MeetingsQuery>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let room = room_filter(q.room.as_deref())?;
    let meetings = state.store.meetings(room, q.all).await.map_err(ApiError::unavailable)?;
    Ok(Json(meetings.iter().map(MeetingView::from).collect::<Vec<_>>()).into_response())
}

#[utoipa::path(post, path = "/api/v1/meetings", request_body = MeetingInput,
    responses((status = 201, body = MeetingView), (status = 400, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn create_meeting(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let meeting = new_meeting(json_input(&body)?)?;
    let stored = state.store.add_meeting(&meeting).await.map_err(ApiError::unavailable)?;
    tracing::info!(id = stored.id, room = %stored.room, "meeting booked");
    Ok((StatusCode::CREATED, Json(MeetingView::from(&stored))).into_response())
}

#[utoipa::path(get, path = "/api/v1/meetings/{id}", params(("id" = i64, Path)),
    responses((status = 200, body = MeetingView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn read_meeting(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let id = parse_id(&id, "an id")?;
    meeting_or_404(state.store.meeting(id).await.map_err(ApiError::unavailable)?, id)
}

#[utoipa::path(put, path = "/api/v1/meetings/{id}", params(("id" = i64, Path)), request_body = MeetingInput,
    responses((status = 200, body = MeetingView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn change_meeting(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let id = parse_id(&id, "an id")?;
    let meeting = new_meeting(json_input(&body)?)?;
    meeting_or_404(state.store.update_meeting(id, &meeting).await.map_err(ApiError::unavailable)?, id)
}

#[utoipa::path(delete, path = "/api/v1/meetings/{id}", params(("id" = i64, Path)),
    responses((status = 200, description = "Cancelled (kept as history)", body = MeetingView), (status = 404, body = ErrorBody), (status = 401, body = ErrorBody)))]
async fn cancel_meeting(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let id = parse_id(&id, "an id")?;
    meeting_or_404(state.store.cancel_meeting(id).await.map_err(ApiError::unavailable)?, id)
}

#[derive(Debug, Deserialize, IntoParams)]
pub struct ConferencesQuery {
    /// true: running only; false: ended only; absent: both.
    pub running: Option<bool>,
    pub room: Option<String>,
    /// At most this many, newest first (default 100, at most 1000).
    pub limit: Option<u32>,
}

#[utoipa::path(get, path = "/api/v1/conferences", params(ConferencesQuery),
    responses((status = 200, body = [ConferenceView]), (status = 401, body = ErrorBody)))]
async fn list_conferences(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<ConferencesQuery>,
) -> Result<Response, ApiError> {
    authorize(&state, &headers)?;
    let limit = q.limit.unwrap_or(100).clamp(1, 1000);
    let room = room_filter(q.room.as_deref())?;
    let conferences = state.store.conferences(q.running, room, limit).await.map_err(ApiError::unavailable)?;
    Ok(Json(conferences.iter().map(ConferenceView::from).collect::<Vec<_>>()).into_response())
}
