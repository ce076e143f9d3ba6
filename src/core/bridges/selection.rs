//! Choosing a bridge for a participant (protocol.md §8.3), as Jicofo's `BridgeSelector`:
//!
//! 1. all bridges, best first: operational and running, then operational in graceful
//!    shutdown, then the rest; within each, corrected stress ascending (JID breaks ties);
//! 2. drop non-operational ones (none left: error), drop those shutting down (error);
//! 3. keep the conference's full version (or the pinned one): bridges of different versions
//!    are never mixed;
//! 4. prefer those not draining, then those not in graceful shutdown;
//! 5. let the [`Strategy`] choose.
//!
//! A conference that has a bridge stays on it unless it may get another one
//! ([`SelectionRequest::allow_new_bridge`], a multi-bridge strategy, and a relay id on its
//! bridge). Relays are not implemented yet, so callers must not allow a new bridge.

use thiserror::Error;
use tracing::debug;
use xmpp_parsers::jid::FullJid;

use super::{Bridge, Bridges, Strategy, Time};

/// What is known about the participant and its conference.
#[derive(Debug, Clone, Copy, Default)]
pub struct SelectionRequest<'a> {
    /// The bridges the conference uses, each with the number of its participants on it. The
    /// first is its main bridge: its version binds the conference, and it is the one kept
    /// when the conference may not get another.
    pub conference_bridges: &'a [(FullJid, usize)],
    /// The region the participant's presence announces.
    pub participant_region: Option<&'a str>,
    /// A bridge version the conference must use (`version-release`, or the version alone).
    pub pinned_version: Option<&'a str>,
    /// May the conference get a bridge it does not use yet? Needs relays between bridges,
    /// which are not implemented: keep it `false` until they are.
    pub allow_new_bridge: bool,
}

/// Why no bridge can be given; the participant then waits for [`super::BridgeEvent::Usable`].
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum SelectionError {
    #[error("no bridge is known")]
    NoBridge,
    #[error("no bridge is operational")]
    NoOperationalBridge,
    #[error("every operational bridge is shutting down")]
    AllShuttingDown,
    #[error("no usable bridge runs version {0}")]
    NoBridgeWithVersion(String),
    #[error("the conference uses bridge version {conference}, not the pinned {pinned}")]
    VersionConflict { pinned: String, conference: String },
    #[error("no usable bridge has the relay id needed to join the conference's bridges")]
    NoRelayCapableBridge,
    #[error("the conference's bridge {0} cannot take participants, and the conference may not get another")]
    ConferenceBridgeUnavailable(FullJid),
}

/// A bridge and its corrected stress at the moment of selection.
#[derive(Clone, Copy)]
struct Candidate<'b> {
    bridge: &'b Bridge,
    stress: f64,
}

/// Keeps the candidates that satisfy `wanted`, if any do.
fn prefer(candidates: &mut Vec<Candidate>, wanted: impl Fn(&Candidate) -> bool) {
    if candidates.iter().any(&wanted) {
        candidates.retain(wanted);
    }
}

fn priority(bridge: &Bridge) -> u8 {
    match (bridge.is_operational(), bridge.graceful_shutdown) {
        (true, false) => 1,
        (true, true) => 2,
        (false, _) => 3,
    }
}

impl Bridges {
    /// The bridge for a new participant of a conference (or for one being moved).
    pub fn select(&self, now: Time, request: &SelectionRequest) -> Result<FullJid, SelectionError> {
        if self.bridges.is_empty() {
            return Err(SelectionError::NoBridge);
        }
        let conference_version =
            request.conference_bridges.iter().find_map(|(id, _)| self.bridges.get(id)?.full_version());
        let version = match (conference_version, request.pinned_version) {
            (Some(conference), Some(pinned)) if conference != pinned => {
                return Err(SelectionError::VersionConflict { pinned: pinned.to_owned(), conference });
            }
            (conference, pinned) => conference.or(pinned.map(str::to_owned)),
        };
        if let Some((main, _)) = request.conference_bridges.first() {
            let main_bridge = self.bridges.get(main);
            let may_grow = request.allow_new_bridge
                && self.settings.strategy != Strategy::Single
                && main_bridge.is_some_and(|b| b.relay_id.is_some());
            if !may_grow {
                // Draining or graceful shutdown do not matter here: they only keep *new*
                // conferences away.
                return match main_bridge {
                    Some(b) if b.is_operational() && !b.shutting_down => Ok(main.clone()),
                    _ => Err(SelectionError::ConferenceBridgeUnavailable(main.clone())),
                };
            }
        }
        let candidates = self.candidates(now, request, version)?;
        let chosen = match self.settings.strategy {
            Strategy::Single => single(&candidates, request),
            Strategy::Split => split(&candidates, request),
            Strategy::Region => self.region_based(&candidates, request),
        };
        let chosen = chosen.ok_or(SelectionError::NoOperationalBridge)?;
        debug!(bridge = %chosen.bridge.id, stress = chosen.stress, region = ?request.participant_region, "bridge selected");
        Ok(chosen.bridge.id.clone())
    }

    /// Steps 1–4 of the module's list: never empty.
    fn candidates(
        &self,
        now: Time,
        request: &SelectionRequest,
        version: Option<String>,
    ) -> Result<Vec<Candidate<'_>>, SelectionError> {
        let rampup = self.settings.rampup_interval;
        let mut candidates: Vec<Candidate> = self
            .bridges
            .values()
            .map(|bridge| Candidate { bridge, stress: bridge.corrected_stress(now, rampup) })
            .collect();
        candidates.sort_by(|a, b| {
            (priority(a.bridge).cmp(&priority(b.bridge)))
                .then(a.stress.total_cmp(&b.stress))
                .then_with(|| a.bridge.id.cmp(&b.bridge.id))
        });
        candidates.retain(|c| c.bridge.is_operational());
        if candidates.is_empty() {
            return Err(SelectionError::NoOperationalBridge);
        }
        candidates.retain(|c| !c.bridge.shutting_down);
        if candidates.is_empty() {
            return Err(SelectionError::AllShuttingDown);
        }
        if let Some(version) = version {
            candidates.retain(|c| c.bridge.full_version().as_ref() == Some(&version));
            if candidates.is_empty() {
                return Err(SelectionError::NoBridgeWithVersion(version));
            }
        }
        prefer(&mut candidates, |c| !c.bridge.draining);
        prefer(&mut candidates, |c| !c.bridge.graceful_shutdown);
        // A bridge joining a conference's bridges must be able to relay to them (Jicofo would
        // choose it and fail the allocation).
        if !request.conference_bridges.is_empty() {
            candidates.retain(|c| participants_on(request, c).is_some() || c.bridge.relay_id.is_some());
            if candidates.is_empty() {
                return Err(SelectionError::NoRelayCapableBridge);
            }
        }
        Ok(candidates)
    }

    /// Region-based: the first of these that exists (protocol.md §8.3). "Fits": not
    /// overloaded, and not holding `max_participants_per_bridge` of this conference. (Jicofo's
    /// "any non-overloaded" step ignores that cap, so a full conference bridge could still win
    /// there on stress alone; here the cap holds until the last two steps.)
    fn region_based<'b>(&self, candidates: &[Candidate<'b>], request: &SelectionRequest) -> Option<Candidate<'b>> {
        let local = self.settings.local_region.as_deref();
        let mut region = request.participant_region.or(local);
        if let Some(local) = local {
            let group = self.region_group(region);
            // The first of two participants from different regions: the other one is most
            // likely local, so start the conference where both can use it.
            if request.conference_bridges.is_empty() && region != Some(local) && group.contains(&local) {
                region = Some(local);
            }
            if !candidates.iter().any(|c| c.bridge.region().is_some_and(|r| group.contains(&r))) {
                region = Some(local);
            }
        }
        let group = self.region_group(region);
        let in_region = |c: &Candidate| region.is_some() && c.bridge.region() == region;
        let in_group = |c: &Candidate| c.bridge.region().is_some_and(|r| group.contains(&r));
        let in_conference = |c: &Candidate| participants_on(request, c).is_some();
        let max = self.settings.max_participants_per_bridge;
        let at_max = |c: &Candidate| participants_on(request, c).is_some_and(|n| n >= max);
        let fits = |c: &Candidate| c.stress < self.settings.stress_threshold && !at_max(c);
        let rules: [&dyn Fn(&Candidate) -> bool; 8] = [
            &|c| fits(c) && in_conference(c) && in_region(c),
            &|c| fits(c) && in_conference(c) && in_group(c),
            &|c| fits(c) && in_region(c),
            &|c| fits(c) && in_group(c),
            &|c| fits(c) && in_conference(c),
            &|c| fits(c),
            &|c| in_conference(c) && !at_max(c),
            &|_| true,
        ];
        rules.iter().find_map(|rule| candidates.iter().find(|c| rule(c))).copied()
    }

    /// The regions grouped with `region` (itself included); a region in no group is alone.
    fn region_group<'s>(&'s self, region: Option<&'s str>) -> Vec<&'s str> {
        let Some(region) = region else { return Vec::new() };
        self.settings
            .region_groups
            .iter()
            .find(|group| group.iter().any(|r| r == region))
            .map_or_else(|| vec![region], |group| group.iter().map(String::as_str).collect())
    }
}

/// Single bridge (the conference has none yet): the least loaded bridge in the participant's
/// region, else the least loaded.
fn single<'b>(candidates: &[Candidate<'b>], request: &SelectionRequest) -> Option<Candidate<'b>> {
    let region = request.participant_region;
    candidates.iter().find(|c| region.is_some() && c.bridge.region() == region).or(candidates.first()).copied()
}

/// Split (testing): a bridge the conference does not use yet, else the conference's bridge
/// with the fewest of its participants.
fn split<'b>(candidates: &[Candidate<'b>], request: &SelectionRequest) -> Option<Candidate<'b>> {
    candidates
        .iter()
        .find(|c| participants_on(request, c).is_none())
        .or_else(|| candidates.iter().min_by_key(|c| participants_on(request, c)))
        .copied()
}

/// The conference's participants on the candidate; `None` if the conference does not use it.
fn participants_on(request: &SelectionRequest, candidate: &Candidate) -> Option<usize> {
    request.conference_bridges.iter().find(|(id, _)| *id == candidate.bridge.id).map(|(_, n)| *n)
}
