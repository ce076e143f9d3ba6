//! The code and the error catalog agree: one input per catalog entry, and the answer carries
//! the entry's condition, type, text (and reservation code or `<session-invalid/>`). Jingle and
//! mute are driven in `media::errors`.

use std::collections::HashSet;

use xmpp_parsers::jid::Jid;

use super::*;
use crate::errors::{self, catalog, ErrorEntry, Extra, Group};
use crate::xmpp::stream::{RejectedStanza, Rejection};

/// The entries an answer was checked against.
#[derive(Default)]
pub(super) struct Checked(HashSet<&'static str>);

impl Checked {
    /// `reply` is the error of `key` with its template filled with `values`.
    pub(super) fn template(&mut self, reply: &Element, key: &str, values: &[(&str, &str)]) {
        let entry = errors::entry(key).unwrap_or_else(|| panic!("no entry {key}"));
        assert!(!entry.family, "{key} is a family");
        self.check(reply, entry, &entry.text_with(values));
    }

    /// `reply` is the error of the family `key` with the producer's `text` (one of the entry's
    /// examples, if it has some).
    pub(super) fn family(&mut self, reply: &Element, key: &str, text: &str) {
        let entry = errors::entry(key).unwrap_or_else(|| panic!("no entry {key}"));
        assert!(entry.family, "{key} is not a family");
        assert!(entry.examples.is_empty() || entry.examples.contains(&text), "{key}: {text:?} is not an example");
        self.check(reply, entry, text);
    }

    /// A reservation refusal: as [`Checked::template`] or [`Checked::family`], with its code.
    fn refusal(&mut self, reply: &Element, key: &str, code: u16, text: &str) {
        let entry = errors::entry(key).unwrap_or_else(|| panic!("no entry {key}"));
        if let errors::Code::Fixed(fixed) = entry.code {
            assert_eq!(code, fixed, "{key}");
        }
        assert_eq!(parse_reservation_error(&error_of(reply)), Some((code, text.to_owned())), "{key}");
        self.check(reply, entry, text);
    }

    fn check(&mut self, reply: &Element, entry: &'static ErrorEntry, text: &str) {
        let error = error_of(reply);
        let key = entry.key;
        assert_eq!(error.defined_condition, entry.condition.defined(), "{key}");
        assert_eq!(error.type_, entry.type_.error_type(), "{key}");
        assert_eq!(error.texts.values().collect::<Vec<_>>(), [text], "{key}");
        let other = error.other.as_ref().map(|o| (o.name().to_owned(), o.ns()));
        let expected = match entry.extra {
            Extra::None => None,
            Extra::SessionInvalid => Some(("session-invalid".to_owned(), crate::xmpp::ns::FOCUS.to_owned())),
            Extra::Reservation => Some(("reservation-error".to_owned(), crate::xmpp::ns::FOCUS.to_owned())),
            Extra::GracefulShutdown => Some(("graceful-shutdown".to_owned(), crate::xmpp::ns::FOCUS.to_owned())),
        };
        assert_eq!(other, expected, "{key}");
        self.0.insert(key);
    }

    /// Every entry of `groups` was checked, but the `exempt` ones.
    pub(super) fn all_of(&self, groups: &[Group], exempt: &[&str]) {
        for entry in catalog().filter(|e| groups.contains(&e.group)) {
            assert!(self.0.contains(entry.key) || exempt.contains(&entry.key), "{} was not driven", entry.key);
        }
    }
}

/// The answer to a conference request for ROOM whose reservation call gets `outcomes` in turn
/// (retries three seconds apart).
fn refused(outcomes: &[HttpOutcome]) -> Element {
    let mut h = Harness::new(true);
    h.request("q", ROOM);
    for outcome in outcomes {
        h.advance(3);
        let call = h.take_calls().pop().expect("a reservation call");
        h.input(Input::Http { id: call.id, outcome: outcome.clone() });
    }
    reply_to(&h.take_sent(), "q").clone()
}

fn response(status: u16, body: &str) -> HttpOutcome {
    HttpOutcome::Response { status, body: body.to_owned() }
}

#[test]
fn reservation_refusals_are_the_catalogs() {
    let mut c = Checked::default();
    let message = "Nur mit Buchung";
    c.refusal(&refused(&[response(403, r#"{"message":"Nur mit Buchung"}"#)]), "reservation.refused", 403, message);
    let text = errors::RESERVATION_REJECTED.text_with(&[("status", "403")]);
    c.refusal(&refused(&[response(403, "")]), "reservation.rejected", 403, &text);
    c.refusal(&refused(&[response(409, r#"{"message":"taken"}"#)]), "reservation.conflict-refused", 409, "taken");
    let text = errors::RESERVATION_CONFLICT_WITHOUT_ID.text;
    c.refusal(&refused(&[response(409, "{}")]), "reservation.conflict-without-id", 409, text);
    let reply = refused(&[response(409, r#"{"conflict_id":7}"#), response(404, "")]);
    let text = errors::RESERVATION_CONFLICT_UNREADABLE.text_with(&[("id", "7"), ("detail", "HTTP 404")]);
    c.refusal(&reply, "reservation.conflict-unreadable", 409, &text);
    let past = r#"{"id":42,"name":"room1","start_time":"2026-11-22T08:00:00.000Z","duration":60}"#;
    c.refusal(&refused(&[response(201, past)]), "reservation.expired", 419, errors::RESERVATION_EXPIRED.text);
    let text = errors::RESERVATION_INVALID_RESPONSE.text_with(&[("why", "the body is not JSON")]);
    c.refusal(&refused(&[response(201, "<html/>")]), "reservation.invalid-response", 500, &text);
    let text = errors::RESERVATION_TOO_LARGE.text_with(&[("limit", "65536")]);
    let large = HttpOutcome::TooLarge { status: 201, limit: 65536 };
    c.refusal(&refused(&[large]), "reservation.too-large", 500, &text);
    let redirect = HttpOutcome::Redirect { status: 307, location: Some("https://api.test/c".into()) };
    let text = errors::RESERVATION_REDIRECTED.text_with(&[("status", "307"), ("target", " to https://api.test/c")]);
    c.refusal(&refused(&[redirect]), "reservation.redirected", 500, &text);
    let down = HttpOutcome::Unreachable("refused".into());
    let text = errors::RESERVATION_UNREACHABLE.text_with(&[("why", "refused")]);
    c.refusal(&refused(&[down.clone(), down.clone(), down]), "reservation.unreachable", 502, &text);
    let text = errors::RESERVATION_TIMEOUT.text;
    c.refusal(&refused(&[HttpOutcome::Timeout]), "reservation.timeout", 504, text);
    c.all_of(&[Group::Reservation], &[]);
}

/// The answer to `<iq type='{type_}' id='q' from='{from}'>{payload}</iq>`.
fn ask(h: &mut Harness, type_: &str, from: &str, payload: &str) -> Element {
    h.stanza(&format!(
        "<iq xmlns='jabber:component:accept' type='{type_}' id='q' from='{from}' to='focus.meet.test'>{payload}</iq>"
    ));
    reply_to(&h.take_sent(), "q").clone()
}

fn conference(attributes: &str) -> String {
    format!("<conference xmlns='http://jitsi.org/protocol/focus' {attributes}/>")
}

fn with_auth(mode: crate::config::AuthMode, limits: Limits) -> Harness {
    Harness::with(Settings { auth_mode: mode, auth_domain: "auth.meet.test".into(), limits, ..settings(false) })
}

#[test]
fn answers_to_requests_and_unreadable_iqs_are_the_catalogs() {
    use crate::config::AuthMode::{Jwt, Xmpp};
    let mut c = Checked::default();
    let mut h = Harness::new(false);
    c.template(&ask(&mut h, "set", CLIENT, &conference("machine-uid='m1'")), "request.no-room", &[]);
    let why = "a@b@c".parse::<Jid>().unwrap_err().to_string();
    let reply = ask(&mut h, "set", CLIENT, &conference("room='a@b@c'"));
    c.template(&reply, "request.room-not-jid", &[("room", "a@b@c"), ("why", &why)]);
    let reply = ask(&mut h, "set", CLIENT, &conference(&format!("room='{ROOM}/x'")));
    c.template(&reply, "request.room-not-bare", &[("room", &format!("{ROOM}/x"))]);
    let muc = [("muc_domain", "conference.meet.test")];
    let reply = ask(&mut h, "set", CLIENT, &conference("room='conference.meet.test'"));
    c.template(&reply, "request.room-no-name", &[("room", "conference.meet.test"), muc[0]]);
    let reply = ask(&mut h, "set", CLIENT, &conference("room='x@elsewhere'"));
    c.template(&reply, "request.room-elsewhere", &[("room", "x@elsewhere"), muc[0]]);
    let payload =
        format!("<conference xmlns='http://jitsi.org/protocol/focus' room='{ROOM}'><property value='1'/></conference>");
    let text = "<property/> needs a non-empty 'name' attribute";
    c.family(&ask(&mut h, "set", CLIENT, &payload), "request.malformed", text);
    let reply = ask(&mut h, "set", "a@b@c", &conference(&format!("room='{ROOM}'")));
    c.template(&reply, "request.bad-sender", &[]);
    c.template(&ask(&mut h, "get", CLIENT, &conference(&format!("room='{ROOM}'"))), "request.not-set", &[]);
    let reply = ask(&mut h, "bogus", CLIENT, "<ping xmlns='urn:xmpp:ping'/>");
    c.template(&reply, "iq.unknown-type", &[("type", "bogus")]);
    h.stanza(&format!("<iq xmlns='jabber:component:accept' id='q' from='{CLIENT}'><ping xmlns='urn:xmpp:ping'/></iq>"));
    c.template(reply_to(&h.take_sent(), "q"), "iq.no-type", &[]);
    c.template(&ask(&mut h, "get", CLIENT, ""), "iq.payload-count", &[]);
    let reply = ask(&mut h, "get", CLIENT, "<query xmlns='jabber:iq:version'/>");
    c.template(&reply, "iq.unsupported", &[("name", "query"), ("namespace", "jabber:iq:version")]);
    let login_url =
        "<login-url xmlns='http://jitsi.org/protocol/focus' room='r@conference.meet.test' machine-uid='m1'/>";
    c.template(&ask(&mut h, "get", CLIENT, login_url), "auth.disabled", &[]);
    for (why, key, limit) in [
        (Rejection::TooDeep { limit: 32 }, "limits.too-deep", Some("32")),
        (Rejection::TooLarge { limit: 1024 }, "limits.too-large", Some("1024")),
        (Rejection::TooManyNodes { limit: 100 }, "limits.too-many-nodes", Some("100")),
        (Rejection::Malformed, "iq.not-xml", None),
    ] {
        let rejected = RejectedStanza {
            name: "iq".into(),
            id: Some("q".into()),
            type_: Some("set".into()),
            from: Some(CLIENT.into()),
            to: Some("focus.meet.test".into()),
            why,
        };
        h.input(Input::Rejected(rejected));
        let values: Vec<(&str, &str)> = limit.map(|l| ("limit", l)).into_iter().collect();
        c.template(reply_to(&h.take_sent(), "q"), key, &values);
    }

    // The focus in the room.
    h.request("j1", ROOM);
    h.stanza(&format!("<presence xmlns='jabber:component:accept' from='{ROOM}/focus' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='focus.meet.test/focus' affiliation='member' role='participant'/><status code='110'/></x></presence>"));
    c.template(reply_to(&h.take_sent(), "j1"), "request.not-owner", &[]);
    for (condition, key) in [("not-allowed", "request.join-refused"), ("conflict", "request.join-failed")] {
        h.request("j2", ROOM);
        h.stanza(&format!("<presence xmlns='jabber:component:accept' type='error' from='{ROOM}/focus' to='focus.meet.test/focus'><error type='cancel'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>"));
        c.template(reply_to(&h.take_sent(), "j2"), key, &[("condition", condition)]);
    }

    // Sign-in.
    let mut h = with_auth(Xmpp, Limits { max_sessions: 1, ..Limits::default() });
    c.template(&ask(&mut h, "set", CLIENT, &conference(&format!("room='{ROOM}'"))), "auth.not-authorized", &[]);
    let reply = ask(&mut h, "set", CLIENT, &conference(&format!("room='{ROOM}' machine-uid='m1' session-id='nope'")));
    c.template(&reply, "auth.invalid-session", &[]);
    let alice = "alice@auth.meet.test/web";
    let reply = ask(&mut h, "set", alice, &conference(&format!("room='{ROOM}'")));
    c.template(&reply, "auth.missing-machine-uid", &[]);
    let reply = ask(&mut h, "set", alice, &conference(&format!("room='{ROOM}' machine-uid='m1'")));
    let session = ConferenceResponse::try_from(reply.children().next().unwrap()).unwrap().session_id.unwrap();
    let reply =
        ask(&mut h, "set", CLIENT, &conference(&format!("room='{ROOM}' machine-uid='m2' session-id='{session}'")));
    c.template(&reply, "auth.machine-mismatch", &[]);
    let reply = ask(&mut h, "set", "bob@auth.meet.test/web", &conference(&format!("room='{ROOM}' machine-uid='m3'")));
    c.template(&reply, "auth.too-many-sessions", &[]);
    let focus = "http://jitsi.org/protocol/focus";
    let reply = ask(&mut h, "get", CLIENT, &format!("<login-url xmlns='{focus}' machine-uid='m1'/>"));
    c.template(&reply, "login-url.no-room", &[]);
    let reply = ask(&mut h, "get", CLIENT, &format!("<login-url xmlns='{focus}' room='{ROOM}'/>"));
    c.template(&reply, "login-url.no-machine-uid", &[]);
    c.template(&ask(&mut h, "set", CLIENT, &format!("<logout xmlns='{focus}'/>")), "logout.no-session-id", &[]);
    let mut h = with_auth(Jwt, Limits::default());
    c.template(&ask(&mut h, "get", CLIENT, login_url), "login-url.jwt", &[]);
    let mut h = Harness::new(false);
    h.focus.start_draining(h.now);
    c.template(
        &ask(&mut h, "set", CLIENT, &conference(&format!("room='{ROOM}' machine-uid='m1'"))),
        "request.draining",
        &[],
    );
    c.all_of(&[Group::Request, Group::SignIn], &[]);
}
