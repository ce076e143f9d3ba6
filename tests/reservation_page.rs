//! The booking page of `jitsi-reservations` (`GET /`, `src/reservations/server/page.rs`) in
//! Debian's headless Chromium, driven by `tests/e2e/reservation-page-driver.js`
//! (playwright-core), against the real binary (`jitsi-reservations serve`, SQLite file); then
//! the focus, with the real client (`tests/e2e/driver.js`, lib-jitsi-meet) against a real
//! Prosody, opens the room booked on the page and refuses one with no meeting.
//!
//! - `book_on_the_page_then_the_focus_opens_the_room`: sign in (a wrong token is refused with
//!   the server's text), book a meeting starting now (Europe/Berlin, the browser in another
//!   zone) and see it listed with its times in its own zone; a booking with its end before its
//!   start shows the server's 400 text; a meeting whose refusal text is markup shows it as
//!   text; the focus lets a client join the booked room and refuses a room with no meeting
//!   with the server's text; the page shows the conference running, then ended; a meeting is
//!   cancelled with its button; the token is in the tab's session storage only, never in a URL,
//!   the server's log or what the page logs. Screenshot: `target/reservations-page.png`.
//! - `the_page_is_embedded_and_strict`: the routes, their headers (CSP), and no external
//!   resource, inline script or HTML-building call in the page's sources.

mod harness;
mod support;

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use jiff::civil::DateTime;
use jiff::{SignedDuration, Timestamp, Zoned};
use serde_json::{json, Value};
use support::{Prosody, ProsodyOptions, TestClient};
use tokio::io::{AsyncBufReadExt, BufReader};

/// One Chromium at a time: the machine has two cores.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const ROOT: &str = env!("CARGO_MANIFEST_DIR");
const HINT: &str = "run scripts/install-deps.sh (scripts/test.sh does) to install it";

/// Fails loudly (never skips) when anything of the browser stack is missing.
fn check_browser_stack() -> Result<()> {
    ensure!(Path::new("/usr/bin/chromium").exists(), "Chromium is not installed: {HINT}");
    ensure!(std::process::Command::new("node").arg("--version").output().is_ok(), "node is not installed: {HINT}");
    for module in ["playwright-core", "lib-jitsi-meet-dist"] {
        let dir = Path::new(ROOT).join("tests/e2e/node_modules").join(module);
        ensure!(dir.is_dir(), "tests/e2e/node_modules/{module} is missing: {HINT}");
    }
    Ok(())
}

/// `jitsi-reservations serve` with its own TOML file and SQLite file, on a port the kernel
/// picks (`bind = "127.0.0.1:0"`; the address is read from its `listening` line). Its log
/// (stderr) is kept, to check that the token never appears in it. Killed when dropped.
struct Reservations {
    _child: tokio::process::Child,
    /// `http://127.0.0.1:PORT/`
    url: String,
    token: String,
    log: Arc<Mutex<String>>,
    _dir: tempfile::TempDir,
}

impl Reservations {
    async fn start() -> Result<Reservations> {
        let dir = tempfile::tempdir()?;
        let token = format!("page-test-{}", uuid::Uuid::new_v4().simple());
        let config = dir.path().join("jitsi-reservations.toml");
        std::fs::write(
            &config,
            format!(
                "[server]\nbind = \"127.0.0.1:0\"\n[database]\nurl = \"sqlite://{}\"\n[api]\ntokens = [\"{token}\"]\n\
                 [log]\nlevel = \"debug\"\n",
                dir.path().join("r.db").display()
            ),
        )?;
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_jitsi-reservations"));
        command.arg("--config").arg(&config).arg("serve");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("JITSI_RESERVATIONS_") {
                command.env_remove(key);
            }
        }
        let mut child = command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .context("starting jitsi-reservations serve")?;
        let log = Arc::new(Mutex::new(String::new()));
        let mut stderr = BufReader::new(child.stderr.take().context("stderr")?).lines();
        let sink = log.clone();
        tokio::spawn(async move {
            while let Ok(Some(line)) = stderr.next_line().await {
                eprintln!("[jitsi-reservations] {line}");
                let mut log = sink.lock().expect("log");
                log.push_str(&line);
                log.push('\n');
            }
        });
        let mut stdout = BufReader::new(child.stdout.take().context("stdout")?).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), stdout.next_line())
            .await
            .context("jitsi-reservations did not say it was listening within 30 s")??
            .context("jitsi-reservations exited before listening (its log is above)")?;
        let url = line.strip_prefix("listening ").with_context(|| format!("unexpected first line: {line}"))?;
        ensure!(url.starts_with("http://127.0.0.1:") && url.ends_with('/'), "unexpected address: {line}");
        // Nothing else is printed; keep reading so that the pipe never fills.
        tokio::spawn(async move { while let Ok(Some(_)) = stdout.next_line().await {} });
        Ok(Reservations { _child: child, url: url.to_owned(), token, log, _dir: dir })
    }

    /// The reservation API's base URL as the focus's configuration takes it (no slash).
    fn base_url(&self) -> &str {
        self.url.trim_end_matches('/')
    }

    async fn api(&self, method: reqwest::Method, path: &str, body: Option<&str>) -> Result<(u16, Value)> {
        let mut request =
            reqwest::Client::new().request(method, format!("{}api/v1/{path}", self.url)).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.header("content-type", "application/json").body(body.to_owned());
        }
        let answer = request.send().await?;
        let status = answer.status().as_u16();
        Ok((status, answer.json().await?))
    }

    async fn get(&self, path: &str) -> Result<Value> {
        let (status, json) = self.api(reqwest::Method::GET, path, None).await?;
        ensure!(status == 200, "GET {path}: {status} {json}");
        Ok(json)
    }

    fn log(&self) -> String {
        self.log.lock().expect("log").clone()
    }
}

/// Runs the page driver with a plan; returns its JSON result when every step held. The token
/// goes through the environment; none of the driver's output may contain it.
async fn drive_page(server: &Reservations, steps: Value) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let plan = dir.path().join("plan.json");
    std::fs::write(&plan, serde_json::to_string(&json!({ "steps": steps }))?)?;
    let out = dir.path().join("result.json");
    let output = tokio::process::Command::new("node")
        .arg(Path::new(ROOT).join("tests/e2e/reservation-page-driver.js"))
        .args(["--url", &server.url, "--time-zone", BROWSER_ZONE, "--plan"])
        .arg(&plan)
        .arg("--out")
        .arg(&out)
        .env("RESERVATIONS_TOKEN", &server.token)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(240), output).await.context("page driver hung")??;
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    for line in stdout.lines() {
        println!("{line}");
    }
    let text = std::fs::read_to_string(&out).unwrap_or_default();
    if !output.status.success() {
        let kept = dir.keep();
        bail!(
            "page driver failed ({}): {}\nstderr: {stderr}\nresult: {}",
            output.status,
            stdout.lines().last().unwrap_or_default(),
            kept.join("result.json").display()
        );
    }
    for (what, text) in [("stdout", &stdout), ("stderr", &stderr), ("result", &text)] {
        assert!(!text.contains(&server.token), "the token is in the page driver's {what}");
    }
    let result: Value = serde_json::from_str(&text)?;
    assert_eq!(result["tokenInUrl"], false, "a URL held the token: {}", result["requests"]);
    assert_eq!(result["pageErrors"], json!([]), "script errors on the page");
    for request in result["requests"].as_array().context("requests")? {
        assert_eq!(request["origin"].as_str(), Some(server.base_url()), "a request elsewhere: {request}");
    }
    if let Some(dir) = std::env::var_os("E2E_KEEP") {
        std::fs::copy(&out, Path::new(&dir).join(format!("reservation-page-{}.json", uuid::Uuid::new_v4().simple())))?;
    }
    Ok(result)
}

/// The driver's result of step `i` (its `do` must be `what`).
fn step<'a>(result: &'a Value, i: usize, what: &str) -> &'a Value {
    let step = &result["steps"][i];
    assert_eq!(step["do"], what, "step {i}: {step}");
    step
}

/// The client driver (`tests/e2e/driver.js`, lib-jitsi-meet in Chromium); its JSON result
/// when the expectation held.
async fn drive_client(args: &[&str]) -> Result<Value> {
    let out = tempfile::Builder::new().prefix("e2e-").suffix(".json").tempfile()?.into_temp_path();
    let output = tokio::process::Command::new("node")
        .arg(Path::new(ROOT).join("tests/e2e/driver.js"))
        .args(args)
        .arg("--out")
        .arg(&out)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(120), output).await.context("client driver hung")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let verdict = stdout.lines().last().unwrap_or_default().to_owned();
    println!("{verdict}");
    ensure!(
        output.status.success(),
        "client driver {args:?} failed ({}): {verdict}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_str(&std::fs::read_to_string(&out)?)?)
}

/// A client that joined and stays (`driver.js --keep-open`) until [`Held::leave`].
struct Held {
    child: tokio::process::Child,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
    out: tempfile::TempPath,
}

impl Held {
    async fn join(args: &[&str]) -> Result<Held> {
        let out = tempfile::Builder::new().prefix("e2e-").suffix(".json").tempfile()?.into_temp_path();
        let mut child = tokio::process::Command::new("node")
            .arg(Path::new(ROOT).join("tests/e2e/driver.js"))
            .args(args)
            .arg("--keep-open")
            .arg("--out")
            .arg(&out)
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let mut lines = BufReader::new(child.stdout.take().context("stdout")?).lines();
        loop {
            let line = tokio::time::timeout(Duration::from_secs(120), lines.next_line())
                .await
                .context("the client did not join within 120 s")??
                .context("the client driver ended without joining")?;
            println!("{line}");
            if line.starts_with("HOLD") {
                ensure!(line.contains("PASS so far"), "the client holds, but: {line}");
                return Ok(Held { child, lines, out });
            }
            ensure!(!line.starts_with("FAIL"), "{line}");
        }
    }

    /// SIGTERM: the driver leaves the conference (checking CONFERENCE_LEFT) and exits.
    async fn leave(mut self) -> Result<Value> {
        let pid = self.child.id().context("the client driver already exited")?;
        let status = std::process::Command::new("kill").args(["-TERM", &pid.to_string()]).status()?;
        ensure!(status.success(), "kill -TERM {pid}");
        let mut last = String::new();
        while let Some(line) = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line()).await?? {
            println!("{line}");
            last = line;
        }
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait()).await??;
        ensure!(status.success() && last.starts_with("PASS"), "the client driver after leaving ({status}): {last}");
        Ok(serde_json::from_str(&std::fs::read_to_string(&self.out)?)?)
    }
}

/// Waits until `check` holds, asking again every 100 ms for at most `within`.
async fn eventually<F, Fut>(what: &str, within: Duration, mut check: F) -> Result<Value>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<Option<Value>>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(found) = check().await? {
            return Ok(found);
        }
        ensure!(tokio::time::Instant::now() < deadline, "{what}: not within {within:?}");
        // The server has nothing to wait on for a conference ending: ask again.
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// The browser's own zone: neither UTC nor a zone of the meetings, so that a time converted
/// or shown in the wrong zone shows.
const BROWSER_ZONE: &str = "Asia/Tokyo";
const BERLIN: &str = "Europe/Berlin";
const NEW_YORK: &str = "America/New_York";

/// A refusal text that is markup: it must be shown as text and run nothing.
const MARKUP: &str = "<script>window.__injected = 'script'</script><img src=x onerror=\"window.__injected = 'img'\"> \
                      Ask «Zoë» & <b>the desk</b>";

/// `Tue 2026-12-01 14:05–15:05` as the page shows a meeting's times.
fn when_text(start: &Zoned, end: &Zoned) -> String {
    let day = |z: &Zoned| z.strftime("%a %Y-%m-%d").to_string();
    let time = |z: &Zoned| z.strftime(if z.second() == 0 { "%H:%M" } else { "%H:%M:%S" }).to_string();
    if start.date() == end.date() {
        format!("{} {}–{}", day(start), time(start), time(end))
    } else {
        format!("{} {} – {} {}", day(start), time(start), day(end), time(end))
    }
}

fn instant(zone: &str, date: &str, time: &str) -> Result<Timestamp> {
    Ok(format!("{date}T{time}").parse::<DateTime>()?.in_tz(zone)?.timestamp())
}

fn parse_time(value: &Value) -> Result<Timestamp> {
    Ok(value.as_str().with_context(|| format!("not a time: {value}"))?.parse()?)
}

#[tokio::test]
async fn book_on_the_page_then_the_focus_opens_the_room() -> Result<()> {
    check_browser_stack()?;
    let _one_at_a_time = BROWSER.lock().await;
    let server = Reservations::start().await?;

    // ------------------------------------------------------------ 1: book on the page
    // Now, to the minute, on the clocks of Berlin: the meeting is on from its first second.
    let now = Timestamp::now().in_tz(BERLIN)?;
    let (date, time) = (now.strftime("%Y-%m-%d").to_string(), now.strftime("%H:%M").to_string());
    let booked_start = instant(BERLIN, &date, &time)?;
    let booked_end = booked_start.checked_add(SignedDuration::from_hours(1))?;
    // Tomorrow 09:30 in New York, every two weeks, the last one eight weeks later.
    let ny_day = Timestamp::now().in_tz(NEW_YORK)?.date().tomorrow()?;
    let ny_until = ny_day.checked_add(jiff::Span::new().weeks(8))?;
    let (ny_date, ny_until_date) = (ny_day.to_string(), ny_until.to_string());

    let booked = json!({"room": "booked-room", "timeZone": BERLIN, "startDate": date, "startTime": time,
        "durationMinutes": 60, "maxParticipants": 10});
    let end_before_start = json!({"room": "booked-room", "timeZone": BERLIN, "startDate": date,
        "startTime": "10:00", "endTime": "09:00"});
    let markup = json!({"room": "escape-check", "timeZone": NEW_YORK, "startDate": ny_date, "startTime": "09:30",
        "durationMinutes": 45, "owners": "Alice@meet.test, bob@meet.test", "earlyJoinMinutes": 10,
        "maxParticipants": 5, "everyWeeks": 2, "untilDate": ny_until_date, "message": MARKUP});
    let first = drive_page(
        &server,
        json!([
            {"do": "open"},
            {"do": "signIn", "token": "wrong", "expect": "refused"},
            {"do": "signIn", "token": "right", "expect": "ok"},
            {"do": "book", "form": booked, "expect": "listed"},
            {"do": "book", "form": end_before_start, "expect": "error"},
            {"do": "book", "form": markup, "expect": "listed"},
            {"do": "reload"},
            {"do": "inspect"},
        ]),
    )
    .await?;

    // The page and its headers.
    let headers = &first["pageHeaders"];
    assert_eq!(headers["contentType"], "text/html; charset=utf-8");
    assert!(headers["csp"].as_str().is_some_and(|csp| csp.contains("script-src 'self'")), "{headers}");
    let opened = &step(&first, 0, "open")["page"];
    assert!(opened["signInShown"] == true && opened["appShown"] == false, "{opened}");
    assert_eq!(opened["title"], "Meetings · jitsi-reservations");

    // A wrong token: the server's 401 text, and no way in.
    let refused = step(&first, 1, "signIn");
    assert_eq!(refused["error"], "The token is not valid");
    assert_eq!(refused["page"]["appShown"], false);
    let signed_in = &step(&first, 2, "signIn")["page"];
    assert_eq!(signed_in["meetings"], json!([]));
    assert_eq!(signed_in["noMeetingsShown"], true);

    // Booked and listed, times in the meeting's zone (the browser is in Tokyo).
    let listed = &step(&first, 3, "book")["meeting"];
    let booked_id = listed["id"].as_i64().context("id")?;
    let cells = &listed["cells"];
    assert_eq!(cells["room"], "booked-room");
    assert_eq!(cells["when"], when_text(&booked_start.in_tz(BERLIN)?, &booked_end.in_tz(BERLIN)?), "{cells}");
    assert_eq!(cells["zone"], BERLIN);
    assert_eq!(cells["repeats"], "no");
    assert_eq!(cells["owners"], "anyone");
    assert_eq!(cells["early"], "no");
    assert_eq!(cells["max"], "10");
    assert_eq!(cells["message"], "generated");
    assert_eq!(cells["status"], "booked");
    assert_eq!(listed["status"], "booked");
    assert_eq!(step(&first, 3, "book")["bookStatus"], format!("Booked meeting #{booked_id} for room «booked-room»."));
    // What the server stored: the instants the form meant.
    let stored = server.get(&format!("meetings/{booked_id}")).await?;
    assert_eq!(parse_time(&stored["start"])?, booked_start, "{stored}");
    assert_eq!(parse_time(&stored["end"])?, booked_end, "{stored}");
    assert_eq!(stored["time_zone"], BERLIN);
    assert_eq!(stored["max_participants"], 10);
    assert_eq!(stored["owners"], json!([]));

    // End before start: the server's 400 text, next to the form, as the API gives it.
    let bad = step(&first, 4, "book");
    let shown = bad["error"].as_str().context("error")?;
    assert!(shown.contains("before it starts") && shown.ends_with("the end must be after the start"), "{shown}");
    let sent = first["requests"]
        .as_array()
        .context("requests")?
        .iter()
        .filter(|r| r["method"] == "POST" && r["path"] == "/api/v1/meetings")
        .nth(1)
        .context("the page's second POST")?;
    assert_eq!(sent["status"], 400, "{sent}");
    let (status, answer) =
        server.api(reqwest::Method::POST, "meetings", Some(sent["body"].as_str().context("body")?)).await?;
    assert_eq!(status, 400);
    assert_eq!(answer["message"], shown, "the page shows the server's text as it is");
    assert_eq!(bad["page"]["meetings"].as_array().map(Vec::len), Some(1), "nothing stored by the bad booking");

    // Markup in a refusal text is text: the same characters, no element, nothing ran.
    let escape = step(&first, 5, "book");
    let row = &escape["meeting"];
    let escape_id = row["id"].as_i64().context("id")?;
    assert_eq!(row["cells"]["message"], MARKUP);
    assert_eq!(row["elementsInData"], 0, "markup became elements: {row}");
    assert_eq!(escape["page"]["injected"], Value::Null, "the markup ran");
    assert_eq!(escape["page"]["scripts"], 1, "only the page's own script");
    let ny_start = instant(NEW_YORK, &ny_date, "09:30")?;
    let ny_end = ny_start.checked_add(SignedDuration::from_mins(45))?;
    assert_eq!(row["cells"]["when"], when_text(&ny_start.in_tz(NEW_YORK)?, &ny_end.in_tz(NEW_YORK)?));
    assert_eq!(row["cells"]["zone"], NEW_YORK);
    let last_day = ny_until.strftime("%a %Y-%m-%d").to_string();
    assert_eq!(row["cells"]["repeats"], format!("every 2 weeks, the last on {last_day}"));
    assert_eq!(row["cells"]["owners"], "alice@meet.test, bob@meet.test");
    assert_eq!(row["cells"]["early"], "10 min");
    assert_eq!(row["cells"]["max"], "5");
    let stored = server.get(&format!("meetings/{escape_id}")).await?;
    assert_eq!(parse_time(&stored["start"])?, ny_start);
    assert_eq!(parse_time(&stored["end"])?, ny_end);
    assert_eq!(parse_time(&stored["until"])?, instant(NEW_YORK, &ny_until_date, "09:30")?);
    assert_eq!(stored["every_weeks"], 2);
    assert_eq!(stored["early_join_seconds"], 600);
    assert_eq!(stored["message"], MARKUP);

    // Reloaded, the tab is still signed in; the token is in its session storage only.
    let reloaded = &step(&first, 6, "reload")["page"];
    assert_eq!(reloaded["appShown"], true);
    assert_eq!(reloaded["meetings"].as_array().map(Vec::len), Some(2));
    let storage = &step(&first, 7, "inspect")["storage"];
    assert_eq!(storage["tokenInSessionStorage"], true, "{storage}");
    assert_eq!(storage["tokenInLocalStorage"], false, "{storage}");
    assert_eq!(storage["cookies"], "", "{storage}");
    assert_eq!(storage["tokenInDom"], false, "{storage}");
    assert_eq!(storage["url"], server.url.as_str());
    // Every API request carried the bearer token, but the wrong token's.
    let auth: Vec<&str> = first["requests"]
        .as_array()
        .context("requests")?
        .iter()
        .filter(|r| r["path"].as_str().is_some_and(|p| p.starts_with("/api/")))
        .map(|r| r["authorization"].as_str().unwrap_or("?"))
        .collect();
    assert!(auth.len() >= 8 && auth[..2] == ["bearer-other", "bearer-other"], "{auth:?}");
    assert!(auth[2..].iter().all(|a| *a == "bearer-token"), "{auth:?}");

    // ------------------------------------------------------------ 2: the focus
    let prosody = Prosody::start(ProsodyOptions { restrict_room_creation: true, ..Default::default() }).await?;
    let focus =
        harness::Focus::start(harness::config(prosody.component_port(), &harness::reservation(server.base_url())));
    harness::wait_focus_online(&TestClient::anonymous(prosody.c2s_port()).await?).await?;
    let service = prosody.bosh_url();

    // A room with no meeting: refused, with the server's text.
    let nothing = "Room «nothing-booked» has no meeting booked";
    let refused = drive_client(&[
        "--service",
        &service,
        "--room",
        "nothing-booked",
        "--expect",
        "failed",
        "--expect-error",
        "conference.reservationError",
        "--expect-code",
        "403",
        "--expect-message",
        nothing,
    ])
    .await?;
    assert_eq!(refused["outcome"]["message"], nothing);
    let none = server.get("conferences?room=nothing-booked").await?;
    assert_eq!(none, json!([]), "no conference for a refused room");

    // The room booked on the page: joined, and it stays while the page looks.
    let held = Held::join(&["--service", &service, "--room", "booked-room", "--expect", "joined", "--leave"]).await?;
    let running = server.get("conferences?room=booked-room&running=true").await?;
    let conference = running.as_array().and_then(|c| c.first()).with_context(|| format!("{running}"))?;
    assert_eq!(running.as_array().map(Vec::len), Some(1), "{running}");
    assert_eq!(conference["meeting_id"], booked_id);
    assert_eq!(conference["max_occupants"], 10);
    let started = parse_time(&conference["started_at"])?;
    let duration = conference["duration_seconds"].as_i64().context("duration")?;
    assert!(started >= booked_start && started < booked_end, "{conference}");
    // Whole seconds until the meeting's end, counted from the instant the room opened.
    let short_of_the_end = booked_end.duration_since(started) - SignedDuration::from_secs(duration);
    assert!(
        !short_of_the_end.is_negative() && short_of_the_end < SignedDuration::from_secs(1),
        "the conference ends with the meeting: {conference}"
    );

    let not_a_jid = json!({"room": "escape-check", "timeZone": NEW_YORK, "startDate": ny_date, "startTime": "09:30",
        "durationMinutes": 30, "owners": "not a jid@"});
    let screenshot = Path::new(ROOT).join("target/reservations-page.png");
    fresh_screenshot(&screenshot)?;
    let second = drive_page(
        &server,
        json!([
            {"do": "open"},
            {"do": "signIn", "token": "right", "expect": "ok"},
            {"do": "expectConference", "room": "booked-room", "state": "running"},
            {"do": "book", "form": not_a_jid, "expect": "error"},
            {"do": "screenshot", "path": screenshot.display().to_string()},
        ]),
    )
    .await?;
    assert_eq!(step(&second, 0, "open")["page"]["signInShown"], true, "a new tab starts signed out");
    let shown = &step(&second, 2, "expectConference")["conference"];
    let cells = &shown["cells"];
    assert_eq!(shown["meetingId"], booked_id);
    assert_eq!(cells["meeting"], format!("#{booked_id}"));
    assert_eq!(cells["state"], "running");
    assert_eq!(cells["max"], "10");
    assert_eq!(cells["owner"], conference["mail_owner"]);
    let started_berlin = started.in_tz(BERLIN)?;
    assert_eq!(cells["started"], format!("{} ({BERLIN})", started_berlin.strftime("%a %Y-%m-%d %H:%M")));
    let end_berlin = booked_end.in_tz(BERLIN)?;
    let end_text = if end_berlin.date() == started_berlin.date() {
        end_berlin.strftime("%H:%M").to_string()
    } else {
        end_berlin.strftime("%a %Y-%m-%d %H:%M").to_string()
    };
    assert_eq!(cells["end"], format!("ends by {end_text}"));
    let owners_error = step(&second, 3, "book")["error"].as_str().context("error")?.to_owned();
    assert!(owners_error.starts_with("owners:"), "{owners_error}");
    check_screenshot(&screenshot)?;

    // The client leaves: the focus ends the conference (DELETE), kept as history.
    let left = held.leave().await?;
    assert_eq!(left["outcome"]["kind"], "joined", "{}", left["outcome"]);
    let ended = eventually("the conference of booked-room ended", Duration::from_secs(30), || async {
        let all = server.get("conferences?room=booked-room").await?;
        Ok(all.as_array().and_then(|c| c.first()).filter(|c| !c["ended_at"].is_null()).cloned())
    })
    .await?;
    assert_eq!(ended["id"], conference["id"]);
    drop(focus);

    // ------------------------------------------------------------ 3: history and cancelling
    let third = drive_page(
        &server,
        json!([
            {"do": "open"},
            {"do": "signIn", "token": "right", "expect": "ok"},
            {"do": "expectConference", "room": "booked-room", "state": "ended"},
            {"do": "cancel", "room": "escape-check"},
            {"do": "showCancelled", "on": true},
            {"do": "signOut"},
            {"do": "inspect"},
        ]),
    )
    .await?;
    let past = &step(&third, 2, "expectConference")["conference"]["cells"];
    assert_eq!(past["state"], "ended");
    let ended_at = parse_time(&ended["ended_at"])?.in_tz(BERLIN)?;
    let ended_text = if ended_at.date() == started_berlin.date() {
        ended_at.strftime("%H:%M").to_string()
    } else {
        ended_at.strftime("%a %Y-%m-%d %H:%M").to_string()
    };
    assert_eq!(past["end"], format!("ended {ended_text}"));
    let cancel = step(&third, 3, "cancel");
    assert_eq!(cancel["id"], escape_id);
    let dialog = cancel["dialog"].as_str().context("dialog")?;
    assert!(dialog.starts_with(&format!("Cancel meeting #{escape_id} for room «escape-check»")), "{dialog}");
    assert_eq!(cancel["listStatus"], format!("Cancelled meeting #{escape_id} for room «escape-check»."));
    assert_eq!(cancel["stillListed"], false, "cancelled meetings are hidden by default");
    let with_cancelled = &step(&third, 4, "showCancelled")["page"]["meetings"];
    let row = with_cancelled
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["id"] == escape_id))
        .with_context(|| format!("{with_cancelled}"))?;
    assert_eq!(row["status"], "cancelled");
    assert_eq!(row["cells"]["status"], "cancelled");
    assert_eq!(row["cancelButton"], Value::Null, "no cancel button on a cancelled meeting");
    assert_eq!(server.get(&format!("meetings/{escape_id}")).await?["cancelled"], true);
    assert_eq!(server.get(&format!("meetings/{booked_id}")).await?["cancelled"], false);
    let out = step(&third, 6, "inspect");
    assert_eq!(out["page"]["signInShown"], true);
    assert_eq!(out["storage"]["tokenInSessionStorage"], false, "signing out forgets the token");

    // The server logged its work, and never the token.
    let log = server.log();
    assert!(log.contains("meeting booked"), "no log collected: {log}");
    assert!(!log.contains(&server.token), "the token is in the server's log");
    Ok(())
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

/// A PNG 1280 pixels wide, at least as tall as the viewport, and more than flat colour.
fn check_screenshot(path: &Path) -> Result<()> {
    let png = std::fs::read(path).with_context(|| format!("no screenshot at {}", path.display()))?;
    ensure!(png.len() > 24 && png.starts_with(b"\x89PNG\r\n\x1a\n") && &png[12..16] == b"IHDR", "not a PNG");
    let be = |at: usize| u32::from_be_bytes([png[at], png[at + 1], png[at + 2], png[at + 3]]);
    let (width, height) = (be(16), be(20));
    assert!(width == 1280 && height >= 720, "{}: {width}x{height}", path.display());
    assert!(png.len() > 30_000, "{} is only {} bytes", path.display(), png.len());
    println!("screenshot: {} ({width}x{height}, {} bytes)", path.display(), png.len());
    Ok(())
}

/// The page's routes in process: the shell and its two assets, with a strict policy, and
/// nothing in them that loads from elsewhere, runs inline or builds HTML from strings.
#[tokio::test]
async fn the_page_is_embedded_and_strict() -> Result<()> {
    use jitsi_focus::reservations::policy::AdHocPolicy;
    use jitsi_focus::reservations::server::{self, page, AppState};
    use jitsi_focus::reservations::store::Store;

    let dir = tempfile::tempdir()?;
    let store = Store::connect(&format!("sqlite://{}", dir.path().join("r.db").display())).await?;
    let state = AppState {
        store,
        ad_hoc: Arc::new(AdHocPolicy { allow: false, patterns: vec![] }),
        ad_hoc_duration: SignedDuration::from_hours(1),
        clock: server::system_clock(),
        tokens: Arc::new(vec!["page-test-0123456789abcdef".to_owned()]),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let base = format!("http://{}", listener.local_addr()?);
    let task = tokio::spawn(async move { axum::serve(listener, server::router(state)).await });
    let http = reqwest::Client::new();

    let mut sources = Vec::new();
    for (path, content_type) in [
        ("/", "text/html; charset=utf-8"),
        ("/static/page.js", "text/javascript; charset=utf-8"),
        ("/static/page.css", "text/css; charset=utf-8"),
    ] {
        let answer = http.get(format!("{base}{path}")).send().await?;
        assert_eq!(answer.status(), 200, "{path}");
        let header = |name: &str| answer.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
        assert_eq!(header("content-type").as_deref(), Some(content_type), "{path}");
        assert_eq!(header("content-security-policy").as_deref(), Some(page::CONTENT_SECURITY_POLICY), "{path}");
        assert_eq!(header("x-content-type-options").as_deref(), Some("nosniff"), "{path}");
        assert_eq!(header("referrer-policy").as_deref(), Some("no-referrer"), "{path}");
        sources.push((path, answer.text().await?));
    }
    for (path, text) in &sources {
        for external in ["http://", "https://", "url(", "@import"] {
            assert!(!text.contains(external), "{path} loads something from elsewhere: {external}");
        }
    }
    let (html, script) = (&sources[0].1, &sources[1].1);
    assert_eq!(html.matches("<script").count(), 1, "one script, the page's own");
    assert!(html.contains(r#"<script src="static/page.js" defer></script>"#));
    assert!(!html.contains(" style=") && !html.contains("<style"), "inline style");
    let handler = html.match_indices(" on").find(|(at, _)| {
        let rest = &html[at + 3..];
        let name = rest.len() - rest.trim_start_matches(|c: char| c.is_ascii_lowercase()).len();
        name > 0 && rest[name..].starts_with('=')
    });
    assert!(handler.is_none(), "an inline event handler: {handler:?}");
    // Fields without a name are never submitted, even if the script did not run.
    assert!(!html.contains(r#"id="token" name="#), "the token field has a name");
    for builds_html in ["innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "localStorage"] {
        assert!(!script.contains(builds_html), "page.js uses {builds_html}");
    }
    assert!(!script.contains("console."), "page.js logs");
    // HEAD works, other methods and unknown assets do not.
    assert_eq!(http.head(format!("{base}/")).send().await?.status(), 200);
    assert_eq!(http.post(format!("{base}/")).send().await?.status(), 405);
    for missing in ["/static/", "/static/nope.js", "/static/../Cargo.toml", "/index.html", "/page.js"] {
        assert_eq!(http.get(format!("{base}{missing}")).send().await?.status(), 404, "{missing}");
    }
    task.abort();
    Ok(())
}
