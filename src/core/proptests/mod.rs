//! Property tests of the core: random sequences of inputs (requests over XMPP and HTTP, odd
//! IQs, presences, answers to the focus's own IQs, HTTP outcomes in any order, reconnections,
//! time) over a small universe
//! of rooms, clients and nicks, so that collisions happen, with invariants checked after every
//! effect and every input, and once more after a shutdown that lets every DELETE succeed.
//!
//! The invariants, as precisely as the focus can know them from its inputs:
//!
//! 1. Every IQ request sent to the focus (an `iq` with an `id` and a `from` whose type is not
//!    `result`/`error`, also one the stream reader rejected) is answered exactly once: a result
//!    or an error with the same `id`, addressed to the same `from`. Answers held while
//!    disconnected count once flushed; the final phase reconnects. `ready='false'` is an answer.
//!    A conference request over HTTP (which may arrive while disconnected) is answered exactly
//!    once with `Effect::AnswerHttp` of its id, and no other id is answered.
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
//!
//! # Where to look
//!
//! - `generate.rs`: the world's actions (requests, odd IQs and stanzas, presences, answers to
//!   the focus's own IQs, HTTP outcomes, reconnections, time) and their proptest strategies,
//!   with the reservation and sign-in modes a case runs in.
//! - `sim.rs`: the simulation's state (the reservation server's ids, each id's lifecycles, the
//!   outbox replayed, owner grants per stay of the focus in a room) and the driver that feeds
//!   the focus one input, drains its effects and moves virtual time (invariant 7; 3 and 6 for
//!   what an input admitted and granted); the final phase.
//! - `world.rs`: what each generated action does: requests, odd stanzas, occupants, the focus's
//!   own presence, answers to its IQs, reconnections, time, and the happy path (`converge`).
//! - `reservation_api.rs`: the reservation API's side: the HTTP outcome each reply means for a
//!   call, and its delivery, which may close a reservation's lifecycle.
//! - `checks.rs`: every effect of the focus judged: its answers (invariants 1 and 2), owner
//!   grants (5), HTTP calls and outbox changes (3 and 4), nothing sent while disconnected (7),
//!   and after every input the state of lifecycles, outbox and footprint (4 and 6).
//! - here: the constants of the universe, the focus's settings, `run_case`, the `proptest!`,
//!   and the named tests (a burst of new rooms, the minimal failing sequences proptest found).

mod checks;
mod generate;
mod reservation_api;
mod sim;
mod world;

use chrono::{DateTime, Duration, Utc};
use minidom::Element;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use self::generate::{action, auth_mode, reservation, Action, Reply, SelfKind};
use self::sim::Sim;
use super::focus::ReservationSettings;
use super::reservation::Method;
use super::{Effect, Focus, Input, Limits, Settings, Time};
use crate::config::AuthMode;
use crate::xmpp::focus::ConferenceResponse;

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
                Effect::AnswerHttp { id, .. } => panic!("HTTP answer {id}"),
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
