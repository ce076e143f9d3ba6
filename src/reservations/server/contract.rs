//! The reservation contract, as Jicofo (≤ Dec 2021), Prosody's `mod_reservations` and
//! jitsi-focus call it (`../shared/research/protocol.md` §4):
//!
//! - `POST /conference`, form-encoded `name`, `start_time`, `mail_owner` (and Jicofo's
//!   `duration=-1`): 200 with `{id, name, mail_owner, start_time, duration, max_occupants}`
//!   when the room may open now; 403 `{error, message}` with a text a person reads when it may
//!   not; 409 `{conflict_id}` when the room already has a running conference (the caller then
//!   reads it with `GET` and adopts it); 400 for a malformed request.
//! - `GET /conference/{id}`: the conference in the same JSON, while it runs.
//! - `DELETE /conference/{id}`: ends it (idempotent); its record stays as history.
//!
//! `duration` is always sent, in seconds until the meeting ends: a Jicofo that gets none
//! destroys the room at its next 5-second check.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use jiff::Timestamp;
use serde_json::{json, Map, Value};

use super::{parse_id, ApiError, AppState};
use crate::reservations::model::Conference;
use crate::reservations::policy::{self, Decision, Request};
use crate::reservations::store::{NewConference, Started};

pub fn routes() -> Router<AppState> {
    Router::new().route("/conference", post(create)).route("/conference/{id}", get(read).delete(end))
}

/// The longest `duration` sent, however far away the meeting's end: the focus refuses more
/// than ten years as an invalid answer (and would never open a standing booking). A conference
/// that lasts this long is ended by the focus, and the next join opens the room again.
pub const MAX_DURATION_SECS: i64 = 366 * 24 * 3600;

/// `2026-11-22T10:00:00.000Z`: UTC with milliseconds, the exact form Jicofo's parser needs.
pub fn format_time(t: Timestamp) -> String {
    t.strftime("%Y-%m-%dT%H:%M:%S.%3fZ").to_string()
}

/// The conference as the clients read it.
pub fn conference_json(c: &Conference) -> Value {
    let mut out = Map::new();
    out.insert("id".into(), json!(c.id));
    out.insert("name".into(), json!(c.room));
    if let Some(owner) = &c.mail_owner {
        out.insert("mail_owner".into(), json!(owner));
    }
    out.insert("start_time".into(), json!(format_time(c.started_at)));
    if let Some(duration) = c.duration_secs {
        out.insert("duration".into(), json!(duration));
    }
    if let Some(max) = c.max_occupants {
        out.insert("max_occupants".into(), json!(max));
    }
    Value::Object(out)
}

/// The fields of the create form, checked.
struct CreateForm {
    room: String,
    mail_owner: Option<String>,
}

fn parse_form(body: &[u8]) -> Result<CreateForm, ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body).map_err(|e| {
        ApiError::bad_request(format!("the body is not a form (application/x-www-form-urlencoded): {e}"))
    })?;
    let field = |name: &str| -> Result<Option<&str>, ApiError> {
        let mut values = pairs.iter().filter(|(k, _)| k == name).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() {
            return Err(ApiError::bad_request(format!("{name}: given more than once")));
        }
        Ok(first)
    };
    let room = field("name")?.ok_or_else(|| ApiError::bad_request("name: missing (the room name)"))?;
    let room = room.to_lowercase();
    // Any room the focus can send, not only bookable names: the policy decides for the rest.
    policy::validate_conference_name(&room).map_err(|why| ApiError::bad_request(format!("name: {why}")))?;
    if let Some(start) = field("start_time")? {
        // Informational (the server's own clock decides), but it must be what the clients send.
        parse_client_time(start).ok_or_else(|| {
            ApiError::bad_request(format!("start_time: {start:?} is not a time like 2026-11-22T10:00:00.000Z"))
        })?;
    }
    let mail_owner = match field("mail_owner")? {
        None | Some("") => None,
        Some(owner) => {
            policy::validate_owner(owner).map_err(|why| ApiError::bad_request(format!("mail_owner: {why}")))?;
            Some(owner.to_owned())
        }
    };
    if let Some(duration) = field("duration")? {
        duration
            .parse::<i64>()
            .map_err(|_| ApiError::bad_request(format!("duration: {duration:?} is not a number of seconds")))?;
    }
    Ok(CreateForm { room, mail_owner })
}

/// The time formats the clients send: Jicofo `yyyy-MM-dd'T'HH:mm:ss.SSSX` (UTC `Z`, or an
/// hour offset like `+02`), mod_reservations `…SS.000Z`; RFC 3339 in general.
fn parse_client_time(text: &str) -> Option<Timestamp> {
    if let Ok(t) = text.parse::<Timestamp>() {
        return Some(t);
    }
    // `+02` (hours only) is not RFC 3339: complete it.
    let (head, sign_at) = text.rfind(['+', '-']).map(|i| (&text[..i], i))?;
    let offset = &text[sign_at..];
    if offset.len() == 3 && offset[1..].chars().all(|c| c.is_ascii_digit()) && head.contains('T') {
        return format!("{head}{offset}:00").parse::<Timestamp>().ok();
    }
    None
}

async fn create(State(state): State<AppState>, body: Bytes) -> Response {
    match create_inner(&state, &body).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn create_inner(state: &AppState, body: &[u8]) -> Result<Response, ApiError> {
    let form = parse_form(body)?;
    let now = (state.clock)();
    let meetings = state.store.meetings(Some(&form.room), false).await.map_err(ApiError::unavailable)?;
    let request = Request { room: &form.room, mail_owner: form.mail_owner.as_deref() };
    let opening = match policy::decide(now, &request, &meetings, &state.ad_hoc) {
        Decision::Open(opening) => opening,
        Decision::Refuse(refusal) => {
            tracing::info!(room = %form.room, owner = ?form.mail_owner, "refused: {}", refusal.message);
            return Err(ApiError::new(StatusCode::FORBIDDEN, "refused", refusal.message));
        }
    };
    let ends_at = opening.ends_at.unwrap_or_else(|| now.saturating_add(state.ad_hoc_duration).unwrap_or(now));
    let duration_secs = ends_at.duration_since(now).as_secs().clamp(1, MAX_DURATION_SECS);
    let new = NewConference {
        room: form.room.clone(),
        meeting_id: opening.meeting_id,
        mail_owner: form.mail_owner.clone(),
        started_at: now,
        duration_secs: Some(duration_secs),
        max_occupants: opening.max_occupants,
    };
    let started = match state.store.start_conference(&new).await.map_err(ApiError::unavailable)? {
        // A running conference past its end was never deleted (a focus that died): it is over.
        Started::Conflict(running) if is_overdue(&running, now) => {
            state.store.end_conference(running.id, now).await.map_err(ApiError::unavailable)?;
            state.store.start_conference(&new).await.map_err(ApiError::unavailable)?
        }
        other => other,
    };
    match started {
        Started::Started(conference) => {
            tracing::info!(room = %conference.room, id = conference.id, duration = duration_secs, "conference started");
            Ok((StatusCode::OK, Json(conference_json(&conference))).into_response())
        }
        Started::Conflict(running) => Ok((
            StatusCode::CONFLICT,
            Json(json!({
                "conflict_id": running.id,
                "error": "conflict",
                "message": format!("Room «{}» already has a running conference", running.room),
            })),
        )
            .into_response()),
    }
}

fn is_overdue(c: &Conference, now: Timestamp) -> bool {
    c.duration_secs
        .and_then(|d| c.started_at.checked_add(jiff::SignedDuration::from_secs(d)).ok())
        .is_some_and(|end| end <= now)
}

async fn read(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_id(&id, "a conference id")?;
    match state.store.conference(id).await.map_err(ApiError::unavailable)? {
        Some(c) if c.ended_at.is_none() => Ok((StatusCode::OK, Json(conference_json(&c))).into_response()),
        Some(_) => Err(ApiError::not_found(format!("Conference {id} has ended"))),
        None => Err(ApiError::not_found(format!("No conference {id}"))),
    }
}

async fn end(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let id = parse_id(&id, "a conference id")?;
    let now = (state.clock)();
    match state.store.end_conference(id, now).await.map_err(ApiError::unavailable)? {
        Some(c) => {
            tracing::info!(room = %c.room, id, "conference ended");
            Ok((StatusCode::OK, Json(json!({ "id": id, "ended": format_time(c.ended_at.unwrap_or(now)) })))
                .into_response())
        }
        None => Err(ApiError::not_found(format!("No conference {id}"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_times_parse() {
        for text in [
            "2026-11-22T10:00:00.000Z",
            "2026-11-22T12:00:00.000+02",
            "2026-11-22T10:00:00Z",
            "2026-11-22T12:00:00+02:00",
        ] {
            assert_eq!(parse_client_time(text), Some("2026-11-22T10:00:00Z".parse().unwrap()), "{text}");
        }
        for text in ["", "yesterday", "2026-11-22", "2026-11-22T10:00:00.000+2", "2026-13-22T10:00:00Z"] {
            assert_eq!(parse_client_time(text), None, "{text}");
        }
    }

    #[test]
    fn times_are_written_as_jicofo_reads_them() {
        assert_eq!(format_time("2026-11-22T10:00:00.5Z".parse().unwrap()), "2026-11-22T10:00:00.500Z");
    }
}
