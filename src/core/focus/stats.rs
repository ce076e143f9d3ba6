//! The focus's side of [`crate::core::stats`]: the snapshot and the debug views read its
//! private state here; the types, the counters and the JSON live there.

use std::collections::BTreeMap;

use serde_json::{json, Value};
use xmpp_parsers::jid::{BareJid, FullJid};

use super::Focus;
use crate::core::stats::{self, BridgeStats, Stats};

impl Focus {
    /// A snapshot of gauges and counters. Costs a pass over conferences and bridges, and over
    /// participants' media for [`Stats::jingle_sessions`] (bounded by the limits, as
    /// [`Focus::footprint`]).
    pub fn stats(&self) -> Stats {
        let mut stats = Stats {
            conferences_starting: self.starting.len() as u64,
            sessions: self.sessions.len() as u64,
            pending_reservation_deletes: self.deletes.len() as u64,
            component_connected: self.out.connected,
            draining: self.draining,
            brewery_joined: self.brewery_joined,
            lost_bridges: self.bridges.lost_count(),
            counters: self.counters.clone(),
            ..Stats::default()
        };
        stats::size_gauges(self.conferences.values().map(|c| c.participants.len()), &mut stats);
        // (conferences, endpoints) per bridge.
        let mut load: BTreeMap<&FullJid, (u64, u64)> = BTreeMap::new();
        for conference in self.conferences.values() {
            for (bridge, session) in &conference.media.colibri.by_bridge {
                let entry = load.entry(bridge).or_default();
                entry.0 += 1;
                entry.1 += session.endpoints.len() as u64;
            }
            for media in conference.media.participants.values() {
                stats::count_sessions(media, &mut stats.jingle_sessions);
            }
        }
        for bridge in self.bridges.iter() {
            let (conferences, endpoints) = load.get(bridge.id()).copied().unwrap_or_default();
            let in_shutdown = bridge.in_graceful_shutdown() || bridge.is_shutting_down();
            stats.bridge_count += 1;
            stats.operational_bridge_count += u64::from(bridge.is_operational());
            stats.in_shutdown_bridge_count += u64::from(in_shutdown);
            stats.bridges.push(BridgeStats {
                jid: bridge.id().to_string(),
                operational: bridge.is_operational(),
                graceful_shutdown: bridge.in_graceful_shutdown(),
                shutting_down: bridge.is_shutting_down(),
                draining: bridge.is_draining(),
                stress: bridge.stress(),
                region: bridge.region().map(str::to_owned),
                version: bridge.full_version(),
                relay_id: bridge.relay_id().map(str::to_owned),
                healthy_reported: bridge.healthy_reported(),
                conferences,
                endpoints,
            });
        }
        stats
    }

    /// Every conference in one line each (room, phase, participants, bridges, times), by room.
    pub fn debug_overview(&self) -> Value {
        let mut rooms: Vec<(&BareJid, &crate::core::conference::Conference)> = self.conferences.iter().collect();
        rooms.sort_by(|a, b| a.0.cmp(b.0));
        let conferences: Vec<Value> =
            rooms.into_iter().map(|(room, c)| stats::conference_summary(&room.to_string(), c)).collect();
        json!({
            "conference_count": conferences.len(),
            "conferences": conferences,
        })
    }

    /// One conference in detail: its reservation, participants (real JIDs, roles, features,
    /// Jingle session, sources) and bridge sessions. `room` is the room's bare JID or its local
    /// part (then on the MUC domain); `None` if the focus has no conference there.
    pub fn debug_conference(&self, room: &str) -> Option<Value> {
        let jid = if room.contains('@') { room.to_owned() } else { format!("{room}@{}", self.settings.muc_domain) };
        let jid: BareJid = jid.parse().ok()?;
        let conference = self.conferences.get(&jid)?;
        Some(stats::conference_detail(&jid.to_string(), conference))
    }
}
