//! The inputs of a media case: the `Universe` it runs in (and the focus `Settings` for it),
//! the sources a client signals, and the world's `Action`s with their proptest strategies.
//! What each action does is in `world.rs`.

use chrono::Duration;
use proptest::prelude::*;

use super::{BREWERY, COLIBRI_REASONS, COMPONENT, MUC, STANZA_CONDITIONS};
use crate::core::bridges::BridgeSettings;
use crate::core::{Limits, Settings};

/// The size of the world a case runs in, and the limits that matter to media.
#[derive(Debug, Clone, Copy)]
pub(super) struct Universe {
    pub(super) rooms: usize,
    pub(super) nicks: usize,
    pub(super) bridges: usize,
    pub(super) max_bridges: usize,
    pub(super) max_participants: usize,
    pub(super) min_participants: usize,
}

pub(super) fn universe() -> impl Strategy<Value = Universe> {
    (1usize..=2, 2usize..=4, 1usize..=3, prop::bool::weighted(0.2), prop::bool::weighted(0.2), 1usize..=2).prop_map(
        |(rooms, nicks, bridges, bridge_cap, participant_cap, min_participants)| Universe {
            rooms,
            nicks,
            bridges,
            max_bridges: if bridge_cap { bridges.saturating_sub(1).max(1) } else { bridges },
            max_participants: if participant_cap { nicks - 1 } else { nicks },
            min_participants,
        },
    )
}

pub(super) fn settings(u: &Universe) -> Settings {
    let bridges = BridgeSettings { max_bridges: u.max_bridges, ..BridgeSettings::default() };
    Settings {
        component: COMPONENT.parse().unwrap(),
        muc_domain: MUC.parse().unwrap(),
        reservation: None,
        initial_timeout: Duration::seconds(15),
        request_timeout: Duration::seconds(20),
        auth_mode: crate::config::AuthMode::None,
        auth_domain: String::new(),
        session_lifetime: Duration::hours(1),
        trusted_domains: Vec::new(),
        delete_give_up: Duration::days(1),
        max_message_length: 100,
        limits: Limits { max_participants_per_conference: u.max_participants, ..Limits::default() },
        brewery: Some(BREWERY.parse().unwrap()),
        bridges,
        codecs: Default::default(),
        min_participants: u.min_participants,
    }
}

/// One source a client signals.
#[derive(Debug, Clone)]
pub(super) struct Src {
    /// 0 (invalid), or 1–5: the nick's own SSRC of that number, or when `shared` one every nick
    /// may pick (so that SSRCs collide).
    pub(super) ssrc: u32,
    pub(super) shared: bool,
    pub(super) video: bool,
    /// `None`: no msid (the focus assigns one); 3: an msid every nick uses.
    pub(super) msid: Option<u8>,
    pub(super) named: bool,
}

/// Sources of a session-accept, source-add or source-remove; `group` 1: FID of the first two
/// video sources, 2: SIM of the first three, 3: FID naming an SSRC nobody signalled.
#[derive(Debug, Clone)]
pub(super) struct Sources {
    pub(super) sources: Vec<Src>,
    pub(super) group: u8,
}

pub(super) fn sources() -> impl Strategy<Value = Sources> {
    let src = (
        prop_oneof![1 => Just(0u32), 24 => 1u32..=5],
        prop::bool::weighted(0.2),
        any::<bool>(),
        prop_oneof![3 => Just(None), 7 => (0u8..4).prop_map(Some)],
        prop::bool::weighted(0.2),
    )
        .prop_map(|(ssrc, shared, video, msid, named)| Src { ssrc, shared, video, msid, named });
    (prop::collection::vec(src, 0..=3), prop_oneof![6 => Just(0u8), 1 => 1u8..=3])
        .prop_map(|(sources, group)| Sources { sources, group })
}

#[derive(Debug, Clone, Copy)]
pub(super) enum SidPick {
    Current,
    Stale,
    Bogus,
}

#[derive(Debug, Clone, Copy)]
pub(super) enum BsPick {
    Omitted,
    Right,
    Wrong,
}

#[derive(Debug, Clone)]
pub(super) enum JingleKind {
    Accept {
        sources: Sources,
        transport: bool,
    },
    /// `again`: the SSRCs this nick last removed, now with an msid (the second half of an msid
    /// flip), instead of `sources`.
    SourceAdd {
        sources: Sources,
        again: bool,
    },
    /// `pick` 0: all the nick's sources, 1: its first one, 3: those it gave no msid, else `sources`.
    SourceRemove {
        pick: u8,
        sources: Sources,
    },
    TransportInfo {
        empty: bool,
    },
    Terminate {
        bs: BsPick,
        restart: bool,
    },
    IceFailed {
        bs: BsPick,
    },
    Unknown,
}

/// How an outstanding IQ of the focus is answered.
#[derive(Debug, Clone, Copy)]
pub(super) struct How {
    pub(super) ok: bool,
    /// Disco features (bits), a Colibri2 result without transport (bit 0 of a create), …
    pub(super) variant: u8,
    pub(super) condition: usize,
    pub(super) reason: usize,
    /// No answer ever (kept for a late one).
    pub(super) drop: bool,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Stats {
    pub(super) drain: Option<bool>,
    pub(super) graceful: bool,
    pub(super) shutting_down: bool,
    pub(super) stress: u8,
    pub(super) version: u8,
}

#[derive(Debug, Clone)]
pub(super) enum Action {
    Request {
        room: usize,
        client: usize,
        start_muted: bool,
    },
    /// A request, the joins answered and the room's configuration read: reaches live rooms.
    Converge {
        room: usize,
        meeting_id: bool,
    },
    /// Prosody answers the focus's pending joins (rooms and brewery): occupants, then self.
    AnswerJoins,
    Participant {
        room: usize,
        nick: usize,
        available: bool,
        owner: bool,
    },
    Bridge {
        bridge: usize,
        stats: Stats,
    },
    BridgeLeaves {
        bridge: usize,
    },
    /// Answers outstanding focus IQ number `pick`.
    Answer {
        pick: usize,
        how: How,
    },
    /// Every outstanding IQ answered as a healthy world would (a few rounds).
    AnswerAll,
    /// A late, repeated or spoofed answer.
    Stale {
        pick: usize,
        how: How,
        spoof: bool,
    },
    /// `live`: from one of the participants with a session (by this index) if there is one.
    Jingle {
        room: usize,
        nick: usize,
        live: Option<usize>,
        sid: SidPick,
        kind: JingleKind,
    },
    /// Every participant with a session not accepted yet accepts it with an audio and a video
    /// source of its own (`rtx`: with an RTX pair), as a current client does.
    AcceptAll {
        rtx: bool,
    },
    Mute {
        room: usize,
        actor: usize,
        target: usize,
        video: bool,
        value: u8,
    },
    ToggleConnection,
    Advance {
        seconds: i64,
    },
}

pub(super) fn how() -> impl Strategy<Value = How> {
    (
        prop::bool::weighted(0.7),
        any::<u8>(),
        0..STANZA_CONDITIONS.len(),
        0..COLIBRI_REASONS.len(),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(ok, variant, condition, reason, drop)| How { ok, variant, condition, reason, drop })
}

pub(super) fn bs_pick() -> impl Strategy<Value = BsPick> {
    prop_oneof![1 => Just(BsPick::Omitted), 4 => Just(BsPick::Right), 1 => Just(BsPick::Wrong)]
}

pub(super) fn jingle_kind() -> impl Strategy<Value = JingleKind> {
    prop_oneof![
        6 => (sources(), prop::bool::weighted(0.8)).prop_map(|(sources, transport)| JingleKind::Accept { sources, transport }),
        4 => (sources(), prop::bool::weighted(0.3)).prop_map(|(sources, again)| JingleKind::SourceAdd { sources, again }),
        5 => (0u8..4, sources()).prop_map(|(pick, sources)| JingleKind::SourceRemove { pick, sources }),
        1 => any::<bool>().prop_map(|empty| JingleKind::TransportInfo { empty }),
        2 => (bs_pick(), any::<bool>()).prop_map(|(bs, restart)| JingleKind::Terminate { bs, restart }),
        1 => bs_pick().prop_map(|bs| JingleKind::IceFailed { bs }),
        1 => Just(JingleKind::Unknown),
    ]
}

pub(super) fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => (0..2usize, 0..3usize, prop::bool::weighted(0.2))
            .prop_map(|(room, client, start_muted)| Action::Request { room, client, start_muted }),
        4 => (0..2usize, any::<bool>()).prop_map(|(room, meeting_id)| Action::Converge { room, meeting_id }),
        2 => Just(Action::AnswerJoins),
        10 => (0..2usize, 0..4usize, prop::bool::weighted(0.75), prop::bool::weighted(0.15))
            .prop_map(|(room, nick, available, owner)| Action::Participant { room, nick, available, owner }),
        4 => (0..3usize, (prop_oneof![1 => Just(None), 8 => Just(Some(false)), 1 => Just(Some(true))], prop::bool::weighted(0.1), prop::bool::weighted(0.08), 0u8..10, prop_oneof![9 => Just(0u8), 1 => Just(1u8)]))
            .prop_map(|(bridge, (drain, graceful, shutting_down, stress, version))| Action::Bridge { bridge, stats: Stats { drain, graceful, shutting_down, stress, version } }),
        1 => (0..3usize).prop_map(|bridge| Action::BridgeLeaves { bridge }),
        10 => (any::<usize>(), how()).prop_map(|(pick, how)| Action::Answer { pick, how }),
        5 => Just(Action::AnswerAll),
        2 => (any::<usize>(), how(), prop::bool::weighted(0.3)).prop_map(|(pick, how, spoof)| Action::Stale { pick, how, spoof }),
        16 => (0..2usize, 0..4usize, prop_oneof![1 => Just(None), 4 => any::<usize>().prop_map(Some)], prop_oneof![8 => Just(SidPick::Current), 1 => Just(SidPick::Stale), 1 => Just(SidPick::Bogus)], jingle_kind())
            .prop_map(|(room, nick, live, sid, kind)| Action::Jingle { room, nick, live, sid, kind }),
        3 => any::<bool>().prop_map(|rtx| Action::AcceptAll { rtx }),
        3 => (0..2usize, 0..4usize, 0..4usize, any::<bool>(), 0u8..4)
            .prop_map(|(room, actor, target, video, value)| Action::Mute { room, actor, target, video, value }),
        1 => Just(Action::ToggleConnection),
        6 => prop_oneof![6 => 0i64..3, 3 => 3i64..25, 1 => 25i64..90].prop_map(|seconds| Action::Advance { seconds }),
    ]
}
