//! Property tests of the core: random sequences of inputs (requests, odd IQs, presences, answers
//! to the focus's own IQs, HTTP outcomes in any order, reconnections, time) over a small universe
//! of rooms, clients and nicks, so that collisions happen, with invariants checked after every
//! effect and every input, and once more after a shutdown that lets every DELETE succeed.
//!
//! The invariants, as precisely as the focus can know them from its inputs:
//!
//! 1. Every IQ request sent to the focus (an `iq` with an `id` and a `from` whose type is not
//!    `result`/`error`, also one the stream reader rejected) is answered exactly once: a result
//!    or an error with the same `id`, addressed to the same `from`. Answers held while
//!    disconnected count once flushed; the final phase reconnects. `ready='false'` is an answer.
//! 2. Nothing else is answered: no reply to an IQ of type `result`/`error`, to one without `id`
//!    or `from`, nor a second reply to anything.
//! 3. Reservations. A *grant* is the focus declaring that it holds a reservation id: an outbox
//!    `Put` with `ended_at: None`. Every 200/201 with a valid body to one of its POSTs must be a
//!    grant (late ones included: the focus created that reservation, so it must delete it).
//!    A 200 to the GET after a 409 is a grant only while a conference waits for it (a late one
//!    adopts nothing: the reservation existed before, and the focus never owned it). Each grant
//!    opens a lifecycle (an *epoch*) of its id; a DELETE belongs to the epoch in which it was
//!    sent. Then: a DELETE is only sent for an id in an open epoch whose outbox record says
//!    ended (`ended_at: Some`), never while the id is in use; an epoch is closed by the final
//!    answer to one of its DELETEs (2xx/404 deleted, another 4xx except 408/429 given up); no
//!    DELETE is sent in a closed epoch, so an epoch has at most one successful DELETE. An answer
//!    to a DELETE of an older epoch (sent before the id was adopted again) closes nothing: the
//!    focus cannot tell the server's order of events, and the next DELETE finds a 404. A retried
//!    DELETE is preceded by a GET of the id; an epoch may also close without a DELETE when that
//!    GET finds the id gone or naming another room's reservation (a reused id). After the final
//!    phase every epoch is closed, so each grant had exactly one closing answer.
//! 4. Outbox: replaying `Effect::Outbox`, after every input its ids are exactly the ids with an
//!    open epoch (so every reservation a live conference holds is in it), a record says ended
//!    iff a DELETE was sent in its epoch, and it is empty at the end.
//! 5. Without sign-in, per room and per stay of the focus in the room (from one join presence
//!    to the next: a (re)join forgets the occupants, and the room lists them again with their
//!    affiliations), at most one participant has a live owner grant: a grant sent for its nick,
//!    not answered with an error, the participant not gone since, and not shown owner then
//!    non-owner again (revoked by someone) since. Derived from the affiliation IQs sent and the
//!    presences fed; a grant goes only to a nick we said is present.
//! 6. The footprint stays within the limits: conferences ≤ max_conferences, waiters ≤
//!    conferences × max_waiters, participants ≤ conferences × max_participants, refusals ≤
//!    max_refusals_cached, timers ≤ conferences + deletes + refusals + 1. `starting` ≤
//!    max_pending_conferences holds for *admissions*: a new conference is only admitted while
//!    fewer than max_pending are starting. (A reconnection sends every admitted conference back
//!    to joining, so `starting` itself may then reach max_conferences, which bounds it.)
//! 7. After `handle_timeout(now)`, `poll_timeout()` is `None` or not before `now`, and calling
//!    it again at the same instant soon moves the deadline past `now`: no spinning. (A deadline
//!    may fall due *at* `now` during the call: a conference going live at the moment its
//!    reservation ends is destroyed by the next call at that instant.) Nothing panics, and
//!    nothing is sent while disconnected.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::{DateTime, Duration, Utc};
use minidom::Element;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::focus::ReservationSettings;
use super::reservation::{format_time, HttpCall, HttpOutcome, Method};
use super::*;
use crate::config::AuthMode;
use crate::xmpp::focus::ConferenceResponse;
use crate::xmpp::ns;
use crate::xmpp::stream::{RejectedStanza, Rejection};

type Check = Result<(), TestCaseError>;

const COMPONENT: &str = "focus.meet.test";
const MUC: &str = "conference.meet.test";
/// Valid rooms: more than `max_conferences`, few enough to collide.
const ROOMS: [&str; 7] = ["r0", "r1", "r2", "r3", "r4", "r5", "r6"];
/// Invalid `room` attributes; `None` leaves the attribute out.
const BAD_ROOMS: [Option<&str>; 5] =
    [None, Some("r0@elsewhere.test"), Some("conference.meet.test"), Some("a@b@c"), Some("r0@conference.meet.test/x")];
/// Guests, and users on the auth domain (who sign in when auth is on).
const CLIENTS: [&str; 5] =
    ["c0@meet.test/a", "c1@meet.test/b", "alice@auth.meet.test/web", "bob@auth.meet.test/web", "not a jid@@"];
/// Nicks `n0..n4` have real JIDs `u0..u4@meet.test/r`; the last is a trusted recorder.
const NICKS: usize = 6;
const AFFILIATIONS: [&str; 4] = ["none", "member", "admin", "owner"];

fn start() -> Time {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").unwrap().with_timezone(&Utc)
}

fn limits() -> Limits {
    Limits {
        max_pending_conferences: 3,
        max_conferences: 5,
        max_waiters_per_conference: 2,
        max_participants_per_conference: 4,
        max_refusals_cached: 3,
        max_sessions: 3,
        ..Limits::default()
    }
}

fn settings(reservation: Option<u32>, auth_mode: AuthMode, limits: Limits) -> Settings {
    Settings {
        component: COMPONENT.parse().unwrap(),
        muc_domain: MUC.parse().unwrap(),
        reservation: reservation.map(|retries| ReservationSettings {
            retries,
            retry_delay: std::time::Duration::from_secs(3),
            refusal_cache: Duration::seconds(10),
        }),
        initial_timeout: Duration::seconds(15),
        request_timeout: Duration::seconds(20),
        auth_mode,
        auth_domain: "auth.meet.test".into(),
        session_lifetime: Duration::minutes(10),
        trusted_domains: vec!["recorder.meet.test".into()],
        // Far beyond the virtual time a case spans: no DELETE is given up for time.
        delete_give_up: Duration::days(30),
        max_message_length: 40,
        limits,
        brewery: None,
        bridges: Default::default(),
        codecs: Default::default(),
        min_participants: 2,
    }
}

fn xml(text: &str) -> Element {
    text.parse().unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn room_jid(name: &str) -> String {
    format!("{name}@{MUC}")
}

fn nick_name(nick: usize) -> String {
    if nick == NICKS - 1 {
        "rec".to_owned()
    } else {
        format!("n{nick}")
    }
}

fn nick_jid(nick: usize) -> String {
    if nick == NICKS - 1 {
        "jibri@recorder.meet.test/r".to_owned()
    } else {
        format!("u{nick}@meet.test/r")
    }
}

/// The nick whose real bare JID is `bare`.
fn nick_of_bare(bare: &str) -> Option<String> {
    (0..NICKS).find(|n| nick_jid(*n).split('/').next() == Some(bare)).map(nick_name)
}

/// The focus's self-presence in a room.
#[derive(Debug, Clone, Copy)]
enum SelfKind {
    JoinedAsOwner,
    JoinedNotOwner,
    JoinRefused,
    Destroyed,
    Kicked,
    Left,
}

/// IQs and stanzas other than conference requests.
#[derive(Debug, Clone, Copy)]
enum Odd {
    Ping,
    Disco,
    NoType,
    UnknownType,
    ResultType,
    ErrorType,
    NoId,
    NoFrom,
    UnknownPayload,
    ConferenceGet,
    TwoPayloads,
    NoPayload,
    LoginUrl,
    Logout,
    RejectedSet,
    RejectedResult,
    RejectedNoId,
    RejectedPresence,
    Message,
}

impl Odd {
    const ALL: [Odd; 19] = [
        Odd::Ping,
        Odd::Disco,
        Odd::NoType,
        Odd::UnknownType,
        Odd::ResultType,
        Odd::ErrorType,
        Odd::NoId,
        Odd::NoFrom,
        Odd::UnknownPayload,
        Odd::ConferenceGet,
        Odd::TwoPayloads,
        Odd::NoPayload,
        Odd::LoginUrl,
        Odd::Logout,
        Odd::RejectedSet,
        Odd::RejectedResult,
        Odd::RejectedNoId,
        Odd::RejectedPresence,
        Odd::Message,
    ];
}

/// What the reservation API (or the network) answers.
#[derive(Debug, Clone, Copy)]
enum Reply {
    /// 200/201 with a valid body; `short` lasts 30 s, `cap` allows 2 occupants.
    Granted {
        created: bool,
        short: bool,
        cap: bool,
    },
    /// 201 whose body is not a reservation for this room.
    BadBody(u8),
    /// 409 naming one of the room's known reservations (or a foreign one), or naming none.
    Conflict {
        with_id: bool,
        pick: usize,
    },
    Forbidden,
    NotFound,
    TooMany,
    ServerError(u16),
    Timeout,
    Unreachable,
}

#[derive(Debug, Clone)]
enum Action {
    /// `room` indexes ROOMS then BAD_ROOMS; `session` 0: none, 1: unknown, n: a session seen.
    Request {
        room: usize,
        client: usize,
        session: usize,
    },
    Odd {
        odd: Odd,
        client: usize,
    },
    /// `targeted`: in one of the rooms the focus joined lately rather than in ROOMS[room].
    Participant {
        room: usize,
        targeted: bool,
        nick: usize,
        available: bool,
        affiliation: usize,
    },
    /// `targeted`: answers one of the joins the focus sent rather than in ROOMS[room].
    SelfPresence {
        room: usize,
        targeted: bool,
        kind: SelfKind,
    },
    /// Answers the focus's own IQ number `pick` among those outstanding (or answered before).
    AnswerOwnIq {
        pick: usize,
        error: bool,
        whois_anyone: bool,
        again: bool,
    },
    /// Answers the outstanding HTTP call number `pick`; `twice` delivers it a second time.
    Http {
        pick: usize,
        reply: Reply,
        twice: bool,
    },
    /// An outcome for a call already answered, or one never made.
    StaleHttp {
        pick: usize,
        reply: Reply,
        unknown: bool,
    },
    ToggleConnection,
    Advance {
        seconds: i64,
    },
    /// The happy path for ROOMS[room], as far as it goes: a request, its reservation calls
    /// granted, its join accepted, its configuration read. Reaches live rooms often.
    /// `adopt`: the POST is answered 409 naming the room's latest reservation, then the GET.
    Converge {
        room: usize,
        client: usize,
        adopt: bool,
    },
}

fn reply() -> impl Strategy<Value = Reply> {
    prop_oneof![
        4 => (any::<bool>(), prop::bool::weighted(0.2), prop::bool::weighted(0.2))
            .prop_map(|(created, short, cap)| Reply::Granted { created, short, cap }),
        1 => (0u8..3).prop_map(Reply::BadBody),
        2 => (prop::bool::weighted(0.8), 0usize..4).prop_map(|(with_id, pick)| Reply::Conflict { with_id, pick }),
        1 => Just(Reply::Forbidden),
        1 => Just(Reply::NotFound),
        1 => Just(Reply::TooMany),
        2 => prop_oneof![Just(500u16), Just(502), Just(503)].prop_map(Reply::ServerError),
        1 => Just(Reply::Timeout),
        1 => Just(Reply::Unreachable),
    ]
}

fn odd() -> impl Strategy<Value = Odd> {
    prop::sample::select(Odd::ALL.to_vec())
}

fn self_kind() -> impl Strategy<Value = SelfKind> {
    use SelfKind::*;
    prop_oneof![
        6 => Just(JoinedAsOwner),
        1 => Just(JoinedNotOwner),
        1 => Just(JoinRefused),
        1 => Just(Destroyed),
        1 => Just(Kicked),
        1 => Just(Left),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    let rooms = ROOMS.len() + BAD_ROOMS.len();
    prop_oneof![
        10 => (prop_oneof![9 => 0..ROOMS.len(), 1 => 0..rooms], 0..CLIENTS.len(), prop_oneof![3 => Just(0usize), 1 => 1usize..4])
            .prop_map(|(room, client, session)| Action::Request { room, client, session }),
        3 => (odd(), 0..CLIENTS.len()).prop_map(|(odd, client)| Action::Odd { odd, client }),
        10 => (0..ROOMS.len(), prop::bool::weighted(0.8), 0..NICKS, prop::bool::weighted(0.65), prop_oneof![4 => Just(0usize), 1 => 0..AFFILIATIONS.len()])
            .prop_map(|(room, targeted, nick, available, affiliation)| Action::Participant { room, targeted, nick, available, affiliation }),
        6 => (0..ROOMS.len(), prop::bool::weighted(0.8), self_kind())
            .prop_map(|(room, targeted, kind)| Action::SelfPresence { room, targeted, kind }),
        6 => (any::<usize>(), prop::bool::weighted(0.25), prop::bool::weighted(0.7), prop::bool::weighted(0.1))
            .prop_map(|(pick, error, whois_anyone, again)| Action::AnswerOwnIq { pick, error, whois_anyone, again }),
        10 => (any::<usize>(), reply(), prop::bool::weighted(0.1)).prop_map(|(pick, reply, twice)| Action::Http { pick, reply, twice }),
        1 => (any::<usize>(), reply(), any::<bool>()).prop_map(|(pick, reply, unknown)| Action::StaleHttp { pick, reply, unknown }),
        1 => Just(Action::ToggleConnection),
        6 => prop_oneof![6 => 0i64..6, 3 => 6i64..40, 1 => 40i64..900].prop_map(|seconds| Action::Advance { seconds }),
        3 => (0..ROOMS.len(), 0..CLIENTS.len(), prop::bool::weighted(0.3))
            .prop_map(|(room, client, adopt)| Action::Converge { room, client, adopt }),
    ]
}

/// One lifecycle of a reservation id held by the focus.
#[derive(Debug, Clone, Default)]
struct Epoch {
    number: u64,
    closed: bool,
    delete_sent: bool,
    successes: u32,
}

/// Owner grant state of one nick in one room, during one stay of the focus there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Grant {
    Requested,
    /// The room showed the nick as owner after our grant.
    Owner,
}

struct Sim {
    focus: Focus,
    now: Time,
    connected: bool,
    auth: AuthMode,
    limits: Limits,
    serial: u64,
    /// (from, id) of every IQ request fed, with the number of answers seen.
    requests: HashMap<(String, String), u32>,
    /// Outstanding HTTP calls, with the epoch of the DELETEd id when sent.
    calls: Vec<(HttpCall, u64)>,
    answered_calls: Vec<(HttpCall, u64)>,
    /// Ids whose last answered GET said the reservation is gone or belongs to another room:
    /// the only grounds on which the focus may drop a DELETE it still owes.
    gone: HashSet<String>,
    /// The server's reservations per room name, and the room of each id.
    room_ids: HashMap<String, Vec<String>>,
    id_room: HashMap<String, String>,
    epochs: BTreeMap<String, Epoch>,
    outbox: BTreeMap<String, StoredDelete>,
    /// Ids of POST grants fed during the current input: each must become a grant.
    expected_grants: Vec<String>,
    grants_seen: Vec<String>,
    own_iqs: Vec<Element>,
    answered_own: Vec<Element>,
    /// Occupants we said are present, by room.
    present: HashMap<String, HashMap<String, String>>,
    /// Live owner grants by room and nick; `stays` counts joins per room.
    grants: HashMap<String, HashMap<String, Grant>>,
    stays: HashMap<String, u64>,
    grant_ids: HashMap<String, (String, String, u64)>,
    sessions: Vec<String>,
    /// `starting` before the current input, and rooms admitted in it.
    starting_before: usize,
    admitted: bool,
    /// The current input is a conference request: a POST or join it causes admits a conference.
    in_request: bool,
    /// Rooms by the time of the focus's last join: all, and those whose join is unanswered.
    joined: Vec<String>,
    joins: Vec<String>,
}

impl Sim {
    fn new(settings: Settings) -> Result<Sim, TestCaseError> {
        let mut sim = Sim {
            auth: settings.auth_mode,
            limits: settings.limits.clone(),
            focus: Focus::with_seed(settings, 7),
            now: start(),
            connected: true,
            serial: 0,
            requests: HashMap::new(),
            calls: Vec::new(),
            answered_calls: Vec::new(),
            gone: HashSet::new(),
            room_ids: HashMap::new(),
            id_room: HashMap::new(),
            epochs: BTreeMap::new(),
            outbox: BTreeMap::new(),
            expected_grants: Vec::new(),
            grants_seen: Vec::new(),
            own_iqs: Vec::new(),
            answered_own: Vec::new(),
            present: HashMap::new(),
            grants: HashMap::new(),
            stays: HashMap::new(),
            grant_ids: HashMap::new(),
            sessions: Vec::new(),
            starting_before: 0,
            admitted: false,
            in_request: false,
            joined: Vec::new(),
            joins: Vec::new(),
        };
        sim.input(Input::Connected)?;
        Ok(sim)
    }

    fn serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// Feeds one input, then drains and checks.
    fn input(&mut self, input: Input) -> Check {
        if let Input::Stanza(stanza) = &input {
            self.expect_answer(stanza.name(), stanza.attr("type"), stanza.attr("id"), stanza.attr("from"));
        }
        self.starting_before = self.focus.footprint().starting;
        self.admitted = false;
        self.focus.handle(self.now, input);
        self.after_input()
    }

    fn expect_answer(&mut self, name: &str, type_: Option<&str>, id: Option<&str>, from: Option<&str>) {
        if name != "iq" || matches!(type_, Some("result" | "error")) {
            return;
        }
        if let (Some(id), Some(from)) = (id, from) {
            let fresh = self.requests.insert((from.to_owned(), id.to_owned()), 0).is_none();
            assert!(fresh, "the simulation reused an IQ id");
        }
    }

    fn after_input(&mut self) -> Check {
        self.drain()?;
        for id in std::mem::take(&mut self.expected_grants) {
            prop_assert!(
                self.grants_seen.contains(&id),
                "the focus did not take over reservation {id} its POST created"
            );
        }
        self.grants_seen.clear();
        if std::mem::take(&mut self.admitted) {
            prop_assert!(
                self.starting_before < self.limits.max_pending_conferences,
                "a conference was admitted while {} were starting",
                self.starting_before
            );
        }
        self.check_state()
    }

    fn drain(&mut self) -> Check {
        while let Some(effect) = self.focus.poll_effect() {
            match effect {
                Effect::Send(stanza) => self.on_sent(stanza)?,
                Effect::Http(call) => self.on_call(call)?,
                Effect::Outbox(change) => self.on_outbox(change)?,
            }
        }
        Ok(())
    }

    fn on_sent(&mut self, stanza: Element) -> Check {
        prop_assert!(self.connected, "sent while disconnected: {}", String::from(&stanza));
        let type_ = stanza.attr("type").unwrap_or_default().to_owned();
        let to = stanza.attr("to").unwrap_or_default().to_owned();
        match (stanza.name(), type_.as_str()) {
            ("iq", "result" | "error") => {
                let id = stanza.attr("id").unwrap_or_default().to_owned();
                let count = self.requests.get_mut(&(to.clone(), id.clone()));
                prop_assert!(count.is_some(), "an answer to no request: {}", String::from(&stanza));
                let count = count.unwrap();
                *count += 1;
                prop_assert!(*count == 1, "a second answer to {id} from {to}: {}", String::from(&stanza));
                if let Some(response) = stanza.children().next().and_then(|c| ConferenceResponse::try_from(c).ok()) {
                    if let Some(session) = response.session_id {
                        if !self.sessions.contains(&session) {
                            self.sessions.push(session);
                        }
                    }
                }
            }
            ("iq", "get" | "set") => {
                prop_assert!(stanza.attr("id").is_some_and(|id| id.starts_with("jf-")), "{}", String::from(&stanza));
                let room = to.clone();
                let grant = stanza
                    .get_child("query", ns::MUC_ADMIN)
                    .and_then(|q| q.children().next())
                    .filter(|item| item.attr("affiliation") == Some("owner"))
                    .and_then(|item| item.attr("jid"))
                    .map(str::to_owned);
                if let Some(jid) = grant {
                    self.on_owner_grant(&room, &jid, stanza.attr("id").unwrap())?;
                }
                self.own_iqs.push(stanza);
            }
            ("presence", "") => {
                // A (re)join: the focus starts over with the room's occupants.
                let room = to.strip_suffix("/focus").unwrap_or(&to).to_owned();
                prop_assert!(to.ends_with("/focus"), "{}", String::from(&stanza));
                *self.stays.entry(room.clone()).or_default() += 1;
                self.grants.remove(&room);
                self.admitted |= self.in_request;
                self.joins.retain(|r| *r != room);
                self.joins.push(room.clone());
                self.joined.retain(|r| *r != room);
                self.joined.push(room.clone());
            }
            ("presence", "unavailable") => prop_assert!(to.ends_with("/focus")),
            _ => prop_assert!(false, "unexpected stanza {}", String::from(&stanza)),
        }
        Ok(())
    }

    fn on_owner_grant(&mut self, room: &str, jid: &str, id: &str) -> Check {
        let nick = nick_of_bare(jid);
        prop_assert!(nick.is_some(), "an owner grant for a stranger {jid}");
        let nick = nick.unwrap();
        let present = self.present.get(room).is_some_and(|p| p.contains_key(&nick));
        prop_assert!(present, "an owner grant for {nick}, who is not in {room}");
        prop_assert!(nick != "rec", "a trusted recorder was made owner");
        let stay = self.stays.get(room).copied().unwrap_or_default();
        self.grant_ids.insert(id.to_owned(), (room.to_owned(), nick.clone(), stay));
        let grants = self.grants.entry(room.to_owned()).or_default();
        grants.insert(nick, Grant::Requested);
        if self.auth == AuthMode::None {
            prop_assert!(grants.len() <= 1, "two owners in {room}: {grants:?}");
        }
        Ok(())
    }

    fn on_call(&mut self, call: HttpCall) -> Check {
        let mut epoch = 0;
        match call.method {
            Method::Post => self.admitted |= self.in_request,
            Method::Get => {}
            Method::Delete => {
                let id = call.path.strip_prefix("/conference/").unwrap_or_default().to_owned();
                let state = self.epochs.get_mut(&id);
                prop_assert!(state.is_some(), "a DELETE of {id}, which the focus never held");
                let state = state.unwrap();
                prop_assert!(!state.closed, "a DELETE of {id} after its lifecycle ended: {state:?}");
                let ended = self.outbox.get(&id).is_some_and(|r| r.ended_at.is_some());
                prop_assert!(ended, "a DELETE of {id} before the outbox says it ended: {:?}", self.outbox.get(&id));
                state.delete_sent = true;
                epoch = state.number;
            }
        }
        self.calls.push((call, epoch));
        Ok(())
    }

    fn on_outbox(&mut self, change: OutboxChange) -> Check {
        match change {
            OutboxChange::Put(record) => {
                if record.ended_at.is_none() {
                    let state = self.epochs.entry(record.id.clone()).or_default();
                    *state = Epoch { number: state.number + 1, ..Epoch::default() };
                    self.grants_seen.push(record.id.clone());
                } else {
                    let open = self.epochs.get(&record.id).is_some_and(|e| !e.closed);
                    prop_assert!(open, "an outbox record for {}, which the focus does not hold", record.id);
                }
                self.outbox.insert(record.id.clone(), record);
            }
            OutboxChange::Remove(id) => {
                prop_assert!(self.outbox.remove(&id).is_some(), "removed {id}, which the outbox does not hold");
                // Without a final DELETE answer, only a GET that found the id gone or naming
                // another room's reservation ends a lifecycle (a retried DELETE is checked first).
                if let Some(state) = self.epochs.get_mut(&id).filter(|e| !e.closed) {
                    prop_assert!(self.gone.contains(&id), "{id} dropped from the outbox without a reason: {state:?}");
                    state.closed = true;
                }
            }
        }
        Ok(())
    }

    fn check_state(&self) -> Check {
        for (id, epoch) in &self.epochs {
            let record = self.outbox.get(id);
            prop_assert_eq!(record.is_some(), !epoch.closed, "outbox and lifecycle of {} disagree: {:?}", id, epoch);
            if let Some(record) = record {
                prop_assert_eq!(record.ended_at.is_some(), epoch.delete_sent, "record of {}: {:?}", id, record);
            }
            prop_assert!(epoch.successes <= 1);
        }
        let fp = self.focus.footprint();
        let l = &self.limits;
        prop_assert!(fp.conferences <= l.max_conferences, "{fp:?}");
        prop_assert!(fp.starting <= fp.conferences, "{fp:?}");
        prop_assert!(fp.waiters <= fp.conferences * l.max_waiters_per_conference, "{fp:?}");
        prop_assert!(fp.participants <= fp.conferences * l.max_participants_per_conference, "{fp:?}");
        prop_assert!(fp.refusals <= l.max_refusals_cached, "{fp:?}");
        prop_assert!(fp.sessions <= l.max_sessions, "{fp:?}");
        prop_assert!(fp.timers <= fp.conferences + fp.deletes + fp.refusals + 1, "{fp:?}");
        prop_assert!(fp.http_calls <= self.calls.len(), "{fp:?} but {} calls outstanding", self.calls.len());
        Ok(())
    }

    /// Moves virtual time forward, firing every deadline on the way in order.
    fn advance(&mut self, seconds: i64) -> Check {
        let target = self.now + Duration::seconds(seconds);
        let mut same_instant = 0;
        while let Some(at) = self.focus.poll_timeout().filter(|t| *t <= target) {
            prop_assert!(at >= self.now || same_instant == 0, "a deadline in the past: {at} < {}", self.now);
            same_instant = if at > self.now { 0 } else { same_instant + 1 };
            self.now = at.max(self.now);
            self.starting_before = self.focus.footprint().starting;
            self.focus.handle_timeout(self.now);
            let next = self.focus.poll_timeout();
            prop_assert!(next.is_none_or(|t| t >= self.now), "handle_timeout left a past deadline: {next:?}");
            prop_assert!(same_instant < 3, "handle_timeout spins at {}", self.now);
            self.after_input()?;
        }
        self.now = target;
        Ok(())
    }

    fn stanza(&mut self, text: &str) -> Check {
        if !self.connected {
            return Ok(()); // nothing arrives over a link that is down
        }
        self.input(Input::Stanza(xml(text)))
    }

    fn request(&mut self, room: Option<&str>, client: usize, session: usize) -> Check {
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

    fn odd(&mut self, odd: Odd, client: usize) -> Check {
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
    fn pick_room(&self, room: usize, targeted: bool, unanswered: bool) -> String {
        let pool = if unanswered { &self.joins } else { &self.joined };
        match pool.len() {
            n if targeted && n > 0 => pool[n - 1 - room % n.min(3)].clone(),
            _ => room_jid(ROOMS[room]),
        }
    }

    fn participant(&mut self, room: &str, nick: usize, available: bool, affiliation: usize) -> Check {
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

    fn self_presence(&mut self, room: &str, kind: SelfKind) -> Check {
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

    fn answer_own_iq(&mut self, pick: usize, error: bool, whois_anyone: bool, again: bool) -> Check {
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

    /// The outcome `reply` means for `call`; records the reservations it creates.
    fn outcome(&mut self, call: &HttpCall, reply: Reply) -> HttpOutcome {
        let response = |status: u16, body: String| HttpOutcome::Response { status, body };
        let path_id = call.path.strip_prefix("/conference/").map(str::to_owned);
        let room = match call.method {
            Method::Post => call.form.iter().find(|(k, _)| k == "name").map(|(_, v)| v.clone()).unwrap_or_default(),
            _ => path_id.as_ref().and_then(|id| self.id_room.get(id)).cloned().unwrap_or_else(|| "r0".to_owned()),
        };
        match reply {
            Reply::Granted { created, short, cap } => {
                if call.method == Method::Delete {
                    return response(if created { 204 } else { 200 }, String::new());
                }
                let id = match call.method {
                    Method::Post => {
                        let id = format!("{}", 1000 + self.serial());
                        self.room_ids.entry(room.clone()).or_default().push(id.clone());
                        self.id_room.insert(id.clone(), room.clone());
                        self.expected_grants.push(id.clone());
                        id
                    }
                    _ => path_id.unwrap_or_default(),
                };
                let duration = if short { 30 } else { 3600 };
                let cap = if cap { r#","max_occupants":2"# } else { "" };
                let body = format!(
                    r#"{{"id":"{id}","name":"{room}","start_time":"{}","duration":{duration}{cap}}}"#,
                    format_time(self.now)
                );
                response(if created { 201 } else { 200 }, body)
            }
            Reply::BadBody(0) => response(201, "<html>oops</html>".into()),
            Reply::BadBody(1) => response(
                201,
                format!(r#"{{"id":"x","name":"other","start_time":"{}","duration":60}}"#, format_time(self.now)),
            ),
            Reply::BadBody(_) => response(200, format!(r#"{{"id":7,"name":"{room}"}}"#)),
            Reply::Conflict { with_id: true, pick } => {
                // A foreign reservation, or (pick 0: the latest) one granted to the focus before.
                let mut pool = vec![format!("ext-{room}")];
                pool.extend(self.room_ids.get(&room).cloned().unwrap_or_default());
                let id = pool[pool.len() - 1 - pick % pool.len()].clone();
                self.id_room.insert(id.clone(), room);
                response(409, format!(r#"{{"conflict_id":"{id}","message":"exists"}}"#))
            }
            Reply::Conflict { with_id: false, .. } => response(409, r#"{"message":"conflict"}"#.into()),
            Reply::Forbidden => response(403, r#"{"message":"Kein Termin für diesen Raum, bitte buchen"}"#.into()),
            Reply::NotFound => response(404, String::new()),
            Reply::TooMany => response(429, String::new()),
            Reply::ServerError(status) => response(status, "{}".into()),
            Reply::Timeout => HttpOutcome::Timeout,
            Reply::Unreachable => HttpOutcome::Unreachable("connection refused".into()),
        }
    }

    /// Delivers the outcome of an outstanding call, and for a DELETE of the current epoch
    /// closes the epoch when the answer is final.
    fn deliver(&mut self, index: usize, reply: Reply, twice: bool) -> Check {
        let (call, epoch) = self.calls.remove(index);
        let outcome = self.outcome(&call, reply);
        if call.method == Method::Delete {
            let id = call.path.strip_prefix("/conference/").unwrap_or_default().to_owned();
            let state = self.epochs.get_mut(&id).expect("checked when sent");
            if state.number == epoch {
                let status = match &outcome {
                    HttpOutcome::Response { status, .. } => Some(*status),
                    _ => None,
                };
                match status {
                    Some(200..=299 | 404) => {
                        prop_assert!(!state.closed, "two final answers in one lifecycle of {id}");
                        state.closed = true;
                        state.successes += 1;
                    }
                    Some(408 | 429) | None => {}
                    Some(400..=499) => state.closed = true,
                    Some(_) => {}
                }
            }
        }
        if call.method == Method::Get {
            let id = call.path.strip_prefix("/conference/").unwrap_or_default().to_owned();
            let gone = match &outcome {
                HttpOutcome::Response { status: 404 | 410, .. } => true,
                HttpOutcome::Response { status: 200..=299, body } => body.contains(r#""name":"other""#),
                _ => false,
            };
            if gone {
                self.gone.insert(id);
            } else {
                self.gone.remove(&id);
            }
        }
        self.answered_calls.push((call.clone(), epoch));
        self.input(Input::Http { id: call.id, outcome: outcome.clone() })?;
        if twice {
            self.input(Input::Http { id: call.id, outcome })?;
        }
        Ok(())
    }

    fn run(&mut self, action: &Action) -> Check {
        match action.clone() {
            Action::Request { room, client, session } => {
                let room = match room.checked_sub(ROOMS.len()) {
                    None => Some(room_jid(ROOMS[room])),
                    Some(bad) => BAD_ROOMS[bad].map(str::to_owned),
                };
                self.request(room.as_deref(), client, session)
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

    fn converge(&mut self, room: usize, client: usize, adopt: bool) -> Check {
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

    /// Shutdown, reconnection, every call answered with success, time for every retry: then
    /// every request is answered, every reservation deleted and nothing is left.
    fn finish(&mut self) -> Check {
        self.focus.shutdown(self.now);
        self.after_input()?;
        if !self.connected {
            self.connected = true;
            self.input(Input::Connected)?;
        }
        for _ in 0..100 {
            while !self.calls.is_empty() {
                self.deliver(0, Reply::Granted { created: true, short: false, cap: false }, false)?;
            }
            if !self.focus.has_pending_http() {
                break;
            }
            self.advance(600)?;
        }
        prop_assert!(!self.focus.has_pending_http(), "{:?}", self.focus.footprint());
        for ((from, id), answers) in &self.requests {
            prop_assert_eq!(*answers, 1, "request {} from {} answered {} times", id, from, answers);
        }
        prop_assert!(self.outbox.is_empty(), "outbox left: {:?}", self.outbox);
        for (id, epoch) in &self.epochs {
            prop_assert!(epoch.closed, "reservation {} never deleted: {:?}", id, epoch);
        }
        let fp = self.focus.footprint();
        prop_assert_eq!(
            (fp.conferences, fp.starting, fp.waiters, fp.participants, fp.deletes, fp.http_calls, fp.held_stanzas),
            (0, 0, 0, 0, 0, 0, 0),
            "{:?}",
            fp
        );
        Ok(())
    }
}

fn auth_mode() -> impl Strategy<Value = AuthMode> {
    prop_oneof![6 => Just(AuthMode::None), 1 => Just(AuthMode::Xmpp), 1 => Just(AuthMode::Jwt)]
}

fn reservation() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![1 => Just(None), 5 => (0u32..3).prop_map(Some)]
}

fn run_case(reservation: Option<u32>, auth: AuthMode, actions: &[Action]) -> Check {
    let mut sim = Sim::new(settings(reservation, auth, limits()))?;
    for action in actions {
        sim.run(action)?;
    }
    sim.finish()
}

proptest! {
    #![proptest_config(ProptestConfig {
        // PROPTEST_CASES=20000 for a longer hunt.
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(512),
        max_shrink_iters: 20_000,
        // Minimal failing sequences are kept as named tests below, not in a side file.
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_sequences_keep_every_invariant(
        reservation in reservation(),
        auth in auth_mode(),
        actions in prop::collection::vec(action(), 0..=200),
    ) {
        run_case(reservation, auth, &actions)?;
    }
}

/// 20,000 new rooms in one instant: 1000 start (one POST each), the rest hear `ready='false'`
/// at once.
#[test]
fn a_burst_of_new_rooms_is_admitted_up_to_the_pending_limit() {
    let limits = Limits { max_pending_conferences: 1000, ..Limits::default() };
    let mut focus = Focus::new(settings(Some(2), AuthMode::None, limits));
    let now = start();
    focus.handle(now, Input::Connected);
    let mut posts = 0;
    let mut not_ready = 0;
    for n in 0..20_000 {
        let stanza = xml(&format!(
            "<iq xmlns='jabber:component:accept' type='set' id='b{n}' from='c{n}@meet.test/x' to='{COMPONENT}'><conference xmlns='http://jitsi.org/protocol/focus' room='burst{n}@{MUC}' machine-uid='m'/></iq>"
        ));
        focus.handle(now, Input::Stanza(stanza));
        while let Some(effect) = focus.poll_effect() {
            match effect {
                Effect::Http(call) => {
                    assert_eq!(call.method, Method::Post);
                    assert!(n < 1000, "POST for request {n}");
                    posts += 1;
                }
                Effect::Send(reply) => {
                    assert_eq!(reply.attr("id"), Some(format!("b{n}").as_str()));
                    let response = ConferenceResponse::try_from(reply.children().next().unwrap()).unwrap();
                    assert!(!response.ready && n >= 1000, "request {n}: {}", String::from(&reply));
                    not_ready += 1;
                }
                Effect::Outbox(change) => panic!("{change:?}"),
            }
        }
    }
    assert_eq!((posts, not_ready), (1000, 19_000));
    assert_eq!(focus.footprint().starting, 1000);
}

// Minimal failing sequences proptest found, kept as named cases.

/// The room configuration never came; when the focus went live without it the 30 s
/// reservation had ended, and `handle_timeout` left its expiry as a deadline in the past.
#[test]
fn going_live_after_the_reservation_ended_leaves_no_past_deadline() {
    use Action::*;
    let actions = [
        Request { room: 0, client: 0, session: 0 },
        Http { pick: 0, reply: Reply::Granted { created: false, short: true, cap: false }, twice: false },
        Advance { seconds: 11 },
        SelfPresence { room: 0, targeted: false, kind: SelfKind::JoinedAsOwner },
        Advance { seconds: 20 },
    ];
    run_case(Some(0), AuthMode::None, &actions).unwrap();
}
