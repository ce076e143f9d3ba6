//! When media goes wrong or ends (protocol.md §7.7): what a Colibri2 error means for the
//! conference, a bridge session dropped and its participants moved to another bridge, restarts
//! a participant asks for, and the end of one participant's session or of all of a
//! conference's media (the conference ended, or the component link came back).

use tracing::warn;
use xmpp_parsers::jid::{BareJid, FullJid};

use super::media::MediaIqKind;
use super::{Focus, TimerKey};
use crate::core::bridges::AllocationFailure;
use crate::core::colibri::{BridgeVerdict, Recovery};
use crate::core::jingle_session::SessionState;
use crate::core::Time;
use crate::xmpp::colibri2::ConferenceModify;
use crate::xmpp::jingle::{self, Action};

impl Focus {
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
        self.counters.bridges_removed += 1;
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
        self.counters.participants_moved += 1;
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
}
