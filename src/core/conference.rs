//! One conference: a MUC room the focus runs, from the first request to its end.

use std::collections::BTreeMap;

use xmpp_parsers::jid::{BareJid, Jid};

use super::auth::Identity;
use super::iq::Requester;
use super::reservation::Reservation;
use super::Time;
use crate::xmpp::muc::Affiliation;

/// Where a conference is in its life.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// Waiting for `POST /conference` (attempt counts from 1); `retry_at` while backing off.
    Reserving { attempt: u32, retry_at: Option<Time> },
    /// After a 409: reading the conflicting reservation with `GET /conference/{id}`.
    FetchingConflict { id: String, message: Option<String>, attempt: u32, retry_at: Option<Time> },
    /// Join presence sent (or waiting for the connection); waiting for our self-presence.
    Joining { sent_at: Option<Time> },
    /// In the room as owner; reading and fixing the room configuration.
    Configuring { deadline: Time },
    /// Running: requests are answered `ready='true'` at once.
    Live,
}

/// A conference request waiting for its answer.
#[derive(Debug, Clone)]
pub struct Waiter {
    pub requester: Requester,
    /// When the client is told `ready='false'` so that it asks again.
    pub deadline: Time,
    /// Who asked: the answer carries a signed-in user's session.
    pub identity: Identity,
}

/// A participant as seen in the room's presence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Participant {
    pub real_jid: Option<Jid>,
    pub affiliation: Affiliation,
    pub joined_at: Time,
    /// Join order, for electing the longest-present participant.
    pub seq: u64,
    /// We asked the room to make this participant an owner and have not seen it happen yet.
    pub owner_requested: bool,
    /// A recorder, gateway or transcriber from a trusted domain: never moderator.
    pub is_service: bool,
    /// The room refused to make this participant owner; elect someone else.
    pub grant_failed: bool,
    pub info: crate::xmpp::jitsi_presence::ParticipantInfo,
}

#[derive(Debug)]
pub struct Conference {
    /// The room's local part: the reservation's `name`.
    pub name: String,
    pub phase: Phase,
    pub waiters: Vec<Waiter>,
    pub reservation: Option<Reservation>,
    /// The reservation API call whose answer this conference waits for; other answers are stale.
    pub awaited_call: Option<u64>,
    /// The POST waits for a DELETE of this room's previous reservation to be answered.
    pub blocked_by_delete: bool,
    /// `mail_owner` for the reservation: the identity of the request that created the room.
    pub owner: Option<String>,
    pub participants: BTreeMap<String, Participant>,
    /// Counts joins, giving each participant its `seq`.
    pub join_counter: u64,
    /// Set once the conference has been live; a rejoin then needs no new answer.
    pub was_live: bool,
    /// A conference nobody joins by then ends.
    pub initial_deadline: Option<Time>,
    pub meeting_id: Option<String>,
    pub created_at: Time,
    /// When it first went live.
    pub started_at: Option<Time>,
    /// Bridges, Colibri2 and Jingle sessions, sources.
    pub media: super::media::ConferenceMedia,
}

impl Conference {
    pub fn new(room: BareJid, owner: Option<String>, phase: Phase, now: Time) -> Conference {
        let name = room.node().map(|n| n.to_string()).unwrap_or_default();
        Conference {
            name,
            phase,
            waiters: Vec::new(),
            reservation: None,
            awaited_call: None,
            blocked_by_delete: false,
            owner,
            participants: BTreeMap::new(),
            join_counter: 0,
            was_live: false,
            initial_deadline: None,
            meeting_id: None,
            created_at: now,
            started_at: None,
            media: Default::default(),
        }
    }

    pub fn reservation_id(&self) -> Option<&str> {
        self.reservation.as_ref().map(|r| r.id.as_str())
    }

    /// The earliest moment this conference needs [`super::Focus::handle_timeout`].
    pub fn next_deadline(&self, join_retry: chrono::Duration) -> Option<Time> {
        let phase = match &self.phase {
            Phase::Reserving { retry_at, .. } | Phase::FetchingConflict { retry_at, .. } => *retry_at,
            Phase::Joining { sent_at } => sent_at.map(|t| t + join_retry),
            Phase::Configuring { deadline } => Some(*deadline),
            Phase::Live => None,
        };
        let expiry = match self.phase {
            Phase::Live => self.reservation.as_ref().map(Reservation::ends_at),
            _ => None,
        };
        // The initial timeout only counts while live (a rejoin re-arms it).
        let initial = self.initial_deadline.filter(|_| self.phase == Phase::Live);
        [phase, expiry, initial, self.waiters.iter().map(|w| w.deadline).min()].into_iter().flatten().min()
    }
}
