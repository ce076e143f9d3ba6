//! The world's actions: `Sim::run` plays one generated `Action`: conference requests (valid,
//! invalid, with stale or known sessions), odd IQs and stanzas (also ones the stream reader
//! rejected), occupants and their affiliations, the focus's own presence in a room, answers to
//! the focus's own IQs, HTTP outcomes (through `reservation_api.rs`), reconnections and time;
//! `converge` walks a room down the happy path to live.

use super::generate::{Action, Odd, Reply, SelfKind};
use super::sim::{Grant, Sim};
use super::{nick_jid, nick_name, room_jid, Check, AFFILIATIONS, BAD_ROOMS, CLIENTS, COMPONENT, NICKS, ROOMS};
use crate::core::reservation::{HttpCall, Method};
use crate::core::Input;
use crate::xmpp::focus::ConferenceRequest;
use crate::xmpp::stream::{RejectedStanza, Rejection};

impl Sim {
    pub(super) fn run(&mut self, action: &Action) -> Check {
        match action.clone() {
            Action::Request { room, client, session } => {
                let room = match room.checked_sub(ROOMS.len()) {
                    None => Some(room_jid(ROOMS[room])),
                    Some(bad) => BAD_ROOMS[bad].map(str::to_owned),
                };
                self.request(room.as_deref(), client, session)
            }
            Action::HttpRequest { room, session } => {
                let room = match room.checked_sub(ROOMS.len()) {
                    None => Some(room_jid(ROOMS[room])),
                    Some(bad) => BAD_ROOMS[bad].map(str::to_owned),
                };
                self.http_request(room, session)
            }
            Action::Odd { odd, client } => self.odd(odd, client),
            Action::Participant { room, targeted, nick, available, affiliation } => {
                let room = self.pick_room(room, targeted, false);
                self.participant(&room, nick, available, affiliation)
            }
            Action::SelfPresence { room, targeted, kind } => {
                let room = self.pick_room(room, targeted, true);
                if matches!(kind, SelfKind::JoinedAsOwner | SelfKind::JoinedNotOwner | SelfKind::JoinRefused) {
                    self.joins.retain(|r| *r != room);
                }
                self.self_presence(&room, kind)
            }
            Action::AnswerOwnIq { pick, error, whois_anyone, again } => {
                self.answer_own_iq(pick, error, whois_anyone, again)
            }
            Action::Http { pick, reply, twice } => {
                if self.calls.is_empty() {
                    return Ok(());
                }
                self.deliver(pick % self.calls.len(), reply, twice)
            }
            Action::StaleHttp { pick, reply, unknown } => {
                if unknown || self.answered_calls.is_empty() {
                    let call = HttpCall {
                        id: 1_000_000 + pick as u64 % 1000,
                        method: Method::Post,
                        path: "/conference".into(),
                        form: vec![],
                    };
                    let outcome = self.outcome(&call, reply);
                    self.expected_grants.clear(); // nobody asked: nothing was created for the focus
                    return self.input(Input::Http { id: call.id, outcome });
                }
                let (call, _) = self.answered_calls[pick % self.answered_calls.len()].clone();
                let outcome = self.outcome(&call, reply);
                // The focus already had this call's answer: a repeat creates nothing.
                if call.method == Method::Post {
                    for id in std::mem::take(&mut self.expected_grants) {
                        self.room_ids.values_mut().for_each(|ids| ids.retain(|i| *i != id));
                    }
                }
                self.input(Input::Http { id: call.id, outcome })
            }
            Action::ToggleConnection => {
                self.connected = !self.connected;
                self.input(if self.connected { Input::Connected } else { Input::Disconnected })
            }
            Action::Advance { seconds } => self.advance(seconds),
            Action::Converge { room, client, adopt } => self.converge(room, client, adopt),
        }
    }

    pub(super) fn converge(&mut self, room: usize, client: usize, adopt: bool) -> Check {
        let (name, jid) = (ROOMS[room], room_jid(ROOMS[room]));
        self.request(Some(&jid), client, 0)?;
        let granted = Reply::Granted { created: true, short: false, cap: false };
        while let Some(index) = self.calls.iter().position(|(call, _)| match call.method {
            Method::Post => call.form.first().is_some_and(|(_, v)| v == name),
            Method::Get => {
                let id = call.path.strip_prefix("/conference/").unwrap_or_default();
                self.id_room.get(id).is_some_and(|r| r == name)
            }
            Method::Delete => false,
        }) {
            let post = self.calls[index].0.method == Method::Post;
            self.deliver(
                index,
                if adopt && post { Reply::Conflict { with_id: true, pick: 0 } } else { granted },
                false,
            )?;
        }
        if self.joins.contains(&jid) {
            self.joins.retain(|r| *r != jid);
            self.self_presence(&jid, SelfKind::JoinedAsOwner)?;
        }
        while let Some(index) =
            self.own_iqs.iter().position(|iq| iq.attr("to") == Some(&jid) && iq.attr("type") == Some("get"))
        {
            if !self.connected {
                break;
            }
            self.answer_own_iq(index, false, true, false)?;
        }
        Ok(())
    }

    pub(super) fn request(&mut self, room: Option<&str>, client: usize, session: usize) -> Check {
        let id = format!("q{}", self.serial());
        let from = CLIENTS[client];
        let room = room.map(|r| format!(" room='{r}'")).unwrap_or_default();
        let session = match session {
            0 => String::new(),
            1 => " session-id='stale'".to_owned(),
            n => self.sessions.get(n - 2).map(|s| format!(" session-id='{s}'")).unwrap_or_default(),
        };
        self.in_request = true;
        let result = self.stanza(&format!(
            "<iq xmlns='jabber:component:accept' type='set' id='{id}' from='{from}' to='{COMPONENT}'><conference xmlns='http://jitsi.org/protocol/focus'{room} machine-uid='m{client}'{session}/></iq>"
        ));
        self.in_request = false;
        result
    }

    /// A conference request over HTTP, answered (exactly once) with `Effect::AnswerHttp`.
    pub(super) fn http_request(&mut self, room: Option<String>, session: usize) -> Check {
        let id = self.serial();
        let session_id = match session {
            0 => None,
            1 => Some("stale".to_owned()),
            n => self.sessions.get(n - 2).cloned(),
        };
        let request = ConferenceRequest { room, machine_uid: Some("m0".into()), session_id, ..Default::default() };
        let fresh = self.http_requests.insert(id, 0).is_none();
        assert!(fresh, "the simulation reused an HTTP request id");
        self.in_request = true;
        let result = self.input(Input::HttpConferenceRequest { id, request });
        self.in_request = false;
        result
    }

    pub(super) fn odd(&mut self, odd: Odd, client: usize) -> Check {
        let id = format!("o{}", self.serial());
        let from = CLIENTS[client];
        let iq = |attrs: &str, payload: &str| {
            format!("<iq xmlns='jabber:component:accept'{attrs} to='{COMPONENT}'>{payload}</iq>")
        };
        let std = |type_: &str| format!(" type='{type_}' id='{id}' from='{from}'");
        let ping = "<ping xmlns='urn:xmpp:ping'/>";
        let text = match odd {
            Odd::Ping => iq(&std("get"), ping),
            Odd::Disco => iq(&std("get"), "<query xmlns='http://jabber.org/protocol/disco#info'/>"),
            Odd::NoType => iq(&format!(" id='{id}' from='{from}'"), ping),
            Odd::UnknownType => iq(&std("fetch"), ping),
            Odd::ResultType => iq(&std("result"), ""),
            Odd::ErrorType => iq(&std("error"), "<error type='cancel'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error>"),
            Odd::NoId => iq(&format!(" type='get' from='{from}'"), ping),
            Odd::NoFrom => iq(&format!(" type='get' id='{id}'"), ping),
            Odd::UnknownPayload => iq(&std("set"), "<foo xmlns='urn:example'/>"),
            Odd::ConferenceGet => {
                iq(&std("get"), "<conference xmlns='http://jitsi.org/protocol/focus' room='r0@conference.meet.test'/>")
            }
            Odd::TwoPayloads => iq(&std("get"), &format!("{ping}{ping}")),
            Odd::NoPayload => iq(&std("set"), ""),
            Odd::LoginUrl => iq(
                &std("get"),
                "<login-url xmlns='http://jitsi.org/protocol/focus' room='r0@conference.meet.test' machine-uid='m1'/>",
            ),
            Odd::Logout => {
                let session = self.sessions.first().cloned().unwrap_or_else(|| "stale".to_owned());
                iq(&std("set"), &format!("<logout xmlns='http://jitsi.org/protocol/focus' session-id='{session}'/>"))
            }
            Odd::Message => format!("<message xmlns='jabber:component:accept' id='{id}' from='{from}' to='{COMPONENT}'><body>hi</body></message>"),
            Odd::RejectedSet | Odd::RejectedResult | Odd::RejectedNoId | Odd::RejectedPresence => {
                if !self.connected {
                    return Ok(());
                }
                let rejected = RejectedStanza {
                    name: if matches!(odd, Odd::RejectedPresence) { "presence" } else { "iq" }.to_owned(),
                    id: (!matches!(odd, Odd::RejectedNoId)).then(|| id.clone()),
                    type_: Some(if matches!(odd, Odd::RejectedResult) { "result" } else { "set" }.to_owned()),
                    from: Some(from.to_owned()),
                    to: Some(COMPONENT.to_owned()),
                    why: if matches!(odd, Odd::RejectedSet) { Rejection::TooDeep { limit: 8 } } else { Rejection::Malformed },
                };
                self.expect_answer(&rejected.name, rejected.type_.as_deref(), rejected.id.as_deref(), rejected.from.as_deref());
                self.starting_before = self.focus.footprint().starting;
                self.focus.handle(self.now, Input::Rejected(rejected));
                return self.after_input();
            }
        };
        self.stanza(&text)
    }

    /// ROOMS[room], or when `targeted` one of the rooms joined lately (`unanswered`: whose join
    /// is not answered yet).
    pub(super) fn pick_room(&self, room: usize, targeted: bool, unanswered: bool) -> String {
        let pool = if unanswered { &self.joins } else { &self.joined };
        match pool.len() {
            n if targeted && n > 0 => pool[n - 1 - room % n.min(3)].clone(),
            _ => room_jid(ROOMS[room]),
        }
    }

    pub(super) fn participant(&mut self, room: &str, nick: usize, available: bool, affiliation: usize) -> Check {
        if !self.connected {
            return Ok(());
        }
        let room = room.to_owned();
        let (name, jid, affiliation) = (nick_name(nick), nick_jid(nick), AFFILIATIONS[affiliation]);
        let type_ = if available { "" } else { " type='unavailable'" };
        let extra = if nick == NICKS - 1 {
            "<features><feature var='http://jitsi.org/protocol/jibri'/></features>"
        } else {
            ""
        };
        let text = format!("<presence xmlns='jabber:component:accept'{type_} from='{room}/{name}' to='{COMPONENT}/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='{jid}' affiliation='{affiliation}' role='participant'/></x>{extra}</presence>");
        // The room's view, which the grants are judged against, changes before the focus hears it.
        let grants = self.grants.entry(room.clone()).or_default();
        if available {
            self.present.entry(room.clone()).or_default().insert(name.clone(), affiliation.to_owned());
            match (grants.get(&name), affiliation == "owner") {
                (Some(Grant::Requested), true) => {
                    grants.insert(name, Grant::Owner);
                }
                (Some(Grant::Owner), false) => {
                    grants.remove(&name); // revoked by someone else: the focus may elect again
                }
                _ => {}
            }
        } else {
            self.present.entry(room.clone()).or_default().remove(&name);
            grants.remove(&name);
        }
        self.stanza(&text)
    }

    pub(super) fn self_presence(&mut self, room: &str, kind: SelfKind) -> Check {
        let head = |type_: &str| {
            format!("<presence xmlns='jabber:component:accept'{type_} from='{room}/focus' to='{COMPONENT}/focus'>")
        };
        let text = match kind {
            SelfKind::JoinedAsOwner | SelfKind::JoinedNotOwner => {
                let affiliation = if matches!(kind, SelfKind::JoinedAsOwner) { "owner" } else { "member" };
                format!("{}<x xmlns='http://jabber.org/protocol/muc#user'><item jid='{COMPONENT}/focus' affiliation='{affiliation}' role='moderator'/><status code='110'/></x></presence>", head(""))
            }
            SelfKind::JoinRefused => format!("{}<x xmlns='http://jabber.org/protocol/muc'/><error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></presence>", head(" type='error'")),
            SelfKind::Destroyed => format!("{}<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><destroy/><status code='110'/></x></presence>", head(" type='unavailable'")),
            SelfKind::Kicked => format!("{}<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='none'/><status code='110'/><status code='307'/></x></presence>", head(" type='unavailable'")),
            SelfKind::Left => format!("{}<x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' role='none'/><status code='110'/></x></presence>", head(" type='unavailable'")),
        };
        self.stanza(&text)
    }

    pub(super) fn answer_own_iq(&mut self, pick: usize, error: bool, whois_anyone: bool, again: bool) -> Check {
        let pool = if again { &self.answered_own } else { &self.own_iqs };
        if pool.is_empty() || !self.connected {
            return Ok(());
        }
        let index = pick % pool.len();
        let request = if again { self.answered_own[index].clone() } else { self.own_iqs.remove(index) };
        let (id, room) = (request.attr("id").unwrap().to_owned(), request.attr("to").unwrap().to_owned());
        let head = |type_: &str| {
            format!(
                "<iq xmlns='jabber:component:accept' type='{type_}' id='{id}' from='{room}' to='{COMPONENT}/focus'>"
            )
        };
        let text = if error {
            if let Some((grant_room, nick, stay)) = self.grant_ids.get(&id).cloned() {
                if self.stays.get(&grant_room).copied().unwrap_or_default() == stay {
                    self.grants.entry(grant_room).or_default().remove(&nick);
                }
            }
            format!(
                "{}<error type='cancel'><not-allowed xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>",
                head("error")
            )
        } else if request.attr("type") == Some("get") {
            let whois = if whois_anyone { "anyone" } else { "moderators" };
            format!("{}<query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field var='muc#roomconfig_whois'><value>{whois}</value></field></x></query></iq>", head("result"))
        } else {
            format!("{}</iq>", head("result"))
        };
        if !again {
            self.answered_own.push(request);
        }
        self.stanza(&text)
    }
}
