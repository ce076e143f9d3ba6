//! Sources in Jingle (`urn:xmpp:jingle:apps:rtp:ssma:0`): reading what a participant signals
//! (session-accept, source-add, source-remove) and writing, for each receiver in the form it
//! understands, what the others send (session-initiate, source-add, source-remove).
//!
//! ```xml
//! <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='111' name='abcd1234-a0' [videoType='camera']>
//!   <ssrc-info xmlns='http://jitsi.org/jitmeet' owner='abcd1234'/>
//!   <parameter name='msid' value='stream-id track-id'/>
//! </source>
//! <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source ssrc='1'/><source ssrc='2'/></ssrc-group>
//! ```

use minidom::Element;
use xmpp_parsers::jid::BareJid;

use super::build::{elem, ElementExt};
use super::json_sources::{self, FEATURE_JSON_SOURCES};
use super::ns;
use crate::core::sources::{
    EndpointSources, MediaType, Semantics, Source, SourceError, SourceFilter, SourceGroup, BRIDGE_OWNER,
    VIDEO_TYPE_CAMERA, VIDEO_TYPE_DESKTOP,
};

pub const JINGLE: &str = "urn:xmpp:jingle:1";
pub const RTP: &str = "urn:xmpp:jingle:apps:rtp:1";
pub const FEATURE_AUDIO: &str = "urn:xmpp:jingle:apps:rtp:audio";
pub const FEATURE_VIDEO: &str = "urn:xmpp:jingle:apps:rtp:video";
pub const FEATURE_SOURCE_NAMES: &str = "http://jitsi.org/source-name";
pub const FEATURE_SSRC_REWRITING: &str = "http://jitsi.org/ssrc-rewriting-1";

/// Sources, groups and group members one message may carry before it is refused: far above
/// any real client (a few dozen) and above the configurable per-endpoint limits (at most 256
/// each), so that a hostile stanza costs bounded work whatever the stanza limits are.
pub const MAX_PARSED_ITEMS: usize = 2048;
/// Characters of a name, msid or `videoType`; real ones have under 80.
pub const MAX_TEXT: usize = 256;

/// How a receiver reads `<ssrc-info owner>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OwnerForm {
    /// `abcd1234`: current clients (Jicofo since Nov 2022).
    EndpointId,
    /// `room@conference.example.com/abcd1234`: older clients take the resource of the owner
    /// (`getResourceFromJid`); current clients accept it too.
    OccupantJid(BareJid),
}

/// How one receiver is given sources.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceForm {
    pub owner: OwnerForm,
    /// One `<json-message>` instead of `<source>` elements.
    pub json: bool,
    pub filter: SourceFilter,
}

impl SourceForm {
    /// The form for a receiver that advertised `features` (disco#info) in `room`:
    /// - owner as endpoint id only if it advertises source names (a client newer than the
    ///   owner change), else as occupant JID (understood by every client);
    /// - JSON iff it advertises `json-encoded-sources`;
    /// - no bridge sources for a receiver advertising neither source names nor JSON: that is
    ///   the 2020 Plan-B client, which a second msid in one m-line breaks (media-facts §1);
    /// - only the bridge's sources for SSRC-rewriting receivers; simulcast always stripped.
    ///
    /// On disco failure pass Jicofo's default features (audio, video, SCTP).
    pub fn for_receiver<'a>(features: impl IntoIterator<Item = &'a str>, room: &BareJid) -> SourceForm {
        let features: Vec<&str> = features.into_iter().collect();
        let has = |feature: &str| features.contains(&feature);
        let source_names = has(FEATURE_SOURCE_NAMES);
        let json = has(FEATURE_JSON_SOURCES);
        SourceForm {
            owner: if source_names { OwnerForm::EndpointId } else { OwnerForm::OccupantJid(room.clone()) },
            json,
            filter: SourceFilter {
                audio: has(FEATURE_AUDIO),
                video: has(FEATURE_VIDEO),
                strip_simulcast: true,
                bridge_sources: source_names || json,
                ssrc_rewriting: has(FEATURE_SSRC_REWRITING),
            },
        }
    }

    /// The owner as this receiver must read it; the bridge is always `jvb`.
    pub fn owner_of(&self, endpoint: &str) -> String {
        match &self.owner {
            OwnerForm::OccupantJid(room) if endpoint != BRIDGE_OWNER => format!("{room}/{endpoint}"),
            _ => endpoint.to_owned(),
        }
    }
}

/// `<source>`/`<ssrc-group>` children for each media's `<description>`: sources first, then
/// groups, owners in the order given.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DescriptionSources {
    pub audio: Vec<Element>,
    pub video: Vec<Element>,
}

impl DescriptionSources {
    pub fn is_empty(&self) -> bool {
        self.audio.is_empty() && self.video.is_empty()
    }

    pub fn of(&self, media: MediaType) -> &[Element] {
        match media {
            MediaType::Audio => &self.audio,
            MediaType::Video => &self.video,
        }
    }

    /// `<content name='audio'><description xmlns=rtp media='audio'>…</description></content>`
    /// per media with sources, for a source-add or source-remove.
    pub fn into_contents(self) -> Vec<Element> {
        [(MediaType::Audio, self.audio), (MediaType::Video, self.video)]
            .into_iter()
            .filter(|(_, children)| !children.is_empty())
            .map(|(media, children)| {
                let description = children
                    .into_iter()
                    .fold(elem("description", RTP).with_attr("media", media.as_str()), ElementExt::with_child);
                elem("content", JINGLE).with_attr("name", media.as_str()).with_child(description)
            })
            .collect()
    }
}

/// Sources for one receiver, in its form.
#[derive(Debug, Clone, PartialEq)]
pub enum SourcesPayload {
    /// Children of the contents' descriptions.
    Jingle(DescriptionSources),
    /// A `<json-message>` child of `<jingle>`; the contents carry no sources.
    Json(Element),
}

impl SourcesPayload {
    /// Nothing to tell (an empty JSON message still counts: session-initiate always has one).
    pub fn is_empty(&self) -> bool {
        matches!(self, SourcesPayload::Jingle(d) if d.is_empty())
    }
}

/// Writes `sources` (by endpoint id, or `jvb`) in `form`, after the receiver's filter.
pub fn encode<'a>(
    form: &SourceForm,
    sources: impl IntoIterator<Item = (&'a str, &'a EndpointSources)>,
) -> SourcesPayload {
    let shown: Vec<(String, EndpointSources)> =
        form.filter.apply_all(sources).into_iter().map(|(endpoint, set)| (form.owner_of(&endpoint), set)).collect();
    if form.json {
        return SourcesPayload::Json(json_sources::json_message(shown.iter().map(|(o, s)| (o.as_str(), s))));
    }
    let mut description = DescriptionSources::default();
    for media in MediaType::ALL {
        let children = match media {
            MediaType::Audio => &mut description.audio,
            MediaType::Video => &mut description.video,
        };
        for (owner, set) in &shown {
            children.extend(set.sources.iter().filter(|s| s.media == media).map(|s| source_element(s, Some(owner))));
        }
        for (_, set) in &shown {
            children.extend(set.groups.iter().filter(|g| g.media == media).map(group_element));
        }
    }
    SourcesPayload::Jingle(description)
}

/// One `<source>`, with `<ssrc-info owner>` when an owner is given, then the msid.
pub fn source_element(source: &Source, owner: Option<&str>) -> Element {
    let mut element = elem("source", ns::SSMA).with_attr("ssrc", source.ssrc.to_string());
    if let Some(name) = &source.name {
        element = element.with_attr("name", name.as_str());
    }
    if let Some(video_type) = &source.video_type {
        element = element.with_attr("videoType", video_type.as_str());
    }
    if let Some(owner) = owner {
        element = element.with_child(elem("ssrc-info", ns::JITMEET).with_attr("owner", owner));
    }
    if let Some(msid) = &source.msid {
        element =
            element.with_child(elem("parameter", ns::SSMA).with_attr("name", "msid").with_attr("value", msid.as_str()));
    }
    element
}

/// One `<ssrc-group semantics='SIM|FID'>` with a `<source ssrc>` per member.
pub fn group_element(group: &SourceGroup) -> Element {
    group.ssrcs.iter().fold(elem("ssrc-group", ns::SSMA).with_attr("semantics", group.semantics.as_str()), |g, ssrc| {
        g.with_child(elem("source", ns::SSMA).with_attr("ssrc", ssrc.to_string()))
    })
}

/// Reads the sources of every `<content>` of a `<jingle>` element.
pub fn parse_jingle(jingle: &Element) -> Result<EndpointSources, SourceError> {
    let mut parsed = Parsed::default();
    for content in jingle.children().filter(|c| c.is("content", JINGLE)) {
        parsed.content(content)?;
    }
    Ok(parsed.set)
}

/// Reads the sources of one `<content>`: `<source>` and `<ssrc-group>` children of its RTP
/// `<description>` or of the content itself; the media from `description@media`, else the
/// content's name. A content of another media (`data`) with no sources is skipped.
pub fn parse_content(content: &Element) -> Result<EndpointSources, SourceError> {
    let mut parsed = Parsed::default();
    parsed.content(content)?;
    Ok(parsed.set)
}

#[derive(Default)]
struct Parsed {
    set: EndpointSources,
    items: usize,
}

impl Parsed {
    fn content(&mut self, content: &Element) -> Result<(), SourceError> {
        let description = content.get_child("description", RTP);
        let holders = || description.into_iter().chain([content]);
        let ours = |e: &&Element| e.ns() == ns::SSMA && (e.name() == "source" || e.name() == "ssrc-group");
        if !holders().flat_map(Element::children).any(|e| ours(&e)) {
            return Ok(());
        }
        let media_name = description.and_then(|d| d.attr_nonempty("media")).or_else(|| content.attr("name"));
        let media = media_name
            .and_then(MediaType::parse)
            .ok_or_else(|| bad(format!("Invalid media type for sources: {}", shown(media_name.unwrap_or("null")))))?;
        for child in holders().flat_map(Element::children).filter(ours) {
            self.count_one()?;
            if child.name() == "source" {
                let source = parse_source(child, media)?;
                if !self.set.sources.contains(&source) {
                    self.set.sources.push(source);
                }
            } else {
                let group = self.parse_group(child, media)?;
                if !self.set.groups.contains(&group) {
                    self.set.groups.push(group);
                }
            }
        }
        Ok(())
    }

    fn count_one(&mut self) -> Result<(), SourceError> {
        self.items += 1;
        if self.items > MAX_PARSED_ITEMS {
            return Err(bad(format!("Too many sources and groups (more than {MAX_PARSED_ITEMS}).")));
        }
        Ok(())
    }

    fn parse_group(&mut self, group: &Element, media: MediaType) -> Result<SourceGroup, SourceError> {
        let semantics = group.attr("semantics");
        let semantics = semantics
            .and_then(Semantics::parse)
            .ok_or_else(|| SourceError::invalid_semantics(shown(semantics.unwrap_or("null"))))?;
        let mut ssrcs = Vec::new();
        for member in group.children().filter(|c| c.is("source", ns::SSMA)) {
            self.count_one()?;
            ssrcs.push(parse_ssrc(member)?);
        }
        Ok(SourceGroup { semantics, media, ssrcs })
    }
}

fn parse_source(source: &Element, media: MediaType) -> Result<Source, SourceError> {
    let ssrc = parse_ssrc(source)?;
    let text = |what: &str, value: Option<&str>| -> Result<Option<String>, SourceError> {
        match value.filter(|v| !v.is_empty()) {
            Some(v) if v.chars().count() > MAX_TEXT => {
                Err(bad(format!("Source {what} too long (more than {MAX_TEXT} characters).")))
            }
            v => Ok(v.map(str::to_owned)),
        }
    };
    let msid = source
        .children()
        .find(|p| p.name() == "parameter" && p.attr("name") == Some("msid"))
        .and_then(|p| p.attr("value"));
    let video_type = match source.attr_nonempty("videoType") {
        None => None,
        Some(v) if v.eq_ignore_ascii_case(VIDEO_TYPE_CAMERA) => Some(VIDEO_TYPE_CAMERA.to_owned()),
        Some(v) if v.eq_ignore_ascii_case(VIDEO_TYPE_DESKTOP) => Some(VIDEO_TYPE_DESKTOP.to_owned()),
        Some(v) => return Err(bad(format!("Invalid VideoType: {}", shown(v)))),
    };
    let name = text("name", source.attr("name"))?;
    if let Some(name) = &name {
        if !name.chars().all(|c| c.is_ascii_alphanumeric() || "._-".contains(c)) {
            return Err(bad(format!("Invalid source name: {}", shown(name))));
        }
    }
    let msid = text("msid", msid)?;
    if let Some(msid) = &msid {
        if !valid_msid(msid) {
            return Err(bad(format!("Invalid msid: {}", shown(msid))));
        }
    }
    Ok(Source { ssrc, media, name, msid, video_type })
}

/// An msid as SDP takes it (RFC 8830): a stream id and an optional track id, separated by one
/// space, each 1–64 token characters. Receivers paste it into their remote SDP as
/// `a=ssrc:N msid:VALUE`: a third token makes Chromium refuse the whole description, and a line
/// break would inject SDP lines into every other participant's session.
fn valid_msid(msid: &str) -> bool {
    let token = |t: &str| {
        (1..=64).contains(&t.len()) && t.chars().all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`{|}~".contains(c))
    };
    let mut parts = msid.split(' ');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(stream), None, None) => token(stream),
        (Some(stream), Some(track), None) => token(stream) && token(track),
        _ => false,
    }
}

/// An SSRC is a decimal u32; 0 passes here and is refused by validation, with the same text.
/// A missing one reads as -1, as in Jicofo.
fn parse_ssrc(source: &Element) -> Result<u32, SourceError> {
    let raw = source.attr("ssrc").unwrap_or("-1");
    raw.parse().map_err(|_| SourceError::invalid_ssrc(shown(raw)))
}

fn bad(text: String) -> SourceError {
    SourceError::BadRequest(text)
}

/// Outside text quoted in an error, cut short: it goes back into a stanza.
fn shown(text: &str) -> String {
    const MAX_SHOWN: usize = 32;
    if text.chars().count() <= MAX_SHOWN {
        text.to_owned()
    } else {
        text.chars().take(MAX_SHOWN).chain(['…']).collect()
    }
}

#[cfg(test)]
mod tests;
