//! Criterion benchmarks of the focus's hot paths (issue 11): the conference IQ, the
//! session-initiate of a growing conference, source validation, and one participant's
//! lifecycle in the sans-IO core.
//!
//! ```sh
//! cargo bench --bench hot_paths -- --warm-up-time 1 --measurement-time 2
//! ```
//!
//! Every benchmark checks once, outside the timed loop, that it does what its name says.

use std::collections::HashMap;
use std::hint::black_box;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion};
use minidom::Element;

use jitsi_focus::core::sources::{ConferenceSources, SourceLimits};
use jitsi_focus::core::{Effect, Focus, Input, Limits, Settings, Time};
use jitsi_focus::xmpp::focus::{ConferenceRequest, ConferenceResponse, Property};
use jitsi_focus::xmpp::jingle_sources::parse_jingle;

const ROOM: &str = "room1@conference.meet.test";
const FOCUS: &str = "focus.meet.test/focus";
const BREWERY: &str = "jvbbrewery@internal.meet.test";
const BRIDGE: &str = "jvbbrewery@internal.meet.test/jvb-1";
const NS_JINGLE: &str = "urn:xmpp:jingle:1";
const NS_RTP: &str = "urn:xmpp:jingle:apps:rtp:1";
const NS_SSMA: &str = "urn:xmpp:jingle:apps:rtp:ssma:0";
const NS_COLIBRI2: &str = "jitsi:colibri2";

const FIXTURES_2021: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jingle/lyno-lib-jitsi-meet-2.6726.2");

fn fixture(name: &str) -> Element {
    let text = std::fs::read_to_string(format!("{FIXTURES_2021}/{name}")).expect("a fixture");
    text.trim().parse().expect("a captured stanza")
}

fn xml(text: &str) -> Element {
    text.parse().unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn jingle_of(stanza: &Element) -> Option<&Element> {
    stanza.get_child("jingle", NS_JINGLE)
}

fn action_of(stanza: &Element) -> Option<&str> {
    jingle_of(stanza).and_then(|j| j.attr("action"))
}

// ---------------------------------------------------------------------------------------
// 1. The conference IQ
// ---------------------------------------------------------------------------------------

/// A conference request as current lib-jitsi-meet's moderator.js sends it over XMPP (the
/// properties of the HTTP test in `src/runtime/api/conference_request.rs`).
const CONFERENCE_IQ: &str = "<iq xmlns='jabber:client' type='set' id='c2e1b1a0-6c4f-4d8e-9a55-0f2f3d1e7b21:sendIQ' from='abc@meet.test/res1' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus' room='room1@conference.meet.test' machine-uid='3b5e1f0c8d2a4e6f9b7c1d0e2f4a6b8c'><property xmlns='http://jitsi.org/protocol/focus' name='rtcstatsEnabled' value='false'/><property xmlns='http://jitsi.org/protocol/focus' name='visitors-version' value='1'/><property xmlns='http://jitsi.org/protocol/focus' name='startAudioMuted' value='9'/><property xmlns='http://jitsi.org/protocol/focus' name='startVideoMuted' value='9'/><property xmlns='http://jitsi.org/protocol/focus' name='previous-session' value='7f3c2b1a-0d9e-4f8a-b6c5-d4e3f2a1b0c9'/></conference></iq>";

fn parse_conference_iq(text: &str) -> ConferenceRequest {
    let iq: Element = text.parse().expect("an IQ");
    let conference = iq.children().next().expect("a <conference/>");
    ConferenceRequest::try_from(conference).expect("a conference request")
}

fn conference_iq(c: &mut Criterion) {
    let request = parse_conference_iq(CONFERENCE_IQ);
    assert_eq!(request.room.as_deref(), Some(ROOM));
    assert_eq!(request.properties.len(), 5);

    let response = ConferenceResponse {
        room: ROOM.into(),
        ready: true,
        focus_jid: "focus.meet.test".into(),
        session_id: Some("7f3c2b1a-0d9e-4f8a-b6c5-d4e3f2a1b0c9".into()),
        identity: None,
        properties: vec![
            Property::new("authentication", "false"),
            Property::new("externalAuth", "false"),
            Property::new("sipGatewayEnabled", "false"),
            Property::new("visitors-version", "1"),
        ],
    };
    let text = String::from(&Element::from(&response)).replace('\'', "\"");
    assert!(
        text.starts_with("<conference") && text.contains("ready=\"true\"") && text.contains("visitors-version"),
        "{text}"
    );

    let mut group = c.benchmark_group("conference_iq");
    group.bench_function("parse_request", |b| b.iter(|| parse_conference_iq(black_box(CONFERENCE_IQ))));
    group.bench_function("serialise_response", |b| b.iter(|| String::from(&Element::from(black_box(&response)))));
    group.finish();
}

// ---------------------------------------------------------------------------------------
// A conference in the core, whose bridge and participants answer what the focus asks
// ---------------------------------------------------------------------------------------

/// What a current client answers to disco#info, without JSON-encoded sources (so the
/// session-initiate carries its sources as Jingle `<source/>` elements).
const FEATURES: &[&str] = &[
    "urn:xmpp:jingle:1",
    "urn:xmpp:jingle:apps:rtp:1",
    "urn:xmpp:jingle:transports:ice-udp:1",
    "urn:xmpp:jingle:apps:dtls:0",
    "urn:xmpp:jingle:transports:dtls-sctp:1",
    "urn:xmpp:jingle:apps:rtp:audio",
    "urn:xmpp:jingle:apps:rtp:video",
    "urn:ietf:rfc:4588",
    "urn:ietf:rfc:5888",
    "http://jitsi.org/tcc",
    "http://jitsi.org/source-name",
    "http://jitsi.org/receive-multiple-video-streams",
];

fn start() -> Time {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").unwrap().with_timezone(&Utc)
}

fn settings() -> Settings {
    // One bridge takes all 100 participants (the default is 80).
    let bridges =
        jitsi_focus::core::bridges::BridgeSettings { max_participants_per_bridge: 1000, ..Default::default() };
    Settings {
        component: "focus.meet.test".parse().unwrap(),
        muc_domain: "conference.meet.test".parse().unwrap(),
        reservation: None,
        initial_timeout: chrono::Duration::seconds(15),
        request_timeout: chrono::Duration::seconds(20),
        auth_mode: jitsi_focus::config::AuthMode::None,
        auth_domain: String::new(),
        session_lifetime: chrono::Duration::hours(24),
        trusted_domains: vec![],
        delete_give_up: chrono::Duration::hours(24),
        max_message_length: 1024,
        limits: Limits::default(),
        brewery: Some(BREWERY.parse().unwrap()),
        bridges,
        codecs: Default::default(),
        // Everyone is invited on joining, so the n-th participant's offer carries the
        // sources of the n-1 before it.
        min_participants: 1,
    }
}

/// Audio and a video FID pair with msids, as the Unified-Plan client of the fixtures sends
/// them in its session-accept, with SSRCs `base`, `base + 1`, `base + 2`.
fn sources(nick: &str, base: u32) -> String {
    let source = |ssrc: u32, m: &str| {
        format!("<source xmlns='{NS_SSMA}' ssrc='{ssrc}'><parameter name='msid' value='{nick}-{m}-1 {nick}-track-{m}-1'/></source>")
    };
    let transport = "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='Ch8X' pwd='GZ6IjTv3hjaxwskDv7ePeC3s'><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>96:F7:89:29:43:B7:1A:AC:7B:77:7E:72:06:67:EE:A6:13:64:A2:A7:5F:67:D5:99:C2:59:D7:74:09:7C:7D:06</fingerprint></transport>";
    format!(
        "<content creator='responder' name='audio' senders='both'><description xmlns='{NS_RTP}' media='audio'>{}</description>{transport}</content><content creator='responder' name='video' senders='both'><description xmlns='{NS_RTP}' media='video'>{}{}<ssrc-group xmlns='{NS_SSMA}' semantics='FID'><source ssrc='{}'/><source ssrc='{}'/></ssrc-group></description>{transport}</content>",
        source(base, "audio"),
        source(base + 1, "video"),
        source(base + 2, "video"),
        base + 1,
        base + 2
    )
}

/// The SSRCs of participant `i` (distinct for every `i`).
fn base_ssrc(i: u32) -> u32 {
    100_000 + i * 10
}

struct World {
    focus: Focus,
    now: Time,
    sent: Vec<Element>,
    /// The sid of each participant's last session-initiate.
    sids: HashMap<String, String>,
}

impl World {
    /// A focus in a live conference in ROOM with one bridge in the brewery.
    fn new() -> World {
        let mut w = World { focus: Focus::with_seed(settings(), 7), now: start(), sent: vec![], sids: HashMap::new() };
        w.input(Input::Connected);
        w.stanza(&format!("<presence xmlns='jabber:component:accept' from='{BREWERY}/focus.meet.test' to='{FOCUS}'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='{FOCUS}' affiliation='owner' role='moderator'/><status code='110'/></x></presence>"));
        w.stanza(&format!("<presence xmlns='jabber:component:accept' from='{BRIDGE}' to='{FOCUS}'><stats xmlns='http://jitsi.org/protocol/colibri'><stat name='stress_level' value='0.1'/><stat name='drain' value='false'/><stat name='healthy' value='true'/></stats><x xmlns='http://jabber.org/protocol/muc#user'><item jid='jvb@meet.test/r' affiliation='none' role='participant'/></x></presence>"));
        w.pump();
        w.stanza(&format!("<iq xmlns='jabber:component:accept' type='set' id='q1' from='abc@meet.test/res1' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus' room='{ROOM}' machine-uid='m1'/></iq>"));
        w.stanza(&format!("<presence xmlns='jabber:component:accept' from='{ROOM}/focus' to='{FOCUS}'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='{FOCUS}' affiliation='owner' role='moderator'/><status code='110'/></x></presence>"));
        let config_get = w.take_sent().into_iter().find(|s| s.attr("type") == Some("get")).expect("config request");
        let id = config_get.attr("id").unwrap().to_owned();
        w.stanza(&format!("<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{ROOM}' to='{FOCUS}'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field var='muc#roomconfig_whois'><value>anyone</value></field></x></query></iq>"));
        w.pump();
        w
    }

    fn input(&mut self, input: Input) {
        self.focus.handle(self.now, input);
        self.drain();
    }

    fn drain(&mut self) {
        while let Some(effect) = self.focus.poll_effect() {
            if let Effect::Send(stanza) = effect {
                self.sent.push(stanza);
            }
        }
    }

    fn stanza(&mut self, text: &str) {
        self.input(Input::Stanza(xml(text)));
    }

    fn take_sent(&mut self) -> Vec<Element> {
        std::mem::take(&mut self.sent)
    }

    /// Answers everything the focus sent that needs an answer, until it sends nothing new;
    /// returns all it sent.
    fn pump(&mut self) -> Vec<Element> {
        let mut log = vec![];
        loop {
            let sent = self.take_sent();
            if sent.is_empty() {
                return log;
            }
            for stanza in &sent {
                self.note_initiate(stanza);
                if let Some(answer) = jitsi_focus::testing::answer(stanza, FOCUS, FEATURES) {
                    self.stanza(&answer);
                }
            }
            log.extend(sent);
        }
    }

    fn note_initiate(&mut self, stanza: &Element) {
        if action_of(stanza) == Some("session-initiate") {
            let nick = stanza.attr("to").and_then(|to| to.rsplit_once('/')).map(|(_, nick)| nick.to_owned());
            let sid = jingle_of(stanza).and_then(|j| j.attr("sid")).map(str::to_owned);
            self.sids.extend(nick.zip(sid));
        }
    }

    fn join(&mut self, nick: &str) {
        self.stanza(&format!("<presence xmlns='jabber:component:accept' from='{ROOM}/{nick}' to='{FOCUS}'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='{nick}@meet.test/r' affiliation='none' role='participant'/></x></presence>"));
    }

    fn leave(&mut self, nick: &str) {
        self.stanza(&format!("<presence xmlns='jabber:component:accept' type='unavailable' from='{ROOM}/{nick}' to='{FOCUS}'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='{nick}@meet.test/r' affiliation='none' role='none'/></x></presence>"));
    }

    /// `nick` sends a Jingle request in its session; returns the focus's answer type.
    fn jingle(&mut self, nick: &str, action: &str, contents: &str) -> String {
        let sid = self.sids.get(nick).unwrap_or_else(|| panic!("no session-initiate to {nick}")).clone();
        let id = format!("{nick}-{action}");
        self.stanza(&format!("<iq xmlns='jabber:component:accept' type='set' id='{id}' from='{ROOM}/{nick}' to='{FOCUS}'><jingle xmlns='{NS_JINGLE}' action='{action}' sid='{sid}'>{contents}</jingle></iq>"));
        let reply = self.sent.iter().find(|s| s.attr("id") == Some(id.as_str())).expect("an answer");
        reply.attr("type").unwrap_or_default().to_owned()
    }

    /// A conference with `n` participants in session, each having accepted with its sources.
    fn with_participants(n: u32) -> World {
        let mut w = World::new();
        for i in 0..n {
            let nick = format!("p{i}");
            w.join(&nick);
            w.pump();
            assert_eq!(w.jingle(&nick, "session-accept", &sources(&nick, base_ssrc(i))), "result");
            w.pump();
        }
        assert_eq!(w.focus.participant_count(), n as usize);
        w
    }
}

// ---------------------------------------------------------------------------------------
// 2. The session-initiate of the n-th participant
// ---------------------------------------------------------------------------------------

/// The n-th participant has joined and answered disco; the focus asked the bridge for its
/// endpoint. Returns the bridge's answer, not yet given.
fn nth_until_allocation(w: &mut World, nick: &str) -> Element {
    w.join(nick);
    loop {
        let sent = w.take_sent();
        assert!(!sent.is_empty(), "the focus stopped before asking the bridge for {nick}");
        let mut allocation = None;
        for stanza in &sent {
            let creates = stanza
                .get_child("conference-modify", NS_COLIBRI2)
                .is_some_and(|m| m.children().any(|e| e.attr("create") == Some("true")));
            match jitsi_focus::testing::answer(stanza, FOCUS, FEATURES) {
                Some(a) if creates => allocation = Some(xml(&a)),
                Some(a) => w.stanza(&a),
                None => {}
            }
        }
        if let Some(allocation) = allocation {
            return allocation;
        }
    }
}

/// Gives the bridge's answer and serialises the session-initiate it makes the focus send.
fn initiate(w: &mut World, allocation: Element) -> String {
    w.focus.handle(w.now, Input::Stanza(allocation));
    let mut initiate = None;
    while let Some(effect) = w.focus.poll_effect() {
        if let Effect::Send(stanza) = effect {
            if action_of(&stanza) == Some("session-initiate") {
                initiate = Some(String::from(&stanza));
            }
            w.sent.push(stanza);
        }
    }
    initiate.expect("a session-initiate")
}

fn session_initiate(c: &mut Criterion) {
    let mut group = c.benchmark_group("session_initiate");
    for n in [2u32, 100] {
        let mut w = World::with_participants(n - 1);
        let mut round = 0u32;
        // Once: the offer carries every other participant's sources.
        {
            let nick = format!("new{round}");
            round += 1;
            let allocation = nth_until_allocation(&mut w, &nick);
            let text = initiate(&mut w, allocation).replace('\'', "\"");
            for i in 0..n - 1 {
                for ssrc in base_ssrc(i)..base_ssrc(i) + 3 {
                    assert!(text.contains(&format!("ssrc=\"{ssrc}\"")), "participant {i}'s {ssrc} missing");
                }
            }
            w.pump();
            w.leave(&nick);
            w.pump();
            assert_eq!(w.focus.participant_count(), (n - 1) as usize);
        }
        // Timed: the bridge's answer in, the session-initiate out as text. Untimed around
        // it: the participant joins and answers disco, then leaves again.
        group.bench_function(BenchmarkId::new("participants", n), |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let nick = format!("new{round}");
                    round += 1;
                    let allocation = nth_until_allocation(&mut w, &nick);
                    let began = Instant::now();
                    black_box(initiate(&mut w, allocation));
                    total += began.elapsed();
                    w.pump();
                    w.leave(&nick);
                    w.pump();
                }
                total
            })
        });
    }
    group.finish();
}

// ---------------------------------------------------------------------------------------
// 3. Source validation with 100 participants' sources in the conference
// ---------------------------------------------------------------------------------------

fn source_validation(c: &mut Criterion) {
    let limits = SourceLimits::default();
    let jingle_in = |name: &str| jingle_of(&fixture(name)).expect("a Jingle IQ").clone();
    let accept = jingle_in("session-accept.xml");
    let accept_audio_only = jingle_in("session-accept-audio-only.xml");
    let add = jingle_in("source-add.xml");

    // 99 other endpoints with audio and a video FID pair each, as the fixture's client.
    let mut others = ConferenceSources::new();
    for i in 0..99 {
        let nick = format!("p{i}");
        let jingle = xml(&format!(
            "<jingle xmlns='{NS_JINGLE}' action='session-accept'>{}</jingle>",
            sources(&nick, base_ssrc(i))
        ));
        others.add(&nick, parse_jingle(&jingle).unwrap(), &limits).expect("valid sources");
    }
    assert_eq!(others.len_ssrcs(), 99 * 3);
    // For the source-add: the 100th endpoint joined with its microphone only.
    let mut audio_only = others.clone();
    audio_only.add("alice", parse_jingle(&accept_audio_only).unwrap(), &limits).expect("valid sources");

    let validate = |conference: &mut ConferenceSources, jingle: &Element| {
        conference.add("alice", parse_jingle(jingle).expect("parsed"), &limits).expect("valid sources")
    };
    assert_eq!(validate(&mut others.clone(), &accept).sources.len(), 3, "audio and a video FID pair");
    assert_eq!(validate(&mut audio_only.clone(), &add).sources.len(), 2, "a video FID pair");

    // Timed: reading the sources of the <jingle> and validating them against the
    // conference's; the conference is cloned fresh (untimed) for each.
    let mut group = c.benchmark_group("source_validation_100");
    group.bench_function("session_accept", |b| {
        b.iter_batched(|| others.clone(), |mut conference| validate(&mut conference, &accept), BatchSize::SmallInput)
    });
    group.bench_function("source_add", |b| {
        b.iter_batched(|| audio_only.clone(), |mut conference| validate(&mut conference, &add), BatchSize::SmallInput)
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------
// 4. One participant's lifecycle beside K others
// ---------------------------------------------------------------------------------------

const K: u32 = 10;

/// Joins, is invited (disco, bridge allocation, session-initiate), accepts with its sources
/// (forwarded to the K others and the bridge), and leaves (its endpoint expired at the bridge).
/// Every answer of the bridge and the others is formatted and parsed here too.
fn lifecycle(w: &mut World, round: u32) -> usize {
    let nick = format!("x{round}");
    w.join(&nick);
    let mut sent = w.pump().len();
    assert_eq!(w.jingle(&nick, "session-accept", &sources(&nick, 1_000_000 + round % 1000 * 10)), "result");
    sent += w.pump().len();
    w.leave(&nick);
    sent + w.pump().len()
}

fn participant_lifecycle(c: &mut Criterion) {
    let mut w = World::with_participants(K);
    let before = w.focus.footprint();
    // Once: the lifecycle sends what it should, and leaves the focus as it found it.
    {
        let nick = "x0";
        w.join(nick);
        let log = w.pump();
        assert!(log.iter().any(|s| action_of(s) == Some("session-initiate")), "invited");
        assert_eq!(w.jingle(nick, "session-accept", &sources(nick, 1_000_000)), "result");
        let log = w.pump();
        let adds = log.iter().filter(|s| action_of(s) == Some("source-add")).count();
        assert_eq!(adds, K as usize, "each of the others hears of the new sources");
        w.leave(nick);
        let log = w.pump();
        // Clients drop a departed occupant's sources themselves (`media_participant_left`):
        // only the bridge hears of the leave, its endpoint expired.
        assert!(log.iter().all(|s| action_of(s).is_none()), "no Jingle to the others");
        let expires = log
            .iter()
            .filter_map(|s| s.get_child("conference-modify", NS_COLIBRI2))
            .flat_map(|m| m.children())
            .filter(|e| e.attr("id") == Some(nick) && e.attr("expire") == Some("true"))
            .count();
        assert_eq!(expires, 1, "the bridge expires its endpoint: {log:?}");
        assert_eq!(w.focus.footprint(), before, "the state is as before");
    }
    let mut round = 1;
    c.bench_function("participant_lifecycle/k10", |b| {
        b.iter(|| {
            round += 1;
            lifecycle(&mut w, round)
        })
    });
    assert_eq!(w.focus.footprint(), before, "the state is as before");
}

criterion_group!(benches, conference_iq, session_initiate, source_validation, participant_lifecycle);
criterion_main!(benches);
