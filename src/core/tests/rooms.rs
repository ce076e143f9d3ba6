//! Conferences in their rooms, in virtual time: the join and going live, slow answers,
//! moderators elected and re-elected, reconnections, and rooms that refuse, lose or end us.

use super::*;

#[test]
fn without_reservations_a_request_joins_then_answers_ready() {
    let mut h = Harness::new(false);
    h.request("q1", ROOM);
    let sent = h.take_sent();
    assert!(sent.iter().any(|s| is_join(s, ROOM)), "{sent:?}");
    assert!(!sent.iter().any(|s| s.attr("id") == Some("q1")), "answered before joining");
    h.room_accepts_join(ROOM);
    let sent = h.take_sent();
    let reply = reply_to(&sent, "q1");
    assert!(ready(reply));
    let conference = reply.children().next().unwrap();
    assert_eq!(conference.attr("focusjid"), Some("focus.meet.test"));
    assert_eq!(reply.attr("to"), Some(CLIENT));
    assert!(h.calls.is_empty());
    // A live room is answered at once.
    h.request("q2", ROOM);
    assert!(ready(reply_to(&h.take_sent(), "q2")));
}

#[test]
fn nobody_joining_within_the_initial_timeout_ends_the_conference() {
    let mut h = Harness::new(true);
    h.live(GRANTED);
    h.take_sent();
    h.advance(14);
    assert!(h.take_sent().is_empty());
    h.advance(1);
    assert!(h.take_sent().iter().any(|s| is_leave(s, ROOM)));
    let delete = h.take_calls().remove(0);
    assert_eq!(delete.method, Method::Delete);
    assert_eq!(h.focus.conference_count(), 0);
}

#[test]
fn a_slow_answer_tells_the_client_not_ready_so_it_asks_again() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.advance(20);
    assert!(!ready(reply_to(&h.take_sent(), "q1")));
    h.request("q2", ROOM); // the client's retry joins the same pending reservation
    assert!(h.take_calls().is_empty());
    h.http(&post, 201, GRANTED);
    h.room_accepts_join(ROOM);
    assert!(ready(reply_to(&h.take_sent(), "q2")));
}

#[test]
fn a_reconnect_rejoins_live_rooms_and_keeps_the_conference() {
    let mut h = Harness::new(true);
    h.live(GRANTED);
    h.participant(ROOM, "alice", true);
    h.take_sent();
    h.input(Input::Disconnected);
    h.request("q2", ROOM); // answered while disconnected: held, not lost
    assert!(h.take_sent().is_empty());
    h.input(Input::Connected);
    let sent = h.take_sent();
    assert!(ready(reply_to(&sent, "q2")));
    assert!(sent.iter().any(|s| is_join(s, ROOM)));
    // The room lists alice again, then us; the conference goes on with no new reservation.
    h.participant(ROOM, "alice", true);
    h.room_accepts_join(ROOM);
    assert_eq!(h.focus.conference_count(), 1);
    h.advance(60);
    assert!(h.take_calls().is_empty());
    h.participant(ROOM, "alice", false);
    assert_eq!(h.take_calls()[0].method, Method::Delete);
}

#[test]
fn a_focus_that_is_not_owner_says_so_and_leaves() {
    let mut h = Harness::new(false);
    h.request("q1", ROOM);
    h.stanza(&format!("<presence xmlns='jabber:component:accept' from='{ROOM}/focus' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='focus.meet.test/focus' affiliation='none' role='participant'/><status code='110'/></x></presence>"));
    let sent = h.take_sent();
    let xml = String::from(reply_to(&sent, "q1"));
    assert!(xml.contains("internal-server-error") && xml.contains("admins"), "{xml}");
    assert!(sent.iter().any(|s| is_leave(s, ROOM)));
    assert_eq!(h.focus.conference_count(), 0);
}

#[test]
fn a_room_destroyed_by_someone_else_ends_the_conference() {
    let mut h = Harness::new(true);
    h.live(GRANTED);
    h.participant(ROOM, "alice", true);
    h.stanza(&format!("<presence xmlns='jabber:component:accept' type='unavailable' from='{ROOM}/focus' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><destroy/><status code='110'/></x></presence>"));
    assert_eq!(h.focus.conference_count(), 0);
    assert_eq!(h.take_calls()[0].method, Method::Delete);
}

#[test]
fn max_occupants_from_the_reservation_is_enforced() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.http(
        &post,
        201,
        r#"{"id":1,"name":"room1","start_time":"2026-11-22T10:00:00Z","duration":3600,"max_occupants":1}"#,
    );
    h.room_accepts_join(ROOM);
    h.participant(ROOM, "alice", true);
    h.take_sent();
    h.participant(ROOM, "bob", true);
    let sent = h.take_sent();
    let kick = sent.iter().find(|s| s.name() == "iq").expect("kick");
    let xml = String::from(kick);
    assert!(xml.contains("nick='bob'") && xml.contains("role='none'") && xml.contains("full"), "{xml}");
}

#[test]
fn without_auth_exactly_one_owner_is_kept_and_reelected_in_join_order() {
    let mut h = Harness::new(false);
    h.request("q1", ROOM);
    h.room_accepts_join(ROOM);
    h.take_sent();
    h.participant(ROOM, "ann", true);
    assert_eq!(owner_grants(&h.take_sent()), vec!["ann@meet.test"]);
    h.participant(ROOM, "bob", true);
    h.participant(ROOM, "cem", true);
    assert!(owner_grants(&h.take_sent()).is_empty(), "ann's grant is pending: nobody else");
    h.occupant(ROOM, "ann", "ann@meet.test/r", "owner", "");
    h.participant(ROOM, "ann", false);
    assert_eq!(owner_grants(&h.take_sent()), vec!["bob@meet.test"]);
    h.occupant(ROOM, "bob", "bob@meet.test/r", "owner", "");
    h.participant(ROOM, "bob", false);
    assert_eq!(owner_grants(&h.take_sent()), vec!["cem@meet.test"]);
}

#[test]
fn trusted_recorders_are_never_elected() {
    let mut h = Harness::new(false);
    h.request("q1", ROOM);
    h.room_accepts_join(ROOM);
    let jibri = "<features><feature var='http://jitsi.org/protocol/jibri'/></features>";
    h.occupant(ROOM, "rec", "jibri@recorder.meet.test/r", "none", jibri);
    assert!(owner_grants(&h.take_sent()).is_empty());
    // The same claim from an untrusted domain is ignored.
    h.occupant(ROOM, "fake", "fake@meet.test/r", "none", jibri);
    assert_eq!(owner_grants(&h.take_sent()), vec!["fake@meet.test"]);
}

#[test]
fn the_focus_announces_itself_in_its_join_presence() {
    let mut h = Harness::new(false);
    h.request("q1", ROOM);
    let join = h.take_sent().into_iter().find(|s| is_join(s, ROOM)).unwrap();
    let xml = String::from(&join);
    assert!(xml.contains("support-terminate-restart") && xml.contains("<versions"), "{xml}");
}

#[test]
fn losing_owner_rights_while_live_ends_the_conference_cleanly() {
    let mut h = Harness::new(true);
    h.live(GRANTED);
    h.participant(ROOM, "alice", true);
    h.take_sent();
    h.stanza(&format!("<presence xmlns='jabber:component:accept' from='{ROOM}/focus' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='focus.meet.test/focus' affiliation='member' role='participant'/><status code='110'/></x></presence>"));
    assert!(h.take_sent().iter().any(|s| is_leave(s, ROOM)));
    assert_eq!(h.take_calls()[0].method, Method::Delete);
    assert_eq!(h.focus.conference_count(), 0);
}

#[test]
fn a_refused_join_is_reported_instead_of_retried_forever() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.http(&post, 201, GRANTED);
    // Prosody's answer when the focus is not among the MUC admins and may not create rooms.
    h.stanza(&format!("<presence xmlns='jabber:component:accept' type='error' from='{ROOM}/focus' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc'/><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"));
    let xml = String::from(reply_to(&h.take_sent(), "q1"));
    assert!(xml.contains("internal-server-error") && xml.contains("admins"), "{xml}");
    assert_eq!(h.focus.conference_count(), 0);
    assert_eq!(h.take_calls()[0].method, Method::Delete, "the granted reservation is released");
}

#[test]
fn a_reconnect_before_anyone_joined_does_not_spin() {
    let mut h = Harness::new(false);
    h.request("q1", ROOM);
    h.room_accepts_join(ROOM);
    h.input(Input::Disconnected);
    h.input(Input::Connected);
    h.advance(10); // would never return if a past deadline stayed due
    assert!(h.focus.poll_timeout().is_none_or(|t| t > h.now));
    h.room_accepts_join(ROOM);
    h.advance(15);
    assert!(h.take_sent().iter().any(|s| is_leave(s, ROOM)), "the initial timeout counts again once live");
}

#[test]
fn when_a_grant_fails_the_next_participant_is_elected() {
    let mut h = Harness::new(false);
    h.request("q1", ROOM);
    h.room_accepts_join(ROOM);
    h.take_sent();
    h.participant(ROOM, "ann", true);
    h.participant(ROOM, "bob", true);
    let grant = h.take_sent().into_iter().find(|s| s.get_child("query", crate::xmpp::ns::MUC_ADMIN).is_some()).unwrap();
    let id = grant.attr("id").unwrap();
    h.stanza(&format!("<iq xmlns='jabber:component:accept' type='error' id='{id}' from='{ROOM}' to='focus.meet.test/focus'><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>"));
    assert_eq!(owner_grants(&h.take_sent()), vec!["bob@meet.test"]);
}

#[test]
fn a_late_leave_confirmation_does_not_end_the_next_conference() {
    let mut h = Harness::new(false);
    h.request("q1", ROOM);
    h.room_accepts_join(ROOM);
    h.participant(ROOM, "ann", true);
    h.participant(ROOM, "ann", false); // ends; we leave
    h.request("q2", ROOM); // a new conference for the same room starts joining
    h.stanza(&format!("<presence xmlns='jabber:component:accept' type='unavailable' from='{ROOM}/focus' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='none'/><status code='110'/></x></presence>"));
    assert_eq!(h.focus.conference_count(), 1);
    h.room_accepts_join(ROOM);
    assert!(ready(reply_to(&h.take_sent(), "q2")));
}

#[test]
fn answers_to_our_room_iqs_must_come_from_the_room() {
    let mut h = Harness::new(false);
    h.request("q1", ROOM);
    h.stanza(&format!("<presence xmlns='jabber:component:accept' from='{ROOM}/focus' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='focus.meet.test/focus' affiliation='owner' role='moderator'/><status code='110'/></x></presence>"));
    let config_get = h.take_sent().into_iter().find(|s| s.attr("type") == Some("get")).unwrap();
    let id = config_get.attr("id").unwrap();
    h.stanza(&format!("<iq xmlns='jabber:component:accept' type='result' id='{id}' from='mallory@meet.test/x' to='focus.meet.test/focus'/>"));
    assert!(h.take_sent().iter().all(|s| s.attr("id") != Some("q1")), "a forged answer completed the join");
    h.stanza(&format!("<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{ROOM}' to='focus.meet.test/focus'><query xmlns='http://jabber.org/protocol/muc#owner'/></iq>"));
    assert!(ready(reply_to(&h.take_sent(), "q1")));
}

#[test]
fn a_join_without_answer_ends_the_conference_instead_of_being_resent() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.http(&post, 201, GRANTED);
    assert_eq!(h.take_sent().iter().filter(|s| is_join(s, ROOM)).count(), 1);
    h.advance(20);
    let sent = h.take_sent();
    assert!(!ready(reply_to(&sent, "q1")), "the client is told to ask again");
    assert!(!sent.iter().any(|s| is_join(s, ROOM)), "no join is re-sent");
    assert_eq!(h.focus.conference_count(), 0);
    assert_eq!(h.take_calls()[0].method, Method::Delete);
    // The join is answered after all: we leave the room we have no conference for.
    h.stanza(&format!("<presence xmlns='jabber:component:accept' from='{ROOM}/focus' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='focus.meet.test/focus' affiliation='owner' role='moderator'/><status code='110'/></x></presence>"));
    assert!(h.take_sent().iter().any(|s| is_leave(s, ROOM)));
}

#[test]
fn a_slow_rejoin_of_a_live_room_is_retried_not_ended() {
    let mut h = Harness::new(false);
    h.request("q1", ROOM);
    h.room_accepts_join(ROOM);
    h.participant(ROOM, "alice", true);
    h.input(Input::Disconnected);
    h.input(Input::Connected);
    h.take_sent();
    h.advance(20);
    assert!(h.take_sent().iter().any(|s| is_join(s, ROOM)), "the rejoin is sent again");
    assert_eq!(h.focus.conference_count(), 1);
}
