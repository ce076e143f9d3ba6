//! Conference requests that arrive over HTTP (`POST /conference-request/v1`): the same
//! decisions as over XMPP, answered with `Effect::AnswerHttp`, with no sender to identify.

use super::*;
use crate::xmpp::focus::{ConferenceRequest, Property};
use xmpp_parsers::stanza_error::DefinedCondition;

fn http_request(room: &str) -> ConferenceRequest {
    ConferenceRequest {
        room: Some(room.to_owned()),
        machine_uid: Some("m1".into()),
        properties: vec![Property::new("startAudioMuted", "3")],
        ..Default::default()
    }
}

impl Harness {
    fn http_request(&mut self, id: u64, request: ConferenceRequest) {
        self.input(Input::HttpConferenceRequest { id, request });
    }

    #[allow(clippy::result_large_err)] // a test helper: the error is inspected, never passed on
    fn http_answer(&mut self, id: u64) -> Result<ConferenceResponse, StanzaError> {
        let index = self.http_answers.iter().position(|(i, _)| *i == id).unwrap_or_else(|| panic!("no answer to {id}"));
        let (_, answer) = self.http_answers.remove(index);
        answer.map(|element| ConferenceResponse::try_from(&element).unwrap())
    }
}

#[test]
fn a_new_room_is_reserved_joined_and_answered_over_http() {
    let mut h = Harness::new(true);
    h.http_request(7, http_request(ROOM));
    assert!(h.http_answers.is_empty(), "answered before the reservation");
    let post = h.take_calls().remove(0);
    // No XMPP sender and no session: nobody to name as the owner.
    assert!(!post.form.iter().any(|(k, _)| k == "mail_owner"), "{:?}", post.form);
    h.http(&post, 201, GRANTED);
    h.room_accepts_join(ROOM);
    let response = h.http_answer(7).unwrap();
    assert!(response.ready);
    assert_eq!(response.focus_jid, "focus.meet.test");
    assert!(!h.sent.iter().any(|s| s.attr("id") == Some("7")), "an HTTP answer went out as a stanza");
    assert_eq!(h.focus.conferences_for_tests(ROOM).media.start_audio_muted, Some(3));
}

#[test]
fn a_reservation_refusal_reaches_the_http_requester_with_its_code() {
    let mut h = Harness::new(true);
    h.http_request(1, http_request(ROOM));
    let post = h.take_calls().remove(0);
    h.http(&post, 403, r#"{"message":"Not booked"}"#);
    let error = h.http_answer(1).unwrap_err();
    assert_eq!(parse_reservation_error(&error), Some((403, "Not booked".to_owned())));
}

#[test]
fn malformed_rooms_are_refused_like_the_iq() {
    let mut h = Harness::new(true);
    h.http_request(1, ConferenceRequest::default());
    let error = h.http_answer(1).unwrap_err();
    assert_eq!(error.defined_condition, DefinedCondition::BadRequest);
    assert_eq!(error.texts.values().next().map(String::as_str), Some("No 'room' specified."));
    h.http_request(2, http_request("room1@elsewhere.test"));
    assert_eq!(h.http_answer(2).unwrap_err().defined_condition, DefinedCondition::BadRequest);
    assert!(h.calls.is_empty());
}

#[test]
fn while_prosody_is_away_the_http_requester_is_told_to_ask_again() {
    let mut h = Harness::new(true);
    h.input(Input::Disconnected);
    h.http_request(3, http_request(ROOM));
    assert!(!h.http_answer(3).unwrap().ready);
    assert!(h.calls.is_empty(), "no reservation for a room the focus cannot join");
}

#[test]
fn with_sign_in_an_http_guest_may_not_open_a_room_but_a_session_may_and_stays_bound() {
    let mut h = Harness::with(Settings {
        auth_mode: crate::config::AuthMode::Xmpp,
        auth_domain: "auth.meet.test".into(),
        ..settings(true)
    });
    h.http_request(1, http_request(ROOM));
    assert_eq!(h.http_answer(1).unwrap_err().defined_condition, DefinedCondition::NotAuthorized);
    // Alice signs in over XMPP: a session bound to her connection.
    h.request_from("s1", ROOM, "alice@auth.meet.test/login", "");
    let reply = ConferenceResponse::try_from(reply_to(&h.take_sent(), "s1").children().next().unwrap()).unwrap();
    let session = reply.session_id.unwrap();
    // Her HTTP request with the session acts as her.
    h.http_request(2, ConferenceRequest { session_id: Some(session.clone()), ..http_request(ROOM) });
    let post = h.take_calls().remove(0);
    assert!(post.form.contains(&("mail_owner".into(), "alice@auth.meet.test".into())), "{:?}", post.form);
    h.http(&post, 201, GRANTED);
    h.room_accepts_join(ROOM);
    assert_eq!(h.http_answer(2).unwrap().session_id.as_deref(), Some(session.as_str()));
    // The session is still bound to her XMPP connection: joining from it makes her owner.
    h.take_sent();
    h.occupant(ROOM, "alice", "alice@auth.meet.test/login", "none", "");
    assert_eq!(owner_grants(&h.take_sent()), ["alice@auth.meet.test"]);
    // A session used from another machine is refused as over XMPP.
    h.http_request(
        3,
        ConferenceRequest { session_id: Some(session), machine_uid: Some("m2".into()), ..http_request(ROOM) },
    );
    assert_eq!(h.http_answer(3).unwrap_err().defined_condition, DefinedCondition::NotAcceptable);
}
