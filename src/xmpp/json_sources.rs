//! Sources in Jicofo's compact JSON form (protocol.md §7.5), for receivers that advertise
//! `http://jitsi.org/json-encoded-sources`: one `<json-message xmlns='http://jitsi.org/jitmeet'>`
//! child of `<jingle>` instead of `<source>` elements in the contents.
//!
//! The text is `{"sources":{OWNER:[V,VG,A(,AG)],…}}`: video sources, video groups, audio
//! sources and, only when there are any, audio groups. A source is
//! `{"s":ssrc,"n":"name","m":"msid","v":"d"}` (`n`, `m` only when set, `v` only for a screen
//! share); a group is `["s"|"f",ssrc,…]`. Jicofo builds the text by hand without escaping;
//! strings are escaped here, which gives the same text for every name and msid real clients use.

use minidom::Element;

use super::build::{elem, ElementExt};
use super::ns;
use crate::core::sources::{EndpointSources, MediaType, Semantics, Source, SourceGroup};

pub const FEATURE_JSON_SOURCES: &str = "http://jitsi.org/json-encoded-sources";

fn string(text: &str) -> String {
    serde_json::to_string(text).expect("a string always serialises")
}

/// `{"s":1,"n":"name","m":"msid","v":"d"}`; the media type is implied by the position.
pub fn source_json(source: &Source) -> String {
    let mut json = format!("{{\"s\":{}", source.ssrc);
    if let Some(name) = &source.name {
        json.push_str(&format!(",\"n\":{}", string(name)));
    }
    if let Some(msid) = &source.msid {
        json.push_str(&format!(",\"m\":{}", string(msid)));
    }
    if source.is_desktop() {
        json.push_str(",\"v\":\"d\"");
    }
    json.push('}');
    json
}

/// `["s",1,2,3]` for simulcast, `["f",1,2]` for RTX.
pub fn group_json(group: &SourceGroup) -> String {
    let semantics = match group.semantics {
        Semantics::Sim => "\"s\"",
        Semantics::Fid => "\"f\"",
    };
    let ssrcs: String = group.ssrcs.iter().map(|ssrc| format!(",{ssrc}")).collect();
    format!("[{semantics}{ssrcs}]")
}

/// One owner's array: `[[video sources],[video groups],[audio sources](,[audio groups])]`.
pub fn endpoint_json(set: &EndpointSources) -> String {
    let sources = |media: MediaType| {
        set.sources.iter().filter(|s| s.media == media).map(source_json).collect::<Vec<_>>().join(",")
    };
    let groups =
        |media: MediaType| set.groups.iter().filter(|g| g.media == media).map(group_json).collect::<Vec<_>>().join(",");
    let mut json =
        format!("[[{}],[{}],[{}]", sources(MediaType::Video), groups(MediaType::Video), sources(MediaType::Audio));
    if set.groups.iter().any(|g| g.media == MediaType::Audio) {
        json.push_str(&format!(",[{}]", groups(MediaType::Audio)));
    }
    json.push(']');
    json
}

/// `{"sources":{OWNER:…,…}}`, owners in the order given. `owners` pairs the owner as the
/// receiver must see it (endpoint id, occupant JID or `jvb`) with its sources.
pub fn sources_json<'a>(owners: impl IntoIterator<Item = (&'a str, &'a EndpointSources)>) -> String {
    let entries: Vec<String> =
        owners.into_iter().map(|(owner, set)| format!("{}:{}", string(owner), endpoint_json(set))).collect();
    format!("{{\"sources\":{{{}}}}}", entries.join(","))
}

/// The `<json-message xmlns='http://jitsi.org/jitmeet'>` element carrying [`sources_json`].
pub fn json_message<'a>(owners: impl IntoIterator<Item = (&'a str, &'a EndpointSources)>) -> Element {
    elem("json-message", ns::JITMEET).with_text(sources_json(owners))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::sources::{Source, SourceGroup};
    use serde_json::{json, Value};
    use MediaType::{Audio, Video};

    // Expectations from Jicofo's own tests (SourceTest, SsrcGroupTest, EndpointSourceSetTest,
    // ConferenceSourceMapTest "Compact JSON").

    #[test]
    fn a_source_is_encoded_as_jicofo_encodes_it() {
        let named = Source::new(1, Video).with_name("test-name").with_msid("msid");
        assert_eq!(source_json(&named), r#"{"s":1,"n":"test-name","m":"msid"}"#);
        assert_eq!(
            source_json(&named.clone().with_video_type("desktop")),
            r#"{"s":1,"n":"test-name","m":"msid","v":"d"}"#
        );
        assert_eq!(source_json(&named.with_video_type("camera")), r#"{"s":1,"n":"test-name","m":"msid"}"#);
        assert_eq!(source_json(&Source::new(1, Audio)), r#"{"s":1}"#);
        assert_eq!(source_json(&Source::new(u32::MAX, Audio)), r#"{"s":4294967295}"#);
    }

    #[test]
    fn a_group_is_encoded_as_jicofo_encodes_it() {
        assert_eq!(group_json(&SourceGroup::new(Semantics::Sim, Video, [1, 2, 3])), r#"["s",1,2,3]"#);
        assert_eq!(group_json(&SourceGroup::new(Semantics::Fid, Video, [1, 4])), r#"["f",1,4]"#);
    }

    /// Jicofo's test set: simulcast with RTX (SSRCs 1–6) and one audio source (7).
    fn jicofo_source_set() -> EndpointSources {
        let sources = (1..=6).map(|s| Source::new(s, Video)).chain([Source::new(7, Audio)]).collect();
        let groups = vec![
            SourceGroup::new(Semantics::Sim, Video, [1, 2, 3]),
            SourceGroup::new(Semantics::Fid, Video, [1, 4]),
            SourceGroup::new(Semantics::Fid, Video, [2, 5]),
            SourceGroup::new(Semantics::Fid, Video, [3, 6]),
        ];
        EndpointSources::new(sources, groups)
    }

    #[test]
    fn an_endpoint_set_has_video_groups_audio_and_no_empty_audio_groups() {
        let text = endpoint_json(&jicofo_source_set());
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(
            value,
            json!([
                [{"s":1},{"s":2},{"s":3},{"s":4},{"s":5},{"s":6}],
                [["s",1,2,3],["f",1,4],["f",2,5],["f",3,6]],
                [{"s":7}]
            ])
        );
        assert_eq!(value.as_array().unwrap().len(), 3, "no audio groups, no fourth element");
        let with_audio_group = EndpointSources::new(
            vec![Source::new(7, Audio), Source::new(8, Audio)],
            vec![SourceGroup::new(Semantics::Fid, Audio, [7, 8])],
        );
        assert_eq!(endpoint_json(&with_audio_group), r#"[[],[],[{"s":7},{"s":8}],[["f",7,8]]]"#);
    }

    #[test]
    fn the_conference_map_has_one_key_per_owner_including_the_bridge() {
        let other = EndpointSources::new(vec![Source::new(11, Video)], vec![]);
        let jvb = EndpointSources::new(vec![Source::new(12345, Video)], vec![]);
        let set = jicofo_source_set();
        let text = sources_json([("bebebebe", &set), ("dadadada", &other), ("jvb", &jvb)]);
        let value: Value = serde_json::from_str(&text).unwrap();
        let owners: Vec<&String> = value["sources"].as_object().unwrap().keys().collect();
        assert_eq!(owners, ["bebebebe", "dadadada", "jvb"]);
        assert_eq!(value["sources"]["jvb"], json!([[{"s":12345}],[],[]]));
    }

    /// The `831de82b` entry of lib-jitsi-meet's own fixture (SDP.spec.ts,
    /// "fromJingleWithJSONFormat"), text for text.
    #[test]
    fn the_text_matches_what_lib_jitsi_meet_expands() {
        let msid = "831de82b-video-1 9bb949d4-5abd-4498-98e9-2be1222b8d3e-1";
        let set = EndpointSources::new(
            vec![Source::new(257838819, Video).with_msid(msid), Source::new(865670341, Video).with_msid(msid)],
            vec![SourceGroup::new(Semantics::Fid, Video, [257838819, 865670341])],
        );
        assert_eq!(
            sources_json([("831de82b", &set)]),
            r#"{"sources":{"831de82b":[[{"s":257838819,"m":"831de82b-video-1 9bb949d4-5abd-4498-98e9-2be1222b8d3e-1"},{"s":865670341,"m":"831de82b-video-1 9bb949d4-5abd-4498-98e9-2be1222b8d3e-1"}],[["f",257838819,865670341]],[]]}}"#
        );
        assert_eq!(sources_json([]), r#"{"sources":{}}"#);
    }

    #[test]
    fn strings_are_escaped_so_the_text_stays_json() {
        let set = EndpointSources::new(vec![Source::new(1, Audio).with_name("a\"b\\c").with_msid("x\ny")], vec![]);
        let text = sources_json([("o\"wner", &set)]);
        let value: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(value["sources"]["o\"wner"][2][0], json!({"s":1,"n":"a\"b\\c","m":"x\ny"}));
    }

    #[test]
    fn the_message_element_is_in_the_jitmeet_namespace() {
        let set = EndpointSources::new(vec![Source::new(1, Audio)], vec![]);
        let message = json_message([("abcd1234", &set)]);
        assert_eq!(
            String::from(&message),
            r#"<json-message xmlns='http://jitsi.org/jitmeet'>{"sources":{"abcd1234":[[],[],[{"s":1}]]}}</json-message>"#
        );
    }
}
