//! What the focus reports about itself, for the runtime's `/stats`, `/metrics` and `/debug`:
//!
//! - [`Stats`] ([`Focus::stats`](super::Focus::stats)): a snapshot of gauges (conferences,
//!   participants, Jingle sessions, bridges) and the cumulative [`Counters`] the focus keeps
//!   as inputs arrive. Field names follow Jicofo's `jitsi_jicofo_*` metrics where one exists
//!   (see each field).
//! - [`Focus::debug_overview`](super::Focus::debug_overview) and
//!   [`Focus::debug_conference`](super::Focus::debug_conference): operators' JSON views of the
//!   conferences, built here from a [`Conference`]. They name real JIDs; the HTTP layer keeps
//!   them off by default.
//!
//! Nothing here grows: the counters are fixed fields (Jingle actions are a closed set plus
//! `other`), and the views are bounded by what the core holds (see [`Limits`](super::Limits)).

use std::collections::BTreeMap;

use chrono::SecondsFormat;
use minidom::Element;
use serde::Serialize;
use serde_json::{json, Value};

use super::conference::{Conference, Participant, Phase};
use super::features::Features;
use super::jingle_session::{ParticipantMedia, SessionState};
use super::reservation::{HttpOutcome, Verdict};
use super::sources::EndpointSources;
use super::Time;
use crate::xmpp::jingle::Action;
use crate::xmpp::muc::Affiliation;
use crate::xmpp::ns;

/// Buckets of [`Stats::conference_sizes`]: conferences of 0, 1, … 20 participants, and the last
/// one for more than 20 (as the `conference_sizes` array of Jicofo's and the bridge's `/stats`).
pub const CONFERENCE_SIZE_BUCKETS: usize = 22;

/// The Jingle actions counted by name in [`Counters::jingle_sent`] and
/// [`Counters::jingle_received`]; any other action counts as `other`. Legacy `addsource` and
/// `removesource` count as `source-add` and `source-remove`.
pub const JINGLE_ACTIONS: [&str; 11] = [
    "session-initiate",
    "session-accept",
    "session-terminate",
    "session-info",
    "transport-info",
    "transport-replace",
    "transport-accept",
    "transport-reject",
    "source-add",
    "source-remove",
    "other",
];

/// A snapshot of the focus ([`Focus::stats`](super::Focus::stats)).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Stats {
    /// Conferences, starting or live (`jitsi_jicofo_conferences`).
    pub conferences: u64,
    /// Conferences not live yet: reserving, joining or configuring their room (also a live one
    /// rejoining after a reconnection).
    pub conferences_starting: u64,
    /// Occupants the focus tracks as participants, the focus itself not included
    /// (`jitsi_jicofo_participants`).
    pub participants: u64,
    /// Participants of the largest conference (`jitsi_jicofo_largest_conference`).
    pub largest_conference: u64,
    /// Conferences by size: index `n` counts conferences of `n` participants, the last index
    /// (`CONFERENCE_SIZE_BUCKETS - 1` = 21) those of more than 20.
    pub conference_sizes: Vec<u64>,
    /// Sum over conferences of n·(n−1) (`jitsi_jicofo_participants_pairs`, Jicofo's
    /// `endpoint_pairs`): how many streams a full mesh of receivers would carry.
    pub participant_pairs: u64,
    /// Participants' Jingle sessions by state.
    pub jingle_sessions: JingleSessionCounts,
    /// Sign-in sessions (authentication).
    pub sessions: u64,
    /// Reservations the focus still has to delete (outbox entries, retried until confirmed).
    pub pending_reservation_deletes: u64,
    /// The component link to Prosody is up.
    pub component_connected: bool,
    /// The focus is draining before a stop: no new conferences.
    pub draining: bool,
    /// The focus is an occupant of the bridges' brewery room.
    pub brewery_joined: bool,
    /// Every bridge the focus knows, in JID order.
    pub bridges: Vec<BridgeStats>,
    /// `jitsi_jicofo_bridge_selector_bridge_count`.
    pub bridge_count: u64,
    /// Bridges not marked failed by a health check or an allocation
    /// (`jitsi_jicofo_bridge_selector_bridge_count_operational`).
    pub operational_bridge_count: u64,
    /// Bridges in graceful shutdown or shutting down
    /// (`jitsi_jicofo_bridge_selector_bridge_count_in_shutdown`).
    pub in_shutdown_bridge_count: u64,
    /// Cumulative: bridges that left the brewery without having announced a shutdown
    /// (`jitsi_jicofo_bridge_selector_lost_bridges`).
    pub lost_bridges: u64,
    /// Cumulative counters, serialized inline (flat, as Jicofo's `/stats`).
    #[serde(flatten)]
    pub counters: Counters,
}

/// Participants' Jingle sessions by [`SessionState`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct JingleSessionCounts {
    /// Waiting for the bridge to allocate the endpoint; no Jingle sent yet.
    pub allocating: u64,
    /// session-initiate sent, no session-accept yet.
    pub initiated: u64,
    /// session-accept received.
    pub active: u64,
}

/// One bridge as the focus sees it.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct BridgeStats {
    /// Its occupant JID in the brewery.
    pub jid: String,
    /// Not marked failed (health checks, allocation failures).
    pub operational: bool,
    /// It takes no new conferences (presence or a refused allocation said so).
    pub graceful_shutdown: bool,
    /// It is shutting down: its participants were moved.
    pub shutting_down: bool,
    /// Its presence says `drain` (assumed until a presence says otherwise).
    pub draining: bool,
    /// The stress it last reported.
    pub stress: f64,
    pub region: Option<String>,
    /// `version-release` when both are known, else the version.
    pub version: Option<String>,
    pub relay_id: Option<String>,
    /// The `healthy` stat of its presence, if any (informative only).
    pub healthy_reported: Option<bool>,
    /// Conferences with a Colibri2 session on it.
    pub conferences: u64,
    /// Endpoints the focus allocated on it (`jitsi_jicofo_bridge_endpoints{jvb}`).
    pub endpoints: u64,
}

/// Counters since the focus started; they only grow.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    /// Conference IQs (`<conference xmlns='http://jitsi.org/protocol/focus'>` set) handled
    /// (`jitsi_jicofo_conference_requests`).
    pub conference_requests: u64,
    /// Of those, requests for a room that had no conference
    /// (`jitsi_jicofo_conference_requests_new`).
    pub conference_requests_new: u64,
    /// Conference requests answered with an error: malformed, not authorized, or refused by
    /// the reservation API (each waiting request of a refused conference counts).
    pub conference_requests_errors: u64,
    /// Conferences that went live for the first time (`jitsi_jicofo_conferences_created`).
    pub conferences_created: u64,
    /// Participants that joined a room of ours (a rejoin after a reconnection counts again).
    pub participants_joined: u64,
    /// Participants re-invited on another bridge session because theirs failed: the bridge was
    /// lost or failed, or it lost the endpoint (`jitsi_jicofo_participants_moved`).
    pub participants_moved: u64,
    /// Bridge sessions a conference dropped (bridge lost, failed or shutting down)
    /// (`jitsi_jicofo_bridges_removed`).
    pub bridges_removed: u64,
    /// session-terminate with `<bridge-session restart='true'>` from participants
    /// (`jitsi_jicofo_participants_restart_requested`), granted or rate-limited.
    pub participants_restart_requested: u64,
    /// session-info with `ice-state` failed for the current bridge session
    /// (`jitsi_jicofo_participants_ice_failed`), granted or rate-limited.
    pub participants_ice_failed: u64,
    /// `Connected` inputs: the component link came up.
    pub component_connects: u64,
    /// `Connected` inputs after the first one.
    pub component_reconnects: u64,
    /// `Disconnected` inputs while connected (`jitsi_jicofo_xmpp_disconnects`).
    pub component_disconnects: u64,
    /// Answers of the reservation API to `POST /conference` and to the `GET` after a 409.
    pub reservation_calls: ReservationCalls,
    /// Jingle IQs the focus sent, by action (`jitsi_jicofo_jingle_<action>_sent`).
    pub jingle_sent: BTreeMap<&'static str, u64>,
    /// Jingle IQs participants sent to the focus, by action
    /// (`jitsi_jicofo_jingle_<action>_received`).
    pub jingle_received: BTreeMap<&'static str, u64>,
}

/// Reservation API answers by what they meant.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ReservationCalls {
    /// A valid reservation (2xx).
    pub allowed: u64,
    /// The API refused: a 4xx other than 409 (403 and the like).
    pub refused: u64,
    /// 409: the conference exists under another reservation id.
    pub conflict: u64,
    /// Nothing usable: 5xx, timeout, unreachable, redirect, or an invalid answer.
    pub failed: u64,
}

impl Counters {
    pub(crate) fn connected(&mut self) {
        self.component_reconnects += u64::from(self.component_connects > 0);
        self.component_connects += 1;
    }

    /// `payload` is an IQ's payload the focus sends: counted if it is Jingle.
    pub(crate) fn jingle_sent(&mut self, payload: &Element) {
        if let Some(action) = jingle_action(payload) {
            *self.jingle_sent.entry(action).or_default() += 1;
        }
    }

    /// `payload` is a Jingle IQ's payload from a participant.
    pub(crate) fn jingle_received(&mut self, payload: &Element) {
        if let Some(action) = jingle_action(payload) {
            *self.jingle_received.entry(action).or_default() += 1;
        }
    }

    /// One answer of the reservation API, as judged.
    pub(crate) fn reservation_call(&mut self, verdict: &Verdict, outcome: &HttpOutcome) {
        let calls = &mut self.reservation_calls;
        match (verdict, outcome) {
            (Verdict::Granted(_), _) => calls.allowed += 1,
            (Verdict::Conflict { .. }, _) | (Verdict::Refused(_), HttpOutcome::Response { status: 409, .. }) => {
                calls.conflict += 1
            }
            (Verdict::Refused(_), HttpOutcome::Response { status: 400..=499, .. }) => calls.refused += 1,
            (Verdict::Refused(_) | Verdict::Retry, _) => calls.failed += 1,
        }
    }
}

/// The counted name of a Jingle payload's action; `None` if `payload` is not Jingle.
fn jingle_action(payload: &Element) -> Option<&'static str> {
    if !payload.is("jingle", ns::JINGLE) {
        return None;
    }
    Some(match Action::parse(payload.attr("action").unwrap_or_default()) {
        Action::Unsupported => "other",
        action => action.as_str(),
    })
}

/// The conference-size histogram and pair count of conferences of these sizes.
pub(crate) fn size_gauges(sizes: impl Iterator<Item = usize>, stats: &mut Stats) {
    stats.conference_sizes = vec![0; CONFERENCE_SIZE_BUCKETS];
    for n in sizes {
        let n = n as u64;
        stats.conferences += 1;
        stats.participants += n;
        stats.largest_conference = stats.largest_conference.max(n);
        stats.participant_pairs += n * n.saturating_sub(1);
        stats.conference_sizes[(n as usize).min(CONFERENCE_SIZE_BUCKETS - 1)] += 1;
    }
}

/// Counts `media`'s Jingle sessions by state.
pub(crate) fn count_sessions(media: &ParticipantMedia, counts: &mut JingleSessionCounts) {
    match media.session.as_ref().map(|s| &s.state) {
        Some(SessionState::Allocating { .. }) => counts.allocating += 1,
        Some(SessionState::Initiated) => counts.initiated += 1,
        Some(SessionState::Active) => counts.active += 1,
        None => {}
    }
}

fn time(t: Time) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn phase_name(phase: &Phase) -> &'static str {
    match phase {
        Phase::Reserving { .. } => "reserving",
        Phase::FetchingConflict { .. } => "fetching-conflict",
        Phase::Joining { .. } => "joining",
        Phase::Configuring { .. } => "configuring",
        Phase::Live => "live",
    }
}

fn session_state_name(state: &SessionState) -> &'static str {
    match state {
        SessionState::Allocating { .. } => "allocating",
        SessionState::Initiated => "initiated",
        SessionState::Active => "active",
    }
}

/// One line of [`Focus::debug_overview`](super::Focus::debug_overview).
pub(crate) fn conference_summary(room: &str, conference: &Conference) -> Value {
    json!({
        "room": room,
        "phase": phase_name(&conference.phase),
        "participants": conference.participants.len(),
        "bridges": conference.media.colibri.by_bridge.keys().map(ToString::to_string).collect::<Vec<_>>(),
        "meeting_id": conference.meeting_id,
        "created_at": time(conference.created_at),
        "started_at": conference.started_at.map(time),
    })
}

/// [`Focus::debug_conference`](super::Focus::debug_conference) of one conference.
pub(crate) fn conference_detail(room: &str, conference: &Conference) -> Value {
    let media = &conference.media;
    let reservation = conference.reservation.as_ref().map(|r| {
        json!({
            "id": r.id,
            "name": r.name,
            "mail_owner": r.mail_owner,
            "start_time": time(r.start_time),
            "duration_seconds": r.duration.num_seconds(),
            "ends_at": time(r.ends_at()),
            "max_occupants": r.max_occupants,
        })
    });
    let participants: Vec<Value> = conference
        .participants
        .iter()
        .map(|(nick, participant)| participant_detail(conference, nick, participant))
        .collect();
    let bridge_sessions: Vec<Value> = media
        .colibri
        .by_bridge
        .iter()
        .map(|(bridge, session)| {
            json!({
                "bridge": bridge.to_string(),
                "id": session.id,
                "meeting_id": session.meeting_id,
                "create_sent": session.create_sent,
                "endpoints": session.endpoints,
                "feedback_sources": session.feedback.iter().map(|m| m.sources.len()).sum::<usize>(),
            })
        })
        .collect();
    json!({
        "room": room,
        "name": conference.name,
        "phase": phase_name(&conference.phase),
        "phase_detail": format!("{:?}", conference.phase),
        "meeting_id": conference.meeting_id,
        "colibri_meeting_id": media.colibri.meeting_id,
        "reservation_id": conference.reservation_id(),
        "reservation": reservation,
        "owner": conference.owner,
        "created_at": time(conference.created_at),
        "started_at": conference.started_at.map(time),
        "initial_deadline": conference.initial_deadline.map(time),
        "waiting_requests": conference.waiters.len(),
        "bridge_not_available": media.bridge_not_available,
        "start_audio_muted": media.start_audio_muted,
        "start_video_muted": media.start_video_muted,
        "ssrcs": media.sources.len_ssrcs(),
        "participants": participants,
        "bridge_sessions": bridge_sessions,
    })
}

fn participant_detail(conference: &Conference, nick: &str, participant: &Participant) -> Value {
    let media = conference.media.participants.get(nick);
    let session = media.and_then(|m| m.session.as_ref()).map(|s| {
        let colibri = conference.media.colibri.by_bridge.get(&s.bridge);
        json!({
            "sid": s.sid,
            "state": session_state_name(&s.state),
            "bridge": s.bridge.to_string(),
            "bridge_session_id": s.bridge_session_id,
            // The bridge has this participant's endpoint in the conference's Colibri2 session.
            "endpoint_allocated": colibri.is_some_and(|c| c.endpoints.contains(nick)),
            "held_remove": s.held_remove.is_some(),
        })
    });
    let info = &participant.info;
    json!({
        "nick": nick,
        "real_jid": participant.real_jid.as_ref().map(ToString::to_string),
        "affiliation": participant.affiliation.as_str(),
        "moderator": participant.affiliation == Affiliation::Owner,
        "owner_requested": participant.owner_requested,
        "service": participant.is_service,
        "joined_at": time(participant.joined_at),
        "stats_id": info.stats_id,
        "region": info.region,
        "audio_muted": info.audio_muted,
        "video_muted": info.video_muted,
        "codecs": info.codecs,
        "features": media.and_then(|m| m.features).map(|f| feature_names(&f)),
        "session": session,
        "previous_sids": media.map(|m| m.previous_sids.iter().collect::<Vec<_>>()).unwrap_or_default(),
        "force_mute_audio": media.is_some_and(|m| m.force_mute_audio),
        "force_mute_video": media.is_some_and(|m| m.force_mute_video),
        "sources": sources_detail(conference.media.sources.of(nick).unwrap_or(&EndpointSources::default())),
    })
}

/// The features a participant has, by name.
fn feature_names(f: &Features) -> Vec<&'static str> {
    [
        ("audio", f.audio),
        ("video", f.video),
        ("sctp", f.sctp),
        ("rtx", f.rtx),
        ("remb", f.remb),
        ("tcc", f.tcc),
        ("opus-red", f.opus_red),
        ("source-names", f.source_names),
        ("ssrc-rewriting", f.ssrc_rewriting),
        ("json-sources", f.json_sources),
        ("receive-multiple-streams", f.receive_multiple_streams),
        ("audio-mute", f.audio_mute),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect()
}

fn sources_detail(sources: &EndpointSources) -> Value {
    let list: Vec<Value> = sources
        .sources
        .iter()
        .map(|s| {
            json!({
                "ssrc": s.ssrc,
                "media": s.media.as_str(),
                "name": s.name,
                "msid": s.msid,
                "video_type": s.video_type,
            })
        })
        .collect();
    let groups: Vec<Value> = sources
        .groups
        .iter()
        .map(|g| json!({ "semantics": g.semantics.as_str(), "media": g.media.as_str(), "ssrcs": g.ssrcs }))
        .collect();
    json!({ "sources": list, "groups": groups })
}
