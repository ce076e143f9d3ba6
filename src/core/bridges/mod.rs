//! The video bridges (protocol.md §8): which ones exist (the brewery MUC's occupants that
//! publish stats), whether they work ([`health`] checks), and which one a participant should
//! use ([`selection`]).
//!
//! Sans-IO like the rest of the core: the caller feeds brewery presence, health-check answers
//! and Colibri2 failures in, sends the health checks [`Bridges::handle_timeout`] asks for, and
//! acts on the [`BridgeEvent`]s it gets back. A bridge is known by its occupant JID in the
//! brewery (`jvbbrewery@internal.auth.meet.test/jvb-1`), where health checks and Colibri2
//! requests are sent.
//!
//! Relays between bridges (Octo) are not implemented: a conference must stay on one bridge,
//! which callers ensure with [`SelectionRequest::allow_new_bridge`] `= false`.

mod health;
mod selection;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};

use tracing::{info, warn};
use xmpp_parsers::jid::FullJid;

use super::timers::Timers;
use super::Time;
pub use crate::config::SelectionStrategy as Strategy;
use crate::config::{BridgesConfig, Config};
pub use crate::xmpp::brewery::{BridgeStats, HealthOutcome};
pub use health::HealthCheckId;
pub use selection::{SelectionError, SelectionRequest};

/// What the registry needs from the configuration (`[bridges]`, README "Configuration").
#[derive(Debug, Clone, PartialEq)]
pub struct BridgeSettings {
    pub health_interval: chrono::Duration,
    /// How long an answer to a health check is awaited.
    pub health_timeout: chrono::Duration,
    /// Wait after a first unanswered check before the second (Jicofo: half the interval).
    pub retry_delay: chrono::Duration,
    /// A failed bridge stays unused at least this long after its last failure.
    pub failure_reset: chrono::Duration,
    pub stress_threshold: f64,
    /// Stress of one participant, until a bridge reports its own figure.
    pub average_participant_stress: f64,
    pub rampup_interval: chrono::Duration,
    pub max_participants_per_bridge: usize,
    pub strategy: Strategy,
    pub local_region: Option<String>,
    pub region_groups: Vec<Vec<String>>,
    /// Bridges known at once; presence from more is ignored.
    pub max_bridges: usize,
}

fn chrono(d: std::time::Duration) -> chrono::Duration {
    chrono::Duration::from_std(d).unwrap_or(chrono::Duration::MAX)
}

impl BridgeSettings {
    pub fn from_config(config: &Config) -> BridgeSettings {
        Self::from_bridges_config(&config.bridges)
    }

    pub fn from_bridges_config(b: &BridgesConfig) -> BridgeSettings {
        BridgeSettings {
            health_interval: chrono(b.health_interval),
            health_timeout: chrono(b.health_timeout),
            retry_delay: chrono(b.health_interval / 2),
            failure_reset: chrono(b.failure_reset),
            stress_threshold: b.stress_threshold,
            average_participant_stress: b.average_participant_stress,
            rampup_interval: chrono(b.participant_rampup_interval),
            max_participants_per_bridge: b.max_participants_per_bridge,
            strategy: b.strategy,
            local_region: b.local_region.clone(),
            region_groups: b.region_groups.clone(),
            max_bridges: b.max_bridges,
        }
    }
}

impl Default for BridgeSettings {
    fn default() -> Self {
        Self::from_bridges_config(&BridgesConfig::default())
    }
}

/// Why conferences must move their participants off a bridge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LossReason {
    /// It left the brewery.
    Left,
    /// It answered a health check with `internal-server-error` or `service-unavailable`.
    HealthCheckFailed,
    /// Its presence says `shutting_down`.
    ShuttingDown,
}

/// What conferences must react to. The same event may come more than once for one bridge
/// (e.g. `Lost` for a failed bridge, then `Lost` when it leaves): handle them idempotently.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeEvent {
    /// The bridge can be chosen now where it could not before: it joined, or it works again
    /// after a failure. Conferences that have no bridge should invite their participants now.
    Usable(FullJid),
    /// Conferences using the bridge must drop their session on it and invite its participants
    /// again (they get another bridge).
    Lost { id: FullJid, why: LossReason },
}

/// What [`Bridges::handle_timeout`] asks of the caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeAction {
    /// Send a health check ([`crate::xmpp::brewery::health_check_request`]) to `to`, and hand
    /// its answer to [`Bridges::on_health_result`] with this `check`. No answer needs no call:
    /// the registry times the check out itself.
    SendHealthCheck {
        to: FullJid,
        check: HealthCheckId,
    },
    Event(BridgeEvent),
}

/// What a Colibri2 error says about the bridge (protocol.md §9.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AllocationFailure {
    /// No answer, or an error that is not the bridge's refusal to take more conferences.
    NonOperational,
    /// `service-unavailable` with reason `graceful_shutdown`: its presence has not said so yet.
    GracefulShutdown,
}

/// One bridge as the focus sees it.
#[derive(Debug, Clone)]
pub struct Bridge {
    id: FullJid,
    stress: f64,
    /// The bridge's own figure once it reports one, else the configured one.
    average_participant_stress: f64,
    graceful_shutdown: bool,
    shutting_down: bool,
    /// Assumed until a presence says `drain=false`, so that a bridge is not filled before its
    /// state is known.
    draining: bool,
    version: Option<String>,
    release: Option<String>,
    region: Option<String>,
    relay_id: Option<String>,
    healthy_reported: Option<bool>,
    health: health::Health,
    /// Participants recently put on it: (start of a one-second bucket, count), oldest first.
    recent_endpoints: VecDeque<(Time, u32)>,
}

impl Bridge {
    fn new(id: FullJid, settings: &BridgeSettings) -> Bridge {
        Bridge {
            id,
            stress: 0.0,
            average_participant_stress: settings.average_participant_stress,
            graceful_shutdown: false,
            shutting_down: false,
            draining: true,
            version: None,
            release: None,
            region: None,
            relay_id: None,
            healthy_reported: None,
            health: health::Health::default(),
            recent_endpoints: VecDeque::new(),
        }
    }

    /// Takes what the presence says; what it does not say stays as it was. Graceful shutdown
    /// and shutting down never end: a bridge in them only leaves.
    fn apply(&mut self, stats: BridgeStats) {
        self.stress = stats.stress_level.unwrap_or(self.stress);
        self.average_participant_stress = stats.average_participant_stress.unwrap_or(self.average_participant_stress);
        self.graceful_shutdown |= stats.graceful_shutdown;
        self.shutting_down |= stats.shutting_down;
        self.draining = stats.drain.unwrap_or(self.draining);
        let keep = |new: Option<String>, old: &mut Option<String>| {
            if new.is_some() {
                *old = new;
            }
        };
        keep(stats.version, &mut self.version);
        keep(stats.release, &mut self.release);
        keep(stats.region, &mut self.region);
        keep(stats.relay_id, &mut self.relay_id);
        self.healthy_reported = stats.healthy.or(self.healthy_reported);
    }

    pub fn id(&self) -> &FullJid {
        &self.id
    }

    /// The stress it last reported (0 until it reports one).
    pub fn stress(&self) -> f64 {
        self.stress
    }

    /// Reported stress plus what the participants added within the ramp-up interval will add
    /// once the bridge's reports catch up with them (to one second's precision).
    pub fn corrected_stress(&self, now: Time, rampup_interval: chrono::Duration) -> f64 {
        let since = now - rampup_interval;
        let recent: u64 =
            self.recent_endpoints.iter().filter(|(at, _)| *at > since && *at <= now).map(|(_, n)| u64::from(*n)).sum();
        self.stress + recent as f64 * self.average_participant_stress
    }

    pub fn is_operational(&self) -> bool {
        self.health.is_operational()
    }

    pub fn in_graceful_shutdown(&self) -> bool {
        self.graceful_shutdown
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutting_down
    }

    pub fn is_draining(&self) -> bool {
        self.draining
    }

    /// `version-release` when both are known, else the version (Jicofo's "full version"):
    /// bridges of different full versions are never mixed in a conference.
    pub fn full_version(&self) -> Option<String> {
        match (&self.version, &self.release) {
            (Some(version), Some(release)) => Some(format!("{version}-{release}")),
            (version, _) => version.clone(),
        }
    }

    pub fn region(&self) -> Option<&str> {
        self.region.as_deref()
    }

    pub fn relay_id(&self) -> Option<&str> {
        self.relay_id.as_deref()
    }

    /// The `healthy` stat of its presence: informative only (checks use IQs).
    pub fn healthy_reported(&self) -> Option<bool> {
        self.healthy_reported
    }
}

/// What a deadline of a bridge is for.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
enum Deadline {
    /// The next health check, the answer to the outstanding one, or the retry.
    Probe,
    /// The end of the failure's quarantine.
    FailureReset,
}

/// All bridges the focus knows, at most `max_bridges`.
#[derive(Debug)]
pub struct Bridges {
    settings: BridgeSettings,
    bridges: BTreeMap<FullJid, Bridge>,
    timers: Timers<(FullJid, Deadline)>,
    next_check: u64,
    /// Bridges ever added: spreads their first checks over the interval.
    added: u64,
    /// Bridges that left without having announced a shutdown (Jicofo's `lost_bridges`).
    lost: u64,
}

impl Bridges {
    pub fn new(settings: BridgeSettings) -> Bridges {
        Bridges { settings, bridges: BTreeMap::new(), timers: Timers::default(), next_check: 0, added: 0, lost: 0 }
    }

    pub fn settings(&self) -> &BridgeSettings {
        &self.settings
    }

    /// A brewery occupant's presence with stats: a new bridge, or news from a known one.
    pub fn on_presence(&mut self, now: Time, id: &FullJid, stats: BridgeStats) -> Vec<BridgeEvent> {
        if let Some(bridge) = self.bridges.get_mut(id) {
            let (was_graceful, was_shutting_down) = (bridge.graceful_shutdown, bridge.shutting_down);
            bridge.apply(stats);
            if bridge.graceful_shutdown && !was_graceful {
                info!(bridge = %id, "bridge in graceful shutdown: no new conferences");
            }
            if bridge.shutting_down && !was_shutting_down {
                info!(bridge = %id, "bridge is shutting down: its participants move");
                return vec![BridgeEvent::Lost { id: id.clone(), why: LossReason::ShuttingDown }];
            }
            return Vec::new();
        }
        if self.bridges.len() >= self.settings.max_bridges {
            warn!(bridge = %id, max_bridges = self.settings.max_bridges, "bridge ignored: bridges.max_bridges reached");
            return Vec::new();
        }
        let mut bridge = Bridge::new(id.clone(), &self.settings);
        bridge.apply(stats);
        info!(bridge = %id, version = ?bridge.full_version(), region = ?bridge.region, "bridge added");
        let usable = !bridge.shutting_down;
        self.bridges.insert(id.clone(), bridge);
        self.schedule_first_check(now, id);
        if usable {
            vec![BridgeEvent::Usable(id.clone())]
        } else {
            Vec::new()
        }
    }

    /// The occupant left the brewery (or was kicked): it is forgotten.
    pub fn on_left(&mut self, id: &FullJid) -> Vec<BridgeEvent> {
        let Some(bridge) = self.bridges.remove(id) else { return Vec::new() };
        self.timers.set((id.clone(), Deadline::Probe), None);
        self.timers.set((id.clone(), Deadline::FailureReset), None);
        if bridge.graceful_shutdown || bridge.shutting_down {
            info!(bridge = %id, "bridge left after its shutdown");
        } else {
            self.lost += 1;
            warn!(bridge = %id, "bridge left the brewery");
        }
        vec![BridgeEvent::Lost { id: id.clone(), why: LossReason::Left }]
    }

    /// Forgets every bridge: the focus left the brewery or lost its link to Prosody. Nothing
    /// is reported per bridge; the caller treats all bridge sessions as gone. Bridges come back
    /// with the brewery's presence after the rejoin.
    pub fn clear(&mut self) {
        self.bridges.clear();
        self.timers = Timers::default();
    }

    /// A Colibri2 request to the bridge failed in a way that says something about the bridge.
    /// Only the caller's conference moves (it knows of the failure); others stay, as in
    /// Jicofo: one failed request need not mean a dead bridge, health checks decide that.
    pub fn on_allocation_failure(&mut self, now: Time, id: &FullJid, kind: AllocationFailure) {
        let Some(bridge) = self.bridges.get_mut(id) else { return };
        match kind {
            AllocationFailure::GracefulShutdown => {
                info!(bridge = %id, "bridge refused an allocation: in graceful shutdown");
                bridge.graceful_shutdown = true;
            }
            AllocationFailure::NonOperational => {
                warn!(bridge = %id, "allocation failed: bridge not used until it passes a health check");
                self.mark_failed(now, id);
            }
        }
    }

    /// A participant was put on the bridge: until its reports show the new load, its stress
    /// is corrected upwards so that a burst of joins does not all land on one bridge.
    pub fn endpoint_added(&mut self, now: Time, id: &FullJid) {
        let rampup = self.settings.rampup_interval;
        let Some(bridge) = self.bridges.get_mut(id) else { return };
        let recent = &mut bridge.recent_endpoints;
        while recent.front().is_some_and(|(at, _)| *at <= now - rampup) {
            recent.pop_front();
        }
        match recent.back_mut() {
            Some((at, count)) if *at <= now && now - *at < chrono::Duration::seconds(1) => {
                *count = count.saturating_add(1)
            }
            _ => recent.push_back((now, 1)),
        }
    }

    pub fn get(&self, id: &FullJid) -> Option<&Bridge> {
        self.bridges.get(id)
    }

    pub fn is_operational(&self, id: &FullJid) -> bool {
        self.bridges.get(id).is_some_and(Bridge::is_operational)
    }

    /// Every bridge, in JID order (for statistics and metrics).
    pub fn iter(&self) -> impl Iterator<Item = &Bridge> {
        self.bridges.values()
    }

    pub fn len(&self) -> usize {
        self.bridges.len()
    }

    /// Bridges that left the brewery without having announced a shutdown, since the start.
    pub fn lost_count(&self) -> u64 {
        self.lost
    }

    pub fn is_empty(&self) -> bool {
        self.bridges.is_empty()
    }

    /// Deadlines held (for the core's footprint): at most two per bridge.
    pub fn timer_count(&self) -> usize {
        self.timers.len()
    }
}
