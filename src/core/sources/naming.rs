//! Names and msids the focus gives to sources that come without them.
//!
//! **Deliberate deviation from Jicofo** (media-facts.md §1, measured with Chromium 156 and
//! lib-jitsi-meet-dist 2.1.5): the 2020 client's session-accept carries its sources without
//! any msid — only a `cname` parameter, plus an FID group for video — because Chromium writes
//! `a=ssrc … msid:` lines only when the remote offer used them. Jicofo refuses such an accept
//! ("Required source parameter 'msid' is not present."), and the same client, as a receiver,
//! creates a remote track only for SSRCs that come with an msid. So a stream of which *no*
//! SSRC has an msid is accepted and given one that is unique in the conference and stable for
//! the participant and stream: `{endpoint}-{audio|video}-{n} {endpoint}-{a|v}{n}`, shared by
//! all SSRCs of the stream (a SIM group with its FID pairs, an FID pair, or a lone source),
//! `n` the smallest index free for that participant and media. A stream with an msid on some
//! SSRCs only is left as it is and refused as Jicofo refuses it.
//!
//! Names are completed the same way, as Jicofo does for Colibri2 (`{endpoint}-a0`,
//! `{endpoint}-v0`): a stream without any name gets `{endpoint}-{a|v}{n}`; an SSRC without a
//! name in a named stream takes the stream's name.

use std::collections::HashSet;

use super::validation::stream_of;
use super::{EndpointSources, MediaType, Source, SourceGroup};

/// The msid the focus gives to stream `index` of `media` of `endpoint`.
pub(super) fn assigned_msid(endpoint: &str, media: MediaType, index: usize) -> String {
    format!("{endpoint}-{}-{index} {}", media.as_str(), assigned_name(endpoint, media, index))
}

/// Whether `source` of `endpoint` carries an msid the focus gave it (see [`assigned_msid`]):
/// the participant signalled it without any.
pub fn msid_assigned_by_focus(endpoint: &str, source: &Source) -> bool {
    let Some(msid) = source.msid.as_deref() else { return false };
    let prefix = format!("{endpoint}-{}-", source.media.as_str());
    let index = msid.strip_prefix(&prefix).and_then(|rest| rest.split_once(' ')).map(|(n, _)| n);
    index.and_then(|n| n.parse::<usize>().ok()).is_some_and(|n| msid == assigned_msid(endpoint, source.media, n))
}

/// The source name the focus gives to stream `index` of `media` of `endpoint`.
pub(super) fn assigned_name(endpoint: &str, media: MediaType, index: usize) -> String {
    format!("{endpoint}-{}{index}", media.letter())
}

/// Completes names and msids of `added` (sources being accepted for `endpoint`, which already
/// has `existing`); `groups` are all groups the endpoint will have. `msid_taken` says whether
/// another endpoint, or this one, already uses an msid.
pub(super) fn complete(
    endpoint: &str,
    existing: &EndpointSources,
    added: &mut [Source],
    groups: &[SourceGroup],
    msid_taken: impl Fn(&str) -> bool,
) {
    // Streams are found once: `stream_of` scans the groups.
    let stream = |s: &Source| (s.media, stream_of(s.ssrc, groups));
    let existing: Vec<_> = existing.sources.iter().map(|s| (stream(s), s)).collect();
    let added_streams: Vec<_> = added.iter().map(stream).collect();
    let mut names: HashSet<String> =
        existing.iter().map(|(_, s)| *s).chain(added.iter()).filter_map(|s| s.name.clone()).collect();
    let mut msids: HashSet<String> = added.iter().filter_map(|s| s.msid.clone()).collect();
    for at in 0..added.len() {
        if added[at].name.is_some() && added[at].msid.is_some() {
            continue;
        }
        let (media, _) = added_streams[at];
        let in_stream: Vec<usize> = (0..added.len()).filter(|&i| added_streams[i] == added_streams[at]).collect();
        let members = || {
            let earlier = existing.iter().filter(|(key, _)| *key == added_streams[at]).map(|(_, s)| *s);
            earlier.chain(in_stream.iter().map(|&i| &added[i]))
        };
        let needs_msid = members().all(|s| s.msid.is_none());
        let stream_name = members().find_map(|s| s.name.clone());
        let fresh = (0..)
            .find(|&n| {
                let msid_free = || {
                    let msid = assigned_msid(endpoint, media, n);
                    !msid_taken(&msid) && !msids.contains(&msid)
                };
                (!needs_msid || msid_free())
                    && (stream_name.is_some() || !names.contains(&assigned_name(endpoint, media, n)))
            })
            .expect("an unbounded range has a free index");
        let name = stream_name.unwrap_or_else(|| assigned_name(endpoint, media, fresh));
        let msid = assigned_msid(endpoint, media, fresh);
        // Every source of the stream being added gets the same name and msid, so that the next
        // source of the stream finds them.
        for &i in &in_stream {
            if added[i].name.is_none() {
                added[i].name = Some(name.clone());
            }
            if needs_msid {
                added[i].msid = Some(msid.clone());
            }
        }
        names.insert(name);
        if needs_msid {
            msids.insert(msid);
        }
    }
}
