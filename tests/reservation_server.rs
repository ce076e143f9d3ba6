//! The reservation server's contract (`POST`/`GET`/`DELETE /conference`) and management API
//! over real HTTP on loopback, with a clock the test sets, each test on SQLite (a temporary
//! file) and on a real PostgreSQL (started per test): called by the focus's own reservation
//! client (`jitsi_focus::runtime::http::ReservationClient` and the core's judge functions,
//! exactly what the focus does) and by requests shaped like Prosody's `mod_reservations` and
//! Jicofo's. Two server instances on one PostgreSQL racing for one room: one opens it, the
//! others get 409 with its id.

mod support;

use std::sync::{Arc, Mutex};

use anyhow::{Context, Result};
use jiff::{SignedDuration, Timestamp};
use jitsi_focus::config::ReservationConfig;
use jitsi_focus::core::reservation::{
    create_form, judge_conflict_fetch, judge_create, judge_delete, path_for, DeleteVerdict, HttpCall, HttpOutcome,
    Method, Verdict,
};
use jitsi_focus::reservations::policy::AdHocPolicy;
use jitsi_focus::reservations::server::{self, AppState};
use jitsi_focus::reservations::store::{NewMeeting, Store};
use jitsi_focus::runtime::http::ReservationClient;
use serde_json::Value;

/// Which database a test runs on.
#[derive(Clone, Copy, Debug)]
enum Backend {
    Sqlite,
    Postgres,
}

/// What keeps a test database alive (dropped after the server).
#[allow(dead_code)]
enum Keep {
    Sqlite(tempfile::TempDir),
    Postgres(support::postgres::Postgres),
}

/// A server on 127.0.0.1 with its own database and a settable clock.
struct Server {
    base_url: String,
    store: Store,
    url: String,
    now: Arc<Mutex<Timestamp>>,
    task: tokio::task::JoinHandle<()>,
    _keep: Keep,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

const T0: &str = "2026-12-01T12:00:00Z";
const TOKEN: &str = "test-token-0123456789";

/// Serves `store` on a free loopback port with the clock `now`; returns the base URL.
async fn serve(
    store: Store,
    ad_hoc: AdHocPolicy,
    now: Arc<Mutex<Timestamp>>,
) -> Result<(String, tokio::task::JoinHandle<()>)> {
    let state = AppState {
        store,
        ad_hoc: Arc::new(ad_hoc),
        ad_hoc_duration: SignedDuration::from_hours(24),
        clock: Arc::new(move || *now.lock().expect("clock")),
        tokens: Arc::new(vec![TOKEN.to_owned()]),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base_url = format!("http://{}", listener.local_addr()?);
    let router = server::router(state);
    let task = tokio::spawn(async move {
        axum::serve(listener, router).await.expect("server");
    });
    Ok((base_url, task))
}

impl Server {
    async fn start(backend: Backend, ad_hoc: AdHocPolicy) -> Result<Server> {
        let (url, keep) = match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir()?;
                (format!("sqlite://{}", dir.path().join("r.db").display()), Keep::Sqlite(dir))
            }
            Backend::Postgres => {
                let pg = support::postgres::Postgres::start().await?;
                (pg.url(), Keep::Postgres(pg))
            }
        };
        let store = Store::connect(&url).await?;
        let now = Arc::new(Mutex::new(T0.parse::<Timestamp>()?));
        let (base_url, task) = serve(store.clone(), ad_hoc, now.clone()).await?;
        Ok(Server { base_url, store, url, now, task, _keep: keep })
    }

    fn set_now(&self, t: &str) {
        *self.now.lock().expect("clock") = t.parse().expect("time");
    }

    fn focus_client(&self) -> Result<ReservationClient> {
        let config = ReservationConfig { enabled: true, base_url: self.base_url.clone(), ..Default::default() };
        Ok(ReservationClient::new(&config)?)
    }

    async fn book(&self, room: &str, start: &str, end: &str, owners: &[&str]) -> Result<i64> {
        let meeting = self
            .store
            .add_meeting(&NewMeeting {
                room: room.into(),
                owners: owners.iter().map(|o| o.to_string()).collect(),
                start: start.parse()?,
                end: end.parse()?,
                time_zone: "Europe/Berlin".into(),
                early_join: SignedDuration::from_mins(10),
                recurrence: None,
                max_participants: Some(25),
                message: None,
            })
            .await?;
        Ok(meeting.id)
    }
}

fn no_ad_hoc() -> AdHocPolicy {
    AdHocPolicy { allow: false, patterns: vec![] }
}

fn focus_now(server: &Server) -> chrono::DateTime<chrono::Utc> {
    let t = *server.now.lock().expect("clock");
    chrono::DateTime::from_timestamp(t.as_second(), 0).expect("time")
}

async fn focus_post(server: &Server, client: &ReservationClient, room: &str, owner: Option<&str>) -> HttpOutcome {
    let call = HttpCall {
        id: 1,
        method: Method::Post,
        path: "/conference".into(),
        form: create_form(room, focus_now(server), owner),
    };
    client.perform(&call).await
}

async fn the_focus_client_opens_adopts_and_deletes(backend: Backend) -> Result<()> {
    let server = Server::start(backend, no_ad_hoc()).await?;
    // Meeting 12:00–13:00 UTC (13:00–14:00 Berlin), early join 10 min; now 12:00.
    server.book("hello", "2026-12-01T12:00:00Z", "2026-12-01T13:00:00Z", &["alice@meet.test"]).await?;
    let client = server.focus_client()?;

    let outcome = focus_post(&server, &client, "hello", Some("alice@meet.test")).await;
    let Verdict::Granted(reservation) = judge_create(&outcome, "hello", 1, 0) else {
        panic!("not granted: {outcome}");
    };
    assert_eq!(reservation.duration.num_seconds(), 3600, "ends with the meeting: {outcome}");
    assert_eq!(reservation.max_occupants, Some(25));
    assert_eq!(reservation.mail_owner.as_deref(), Some("alice@meet.test"));

    // The focus lost its cache (restart): the room is running → 409 → GET → adopted.
    server.set_now("2026-12-01T12:30:00Z");
    let outcome = focus_post(&server, &client, "hello", Some("alice@meet.test")).await;
    let Verdict::Conflict { id, message } = judge_create(&outcome, "hello", 1, 0) else {
        panic!("no conflict: {outcome}");
    };
    assert_eq!(id, reservation.id, "the conflict names the running conference");
    let fetched = client.perform(&HttpCall { id: 2, method: Method::Get, path: path_for(&id), form: vec![] }).await;
    let Verdict::Granted(adopted) = judge_conflict_fetch(&fetched, "hello", &id, message.as_deref(), 1, 0) else {
        panic!("not adopted: {fetched}");
    };
    assert_eq!(adopted.id, reservation.id);

    // The conference ends: DELETE, twice (idempotent); the room can open again.
    let delete = HttpCall { id: 3, method: Method::Delete, path: path_for(&id), form: vec![] };
    assert_eq!(judge_delete(&client.perform(&delete).await), DeleteVerdict::Done);
    assert_eq!(judge_delete(&client.perform(&delete).await), DeleteVerdict::Done);
    let gone = client.perform(&HttpCall { id: 4, method: Method::Get, path: path_for(&id), form: vec![] }).await;
    assert!(matches!(gone, HttpOutcome::Response { status: 404, .. }), "{gone}");
    let again = focus_post(&server, &client, "hello", Some("alice@meet.test")).await;
    let Verdict::Granted(second) = judge_create(&again, "hello", 1, 0) else { panic!("not granted again: {again}") };
    assert_ne!(second.id, reservation.id);
    assert_eq!(second.duration.num_seconds(), 1800, "the rest of the meeting");
    // History: both conferences are kept.
    let all = server.store.conferences(None, Some("hello"), 10).await?;
    assert_eq!(all.len(), 2);
    assert_eq!(all.iter().filter(|c| c.ended_at.is_none()).count(), 1);
    Ok(())
}

async fn refusals_are_403_with_a_text_a_person_reads(backend: Backend) -> Result<()> {
    let server = Server::start(backend, no_ad_hoc()).await?;
    server.book("later", "2026-12-02T13:00:00Z", "2026-12-02T14:00:00Z", &[]).await?;
    server.book("booked", "2026-12-01T11:30:00Z", "2026-12-01T13:00:00Z", &["bob@meet.test"]).await?;
    let client = server.focus_client()?;
    for (room, owner, expected) in [
        ("later", None, "Meeting «later» starts"),
        ("booked", Some("alice@meet.test"), "This room is booked for bob@meet.test"),
        ("nobody", None, "«nobody»"),
    ] {
        let outcome = focus_post(&server, &client, room, owner).await;
        let HttpOutcome::Response { status: 403, body } = &outcome else { panic!("{room}: {outcome}") };
        let json: Value = serde_json::from_str(body)?;
        let message = json["message"].as_str().context("message")?;
        assert!(message.contains(expected), "{room}: {message}");
        let Verdict::Refused(refusal) = judge_create(&outcome, room, 1, 0) else { panic!("{room}: not refused") };
        assert_eq!(refusal.message, message, "the focus passes the text on as it is");
    }
    Ok(())
}

async fn requests_shaped_like_mod_reservations_and_jicofo(backend: Backend) -> Result<()> {
    let server = Server::start(backend, AdHocPolicy { allow: false, patterns: vec!["adhoc-*".into()] }).await?;
    let http = reqwest::Client::new();
    let post = |body: &'static str| {
        http.post(format!("{}/conference", server.base_url))
            .header("content-type", "application/x-www-form-urlencoded; charset=UTF-8")
            .body(body)
            .send()
    };
    // mod_reservations: name, start_time (UTC, .000Z), mail_owner.
    let first = post("name=adhoc-one&start_time=2026-12-01T12%3A00%3A00.000Z&mail_owner=carol%40meet.test").await?;
    assert_eq!(first.status(), 200);
    let json: Value = first.json().await?;
    assert_eq!(json["name"], "adhoc-one");
    assert_eq!(json["mail_owner"], "carol@meet.test");
    assert_eq!(json["start_time"], "2026-12-01T12:00:00.000Z", "milliseconds, as Jicofo's parser needs");
    assert_eq!(json["duration"], 86400, "an ad-hoc conference gets the configured duration");
    let id = json["id"].as_i64().context("numeric id")?;
    // Jicofo: an hour-only offset and duration=-1.
    let second =
        post("name=adhoc-one&mail_owner=carol%40meet.test&start_time=2026-12-01T13%3A00%3A00.000%2B01&duration=-1")
            .await?;
    assert_eq!(second.status(), 409);
    let conflict: Value = second.json().await?;
    assert_eq!(conflict["conflict_id"].as_i64(), Some(id));
    let got = http.get(format!("{}/conference/{id}", server.base_url)).send().await?;
    assert_eq!(got.status(), 200);
    assert_eq!(got.json::<Value>().await?["id"].as_i64(), Some(id));

    // Bad input: 400 with what is wrong, never 500.
    for (body, expected) in [
        ("start_time=2026-12-01T12%3A00%3A00.000Z", "name: missing"),
        ("name=Bad%20Room", "name:"),
        ("name=ok&start_time=tomorrow", "start_time:"),
        ("name=ok&mail_owner=not%20a%20jid", "mail_owner:"),
        ("name=ok&name=again", "name: given more than once"),
        ("name=ok&duration=forever", "duration:"),
    ] {
        let answer = post(body).await?;
        assert_eq!(answer.status(), 400, "{body}");
        let json: Value = answer.json().await?;
        let message = json["message"].as_str().unwrap_or_default();
        assert!(message.starts_with(expected), "{body}: {message}");
    }
    for path in ["/conference/abc", "/conference/-1", "/conference/99999999999999999999"] {
        let answer = http.get(format!("{}{path}", server.base_url)).send().await?;
        assert_eq!(answer.status(), 400, "{path}");
    }
    let answer = http.delete(format!("{}/conference/424242", server.base_url)).send().await?;
    assert_eq!(answer.status(), 404);
    Ok(())
}

/// The management API: a request with the right bearer token, or none.
/// Room names as Jitsi Meet sends them (`getBackendSafeRoomName`: NFKC, lower case, then
/// `encodeURIComponent`, so `Café (Team)!` arrives as `caf%c3%a9-(team)!`), and longer than a
/// booking allows: they cannot be booked, but the contract must still judge them by the ad-hoc
/// policy (200 or a 403 a person reads), not answer 400, which would keep them shut for good.
async fn room_names_as_jitsi_sends_them_are_judged_not_rejected(backend: Backend) -> Result<()> {
    let long = "a".repeat(200);
    let names = ["caf%c3%a9", "caf%c3%a9-(team)!", "%e4%bc%9a%e8%ad%b0", "it~s*fine", long.as_str()];
    for (ad_hoc, expected) in [(AdHocPolicy { allow: true, patterns: vec![] }, 200), (no_ad_hoc(), 403)] {
        let server = Server::start(backend, ad_hoc).await?;
        let http = reqwest::Client::new();
        for name in names {
            let answer = http
                .post(format!("{}/conference", server.base_url))
                .form(&[("name", name), ("start_time", "2026-12-01T12:00:00.000Z")])
                .send()
                .await?;
            assert_eq!(answer.status(), expected, "{name}");
            let json: Value = answer.json().await?;
            if expected == 200 {
                assert_eq!(json["name"], name);
            } else {
                assert!(json["message"].as_str().is_some_and(|m| m.contains("has no meeting booked")), "{json}");
            }
        }
        // What no MUC local part can be is still a 400.
        for name in ["a b", "a@b", "a/b", "x\u{7}y", ""] {
            let answer = http.post(format!("{}/conference", server.base_url)).form(&[("name", name)]).send().await?;
            assert_eq!(answer.status(), 400, "{name:?}");
        }
        let huge = "b".repeat(2000);
        let answer = http.post(format!("{}/conference", server.base_url)).form(&[("name", huge)]).send().await?;
        assert_eq!(answer.status(), 400, "a name longer than an XMPP local part");
    }
    Ok(())
}

/// A standing booking (a room reserved for its owners for years): the `duration` sent is capped,
/// so the focus (which refuses more than ten years as invalid) still opens the room.
async fn a_booking_for_years_still_opens_the_room(backend: Backend) -> Result<()> {
    let server = Server::start(backend, no_ad_hoc()).await?;
    server.book("standing", "2026-12-01T11:00:00Z", "2046-12-01T11:00:00Z", &[]).await?;
    let client = server.focus_client()?;
    let outcome = focus_post(&server, &client, "standing", None).await;
    let Verdict::Granted(reservation) = judge_create(&outcome, "standing", 1, 0) else {
        panic!("not granted: {outcome}");
    };
    assert!(reservation.duration.num_days() >= 365, "{outcome}");
    Ok(())
}

/// Hostile connections: headers sent a byte at a time or never finished, a body that never
/// arrives, a huge body, more idle connections than allowed. Each is cut off by a limit, and the
/// server keeps answering the focus.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_idle_and_huge_requests_are_cut_off() -> Result<()> {
    use std::time::{Duration, Instant};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let dir = tempfile::tempdir()?;
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("r.db").display())).await?;
    let state = AppState {
        store,
        ad_hoc: Arc::new(AdHocPolicy { allow: true, patterns: vec![] }),
        ad_hoc_duration: SignedDuration::from_hours(1),
        clock: server::system_clock(),
        tokens: Arc::new(vec![TOKEN.to_owned()]),
    };
    let limits = jitsi_focus::http_serve::Limits {
        max_connections: 4,
        header_read_timeout: Duration::from_secs(1),
        request_timeout: Duration::from_secs(1),
        max_body_bytes: 1024,
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let address = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(jitsi_focus::http_serve::serve(listener, server::router(state), limits, async move {
        let _ = stopped.await;
    }));
    // Reads until the server closes the connection (or 10 s pass); returns what it said.
    async fn answer_of(mut stream: tokio::net::TcpStream) -> (String, Duration) {
        let started = Instant::now();
        let mut out = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out)).await;
        (String::from_utf8_lossy(&out).into_owned(), started.elapsed())
    }

    // Unfinished headers, and an idle connection: closed after the header deadline.
    let mut partial = tokio::net::TcpStream::connect(address).await?;
    partial.write_all(b"POST /conference HTTP/1.1\r\nHost: x\r\n").await?;
    let idle = tokio::net::TcpStream::connect(address).await?;
    // A body that never comes: 408 after the request deadline.
    let mut slow_body = tokio::net::TcpStream::connect(address).await?;
    slow_body
        .write_all(b"POST /conference HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 100\r\n\r\nname=")
        .await?;
    // Every slot is taken now (4); a fifth client is still served once the others are cut off.
    let mut filler = tokio::net::TcpStream::connect(address).await?;
    filler.write_all(b"GET / HTTP/1.1\r\n").await?;
    let http = reqwest::Client::new();
    let late = tokio::spawn({
        let http = http.clone();
        async move {
            let started = Instant::now();
            let answer = http
                .post(format!("http://{address}/conference"))
                .form(&[("name", "late")])
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .map(|r| r.status().as_u16());
            (answer, started.elapsed())
        }
    });
    for (what, stream) in [("partial headers", partial), ("idle", idle), ("filler", filler)] {
        let (said, took) = answer_of(stream).await;
        assert!(took < Duration::from_secs(5), "{what}: still open after {took:?} ({said:?})");
    }
    let (said, took) = answer_of(slow_body).await;
    assert!(said.starts_with("HTTP/1.1 408"), "slow body: {said:?}");
    assert!(took < Duration::from_secs(5), "slow body: {took:?}");
    let (late, took) = late.await?;
    assert_eq!(late.ok(), Some(200), "the fifth client after {took:?}");

    // A body over the limit: 413, nothing stored.
    let huge = format!("name=big&mail_owner={}", "a".repeat(4096));
    let answer = http.post(format!("http://{address}/conference")).body(huge).send().await?;
    assert_eq!(answer.status(), 413);

    // Shutdown: the server stops accepting and returns.
    let _ = stop.send(());
    tokio::time::timeout(Duration::from_secs(5), task).await???;
    assert!(tokio::net::TcpStream::connect(address).await.is_err(), "still accepting after shutdown");
    Ok(())
}

/// Query filters are input too: a room filter no room can have (a NUL byte, which PostgreSQL
/// cannot even compare) is a 400 naming it, not a database error.
async fn list_filters_are_checked(backend: Backend) -> Result<()> {
    use reqwest::Method;
    let server = Server::start(backend, no_ad_hoc()).await?;
    for path in ["/api/v1/meetings?room=a%00b", "/api/v1/conferences?room=a%00b", "/api/v1/conferences?room=a%20b"] {
        let answer = manage(&server, Method::GET, path, Some(TOKEN)).send().await?;
        assert_eq!(answer.status(), 400, "{path}");
        let json: Value = answer.json().await?;
        assert!(json["message"].as_str().is_some_and(|m| m.starts_with("room:")), "{path}: {json}");
    }
    for path in ["/api/v1/meetings?room=standup", "/api/v1/conferences?room=caf%25c3%25a9"] {
        let answer = manage(&server, Method::GET, path, Some(TOKEN)).send().await?;
        assert_eq!(answer.status(), 200, "{path}");
    }
    Ok(())
}

fn manage(server: &Server, method: reqwest::Method, path: &str, token: Option<&str>) -> reqwest::RequestBuilder {
    let request = reqwest::Client::new().request(method, format!("{}{path}", server.base_url));
    match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    }
}

async fn the_management_api_needs_a_token_and_refuses_bad_input_precisely(backend: Backend) -> Result<()> {
    use reqwest::Method;
    let server = Server::start(backend, no_ad_hoc()).await?;
    for token in [None, Some("wrong-token-0123456789"), Some("test-token-012345678")] {
        let answer = manage(&server, Method::GET, "/api/v1/meetings", token).send().await?;
        assert_eq!(answer.status(), 401, "{token:?}");
    }
    let good = serde_json::json!({
        "room": "standup", "owners": ["alice@meet.test"], "start": "2026-12-01T09:00:00+01:00",
        "duration_seconds": 900, "time_zone": "Europe/Berlin", "early_join_seconds": 300, "every_weeks": 1,
        "max_participants": 8
    });
    let created = manage(&server, Method::POST, "/api/v1/meetings", Some(TOKEN)).json(&good).send().await?;
    assert_eq!(created.status(), 201);
    let meeting: Value = created.json().await?;
    let id = meeting["id"].as_i64().context("id")?;
    assert_eq!(meeting["end"], "2026-12-01T08:15:00Z");
    assert_eq!(meeting["every_weeks"], 1);

    let bad_inputs: Vec<(Value, &str)> = vec![
        (serde_json::json!({"room": "Not A Room", "start": "2026-12-01T09:00:00Z", "duration_seconds": 60}), "room:"),
        (serde_json::json!({"room": "r", "start": "next monday", "duration_seconds": 60}), "start:"),
        (serde_json::json!({"room": "r", "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T08:00:00Z"}), ""),
        (
            serde_json::json!({"room": "r", "start": "2026-12-01T09:00:00Z", "duration_seconds": 60, "owners": ["not a jid"]}),
            "owners:",
        ),
        (
            serde_json::json!({"room": "r", "start": "2026-12-01T09:00:00Z", "duration_seconds": 60, "time_zone": "Mars/Olympus"}),
            "",
        ),
        (
            serde_json::json!({"room": "r", "start": "2026-12-01T09:00:00Z", "duration_seconds": 60, "colour": "red"}),
            "the body is not a meeting",
        ),
        (serde_json::json!({"room": "r", "start": "2026-12-01T09:00:00Z"}), "end: missing"),
        (
            serde_json::json!({"room": "r", "start": "2026-12-01T09:00:00Z", "end": "2026-12-01T10:00:00Z", "duration_seconds": 60}),
            "end and duration_seconds",
        ),
    ];
    for (body, expected) in &bad_inputs {
        let answer = manage(&server, Method::POST, "/api/v1/meetings", Some(TOKEN)).json(body).send().await?;
        assert_eq!(answer.status(), 400, "{body}");
        let json: Value = answer.json().await?;
        let message = json["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty() && message.starts_with(expected), "{body}: {message}");
    }
    let not_json = manage(&server, Method::POST, "/api/v1/meetings", Some(TOKEN)).body("{room:").send().await?;
    assert_eq!(not_json.status(), 400);
    // Nothing half-stored: only the good meeting exists.
    let list: Value =
        manage(&server, Method::GET, "/api/v1/meetings?all=true", Some(TOKEN)).send().await?.json().await?;
    assert_eq!(list.as_array().map(Vec::len), Some(1), "{list}");

    // Change, read, cancel (kept as history), unknown ids.
    let mut changed = good.clone();
    changed["duration_seconds"] = serde_json::json!(1800);
    let put =
        manage(&server, Method::PUT, &format!("/api/v1/meetings/{id}"), Some(TOKEN)).json(&changed).send().await?;
    assert_eq!(put.status(), 200);
    assert_eq!(put.json::<Value>().await?["end"], "2026-12-01T08:30:00Z");
    let cancel = manage(&server, Method::DELETE, &format!("/api/v1/meetings/{id}"), Some(TOKEN)).send().await?;
    assert_eq!(cancel.json::<Value>().await?["cancelled"], true);
    let listed: Value = manage(&server, Method::GET, "/api/v1/meetings", Some(TOKEN)).send().await?.json().await?;
    assert_eq!(listed.as_array().map(Vec::len), Some(0), "cancelled meetings are not listed by default");
    let history: Value =
        manage(&server, Method::GET, "/api/v1/meetings?all=true", Some(TOKEN)).send().await?.json().await?;
    assert_eq!(history.as_array().map(Vec::len), Some(1));
    for (method, path, status) in [
        (Method::GET, "/api/v1/meetings/999", 404),
        (Method::DELETE, "/api/v1/meetings/999", 404),
        (Method::GET, "/api/v1/meetings/abc", 400),
    ] {
        let answer = manage(&server, method.clone(), path, Some(TOKEN)).send().await?;
        assert_eq!(answer.status(), status, "{method} {path}");
    }
    let conferences = manage(&server, Method::GET, "/api/v1/conferences?running=true", Some(TOKEN)).send().await?;
    assert_eq!(conferences.status(), 200);
    Ok(())
}

/// The OpenAPI document: served, equal to the checked-in copy, and every operation in it is a
/// route that exists and asks for the token. `UPDATE_OPENAPI=1` rewrites the copy.
#[tokio::test]
async fn the_openapi_document_matches_the_routes_and_the_checked_in_copy() -> Result<()> {
    let server = Server::start(Backend::Sqlite, no_ad_hoc()).await?;
    let served = reqwest::get(format!("{}/api/v1/openapi.json", server.base_url)).await?.text().await?;
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/reservations-openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        std::fs::write(&path, format!("{served}\n"))?;
    }
    let checked_in =
        std::fs::read_to_string(&path).with_context(|| format!("{} (UPDATE_OPENAPI=1 writes it)", path.display()))?;
    assert_eq!(
        checked_in.trim_end(),
        served.trim_end(),
        "docs/reservations-openapi.json is stale: run with UPDATE_OPENAPI=1"
    );
    let doc: Value = serde_json::from_str(&served)?;
    let paths = doc["paths"].as_object().context("paths")?;
    let mut operations = 0;
    for (path, item) in paths {
        for method in item.as_object().context("path item")?.keys() {
            let concrete = path.replace("{id}", "1");
            let method = reqwest::Method::from_bytes(method.to_uppercase().as_bytes())?;
            let answer = manage(&server, method.clone(), &concrete, None).send().await?;
            assert_eq!(answer.status(), 401, "{method} {path}: a documented route must exist and need the token");
            operations += 1;
        }
    }
    assert_eq!(operations, 6, "{paths:?}");
    Ok(())
}

/// Server instances on one database race for one new room: exactly one opens it, every other
/// gets 409 naming that conference. On PostgreSQL two instances (two pools), as behind a load
/// balancer; on SQLite the one instance.
async fn instances_racing_for_a_room_open_it_once(backend: Backend) -> Result<()> {
    let first = Server::start(backend, AdHocPolicy { allow: true, patterns: vec![] }).await?;
    let mut bases = vec![first.base_url.clone()];
    let mut _second = None;
    if let Backend::Postgres = backend {
        let store = Store::connect(&first.url).await?;
        let (base_url, task) = serve(store, AdHocPolicy { allow: true, patterns: vec![] }, first.now.clone()).await?;
        bases.push(base_url);
        _second = Some(AbortOnDrop(task));
    }
    let http = reqwest::Client::new();
    let posts = (0..20).map(|i| {
        let url = format!("{}/conference", bases[i % bases.len()]);
        let http = http.clone();
        tokio::spawn(async move {
            let answer =
                http.post(url).form(&[("name", "raced"), ("start_time", "2026-12-01T12:00:00.000Z")]).send().await?;
            let status = answer.status().as_u16();
            let json: Value = answer.json().await?;
            anyhow::Ok((status, json))
        })
    });
    let mut opened = Vec::new();
    let mut conflicts = Vec::new();
    for post in posts.collect::<Vec<_>>() {
        let (status, json) = post.await??;
        match status {
            200 => opened.push(json["id"].as_i64().context("id")?),
            409 => conflicts.push(json["conflict_id"].as_i64().context("conflict_id")?),
            other => panic!("HTTP {other}: {json}"),
        }
    }
    assert_eq!(opened.len(), 1, "opened {opened:?}");
    assert_eq!(conflicts.len(), 19);
    assert!(conflicts.iter().all(|id| *id == opened[0]), "every 409 names the one running conference: {conflicts:?}");
    Ok(())
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Each case once per backend: `on_sqlite::NAME` and `on_postgres::NAME`.
macro_rules! on_both_backends {
    ($($case:ident),* $(,)?) => {
        mod on_sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() -> anyhow::Result<()> {
                    super::$case(super::Backend::Sqlite).await
                }
            )*
        }
        mod on_postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() -> anyhow::Result<()> {
                    super::$case(super::Backend::Postgres).await
                }
            )*
        }
    };
}

on_both_backends!(
    the_focus_client_opens_adopts_and_deletes,
    refusals_are_403_with_a_text_a_person_reads,
    requests_shaped_like_mod_reservations_and_jicofo,
    room_names_as_jitsi_sends_them_are_judged_not_rejected,
    a_booking_for_years_still_opens_the_room,
    list_filters_are_checked,
    the_management_api_needs_a_token_and_refuses_bad_input_precisely,
    instances_racing_for_a_room_open_it_once,
);
