//! The demo page (`demo/`) end to end: the real `demo/server.js` serves the conference page,
//! which runs the Unified-Plan Jitsi client (`@lyno/lib-jitsi-meet` 2.6726.2) in Debian's
//! headless Chromium (fake camera and microphone) against a real Prosody, a test bridge
//! (`tests/test-bridge`) and jitsi-focus with `[bridges]`. The browser is driven by
//! `tests/e2e/demo-driver.js` (playwright-core), one browser context per tab.
//!
//! - `two_tabs_see_each_other`: two tabs open one room; each shows exactly one remote tile whose
//!   `<video>` presents frames, more and more of them, and lists the other participant; a
//!   screenshot of the first tab is saved (`target/demo-screenshot.png`, or `$DEMO_SCREENSHOT`);
//!   when the second tab leaves, its tile and list entry go from the first.
//! - `reservation_refusal_is_shown`: the reservation API refuses the room with 403 and a
//!   message; the page shows that message, as text (`target/demo-refusal-screenshot.png`).
//! - `server_answers_odd_requests`: the server's routes, path traversal, bad room names and
//!   malformed HTTP, and a loud refusal to start without the client libraries.

mod harness;
mod support;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use jitsi_test_bridge::{TestBridge, TestBridgeConfig};
use serde_json::{json, Value};
use support::{
    Prosody, ProsodyOptions, Reply, ReservationServer, TestClient, DOMAIN, FOCUS_DOMAIN, INTERNAL_MUC_DOMAIN,
    MUC_DOMAIN,
};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

/// One Chromium at a time: two tabs' video encoders and decoders fill the machine's two cores.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const LYNO: &str = "tests/e2e/vendor/lyno-lib-jitsi-meet-2.6726.2";

const HINT: &str = "run scripts/install-deps.sh (scripts/test.sh does) to install it";

/// Fails loudly (never skips) when node is missing.
fn check_node() -> Result<()> {
    ensure!(std::process::Command::new("node").arg("--version").output().is_ok(), "node is not installed: {HINT}");
    Ok(())
}

/// Fails loudly (never skips) when anything of the browser stack is missing.
fn check_browser_stack() -> Result<()> {
    let hint = HINT;
    let root = Path::new(ROOT);
    ensure!(Path::new("/usr/bin/chromium").exists(), "Chromium is not installed: {hint}");
    check_node()?;
    for module in ["playwright-core", "jquery-3.6"] {
        let dir = root.join("tests/e2e/node_modules").join(module);
        ensure!(dir.is_dir(), "tests/e2e/node_modules/{module} is missing: {hint}");
    }
    ensure!(root.join(LYNO).join("PATCHED").is_file(), "{LYNO} is missing or not patched: {hint}");
    Ok(())
}

/// `node demo/server.js` on a free loopback port; killed when dropped.
struct DemoServer {
    _child: tokio::process::Child,
    /// `http://127.0.0.1:PORT/`
    url: String,
}

impl DemoServer {
    async fn start(service: &str) -> Result<DemoServer> {
        let mut child = tokio::process::Command::new("node")
            .arg(Path::new(ROOT).join("demo/server.js"))
            .args(["--port", "0", "--service", service, "--domain", DOMAIN, "--muc", MUC_DOMAIN, "--focus"])
            .arg(FOCUS_DOMAIN)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting node demo/server.js")?;
        let stdout = child.stdout.take().context("the demo server's stdout")?;
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(20), lines.next_line())
            .await
            .context("the demo server did not say it was listening within 20 s")??
            .context("the demo server exited before listening (its stderr is above)")?;
        let url = line.strip_prefix("listening ").with_context(|| format!("unexpected first line: {line}"))?;
        ensure!(url.starts_with("http://127.0.0.1:") && url.ends_with('/'), "unexpected address: {line}");
        Ok(DemoServer { _child: child, url: url.to_owned() })
    }

    fn port(&self) -> Result<u16> {
        let port = self.url.trim_start_matches("http://127.0.0.1:").trim_end_matches('/');
        port.parse().with_context(|| format!("port of {}", self.url))
    }
}

/// Prosody, a test bridge in the brewery, jitsi-focus (with the reservation API when given)
/// and the demo server in front of Prosody's BOSH.
struct Stack {
    _prosody: Prosody,
    _bridge: TestBridge,
    _focus: harness::Focus,
    demo: DemoServer,
}

async fn stack(api: Option<&ReservationServer>) -> Result<Stack> {
    let prosody = Prosody::start(ProsodyOptions { restrict_room_creation: true, ..Default::default() }).await?;
    let brewery = format!("jvbbrewery@{INTERNAL_MUC_DOMAIN}");
    let bridge_config = TestBridgeConfig::new(format!("127.0.0.1:{}", prosody.c2s_port()), DOMAIN, &brewery, "jvb-1");
    let bridge = TestBridge::start(bridge_config).await?;
    let mut extra = format!("[bridges]\nbrewery = \"{brewery}\"\n");
    if let Some(api) = api {
        extra.push_str(&harness::reservation(&api.base_url()));
    }
    let focus = harness::Focus::start(harness::config(prosody.component_port(), &extra));
    // The page's conference request must find the focus connected (else Prosody answers it).
    harness::wait_focus_online(&TestClient::anonymous(prosody.c2s_port()).await?).await?;
    let demo = DemoServer::start(&prosody.bosh_url()).await?;
    Ok(Stack { _prosody: prosody, _bridge: bridge, _focus: focus, demo })
}

/// Runs the demo driver; returns its JSON result when every check held.
async fn drive(args: &[String]) -> Result<Value> {
    let out: PathBuf = tempfile::Builder::new().prefix("demo-").suffix(".json").tempfile()?.into_temp_path().keep()?;
    let output = tokio::process::Command::new("node")
        .arg(Path::new(ROOT).join("tests/e2e/demo-driver.js"))
        .args(args)
        .arg("--out")
        .arg(&out)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), output).await.context("demo driver hung")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    for line in stdout.lines() {
        println!("{line}");
    }
    let verdict = stdout.lines().last().unwrap_or_default().to_owned();
    if !output.status.success() {
        bail!(
            "demo driver {args:?} failed ({}): {verdict}\nstderr: {}\nresult: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            out.display()
        );
    }
    let result = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
    // E2E_KEEP=DIR keeps the driver's result (page states, console) for inspection.
    match std::env::var_os("E2E_KEEP") {
        Some(dir) => drop(std::fs::rename(&out, Path::new(&dir).join(out.file_name().unwrap_or_default()))),
        None => drop(std::fs::remove_file(&out)),
    }
    Ok(result)
}

/// Width and height from a PNG's IHDR chunk, after checking the signature.
fn png_size(data: &[u8]) -> Result<(u32, u32)> {
    ensure!(data.len() > 24 && data.starts_with(b"\x89PNG\r\n\x1a\n") && &data[12..16] == b"IHDR", "not a PNG");
    let be = |at: usize| u32::from_be_bytes([data[at], data[at + 1], data[at + 2], data[at + 3]]);
    Ok((be(16), be(20)))
}

fn screenshot_path() -> PathBuf {
    std::env::var_os("DEMO_SCREENSHOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(ROOT).join("target/demo-screenshot.png"))
}

/// Removes a screenshot left by an earlier run, so that it cannot pass for this run's.
fn fresh_screenshot(path: &Path) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    match std::fs::remove_file(path) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(e.into()),
        _ => Ok(()),
    }
}

/// The screenshot exists, is a 1280x720 PNG and is bigger than flat colour compresses to.
fn check_screenshot(path: &Path, min_bytes: usize) -> Result<()> {
    let png = std::fs::read(path).with_context(|| format!("no screenshot at {}", path.display()))?;
    assert_eq!(png_size(&png)?, (1280, 720), "{}", path.display());
    assert!(png.len() > min_bytes, "{} is only {} bytes", path.display(), png.len());
    println!("screenshot: {} ({} bytes)", path.display(), png.len());
    Ok(())
}

#[tokio::test]
async fn two_tabs_see_each_other() -> Result<()> {
    check_browser_stack()?;
    let _one_at_a_time = BROWSER.lock().await;
    let s = stack(None).await?;
    let screenshot = screenshot_path();
    fresh_screenshot(&screenshot)?;
    // The room the README tells people to open, so that docs/demo.png shows what they will see.
    let url = format!("{}hello", s.demo.url);
    let args = vec![
        "--url".to_owned(),
        url,
        "--tabs".to_owned(),
        "2".to_owned(),
        "--screenshot".to_owned(),
        screenshot.display().to_string(),
    ];
    let result = drive(&args).await?;

    let tabs = result["tabs"].as_array().context("tabs")?;
    ensure!(tabs.len() == 2, "{} tabs in the result", tabs.len());
    let ids: Vec<&str> = tabs.iter().map(|t| t["call"]["endpointId"].as_str().unwrap_or_default()).collect();
    ensure!(ids.iter().all(|id| !id.is_empty()) && ids[0] != ids[1], "endpoint ids {ids:?}");
    for (i, tab) in tabs.iter().enumerate() {
        let other = ids[1 - i];
        let call = &tab["call"];
        assert_eq!(call["joined"], true, "tab {i}: {call}");
        assert_eq!(call["errors"], json!([]), "tab {i} shows errors");
        // Exactly one remote tile: the other tab's, playing.
        let tiles = call["tiles"].as_array().context("tiles")?;
        assert_eq!(tiles.len(), 1, "tab {i}: {tiles:?}");
        let tile = &tiles[0];
        assert_eq!(tile["participantId"], other, "tab {i}: {tile}");
        assert_eq!(tile["playing"], true, "tab {i}: {tile}");
        assert!(tile["hasVideoTrack"] == true && tile["hasAudioTrack"] == true, "tab {i}: {tile}");
        // Its sound has an <audio> element of its own, playing (headless Chromium lets it).
        assert_eq!(tile["audioPlaying"], true, "tab {i}: {tile}");
        // Frames presented, and more of them later: the video moves.
        let before = tab["framesBefore"].as_u64().context("framesBefore")?;
        let after = tab["framesAfter"].as_u64().context("framesAfter")?;
        assert!(before > 0 && after > before, "tab {i}: frames {before} then {after}");
        // The other participant is in the list.
        let listed = call["participants"].as_array().context("participants")?;
        assert!(listed.iter().any(|p| p["id"] == other && p["me"] == false), "tab {i} lists {listed:?}");
        println!(
            "tab {}: first remote frame {} ms after joining ({} ms after the other participant's tile appeared)",
            i + 1,
            tab["firstRemoteFrameAfterJoinMs"],
            tab["firstRemoteFrameAfterTileMs"]
        );
    }
    // When the second tab leaves, the first drops its tile and its list entry.
    let after_leave = &result["afterLeave"];
    assert_eq!(after_leave["tiles"], json!([]), "{after_leave}");
    let listed = after_leave["participants"].as_array().context("participants after leave")?;
    assert!(listed.iter().all(|p| p["id"] != ids[1]), "still listed after leaving: {listed:?}");

    // A page of flat colour compresses to a few kilobytes; two video tiles do not.
    check_screenshot(&screenshot, 30_000)
}

/// What the reservation API answers for the refused room: markup and quotes must reach the
/// user as text.
const MESSAGE: &str =
    "Room “demo-refused” is not booked <b>yet</b> & needs a reservation → https://example.test/?a=1&b=2";

#[tokio::test]
async fn reservation_refusal_is_shown() -> Result<()> {
    check_browser_stack()?;
    let _one_at_a_time = BROWSER.lock().await;
    let api = ReservationServer::start().await?;
    let room = "demo-refused";
    api.script_post(room, vec![Reply::json(403, json!({ "message": MESSAGE }))]);
    let s = stack(Some(&api)).await?;
    let screenshot = Path::new(ROOT).join("target/demo-refusal-screenshot.png");
    fresh_screenshot(&screenshot)?;
    let args = vec![
        "--url".to_owned(),
        format!("{}{room}", s.demo.url),
        "--tabs".to_owned(),
        "1".to_owned(),
        "--expect-error".to_owned(),
        MESSAGE.to_owned(),
        "--screenshot".to_owned(),
        screenshot.display().to_string(),
    ];
    let result = drive(&args).await?;
    let tab = &result["tabs"][0];
    // The message as the page shows it (the DOM's text), with the code.
    let shown = tab["errorText"].as_str().context("errorText")?;
    assert!(shown.contains(MESSAGE), "the page shows {shown:?}");
    assert!(shown.contains("403"), "no code in {shown:?}");
    let state = &tab["state"];
    assert_eq!(state["joined"], false, "{state}");
    assert_eq!(state["phase"], "failed", "{state}");
    assert_eq!(state["tiles"], json!([]), "{state}");
    // The focus asked the API about this room, once.
    let posts = api.count(|r| r.method == "POST" && r.field("name") == Some(room));
    assert_eq!(posts, 1, "POSTs for {room}: {:?}", api.requests());
    // For people: the page as the refused user sees it (the local preview and the message).
    check_screenshot(&screenshot, 10_000)
}

/// Sends raw bytes as one HTTP request and returns the status code and the whole answer.
async fn raw_request(port: u16, request: &[u8]) -> Result<(u16, String)> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
    stream.write_all(request).await?;
    let mut answer = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await.context("no answer")??;
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer
        .split(' ')
        .nth(1)
        .and_then(|code| code.parse().ok())
        .with_context(|| format!("no status line in {answer:?}"))?;
    Ok((status, answer))
}

async fn get(port: u16, target: &str) -> Result<(u16, String)> {
    raw_request(port, format!("GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n").as_bytes()).await
}

#[tokio::test]
async fn server_answers_odd_requests() -> Result<()> {
    check_node()?;
    let service = "http://127.0.0.1:5280/http-bind";
    let demo = DemoServer::start(service).await?;
    let port = demo.port()?;

    let (status, body) = get(port, "/").await?;
    assert!(status == 200 && body.contains("<form"), "landing page: {status}");
    let (status, body) = get(port, "/some.room_1-x").await?;
    assert!(status == 200 && body.contains("/static/demo.js"), "conference page: {status}");
    assert!(body.contains("content-security-policy:"), "no CSP on the conference page");
    let (status, body) = get(port, "/?room=hello").await?;
    assert!(status == 303 && body.contains("location: /hello\r\n"), "form redirect: {body}");
    let (status, body) = get(port, "/config.js").await?;
    assert_eq!(status, 200);
    for expected in [service, DOMAIN, MUC_DOMAIN, FOCUS_DOMAIN] {
        assert!(body.contains(&format!("\"{expected}\"")), "config.js lacks {expected}: {body}");
    }
    for asset in ["/static/demo.js", "/static/demo.css", "/vendor/jquery.min.js", "/vendor/lib-jitsi-meet.min.js"] {
        assert_eq!(get(port, asset).await?.0, 200, "{asset}");
    }

    // Room names: lower case, at most 64 characters; a clear 400 page otherwise.
    let (status, body) = get(port, "/Hello").await?;
    assert!(status == 400 && body.contains("Room names are") && body.contains("/hello"), "{status} {body}");
    assert_eq!(get(port, &format!("/{}", "a".repeat(65))).await?.0, 400);
    let (status, body) = get(port, "/?room=%3Cscript%3E").await?;
    assert!(status == 400 && body.contains("&lt;script&gt;") && !body.contains("<script>"), "{body}");

    // Nothing outside demo/ (nor the server's own source), however the path is spelt.
    for target in [
        "/static/../Cargo.toml",
        "/static/%2e%2e/Cargo.toml",
        "/static/..%2fCargo.toml",
        "/static/%2fetc%2fpasswd",
        "/static/server.js",
        "/static/",
        "/static/x%00.js",
        "/vendor/",
        "/a/b",
        "//hello",
        "/%ff",
        "/favicon.ico",
    ] {
        assert_eq!(get(port, target).await?.0, 404, "{target}");
    }
    assert_eq!(
        raw_request(port, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").await?.0,
        405
    );
    for garbage in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET * HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET http://elsewhere/hello HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
        b"GET /\xff\xfe HTTP/1.1\r\n\r\n",
    ] {
        assert_eq!(raw_request(port, garbage).await?.0, 400, "{}", String::from_utf8_lossy(garbage));
    }
    // Still serving after all that.
    assert_eq!(get(port, "/").await?.0, 200, "the server died");

    // Without the client libraries beside it, the server refuses to start and says why.
    let copy = tempfile::tempdir()?;
    let demo_copy = copy.path().join("demo");
    std::fs::create_dir(&demo_copy)?;
    for entry in std::fs::read_dir(Path::new(ROOT).join("demo"))? {
        let entry = entry?;
        if entry.file_type()?.is_file() {
            std::fs::copy(entry.path(), demo_copy.join(entry.file_name()))?;
        }
    }
    let output = tokio::process::Command::new("node")
        .arg(demo_copy.join("server.js"))
        .args(["--port", "0", "--service", service])
        .output()
        .await?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "started without the libraries: {stderr}");
    assert!(stderr.contains("run scripts/install-deps.sh"), "{stderr}");
    assert!(output.stdout.is_empty(), "printed {:?}", String::from_utf8_lossy(&output.stdout));
    Ok(())
}
