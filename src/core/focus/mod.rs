//! The focus: routes stanzas, HTTP outcomes and timers to conferences. This module holds the
//! focus's state and the routing of each input; submodules hold one concern each:
//!
//! - [`settings`]: what the core needs from the configuration;
//! - [`connection`]: the component link coming up or going down, and rejected stanzas;
//! - [`requests`]: conference requests, `login-url` and disco#info addressed to the focus;
//! - [`deadlines`]: re-filing conference deadlines and acting when one passes;
//! - [`drain`]: refusing new conferences while the focus stops;
//! - [`room`]: the focus's life in rooms; [`reservations`]: its side of the reservation API;
//! - [`brewery`], [`media`], [`allocation`], [`recovery`], [`jingle`], [`signal`]: bridges,
//!   media sessions and source signalling.
//!
//! Everything it keeps is bounded by [`Limits`](super::Limits); deadlines live in one ordered
//! index ([`Timers`]), so no input costs time proportional to the number of conferences.

mod allocation;
mod brewery;
mod connection;
mod deadlines;
mod drain;
mod jingle;
mod media;
mod recovery;
mod requests;
mod reservations;
mod room;
mod settings;
mod signal;
mod stats;

use std::collections::{HashMap, HashSet, VecDeque};

use minidom::Element;
use tracing::info;
use xmpp_parsers::jid::{BareJid, FullJid};
use xmpp_parsers::stanza_error::StanzaError;

use super::auth::Sessions;
use super::bridges::Bridges;
use super::conference::Conference;
use super::features::FeatureCache;
use super::iq::{IqEnvelope, Requester};
use super::reservation::{HttpCall, Method, Refusal};
use super::stats::Counters;
use super::timers::Timers;
use super::{Effect, Footprint, Input, Time};
use crate::errors;
use crate::xmpp::focus as focus_ns;
use crate::xmpp::jitsi_presence;
use crate::xmpp::muc;
use crate::xmpp::ns;
use requests::disco_info;
pub use settings::Settings;
// Named by the core's tests, which build settings with reservations on.
#[cfg(test)]
pub(super) use settings::ReservationSettings;

/// Client feature sets remembered by caps hash (a deployment has a handful of client builds).
const FEATURE_CACHE_ENTRIES: usize = 256;

/// The occupant nickname clients recognise as the focus.
pub const FOCUS_NICK: &str = "focus";

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

    /// Answers a conference request, over XMPP or HTTP. An HTTP answer needs no link.
    fn answer(&mut self, requester: &Requester, answer: Result<Element, StanzaError>) {
        match requester {
            Requester::Xmpp(envelope) => match answer {
                Ok(payload) => self.send(envelope.result(Some(payload))),
                Err(error) => self.send(envelope.error(error)),
            },
            Requester::Http(id) => self.effects.push_back(Effect::AnswerHttp { id: *id, answer }),
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
    /// Cumulative counters for [`Focus::stats`].
    counters: Counters,
    /// The focus is stopping: no new conferences ([`drain`]).
    draining: bool,
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
            counters: Counters::default(),
            draining: false,
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

    /// Number of participants in all conferences (the focus not counted).
    pub fn participant_count(&self) -> usize {
        self.conferences.values().map(|c| c.participants.len()).sum()
    }

    /// What the focus holds, for tests and metrics: every number is bounded by
    /// [`Limits`](super::Limits).
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
            Input::HttpConferenceRequest { id, request } => {
                self.conference_request(now, Requester::Http(id), None, request)
            }
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

    fn on_stanza(&mut self, now: Time, stanza: Element) {
        match stanza.name() {
            "iq" => match stanza.attr("type") {
                Some("get" | "set") => self.on_iq_request(now, stanza),
                Some("result" | "error") => self.on_iq_response(now, &stanza),
                // Never answer an answer; anything else with an id and a sender is a request
                // we cannot read, and it deserves to hear so.
                other => {
                    if let Some(envelope) = IqEnvelope::of(&stanza, &self.settings.component.to_string()) {
                        let failure = match other {
                            None => errors::IQ_NO_TYPE.with(&[]),
                            Some(t) => {
                                let t = errors::quoted_inner(&super::reservation::truncate_chars(t, 64));
                                errors::IQ_UNKNOWN_TYPE.with(&[("type", &t)])
                            }
                        };
                        self.answer(&envelope, &failure);
                    }
                }
            },
            "presence" => self.on_presence(now, &stanza),
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
            return self.answer(&envelope, &errors::IQ_PAYLOAD_COUNT.with(&[]));
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
            ("conference", ns::FOCUS, _) => Err(errors::REQUEST_NOT_SET.with(&[])),
            ("query", ns::DISCO_INFO, "get") => Ok(Some(disco_info())),
            ("ping", ns::PING, "get") => Ok(None),
            ("login-url" | "logout", ns::FOCUS, _) if !self.sessions.enabled() => Err(errors::AUTH_DISABLED.with(&[])),
            ("login-url", ns::FOCUS, "get") => self.login_url(payload),
            ("logout", ns::FOCUS, "set") => match focus_ns::parse_logout(payload) {
                Ok(Some(session_id)) => match self.sessions.logout(&session_id) {
                    Ok(session) => {
                        info!(identity = %session.identity, "signed out");
                        Ok(Some(focus_ns::logout_response()))
                    }
                    Err(error) => return self.out.send(envelope.error(error.into())),
                },
                Ok(None) => Err(errors::LOGOUT_NO_SESSION_ID.with(&[])),
                Err(e) => Err(errors::REQUEST_MALFORMED.raw(e.to_string())),
            },
            (name, namespace, _) => Err(errors::IQ_UNSUPPORTED.with(&[("name", name), ("namespace", namespace)])),
        };
        let response = match reply {
            Ok(payload) => envelope.result(payload),
            Err(failure) => envelope.error(failure.error()),
        };
        self.out.send(response);
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
