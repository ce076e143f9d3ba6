//! End to end with the real client: lib-jitsi-meet (npm lib-jitsi-meet-dist 2.1.5) in Debian's
//! headless Chromium, over BOSH and WebSocket, against a real Prosody, jitsi-focus and a
//! reservation server. The browser is driven by tests/e2e/driver.js (playwright-core).
//!
//! Rooms that are simply granted, and the plain refusal of a room nobody booked, go through the
//! real reservation server (`jitsi-reservations serve`, spawned with a SQLite file: meetings
//! booked with its CLI, or its ad-hoc policy). Tests that need an answer the real server never
//! gives (a refusal text full of markup, no request at all) use the scripted server
//! (`tests/support/reservation.rs`).

mod harness;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use harness::{config, reservation, Focus};
use serde_json::{json, Value};
use support::{
    Prosody, ProsodyOptions, Reply, ReservationServer, ReservationsOptions, ReservationsServer, TestClient,
    AUTH_DOMAIN, DEFAULT_TIMEOUT,
};

/// One Chromium at a time: each needs a core and ~150 MB, and the machine has two cores.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const E2E_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e");

#[derive(Clone, Copy, Debug)]
enum Transport {
    Bosh,
    WebSocket,
}

impl Transport {
    fn url(self, prosody: &Prosody) -> String {
        match self {
            Transport::Bosh => prosody.bosh_url(),
            Transport::WebSocket => prosody.websocket_url(),
        }
    }
}

/// Fails loudly (never skips) when the browser stack is missing.
fn check_browser_stack() -> Result<()> {
    let hint = "run scripts/test.sh (or scripts/install-deps.sh) to install it";
    ensure!(Path::new("/usr/bin/chromium").exists(), "Chromium is not installed: {hint}");
    ensure!(
        Path::new(E2E_DIR).join("node_modules/playwright-core").is_dir(),
        "tests/e2e/node_modules is missing: {hint}"
    );
    ensure!(std::process::Command::new("node").arg("--version").output().is_ok(), "node is not installed: {hint}");
    Ok(())
}

/// Runs the driver; returns its JSON result when the expectation held.
async fn drive(args: &[&str]) -> Result<Value> {
    check_browser_stack()?;
    let _one_at_a_time = BROWSER.lock().await;
    let out: PathBuf = tempfile::Builder::new().prefix("e2e-").suffix(".json").tempfile()?.into_temp_path().keep()?;
    let output = tokio::process::Command::new("node")
        .arg(Path::new(E2E_DIR).join("driver.js"))
        .args(args)
        .arg("--out")
        .arg(&out)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), output).await.context("driver hung")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let verdict = stdout.lines().last().unwrap_or_default().to_owned();
    println!("{verdict}");
    if !output.status.success() {
        bail!(
            "driver {args:?} failed ({}): {verdict}\nstderr: {}\nresult: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            out.display()
        );
    }
    let result = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
    // E2E_KEEP=DIR keeps every driver result (events, raw XMPP traffic) for inspection.
    match std::env::var_os("E2E_KEEP") {
        Some(dir) => drop(std::fs::rename(&out, Path::new(&dir).join(out.file_name().unwrap_or_default()))),
        None => drop(std::fs::remove_file(&out)),
    }
    Ok(result)
}

/// Prosody, a reservation API (`A`: the scripted one or the real server) and the focus using it.
struct Stack<A> {
    prosody: Prosody,
    api: A,
    _focus: Focus,
}

async fn stack_with<A>(auth: &str, api: A, base_url: &str) -> Result<Stack<A>> {
    let options = ProsodyOptions { restrict_room_creation: true, ..Default::default() }.with_user("alice", "alice-pw");
    let prosody = Prosody::start(options).await?;
    let focus = Focus::start(config(prosody.component_port(), &format!("{}{auth}", reservation(base_url))));
    harness::wait_focus_online(&TestClient::anonymous(prosody.c2s_port()).await?).await?;
    Ok(Stack { prosody, api, _focus: focus })
}

/// With the scripted reservation API.
async fn stack(auth: &str) -> Result<Stack<ReservationServer>> {
    let api = ReservationServer::start().await?;
    let base_url = api.base_url();
    stack_with(auth, api, &base_url).await
}

/// With the real reservation server (`jitsi-reservations serve`).
async fn real_stack(auth: &str, options: ReservationsOptions) -> Result<Stack<ReservationsServer>> {
    let api = ReservationsServer::start(options).await?;
    let base_url = api.base_url();
    stack_with(auth, api, &base_url).await
}

/// The driver's expectation for a refusal with [`MESSAGE`].
const REFUSED: [&str; 8] = [
    "--expect",
    "failed",
    "--expect-error",
    "conference.reservationError",
    "--expect-code",
    "403",
    "--expect-message",
    MESSAGE,
];

const MESSAGE: &str = "Der Raum „Ünïcødé“ ist nicht gebucht <b>bitte</b> & reservieren → https://example.test/?a=1&b=2";

async fn refused_room_shows_the_api_message(transport: Transport, room: &str) -> Result<()> {
    let s = stack("").await?;
    s.api.script_post(room, vec![Reply::json(403, json!({ "message": MESSAGE }))]);
    let service = transport.url(&s.prosody);
    let mut args = vec!["--service", &service, "--room", room];
    args.extend(REFUSED);
    let result = drive(&args).await?;
    assert_eq!(result["outcome"]["message"], MESSAGE);
    Ok(())
}

/// How the real reservation server grants the room.
#[derive(Clone, Copy, Debug)]
enum Grant {
    /// A meeting booked with the CLI, open now.
    Meeting,
    /// No meeting; the server's `policy.ad_hoc = true`.
    AdHoc,
}

async fn granted_room_is_joined_with_the_focus_as_owner_and_leaving_deletes(
    transport: Transport,
    room: &str,
    grant: Grant,
) -> Result<()> {
    let s = real_stack("", ReservationsOptions { ad_hoc: matches!(grant, Grant::AdHoc), ..Default::default() }).await?;
    let meeting = match grant {
        Grant::Meeting => Some(s.api.book_now(room, &[]).await?),
        Grant::AdHoc => None,
    };
    let service = transport.url(&s.prosody);
    let result =
        drive(&["--service", &service, "--room", room, "--expect", "joined", "--expect-role", "moderator", "--leave"])
            .await?;
    let focus = result["roomMembers"]
        .as_array()
        .context("roomMembers")?
        .iter()
        .find(|m| m["isFocus"] == true)
        .with_context(|| format!("the client did not recognise a focus: {}", result["roomMembers"]))?;
    assert_eq!(focus["affiliation"], "owner");
    assert_eq!(focus["jid"], "focus.meet.test/focus");
    // Leaving ended the conference: the focus's DELETE reached the server, which closed it and
    // keeps it as history.
    let ended = s.api.wait_for_event("conference ended", &[("room", room)], DEFAULT_TIMEOUT).await?;
    let conferences = s.api.conferences(room).await?;
    assert_eq!(conferences.len(), 1, "{conferences:?}");
    let conference = &conferences[0];
    assert_eq!(ended["fields"]["id"], conference["id"]);
    assert!(conference["ended_at"].is_string(), "{conference}");
    assert_eq!(conference["meeting_id"], json!(meeting));
    // The anonymous user's bare JID, as the focus sends it.
    let owner = conference["mail_owner"].as_str().with_context(|| format!("no mail_owner: {conference}"))?;
    assert!(owner.ends_with("@meet.test") && !owner.contains('/'), "{owner}");
    Ok(())
}

#[tokio::test]
async fn bosh_refused_room_shows_the_reservation_message() -> Result<()> {
    refused_room_shows_the_api_message(Transport::Bosh, "refused-bosh").await
}

#[tokio::test]
async fn websocket_refused_room_shows_the_reservation_message() -> Result<()> {
    refused_room_shows_the_api_message(Transport::WebSocket, "refused-ws").await
}

#[tokio::test]
async fn bosh_booked_room_is_joined_and_leaving_ends_the_conference() -> Result<()> {
    granted_room_is_joined_with_the_focus_as_owner_and_leaving_deletes(Transport::Bosh, "granted-bosh", Grant::Meeting)
        .await
}

#[tokio::test]
async fn websocket_ad_hoc_room_is_joined_and_leaving_ends_the_conference() -> Result<()> {
    granted_room_is_joined_with_the_focus_as_owner_and_leaving_deletes(Transport::WebSocket, "granted-ws", Grant::AdHoc)
        .await
}

/// The real server's refusal of a room nobody booked reaches the user as its text.
#[tokio::test]
async fn bosh_unbooked_room_shows_the_reservation_servers_refusal() -> Result<()> {
    let s = real_stack("", ReservationsOptions::default()).await?;
    // Booked elsewhere only: this room stays unbooked.
    s.api.book_now("elsewhere", &[]).await?;
    let service = s.prosody.bosh_url();
    let text = "Room «unbooked» has no meeting booked";
    let result = drive(&[
        "--service",
        &service,
        "--room",
        "unbooked",
        "--expect",
        "failed",
        "--expect-error",
        "conference.reservationError",
        "--expect-code",
        "403",
        "--expect-message",
        text,
    ])
    .await?;
    assert_eq!(result["outcome"]["message"], text);
    assert!(s.api.conferences("unbooked").await?.is_empty());
    Ok(())
}

/// Sign-in deployment: users on auth.meet.test, guests anonymous on meet.test.
fn sign_in_args<'a>(service: &'a str, room: &'a str) -> Vec<&'a str> {
    vec!["--service", service, "--room", room, "--domain", AUTH_DOMAIN, "--anonymous-domain", "meet.test"]
}

const SIGN_IN: &str = "[auth]\nmode = \"xmpp\"\ndomain = \"auth.meet.test\"\n";

#[tokio::test]
async fn a_guest_opening_a_room_must_sign_in() -> Result<()> {
    let s = stack(SIGN_IN).await?;
    let service = s.prosody.bosh_url();
    let mut args = sign_in_args(&service, "guestonly");
    args.extend(["--expect", "failed", "--expect-error", "conference.authenticationRequired"]);
    drive(&args).await?;
    assert_eq!(s.api.count(|_| true), 0);
    Ok(())
}

#[tokio::test]
async fn after_sign_in_a_refusal_is_a_reservation_error_not_a_session_error() -> Result<()> {
    let s = stack(SIGN_IN).await?;
    s.api.script_post("signedin", vec![Reply::json(403, json!({ "message": MESSAGE }))]);
    let service = s.prosody.bosh_url();
    let mut args = sign_in_args(&service, "signedin");
    args.extend(["--login", "alice@auth.meet.test:alice-pw"]);
    args.extend(REFUSED);
    let result = drive(&args).await?;
    assert_eq!(result["preLoginOutcome"]["error"], "conference.authenticationRequired");
    // The login itself succeeded: no authenticationError (what users saw as GET_SESSION_ID_ERROR).
    assert_ne!(result["login"]["state"], "rejected", "login: {}", result["login"]);
    let post = s.api.wait_for(|r| r.method == "POST", DEFAULT_TIMEOUT).await?;
    assert_eq!(post.field("mail_owner"), Some("alice@auth.meet.test"));
    Ok(())
}

/// The meeting is booked for alice only: it opens because the focus sends the signed-in user's
/// JID as `mail_owner`, and the real server checks it.
#[tokio::test]
async fn after_sign_in_the_user_is_moderator_and_a_guest_is_participant() -> Result<()> {
    let s = real_stack(SIGN_IN, ReservationsOptions::default()).await?;
    let meeting = s.api.book_now("signedjoin", &["alice@auth.meet.test"]).await?;
    let service = s.prosody.bosh_url();
    let mut args = sign_in_args(&service, "signedjoin");
    args.extend([
        "--login",
        "alice@auth.meet.test:alice-pw",
        "--expect",
        "joined",
        "--expect-role",
        "moderator",
        "--expect-second-role",
        "participant",
        "--leave",
    ]);
    drive(&args).await?;
    let started = s.api.wait_for_event("conference started", &[("room", "signedjoin")], DEFAULT_TIMEOUT).await?;
    let conferences = s.api.conferences("signedjoin").await?;
    assert_eq!(conferences.len(), 1, "{conferences:?}");
    assert_eq!(conferences[0]["id"], started["fields"]["id"]);
    assert_eq!(conferences[0]["meeting_id"], meeting);
    assert_eq!(conferences[0]["mail_owner"], "alice@auth.meet.test");
    Ok(())
}
