//! Random adds, removes, departures and flushes over a small universe of endpoints, SSRCs and
//! msids (so that collisions happen), checking after every step:
//!
//! 1. every endpoint's stored set passes the validation, within the limits, no SSRC or msid is
//!    used by two endpoints, and the SSRC index agrees with the sets;
//! 2. a refused change leaves the conference exactly as it was;
//! 3. every receiver that applies what its queue flushes (removals, then additions) sees
//!    exactly the filtered sources of everybody else: nothing redundant, nothing missing.

use std::collections::{BTreeMap, HashMap};

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::validation::check_endpoint_sources;
use super::*;

const ENDPOINTS: [&str; 3] = ["a", "b", "c"];

fn media() -> impl Strategy<Value = MediaType> {
    prop_oneof![Just(MediaType::Audio), Just(MediaType::Video)]
}

fn source() -> impl Strategy<Value = Source> {
    let msid = prop::option::of(prop_oneof![Just("m1"), Just("m2"), Just("a-video-0 a-v0")]);
    (0u32..10, media(), msid, prop::option::of(Just("n")), any::<bool>()).prop_map(
        |(ssrc, media, msid, name, desktop)| Source {
            ssrc,
            media,
            name: name.map(str::to_owned),
            msid: msid.map(str::to_owned),
            video_type: (desktop && media == MediaType::Video).then(|| VIDEO_TYPE_DESKTOP.to_owned()),
        },
    )
}

fn group() -> impl Strategy<Value = SourceGroup> {
    let semantics = prop_oneof![Just(Semantics::Sim), Just(Semantics::Fid)];
    (semantics, media(), prop::collection::vec(1u32..10, 0..4)).prop_map(|(s, m, ssrcs)| SourceGroup::new(s, m, ssrcs))
}

fn sources() -> impl Strategy<Value = EndpointSources> {
    (prop::collection::vec(source(), 0..5), prop::collection::vec(group(), 0..3))
        .prop_map(|(sources, groups)| EndpointSources::new(sources, groups))
}

#[derive(Debug, Clone)]
enum Step {
    Add(usize, EndpointSources),
    Remove(usize, EndpointSources),
    /// Remove what the endpoint has, by SSRC, `keep` SSRCs left out.
    RemoveOwn(usize, usize),
    Leave(usize),
    Flush(usize),
}

fn step() -> impl Strategy<Value = Step> {
    let endpoint = 0..ENDPOINTS.len();
    prop_oneof![
        4 => (endpoint.clone(), sources()).prop_map(|(e, s)| Step::Add(e, s)),
        1 => (endpoint.clone(), sources()).prop_map(|(e, s)| Step::Remove(e, s)),
        2 => (endpoint.clone(), 0usize..3).prop_map(|(e, keep)| Step::RemoveOwn(e, keep)),
        1 => endpoint.clone().prop_map(Step::Leave),
        3 => endpoint.prop_map(Step::Flush),
    ]
}

fn filter() -> impl Strategy<Value = SourceFilter> {
    (any::<bool>(), any::<bool>(), any::<bool>()).prop_map(|(audio, video, strip_simulcast)| SourceFilter {
        audio,
        video,
        strip_simulcast,
        ..SourceFilter::default()
    })
}

/// A set compared as a set: sources by SSRC, groups by their contents.
fn normalized(set: &EndpointSources) -> (Vec<(u32, String)>, Vec<String>) {
    let mut sources: Vec<(u32, String)> = set.sources.iter().map(|s| (s.ssrc, format!("{s:?}"))).collect();
    let mut groups: Vec<String> = set.groups.iter().map(|g| format!("{g:?}")).collect();
    sources.sort();
    groups.sort();
    (sources, groups)
}

fn snapshot(conference: &ConferenceSources) -> Vec<(String, EndpointSources)> {
    conference.iter().map(|(e, s)| (e.to_owned(), s.clone())).collect()
}

fn check_conference(conference: &ConferenceSources, limits: &SourceLimits) -> Result<(), TestCaseError> {
    let mut msid_owner: HashMap<&str, &str> = HashMap::new();
    let mut ssrcs = 0;
    for (endpoint, set) in conference.iter() {
        prop_assert!(!set.is_empty());
        prop_assert!(check_endpoint_sources(set).is_ok(), "{endpoint}: {set:?}");
        prop_assert!(set.sources.len() <= limits.max_ssrcs_per_endpoint);
        prop_assert!(set.groups.len() <= limits.max_ssrc_groups_per_endpoint);
        for source in &set.sources {
            prop_assert_eq!(conference.owner_of(source.ssrc), Some(endpoint));
            let msid = source.msid.as_deref();
            prop_assert!(msid.is_some(), "every stored source has an msid: {:?}", source);
            let owner = *msid_owner.entry(msid.unwrap_or_default()).or_insert(endpoint);
            prop_assert_eq!(owner, endpoint, "msid {:?} used by two endpoints", msid);
        }
        ssrcs += set.sources.len();
    }
    prop_assert_eq!(conference.len_ssrcs(), ssrcs);
    Ok(())
}

/// A receiver's queue, and the view of a client that applies what it is sent.
struct Receiver {
    queue: ReceiverSources,
    view: BTreeMap<String, EndpointSources>,
}

impl Receiver {
    fn apply(&mut self, updates: Vec<SourceUpdate>) -> Result<(), TestCaseError> {
        for (i, update) in updates.iter().enumerate() {
            prop_assert!(!update.sources.is_empty());
            if update.action == SourceAction::Remove {
                prop_assert_eq!(i, 0, "removals first");
            }
            for (owner, set) in &update.sources {
                prop_assert!(!set.is_empty());
                let seen = self.view.entry(owner.clone()).or_default();
                match update.action {
                    SourceAction::Add => {
                        prop_assert!(set.without(seen) == *set, "re-added: {set:?} to {seen:?}");
                        seen.extend_with(set);
                    }
                    SourceAction::Remove => {
                        prop_assert!(seen.without(set).sources.len() + set.sources.len() == seen.sources.len());
                        *seen = seen.without(set);
                    }
                }
            }
            self.view.retain(|_, set| !set.is_empty());
        }
        Ok(())
    }
}

proptest! {
    #![proptest_config(ProptestConfig {
        cases: std::env::var("PROPTEST_CASES").ok().and_then(|n| n.parse().ok()).unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    })]

    #[test]
    fn random_changes_keep_the_conference_valid_and_receivers_in_step(
        filters in prop::collection::vec(filter(), ENDPOINTS.len()),
        steps in prop::collection::vec(step(), 0..60),
    ) {
        let limits = SourceLimits { max_ssrcs_per_endpoint: 4, max_ssrc_groups_per_endpoint: 2 };
        let mut conference = ConferenceSources::new();
        let mut receivers: Vec<Receiver> =
            filters.into_iter().map(|f| Receiver { queue: ReceiverSources::new(f), view: BTreeMap::new() }).collect();
        for step in steps {
            let before = snapshot(&conference);
            let (endpoint, change) = match step {
                Step::Add(e, set) => (e, conference.add(ENDPOINTS[e], set, &limits).map(|a| (SourceAction::Add, a))),
                Step::Remove(e, set) => (e, conference.remove(ENDPOINTS[e], &set).map(|r| (SourceAction::Remove, r))),
                Step::RemoveOwn(e, keep) => {
                    let own = conference.of(ENDPOINTS[e]).cloned().unwrap_or_default();
                    let by_ssrc = own.sources.iter().skip(keep).map(|s| Source::new(s.ssrc, s.media)).collect();
                    let request = EndpointSources::new(by_ssrc, vec![]);
                    (e, conference.remove(ENDPOINTS[e], &request).map(|r| (SourceAction::Remove, r)))
                }
                Step::Leave(e) => {
                    conference.remove_endpoint(ENDPOINTS[e]);
                    // Clients drop a departed occupant's sources themselves.
                    for receiver in receivers.iter_mut() {
                        receiver.queue.forget(ENDPOINTS[e]);
                        receiver.view.remove(ENDPOINTS[e]);
                    }
                    check_conference(&conference, &limits)?;
                    continue;
                }
                Step::Flush(r) => {
                    let updates = receivers[r].queue.flush();
                    receivers[r].apply(updates)?;
                    let others = conference.iter().filter(|(e, _)| *e != ENDPOINTS[r]);
                    let expected = receivers[r].queue.filter().apply_all(others);
                    let norm = |m: &BTreeMap<String, EndpointSources>| {
                        m.iter().map(|(o, s)| (o.clone(), normalized(s))).collect::<Vec<_>>()
                    };
                    prop_assert_eq!(norm(&receivers[r].view), norm(&expected));
                    continue;
                }
            };
            match change {
                Ok((action, set)) => {
                    for (_, receiver) in receivers.iter_mut().enumerate().filter(|(r, _)| *r != endpoint) {
                        match action {
                            SourceAction::Add => receiver.queue.add(ENDPOINTS[endpoint], &set),
                            SourceAction::Remove => receiver.queue.remove(ENDPOINTS[endpoint], &set),
                        }
                    }
                }
                Err(_) => prop_assert_eq!(snapshot(&conference), before, "a refused change changed something"),
            }
            check_conference(&conference, &limits)?;
        }
    }
}
