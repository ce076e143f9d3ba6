//! Every error the HTTP API answers with, in one place: the API's own errors
//! ([`HttpErrorEntry`], used by the handlers through [`ApiError::of`]) and the HTTP form of
//! every conference-request error of the XMPP catalog (computed by
//! [`conference_request::answer`](super::conference_request::answer) itself). README's HTTP
//! error tables are generated from both ([`markdown`]); a test keeps them equal, and
//! `UPDATE_README=1` rewrites them.

use axum::http::StatusCode;

use super::conference_request;
use super::ApiError;
use crate::errors::readme::row;
use crate::errors::{self, Code, ErrorEntry, Group};

pub const BEGIN: &str = "<!-- http-errors:begin -->";
pub const END: &str = "<!-- http-errors:end -->";

/// One error of the HTTP API itself: `{"error": key, "message": text}` with `status`.
#[derive(Debug)]
pub struct HttpErrorEntry {
    pub status: StatusCode,
    /// The body's `error`.
    pub key: &'static str,
    /// The body's `message`, or what it says.
    pub message: &'static str,
    pub when: &'static str,
}

impl ApiError {
    /// The entry's error with its message.
    pub fn of(entry: &'static HttpErrorEntry, message: impl Into<String>) -> ApiError {
        ApiError { status: entry.status, error: entry.key, message: message.into() }
    }
}

pub static NOT_FOUND: HttpErrorEntry = HttpErrorEntry {
    status: StatusCode::NOT_FOUND,
    key: "not-found",
    message: "no such endpoint / no conference in room \"…\"",
    when: "an unknown path (or one turned off in `[http]`); `/debug/conference/{room}` of a room without a conference",
};
pub static METHOD_NOT_ALLOWED: HttpErrorEntry = HttpErrorEntry {
    status: StatusCode::METHOD_NOT_ALLOWED,
    key: "method-not-allowed",
    message: "this endpoint does not take that method",
    when: "e.g. `GET /conference-request/v1`",
};
pub static BAD_BODY: HttpErrorEntry = HttpErrorEntry {
    status: StatusCode::BAD_REQUEST,
    key: "bad-request",
    message: "the reason, e.g. `the body is not a JSON conference request: …`, `more than 64 properties`",
    when: "a conference request body that is not one (see the table below for requests the focus refuses)",
};
pub static TOO_LARGE: HttpErrorEntry = HttpErrorEntry {
    status: StatusCode::PAYLOAD_TOO_LARGE,
    key: "too-large",
    message: "length limit exceeded",
    when: "a body over `http.max_body_bytes`",
};
pub static TIMEOUT: HttpErrorEntry = HttpErrorEntry {
    status: StatusCode::REQUEST_TIMEOUT,
    key: "timeout",
    message: "The request took longer than N s",
    when: "a request over `http.request_timeout`",
};
pub static BUSY: HttpErrorEntry = HttpErrorEntry {
    status: StatusCode::SERVICE_UNAVAILABLE,
    key: "busy",
    message: "too many requests wait for the focus",
    when: "64 questions already wait for the main loop",
};
pub static STOPPING: HttpErrorEntry = HttpErrorEntry {
    status: StatusCode::SERVICE_UNAVAILABLE,
    key: "stopping",
    message: "the focus is stopping",
    when: "the focus is shutting down (after its drain)",
};
pub static LOOP_STALLED: HttpErrorEntry = HttpErrorEntry {
    status: StatusCode::SERVICE_UNAVAILABLE,
    key: "loop-stalled",
    message: "the focus's main loop did not answer within 5 s",
    when: "a hung focus (systemd's watchdog restarts it); a loop that blocks its thread stops the API too, and the probe times out instead",
};

/// The API's own errors, in README's order.
pub static ENTRIES: &[&HttpErrorEntry] =
    &[&BAD_BODY, &NOT_FOUND, &METHOD_NOT_ALLOWED, &TIMEOUT, &TOO_LARGE, &BUSY, &STOPPING, &LOOP_STALLED];

/// XMPP catalog entries that only an IQ can receive (a stanza-level problem, or sign-in steps
/// that need an XMPP sender).
fn xmpp_only(entry: &ErrorEntry) -> bool {
    entry.key.starts_with("iq.")
        || entry.key.starts_with("limits.")
        || matches!(
            entry.key,
            "request.malformed" | "request.bad-sender" | "request.not-set" | "auth.missing-machine-uid"
        )
}

/// The conference-request errors an HTTP request can receive, with a code for those whose code
/// is the API's status.
fn conference_request_errors() -> impl Iterator<Item = (&'static ErrorEntry, u16)> {
    errors::catalog().filter(|e| matches!(e.group, Group::Reservation | Group::Request) && !xmpp_only(e)).map(|e| {
        let code = match e.code {
            Code::Fixed(code) => code,
            Code::ApiStatus => 403,
            Code::None => 0,
        };
        (e, code)
    })
}

/// The generated tables, without the markers.
pub fn markdown() -> String {
    let mut out = String::from(
        "<!-- generated from src/runtime/api/errors.rs by runtime::api::errors::tests; UPDATE_README=1 rewrites it -->\n\n\
         Errors of the API itself (`{\"error\": KEY, \"message\": TEXT}`):\n\n",
    );
    out.push_str(&row(&["status", "`error`", "`message`", "when"].map(String::from)));
    out.push_str(&row(&["---"; 4].map(String::from)));
    for e in ENTRIES {
        out.push_str(&row(&[
            e.status.as_u16().to_string(),
            format!("`{}`", e.key),
            e.message.to_owned(),
            e.when.to_owned(),
        ]));
    }
    out.push_str(
        "\nThe conference request's refusals (the [XMPP error](#errors-the-client-sees) → HTTP; a \
         reservation code of the API's status is shown for a 403):\n\n",
    );
    out.push_str(&row(&["XMPP error key", "status", "`error`", "`message`"].map(String::from)));
    out.push_str(&row(&["---"; 4].map(String::from)));
    for (entry, code) in conference_request_errors() {
        let text = entry.examples.first().copied().unwrap_or(entry.text);
        let failure = entry.raw(text);
        let (status, body) = conference_request::answer(Err(failure.error_with_code(code)));
        let message = body["message"].as_str().unwrap_or_default();
        let message = if entry.family { "the XMPP text".to_owned() } else { format!("`{message}`") };
        let mut error = format!("`{}`", body["error"].as_str().unwrap_or_default());
        if let Some(code) = body.get("code") {
            error.push_str(&format!(", `code` {code}"));
        }
        out.push_str(&row(&[format!("`{}`", entry.key), status.as_u16().to_string(), error, message]));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readme_http_error_tables_match_the_code() {
        crate::errors::readme::check_readme_section(BEGIN, END, &markdown(), "HTTP error tables");
    }

    #[test]
    fn no_refusal_reaches_a_stock_client_as_a_sign_in_prompt() {
        // lib-jitsi-meet shows "authentication required" for any 403: only not-authorized may.
        for (entry, code) in conference_request_errors() {
            let (status, _) = conference_request::answer(Err(entry.raw(entry.text).error_with_code(code)));
            assert_eq!(status == StatusCode::FORBIDDEN, entry.key == "auth.not-authorized", "{}", entry.key);
        }
    }
}
