//! Requests to the component and hostile input in virtual time: malformed requests, disco
//! and ping, the limits on starting and running conferences and on waiting crowds, and
//! stanzas over the limits.

use super::*;

#[test]
fn malformed_requests_get_precise_errors() {
    let mut h = Harness::new(false);
    let cases = [
        ("<conference xmlns='http://jitsi.org/protocol/focus'/>", "bad-request", "No 'room' specified."),
        ("<conference xmlns='http://jitsi.org/protocol/focus' room='r@elsewhere.test'/>", "bad-request", "must be on conference.meet.test"),
        ("<conference xmlns='http://jitsi.org/protocol/focus' room='r@conference.meet.test/x'/>", "bad-request", "bare JID"),
        ("<conference xmlns='http://jitsi.org/protocol/focus' room='conference.meet.test'/>", "bad-request", "needs a room name"),
        ("<conference xmlns='http://jitsi.org/protocol/focus' room='a@b@c'/>", "bad-request", "not a valid JID"),
        ("<conference xmlns='http://jitsi.org/protocol/focus' room='r@conference.meet.test'><property value='1'/></conference>", "bad-request", "'name'"),
        ("<foo xmlns='urn:example'/>", "service-unavailable", "not supported"),
        ("<conference xmlns='http://jitsi.org/protocol/focus' room='r@conference.meet.test'/><x xmlns='y'/>", "bad-request", "exactly one"),
        ("", "bad-request", "exactly one"),
    ];
    for (n, (payload, condition, text)) in cases.iter().enumerate() {
        let id = format!("b{n}");
        h.stanza(&format!("<iq xmlns='jabber:component:accept' type='set' id='{id}' from='{CLIENT}' to='focus.meet.test'>{payload}</iq>"));
        let sent = h.take_sent();
        let reply = reply_to(&sent, &id);
        let xml = String::from(reply);
        assert!(
            xml.contains(condition) && xml.contains(&text.replace('\'', "&apos;")) || xml.contains(text),
            "{payload}: {xml}"
        );
    }
    assert_eq!(h.focus.conference_count(), 0);
}

#[test]
fn disco_and_ping_are_answered() {
    let mut h = Harness::new(false);
    h.stanza(&format!("<iq xmlns='jabber:component:accept' type='get' id='d' from='{CLIENT}' to='focus.meet.test'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>"));
    h.stanza(&format!("<iq xmlns='jabber:component:accept' type='get' id='p' from='{CLIENT}' to='focus.meet.test'><ping xmlns='urn:xmpp:ping'/></iq>"));
    let sent = h.take_sent();
    assert!(String::from(reply_to(&sent, "d")).contains("var='http://jitsi.org/protocol/focus'"));
    assert_eq!(reply_to(&sent, "p").attr("type"), Some("result"));
}

#[test]
fn past_the_pending_limit_new_rooms_hear_not_ready_at_once_and_nothing_is_called() {
    let mut h = Harness::with(limited(Limits { max_pending_conferences: 2, ..Limits::default() }));
    for n in 0..5 {
        h.request(&format!("q{n}"), &format!("room{n}@conference.meet.test"));
    }
    assert_eq!(h.take_calls().len(), 2, "only two reservation calls");
    let sent = h.take_sent();
    for n in 2..5 {
        assert!(!ready(reply_to(&sent, &format!("q{n}"))), "q{n} is told to ask again");
    }
    assert_eq!(h.focus.footprint().conferences, 2);
}

#[test]
fn a_crowd_on_one_starting_room_is_bounded() {
    let mut h = Harness::with(limited(Limits { max_waiters_per_conference: 3, ..Limits::default() }));
    for n in 0..10 {
        h.request(&format!("q{n}"), ROOM);
    }
    assert_eq!(h.take_sent().len(), 7, "seven immediate ready='false' answers");
    assert_eq!(h.focus.footprint().waiters, 3);
}

#[test]
fn the_conference_limit_holds_for_live_rooms_too() {
    let mut h =
        Harness::with(Settings { limits: Limits { max_conferences: 1, ..Limits::default() }, ..settings(false) });
    h.request("q1", ROOM);
    h.room_accepts_join(ROOM);
    h.request("q2", "other@conference.meet.test");
    assert!(!ready(reply_to(&h.take_sent(), "q2")));
    assert_eq!(h.focus.conference_count(), 1);
}

#[test]
fn rejected_stanzas_and_iqs_without_a_valid_type_are_answered_and_answers_are_not() {
    use crate::xmpp::stream::{RejectedStanza, Rejection};
    let mut h = Harness::new(false);
    let rejected = |id: &str, type_: &str, why| RejectedStanza {
        name: "iq".into(),
        id: Some(id.into()),
        type_: Some(type_.into()),
        from: Some(CLIENT.into()),
        to: Some("focus.meet.test".into()),
        why,
    };
    h.input(Input::Rejected(rejected("deep", "set", Rejection::TooDeep { limit: 32 })));
    h.input(Input::Rejected(rejected("bad-ns", "get", Rejection::Malformed)));
    h.input(Input::Rejected(rejected("answer", "result", Rejection::TooLarge { limit: 10 })));
    h.stanza("<iq xmlns='jabber:component:accept' id='untyped' from='abc@meet.test/res1' to='focus.meet.test'><ping xmlns='urn:xmpp:ping'/></iq>");
    h.stanza(
        "<iq xmlns='jabber:component:accept' type='weird' id='odd' from='abc@meet.test/res1' to='focus.meet.test'/>",
    );
    let sent = h.take_sent();
    let condition = |id: &str| error_of(reply_to(&sent, id)).defined_condition;
    use xmpp_parsers::stanza_error::DefinedCondition;
    assert_eq!(condition("deep"), DefinedCondition::PolicyViolation);
    assert_eq!(condition("bad-ns"), DefinedCondition::BadRequest);
    assert_eq!(condition("untyped"), DefinedCondition::BadRequest);
    assert_eq!(condition("odd"), DefinedCondition::BadRequest);
    assert_eq!(sent.len(), 4, "no answer to an answer");
}

#[test]
fn a_leave_over_the_limits_still_ends_the_conference() {
    use crate::xmpp::stream::{RejectedStanza, Rejection};
    let presence = |from: &str, type_: &str| RejectedStanza {
        name: "presence".into(),
        id: None,
        type_: Some(type_.into()),
        from: Some(from.into()),
        to: Some("focus.meet.test/focus".into()),
        why: Rejection::TooDeep { limit: 32 },
    };
    // A participant leaves with a status nested too deep: the last one, so the conference ends.
    let mut h = Harness::new(true);
    h.live(GRANTED);
    h.participant(ROOM, "alice", true);
    h.input(Input::Rejected(presence(&format!("{ROOM}/alice"), "available")));
    assert_eq!(h.focus.conference_count(), 1, "an available presence over the limits changes nothing");
    h.input(Input::Rejected(presence(&format!("{ROOM}/alice"), "unavailable")));
    assert_eq!(h.focus.conference_count(), 0);
    assert_eq!(h.take_calls()[0].method, Method::Delete);
    // The room is destroyed with a reason too large to read: our own leave is rejected.
    let mut h = Harness::new(true);
    h.live(GRANTED);
    h.participant(ROOM, "alice", true);
    h.input(Input::Rejected(presence(&format!("{ROOM}/focus"), "unavailable")));
    assert_eq!(h.focus.conference_count(), 0);
    assert_eq!(h.take_calls()[0].method, Method::Delete);
    assert!(!h.take_sent().iter().any(|s| is_leave(s, ROOM)), "we are out already");
}
