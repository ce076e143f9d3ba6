//! Health checks in virtual time (protocol.md §8.2; defaults: every 10 s, answer within 15 s,
//! retry after 5 s, failure_reset 1 min).

use super::*;

const UNHEALTHY: [DefinedCondition; 2] = [DefinedCondition::InternalServerError, DefinedCondition::ServiceUnavailable];

/// A harness with one bridge whose first check is out.
fn checked_bridge() -> Harness {
    let mut h = Harness::new();
    h.join("jvb-1", running(0.1));
    h.until_check("jvb-1");
    h
}

#[test]
fn a_bridge_is_checked_every_interval_after_its_last_answer() {
    let mut h = Harness::new();
    h.join("jvb-1", running(0.1));
    h.until_check("jvb-1");
    assert!(h.now < start() + Duration::seconds(10), "the first check comes within one interval");
    for _ in 0..3 {
        let answered = h.now;
        assert_eq!(h.answer("jvb-1", HealthOutcome::Healthy), vec![]);
        h.advance(Duration::seconds(10) - Duration::milliseconds(1));
        assert!(h.checks.is_empty(), "not before the interval is over");
        h.advance(Duration::milliseconds(1));
        assert_eq!(h.sent.last().unwrap(), &(answered + Duration::seconds(10), jid("jvb-1")));
    }
    assert!(h.bridges.is_operational(&jid("jvb-1")));
    assert_eq!(h.take_events(), vec![]);
}

#[test]
fn first_checks_of_bridges_known_together_are_spread_over_the_interval() {
    let mut h = Harness::new();
    for n in 0..10 {
        h.join(&format!("jvb-{n}"), running(0.1));
    }
    h.advance(Duration::seconds(10) - Duration::milliseconds(1));
    let mut times: Vec<Time> = h.sent.iter().map(|(at, _)| *at).collect();
    assert_eq!(times.len(), 10, "each bridge is checked once within the first interval");
    times.dedup();
    assert_eq!(times.len(), 10, "no two at the same moment: {times:?}");
    let gaps = times.windows(2).map(|w| w[1] - w[0]);
    assert!(gaps.clone().all(|gap| gap >= Duration::milliseconds(300)), "{:?}", gaps.collect::<Vec<_>>());
}

#[test]
fn an_unhealthy_answer_loses_the_bridge_and_a_passed_check_brings_it_back() {
    for condition in UNHEALTHY {
        let mut h = checked_bridge();
        let failed_at = h.now;
        let events = h.answer("jvb-1", HealthOutcome::Error(condition.clone()));
        assert_eq!(events, vec![lost("jvb-1", LossReason::HealthCheckFailed)], "{condition:?}");
        assert!(!h.bridges.is_operational(&jid("jvb-1")));
        assert_eq!(h.select(&SelectionRequest::default()), Err(SelectionError::NoOperationalBridge));
        // Checks go on (Jicofo stopped them: issue #1143); passing ones within failure_reset do
        // not bring it back before failure_reset is over.
        h.answer_with = Some(HealthOutcome::Healthy);
        h.advance(failed_at + Duration::minutes(1) - Duration::milliseconds(1) - h.now);
        assert!(!h.bridges.is_operational(&jid("jvb-1")));
        assert_eq!(h.take_events(), vec![]);
        h.advance(Duration::milliseconds(1));
        assert_eq!(h.take_events(), vec![usable("jvb-1")]);
        assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-1")));
    }
}

#[test]
fn a_check_passed_within_failure_reset_brings_the_bridge_back_when_it_ends() {
    // 45 s is no multiple of the interval: the end of the quarantine falls between checks.
    let mut h = Harness::with(BridgeSettings { failure_reset: Duration::seconds(45), ..BridgeSettings::default() });
    h.join("jvb-1", running(0.1));
    h.until_check("jvb-1");
    h.answer("jvb-1", HealthOutcome::Error(DefinedCondition::ServiceUnavailable));
    let failed_at = h.now;
    h.answer_with = Some(HealthOutcome::Healthy);
    h.advance(Duration::seconds(45) - Duration::milliseconds(1));
    assert_eq!(h.take_events(), vec![]);
    h.advance(Duration::milliseconds(1));
    assert_eq!((h.now - failed_at, h.take_events()), (Duration::seconds(45), vec![usable("jvb-1")]));
}

#[test]
fn recovery_needs_a_passed_check_not_only_time() {
    let mut h = checked_bridge();
    h.answer("jvb-1", HealthOutcome::Error(DefinedCondition::InternalServerError));
    // It keeps failing for two minutes: no recovery, and no second Lost.
    h.answer_with = Some(HealthOutcome::Error(DefinedCondition::ServiceUnavailable));
    h.advance(Duration::minutes(2));
    assert!(h.sent.len() >= 12 && !h.bridges.is_operational(&jid("jvb-1")));
    assert_eq!(h.take_events(), vec![]);
    // Then it passes; it is back failure_reset after its last failure.
    let last_failure = h.sent.last().unwrap().0;
    h.answer_with = Some(HealthOutcome::Healthy);
    h.advance(last_failure + Duration::minutes(1) - Duration::milliseconds(1) - h.now);
    assert_eq!(h.take_events(), vec![]);
    h.advance(Duration::milliseconds(1));
    assert_eq!(h.take_events(), vec![usable("jvb-1")]);
}

#[test]
fn a_check_passed_after_failure_reset_brings_the_bridge_back_at_once() {
    let mut h = Harness::with(BridgeSettings { health_interval: Duration::minutes(2), ..BridgeSettings::default() });
    h.join("jvb-1", running(0.1));
    h.until_check("jvb-1");
    h.answer("jvb-1", HealthOutcome::Error(DefinedCondition::InternalServerError));
    h.advance(Duration::seconds(90));
    assert_eq!(h.take_events(), vec![], "failure_reset is over, but nothing passed yet");
    h.advance(Duration::seconds(30));
    assert_eq!(h.answer("jvb-1", HealthOutcome::Healthy), vec![usable("jvb-1")]);
    assert!(h.bridges.is_operational(&jid("jvb-1")));
}

#[test]
fn a_new_failure_restarts_the_quarantine_and_a_recovered_bridge_can_be_lost_again() {
    let mut h = checked_bridge();
    h.answer("jvb-1", HealthOutcome::Error(DefinedCondition::InternalServerError));
    h.answer_with = Some(HealthOutcome::Healthy);
    h.advance(Duration::seconds(40));
    h.bridges.on_allocation_failure(h.now, &jid("jvb-1"), AllocationFailure::NonOperational);
    let second_failure = h.now;
    h.advance(Duration::minutes(1) - Duration::milliseconds(1));
    assert!(h.take_events().is_empty(), "failure_reset counts from the last failure");
    h.advance(Duration::milliseconds(1));
    assert_eq!((h.now, h.take_events()), (second_failure + Duration::minutes(1), vec![usable("jvb-1")]));
    h.answer_with = None;
    h.until_check("jvb-1");
    assert_eq!(
        h.answer("jvb-1", HealthOutcome::Error(DefinedCondition::ServiceUnavailable)),
        vec![lost("jvb-1", LossReason::HealthCheckFailed)]
    );
}

#[test]
fn other_errors_say_nothing_about_the_bridge() {
    let mut h = checked_bridge();
    for condition in
        [DefinedCondition::ItemNotFound, DefinedCondition::BadRequest, DefinedCondition::UndefinedCondition]
    {
        assert_eq!(h.answer("jvb-1", HealthOutcome::Error(condition)), vec![]);
        assert!(h.bridges.is_operational(&jid("jvb-1")));
        h.until_check("jvb-1");
    }
    assert_eq!(h.take_events(), vec![]);
}

#[test]
fn a_silent_bridge_is_retried_once_then_taken_out_without_moving_anyone() {
    let mut h = checked_bridge();
    let first = h.sent[0].0;
    h.drop_checks("jvb-1");
    h.advance(first + Duration::seconds(15) - Duration::milliseconds(1) - h.now);
    assert_eq!(h.sent.len(), 1, "no second check while the first is awaited");
    h.advance(Duration::milliseconds(1));
    assert!(h.bridges.is_operational(&jid("jvb-1")), "one silence is not enough");
    h.advance(Duration::seconds(5));
    assert_eq!(h.sent.last().unwrap(), &(first + Duration::seconds(20), jid("jvb-1")), "the retry");
    h.drop_checks("jvb-1");
    h.advance(Duration::seconds(15) - Duration::milliseconds(1));
    assert!(h.bridges.is_operational(&jid("jvb-1")));
    h.advance(Duration::milliseconds(1));
    assert!(!h.bridges.is_operational(&jid("jvb-1")));
    assert_eq!(h.take_events(), vec![], "no Lost: conferences stay");
    // Checks go on an interval later; the bridge comes back once one passes and failure_reset
    // is over.
    let failed_at = first + Duration::seconds(35);
    h.answer_with = Some(HealthOutcome::Healthy);
    h.advance(Duration::seconds(10));
    assert_eq!(h.sent.last().unwrap(), &(failed_at + Duration::seconds(10), jid("jvb-1")));
    h.advance(failed_at + Duration::minutes(1) - h.now);
    assert_eq!(h.take_events(), vec![usable("jvb-1")]);
}

#[test]
fn an_answer_to_the_retry_keeps_the_bridge() {
    let mut h = checked_bridge();
    h.drop_checks("jvb-1");
    h.advance(Duration::seconds(20));
    assert_eq!(h.sent.len(), 2);
    assert_eq!(h.answer("jvb-1", HealthOutcome::Healthy), vec![]);
    h.answer_with = Some(HealthOutcome::Healthy);
    h.advance(Duration::minutes(5));
    assert!(h.bridges.is_operational(&jid("jvb-1")));
    assert_eq!(h.take_events(), vec![]);
}

#[test]
fn late_stray_and_misaddressed_answers_are_ignored() {
    let mut h = checked_bridge();
    let (_, old) = h.checks[0];
    h.drop_checks("jvb-1");
    h.advance(Duration::seconds(15));
    // The first check timed out; its answer now (even a failure) changes nothing.
    let fail = HealthOutcome::Error(DefinedCondition::InternalServerError);
    assert_eq!(h.bridges.on_health_result(h.now, &jid("jvb-1"), old, fail.clone()), vec![]);
    assert!(h.bridges.is_operational(&jid("jvb-1")));
    h.advance(Duration::seconds(5));
    let (_, retry) = h.checks[0];
    // The right id from another JID, and any id from an unknown JID, are ignored too.
    h.join("jvb-2", running(0.1));
    assert_eq!(h.bridges.on_health_result(h.now, &jid("jvb-2"), retry, fail.clone()), vec![]);
    assert_eq!(h.bridges.on_health_result(h.now, &jid("nobody"), retry, fail.clone()), vec![]);
    assert!(h.bridges.is_operational(&jid("jvb-2")));
    // The retry's own answer counts, once.
    let answer = h.bridges.on_health_result(h.now, &jid("jvb-1"), retry, fail.clone());
    assert_eq!(answer, vec![lost("jvb-1", LossReason::HealthCheckFailed)]);
    assert_eq!(h.bridges.on_health_result(h.now, &jid("jvb-1"), retry, HealthOutcome::Healthy), vec![]);
    assert!(!h.bridges.is_operational(&jid("jvb-1")));
}

#[test]
fn a_bridge_that_leaves_with_a_check_out_is_not_checked_any_more() {
    let mut h = checked_bridge();
    h.bridges.on_left(&jid("jvb-1"));
    let (_, check) = h.checks.remove(0);
    assert_eq!(h.bridges.on_health_result(h.now, &jid("jvb-1"), check, HealthOutcome::Healthy), vec![]);
    h.advance(Duration::minutes(2));
    assert_eq!(h.sent.len(), 1);
    assert_eq!(h.bridges.timer_count(), 0);
}

#[test]
fn a_shutting_down_bridge_that_recovers_is_not_announced_usable() {
    let mut h = checked_bridge();
    h.answer("jvb-1", HealthOutcome::Error(DefinedCondition::InternalServerError));
    h.join("jvb-1", BridgeStats { shutting_down: true, ..running(0.1) });
    h.answer_with = Some(HealthOutcome::Healthy);
    h.advance(Duration::minutes(1));
    assert!(h.bridges.is_operational(&jid("jvb-1")));
    assert_eq!(h.take_events(), vec![]);
}
