//! The focus: routes stanzas, HTTP outcomes and timers to conferences and keeps the
//! reservation bookkeeping (refusal cache, pending DELETEs).

use std::collections::{HashMap, VecDeque};

use minidom::Element;
use tracing::{debug, info, warn};
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType};

use super::auth::{Identity, Sessions};
use super::conference::{Conference, Participant, Phase, Waiter};
use super::iq::IqEnvelope;
use super::reservation::{self as policy, DeleteVerdict, HttpCall, HttpOutcome, Method, Refusal, Verdict};
use super::{Effect, Input, Time};
use crate::config::{AuthMode, Config};
use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::focus::{self as focus_ns, ConferenceRequest, ConferenceResponse, LoginUrlRequest, Property};
use crate::xmpp::jitsi_presence::{self, ParticipantInfo};
use crate::xmpp::muc::{self, Affiliation, OccupantPresence, PresenceKind, RoomConfig};
use crate::xmpp::ns;

/// The occupant nickname clients recognise as the focus.
pub const FOCUS_NICK: &str = "focus";
/// DELETE attempts before a reservation is given up (about a day at the 5-minute cap).
const MAX_DELETE_ATTEMPTS: u32 = 300;

/// What the core needs from the configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    pub component: BareJid,
    pub muc_domain: BareJid,
    /// `None` when the reservation system is disabled.
    pub reservation: Option<ReservationSettings>,
    pub initial_timeout: chrono::Duration,
    pub request_timeout: chrono::Duration,
    pub auth_mode: AuthMode,
    pub auth_domain: String,
    pub session_lifetime: chrono::Duration,
    /// Lower-cased domains whose occupants may claim recorder/gateway/transcriber features.
    pub trusted_domains: Vec<String>,
}

#[derive(Debug, Clone)]
pub struct ReservationSettings {
    pub retries: u32,
    pub retry_delay: std::time::Duration,
    pub refusal_cache: chrono::Duration,
}

fn chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl Settings {
    pub fn from_config(config: &Config) -> Settings {
        let r = &config.reservation;
        Settings {
            component: config.xmpp.component.parse().expect("validated by Config"),
            muc_domain: config.xmpp.muc_domain.parse().expect("validated by Config"),
            reservation: r.enabled.then(|| ReservationSettings {
                retries: r.retries,
                retry_delay: r.retry_delay,
                refusal_cache: chrono(r.refusal_cache),
            }),
            initial_timeout: chrono(config.conference.initial_timeout),
            request_timeout: chrono(config.conference.request_timeout),
            auth_mode: config.auth.mode,
            auth_domain: config.auth.domain.clone(),
            session_lifetime: chrono(config.auth.session_lifetime),
            trusted_domains: config.xmpp.trusted_domains.iter().map(|d| d.to_lowercase()).collect(),
        }
    }
}

#[derive(Debug, Clone)]
enum HttpPurpose {
    Create(BareJid),
    FetchConflict(BareJid),
    Delete(u64),
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum OwnIqKind {
    ConfigGet,
    ConfigSet,
    Destroy,
    Kick,
    /// Owner rights for this participant (nick).
    GrantOwner(String),
}

#[derive(Debug)]
struct PendingDelete {
    room: BareJid,
    id: String,
    attempt: u32,
    retry_at: Option<Time>,
}

/// How a conference leaves its room when it ends.
enum Exit {
    Leave,
    Destroy(String),
    /// We are no longer in the room (destroyed, kicked, join failed).
    AlreadyOut,
}

/// Effects, the connection state and id allocation, kept apart from the conferences so that
/// both can be borrowed at once.
#[derive(Debug, Default)]
struct Out {
    effects: VecDeque<Effect>,
    /// Stanzas produced while disconnected, sent on reconnection so no reply is lost.
    held: Vec<Element>,
    connected: bool,
    next_id: u64,
}

impl Out {
    fn send(&mut self, stanza: Element) {
        if self.connected {
            self.effects.push_back(Effect::Send(stanza));
        } else {
            self.held.push(stanza);
        }
    }

    fn id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    fn http(&mut self, method: Method, path: String, form: Vec<(String, String)>) -> u64 {
        let id = self.id();
        self.effects.push_back(Effect::Http(HttpCall { id, method, path, form }));
        id
    }
}

/// The focus state machine. See the module documentation of [`crate::core`].
#[derive(Debug)]
pub struct Focus {
    settings: Settings,
    /// Our real JID in rooms: `<component>/focus`; clients match its `<component>/` prefix.
    focus_jid: FullJid,
    conferences: HashMap<BareJid, Conference>,
    refusals: HashMap<BareJid, (Refusal, Time)>,
    deletes: HashMap<u64, PendingDelete>,
    http: HashMap<u64, HttpPurpose>,
    /// Our IQs to rooms by id: the room (which must answer) and what the IQ was for.
    own_iqs: HashMap<String, (BareJid, OwnIqKind)>,
    sessions: Sessions,
    out: Out,
}

impl Focus {
    pub fn new(settings: Settings) -> Focus {
        let focus_jid =
            format!("{}/{FOCUS_NICK}", settings.component).parse().expect("a domain plus a resource is a full JID");
        let sessions = Sessions::new(settings.auth_mode, &settings.auth_domain, settings.session_lifetime);
        Focus {
            sessions,
            settings,
            focus_jid,
            conferences: HashMap::new(),
            refusals: HashMap::new(),
            deletes: HashMap::new(),
            http: HashMap::new(),
            own_iqs: HashMap::new(),
            out: Out::default(),
        }
    }

    /// The next effect to carry out, if any.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.out.effects.pop_front()
    }

    /// When [`Focus::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Time> {
        let join_retry = self.settings.request_timeout;
        let conferences = self.conferences.values().filter_map(|c| c.next_deadline(join_retry));
        let deletes = self.deletes.values().filter_map(|d| d.retry_at);
        let refusals = self.refusals.values().map(|(_, until)| *until);
        conferences.chain(deletes).chain(refusals).chain(self.sessions.next_expiry()).min()
    }

    /// Number of running or starting conferences.
    pub fn conference_count(&self) -> usize {
        self.conferences.len()
    }

    /// True while HTTP calls are outstanding or DELETEs wait for a retry.
    pub fn has_pending_http(&self) -> bool {
        !self.http.is_empty() || !self.deletes.is_empty()
    }

    pub fn handle(&mut self, now: Time, input: Input) {
        match input {
            Input::Connected => self.on_connected(now),
            Input::Disconnected => self.out.connected = false,
            Input::Stanza(stanza) => self.on_stanza(now, stanza),
            Input::Http { id, outcome } => self.on_http(now, id, outcome),
        }
    }

    /// Ends every conference (leaving its room and deleting its reservation); the runtime keeps
    /// running until [`Focus::has_pending_http`] is false or its grace period ends.
    pub fn shutdown(&mut self, now: Time) {
        let rooms: Vec<BareJid> = self.conferences.keys().cloned().collect();
        for room in rooms {
            self.end(now, &room, "jitsi-focus is shutting down", Exit::Leave);
        }
    }

    fn on_connected(&mut self, now: Time) {
        self.out.connected = true;
        for stanza in std::mem::take(&mut self.out.held) {
            self.out.send(stanza);
        }
        // Rejoin every room we were in. Prosody may still list our old occupant (it sends no
        // leave for a vanished component); the join then simply refreshes it.
        for conference in self.conferences.values_mut() {
            if matches!(conference.phase, Phase::Joining { .. } | Phase::Configuring { .. } | Phase::Live) {
                conference.participants.clear();
                // go_live re-arms it once we know who is still there.
                conference.initial_deadline = None;
                conference.phase = Phase::Joining { sent_at: Some(now) };
                self.out.send(join(&self.focus_jid, &conference.room));
            }
        }
    }

    fn on_stanza(&mut self, now: Time, stanza: Element) {
        match stanza.name() {
            "iq" => match stanza.attr("type") {
                Some("get" | "set") => self.on_iq_request(now, stanza),
                Some("result" | "error") => self.on_iq_response(now, &stanza),
                _ => {}
            },
            "presence" => self.on_presence(now, stanza),
            _ => {}
        }
    }

    fn on_iq_request(&mut self, now: Time, stanza: Element) {
        let Some(envelope) = IqEnvelope::of(&stanza, &self.settings.component.to_string()) else {
            return; // no id or sender: there is nobody to answer
        };
        let type_ = stanza.attr("type").unwrap_or_default();
        let payloads: Vec<&Element> = stanza.children().collect();
        let [payload] = payloads.as_slice() else {
            let text = "an IQ request carries exactly one payload element";
            self.out.send(envelope.error(focus_ns::error(ErrorType::Modify, DefinedCondition::BadRequest, text)));
            return;
        };
        let reply = match (payload.name(), payload.ns().as_str(), type_) {
            ("conference", ns::FOCUS, "set") => return self.on_conference_request(now, envelope, payload),
            ("conference", ns::FOCUS, _) => {
                Err((DefinedCondition::BadRequest, "a conference request is an IQ of type 'set'".to_owned()))
            }
            ("query", ns::DISCO_INFO, "get") => Ok(Some(disco_info())),
            ("ping", ns::PING, "get") => Ok(None),
            ("login-url" | "logout", ns::FOCUS, _) if !self.sessions.enabled() => {
                Err((DefinedCondition::ServiceUnavailable, "authentication is not enabled on this focus".to_owned()))
            }
            ("login-url", ns::FOCUS, "get") => self.login_url(payload),
            ("logout", ns::FOCUS, "set") => match focus_ns::parse_logout(payload) {
                Ok(Some(session_id)) => match self.sessions.logout(&session_id) {
                    Ok(session) => {
                        info!(identity = %session.identity, "signed out");
                        Ok(Some(focus_ns::logout_response()))
                    }
                    Err(error) => return self.out.send(envelope.error(error.into())),
                },
                Ok(None) => Err((DefinedCondition::BadRequest, "missing attribute 'session-id'".to_owned())),
                Err(e) => Err((DefinedCondition::BadRequest, e.to_string())),
            },
            (name, namespace, _) => Err((
                DefinedCondition::ServiceUnavailable,
                format!("<{name} xmlns='{namespace}'/> is not supported by this focus"),
            )),
        };
        let response = match reply {
            Ok(payload) => envelope.result(payload),
            Err((condition, text)) => {
                let type_ =
                    if condition == DefinedCondition::BadRequest { ErrorType::Modify } else { ErrorType::Cancel };
                envelope.error(focus_ns::error(type_, condition, &text))
            }
        };
        self.out.send(response);
    }

    /// `login-url`: where the client sends the user to sign in (XMPP mode: the room's page
    /// with `?login=true`, which shows jitsi-meet's login dialog).
    fn login_url(&self, payload: &Element) -> Result<Option<Element>, (DefinedCondition, String)> {
        let request = LoginUrlRequest::try_from(payload).map_err(|e| (DefinedCondition::BadRequest, e.to_string()))?;
        let room = request.room.ok_or((DefinedCondition::NotAcceptable, "missing attribute 'room'".to_owned()))?;
        if request.machine_uid.is_none() {
            return Err((DefinedCondition::BadRequest, "missing mandatory attribute 'machineUID'".to_owned()));
        }
        if self.settings.auth_mode == AuthMode::Jwt {
            return Err((DefinedCondition::ServiceUnavailable, "no login URL: users sign in with a token".to_owned()));
        }
        let name = room.split('@').next().unwrap_or_default();
        Ok(Some(focus_ns::login_url_response(&format!("./{name}?login=true"))))
    }

    fn bad_request(&mut self, envelope: &IqEnvelope, text: &str) {
        self.out.send(envelope.error(focus_ns::error(ErrorType::Modify, DefinedCondition::BadRequest, text)));
    }

    /// Checks `room`: a bare JID with a local part on our MUC domain.
    fn validate_room(&self, room: Option<&str>) -> Result<BareJid, String> {
        let room = room.ok_or("No 'room' specified.")?;
        let jid: Jid = room.parse().map_err(|e| format!("'room' {room:?} is not a valid JID: {e}"))?;
        if jid.resource().is_some() {
            return Err(format!("'room' {room:?} must be a bare JID (no '/resource')"));
        }
        let jid = jid.to_bare();
        if jid.node().is_none() {
            return Err(format!("'room' {room:?} needs a room name: name@{}", self.settings.muc_domain));
        }
        if jid.domain() != self.settings.muc_domain.domain() {
            return Err(format!("'room' {room:?} must be on {}", self.settings.muc_domain));
        }
        Ok(jid)
    }

    fn on_conference_request(&mut self, now: Time, envelope: IqEnvelope, payload: &Element) {
        let request = match ConferenceRequest::try_from(payload) {
            Ok(request) => request,
            Err(e) => return self.bad_request(&envelope, &e.to_string()),
        };
        let room = match self.validate_room(request.room.as_deref()) {
            Ok(room) => room,
            Err(text) => return self.bad_request(&envelope, &text),
        };
        let Ok(sender) = envelope.from.parse::<Jid>() else {
            return self.bad_request(&envelope, "the sender's address is not a valid JID");
        };
        let identity = match self.sessions.authenticate(now, &sender, &request) {
            Ok(identity) => identity,
            Err(error) => return self.out.send(envelope.error(error.into())),
        };
        // A session opened by this request, in XMPP mode, came over the client's sign-in
        // connection (or the client signed in directly). Answer with the session but
        // `ready='false'`: the client repeats the request with the session on its main
        // connection, where a reservation refusal reaches the user as RESERVATION_ERROR.
        // (Answered here, the refusal would travel lib-jitsi-meet's authenticate() path, which
        // shows it as GET_SESSION_ID_ERROR.)
        if let Identity::User { created: true, identity: user, .. } = &identity {
            if self.settings.auth_mode == AuthMode::Xmpp {
                info!(room = %room, identity = %user, "session created; the reservation check follows on the main connection");
                let response = self.response(&room, false, &identity);
                return self.out.send(envelope.result(Some(response)));
            }
        }
        let deadline = now + self.settings.request_timeout;
        if let Some(conference) = self.conferences.get_mut(&room) {
            if conference.phase == Phase::Live {
                if conference.participants.is_empty() {
                    conference.initial_deadline = Some(now + self.settings.initial_timeout);
                }
                let response = self.response(&room, true, &identity);
                self.out.send(envelope.result(Some(response)));
                self.elect_owners(&room);
            } else {
                conference.waiters.push(Waiter { envelope, deadline, identity });
            }
            return;
        }
        if identity == Identity::Guest {
            let error = focus_ns::error(ErrorType::Auth, DefinedCondition::NotAuthorized, "not authorized user domain");
            return self.out.send(envelope.error(error));
        }
        if let Some((refusal, until)) = self.refusals.get(&room) {
            if now < *until {
                let error = focus_ns::reservation_error(refusal.code, &refusal.message);
                self.out.send(envelope.error(error));
                return;
            }
            self.refusals.remove(&room);
        }
        let owner = match &identity {
            Identity::User { identity, .. } => Some(identity.to_string()),
            _ => None,
        };
        let phase = match self.settings.reservation {
            Some(_) => Phase::Reserving { attempt: 1, retry_at: None },
            None => Phase::Joining { sent_at: None },
        };
        let mut conference = Conference::new(room.clone(), owner, phase, now);
        conference.waiters.push(Waiter { envelope, deadline, identity });
        debug!(room = %room, "new conference requested");
        self.conferences.insert(room.clone(), conference);
        if self.settings.reservation.is_some() {
            self.post_reservation(now, &room);
        } else {
            self.begin_join(now, &room);
        }
    }

    /// `POST /conference` for this conference; the conference remembers the call it waits for.
    fn post_reservation(&mut self, now: Time, room: &BareJid) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        let form = policy::create_form(&conference.name, now, conference.owner.as_deref());
        let call = self.out.http(Method::Post, "/conference".into(), form);
        self.http.insert(call, HttpPurpose::Create(room.clone()));
        conference.awaited_call = Some(call);
    }

    fn fetch_conflict(&mut self, room: &BareJid, id: &str) {
        let call = self.out.http(Method::Get, policy::path_for(id), Vec::new());
        self.http.insert(call, HttpPurpose::FetchConflict(room.clone()));
        if let Some(conference) = self.conferences.get_mut(room) {
            conference.awaited_call = Some(call);
        }
    }

    /// The `<conference/>` answer, with the session of signed-in users.
    fn response(&self, room: &BareJid, ready: bool, identity: &Identity) -> Element {
        let (session_id, user) = match identity {
            Identity::User { identity, session_id, .. } => (Some(session_id.clone()), Some(identity.to_string())),
            _ => (None, None),
        };
        let auth = self.sessions.enabled();
        let mut properties = vec![Property::new("authentication", auth.to_string())];
        if auth {
            properties.push(Property::new("externalAuth", (self.settings.auth_mode == AuthMode::Jwt).to_string()));
        }
        properties.push(Property::new("sipGatewayEnabled", "false"));
        Element::from(&ConferenceResponse {
            room: room.to_string(),
            ready,
            focus_jid: self.settings.component.to_string(),
            session_id,
            identity: user,
            properties,
        })
    }

    fn on_http(&mut self, now: Time, id: u64, outcome: HttpOutcome) {
        let Some(purpose) = self.http.remove(&id) else { return };
        let retries = self.settings.reservation.as_ref().map_or(0, |r| r.retries);
        match purpose {
            HttpPurpose::Create(room) => {
                let awaited = self.conferences.get(&room).filter(|c| c.awaited_call == Some(id));
                let Some(Phase::Reserving { attempt, .. }) = awaited.map(|c| c.phase.clone()) else {
                    // Nobody waits for this answer any more (the conference ended, or the focus is
                    // stopping). A reservation it granted would be left behind: delete it.
                    let name = room.node().map(|n| n.to_string()).unwrap_or_default();
                    if let Verdict::Granted(reservation) = policy::judge_create(&outcome, &name, 1, 0) {
                        info!(room = %room, reservation_id = %reservation.id, "deleting a reservation granted too late");
                        self.delete_reservation(room, reservation.id);
                    }
                    return;
                };
                let name = awaited.map(|c| c.name.clone()).unwrap_or_default();
                let verdict = policy::judge_create(&outcome, &name, attempt, retries);
                self.apply_verdict(now, &room, verdict, &outcome);
            }
            HttpPurpose::FetchConflict(room) => {
                // An adopted reservation existed before us: nothing to clean up if nobody waits.
                let Some(conference) = self.conferences.get(&room).filter(|c| c.awaited_call == Some(id)) else {
                    return;
                };
                let Phase::FetchingConflict { id, message, attempt, .. } = &conference.phase else { return };
                let verdict =
                    policy::judge_conflict_fetch(&outcome, &conference.name, id, message.as_deref(), *attempt, retries);
                self.apply_verdict(now, &room, verdict, &outcome);
            }
            HttpPurpose::Delete(key) => self.on_delete_outcome(now, key, &outcome),
        }
    }

    fn apply_verdict(&mut self, now: Time, room: &BareJid, verdict: Verdict, outcome: &HttpOutcome) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        conference.awaited_call = None;
        match verdict {
            Verdict::Granted(reservation) => {
                // A DELETE of ours still retrying for this id must not remove it now that the
                // reservation is in use again (a 409 hands back the same id).
                self.deletes.retain(|_, d| d.id != reservation.id);
                if reservation.ends_at() <= now {
                    return self.refuse(now, room, Refusal::new(policy::codes::EXPIRED, "Reservation expired"));
                }
                if let (Some(owner), Some(reserved_for)) = (&conference.owner, &reservation.mail_owner) {
                    if !owner.eq_ignore_ascii_case(reserved_for) {
                        let message = format!("This room is reserved by {reserved_for}, not by {owner}");
                        // Per user, so not cached for the room: the owner must still get in.
                        let refusal = Refusal::new(policy::codes::CONFLICT, message);
                        self.refuse(now, room, refusal.clone());
                        self.refusals.remove(room);
                        return;
                    }
                }
                conference.reservation = Some(reservation);
                self.begin_join(now, room);
            }
            Verdict::Conflict { id, message } => {
                conference.phase = Phase::FetchingConflict { id: id.clone(), message, attempt: 1, retry_at: None };
                self.fetch_conflict(room, &id);
            }
            Verdict::Retry => {
                let delay = self.settings.reservation.as_ref().map(|r| r.retry_delay).unwrap_or_default();
                warn!(room = %room, ?outcome, "reservation API failed; retrying in {delay:?}");
                match &mut conference.phase {
                    Phase::Reserving { retry_at, .. } | Phase::FetchingConflict { retry_at, .. } => {
                        *retry_at = Some(now + chrono(delay));
                    }
                    _ => {}
                }
            }
            Verdict::Refused(refusal) => self.refuse(now, room, refusal),
        }
    }

    /// Answers every waiting request with the refusal, remembers it for a while and forgets the
    /// conference.
    fn refuse(&mut self, now: Time, room: &BareJid, refusal: Refusal) {
        let Some(conference) = self.conferences.remove(room) else { return };
        info!(room = %room, code = refusal.code, text = %refusal.message, outcome = "refused", "conference refused");
        for waiter in conference.waiters {
            self.out.send(waiter.envelope.error(focus_ns::reservation_error(refusal.code, &refusal.message)));
        }
        if let Some(cache) = self.settings.reservation.as_ref().map(|r| r.refusal_cache) {
            if cache > chrono::Duration::zero() {
                self.refusals.insert(room.clone(), (refusal, now + cache));
            }
        }
    }

    fn begin_join(&mut self, now: Time, room: &BareJid) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        let sent_at = self.out.connected.then_some(now);
        conference.phase = Phase::Joining { sent_at };
        if self.out.connected {
            self.out.send(join(&self.focus_jid, room));
        }
    }

    fn send_own_iq(&mut self, room: &BareJid, kind: OwnIqKind, build: impl FnOnce(&str) -> Element) {
        let id = format!("jf-{}", self.out.id());
        self.out.send(build(&id));
        self.own_iqs.insert(id, (room.clone(), kind));
    }

    fn on_iq_response(&mut self, now: Time, stanza: &Element) {
        let Some(id) = stanza.attr("id") else { return };
        // Answers come from the room we asked; ids alone are guessable.
        let from_room =
            |room: &BareJid| stanza.attr("from").and_then(|f| f.parse::<BareJid>().ok()).as_ref() == Some(room);
        if !self.own_iqs.get(id).is_some_and(|(room, _)| from_room(room)) {
            return;
        }
        let Some((room, kind)) = self.own_iqs.remove(id) else { return };
        let failed = stanza.attr("type") == Some("error");
        match kind {
            OwnIqKind::ConfigGet => {
                let Some(conference) = self.conferences.get_mut(&room) else { return };
                if !matches!(conference.phase, Phase::Configuring { .. }) {
                    return;
                }
                let config = if failed {
                    warn!(room = %room, "could not read the room configuration");
                    RoomConfig::default()
                } else {
                    RoomConfig::parse(stanza)
                };
                if !failed && config.whois.as_deref() != Some("anyone") {
                    // Clients recognise the focus by its real JID, so real JIDs must be public.
                    let from = self.focus_jid.clone();
                    self.send_own_iq(&room, OwnIqKind::ConfigSet, |id| {
                        muc::config_submit(id, &from, &room, &[("muc#roomconfig_whois", "anyone")])
                    });
                }
                let conference = self.conferences.get_mut(&room).expect("checked above");
                if conference.meeting_id.is_none() {
                    conference.meeting_id = Some(config.meeting_id.unwrap_or_else(|| uuid::Uuid::new_v4().to_string()));
                }
                self.go_live(now, &room);
            }
            OwnIqKind::ConfigSet if failed => warn!(room = %room, "could not make real JIDs public in the room"),
            OwnIqKind::Destroy if failed => {
                // At least do not linger in a room whose conference is over.
                warn!(room = %room, "could not destroy the room; leaving it");
                self.out.send(muc::leave_presence(&self.focus_jid, &occupant(&room)));
            }
            OwnIqKind::Kick if failed => warn!(room = %room, "could not kick an occupant"),
            OwnIqKind::GrantOwner(nick) if failed => {
                warn!(room = %room, nick = %nick, "could not grant moderator rights; electing someone else");
                if let Some(participant) = self.conferences.get_mut(&room).and_then(|c| c.participants.get_mut(&nick)) {
                    participant.owner_requested = false;
                    participant.grant_failed = true;
                }
                self.elect_owners(&room);
            }
            _ => {}
        }
    }

    fn go_live(&mut self, now: Time, room: &BareJid) {
        let Some(conference) = self.conferences.get(room) else { return };
        let responses: Vec<Element> =
            conference.waiters.iter().map(|w| self.response(room, true, &w.identity)).collect();
        let Some(conference) = self.conferences.get_mut(room) else { return };
        conference.phase = Phase::Live;
        if conference.participants.is_empty() {
            conference.initial_deadline = Some(now + self.settings.initial_timeout);
        }
        if conference.was_live {
            info!(room = %room, meeting_id = conference.meeting_id.as_deref().unwrap_or("-"), "rejoined the room after reconnecting");
        } else {
            conference.was_live = true;
            info!(
                room = %room,
                reservation_id = conference.reservation_id().unwrap_or("-"),
                meeting_id = conference.meeting_id.as_deref().unwrap_or("-"),
                outcome = "created",
                "conference created"
            );
        }
        for (waiter, response) in std::mem::take(&mut conference.waiters).into_iter().zip(responses) {
            self.out.send(waiter.envelope.result(Some(response)));
        }
        self.elect_owners(room);
    }

    fn on_presence(&mut self, now: Time, stanza: Element) {
        let Some(presence) = OccupantPresence::parse(&stanza) else { return };
        if !self.conferences.contains_key(&presence.room) {
            return;
        }
        // A join refusal carries no muc#user payload: an error from our occupant JID is ours.
        let ours = presence.nick == FOCUS_NICK
            && (presence.is_self()
                || presence.kind == PresenceKind::Error
                || presence.real_jid.as_ref().is_some_and(|j| j.to_string() == self.focus_jid.to_string()));
        if ours {
            self.on_self_presence(now, presence);
        } else {
            self.on_participant_presence(now, presence);
        }
    }

    fn on_self_presence(&mut self, now: Time, presence: OccupantPresence) {
        let room = presence.room.clone();
        let Some(conference) = self.conferences.get_mut(&room) else { return };
        match presence.kind {
            PresenceKind::Error => {
                let condition = presence
                    .stanza
                    .get_child("error", ns::STREAM)
                    .and_then(|e| e.children().next().map(|c| c.name().to_owned()))
                    .unwrap_or_else(|| "unknown error".to_owned());
                let text = match condition.as_str() {
                    "not-allowed" | "registration-required" | "forbidden" => format!(
                        "jitsi-focus may not create or join the room ({condition}): add the focus component to the admins of the MUC component"
                    ),
                    _ => format!("jitsi-focus could not join the room: {condition}"),
                };
                self.fail(now, &room, &text, Exit::AlreadyOut);
            }
            // The answer to a leave of an earlier conference for this room, arriving after a
            // new one started: only a destroyed room concerns a conference not in the room yet.
            PresenceKind::Unavailable
                if presence.destroyed.is_none()
                    && matches!(
                        conference.phase,
                        Phase::Reserving { .. } | Phase::FetchingConflict { .. } | Phase::Joining { .. }
                    ) => {}
            PresenceKind::Unavailable => {
                let reason = match &presence.destroyed {
                    Some(Some(why)) => format!("room destroyed: {why}"),
                    Some(None) => "room destroyed".to_owned(),
                    None if presence.statuses.contains(&muc::STATUS_KICKED) => "focus kicked from the room".to_owned(),
                    None => "focus removed from the room".to_owned(),
                };
                self.end(now, &room, &reason, Exit::AlreadyOut);
            }
            PresenceKind::Available if presence.affiliation != Affiliation::Owner => {
                let text = "jitsi-focus is not an owner of the room: add the focus component to the admins of the MUC component";
                if conference.phase == Phase::Live {
                    self.end(now, &room, "focus lost its owner rights", Exit::Leave);
                } else {
                    self.fail(now, &room, text, Exit::Leave);
                }
            }
            PresenceKind::Available => {
                if matches!(conference.phase, Phase::Joining { .. }) {
                    conference.phase = Phase::Configuring { deadline: now + self.settings.request_timeout };
                    let from = self.focus_jid.clone();
                    self.send_own_iq(&room, OwnIqKind::ConfigGet, |id| muc::config_request(id, &from, &room));
                }
            }
        }
    }

    fn on_participant_presence(&mut self, now: Time, presence: OccupantPresence) {
        let room = presence.room.clone();
        let Some(conference) = self.conferences.get_mut(&room) else { return };
        match presence.kind {
            PresenceKind::Available => {
                let previous = conference.participants.get(&presence.nick);
                let is_new = previous.is_none();
                let info = ParticipantInfo::parse(&presence.stanza);
                let trusted = presence.real_jid.as_ref().is_some_and(|j| {
                    self.settings.trusted_domains.iter().any(|d| j.domain().as_str().eq_ignore_ascii_case(d))
                });
                let participant = Participant {
                    real_jid: presence.real_jid.clone(),
                    affiliation: presence.affiliation,
                    joined_at: previous.map_or(now, |p| p.joined_at),
                    seq: previous.map_or(conference.join_counter + 1, |p| p.seq),
                    owner_requested: previous.is_some_and(|p| p.owner_requested)
                        && presence.affiliation != Affiliation::Owner,
                    grant_failed: previous.is_some_and(|p| p.grant_failed),
                    is_service: trusted && info.claims_service(),
                    info,
                };
                conference.join_counter += u64::from(is_new);
                conference.participants.insert(presence.nick.clone(), participant);
                conference.initial_deadline = None;
                if is_new {
                    debug!(room = %room, nick = %presence.nick, "participant joined");
                    let limit = conference.reservation.as_ref().and_then(|r| r.max_occupants);
                    if let Some(limit) = limit.filter(|l| conference.participants.len() > *l as usize) {
                        conference.participants.remove(&presence.nick);
                        let reason = format!("The conference is full ({limit} participants).");
                        info!(room = %room, nick = %presence.nick, limit, "room full: removing participant");
                        let (from, nick) = (self.focus_jid.clone(), presence.nick.clone());
                        self.send_own_iq(&room, OwnIqKind::Kick, |id| {
                            muc::kick_request(id, &from, &room, &nick, &reason)
                        });
                    }
                }
                self.elect_owners(&room);
            }
            PresenceKind::Unavailable => {
                if conference.participants.remove(&presence.nick).is_some() {
                    debug!(room = %room, nick = %presence.nick, "participant left");
                }
                if conference.participants.is_empty() && conference.phase == Phase::Live {
                    self.end(now, &room, "last participant left", Exit::Leave);
                } else {
                    self.elect_owners(&room);
                }
            }
            PresenceKind::Error => {}
        }
    }

    /// Moderators (protocol.md §5.4). Without authentication exactly one participant is owner:
    /// the longest present, re-elected when the owner leaves. With authentication every
    /// signed-in participant is owner and nobody else is made one.
    fn elect_owners(&mut self, room: &BareJid) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        if conference.phase != Phase::Live {
            return;
        }
        let mut grants: Vec<String> = Vec::new();
        if self.sessions.enabled() {
            for (nick, p) in &conference.participants {
                let signed_in = p.real_jid.as_ref().is_some_and(|j| self.sessions.is_authenticated(j));
                if signed_in && p.affiliation != Affiliation::Owner && !p.owner_requested && !p.grant_failed {
                    grants.push(nick.clone());
                }
            }
        } else {
            let eligible = || conference.participants.iter().filter(|(_, p)| !p.is_service && p.real_jid.is_some());
            let has_owner = eligible().any(|(_, p)| p.affiliation == Affiliation::Owner || p.owner_requested);
            if !has_owner {
                if let Some((nick, _)) = eligible().filter(|(_, p)| !p.grant_failed).min_by_key(|(_, p)| p.seq) {
                    grants.push(nick.clone());
                }
            }
        }
        let mut requests = Vec::new();
        for nick in grants {
            let Some(participant) = conference.participants.get_mut(&nick) else { continue };
            participant.owner_requested = true;
            let Some(jid) = participant.real_jid.as_ref().map(Jid::to_bare) else { continue };
            info!(room = %room, nick = %nick, jid = %jid, meeting_id = conference.meeting_id.as_deref().unwrap_or("-"), "granting moderator rights");
            requests.push((nick, jid));
        }
        let from = self.focus_jid.clone();
        for (nick, jid) in requests {
            self.send_own_iq(room, OwnIqKind::GrantOwner(nick), |id| {
                muc::affiliation_request(id, &from, room, &jid, Affiliation::Owner)
            });
        }
    }

    /// Answers waiting requests with an error and ends the conference.
    fn fail(&mut self, now: Time, room: &BareJid, text: &str, exit: Exit) {
        if let Some(conference) = self.conferences.get_mut(room) {
            for waiter in std::mem::take(&mut conference.waiters) {
                let error = focus_ns::error(ErrorType::Cancel, DefinedCondition::InternalServerError, text);
                self.out.send(waiter.envelope.error(error));
            }
        }
        self.end(now, room, text, exit);
    }

    /// Ends a conference: leaves or destroys its room and deletes its reservation.
    fn end(&mut self, now: Time, room: &BareJid, reason: &str, exit: Exit) {
        let Some(mut conference) = self.conferences.remove(room) else { return };
        // Requests still waiting are told to ask again; they will start a new conference.
        for waiter in std::mem::take(&mut conference.waiters) {
            self.out.send(waiter.envelope.result(Some(self.response(room, false, &waiter.identity))));
        }
        match exit {
            Exit::Leave => self.out.send(muc::leave_presence(&self.focus_jid, &occupant(room))),
            Exit::Destroy(why) => {
                let from = self.focus_jid.clone();
                self.send_own_iq(room, OwnIqKind::Destroy, |id| muc::destroy_request(id, &from, room, &why));
            }
            Exit::AlreadyOut => {}
        }
        info!(
            room = %room,
            reservation_id = conference.reservation_id().unwrap_or("-"),
            meeting_id = conference.meeting_id.as_deref().unwrap_or("-"),
            reason,
            lasted_s = (now - conference.created_at).num_seconds(),
            outcome = "ended",
            "conference ended"
        );
        if let Some(reservation) = conference.reservation {
            self.delete_reservation(room.clone(), reservation.id);
        }
    }

    /// Starts deleting a reservation; [`Focus::send_delete`] retries until the API confirms.
    fn delete_reservation(&mut self, room: BareJid, id: String) {
        let key = self.out.id();
        self.send_delete(key, &id);
        self.deletes.insert(key, PendingDelete { room, id, attempt: 0, retry_at: None });
    }

    /// One `DELETE {base_url}/conference/{id}` attempt for the pending delete `key`.
    fn send_delete(&mut self, key: u64, id: &str) {
        let call = self.out.http(Method::Delete, policy::path_for(id), Vec::new());
        self.http.insert(call, HttpPurpose::Delete(key));
    }

    fn on_delete_outcome(&mut self, now: Time, key: u64, outcome: &HttpOutcome) {
        let Some(delete) = self.deletes.get_mut(&key) else { return };
        match policy::judge_delete(outcome) {
            DeleteVerdict::Done => {
                info!(room = %delete.room, reservation_id = %delete.id, "reservation deleted");
                self.deletes.remove(&key);
            }
            DeleteVerdict::Retry if delete.attempt < MAX_DELETE_ATTEMPTS => {
                let base = self.settings.reservation.as_ref().map(|r| r.retry_delay).unwrap_or_default();
                let delay = policy::delete_backoff(base, delete.attempt);
                delete.attempt += 1;
                delete.retry_at = Some(now + chrono(delay));
                warn!(room = %delete.room, reservation_id = %delete.id, ?outcome, "DELETE failed; retrying in {delay:?}");
            }
            DeleteVerdict::Retry => {
                tracing::error!(room = %delete.room, reservation_id = %delete.id, "DELETE kept failing; giving up");
                self.deletes.remove(&key);
            }
            DeleteVerdict::GiveUp(why) => {
                tracing::error!(room = %delete.room, reservation_id = %delete.id, %why, "reservation API refused the DELETE");
                self.deletes.remove(&key);
            }
        }
    }

    pub fn handle_timeout(&mut self, now: Time) {
        self.refusals.retain(|_, (_, until)| *until > now);
        self.sessions.expire(now);
        let due: Vec<u64> =
            self.deletes.iter().filter(|(_, d)| d.retry_at.is_some_and(|t| t <= now)).map(|(k, _)| *k).collect();
        for key in due {
            let delete = self.deletes.get_mut(&key).expect("listed above");
            delete.retry_at = None;
            let id = delete.id.clone();
            self.send_delete(key, &id);
        }
        let join_retry = self.settings.request_timeout;
        let due: Vec<BareJid> = self
            .conferences
            .values()
            .filter(|c| c.next_deadline(join_retry).is_some_and(|t| t <= now))
            .map(|c| c.room.clone())
            .collect();
        for room in due {
            self.conference_timeout(now, &room);
        }
    }

    fn conference_timeout(&mut self, now: Time, room: &BareJid) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        // Requests that waited too long are told `ready='false'`: the client asks again.
        let (expired, waiting): (Vec<Waiter>, Vec<Waiter>) =
            std::mem::take(&mut conference.waiters).into_iter().partition(|w| w.deadline <= now);
        conference.waiters = waiting;
        for waiter in expired {
            let not_ready = self.response(room, false, &waiter.identity);
            self.out.send(waiter.envelope.result(Some(not_ready)));
        }
        let Some(conference) = self.conferences.get_mut(room) else { return };
        match conference.phase.clone() {
            Phase::Reserving { attempt, retry_at: Some(at) } if at <= now => {
                conference.phase = Phase::Reserving { attempt: attempt + 1, retry_at: None };
                self.post_reservation(now, room);
            }
            Phase::FetchingConflict { id, message, attempt, retry_at: Some(at) } if at <= now => {
                conference.phase =
                    Phase::FetchingConflict { id: id.clone(), message, attempt: attempt + 1, retry_at: None };
                self.fetch_conflict(room, &id);
            }
            Phase::Joining { sent_at: Some(at) } if at + self.settings.request_timeout <= now => {
                // Our join (or its answer) was lost: try again (a reconnection rejoins anyway).
                conference.phase = Phase::Joining { sent_at: self.out.connected.then_some(now) };
                if self.out.connected {
                    self.out.send(join(&self.focus_jid, room));
                }
            }
            Phase::Configuring { deadline } if deadline <= now => {
                warn!(room = %room, "no answer to the room configuration request; going live without it");
                if conference.meeting_id.is_none() {
                    conference.meeting_id = Some(uuid::Uuid::new_v4().to_string());
                }
                self.go_live(now, room);
            }
            Phase::Live => {
                let ends_at = conference.reservation.as_ref().map(|r| r.ends_at());
                if ends_at.is_some_and(|t| t <= now) {
                    let reason = "The reserved time for this conference is over.".to_owned();
                    info!(room = %room, reservation_id = conference.reservation_id().unwrap_or("-"), outcome = "expired", "conference expired");
                    return self.end(now, room, "reservation expired", Exit::Destroy(reason));
                }
                if conference.initial_deadline.is_some_and(|t| t <= now) {
                    self.end(now, room, "nobody joined within the initial timeout", Exit::Leave);
                }
            }
            _ => {}
        }
    }
}

/// Our join presence for `room`, with the focus's presence extensions.
fn join(focus_jid: &FullJid, room: &BareJid) -> Element {
    muc::join_presence(focus_jid, &occupant(room), jitsi_presence::focus_extensions())
}

/// Our occupant JID in `room`.
fn occupant(room: &BareJid) -> FullJid {
    format!("{room}/{FOCUS_NICK}").parse().expect("a bare JID plus a resource is a full JID")
}

/// disco#info of the component: clients and operators' tools look for the focus feature.
fn disco_info() -> Element {
    let feature = |var: &str| elem("feature", ns::DISCO_INFO).with_attr("var", var);
    elem("query", ns::DISCO_INFO)
        .with_child(
            elem("identity", ns::DISCO_INFO)
                .with_attr("category", "component")
                .with_attr("type", "generic")
                .with_attr("name", "jitsi-focus"),
        )
        .with_child(feature(ns::DISCO_INFO))
        .with_child(feature(ns::PING))
        .with_child(feature(ns::FOCUS))
}
