//! The checks on one endpoint's whole set of sources (Jicofo's `validateEndpointSourceSet`),
//! run on the set an add or remove would leave.

use super::{EndpointSources, MediaType, Semantics, Source, SourceError, SourceGroup};

/// The stream an SSRC belongs to: a simulcast group with its layers' RTX pairs, a lone FID
/// pair, or a lone source. Each stream of one media must have its own msid, and all of a
/// stream's SSRCs share one msid and one name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Stream {
    /// Index of the SIM or FID group that identifies the stream.
    Group(usize),
    Lone(u32),
}

/// Finds the stream of `ssrc` as Jicofo does (`groupBySimulcastGroup`): its SIM group; else,
/// for the RTX of a FID pair whose primary is a simulcast layer, that SIM group; else its FID
/// group; else itself.
pub(super) fn stream_of(ssrc: u32, groups: &[SourceGroup]) -> Stream {
    let containing = |semantics: Semantics, ssrc: u32| {
        groups.iter().position(|g| g.semantics == semantics && g.ssrcs.contains(&ssrc))
    };
    if let Some(sim) = containing(Semantics::Sim, ssrc) {
        return Stream::Group(sim);
    }
    if let Some(fid) = containing(Semantics::Fid, ssrc) {
        if groups[fid].ssrcs.get(1) == Some(&ssrc) {
            if let Some(sim) = containing(Semantics::Sim, groups[fid].ssrcs[0]) {
                return Stream::Group(sim);
            }
        }
        return Stream::Group(fid);
    }
    Stream::Lone(ssrc)
}

/// The sources of `set` grouped by stream, per media type, each stream's sources in set order
/// and the streams in the order of their first source.
pub(super) fn streams(set: &EndpointSources, media: MediaType) -> Vec<(Stream, Vec<&Source>)> {
    let mut streams: Vec<(Stream, Vec<&Source>)> = Vec::new();
    for source in set.sources.iter().filter(|s| s.media == media) {
        let stream = stream_of(source.ssrc, &set.groups);
        match streams.iter_mut().find(|(s, _)| *s == stream) {
            Some((_, members)) => members.push(source),
            None => streams.push((stream, vec![source])),
        }
    }
    streams
}

/// Checks a whole endpoint set, in Jicofo's order: per group (FID size, an msid on every
/// member, one msid per group), then per media type one distinct msid per stream. Groups
/// reaching here are non-empty and name only sources of the set (`ConferenceSources` made sure).
pub(super) fn check_endpoint_sources(set: &EndpointSources) -> Result<(), SourceError> {
    for group in &set.groups {
        let mut group_msid: Option<&str> = None;
        for ssrc in &group.ssrcs {
            let Some(source) = set.source(*ssrc) else {
                // Unreachable through `ConferenceSources`; refuse rather than store it.
                return Err(SourceError::group_unknown_source(&group.ssrcs));
            };
            if group.semantics == Semantics::Fid && group.ssrcs.len() != 2 {
                return Err(SourceError::invalid_fid_group(&group.ssrcs));
            }
            let Some(msid) = source.msid.as_deref() else {
                return Err(SourceError::msid_missing());
            };
            if *group_msid.get_or_insert(msid) != msid {
                return Err(SourceError::group_msid_mismatch(&group.ssrcs));
            }
        }
    }
    // Audio and video may share an msid; within one media each stream needs its own.
    for media in MediaType::ALL {
        let mut seen: Vec<&str> = Vec::new();
        for (_, members) in streams(set, media) {
            // Jicofo only looks at sources that have an msid (lone ones may lack it).
            let Some(msid) = members.iter().find_map(|s| s.msid.as_deref()) else { continue };
            if seen.contains(&msid) {
                return Err(SourceError::msid_conflict(msid));
            }
            seen.push(msid);
        }
    }
    Ok(())
}
