//! The 2020 client's msid flip in virtual time (see `focus::jingle`): a bridge in the brewery,
//! two participants allocated on it and in session, and what their source changes make the
//! focus tell the others and the bridge.

use super::*;

const BREWERY: &str = "jvbbrewery@internal.meet.test";
const BRIDGE: &str = "jvbbrewery@internal.meet.test/jvb-1";
const NS_JINGLE: &str = "urn:xmpp:jingle:1";
const NS_RTP: &str = "urn:xmpp:jingle:apps:rtp:1";
const NS_SSMA: &str = "urn:xmpp:jingle:apps:rtp:ssma:0";
const NS_COLIBRI2: &str = "jitsi:colibri2";

/// What lib-jitsi-meet 2.1.5 (the 2020 client) answers to disco#info: no source names, no
/// JSON sources.
const FEATURES_2020: &[&str] = &[
    "urn:xmpp:jingle:1",
    "urn:xmpp:jingle:apps:rtp:1",
    "urn:xmpp:jingle:transports:ice-udp:1",
    "urn:xmpp:jingle:apps:dtls:0",
    "urn:xmpp:jingle:transports:dtls-sctp:1",
    "urn:xmpp:jingle:apps:rtp:audio",
    "urn:xmpp:jingle:apps:rtp:video",
    "urn:ietf:rfc:4588",
];

fn media_settings() -> Settings {
    Settings { brewery: Some(BREWERY.parse().unwrap()), ..settings(false) }
}

fn jingle_of(stanza: &Element) -> Option<&Element> {
    stanza.get_child("jingle", NS_JINGLE)
}

fn action_of(stanza: &Element) -> Option<&str> {
    jingle_of(stanza).and_then(|j| j.attr("action"))
}

/// The SSRCs of every `<source>` of a Jingle stanza.
fn ssrcs(stanza: &Element) -> Vec<u32> {
    let mut all = Vec::new();
    for content in jingle_of(stanza).into_iter().flat_map(|j| j.children()) {
        for description in content.children().filter(|c| c.is("description", NS_RTP)) {
            for source in description.children().filter(|c| c.is("source", NS_SSMA)) {
                all.extend(source.attr("ssrc").and_then(|s| s.parse::<u32>().ok()));
            }
        }
    }
    all.sort_unstable();
    all
}

/// A harness whose bridge and participants answer what the focus asks them: health checks,
/// Colibri2 (an endpoint create gets a transport), disco#info (the 2020 client's features)
/// and Jingle (a result).
struct Media {
    h: Harness,
    /// Everything the focus sent, in order, since the last `take_log`.
    log: Vec<Element>,
    /// The sid of each participant's last session-initiate.
    sids: std::collections::HashMap<String, String>,
}

impl Media {
    fn new() -> Media {
        let mut m = Media { h: Harness::with(media_settings()), log: vec![], sids: Default::default() };
        m.h.stanza(&format!("<presence xmlns='jabber:component:accept' from='{BREWERY}/focus.meet.test' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='focus.meet.test/focus' affiliation='owner' role='moderator'/><status code='110'/></x></presence>"));
        m.h.stanza(&format!("<presence xmlns='jabber:component:accept' from='{BRIDGE}' to='focus.meet.test/focus'><stats xmlns='http://jitsi.org/protocol/colibri'><stat name='stress_level' value='0.1'/><stat name='drain' value='false'/><stat name='healthy' value='true'/></stats><x xmlns='http://jabber.org/protocol/muc#user'><item jid='jvb@meet.test/r' affiliation='none' role='participant'/></x></presence>"));
        m.pump();
        m.h.request("q1", ROOM);
        m.h.room_accepts_join(ROOM);
        m.pump();
        m
    }

    /// Answers everything the focus sent that needs an answer, until it sends nothing new.
    fn pump(&mut self) {
        loop {
            let sent = self.h.take_sent();
            if sent.is_empty() {
                return;
            }
            for stanza in &sent {
                if action_of(stanza) == Some("session-initiate") {
                    let nick = stanza.attr("to").and_then(|to| to.rsplit_once('/')).map(|(_, nick)| nick.to_owned());
                    let sid = jingle_of(stanza).and_then(|j| j.attr("sid")).map(str::to_owned);
                    self.sids.extend(nick.zip(sid));
                }
                if let Some(answer) = crate::testing::answer(stanza, "focus.meet.test/focus", FEATURES_2020) {
                    self.h.stanza(&answer);
                }
            }
            self.log.extend(sent);
        }
    }

    fn take_log(&mut self) -> Vec<Element> {
        self.pump();
        std::mem::take(&mut self.log)
    }

    /// The Jingle IQs the focus sent to `nick`, as (action, SSRCs).
    fn jingle_to(log: &[Element], nick: &str) -> Vec<(String, Vec<u32>)> {
        let to = format!("{ROOM}/{nick}");
        log.iter()
            .filter(|s| s.attr("to") == Some(to.as_str()) && s.attr("type") == Some("set"))
            .filter_map(|s| Some((action_of(s)?.to_owned(), ssrcs(s))))
            .collect()
    }

    /// Colibri2 requests to the bridge that carry sources.
    fn source_updates(log: &[Element]) -> usize {
        log.iter()
            .filter(|s| s.attr("to") == Some(BRIDGE))
            .filter_map(|s| s.get_child("conference-modify", NS_COLIBRI2))
            .flat_map(|c| c.children().filter(|e| e.name() == "endpoint"))
            .filter(|e| e.get_child("sources", NS_COLIBRI2).is_some())
            .count()
    }

    /// A Jingle request from `nick` in its current session; returns the focus's answer type.
    fn jingle(&mut self, nick: &str, action: &str, contents: &str) -> String {
        let sid = self.sid(nick);
        let id = format!("{nick}-{action}-{}", self.h.now.timestamp_micros());
        self.h.stanza(&format!("<iq xmlns='jabber:component:accept' type='set' id='{id}' from='{ROOM}/{nick}' to='focus.meet.test/focus'><jingle xmlns='{NS_JINGLE}' action='{action}' sid='{sid}'>{contents}</jingle></iq>"));
        let sent = self.h.take_sent();
        let answer = reply_to(&sent, &id).attr("type").unwrap_or_default().to_owned();
        self.log.extend(sent.iter().filter(|s| s.attr("id") != Some(id.as_str())).cloned());
        self.pump();
        answer
    }

    /// The sid of the last session-initiate sent to `nick`.
    fn sid(&self, nick: &str) -> String {
        self.sids.get(nick).cloned().unwrap_or_else(|| panic!("no session-initiate to {nick}"))
    }
}

/// Audio and a video FID pair as the 2020 client in Chromium 156 writes them: `msid` given or
/// not, the FID group given or not.
fn sources_2020(audio: u32, video: (u32, u32), msid: bool, fid: bool) -> String {
    let id = video.0;
    let msid_of = |m: &str| {
        if msid {
            format!("<parameter name='msid' value='s{id}-{m} t{id}-{m}'/>")
        } else {
            String::new()
        }
    };
    let source = |ssrc: u32, m: &str| {
        format!("<source xmlns='{NS_SSMA}' ssrc='{ssrc}'><parameter name='cname' value='c1'/>{}</source>", msid_of(m))
    };
    let group = if fid {
        format!(
            "<ssrc-group xmlns='{NS_SSMA}' semantics='FID'><source ssrc='{}'/><source ssrc='{}'/></ssrc-group>",
            video.0, video.1
        )
    } else {
        String::new()
    };
    format!(
        "<content name='audio'><description xmlns='{NS_RTP}' media='audio'>{}</description></content><content name='video'><description xmlns='{NS_RTP}' media='video'>{}{}{group}</description></content>",
        source(audio, "a"),
        source(video.0, "v"),
        source(video.1, "v")
    )
}

/// A video FID pair alone, as in [`sources_2020`].
fn video_2020(video: (u32, u32), msid: bool, fid: bool) -> String {
    let all = sources_2020(0, video, msid, fid);
    all[all.find("<content name='video'>").unwrap()..].to_owned()
}

/// Both participants joined, were allocated and accepted with msid-less sources; each got the
/// other's sources.
fn two_in_session() -> Media {
    let mut m = Media::new();
    m.h.participant(ROOM, "alice", true);
    m.h.participant(ROOM, "bob", true);
    m.pump();
    let transport = "<transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='x' pwd='yyyyyyyyyyyyyyyyyyyyyy'><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>C3:D4</fingerprint></transport>";
    let alice =
        sources_2020(1111, (2221, 2222), false, true).replacen("</content>", &format!("{transport}</content>"), 1);
    assert_eq!(m.jingle("alice", "session-accept", &alice), "result");
    let bob =
        sources_2020(3331, (4441, 4442), false, true).replacen("</content>", &format!("{transport}</content>"), 1);
    assert_eq!(m.jingle("bob", "session-accept", &bob), "result");
    let log = m.take_log();
    assert!(Media::jingle_to(&log, "bob").contains(&("source-add".into(), vec![1111, 2221, 2222])), "{log:?}");
    assert!(Media::jingle_to(&log, "alice").contains(&("source-add".into(), vec![3331, 4441, 4442])), "{log:?}");
    m
}

#[test]
fn the_2020_clients_msid_flip_changes_nothing_for_anyone() {
    let mut m = two_in_session();
    // Alice now has a remote msid, so her browser adds msids to her own sources: she removes
    // them all and adds them again with msids and without the FID group, back to back (and a
    // transport-info may come in between).
    assert_eq!(m.jingle("alice", "source-remove", &sources_2020(1111, (2221, 2222), false, false)), "result");
    assert_eq!(m.jingle("alice", "transport-info", "<content name='audio'><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='x' pwd='yyyyyyyyyyyyyyyyyyyyyy'><candidate component='1' foundation='1' generation='0' id='c9' ip='127.0.0.1' port='5000' priority='1' protocol='udp' type='host' network='0'/></transport></content>"), "result");
    assert_eq!(m.jingle("alice", "source-add", &sources_2020(1111, (2222, 2221), true, false)), "result");
    m.h.advance(5);
    let log = m.take_log();
    assert_eq!(Media::jingle_to(&log, "bob"), [], "bob hears of no change");
    assert_eq!(Media::source_updates(&log), 0, "nor does the bridge");

    // Her sources are as they were (the FID group, the focus's msids): she can remove the
    // video pair for real, and Bob hears of it once no re-add has followed in time.
    assert_eq!(m.jingle("alice", "source-remove", &video_2020((2221, 2222), true, true)), "result");
    assert_eq!(Media::jingle_to(&m.take_log(), "bob"), [], "held");
    m.h.advance(1);
    let log = m.take_log();
    assert_eq!(Media::jingle_to(&log, "bob"), [("source-remove".into(), vec![2221, 2222])]);
    assert_eq!(Media::source_updates(&log), 1, "the bridge is told too");
}

#[test]
fn a_held_removal_is_released_by_any_other_change_of_sources_or_the_end_of_the_session() {
    let mut m = two_in_session();
    // A removal followed by the add of other SSRCs (a new camera): both reach Bob at once.
    assert_eq!(m.jingle("alice", "source-remove", &video_2020((2221, 2222), false, true)), "result");
    assert_eq!(m.jingle("alice", "source-add", &video_2020((5551, 5552), false, true)), "result");
    let log = m.take_log();
    assert_eq!(
        Media::jingle_to(&log, "bob"),
        [("source-remove".into(), vec![2221, 2222]), ("source-add".into(), vec![5551, 5552])]
    );
    // A removal, then the session ends: Bob is told of everything Alice had, held or not.
    assert_eq!(m.jingle("alice", "source-remove", &video_2020((5551, 5552), false, true)), "result");
    assert_eq!(m.jingle("alice", "session-terminate", ""), "result");
    let log = m.take_log();
    assert_eq!(Media::jingle_to(&log, "bob"), [("source-remove".into(), vec![1111, 5551, 5552])]);
    m.h.advance(5);
    assert_eq!(Media::jingle_to(&m.take_log(), "bob"), [], "told once");
}

#[test]
fn removals_of_sources_with_the_clients_own_msid_are_not_held() {
    let mut m = Media::new();
    m.h.participant(ROOM, "alice", true);
    m.h.participant(ROOM, "bob", true);
    m.pump();
    for (nick, audio, video) in [("alice", 1111, (2221, 2222)), ("bob", 3331, (4441, 4442))] {
        assert_eq!(m.jingle(nick, "session-accept", &sources_2020(audio, video, true, true)), "result");
    }
    m.take_log();
    assert_eq!(m.jingle("alice", "source-remove", &video_2020((2221, 2222), true, true)), "result");
    assert_eq!(Media::jingle_to(&m.take_log(), "bob"), [("source-remove".into(), vec![2221, 2222])]);
}

/// The children of the `<jingle>` of a stanza captured from a real client (tests/fixtures).
fn captured(stanza: &str) -> String {
    let iq: Element = stanza.trim().parse().expect("a captured stanza");
    let jingle = iq.children().find(|c| c.name() == "jingle").expect("a Jingle IQ");
    jingle.children().map(String::from).collect()
}

const FIXTURES_2020: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jingle/lib-jitsi-meet-dist-2.1.5");

#[test]
fn the_captured_flip_of_the_2020_client_changes_nothing_for_anyone() {
    let read = |name: &str| std::fs::read_to_string(format!("{FIXTURES_2020}/{name}")).expect("a fixture");
    let mut m = Media::new();
    m.h.participant(ROOM, "alice", true);
    m.h.participant(ROOM, "bob", true);
    m.pump();
    // Alice is the real client (lib-jitsi-meet-dist 2.1.5 in Chromium 156), Bob a made-up one.
    assert_eq!(m.jingle("alice", "session-accept", &captured(&read("session-accept.xml"))), "result");
    assert_eq!(m.jingle("bob", "session-accept", &sources_2020(3331, (4441, 4442), false, true)), "result");
    let log = m.take_log();
    let to_bob: Vec<_> = Media::jingle_to(&log, "bob").into_iter().filter(|(a, _)| a != "session-initiate").collect();
    assert_eq!(to_bob.len(), 1, "{to_bob:?}");
    assert_eq!((to_bob[0].0.as_str(), to_bob[0].1.len()), ("source-add", 3), "audio and a video FID pair");

    assert_eq!(m.jingle("alice", "transport-info", &captured(&read("transport-info.xml"))), "result");
    assert_eq!(m.jingle("alice", "source-remove", &captured(&read("source-remove-msid-flip.xml"))), "result");
    assert_eq!(m.jingle("alice", "source-add", &captured(&read("source-add-msid-flip.xml"))), "result");
    m.h.advance(5);
    let log = m.take_log();
    assert_eq!(Media::jingle_to(&log, "bob"), [], "bob hears of no change");
    assert_eq!(Media::source_updates(&log), 0, "nor does the bridge");
}

const FIXTURES_2021: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/jingle/lyno-lib-jitsi-meet-2.6726.2");

/// Not a flip: the captured Unified-Plan client's stanzas go through as they are (its
/// transport-info names the content by mid, `0`).
#[test]
fn the_captured_unified_plan_clients_late_camera_reaches_the_other() {
    let read = |name: &str| std::fs::read_to_string(format!("{FIXTURES_2021}/{name}")).expect("a fixture");
    let mut m = Media::new();
    m.h.participant(ROOM, "alice", true);
    m.h.participant(ROOM, "bob", true);
    m.pump();
    assert_eq!(m.jingle("alice", "session-accept", &captured(&read("session-accept-audio-only.xml"))), "result");
    assert_eq!(m.jingle("bob", "session-accept", &captured(&read("session-accept.xml"))), "result");
    assert_eq!(m.jingle("bob", "transport-info", &captured(&read("transport-info.xml"))), "result");
    m.take_log();
    assert_eq!(m.jingle("alice", "source-add", &captured(&read("source-add.xml"))), "result");
    let log = m.take_log();
    let to_bob = Media::jingle_to(&log, "bob");
    assert_eq!(to_bob.len(), 1, "{to_bob:?}");
    assert_eq!((to_bob[0].0.as_str(), to_bob[0].1.len()), ("source-add", 2), "a video FID pair");
    assert_eq!(Media::source_updates(&log), 1, "the bridge gets it too");
}
