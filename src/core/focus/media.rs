//! Media for a conference's participants (protocol.md §7.3, §7.7, §9.3): our media IQs and
//! what their answers (or their silence) lead to, and Colibri2 endpoint updates. Features by
//! disco, bridge selection, Colibri2 allocation and session-initiate are in
//! [`allocation`](super::allocation); moves to another bridge and the end of sessions when
//! participants leave or conferences end are in [`recovery`](super::recovery).
//!
//! Our media IQs (to bridges and participants) are kept in `media_iqs` with the JID that must
//! answer; each has a deadline, so the table stays bounded whatever the peers do.

use minidom::Element;
use tracing::{debug, warn};
use xmpp_parsers::jid::{BareJid, FullJid};

use super::{Focus, TimerKey};
use crate::core::bridges::HealthCheckId;
use crate::core::colibri::{self, Recovery};
use crate::core::features::Features;
use crate::core::jingle_session::ParticipantMedia;
use crate::core::sources::EndpointSources;
use crate::core::Time;
use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::colibri2::{Colibri2Error, ConferenceModify, Endpoint, MediaSource, WireSource};
use crate::xmpp::ns;

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
    pub(super) fn nick(&self) -> Option<&str> {
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
        self.counters.jingle_sent(&payload);
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
    pub(super) fn forget_media_iqs(&mut self, room: &BareJid, gone: impl Fn(&MediaIqKind) -> bool) {
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

    pub(super) fn participant_caps(&self, room: &BareJid, nick: &str) -> Option<crate::xmpp::jitsi_presence::Caps> {
        self.conferences.get(room)?.participants.get(nick)?.info.caps.clone()
    }

    pub(super) fn media_mut(&mut self, room: &BareJid, nick: &str) -> Option<&mut ParticipantMedia> {
        self.conferences.get_mut(room)?.media.participants.get_mut(nick)
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
