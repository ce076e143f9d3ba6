//! A scriptable stand-in for the Jitsi reservation REST API (shared/research/protocol.md §4).
//!
//! Tests queue replies per room (POST) or per conference id (GET, DELETE); each queue is consumed
//! in order and its last reply repeats. Unscripted requests get realistic defaults. Every request
//! is recorded, and tests await requests instead of sleeping.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use hyper_util::rt::TokioIo;
use hyper_util::service::TowerToHyperService;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinSet;

/// One scripted answer.
#[derive(Debug, Clone)]
pub enum Reply {
    /// Status with an empty body.
    Status(u16),
    Json(u16, Value),
    Raw {
        status: u16,
        content_type: String,
        body: String,
    },
    /// Never answers; the connection is closed, unanswered, when the server is dropped.
    Hang,
}

impl Reply {
    pub fn status(status: u16) -> Reply {
        Reply::Status(status)
    }
    pub fn json(status: u16, body: Value) -> Reply {
        Reply::Json(status, body)
    }
    pub fn raw(status: u16, content_type: &str, body: &str) -> Reply {
        Reply::Raw { status, content_type: content_type.to_string(), body: body.to_string() }
    }
    /// An HTML error page, as a misconfigured proxy in front of the API would send.
    pub fn html(status: u16, body: &str) -> Reply {
        Reply::raw(status, "text/html; charset=utf-8", body)
    }
    pub fn hang() -> Reply {
        Reply::Hang
    }
}

/// A request as received.
#[derive(Debug, Clone)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    /// Form fields in the order sent (empty unless the body is form-encoded).
    pub form: Vec<(String, String)>,
    pub headers: HeaderMap,
    pub body: String,
    pub at: Instant,
}

impl Recorded {
    pub fn field(&self, name: &str) -> Option<&str> {
        self.form.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Scripts {
    post: HashMap<String, Vec<Reply>>,
    get: HashMap<u64, Vec<Reply>>,
    delete: HashMap<u64, Vec<Reply>>,
}

struct Shared {
    scripts: Mutex<Scripts>,
    requests: Mutex<Vec<Recorded>>,
    recorded: Notify,
    next_id: AtomicU64,
}

pub struct ReservationServer {
    port: u16,
    shared: Arc<Shared>,
    // Aborting it drops the JoinSet of connections, which closes hanging requests.
    task: tokio::task::JoinHandle<()>,
}

impl ReservationServer {
    pub async fn start() -> Result<ReservationServer> {
        let shared = Arc::new(Shared {
            scripts: Mutex::default(),
            requests: Mutex::default(),
            recorded: Notify::new(),
            next_id: AtomicU64::new(1),
        });
        let app = Router::new()
            .route("/conference", post(create))
            .route("/conference/{id}", get(read).delete(delete))
            .fallback(unexpected)
            .method_not_allowed_fallback(unexpected)
            .with_state(shared.clone());
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let task = tokio::spawn(serve(listener, app));
        Ok(ReservationServer { port, shared, task })
    }

    pub fn base_url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Replies for `POST /conference` with `name=room` (the room's local part).
    pub fn script_post(&self, room: &str, replies: Vec<Reply>) {
        self.shared.scripts.lock().unwrap().post.insert(room.to_string(), replies);
    }
    /// Replies for `GET /conference/{id}` (default: 404).
    pub fn script_get(&self, id: u64, replies: Vec<Reply>) {
        self.shared.scripts.lock().unwrap().get.insert(id, replies);
    }
    /// Replies for `DELETE /conference/{id}` (default: 200).
    pub fn script_delete(&self, id: u64, replies: Vec<Reply>) {
        self.shared.scripts.lock().unwrap().delete.insert(id, replies);
    }

    /// Snapshot of everything received so far, oldest first.
    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }
    pub fn count(&self, pred: impl Fn(&Recorded) -> bool) -> usize {
        self.shared.requests.lock().unwrap().iter().filter(|r| pred(r)).count()
    }

    /// The first request, received before or during the wait, that matches `pred`.
    pub async fn wait_for(&self, pred: impl Fn(&Recorded) -> bool, timeout: Duration) -> Result<Recorded> {
        let mut matching = self.wait_for_count(pred, 1, timeout).await?;
        Ok(matching.remove(0))
    }

    /// Waits until `n` received requests match `pred`; returns all matching ones.
    pub async fn wait_for_count(
        &self,
        pred: impl Fn(&Recorded) -> bool,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<Recorded>> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register before checking so a request recorded in between still wakes us.
            let recorded = self.shared.recorded.notified();
            tokio::pin!(recorded);
            recorded.as_mut().enable();
            let matching: Vec<Recorded> = self.requests().into_iter().filter(|r| pred(r)).collect();
            if matching.len() >= n {
                return Ok(matching);
            }
            if tokio::time::timeout_at(deadline, recorded).await.is_err() {
                bail!(
                    "{} of {n} expected requests within {timeout:?}; received: {:#?}",
                    matching.len(),
                    self.requests().iter().map(|r| format!("{} {} {:?}", r.method, r.path, r.form)).collect::<Vec<_>>()
                );
            }
        }
    }
}

impl Drop for ReservationServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Accepts connections itself (instead of `axum::serve`) so that they belong to a JoinSet that
/// dies with this task: that is what lets `Reply::Hang` hold a request exactly until drop.
async fn serve(listener: TcpListener, app: Router) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((socket, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        let service = TowerToHyperService::new(app.clone());
        connections.spawn(async move {
            let _ = hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(socket), service).await;
        });
    }
}

/// Pops the next scripted reply; the last one stays to repeat.
fn next_reply<K: std::hash::Hash + Eq>(queues: &mut HashMap<K, Vec<Reply>>, key: &K) -> Option<Reply> {
    let queue = queues.get_mut(key)?;
    match queue.len() {
        0 => None,
        1 => Some(queue[0].clone()),
        _ => Some(queue.remove(0)),
    }
}

fn record(shared: &Shared, method: &Method, uri: &Uri, headers: &HeaderMap, body: &Bytes) -> Recorded {
    let body = String::from_utf8_lossy(body).into_owned();
    let is_form = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|ct| ct.starts_with("application/x-www-form-urlencoded"));
    let form = if is_form { serde_urlencoded::from_str(&body).unwrap_or_default() } else { Vec::new() };
    let recorded = Recorded {
        method: method.to_string(),
        path: uri.path().to_string(),
        query: uri.query().map(str::to_string),
        form,
        headers: headers.clone(),
        body,
        at: Instant::now(),
    };
    shared.requests.lock().unwrap().push(recorded.clone());
    shared.recorded.notify_waiters();
    recorded
}

async fn respond(reply: Reply) -> Response {
    let code = |s: u16| StatusCode::from_u16(s).expect("valid HTTP status in test script");
    match reply {
        Reply::Status(s) => code(s).into_response(),
        Reply::Json(s, body) => (code(s), axum::Json(body)).into_response(),
        Reply::Raw { status, content_type, body } => {
            (code(status), [(header::CONTENT_TYPE, content_type)], body).into_response()
        }
        Reply::Hang => std::future::pending().await,
    }
}

/// `POST /conference`: scripted by room name, else 201 with a fresh reservation.
async fn create(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let req = record(&shared, &method, &uri, &headers, &body);
    let name = req.field("name").unwrap_or_default().to_string();
    let scripted = next_reply(&mut shared.scripts.lock().unwrap().post, &name);
    let reply = scripted.unwrap_or_else(|| {
        let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
        let mut conference = json!({
            "id": id,
            "name": name,
            // Jicofo's format: milliseconds are required.
            "start_time": chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string(),
            "duration": 3600,
        });
        if let Some(owner) = req.field("mail_owner") {
            conference["mail_owner"] = json!(owner);
        }
        Reply::Json(201, conference)
    });
    respond(reply).await
}

/// The next scripted reply for a numeric id in one of the per-id queues.
fn scripted_by_id(
    shared: &Shared,
    id: &str,
    queue: fn(&mut Scripts) -> &mut HashMap<u64, Vec<Reply>>,
) -> Option<Reply> {
    let id: u64 = id.parse().ok()?;
    next_reply(queue(&mut shared.scripts.lock().unwrap()), &id)
}

/// `GET /conference/{id}`: scripted by id, else 404.
async fn read(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&shared, &method, &uri, &headers, &body);
    respond(scripted_by_id(&shared, &id, |s| &mut s.get).unwrap_or(Reply::Status(404))).await
}

/// `DELETE /conference/{id}`: scripted by id, else 200.
async fn delete(
    State(shared): State<Arc<Shared>>,
    Path(id): Path<String>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&shared, &method, &uri, &headers, &body);
    respond(scripted_by_id(&shared, &id, |s| &mut s.delete).unwrap_or(Reply::Status(200))).await
}

/// Anything else is recorded too (a wrong path or method is a bug the test should see): 404.
async fn unexpected(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    record(&shared, &method, &uri, &headers, &body);
    StatusCode::NOT_FOUND.into_response()
}
