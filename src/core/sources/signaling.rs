//! What each receiver has been told about the others' sources, and the net changes still to
//! tell it (Jicofo's `SourceSignaling`).
//!
//! The conference feeds every accepted add and remove to each other receiver's
//! [`ReceiverSources`]; [`ReceiverSources::flush`] then yields only what changed in the
//! receiver's view since the last flush, removals first. Jicofo can delay flushes by conference
//! size (`source-signaling-delays`, off by default); here the caller decides when to flush —
//! at once by default.

use std::collections::BTreeMap;

use super::EndpointSources;

/// The owner of the bridge's own ("feedback") sources in Jingle, instead of an endpoint id.
pub const BRIDGE_OWNER: &str = "jvb";

/// Sources by owner (endpoint id, or [`BRIDGE_OWNER`]), ordered by owner.
pub type SourcesByOwner = BTreeMap<String, EndpointSources>;

/// Which sources one receiver is given, from what it advertised (see
/// `xmpp::jingle_sources::SourceForm::for_receiver`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceFilter {
    /// It receives audio / video at all.
    pub audio: bool,
    pub video: bool,
    /// Only the first layer of simulcast (Jicofo's `strip-simulcast`, on by default).
    pub strip_simulcast: bool,
    /// It gets the bridge's feedback sources ([`BRIDGE_OWNER`]); the 2020 client must not (a
    /// second msid in one m-line breaks its remote description, media-facts §1).
    pub bridge_sources: bool,
    /// It uses SSRC rewriting: the bridge maps SSRCs itself, so it gets only the bridge's
    /// sources, in session-initiate, and never a source-add or source-remove.
    pub ssrc_rewriting: bool,
}

impl Default for SourceFilter {
    /// A receiver of audio and video, simulcast stripped, bridge sources included.
    fn default() -> Self {
        SourceFilter { audio: true, video: true, strip_simulcast: true, bridge_sources: true, ssrc_rewriting: false }
    }
}

impl SourceFilter {
    /// Whether anything of `owner` can ever reach this receiver.
    pub fn keeps_owner(&self, owner: &str) -> bool {
        if owner == BRIDGE_OWNER {
            self.bridge_sources
        } else {
            !self.ssrc_rewriting
        }
    }

    /// What of `owner`'s whole set the receiver gets. Stripping simulcast needs the whole
    /// set (a later FID pair belongs to a layer signalled earlier), so apply it to whole sets.
    pub fn apply(&self, owner: &str, sources: &EndpointSources) -> EndpointSources {
        if !self.keeps_owner(owner) {
            return EndpointSources::default();
        }
        let sources = sources.only_media(self.audio, self.video);
        if self.strip_simulcast {
            sources.strip_simulcast()
        } else {
            sources
        }
    }

    /// [`SourceFilter::apply`] to each owner, leaving out owners with nothing left.
    pub fn apply_all<'a>(&self, sources: impl IntoIterator<Item = (&'a str, &'a EndpointSources)>) -> SourcesByOwner {
        sources
            .into_iter()
            .map(|(owner, set)| (owner.to_owned(), self.apply(owner, set)))
            .filter(|(_, set)| !set.is_empty())
            .collect()
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SourceAction {
    /// Send as `source-add`.
    Add,
    /// Send as `source-remove`.
    Remove,
}

/// One message to send to a receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceUpdate {
    pub action: SourceAction,
    /// Already filtered for the receiver; never empty.
    pub sources: SourcesByOwner,
}

/// One receiver's view of the other endpoints' sources. It keeps a copy of every owner's set
/// it receives (as Jicofo does), so a conference holds participants × sources of them; an
/// SSRC-rewriting receiver keeps none but the bridge's.
#[derive(Debug, Clone)]
pub struct ReceiverSources {
    filter: SourceFilter,
    /// Each owner's whole set as of the last flush (or reset), of the media the receiver takes.
    signaled: SourcesByOwner,
    /// Owners changed since: their whole set now (empty: all removed).
    pending: SourcesByOwner,
}

impl ReceiverSources {
    pub fn new(filter: SourceFilter) -> ReceiverSources {
        ReceiverSources { filter, signaled: SourcesByOwner::new(), pending: SourcesByOwner::new() }
    }

    pub fn filter(&self) -> &SourceFilter {
        &self.filter
    }

    /// Sets what the receiver is about to be told in full (session-initiate, including the
    /// bridge's sources) and returns it, filtered. Anything queued is dropped: it is in there.
    pub fn reset<'a>(&mut self, sources: impl IntoIterator<Item = (&'a str, &'a EndpointSources)>) -> SourcesByOwner {
        self.pending.clear();
        self.signaled = sources
            .into_iter()
            .filter(|(owner, set)| self.filter.keeps_owner(owner) && !set.is_empty())
            .map(|(owner, set)| (owner.to_owned(), set.only_media(self.filter.audio, self.filter.video)))
            .collect();
        self.filter.apply_all(self.signaled.iter().map(|(owner, set)| (owner.as_str(), set)))
    }

    /// Queues sources `owner` added (what `ConferenceSources::add` accepted).
    pub fn add(&mut self, owner: &str, added: &EndpointSources) {
        let added = added.only_media(self.filter.audio, self.filter.video);
        if let Some(set) = self.pending_set(owner) {
            set.extend_with(&added);
        }
    }

    /// Queues sources `owner` removed (what `ConferenceSources::remove` returned).
    pub fn remove(&mut self, owner: &str, removed: &EndpointSources) {
        if let Some(set) = self.pending_set(owner) {
            *set = set.without(removed);
        }
    }

    /// Forgets `owner` without telling the receiver: it left the room, and clients drop a
    /// departed occupant's sources themselves (no source-remove on leave, protocol.md §7.8).
    pub fn forget(&mut self, owner: &str) {
        self.signaled.remove(owner);
        self.pending.remove(owner);
    }

    /// Whether a flush may have something to send.
    pub fn has_pending(&self) -> bool {
        !self.pending.is_empty()
    }

    /// The net changes since the last flush, as the receiver sees them: a removal first (if
    /// any), then an addition (if any). A source added and removed again in between, or
    /// removed and added again, yields nothing.
    pub fn flush(&mut self) -> Vec<SourceUpdate> {
        let mut removed = SourcesByOwner::new();
        let mut added = SourcesByOwner::new();
        for (owner, now) in std::mem::take(&mut self.pending) {
            let empty = EndpointSources::default();
            let before = self.filter.apply(&owner, self.signaled.get(&owner).unwrap_or(&empty));
            let after = self.filter.apply(&owner, &now);
            let gone = before.without(&after);
            let new = after.without(&before);
            if !gone.is_empty() {
                removed.insert(owner.clone(), gone);
            }
            if !new.is_empty() {
                added.insert(owner.clone(), new);
            }
            if now.is_empty() {
                self.signaled.remove(&owner);
            } else {
                self.signaled.insert(owner, now);
            }
        }
        let mut updates = Vec::new();
        if !removed.is_empty() {
            updates.push(SourceUpdate { action: SourceAction::Remove, sources: removed });
        }
        if !added.is_empty() {
            updates.push(SourceUpdate { action: SourceAction::Add, sources: added });
        }
        updates
    }

    /// The owner's whole set as it will be after the queued changes, to change further;
    /// `None` for owners this receiver never gets (nothing is kept for them).
    fn pending_set(&mut self, owner: &str) -> Option<&mut EndpointSources> {
        if !self.filter.keeps_owner(owner) {
            return None;
        }
        if !self.pending.contains_key(owner) {
            let current = self.signaled.get(owner).cloned().unwrap_or_default();
            self.pending.insert(owner.to_owned(), current);
        }
        self.pending.get_mut(owner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sources::{MediaType, Semantics, Source, SourceGroup};
    use MediaType::{Audio, Video};

    // Jicofo's SourceSignalingTest, case for case.

    fn sources(list: &[(u32, MediaType)]) -> EndpointSources {
        EndpointSources::new(list.iter().map(|&(ssrc, media)| Source::new(ssrc, media)).collect(), vec![])
    }

    fn s1() -> EndpointSources {
        sources(&[(1, Audio), (11, Video)])
    }
    fn s2() -> EndpointSources {
        sources(&[(2, Audio), (22, Video)])
    }
    fn s2new() -> EndpointSources {
        sources(&[(222, Audio), (2222, Video)])
    }
    fn s3() -> EndpointSources {
        sources(&[(3, Audio)])
    }

    fn map(entries: &[(&str, EndpointSources)]) -> SourcesByOwner {
        entries.iter().map(|(owner, set)| (owner.to_string(), set.clone())).collect()
    }

    fn add(sources: SourcesByOwner) -> SourceUpdate {
        SourceUpdate { action: SourceAction::Add, sources }
    }

    fn remove(sources: SourcesByOwner) -> SourceUpdate {
        SourceUpdate { action: SourceAction::Remove, sources }
    }

    fn queue() -> ReceiverSources {
        ReceiverSources::new(SourceFilter::default())
    }

    #[test]
    fn consecutive_adds_merge_into_one_source_add() {
        let mut q = queue();
        assert!(q.flush().is_empty() && !q.has_pending());
        q.add("e1", &s1());
        assert!(q.has_pending());
        assert_eq!(q.flush(), [add(map(&[("e1", s1())]))]);
        assert!(!q.has_pending() && q.flush().is_empty());

        let mut q = queue();
        q.add("e1", &s1());
        q.add("e2", &s2());
        q.add("e2", &s2new());
        let mut both = s2();
        both.extend_with(&s2new());
        assert_eq!(q.flush(), [add(map(&[("e1", s1()), ("e2", both)]))]);
    }

    #[test]
    fn only_net_changes_go_out() {
        let mut q = queue();
        q.add("e1", &s1());
        q.add("e2", &s2());
        q.add("e2", &s2new());
        q.remove("e2", &s2new());
        q.add("e3", &s3());
        assert_eq!(q.flush(), [add(map(&[("e1", s1()), ("e2", s2()), ("e3", s3())]))]);

        let mut q = queue();
        q.add("e1", &s1());
        q.remove("e1", &s1());
        assert!(q.flush().is_empty(), "added and removed before the flush: nothing");

        q.add("e2", &s2());
        q.flush();
        q.remove("e2", &s2());
        q.add("e2", &s2());
        assert!(q.flush().is_empty(), "removed and added again: nothing");
    }

    #[test]
    fn removals_go_before_additions() {
        let mut q = queue();
        q.add("e1", &s1());
        q.flush();
        q.add("e2", &s2());
        q.remove("e1", &s1());
        assert_eq!(q.flush(), [remove(map(&[("e1", s1())])), add(map(&[("e2", s2())]))]);
        assert!(q.flush().is_empty());
    }

    #[test]
    fn reset_gives_the_filtered_whole_and_drops_the_queue() {
        let mut q = queue();
        q.add("e1", &s1());
        assert!(q.reset([]).is_empty());
        assert!(q.flush().is_empty());
        q.add("e1", &s1());
        assert_eq!(q.reset([("e2", &s2())]), map(&[("e2", s2())]));
        assert!(q.flush().is_empty());
    }

    #[test]
    fn a_receiver_without_video_gets_none() {
        let mut q = ReceiverSources::new(SourceFilter { video: false, ..SourceFilter::default() });
        let (s1, s2) = (s1(), s2());
        assert_eq!(
            q.reset([("e1", &s1), ("e2", &s2)]),
            map(&[("e1", sources(&[(1, Audio)])), ("e2", sources(&[(2, Audio)]))])
        );
        q.add("e2", &s2new());
        assert_eq!(q.flush(), [add(map(&[("e2", sources(&[(222, Audio)]))]))]);
        q.remove("e1", &s1);
        assert_eq!(q.flush(), [remove(map(&[("e1", sources(&[(1, Audio)]))]))]);
        q.add("e1", &s1);
        q.remove("e1", &s1);
        assert!(q.flush().is_empty());
        q.remove("e2", &s2);
        q.add("e2", &s2);
        assert!(q.flush().is_empty());
        q.add("e3", &sources(&[(33, Video)]));
        assert!(q.flush().is_empty(), "a video-only change is nothing to this receiver");
    }

    fn layer(ssrc: u32) -> Source {
        Source::new(ssrc, Video).with_msid("m")
    }

    #[test]
    fn simulcast_is_stripped_across_separate_changes() {
        let mut q = queue();
        let first = EndpointSources::new(
            vec![layer(1), layer(2), layer(3)],
            vec![SourceGroup::new(Semantics::Sim, Video, [1, 2, 3])],
        );
        q.add("e1", &first);
        assert_eq!(q.flush(), [add(map(&[("e1", EndpointSources::new(vec![layer(1)], vec![]))]))]);
        // The RTX of a dropped layer, signalled later, is dropped too; the first layer's is not.
        let rtx = EndpointSources::new(
            vec![layer(5), layer(4)],
            vec![SourceGroup::new(Semantics::Fid, Video, [2, 5]), SourceGroup::new(Semantics::Fid, Video, [1, 4])],
        );
        q.add("e1", &rtx);
        let shown = EndpointSources::new(vec![layer(4)], vec![SourceGroup::new(Semantics::Fid, Video, [1, 4])]);
        assert_eq!(q.flush(), [add(map(&[("e1", shown)]))]);
        // Removing a layer the receiver never saw tells it nothing.
        q.remove("e1", &EndpointSources::new(vec![layer(5)], vec![SourceGroup::new(Semantics::Fid, Video, [2, 5])]));
        assert!(q.flush().is_empty());
    }

    #[test]
    fn bridge_sources_and_ssrc_rewriting() {
        let jvb = s3();
        let without_bridge = SourceFilter { bridge_sources: false, ..SourceFilter::default() };
        let mut q = ReceiverSources::new(without_bridge);
        assert_eq!(q.reset([(BRIDGE_OWNER, &jvb), ("e1", &s1())]), map(&[("e1", s1())]));

        let mut q = ReceiverSources::new(SourceFilter { ssrc_rewriting: true, ..SourceFilter::default() });
        assert_eq!(q.reset([(BRIDGE_OWNER, &jvb), ("e1", &s1())]), map(&[(BRIDGE_OWNER, jvb.clone())]));
        q.add("e2", &s2());
        q.remove("e1", &s1());
        assert!(!q.has_pending(), "nothing is even kept for other owners");
        assert!(q.flush().is_empty());
    }

    #[test]
    fn a_departed_owner_is_forgotten_silently() {
        let mut q = queue();
        q.reset([("e1", &s1())]);
        q.add("e1", &s2());
        q.forget("e1");
        assert!(q.flush().is_empty());
        // The same sources may come back, from it or from someone else: plain adds.
        q.add("e1", &s1());
        q.add("e2", &s2());
        assert_eq!(q.flush(), [add(map(&[("e1", s1()), ("e2", s2())]))]);
    }
}
