//! Health checks (protocol.md §8.2): every `health_interval` each bridge gets an IQ; one check
//! per bridge is outstanding at most, and the next one is due an interval after the last one
//! ended, so bridges added together stay spread out.
//!
//! - `result`: healthy. A failed bridge is used again once it passed a check and
//!   `failure_reset` has gone by since its last failure.
//! - `internal-server-error` / `service-unavailable`: failed, and its conferences move
//!   ([`LossReason::HealthCheckFailed`]). Other errors say nothing about the bridge: logged.
//! - No answer within `health_timeout`: one retry after `retry_delay`; a second silence makes
//!   it non-operational without moving anyone — a network blip between focus and bridge need
//!   not affect participants, and moving every conference at once hurts more than it helps.
//!
//! A failed bridge keeps being checked, so it comes back when it works again: Jicofo stopped
//! checking it and lost it for good until it rejoined the brewery (jicofo issue #1143).

use tracing::{debug, info, warn};
use xmpp_parsers::jid::FullJid;
use xmpp_parsers::stanza_error::DefinedCondition;

use super::{BridgeAction, BridgeEvent, Bridges, Deadline, HealthOutcome, LossReason, Time};

/// Names one health check, so that a late answer to an older one is not taken for the
/// answer to the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HealthCheckId(pub u64);

impl std::fmt::Display for HealthCheckId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

/// Where a bridge's checks stand; the `Probe` deadline belongs to the current step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum Probe {
    /// The next check is due at the deadline.
    #[default]
    Idle,
    /// A check is out; the deadline is its timeout.
    Outstanding { check: HealthCheckId, retry: bool },
    /// The first check went unanswered; the retry is due at the deadline.
    RetryPending,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
enum State {
    /// New bridges are trusted until something says otherwise (as in Jicofo).
    #[default]
    Operational,
    /// Failed at `since`; `passed`: a health check passed since then.
    Failed { since: Time, passed: bool },
}

#[derive(Debug, Clone, Default)]
pub(super) struct Health {
    probe: Probe,
    state: State,
    /// `Lost` was reported for the current failure: not again until the bridge is usable.
    lost_reported: bool,
}

impl Health {
    pub(super) fn is_operational(&self) -> bool {
        self.state == State::Operational
    }
}

impl Bridges {
    /// Arms a new bridge's first check at a point of the interval that differs from bridge to
    /// bridge (golden-ratio steps), so that bridges known at once are not checked at once.
    pub(super) fn schedule_first_check(&mut self, now: Time, id: &FullJid) {
        let fraction = (self.added as f64 * 0.618_033_988_749_895).fract();
        self.added += 1;
        let interval = self.settings.health_interval.num_milliseconds() as f64;
        let first = now + chrono::Duration::milliseconds((interval * fraction) as i64);
        self.timers.set((id.clone(), Deadline::Probe), Some(first));
    }

    /// When [`Bridges::handle_timeout`] must be called next.
    pub fn poll_timeout(&self) -> Option<Time> {
        self.timers.next()
    }

    /// Sends due checks, times out unanswered ones, ends quarantines.
    pub fn handle_timeout(&mut self, now: Time) -> Vec<BridgeAction> {
        let mut actions = Vec::new();
        for (id, deadline) in self.timers.take_due(now) {
            let Some(bridge) = self.bridges.get_mut(&id) else { continue };
            match (deadline, bridge.health.probe) {
                (Deadline::Probe, Probe::Idle) => actions.push(self.send_check(now, &id, false)),
                (Deadline::Probe, Probe::RetryPending) => actions.push(self.send_check(now, &id, true)),
                (Deadline::Probe, Probe::Outstanding { retry: false, .. }) => {
                    warn!(bridge = %id, retry_in = ?self.settings.retry_delay, "health check timed out: retrying");
                    bridge.health.probe = Probe::RetryPending;
                    self.timers.set((id, Deadline::Probe), Some(now + self.settings.retry_delay));
                }
                (Deadline::Probe, Probe::Outstanding { retry: true, .. }) => {
                    warn!(bridge = %id, "health check timed out twice: bridge not used until it answers");
                    bridge.health.probe = Probe::Idle;
                    self.timers.set((id.clone(), Deadline::Probe), Some(now + self.settings.health_interval));
                    self.mark_failed(now, &id);
                }
                (Deadline::FailureReset, _) => {
                    if matches!(bridge.health.state, State::Failed { passed: true, .. }) {
                        actions.extend(self.recover(&id).map(BridgeAction::Event));
                    }
                }
            }
        }
        actions
    }

    fn send_check(&mut self, now: Time, id: &FullJid, retry: bool) -> BridgeAction {
        let check = HealthCheckId(self.next_check);
        self.next_check += 1;
        if let Some(bridge) = self.bridges.get_mut(id) {
            bridge.health.probe = Probe::Outstanding { check, retry };
        }
        self.timers.set((id.clone(), Deadline::Probe), Some(now + self.settings.health_timeout));
        debug!(bridge = %id, %check, retry, "health check");
        BridgeAction::SendHealthCheck { to: id.clone(), check }
    }

    /// The answer to health check `check`, from `from`. Answers to checks that are not
    /// outstanding (timed out, or from before [`Bridges::clear`]) and answers from another JID
    /// are ignored.
    pub fn on_health_result(
        &mut self,
        now: Time,
        from: &FullJid,
        check: HealthCheckId,
        outcome: HealthOutcome,
    ) -> Vec<BridgeEvent> {
        let Some(bridge) = self.bridges.get_mut(from) else { return Vec::new() };
        if !matches!(bridge.health.probe, Probe::Outstanding { check: awaited, .. } if awaited == check) {
            debug!(bridge = %from, %check, "answer to a health check that is no longer awaited: ignored");
            return Vec::new();
        }
        bridge.health.probe = Probe::Idle;
        self.timers.set((from.clone(), Deadline::Probe), Some(now + self.settings.health_interval));
        match outcome {
            HealthOutcome::Healthy => {
                let State::Failed { since, passed } = &mut bridge.health.state else { return Vec::new() };
                *passed = true;
                if now >= *since + self.settings.failure_reset {
                    return self.recover(from).into_iter().collect();
                }
                Vec::new()
            }
            HealthOutcome::Error(DefinedCondition::InternalServerError | DefinedCondition::ServiceUnavailable) => {
                warn!(bridge = %from, ?outcome, "health check failed: its participants move");
                let report = !std::mem::replace(&mut bridge.health.lost_reported, true);
                self.mark_failed(now, from);
                match report {
                    true => vec![BridgeEvent::Lost { id: from.clone(), why: LossReason::HealthCheckFailed }],
                    false => Vec::new(),
                }
            }
            HealthOutcome::Error(condition) => {
                warn!(bridge = %from, ?condition, "unexpected health-check error: bridge state unchanged");
                Vec::new()
            }
        }
    }

    /// Not chosen from now until `failure_reset` has passed and a health check passed.
    pub(super) fn mark_failed(&mut self, now: Time, id: &FullJid) {
        let Some(bridge) = self.bridges.get_mut(id) else { return };
        bridge.health.state = State::Failed { since: now, passed: false };
        self.timers.set((id.clone(), Deadline::FailureReset), Some(now + self.settings.failure_reset));
    }

    fn recover(&mut self, id: &FullJid) -> Option<BridgeEvent> {
        let bridge = self.bridges.get_mut(id)?;
        bridge.health.state = State::Operational;
        bridge.health.lost_reported = false;
        self.timers.set((id.clone(), Deadline::FailureReset), None);
        info!(bridge = %id, "bridge works again");
        (!bridge.shutting_down).then(|| BridgeEvent::Usable(id.clone()))
    }
}
