//! The focus: routes stanzas, HTTP outcomes and timers to conferences. Submodules hold the
//! focus's life in rooms ([`room`]) and its side of the reservation API ([`reservations`]).
//!
//! Everything it keeps is bounded by [`Limits`]; deadlines live in one ordered index
//! ([`Timers`]), so no input costs time proportional to the number of conferences.

mod brewery;
mod jingle;
mod media;
mod reservations;
mod room;
mod signal;

use std::collections::{HashMap, HashSet, VecDeque};

use minidom::Element;
use tracing::{debug, info, warn};
use xmpp_parsers::jid::{BareJid, FullJid, Jid};
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType};

use super::auth::{Identity, Sessions};
use super::bridges::{BridgeSettings, Bridges};
use super::conference::{Conference, Phase, Waiter};
use super::features::FeatureCache;
use super::iq::IqEnvelope;
use super::reservation::{HttpCall, Method, Refusal};
use super::sources::SourceLimits;
use super::timers::Timers;
use super::{Effect, Footprint, Input, Time};
use crate::config::{AuthMode, CodecsConfig, Config, LimitsConfig as Limits};
use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::focus::{self as focus_ns, ConferenceRequest, ConferenceResponse, LoginUrlRequest, Property};
use crate::xmpp::jitsi_presence;
use crate::xmpp::muc;
use crate::xmpp::ns;
use crate::xmpp::stream::{RejectedStanza, Rejection};

/// Client feature sets remembered by caps hash (a deployment has a handful of client builds).
const FEATURE_CACHE_ENTRIES: usize = 256;

/// The occupant nickname clients recognise as the focus.
pub const FOCUS_NICK: &str = "focus";

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
    /// A DELETE that keeps failing is given up this long after its conference ended.
    pub delete_give_up: chrono::Duration,
    /// Characters of a refusal text passed to clients.
    pub max_message_length: usize,
    /// Bounds on everything anyone can make the focus keep (README, "Limits and hostile input").
    pub limits: Limits,
    /// The bridges' brewery room; `None`: no bridges, no media.
    pub brewery: Option<BareJid>,
    pub bridges: BridgeSettings,
    pub codecs: CodecsConfig,
    /// Nobody gets a media session before the room has this many participants.
    pub min_participants: usize,
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
            delete_give_up: chrono(r.delete_give_up),
            max_message_length: r.max_message_length,
            limits: config.limits.clone(),
            brewery: config.bridges.brewery.as_deref().map(|b| b.parse().expect("validated by Config")),
            bridges: BridgeSettings::from_config(config),
            codecs: config.codecs.clone(),
            min_participants: config.conference.min_participants,
        }
    }

    pub fn source_limits(&self) -> SourceLimits {
        SourceLimits::from(&self.limits)
    }
}

#[derive(Debug, Clone)]
enum HttpPurpose {
    Create(BareJid),
    FetchConflict(BareJid),
    /// `GET` before a retried or resumed DELETE: is the id still this room's reservation?
    CheckDelete(u64),
    /// A DELETE of the pending delete `key`, for a reservation of `room`.
    Delete {
        key: u64,
        room: BareJid,
    },
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
    give_up_at: Time,
    /// A retry, or resumed after a restart: the server may have deleted the reservation and
    /// given its id to another one meanwhile, so the id is checked with a GET first.
    verify: bool,
}

/// What a deadline is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum TimerKey {
    Conference(BareJid),
    Delete(u64),
    Refusal(BareJid),
    SessionSweep,
    /// One of our media IQs (to a bridge or a participant) by id: its answer is overdue.
    MediaIq(String),
    /// Our brewery join got no answer (or failed): join again.
    BreweryJoin,
    /// Participants of this room left without media after too many moves are invited again.
    Reinvite(BareJid),
    /// Gathered source changes of this (large) room go out.
    FlushSources(BareJid),
    /// The last participant left alone in this room loses its media session.
    SingleParticipant(BareJid),
    /// A participant's held source-remove (room, nick) is due to be told after all.
    HeldRemove(BareJid, String),
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
    /// Stanzas produced while disconnected, sent on reconnection so no reply is lost. Bounded
    /// by the conferences and their waiters: nothing arrives to be answered while disconnected.
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
    /// Conferences not live yet, counted against `max_pending_conferences`.
    starting: HashSet<BareJid>,
    /// Rooms whose conference changed during this input: their deadline is recomputed after it.
    touched: Vec<BareJid>,
    timers: Timers<TimerKey>,
    refusals: HashMap<BareJid, (Refusal, Time)>,
    deletes: HashMap<u64, PendingDelete>,
    /// The pending delete of each reservation id (at most one: a new grant of an id ends the
    /// old one), so a grant need not scan them all.
    delete_by_id: HashMap<String, u64>,
    /// DELETEs on the wire per room: a new reservation for the room waits until they are
    /// answered, so that a late DELETE cannot remove a reservation the new conference adopted.
    deleting: HashMap<BareJid, usize>,
    http: HashMap<u64, HttpPurpose>,
    /// Our IQs to rooms by id: the room (which must answer) and what the IQ was for.
    own_iqs: HashMap<String, (BareJid, OwnIqKind)>,
    sessions: Sessions,
    out: Out,
    bridges: Bridges,
    /// We are an occupant of the brewery (needed to send bridges IQs).
    brewery_joined: bool,
    /// Participants' features by caps hash.
    features: FeatureCache,
    /// Our IQs to bridges and participants, by id.
    media_iqs: HashMap<String, media::MediaIq>,
    /// Jingle sids, bridge-session and meeting ids. Seeded from the OS in production and fixed
    /// in tests and fuzzing ([`Focus::with_seed`]), so that every run reproduces.
    rng: rand::rngs::StdRng,
}

impl Focus {
    pub fn new(settings: Settings) -> Focus {
        Focus::with_seed(settings, rand::random())
    }

    /// A focus whose ids come from `seed`: the same inputs give the same outputs.
    pub fn with_seed(settings: Settings, seed: u64) -> Focus {
        let focus_jid =
            format!("{}/{FOCUS_NICK}", settings.component).parse().expect("a domain plus a resource is a full JID");
        let sessions = Sessions::new(
            settings.auth_mode,
            &settings.auth_domain,
            settings.session_lifetime,
            settings.limits.max_sessions,
        );
        let settings_bridges = settings.bridges.clone();
        Focus {
            sessions,
            settings,
            focus_jid,
            conferences: HashMap::new(),
            starting: HashSet::new(),
            touched: Vec::new(),
            timers: Timers::default(),
            refusals: HashMap::new(),
            deletes: HashMap::new(),
            delete_by_id: HashMap::new(),
            deleting: HashMap::new(),
            http: HashMap::new(),
            own_iqs: HashMap::new(),
            out: Out::default(),
            bridges: Bridges::new(settings_bridges),
            brewery_joined: false,
            features: FeatureCache::new(FEATURE_CACHE_ENTRIES),
            media_iqs: HashMap::new(),
            rng: rand::SeedableRng::seed_from_u64(seed),
        }
    }

    /// The next effect to carry out, if any.
    pub fn poll_effect(&mut self) -> Option<Effect> {
        self.out.effects.pop_front()
    }

    /// When [`Focus::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Time> {
        [self.timers.next(), self.bridges.poll_timeout()].into_iter().flatten().min()
    }

    /// Number of running or starting conferences.
    pub fn conference_count(&self) -> usize {
        self.conferences.len()
    }

    /// What the focus holds, for tests and metrics: every number is bounded by [`Limits`].
    pub fn footprint(&self) -> Footprint {
        Footprint {
            conferences: self.conferences.len(),
            starting: self.starting.len(),
            waiters: self.conferences.values().map(|c| c.waiters.len()).sum(),
            participants: self.conferences.values().map(|c| c.participants.len()).sum(),
            refusals: self.refusals.len(),
            deletes: self.deletes.len(),
            http_calls: self.http.len(),
            own_iqs: self.own_iqs.len(),
            sessions: self.sessions.len(),
            timers: self.timers.len(),
            held_stanzas: self.out.held.len(),
            media_iqs: self.media_iqs.len(),
            bridges: self.bridges.len(),
            jingle_sessions: self.conferences.values().map(|c| c.media.session_count()).sum(),
        }
    }

    /// A conference's state, for tests.
    #[cfg(test)]
    pub(crate) fn conferences_for_tests(&self, room: &str) -> &Conference {
        &self.conferences[&room.parse::<BareJid>().expect("a room JID")]
    }

    /// True while HTTP calls are outstanding or DELETEs wait for a retry.
    pub fn has_pending_http(&self) -> bool {
        !self.http.is_empty() || !self.deletes.is_empty()
    }

    pub fn handle(&mut self, now: Time, input: Input) {
        match input {
            Input::Connected => self.on_connected(now),
            Input::Disconnected => self.on_disconnected(),
            Input::Stanza(stanza) => self.on_stanza(now, stanza),
            Input::Rejected(rejected) => self.on_rejected(now, &rejected),
            Input::Http { id, outcome } => self.on_http(now, id, outcome),
        }
        self.settle(now);
    }

    /// Ends every conference (leaving its room and deleting its reservation); the runtime keeps
    /// running until [`Focus::has_pending_http`] is false or its grace period ends.
    pub fn shutdown(&mut self, now: Time) {
        let rooms: Vec<BareJid> = self.conferences.keys().cloned().collect();
        for room in rooms {
            self.end(now, &room, "jitsi-focus is shutting down", Exit::Leave);
        }
        self.settle(now);
    }

    /// Marks a conference as changed by the current input.
    fn touch(&mut self, room: &BareJid) {
        self.touched.push(room.clone());
    }

    fn remove_conference(&mut self, room: &BareJid) -> Option<Conference> {
        self.touch(room);
        self.conferences.remove(room)
    }

    /// After each input: re-files the deadlines of the conferences it touched.
    fn settle(&mut self, now: Time) {
        let join_retry = self.settings.request_timeout;
        for room in std::mem::take(&mut self.touched) {
            let key = TimerKey::Conference(room.clone());
            match self.conferences.get(&room) {
                Some(conference) => {
                    self.timers.set(key, conference.next_deadline(join_retry));
                    if conference.phase == Phase::Live {
                        self.starting.remove(&room);
                    } else {
                        self.starting.insert(room);
                    }
                }
                None => {
                    self.timers.set(key, None);
                    self.starting.remove(&room);
                }
            }
        }
        if !self.sessions.is_empty() && !self.timers.contains(&TimerKey::SessionSweep) {
            // Sessions are swept now and then rather than each given a timer: they are many,
            // and a minute's difference in expiry does not matter.
            let period = self.settings.session_lifetime.min(chrono::Duration::minutes(1));
            self.timers.set(TimerKey::SessionSweep, Some(now + period));
        }
    }

    fn on_connected(&mut self, now: Time) {
        self.out.connected = true;
        for stanza in std::mem::take(&mut self.out.held) {
            self.out.send(stanza);
        }
        // Answers to IQs of the old link will not come; the rejoin below asks again.
        self.own_iqs.clear();
        self.join_brewery(now);
        // Rejoin every room we were in. Prosody may still list our old occupant (it sends no
        // leave for a vanished component); the join then simply refreshes it.
        let rooms: Vec<BareJid> = self.conferences.keys().cloned().collect();
        for room in rooms {
            self.touch(&room);
            let conference = self.conferences.get_mut(&room).expect("listed above");
            if matches!(conference.phase, Phase::Joining { .. } | Phase::Configuring { .. } | Phase::Live) {
                // Media starts afresh: participants are invited again as their presence returns.
                let media = std::mem::take(&mut conference.media);
                conference.media.colibri.meeting_id = media.colibri.meeting_id.clone();
                conference.participants.clear();
                // go_live re-arms it once we know who is still there.
                conference.initial_deadline = None;
                conference.phase = Phase::Joining { sent_at: Some(now) };
                self.out.send(join(&self.focus_jid, &room));
                self.media_reset(&room, media);
            }
        }
    }

    fn on_disconnected(&mut self) {
        self.out.connected = false;
        // Bridges announce themselves again when we rejoin the brewery; answers to our media
        // IQs will not come (their timers find nothing).
        self.bridges.clear();
        self.brewery_joined = false;
        self.media_iqs.clear();
    }

    fn on_stanza(&mut self, now: Time, stanza: Element) {
        match stanza.name() {
            "iq" => match stanza.attr("type") {
                Some("get" | "set") => self.on_iq_request(now, stanza),
                Some("result" | "error") => self.on_iq_response(now, &stanza),
                // Never answer an answer; anything else with an id and a sender is a request
                // we cannot read, and it deserves to hear so.
                other => {
                    if let Some(envelope) = IqEnvelope::of(&stanza, &self.settings.component.to_string()) {
                        let text = match other {
                            None => "an IQ needs a 'type'".to_owned(),
                            Some(t) => format!("unknown IQ type {:?}", super::reservation::truncate_chars(t, 64)),
                        };
                        self.bad_request(&envelope, &text);
                    }
                }
            },
            "presence" => self.on_presence(now, &stanza),
            _ => {}
        }
    }

    /// A stanza over the limits (or not namespace-well-formed): requests are answered, a
    /// presence that changes who is in a room is acted on from its envelope, the rest is
    /// dropped.
    fn on_rejected(&mut self, now: Time, rejected: &RejectedStanza) {
        if rejected.name == "presence" {
            return self.on_rejected_presence(now, rejected);
        }
        if rejected.name != "iq" || !matches!(rejected.type_.as_deref(), Some("get" | "set")) {
            return;
        }
        let (Some(id), Some(from)) = (&rejected.id, &rejected.from) else { return };
        let envelope = IqEnvelope {
            id: id.clone(),
            from: from.clone(),
            to: rejected.to.clone().unwrap_or_else(|| self.settings.component.to_string()),
        };
        let condition = match rejected.why {
            Rejection::Malformed => DefinedCondition::BadRequest,
            Rejection::TooDeep { .. } | Rejection::TooLarge { .. } | Rejection::TooManyNodes { .. } => {
                DefinedCondition::PolicyViolation
            }
        };
        let text = rejected.why.to_string();
        self.out.send(envelope.error(focus_ns::error(ErrorType::Modify, condition, &text)));
    }

    /// What a presence over the limits still tells: someone left (a leave can carry a huge
    /// status, and a destroyed room's reason reaches every occupant), or our join failed. Read
    /// as the bare presence its envelope describes, so that no conference outlives its room.
    /// A rejected available presence changes nothing: whoever sent it is as before.
    fn on_rejected_presence(&mut self, now: Time, rejected: &RejectedStanza) {
        let (Some(from), Some(type_)) = (&rejected.from, rejected.type_.as_deref()) else { return };
        let ours = from.rsplit_once('/').is_some_and(|(_, nick)| nick == FOCUS_NICK);
        let mut presence = elem("presence", ns::STREAM).with_attr("from", from).with_attr("type", type_);
        match type_ {
            "unavailable" if ours => {
                let x = elem("x", ns::MUC_USER)
                    .with_child(elem("item", ns::MUC_USER).with_attr("affiliation", "none").with_attr("role", "none"))
                    .with_child(elem("status", ns::MUC_USER).with_attr("code", muc::STATUS_SELF.to_string()));
                presence.append_child(x);
            }
            "unavailable" => {}
            "error" if ours => {
                let condition = elem("undefined-condition", ns::STANZAS);
                presence.append_child(elem("error", ns::STREAM).with_attr("type", "cancel").with_child(condition));
            }
            _ => return,
        }
        debug!(from, type_, why = %rejected.why, "acting on a presence over the limits from its envelope");
        self.on_presence(now, &presence);
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
            ("jingle", ns::JINGLE, "set") if self.media_enabled() => return self.on_jingle(now, envelope, payload),
            ("mute", ns::AUDIO_MUTE, "set") if self.media_enabled() => {
                return self.on_mute(now, envelope, payload, false);
            }
            ("mute" | "mute-video", ns::VIDEO_MUTE, "set") if self.media_enabled() => {
                return self.on_mute(now, envelope, payload, true);
            }
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
        let limits = self.settings.limits.clone();
        if let Some(conference) = self.conferences.get_mut(&room) {
            self.touched.push(room.clone());
            if conference.phase == Phase::Live {
                if conference.participants.is_empty() {
                    conference.initial_deadline = Some(now + self.settings.initial_timeout);
                }
                let response = self.response(&room, true, &identity);
                self.out.send(envelope.result(Some(response)));
                self.elect_owners(&room);
            } else if conference.waiters.len() < limits.max_waiters_per_conference {
                conference.waiters.push(Waiter { envelope, deadline, identity });
            } else {
                self.not_ready(&room, envelope, &identity, "too many requests wait for this room");
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
        }
        // Overload: a new room costs a reservation call and a join. Past the limits the client
        // hears `ready='false'` at once and asks again after its back-off (1, 2, 4… s); an error
        // would make current clients give up the join altogether (protocol.md §2.4, §3.2).
        if self.starting.len() >= limits.max_pending_conferences {
            return self.not_ready(&room, envelope, &identity, "too many conferences are starting");
        }
        if self.conferences.len() >= limits.max_conferences {
            return self.not_ready(&room, envelope, &identity, "the focus runs its maximum of conferences");
        }
        // `mail_owner`: the signed-in identity, or else the requester's bare JID, as Prosody's
        // mod_reservations sends it (some reservation servers require the field).
        let owner = match &identity {
            Identity::User { identity, .. } => identity.to_string(),
            _ => sender.to_bare().to_string(),
        };
        let phase = match self.settings.reservation {
            Some(_) => Phase::Reserving { attempt: 1, retry_at: None },
            None => Phase::Joining { sent_at: None },
        };
        let mut conference = Conference::new(room.clone(), Some(owner), phase, now);
        // Start muted (§7.4): participants beyond the Nth join muted. Read from the request that
        // creates the conference, as Jicofo reads its conference properties.
        let start_muted = |name: &str| {
            request.properties.iter().find(|p| p.name == name).and_then(|p| p.value.trim().parse::<usize>().ok())
        };
        conference.media.start_audio_muted = start_muted("startAudioMuted");
        conference.media.start_video_muted = start_muted("startVideoMuted");
        conference.waiters.push(Waiter { envelope, deadline, identity });
        debug!(room = %room, "new conference requested");
        self.conferences.insert(room.clone(), conference);
        self.touch(&room);
        if self.settings.reservation.is_some() {
            self.post_reservation(now, &room);
        } else {
            self.begin_join(now, &room);
        }
    }

    /// Answers `ready='false'` at once because of a limit; the client asks again later.
    fn not_ready(&mut self, room: &BareJid, envelope: IqEnvelope, identity: &Identity, why: &str) {
        debug!(room = %room, why, "request answered ready='false'");
        let response = self.response(room, false, identity);
        self.out.send(envelope.result(Some(response)));
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

    pub fn handle_timeout(&mut self, now: Time) {
        self.bridges_timeout(now);
        for key in self.timers.take_due(now) {
            match key {
                TimerKey::Conference(room) => {
                    self.touch(&room);
                    self.conference_timeout(now, &room);
                }
                TimerKey::Delete(key) => self.retry_delete(key),
                TimerKey::Refusal(room) => {
                    self.refusals.remove(&room);
                }
                TimerKey::SessionSweep => self.sessions.expire(now),
                TimerKey::MediaIq(id) => self.media_iq_timed_out(now, &id),
                TimerKey::BreweryJoin => self.join_brewery(now),
                TimerKey::FlushSources(room) => self.flush_all(now, &room),
                TimerKey::SingleParticipant(room) => {
                    self.touch(&room);
                    self.single_participant_timed_out(now, &room);
                }
                TimerKey::Reinvite(room) => {
                    self.touch(&room);
                    self.invite_ready(now, &room);
                }
                TimerKey::HeldRemove(room, nick) => self.held_remove_timed_out(now, &room, &nick),
            }
        }
        self.settle(now);
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
                if conference.was_live {
                    // A rejoin after a reconnection: people are in that room, so keep trying
                    // (one join per live room per `request_timeout` at most).
                    warn!(room = %room, "no answer to our rejoin; trying again");
                    conference.phase = Phase::Joining { sent_at: self.out.connected.then_some(now) };
                    if self.out.connected {
                        self.out.send(join(&self.focus_jid, room));
                    }
                } else {
                    // The component link does not lose stanzas: a join this slow means Prosody
                    // is overloaded, and re-sending it would add to the load. Give up; waiting
                    // clients hear `ready='false'` and ask again later.
                    warn!(room = %room, "no answer to our join; ending the conference");
                    self.end(now, room, "the room did not answer our join", Exit::Leave);
                }
            }
            Phase::Configuring { deadline } if deadline <= now => {
                warn!(room = %room, "no answer to the room configuration request; going live without it");
                if conference.meeting_id.is_none() {
                    conference.meeting_id = Some(new_uuid(&mut self.rng));
                }
                self.go_live(now, room);
                // Its reservation may have ended meanwhile: the live checks below run now,
                // rather than leave the expiry as a deadline in the past.
                self.conference_timeout(now, room);
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

/// A random (v4) UUID from `rng`.
fn new_uuid(rng: &mut rand::rngs::StdRng) -> String {
    uuid::Builder::from_random_bytes(rand::Rng::gen(rng)).into_uuid().to_string()
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
