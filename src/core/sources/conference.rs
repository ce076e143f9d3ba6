//! All sources of one conference by endpoint, with the indexes that keep SSRCs and msids
//! unique (Jicofo's `ValidatingConferenceSourceMap`).

use std::collections::{BTreeMap, HashMap};

use super::validation::check_endpoint_sources;
use super::{naming, EndpointSources, SourceError, SourceLimits};

/// The sources every endpoint of a conference has signalled. Every change is validated
/// first and either applied whole or refused with the state unchanged.
#[derive(Debug, Clone, Default)]
pub struct ConferenceSources {
    /// By endpoint id, ordered so that iteration (and what is built from it) is deterministic.
    endpoints: BTreeMap<String, EndpointSources>,
    /// Which endpoint signalled each SSRC.
    ssrc_owner: HashMap<u32, String>,
    /// Which endpoint uses each msid.
    msid_owner: HashMap<String, String>,
}

impl ConferenceSources {
    pub fn new() -> ConferenceSources {
        ConferenceSources::default()
    }

    /// Adds sources signalled by `endpoint` (session-accept, source-add). Returns what was
    /// accepted: the new sources with names and msids completed (see `naming`), and the new
    /// groups, without empty ones and ones the endpoint already has (silently ignored, as
    /// Jicofo does).
    pub fn add(
        &mut self,
        endpoint: &str,
        incoming: EndpointSources,
        limits: &SourceLimits,
    ) -> Result<EndpointSources, SourceError> {
        let empty = EndpointSources::default();
        let existing = self.endpoints.get(endpoint).unwrap_or(&empty);

        // The same source twice in one request counts once (Jicofo reads into a set).
        let mut requested = Vec::with_capacity(incoming.sources.len());
        for source in incoming.sources {
            if !requested.contains(&source) {
                requested.push(source);
            }
        }
        let mut added = Vec::with_capacity(requested.len());
        for source in &requested {
            if source.ssrc == 0 {
                return Err(SourceError::invalid_ssrc(0));
            }
            let used_here = added.iter().any(|s: &super::Source| s.ssrc == source.ssrc);
            if used_here || self.ssrc_owner.contains_key(&source.ssrc) {
                return Err(SourceError::ssrc_already_used(source.ssrc));
            }
            if let Some(msid) = &source.msid {
                if self.msid_owner.get(msid).is_some_and(|owner| owner != endpoint) {
                    return Err(SourceError::msid_conflict(msid));
                }
            }
            if existing.sources.len() + requested.len() > limits.max_ssrcs_per_endpoint {
                return Err(SourceError::ssrc_limit(limits.max_ssrcs_per_endpoint));
            }
            added.push(source.clone());
        }

        let mut added_groups = Vec::new();
        for group in incoming.groups {
            if group.ssrcs.is_empty() || existing.groups.contains(&group) || added_groups.contains(&group) {
                continue;
            }
            // Stricter than Jicofo: a group's SSRCs must also be sources of the group's media,
            // so that a group never lands in another media's description.
            let known = |ssrc: &u32| {
                existing.sources.iter().chain(added.iter()).any(|s| s.ssrc == *ssrc && s.media == group.media)
            };
            if !group.ssrcs.iter().all(known) {
                return Err(SourceError::group_unknown_source(&group.ssrcs));
            }
            added_groups.push(group);
        }
        if existing.groups.len() + added_groups.len() > limits.max_ssrc_groups_per_endpoint {
            return Err(SourceError::group_limit(limits.max_ssrc_groups_per_endpoint));
        }

        let mut resulting = existing.clone();
        resulting.groups.extend(added_groups.iter().cloned());
        naming::complete(endpoint, existing, &mut added, &resulting.groups, |msid| self.msid_owner.contains_key(msid));
        resulting.sources.extend(added.iter().cloned());
        check_endpoint_sources(&resulting)?;

        for source in &added {
            self.ssrc_owner.insert(source.ssrc, endpoint.to_owned());
            if let Some(msid) = &source.msid {
                self.msid_owner.insert(msid.clone(), endpoint.to_owned());
            }
        }
        if !resulting.is_empty() {
            self.endpoints.insert(endpoint.to_owned(), resulting);
        }
        Ok(EndpointSources::new(added, added_groups))
    }

    /// Removes sources `endpoint` signalled (source-remove). Sources are matched by SSRC only
    /// (a client need not repeat msid or name); groups must match exactly; groups containing
    /// a removed SSRC go too. Returns what was removed, as it was stored.
    pub fn remove(&mut self, endpoint: &str, outgoing: &EndpointSources) -> Result<EndpointSources, SourceError> {
        if outgoing.is_empty() {
            return Ok(EndpointSources::default());
        }
        let first_ssrc = outgoing.sources.first().map(|s| s.ssrc);
        let existing = match self.endpoints.get(endpoint) {
            Some(existing) if !existing.is_empty() => existing,
            _ => return Err(SourceError::source_does_not_exist(first_ssrc)),
        };
        for source in &outgoing.sources {
            if existing.source(source.ssrc).is_none() {
                return Err(SourceError::source_does_not_exist(Some(source.ssrc)));
            }
        }
        if !outgoing.groups.iter().all(|g| existing.groups.contains(g)) {
            return Err(SourceError::group_does_not_exist());
        }
        let removed_ssrc = |ssrc: u32| outgoing.sources.iter().any(|s| s.ssrc == ssrc);
        let removed = EndpointSources {
            sources: existing.sources.iter().filter(|s| removed_ssrc(s.ssrc)).cloned().collect(),
            groups: existing
                .groups
                .iter()
                .filter(|g| outgoing.groups.contains(g) || g.ssrcs.iter().any(|s| removed_ssrc(*s)))
                .cloned()
                .collect(),
        };
        let remaining = existing.without(&removed);
        check_endpoint_sources(&remaining)?;
        self.forget(endpoint, &removed, &remaining);
        if remaining.is_empty() {
            self.endpoints.remove(endpoint);
        } else {
            self.endpoints.insert(endpoint.to_owned(), remaining);
        }
        Ok(removed)
    }

    /// Drops everything of `endpoint` (it left, its session ended or it is re-invited) and
    /// returns it.
    pub fn remove_endpoint(&mut self, endpoint: &str) -> EndpointSources {
        let removed = self.endpoints.remove(endpoint).unwrap_or_default();
        self.forget(endpoint, &removed, &EndpointSources::default());
        removed
    }

    /// Takes `removed` of `endpoint` out of the indexes; an msid stays taken while a
    /// `remaining` source of the endpoint has it.
    fn forget(&mut self, endpoint: &str, removed: &EndpointSources, remaining: &EndpointSources) {
        for source in &removed.sources {
            self.ssrc_owner.remove(&source.ssrc);
            if let Some(msid) = &source.msid {
                let still_used = remaining.sources.iter().any(|s| s.msid.as_ref() == Some(msid));
                if !still_used && self.msid_owner.get(msid).is_some_and(|owner| owner == endpoint) {
                    self.msid_owner.remove(msid);
                }
            }
        }
    }

    pub fn of(&self, endpoint: &str) -> Option<&EndpointSources> {
        self.endpoints.get(endpoint)
    }

    /// Every endpoint with sources, ordered by endpoint id.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &EndpointSources)> {
        self.endpoints.iter().map(|(endpoint, sources)| (endpoint.as_str(), sources))
    }

    /// The endpoint that signalled `ssrc`.
    pub fn owner_of(&self, ssrc: u32) -> Option<&str> {
        self.ssrc_owner.get(&ssrc).map(String::as_str)
    }

    /// SSRCs of the whole conference (its footprint).
    pub fn len_ssrcs(&self) -> usize {
        self.ssrc_owner.len()
    }

    pub fn is_empty(&self) -> bool {
        self.endpoints.is_empty()
    }
}
