//! Sign-in in virtual time: guests and signed-in users, sessions opened, used, expired and
//! ended, `login-url`, and who becomes owner.

use super::*;

fn auth_settings(mode: crate::config::AuthMode) -> Settings {
    Settings { auth_mode: mode, auth_domain: "auth.meet.test".into(), ..settings(true) }
}

const ALICE: &str = "alice@auth.meet.test/login";
const GUEST: &str = "x7@meet.test/web";

#[test]
fn a_guest_may_not_open_a_room_when_sign_in_is_required() {
    let mut h = Harness::with(auth_settings(crate::config::AuthMode::Xmpp));
    h.request_from("g1", ROOM, GUEST, "");
    let xml = String::from(reply_to(&h.take_sent(), "g1"));
    assert!(xml.contains("not-authorized") && xml.contains("not authorized user domain"), "{xml}");
    assert!(h.calls.is_empty());
}

#[test]
fn sign_in_opens_a_session_and_the_reservation_check_runs_on_the_main_connection() {
    let mut h = Harness::with(auth_settings(crate::config::AuthMode::Xmpp));
    // The sign-in connection: a session, ready='false', no reservation call yet.
    h.request_from("s1", ROOM, ALICE, "");
    let sent = h.take_sent();
    let reply = reply_to(&sent, "s1");
    let response = ConferenceResponse::try_from(reply.children().next().unwrap()).unwrap();
    assert!(!response.ready);
    assert_eq!(response.identity.as_deref(), Some("alice@auth.meet.test"));
    let session = response.session_id.unwrap();
    assert!(h.take_calls().is_empty());
    // The main (guest) connection with the session: the reservation check, as alice.
    h.request_from("m1", ROOM, GUEST, &format!(" session-id='{session}'"));
    let post = h.take_calls().remove(0);
    assert!(post.form.contains(&("mail_owner".into(), "alice@auth.meet.test".into())), "{:?}", post.form);
    h.http(&post, 403, r#"{"message":"Kein Termin"}"#);
    let error = error_of(reply_to(&h.take_sent(), "m1"));
    assert_eq!(parse_reservation_error(&error), Some((403, "Kein Termin".to_owned())));
}

#[test]
fn a_reservation_of_another_owner_is_accepted_because_owner_rules_are_the_servers() {
    // Finding 12: with existing servers a 409/GET or a grant naming another owner means "this
    // conference exists"; the server received mail_owner and decides itself.
    let mut h = Harness::with(auth_settings(crate::config::AuthMode::Jwt));
    h.request_from("j1", ROOM, ALICE, "");
    let post = h.take_calls().remove(0);
    h.http(&post, 409, r#"{"conflict_id": 1}"#);
    let get = h.take_calls().remove(0);
    h.http(&get, 200, r#"{"id":1,"name":"room1","mail_owner":"bob@auth.meet.test","start_time":"2026-11-22T10:00:00Z","duration":60}"#);
    h.room_accepts_join(ROOM);
    assert!(ready(reply_to(&h.take_sent(), "j1")));
}

#[test]
fn mail_owner_is_always_sent_the_bare_jid_of_an_anonymous_requester() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    assert!(post.form.contains(&("mail_owner".into(), "abc@meet.test".into())), "{:?}", post.form);
}

#[test]
fn signed_in_participants_become_owners_and_guests_do_not() {
    let mut h = Harness::with(auth_settings(crate::config::AuthMode::Jwt));
    h.request_from("j1", ROOM, "alice@auth.meet.test/web", "");
    let post = h.take_calls().remove(0);
    h.http(&post, 201, GRANTED);
    h.room_accepts_join(ROOM);
    let response = ConferenceResponse::try_from(reply_to(&h.take_sent(), "j1").children().next().unwrap()).unwrap();
    assert!(response.ready && response.session_id.is_some());
    assert!(response.properties.contains(&crate::xmpp::focus::Property::new("externalAuth", "true")));
    h.occupant(ROOM, "a1", "alice@auth.meet.test/web", "none", "");
    h.occupant(ROOM, "g1", GUEST, "none", "");
    assert_eq!(owner_grants(&h.take_sent()), vec!["alice@auth.meet.test"]);
}

#[test]
fn unknown_sessions_login_url_and_logout() {
    let mut h = Harness::with(auth_settings(crate::config::AuthMode::Xmpp));
    h.request_from("u1", ROOM, GUEST, " session-id='stale'");
    let xml = String::from(reply_to(&h.take_sent(), "u1"));
    assert!(xml.contains("not-acceptable") && xml.contains("session-invalid"), "{xml}");
    h.stanza(&format!("<iq xmlns='jabber:component:accept' type='get' id='l1' from='{GUEST}' to='focus.meet.test'><login-url xmlns='http://jitsi.org/protocol/focus' room='{ROOM}' machine-uid='m1'/></iq>"));
    let xml = String::from(reply_to(&h.take_sent(), "l1"));
    assert!(xml.contains("url='.%2Froom1%3Flogin%3Dtrue'"), "{xml}");
    h.request_from("s1", ROOM, ALICE, "");
    let session = ConferenceResponse::try_from(reply_to(&h.take_sent(), "s1").children().next().unwrap())
        .unwrap()
        .session_id
        .unwrap();
    let logout = |id: &str| {
        format!("<iq xmlns='jabber:component:accept' type='set' id='{id}' from='{GUEST}' to='focus.meet.test'><logout xmlns='http://jitsi.org/protocol/focus' session-id='{session}'/></iq>")
    };
    h.stanza(&logout("o1"));
    assert_eq!(reply_to(&h.take_sent(), "o1").attr("type"), Some("result"));
    h.stanza(&logout("o2"));
    assert!(String::from(reply_to(&h.take_sent(), "o2")).contains("session-invalid"));
}

#[test]
fn sessions_expire_after_their_lifetime() {
    let mut h = Harness::with(Settings {
        session_lifetime: Duration::minutes(10),
        ..auth_settings(crate::config::AuthMode::Xmpp)
    });
    h.request_from("s1", ROOM, ALICE, "");
    let session = ConferenceResponse::try_from(reply_to(&h.take_sent(), "s1").children().next().unwrap())
        .unwrap()
        .session_id
        .unwrap();
    h.advance(601);
    h.request_from("m1", ROOM, GUEST, &format!(" session-id='{session}'"));
    assert!(String::from(reply_to(&h.take_sent(), "m1")).contains("session-invalid"));
}
