//! The brewery room where bridges announce themselves (protocol.md §8.1): the focus joins it,
//! feeds occupants' stats to the bridge registry, sends the registry's health checks, and
//! moves conferences off bridges that are lost or onto bridges that appear.

use minidom::Element;
use tracing::{info, warn};
use xmpp_parsers::jid::{BareJid, FullJid};

use super::media::MediaIqKind;
use super::{Focus, TimerKey};
use crate::core::bridges::{BridgeAction, BridgeEvent};
use crate::core::Time;
use crate::xmpp::brewery::{health_check_payload, BridgeStats};
use crate::xmpp::muc::{self, OccupantPresence, PresenceKind};

/// A failed brewery join is tried again after this long.
const REJOIN_SECONDS: i64 = 10;

impl Focus {
    /// Our occupant JID in the brewery: the component's domain as nickname, so that several
    /// foci can share one brewery.
    fn brewery_occupant(&self, brewery: &BareJid) -> Option<FullJid> {
        format!("{brewery}/{}", self.settings.component).parse().ok()
    }

    pub(super) fn join_brewery(&mut self, now: Time) {
        let Some(brewery) = self.settings.brewery.clone() else { return };
        let Some(occupant) = self.brewery_occupant(&brewery) else { return };
        self.brewery_joined = false;
        self.out.send(muc::join_presence(&self.focus_jid, &occupant, Vec::new()));
        // Answered by our self-presence; without one, try again.
        self.timers.set(TimerKey::BreweryJoin, Some(now + chrono::Duration::seconds(REJOIN_SECONDS)));
    }

    /// Presence from the brewery room; false if `presence` is not from it.
    pub(super) fn on_brewery_presence(&mut self, now: Time, presence: &OccupantPresence, stanza: &Element) -> bool {
        if self.settings.brewery.as_ref() != Some(&presence.room) {
            return false;
        }
        let ours = presence.nick == self.settings.component.to_string();
        let Ok(id) = format!("{}/{}", presence.room, presence.nick).parse::<FullJid>() else { return true };
        match (presence.kind, ours) {
            (PresenceKind::Available, true) => {
                if !self.brewery_joined {
                    info!(brewery = %presence.room, "joined the bridges' brewery room");
                }
                self.brewery_joined = true;
                self.timers.set(TimerKey::BreweryJoin, None);
            }
            (PresenceKind::Error | PresenceKind::Unavailable, true) => {
                warn!(brewery = %presence.room, error = ?presence.error_condition, "not in the brewery room; joining again soon");
                self.brewery_joined = false;
                self.timers.set(TimerKey::BreweryJoin, Some(now + chrono::Duration::seconds(REJOIN_SECONDS)));
                let ids: Vec<FullJid> = self.bridges.iter().map(|b| b.id().clone()).collect();
                for id in ids {
                    let events = self.bridges.on_left(&id);
                    self.on_bridge_events(now, events);
                }
            }
            (PresenceKind::Available, false) => {
                // An occupant is a bridge when its presence carries colibri stats.
                let events = match BridgeStats::from_presence(stanza) {
                    Some(stats) => self.bridges.on_presence(now, &id, stats),
                    None => self.bridges.on_left(&id),
                };
                self.on_bridge_events(now, events);
            }
            (PresenceKind::Unavailable, false) => {
                let events = self.bridges.on_left(&id);
                self.on_bridge_events(now, events);
            }
            (PresenceKind::Error, false) => {}
        }
        true
    }

    /// Health checks that are due, and the registry's own timeouts.
    pub(super) fn bridges_timeout(&mut self, now: Time) {
        for action in self.bridges.handle_timeout(now) {
            match action {
                BridgeAction::SendHealthCheck { to, check } => {
                    self.send_media_iq(now, &to, "get", health_check_payload(), MediaIqKind::HealthCheck(check));
                }
                BridgeAction::Event(event) => self.on_bridge_events(now, vec![event]),
            }
        }
    }

    /// Conferences follow their bridges: off a lost one, onto a usable one when they have none.
    pub(super) fn on_bridge_events(&mut self, now: Time, events: Vec<BridgeEvent>) {
        for event in events {
            match event {
                BridgeEvent::Lost { id, why } => {
                    let rooms: Vec<BareJid> = self
                        .conferences
                        .iter()
                        .filter(|(_, c)| c.media.colibri.by_bridge.contains_key(&id))
                        .map(|(room, _)| room.clone())
                        .collect();
                    if !rooms.is_empty() {
                        warn!(bridge = %id, ?why, conferences = rooms.len(), "bridge lost: moving its participants");
                    }
                    for room in rooms {
                        self.touch(&room);
                        self.drop_bridge_session(now, &room, &id);
                    }
                }
                BridgeEvent::Usable(id) => {
                    let rooms: Vec<BareJid> = self
                        .conferences
                        .iter()
                        .filter(|(_, c)| c.media.bridge_not_available)
                        .map(|(room, _)| room.clone())
                        .collect();
                    if !rooms.is_empty() {
                        info!(bridge = %id, conferences = rooms.len(), "a bridge is usable: inviting conferences without one");
                    }
                    for room in rooms {
                        self.touch(&room);
                        self.invite_ready(now, &room);
                    }
                }
            }
        }
    }
}
