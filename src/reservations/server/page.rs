//! The booking page: `GET /` and its script and style under `/static/`, embedded in the binary
//! (no files to install, nothing fetched from elsewhere). The page is a static shell; its
//! script signs in with a management token (kept in the tab's `sessionStorage`, sent only as
//! `Authorization: Bearer …` to the management API, [`super::manage`]), lists meetings and
//! conferences and books and cancels meetings through that API. Data from the server is put
//! into the page as text only; the Content-Security-Policy allows no inline script, no other
//! origin and no form submission, as a second wall.
//!
//! URLs in the page are relative, so it also works behind a proxy that serves the server under
//! a path (`https://meet.example/reservations/` → `http://127.0.0.1:8099/`).

use axum::http::header::{CACHE_CONTROL, CONTENT_TYPE};
use axum::http::HeaderName;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;

use super::AppState;

const INDEX: &str = include_str!("page/index.html");
const SCRIPT: &str = include_str!("page/page.js");
const STYLE: &str = include_str!("page/page.css");

/// What the page may load and do: its own script, style and API, nothing else.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { asset("text/html; charset=utf-8", INDEX) }))
        .route("/static/page.js", get(|| async { asset("text/javascript; charset=utf-8", SCRIPT) }))
        .route("/static/page.css", get(|| async { asset("text/css; charset=utf-8", STYLE) }))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (CONTENT_TYPE, content_type),
            // Embedded in the binary: a new version comes with a restart, so always revalidate.
            (CACHE_CONTROL, "no-cache"),
            (HeaderName::from_static("content-security-policy"), CONTENT_SECURITY_POLICY),
            (HeaderName::from_static("x-content-type-options"), "nosniff"),
            (HeaderName::from_static("referrer-policy"), "no-referrer"),
            (HeaderName::from_static("x-frame-options"), "DENY"),
        ],
        body,
    )
        .into_response()
}
