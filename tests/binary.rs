//! The `jitsi-focus` binary as operators run it: configuration errors, check-config, logs
//! (one line per conference event, no secrets), and a graceful stop on SIGTERM.

mod harness;
mod support;

use std::process::Stdio;
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use harness::{ready_conference, request_conference, reservation_error};
use serde_json::json;
use support::{Prosody, ProsodyOptions, Reply, ReservationServer, TestClient, DEFAULT_TIMEOUT, MUC_DOMAIN};

const BIN: &str = env!("CARGO_BIN_EXE_jitsi-focus");
const SECRET: &str = "s3cret-Zq9-component";
const TOKEN: &str = "Bearer tok-9f8e7d-reservation";

fn run_blocking(args: &[&str], env: &[(&str, &str)]) -> std::process::Output {
    let mut command = std::process::Command::new(BIN);
    command.args(args);
    for (k, v) in env {
        command.env(k, v);
    }
    command.output().expect("the binary runs")
}

#[test]
fn configuration_mistakes_are_named_and_stop_start_up() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("focus.toml");
    let path = path.to_str().unwrap();
    let cases = [
        ("[xmpp]\ncomponent = \"focus.meet.test\"\nmuc_domain = \"conference.meet.test\"\n", "xmpp.secret"),
        ("[xmpp]\nsecrett = \"x\"\n", "secrett"),
        ("[xmpp]\ncomponent = \"focus.meet.test\"\nsecret = \"x\"\nmuc_domain = \"conference.meet.test\"\nport = \"high\"\n", "port"),
        ("[xmpp]\ncomponent = \"focus.meet.test\"\nsecret = \"x\"\nmuc_domain = \"conference.meet.test\"\n[auth]\nmode = \"ldap\"\n", "mode"),
    ];
    for (toml, key) in cases {
        std::fs::write(path, toml).unwrap();
        let output = run_blocking(&["--config", path, "check-config"], &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{toml}: {stderr}");
        assert!(stderr.contains(key), "{key} not named: {stderr}");
    }
    let missing = run_blocking(&["--config", "/nonexistent/focus.toml", "run"], &[]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&missing.stderr).contains("/nonexistent/focus.toml"));
}

#[test]
fn check_config_merges_the_environment_and_redacts_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("focus.toml");
    std::fs::write(
        &path,
        format!("[xmpp]\ncomponent = \"focus.meet.test\"\nmuc_domain = \"conference.meet.test\"\n[reservation.headers]\nAuthorization = \"{TOKEN}\"\n"),
    )
    .unwrap();
    let output = run_blocking(
        &["--config", path.to_str().unwrap(), "check-config"],
        &[("JITSI_FOCUS_XMPP__SECRET", SECRET), ("JITSI_FOCUS_XMPP__PORT", "6000")],
    );
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert!(stdout.contains("port = 6000"), "{stdout}");
    assert!(!stdout.contains(SECRET) && !stdout.contains(TOKEN), "{stdout}");
    assert!(stdout.contains("<redacted>"), "{stdout}");
}

const MINIMAL: &str = "[xmpp]\ncomponent = \"focus.meet.test\"\nmuc_domain = \"conference.meet.test\"\n";

fn check_config(toml: &[u8], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("focus.toml");
    std::fs::write(&path, toml).unwrap();
    let output = run_blocking(&["--config", path.to_str().unwrap(), "check-config"], env);
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.code(), String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
}

#[test]
fn environment_values_are_taken_as_written() {
    // A numeric secret is a secret, not a number; a header name with '-' works from the
    // environment (an EnvironmentFile or `env`, not a shell's export).
    let (code, stdout, stderr) = check_config(
        MINIMAL.as_bytes(),
        &[
            ("JITSI_FOCUS_XMPP__SECRET", "0123456"),
            ("JITSI_FOCUS_XMPP__PORT", "5348"),
            ("JITSI_FOCUS_RESERVATION__ENABLED", "true"),
            ("JITSI_FOCUS_RESERVATION__BASE_URL", "http://127.0.0.1:9/api"),
            ("JITSI_FOCUS_RESERVATION__HEADERS__X-API-KEY", "1.50"),
        ],
    );
    assert_eq!(code, Some(0), "{stderr}");
    assert!(stdout.contains("port = 5348") && stdout.contains("enabled = true"), "{stdout}");
    assert!(stdout.contains("x-api-key = \"<redacted>\""), "{stdout}");
    assert!(!stdout.contains("0123456"), "{stdout}");
}

#[test]
fn no_configuration_error_quotes_a_secret() {
    let secret = "736251409";
    let token = "tok-Xq71-header";
    let with_secret = format!("{MINIMAL}secret = \"x\"\n");
    for (toml, env) in [
        (format!("{MINIMAL}secret = {secret}\n"), vec![]),
        (format!("{MINIMAL}secret = \"{secret}\n"), vec![]),
        (format!("{with_secret}[reservation]\nheaders = \"Bearer {token}\"\n"), vec![]),
        (format!("{with_secret}[reservation.headers]\nX-Api-Key = {secret}\n"), vec![]),
        (with_secret.clone(), vec![("JITSI_FOCUS_RESERVATION__HEADERS", token)]),
        (with_secret.clone(), vec![("JITSI_FOCUS_XMPP__SECRET__X", token)]),
        (with_secret.clone(), vec![("JITSI_FOCUS_XMPP__PORT", secret)]),
    ] {
        let (code, stdout, stderr) = check_config(toml.as_bytes(), &env);
        assert_eq!(code, Some(2), "{toml} {env:?}: {stdout}");
        assert!(!stderr.contains(secret) && !stderr.contains(token), "{toml} {env:?}: {stderr}");
    }
}

#[test]
fn file_problems_name_the_file_and_a_bad_ca_file_fails_check_config() {
    let dir = tempfile::tempdir().unwrap();
    let dir_name = dir.path().to_str().unwrap();
    let output = run_blocking(&["--config", dir_name, "check-config"], &[]);
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(dir_name) && stderr.contains("directory"), "{stderr}");
    for (content, needle) in [(&b"[xmpp]\nsecret = \"caf\xe9\"\n"[..], "UTF-8"), (b"[xmpp\n", "invalid TOML at line 1")]
    {
        let path = dir.path().join("focus.toml");
        std::fs::write(&path, content).unwrap();
        let output = run_blocking(&["--config", path.to_str().unwrap(), "check-config"], &[]);
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(path.to_str().unwrap()) && stderr.contains(needle), "{stderr}");
    }
    let not_pem = dir.path().join("ca.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").unwrap();
    let toml = format!(
        "{MINIMAL}secret = \"x\"\n[reservation]\nenabled = true\nbase_url = \"https://x\"\nca_file = \"{}\"\n",
        not_pem.display()
    );
    let (code, _, stderr) = check_config(toml.as_bytes(), &[]);
    assert_eq!(code, Some(2), "{stderr}");
    assert!(stderr.contains("reservation.ca_file") && stderr.contains("no PEM certificate"), "{stderr}");
}

#[test]
fn logs_written_to_a_pipe_carry_no_colour_codes() {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("focus.toml");
    std::fs::write(&path, format!("{MINIMAL}secret = \"x\"\nport = {port}\n[http]\nbind = \"127.0.0.1:0\"\n")).unwrap();
    let mut child = std::process::Command::new(BIN)
        .args(["--config", path.to_str().unwrap(), "run"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    child.kill().unwrap();
    let output = child.wait_with_output().unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(text.contains("starting jitsi-focus"), "{text}");
    assert!(!text.contains("\x1b["), "colour codes in piped logs: {text:?}");
}

#[tokio::test]
async fn logs_name_each_conference_event_without_secrets_and_sigterm_stops_cleanly() -> Result<()> {
    let options =
        ProsodyOptions { restrict_room_creation: true, component_secret: SECRET.into(), ..Default::default() };
    let prosody = Prosody::start(options).await?;
    let api = ReservationServer::start().await?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("focus.toml");
    let extra = format!(
        "{}[reservation.headers]
Authorization = \"{TOKEN}\"
[conference]
drain_timeout = \"0s\"
[log]
level = \"debug\"
format = \"json\"
",
        harness::reservation_in(&api.base_url(), &dir.path().join("state"))
    );
    std::fs::write(&config, harness::config_toml(prosody.component_port(), SECRET, &extra))?;
    let log_path = dir.path().join("focus.log");
    let log = std::fs::File::create(&log_path)?;
    let mut child = tokio::process::Command::new(BIN)
        .arg("--config")
        .arg(&config)
        .stdout(Stdio::from(log.try_clone()?))
        .stderr(Stdio::from(log))
        .kill_on_drop(true)
        .spawn()?;
    let client = TestClient::anonymous(prosody.c2s_port()).await?;
    harness::wait_focus_online(&client).await?;

    api.script_post("nope", vec![Reply::json(403, json!({"message": "not booked"}))]);
    reservation_error(&request_conference(&client, "nope", None).await?)?;
    let start = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    api.script_post(
        "yes",
        vec![Reply::json(201, json!({"id": 5, "name": "yes", "start_time": start, "duration": 3600}))],
    );
    ready_conference(&request_conference(&client, "yes", None).await?)?;
    let room = format!("yes@{MUC_DOMAIN}");
    client.join_muc(&room, "alice").await?;
    let authorization = api.wait_for(|r| r.method == "POST", DEFAULT_TIMEOUT).await?;
    assert_eq!(authorization.header("authorization"), Some(TOKEN));

    // systemd's stop without a drain (drain_timeout = 0s): the focus leaves its rooms at once
    // and deletes their reservations.
    let pid = child.id().context("pid")?.to_string();
    ensure!(std::process::Command::new("kill").args(["-TERM", &pid]).status()?.success());
    let status = tokio::time::timeout(Duration::from_secs(15), child.wait()).await??;
    assert!(status.success(), "exit status {status}");
    api.wait_for(|r| r.method == "DELETE" && r.path == "/conference/5", DEFAULT_TIMEOUT).await?;
    client
        .next_matching(
            |p| p.attr("from") == Some(&*format!("{room}/focus")) && p.attr("type") == Some("unavailable"),
            DEFAULT_TIMEOUT,
        )
        .await?;

    let text = std::fs::read_to_string(&log_path)?;
    assert!(!text.contains(SECRET), "the component secret was logged");
    assert!(!text.contains("tok-9f8e7d"), "the reservation header was logged");
    let lines: Vec<serde_json::Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).with_context(|| format!("not JSON: {l}")))
        .collect::<Result<_>>()?;
    let event =
        |message: &str, room: &str| lines.iter().filter(|l| l["message"] == message && l["room"] == room).count();
    assert_eq!(event("conference refused", "nope@conference.meet.test"), 1, "{text}");
    assert_eq!(event("conference created", "yes@conference.meet.test"), 1, "{text}");
    assert_eq!(event("conference ended", "yes@conference.meet.test"), 1, "{text}");
    let created = lines.iter().find(|l| l["message"] == "conference created").unwrap();
    assert_eq!(created["reservation_id"], "5");
    assert!(created["meeting_id"].as_str().is_some_and(|m| m.len() == 36), "{created}");
    Ok(())
}

#[test]
fn a_taken_http_port_stops_start_up_naming_http_bind() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("focus.toml");
    let toml = format!("{MINIMAL}secret = \"x\"\nport = 1\n[http]\nbind = \"127.0.0.1:{port}\"\n");
    std::fs::write(&path, toml).unwrap();
    let output = run_blocking(&["--config", path.to_str().unwrap(), "run"], &[]);
    let text = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(!output.status.success(), "{text}");
    assert!(text.contains(&format!("cannot listen on http.bind 127.0.0.1:{port}")), "{text}");
}
