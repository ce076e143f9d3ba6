//! End to end with the real client: lib-jitsi-meet (npm lib-jitsi-meet-dist 2.1.5) in Debian's
//! headless Chromium, over BOSH and WebSocket, against a real Prosody, a real reservation HTTP
//! server and jitsi-focus. The browser is driven by tests/e2e/driver.js (playwright-core).

mod harness;
mod support;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use harness::{config, reservation, Focus};
use serde_json::{json, Value};
use support::{Prosody, ProsodyOptions, Reply, ReservationServer, TestClient, AUTH_DOMAIN, DEFAULT_TIMEOUT};

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

struct Stack {
    prosody: Prosody,
    api: ReservationServer,
    _focus: Focus,
}

async fn stack(auth: &str) -> Result<Stack> {
    let options = ProsodyOptions { restrict_room_creation: true, ..Default::default() }.with_user("alice", "alice-pw");
    let prosody = Prosody::start(options).await?;
    let api = ReservationServer::start().await?;
    let focus = Focus::start(config(prosody.component_port(), &format!("{}{auth}", reservation(&api.base_url()))));
    harness::wait_focus_online(&TestClient::anonymous(prosody.c2s_port()).await?).await?;
    Ok(Stack { prosody, api, _focus: focus })
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

async fn granted_room_is_joined_with_the_focus_as_owner_and_leaving_deletes(
    transport: Transport,
    room: &str,
) -> Result<()> {
    let s = stack("").await?;
    let start = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    s.api.script_post(
        room,
        vec![Reply::json(201, json!({"id": 808, "name": room, "start_time": start, "duration": 3600}))],
    );
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
    s.api.wait_for(|r| r.method == "DELETE" && r.path == "/conference/808", DEFAULT_TIMEOUT).await?;
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
async fn bosh_granted_room_is_joined_and_leaving_deletes_the_reservation() -> Result<()> {
    granted_room_is_joined_with_the_focus_as_owner_and_leaving_deletes(Transport::Bosh, "granted-bosh").await
}

#[tokio::test]
async fn websocket_granted_room_is_joined_and_leaving_deletes_the_reservation() -> Result<()> {
    granted_room_is_joined_with_the_focus_as_owner_and_leaving_deletes(Transport::WebSocket, "granted-ws").await
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

#[tokio::test]
async fn after_sign_in_the_user_is_moderator_and_a_guest_is_participant() -> Result<()> {
    let s = stack(SIGN_IN).await?;
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
    Ok(())
}
