//! The inputs of a case: the world's `Action`s, with what they carry (`SelfKind`: the focus's
//! own presence in a room; `Odd`: IQs and stanzas other than conference requests; `Reply`: what
//! the reservation API or the network answers), their proptest strategies, and the reservation
//! and sign-in modes a case runs in. What each action does is in `world.rs`.

use proptest::prelude::*;

use super::{AFFILIATIONS, BAD_ROOMS, CLIENTS, NICKS, ROOMS};
use crate::config::AuthMode;

/// The focus's self-presence in a room.
#[derive(Debug, Clone, Copy)]
pub(super) enum SelfKind {
    JoinedAsOwner,
    JoinedNotOwner,
    JoinRefused,
    Destroyed,
    Kicked,
    Left,
}

/// IQs and stanzas other than conference requests.
#[derive(Debug, Clone, Copy)]
pub(super) enum Odd {
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
    pub(super) const ALL: [Odd; 19] = [
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
pub(super) enum Reply {
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
pub(super) enum Action {
    /// `room` indexes ROOMS then BAD_ROOMS; `session` 0: none, 1: unknown, n: a session seen.
    Request {
        room: usize,
        client: usize,
        session: usize,
    },
    /// The same request over HTTP (`POST /conference-request/v1`): no sender, and it may
    /// arrive while the link to Prosody is down.
    HttpRequest {
        room: usize,
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

pub(super) fn reply() -> impl Strategy<Value = Reply> {
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

pub(super) fn odd() -> impl Strategy<Value = Odd> {
    prop::sample::select(Odd::ALL.to_vec())
}

pub(super) fn self_kind() -> impl Strategy<Value = SelfKind> {
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

pub(super) fn action() -> impl Strategy<Value = Action> {
    let rooms = ROOMS.len() + BAD_ROOMS.len();
    prop_oneof![
        10 => (prop_oneof![9 => 0..ROOMS.len(), 1 => 0..rooms], 0..CLIENTS.len(), prop_oneof![3 => Just(0usize), 1 => 1usize..4])
            .prop_map(|(room, client, session)| Action::Request { room, client, session }),
        4 => (prop_oneof![9 => 0..ROOMS.len(), 1 => 0..rooms], prop_oneof![3 => Just(0usize), 1 => 1usize..4])
            .prop_map(|(room, session)| Action::HttpRequest { room, session }),
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

pub(super) fn auth_mode() -> impl Strategy<Value = AuthMode> {
    prop_oneof![6 => Just(AuthMode::None), 1 => Just(AuthMode::Xmpp), 1 => Just(AuthMode::Jwt)]
}

pub(super) fn reservation() -> impl Strategy<Value = Option<u32>> {
    prop_oneof![1 => Just(None), 5 => (0u32..3).prop_map(Some)]
}
