//! A simulated participant that behaves as lib-jitsi-meet does on the wire: it logs in
//! anonymously over its own c2s connection, asks the focus for the conference until it is
//! ready, joins the room, answers disco#info, answers every Jingle IQ of the focus, accepts
//! each session-initiate with its own audio and video sources, and leaves when told to. It
//! records the latencies the load report gives.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use minidom::Element;
use tokio::sync::oneshot;

use crate::harness::participant::{
    candidate_port, result_to, session_accept, ssrcs, FEATURES_CURRENT, NS_JINGLE, NS_JITMEET,
};
use crate::harness::{conference_iq, FOCUS_NS};
use crate::measure::Recorder;
use crate::support::{set_attr, xml, TestClient, DOMAIN, FOCUS_DOMAIN, MUC_DOMAIN, NS_CLIENT, NS_DISCO_INFO};

/// How long a request or IQ of ours may go unanswered before it counts as unanswered.
const ANSWER_TIMEOUT: Duration = Duration::from_secs(20);
/// How often a client re-asks after `ready='false'` (lib-jitsi-meet backs off from 1 s up; a
/// shorter pause measures the focus rather than the back-off).
const NOT_READY_PAUSE: Duration = Duration::from_millis(100);

pub struct Spec {
    pub c2s_port: u16,
    /// The room's local part.
    pub room: String,
    pub nick: String,
    /// Whether this participant is expected to be the first in its room (its request makes
    /// the focus create the conference).
    pub opens_room: bool,
    /// Base of its SSRCs: audio `base`, video `base + 1` with its RTX `base + 2`.
    pub ssrc_base: u32,
}

/// A running participant; `leave()` makes it leave the room and log out.
pub struct Participant {
    leave: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<()>,
    pub room: String,
}

impl Participant {
    pub fn spawn(spec: Spec, recorder: Arc<Recorder>) -> Participant {
        let (leave, leave_rx) = oneshot::channel();
        let room = spec.room.clone();
        let task = tokio::spawn(async move {
            if let Err(e) = run(&spec, &recorder, leave_rx).await {
                recorder.error(format!("{}/{}: {e:#}", spec.room, spec.nick));
            }
        });
        Participant { leave: Some(leave), task, room }
    }

    pub fn leave(&mut self) {
        if let Some(leave) = self.leave.take() {
            let _ = leave.send(());
        }
    }

    /// Waits for the participant to have left (after `leave()`), up to `timeout`.
    pub async fn finished(self, timeout: Duration) -> bool {
        tokio::time::timeout(timeout, self.task).await.is_ok()
    }
}

async fn run(spec: &Spec, recorder: &Recorder, mut leave: oneshot::Receiver<()>) -> Result<()> {
    let client = TestClient::anonymous(spec.c2s_port).await.context("c2s login")?;
    recorder.connected.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    request_until_ready(&client, spec, recorder).await?;

    let room = format!("{}@{MUC_DOMAIN}", spec.room);
    let focus = format!("{room}/focus");
    let joining = Instant::now();
    client.join_muc(&room, &spec.nick).await.context("joining the room")?;
    recorder.room_joined(&spec.room, joining);
    recorder.joined.fetch_add(1, std::sync::atomic::Ordering::Relaxed);

    let mut session = Session::default();
    let outcome = loop {
        let stanza = tokio::select! {
            _ = &mut leave => break Ok(()),
            stanza = client.next_matching(|_| true, Duration::from_secs(24 * 3600)) => stanza,
        };
        let stanza = match stanza {
            Ok(stanza) => stanza,
            Err(e) => break Err(e.context("connection lost")),
        };
        let cx = Handlers { client: &client, spec, recorder, focus: &focus, joining };
        if let Err(e) = handle(&cx, &mut session, stanza).await {
            break Err(e);
        }
    };
    if outcome.is_ok() {
        client.leave_muc(&room, &spec.nick).await.context("leaving the room")?;
        recorder.left.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        client.disconnect().await.context("logging out")?;
    }
    outcome
}

/// Sends the conference request as the client does, again after each `ready='false'`.
async fn request_until_ready(client: &TestClient, spec: &Spec, recorder: &Recorder) -> Result<()> {
    let asked = Instant::now();
    loop {
        let reply = match tokio::time::timeout(ANSWER_TIMEOUT, client.iq(conference_iq(&spec.room, None))).await {
            Ok(reply) => reply.context("conference request")?,
            Err(_) => {
                recorder.unanswered(format!("conference request for {}", spec.room));
                bail!("no answer to the conference request");
            }
        };
        let conference = match reply.get_child("conference", FOCUS_NS) {
            Some(conference) if reply.attr("type") == Some("result") => conference,
            _ => bail!("conference request refused: {}", xml(&reply)),
        };
        if conference.attr("ready") == Some("true") {
            let series = if spec.opens_room { &recorder.request_new_room } else { &recorder.request_live_room };
            series.push(asked.elapsed());
            return Ok(());
        }
        if asked.elapsed() > ANSWER_TIMEOUT {
            recorder.unanswered(format!("conference {} never ready", spec.room));
            bail!("the conference was not ready within {ANSWER_TIMEOUT:?}");
        }
        tokio::time::sleep(NOT_READY_PAUSE).await;
    }
}

/// The participant's Jingle state.
#[derive(Default)]
struct Session {
    initiated: bool,
    /// The bridge (by its UDP port) of the current session.
    bridge_port: Option<u16>,
    /// Set by a session-terminate of a session on a killed bridge: the next session-initiate
    /// is the re-invite whose delay the report gives.
    moved_from_killed_bridge: bool,
    next_id: u64,
}

/// What a participant's handlers need to know besides its Jingle state.
struct Handlers<'a> {
    client: &'a TestClient,
    spec: &'a Spec,
    recorder: &'a Recorder,
    /// The focus's occupant JID in the room.
    focus: &'a str,
    /// When the MUC join was sent.
    joining: Instant,
}

async fn handle(cx: &Handlers<'_>, session: &mut Session, stanza: Element) -> Result<()> {
    let Handlers { client, spec, recorder, focus, .. } = *cx;
    if stanza.name() != "iq" {
        return Ok(()); // presence of the others, messages
    }
    match stanza.attr("type") {
        Some("get") if stanza.get_child("query", NS_DISCO_INFO).is_some() => {
            client.send(result_to(&stanza, Some(disco_features()))).await
        }
        Some("set") if stanza.attr("from") == Some(focus) => {
            let Some(jingle) = stanza.get_child("jingle", NS_JINGLE) else {
                bail!("unexpected IQ from the focus: {}", xml(&stanza));
            };
            client.send(result_to(&stanza, None)).await?;
            jingle_from_focus(cx, session, jingle).await
        }
        Some("error") => {
            recorder.error(format!("{}/{}: error answer: {}", spec.room, spec.nick, xml(&stanza)));
            Ok(())
        }
        Some("result") => Ok(()), // to our session-accept
        _ => {
            // lib-jitsi-meet answers what it does not know with an error; so do we.
            let mut error = result_to(&stanza, None);
            set_attr(&mut error, "type", "error");
            error.append_child(
                "<error xmlns='jabber:client' type='cancel'><feature-not-implemented xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"
                    .parse::<Element>()
                    .expect("valid XML"),
            );
            if matches!(stanza.attr("type"), Some("get" | "set")) {
                client.send(error).await?;
            }
            Ok(())
        }
    }
}

async fn jingle_from_focus(cx: &Handlers<'_>, session: &mut Session, jingle: &Element) -> Result<()> {
    let Handlers { client, spec, recorder, focus, joining } = *cx;
    match jingle.attr("action") {
        Some("session-initiate") => {
            let now = Instant::now();
            if !session.initiated {
                let invited_by = recorder.second_join(&spec.room).map_or(joining, |second| second.max(joining));
                recorder.join_to_initiate.push(now.saturating_duration_since(invited_by));
                session.initiated = true;
            }
            if session.moved_from_killed_bridge {
                if let Some((_, killed_at)) = recorder.killed_bridge() {
                    recorder.bridge_loss_to_reinvite.push(now - killed_at);
                }
                session.moved_from_killed_bridge = false;
            }
            session.bridge_port = candidate_port(jingle);
            let sid = jingle.attr("sid").context("session-initiate without sid")?;
            let base = spec.ssrc_base;
            let mut accept =
                Element::builder("iq", NS_CLIENT).append(session_accept(sid, base, (base + 1, base + 2))).build();
            session.next_id += 1;
            set_attr(&mut accept, "id", &format!("accept-{}", session.next_id));
            set_attr(&mut accept, "type", "set");
            set_attr(&mut accept, "to", focus);
            recorder.accepted(&[base, base + 1, base + 2], Instant::now());
            client.send(accept).await
        }
        Some("source-add") => {
            let now = Instant::now();
            // The first SSRC of each participant's sources stands for all of them.
            let mut added = ssrcs(jingle);
            added.extend(json_ssrcs(jingle));
            for ssrc in added.into_iter().filter(|s| s % 4 == 0) {
                if let Some(accepted) = recorder.accepted_at(ssrc) {
                    recorder.accept_to_source_add.push(now.saturating_duration_since(accepted));
                }
            }
            Ok(())
        }
        Some("session-terminate") => {
            if let Some((port, _)) = recorder.killed_bridge() {
                session.moved_from_killed_bridge = session.bridge_port == Some(port);
            }
            session.initiated = session.initiated || session.moved_from_killed_bridge;
            Ok(())
        }
        _ => Ok(()), // source-remove, transport-info, …: answered with a result above
    }
}

fn disco_features() -> Element {
    let mut query = Element::bare("query", NS_DISCO_INFO);
    for feature in FEATURES_CURRENT {
        let mut el = Element::bare("feature", NS_DISCO_INFO);
        set_attr(&mut el, "var", feature);
        query.append_child(el);
    }
    query
}

/// The SSRCs of a `<json-message>` (the JSON form of sources for clients that advertise
/// `http://jitsi.org/json-encoded-sources`): every `"s"` of `{"sources":{owner:[[{"s":…}],…]}}`.
fn json_ssrcs(jingle: &Element) -> Vec<u32> {
    fn collect(value: &serde_json::Value, into: &mut Vec<u32>) {
        match value {
            serde_json::Value::Object(map) => {
                if let Some(ssrc) = map.get("s").and_then(serde_json::Value::as_u64) {
                    into.push(ssrc as u32);
                }
                map.values().for_each(|v| collect(v, into));
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect(v, into)),
            _ => {}
        }
    }
    let mut ssrcs = Vec::new();
    if let Some(message) = jingle.get_child("json-message", NS_JITMEET) {
        if let Ok(value) = serde_json::from_str::<serde_json::Value>(&message.text()) {
            collect(&value, &mut ssrcs);
        }
    }
    ssrcs
}

/// Two clients that measure round trips while a scenario runs: a ping answered by Prosody and
/// a disco#info answered by the focus, each every 50 ms.
pub struct Probes {
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl Probes {
    pub async fn start(c2s_port: u16, recorder: Arc<Recorder>) -> Result<Probes> {
        let mut tasks = Vec::new();
        for (to, payload) in [
            (DOMAIN, "<ping xmlns='urn:xmpp:ping'/>"),
            (FOCUS_DOMAIN, "<query xmlns='http://jabber.org/protocol/disco#info'/>"),
        ] {
            let client = TestClient::anonymous(c2s_port).await.context("probe login")?;
            let recorder = recorder.clone();
            let payload: Element = payload.parse().expect("valid XML");
            tasks.push(tokio::spawn(async move {
                let mut tick = tokio::time::interval(Duration::from_millis(50));
                loop {
                    tick.tick().await;
                    let mut iq = Element::builder("iq", NS_CLIENT).append(payload.clone()).build();
                    set_attr(&mut iq, "type", "get");
                    set_attr(&mut iq, "to", to);
                    let sent = Instant::now();
                    match client.iq(iq).await {
                        Ok(reply) if reply.attr("type") == Some("result") => {
                            let series =
                                if to == DOMAIN { &recorder.prosody_round_trip } else { &recorder.focus_round_trip };
                            series.push(sent.elapsed());
                        }
                        Ok(reply) => recorder.error(format!("probe to {to}: {}", xml(&reply))),
                        Err(e) => recorder.unanswered(format!("probe to {to}: {e:#}")),
                    }
                }
            }));
        }
        Ok(Probes { tasks })
    }
}

impl Drop for Probes {
    fn drop(&mut self) {
        self.tasks.iter().for_each(|t| t.abort());
    }
}
