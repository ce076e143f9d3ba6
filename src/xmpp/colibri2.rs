//! `jitsi:colibri2` (protocol.md §9, media-facts.md §3): the focus's `conference-modify`
//! requests to a bridge, the bridge's `conference-modified` answer, and its error reasons.
//!
//! Requests are IQ `get` (what Jicofo sends; JVB also takes `set`). Relays (Octo) are not
//! implemented: a conference lives on one bridge.

use minidom::Element;

use super::build::{elem, ElementExt};
use super::jingle::{bounded_attr, JingleError};
use super::jingle_ice::IceUdpTransport;
use super::jingle_rtp::RtpFormats;
use super::ns;

/// The capability JVB requires of every endpoint ("Source name support is mandatory").
pub const CAPABILITY_SOURCE_NAMES: &str = "source-names";
/// Feedback sources and media sources read from one answer.
const MAX_MEDIA_SOURCES: usize = 64;

/// `<conference-modify meeting-id [name] [create] [expire]>`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConferenceModify {
    pub meeting_id: String,
    /// The room's JID, sent with `create`.
    pub name: Option<String>,
    pub create: bool,
    pub expire: bool,
    pub endpoints: Vec<Endpoint>,
}

/// `<endpoint id [create] [expire] [stats-id]>` and what it carries.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Endpoint {
    pub id: String,
    pub create: bool,
    pub expire: bool,
    pub stats_id: Option<String>,
    pub capabilities: Vec<String>,
    pub media: Vec<Media>,
    pub transport: Option<EndpointTransport>,
    /// `Some` replaces the endpoint's sources (an empty list clears them).
    pub sources: Option<Vec<MediaSource>>,
    pub force_mute: Option<ForceMute>,
    pub initial_last_n: Option<u32>,
}

/// `<media type='audio|video'>` with the formats of the participant's offer.
#[derive(Debug, Clone, PartialEq)]
pub struct Media {
    pub media_type: String,
    pub formats: RtpFormats,
}

#[derive(Debug, Clone, PartialEq)]
pub enum EndpointTransport {
    /// On create: the bridge is the controlling ICE agent; `sctp` asks for a data channel.
    Create { ice_controlling: bool, sctp: bool },
    /// The participant's ICE credentials, fingerprint and candidates.
    Update(IceUdpTransport),
}

/// `<force-mute audio video/>`: the bridge drops that media from the endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ForceMute {
    pub audio: bool,
    pub video: bool,
}

/// `<media-source type id>`: one named source with its SSRCs and groups.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MediaSource {
    pub media_type: String,
    pub id: String,
    pub sources: Vec<WireSource>,
    /// (`SIM`|`FID`, SSRCs).
    pub groups: Vec<(String, Vec<u32>)>,
}

/// `<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc [name] [videoType]>` (no msid here).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireSource {
    pub ssrc: u32,
    pub name: Option<String>,
    pub video_type: Option<String>,
}

/// `<conference-modified>`: per created endpoint the bridge's transport, plus its feedback
/// sources when the conference was created.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ConferenceModified {
    pub endpoints: Vec<EndpointAnswer>,
    pub sources: Vec<MediaSource>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct EndpointAnswer {
    pub id: String,
    pub transport: Option<IceUdpTransport>,
    pub sctp_port: Option<u16>,
}

/// The `reason` of `<error xmlns='jitsi:colibri2'>` (case-insensitive on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ErrorReason {
    ConferenceNotFound,
    ConferenceAlreadyExists,
    FeatureNotImplemented,
    GracefulShutdown,
    UnknownEndpoint,
    Unspecified,
    Other(String),
}

/// A bridge's error answer: the stanza error condition, its Colibri2 reason and text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Colibri2Error {
    pub condition: String,
    pub reason: Option<ErrorReason>,
    pub text: Option<String>,
    /// With `unknown_endpoint`: the endpoint the bridge does not know.
    pub endpoint: Option<String>,
}

impl ConferenceModify {
    pub fn to_element(&self) -> Element {
        let mut modify = elem("conference-modify", ns::COLIBRI2).with_attr("meeting-id", &self.meeting_id);
        if let Some(name) = &self.name {
            modify = modify.with_attr("name", name);
        }
        if self.create {
            modify = modify.with_attr("create", "true");
        }
        if self.expire {
            modify = modify.with_attr("expire", "true");
        }
        for endpoint in &self.endpoints {
            modify.append_child(endpoint.to_element());
        }
        modify
    }
}

impl Endpoint {
    pub fn new(id: &str) -> Endpoint {
        Endpoint { id: id.to_owned(), ..Endpoint::default() }
    }

    fn to_element(&self) -> Element {
        let mut endpoint = elem("endpoint", ns::COLIBRI2).with_attr("id", &self.id);
        if self.create {
            endpoint = endpoint.with_attr("create", "true");
        }
        if self.expire {
            endpoint = endpoint.with_attr("expire", "true");
        }
        if let Some(stats_id) = &self.stats_id {
            endpoint = endpoint.with_attr("stats-id", stats_id);
        }
        for capability in &self.capabilities {
            endpoint.append_child(elem("capability", ns::COLIBRI2).with_attr("name", capability));
        }
        for media in &self.media {
            let mut element = elem("media", ns::COLIBRI2).with_attr("type", &media.media_type);
            for child in media.formats.elements() {
                element.append_child(child);
            }
            endpoint.append_child(element);
        }
        match &self.transport {
            Some(EndpointTransport::Create { ice_controlling, sctp }) => {
                let mut transport = elem("transport", ns::COLIBRI2);
                if *ice_controlling {
                    transport = transport.with_attr("ice-controlling", "true");
                }
                if *sctp {
                    transport.append_child(elem("sctp", ns::COLIBRI2));
                }
                endpoint.append_child(transport);
            }
            Some(EndpointTransport::Update(ice)) => {
                endpoint.append_child(elem("transport", ns::COLIBRI2).with_child(ice.to_element()));
            }
            None => {}
        }
        if let Some(sources) = &self.sources {
            let mut element = elem("sources", ns::COLIBRI2);
            for source in sources {
                element.append_child(source.to_element());
            }
            endpoint.append_child(element);
        }
        if let Some(mute) = self.force_mute {
            endpoint.append_child(
                elem("force-mute", ns::COLIBRI2)
                    .with_attr("audio", mute.audio.to_string())
                    .with_attr("video", mute.video.to_string()),
            );
        }
        if let Some(n) = self.initial_last_n {
            endpoint.append_child(elem("initial-last-n", ns::COLIBRI2).with_attr("value", n.to_string()));
        }
        endpoint
    }
}

impl MediaSource {
    pub fn to_element(&self) -> Element {
        let mut element =
            elem("media-source", ns::COLIBRI2).with_attr("type", &self.media_type).with_attr("id", &self.id);
        for source in &self.sources {
            let mut s = elem("source", ns::SSMA).with_attr("ssrc", source.ssrc.to_string());
            if let Some(name) = &source.name {
                s = s.with_attr("name", name);
            }
            if let Some(video_type) = &source.video_type {
                s = s.with_attr("videoType", video_type);
            }
            element.append_child(s);
        }
        for (semantics, ssrcs) in &self.groups {
            let mut group = elem("ssrc-group", ns::SSMA).with_attr("semantics", semantics);
            for ssrc in ssrcs {
                group.append_child(elem("source", ns::SSMA).with_attr("ssrc", ssrc.to_string()));
            }
            element.append_child(group);
        }
        element
    }

    fn parse(element: &Element) -> Result<MediaSource, JingleError> {
        let ssrc = |e: &Element| -> Result<u32, JingleError> {
            e.attr("ssrc")
                .and_then(|v| v.parse().ok())
                .ok_or_else(|| JingleError::new("<source/> needs a numeric 'ssrc'"))
        };
        let mut source = MediaSource {
            media_type: bounded_attr(element, "type").unwrap_or_default().to_owned(),
            id: bounded_attr(element, "id").unwrap_or_default().to_owned(),
            sources: Vec::new(),
            groups: Vec::new(),
        };
        for child in element.children().take(MAX_MEDIA_SOURCES) {
            if child.is("source", ns::SSMA) {
                source.sources.push(WireSource {
                    ssrc: ssrc(child)?,
                    name: bounded_attr(child, "name").map(str::to_owned),
                    video_type: bounded_attr(child, "videoType").map(str::to_owned),
                });
            } else if child.is("ssrc-group", ns::SSMA) {
                let ssrcs = child.children().take(MAX_MEDIA_SOURCES).map(ssrc).collect::<Result<_, _>>()?;
                source.groups.push((bounded_attr(child, "semantics").unwrap_or_default().to_owned(), ssrcs));
            }
        }
        Ok(source)
    }
}

impl ConferenceModified {
    /// Reads the `conference-modified` payload of a bridge's result.
    pub fn parse(element: &Element) -> Result<ConferenceModified, JingleError> {
        if !element.is("conference-modified", ns::COLIBRI2) {
            return Err(JingleError::new("expected <conference-modified xmlns='jitsi:colibri2'/>"));
        }
        let mut modified = ConferenceModified::default();
        for child in element.children() {
            if child.is("endpoint", ns::COLIBRI2) {
                let id = bounded_attr(child, "id").ok_or_else(|| JingleError::new("<endpoint/> needs an 'id'"))?;
                let outer = child.get_child("transport", ns::COLIBRI2);
                let transport = match outer.and_then(|t| t.get_child("transport", ns::JINGLE_ICE_UDP)) {
                    Some(ice) => Some(IceUdpTransport::parse(ice)?),
                    None => None,
                };
                let sctp_port =
                    outer.and_then(|t| t.get_child("sctp", ns::COLIBRI2)).and_then(|s| s.attr("port")?.parse().ok());
                modified.endpoints.push(EndpointAnswer { id: id.to_owned(), transport, sctp_port });
            } else if child.is("sources", ns::COLIBRI2) {
                for media_source in child.children().filter(|c| c.is("media-source", ns::COLIBRI2)) {
                    if modified.sources.len() < MAX_MEDIA_SOURCES {
                        modified.sources.push(MediaSource::parse(media_source)?);
                    }
                }
            }
        }
        Ok(modified)
    }
}

impl ErrorReason {
    fn parse(reason: &str) -> ErrorReason {
        match reason.to_ascii_lowercase().as_str() {
            "conference_not_found" => ErrorReason::ConferenceNotFound,
            "conference_already_exists" => ErrorReason::ConferenceAlreadyExists,
            "feature_not_implemented" => ErrorReason::FeatureNotImplemented,
            "graceful_shutdown" => ErrorReason::GracefulShutdown,
            "unknown_endpoint" => ErrorReason::UnknownEndpoint,
            "unspecified" => ErrorReason::Unspecified,
            _ => ErrorReason::Other(reason.chars().take(64).collect()),
        }
    }
}

impl Colibri2Error {
    /// Reads the `<error>` child of an IQ error from a bridge.
    pub fn parse(iq: &Element) -> Colibri2Error {
        // The stanza namespace depends on the stream (component or client): match the name.
        let error = iq.children().find(|c| c.name() == "error" && c.ns() != ns::COLIBRI2);
        let condition = error
            .and_then(|e| e.children().find(|c| c.ns() == ns::STANZAS && c.name() != "text"))
            .map(|c| c.name().to_owned())
            .unwrap_or_else(|| "undefined-condition".to_owned());
        let text = error.and_then(|e| e.get_child("text", ns::STANZAS)).map(|t| t.text().chars().take(256).collect());
        let colibri = error.and_then(|e| e.get_child("error", ns::COLIBRI2));
        let endpoint = colibri
            .and_then(|c| c.get_child("endpoint", ns::COLIBRI2))
            .or_else(|| error.and_then(|e| e.get_child("endpoint", ns::COLIBRI2)))
            .and_then(|e| bounded_attr(e, "id"))
            .map(str::to_owned);
        Colibri2Error {
            condition,
            reason: colibri.and_then(|c| c.attr("reason")).map(ErrorReason::parse),
            text,
            endpoint,
        }
    }
}

#[cfg(test)]
mod tests;
