//! Regressions from a hostile review of the media code: each failed before its fix.

use super::*;
use crate::xmpp::ns;

fn jvb(nick: &str) -> String {
    format!("{BREWERY}/{nick}")
}

fn session_of(h: &Harness, nick: &str) -> Option<(String, String, String)> {
    let media = &h.focus.conferences_for_tests(ROOM).media;
    media
        .participants
        .get(nick)?
        .session
        .as_ref()
        .map(|s| (s.sid.clone(), s.bridge.to_string(), s.bridge_session_id.clone()))
}

fn meeting_id_of(request: &Element) -> String {
    request.get_child("conference-modify", ns::COLIBRI2).unwrap().attr("meeting-id").unwrap().to_owned()
}

fn endpoint_of(request: &Element) -> String {
    request
        .get_child("conference-modify", ns::COLIBRI2)
        .unwrap()
        .children()
        .next()
        .unwrap()
        .attr("id")
        .unwrap()
        .to_owned()
}

fn conference_create(request: &Element) -> bool {
    request.get_child("conference-modify", ns::COLIBRI2).unwrap().attr("create") == Some("true")
}

fn conference_expire(request: &Element) -> bool {
    request.get_child("conference-modify", ns::COLIBRI2).unwrap().attr("expire") == Some("true")
}

impl Harness {
    /// A participant whose disco#info advertises source names (a current client).
    fn modern_participant(&mut self, nick: &str) {
        self.participant(ROOM, nick, true);
        let to = format!("{ROOM}/{nick}");
        let query = self
            .sent
            .iter()
            .find(|s| s.attr("to") == Some(&to) && s.get_child("query", ns::DISCO_INFO).is_some())
            .cloned()
            .unwrap();
        let id = query.attr("id").unwrap();
        self.stanza(&format!("<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{to}' to='{FOCUS}'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:jingle:apps:rtp:audio'/><feature var='urn:xmpp:jingle:apps:rtp:video'/><feature var='urn:xmpp:jingle:transports:dtls-sctp:1'/><feature var='http://jitsi.org/source-name'/></query></iq>"));
    }

    /// A JVB-shaped Colibri2 error with a reason.
    fn colibri_error(&mut self, request: &Element, condition: &str, reason: Option<&str>) {
        let id = request.attr("id").unwrap();
        let from = request.attr("to").unwrap();
        let reason = reason.map(|r| format!("<error xmlns='jitsi:colibri2' reason='{r}'/>")).unwrap_or_default();
        self.stanza(&format!("<iq xmlns='jabber:component:accept' type='error' id='{id}' from='{from}' to='{FOCUS}'><error type='cancel'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>{reason}</error></iq>"));
    }

    /// Moves time on one second at a time, answering every health check with a result.
    fn advance_healthy(&mut self, seconds: i64) {
        for _ in 0..seconds {
            self.advance(1);
            let checks: Vec<Element> = self
                .sent
                .iter()
                .filter(|s| s.get_child("healthcheck", "http://jitsi.org/protocol/healthcheck").is_some())
                .cloned()
                .collect();
            self.sent.retain(|s| s.get_child("healthcheck", "http://jitsi.org/protocol/healthcheck").is_none());
            for check in checks {
                self.answer(&check, None);
            }
        }
    }
}

/// A late error for an allocation the focus has already given up on (the participant was
/// re-invited) is applied to the *new* bridge session: it is dropped and everybody is moved
/// again. Here: the first create hits `conference_already_exists` (focus restarted, Prosody kept
/// the meeting id, JVB still has the old conference with bob's old endpoint), so bob's create,
/// sent in the same batch, comes back `conflict` (duplicate endpoint). That stale answer must be
/// ignored; it tears down the fresh allocations instead.
#[test]
fn a_stale_allocation_error_does_not_drop_the_new_session() {
    let mut h = Harness::media_live();
    h.bridge("jvb-1", "");
    h.media_participant("alice");
    h.media_participant("bob");
    let first = creates(&h.take_sent());
    assert_eq!(first.len(), 2);
    let (alice_create, bob_create) = (&first[0], &first[1]);
    assert_eq!(endpoint_of(alice_create), "alice");
    h.colibri_error(alice_create, "conflict", Some("conference_already_exists"));
    let second = creates(&h.take_sent());
    assert_eq!(second.len(), 2, "both re-invited with a fresh meeting id");
    let alice_after = session_of(&h, "alice").unwrap();
    let bob_after = session_of(&h, "bob").unwrap();
    // Bob's *old* create is answered now (JVB: "Endpoint with ID bob already exists").
    h.colibri_error(bob_create, "conflict", None);
    let sent = h.take_sent();
    assert!(creates(&sent).is_empty(), "a stale answer re-invited everybody again: {:?}", creates(&sent));
    assert_eq!(session_of(&h, "alice"), Some(alice_after), "alice's current allocation was abandoned");
    assert_eq!(session_of(&h, "bob"), Some(bob_after));
}

/// The bridge leaves and comes back (same occupant JID: JVB's muc_nickname is fixed) while
/// allocations are in flight. The conference is re-allocated on it and its sessions work; 15 s
/// after the *old* creates went out their timeout marks the bridge non-operational and drops
/// the working session: every participant gets session-terminate and the room goes
/// bridgeNotAvailable for failure_reset.
#[test]
fn old_allocation_timeouts_do_not_kill_the_session_after_a_bridge_rejoins() {
    let mut h = Harness::media_live();
    h.bridge("jvb-1", "");
    h.media_participant("alice");
    h.media_participant("bob");
    assert_eq!(creates(&h.take_sent()).len(), 2); // never answered: the bridge goes away
    h.advance(2);
    h.bridge_left("jvb-1");
    h.bridge("jvb-1", "");
    let again = creates(&h.take_sent());
    assert_eq!(again.len(), 2);
    for request in &again {
        h.allocate(request, 10000);
    }
    for initiate in jingles(&h.take_sent(), "session-initiate").into_iter().cloned().collect::<Vec<_>>() {
        h.answer(&initiate, None);
    }
    h.take_sent();
    h.advance_healthy(20);
    let sent = h.take_sent();
    assert!(jingles(&sent, "session-terminate").is_empty(), "working sessions terminated: {sent:?}");
    assert!(
        !sent.iter().any(|s| s.get_child("bridgeNotAvailable", ns::FOCUS).is_some()),
        "the rejoined bridge was marked failed: {sent:?}"
    );
}

/// DropSession with the bridge kept (any Colibri2 update error, conference_not_found, plain
/// conflict) forgets the session locally but never expires it on the bridge, and the next
/// create carries create='true' with the *same* meeting-id: JVB answers
/// conflict/conference_already_exists, costing a second move of everybody and leaking the old
/// conference (with its endpoints) on the bridge.
#[test]
fn dropping_a_session_on_a_kept_bridge_expires_it_before_creating_it_again() {
    let mut h = two_on_first_bridge();
    // An endpoint update (here a mute) gets an error that is not unknown_endpoint.
    h.occupant(ROOM, "bob", "bob@meet.test/r", "owner", "");
    h.take_sent();
    let mute = format!("<mute xmlns='http://jitsi.org/jitmeet/audio' jid='{ROOM}/alice'>true</mute>");
    h.jingle_from("bob", "m1", &mute);
    let update = colibri_requests(&h.take_sent()).pop().expect("force-mute update");
    let old_meeting = meeting_id_of(&update);
    h.colibri_error(&update, "internal-server-error", None);
    let sent = h.take_sent();
    let requests = colibri_requests(&sent);
    let first_create = requests.iter().position(conference_create).expect("re-created");
    let expired_before =
        requests[..first_create].iter().any(|r| conference_expire(r) && meeting_id_of(r) == old_meeting);
    let fresh_id = meeting_id_of(&requests[first_create]) != old_meeting;
    assert!(
        expired_before || fresh_id,
        "create='true' with meeting-id {old_meeting} that the bridge still has, no expire sent: {requests:?}"
    );
}

/// The move limit ends the session but nothing ever re-invites the participant: after a
/// flapping bridge (or 11 ICE failures) it stays without media until some unrelated event
/// (another join, a new bridge) calls invite_ready.
#[test]
fn a_participant_over_the_move_limit_is_invited_again_later() {
    let mut h = Harness::media_live();
    h.bridge("jvb-1", "<stat name='stress_level' value='0.1'/>");
    h.bridge("jvb-2", "<stat name='stress_level' value='0.5'/>");
    h.media_participant("alice");
    h.media_participant("bob");
    // The bridge carrying the conference flaps (leaves and rejoins the brewery) 11 times.
    for _ in 0..11 {
        for request in creates(&h.take_sent()) {
            h.allocate(&request, 10000);
        }
        for initiate in jingles(&h.take_sent(), "session-initiate").into_iter().cloned().collect::<Vec<_>>() {
            h.answer(&initiate, None);
        }
        h.take_sent();
        let (_, bridge, _) = session_of(&h, "alice").expect("alice has a session");
        let nick = bridge.rsplit('/').next().unwrap().to_owned();
        h.bridge_left(&nick);
        h.bridge(&nick, "<stat name='stress_level' value='0.9'/>");
        h.advance(1);
    }
    h.take_sent();
    assert!(session_of(&h, "alice").is_none(), "over the limit: no session now");
    // Both bridges are fine from now on; ten minutes later alice still has no media.
    h.advance_healthy(600);
    for request in creates(&h.take_sent()) {
        h.allocate(&request, 10000);
    }
    assert!(session_of(&h, "alice").is_some(), "alice was never invited again");
}

/// The bridge's feedback SSRCs are in every session-initiate but are not reserved in the
/// conference's source map: a participant can signal one as its own, and the focus forwards it
/// to every other participant, whose remote description then has the same SSRC twice (jvb-a0
/// and the attacker's), which browsers refuse.
#[test]
fn a_participant_cannot_claim_the_bridges_feedback_ssrc() {
    let mut h = Harness::media_live();
    h.bridge("jvb-1", "");
    h.modern_participant("alice");
    h.modern_participant("bob");
    for request in creates(&h.take_sent()) {
        let id = request.attr("id").unwrap();
        let endpoint = endpoint_of(&request);
        h.stanza(&format!("<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{}' to='{FOCUS}'><conference-modified xmlns='jitsi:colibri2'><endpoint id='{endpoint}'><transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u' pwd='p'><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>AA</fingerprint></transport><sctp port='5000'/></transport></endpoint><sources><media-source type='audio' id='jvb-a0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='424242' name='jvb-a0'/></media-source></sources></conference-modified></iq>", jvb("jvb-1")));
    }
    let initiates: Vec<Element> = jingles(&h.take_sent(), "session-initiate").into_iter().cloned().collect();
    assert!(initiates.iter().all(|i| String::from(i).contains("424242")), "feedback source in session-initiate");
    let sid = |h: &Harness, n: &str| session_of(h, n).unwrap().0;
    let accept = |sid: &str, sources: &str| {
        format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{sid}'><content name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>{sources}</description></content></jingle>")
    };
    let bob_sid = sid(&h, "bob");
    h.jingle_from("bob", "a1", &accept(&bob_sid, ""));
    let alice_sid = sid(&h, "alice");
    let claim =
        "<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='424242'><parameter name='msid' value='s t'/></source>";
    let reply = h.jingle_from("alice", "a2", &accept(&alice_sid, claim));
    let forwarded = jingles(&h.sent, "source-add")
        .iter()
        .any(|s| s.attr("to") == Some(&*format!("{ROOM}/bob")) && String::from(*s).contains("424242"));
    assert!(
        reply.attr("type") == Some("error") && !forwarded,
        "the bridge's SSRC 424242 was accepted from alice and sent to bob as hers"
    );
}

/// One source-add/remove pair from one participant costs 2·(N-1) Jingle IQs (no signalling
/// delay, so nothing nets out) and every one of them is kept in media_iqs for 15 s although its
/// answer is ignored (MediaIqKind::Notify).
#[test]
fn source_churn_fan_out_and_retention() {
    let mut h = Harness::media_live();
    h.bridge("jvb-1", "");
    let n = 30;
    for i in 0..n {
        h.media_participant(&format!("p{i}"));
    }
    for request in creates(&h.take_sent()) {
        h.allocate(&request, 10000);
    }
    let initiates: Vec<Element> = jingles(&h.take_sent(), "session-initiate").into_iter().cloned().collect();
    for initiate in &initiates {
        h.answer(initiate, None);
    }
    for i in 0..n {
        let nick = format!("p{i}");
        let sid = session_of(&h, &nick).unwrap().0;
        h.jingle_from(
            &nick,
            &format!("acc{i}"),
            &format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{sid}'/>"),
        );
    }
    h.take_sent();
    let before = h.focus.footprint().media_iqs;
    let sid = session_of(&h, "p0").unwrap().0;
    let source = |ssrc: u32| {
        format!("<content name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{ssrc}'><parameter name='msid' value='m{ssrc} t'/></source></description></content>")
    };
    let rounds = 50;
    for r in 0..rounds {
        let ssrc = 1000 + r;
        h.jingle_from(
            "p0",
            &format!("add{r}"),
            &format!("<jingle xmlns='urn:xmpp:jingle:1' action='source-add' sid='{sid}'>{}</jingle>", source(ssrc)),
        );
        h.jingle_from(
            "p0",
            &format!("rm{r}"),
            &format!("<jingle xmlns='urn:xmpp:jingle:1' action='source-remove' sid='{sid}'>{}</jingle>", source(ssrc)),
        );
    }
    let out = h.take_sent().len();
    let held = h.focus.footprint().media_iqs - before;
    eprintln!("{} stanzas in -> {out} out; {held} media_iqs held 15 s", 2 * rounds);
    assert!(held < 2 * rounds as usize, "{held} media IQs retained for answers that are ignored");
}

// ---------------------------------------------------------------------------------------------
// A JVB in the loop: the test bridge's Colibri2 state machine (JVB-faithful) answers in order.

use jitsi_test_bridge::colibri2::{
    Colibri2Handler, Context, EndpointTransports, IceUdpTransport as BridgeIce, LocalCandidate, LocalTransport,
    MediaDescription, MediaSource as BridgeSource,
};
use jitsi_test_bridge::EndpointKey;

struct FakeTransports;

impl EndpointTransports for FakeTransports {
    fn create(&mut self, _: &EndpointKey, _: bool, _: &[MediaDescription]) -> Result<LocalTransport, String> {
        Ok(LocalTransport {
            ufrag: "u".into(),
            pwd: "p".into(),
            fingerprint_hash: "sha-256".into(),
            fingerprint: "AA:BB".into(),
            candidates: vec![LocalCandidate {
                foundation: "1".into(),
                priority: 1,
                ip: "127.0.0.1".into(),
                port: 10000,
                id: "c".into(),
            }],
        })
    }
    fn start_sctp(&mut self, _: &EndpointKey) {}
    fn set_media(&mut self, _: &EndpointKey, _: &[MediaDescription]) {}
    fn set_remote(&mut self, _: &EndpointKey, _: &BridgeIce) {}
    fn set_sources(&mut self, _: &EndpointKey, _: &[BridgeSource]) {}
    fn set_force_mute(&mut self, _: &EndpointKey, _: bool, _: bool) {}
    fn expire(&mut self, _: &EndpointKey) {}
}

struct Jvb {
    handler: Colibri2Handler,
    creates: usize,
    errors: Vec<String>,
}

impl Jvb {
    fn new() -> Jvb {
        Jvb { handler: Colibri2Handler::new(), creates: 0, errors: Vec::new() }
    }

    /// Answers, in order, every Colibri2 request, session-initiate and health check sent so far,
    /// until the focus sends no more Colibri2 requests.
    fn pump(&mut self, h: &mut Harness) {
        for _ in 0..500 {
            let sent = h.take_sent();
            let mut colibri = 0;
            for stanza in &sent {
                if let Some(payload) = stanza.get_child("conference-modify", ns::COLIBRI2) {
                    colibri += 1;
                    if payload.children().any(|e| e.attr("create") == Some("true")) {
                        self.creates += 1;
                    }
                    let id = stanza.attr("id").unwrap();
                    let from = stanza.attr("to").unwrap();
                    let reply = match self.handler.handle(payload, Context::default(), &mut FakeTransports) {
                        Ok(answer) => format!("<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{from}' to='{FOCUS}'>{}</iq>", String::from(&answer)),
                        Err(error) => {
                            let e = error.to_element();
                            self.errors.push(String::from(&e));
                            format!("<iq xmlns='jabber:component:accept' type='error' id='{id}' from='{from}' to='{FOCUS}'>{}</iq>", String::from(&e))
                        }
                    };
                    h.stanza(&reply);
                } else if stanza.get_child("healthcheck", "http://jitsi.org/protocol/healthcheck").is_some()
                    || stanza
                        .get_child("jingle", ns::JINGLE)
                        .is_some_and(|j| j.attr("action") == Some("session-initiate"))
                {
                    h.answer(stanza, None);
                }
            }
            if colibri == 0 {
                return;
            }
        }
        panic!("the focus never stopped sending Colibri2 requests");
    }
}

fn live_with_meeting_id(meeting_id: &str) -> Harness {
    let mut h = Harness::with(media_settings());
    h.request("q1", ROOM);
    h.stanza(&format!("<presence xmlns='jabber:component:accept' from='{ROOM}/focus' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='focus.meet.test/focus' affiliation='owner' role='moderator'/><status code='110'/></x></presence>"));
    let get = h.take_sent().into_iter().find(|s| s.attr("type") == Some("get")).unwrap();
    let id = get.attr("id").unwrap().to_owned();
    h.stanza(&format!("<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{ROOM}' to='focus.meet.test/focus'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field var='muc#roomconfig_whois'><value>anyone</value></field><field var='muc#roominfo_meetingId'><value>{meeting_id}</value></field></x></query></iq>"));
    h.take_sent();
    h
}

/// End to end with a JVB-faithful bridge: the focus crashes and restarts while alice and
/// bob stay in the room (Prosody keeps the meeting id; JVB keeps the conference and both
/// endpoints). The README-promised recovery ("a fresh meeting id ends the conflict") should
/// take one extra round; the stale answer to bob's first create drops the fresh session, and
/// the focus keeps re-inviting until the move limit leaves both without media.
#[test]
fn a_restarted_focus_recovers_from_the_bridges_old_conference_in_one_round() {
    let mut jvb = Jvb::new();
    // Before the crash.
    let mut before = live_with_meeting_id("m-1");
    before.bridge("jvb-1", "");
    before.media_participant("alice");
    before.media_participant("bob");
    jvb.pump(&mut before);
    assert!(jvb.errors.is_empty(), "{:?}", jvb.errors);
    // The focus restarts; the room (and its meeting id) and the bridge's conference remain.
    let mut h = live_with_meeting_id("m-1");
    h.bridge("jvb-1", "");
    h.media_participant("alice");
    h.media_participant("bob");
    jvb.creates = 0;
    jvb.pump(&mut h);
    for _ in 0..5 {
        h.advance(1);
        jvb.pump(&mut h);
    }
    let initiates =
        h.focus.conferences_for_tests(ROOM).media.participants.values().filter(|p| p.session.is_some()).count();
    let leaked = jvb.handler.snapshot();
    eprintln!(
        "creates after restart: {}, bridge errors: {}, conferences on the bridge: {} {:?}",
        jvb.creates,
        jvb.errors.len(),
        leaked.len(),
        leaked.values().map(|c| c.endpoints.len()).collect::<Vec<_>>()
    );
    for e in &jvb.errors {
        eprintln!("  {e}");
    }
    assert_eq!(initiates, 2, "participants left with a session");
    assert!(jvb.creates <= 4, "{} endpoint/conference creates to recover", jvb.creates);
}

/// End to end with the JVB-faithful bridge: ONE transient error on one endpoint update
/// (here a moderator's force-mute) in a healthy two-person conference. DropSession(Keep)
/// neither expires the old conference nor its endpoints, so the re-invite hits
/// conference_already_exists, then the stale "Endpoint with ID bob already exists" answer drops
/// the fresh session, and so on until the move limit: both participants end without media and
/// the bridge keeps the orphaned conferences.
#[test]
fn one_failed_update_does_not_strand_the_conference() {
    let mut jvb = Jvb::new();
    let mut h = live_with_meeting_id("m-1");
    h.bridge("jvb-1", "");
    h.media_participant("alice");
    h.media_participant("bob");
    jvb.pump(&mut h);
    assert!(jvb.errors.is_empty());
    h.occupant(ROOM, "bob", "bob@meet.test/r", "owner", "");
    h.take_sent();
    let mute = format!("<mute xmlns='http://jitsi.org/jitmeet/audio' jid='{ROOM}/alice'>true</mute>");
    h.jingle_from("bob", "m1", &mute);
    let update = colibri_requests(&h.take_sent()).pop().unwrap();
    h.colibri_error(&update, "internal-server-error", None); // one transient failure
    jvb.creates = 0;
    jvb.pump(&mut h);
    for _ in 0..5 {
        h.advance(1);
        jvb.pump(&mut h);
    }
    let with_session =
        h.focus.conferences_for_tests(ROOM).media.participants.values().filter(|p| p.session.is_some()).count();
    eprintln!(
        "creates: {}, errors: {}, conferences on the bridge: {}",
        jvb.creates,
        jvb.errors.len(),
        jvb.handler.snapshot().len()
    );
    assert_eq!(with_session, 2, "participants with a session after one failed update");
}

/// Single-bridge deployment, one failed health check (e.g. a GC pause answered
/// internal-server-error): everybody is moved off, the room waits for the bridge, the bridge
/// passes its checks again and the conference is re-invited onto it, where JVB still holds the
/// old conference: same spiral, everybody stranded.
#[test]
fn one_failed_health_check_on_the_only_bridge_does_not_strand_the_conference() {
    let mut jvb = Jvb::new();
    let mut h = live_with_meeting_id("m-1");
    h.bridge("jvb-1", "");
    h.media_participant("alice");
    h.media_participant("bob");
    jvb.pump(&mut h);
    let mut failed = false;
    for _ in 0..180 {
        h.advance(1);
        if !failed {
            if let Some(check) = h
                .sent
                .iter()
                .find(|s| s.get_child("healthcheck", "http://jitsi.org/protocol/healthcheck").is_some())
                .cloned()
            {
                h.sent.retain(|s| s.attr("id") != check.attr("id"));
                h.answer(&check, Some("internal-server-error"));
                failed = true;
            }
        }
        jvb.pump(&mut h);
    }
    assert!(failed);
    let with_session =
        h.focus.conferences_for_tests(ROOM).media.participants.values().filter(|p| p.session.is_some()).count();
    eprintln!("errors: {:?}, conferences on the bridge: {}", jvb.errors.len(), jvb.handler.snapshot().len());
    assert_eq!(with_session, 2, "participants with a session three minutes after one failed health check");
}

/// Source attributes are forwarded verbatim to every other participant, CR/LF included.
/// minidom writes them as `&#xd;&#xa;` (Smack, Jicofo's XML writer, leaves them raw, and a raw
/// newline in an attribute is normalised to a space by the receiver's parser), so the receiver
/// gets real line breaks in the msid, and lib-jitsi-meet pastes it into its remote SDP as
/// `a=ssrc:<ssrc> msid:<value>` (SDPUtil.filterSpecialChars keeps CR/LF): SDP injection into every
/// other participant's remote description (e.g. an `a=candidate` with the attacker's address,
/// which discloses each victim's IP through its ICE checks; or just a line that makes
/// setRemoteDescription fail for all of them).
#[test]
fn source_text_cannot_inject_lines_into_other_participants_sdp() {
    let mut h = two_on_first_bridge();
    let sid = |h: &Harness, n: &str| session_of(h, n).unwrap().0;
    let accept = |sid: &str, sources: &str| {
        format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{sid}'><content name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>{sources}</description></content></jingle>")
    };
    let bob_sid = sid(&h, "bob");
    h.jingle_from("bob", "a1", &accept(&bob_sid, ""));
    let alice_sid = sid(&h, "alice");
    let evil = "<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1111'><parameter name='msid' value='s t&#13;&#10;a=candidate:1 1 udp 2130706431 203.0.113.66 3478 typ host'/></source>";
    let reply = h.jingle_from("alice", "a2", &accept(&alice_sid, evil));
    let to_bob: Vec<String> = jingles(&h.sent, "source-add")
        .iter()
        .filter(|s| s.attr("to") == Some(&*format!("{ROOM}/bob")))
        .map(|s| String::from(*s))
        .collect();
    // What bob's XML parser reads back.
    let injected = to_bob.iter().any(|xml| {
        let parsed: Element = xml.parse().unwrap();
        String::from(&parsed).contains("&#xa;a=candidate") || xml.contains("&#xa;a=candidate")
    });
    assert!(reply.attr("type") == Some("error") || !injected, "alice's msid with CR LF reached bob: {to_bob:?}");
}
