//! Reservation policy: what to ask the operator's REST API and what its answers mean.
//!
//! Pure functions over HTTP outcomes; the conference state machine decides when to call them
//! and the runtime performs the HTTP requests.

use chrono::{DateTime, Duration, FixedOffset, NaiveDateTime, TimeZone, Utc};
use serde_json::Value;

use super::Time;
use crate::errors::{self, Code, ErrorEntry};

/// Error codes the focus itself puts in `<reservation-error error-code=…/>` when the API gave
/// no status of its own to pass on. Documented in README.md.
pub mod codes {
    /// The API answered 200/201 with a body we cannot use.
    pub const INVALID_RESPONSE: u16 = 500;
    /// The API could not be reached (connection refused, DNS, TLS), after every retry.
    pub const UNREACHABLE: u16 = 502;
    /// One attempt took longer than `reservation.timeout`.
    pub const TIMEOUT: u16 = 504;
    /// 409 without a usable `conflict_id`, or the conflicting reservation could not be read.
    pub const CONFLICT: u16 = 409;
    /// The reservation's `start_time + duration` lies in the past.
    pub const EXPIRED: u16 = 419;
}

/// A refusal as the client will see it: `<reservation-error error-code='code'/>` and `<text>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: u16,
    pub message: String,
}

impl Refusal {
    pub fn new(code: u16, message: impl Into<String>) -> Self {
        Refusal { code, message: message.into() }
    }

    /// The refusal with its text cut to `max_chars` characters (see [`truncate_chars`]).
    /// The refusal of a catalog entry with a fixed code, its text filled in.
    pub fn of(entry: &'static ErrorEntry, values: &[(&str, &str)]) -> Self {
        let Code::Fixed(code) = entry.code else { panic!("{}: not a fixed reservation code", entry.key) };
        Refusal { code, message: entry.text_with(values) }
    }

    pub fn truncated(self, max_chars: usize) -> Self {
        Refusal { code: self.code, message: truncate_chars(&self.message, max_chars) }
    }
}

/// Longer durations are refused as invalid: no meeting lasts ten years, and unbounded values
/// (a `Long.MAX` "forever", say) would overflow time arithmetic.
const MAX_DURATION_SECONDS: f64 = 10.0 * 365.0 * 24.0 * 3600.0;

/// A reservation the API granted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reservation {
    /// The API's id, kept as text: servers send numbers or strings.
    pub id: String,
    pub name: String,
    pub mail_owner: Option<String>,
    pub start_time: Time,
    pub duration: Duration,
    pub max_occupants: Option<u32>,
}

impl Reservation {
    pub fn ends_at(&self) -> Time {
        self.start_time + self.duration
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    Post,
    Get,
    Delete,
}

/// An HTTP call for the runtime to make against `reservation.base_url`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpCall {
    pub id: u64,
    pub method: Method,
    /// Path below the base URL, e.g. `/conference` or `/conference/42`.
    pub path: String,
    /// Form fields (POST only), sent `application/x-www-form-urlencoded`.
    pub form: Vec<(String, String)>,
}

/// What came of an HTTP call.
///
/// Log it with `%outcome` (its `Display` is one short line), never `?outcome`: a body can be
/// as large as `reservation.max_body_size`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HttpOutcome {
    Response {
        status: u16,
        body: String,
    },
    /// The body was longer than `reservation.max_body_size` (`limit`); reading stopped there.
    /// For POST and GET that is an invalid response; for DELETE the status decides.
    TooLarge {
        status: u16,
        limit: usize,
    },
    /// A 3xx answer. Redirects are never followed (they would carry our headers elsewhere, and
    /// a 302/303 would turn a POST into a GET); `location` is there only when short and safe
    /// to show.
    Redirect {
        status: u16,
        location: Option<String>,
    },
    /// The attempt exceeded `reservation.timeout`.
    Timeout,
    /// No HTTP exchange happened (refused, DNS, TLS…); the text says why.
    Unreachable(String),
}

/// Characters of a body or reason shown by `HttpOutcome`'s `Display`.
const SHOWN_CHARS: usize = 200;

impl std::fmt::Display for HttpOutcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            HttpOutcome::Response { status, body } if body.is_empty() => write!(f, "HTTP {status}"),
            HttpOutcome::Response { status, body } => write!(f, "HTTP {status}: {}", excerpt(body, SHOWN_CHARS)),
            HttpOutcome::TooLarge { status, limit } => {
                write!(f, "HTTP {status} with a body larger than {limit} bytes (not read)")
            }
            HttpOutcome::Redirect { status, location: Some(location) } => {
                write!(f, "HTTP {status} redirect to {}", excerpt(location, SHOWN_CHARS))
            }
            HttpOutcome::Redirect { status, location: None } => write!(f, "HTTP {status} redirect"),
            HttpOutcome::Timeout => f.write_str("timed out"),
            HttpOutcome::Unreachable(why) => write!(f, "unreachable: {}", excerpt(why, SHOWN_CHARS)),
        }
    }
}

/// At most `max_chars` characters of `text` on one line: control characters escaped (`\n`,
/// `\u{1b}`), "…" appended when something was left out.
fn excerpt(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    for c in chars.by_ref().take(max_chars) {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    if chars.next().is_some() {
        out.push('…');
    }
    out
}

/// `text` cut to at most `max_chars` characters, the last of them "…" when it was cut; for a
/// refusal text passed to the client (`reservation.max_message_length`).
pub fn truncate_chars(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        None => text.to_owned(),
        Some(_) if max_chars == 0 => String::new(),
        Some(_) => {
            let keep = text.char_indices().nth(max_chars - 1).map_or(text.len(), |(i, _)| i);
            format!("{}…", &text[..keep])
        }
    }
}

/// The form of `POST /conference`.
pub fn create_form(name: &str, now: Time, mail_owner: Option<&str>) -> Vec<(String, String)> {
    let mut form = vec![("name".to_owned(), name.to_owned()), ("start_time".to_owned(), format_time(now))];
    if let Some(owner) = mail_owner {
        form.push(("mail_owner".to_owned(), owner.to_owned()));
    }
    form
}

/// `2026-11-22T10:00:00.000Z`: UTC with milliseconds, as Jicofo and mod_reservations send it.
pub fn format_time(time: Time) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()
}

/// The percent-encoding that keeps an id safe inside a URL path segment.
pub fn path_for(id: &str) -> String {
    let mut path = String::from("/conference/");
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || b"-._~".contains(&byte) {
            path.push(byte as char);
        } else {
            path.push_str(&format!("%{byte:02X}"));
        }
    }
    path
}

/// What to do after an answer to `POST /conference` (or to the `GET` after a 409).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Granted(Reservation),
    /// 409 with a conflict id: read that reservation and adopt it.
    Conflict {
        id: String,
        message: Option<String>,
    },
    /// A 5xx or connection failure with attempts left.
    Retry,
    Refused(Refusal),
}

/// Interprets one attempt's outcome. `attempt` counts from 1; `retries` extra attempts are
/// allowed after 5xx answers and connection failures.
pub fn judge_create(outcome: &HttpOutcome, room_name: &str, attempt: u32, retries: u32) -> Verdict {
    let retry_left = attempt <= retries;
    match outcome {
        HttpOutcome::Timeout => Verdict::Refused(Refusal::of(&errors::RESERVATION_TIMEOUT, &[])),
        HttpOutcome::Unreachable(_) if retry_left => Verdict::Retry,
        HttpOutcome::Unreachable(why) => {
            Verdict::Refused(Refusal::of(&errors::RESERVATION_UNREACHABLE, &[("why", why)]))
        }
        HttpOutcome::Response { status: 200 | 201, body } => match parse_reservation(body, room_name) {
            Ok(reservation) => Verdict::Granted(reservation),
            Err(why) => Verdict::Refused(invalid(&why)),
        },
        HttpOutcome::Response { status: 409, body } => {
            let json = serde_json::from_str::<Value>(body).ok();
            let message = json.as_ref().and_then(|j| j.get("message")).and_then(Value::as_str).map(str::to_owned);
            match json.as_ref().and_then(|j| j.get("conflict_id")).and_then(id_text) {
                Some(id) => Verdict::Conflict { id, message },
                None => Verdict::Refused(Refusal::new(
                    codes::CONFLICT,
                    message.unwrap_or_else(|| errors::RESERVATION_CONFLICT_WITHOUT_ID.text_with(&[])),
                )),
            }
        }
        HttpOutcome::Response { status: status @ 300..=399, .. } => Verdict::Refused(redirected(*status, None)),
        HttpOutcome::Redirect { status, location } => Verdict::Refused(redirected(*status, location.as_deref())),
        HttpOutcome::Response { status, .. } | HttpOutcome::TooLarge { status, .. } if *status >= 500 && retry_left => {
            Verdict::Retry
        }
        HttpOutcome::TooLarge { limit, .. } => {
            Verdict::Refused(Refusal::of(&errors::RESERVATION_TOO_LARGE, &[("limit", &limit.to_string())]))
        }
        HttpOutcome::Response { status, body } => Verdict::Refused(refusal_from_body(*status, body)),
    }
}

/// A redirect to POST or GET: the API is not where `base_url` says.
fn redirected(status: u16, location: Option<&str>) -> Refusal {
    let target = location.map(|l| format!(" to {l}")).unwrap_or_default();
    Refusal::of(&errors::RESERVATION_REDIRECTED, &[("status", &status.to_string()), ("target", &target)])
}

/// Outcomes that say the API is misconfigured or misbehaving rather than anything about a
/// reservation: they keep their own refusal (code 500) even for the GET after a 409.
fn is_malformed(outcome: &HttpOutcome) -> bool {
    matches!(
        outcome,
        HttpOutcome::TooLarge { .. } | HttpOutcome::Redirect { .. } | HttpOutcome::Response { status: 300..=399, .. }
    )
}

/// Interprets the answer to `GET /conference/{id}` after a 409.
pub fn judge_conflict_fetch(
    outcome: &HttpOutcome,
    room_name: &str,
    id: &str,
    conflict_message: Option<&str>,
    attempt: u32,
    retries: u32,
) -> Verdict {
    match judge_create(outcome, room_name, attempt, retries) {
        Verdict::Granted(reservation) => Verdict::Granted(reservation),
        Verdict::Retry => Verdict::Retry,
        Verdict::Refused(refusal) if is_malformed(outcome) => Verdict::Refused(refusal),
        // A 409 to a GET makes no sense; so does any other failure: the conflict stands.
        Verdict::Conflict { .. } | Verdict::Refused(_) => {
            let detail = match outcome {
                HttpOutcome::Response { status, .. }
                | HttpOutcome::TooLarge { status, .. }
                | HttpOutcome::Redirect { status, .. } => format!("HTTP {status}"),
                HttpOutcome::Timeout => "timed out".to_owned(),
                HttpOutcome::Unreachable(why) => why.clone(),
            };
            Verdict::Refused(Refusal::new(
                codes::CONFLICT,
                conflict_message.map(str::to_owned).unwrap_or_else(|| {
                    errors::RESERVATION_CONFLICT_UNREADABLE.text_with(&[("id", id), ("detail", &detail)])
                }),
            ))
        }
    }
}

/// What to do after an answer to `DELETE /conference/{id}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeleteVerdict {
    Done,
    /// Transient failure: try again later.
    Retry,
    /// The API refuses for good (a 4xx other than 404/408/429); retrying cannot help.
    GiveUp(String),
}

/// The status decides, whatever the body (one too large to read included). A redirect means
/// `reservation.base_url` is wrong: retrying cannot help.
pub fn judge_delete(outcome: &HttpOutcome) -> DeleteVerdict {
    match outcome {
        HttpOutcome::Response { status: 200..=299 | 404, .. }
        | HttpOutcome::TooLarge { status: 200..=299 | 404, .. } => DeleteVerdict::Done,
        HttpOutcome::Response { status: 408 | 429, .. } | HttpOutcome::TooLarge { status: 408 | 429, .. } => {
            DeleteVerdict::Retry
        }
        HttpOutcome::Response { status: status @ 400..=499, body } => {
            DeleteVerdict::GiveUp(refusal_from_body(*status, body).message)
        }
        HttpOutcome::TooLarge { status: status @ 400..=499, .. } => {
            DeleteVerdict::GiveUp(format!("Rejected by reservation server (HTTP {status})"))
        }
        HttpOutcome::Redirect { status, location } => {
            DeleteVerdict::GiveUp(delete_redirected(*status, location.as_deref()))
        }
        HttpOutcome::Response { status: status @ 300..=399, .. } => {
            DeleteVerdict::GiveUp(delete_redirected(*status, None))
        }
        _ => DeleteVerdict::Retry,
    }
}

fn delete_redirected(status: u16, location: Option<&str>) -> String {
    let target = location.map(|l| format!(" to {l}")).unwrap_or_default();
    format!(
        "the API redirected the DELETE (HTTP {status}{target}): reservation.base_url is misconfigured, \
         it should point to the final URL"
    )
}

/// Delay before DELETE attempt `attempt + 1`: doubling from `base`, at most five minutes.
pub fn delete_backoff(base: std::time::Duration, attempt: u32) -> std::time::Duration {
    let base = base.max(std::time::Duration::from_millis(100));
    base.saturating_mul(1 << attempt.min(16)).min(std::time::Duration::from_secs(300))
}

fn invalid(why: &str) -> Refusal {
    Refusal::of(&errors::RESERVATION_INVALID_RESPONSE, &[("why", why)])
}

/// The refusal for a non-success status: the body's `message`, or a clear fallback.
fn refusal_from_body(status: u16, body: &str) -> Refusal {
    let message = serde_json::from_str::<Value>(body)
        .ok()
        .and_then(|json| json.get("message").and_then(Value::as_str).map(str::to_owned))
        .filter(|m| !m.trim().is_empty());
    let rejected = || errors::RESERVATION_REJECTED.text_with(&[("status", &status.to_string())]);
    Refusal::new(status, message.unwrap_or_else(rejected))
}

fn id_text(value: &Value) -> Option<String> {
    match value {
        Value::Number(n) => Some(n.to_string()),
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        _ => None,
    }
}

/// Validates a 200/201 body. Unknown fields are ignored; `id` may be a number or a string.
pub fn parse_reservation(body: &str, room_name: &str) -> Result<Reservation, String> {
    let json: Value = serde_json::from_str(body).map_err(|_| "the body is not JSON".to_owned())?;
    let object = json.as_object().ok_or("the body is not a JSON object")?;
    let id = object.get("id").and_then(id_text).ok_or("'id' is missing or not a number or string")?;
    let name = object.get("name").and_then(Value::as_str).ok_or("'name' is missing or not a string")?;
    if !name.eq_ignore_ascii_case(room_name) && name.to_lowercase() != room_name.to_lowercase() {
        return Err(format!("'name' is {name:?} but the room is {room_name:?}"));
    }
    let start_text = object.get("start_time").and_then(Value::as_str).ok_or("'start_time' is missing")?;
    let start_time = parse_time(start_text).ok_or_else(|| format!("'start_time' {start_text:?} is not ISO 8601"))?;
    let duration = object
        .get("duration")
        .and_then(Value::as_f64)
        .filter(|d| d.is_finite() && *d >= 0.0)
        .ok_or("'duration' is missing or not a number of seconds")?;
    if duration > MAX_DURATION_SECONDS {
        return Err(format!("'duration' {duration} s is more than ten years"));
    }
    let max_occupants = match object.get("max_occupants") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|n| u32::try_from(n).ok())
                .filter(|n| *n > 0)
                .ok_or("'max_occupants' is not a positive integer")?,
        ),
    };
    Ok(Reservation {
        id,
        name: name.to_owned(),
        mail_owner: object.get("mail_owner").and_then(Value::as_str).map(str::to_owned),
        start_time,
        duration: Duration::milliseconds((duration * 1000.0) as i64),
        max_occupants,
    })
}

/// Reads the ISO 8601 forms reservation servers emit: `Z`, `+00:00`, `+0000`, `+01`, no
/// offset (taken as UTC), with or without fractional seconds, `T` or a space as separator.
pub fn parse_time(text: &str) -> Option<Time> {
    let text = text.trim();
    if text.len() < 19 || !text.is_char_boundary(19) {
        return None;
    }
    let (date_time, rest) = text.split_at(19);
    let date_time = date_time.replacen(' ', "T", 1);
    let naive_seconds = NaiveDateTime::parse_from_str(&date_time, "%Y-%m-%dT%H:%M:%S").ok()?;
    // Fractional seconds, if any.
    let (fraction, offset) = match rest.strip_prefix(['.', ',']) {
        Some(after_dot) => {
            let digits = after_dot.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return None;
            }
            let nanos: String = after_dot[..digits].chars().chain(std::iter::repeat('0')).take(9).collect();
            (nanos.parse::<i64>().ok()?, &after_dot[digits..])
        }
        None => (0, rest),
    };
    let naive = naive_seconds + Duration::nanoseconds(fraction);
    let offset_seconds = match offset {
        "" | "Z" | "z" => 0,
        _ => {
            let sign = match offset.as_bytes()[0] {
                b'+' => 1,
                b'-' => -1,
                _ => return None,
            };
            let digits: String = offset[1..].chars().filter(|c| *c != ':').collect();
            if !digits.bytes().all(|b| b.is_ascii_digit()) || !matches!(digits.len(), 2 | 4) {
                return None;
            }
            let hours: i32 = digits[..2].parse().ok()?;
            let minutes: i32 = if digits.len() == 4 { digits[2..].parse().ok()? } else { 0 };
            sign * (hours * 3600 + minutes * 60)
        }
    };
    let offset = FixedOffset::east_opt(offset_seconds)?;
    let local: DateTime<FixedOffset> = offset.from_local_datetime(&naive).single()?;
    Some(local.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> Time {
        DateTime::parse_from_rfc3339(text).unwrap().with_timezone(&Utc)
    }

    fn response(status: u16, body: &str) -> HttpOutcome {
        HttpOutcome::Response { status, body: body.to_owned() }
    }

    #[test]
    fn every_iso_form_servers_emit_is_read() {
        let expected = at("2026-11-22T10:00:00Z");
        for text in [
            "2026-11-22T10:00:00.000Z",
            "2026-11-22T10:00:00Z",
            "2026-11-22T10:00:00+00:00",
            "2026-11-22T10:00:00.000+0000",
            "2026-11-22T11:00:00+01",
            "2026-11-22T11:00:00.000+01:00",
            "2026-11-22T05:30:00-04:30",
            "2026-11-22 10:00:00",
            "2026-11-22T10:00:00",
        ] {
            assert_eq!(parse_time(text), Some(expected), "{text}");
        }
        assert_eq!(parse_time("2026-11-22T10:00:00.5Z"), Some(expected + Duration::milliseconds(500)));
        assert_eq!(parse_time("+275760-09-13T00:00:00Z"), None);
        assert!(parse_time("9999-12-31T23:59:59-23:59").is_some(), "far future, no overflow");
        for bad in
            ["", "yesterday", "2026-11-22", "2026-11-22T10:00:00+1", "2026-11-22T10:00:00.Z", "2026-13-01T00:00:00Z"]
        {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn start_time_is_sent_in_utc_with_milliseconds() {
        assert_eq!(format_time(at("2026-11-22T10:00:00.250Z")), "2026-11-22T10:00:00.250Z");
        let form = create_form("room1", at("2026-11-22T10:00:00Z"), Some("alice@meet.test"));
        assert_eq!(form[0], ("name".into(), "room1".into()));
        assert_eq!(form[2], ("mail_owner".into(), "alice@meet.test".into()));
        assert_eq!(create_form("room1", at("2026-11-22T10:00:00Z"), None).len(), 2);
    }

    #[test]
    fn granted_body_accepts_string_ids_and_ignores_unknown_fields() {
        let body = r#"{"id":"abc","name":"Room1","start_time":"2026-11-22T10:00:00+0000","duration":900,"url":"x","pin":"1","max_occupants":5}"#;
        match judge_create(&response(201, body), "room1", 1, 3) {
            Verdict::Granted(r) => {
                assert_eq!(r.id, "abc");
                assert_eq!(r.ends_at(), at("2026-11-22T10:15:00Z"));
                assert_eq!(r.max_occupants, Some(5));
            }
            other => panic!("{other:?}"),
        }
        let numeric = r#"{"id":42,"name":"room1","start_time":"2026-11-22T10:00:00.000Z","duration":60}"#;
        assert!(matches!(judge_create(&response(200, numeric), "room1", 1, 3), Verdict::Granted(r) if r.id == "42"));
    }

    #[test]
    fn invalid_bodies_are_refused_with_the_reason() {
        for (body, needle) in [
            ("<html>oops</html>", "not JSON"),
            (r#"{"name":"room1","start_time":"2026-11-22T10:00:00Z","duration":1}"#, "'id'"),
            (r#"{"id":1,"name":"other","start_time":"2026-11-22T10:00:00Z","duration":1}"#, "'name'"),
            (r#"{"id":1,"name":"room1","start_time":"soon","duration":1}"#, "'start_time'"),
            (r#"{"id":1,"name":"room1","start_time":"2026-11-22T10:00:00Z"}"#, "'duration'"),
            (
                r#"{"id":1,"name":"room1","start_time":"2026-11-22T10:00:00Z","duration":5,"max_occupants":-2}"#,
                "max_occupants",
            ),
        ] {
            match judge_create(&response(200, body), "room1", 1, 3) {
                Verdict::Refused(r) => {
                    assert_eq!(r.code, codes::INVALID_RESPONSE);
                    assert!(r.message.contains(needle), "{needle}: {}", r.message);
                }
                other => panic!("{body}: {other:?}"),
            }
        }
    }

    #[test]
    fn refusals_carry_status_and_message() {
        let v = judge_create(&response(403, r#"{"message":"Nur mit Buchung <b>!</b>"}"#), "r", 1, 3);
        assert_eq!(v, Verdict::Refused(Refusal::new(403, "Nur mit Buchung <b>!</b>")));
        let v = judge_create(&response(403, ""), "r", 1, 3);
        assert_eq!(v, Verdict::Refused(Refusal::new(403, "Rejected by reservation server (HTTP 403)")));
        let v = judge_create(&response(404, "<html/>"), "r", 1, 3);
        assert_eq!(v, Verdict::Refused(Refusal::new(404, "Rejected by reservation server (HTTP 404)")));
    }

    #[test]
    fn retries_only_on_5xx_and_connection_failures_while_attempts_remain() {
        assert_eq!(judge_create(&response(500, ""), "r", 1, 1), Verdict::Retry);
        assert_eq!(
            judge_create(&response(503, "{\"message\":\"down\"}"), "r", 2, 1),
            Verdict::Refused(Refusal::new(503, "down"))
        );
        assert_eq!(judge_create(&HttpOutcome::Unreachable("refused".into()), "r", 1, 1), Verdict::Retry);
        assert!(
            matches!(judge_create(&HttpOutcome::Unreachable("refused".into()), "r", 2, 1), Verdict::Refused(r) if r.code == codes::UNREACHABLE)
        );
        assert!(matches!(judge_create(&response(429, ""), "r", 1, 5), Verdict::Refused(r) if r.code == 429));
        assert!(
            matches!(judge_create(&HttpOutcome::Timeout, "r", 1, 5), Verdict::Refused(r) if r.code == codes::TIMEOUT)
        );
    }

    #[test]
    fn conflicts_need_an_id() {
        assert_eq!(
            judge_create(&response(409, r#"{"conflict_id":7}"#), "r", 1, 3),
            Verdict::Conflict { id: "7".into(), message: None }
        );
        assert!(
            matches!(judge_create(&response(409, "{}"), "r", 1, 3), Verdict::Refused(r) if r.code == 409 && r.message.contains("conflict_id"))
        );
        let fetch = judge_conflict_fetch(&response(404, ""), "r", "7", None, 1, 3);
        assert!(matches!(fetch, Verdict::Refused(r) if r.code == 409 && r.message.contains("7")));
    }

    #[test]
    fn delete_is_done_on_2xx_or_404_and_retried_on_transient_failures() {
        assert_eq!(judge_delete(&response(204, "")), DeleteVerdict::Done);
        assert_eq!(judge_delete(&response(404, "")), DeleteVerdict::Done);
        assert_eq!(judge_delete(&response(502, "")), DeleteVerdict::Retry);
        assert_eq!(judge_delete(&HttpOutcome::Timeout), DeleteVerdict::Retry);
        assert!(matches!(judge_delete(&response(403, "")), DeleteVerdict::GiveUp(_)));
        let base = std::time::Duration::from_secs(1);
        assert_eq!(delete_backoff(base, 0), base);
        assert_eq!(delete_backoff(base, 3), std::time::Duration::from_secs(8));
        assert_eq!(delete_backoff(base, 30), std::time::Duration::from_secs(300));
    }

    #[test]
    fn a_body_too_large_is_an_invalid_response_for_post_and_get_but_not_for_delete() {
        let big = HttpOutcome::TooLarge { status: 200, limit: 65536 };
        let expected = Refusal::new(
            codes::INVALID_RESPONSE,
            "Invalid response from reservation server: the answer is larger than 65536 bytes",
        );
        assert_eq!(judge_create(&big, "r", 1, 3), Verdict::Refused(expected.clone()));
        assert_eq!(judge_conflict_fetch(&big, "r", "7", Some("taken"), 1, 3), Verdict::Refused(expected.clone()));
        let big_403 = HttpOutcome::TooLarge { status: 403, limit: 65536 };
        assert_eq!(judge_create(&big_403, "r", 1, 3), Verdict::Refused(expected.clone()));
        // A 5xx is retried whatever its body; after the last attempt the body counts.
        let big_503 = HttpOutcome::TooLarge { status: 503, limit: 65536 };
        assert_eq!(judge_create(&big_503, "r", 1, 1), Verdict::Retry);
        assert_eq!(judge_create(&big_503, "r", 2, 1), Verdict::Refused(expected));
        assert_eq!(judge_delete(&big), DeleteVerdict::Done);
        assert_eq!(judge_delete(&HttpOutcome::TooLarge { status: 404, limit: 1 }), DeleteVerdict::Done);
        assert_eq!(judge_delete(&HttpOutcome::TooLarge { status: 429, limit: 1 }), DeleteVerdict::Retry);
        assert_eq!(judge_delete(&big_503), DeleteVerdict::Retry);
        assert!(matches!(judge_delete(&big_403), DeleteVerdict::GiveUp(_)));
    }

    #[test]
    fn a_redirect_is_a_misconfigured_base_url() {
        let moved = HttpOutcome::Redirect { status: 307, location: Some("https://new.example/api/conference".into()) };
        for verdict in [judge_create(&moved, "r", 1, 3), judge_conflict_fetch(&moved, "r", "7", None, 1, 3)] {
            match verdict {
                Verdict::Refused(r) => {
                    assert_eq!(r.code, codes::INVALID_RESPONSE);
                    assert!(r.message.starts_with("Invalid response from reservation server: the API redirected (HTTP 307 to https://new.example/api/conference)"), "{}", r.message);
                    assert!(r.message.contains("base_url"), "{}", r.message);
                }
                other => panic!("{other:?}"),
            }
        }
        let bare = judge_create(&response(302, ""), "r", 1, 3);
        assert!(
            matches!(bare, Verdict::Refused(r) if r.code == codes::INVALID_RESPONSE && r.message.contains("HTTP 302"))
        );
        let hidden = HttpOutcome::Redirect { status: 301, location: None };
        match judge_delete(&hidden) {
            DeleteVerdict::GiveUp(why) => assert!(why.contains("HTTP 301") && why.contains("base_url"), "{why}"),
            other => panic!("{other:?}"),
        }
        assert!(matches!(judge_delete(&response(308, "")), DeleteVerdict::GiveUp(_)));
    }

    #[test]
    fn outcomes_display_as_one_short_line() {
        let huge = format!("\u{1b}[31m{}", "é".repeat(20 << 20));
        let shown = response(503, &huge).to_string();
        assert!(shown.starts_with("HTTP 503: \\u{1b}[31mééé"), "{}", &shown[..40]);
        assert!(shown.ends_with('…') && shown.chars().count() < 250, "{} chars", shown.chars().count());
        assert!(!shown.contains('\u{1b}'));
        assert_eq!(response(500, "line\nbreak").to_string(), "HTTP 500: line\\nbreak");
        assert_eq!(response(204, "").to_string(), "HTTP 204");
        assert_eq!(HttpOutcome::Timeout.to_string(), "timed out");
        assert_eq!(
            HttpOutcome::Unreachable("connection refused".into()).to_string(),
            "unreachable: connection refused"
        );
        assert_eq!(
            HttpOutcome::TooLarge { status: 200, limit: 10 }.to_string(),
            "HTTP 200 with a body larger than 10 bytes (not read)"
        );
        assert_eq!(HttpOutcome::Redirect { status: 307, location: None }.to_string(), "HTTP 307 redirect");
    }

    #[test]
    fn refusal_texts_are_cut_on_character_boundaries() {
        assert_eq!(truncate_chars("short", 10), "short");
        assert_eq!(truncate_chars("exactly", 7), "exactly");
        assert_eq!(truncate_chars("ééééé", 3), "éé…");
        assert_eq!(truncate_chars("abc", 0), "");
        let refusal = Refusal::new(403, "x".repeat(5000)).truncated(1024);
        assert_eq!(refusal.message.chars().count(), 1024);
        assert!(refusal.message.ends_with('…'));
    }

    #[test]
    fn ids_are_escaped_in_paths() {
        assert_eq!(path_for("42"), "/conference/42");
        assert_eq!(path_for("a/b c"), "/conference/a%2Fb%20c");
    }
}
