//! Serving an axum router on a TCP listener with the limits a server facing hostile clients needs,
//! which `axum::serve` does not set: at most [`Limits::max_connections`] connections at once
//! (more wait in the kernel's backlog), a deadline for a request's headers (an idle keep-alive
//! connection counts as one waiting for headers), a deadline for the whole request, body
//! included, and a body size limit. Without them one client that opens connections and sends
//! nothing, or a byte a minute, holds a task and a file descriptor each for ever, until the
//! server can accept no connection from the focus.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::{watch, Semaphore};

use serde_json::json;

/// The connection and request limits of [`serve`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Connections served at once; further ones wait to be accepted.
    pub max_connections: usize,
    /// How long a client may take to send a request's headers (and how long a keep-alive
    /// connection may sit idle).
    pub header_read_timeout: Duration,
    /// How long one request may take, reading its body included; then 408.
    pub request_timeout: Duration,
    /// Largest request body; larger ones get 413.
    pub max_body_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_connections: 512,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 256 * 1024,
        }
    }
}

/// `router` with the request deadline and the body limit. Shared by the focus's HTTP API and
/// `jitsi-reservations`: both face the same clients.
pub fn limited_router(router: axum::Router, limits: Limits) -> axum::Router {
    let deadline = limits.request_timeout;
    router.layer(DefaultBodyLimit::max(limits.max_body_bytes)).layer(axum::middleware::from_fn(
        move |request: Request, next: Next| async move {
            match tokio::time::timeout(deadline, next.run(request)).await {
                Ok(response) => response,
                Err(_) => timed_out(deadline),
            }
        },
    ))
}

fn timed_out(deadline: Duration) -> Response {
    let message = format!("The request took longer than {} s", deadline.as_secs_f64());
    (StatusCode::REQUEST_TIMEOUT, axum::Json(json!({ "error": "timeout", "message": message }))).into_response()
}

/// Serves `router` on `listener` under `limits` until `shutdown` completes; then stops
/// accepting, lets requests in progress finish (at most `request_timeout` more) and returns.
pub async fn serve(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let app = limited_router(router, limits);
    let max = limits.max_connections.max(1);
    let slots = Arc::new(Semaphore::new(max));
    let (stop_tx, stop_rx) = watch::channel(false);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let slot = tokio::select! {
            _ = &mut shutdown => break,
            slot = slots.clone().acquire_owned() => slot.expect("the semaphore is never closed"),
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, or a connection reset before it was accepted:
                    // wait a little rather than spin.
                    tracing::warn!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let service = TowerToHyperService::new(app.clone());
        let mut stop = stop_rx.clone();
        let header_read_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            let _slot = slot;
            let mut builder = hyper::server::conn::http1::Builder::new();
            builder.timer(TokioTimer::new()).header_read_timeout(header_read_timeout);
            let connection = builder.serve_connection(TokioIo::new(stream), service);
            let mut connection = std::pin::pin!(connection);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!(%peer, "connection ended: {error}");
                    }
                    return;
                }
                _ = stop.wait_for(|stop| *stop) => connection.as_mut().graceful_shutdown(),
            }
            let _ = connection.await;
        });
    }
    drop(listener);
    let _ = stop_tx.send(true);
    // Every connection gives its slot back when it ends.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let grace = limits.request_timeout + limits.header_read_timeout;
    if tokio::time::timeout(grace, slots.acquire_many(all)).await.is_err() {
        tracing::warn!("stopping with connections still open after {} s", grace.as_secs());
    }
    Ok(())
}
