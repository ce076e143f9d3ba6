//! Hostile input and faults (issue 6): what any anonymous user, a broken peer or a crash can do
//! to the focus, against a real Prosody (through a proxy that counts component connections) or a
//! stand-in component port that sends what Prosody would not.

mod harness;
mod support;

use std::time::Duration;

use anyhow::Result;
use harness::{config, error_condition, ready_conference, request_conference, reservation_in, state_directory, Focus};
use serde_json::json;
use support::{ComponentPeer, Prosody, ProsodyOptions, Reply, ReservationServer, TcpProxy, TestClient, MUC_DOMAIN};

const FOCUS_NS: &str = "http://jitsi.org/protocol/focus";

fn nested(depth: usize) -> String {
    format!("{}{}", "<a>".repeat(depth), "</a>".repeat(depth))
}

/// A conference request built element by element (the XML parser's own token limit would
/// refuse these attributes in a test's text).
fn conference_with(room: &str, property_value: Option<&str>) -> minidom::Element {
    let mut conference = minidom::Element::bare("conference", FOCUS_NS);
    support::set_attr(&mut conference, "room", room);
    if let Some(value) = property_value {
        let mut property = minidom::Element::bare("property", FOCUS_NS);
        support::set_attr(&mut property, "name", "x");
        support::set_attr(&mut property, "value", value);
        conference.append_child(property);
    }
    let mut iq = minidom::Element::builder("iq", "jabber:client").append(conference).build();
    support::set_attr(&mut iq, "type", "set");
    support::set_attr(&mut iq, "to", "focus.meet.test");
    iq
}

fn granted(id: u64, name: &str) -> Reply {
    let start = chrono::Utc::now().format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    Reply::json(201, json!({"id": id, "name": name, "start_time": start, "duration": 3600}))
}

/// The test's own client builds, parses and drops the deep stanzas too (minidom recurses), so
/// the test side runs on big stacks; the focus runs as its own process, on ordinary ones.
fn on_big_stacks(test: impl std::future::Future<Output = Result<()>> + Send + 'static) -> Result<()> {
    let stack = 512 << 20;
    let runtime =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).thread_stack_size(stack).enable_all().build()?;
    std::thread::Builder::new().stack_size(stack).spawn(move || runtime.block_on(test))?.join().expect("test thread")
}

/// Deep nesting (which used to overflow the stack and kill the process) and long attributes
/// (which used to break the component link) are answered, and the link is never cut: Prosody
/// sees one component connection from start to end, and a running conference is untouched.
#[test]
fn deep_and_long_stanzas_are_answered_and_never_cut_the_link() -> Result<()> {
    on_big_stacks(deep_and_long_stanzas())
}

async fn deep_and_long_stanzas() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions { restrict_room_creation: true, ..Default::default() }).await?;
    let api = ReservationServer::start().await?;
    let proxy = TcpProxy::start(prosody.component_port()).await?;
    let dir = tempfile::tempdir()?;
    let limits = "[limits]\nmax_stanza_size = 65536\n";
    let toml = harness::config_toml(
        proxy.port(),
        support::DEFAULT_COMPONENT_SECRET,
        &format!("{}{limits}", harness::reservation(&api.base_url())),
    );
    std::fs::write(dir.path().join("focus.toml"), toml)?;
    let mut focus = tokio::process::Command::new(env!("CARGO_BIN_EXE_jitsi-focus"))
        .arg("--config")
        .arg(dir.path().join("focus.toml"))
        .stdout(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()?;
    let client = TestClient::anonymous(prosody.c2s_port()).await?;
    harness::wait_focus_online(&client).await?;
    ready_conference(&request_conference(&client, "calm", None).await?)?;
    let occupant = TestClient::anonymous(prosody.c2s_port()).await?;
    occupant.join_muc(&format!("calm@{MUC_DOMAIN}"), "occupant").await?;

    for depth in [4_000, 10_000] {
        let iq = support::parse(&format!(
            "<iq xmlns='jabber:client' type='set' to='focus.meet.test'><conference xmlns='{FOCUS_NS}' room='deep@{MUC_DOMAIN}'>{}</conference></iq>",
            nested(depth)
        ));
        let (condition, text) = error_condition(&client.iq(iq).await?)?;
        assert_eq!(condition, "policy-violation", "depth {depth}");
        assert!(text.contains("deeper than 32"), "{text}");
    }
    // 9,000 bytes: within the stanza limit, so read and refused for what it says.
    let long_room = format!("{}@{MUC_DOMAIN}", "r".repeat(9_000));
    let iq = conference_with(&long_room, None);
    assert_eq!(error_condition(&client.iq(iq).await?)?.0, "bad-request");
    // 100 KB in one attribute: over this focus's 64 KiB stanza limit.
    let iq = conference_with(&format!("big@{MUC_DOMAIN}"), Some(&"v".repeat(100_000)));
    let (condition, text) = error_condition(&client.iq(iq).await?)?;
    assert_eq!((condition.as_str(), text.contains("larger than 65536")), ("policy-violation", true), "{text}");

    // A deep presence from an occupant of a room the focus is in, relayed by the MUC.
    let mut presence =
        support::parse(&format!("<presence xmlns='jabber:client'><stats-id>{}</stats-id></presence>", nested(4_000)));
    support::set_attr(&mut presence, "to", &format!("calm@{MUC_DOMAIN}/occupant"));
    occupant.send(presence).await?;
    // The same occupant then says something ordinary, which the focus still reads: it is the
    // only participant, and leaving ends the conference (its reservation is deleted).
    let reply = request_conference(&client, "calm", None).await?;
    assert_eq!(ready_conference(&reply)?.attr("ready"), Some("true"));
    assert_eq!(proxy.accepted(), 1, "the component link was never cut");
    occupant.leave_muc(&format!("calm@{MUC_DOMAIN}"), "occupant").await?;
    api.wait_for(|r| r.method == "DELETE", support::DEFAULT_TIMEOUT).await?;
    ready_conference(&request_conference(&client, "afterwards", None).await?)?;
    assert_eq!(proxy.accepted(), 1, "the component link was never cut");
    assert!(focus.try_wait()?.is_none(), "the focus process is alive");
    Ok(())
}

/// On the component stream itself: IQs without a valid type are answered, answers are never
/// answered, and 100,000 levels of nesting cost one error reply.
#[tokio::test]
async fn the_component_stream_survives_what_prosody_would_not_relay() -> Result<()> {
    let peer = ComponentPeer::start().await?;
    // The stand-in does not route the focus's keepalive pings back: keep them out of the way.
    let mut quiet = config(peer.port(), "");
    quiet.xmpp.keepalive = Duration::from_secs(60);
    let _focus = Focus::start(quiet);
    let timeout = Duration::from_secs(10);
    let mut link = peer.accept(timeout).await?;
    let from = "from='u@meet.test/r' to='focus.meet.test'";
    link.write(&format!("<iq id='no-type' {from}><ping xmlns='urn:xmpp:ping'/></iq>")).await?;
    link.write(&format!("<iq type='bogus' id='bad-type' {from}><ping xmlns='urn:xmpp:ping'/></iq>")).await?;
    link.write(&format!("<iq type='result' id='an-answer' {from}/>")).await?;
    link.write(&format!("<iq type='error' id='an-error' {from}/>")).await?;
    link.write(&format!(
        "<iq type='set' id='deep' {from}><conference xmlns='{FOCUS_NS}'>{}</conference></iq>",
        nested(100_000)
    ))
    .await?;
    link.write(&format!("<message id='m' {from}><body>{}</body></message>", "z".repeat(2_000_000))).await?;
    link.write(&format!("<iq type='get' id='last' {from}><ping xmlns='urn:xmpp:ping'/></iq>")).await?;
    link.read_until("id='last'", timeout).await?;
    let received = link.received.clone();
    for id in ["no-type", "bad-type"] {
        let at = received.find(&format!("id='{id}'")).unwrap_or_else(|| panic!("{id} unanswered: {received}"));
        assert!(received[at..].split("</iq>").next().unwrap().contains("bad-request"), "{received}");
    }
    let at = received.find("id='deep'").expect("the deep IQ is answered");
    assert!(received[at..].split("</iq>").next().unwrap().contains("policy-violation"), "{received}");
    assert!(!received.contains("an-answer") && !received.contains("an-error"), "answers are never answered");
    assert!(peer.accept(Duration::from_millis(200)).await.is_err(), "the focus did not reconnect");
    Ok(())
}

/// A peer that stops reading: the focus drops the link after `write_timeout` and reconnects,
/// instead of blocking.
#[tokio::test]
async fn a_peer_that_stops_reading_is_dropped_and_the_focus_reconnects() -> Result<()> {
    let peer = ComponentPeer::start().await?;
    let mut slow_writer = config(peer.port(), "");
    slow_writer.xmpp.write_timeout = Duration::from_secs(1);
    let _focus = Focus::start(slow_writer);
    let mut link = peer.accept(Duration::from_secs(10)).await?;
    // Pings whose answers nobody reads: megabytes of replies fill the socket buffers.
    let flood = tokio::spawn(async move {
        let ping = "<iq type='get' id='p' from='u@meet.test/r' to='focus.meet.test'><ping xmlns='urn:xmpp:ping'/></iq>";
        for _ in 0..200 {
            if link.write(&ping.repeat(500)).await.is_err() {
                break; // the focus hung up, as it should
            }
        }
        link
    });
    let second = peer.accept(Duration::from_secs(60)).await?;
    drop(second);
    drop(flood.await?);
    Ok(())
}

/// Pending DELETEs survive a crash: a reservation whose DELETE kept failing and one whose
/// conference was still running are both deleted by the next start, and only once.
#[tokio::test]
async fn reservations_are_deleted_after_a_crash_and_never_twice() -> Result<()> {
    let prosody = Prosody::start(ProsodyOptions { restrict_room_creation: true, ..Default::default() }).await?;
    let state = state_directory();
    let api = ReservationServer::start().await?;
    api.script_post("ended", vec![granted(501, "ended")]);
    api.script_post("running", vec![granted(502, "running")]);
    api.script_delete(501, vec![Reply::status(503); 100]);
    let crashed = Focus::start(config(prosody.component_port(), &reservation_in(&api.base_url(), &state)));
    let client = TestClient::anonymous(prosody.c2s_port()).await?;
    harness::wait_focus_online(&client).await?;
    ready_conference(&request_conference(&client, "ended", None).await?)?;
    client.join_muc(&format!("ended@{MUC_DOMAIN}"), "alice").await?;
    client.leave_muc(&format!("ended@{MUC_DOMAIN}"), "alice").await?;
    api.wait_for(|r| r.method == "DELETE" && r.path == "/conference/501", support::DEFAULT_TIMEOUT).await?;
    ready_conference(&request_conference(&client, "running", None).await?)?;
    client.join_muc(&format!("running@{MUC_DOMAIN}"), "alice").await?;
    drop(crashed); // no goodbye: the task is gone, as in a crash
    drop(api);

    let api = ReservationServer::start().await?;
    // Resumed DELETEs first check that the id still names the room's reservation.
    api.script_get(501, vec![granted(501, "ended")]);
    api.script_get(502, vec![granted(502, "running")]);
    let restarted = Focus::start(config(prosody.component_port(), &reservation_in(&api.base_url(), &state)));
    let deleted = api
        .wait_for_count(|r| r.method == "DELETE", 2, Duration::from_secs(20))
        .await?
        .into_iter()
        .map(|r| r.path)
        .collect::<std::collections::BTreeSet<_>>();
    assert_eq!(deleted, ["/conference/501".to_owned(), "/conference/502".to_owned()].into());
    restarted.stop().await;

    // A third start finds nothing left to delete: the POST of a new room is the first call.
    let api = ReservationServer::start().await?;
    let _third = Focus::start(config(prosody.component_port(), &reservation_in(&api.base_url(), &state)));
    let client = TestClient::anonymous(prosody.c2s_port()).await?;
    harness::wait_focus_online(&client).await?;
    ready_conference(&request_conference(&client, "fresh", None).await?)?;
    assert_eq!(api.count(|r| r.method != "POST"), 0, "{:?}", api.requests());
    Ok(())
}
