//! The Colibri2 state machine: conferences and endpoints as JVB keeps them, and its answers.
//!
//! Behaviour follows jitsi-videobridge's `Videobridge.getOrCreateConference` and
//! `Colibri2ConferenceHandler` (read for behaviour, not translated): conference create/find
//! errors first, then the request restrictions, then each endpoint in order; an error stops the
//! request, and what was done before it stays done (as in JVB). Relays are refused as by a JVB
//! whose relays are disabled. Transports are created through [`EndpointTransports`], so this
//! module does no I/O and is unit-tested with a fake.

use std::collections::BTreeMap;

use minidom::Element;

use super::request::{ConferenceModify, EndpointRequest, IceUdpTransport, MediaDescription, MediaSource, ParseError};
use super::response::{self, LocalTransport};
use crate::view::{ConferenceView, EndpointKey, EndpointView};
use crate::xml::{elem, StanzaError, NS_COLIBRI2};

/// The capability every endpoint create must carry.
pub const CAP_SOURCE_NAMES: &str = "source-names";

/// Where endpoints get their ICE/DTLS transport (the str0m runtime, or a fake in tests).
pub trait EndpointTransports {
    /// Creates the endpoint's transport; returns what the create answer describes.
    /// `media` are the Colibri2 media of the create: their payload types and header
    /// extensions are what the endpoint's packets use.
    fn create(
        &mut self,
        key: &EndpointKey,
        ice_controlling: bool,
        media: &[MediaDescription],
    ) -> Result<LocalTransport, String>;
    /// The endpoint asked for an SCTP association (the bridge is the SCTP server).
    fn start_sctp(&mut self, key: &EndpointKey);
    /// The endpoint's media descriptions (all of them, after this request).
    fn set_media(&mut self, key: &EndpointKey, media: &[MediaDescription]);
    /// The client's ICE credentials, DTLS fingerprint and candidates.
    fn set_remote(&mut self, key: &EndpointKey, transport: &IceUdpTransport);
    /// The endpoint's sources (replacing earlier ones).
    fn set_sources(&mut self, key: &EndpointKey, sources: &[MediaSource]);
    /// The endpoint's force-mute: its media of a muted type is not forwarded.
    fn set_force_mute(&mut self, key: &EndpointKey, audio: bool, video: bool);
    /// The endpoint is gone.
    fn expire(&mut self, key: &EndpointKey);
}

/// Bridge-wide state a request depends on.
#[derive(Debug, Clone, Copy, Default)]
pub struct Context {
    /// In graceful shutdown, JVB refuses to create conferences.
    pub graceful_shutdown: bool,
}

#[derive(Debug, Clone)]
struct Endpoint {
    view: EndpointView,
}

#[derive(Debug, Clone)]
struct Conference {
    name: Option<String>,
    audio_ssrc: u32,
    video_ssrc: u32,
    endpoints: BTreeMap<String, Endpoint>,
}

/// All conferences of the bridge.
#[derive(Debug, Default)]
pub struct Colibri2Handler {
    conferences: BTreeMap<String, Conference>,
}

impl Colibri2Handler {
    pub fn new() -> Self {
        Self::default()
    }

    /// Handles the `<conference-modify>` payload of a request: `Ok` is the
    /// `<conference-modified>` to answer with, `Err` the stanza error.
    pub fn handle(
        &mut self,
        payload: &Element,
        ctx: Context,
        transports: &mut dyn EndpointTransports,
    ) -> Result<Element, StanzaError> {
        let request =
            ConferenceModify::parse(payload).map_err(|ParseError(text)| response::processing("bad-request", text))?;
        let meeting_id = request.meeting_id.clone();
        if request.create {
            if self.conferences.contains_key(&meeting_id) {
                return Err(response::conference_already_exists(&meeting_id));
            }
            if ctx.graceful_shutdown {
                return Err(response::graceful_shutdown());
            }
            if let Some(name) = &request.name {
                if xmpp_parsers::jid::BareJid::new(name).is_err() {
                    return Err(response::processing("bad-request", "Invalid conference name (not a JID)"));
                }
            }
            self.conferences.insert(
                meeting_id.clone(),
                Conference {
                    name: request.name.clone(),
                    audio_ssrc: rand::random(),
                    video_ssrc: rand::random(),
                    endpoints: BTreeMap::new(),
                },
            );
        }
        let Some(conference) = self.conferences.get_mut(&meeting_id) else {
            return Err(response::conference_not_found(&meeting_id));
        };
        let (answer, expire) = modify(&meeting_id, conference, &request, transports)?;
        if expire {
            self.expire_conference(&meeting_id, transports);
        }
        Ok(answer)
    }

    fn expire_conference(&mut self, meeting_id: &str, transports: &mut dyn EndpointTransports) {
        if let Some(conference) = self.conferences.remove(meeting_id) {
            for id in conference.endpoints.keys() {
                transports.expire(&EndpointKey::new(meeting_id, id));
            }
        }
    }

    /// `(conferences, endpoints)` for the brewery stats.
    pub fn load(&self) -> (usize, usize) {
        (self.conferences.len(), self.conferences.values().map(|c| c.endpoints.len()).sum())
    }

    /// What tests read: every conference with its endpoints.
    pub fn snapshot(&self) -> BTreeMap<String, ConferenceView> {
        self.conferences.keys().filter_map(|id| Some((id.clone(), self.snapshot_of(id)?))).collect()
    }

    /// One conference as tests read it, `None` if the bridge does not have it (any more). A
    /// request changes one conference, so the bridge republishes just that one: copying all of
    /// them per request made a load test's bridges quadratic in their endpoints.
    pub fn snapshot_of(&self, meeting_id: &str) -> Option<ConferenceView> {
        let c = self.conferences.get(meeting_id)?;
        Some(ConferenceView {
            meeting_id: meeting_id.to_owned(),
            name: c.name.clone(),
            feedback_audio_ssrc: c.audio_ssrc,
            feedback_video_ssrc: c.video_ssrc,
            endpoints: c.endpoints.iter().map(|(id, e)| (id.clone(), e.view.clone())).collect(),
        })
    }
}

/// JVB's `validateRequest`: the combinations it does not implement.
fn validate(request: &ConferenceModify) -> Result<(), StanzaError> {
    if !request.endpoints.is_empty() && !request.relays.is_empty() {
        return Err(response::feature_not_implemented("Using both 'relay' and 'endpoint' in a request"));
    }
    if request.endpoints.len() > 1 && request.endpoints.iter().any(EndpointRequest::is_substantial) {
        return Err(response::feature_not_implemented(
            "Creating or updating media, sources or transport for more than one endpoint in a request.",
        ));
    }
    if request.relays.len() > 1 {
        return Err(response::feature_not_implemented("Updating more than one 'relay' in a request."));
    }
    Ok(())
}

/// The conference part of a request; returns the answer and whether the conference expires.
fn modify(
    meeting_id: &str,
    conference: &mut Conference,
    request: &ConferenceModify,
    transports: &mut dyn EndpointTransports,
) -> Result<(Element, bool), StanzaError> {
    validate(request)?;
    // Requests that only expire endpoints (or set force-mute) ignore endpoints already gone.
    let ignore_unknown =
        !request.endpoints.iter().any(EndpointRequest::is_substantial) && request.relays.iter().all(|r| r.expire);
    let mut answer = elem("conference-modified", NS_COLIBRI2);
    for endpoint in &request.endpoints {
        answer.append_child(handle_endpoint(meeting_id, conference, endpoint, ignore_unknown, transports)?);
    }
    if !request.relays.is_empty() {
        return Err(response::processing("feature-not-implemented", "Octo is disabled in configuration."));
    }
    if request.create || request.endpoints.iter().any(|e| e.create) {
        answer.append_child(response::feedback_sources(conference.audio_ssrc, conference.video_ssrc));
    }
    let expire = request.expire || (!request.create && conference.endpoints.is_empty());
    Ok((answer, expire))
}

fn handle_endpoint(
    meeting_id: &str,
    conference: &mut Conference,
    request: &EndpointRequest,
    ignore_unknown: bool,
    transports: &mut dyn EndpointTransports,
) -> Result<Element, StanzaError> {
    let id = request.id.as_str();
    let key = EndpointKey::new(meeting_id, id);
    if request.expire {
        if conference.endpoints.remove(id).is_some() {
            transports.expire(&key);
        }
        return Ok(response::plain_endpoint(id, true));
    }

    let mut created: Option<(LocalTransport, bool)> = None;
    if request.create {
        if conference.endpoints.contains_key(id) {
            return Err(response::processing("conflict", format!("Endpoint with ID {id} already exists")));
        }
        let Some(transport) = &request.transport else {
            return Err(response::processing(
                "bad-request",
                format!("Attempt to create endpoint {id} with no <transport>"),
            ));
        };
        if !request.has_capability(CAP_SOURCE_NAMES) {
            return Err(response::processing("bad-request", "Source name support is mandatory."));
        }
        let local = transports
            .create(&key, transport.ice_controlling, &request.media)
            .map_err(|e| response::processing("internal-server-error", e))?;
        let view = EndpointView {
            id: id.to_string(),
            stats_id: request.stats_id.clone(),
            visitor: request.muc_role.as_deref().is_some_and(|r| r.eq_ignore_ascii_case("visitor")),
            capabilities: request.capabilities.clone(),
            ice_controlling: transport.ice_controlling,
            local: local.clone(),
            ..EndpointView::default()
        };
        conference.endpoints.insert(id.to_string(), Endpoint { view });
        // As in JVB, the endpoint exists before its SCTP request is checked.
        if let Some(sctp) = &transport.sctp {
            if let Some(role) = sctp.role.as_deref().filter(|r| *r != "server") {
                return Err(response::processing(
                    "feature-not-implemented",
                    format!("Unsupported SCTP role: {}", role.to_ascii_uppercase()),
                ));
            }
            if sctp.port.is_some_and(|p| p != i64::from(response::SCTP_PORT)) {
                return Err(response::processing("bad-request", "Specific SCTP port requested, not supported."));
            }
            if let Some(endpoint) = conference.endpoints.get_mut(id) {
                endpoint.view.sctp = true;
            }
            transports.start_sctp(&key);
        }
        created = Some((local, transport.sctp.is_some()));
    }

    let Some(endpoint) = conference.endpoints.get_mut(id) else {
        if ignore_unknown {
            return Ok(response::plain_endpoint(id, false));
        }
        return Err(response::endpoint_not_found(id));
    };
    let view = &mut endpoint.view;

    if !request.media.is_empty() {
        for media in &request.media {
            merge_media(&mut view.media, media);
        }
        transports.set_media(&key, &view.media);
    }
    if let Some(n) = request.initial_last_n {
        view.initial_last_n = Some(n);
    }
    if let Some(ice_udp) = request.transport.as_ref().and_then(|t| t.ice_udp.as_ref()) {
        view.remote = Some(ice_udp.clone());
        transports.set_remote(&key, ice_udp);
    }
    if let Some(sources) = &request.sources {
        if view.visitor && !sources.is_empty() {
            return Err(response::processing(
                "bad-request",
                format!("Attempt to set sources for visitor endpoint {id}"),
            ));
        }
        view.sources = sources.clone();
        transports.set_sources(&key, sources);
    }
    if let Some(mute) = request.force_mute {
        view.force_mute_audio = mute.audio;
        view.force_mute_video = mute.video;
        transports.set_force_mute(&key, mute.audio, mute.video);
    }
    // An ICE restart (`ice-restart='true'`) is not implemented: like JVB when a restart is
    // unavailable, the answer then carries no transport.
    Ok(match created {
        Some((local, sctp)) => response::created_endpoint(id, &local, sctp),
        None => response::plain_endpoint(id, false),
    })
}

/// Adds payload types and header extensions not known yet (JVB never removes them).
fn merge_media(all: &mut Vec<MediaDescription>, new: &MediaDescription) {
    let Some(existing) = all.iter_mut().find(|m| m.kind == new.kind) else {
        all.push(new.clone());
        return;
    };
    for pt in &new.payload_types {
        if !existing.payload_types.iter().any(|p| p.id == pt.id) {
            existing.payload_types.push(pt.clone());
        }
    }
    for ext in &new.rtp_hdrexts {
        if !existing.rtp_hdrexts.iter().any(|e| e.id == ext.id) {
            existing.rtp_hdrexts.push(ext.clone());
        }
    }
    existing.extmap_allow_mixed = new.extmap_allow_mixed;
}
