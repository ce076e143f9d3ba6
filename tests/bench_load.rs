//! Benchmarks (ignored by default; numbers are printed, never asserted):
//!
//!   cargo test --release --test bench_load -- --ignored --nocapture --test-threads 1
//!
//! `core_*` drives the sans-IO core alone; `process_*` runs the release binary against a real
//! Prosody and reservation server and reads its memory from /proc.

mod harness;
mod support;

use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use chrono::Utc;
use jitsi_focus::config::Config;
use jitsi_focus::core::reservation::HttpOutcome;
use jitsi_focus::core::{Effect, Focus, Input, Settings};
use minidom::Element;
use support::{Prosody, ProsodyOptions, ReservationServer, TestClient, MUC_DOMAIN};

fn core_settings() -> Settings {
    let toml = "[xmpp]\ncomponent = \"focus.meet.test\"\nsecret = \"x\"\nmuc_domain = \"conference.meet.test\"\n[reservation]\nenabled = true\nbase_url = \"http://127.0.0.1:1\"\n[limits]\nmax_conferences = 20000\n";
    Settings::from_config(&Config::from_toml(toml).unwrap())
}

fn stanza(xml: String) -> Input {
    Input::Stanza(xml.parse::<Element>().unwrap())
}

#[test]
#[ignore]
fn core_conference_lifecycle_throughput() {
    let mut focus = Focus::new(core_settings());
    let now = Utc::now();
    focus.handle(now, Input::Connected);
    let rooms = 20_000;
    let started = Instant::now();
    for n in 0..rooms {
        let room = format!("room{n}@conference.meet.test");
        focus.handle(now, stanza(format!("<iq xmlns='jabber:component:accept' type='set' id='q{n}' from='u{n}@meet.test/r' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus' room='{room}' machine-uid='m'/></iq>")));
        let mut call = None;
        while let Some(effect) = focus.poll_effect() {
            if let Effect::Http(c) = effect {
                call = Some(c.id);
            }
        }
        let body = format!(
            r#"{{"id":{n},"name":"room{n}","start_time":"{}","duration":3600}}"#,
            now.format("%Y-%m-%dT%H:%M:%S%.3fZ")
        );
        focus.handle(now, Input::Http { id: call.unwrap(), outcome: HttpOutcome::Response { status: 201, body } });
        focus.handle(now, stanza(format!("<presence xmlns='jabber:component:accept' from='{room}/focus' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='focus.meet.test/focus' affiliation='owner' role='moderator'/><status code='110'/></x></presence>")));
        let mut config_id = String::new();
        while let Some(effect) = focus.poll_effect() {
            if let Effect::Send(s) = effect {
                if s.attr("type") == Some("get") {
                    config_id = s.attr("id").unwrap().to_owned();
                }
            }
        }
        focus.handle(now, stanza(format!("<iq xmlns='jabber:component:accept' type='result' id='{config_id}' from='{room}' to='focus.meet.test/focus'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field var='muc#roomconfig_whois'><value>anyone</value></field></x></query></iq>")));
        focus.handle(now, stanza(format!("<presence xmlns='jabber:component:accept' from='{room}/p1' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='u{n}@meet.test/r' affiliation='none' role='participant'/></x></presence>")));
        while focus.poll_effect().is_some() {}
    }
    let elapsed = started.elapsed();
    println!(
        "BENCH core: {rooms} conferences created (request, reservation, join, config, participant) in {:.2?}: {:.1} µs per conference, {} live",
        elapsed,
        elapsed.as_secs_f64() * 1e6 / rooms as f64,
        focus.conference_count()
    );
}

fn memory_kib(pid: u32) -> Result<(u64, u64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status.lines().find(|l| l.starts_with(name)).with_context(|| name.to_owned())?;
        Ok(line.split_whitespace().nth(1).context("value")?.parse()?)
    };
    Ok((field("VmRSS:")?, field("VmHWM:")?))
}

#[tokio::test]
#[ignore]
async fn process_memory_and_request_latency_with_real_prosody() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions { restrict_room_creation: true, ..Default::default() }).await?;
    let api = ReservationServer::start().await?;
    let dir = tempfile::tempdir()?;
    let config = dir.path().join("focus.toml");
    let extra = format!(
        "{}[log]
level = \"warn\"
",
        harness::reservation(&api.base_url())
    );
    std::fs::write(&config, harness::config_toml(prosody.component_port(), support::DEFAULT_COMPONENT_SECRET, &extra))?;
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_jitsi-focus"))
        .arg("--config")
        .arg(&config)
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().context("pid")?;
    let probe = TestClient::anonymous(prosody.c2s_port()).await?;
    harness::wait_focus_online(&probe).await?;
    let (idle_rss, _) = memory_kib(pid)?;

    let rooms = 200;
    let mut clients = Vec::new();
    for _ in 0..rooms {
        clients.push(TestClient::anonymous(prosody.c2s_port()).await?);
    }
    let mut latencies = Vec::new();
    let started = Instant::now();
    for (n, client) in clients.iter().enumerate() {
        let sent = Instant::now();
        harness::ready_conference(&harness::request_conference(client, &format!("load{n}"), None).await?)?;
        latencies.push(sent.elapsed());
        client.join_muc(&format!("load{n}@{MUC_DOMAIN}"), "p").await?;
    }
    let total = started.elapsed();
    latencies.sort();
    let (rss, hwm) = memory_kib(pid)?;
    println!(
        "BENCH process: idle RSS {} KiB; {rooms} live conferences (each: reservation POST, join, config, 1 participant) in {:.2?}; new-room request p50 {:.2?}, p99 {:.2?}; RSS {} KiB, peak {} KiB",
        idle_rss,
        total,
        latencies[latencies.len() / 2],
        latencies[latencies.len() * 99 / 100],
        rss,
        hwm
    );
    child.kill().await?;
    let _ = tokio::time::timeout(Duration::from_secs(5), child.wait()).await;
    Ok(())
}
