//! The core in virtual time: every timer and race, in microseconds.

use chrono::{DateTime, Duration, Utc};
use minidom::Element;
use xmpp_parsers::stanza_error::StanzaError;

use super::focus::ReservationSettings;
use super::reservation::{HttpCall, HttpOutcome, Method};
use super::*;
use crate::xmpp::focus::{parse_reservation_error, ConferenceResponse};

mod media;

const ROOM: &str = "room1@conference.meet.test";
const CLIENT: &str = "abc@meet.test/res1";

struct Harness {
    focus: Focus,
    now: Time,
    sent: Vec<Element>,
    calls: Vec<HttpCall>,
    outbox: Vec<OutboxChange>,
}

fn start() -> Time {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").unwrap().with_timezone(&Utc)
}

fn settings(reservation: bool) -> Settings {
    Settings {
        component: "focus.meet.test".parse().unwrap(),
        muc_domain: "conference.meet.test".parse().unwrap(),
        reservation: reservation.then(|| ReservationSettings {
            retries: 2,
            retry_delay: std::time::Duration::from_secs(3),
            refusal_cache: Duration::seconds(10),
        }),
        initial_timeout: Duration::seconds(15),
        request_timeout: Duration::seconds(20),
        auth_mode: crate::config::AuthMode::None,
        auth_domain: String::new(),
        session_lifetime: Duration::hours(24),
        trusted_domains: vec!["recorder.meet.test".into()],
        delete_give_up: Duration::hours(24),
        max_message_length: 1024,
        limits: Limits::default(),
        brewery: None,
        bridges: Default::default(),
        codecs: Default::default(),
        min_participants: 2,
    }
}

fn xml(text: &str) -> Element {
    text.parse().unwrap_or_else(|e| panic!("{e}: {text}"))
}

impl Harness {
    fn new(reservation: bool) -> Harness {
        Harness::with(settings(reservation))
    }

    fn with(settings: Settings) -> Harness {
        let mut h =
            Harness { focus: Focus::with_seed(settings, 7), now: start(), sent: vec![], calls: vec![], outbox: vec![] };
        h.input(Input::Connected);
        h
    }

    fn drain(&mut self) {
        while let Some(effect) = self.focus.poll_effect() {
            match effect {
                Effect::Send(stanza) => self.sent.push(stanza),
                Effect::Http(call) => self.calls.push(call),
                Effect::Outbox(change) => self.outbox.push(change),
            }
        }
    }

    fn input(&mut self, input: Input) {
        self.focus.handle(self.now, input);
        self.drain();
    }

    fn stanza(&mut self, text: &str) {
        self.input(Input::Stanza(xml(text)));
    }

    /// Moves virtual time forward, firing every deadline on the way in order.
    fn advance(&mut self, seconds: i64) {
        let target = self.now + Duration::seconds(seconds);
        while let Some(at) = self.focus.poll_timeout().filter(|t| *t <= target) {
            self.now = at.max(self.now);
            self.focus.handle_timeout(self.now);
            self.drain();
        }
        self.now = target;
    }

    fn request(&mut self, id: &str, room: &str) {
        self.request_from(id, room, CLIENT, "");
    }

    /// A conference request from `from` with extra attributes (e.g. ` session-id='…'`).
    fn request_from(&mut self, id: &str, room: &str, from: &str, attributes: &str) {
        self.stanza(&format!(
            "<iq xmlns='jabber:component:accept' type='set' id='{id}' from='{from}' to='focus.meet.test'><conference xmlns='http://jitsi.org/protocol/focus' room='{room}' machine-uid='m1'{attributes}/></iq>"
        ));
    }

    fn http(&mut self, call: &HttpCall, status: u16, body: &str) {
        self.input(Input::Http { id: call.id, outcome: HttpOutcome::Response { status, body: body.to_owned() } });
    }

    fn take_sent(&mut self) -> Vec<Element> {
        std::mem::take(&mut self.sent)
    }

    fn take_calls(&mut self) -> Vec<HttpCall> {
        std::mem::take(&mut self.calls)
    }

    /// The room answers our join: self-presence as owner, then the configuration form.
    fn room_accepts_join(&mut self, room: &str) {
        self.stanza(&format!("<presence xmlns='jabber:component:accept' from='{room}/focus' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='focus.meet.test/focus' affiliation='owner' role='moderator'/><status code='110'/></x></presence>"));
        let config_get = self.take_sent().into_iter().find(|s| s.attr("type") == Some("get")).expect("config request");
        let id = config_get.attr("id").unwrap().to_owned();
        self.stanza(&format!("<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{room}' to='focus.meet.test/focus'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field var='muc#roomconfig_whois'><value>anyone</value></field></x></query></iq>"));
    }

    /// Request ROOM, grant the reservation with `body` and let the room accept our join.
    fn live(&mut self, body: &str) {
        self.request("q1", ROOM);
        let post = self.take_calls().remove(0);
        self.http(&post, 201, body);
        self.room_accepts_join(ROOM);
    }

    fn participant(&mut self, room: &str, nick: &str, available: bool) {
        self.occupant(room, nick, &format!("{nick}@meet.test/r"), if available { "none" } else { "gone" }, "");
    }

    /// An occupant presence; affiliation `gone` makes it an unavailable presence.
    fn occupant(&mut self, room: &str, nick: &str, jid: &str, affiliation: &str, extra: &str) {
        let (type_, affiliation) =
            if affiliation == "gone" { (" type='unavailable'", "none") } else { ("", affiliation) };
        self.stanza(&format!("<presence xmlns='jabber:component:accept'{type_} from='{room}/{nick}' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='{jid}' affiliation='{affiliation}' role='participant'/></x>{extra}</presence>"));
    }
}

fn reply_to<'a>(sent: &'a [Element], id: &str) -> &'a Element {
    sent.iter()
        .find(|s| s.name() == "iq" && s.attr("id") == Some(id))
        .unwrap_or_else(|| panic!("no reply to {id}: {sent:?}"))
}

fn ready(reply: &Element) -> bool {
    assert_eq!(reply.attr("type"), Some("result"), "{}", String::from(reply));
    ConferenceResponse::try_from(reply.children().next().unwrap()).unwrap().ready
}

fn error_of(reply: &Element) -> StanzaError {
    assert_eq!(reply.attr("type"), Some("error"));
    StanzaError::try_from(reply.get_child("error", crate::xmpp::ns::STREAM).unwrap().clone()).unwrap()
}

fn is_join(stanza: &Element, room: &str) -> bool {
    stanza.name() == "presence" && stanza.attr("to") == Some(&format!("{room}/focus")) && stanza.attr("type").is_none()
}

fn is_leave(stanza: &Element, room: &str) -> bool {
    stanza.name() == "presence"
        && stanza.attr("to") == Some(&format!("{room}/focus"))
        && stanza.attr("type") == Some("unavailable")
}

const GRANTED: &str = r#"{"id":42,"name":"room1","start_time":"2026-11-22T10:00:00.000Z","duration":3600}"#;

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
fn refused_reservation_reaches_the_client_with_code_and_message_and_is_cached() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let calls = h.take_calls();
    assert_eq!(calls.len(), 1);
    assert_eq!(calls[0].method, Method::Post);
    assert_eq!(calls[0].form[0], ("name".to_owned(), "room1".to_owned()));
    assert_eq!(calls[0].form[1], ("start_time".to_owned(), "2026-11-22T10:00:00.000Z".to_owned()));
    h.http(&calls[0], 403, r#"{"message":"Zutritt nur mit <Buchung> ✓"}"#);
    let sent = h.take_sent();
    let error = error_of(reply_to(&sent, "q1"));
    assert_eq!(parse_reservation_error(&error), Some((403, "Zutritt nur mit <Buchung> ✓".to_owned())));
    assert!(!sent.iter().any(|s| is_join(s, ROOM)));
    // Retrying clients get the same answer without another call for a while...
    h.advance(5);
    h.request("q2", ROOM);
    assert!(parse_reservation_error(&error_of(reply_to(&h.take_sent(), "q2"))).is_some());
    assert!(h.take_calls().is_empty());
    // ...then the API is asked again.
    h.advance(10);
    h.request("q3", ROOM);
    assert_eq!(h.take_calls().len(), 1);
}

#[test]
fn concurrent_requests_share_one_reservation_call_and_one_join() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    h.request("q2", ROOM);
    h.request("q3", ROOM);
    let calls = h.take_calls();
    assert_eq!(calls.len(), 1);
    h.http(&calls[0], 201, GRANTED);
    assert_eq!(h.take_sent().iter().filter(|s| is_join(s, ROOM)).count(), 1);
    h.room_accepts_join(ROOM);
    let sent = h.take_sent();
    for id in ["q1", "q2", "q3"] {
        assert!(ready(reply_to(&sent, id)));
    }
}

#[test]
fn server_errors_are_retried_after_the_delay_then_refused_with_the_last_status() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let first = h.take_calls().remove(0);
    h.http(&first, 500, "");
    assert!(h.take_calls().is_empty());
    h.advance(2);
    assert!(h.take_calls().is_empty(), "retried before retry_delay");
    h.advance(1);
    let second = h.take_calls().remove(0);
    h.http(&second, 200, GRANTED);
    assert!(h.take_sent().iter().any(|s| is_join(s, ROOM)));

    let other = "room2@conference.meet.test";
    h.request("r1", other);
    for _ in 0..3 {
        let call = h.take_calls().remove(0);
        h.input(Input::Http { id: call.id, outcome: HttpOutcome::Unreachable("connection refused".into()) });
        h.advance(3);
    }
    let error = error_of(reply_to(&h.take_sent(), "r1"));
    let (code, text) = parse_reservation_error(&error).unwrap();
    assert_eq!(code, reservation::codes::UNREACHABLE);
    assert!(text.contains("connection refused"), "{text}");
}

#[test]
fn conflict_is_resolved_by_reading_the_existing_reservation() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.http(&post, 409, r#"{"conflict_id": 42}"#);
    let get = h.take_calls().remove(0);
    assert_eq!((get.method, get.path.as_str()), (Method::Get, "/conference/42"));
    h.http(&get, 200, GRANTED);
    h.room_accepts_join(ROOM);
    assert!(ready(reply_to(&h.take_sent(), "q1")));
    // The adopted reservation is the one deleted at the end.
    h.advance(15);
    let delete = h.take_calls().remove(0);
    assert_eq!((delete.method, delete.path.as_str()), (Method::Delete, "/conference/42"));
}

#[test]
fn an_expired_reservation_is_refused_with_419() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.http(&post, 200, r#"{"id":1,"name":"room1","start_time":"2026-11-22T08:00:00Z","duration":3600}"#);
    let error = error_of(reply_to(&h.take_sent(), "q1"));
    assert_eq!(parse_reservation_error(&error), Some((419, "Reservation expired".to_owned())));
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
fn last_participant_leaving_deletes_the_reservation_retrying_until_it_succeeds() {
    let mut h = Harness::new(true);
    h.live(GRANTED);
    h.participant(ROOM, "alice", true);
    h.participant(ROOM, "bob", true);
    h.advance(60); // participants keep it alive past the initial timeout
    h.participant(ROOM, "alice", false);
    assert!(h.take_calls().is_empty());
    h.participant(ROOM, "bob", false);
    assert!(h.take_sent().iter().any(|s| is_leave(s, ROOM)));
    let delete = h.take_calls().remove(0);
    h.http(&delete, 503, "");
    h.advance(2);
    assert!(h.take_calls().is_empty());
    h.advance(1); // first retry after retry_delay (3 s): is 42 still this room's reservation?
    let check = h.take_calls().remove(0);
    assert_eq!((check.method, check.path.as_str()), (Method::Get, "/conference/42"));
    h.input(Input::Http { id: check.id, outcome: HttpOutcome::Timeout });
    h.advance(5);
    assert!(h.take_calls().is_empty());
    h.advance(1); // then 6 s
    let check = h.take_calls().remove(0);
    h.http(&check, 200, GRANTED);
    let third = h.take_calls().remove(0);
    assert_eq!((third.method, third.path.as_str()), (Method::Delete, "/conference/42"));
    assert!(h.focus.has_pending_http());
    h.http(&third, 200, "");
    assert!(!h.focus.has_pending_http());
}

#[test]
fn the_reserved_duration_ending_destroys_the_room_and_deletes() {
    let mut h = Harness::new(true);
    h.live(r#"{"id":"x1","name":"room1","start_time":"2026-11-22T10:00:00Z","duration":120}"#);
    h.participant(ROOM, "alice", true);
    h.take_sent();
    h.advance(119);
    assert!(h.take_calls().is_empty());
    h.advance(1);
    let sent = h.take_sent();
    let destroy = sent.iter().find(|s| s.name() == "iq").expect("destroy request");
    let reason = String::from(destroy);
    assert!(reason.contains("reserved time"), "{reason}");
    assert_eq!(h.take_calls()[0].path, "/conference/x1");
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

/// The owner grants (muc#admin affiliation='owner') among sent stanzas, as bare JIDs.
fn owner_grants(sent: &[Element]) -> Vec<String> {
    sent.iter()
        .filter_map(|s| s.get_child("query", crate::xmpp::ns::MUC_ADMIN))
        .filter_map(|q| q.children().next())
        .filter(|item| item.attr("affiliation") == Some("owner"))
        .map(|item| item.attr("jid").unwrap().to_owned())
        .collect()
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
fn a_reservation_granted_after_its_conference_ended_is_deleted() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.focus.shutdown(h.now);
    h.drain();
    assert!(h.focus.has_pending_http(), "the runtime must wait for the POST");
    h.http(&post, 201, GRANTED);
    let delete = h.take_calls().remove(0);
    assert_eq!((delete.method, delete.path.as_str()), (Method::Delete, "/conference/42"));
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
fn an_adopted_reservation_is_not_deleted_by_an_old_retrying_delete() {
    let mut h = Harness::new(true);
    h.live(GRANTED);
    h.advance(15); // nobody came: DELETE 42, which fails
    let delete = h.take_calls().remove(0);
    h.http(&delete, 503, "");
    h.request("q2", ROOM);
    let post = h.take_calls().remove(0);
    h.http(&post, 409, r#"{"conflict_id": 42}"#);
    let get = h.take_calls().remove(0);
    h.http(&get, 200, GRANTED);
    h.room_accepts_join(ROOM);
    h.participant(ROOM, "alice", true);
    h.advance(600);
    assert!(h.take_calls().is_empty(), "the old DELETE was retried while 42 is in use");
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

fn limited(limits: Limits) -> Settings {
    Settings { limits, ..settings(true) }
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
fn a_huge_refusal_text_is_cut_and_the_cut_text_is_cached() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    let message = "ä".repeat(600_000);
    h.http(&post, 403, &format!(r#"{{"message":"{message}"}}"#));
    let (_, text) = parse_reservation_error(&error_of(reply_to(&h.take_sent(), "q1"))).unwrap();
    assert_eq!(text.chars().count(), 1024);
    assert!(text.ends_with('…'));
    h.request("q2", ROOM);
    let (_, cached) = parse_reservation_error(&error_of(reply_to(&h.take_sent(), "q2"))).unwrap();
    assert_eq!(cached, text);
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
fn a_granted_reservation_is_in_the_outbox_until_its_delete_succeeds() {
    let mut h = Harness::new(true);
    h.live(GRANTED);
    let put = |ended: bool| move |c: &OutboxChange| matches!(c, OutboxChange::Put(r) if r.id == "42" && r.ended_at.is_some() == ended);
    assert!(h.outbox.iter().any(put(false)), "recorded when granted: {:?}", h.outbox);
    h.advance(15); // nobody joined
    assert!(h.outbox.iter().any(put(true)), "recorded as ended");
    let delete = h.take_calls().remove(0);
    h.http(&delete, 503, "");
    assert!(!h.outbox.iter().any(|c| matches!(c, OutboxChange::Remove(_))));
    h.advance(5);
    let check = h.take_calls().remove(0);
    h.http(&check, 200, GRANTED);
    let retry = h.take_calls().remove(0);
    h.http(&retry, 204, "");
    assert_eq!(h.outbox.last(), Some(&OutboxChange::Remove("42".into())));
}

#[test]
fn deletes_left_by_an_earlier_run_are_resumed_and_given_up_in_time() {
    let mut h = Harness::new(true);
    let stored = |id: &str, ended_at| StoredDelete { id: id.into(), room: ROOM.into(), ended_at };
    h.focus.restore_deletes(h.now, vec![stored("7", None), stored("8", Some(h.now - Duration::hours(23)))]);
    h.drain();
    let calls = h.take_calls();
    let mut paths: Vec<&str> = calls.iter().map(|c| c.path.as_str()).collect();
    paths.sort();
    assert_eq!(paths, ["/conference/7", "/conference/8"]);
    for call in &calls {
        h.http(call, 503, "");
    }
    // 8 ended 23 hours ago: it is given up within the hour; 7 goes on.
    for _ in 0..30 {
        for call in h.take_calls() {
            h.http(&call, 503, "");
        }
        h.advance(300);
    }
    assert!(h.outbox.contains(&OutboxChange::Remove("8".into())), "8 was given up");
    assert!(!h.outbox.contains(&OutboxChange::Remove("7".into())), "7 is still retried");
    assert!(h.focus.has_pending_http());
}

#[test]
fn control_characters_in_a_refusal_cannot_break_the_answer() {
    let mut h = Harness::new(true);
    h.request("q1", ROOM);
    let post = h.take_calls().remove(0);
    h.http(&post, 403, r#"{"message":"no\u0000 \u001b[31mway\ufffe"}"#);
    let reply = reply_to(&h.take_sent(), "q1").clone();
    let mut bytes = Vec::new();
    reply.write_to(&mut bytes).expect("the answer serialises");
    let (_, text) = parse_reservation_error(&error_of(&reply)).unwrap();
    assert_eq!(text, "no\u{FFFD} \u{FFFD}[31mway\u{FFFD}");
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

#[test]
fn a_retried_delete_checks_the_id_first_and_spares_a_reused_one() {
    for (answer, body) in
        [(404, ""), (200, r#"{"id":42,"name":"someone-else","start_time":"2026-11-22T10:00:00Z","duration":60}"#)]
    {
        let mut h = Harness::new(true);
        h.live(GRANTED);
        h.advance(15);
        let delete = h.take_calls().remove(0);
        h.input(Input::Http { id: delete.id, outcome: HttpOutcome::Timeout }); // processed, or not?
        h.advance(3);
        let check = h.take_calls().remove(0);
        assert_eq!(check.method, Method::Get);
        h.http(&check, answer, body);
        assert!(h.take_calls().is_empty(), "no second DELETE after a {answer}");
        assert!(!h.focus.has_pending_http());
        assert_eq!(h.outbox.last(), Some(&OutboxChange::Remove("42".into())));
    }
}

#[test]
fn a_new_reservation_waits_for_the_previous_delete_of_the_room() {
    let mut h = Harness::new(true);
    h.live(GRANTED);
    h.advance(15); // nobody came: DELETE 42 goes out
    let delete = h.take_calls().remove(0);
    h.request("q2", ROOM);
    assert!(h.take_calls().is_empty(), "no POST while the DELETE is on the wire");
    h.http(&delete, 204, "");
    let post = h.take_calls().remove(0);
    assert_eq!(post.method, Method::Post);
    h.http(&post, 201, GRANTED);
    h.room_accepts_join(ROOM);
    assert!(ready(reply_to(&h.take_sent(), "q2")));
}

/// The 2020 client's msid flip (`focus::jingle`), with stanzas captured from it in Chromium.
mod msid_flip;
