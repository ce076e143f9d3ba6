//! Jingle from participants (protocol.md §7.6) and moderators' mute requests (§6.5). Every
//! request is answered: a result, or the error Jicofo gives for the same case.

use minidom::Element;
use tracing::{debug, info, warn};
use xmpp_parsers::jid::{BareJid, FullJid};

use super::media::media_sources;
use super::{Focus, TimerKey};
use crate::core::iq::IqEnvelope;
use crate::core::jingle_session::SessionState;
use crate::core::sources::{msid_assigned_by_focus, EndpointSources, SourceError};
use crate::core::Time;
use crate::errors::{self, ErrorEntry, Failure};
use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::colibri2::{Endpoint, EndpointTransport, ForceMute};
use crate::xmpp::jingle::{Action, Jingle};
use crate::xmpp::jingle_sources;
use crate::xmpp::muc::Affiliation;
use crate::xmpp::ns;

type Reply = Result<(), Failure>;

/// How long a source-remove of sources the client gave no msid is held for the source-add
/// that may follow it (the two arrive back to back).
///
/// **Deliberate deviation from Jicofo** (media-facts.md §1, measured with Chromium 156 and
/// lib-jitsi-meet-dist 2.1.5): that client's first answer has no msid (Chromium writes
/// `a=ssrc … msid:` lines only when the remote description has some), so the focus gives its
/// sources msids. Once the client has remote sources with an msid, Chromium adds msids to its
/// local description too, and the client (`SDPDiffer` treats an msid appearing or vanishing as
/// a change) sends a source-remove of all its sources followed by a source-add of the same
/// SSRCs with msids but without their FID groups (unchanged groups are not repeated). Applied
/// literally, the others would lose its tracks, and the ungrouped re-add is refused ("MSID is
/// already used"); each receiver losing its only remote msid flips back the same way. So such a
/// removal is held: a source-add of exactly the same SSRCs puts the sources back as they were
/// and nobody hears of either; anything else, or this delay passing, releases the removal.
const MSID_FLIP_HOLD_MILLISECONDS: i64 = 1000;

/// Refused with a catalog error whose text has no placeholders.
fn refuse(entry: &'static ErrorEntry) -> Reply {
    Err(entry.with(&[]))
}

impl Focus {
    /// A `<jingle>` IQ from an occupant of one of our rooms.
    pub(super) fn on_jingle(&mut self, now: Time, envelope: IqEnvelope, payload: &Element) {
        self.counters.jingle_received(payload);
        let reply = self.handle_jingle(now, &envelope, payload);
        self.reply(&envelope, reply);
    }

    fn reply(&mut self, envelope: &IqEnvelope, reply: Reply) {
        let stanza = match reply {
            Ok(()) => envelope.result(None),
            Err(failure) => envelope.error(failure.error()),
        };
        self.out.send(stanza);
    }

    /// The room and nickname of an occupant JID, if it is in one of our live conferences.
    fn occupant_of(&self, from: &str) -> Option<(BareJid, String)> {
        let jid: FullJid = from.parse().ok()?;
        let room = jid.to_bare();
        let nick = jid.resource().to_string();
        self.conferences.get(&room)?.media.participants.contains_key(&nick).then_some((room, nick))
    }

    fn handle_jingle(&mut self, now: Time, envelope: &IqEnvelope, payload: &Element) -> Reply {
        let jingle = Jingle::parse(payload).map_err(|e| errors::JINGLE_MALFORMED.raw(e.to_string()))?;
        let Some((room, nick)) = self.occupant_of(&envelope.from) else {
            return refuse(&errors::MEDIA_NOT_PARTICIPANT);
        };
        let media = self.media_mut(&room, &nick).expect("occupant_of checked it");
        let Some(session) = media.session.as_ref() else {
            return refuse(&errors::JINGLE_SESSION_ENDED);
        };
        if session.sid != jingle.sid {
            // Jicofo's answers for an earlier session of this participant.
            if media.previous_sids.contains(&jingle.sid) {
                if jingle.action == Action::SessionAccept {
                    return refuse(&errors::JINGLE_SESSION_REPLACED);
                }
                return refuse(&errors::JINGLE_SESSION_INACTIVE);
            }
            return Err(errors::JINGLE_UNKNOWN_SESSION.with(&[("sid", &jingle.sid)]));
        }
        let state = session.state.clone();
        let bridge_session_id = session.bridge_session_id.clone();
        // A held source-remove is settled by the next change of sources (other Jingle, such as
        // the transport-info a client may send in between, leaves it held).
        let changes_sources = matches!(jingle.action, Action::SourceAdd | Action::SourceRemove);
        let held = match self.media_mut(&room, &nick).and_then(|m| m.session.as_mut()) {
            Some(session) if changes_sources => session.held_remove.take(),
            _ => None,
        };
        if let Some(held) = held {
            self.timers.set(TimerKey::HeldRemove(room.clone(), nick.clone()), None);
            if jingle.action == Action::SourceAdd && self.restore_msid_flip(&room, &nick, &jingle, &held) {
                return Ok(());
            }
            self.release_held_remove(now, &room, &nick, &held);
        }
        match jingle.action {
            Action::SessionAccept | Action::TransportAccept => {
                if state != SessionState::Initiated {
                    return refuse(&errors::JINGLE_NOT_INITIATED);
                }
                self.on_session_accept(now, &room, &nick, &jingle)
            }
            Action::TransportInfo => {
                let transport = jingle.contents.iter().find_map(|c| c.transport.clone());
                let Some(transport) = transport.filter(|t| !t.is_empty()) else {
                    return refuse(&errors::JINGLE_MISSING_TRANSPORT);
                };
                let endpoint =
                    Endpoint { transport: Some(EndpointTransport::Update(transport)), ..Endpoint::new(&nick) };
                self.update_endpoint(now, &room, &nick, endpoint);
                Ok(())
            }
            Action::SourceAdd => {
                let incoming = parse_sources(&jingle)?;
                let added = self.add_sources(now, &room, &nick, incoming)?;
                self.after_source_change(now, &room, &nick);
                self.propagate_add(now, &room, &nick, &added);
                Ok(())
            }
            Action::SourceRemove => {
                let outgoing = parse_sources(&jingle)?;
                let conference = self.conferences.get_mut(&room).expect("occupant_of checked it");
                let removed = conference.media.sources.remove(&nick, &outgoing).map_err(source_error)?;
                if !removed.sources.is_empty() && removed.sources.iter().all(|s| msid_assigned_by_focus(&nick, s)) {
                    // Perhaps the first half of an msid flip: tell nobody yet.
                    debug!(room = %room, nick = %nick, "source-remove of sources without the client's msid: held");
                    if let Some(session) = self.media_mut(&room, &nick).and_then(|m| m.session.as_mut()) {
                        session.held_remove = Some(removed);
                    }
                    let deadline = now + chrono::Duration::milliseconds(MSID_FLIP_HOLD_MILLISECONDS);
                    self.timers.set(TimerKey::HeldRemove(room.clone(), nick.clone()), Some(deadline));
                    return Ok(());
                }
                self.after_source_change(now, &room, &nick);
                self.propagate_remove(now, &room, &nick, &removed);
                Ok(())
            }
            Action::SessionTerminate => self.on_session_terminate(now, &room, &nick, &jingle),
            Action::SessionInfo => {
                let failed = jingle.ice_state.as_deref() == Some("failed");
                let current = bridge_session_id;
                match &jingle.bridge_session {
                    Some(bs) if bs.ice_restart => refuse(&errors::JINGLE_ICE_RESTART),
                    Some(bs) if failed && bs.id == current => {
                        self.counters.participants_ice_failed += 1;
                        // The legacy ICE-failed notice counts against the participant's restarts,
                        // like a session-terminate with restart.
                        let allowed = self.media_mut(&room, &nick).is_some_and(|m| m.restarts.try_restart(now));
                        if !allowed {
                            return refuse(&errors::JINGLE_RATE_LIMITED);
                        }
                        info!(room = %room, nick = %nick, "ICE failed: inviting the participant again");
                        self.restart_session(now, &room, &nick);
                        Ok(())
                    }
                    _ => Ok(()), // other ice-state values are only informational
                }
            }
            Action::TransportReject => {
                warn!(room = %room, nick = %nick, "transport-reject");
                Ok(())
            }
            Action::SessionInitiate | Action::TransportReplace | Action::Unsupported => {
                let action: String = jingle.action_name.chars().take(64).collect();
                Err(errors::JINGLE_UNSUPPORTED_ACTION.with(&[("action", &action)]))
            }
        }
    }

    /// The source-add after a held source-remove re-announces exactly the removed SSRCs (the
    /// msid flip): the sources are put back as they were stored — the focus's msids, names and
    /// groups — and nobody is told anything. False if it is something else.
    fn restore_msid_flip(&mut self, room: &BareJid, nick: &str, jingle: &Jingle, held: &EndpointSources) -> bool {
        let Ok(incoming) = parse_sources(jingle) else { return false };
        let key = |s: &crate::core::sources::Source| (s.ssrc, s.media);
        let mut again: Vec<_> = incoming.sources.iter().map(key).collect();
        let mut removed: Vec<_> = held.sources.iter().map(key).collect();
        again.sort();
        again.dedup();
        removed.sort();
        if again != removed || !incoming.groups.iter().all(|g| held.groups.contains(g)) {
            return false;
        }
        let limits = self.settings.source_limits();
        let Some(conference) = self.conferences.get_mut(room) else { return false };
        if conference.media.sources.add(nick, held.clone(), &limits).is_err() {
            return false;
        }
        debug!(room = %room, nick, "msid flip: the held sources are back, nobody is told");
        true
    }

    /// Tells the bridge and the others about a held source-remove after all.
    pub(super) fn release_held_remove(&mut self, now: Time, room: &BareJid, nick: &str, held: &EndpointSources) {
        self.after_source_change(now, room, nick);
        self.propagate_remove(now, room, nick, held);
    }

    /// A held source-remove was not followed by its source-add in time: it was a removal.
    pub(super) fn held_remove_timed_out(&mut self, now: Time, room: &BareJid, nick: &str) {
        let held = self.media_mut(room, nick).and_then(|m| m.session.as_mut()).and_then(|s| s.held_remove.take());
        if let Some(held) = held {
            self.release_held_remove(now, room, nick, &held);
        }
    }

    fn add_sources(
        &mut self,
        now: Time,
        room: &BareJid,
        nick: &str,
        incoming: EndpointSources,
    ) -> Result<EndpointSources, Failure> {
        let limits = self.settings.source_limits();
        let conference = self.conferences.get_mut(room).expect("checked by the caller");
        // The bridges' feedback SSRCs are in every session-initiate: nobody may claim one.
        let feedback = conference.media.colibri.by_bridge.values().flat_map(|s| &s.feedback).flat_map(|m| &m.sources);
        if let Some(taken) = feedback.map(|s| s.ssrc).find(|ssrc| incoming.source(*ssrc).is_some()) {
            return Err(source_error(SourceError::ssrc_already_used(taken)));
        }
        let added = conference.media.sources.add(nick, incoming, &limits).map_err(source_error)?;
        // A held source-remove freed its SSRCs in the conference, but the others still have
        // them: its removal reaches them before anyone's addition of one of those SSRCs, or they
        // would get the SSRC twice.
        let holders: Vec<String> = conference
            .media
            .participants
            .iter()
            .filter(|(_, p)| {
                let held = p.session.as_ref().and_then(|s| s.held_remove.as_ref());
                held.is_some_and(|held| held.sources.iter().any(|s| added.source(s.ssrc).is_some()))
            })
            .map(|(holder, _)| holder.clone())
            .collect();
        for holder in holders {
            self.timers.set(TimerKey::HeldRemove(room.clone(), holder.clone()), None);
            let held =
                self.media_mut(room, &holder).and_then(|m| m.session.as_mut()).and_then(|s| s.held_remove.take());
            if let Some(held) = held {
                self.release_held_remove(now, room, &holder, &held);
            }
        }
        Ok(added)
    }

    fn on_session_accept(&mut self, now: Time, room: &BareJid, nick: &str, jingle: &Jingle) -> Reply {
        let incoming = parse_sources(jingle)?;
        let added = match self.add_sources(now, room, nick, incoming) {
            Ok(added) => added,
            Err(refusal) => {
                // Jicofo ends a session whose accept carries invalid sources.
                warn!(room = %room, nick, why = %refusal.text, "session-accept refused");
                let sid = jingle.sid.clone();
                self.end_session(now, room, nick, Some(&sid), Some(("general-error", "invalid sources")));
                return Err(refusal);
            }
        };
        if let Some(session) = self.media_mut(room, nick).and_then(|m| m.session.as_mut()) {
            session.state = SessionState::Active;
        }
        let transport = jingle.contents.iter().find_map(|c| c.transport.clone()).filter(|t| !t.is_empty());
        let initial_last_n = jingle.contents.iter().find_map(|c| c.initial_last_n);
        let sources = self.conferences.get(room).and_then(|c| c.media.sources.of(nick).cloned()).unwrap_or_default();
        let endpoint = Endpoint {
            transport: transport.map(EndpointTransport::Update),
            sources: Some(media_sources(nick, &sources)),
            initial_last_n,
            ..Endpoint::new(nick)
        };
        self.update_endpoint(now, room, nick, endpoint);
        info!(room = %room, nick, sid = %jingle.sid, sources = sources.sources.len(), "session accepted");
        self.propagate_add(now, room, nick, &added);
        // Whatever changed while this participant had not accepted yet.
        self.flush_sources(now, room, nick);
        Ok(())
    }

    /// The bridge gets the endpoint's whole source set after each change.
    fn after_source_change(&mut self, now: Time, room: &BareJid, nick: &str) {
        let sources = self.conferences.get(room).and_then(|c| c.media.sources.of(nick).cloned()).unwrap_or_default();
        let endpoint = Endpoint { sources: Some(media_sources(nick, &sources)), ..Endpoint::new(nick) };
        self.update_endpoint(now, room, nick, endpoint);
    }

    fn on_session_terminate(&mut self, now: Time, room: &BareJid, nick: &str, jingle: &Jingle) -> Reply {
        let media = self.media_mut(room, nick).expect("checked by the caller");
        let current = media.session.as_ref().map(|s| s.bridge_session_id.clone()).unwrap_or_default();
        let restart = match &jingle.bridge_session {
            Some(bs) if bs.id != current => {
                return refuse(&errors::JINGLE_BRIDGE_SESSION_NOT_FOUND);
            }
            Some(bs) => bs.restart,
            None => false,
        };
        let allowed = restart && media.restarts.try_restart(now);
        self.counters.participants_restart_requested += u64::from(restart);
        debug!(room = %room, nick, restart, allowed, "participant ended its session");
        self.end_session(now, room, nick, Some(&jingle.sid), None);
        if !restart {
            return Ok(());
        }
        if !allowed {
            return refuse(&errors::JINGLE_RATE_LIMITED);
        }
        // Asked for by a participant that had media: invited at once, whatever the room's size.
        if self.media_mut(room, nick).is_some_and(|m| m.features.is_some()) {
            self.invite(now, room, nick);
        }
        Ok(())
    }

    /// `<mute xmlns='http://jitsi.org/jitmeet/audio|video' jid='room@muc/nick'>true</mute>`
    /// from a moderator: the target is told, and the bridge drops its media (§6.5).
    pub(super) fn on_mute(&mut self, now: Time, envelope: IqEnvelope, payload: &Element, video: bool) {
        let reply = self.handle_mute(now, &envelope, payload, video);
        self.reply(&envelope, reply);
    }

    fn handle_mute(&mut self, now: Time, envelope: &IqEnvelope, payload: &Element, video: bool) -> Reply {
        let Some((room, actor)) = self.occupant_of(&envelope.from) else {
            return refuse(&errors::MEDIA_NOT_PARTICIPANT);
        };
        let target_jid = payload.attr("jid").unwrap_or_default();
        let Ok(target) = target_jid.parse::<FullJid>() else {
            return refuse(&errors::MUTE_BAD_JID);
        };
        let target_nick = target.resource().to_string();
        if target.to_bare() != room {
            return refuse(&errors::MUTE_OTHER_ROOM);
        }
        let mute = match payload.text().trim() {
            "true" => true,
            "false" => false,
            _ => return refuse(&errors::MUTE_BAD_VALUE),
        };
        let conference = self.conferences.get(&room).expect("occupant_of checked it");
        let moderator = conference.participants.get(&actor).is_some_and(|p| p.affiliation == Affiliation::Owner);
        if !conference.media.participants.contains_key(&target_nick) {
            return refuse(&errors::MUTE_NO_SUCH_PARTICIPANT);
        }
        if target_nick != actor && (!moderator || !mute) {
            // Only moderators mute others, and nobody unmutes anyone else.
            return refuse(&errors::MUTE_NOT_ALLOWED);
        }
        let Some(media) = self.media_mut(&room, &target_nick) else {
            return refuse(&errors::MUTE_NO_SUCH_PARTICIPANT);
        };
        if video {
            media.force_mute_video = mute;
        } else {
            media.force_mute_audio = mute;
        }
        let force = ForceMute { audio: media.force_mute_audio, video: media.force_mute_video };
        info!(room = %room, actor = %actor, target = %target_nick, video, mute, "mute");
        self.update_endpoint(
            now,
            &room,
            &target_nick,
            Endpoint { force_mute: Some(force), ..Endpoint::new(&target_nick) },
        );
        if target_nick != actor {
            let namespace = if video { ns::VIDEO_MUTE } else { ns::AUDIO_MUTE };
            let name = if video { "mute-video" } else { "mute" };
            let actor_jid = format!("{room}/{actor}");
            let forwarded = elem(name, namespace).with_attr("actor", actor_jid).with_text(mute.to_string());
            self.send_notify_iq(&target, "set", forwarded);
        }
        Ok(())
    }
}

fn source_error(e: SourceError) -> Failure {
    match e {
        SourceError::BadRequest(text) => errors::JINGLE_INVALID_SOURCES.raw(text),
        SourceError::ResourceConstraint(text) => errors::JINGLE_SENDER_LIMIT.raw(text),
    }
}

/// The sources of every content of a client's Jingle.
fn parse_sources(jingle: &Jingle) -> Result<EndpointSources, Failure> {
    let mut all = EndpointSources::default();
    for content in &jingle.contents {
        let sources = jingle_sources::parse_content(&content.element).map_err(source_error)?;
        all.extend_with(&sources);
    }
    Ok(all)
}
