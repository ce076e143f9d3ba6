//! Draining before a stop: new rooms are refused with the shutdown error, rooms whose
//! conference exists keep answering, and the focus knows when it is empty.

use super::*;
use crate::xmpp::ns;

#[test]
fn a_new_room_is_refused_with_the_graceful_shutdown_error() {
    let mut h = Harness::new(true);
    h.focus.start_draining(h.now);
    assert!(h.focus.is_draining());
    h.request("q1", ROOM);
    let sent = h.take_sent();
    let error = error_of(reply_to(&sent, "q1"));
    assert_eq!(error.type_, xmpp_parsers::stanza_error::ErrorType::Cancel);
    assert_eq!(error.defined_condition, xmpp_parsers::stanza_error::DefinedCondition::ServiceUnavailable);
    assert_eq!(error.texts.values().next().map(String::as_str), Some(crate::errors::REQUEST_DRAINING.text));
    assert!(error.other.as_ref().is_some_and(|o| o.is("graceful-shutdown", ns::FOCUS)), "{error:?}");
    // Nothing was started for it: no reservation call, no join, no conference.
    assert!(h.take_calls().is_empty());
    assert!(!sent.iter().any(|s| is_join(s, ROOM)));
    assert_eq!(h.focus.conference_count(), 0);
}

#[test]
fn a_live_room_keeps_answering_and_the_focus_is_empty_once_it_ends() {
    let mut h = Harness::new(true);
    h.live(GRANTED);
    h.participant(ROOM, "alice", true);
    h.take_sent();
    h.focus.start_draining(h.now);
    // Another participant joins (and one rejoins) the running meeting.
    h.request("q2", ROOM);
    assert!(ready(reply_to(&h.take_sent(), "q2")));
    h.participant(ROOM, "bob", true);
    assert_eq!(h.focus.participant_count(), 2);
    // A different room is refused meanwhile.
    h.request("q3", "other@conference.meet.test");
    assert!(error_of(reply_to(&h.take_sent(), "q3")).other.is_some());
    h.participant(ROOM, "alice", false);
    h.participant(ROOM, "bob", false);
    let sent = h.take_sent();
    assert!(sent.iter().any(|s| is_leave(s, ROOM)), "{sent:?}");
    assert_eq!(h.focus.conference_count(), 0);
    assert!(h.take_calls().iter().any(|c| c.method == Method::Delete));
}

#[test]
fn a_starting_conference_still_takes_requests_and_goes_live() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.focus.start_draining(h.now);
    h.request("q2", ROOM);
    h.http(&post, 201, GRANTED);
    h.room_accepts_join(ROOM);
    let sent = h.take_sent();
    assert!(ready(reply_to(&sent, "q1")) && ready(reply_to(&sent, "q2")));
}
