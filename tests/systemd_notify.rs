//! systemd's notify protocol: the unit is valid, the binary says READY=1 once its component is
//! online, keeps its STATUS= line current, pings the watchdog from its main loop (and stops
//! pinging when that loop hangs), and says STOPPING=1 on SIGTERM.

mod harness;
mod support;

use std::sync::{mpsc as std_mpsc, Arc, Mutex};
use std::time::Duration;

use anyhow::{ensure, Context, Result};
use harness::{disco_info, ready_conference, request_conference};
use jitsi_focus::runtime::{notify::Notifier, RunOptions, Stop};
use support::{
    FocusProcess, NotifySocket, Prosody, ProsodyOptions, TestClient, DEFAULT_TIMEOUT, FOCUS_DOMAIN, MUC_DOMAIN,
};
use tokio::sync::mpsc;

/// The watchdog timeout the tests ask for: pings come every 100 ms.
const WATCHDOG: Duration = Duration::from_millis(200);

#[test]
fn the_unit_passes_systemd_analyze_verify() -> Result<()> {
    // The unit names the installed binary; verify checks that it exists, so point it at ours.
    let unit = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/systemd/jitsi-focus.service"))?;
    for needle in ["Type=notify", "NotifyAccess=main", "WatchdogSec=30s", "TimeoutStopSec=330"] {
        ensure!(unit.contains(needle), "{needle} missing from the unit");
    }
    let dir = tempfile::tempdir()?;
    let path = dir.path().join("jitsi-focus.service");
    std::fs::write(&path, unit.replace("/usr/local/bin/jitsi-focus", support::focus_process::FOCUS_BIN))?;
    let output = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&path)
        .output()
        .context("systemd-analyze (package systemd) must be installed")?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    ensure!(output.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
    Ok(())
}

#[tokio::test]
async fn the_binary_reports_ready_status_watchdog_and_stopping() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("focus.toml");
    std::fs::write(&config, harness::config_toml(prosody.component_port(), prosody.component_secret(), ""))?;
    let mut notify = NotifySocket::bind()?;
    let socket = notify.path().to_str().context("path")?.to_owned();
    let mut focus = FocusProcess::spawn(&config, &[("NOTIFY_SOCKET", &socket), ("WATCHDOG_USEC", "200000")])?;

    let ready = notify.wait_for(|m| m.contains("READY=1"), DEFAULT_TIMEOUT).await?;
    assert_eq!(ready, "READY=1\nSTATUS=online: 0 conferences, 0 participants");
    // READY came after Prosody accepted the component: the focus answers at the first try.
    let client = TestClient::anonymous(prosody.c2s_port()).await?;
    let answer = client.iq(disco_info(FOCUS_DOMAIN)).await?;
    assert_eq!(answer.attr("type"), Some("result"), "{}", support::xml(&answer));
    for _ in 0..3 {
        notify.wait_for(|m| m == "WATCHDOG=1", DEFAULT_TIMEOUT).await?;
    }

    // A conference with one participant shows in the status line.
    ready_conference(&request_conference(&client, "status", None).await?)?;
    client.join_muc(&format!("status@{MUC_DOMAIN}"), "alice").await?;
    notify.wait_for(|m| m == "STATUS=online: 1 conference, 1 participant", DEFAULT_TIMEOUT).await?;

    // SIGTERM: STOPPING=1 as the drain begins; a second one stops at once.
    focus.signal("TERM")?;
    let stopping = notify.wait_for(|m| m.starts_with("STOPPING=1"), DEFAULT_TIMEOUT).await?;
    assert_eq!(stopping, "STOPPING=1\nSTATUS=draining: 1 conference left");
    focus.signal("TERM")?;
    notify.wait_for(|m| m == "STOPPING=1\nSTATUS=stopping", DEFAULT_TIMEOUT).await?;
    assert_eq!(focus.wait_exit(Duration::from_secs(15)).await?, Some(0));
    let before_ready = notify.seen.iter().take_while(|m| !m.contains("READY=1"));
    assert!(before_ready.clone().all(|m| m == "WATCHDOG=1" || m.starts_with("STATUS=")), "{:?}", notify.seen);
    assert_eq!(notify.seen.iter().filter(|m| m.contains("READY=1")).count(), 1, "{:?}", notify.seen);
    Ok(())
}

#[tokio::test]
// Holding the gate across awaits is the point: the focus, on its own runtime, waits for it.
#[allow(clippy::await_holding_lock)]
async fn a_stalled_main_loop_stops_the_watchdog_pings_until_it_runs_again() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions::default()).await?;
    let mut notify = NotifySocket::bind()?;
    // The hook blocks the loop's thread on a mutex the test holds, like a deadlock in the core;
    // it says when it is stuck, so the test knows every earlier ping has been sent.
    let gate = Arc::new(Mutex::new(()));
    let (stuck_tx, stuck_rx) = std_mpsc::channel::<()>();
    let hook_gate = gate.clone();
    let before_turn = Box::new(move || {
        if hook_gate.try_lock().is_err() {
            let _ = stuck_tx.send(());
            drop(hook_gate.lock().unwrap_or_else(|e| e.into_inner()));
        }
    });
    let options =
        RunOptions { notify: Some(Notifier::new(notify.path(), Some(WATCHDOG))?), before_turn: Some(before_turn) };
    let config = harness::config(prosody.component_port(), "");
    let (stop_tx, stop_rx) = mpsc::unbounded_channel::<Stop>();
    let stops = futures::stream::unfold(stop_rx, |mut rx| async move { rx.recv().await.map(|stop| (stop, rx)) });
    // The focus gets a runtime of its own, so that the thread it blocks does not hold up the
    // test's timers. Multi-thread on purpose, although the binary runs the loop on a
    // current-thread runtime: here a pinger outside the loop would go on pinging while the
    // loop is stuck, so the test checks that the pings come from the loop itself.
    let focus_runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    let focus = focus_runtime.spawn(jitsi_focus::runtime::run_with(config, stops, options));

    notify.wait_for(|m| m.contains("READY=1"), DEFAULT_TIMEOUT).await?;
    notify.wait_for(|m| m == "WATCHDOG=1", DEFAULT_TIMEOUT).await?;

    let held = gate.lock().unwrap();
    tokio::task::spawn_blocking(move || stuck_rx.recv_timeout(DEFAULT_TIMEOUT))
        .await?
        .context("the loop never stalled")?;
    notify.drain_queued();
    let silent = notify.recv(5 * WATCHDOG).await;
    assert_eq!(silent, None, "a stalled loop sent a notification");

    drop(held);
    notify.wait_for(|m| m == "WATCHDOG=1", DEFAULT_TIMEOUT).await?;
    notify.wait_for(|m| m == "WATCHDOG=1", DEFAULT_TIMEOUT).await?;

    stop_tx.send(Stop::Now)?;
    tokio::time::timeout(Duration::from_secs(15), focus).await???;
    focus_runtime.shutdown_background();
    Ok(())
}
