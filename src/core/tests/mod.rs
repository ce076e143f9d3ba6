//! The core in virtual time: every timer and race, in microseconds.
//!
//! This module holds the harness and the helpers the topics share; the tests are in
//! [`rooms`], [`reservations`], [`auth`], [`http_requests`], [`limits`], [`media`], [`drain`],
//! [`msid_flip`] and [`stats`].

use chrono::{DateTime, Duration, Utc};
use minidom::Element;
use xmpp_parsers::stanza_error::StanzaError;

use super::focus::ReservationSettings;
use super::reservation::{HttpCall, HttpOutcome, Method};
use super::*;
use crate::xmpp::focus::{parse_reservation_error, ConferenceResponse};

mod auth;
mod drain;
mod errors;
mod http_requests;
mod limits;
mod media;
mod reservations;
mod rooms;
mod stats;

const ROOM: &str = "room1@conference.meet.test";
const CLIENT: &str = "abc@meet.test/res1";

struct Harness {
    focus: Focus,
    now: Time,
    sent: Vec<Element>,
    calls: Vec<HttpCall>,
    outbox: Vec<OutboxChange>,
    /// Answers to conference requests that came over HTTP.
    http_answers: Vec<(u64, Result<Element, xmpp_parsers::stanza_error::StanzaError>)>,
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
        let mut h = Harness {
            focus: Focus::with_seed(settings, 7),
            now: start(),
            sent: vec![],
            calls: vec![],
            outbox: vec![],
            http_answers: vec![],
        };
        h.input(Input::Connected);
        h
    }

    fn drain(&mut self) {
        while let Some(effect) = self.focus.poll_effect() {
            match effect {
                Effect::Send(stanza) => self.sent.push(stanza),
                Effect::Http(call) => self.calls.push(call),
                Effect::Outbox(change) => self.outbox.push(change),
                Effect::AnswerHttp { id, answer } => self.http_answers.push((id, answer)),
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

/// The owner grants (muc#admin affiliation='owner') among sent stanzas, as bare JIDs.
fn owner_grants(sent: &[Element]) -> Vec<String> {
    sent.iter()
        .filter_map(|s| s.get_child("query", crate::xmpp::ns::MUC_ADMIN))
        .filter_map(|q| q.children().next())
        .filter(|item| item.attr("affiliation") == Some("owner"))
        .map(|item| item.attr("jid").unwrap().to_owned())
        .collect()
}

fn limited(limits: Limits) -> Settings {
    Settings { limits, ..settings(true) }
}

/// The 2020 client's msid flip (`focus::jingle`), with stanzas captured from it in Chromium.
mod msid_flip;
