//! Media sources (SSRCs) of a conference: what each participant sends, checked as Jicofo checks
//! it (protocol.md §7.8), and what each receiver has been told (see [`signaling`]).
//!
//! The wire forms live in `xmpp::jingle_sources` (Jingle `<source>`/`<ssrc-group>`) and
//! `xmpp::json_sources` (`<json-message>`); this module is sans-IO and deterministic.

mod conference;
mod naming;
#[cfg(test)]
mod proptests;
pub mod signaling;
#[cfg(test)]
mod tests;
mod validation;

pub use conference::ConferenceSources;
pub use naming::msid_assigned_by_focus;
pub use signaling::{ReceiverSources, SourceAction, SourceFilter, SourceUpdate, SourcesByOwner, BRIDGE_OWNER};

use std::fmt::Display;

/// The media of a source. Sources only exist for audio and video (the data channel has none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum MediaType {
    Audio,
    Video,
}

impl MediaType {
    pub const ALL: [MediaType; 2] = [MediaType::Audio, MediaType::Video];

    /// The Jingle `media` value and content name: `audio` or `video`.
    pub fn as_str(self) -> &'static str {
        match self {
            MediaType::Audio => "audio",
            MediaType::Video => "video",
        }
    }

    /// Reads a `media` attribute or content name (exact, lower case, as clients write it).
    pub fn parse(value: &str) -> Option<MediaType> {
        match value {
            "audio" => Some(MediaType::Audio),
            "video" => Some(MediaType::Video),
            _ => None,
        }
    }

    /// The letter of source names: `abcd1234-a0`, `abcd1234-v0`.
    pub fn letter(self) -> char {
        match self {
            MediaType::Audio => 'a',
            MediaType::Video => 'v',
        }
    }
}

/// `videoType` of a camera, as Jicofo writes it.
pub const VIDEO_TYPE_CAMERA: &str = "camera";
/// `videoType` of a screen share; the only one the JSON form carries (`"v":"d"`).
pub const VIDEO_TYPE_DESKTOP: &str = "desktop";

/// One RTP stream a participant sends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Source {
    pub ssrc: u32,
    pub media: MediaType,
    /// Source name, e.g. `abcd1234-v0`; every SSRC of one stream (simulcast layers, RTX) has
    /// the same one.
    pub name: Option<String>,
    /// `stream-id track-id`, from `<parameter name='msid'>`.
    pub msid: Option<String>,
    /// `camera` or `desktop` (normalised to lower case by the parser).
    pub video_type: Option<String>,
}

impl Source {
    pub fn new(ssrc: u32, media: MediaType) -> Source {
        Source { ssrc, media, name: None, msid: None, video_type: None }
    }

    pub fn with_msid(mut self, msid: impl Into<String>) -> Source {
        self.msid = Some(msid.into());
        self
    }

    pub fn with_name(mut self, name: impl Into<String>) -> Source {
        self.name = Some(name.into());
        self
    }

    pub fn with_video_type(mut self, video_type: impl Into<String>) -> Source {
        self.video_type = Some(video_type.into());
        self
    }

    pub fn is_desktop(&self) -> bool {
        self.video_type.as_deref() == Some(VIDEO_TYPE_DESKTOP)
    }
}

/// The meaning of an `<ssrc-group>`. Only these two exist for Jitsi; others are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Semantics {
    /// Simulcast: the layers of one video stream.
    Sim,
    /// Flow identification: a stream and its RTX stream, exactly two SSRCs.
    Fid,
}

impl Semantics {
    /// Case-insensitive, as Jicofo reads it (`sim`, `SIM`, `fiD`).
    pub fn parse(value: &str) -> Option<Semantics> {
        if value.eq_ignore_ascii_case("SIM") {
            Some(Semantics::Sim)
        } else if value.eq_ignore_ascii_case("FID") {
            Some(Semantics::Fid)
        } else {
            None
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Semantics::Sim => "SIM",
            Semantics::Fid => "FID",
        }
    }
}

/// An `<ssrc-group>`: the SSRCs, in order (for FID: the stream first, then its RTX).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SourceGroup {
    pub semantics: Semantics,
    pub media: MediaType,
    pub ssrcs: Vec<u32>,
}

impl SourceGroup {
    pub fn new(semantics: Semantics, media: MediaType, ssrcs: impl Into<Vec<u32>>) -> SourceGroup {
        SourceGroup { semantics, media, ssrcs: ssrcs.into() }
    }
}

/// The sources and groups of one endpoint (or a change to them). Kept in the order they were
/// signalled, so that everything built from them is deterministic; used as a set (no element
/// twice).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EndpointSources {
    pub sources: Vec<Source>,
    pub groups: Vec<SourceGroup>,
}

impl EndpointSources {
    pub fn new(sources: Vec<Source>, groups: Vec<SourceGroup>) -> EndpointSources {
        EndpointSources { sources, groups }
    }

    pub fn is_empty(&self) -> bool {
        self.sources.is_empty() && self.groups.is_empty()
    }

    pub fn source(&self, ssrc: u32) -> Option<&Source> {
        self.sources.iter().find(|s| s.ssrc == ssrc)
    }

    pub fn has_media(&self, media: MediaType) -> bool {
        self.sources.iter().any(|s| s.media == media)
    }

    /// Adds what `other` has and `self` lacks (set union, keeping `self`'s order first).
    pub fn extend_with(&mut self, other: &EndpointSources) {
        for source in &other.sources {
            if !self.sources.contains(source) {
                self.sources.push(source.clone());
            }
        }
        for group in &other.groups {
            if !self.groups.contains(group) {
                self.groups.push(group.clone());
            }
        }
    }

    /// What `self` has and `other` lacks (set difference, by full equality).
    pub fn without(&self, other: &EndpointSources) -> EndpointSources {
        EndpointSources {
            sources: self.sources.iter().filter(|s| !other.sources.contains(s)).cloned().collect(),
            groups: self.groups.iter().filter(|g| !other.groups.contains(g)).cloned().collect(),
        }
    }

    /// Only the sources and groups of the media a receiver takes.
    pub fn only_media(&self, audio: bool, video: bool) -> EndpointSources {
        let keep = |media: MediaType| match media {
            MediaType::Audio => audio,
            MediaType::Video => video,
        };
        EndpointSources {
            sources: self.sources.iter().filter(|s| keep(s.media)).cloned().collect(),
            groups: self.groups.iter().filter(|g| keep(g.media)).cloned().collect(),
        }
    }

    /// Jicofo's strip-simulcast: of each SIM group only its first SSRC stays, with its RTX
    /// (FID) pair; the other layers, their FID groups and the SIM group itself go. The bridge
    /// forwards every layer as the first SSRC, so receivers need to know no other.
    pub fn strip_simulcast(&self) -> EndpointSources {
        let mut dropped_ssrcs: Vec<u32> = Vec::new();
        let mut dropped_groups: Vec<&SourceGroup> = Vec::new();
        for sim in self.groups.iter().filter(|g| g.semantics == Semantics::Sim) {
            dropped_groups.push(sim);
            dropped_ssrcs.extend(sim.ssrcs.iter().skip(1));
        }
        for fid in self.groups.iter().filter(|g| g.semantics == Semantics::Fid) {
            // Validated FID groups have two SSRCs; anything else cannot be stored.
            if let [primary, rtx] = fid.ssrcs[..] {
                if dropped_ssrcs.contains(&primary) {
                    dropped_ssrcs.push(rtx);
                    dropped_groups.push(fid);
                }
            }
        }
        EndpointSources {
            sources: self.sources.iter().filter(|s| !dropped_ssrcs.contains(&s.ssrc)).cloned().collect(),
            groups: self.groups.iter().filter(|g| !dropped_groups.contains(g)).cloned().collect(),
        }
    }
}

/// Per-endpoint limits (`limits.max_ssrcs_per_endpoint`, `limits.max_ssrc_groups_per_endpoint`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SourceLimits {
    pub max_ssrcs_per_endpoint: usize,
    pub max_ssrc_groups_per_endpoint: usize,
}

impl Default for SourceLimits {
    /// Jicofo's defaults, 20 and 20.
    fn default() -> Self {
        SourceLimits { max_ssrcs_per_endpoint: 20, max_ssrc_groups_per_endpoint: 20 }
    }
}

impl From<&crate::config::LimitsConfig> for SourceLimits {
    fn from(limits: &crate::config::LimitsConfig) -> Self {
        SourceLimits {
            max_ssrcs_per_endpoint: limits.max_ssrcs_per_endpoint,
            max_ssrc_groups_per_endpoint: limits.max_ssrc_groups_per_endpoint,
        }
    }
}

/// Why sources were refused. The text is what the participant reads in the IQ error; it is
/// Jicofo's `ValidationFailedException` message wherever Jicofo has one.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    /// Answered `bad-request` (on session-accept the session then ends).
    #[error("{0}")]
    BadRequest(String),
    /// Answered `resource-constraint` (the conference's sender caps).
    #[error("{0}")]
    ResourceConstraint(String),
}

impl SourceError {
    /// The stanza error condition to answer with.
    pub fn condition(&self) -> &'static str {
        match self {
            SourceError::BadRequest(_) => "bad-request",
            SourceError::ResourceConstraint(_) => "resource-constraint",
        }
    }

    pub fn text(&self) -> &str {
        match self {
            SourceError::BadRequest(text) | SourceError::ResourceConstraint(text) => text,
        }
    }

    /// The conference already has its maximum of audio and/or video senders (checked by the
    /// conference before [`ConferenceSources::add`]); Jicofo's exact text, trailing space included.
    pub fn sender_count_exceeded(audio: bool, video: bool) -> SourceError {
        SourceError::ResourceConstraint(format!(
            "Sender count exceeded for: {}{}",
            if audio { "audio " } else { "" },
            if video { "video" } else { "" }
        ))
    }

    pub(crate) fn invalid_ssrc(ssrc: impl Display) -> SourceError {
        SourceError::BadRequest(format!("Invalid SSRC: {ssrc}."))
    }

    pub(crate) fn invalid_semantics(semantics: impl Display) -> SourceError {
        SourceError::BadRequest(format!("Invalid ssrc-group semantics: {semantics}"))
    }

    pub(crate) fn ssrc_limit(limit: usize) -> SourceError {
        SourceError::BadRequest(format!("SSRC limit ({limit}) exceeded."))
    }

    fn group_limit(limit: usize) -> SourceError {
        SourceError::BadRequest(format!("ssrc-group limit ({limit}) exceeded."))
    }

    pub(crate) fn ssrc_already_used(ssrc: u32) -> SourceError {
        SourceError::BadRequest(format!("SSRC is already used: {ssrc}."))
    }

    fn msid_missing() -> SourceError {
        SourceError::BadRequest("Required source parameter 'msid' is not present.".to_owned())
    }

    fn group_msid_mismatch(ssrcs: &[u32]) -> SourceError {
        SourceError::BadRequest(format!("SsrcGroup contains sources with different MSIDs: {}.", list(ssrcs)))
    }

    fn msid_conflict(msid: &str) -> SourceError {
        SourceError::BadRequest(format!("MSID is already used: {msid}."))
    }

    fn group_unknown_source(ssrcs: &[u32]) -> SourceError {
        SourceError::BadRequest(format!(
            "An SSRC group contains an SSRC, which hasn't been signaled as a source: {}.",
            list(ssrcs)
        ))
    }

    fn invalid_fid_group(ssrcs: &[u32]) -> SourceError {
        SourceError::BadRequest(format!("Invalid FID group: {}.", list(ssrcs)))
    }

    /// Jicofo writes "…endpoint null." when it has no SSRC to name; we leave the null out.
    fn source_does_not_exist(ssrc: Option<u32>) -> SourceError {
        SourceError::BadRequest(match ssrc {
            Some(ssrc) => format!("Source does not exist or is not owned by endpoint (ssrc={ssrc})."),
            None => "Source does not exist or is not owned by endpoint.".to_owned(),
        })
    }

    fn group_does_not_exist() -> SourceError {
        SourceError::BadRequest("Source group does not exist".to_owned())
    }
}

/// A list of SSRCs as Jicofo (Kotlin's `List.toString`) prints it: `[1, 2, 3]`.
fn list(ssrcs: &[u32]) -> String {
    let items: Vec<String> = ssrcs.iter().map(u32::to_string).collect();
    format!("[{}]", items.join(", "))
}
