//! Jitsi's MUC presence extensions: what participants announce about themselves, and what the
//! focus announces about the conference.

use minidom::Element;
use serde_json::Value;

use super::build::{elem, ElementExt};
use super::ns;

pub const FEATURE_JIBRI: &str = "http://jitsi.org/protocol/jibri";
pub const FEATURE_JIGASI: &str = "http://jitsi.org/protocol/jigasi";
pub const FEATURE_TRANSCRIBER: &str = "http://jitsi.org/protocol/transcriber";

/// XEP-0115 entity capabilities.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caps {
    pub node: String,
    pub ver: String,
    pub hash: String,
}

/// One entry of `<SourceInfo>`: a media source the participant sends (or would send).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceInfo {
    /// `<endpoint>-a0`, `<endpoint>-v0`, …
    pub name: String,
    pub muted: bool,
    pub video_type: Option<String>,
}

impl SourceInfo {
    pub fn is_audio(&self) -> bool {
        self.name.rsplit('-').next().is_some_and(|s| s.starts_with('a'))
    }
}

/// What a participant's presence says beyond MUC basics (protocol.md §6.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ParticipantInfo {
    pub caps: Option<Caps>,
    pub stats_id: Option<String>,
    pub region: Option<String>,
    /// Legacy `<audiomuted>`/`<videomuted>`; absent means muted.
    pub audio_muted: Option<bool>,
    pub video_muted: Option<bool>,
    pub sources: Vec<SourceInfo>,
    /// Lower-cased codec preference, vp8 always included.
    pub codecs: Vec<String>,
    /// Service features claimed (jibri, jigasi, transcriber); trust them only from trusted domains.
    pub claimed_features: Vec<String>,
}

/// What one participant's presence may make the focus keep: anyone can send presence, and the
/// focus holds it for every participant of every room.
pub const MAX_TEXT: usize = 256;
pub const MAX_SOURCES: usize = 64;
pub const MAX_CODECS: usize = 16;

/// A short field kept as is; a longer one is cut to `MAX_TEXT` characters.
fn bounded(text: &str) -> String {
    text.chars().take(MAX_TEXT).collect()
}

fn child_text(presence: &Element, name: &str) -> Option<String> {
    presence.children().find(|c| c.name() == name).map(|c| bounded(c.text().trim())).filter(|t| !t.is_empty())
}

fn parse_bool(text: Option<String>) -> Option<bool> {
    text.and_then(|t| t.parse().ok())
}

impl ParticipantInfo {
    /// Reads the extensions from a presence stanza. Unknown or malformed ones are ignored:
    /// presence is advisory and clients differ.
    pub fn parse(presence: &Element) -> ParticipantInfo {
        let caps = presence.get_child("c", ns::CAPS).and_then(|c| {
            Some(Caps {
                node: bounded(c.attr("node")?),
                ver: bounded(c.attr("ver")?),
                hash: bounded(c.attr("hash").unwrap_or("sha-1")),
            })
        });
        let source_info = presence.children().find(|c| c.name() == "SourceInfo").map(Element::text);
        let sources = source_info
            .and_then(|json| serde_json::from_str::<Value>(&json).ok())
            .and_then(|json| json.as_object().cloned())
            .map(|object| {
                object
                    .into_iter()
                    .take(MAX_SOURCES)
                    .map(|(name, info)| SourceInfo {
                        name: bounded(&name),
                        muted: info.get("muted").and_then(Value::as_bool).unwrap_or(true),
                        video_type: info.get("videoType").and_then(Value::as_str).map(bounded),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let mut codecs: Vec<String> = child_text(presence, "jitsi_participant_codecList")
            .or_else(|| child_text(presence, "jitsi_participant_codecType"))
            .map(|list| {
                list.split(',').map(|c| c.trim().to_lowercase()).filter(|c| !c.is_empty()).take(MAX_CODECS).collect()
            })
            .unwrap_or_default();
        if !codecs.is_empty() && !codecs.iter().any(|c| c == "vp8") {
            codecs.push("vp8".to_owned());
        }
        let claimed_features = presence
            .children()
            .filter(|c| c.name() == "features")
            .flat_map(|f| f.children())
            .filter(|f| f.name() == "feature")
            .filter_map(|f| f.attr("var"))
            .filter(|var| [FEATURE_JIBRI, FEATURE_JIGASI, FEATURE_TRANSCRIBER].contains(var))
            .take(3)
            .map(str::to_owned)
            .collect();
        ParticipantInfo {
            caps,
            stats_id: child_text(presence, "stats-id"),
            region: child_text(presence, "jitsi_participant_region"),
            audio_muted: parse_bool(child_text(presence, "audiomuted")),
            video_muted: parse_bool(child_text(presence, "videomuted")),
            sources,
            codecs,
            claimed_features,
        }
    }

    /// A recorder, SIP gateway or transcriber: never elected moderator.
    pub fn claims_service(&self) -> bool {
        !self.claimed_features.is_empty()
    }
}

/// The extensions the focus puts in its own presence in every room (protocol.md §6.2).
pub fn focus_extensions() -> Vec<Element> {
    let versions = elem("versions", ns::JITMEET)
        .with_child(elem("component", ns::JITMEET).with_attr("name", "focus").with_text(env!("CARGO_PKG_VERSION")));
    let properties = elem("conference-properties", ns::FOCUS).with_child(
        elem("property", ns::FOCUS).with_attr("key", "support-terminate-restart").with_attr("value", "true"),
    );
    vec![versions, properties]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from lib-jitsi-meet 2.1.5 in Chromium 156 (join presence, no tracks).
    const CAPTURED_JOIN: &str = r#"<presence to="granted-ws@conference.meet.test/921437a0" xmlns="jabber:client"><x xmlns="http://jabber.org/protocol/muc"/><stats-id>Jack-ySk</stats-id><videomuted xmlns="http://jitsi.org/jitmeet/video">false</videomuted><c xmlns="http://jabber.org/protocol/caps" hash="sha-1" node="http://jitsi.org/jitsimeet" ver="cvjWXufsg4xT62Ec2mlATkFZ9lk="/></presence>"#;

    /// Extensions newer clients add (SourceInfo, codec list, region), on an occupant presence.
    const CLIENT_PRESENCE: &str = r#"<presence xmlns='jabber:client' from='r@conference.meet.test/3f2a1b0c' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item jid='x@meet.test/y' affiliation='none' role='participant'/></x><stats-id>Hazel-K5m</stats-id><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://jitsi.org/jitsi-meet' ver='cvjWXufsg4xT62Ec2mlATkFZ9lk='/><SourceInfo>{"3f2a1b0c-a0":{"muted":true},"3f2a1b0c-v0":{"muted":false,"videoType":"camera"}}</SourceInfo><audiomuted>true</audiomuted><videomuted>false</videomuted><jitsi_participant_codecType>VP9</jitsi_participant_codecType><jitsi_participant_region>eu-west</jitsi_participant_region></presence>"#;

    #[test]
    fn captured_join_presence_is_read() {
        let info = ParticipantInfo::parse(&CAPTURED_JOIN.parse().unwrap());
        assert_eq!(info.stats_id.as_deref(), Some("Jack-ySk"));
        assert_eq!(info.video_muted, Some(false));
        assert_eq!(info.audio_muted, None);
        assert_eq!(info.caps.unwrap().node, "http://jitsi.org/jitsimeet");
    }

    #[test]
    fn client_extensions_are_read() {
        let info = ParticipantInfo::parse(&CLIENT_PRESENCE.parse().unwrap());
        assert_eq!(info.stats_id.as_deref(), Some("Hazel-K5m"));
        assert_eq!(info.region.as_deref(), Some("eu-west"));
        assert_eq!(info.caps.as_ref().unwrap().node, "https://jitsi.org/jitsi-meet");
        assert_eq!(info.audio_muted, Some(true));
        assert_eq!(info.video_muted, Some(false));
        assert_eq!(info.codecs, vec!["vp9", "vp8"]);
        assert_eq!(info.sources.len(), 2);
        let video = info.sources.iter().find(|s| !s.is_audio()).unwrap();
        assert_eq!((video.muted, video.video_type.as_deref()), (false, Some("camera")));
        assert!(!info.claims_service());
    }

    #[test]
    fn what_a_presence_makes_us_keep_is_bounded() {
        let sources: Vec<String> = (0..10_000).map(|n| format!("\"ep-v{n}\":{{\"muted\":false}}")).collect();
        let xml = format!(
            "<presence xmlns='jabber:client'><stats-id>{}</stats-id><SourceInfo>{{{}}}</SourceInfo><jitsi_participant_codecList>{}</jitsi_participant_codecList></presence>",
            "s".repeat(100_000),
            sources.join(","),
            "h264,".repeat(1000)
        );
        let info = ParticipantInfo::parse(&xml.parse().unwrap());
        assert_eq!(info.stats_id.unwrap().len(), MAX_TEXT);
        assert_eq!(info.sources.len(), MAX_SOURCES);
        assert!(info.codecs.len() <= MAX_CODECS + 1, "{}", info.codecs.len());
    }

    #[test]
    fn garbage_is_ignored_not_fatal() {
        let presence = "<presence xmlns='jabber:client'><SourceInfo>{not json</SourceInfo><audiomuted>maybe</audiomuted></presence>";
        assert_eq!(ParticipantInfo::parse(&presence.parse().unwrap()), ParticipantInfo::default());
    }

    #[test]
    fn service_features_are_recognised() {
        let presence = "<presence xmlns='jabber:client'><features><feature var='http://jitsi.org/protocol/jibri'/><feature var='urn:other'/></features></presence>";
        let info = ParticipantInfo::parse(&presence.parse().unwrap());
        assert_eq!(info.claimed_features, vec![FEATURE_JIBRI]);
    }

    #[test]
    fn focus_extensions_round_trip_through_xml() {
        let presence = focus_extensions().into_iter().fold(elem("presence", ns::STREAM), |p, e| p.with_child(e));
        let xml = String::from(&presence);
        let reparsed: Element = xml.parse().unwrap();
        let props = reparsed.get_child("conference-properties", ns::FOCUS).unwrap();
        let property = props.children().next().unwrap();
        assert_eq!(property.attr("key"), Some("support-terminate-restart"));
        assert_eq!(
            reparsed.get_child("versions", ns::JITMEET).unwrap().children().next().unwrap().attr("name"),
            Some("focus")
        );
    }
}
