//! The validation table (Jicofo's ValidatingConferenceSourceMapTest, case for case, with the
//! exact texts), the limits, and the msids and names given to sources that lack them.

use super::*;
use MediaType::{Audio, Video};

const JID1: &str = "jid1";
const JID2: &str = "jid2";
const MSID: &str = "msid";

/// Jicofo's s1…s6: video, all with the same msid (one simulcast stream with RTX). Named, so
/// that what is accepted equals what was given.
fn v(ssrc: u32) -> Source {
    Source::new(ssrc, Video).with_msid(MSID).with_name("jid1-v0")
}

/// Jicofo's s7 has no msid; here it has one, so that only the tests about the deviation see
/// msids being given.
fn s7() -> Source {
    Source::new(7, Audio).with_msid("audio-msid").with_name("jid1-a0")
}

fn sim(ssrcs: &[u32]) -> SourceGroup {
    SourceGroup::new(Semantics::Sim, Video, ssrcs)
}

fn fid(ssrcs: &[u32]) -> SourceGroup {
    SourceGroup::new(Semantics::Fid, Video, ssrcs)
}

fn set(sources: &[Source], groups: &[SourceGroup]) -> EndpointSources {
    EndpointSources::new(sources.to_vec(), groups.to_vec())
}

fn video_sources() -> Vec<Source> {
    (1..=6).map(v).collect()
}

fn groups() -> Vec<SourceGroup> {
    vec![sim(&[1, 2, 3]), fid(&[1, 4]), fid(&[2, 5]), fid(&[3, 6])]
}

/// Jicofo's `sourceSet`: simulcast with RTX plus audio.
fn source_set() -> EndpointSources {
    let mut sources = video_sources();
    sources.push(s7());
    EndpointSources::new(sources, groups())
}

fn limits() -> SourceLimits {
    SourceLimits::default()
}

#[track_caller]
fn accepted_as_given(conference: &mut ConferenceSources, endpoint: &str, sources: EndpointSources) {
    assert_eq!(conference.add(endpoint, sources.clone(), &limits()), Ok(sources));
}

#[track_caller]
fn refused(result: Result<EndpointSources, SourceError>, text: &str) {
    match result {
        Err(SourceError::BadRequest(got)) => assert_eq!(got, text),
        other => panic!("expected bad-request {text:?}, got {other:?}"),
    }
}

#[test]
fn valid_sets_are_accepted_whole_or_in_parts_in_any_order() {
    let mut c = ConferenceSources::new();
    assert_eq!(c.add(JID1, EndpointSources::default(), &limits()), Ok(EndpointSources::default()));
    assert!(c.is_empty(), "nothing stored for an empty add");
    accepted_as_given(&mut c, JID1, source_set());

    let mut c = ConferenceSources::new();
    accepted_as_given(&mut c, JID1, set(&video_sources(), &groups()));
    accepted_as_given(&mut c, JID1, set(&[s7()], &[]));
    assert_eq!(c.of(JID1), Some(&source_set()));

    let mut c = ConferenceSources::new();
    accepted_as_given(&mut c, JID1, set(&[s7()], &[]));
    accepted_as_given(&mut c, JID1, set(&video_sources(), &groups()));

    let second = set(
        &[
            Source::new(101, Video).with_msid("msid2").with_name("jid2-v0"),
            Source::new(102, Video).with_msid("msid2").with_name("jid2-v0"),
            Source::new(103, Audio).with_msid("msid3").with_name("jid2-a0"),
        ],
        &[fid(&[101, 102])],
    );
    accepted_as_given(&mut c, JID2, second);
    assert_eq!(c.len_ssrcs(), 10);
    assert_eq!((c.owner_of(101), c.owner_of(7), c.owner_of(999)), (Some(JID2), Some(JID1), None));
    assert_eq!(c.iter().map(|(e, _)| e).collect::<Vec<_>>(), [JID1, JID2]);
}

#[test]
fn ssrc_zero_is_refused() {
    refused(ConferenceSources::new().add(JID1, set(&[Source::new(0, Audio)], &[]), &limits()), "Invalid SSRC: 0.");
}

#[test]
fn the_ssrc_limit_counts_existing_and_new_sources() {
    let four = SourceLimits { max_ssrcs_per_endpoint: 4, ..limits() };
    refused(ConferenceSources::new().add(JID1, source_set(), &four), "SSRC limit (4) exceeded.");
    let mut c = ConferenceSources::new();
    let first = set(&[v(1), v(2), v(3)], &[sim(&[1, 2, 3])]);
    assert_eq!(c.add(JID1, first.clone(), &four), Ok(first.clone()));
    let rest = set(&[v(4), v(5), v(6)], &[fid(&[1, 4]), fid(&[2, 5]), fid(&[3, 6])]);
    refused(c.add(JID1, rest, &four), "SSRC limit (4) exceeded.");
    assert_eq!(c.of(JID1), Some(&first), "a refused add changes nothing");
    assert_eq!(c.len_ssrcs(), 3);
}

#[test]
fn the_group_limit_counts_existing_and_new_groups() {
    let two = SourceLimits { max_ssrc_groups_per_endpoint: 2, ..limits() };
    refused(ConferenceSources::new().add(JID1, source_set(), &two), "ssrc-group limit (2) exceeded.");
    let mut c = ConferenceSources::new();
    let first = set(&[v(1), v(2), v(3)], &[sim(&[1, 2, 3])]);
    assert_eq!(c.add(JID1, first.clone(), &two), Ok(first));
    let rest = set(&[v(4), v(5), v(6)], &[fid(&[1, 4]), fid(&[2, 5]), fid(&[3, 6])]);
    refused(c.add(JID1, rest, &two), "ssrc-group limit (2) exceeded.");
    assert_eq!(c.len_ssrcs(), 3);
}

#[test]
fn an_ssrc_is_used_once_in_the_conference() {
    let mut c = ConferenceSources::new();
    accepted_as_given(&mut c, JID1, set(&[Source::new(1, Audio).with_msid("a").with_name("n")], &[]));
    let audio = set(&[Source::new(1, Audio).with_msid("differentMsid")], &[]);
    let video = set(&[Source::new(1, Video).with_msid("differentMsid")], &[]);
    for endpoint in [JID1, JID2] {
        refused(c.add(endpoint, audio.clone(), &limits()), "SSRC is already used: 1.");
        refused(c.add(endpoint, video.clone(), &limits()), "SSRC is already used: 1.");
    }
    // Within one request: the same source twice counts once, two sources with one SSRC not.
    let twice = set(&[s7(), s7()], &[]);
    assert_eq!(c.add(JID2, twice, &limits()), Ok(set(&[s7()], &[])));
    let clash = set(&[Source::new(8, Audio).with_msid("x"), Source::new(8, Audio).with_msid("y")], &[]);
    refused(c.add(JID2, clash, &limits()), "SSRC is already used: 8.");
}

#[test]
fn a_group_needs_an_msid_on_every_member_and_the_same_one() {
    let partial =
        set(&[Source::new(1, Video).with_msid(MSID), Source::new(2, Video), Source::new(3, Video)], &[sim(&[1, 2, 3])]);
    refused(ConferenceSources::new().add(JID1, partial, &limits()), "Required source parameter 'msid' is not present.");
    let mismatch = set(&[v(1), v(2), Source::new(3, Video).with_msid("differentMsid")], &[sim(&[1, 2, 3])]);
    refused(
        ConferenceSources::new().add(JID1, mismatch, &limits()),
        "SsrcGroup contains sources with different MSIDs: [1, 2, 3].",
    );
}

#[test]
fn a_group_names_only_signalled_sources_of_its_media() {
    let unknown = set(&[v(1)], &[fid(&[1, 2])]);
    refused(
        ConferenceSources::new().add(JID1, unknown, &limits()),
        "An SSRC group contains an SSRC, which hasn't been signaled as a source: [1, 2].",
    );
    // Stricter than Jicofo: an audio group of video sources.
    let other_media = set(&[v(1), v(4)], &[SourceGroup::new(Semantics::Fid, Audio, [1, 4])]);
    refused(
        ConferenceSources::new().add(JID1, other_media, &limits()),
        "An SSRC group contains an SSRC, which hasn't been signaled as a source: [1, 4].",
    );
    // Sources signalled earlier count.
    let mut c = ConferenceSources::new();
    accepted_as_given(&mut c, JID1, set(&[v(1)], &[]));
    accepted_as_given(&mut c, JID1, set(&[v(4)], &[fid(&[1, 4])]));
}

#[test]
fn fid_groups_have_exactly_two_ssrcs() {
    let three = set(&[v(1), v(2), v(3)], &[fid(&[1, 2, 3])]);
    refused(ConferenceSources::new().add(JID1, three, &limits()), "Invalid FID group: [1, 2, 3].");
    refused(ConferenceSources::new().add(JID1, set(&[v(1)], &[fid(&[1])]), &limits()), "Invalid FID group: [1].");
}

#[test]
fn msids_are_unique_per_stream() {
    let mut c = ConferenceSources::new();
    accepted_as_given(&mut c, JID1, set(&[v(1)], &[]));
    refused(c.add(JID2, set(&[v(2)], &[]), &limits()), "MSID is already used: msid.");
    refused(c.add(JID1, set(&[v(2)], &[]), &limits()), "MSID is already used: msid.");
    for together in [
        set(&[v(1), v(2)], &[]),
        set(&[v(1), v(2), v(4), v(5)], &[fid(&[1, 4]), fid(&[2, 5])]),
        set(&[v(1), v(2), v(3), v(4)], &[sim(&[1, 2]), sim(&[3, 4])]),
    ] {
        refused(ConferenceSources::new().add(JID1, together, &limits()), "MSID is already used: msid.");
    }
}

#[test]
fn audio_and_video_may_share_an_msid() {
    let audio = Source::new(111, Audio).with_msid(MSID).with_name("jid1-a0");
    accepted_as_given(&mut ConferenceSources::new(), JID1, set(&[v(1), audio.clone()], &[]));
    let mut sources = source_set().sources;
    sources.push(audio);
    accepted_as_given(&mut ConferenceSources::new(), JID1, set(&sources, &groups()));
}

#[test]
fn empty_and_repeated_groups_are_ignored() {
    let mut c = ConferenceSources::new();
    let with_empty = set(&[v(1), v(2), v(3)], &[sim(&[1, 2, 3]), sim(&[]), fid(&[]), sim(&[1, 2, 3])]);
    assert_eq!(c.add(JID1, with_empty, &limits()), Ok(set(&[v(1), v(2), v(3)], &[sim(&[1, 2, 3])])));
    assert_eq!(c.add(JID1, set(&[], &[sim(&[1, 2, 3])]), &limits()), Ok(EndpointSources::default()));
}

fn with_source_set() -> ConferenceSources {
    let mut c = ConferenceSources::new();
    accepted_as_given(&mut c, JID1, source_set());
    c
}

#[test]
fn removal_takes_sources_by_ssrc_and_their_groups() {
    let mut c = with_source_set();
    assert_eq!(c.remove(JID1, &EndpointSources::default()), Ok(EndpointSources::default()));
    assert_eq!(c.remove(JID1, &source_set()), Ok(source_set()));
    assert!(c.is_empty() && c.len_ssrcs() == 0);

    let mut c = with_source_set();
    // Media, msid and name need not be repeated.
    let by_ssrc_only = EndpointSources::new((1..=7).map(|s| Source::new(s, Audio)).collect(), vec![]);
    assert_eq!(c.remove(JID1, &by_ssrc_only), Ok(source_set()), "groups go with their sources");

    let mut c = with_source_set();
    let all_but_s1 = EndpointSources::new(source_set().sources[1..].to_vec(), groups());
    assert_eq!(c.remove(JID1, &all_but_s1), Ok(all_but_s1));
    assert_eq!(c.of(JID1), Some(&set(&[v(1)], &[])));
}

#[test]
fn removal_of_what_an_endpoint_does_not_have_is_refused() {
    let mut c = with_source_set();
    refused(c.remove(JID2, &source_set()), "Source does not exist or is not owned by endpoint (ssrc=1).");
    refused(c.remove(JID2, &set(&[], &[sim(&[1, 2, 3])])), "Source does not exist or is not owned by endpoint.");
    refused(
        c.remove(JID1, &set(&[Source::new(1111, Audio)], &[])),
        "Source does not exist or is not owned by endpoint (ssrc=1111).",
    );
    let mut with_unknown_group = groups();
    with_unknown_group.push(fid(&[1, 2]));
    refused(c.remove(JID1, &set(&source_set().sources, &with_unknown_group)), "Source group does not exist");
    assert_eq!(c.of(JID1), Some(&source_set()), "a refused removal changes nothing");
}

#[test]
fn removal_must_leave_a_valid_set() {
    let mut c = with_source_set();
    refused(c.remove(JID1, &set(&[v(1), v(4)], &[sim(&[1, 2, 3]), fid(&[1, 4])])), "MSID is already used: msid.");
    refused(c.remove(JID1, &set(&[v(1)], &[])), "MSID is already used: msid.");
    refused(c.remove(JID1, &set(&[], &[sim(&[1, 2, 3])])), "MSID is already used: msid.");
    refused(c.remove(JID1, &set(&[], &[fid(&[1, 4])])), "MSID is already used: msid.");
    refused(c.remove(JID1, &set(&[], &groups())), "MSID is already used: msid.");
    assert_eq!(c.of(JID1), Some(&source_set()));
}

#[test]
fn removed_ssrcs_and_msids_are_free_again() {
    let mut c = with_source_set();
    refused(c.add(JID2, set(&[Source::new(7, Audio)], &[]), &limits()), "SSRC is already used: 7.");
    assert_eq!(c.remove(JID1, &set(&[Source::new(7, Audio)], &[])), Ok(set(&[s7()], &[])));
    accepted_as_given(&mut c, JID2, set(&[s7()], &[]));
    refused(c.add(JID2, set(&[Source::new(70, Video).with_msid(MSID)], &[]), &limits()), "MSID is already used: msid.");
    assert_eq!(c.remove_endpoint(JID1), set(&video_sources(), &groups()));
    assert_eq!(c.remove_endpoint(JID1), EndpointSources::default());
    let reuse = set(&[Source::new(1, Video).with_msid(MSID).with_name("n")], &[]);
    accepted_as_given(&mut c, JID2, reuse);
    assert_eq!(c.len_ssrcs(), 2);
}

#[test]
fn an_msid_stays_taken_while_one_of_its_sources_remains() {
    let mut c = ConferenceSources::new();
    let pair = set(&[v(1), v(4)], &[fid(&[1, 4])]);
    accepted_as_given(&mut c, JID1, pair);
    // Removing the RTX alone drops the pair's group; the primary keeps the msid.
    assert_eq!(c.remove(JID1, &set(&[Source::new(4, Video)], &[])), Ok(set(&[v(4)], &[fid(&[1, 4])])));
    refused(c.add(JID2, set(&[Source::new(9, Video).with_msid(MSID)], &[]), &limits()), "MSID is already used: msid.");
}

#[test]
fn error_conditions_and_sender_caps() {
    assert_eq!(SourceError::invalid_ssrc(0).condition(), "bad-request");
    let both = SourceError::sender_count_exceeded(true, true);
    assert_eq!((both.condition(), both.text()), ("resource-constraint", "Sender count exceeded for: audio video"));
    assert_eq!(SourceError::sender_count_exceeded(true, false).text(), "Sender count exceeded for: audio ");
    assert_eq!(SourceError::sender_count_exceeded(false, true).to_string(), "Sender count exceeded for: video");
}

#[test]
fn limits_come_from_the_configuration() {
    let config = crate::config::LimitsConfig { max_ssrcs_per_endpoint: 7, ..Default::default() };
    assert_eq!(
        SourceLimits::from(&config),
        SourceLimits { max_ssrcs_per_endpoint: 7, max_ssrc_groups_per_endpoint: 20 }
    );
    assert_eq!(SourceLimits::from(&crate::config::LimitsConfig::default()), SourceLimits::default());
}

// The deviation: streams without any msid get one (see `naming`).

fn msid_of(c: &ConferenceSources, endpoint: &str, ssrc: u32) -> (Option<String>, Option<String>) {
    let source = c.of(endpoint).and_then(|s| s.source(ssrc)).unwrap();
    (source.msid.clone(), source.name.clone())
}

fn given(msid: &str, name: &str) -> (Option<String>, Option<String>) {
    (Some(msid.to_owned()), Some(name.to_owned()))
}

#[test]
fn streams_without_msid_get_one_per_stream_and_a_name() {
    let mut c = ConferenceSources::new();
    // The 2020 client's session-accept: audio alone, video with its RTX, no msid, no name.
    let accept = set(&[Source::new(11, Audio), Source::new(21, Video), Source::new(22, Video)], &[fid(&[21, 22])]);
    let accepted = c.add("ep", accept, &limits()).unwrap();
    assert!(accepted.sources.iter().all(|s| s.msid.is_some() && s.name.is_some()), "{accepted:?}");
    assert_eq!(msid_of(&c, "ep", 11), given("ep-audio-0 ep-a0", "ep-a0"));
    assert_eq!(msid_of(&c, "ep", 21), given("ep-video-0 ep-v0", "ep-v0"));
    assert_eq!(msid_of(&c, "ep", 22), given("ep-video-0 ep-v0", "ep-v0"));

    // A second video stream gets the next index; after a removal the index is used again.
    c.add("ep", set(&[Source::new(31, Video)], &[]), &limits()).unwrap();
    assert_eq!(msid_of(&c, "ep", 31), given("ep-video-1 ep-v1", "ep-v1"));
    c.remove("ep", &set(&[Source::new(21, Video), Source::new(22, Video)], &[])).unwrap();
    c.add("ep", set(&[Source::new(41, Video), Source::new(42, Video)], &[fid(&[41, 42])]), &limits()).unwrap();
    assert_eq!(msid_of(&c, "ep", 42), given("ep-video-0 ep-v0", "ep-v0"));
}

#[test]
fn a_simulcast_stream_without_msid_shares_one() {
    let mut c = ConferenceSources::new();
    let bare: Vec<Source> = (1..=6).map(|s| Source::new(s, Video)).collect();
    c.add("ep", set(&bare, &groups()), &limits()).unwrap();
    for ssrc in 1..=6 {
        assert_eq!(msid_of(&c, "ep", ssrc), given("ep-video-0 ep-v0", "ep-v0"), "ssrc {ssrc}");
    }
}

#[test]
fn lone_sources_without_msid_each_get_their_own() {
    // Jicofo's "Multiple non-grouped SSRCs can have MSID=null", with msids given.
    let mut c = ConferenceSources::new();
    let lone = [1, 2, 3].map(|s| Source::new(s, Video)).into_iter().chain([4, 5].map(|s| Source::new(s, Audio)));
    c.add(JID1, EndpointSources::new(lone.collect(), vec![]), &limits()).unwrap();
    assert_eq!(msid_of(&c, JID1, 3), given("jid1-video-2 jid1-v2", "jid1-v2"));
    assert_eq!(msid_of(&c, JID1, 5), given("jid1-audio-1 jid1-a1", "jid1-a1"));
}

#[test]
fn a_given_msid_is_never_taken_from_someone_else() {
    let mut c = ConferenceSources::new();
    // Another participant already uses the msid "ep" would get.
    accepted_as_given(&mut c, "other", set(&[Source::new(5, Video).with_msid("ep-video-0 ep-v0").with_name("x")], &[]));
    c.add("ep", set(&[Source::new(6, Video)], &[]), &limits()).unwrap();
    assert_eq!(msid_of(&c, "ep", 6), given("ep-video-1 ep-v1", "ep-v1"));
}

#[test]
fn names_are_completed_without_touching_given_ones() {
    let mut c = ConferenceSources::new();
    let partly_named = set(
        &[Source::new(1, Video).with_msid(MSID), Source::new(2, Video).with_msid(MSID).with_name("mine-v7")],
        &[fid(&[1, 2])],
    );
    c.add("ep", partly_named, &limits()).unwrap();
    assert_eq!(msid_of(&c, "ep", 1), given(MSID, "mine-v7"));
    let named_audio = set(&[Source::new(3, Audio).with_name("custom")], &[]);
    c.add("ep", named_audio, &limits()).unwrap();
    assert_eq!(msid_of(&c, "ep", 3), given("ep-audio-0 ep-a0", "custom"));
    c.add("ep", set(&[Source::new(4, Audio).with_msid("m4")], &[]), &limits()).unwrap();
    assert_eq!(msid_of(&c, "ep", 4), given("m4", "ep-a0"));
}

#[test]
fn msids_given_by_the_focus_are_recognised() {
    let mut c = ConferenceSources::new();
    let added = c
        .add("ep1", EndpointSources::new(vec![Source::new(1, Audio), Source::new(2, Video)], vec![]), &limits())
        .unwrap();
    assert!(added.sources.iter().all(|s| msid_assigned_by_focus("ep1", s)), "{added:?}");
    assert!(!msid_assigned_by_focus("ep2", &added.sources[0]), "another endpoint's");
    let own = |msid: &str| Source::new(3, Audio).with_msid(msid);
    assert!(!msid_assigned_by_focus("ep1", &own("s1 t1")));
    assert!(!msid_assigned_by_focus("ep1", &own("ep1-video-0 ep1-v0")), "another media's");
    assert!(!msid_assigned_by_focus("ep1", &own("ep1-audio-x ep1-ax")));
    assert!(!msid_assigned_by_focus("ep1", &Source::new(3, Audio)));
}
