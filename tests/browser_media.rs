//! Media end to end with the real clients: lib-jitsi-meet in Debian's headless Chromium (fake
//! camera and microphone, P2P off, simulcast off), a real Prosody, test bridges
//! (tests/test-bridge: real ICE, DTLS and SCTP, and forwarding) and jitsi-focus with
//! `[bridges]`. Two npm builds, over BOSH and WebSocket:
//!
//! - `lib-jitsi-meet-dist` 2.1.5 (2020, Plan B in a Unified-Plan browser: two participants at most);
//! - `@lyno/lib-jitsi-meet` 2.6726.2 (Dec 2021, Unified Plan): three participants.
//!
//! Every participant must answer session-initiate with a session-accept the focus acknowledges,
//! get every other participant's audio and video as remote tracks attributed to that participant
//! (with an SSRC it announced), and connect ICE and DTLS to the bridge (the browser's selected
//! candidate pair ends at the bridge's UDP port; the bridge sees ICE, DTLS and the data channel
//! from its side), and decode every other participant's video and receive its audio through the
//! bridge (getStats counters rising). Then one leaves and the others' remote tracks for it are
//! removed. One test has a moderator mute a participant (its audio stops reaching the others:
//! the bridge drops it); another kills the bridge process mid-call (media must come back through
//! the other bridge within 10 s). The browser is driven by tests/e2e/media-driver.js
//! (playwright-core).

mod harness;
mod support;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use jitsi_test_bridge::{TestBridge, TestBridgeConfig};
use serde_json::Value;
use support::{Prosody, ProsodyOptions, TestClient, DOMAIN, INTERNAL_MUC_DOMAIN};

/// One Chromium at a time: three participants' encoders already fill the machine's two cores.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

const E2E_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/e2e");
const LYNO: &str = "vendor/lyno-lib-jitsi-meet-2.6726.2";

#[derive(Clone, Copy, Debug)]
enum Transport {
    Bosh,
    WebSocket,
}

#[derive(Clone, Copy, Debug)]
enum Client {
    /// npm `lib-jitsi-meet-dist` 2.1.5.
    Dist2020,
    /// npm `@lyno/lib-jitsi-meet` 2.6726.2.
    Lyno2021,
}

impl Client {
    fn lib(self) -> &'static str {
        match self {
            Client::Dist2020 => "dist215",
            Client::Lyno2021 => "lyno",
        }
    }
}

/// Fails loudly (never skips) when anything of the browser stack is missing.
fn check_browser_stack(client: Client) -> Result<()> {
    let hint = "run scripts/install-deps.sh (scripts/test.sh does) to install it";
    let e2e = Path::new(E2E_DIR);
    ensure!(Path::new("/usr/bin/chromium").exists(), "Chromium is not installed: {hint}");
    ensure!(std::process::Command::new("node").arg("--version").output().is_ok(), "node is not installed: {hint}");
    for module in ["playwright-core", "jquery", "lib-jitsi-meet-dist", "jquery-3.6"] {
        ensure!(e2e.join("node_modules").join(module).is_dir(), "tests/e2e/node_modules/{module} is missing: {hint}");
    }
    if let Client::Lyno2021 = client {
        ensure!(
            e2e.join(LYNO).join("PATCHED").is_file(),
            "tests/e2e/{LYNO} is missing or not patched (@lyno/lib-jitsi-meet): {hint}"
        );
    }
    Ok(())
}

/// Runs the media driver; returns its JSON result when every check held.
async fn drive(args: &[String]) -> Result<Value> {
    let out: PathBuf = tempfile::Builder::new().prefix("media-").suffix(".json").tempfile()?.into_temp_path().keep()?;
    let output = tokio::process::Command::new("node")
        .arg(Path::new(E2E_DIR).join("media-driver.js"))
        .args(args)
        .arg("--out")
        .arg(&out)
        .kill_on_drop(true)
        .output();
    let output = tokio::time::timeout(Duration::from_secs(300), output).await.context("media driver hung")??;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let verdict = stdout.lines().last().unwrap_or_default().to_owned();
    println!("{verdict}");
    let keep = std::env::var_os("E2E_KEEP");
    if !output.status.success() {
        bail!(
            "media driver {args:?} failed ({}): {verdict}\nstderr: {}\nresult: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr),
            out.display()
        );
    }
    let result = serde_json::from_str(&std::fs::read_to_string(&out)?)?;
    // E2E_KEEP=DIR keeps every driver result (events, Jingle, raw XMPP, console) for inspection.
    match keep {
        Some(dir) => drop(std::fs::rename(&out, Path::new(&dir).join(out.file_name().unwrap_or_default()))),
        None => drop(std::fs::remove_file(&out)),
    }
    Ok(result)
}

/// Endpoint ids whose ICE and DTLS connected on the bridge, with the data channel each opened,
/// as seen from the bridge while the browsers run.
fn watch_bridge(
    bridge: &TestBridge,
) -> (tokio::sync::oneshot::Sender<()>, tokio::task::JoinHandle<BTreeMap<String, Option<String>>>) {
    let mut view = bridge.subscribe();
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(async move {
        let mut connected = BTreeMap::new();
        loop {
            for (key, state) in &view.borrow_and_update().transports {
                if state.ice_connected && state.dtls_connected {
                    let channel = connected.entry(key.endpoint_id.clone()).or_insert(None);
                    if state.data_channel.is_some() {
                        channel.clone_from(&state.data_channel);
                    }
                }
            }
            tokio::select! {
                changed = view.changed() => if changed.is_err() { break },
                _ = &mut stopped => break,
            }
        }
        connected
    });
    (stop, task)
}

/// What one media test does besides the call itself.
#[derive(Default)]
struct Extra {
    /// The moderator mutes this participant's audio once media flows.
    mute_audio_of: Option<usize>,
}

async fn media_call(client: Client, transport: Transport, participants: usize, room: &str, extra: Extra) -> Result<()> {
    check_browser_stack(client)?;
    let _one_at_a_time = BROWSER.lock().await;
    let started = Instant::now();
    let options = ProsodyOptions { restrict_room_creation: true, ..Default::default() };
    let prosody = Prosody::start(options).await?;
    let brewery = format!("jvbbrewery@{INTERNAL_MUC_DOMAIN}");
    let bridge_config = TestBridgeConfig::new(format!("127.0.0.1:{}", prosody.c2s_port()), DOMAIN, &brewery, "jvb-1");
    let bridge = TestBridge::start(bridge_config).await?;
    let _focus = harness::Focus::start(harness::config(
        prosody.component_port(),
        &format!("[bridges]\nbrewery = \"{brewery}\"\n"),
    ));
    harness::wait_focus_online(&TestClient::anonymous(prosody.c2s_port()).await?).await?;

    let service = match transport {
        Transport::Bosh => prosody.bosh_url(),
        Transport::WebSocket => prosody.websocket_url(),
    };
    let port = bridge.udp_addr().port();
    let mut args: Vec<String> = [
        "--lib",
        client.lib(),
        "--service",
        &service,
        "--room",
        room,
        "--participants",
        &participants.to_string(),
        "--bridge-port",
        &port.to_string(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    if let Client::Lyno2021 = client {
        // The second participant turns its camera on after the call started: its own
        // source-add through the focus to the others.
        args.extend(["--late-video".to_owned(), "1".to_owned()]);
    }
    if let Some(target) = extra.mute_audio_of {
        args.extend(["--mute-audio-of".to_owned(), target.to_string()]);
    }
    let (stop_watching, watcher) = watch_bridge(&bridge);
    let result = drive(&args).await;
    let _ = stop_watching.send(());
    let on_bridge = watcher.await?;
    let result = result?;

    let pages = result["participants"].as_array().context("participants")?;
    ensure!(pages.len() == participants, "{} participants in the result", pages.len());
    let ids: Vec<&str> = pages.iter().map(|p| p["endpointId"].as_str().unwrap_or_default()).collect();
    for page in pages {
        let me = page["endpointId"].as_str().context("endpointId")?;
        // The selected candidate pair ends at the bridge's UDP socket.
        let remote = &page["stats"]["pair"]["remote"];
        assert_eq!(remote["address"], "127.0.0.1", "{me}: {remote}");
        assert_eq!(remote["port"].as_u64(), Some(u64::from(port)), "{me}: {remote}");
        // Remote tracks: audio and video of every other participant, attributed to it.
        let remote_tracks = page["remote"].as_array().context("remote")?;
        for other in ids.iter().filter(|id| **id != me) {
            for media in ["audio", "video"] {
                let added = remote_tracks
                    .iter()
                    .any(|r| r["event"] == "added" && r["participant"] == *other && r["type"] == media);
                assert!(added, "{me} got no remote {media} track of {other}: {remote_tracks:?}");
            }
        }
        // The bridge saw this endpoint's ICE and DTLS connect, and its data channel open.
        let channel =
            on_bridge.get(me).with_context(|| format!("the bridge never saw {me} connected: {on_bridge:?}"))?;
        assert_eq!(channel.as_deref(), Some("JVB data channel"), "{me}'s data channel on the bridge");
    }
    // The one who left is gone from the others' remote tracks.
    let leaver = pages.iter().find(|p| Some(p["label"].as_str().unwrap_or_default()) == result["leaver"].as_str());
    let leaver = leaver.context("no participant left")?["endpointId"].as_str().unwrap_or_default();
    for page in pages.iter().filter(|p| p["endpointId"] != leaver) {
        let remote_tracks = page["remote"].as_array().context("remote")?;
        for media in ["audio", "video"] {
            let removed = remote_tracks
                .iter()
                .any(|r| r["event"] == "removed" && r["participant"] == leaver && r["type"] == media);
            assert!(removed, "{}: {leaver}'s remote {media} track was not removed", page["endpointId"]);
        }
    }
    if extra.mute_audio_of.is_some() {
        // The others stopped getting the muted participant's audio because the bridge dropped
        // it (the focus's Colibri2 force-mute), not only because the client went quiet.
        let counters = bridge.counters();
        assert!(counters.rtp_dropped_muted > 0, "the bridge dropped no muted audio: {counters:?}; {}", result["muted"]);
        println!("muted: {} (bridge dropped {} packets)", result["muted"], counters.rtp_dropped_muted);
    }
    println!("join -> first remote media (ms, per participant and sender): {}", result["firstMedia"]);
    println!(
        "{} {:?} x{participants}: {:.1} s (driver {} ms, lib {})",
        client.lib(),
        transport,
        started.elapsed().as_secs_f64(),
        result["timings"]["total"],
        result["libVersion"]
    );
    Ok(())
}

#[tokio::test]
async fn client_2020_two_participants_over_bosh() -> Result<()> {
    media_call(Client::Dist2020, Transport::Bosh, 2, "media-2020-bosh", Extra::default()).await
}

#[tokio::test]
async fn client_2020_two_participants_over_websocket() -> Result<()> {
    media_call(Client::Dist2020, Transport::WebSocket, 2, "media-2020-ws", Extra::default()).await
}

#[tokio::test]
async fn unified_plan_client_three_participants_over_bosh() -> Result<()> {
    media_call(Client::Lyno2021, Transport::Bosh, 3, "media-2021-bosh", Extra::default()).await
}

#[tokio::test]
async fn unified_plan_client_three_participants_over_websocket_and_moderator_mute() -> Result<()> {
    let extra = Extra { mute_audio_of: Some(2) };
    media_call(Client::Lyno2021, Transport::WebSocket, 3, "media-2021-ws", extra).await
}

/// The test bridge as a process (the `jitsi-test-bridge` binary that `cargo test --workspace`
/// builds next to this test), so that it can be killed like a real bridge dies.
struct BridgeProcess {
    child: tokio::process::Child,
    udp_port: u16,
}

impl BridgeProcess {
    async fn start(c2s_port: u16, brewery: &str, nick: &str) -> Result<BridgeProcess> {
        let exe = std::env::current_exe()?;
        let binary = exe.parent().and_then(Path::parent).map(|dir| dir.join("jitsi-test-bridge"));
        let binary = binary.filter(|b| b.is_file()).with_context(|| {
            format!(
                "the jitsi-test-bridge binary is not built next to {}: run `cargo build -p jitsi-test-bridge` \
                 (scripts/test.sh's `cargo test --workspace` builds it)",
                exe.display()
            )
        })?;
        let udp_port = support::free_port()?;
        let mut child = tokio::process::Command::new(binary)
            .args(["--xmpp", &format!("127.0.0.1:{c2s_port}"), "--domain", DOMAIN, "--brewery", brewery])
            .args(["--nick", nick, "--udp-port", &udp_port.to_string()])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        // It prints one READY line once it is in the brewery.
        let stdout = child.stdout.take().context("no stdout")?;
        let mut lines = tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(stdout));
        let ready = tokio::time::timeout(Duration::from_secs(20), lines.next_line()).await;
        match ready {
            Ok(Ok(Some(line))) if line.starts_with("READY ") => Ok(BridgeProcess { child, udp_port }),
            other => bail!("the bridge process did not get ready: {other:?}"),
        }
    }

    fn pid(&self) -> Result<u32> {
        self.child.id().context("the bridge process has exited")
    }
}

/// Bridge loss with media: two bridges; the one carrying the conference (jvb-a, a process,
/// preferred because jvb-b reports more stress) is killed with SIGKILL mid-call. Both
/// participants must be moved to jvb-b and decode each other's video again (in new peer
/// connections) within 10 s; the gap is printed.
#[tokio::test]
async fn bridge_killed_media_resumes_on_the_other_bridge() -> Result<()> {
    check_browser_stack(Client::Lyno2021)?;
    let _one_at_a_time = BROWSER.lock().await;
    let options = ProsodyOptions { restrict_room_creation: true, ..Default::default() };
    let prosody = Prosody::start(options).await?;
    let brewery = format!("jvbbrewery@{INTERNAL_MUC_DOMAIN}");
    let doomed = BridgeProcess::start(prosody.c2s_port(), &brewery, "jvb-a").await?;
    let mut survivor_config =
        TestBridgeConfig::new(format!("127.0.0.1:{}", prosody.c2s_port()), DOMAIN, &brewery, "jvb-b");
    survivor_config.switches.stress_level = 0.3;
    let survivor = TestBridge::start(survivor_config).await?;
    let _focus = harness::Focus::start(harness::config(
        prosody.component_port(),
        &format!("[bridges]\nbrewery = \"{brewery}\"\n"),
    ));
    harness::wait_focus_online(&TestClient::anonymous(prosody.c2s_port()).await?).await?;

    let args: Vec<String> = [
        "--lib",
        Client::Lyno2021.lib(),
        "--service",
        &prosody.bosh_url(),
        "--room",
        "media-bridge-killed",
        "--participants",
        "2",
        "--bridge-port",
        &doomed.udp_port.to_string(),
        "--kill-pid",
        &doomed.pid()?.to_string(),
        "--recover-ms",
        "10000",
        "--leave-index",
        "-1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    // Which endpoints jvb-b forwarded media to and from, seen while the browsers run.
    let mut view = survivor.subscribe();
    let (stop_watching, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(async move {
        let mut forwarded = std::collections::BTreeSet::new();
        loop {
            for (key, state) in &view.borrow_and_update().transports {
                if state.rtp_sent > 0 && state.rtp_received > 0 {
                    forwarded.insert(key.endpoint_id.clone());
                }
            }
            tokio::select! {
                changed = view.changed() => if changed.is_err() { break },
                _ = &mut stopped => break,
            }
        }
        forwarded
    });
    assert!(survivor.view().conferences.is_empty(), "the conference started on jvb-b, not jvb-a");
    let result = drive(&args).await;
    let _ = stop_watching.send(());
    let forwarded = watcher.await?;
    let result = result?;
    let recovery = &result["recovery"];
    println!(
        "bridge killed -> remote frames decoded again: {} ms (per participant: {})",
        recovery["maxMs"], recovery["gapsMs"]
    );
    let gap = recovery["maxMs"].as_u64().context("no recovery measured")?;
    assert!(gap <= 10_000, "media came back after {gap} ms");

    // Media went through jvb-b after the move: it received from and sent to both participants.
    let pages = result["participants"].as_array().context("participants")?;
    for page in pages {
        let id = page["endpointId"].as_str().context("endpointId")?;
        assert!(forwarded.contains(id), "jvb-b forwarded no media of {id}: {forwarded:?}");
    }
    println!("jvb-b: {:?}", survivor.counters());
    drop(doomed);
    Ok(())
}
