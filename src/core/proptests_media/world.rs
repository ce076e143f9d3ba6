//! The world's actions: `Sim::run` plays one generated `Action` as Prosody, a bridge or a
//! client would: conference requests, occupants joining and leaving, bridges in the brewery,
//! answers to the focus's IQs (good, bad, dropped, late or spoofed), Jingle, mutes,
//! reconnections and time. The stanzas themselves are written in `stanzas.rs`.

use minidom::Element;

use super::generate::{Action, How, JingleKind, SidPick, Sources, Src, Stats};
use super::sim::Sim;
use super::stanzas::{bridge_presence, occupant_presence};
use super::{bridge_jid, room_jid, Check, BREWERY, COMPONENT, FOCUS_JID, LATE, NICKS};
use crate::core::{Input, Time};
use crate::xmpp::ns;

impl Sim {
    // ---- the world's actions -----------------------------------------------------------------

    pub(super) fn run(&mut self, action: &Action) -> Check {
        match action.clone() {
            Action::Request { room, client, start_muted } => self.request(room % self.u.rooms, client, start_muted),
            Action::Converge { room, meeting_id } => {
                self.meeting_ids = meeting_id;
                let room = room % self.u.rooms;
                self.request(room, 0, false)?;
                self.answer_joins()?;
                let jid = room_jid(room);
                while let Some(index) = self
                    .pending
                    .iter()
                    .position(|iq| iq.attr("to") == Some(&*jid) && iq.get_child("query", ns::MUC_OWNER).is_some())
                {
                    if !self.connected {
                        break;
                    }
                    let how = How { ok: true, variant: 0, condition: 0, reason: 0, drop: false };
                    self.answer(index, how)?;
                }
                Ok(())
            }
            Action::AnswerJoins => self.answer_joins(),
            Action::Participant { room, nick, available, owner } => {
                self.participant(room % self.u.rooms, nick % self.u.nicks, available, owner)
            }
            Action::Bridge { bridge, stats } => {
                let bridge = bridge % self.u.bridges;
                self.bridges.insert(bridge, stats);
                if self.in_brewery {
                    self.stanza(&bridge_presence(bridge, &stats))?;
                }
                Ok(())
            }
            Action::BridgeLeaves { bridge } => {
                let bridge = bridge % self.u.bridges;
                if self.bridges.remove(&bridge).is_none() {
                    return Ok(());
                }
                // A bridge that left may come back restarted, without its conferences: the focus
                // cannot expire them, and must not expect them. (A leave the focus does not see,
                // while it is away, is treated as a blip: the bridge keeps them.)
                let jid = bridge_jid(bridge);
                if self.in_brewery && self.connected {
                    self.bridge_conferences.retain(|(b, _), _| *b != jid);
                    let (stale, live) = std::mem::take(&mut self.health_sent).into_iter().partition(|(_, b)| *b == jid);
                    self.health_sent = live;
                    self.stale_checks.extend(stale.into_iter().map(|(t, _): (Time, String)| t));
                }
                if self.in_brewery {
                    self.stanza(&format!("<presence xmlns='jabber:component:accept' type='unavailable' from='{jid}' to='{FOCUS_JID}'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/></x></presence>"))?;
                }
                Ok(())
            }
            Action::Answer { pick, how } => {
                if self.pending.is_empty() || !self.connected {
                    return Ok(());
                }
                self.answer(pick % self.pending.len(), how)
            }
            Action::AnswerAll => self.answer_all(),
            Action::Stale { pick, how, spoof } => {
                if !self.connected {
                    return Ok(());
                }
                if spoof && !self.pending.is_empty() {
                    let request = self.pending[pick % self.pending.len()].clone();
                    let text = self.answer_text(&request, how, Some("r0@conference.meet.test/n0"));
                    return self.stanza(&text);
                }
                if self.late.is_empty() {
                    return Ok(());
                }
                let request = self.late[pick % self.late.len()].clone();
                let text = self.answer_text(&request, how, None);
                self.stanza(&text)
            }
            Action::Jingle { room, nick, live, sid, kind } => {
                self.jingle(room % self.u.rooms, nick % self.u.nicks, live, sid, kind)
            }
            Action::AcceptAll { rtx } => {
                let mut waiting: Vec<(String, String)> =
                    self.peers.iter().filter(|(_, p)| p.sid.is_some() && !p.accepted).map(|(k, _)| k.clone()).collect();
                waiting.sort();
                for (room, nick) in waiting {
                    let room = self.room_index(&room).unwrap();
                    let nick = NICKS.iter().position(|n| *n == nick).unwrap();
                    let src = |ssrc, video, msid| Src { ssrc, shared: false, video, msid: Some(msid), named: false };
                    let mut sources = vec![src(1, false, 0), src(2, true, 1)];
                    if rtx {
                        sources.push(src(3, true, 1));
                    }
                    let kind =
                        JingleKind::Accept { sources: Sources { sources, group: u8::from(rtx) }, transport: true };
                    self.jingle(room, nick, None, SidPick::Current, kind)?;
                }
                Ok(())
            }
            Action::Mute { room, actor, target, video, value } => {
                let occupants: Vec<(&String, &bool)> = self.rooms[room % self.u.rooms].occupants.iter().collect();
                let (actor, target) = match occupants.len() {
                    0 => (NICKS[actor % self.u.nicks].to_owned(), NICKS[target].to_owned()),
                    // Mostly a moderator, mostly someone present.
                    n => {
                        let owners: Vec<&String> = occupants.iter().filter(|(_, o)| **o).map(|(n, _)| *n).collect();
                        let actor = match owners.len() {
                            0 => occupants[actor % n].0.clone(),
                            m if actor % 4 != 0 => owners[actor % m].clone(),
                            _ => occupants[actor % n].0.clone(),
                        };
                        let target = if target == 3 { NICKS[3].to_owned() } else { occupants[target % n].0.clone() };
                        (actor, target)
                    }
                };
                let room = room_jid(room % self.u.rooms);
                let id = format!("m{}", self.serial());
                let value = ["true", "false", "maybe", "true"][value as usize % 4];
                let payload = if video {
                    format!(
                        "<mute-video xmlns='http://jitsi.org/jitmeet/video' jid='{room}/{target}'>{value}</mute-video>"
                    )
                } else {
                    format!("<mute xmlns='http://jitsi.org/jitmeet/audio' jid='{room}/{target}'>{value}</mute>")
                };
                self.stanza(&format!("<iq xmlns='jabber:component:accept' type='set' id='{id}' from='{room}/{actor}' to='{FOCUS_JID}'>{payload}</iq>"))
            }
            Action::ToggleConnection => {
                self.connected = !self.connected;
                if self.connected {
                    self.input(Input::Connected)
                } else {
                    // Answers to what was asked over the old link will not come.
                    for request in std::mem::take(&mut self.pending) {
                        self.remember_late(request);
                    }
                    self.brewery_join_pending = false;
                    for room in &mut self.rooms {
                        room.join_pending = false;
                    }
                    self.input(Input::Disconnected)
                }
            }
            Action::Advance { seconds } => {
                self.advance(seconds)?;
                if seconds >= 2 {
                    self.check_views_settled()?;
                }
                Ok(())
            }
        }
    }

    pub(super) fn remember_late(&mut self, request: Element) {
        if self.late.len() == LATE {
            self.late.pop_front();
        }
        self.late.push_back(request);
    }

    pub(super) fn request(&mut self, room: usize, client: usize, start_muted: bool) -> Check {
        let id = format!("q{}", self.serial());
        let properties = if start_muted {
            "<property name='startAudioMuted' value='1'/><property name='startVideoMuted' value='2'/>"
        } else {
            ""
        };
        self.stanza(&format!("<iq xmlns='jabber:component:accept' type='set' id='{id}' from='c{client}@meet.test/x' to='{COMPONENT}'><conference xmlns='http://jitsi.org/protocol/focus' room='{}' machine-uid='m{client}'>{properties}</conference></iq>", room_jid(room)))
    }

    /// Prosody answers the pending joins: the room's occupants (or bridges), then our own
    /// presence.
    pub(super) fn answer_joins(&mut self) -> Check {
        if !self.connected {
            return Ok(());
        }
        if std::mem::take(&mut self.brewery_join_pending) {
            self.in_brewery = true;
            let bridges: Vec<(usize, Stats)> = self.bridges.iter().map(|(b, s)| (*b, *s)).collect();
            for (bridge, stats) in bridges {
                self.stanza(&bridge_presence(bridge, &stats))?;
            }
            self.stanza(&format!("<presence xmlns='jabber:component:accept' from='{BREWERY}/{COMPONENT}' to='{FOCUS_JID}'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='{FOCUS_JID}' affiliation='owner' role='moderator'/><status code='110'/></x></presence>"))?;
        }
        for room in 0..self.u.rooms {
            if !std::mem::take(&mut self.rooms[room].join_pending) {
                continue;
            }
            self.rooms[room].focus_in = true;
            let jid = room_jid(room);
            let occupants: Vec<(String, bool)> =
                self.rooms[room].occupants.iter().map(|(n, o)| (n.clone(), *o)).collect();
            for (nick, owner) in occupants {
                self.stanza(&occupant_presence(&jid, &nick, true, owner))?;
            }
            self.stanza(&format!("<presence xmlns='jabber:component:accept' from='{jid}/focus' to='{FOCUS_JID}'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='{FOCUS_JID}' affiliation='owner' role='moderator'/><status code='110'/></x></presence>"))?;
        }
        Ok(())
    }

    pub(super) fn participant(&mut self, room: usize, nick: usize, available: bool, owner: bool) -> Check {
        let (jid, nick) = (room_jid(room), NICKS[nick].to_owned());
        let world = &mut self.rooms[room];
        if available {
            world.occupants.insert(nick.clone(), owner);
        } else {
            if world.occupants.remove(&nick).is_none() {
                return Ok(());
            }
            // The client is gone; everyone else drops its sources (clients do, on a MUC leave).
            self.peers.remove(&(jid.clone(), nick.clone()));
            for ((r, _), peer) in self.peers.iter_mut() {
                if *r == jid {
                    peer.view.retain(|_, owner| *owner != nick);
                }
            }
        }
        if self.rooms[room].focus_in {
            self.stanza(&occupant_presence(&jid, &nick, available, owner))?;
        }
        Ok(())
    }

    pub(super) fn answer(&mut self, index: usize, how: How) -> Check {
        let request = self.pending.remove(index);
        if how.drop {
            self.remember_late(request);
            return Ok(());
        }
        let text = self.answer_text(&request, how, None);
        let granted = request
            .get_child("query", ns::MUC_ADMIN)
            .and_then(|q| q.get_child("item", ns::MUC_ADMIN))
            .filter(|item| item.attr("affiliation") == Some("owner"))
            .and_then(|item| item.attr("jid"))
            .and_then(|jid| jid.split('@').next())
            .map(str::to_owned);
        let room = request.attr("to").and_then(|to| self.room_index(to));
        self.remember_late(request);
        self.stanza(&text)?;
        // Prosody shows everyone the new owner.
        if let (Some(nick), Some(room), true) = (granted, room, how.ok) {
            if self.rooms[room].occupants.contains_key(&nick) {
                let index = NICKS.iter().position(|n| *n == nick).unwrap();
                self.participant(room, index, true, true)?;
            }
        }
        Ok(())
    }

    pub(super) fn answer_all(&mut self) -> Check {
        for _ in 0..3 {
            self.answer_joins()?;
            if self.pending.is_empty() || !self.connected {
                break;
            }
            let round = self.pending.len();
            for _ in 0..round {
                if self.pending.is_empty() || !self.connected {
                    break;
                }
                self.answer(0, How { ok: true, variant: 0xff, condition: 0, reason: 0, drop: false })?;
            }
        }
        Ok(())
    }
}
