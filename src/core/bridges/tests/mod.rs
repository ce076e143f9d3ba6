//! The bridge registry in virtual time: a harness that runs its timers in order, and tests of
//! what presence does to the registry. Health checks and selection have their own files.

mod health;
mod selection;

use chrono::{DateTime, Duration, Utc};
use xmpp_parsers::jid::FullJid;
use xmpp_parsers::stanza_error::DefinedCondition;

use super::*;

fn start() -> Time {
    DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").unwrap().with_timezone(&Utc)
}

fn jid(nick: &str) -> FullJid {
    format!("jvbbrewery@internal.auth.meet.test/{nick}").parse().unwrap()
}

/// What a running JVB says: its stress, not draining.
fn running(stress: f64) -> BridgeStats {
    BridgeStats { stress_level: Some(stress), drain: Some(false), ..BridgeStats::default() }
}

struct Harness {
    bridges: Bridges,
    now: Time,
    /// Health checks sent and not yet answered or dropped by the test, oldest first.
    checks: Vec<(FullJid, HealthCheckId)>,
    /// Every check ever sent, with its time.
    sent: Vec<(Time, FullJid)>,
    /// Events from timers (and from answers given by `answer_with`).
    events: Vec<BridgeEvent>,
    /// When set, every check is answered with this as soon as it is sent.
    answer_with: Option<HealthOutcome>,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(BridgeSettings::default())
    }

    fn with(settings: BridgeSettings) -> Harness {
        Harness {
            bridges: Bridges::new(settings),
            now: start(),
            checks: vec![],
            sent: vec![],
            events: vec![],
            answer_with: None,
        }
    }

    fn join(&mut self, nick: &str, stats: BridgeStats) -> Vec<BridgeEvent> {
        self.bridges.on_presence(self.now, &jid(nick), stats)
    }

    /// Moves time forward by `by`, firing every deadline on the way at its own time.
    fn advance(&mut self, by: Duration) {
        let until = self.now + by;
        while let Some(at) = self.bridges.poll_timeout().filter(|at| *at <= until) {
            assert!(at >= self.now, "a deadline in the past: {at} < {}", self.now);
            self.now = at;
            for action in self.bridges.handle_timeout(at) {
                match action {
                    BridgeAction::SendHealthCheck { to, check } => {
                        // One check at a time: an earlier one must have timed out.
                        let timeout = self.bridges.settings().health_timeout;
                        let earlier = self.sent.iter().rev().find(|(_, t)| *t == to).map(|(sent, _)| *sent);
                        if self.checks.iter().any(|(t, _)| *t == to) {
                            assert!(earlier.is_some_and(|e| e + timeout <= at), "a second check to {to} at {at}");
                        }
                        self.checks.retain(|(t, _)| *t != to);
                        self.sent.push((at, to.clone()));
                        self.checks.push((to, check));
                    }
                    BridgeAction::Event(event) => self.events.push(event),
                }
            }
            if let Some(outcome) = self.answer_with.clone() {
                for (to, check) in std::mem::take(&mut self.checks) {
                    self.events.extend(self.bridges.on_health_result(at, &to, check, outcome.clone()));
                }
            }
            assert!(self.bridges.poll_timeout().is_none_or(|next| next > at), "a deadline was left due");
        }
        self.now = until;
    }

    /// Moves time to the next health check sent to `nick` (which must come within a minute).
    fn until_check(&mut self, nick: &str) {
        for _ in 0..600 {
            if self.checks.iter().any(|(to, _)| *to == jid(nick)) {
                return;
            }
            self.advance(Duration::milliseconds(100));
        }
        panic!("no health check to {nick} within a minute");
    }

    /// Answers the outstanding check to `nick`.
    fn answer(&mut self, nick: &str, outcome: HealthOutcome) -> Vec<BridgeEvent> {
        let index = self.checks.iter().position(|(to, _)| *to == jid(nick)).expect("an outstanding check");
        let (to, check) = self.checks.remove(index);
        self.bridges.on_health_result(self.now, &to, check, outcome)
    }

    /// Forgets checks the registry has timed out (the test plays a silent bridge).
    fn drop_checks(&mut self, nick: &str) {
        self.checks.retain(|(to, _)| *to != jid(nick));
    }

    fn take_events(&mut self) -> Vec<BridgeEvent> {
        std::mem::take(&mut self.events)
    }

    fn select(&self, request: &SelectionRequest) -> Result<FullJid, SelectionError> {
        self.bridges.select(self.now, request)
    }
}

fn usable(nick: &str) -> BridgeEvent {
    BridgeEvent::Usable(jid(nick))
}

fn lost(nick: &str, why: LossReason) -> BridgeEvent {
    BridgeEvent::Lost { id: jid(nick), why }
}

#[test]
fn a_new_bridge_is_usable_at_once() {
    let mut h = Harness::new();
    assert_eq!(h.join("jvb-1", running(0.1)), vec![usable("jvb-1")]);
    assert!(h.bridges.is_operational(&jid("jvb-1")));
    assert_eq!(h.bridges.len(), 1);
    // News from a known bridge is no event.
    assert_eq!(h.join("jvb-1", running(0.3)), vec![]);
    assert_eq!(h.bridges.get(&jid("jvb-1")).unwrap().stress(), 0.3);
}

#[test]
fn a_bridge_that_leaves_is_lost_and_forgotten() {
    let mut h = Harness::new();
    h.join("jvb-1", running(0.1));
    assert_eq!(h.bridges.on_left(&jid("jvb-1")), vec![lost("jvb-1", LossReason::Left)]);
    assert!(h.bridges.is_empty() && h.bridges.get(&jid("jvb-1")).is_none());
    assert_eq!(h.bridges.poll_timeout(), None, "its checks are cancelled");
    assert_eq!(h.bridges.on_left(&jid("jvb-1")), vec![], "an unknown occupant leaving is nothing");
}

#[test]
fn shutting_down_is_reported_once_and_a_bridge_that_starts_so_is_never_usable() {
    let mut h = Harness::new();
    h.join("jvb-1", running(0.1));
    let down = BridgeStats { shutting_down: true, ..running(0.1) };
    assert_eq!(h.join("jvb-1", down.clone()), vec![lost("jvb-1", LossReason::ShuttingDown)]);
    assert_eq!(h.join("jvb-1", running(0.1)), vec![], "shutting down does not end");
    assert!(h.bridges.get(&jid("jvb-1")).unwrap().is_shutting_down());
    assert_eq!(h.join("jvb-2", down), vec![]);
    assert_eq!(h.bridges.len(), 2);
}

#[test]
fn stats_not_repeated_are_kept_and_shutdown_flags_are_sticky() {
    let mut h = Harness::new();
    let full = BridgeStats {
        region: Some("eu".into()),
        version: Some("2.3".into()),
        release: Some("9909".into()),
        relay_id: Some("r1".into()),
        graceful_shutdown: true,
        average_participant_stress: Some(0.05),
        ..running(0.2)
    };
    h.join("jvb-1", full);
    h.join("jvb-1", BridgeStats { stress_level: None, drain: Some(true), ..BridgeStats::default() });
    let bridge = h.bridges.get(&jid("jvb-1")).unwrap();
    assert_eq!((bridge.region(), bridge.relay_id()), (Some("eu"), Some("r1")));
    assert_eq!(bridge.full_version().as_deref(), Some("2.3-9909"));
    assert_eq!(bridge.stress(), 0.2);
    assert!(bridge.in_graceful_shutdown() && bridge.is_draining());
}

#[test]
fn a_bridge_is_draining_until_its_presence_says_otherwise() {
    let mut h = Harness::new();
    h.join("jvb-1", BridgeStats { stress_level: Some(0.1), ..BridgeStats::default() });
    assert!(h.bridges.get(&jid("jvb-1")).unwrap().is_draining());
    h.join("jvb-1", BridgeStats { drain: Some(false), ..BridgeStats::default() });
    assert!(!h.bridges.get(&jid("jvb-1")).unwrap().is_draining());
}

#[test]
fn no_more_than_max_bridges_are_kept() {
    let mut h = Harness::with(BridgeSettings { max_bridges: 2, ..BridgeSettings::default() });
    h.join("jvb-1", running(0.1));
    h.join("jvb-2", running(0.1));
    assert_eq!(h.join("jvb-3", running(0.0)), vec![], "refused");
    assert_eq!(h.bridges.len(), 2);
    assert!(h.bridges.get(&jid("jvb-3")).is_none());
    assert_eq!(h.bridges.timer_count(), 2, "nothing is kept for a refused bridge");
    // Known bridges still get their news; a freed place can be taken.
    assert_eq!(h.join("jvb-2", BridgeStats { shutting_down: true, ..running(0.1) }).len(), 1);
    h.bridges.on_left(&jid("jvb-1"));
    assert_eq!(h.join("jvb-3", running(0.0)), vec![usable("jvb-3")]);
}

#[test]
fn clear_forgets_everything_and_bridges_come_back_with_their_presence() {
    let mut h = Harness::new();
    h.join("jvb-1", running(0.1));
    h.join("jvb-2", running(0.1));
    h.until_check("jvb-1");
    h.bridges.clear();
    assert!(h.bridges.is_empty());
    assert_eq!((h.bridges.poll_timeout(), h.bridges.timer_count()), (None, 0));
    assert_eq!(h.select(&SelectionRequest::default()), Err(SelectionError::NoBridge));
    // The answer to a check sent before the clear means nothing now, even once it is back.
    assert_eq!(h.join("jvb-1", running(0.1)), vec![usable("jvb-1")]);
    assert_eq!(h.answer("jvb-1", HealthOutcome::Error(DefinedCondition::InternalServerError)), vec![]);
    assert!(h.bridges.is_operational(&jid("jvb-1")));
}

#[test]
fn an_allocation_failure_takes_a_bridge_out_until_it_passes_a_check() {
    let mut h = Harness::new();
    h.join("jvb-1", running(0.1));
    h.bridges.on_allocation_failure(h.now, &jid("jvb-1"), AllocationFailure::NonOperational);
    assert!(!h.bridges.is_operational(&jid("jvb-1")));
    assert_eq!(h.select(&SelectionRequest::default()), Err(SelectionError::NoOperationalBridge));
    let failed_at = h.now;
    h.answer_with = Some(HealthOutcome::Healthy);
    h.advance(Duration::minutes(1) - Duration::milliseconds(1));
    assert!(h.sent.len() >= 5 && h.take_events().is_empty(), "checks pass, but failure_reset is not over");
    h.advance(Duration::milliseconds(1));
    assert_eq!((h.now, h.take_events()), (failed_at + Duration::minutes(1), vec![usable("jvb-1")]));
    assert!(h.bridges.is_operational(&jid("jvb-1")));
}

#[test]
fn a_graceful_shutdown_refusal_marks_the_bridge_without_failing_it() {
    let mut h = Harness::new();
    h.join("jvb-1", running(0.1));
    h.bridges.on_allocation_failure(h.now, &jid("jvb-1"), AllocationFailure::GracefulShutdown);
    let bridge = h.bridges.get(&jid("jvb-1")).unwrap();
    assert!(bridge.in_graceful_shutdown() && bridge.is_operational());
    h.bridges.on_allocation_failure(h.now, &jid("unknown"), AllocationFailure::NonOperational);
}

#[test]
fn settings_come_from_the_configuration() {
    let config = crate::config::Config::from_toml(
        "[xmpp]\ncomponent = \"focus.meet.test\"\nsecret = \"s\"\nmuc_domain = \"conference.meet.test\"\n[bridges]\nhealth_interval = \"20s\"\nstrategy = \"region\"\nregion_groups = [[\"us-east\", \"us-west\"]]\n",
    )
    .unwrap();
    let settings = BridgeSettings::from_config(&config);
    assert_eq!(settings.health_interval, Duration::seconds(20));
    assert_eq!(settings.retry_delay, Duration::seconds(10), "half the interval, as in Jicofo");
    assert_eq!(settings.health_timeout, Duration::seconds(15));
    assert_eq!(settings.failure_reset, Duration::minutes(1));
    assert_eq!(settings.rampup_interval, Duration::seconds(20));
    assert_eq!(settings.strategy, Strategy::Region);
    assert_eq!(settings.region_groups, vec![vec!["us-east".to_owned(), "us-west".to_owned()]]);
    assert_eq!((settings.stress_threshold, settings.average_participant_stress), (0.8, 0.01));
    assert_eq!((settings.max_participants_per_bridge, settings.max_bridges), (80, 256));
    assert_eq!(BridgeSettings::default().strategy, Strategy::Single);
}
