//! The binary's signals: SIGTERM drains (new rooms refused with the shutdown error, running
//! conferences go on until `conference.drain_timeout`, then the usual stop), and SIGHUP applies
//! a changed `log.level`.

mod harness;
mod support;

use std::time::Duration;

use anyhow::{Context, Result};
use harness::{error_condition, ready_conference, request_conference, FOCUS_NS};
use support::{
    FocusProcess, NotifySocket, Prosody, ProsodyOptions, ReservationServer, TestClient, DEFAULT_TIMEOUT, MUC_DOMAIN,
};

#[tokio::test]
async fn sigterm_refuses_new_rooms_and_lets_live_ones_run_until_the_drain_timeout() -> Result<()> {
    let options = ProsodyOptions { restrict_room_creation: true, ..Default::default() };
    let prosody = Prosody::start(options).await?;
    let api = ReservationServer::start().await?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("focus.toml");
    let http_port = support::free_port()?;
    let extra = format!(
        "{}[conference]\ndrain_timeout = \"2s\"\n[http]\nbind = \"127.0.0.1:{http_port}\"\n",
        harness::reservation_in(&api.base_url(), &dir.path().join("state"))
    );
    std::fs::write(&config, harness::config_toml(prosody.component_port(), prosody.component_secret(), &extra))?;
    // The notification socket tells the test when the drain has begun (STOPPING=1).
    let mut notify = NotifySocket::bind()?;
    let socket = notify.path().to_str().context("path")?.to_owned();
    let mut focus = FocusProcess::spawn(&config, &[("NOTIFY_SOCKET", &socket)])?;
    notify.wait_for(|m| m.contains("READY=1"), DEFAULT_TIMEOUT).await?;

    let client = TestClient::anonymous(prosody.c2s_port()).await?;
    ready_conference(&request_conference(&client, "live", None).await?)?;
    let room = format!("live@{MUC_DOMAIN}");
    client.join_muc(&room, "alice").await?;
    let post = api.wait_for(|r| r.method == "POST", DEFAULT_TIMEOUT).await?;
    assert_eq!(post.field("name"), Some("live"));

    focus.signal("TERM")?;
    notify.wait_for(|m| m.starts_with("STOPPING=1"), DEFAULT_TIMEOUT).await?;
    // A new room is refused with what lib-jitsi-meet understands as a graceful shutdown.
    let refused = request_conference(&client, "fresh", None).await?;
    let (condition, text) = error_condition(&refused)?;
    assert_eq!(condition, "service-unavailable", "{}", support::xml(&refused));
    assert_eq!(text, "jitsi-focus is shutting down; no new conferences");
    let error = refused.get_child("error", "jabber:client").context("error")?;
    assert_eq!(error.attr("type"), Some("cancel"));
    assert!(error.get_child("graceful-shutdown", FOCUS_NS).is_some(), "{}", support::xml(&refused));
    // The live conference goes on: it still answers (a participant rejoining).
    ready_conference(&request_conference(&client, "live", None).await?)?;
    assert_eq!(api.count(|r| r.method == "POST"), 1, "the refused room reached the API");
    // Load balancers hear it too: health is 503 while the focus drains.
    let health = reqwest::get(format!("http://127.0.0.1:{http_port}/about/health")).await?;
    assert_eq!(health.status(), 503);
    let body: serde_json::Value = health.json().await?;
    assert_eq!(body["reason"], "jitsi-focus is draining: no new conferences");

    // After the drain timeout: the focus leaves, deletes the reservation and exits cleanly.
    let focus_jid = format!("{room}/focus");
    client
        .next_matching(
            |p| p.attr("from") == Some(&*focus_jid) && p.attr("type") == Some("unavailable"),
            DEFAULT_TIMEOUT,
        )
        .await?;
    api.wait_for(|r| r.method == "DELETE" && r.path == "/conference/1", DEFAULT_TIMEOUT).await?;
    assert_eq!(focus.wait_exit(Duration::from_secs(15)).await?, Some(0));
    focus.drain_lines();
    assert!(focus.log.iter().any(|l| l.contains("drain timeout passed")), "{}", focus.log.join("\n"));
    Ok(())
}

#[tokio::test]
async fn sighup_applies_a_changed_log_level_and_keeps_it_on_a_bad_one() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("focus.toml");
    let write = |level: &str| {
        // No drain: the rooms requested below have nobody in them and would hold the stop.
        let log = format!("[conference]\ndrain_timeout = \"0s\"\n[log]\nlevel = \"{level}\"\nformat = \"json\"\n");
        std::fs::write(&config, harness::config_toml(prosody.component_port(), prosody.component_secret(), &log))
    };
    write("info")?;
    let mut notify = NotifySocket::bind()?;
    let socket = notify.path().to_str().context("path")?.to_owned();
    let mut focus = FocusProcess::spawn(&config, &[("NOTIFY_SOCKET", &socket)])?;
    notify.wait_for(|m| m.contains("READY=1"), DEFAULT_TIMEOUT).await?;
    let is_debug = |line: &str| line.contains("\"level\":\"DEBUG\"");
    let client = TestClient::anonymous(prosody.c2s_port()).await?;
    ready_conference(&request_conference(&client, "before", None).await?)?;

    // An invalid level: an error, and the old level stays.
    write("debug,[span{x=.*}]")?;
    focus.signal("HUP")?;
    focus.wait_line(|l| l.contains("\"level\":\"ERROR\"") && l.contains("log.level"), DEFAULT_TIMEOUT).await?;
    ready_conference(&request_conference(&client, "still-info", None).await?)?;

    write("debug")?;
    focus.signal("HUP")?;
    focus
        .wait_line(|l| l.contains("SIGHUP: log level changed") && l.contains("\"to\":\"debug\""), DEFAULT_TIMEOUT)
        .await?;
    assert!(!focus.log.iter().any(|l| is_debug(l)), "debug lines at level info:\n{}", focus.log.join("\n"));
    ready_conference(&request_conference(&client, "after", None).await?)?;
    focus
        .wait_line(|l| is_debug(l) && l.contains("new conference requested") && l.contains("after@"), DEFAULT_TIMEOUT)
        .await?;
    focus.signal("TERM")?;
    assert_eq!(focus.wait_exit(Duration::from_secs(15)).await?, Some(0));
    Ok(())
}
