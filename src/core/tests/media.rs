//! Media in virtual time: bridges in the brewery, invites, the minimum of participants,
//! moves when a bridge is lost or fails, restart limits, and mute permissions.

use super::*;

pub(super) const BREWERY: &str = "jvbbrewery@internal.meet.test";
pub(super) const FOCUS: &str = "focus.meet.test/focus";

pub(super) fn media_settings() -> Settings {
    let mut settings = settings(false);
    settings.brewery = Some(BREWERY.parse().unwrap());
    settings
}

impl Harness {
    /// A live conference in ROOM with media enabled (no reservations).
    pub(super) fn media_live() -> Harness {
        let mut h = Harness::with(media_settings());
        h.request("q1", ROOM);
        h.room_accepts_join(ROOM);
        h.take_sent();
        h
    }

    /// A bridge's presence in the brewery.
    pub(super) fn bridge(&mut self, nick: &str, stats: &str) {
        self.stanza(&format!("<presence xmlns='jabber:component:accept' from='{BREWERY}/{nick}' to='{FOCUS}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='participant'/></x><stats xmlns='http://jitsi.org/protocol/colibri'><stat name='drain' value='false'/>{stats}</stats></presence>"));
    }

    pub(super) fn bridge_left(&mut self, nick: &str) {
        self.stanza(&format!("<presence xmlns='jabber:component:accept' type='unavailable' from='{BREWERY}/{nick}' to='{FOCUS}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/></x></presence>"));
    }

    /// Answers the focus's disco#info to `nick` with no features of note (defaults apply).
    pub(super) fn answer_disco(&mut self, nick: &str) {
        let to = format!("{ROOM}/{nick}");
        let query = self
            .sent
            .iter()
            .find(|s| s.attr("to") == Some(&to) && s.get_child("query", crate::xmpp::ns::DISCO_INFO).is_some())
            .cloned()
            .unwrap_or_else(|| panic!("no disco to {nick}"));
        let id = query.attr("id").unwrap();
        self.stanza(&format!("<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{to}' to='{FOCUS}'><query xmlns='http://jabber.org/protocol/disco#info'><feature var='urn:xmpp:jingle:apps:rtp:audio'/><feature var='urn:xmpp:jingle:apps:rtp:video'/><feature var='urn:xmpp:jingle:transports:dtls-sctp:1'/></query></iq>"));
    }

    /// A participant joins and answers disco.
    pub(super) fn media_participant(&mut self, nick: &str) {
        self.participant(ROOM, nick, true);
        self.answer_disco(nick);
    }

    /// Answers an endpoint create with a transport on `bridge`'s port.
    pub(super) fn allocate(&mut self, request: &Element, port: u16) {
        let id = request.attr("id").unwrap();
        let from = request.attr("to").unwrap();
        let endpoint = request
            .get_child("conference-modify", crate::xmpp::ns::COLIBRI2)
            .unwrap()
            .children()
            .next()
            .unwrap()
            .attr("id")
            .unwrap();
        self.stanza(&format!("<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{from}' to='{FOCUS}'><conference-modified xmlns='jitsi:colibri2'><endpoint id='{endpoint}'><transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u' pwd='p'><candidate component='1' foundation='1' generation='0' ip='127.0.0.1' port='{port}' priority='1' protocol='udp' type='host'/><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>AA</fingerprint></transport><sctp port='5000'/></transport></endpoint></conference-modified></iq>"));
    }

    /// Answers an IQ from us with a result (or an error condition).
    pub(super) fn answer(&mut self, request: &Element, error: Option<&str>) {
        let id = request.attr("id").unwrap();
        let from = request.attr("to").unwrap();
        let payload = match error {
            None => String::new(),
            Some(condition) => {
                format!("<error type='cancel'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>")
            }
        };
        let type_ = if error.is_some() { "error" } else { "result" };
        self.stanza(&format!(
            "<iq xmlns='jabber:component:accept' type='{type_}' id='{id}' from='{from}' to='{FOCUS}'>{payload}</iq>"
        ));
    }

    pub(super) fn jingle_from(&mut self, nick: &str, id: &str, jingle: &str) -> Element {
        self.stanza(&format!(
            "<iq xmlns='jabber:component:accept' type='set' id='{id}' from='{ROOM}/{nick}' to='{FOCUS}'>{jingle}</iq>"
        ));
        reply_to(&self.sent, id).clone()
    }
}

pub(super) fn colibri_requests(sent: &[Element]) -> Vec<Element> {
    sent.iter().filter(|s| s.get_child("conference-modify", crate::xmpp::ns::COLIBRI2).is_some()).cloned().collect()
}

pub(super) fn creates(sent: &[Element]) -> Vec<Element> {
    colibri_requests(sent)
        .into_iter()
        .filter(|s| {
            let modify = s.get_child("conference-modify", crate::xmpp::ns::COLIBRI2).unwrap();
            modify.children().any(|e| e.attr("create") == Some("true"))
        })
        .collect()
}

pub(super) fn jingles<'a>(sent: &'a [Element], action: &str) -> Vec<&'a Element> {
    sent.iter()
        .filter(|s| s.get_child("jingle", crate::xmpp::ns::JINGLE).is_some_and(|j| j.attr("action") == Some(action)))
        .collect()
}

#[test]
fn nobody_is_invited_before_the_second_participant() {
    let mut h = Harness::media_live();
    h.bridge("jvb-1", "");
    h.media_participant("alice");
    assert!(creates(&h.sent).is_empty(), "one participant gets no bridge");
    h.media_participant("bob");
    let creates = creates(&h.take_sent());
    assert_eq!(creates.len(), 2);
    assert!(creates.iter().all(|c| c.attr("to") == Some(&format!("{BREWERY}/jvb-1"))));
    // Only the first request to the bridge creates the conference.
    let conference_creates = creates
        .iter()
        .filter(|c| c.get_child("conference-modify", crate::xmpp::ns::COLIBRI2).unwrap().attr("create") == Some("true"))
        .count();
    assert_eq!(conference_creates, 1);
}

#[test]
fn session_initiate_follows_the_allocation_and_carries_the_bridge_transport() {
    let mut h = Harness::media_live();
    h.bridge("jvb-1", "");
    h.media_participant("alice");
    h.media_participant("bob");
    let requests = creates(&h.take_sent());
    h.allocate(&requests[0], 10000);
    let initiates = jingles(&h.sent, "session-initiate");
    assert_eq!(initiates.len(), 1);
    let xml = String::from(initiates[0]);
    assert!(xml.contains("port='10000'") || xml.contains("port=\"10000\""), "{xml}");
    assert!(xml.contains("bridge-session"), "{xml}");
    assert!(xml.contains("sctpmap"), "{xml}");
}

#[test]
fn without_a_bridge_the_presence_says_so_and_a_new_bridge_gets_the_invites() {
    let mut h = Harness::media_live();
    h.media_participant("alice");
    h.media_participant("bob");
    let sent = h.take_sent();
    let presence = sent
        .iter()
        .find(|s| s.name() == "presence" && s.get_child("bridgeNotAvailable", crate::xmpp::ns::FOCUS).is_some());
    assert!(presence.is_some(), "no bridgeNotAvailable presence: {sent:?}");
    assert!(creates(&sent).is_empty());
    h.bridge("jvb-late", "");
    let sent = h.take_sent();
    assert_eq!(creates(&sent).len(), 2);
    assert!(sent
        .iter()
        .any(|s| s.name() == "presence" && s.get_child("bridgeNotAvailable", crate::xmpp::ns::FOCUS).is_none()));
}

/// Two participants with active sessions on jvb-1; jvb-2 is also there.
pub(super) fn two_on_first_bridge() -> Harness {
    let mut h = Harness::media_live();
    h.bridge("jvb-1", "<stat name='stress_level' value='0.1'/>");
    h.bridge("jvb-2", "<stat name='stress_level' value='0.5'/>");
    h.media_participant("alice");
    h.media_participant("bob");
    for request in creates(&h.take_sent()) {
        assert_eq!(request.attr("to"), Some(&*format!("{BREWERY}/jvb-1")));
        h.allocate(&request, 10000);
    }
    for initiate in jingles(&h.take_sent(), "session-initiate").into_iter().cloned().collect::<Vec<_>>() {
        h.answer(&initiate, None);
    }
    h.take_sent();
    h
}

#[test]
fn a_bridge_that_leaves_moves_everyone_to_another() {
    let mut h = two_on_first_bridge();
    h.bridge_left("jvb-1");
    let sent = h.take_sent();
    assert_eq!(jingles(&sent, "session-terminate").len(), 2);
    let creates = creates(&sent);
    assert_eq!(creates.len(), 2);
    assert!(creates.iter().all(|c| c.attr("to") == Some(&format!("{BREWERY}/jvb-2"))));
}

#[test]
fn a_failed_health_check_moves_everyone_and_a_silent_allocation_marks_the_bridge() {
    let mut h = two_on_first_bridge();
    // The next health check to jvb-1 fails.
    let check = (0..60).find_map(|_| {
        h.advance(1);
        let check = h
            .sent
            .iter()
            .find(|s| {
                s.attr("to") == Some(&format!("{BREWERY}/jvb-1"))
                    && s.get_child("healthcheck", "http://jitsi.org/protocol/healthcheck").is_some()
            })
            .cloned();
        check
    });
    let check = check.expect("a health check within a minute");
    h.take_sent();
    h.answer(&check, Some("internal-server-error"));
    let sent = h.take_sent();
    let creates = creates(&sent);
    assert_eq!(creates.len(), 2, "{sent:?}");
    assert!(creates.iter().all(|c| c.attr("to") == Some(&format!("{BREWERY}/jvb-2"))));
}

#[test]
fn an_unanswered_allocation_marks_the_bridge_and_the_invite_goes_elsewhere() {
    let mut h = Harness::media_live();
    h.bridge("jvb-1", "<stat name='stress_level' value='0.1'/>");
    h.bridge("jvb-2", "<stat name='stress_level' value='0.5'/>");
    h.media_participant("alice");
    h.media_participant("bob");
    assert!(creates(&h.take_sent()).iter().all(|c| c.attr("to") == Some(&format!("{BREWERY}/jvb-1"))));
    h.advance(15);
    let retried = creates(&h.take_sent());
    assert!(!retried.is_empty());
    assert!(retried.iter().all(|c| c.attr("to") == Some(&format!("{BREWERY}/jvb-2"))), "{retried:?}");
}

#[test]
fn restarts_are_rate_limited() {
    let mut h = two_on_first_bridge();
    let session = |h: &Harness| -> (String, String) {
        let media = &h.focus.conferences_for_tests(ROOM).media;
        let s = media.participants["alice"].session.as_ref().unwrap();
        (s.sid.clone(), s.bridge_session_id.clone())
    };
    let (sid, bs) = session(&h);
    let terminate = |sid: &str, bs: &str| {
        format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-terminate' sid='{sid}'><bridge-session xmlns='http://jitsi.org/protocol/focus' id='{bs}' restart='true'/></jingle>")
    };
    let reply = h.jingle_from("alice", "t1", &terminate(&sid, &bs));
    assert_eq!(reply.attr("type"), Some("result"));
    let request = creates(&h.take_sent()).pop().expect("a fresh allocation");
    h.allocate(&request, 10000);
    let (sid, bs) = session(&h);
    h.advance(2);
    let reply = h.jingle_from("alice", "t2", &terminate(&sid, &bs));
    assert_eq!(error_of(&reply).defined_condition, xmpp_parsers::stanza_error::DefinedCondition::ResourceConstraint);
    assert!(creates(&h.take_sent()).is_empty(), "no new session when rate-limited");
    // The session ended with the refused restart: a later terminate hears so.
    let reply = h.jingle_from("alice", "t3", &terminate("x", "wrong"));
    assert_eq!(
        error_of(&reply).defined_condition,
        xmpp_parsers::stanza_error::DefinedCondition::Gone { new_address: None }
    );
}

#[test]
fn only_moderators_mute_others_and_the_bridge_enforces_it() {
    let mut h = two_on_first_bridge();
    let mute = |jid: &str| format!("<mute xmlns='http://jitsi.org/jitmeet/audio' jid='{ROOM}/{jid}'>true</mute>");
    // Nobody is owner yet in this harness: bob asks to mute alice.
    let reply = h.jingle_from("bob", "m1", &mute("alice"));
    assert_eq!(error_of(&reply).defined_condition, xmpp_parsers::stanza_error::DefinedCondition::NotAllowed);
    h.occupant(ROOM, "bob", "bob@meet.test/r", "owner", "");
    h.take_sent();
    let reply = h.jingle_from("bob", "m2", &mute("alice"));
    assert_eq!(reply.attr("type"), Some("result"));
    let sent = h.take_sent();
    let force = colibri_requests(&sent).into_iter().find(|r| String::from(r).contains("force-mute"));
    assert!(force.is_some(), "force-mute on the bridge: {sent:?}");
    let forwarded = sent.iter().find(|s| {
        s.attr("to") == Some(&format!("{ROOM}/alice"))
            && s.get_child("mute", "http://jitsi.org/jitmeet/audio").is_some()
    });
    assert!(forwarded.is_some(), "the target is told: {sent:?}");
    // Nobody unmutes someone else.
    let unmute = format!("<mute xmlns='http://jitsi.org/jitmeet/audio' jid='{ROOM}/alice'>false</mute>");
    let reply = h.jingle_from("bob", "m3", &unmute);
    assert_eq!(error_of(&reply).defined_condition, xmpp_parsers::stanza_error::DefinedCondition::NotAllowed);
}

#[test]
fn a_conference_that_ends_expires_its_bridge_session_and_holds_nothing() {
    let mut h = two_on_first_bridge();
    h.participant(ROOM, "alice", false);
    h.participant(ROOM, "bob", false);
    let sent = h.take_sent();
    let expires = colibri_requests(&sent);
    assert!(
        expires.iter().any(
            |r| r.get_child("conference-modify", crate::xmpp::ns::COLIBRI2).unwrap().attr("expire") == Some("true")
        ),
        "{sent:?}"
    );
    h.advance(60);
    let footprint = h.focus.footprint();
    assert_eq!((footprint.conferences, footprint.jingle_sessions), (0, 0));
    // What remains are health checks: at most one outstanding per bridge.
    assert!(footprint.media_iqs <= footprint.bridges, "{footprint:?}");
}

#[test]
fn start_muted_from_the_request_mutes_participants_beyond_the_limit() {
    let mut h = Harness::with(media_settings());
    h.stanza(&format!("<iq xmlns='jabber:component:accept' type='set' id='q1' from='{CLIENT}' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus' room='{ROOM}' machine-uid='m1'><property name='startAudioMuted' value='1'/><property name='startVideoMuted' value='x'/></conference></iq>"));
    h.room_accepts_join(ROOM);
    h.bridge("jvb-1", "");
    h.media_participant("alice");
    h.media_participant("bob");
    for request in creates(&h.take_sent()) {
        h.allocate(&request, 10000);
    }
    let sent = h.take_sent();
    let initiates = jingles(&sent, "session-initiate");
    assert_eq!(initiates.len(), 2);
    let muted = |nick: &str| {
        let initiate = initiates.iter().find(|i| i.attr("to") == Some(&*format!("{ROOM}/{nick}"))).unwrap();
        let jingle = initiate.get_child("jingle", crate::xmpp::ns::JINGLE).unwrap();
        jingle
            .get_child("startmuted", crate::xmpp::ns::START_MUTED)
            .map(|m| (m.attr("audio") == Some("true"), m.attr("video") == Some("true")))
    };
    assert_eq!(muted("alice"), None, "the first participant is within the limit");
    assert_eq!(
        muted("bob"),
        Some((true, false)),
        "the second exceeds startAudioMuted=1; an unreadable video limit is none"
    );
}

#[cfg(test)]
mod errors;
mod review;

#[test]
fn a_participant_left_alone_loses_its_session_and_gets_one_when_someone_joins() {
    let mut h = two_on_first_bridge();
    h.participant(ROOM, "bob", false);
    h.take_sent();
    h.advance(19);
    assert!(jingles(&h.take_sent(), "session-terminate").is_empty(), "not before the timeout");
    h.advance(1);
    let sent = h.take_sent();
    let terminate = jingles(&sent, "session-terminate");
    assert_eq!(terminate.len(), 1);
    assert!(String::from(terminate[0]).contains("expired"));
    assert!(colibri_requests(&sent).iter().any(|r| String::from(r).contains("expire")), "the bridge frees it");
    h.media_participant("carol");
    assert_eq!(creates(&h.take_sent()).len(), 2, "alice and carol are invited");
}

#[test]
fn jingle_for_an_earlier_session_is_answered_as_jicofo_does() {
    let mut h = two_on_first_bridge();
    let old = h.focus.conferences_for_tests(ROOM).media.participants["alice"].session.as_ref().unwrap().sid.clone();
    h.bridge_left("jvb-1");
    for request in creates(&h.take_sent()) {
        h.allocate(&request, 10001);
    }
    let accept = format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{old}'/>");
    let reply = h.jingle_from("alice", "old1", &accept);
    assert_eq!(
        error_of(&reply).defined_condition,
        xmpp_parsers::stanza_error::DefinedCondition::Gone { new_address: None }
    );
    let info = format!("<jingle xmlns='urn:xmpp:jingle:1' action='transport-info' sid='{old}'/>");
    let reply = h.jingle_from("alice", "old2", &info);
    assert_eq!(error_of(&reply).defined_condition, xmpp_parsers::stanza_error::DefinedCondition::ItemNotFound);
}

// Found by the media property tests (src/core/proptests_media/).

/// Harness with `names` in ROOM, each with a session on jvb-1 that it accepted (no sources).
pub(super) fn accepted(names: &[&str]) -> Harness {
    let mut h = Harness::media_live();
    h.bridge("jvb-1", "");
    for name in names {
        h.media_participant(name);
    }
    for request in creates(&h.take_sent()) {
        h.allocate(&request, 10000);
    }
    for initiate in jingles(&h.take_sent(), "session-initiate").into_iter().cloned().collect::<Vec<_>>() {
        h.answer(&initiate, None);
    }
    for name in names {
        let sid = sid_of(&h, name);
        let reply = h.jingle_from(
            name,
            &format!("acc-{name}"),
            &format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{sid}'/>"),
        );
        assert_eq!(reply.attr("type"), Some("result"));
    }
    h.take_sent();
    h
}

pub(super) fn sid_of(h: &Harness, nick: &str) -> String {
    h.focus.conferences_for_tests(ROOM).media.participants[nick].session.as_ref().unwrap().sid.clone()
}

pub(super) fn audio_content(ssrc: u32, msid: Option<&str>) -> String {
    let msid = msid.map(|m| format!("<parameter name='msid' value='{m}'/>")).unwrap_or_default();
    format!("<content name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{ssrc}'>{msid}</source></description></content>")
}

/// Replays the source-add/remove sent to `nick` as its client would: (SSRC, owner) pairs added
/// and removed in order; panics if one is added twice or a removal removes nothing.
fn replay_view(sent: &[Element], nick: &str) -> Vec<(u32, String)> {
    let mut view: Vec<(u32, String)> = Vec::new();
    for stanza in sent.iter().filter(|s| s.attr("to") == Some(&*format!("{ROOM}/{nick}"))) {
        let Some(jingle) = stanza.get_child("jingle", crate::xmpp::ns::JINGLE) else { continue };
        let add = match jingle.attr("action") {
            Some("source-add") => true,
            Some("source-remove") => false,
            _ => continue,
        };
        let sources = jingle
            .children()
            .flat_map(|c| c.children())
            .flat_map(|d| d.children())
            .filter(|s| s.name() == "source" && s.ns() == crate::xmpp::ns::SSMA);
        for source in sources {
            let ssrc: u32 = source.attr("ssrc").unwrap().parse().unwrap();
            let owner = source
                .get_child("ssrc-info", crate::xmpp::ns::JITMEET)
                .and_then(|i| i.attr("owner"))
                .unwrap()
                .to_owned();
            let known = view.iter().position(|(s, _)| *s == ssrc);
            match (add, known) {
                (true, None) => view.push((ssrc, owner)),
                (true, Some(i)) => panic!("{nick} told of SSRC {ssrc} ({owner}) while it has it from {}", view[i].1),
                (false, Some(i)) if view[i].1 == owner => {
                    view.remove(i);
                }
                (false, _) => panic!("{nick} told to remove SSRC {ssrc} ({owner}), which it does not have: {view:?}"),
            }
        }
    }
    view
}

/// A source-remove of sources the focus gave msids is held (a possible msid flip), but the
/// SSRCs were already free in the conference: alice's session-accept signalled one again, and
/// bob — who had been queued the first version — got a source-add with SSRC 1111 twice.
#[test]
fn an_ssrc_signalled_again_while_its_removal_is_held_reaches_the_others_once() {
    let mut h = two_on_first_bridge();
    let alice = sid_of(&h, "alice");
    let jingle = |action: &str, content: &str| {
        format!("<jingle xmlns='urn:xmpp:jingle:1' action='{action}' sid='{alice}'>{content}</jingle>")
    };
    assert_eq!(
        h.jingle_from("alice", "a1", &jingle("source-add", &audio_content(1111, None))).attr("type"),
        Some("result")
    );
    assert_eq!(
        h.jingle_from("alice", "a2", &jingle("source-remove", &audio_content(1111, None))).attr("type"),
        Some("result")
    );
    let accept = jingle("session-accept", &audio_content(1111, Some("s t")));
    assert_eq!(h.jingle_from("alice", "a3", &accept).attr("type"), Some("result"));
    let bob = sid_of(&h, "bob");
    h.jingle_from("bob", "b1", &format!("<jingle xmlns='urn:xmpp:jingle:1' action='session-accept' sid='{bob}'/>"));
    h.advance(2);
    let view = replay_view(&h.take_sent(), "bob");
    assert_eq!(view, [(1111, format!("{ROOM}/alice"))]);
}

/// The same with another participant's SSRC: while alice's removal of 2222 is held, bob signals
/// 2222 (the conference has it free); carol still has it from alice and must hear the removal
/// before bob's addition.
#[test]
fn an_ssrc_taken_over_while_its_removal_is_held_is_removed_first() {
    let mut h = accepted(&["alice", "bob", "carol"]);
    let (alice, bob) = (sid_of(&h, "alice"), sid_of(&h, "bob"));
    let jingle = |action: &str, sid: &str, content: &str| {
        format!("<jingle xmlns='urn:xmpp:jingle:1' action='{action}' sid='{sid}'>{content}</jingle>")
    };
    h.jingle_from("alice", "a1", &jingle("source-add", &alice, &audio_content(2222, None)));
    h.jingle_from("alice", "a2", &jingle("source-remove", &alice, &audio_content(2222, None)));
    let reply = h.jingle_from("bob", "b1", &jingle("source-add", &bob, &audio_content(2222, Some("b t"))));
    assert_eq!(reply.attr("type"), Some("result"));
    h.advance(2);
    let view = replay_view(&h.take_sent(), "carol");
    assert_eq!(view, [(2222, format!("{ROOM}/bob"))]);
}

/// A participant that left kept its media IQs (disco#info, allocation, session-initiate,
/// updates) until their 15 s timeout: a join/leave loop grew `media_iqs` without bound, and an
/// ended conference held all of its own.
#[test]
fn departed_participants_and_ended_conferences_hold_no_media_iqs() {
    let mut h = Harness::media_live();
    h.bridge("jvb-1", "");
    h.media_participant("alice");
    for _ in 0..50 {
        h.participant(ROOM, "bob", true);
        h.participant(ROOM, "bob", false);
    }
    let footprint = h.focus.footprint();
    assert!(footprint.media_iqs <= footprint.bridges + 6 * footprint.participants, "{footprint:?}");
    h.participant(ROOM, "alice", false);
    let footprint = h.focus.footprint();
    assert_eq!(footprint.conferences, 0);
    assert!(footprint.media_iqs <= footprint.bridges, "{footprint:?}");
}

/// Source signalling that fell due while the component link was down (here a held
/// source-remove released by its timer) was queued and sent after the reconnection — right
/// before the session-terminate that ends those very sessions, to participants that may have
/// left (and come back as another client) meanwhile.
#[test]
fn no_source_signalling_is_queued_while_the_link_is_down() {
    let mut h = accepted(&["alice", "bob"]);
    let alice = sid_of(&h, "alice");
    let jingle = |action: &str| {
        format!(
            "<jingle xmlns='urn:xmpp:jingle:1' action='{action}' sid='{alice}'>{}</jingle>",
            audio_content(3333, None)
        )
    };
    h.jingle_from("alice", "a1", &jingle("source-add"));
    h.jingle_from("alice", "a2", &jingle("source-remove"));
    h.take_sent();
    h.input(Input::Disconnected);
    h.advance(2);
    h.input(Input::Connected);
    let sent = h.take_sent();
    assert!(jingles(&sent, "source-remove").is_empty(), "stale source-remove after the reconnection: {sent:?}");
    assert_eq!(jingles(&sent, "session-terminate").len(), 2);
}
