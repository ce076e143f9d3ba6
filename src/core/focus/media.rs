//! Media for a conference's participants (protocol.md §7.3, §7.7, §9.3): features by disco,
//! bridge selection and Colibri2 allocation, session-initiate, moves to another bridge, and
//! the end of sessions when participants leave or conferences end.
//!
//! Our media IQs (to bridges and participants) are kept in `media_iqs` with the JID that must
//! answer; each has a deadline, so the table stays bounded whatever the peers do.

use minidom::Element;
use tracing::{debug, info, warn};
use xmpp_parsers::jid::{BareJid, FullJid};

use super::{Focus, TimerKey};
use crate::core::bridges::{AllocationFailure, HealthCheckId, SelectionRequest};
use crate::core::colibri::{self, BridgeVerdict, Recovery};
use crate::core::features::Features;
use crate::core::jingle_session::{self, Allocation, InitiateParts, JingleSession, ParticipantMedia, SessionState};
use crate::core::sources::EndpointSources;
use crate::core::Time;
use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::colibri2::{
    self, Colibri2Error, ConferenceModified, ConferenceModify, Endpoint, EndpointTransport, ForceMute, Media,
    MediaSource, WireSource,
};
use crate::xmpp::jingle::{self, Action};
use crate::xmpp::ns;

/// A participant left alone keeps its session this long (Jicofo's single-participant-timeout).
pub(super) const SINGLE_PARTICIPANT_TIMEOUT_SECONDS: i64 = 20;

/// Colibri2 updates of one participant awaited at once; beyond, updates go unawaited (their
/// errors unseen), so that a client changing its sources in a loop cannot make the focus hold
/// an entry per change.
const MAX_AWAITED_UPDATES_PER_PARTICIPANT: u32 = 4;

/// How long a bridge or a participant has to answer one of our media IQs (Jicofo's
/// reply-timeout).
pub(super) const REPLY_TIMEOUT_SECONDS: i64 = 15;

/// What one of our media IQs was for.
#[derive(Debug, Clone)]
pub(super) enum MediaIqKind {
    Disco {
        room: BareJid,
        nick: String,
    },
    /// A Colibri2 endpoint create for `nick`'s session `sid`, in our session `bridge_session`
    /// with the bridge.
    Allocate {
        room: BareJid,
        nick: String,
        sid: String,
        bridge_session: String,
    },
    /// A Colibri2 update in our session `bridge_session`; only its errors matter, and only while
    /// that session is still the conference's session on the bridge.
    Update {
        room: BareJid,
        bridge_session: String,
        nick: String,
    },
    /// session-initiate of `nick`'s session `sid`.
    Initiate {
        room: BareJid,
        nick: String,
        sid: String,
    },
    HealthCheck(HealthCheckId),
}

impl MediaIqKind {
    /// The conference the IQ is for (health checks are for no conference).
    fn room(&self) -> Option<&BareJid> {
        match self {
            MediaIqKind::Disco { room, .. }
            | MediaIqKind::Allocate { room, .. }
            | MediaIqKind::Update { room, .. }
            | MediaIqKind::Initiate { room, .. } => Some(room),
            MediaIqKind::HealthCheck(_) => None,
        }
    }

    /// The participant it is for.
    fn nick(&self) -> Option<&str> {
        match self {
            MediaIqKind::Disco { nick, .. }
            | MediaIqKind::Allocate { nick, .. }
            | MediaIqKind::Update { nick, .. }
            | MediaIqKind::Initiate { nick, .. } => Some(nick),
            MediaIqKind::HealthCheck(_) => None,
        }
    }
}

#[derive(Debug, Clone)]
pub(super) struct MediaIq {
    /// Who must answer: a bridge's or an occupant's full JID.
    pub to: String,
    pub kind: MediaIqKind,
}

impl Focus {
    pub(super) fn media_enabled(&self) -> bool {
        self.settings.brewery.is_some()
    }

    /// Sends a media IQ and remembers it until answered or timed out.
    pub(super) fn send_media_iq(
        &mut self,
        now: Time,
        to: &FullJid,
        type_: &str,
        payload: Element,
        kind: MediaIqKind,
    ) -> String {
        let id = self.send_iq("jm", to, type_, payload);
        if let Some(conference) = kind.room().and_then(|room| self.conferences.get_mut(room)) {
            conference.media.iqs.insert(id.clone());
        }
        self.media_iqs.insert(id.clone(), MediaIq { to: to.to_string(), kind });
        let deadline = now + chrono::Duration::seconds(REPLY_TIMEOUT_SECONDS);
        self.timers.set(TimerKey::MediaIq(id.clone()), Some(deadline));
        id
    }

    /// Sends an IQ whose answer does not matter (source signalling, terminations, forwarded
    /// mutes, expires of dropped sessions): nothing is kept for it, so that busy signalling
    /// holds no memory.
    pub(super) fn send_notify_iq(&mut self, to: &FullJid, type_: &str, payload: Element) {
        self.send_iq("jn", to, type_, payload);
    }

    /// Sends an IQ from our real JID with a fresh id (`PREFIX-N`) and returns the id.
    fn send_iq(&mut self, prefix: &str, to: &FullJid, type_: &str, payload: Element) -> String {
        let id = format!("{prefix}-{}", self.out.id());
        let iq = elem("iq", ns::STREAM)
            .with_attr("type", type_)
            .with_attr("id", &id)
            .with_attr("from", self.focus_jid.to_string())
            .with_attr("to", to.to_string())
            .with_child(payload);
        self.out.send(iq);
        id
    }

    /// Whether `bridge_session` is still the conference's session on `bridge`: answers about
    /// an older one (the participant moved, the bridge left and came back) change nothing.
    fn is_current_session(&self, room: &BareJid, bridge: &FullJid, bridge_session: &str) -> bool {
        self.conferences
            .get(room)
            .and_then(|c| c.media.colibri.by_bridge.get(bridge))
            .is_some_and(|s| s.id == bridge_session)
    }

    /// An answer to one of our media IQs; false if it is not one.
    pub(super) fn on_media_response(&mut self, now: Time, stanza: &Element) -> bool {
        let Some(id) = stanza.attr("id") else { return false };
        let Some(pending) = self.media_iqs.get(id) else { return false };
        if stanza.attr("from") != Some(pending.to.as_str()) {
            return false; // ids can be guessed; the sender cannot be forged past Prosody
        }
        let pending = self.media_iqs.remove(id).expect("looked up above");
        self.timers.set(TimerKey::MediaIq(id.to_owned()), None);
        self.untrack_media_iq(&pending.kind, id);
        let error = (stanza.attr("type") == Some("error")).then(|| Colibri2Error::parse(stanza));
        self.on_media_answer(now, &pending, Some(stanza), error);
        true
    }

    /// A media IQ's deadline passed without an answer.
    pub(super) fn media_iq_timed_out(&mut self, now: Time, id: &str) {
        if let Some(pending) = self.media_iqs.remove(id) {
            self.untrack_media_iq(&pending.kind, id);
            self.on_media_answer(now, &pending, None, None);
        }
    }

    fn untrack_media_iq(&mut self, kind: &MediaIqKind, id: &str) {
        if let Some(conference) = kind.room().and_then(|room| self.conferences.get_mut(room)) {
            conference.media.iqs.remove(id);
        }
    }

    /// Forgets the conference's media IQs that `gone` selects: their answers (and timeouts)
    /// would change nothing any more, and nothing is held for them.
    fn forget_media_iqs(&mut self, room: &BareJid, gone: impl Fn(&MediaIqKind) -> bool) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        let ids: Vec<String> = conference
            .media
            .iqs
            .iter()
            .filter(|id| self.media_iqs.get(*id).is_none_or(|iq| gone(&iq.kind)))
            .cloned()
            .collect();
        for id in ids {
            conference.media.iqs.remove(&id);
            self.media_iqs.remove(&id);
            self.timers.set(TimerKey::MediaIq(id), None);
        }
    }

    /// `answer` is `None` on timeout; `error` is set for an error answer.
    fn on_media_answer(
        &mut self,
        now: Time,
        pending: &MediaIq,
        answer: Option<&Element>,
        error: Option<Colibri2Error>,
    ) {
        match &pending.kind {
            MediaIqKind::Disco { room, nick } => {
                let features = answer
                    .filter(|_| error.is_none())
                    .and_then(|a| a.get_child("query", ns::DISCO_INFO))
                    .and_then(Features::from_disco);
                let features = match features {
                    Some((features, disco)) => {
                        let caps = self.participant_caps(room, nick);
                        if let Some(caps) = caps {
                            self.features.insert_verified(&caps, &disco, features);
                        }
                        features
                    }
                    None => {
                        debug!(room = %room, nick, "no disco#info answer: assuming audio, video and data");
                        Features::default()
                    }
                };
                if let Some(media) = self.media_mut(room, nick) {
                    media.features = Some(features);
                }
                self.invite_ready(now, room);
            }
            MediaIqKind::Allocate { room, nick, sid, bridge_session } => {
                let Ok(bridge) = pending.to.parse::<FullJid>() else { return };
                let current_sid =
                    self.media_mut(room, nick).and_then(|m| m.session.as_ref()).is_some_and(|s| &s.sid == sid);
                if !current_sid || !self.is_current_session(room, &bridge, bridge_session) {
                    // The participant left or moved, or the session was dropped (and expired on
                    // the bridge): this answer changes nothing.
                    debug!(room = %room, nick, bridge = %bridge, "answer to an allocation no longer current: ignored");
                    return;
                }
                match (answer, &error) {
                    (Some(answer), None) => self.on_allocated(now, room, nick, sid, &bridge, answer),
                    _ => {
                        let recovery = colibri::allocation_failed(error.as_ref());
                        warn!(room = %room, nick, bridge = %bridge, ?error, ?recovery, "allocation failed");
                        self.recover(now, room, &bridge, Some((nick, sid)), recovery);
                    }
                }
            }
            MediaIqKind::Update { room, bridge_session, nick } => {
                if let Some(media) = self.media_mut(room, nick) {
                    media.awaited_updates = media.awaited_updates.saturating_sub(1);
                }
                let recovery = colibri::update_failed(error.as_ref());
                let Ok(bridge) = pending.to.parse::<FullJid>() else { return };
                if recovery == Recovery::Ignore || !self.is_current_session(room, &bridge, bridge_session) {
                    return;
                }
                if let Recovery::ReinviteEndpoint(nick) = &recovery {
                    let on_session = self
                        .conferences
                        .get(room)
                        .and_then(|c| c.media.colibri.by_bridge.get(&bridge))
                        .is_some_and(|s| s.endpoints.contains(nick));
                    if !on_session {
                        return;
                    }
                }
                warn!(room = %room, bridge = %bridge, ?error, ?recovery, "Colibri2 update failed");
                self.recover(now, room, &bridge, None, recovery);
            }
            MediaIqKind::Initiate { room, nick, sid } => {
                if error.is_some() {
                    warn!(room = %room, nick, ?error, "session-initiate refused");
                    self.end_session(now, room, nick, Some(sid), Some(("general-error", "jingle session failed")));
                }
                // No answer in time counts as accepted (Jicofo does the same).
            }
            MediaIqKind::HealthCheck(check) => {
                let Ok(bridge) = pending.to.parse::<FullJid>() else { return };
                // A timeout needs no call: the registry times its checks out itself.
                let Some(outcome) = answer.and_then(crate::xmpp::brewery::HealthOutcome::from_response) else {
                    return;
                };
                let events = self.bridges.on_health_result(now, &bridge, *check, outcome);
                self.on_bridge_events(now, events);
            }
        }
    }

    fn participant_caps(&self, room: &BareJid, nick: &str) -> Option<crate::xmpp::jitsi_presence::Caps> {
        self.conferences.get(room)?.participants.get(nick)?.info.caps.clone()
    }

    pub(super) fn media_mut(&mut self, room: &BareJid, nick: &str) -> Option<&mut ParticipantMedia> {
        self.conferences.get_mut(room)?.media.participants.get_mut(nick)
    }

    /// A participant joined a live conference: learn its features, then invite when the room
    /// has enough participants.
    pub(super) fn media_participant_joined(&mut self, now: Time, room: &BareJid, nick: &str) {
        if !self.media_enabled() {
            return;
        }
        let caps = self.participant_caps(room, nick);
        let cached = caps.as_ref().and_then(|c| self.features.get(c));
        let Some(conference) = self.conferences.get_mut(room) else { return };
        conference
            .media
            .participants
            .insert(nick.to_owned(), ParticipantMedia { features: cached, ..ParticipantMedia::default() });
        if cached.is_none() {
            let Ok(to) = format!("{room}/{nick}").parse::<FullJid>() else { return };
            let query = elem("query", ns::DISCO_INFO);
            let kind = MediaIqKind::Disco { room: room.clone(), nick: nick.to_owned() };
            self.send_media_iq(now, &to, "get", query, kind);
        }
        self.invite_ready(now, room);
    }

    /// A participant left: its endpoint is expired and its sources forgotten (clients drop a
    /// departed occupant's sources themselves; pitfall 9).
    pub(super) fn media_participant_left(&mut self, now: Time, room: &BareJid, nick: &str) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        let Some(media) = conference.media.participants.remove(nick) else { return };
        conference.media.sources.remove_endpoint(nick);
        conference.media.receivers.remove(nick);
        for receiver in conference.media.receivers.values_mut() {
            receiver.forget(nick);
        }
        // Its disco, allocation, session-initiate and updates: nobody waits for them now.
        self.forget_media_iqs(room, |kind| kind.nick() == Some(nick));
        if let Some(session) = media.session {
            if session.held_remove.is_some() {
                self.timers.set(TimerKey::HeldRemove(room.clone(), nick.to_owned()), None);
            }
            self.expire_endpoint(now, room, &session.bridge, nick);
        }
        // Alone, a participant needs no bridge: its session ends after a while (Jicofo's
        // single-participant timeout) and starts again when someone joins.
        let alone = self.conferences.get(room).is_some_and(|c| c.media.participants.len() == 1);
        if alone {
            let at = now + chrono::Duration::seconds(SINGLE_PARTICIPANT_TIMEOUT_SECONDS);
            self.timers.set(TimerKey::SingleParticipant(room.clone()), Some(at));
        }
    }

    /// The single-participant timeout passed: a participant still alone loses its session.
    pub(super) fn single_participant_timed_out(&mut self, now: Time, room: &BareJid) {
        let Some(conference) = self.conferences.get(room) else { return };
        if conference.media.participants.len() != 1 {
            return;
        }
        let Some(nick) = conference.media.participants.keys().next().cloned() else { return };
        if self.media_mut(room, &nick).is_some_and(|m| m.session.is_some()) {
            info!(room = %room, nick, "alone for a while: ending its media session");
            self.end_session(now, room, &nick, None, Some(("expired", "alone in the conference")));
        }
    }

    /// Invites everyone who can be invited, once the room has its minimum of participants.
    pub(super) fn invite_ready(&mut self, now: Time, room: &BareJid) {
        let Some(conference) = self.conferences.get(room) else { return };
        if conference.media.participants.len() < self.settings.min_participants {
            return;
        }
        let ready: Vec<String> = conference
            .media
            .participants
            .iter()
            .filter(|(_, p)| p.features.is_some() && p.session.is_none())
            .map(|(nick, _)| nick.clone())
            .collect();
        for nick in ready {
            self.invite(now, room, &nick);
        }
    }

    /// Selects a bridge and asks it for an endpoint; session-initiate follows its answer.
    pub(super) fn invite(&mut self, now: Time, room: &BareJid, nick: &str) {
        let Some(conference) = self.conferences.get(room) else { return };
        let Some(participant) = conference.media.participants.get(nick) else { return };
        let region = conference.participants.get(nick).and_then(|p| p.info.region.clone());
        let stats_id = conference.participants.get(nick).and_then(|p| p.info.stats_id.clone());
        let per_bridge = conference.media.colibri.participants_per_bridge();
        let request = SelectionRequest {
            conference_bridges: &per_bridge,
            participant_region: region.as_deref(),
            pinned_version: None,
            // No relays (Octo) yet: a conference stays on one bridge.
            allow_new_bridge: per_bridge.is_empty(),
        };
        let offer = participant.offer(&self.settings.codecs);
        let force_mute = ForceMute { audio: participant.force_mute_audio, video: participant.force_mute_video };
        let bridge = match self.bridges.select(now, &request) {
            Ok(bridge) => bridge,
            Err(why) => {
                warn!(room = %room, nick, %why, "no bridge for this participant");
                return self.set_bridge_not_available(room, true);
            }
        };
        self.set_bridge_not_available(room, false);
        self.bridges.endpoint_added(now, &bridge);
        let conference = self.conferences.get_mut(room).expect("looked up above");
        let meeting_id = conference.media.colibri.meeting_id.clone();
        let rng = &mut self.rng;
        let (session, create) = conference.media.colibri.open(&bridge, || super::new_uuid(rng));
        session.endpoints.insert(nick.to_owned());
        let bridge_session_id = session.id.clone();
        let mut media = Vec::new();
        for (media_type, formats) in [("audio", &offer.audio), ("video", &offer.video)] {
            if let Some(formats) = formats {
                media.push(Media { media_type: media_type.to_owned(), formats: formats.clone() });
            }
        }
        let endpoint = Endpoint {
            create: true,
            stats_id,
            capabilities: vec![colibri2::CAPABILITY_SOURCE_NAMES.to_owned()],
            media,
            transport: Some(EndpointTransport::Create { ice_controlling: true, sctp: offer.data }),
            force_mute: (force_mute.audio || force_mute.video).then_some(force_mute),
            ..Endpoint::new(nick)
        };
        let request = ConferenceModify {
            meeting_id,
            name: create.then(|| room.to_string()),
            create,
            expire: false,
            endpoints: vec![endpoint],
        };
        let sid = new_sid(&mut self.rng);
        let kind = MediaIqKind::Allocate {
            room: room.clone(),
            nick: nick.to_owned(),
            sid: sid.clone(),
            bridge_session: bridge_session_id.clone(),
        };
        let iq = self.send_media_iq(now, &bridge, "get", request.to_element(), kind);
        info!(room = %room, nick, bridge = %bridge, sid, "allocating on a bridge");
        if let Some(media) = self.media_mut(room, nick) {
            media.session = Some(JingleSession::new(sid, bridge, bridge_session_id, iq, offer));
        }
    }

    /// The bridge allocated the endpoint: send session-initiate.
    fn on_allocated(&mut self, now: Time, room: &BareJid, nick: &str, sid: &str, bridge: &FullJid, answer: &Element) {
        let current = self.media_mut(room, nick).and_then(|m| m.session.as_ref()).is_some_and(|s| s.sid == sid);
        if !current {
            return; // the participant left or moved meanwhile; its endpoint is expired elsewhere
        }
        let modified = answer.get_child("conference-modified", ns::COLIBRI2).map(ConferenceModified::parse);
        let endpoint = match modified {
            Some(Ok(modified)) => {
                let endpoint = modified.endpoints.into_iter().find(|e| e.id == nick);
                if !modified.sources.is_empty() {
                    if let Some(session) =
                        self.conferences.get_mut(room).and_then(|c| c.media.colibri.by_bridge.get_mut(bridge))
                    {
                        session.feedback = modified.sources;
                    }
                }
                endpoint
            }
            _ => None,
        };
        let Some(session) = self.media_mut(room, nick).and_then(|m| m.session.clone()) else { return };
        let Some(transport) = endpoint.as_ref().and_then(|e| e.transport.clone()) else {
            warn!(room = %room, nick, bridge = %bridge, "the bridge's answer has no transport: trying another bridge");
            return self.recover(
                now,
                room,
                bridge,
                Some((nick, sid)),
                Recovery::DropSession { bridge: BridgeVerdict::NonOperational, fresh_meeting_id: false },
            );
        };
        let allocation = Allocation {
            transport,
            sctp_port: endpoint.and_then(|e| e.sctp_port),
            region: self.bridges.get(bridge).and_then(|b| b.region().map(str::to_owned)),
        };
        let (audio_sources, video_sources, json_sources) = self.initial_sources(room, nick);
        let start_muted = self.start_muted(room, nick);
        let parts = InitiateParts {
            sid: sid.to_owned(),
            initiator: self.focus_jid.to_string(),
            bridge_session_id: session.bridge_session_id.clone(),
            audio_sources,
            video_sources,
            json_sources,
            start_muted,
        };
        let initiate = jingle_session::session_initiate(&session.offer, &allocation, parts);
        let Ok(to) = format!("{room}/{nick}").parse::<FullJid>() else { return };
        let kind = MediaIqKind::Initiate { room: room.clone(), nick: nick.to_owned(), sid: sid.to_owned() };
        self.send_media_iq(now, &to, "set", initiate, kind);
        if let Some(session) = self.media_mut(room, nick).and_then(|m| m.session.as_mut()) {
            session.state = SessionState::Initiated;
        }
        info!(room = %room, nick, sid, "session-initiate sent");
    }

    /// Start-muted for a new session (§7.4): the participants after the first N (by join
    /// order among those present) start muted when the conference asked for it.
    fn start_muted(&self, room: &BareJid, nick: &str) -> Option<(bool, bool)> {
        let conference = self.conferences.get(room)?;
        let seq = conference.participants.get(nick)?.seq;
        let position = 1 + conference.participants.values().filter(|p| p.seq < seq).count();
        let audio = conference.media.start_audio_muted.is_some_and(|limit| position > limit);
        let video = conference.media.start_video_muted.is_some_and(|limit| position > limit);
        (audio || video).then_some((audio, video))
    }

    /// Carries out what a Colibri2 error means; `failed` names the allocation that failed.
    pub(super) fn recover(
        &mut self,
        now: Time,
        room: &BareJid,
        bridge: &FullJid,
        failed: Option<(&str, &str)>,
        recovery: Recovery,
    ) {
        match recovery {
            Recovery::Ignore => {}
            Recovery::Abandon => {
                if let Some((nick, sid)) = failed {
                    self.end_session(now, room, nick, Some(sid), None);
                }
            }
            Recovery::ReinviteEndpoint(nick) => self.move_participant(now, room, &nick),
            Recovery::DropSession { bridge: verdict, fresh_meeting_id } => {
                match verdict {
                    BridgeVerdict::Keep => {}
                    BridgeVerdict::NonOperational => {
                        self.bridges.on_allocation_failure(now, bridge, AllocationFailure::NonOperational)
                    }
                    BridgeVerdict::GracefulShutdown => {
                        self.bridges.on_allocation_failure(now, bridge, AllocationFailure::GracefulShutdown)
                    }
                }
                if let Some(conference) = self.conferences.get_mut(room) {
                    if fresh_meeting_id {
                        conference.media.colibri.meeting_id = super::new_uuid(&mut self.rng);
                    }
                }
                self.drop_bridge_session(now, room, bridge);
            }
        }
    }

    /// The conference stops using `bridge`: everyone on it moves to another bridge. A bridge
    /// still in the brewery is told to expire the session first (before any new create on the
    /// same link), so that it neither keeps the old conference nor refuses a new one with the
    /// same meeting id.
    pub(super) fn drop_bridge_session(&mut self, now: Time, room: &BareJid, bridge: &FullJid) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        let Some(session) = conference.media.colibri.by_bridge.remove(bridge) else { return };
        if self.bridges.get(bridge).is_some() {
            let expire =
                ConferenceModify { meeting_id: session.meeting_id, expire: true, ..ConferenceModify::default() };
            self.send_notify_iq(bridge, "get", expire.to_element());
        }
        let Some(conference) = self.conferences.get_mut(room) else { return };
        let on_bridge: Vec<String> = conference.media.on_bridge(bridge).map(str::to_owned).collect();
        for nick in on_bridge {
            self.move_participant(now, room, &nick);
        }
    }

    /// Re-invite (§7.7, RestartJingle): the participant's sources go from everyone, its session
    /// ends ("moving"), and a fresh allocation and session-initiate follow. Moves are limited per
    /// participant so a bridge that fails every allocation cannot keep the focus busy.
    pub(super) fn move_participant(&mut self, now: Time, room: &BareJid, nick: &str) {
        let Some(media) = self.media_mut(room, nick) else { return };
        let allowed = media.moves.try_move(now);
        let sid = media.session.as_ref().map(|s| s.sid.clone());
        self.end_session(now, room, nick, sid.as_deref(), Some(("success", "moving")));
        if allowed {
            self.invite_ready(now, room);
        } else {
            warn!(room = %room, nick, "moved too often within a minute: invited again in a minute");
            let retry = now + chrono::Duration::minutes(1);
            self.timers.set(TimerKey::Reinvite(room.clone()), Some(retry));
        }
    }

    /// A restart the participant asked for (ICE failed): its session ends and a new one starts
    /// at once, whatever the room's size (the participant already had media).
    pub(super) fn restart_session(&mut self, now: Time, room: &BareJid, nick: &str) {
        let sid = self.media_mut(room, nick).and_then(|m| m.session.as_ref()).map(|s| s.sid.clone());
        self.end_session(now, room, nick, sid.as_deref(), Some(("success", "restarting")));
        if self.media_mut(room, nick).is_some_and(|m| m.features.is_some()) {
            self.invite(now, room, nick);
        }
    }

    /// Ends `nick`'s current session (if `sid` is given it must match): sources removed from
    /// the others, endpoint expired, session-terminate sent when one was initiated and
    /// `terminate` is given.
    pub(super) fn end_session(
        &mut self,
        now: Time,
        room: &BareJid,
        nick: &str,
        sid: Option<&str>,
        terminate: Option<(&str, &str)>,
    ) {
        let Some(media) = self.media_mut(room, nick) else { return };
        if sid.is_some_and(|sid| media.session.as_ref().is_none_or(|s| s.sid != sid)) {
            return;
        }
        let Some(session) = media.session.take() else { return };
        media.remember_sid(&session.sid);
        // The answers to its allocation and session-initiate no longer matter.
        self.forget_media_iqs(room, |kind| match kind {
            MediaIqKind::Allocate { sid, .. } | MediaIqKind::Initiate { sid, .. } => *sid == session.sid,
            _ => false,
        });
        let mut removed =
            self.conferences.get_mut(room).map(|c| c.media.sources.remove_endpoint(nick)).unwrap_or_default();
        if let Some(held) = &session.held_remove {
            // Removed earlier but not told yet (see `jingle::MSID_FLIP_HOLD_MILLISECONDS`).
            removed.extend_with(held);
            self.timers.set(TimerKey::HeldRemove(room.clone(), nick.to_owned()), None);
        }
        if !removed.is_empty() {
            self.propagate_remove(now, room, nick, &removed);
        }
        if let Some(conference) = self.conferences.get_mut(room) {
            conference.media.receivers.remove(nick);
        }
        let bridge_known = self.conferences.get(room).is_some_and(|c| {
            c.media.colibri.by_bridge.get(&session.bridge).is_some_and(|s| s.endpoints.contains(nick))
        });
        if bridge_known {
            self.expire_endpoint(now, room, &session.bridge, nick);
        }
        if let (Some((condition, text)), false) = (terminate, matches!(session.state, SessionState::Allocating { .. }))
        {
            let Ok(to) = format!("{room}/{nick}").parse::<FullJid>() else { return };
            let mut terminate =
                jingle::jingle(Action::SessionTerminate, &session.sid, Some(&self.focus_jid.to_string()));
            terminate.append_child(jingle::reason(condition, Some(text)));
            self.send_notify_iq(&to, "set", terminate);
        }
    }

    /// Expires one endpoint on its bridge; the bridge's conference too when it was the last.
    pub(super) fn expire_endpoint(&mut self, now: Time, room: &BareJid, bridge: &FullJid, nick: &str) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        let Some(session) = conference.media.colibri.by_bridge.get_mut(bridge) else { return };
        session.endpoints.remove(nick);
        let (meeting_id, bridge_session) = (session.meeting_id.clone(), session.id.clone());
        if session.endpoints.is_empty() {
            conference.media.colibri.by_bridge.remove(bridge);
            let request = ConferenceModify { meeting_id, expire: true, ..ConferenceModify::default() };
            self.send_notify_iq(bridge, "get", request.to_element());
        } else {
            let endpoint = Endpoint { expire: true, ..Endpoint::new(nick) };
            let request = ConferenceModify { meeting_id, endpoints: vec![endpoint], ..ConferenceModify::default() };
            let kind = MediaIqKind::Update { room: room.clone(), bridge_session, nick: nick.to_owned() };
            match self.media_mut(room, nick) {
                Some(media) if media.awaited_updates < MAX_AWAITED_UPDATES_PER_PARTICIPANT => {
                    media.awaited_updates += 1;
                    self.send_media_iq(now, bridge, "get", request.to_element(), kind);
                }
                // A participant that left (or has its maximum of updates awaited): nobody waits.
                _ => self.send_notify_iq(bridge, "get", request.to_element()),
            }
        }
    }

    /// Sends an endpoint update (transport, sources, mute, last-n) to the participant's bridge.
    pub(super) fn update_endpoint(&mut self, now: Time, room: &BareJid, nick: &str, endpoint: Endpoint) {
        let Some(conference) = self.conferences.get(room) else { return };
        let Some(session) = conference.media.participants.get(nick).and_then(|p| p.session.as_ref()) else { return };
        let bridge = session.bridge.clone();
        let Some(bridge_session) = conference.media.colibri.by_bridge.get(&bridge) else { return };
        let request = ConferenceModify {
            meeting_id: bridge_session.meeting_id.clone(),
            endpoints: vec![endpoint],
            ..ConferenceModify::default()
        };
        let kind = MediaIqKind::Update {
            room: room.clone(),
            bridge_session: bridge_session.id.clone(),
            nick: nick.to_owned(),
        };
        let Some(media) = self.media_mut(room, nick) else { return };
        if media.awaited_updates >= MAX_AWAITED_UPDATES_PER_PARTICIPANT {
            return self.send_notify_iq(&bridge, "get", request.to_element());
        }
        media.awaited_updates += 1;
        self.send_media_iq(now, &bridge, "get", request.to_element(), kind);
    }

    /// The conference ends: every bridge session is expired (participants' sessions end with
    /// the room). Nothing waits for the answers: the conference is gone.
    pub(super) fn media_conference_ended(&mut self, media: crate::core::media::ConferenceMedia) {
        for id in &media.iqs {
            self.media_iqs.remove(id);
            self.timers.set(TimerKey::MediaIq(id.clone()), None);
        }
        for (bridge, session) in &media.colibri.by_bridge {
            let request = ConferenceModify {
                meeting_id: session.meeting_id.clone(),
                expire: true,
                ..ConferenceModify::default()
            };
            self.send_notify_iq(bridge, "get", request.to_element());
        }
    }

    /// After a reconnection: every session ends (session-terminate, bridge sessions expired);
    /// participants are invited afresh when their presence comes back with our rejoin.
    pub(super) fn media_reset(&mut self, room: &BareJid, media: crate::core::media::ConferenceMedia) {
        for (nick, participant) in &media.participants {
            let Some(session) = &participant.session else { continue };
            if matches!(session.state, SessionState::Allocating { .. }) {
                continue;
            }
            let Ok(to) = format!("{room}/{nick}").parse::<FullJid>() else { continue };
            let mut terminate =
                jingle::jingle(Action::SessionTerminate, &session.sid, Some(&self.focus_jid.to_string()));
            terminate.append_child(jingle::reason("success", Some("moving")));
            self.send_notify_iq(&to, "set", terminate);
        }
        self.media_conference_ended(media);
    }

    /// Our presence in the room carries `<bridgeNotAvailable/>` while no bridge can be had.
    pub(super) fn set_bridge_not_available(&mut self, room: &BareJid, unavailable: bool) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        if conference.media.bridge_not_available == unavailable {
            return;
        }
        conference.media.bridge_not_available = unavailable;
        let mut extensions = crate::xmpp::jitsi_presence::focus_extensions();
        if unavailable {
            extensions.push(elem("bridgeNotAvailable", ns::FOCUS));
        }
        let mut presence = elem("presence", ns::STREAM)
            .with_attr("from", self.focus_jid.to_string())
            .with_attr("to", super::occupant(room).to_string());
        for extension in extensions {
            presence.append_child(extension);
        }
        self.out.send(presence);
    }
}

/// The Colibri2 `<sources>` of one endpoint: one `<media-source>` per source name.
pub(super) fn media_sources(endpoint: &str, sources: &EndpointSources) -> Vec<MediaSource> {
    let mut by_name: Vec<MediaSource> = Vec::new();
    for source in &sources.sources {
        let name = source.name.clone().unwrap_or_else(|| format!("{endpoint}-{}0", source.media.letter()));
        let entry = match by_name.iter_mut().position(|m| m.id == name) {
            Some(i) => &mut by_name[i],
            None => {
                by_name.push(MediaSource {
                    media_type: source.media.as_str().to_owned(),
                    id: name.clone(),
                    sources: Vec::new(),
                    groups: Vec::new(),
                });
                by_name.last_mut().expect("just pushed")
            }
        };
        entry.sources.push(WireSource { ssrc: source.ssrc, name: Some(name), video_type: source.video_type.clone() });
    }
    for group in &sources.groups {
        let owner = by_name.iter_mut().find(|m| m.sources.iter().any(|s| group.ssrcs.contains(&s.ssrc)));
        if let Some(media_source) = owner {
            media_source.groups.push((group.semantics.as_str().to_owned(), group.ssrcs.clone()));
        }
    }
    by_name
}

/// A Jingle `sid`: 64 random bits in lower-case base 32, like Jicofo's.
fn new_sid(rng: &mut rand::rngs::StdRng) -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz234567";
    let mut bits: u64 = rand::Rng::gen(rng);
    (0..13)
        .map(|_| {
            let c = ALPHABET[(bits & 31) as usize] as char;
            bits >>= 5;
            c
        })
        .collect()
}
