//! Bridge selection (protocol.md §8.3): each filter, each strategy, region groups and caps.

use super::*;

fn in_region(stress: f64, region: &str) -> BridgeStats {
    BridgeStats { region: Some(region.into()), relay_id: Some(format!("relay-{region}")), ..running(stress) }
}

fn versioned(stress: f64, version: &str) -> BridgeStats {
    BridgeStats { version: Some(version.into()), relay_id: Some("r".into()), ..running(stress) }
}

fn with_strategy(strategy: Strategy) -> Harness {
    Harness::with(BridgeSettings { strategy, ..BridgeSettings::default() })
}

fn region_harness(local: Option<&str>) -> Harness {
    Harness::with(BridgeSettings {
        strategy: Strategy::Region,
        local_region: local.map(str::to_owned),
        region_groups: vec![vec!["us-east".into(), "us-west".into()], vec!["eu-central".into(), "eu-west".into()]],
        ..BridgeSettings::default()
    })
}

/// A participant of a conference that uses `bridges` (nick, participants), from `region`.
fn request<'a>(bridges: &'a [(FullJid, usize)], region: Option<&'a str>) -> SelectionRequest<'a> {
    SelectionRequest {
        conference_bridges: bridges,
        participant_region: region,
        pinned_version: None,
        allow_new_bridge: true,
    }
}

#[test]
fn the_least_stressed_bridge_is_chosen_and_ties_go_by_jid() {
    let mut h = Harness::new();
    assert_eq!(h.select(&SelectionRequest::default()), Err(SelectionError::NoBridge));
    h.join("jvb-c", running(0.3));
    h.join("jvb-b", running(0.2));
    h.join("jvb-a", running(0.5));
    assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-b")));
    h.join("jvb-a", running(0.2));
    assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-a")));
}

#[test]
fn non_operational_and_shutting_down_bridges_are_dropped() {
    let mut h = Harness::new();
    h.join("jvb-1", running(0.1));
    h.join("jvb-2", running(0.5));
    h.bridges.on_allocation_failure(h.now, &jid("jvb-1"), AllocationFailure::NonOperational);
    assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-2")));
    h.join("jvb-2", BridgeStats { shutting_down: true, ..running(0.5) });
    assert_eq!(h.select(&SelectionRequest::default()), Err(SelectionError::AllShuttingDown));
    h.bridges.on_allocation_failure(h.now, &jid("jvb-2"), AllocationFailure::NonOperational);
    assert_eq!(h.select(&SelectionRequest::default()), Err(SelectionError::NoOperationalBridge));
}

#[test]
fn draining_bridges_are_used_only_when_all_drain() {
    let mut h = Harness::new();
    // No drain stat yet: assumed draining, although idle.
    h.join("jvb-1", BridgeStats { stress_level: Some(0.0), ..BridgeStats::default() });
    h.join("jvb-2", running(0.6));
    assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-2")));
    h.join("jvb-1", BridgeStats { drain: Some(false), ..BridgeStats::default() });
    assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-1")));
    h.join("jvb-1", BridgeStats { drain: Some(true), ..BridgeStats::default() });
    h.join("jvb-2", BridgeStats { drain: Some(true), ..BridgeStats::default() });
    assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-1")), "all drain: the least loaded");
}

#[test]
fn bridges_in_graceful_shutdown_are_used_only_when_all_are() {
    let mut h = Harness::new();
    h.join("jvb-1", BridgeStats { graceful_shutdown: true, ..running(0.0) });
    h.join("jvb-2", running(0.7));
    assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-2")));
    h.bridges.on_allocation_failure(h.now, &jid("jvb-2"), AllocationFailure::GracefulShutdown);
    assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-1")));
}

#[test]
fn rampup_counts_recent_participants_until_reports_catch_up() {
    let mut h = Harness::new();
    h.join("jvb-1", running(0.10));
    h.join("jvb-2", running(0.15));
    assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-1")));
    for _ in 0..6 {
        h.bridges.endpoint_added(h.now, &jid("jvb-1"));
    }
    let corrected = h.bridges.get(&jid("jvb-1")).unwrap().corrected_stress(h.now, Duration::seconds(20));
    assert!((corrected - 0.16).abs() < 1e-9, "{corrected}");
    assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-2")));
    h.advance(Duration::seconds(19));
    assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-2")));
    h.advance(Duration::seconds(1));
    assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-1")), "the interval is over");
    // A bridge's own per-participant figure replaces the configured one.
    h.join("jvb-1", BridgeStats { average_participant_stress: Some(0.1), ..running(0.10) });
    h.bridges.endpoint_added(h.now, &jid("jvb-1"));
    assert_eq!(h.select(&SelectionRequest::default()), Ok(jid("jvb-2")));
}

#[test]
fn rampup_keeps_little_however_many_participants_are_added() {
    let mut h = Harness::new();
    h.join("jvb-1", running(0.0));
    for n in 0..100_000 {
        h.bridges.endpoint_added(start() + Duration::milliseconds(n * 10), &jid("jvb-1"));
    }
    let bridge = h.bridges.get(&jid("jvb-1")).unwrap();
    assert!(bridge.recent_endpoints.len() <= 21, "{}", bridge.recent_endpoints.len());
    let now = start() + Duration::milliseconds(999_990);
    assert!((bridge.corrected_stress(now, Duration::seconds(20)) - 20.0).abs() < 0.5);
}

#[test]
fn single_starts_in_the_participants_region_then_keeps_the_conference_on_its_bridge() {
    let mut h = Harness::new();
    h.join("us", in_region(0.5, "us-east"));
    h.join("eu", in_region(0.1, "eu-west"));
    assert_eq!(h.select(&request(&[], Some("us-east"))), Ok(jid("us")));
    assert_eq!(h.select(&request(&[], Some("ap-south"))), Ok(jid("eu")), "no bridge there: least loaded");
    assert_eq!(h.select(&request(&[], None)), Ok(jid("eu")));
    // Afterwards: the conference's bridge, however loaded, draining or shutting down gracefully.
    let conference = [(jid("us"), 3)];
    h.join("us", BridgeStats { drain: Some(true), graceful_shutdown: true, ..in_region(0.95, "us-east") });
    assert_eq!(h.select(&request(&conference, Some("eu-west"))), Ok(jid("us")));
    h.join("us", BridgeStats { shutting_down: true, ..BridgeStats::default() });
    assert_eq!(h.select(&request(&conference, None)), Err(SelectionError::ConferenceBridgeUnavailable(jid("us"))));
    h.bridges.on_left(&jid("us"));
    assert_eq!(h.select(&request(&conference, None)), Err(SelectionError::ConferenceBridgeUnavailable(jid("us"))));
}

#[test]
fn single_fails_when_the_conferences_bridge_is_not_operational() {
    let mut h = Harness::new();
    h.join("jvb-1", running(0.1));
    h.join("jvb-2", running(0.1));
    h.bridges.on_allocation_failure(h.now, &jid("jvb-1"), AllocationFailure::NonOperational);
    let conference = [(jid("jvb-1"), 2)];
    assert_eq!(h.select(&request(&conference, None)), Err(SelectionError::ConferenceBridgeUnavailable(jid("jvb-1"))));
}

#[test]
fn a_conference_that_may_not_grow_stays_on_its_bridge_whatever_the_strategy() {
    for strategy in [Strategy::Region, Strategy::Split] {
        let mut h = with_strategy(strategy);
        h.join("busy", in_region(0.95, "us-east"));
        h.join("idle", in_region(0.0, "us-east"));
        let conference = [(jid("busy"), 200)];
        let no_relays = SelectionRequest { allow_new_bridge: false, ..request(&conference, Some("us-east")) };
        assert_eq!(h.select(&no_relays), Ok(jid("busy")), "{strategy:?}");
        assert_eq!(h.select(&request(&conference, Some("us-east"))), Ok(jid("idle")), "{strategy:?}");
        // A main bridge without a relay id cannot be joined by another.
        h.join("plain", running(0.9));
        let conference = [(jid("plain"), 200)];
        assert_eq!(h.select(&request(&conference, None)), Ok(jid("plain")), "{strategy:?}");
    }
}

#[test]
fn a_new_bridge_for_a_conference_needs_a_relay_id() {
    let mut h = with_strategy(Strategy::Split);
    h.join("main", in_region(0.5, "us-east"));
    h.join("plain", running(0.0));
    let conference = [(jid("main"), 4)];
    assert_eq!(h.select(&request(&conference, None)), Ok(jid("main")), "plain cannot relay: the only choice");
    h.bridges.on_allocation_failure(h.now, &jid("main"), AllocationFailure::NonOperational);
    assert_eq!(h.select(&request(&conference, None)), Err(SelectionError::NoRelayCapableBridge));
    assert_eq!(h.select(&request(&[], None)), Ok(jid("plain")), "a new conference needs no relay");
}

#[test]
fn split_spreads_participants_over_bridges() {
    let mut h = with_strategy(Strategy::Split);
    for (nick, stress) in [("a", 0.3), ("b", 0.1), ("c", 0.2)] {
        h.join(nick, BridgeStats { relay_id: Some(nick.into()), ..running(stress) });
    }
    assert_eq!(h.select(&request(&[], None)), Ok(jid("b")));
    assert_eq!(h.select(&request(&[(jid("b"), 1)], None)), Ok(jid("c")));
    assert_eq!(h.select(&request(&[(jid("b"), 1), (jid("c"), 1)], None)), Ok(jid("a")));
    let all = [(jid("b"), 3), (jid("c"), 2), (jid("a"), 1)];
    assert_eq!(h.select(&request(&all, None)), Ok(jid("a")), "all used: the one with fewest");
}

#[test]
fn the_conferences_version_binds_every_bridge_it_adds() {
    let mut h = with_strategy(Strategy::Split);
    h.join("old", versioned(0.5, "2.3.100"));
    h.join("new", versioned(0.0, "2.3.200"));
    h.join("old-2", versioned(0.6, "2.3.100"));
    let conference = [(jid("old"), 2)];
    assert_eq!(h.select(&request(&conference, None)), Ok(jid("old-2")), "not the idle bridge of another version");
    h.bridges.on_left(&jid("old-2"));
    assert_eq!(h.select(&request(&conference, None)), Ok(jid("old")), "no other of its version: its own");
    h.bridges.on_allocation_failure(h.now, &jid("old"), AllocationFailure::NonOperational);
    let err = h.select(&request(&conference, None));
    assert_eq!(err, Err(SelectionError::NoBridgeWithVersion("2.3.100".into())), "never the other version");
    // Pinning: a version for a new conference; a conflict with the conference's own version.
    let pinned = |version| SelectionRequest { pinned_version: Some(version), ..request(&[], None) };
    assert_eq!(h.select(&pinned("2.3.200")), Ok(jid("new")));
    assert_eq!(h.select(&pinned("2.3.100")), Err(SelectionError::NoBridgeWithVersion("2.3.100".into())));
    assert_eq!(h.select(&pinned("9.9")), Err(SelectionError::NoBridgeWithVersion("9.9".into())));
    let conflict = SelectionRequest { pinned_version: Some("2.3.200"), ..request(&conference, None) };
    let expected = SelectionError::VersionConflict { pinned: "2.3.200".into(), conference: "2.3.100".into() };
    assert_eq!(h.select(&conflict), Err(expected));
}

#[test]
fn the_full_version_includes_the_release() {
    let mut h = with_strategy(Strategy::Split);
    h.join("a", BridgeStats { release: Some("9909".into()), ..versioned(0.5, "2.3") });
    h.join("b", BridgeStats { release: Some("9823".into()), ..versioned(0.0, "2.3") });
    h.join("c", BridgeStats { release: Some("9909".into()), ..versioned(0.9, "2.3") });
    assert_eq!(h.select(&request(&[(jid("a"), 1)], None)), Ok(jid("c")));
}

#[test]
fn region_prefers_the_participants_region_then_its_group_then_anything() {
    let mut h = region_harness(None);
    h.join("us-east", in_region(0.5, "us-east"));
    h.join("us-west", in_region(0.3, "us-west"));
    h.join("eu-west", in_region(0.1, "eu-west"));
    assert_eq!(h.select(&request(&[], Some("us-east"))), Ok(jid("us-east")), "its region, though not least loaded");
    assert_eq!(h.select(&request(&[], Some("us-central"))), Ok(jid("eu-west")), "in no group: least loaded");
    h.bridges.on_left(&jid("us-east"));
    assert_eq!(h.select(&request(&[], Some("us-east"))), Ok(jid("us-west")), "its group");
    assert_eq!(h.select(&request(&[], None)), Ok(jid("eu-west")), "no region: least loaded");
}

#[test]
fn region_keeps_a_conference_on_its_bridges_in_the_region_group() {
    let mut h = region_harness(None);
    h.join("us-west", in_region(0.5, "us-west"));
    h.join("us-east", in_region(0.1, "us-east"));
    h.join("eu-west", in_region(0.2, "eu-west"));
    let conference = [(jid("us-west"), 5)];
    assert_eq!(h.select(&request(&conference, Some("us-east"))), Ok(jid("us-west")), "same group, in the conference");
    assert_eq!(h.select(&request(&conference, Some("eu-west"))), Ok(jid("eu-west")), "another group: its own bridge");
    let both = [(jid("us-west"), 5), (jid("eu-west"), 2)];
    assert_eq!(h.select(&request(&both, Some("eu-central"))), Ok(jid("eu-west")));
}

#[test]
fn region_avoids_overloaded_bridges_counting_rampup() {
    let mut h = region_harness(None);
    h.join("a", in_region(0.79, "eu-west"));
    h.join("b", in_region(0.795, "eu-west"));
    h.join("c", in_region(0.5, "eu-central"));
    assert_eq!(h.select(&request(&[], Some("eu-west"))), Ok(jid("a")));
    h.bridges.endpoint_added(h.now, &jid("a"));
    assert_eq!(h.select(&request(&[], Some("eu-west"))), Ok(jid("b")), "a is at 0.8 with its new participant");
    h.bridges.endpoint_added(h.now, &jid("b"));
    assert_eq!(h.select(&request(&[], Some("eu-west"))), Ok(jid("c")), "both overloaded: the region group");
    h.join("c", in_region(0.9, "eu-central"));
    assert_eq!(h.select(&request(&[], Some("eu-west"))), Ok(jid("a")), "all overloaded: the least loaded");
    let conference = [(jid("b"), 3)];
    assert_eq!(h.select(&request(&conference, Some("eu-west"))), Ok(jid("b")), "all overloaded: the conference's");
}

#[test]
fn region_caps_a_conferences_participants_per_bridge() {
    let mut h = region_harness(None);
    h.join("a", in_region(0.1, "eu-west"));
    h.join("b", in_region(0.3, "eu-west"));
    let below = [(jid("a"), 79)];
    assert_eq!(h.select(&request(&below, Some("eu-west"))), Ok(jid("a")));
    let full = [(jid("a"), 80)];
    assert_eq!(h.select(&request(&full, Some("eu-west"))), Ok(jid("b")), "a holds max_participants_per_bridge");
    h.join("b", in_region(0.85, "eu-west"));
    assert_eq!(h.select(&request(&full, Some("eu-west"))), Ok(jid("a")), "nothing fits: the least loaded");
    let both_full = [(jid("a"), 80), (jid("b"), 10)];
    assert_eq!(h.select(&request(&both_full, Some("eu-west"))), Ok(jid("b")), "in the conference, not at the cap");
}

#[test]
fn region_steers_towards_the_local_region() {
    let mut h = region_harness(Some("us-east"));
    h.join("us-east", in_region(0.4, "us-east"));
    h.join("us-west", in_region(0.1, "us-west"));
    h.join("eu-west", in_region(0.2, "eu-west"));
    // The first participant is from the local region's group: the conference starts locally.
    assert_eq!(h.select(&request(&[], Some("us-west"))), Ok(jid("us-east")));
    let conference = [(jid("us-east"), 1)];
    assert_eq!(h.select(&request(&conference, Some("us-west"))), Ok(jid("us-east")), "same group: stays");
    // Another group is served in its own region, but a region without bridges gets the local one.
    assert_eq!(h.select(&request(&[], Some("eu-west"))), Ok(jid("eu-west")));
    assert_eq!(h.select(&request(&[], Some("ap-south"))), Ok(jid("us-east")));
    assert_eq!(h.select(&request(&[], None)), Ok(jid("us-east")), "no region: the local one");
}
