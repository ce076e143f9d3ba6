//! Participants into media (protocol.md §7.3, §7.4): a participant's features learnt by disco,
//! invitations once the room has its minimum of participants, bridge selection and the
//! Colibri2 endpoint create, session-initiate when the bridge answers, and the participant's
//! leaving (its endpoint expired, a lone participant's session ended after a while).

use minidom::Element;
use tracing::{info, warn};
use xmpp_parsers::jid::{BareJid, FullJid};

use super::media::MediaIqKind;
use super::{Focus, TimerKey};
use crate::core::bridges::SelectionRequest;
use crate::core::colibri::{BridgeVerdict, Recovery};
use crate::core::jingle_session::{self, Allocation, InitiateParts, JingleSession, ParticipantMedia, SessionState};
use crate::core::Time;
use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::colibri2::{
    self, ConferenceModified, ConferenceModify, Endpoint, EndpointTransport, ForceMute, Media,
};
use crate::xmpp::ns;

/// A participant left alone keeps its session this long (Jicofo's single-participant-timeout).
pub(super) const SINGLE_PARTICIPANT_TIMEOUT_SECONDS: i64 = 20;

impl Focus {
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
    pub(super) fn on_allocated(
        &mut self,
        now: Time,
        room: &BareJid,
        nick: &str,
        sid: &str,
        bridge: &FullJid,
        answer: &Element,
    ) {
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
