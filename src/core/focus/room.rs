//! The focus in its rooms: joining, the room configuration, occupants' presence, moderator
//! election, and leaving when a conference ends.

use crate::errors::{self, Failure};
use minidom::Element;
use tracing::{debug, info, warn};
use xmpp_parsers::jid::{BareJid, Jid};

use super::{join, occupant, Exit, Focus, OwnIqKind, FOCUS_NICK};
use crate::core::conference::{Participant, Phase};
use crate::core::Time;
use crate::xmpp::jitsi_presence::ParticipantInfo;
use crate::xmpp::muc::{self, Affiliation, OccupantPresence, PresenceKind, RoomConfig};

impl Focus {
    pub(super) fn begin_join(&mut self, now: Time, room: &BareJid) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        let sent_at = self.out.connected.then_some(now);
        conference.phase = Phase::Joining { sent_at };
        if self.out.connected {
            self.out.send(join(&self.focus_jid, room));
        }
    }

    pub(super) fn send_own_iq(&mut self, room: &BareJid, kind: OwnIqKind, build: impl FnOnce(&str) -> Element) {
        let id = format!("jf-{}", self.out.id());
        self.out.send(build(&id));
        self.own_iqs.insert(id, (room.clone(), kind));
    }

    pub(super) fn on_iq_response(&mut self, now: Time, stanza: &Element) {
        if self.on_media_response(now, stanza) {
            return;
        }
        let Some(id) = stanza.attr("id") else { return };
        // Answers come from the room we asked; ids alone are guessable.
        let from_room =
            |room: &BareJid| stanza.attr("from").and_then(|f| f.parse::<BareJid>().ok()).as_ref() == Some(room);
        if !self.own_iqs.get(id).is_some_and(|(room, _)| from_room(room)) {
            return;
        }
        let Some((room, kind)) = self.own_iqs.remove(id) else { return };
        self.touch(&room);
        let failed = stanza.attr("type") == Some("error");
        match kind {
            OwnIqKind::ConfigGet => {
                let Some(conference) = self.conferences.get_mut(&room) else { return };
                if !matches!(conference.phase, Phase::Configuring { .. }) {
                    return;
                }
                let config = if failed {
                    warn!(room = %room, "could not read the room configuration");
                    RoomConfig::default()
                } else {
                    RoomConfig::parse(stanza)
                };
                if !failed && config.whois.as_deref() != Some("anyone") {
                    // Clients recognise the focus by its real JID, so real JIDs must be public.
                    let from = self.focus_jid.clone();
                    self.send_own_iq(&room, OwnIqKind::ConfigSet, |id| {
                        muc::config_submit(id, &from, &room, &[("muc#roomconfig_whois", "anyone")])
                    });
                }
                let conference = self.conferences.get_mut(&room).expect("checked above");
                if conference.meeting_id.is_none() {
                    let rng = &mut self.rng;
                    conference.meeting_id = Some(config.meeting_id.unwrap_or_else(|| super::new_uuid(rng)));
                }
                self.go_live(now, &room);
            }
            OwnIqKind::ConfigSet if failed => warn!(room = %room, "could not make real JIDs public in the room"),
            OwnIqKind::Destroy if failed => {
                // At least do not linger in a room whose conference is over.
                warn!(room = %room, "could not destroy the room; leaving it");
                self.out.send(muc::leave_presence(&self.focus_jid, &occupant(&room)));
            }
            OwnIqKind::Kick if failed => warn!(room = %room, "could not kick an occupant"),
            OwnIqKind::GrantOwner(nick) if failed => {
                warn!(room = %room, nick = %nick, "could not grant moderator rights; electing someone else");
                if let Some(participant) = self.conferences.get_mut(&room).and_then(|c| c.participants.get_mut(&nick)) {
                    participant.owner_requested = false;
                    participant.grant_failed = true;
                }
                self.elect_owners(&room);
            }
            _ => {}
        }
    }

    pub(super) fn go_live(&mut self, now: Time, room: &BareJid) {
        let Some(conference) = self.conferences.get(room) else { return };
        let responses: Vec<Element> =
            conference.waiters.iter().map(|w| self.response(room, true, &w.identity)).collect();
        let Some(conference) = self.conferences.get_mut(room) else { return };
        conference.phase = Phase::Live;
        if let Some(meeting_id) = &conference.meeting_id {
            conference.media.colibri.meeting_id = meeting_id.clone();
        }
        let present: Vec<String> = conference.participants.keys().cloned().collect();
        if conference.participants.is_empty() {
            conference.initial_deadline = Some(now + self.settings.initial_timeout);
        }
        if conference.was_live {
            info!(room = %room, meeting_id = conference.meeting_id.as_deref().unwrap_or("-"), "rejoined the room after reconnecting");
        } else {
            conference.was_live = true;
            conference.started_at = Some(now);
            self.counters.conferences_created += 1;
            info!(
                room = %room,
                reservation_id = conference.reservation_id().unwrap_or("-"),
                meeting_id = conference.meeting_id.as_deref().unwrap_or("-"),
                outcome = "created",
                "conference created"
            );
        }
        for (waiter, response) in std::mem::take(&mut conference.waiters).into_iter().zip(responses) {
            self.out.answer(&waiter.requester, Ok(response));
        }
        self.elect_owners(room);
        for nick in present {
            self.media_participant_joined(now, room, &nick);
        }
    }

    pub(super) fn on_presence(&mut self, now: Time, stanza: &Element) {
        let Some(presence) = OccupantPresence::parse(stanza) else { return };
        if self.on_brewery_presence(now, &presence, stanza) {
            return;
        }
        if !self.conferences.contains_key(&presence.room) {
            // In a room without a conference (our join answered after we gave up on it): leave.
            let in_room = presence.nick == FOCUS_NICK && presence.is_self() && presence.kind == PresenceKind::Available;
            if in_room {
                debug!(room = %presence.room, "leaving a room we have no conference for");
                self.out.send(muc::leave_presence(&self.focus_jid, &occupant(&presence.room)));
            }
            return;
        }
        self.touch(&presence.room);
        // A join refusal carries no muc#user payload: an error from our occupant JID is ours.
        let ours = presence.nick == FOCUS_NICK
            && (presence.is_self()
                || presence.kind == PresenceKind::Error
                || presence.real_jid.as_ref().is_some_and(|j| j.to_string() == self.focus_jid.to_string()));
        if ours {
            self.on_self_presence(now, presence);
        } else {
            self.on_participant_presence(now, presence, stanza);
        }
    }

    pub(super) fn on_self_presence(&mut self, now: Time, presence: OccupantPresence) {
        let room = presence.room.clone();
        let Some(conference) = self.conferences.get_mut(&room) else { return };
        match presence.kind {
            PresenceKind::Error => {
                let condition = presence.error_condition.clone().unwrap_or_else(|| "unknown error".to_owned());
                let entry = match condition.as_str() {
                    "not-allowed" | "registration-required" | "forbidden" => &errors::REQUEST_JOIN_REFUSED,
                    _ => &errors::REQUEST_JOIN_FAILED,
                };
                self.fail(now, &room, &entry.with(&[("condition", &condition)]), Exit::AlreadyOut);
            }
            // The answer to a leave of an earlier conference for this room, arriving after a
            // new one started: only a destroyed room concerns a conference not in the room yet.
            PresenceKind::Unavailable
                if presence.destroyed.is_none()
                    && matches!(
                        conference.phase,
                        Phase::Reserving { .. } | Phase::FetchingConflict { .. } | Phase::Joining { .. }
                    ) => {}
            PresenceKind::Unavailable => {
                let reason = match &presence.destroyed {
                    Some(Some(why)) => format!("room destroyed: {why}"),
                    Some(None) => "room destroyed".to_owned(),
                    None if presence.statuses.contains(&muc::STATUS_KICKED) => "focus kicked from the room".to_owned(),
                    None => "focus removed from the room".to_owned(),
                };
                self.end(now, &room, &reason, Exit::AlreadyOut);
            }
            PresenceKind::Available if presence.affiliation != Affiliation::Owner => {
                if conference.phase == Phase::Live {
                    self.end(now, &room, "focus lost its owner rights", Exit::Leave);
                } else {
                    self.fail(now, &room, &errors::REQUEST_NOT_OWNER.with(&[]), Exit::Leave);
                }
            }
            PresenceKind::Available => {
                if matches!(conference.phase, Phase::Joining { .. }) {
                    conference.phase = Phase::Configuring { deadline: now + self.settings.request_timeout };
                    let from = self.focus_jid.clone();
                    self.send_own_iq(&room, OwnIqKind::ConfigGet, |id| muc::config_request(id, &from, &room));
                }
            }
        }
    }

    pub(super) fn on_participant_presence(&mut self, now: Time, presence: OccupantPresence, stanza: &Element) {
        let room = presence.room.clone();
        let Some(conference) = self.conferences.get_mut(&room) else { return };
        match presence.kind {
            PresenceKind::Available => {
                let previous = conference.participants.get(&presence.nick);
                let is_new = previous.is_none();
                let info = ParticipantInfo::parse(stanza);
                let trusted = presence.real_jid.as_ref().is_some_and(|j| {
                    self.settings.trusted_domains.iter().any(|d| j.domain().as_str().eq_ignore_ascii_case(d))
                });
                let participant = Participant {
                    real_jid: presence.real_jid.clone(),
                    affiliation: presence.affiliation,
                    joined_at: previous.map_or(now, |p| p.joined_at),
                    seq: previous.map_or(conference.join_counter + 1, |p| p.seq),
                    owner_requested: previous.is_some_and(|p| p.owner_requested)
                        && presence.affiliation != Affiliation::Owner,
                    grant_failed: previous.is_some_and(|p| p.grant_failed),
                    is_service: trusted && info.claims_service(),
                    info,
                };
                if is_new && conference.participants.len() >= self.settings.limits.max_participants_per_conference {
                    debug!(room = %room, nick = %presence.nick, "not tracking more participants in this room");
                    return;
                }
                conference.join_counter += u64::from(is_new);
                conference.participants.insert(presence.nick.clone(), participant);
                conference.initial_deadline = None;
                if is_new {
                    debug!(room = %room, nick = %presence.nick, "participant joined");
                    let limit = conference.reservation.as_ref().and_then(|r| r.max_occupants);
                    if let Some(limit) = limit.filter(|l| conference.participants.len() > *l as usize) {
                        conference.participants.remove(&presence.nick);
                        let reason = format!("The conference is full ({limit} participants).");
                        info!(room = %room, nick = %presence.nick, limit, "room full: removing participant");
                        let (from, nick) = (self.focus_jid.clone(), presence.nick.clone());
                        self.send_own_iq(&room, OwnIqKind::Kick, |id| {
                            muc::kick_request(id, &from, &room, &nick, &reason)
                        });
                    }
                }
                self.elect_owners(&room);
                let live = self.conferences.get(&room).is_some_and(|c| c.phase == Phase::Live);
                let tracked = self.conferences.get(&room).is_some_and(|c| c.participants.contains_key(&presence.nick));
                self.counters.participants_joined += u64::from(is_new && tracked);
                if is_new && live && tracked {
                    self.media_participant_joined(now, &room, &presence.nick);
                }
            }
            PresenceKind::Unavailable => {
                if conference.participants.remove(&presence.nick).is_some() {
                    debug!(room = %room, nick = %presence.nick, "participant left");
                }
                self.media_participant_left(now, &room, &presence.nick);
                let Some(conference) = self.conferences.get_mut(&room) else { return };
                if conference.participants.is_empty() && conference.phase == Phase::Live {
                    self.end(now, &room, "last participant left", Exit::Leave);
                } else {
                    self.elect_owners(&room);
                }
            }
            PresenceKind::Error => {}
        }
    }

    /// Moderators (protocol.md §5.4). Without authentication exactly one participant is owner:
    /// the longest present, re-elected when the owner leaves. With authentication every
    /// signed-in participant is owner and nobody else is made one.
    pub(super) fn elect_owners(&mut self, room: &BareJid) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        if conference.phase != Phase::Live {
            return;
        }
        let mut grants: Vec<String> = Vec::new();
        if self.sessions.enabled() {
            for (nick, p) in &conference.participants {
                let signed_in = p.real_jid.as_ref().is_some_and(|j| self.sessions.is_authenticated(j));
                if signed_in && p.affiliation != Affiliation::Owner && !p.owner_requested && !p.grant_failed {
                    grants.push(nick.clone());
                }
            }
        } else {
            let eligible = || conference.participants.iter().filter(|(_, p)| !p.is_service && p.real_jid.is_some());
            let has_owner = eligible().any(|(_, p)| p.affiliation == Affiliation::Owner || p.owner_requested);
            if !has_owner {
                if let Some((nick, _)) = eligible().filter(|(_, p)| !p.grant_failed).min_by_key(|(_, p)| p.seq) {
                    grants.push(nick.clone());
                }
            }
        }
        let mut requests = Vec::new();
        for nick in grants {
            let Some(participant) = conference.participants.get_mut(&nick) else { continue };
            participant.owner_requested = true;
            let Some(jid) = participant.real_jid.as_ref().map(Jid::to_bare) else { continue };
            info!(room = %room, nick = %nick, jid = %jid, meeting_id = conference.meeting_id.as_deref().unwrap_or("-"), "granting moderator rights");
            requests.push((nick, jid));
        }
        let from = self.focus_jid.clone();
        for (nick, jid) in requests {
            self.send_own_iq(room, OwnIqKind::GrantOwner(nick), |id| {
                muc::affiliation_request(id, &from, room, &jid, Affiliation::Owner)
            });
        }
    }

    /// Answers waiting requests with an error and ends the conference.
    pub(super) fn fail(&mut self, now: Time, room: &BareJid, failure: &Failure, exit: Exit) {
        if let Some(conference) = self.conferences.get_mut(room) {
            for waiter in std::mem::take(&mut conference.waiters) {
                self.out.answer(&waiter.requester, Err(failure.error()));
            }
        }
        self.end(now, room, &failure.text, exit);
    }

    /// Ends a conference: leaves or destroys its room and deletes its reservation.
    pub(super) fn end(&mut self, now: Time, room: &BareJid, reason: &str, exit: Exit) {
        let Some(mut conference) = self.remove_conference(room) else { return };
        // Requests still waiting are told to ask again; they will start a new conference.
        for waiter in std::mem::take(&mut conference.waiters) {
            let not_ready = self.response(room, false, &waiter.identity);
            self.out.answer(&waiter.requester, Ok(not_ready));
        }
        match exit {
            Exit::Leave => self.out.send(muc::leave_presence(&self.focus_jid, &occupant(room))),
            Exit::Destroy(why) => {
                let from = self.focus_jid.clone();
                self.send_own_iq(room, OwnIqKind::Destroy, |id| muc::destroy_request(id, &from, room, &why));
            }
            Exit::AlreadyOut => {}
        }
        info!(
            room = %room,
            reservation_id = conference.reservation_id().unwrap_or("-"),
            meeting_id = conference.meeting_id.as_deref().unwrap_or("-"),
            reason,
            lasted_s = (now - conference.created_at).num_seconds(),
            outcome = "ended",
            "conference ended"
        );
        let media = std::mem::take(&mut conference.media);
        self.media_conference_ended(media);
        if let Some(reservation) = conference.reservation {
            self.delete_reservation(now, room.clone(), reservation.id);
        }
    }
}
