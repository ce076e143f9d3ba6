//! The answers to Jingle and mute requests are the error catalog's (see `tests::errors`).

use super::*;
use crate::core::tests::errors::Checked;
use crate::errors::{self, Group};

fn jingle(action: &str, sid: &str, inner: &str) -> String {
    format!("<jingle xmlns='urn:xmpp:jingle:1' action='{action}' sid='{sid}'>{inner}</jingle>")
}

fn bridge_session(attributes: &str) -> String {
    format!("<bridge-session xmlns='http://jitsi.org/protocol/focus' {attributes}/>")
}

fn mute(jid: &str, value: &str) -> String {
    format!("<mute xmlns='http://jitsi.org/jitmeet/audio'{jid}>{value}</mute>")
}

#[test]
fn answers_to_jingle_and_mute_are_the_catalogs() {
    let mut c = Checked::default();
    let mut h = accepted(&["alice", "bob"]);
    let sid = sid_of(&h, "alice");
    let reply = h.jingle_from("alice", "e1", "<jingle xmlns='urn:xmpp:jingle:1' sid='s'/>");
    c.family(&reply, "jingle.malformed", "missing 'action'");
    let reply = h.jingle_from("stranger", "e2", &jingle("transport-info", "s", ""));
    c.template(&reply, "media.not-participant", &[]);
    let reply = h.jingle_from("alice", "e3", &jingle("transport-info", "nope", ""));
    c.template(&reply, "jingle.unknown-session", &[("sid", "nope")]);
    c.template(&h.jingle_from("alice", "e4", &jingle("session-accept", &sid, "")), "jingle.not-initiated", &[]);
    c.template(&h.jingle_from("alice", "e5", &jingle("transport-info", &sid, "")), "jingle.missing-transport", &[]);
    let reply = h.jingle_from("alice", "e6", &jingle("source-add", &sid, &audio_content(1111, Some("a-1 t"))));
    assert_eq!(reply.attr("type"), Some("result"));
    let bob = sid_of(&h, "bob");
    let reply = h.jingle_from("bob", "e7", &jingle("source-add", &bob, &audio_content(1111, Some("b-1 t"))));
    c.family(&reply, "jingle.invalid-sources", "SSRC is already used: 1111.");
    let info = jingle("session-info", &sid, &bridge_session("id='x' ice-restart='true'"));
    c.template(&h.jingle_from("alice", "e8", &info), "jingle.ice-restart", &[]);
    let reply = h.jingle_from("alice", "e9", &jingle("content-modify", &sid, ""));
    c.template(&reply, "jingle.unsupported-action", &[("action", "content-modify")]);
    let terminate = jingle("session-terminate", &sid, &bridge_session("id='wrong' restart='true'"));
    c.template(&h.jingle_from("alice", "e10", &terminate), "jingle.bridge-session-not-found", &[]);

    // Mute (nobody is owner in this harness).
    c.template(&h.jingle_from("bob", "m1", &mute("", "true")), "mute.bad-jid", &[]);
    let other = mute(" jid='other@conference.meet.test/x'", "true");
    c.template(&h.jingle_from("bob", "m2", &other), "mute.other-room", &[]);
    let alice = format!(" jid='{ROOM}/alice'");
    c.template(&h.jingle_from("bob", "m3", &mute(&alice, "maybe")), "mute.bad-value", &[]);
    let nobody = format!(" jid='{ROOM}/nobody'");
    c.template(&h.jingle_from("bob", "m4", &mute(&nobody, "true")), "mute.no-such-participant", &[]);
    c.template(&h.jingle_from("bob", "m5", &mute(&alice, "true")), "mute.not-allowed", &[]);

    // A restart too soon after the last is refused and ends the session.
    let bridge_session_id = |h: &Harness| {
        let media = &h.focus.conferences_for_tests(ROOM).media;
        media.participants["alice"].session.as_ref().unwrap().bridge_session_id.clone()
    };
    let restart =
        |sid: &str, bs: &str| jingle("session-terminate", sid, &bridge_session(&format!("id='{bs}' restart='true'")));
    let reply = h.jingle_from("alice", "r1", &restart(&sid, &bridge_session_id(&h)));
    assert_eq!(reply.attr("type"), Some("result"));
    let request = creates(&h.take_sent()).pop().expect("a fresh allocation");
    h.allocate(&request, 10000);
    h.advance(2);
    let sid = sid_of(&h, "alice");
    c.template(&h.jingle_from("alice", "r2", &restart(&sid, &bridge_session_id(&h))), "jingle.rate-limited", &[]);
    c.template(&h.jingle_from("alice", "r3", &jingle("transport-info", &sid, "")), "jingle.session-ended", &[]);

    // Jingle for an earlier session.
    let mut h = two_on_first_bridge();
    let old = sid_of(&h, "alice");
    h.bridge_left("jvb-1");
    for request in creates(&h.take_sent()) {
        h.allocate(&request, 10001);
    }
    c.template(&h.jingle_from("alice", "o1", &jingle("session-accept", &old, "")), "jingle.session-replaced", &[]);
    c.template(&h.jingle_from("alice", "o2", &jingle("transport-info", &old, "")), "jingle.session-inactive", &[]);

    // The sender caps are not implemented: nothing produces this entry yet.
    assert!(errors::JINGLE_SENDER_LIMIT.when.starts_with("not produced yet"));
    c.all_of(&[Group::Jingle, Group::Mute], &["jingle.sender-limit"]);
}
