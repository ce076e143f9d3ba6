//! `[limits]`: upper bounds on what outsiders can make the focus hold (stanza size and shape,
//! conferences, waiters, participants, refusals, sessions, queued stanzas, signalled sources).

use serde::{Deserialize, Serialize};

/// Upper bounds on what outsiders can make the focus hold in memory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct LimitsConfig {
    /// Bytes of one incoming stanza; bigger ones are skipped (IQ requests answered
    /// `policy-violation`).
    pub max_stanza_size: usize,
    /// Element nesting depth of one incoming stanza.
    pub max_depth: usize,
    /// Elements, attributes and text nodes of one incoming stanza (memory per stanza).
    pub max_stanza_nodes: usize,
    /// Conferences not yet running (reservation or room join in progress); beyond it new
    /// rooms are answered `ready='false'` at once.
    pub max_pending_conferences: usize,
    /// All conferences; beyond it new rooms are answered `ready='false'`.
    pub max_conferences: usize,
    /// Requests waiting on one starting conference; beyond it `ready='false'` at once.
    pub max_waiters_per_conference: usize,
    pub max_participants_per_conference: usize,
    /// Remembered refusals (see `reservation.refusal_cache`).
    pub max_refusals_cached: usize,
    /// Sign-in sessions.
    pub max_sessions: usize,
    /// Stanzas queued for Prosody before the focus stops reading (back-pressure).
    pub outgoing_queue: usize,
    /// SSRCs one participant may signal (Jicofo's `max-ssrcs-per-user`); beyond it a
    /// source-add or session-accept is refused `bad-request`.
    pub max_ssrcs_per_endpoint: usize,
    /// SSRC groups (simulcast, RTX) one participant may signal (Jicofo's
    /// `max-ssrc-groups-per-user`).
    pub max_ssrc_groups_per_endpoint: usize,
}

impl Default for LimitsConfig {
    fn default() -> Self {
        LimitsConfig {
            max_stanza_size: 256 * 1024,
            max_depth: 32,
            max_stanza_nodes: 5000,
            max_pending_conferences: 1000,
            max_conferences: 10_000,
            max_waiters_per_conference: 100,
            max_participants_per_conference: 1000,
            max_refusals_cached: 10_000,
            max_sessions: 100_000,
            outgoing_queue: 4096,
            max_ssrcs_per_endpoint: 20,
            max_ssrc_groups_per_endpoint: 20,
        }
    }
}
