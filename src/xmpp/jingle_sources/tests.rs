//! Parse/build round trips on stanzas from real clients, hostile input, and the receiver forms.

use super::*;
use crate::core::sources::{ConferenceSources, SourceLimits};
use crate::xmpp::build::to_xml;
use MediaType::{Audio, Video};

fn parse(xml: &str) -> Result<EndpointSources, SourceError> {
    let jingle: Element = xml.parse().expect("well-formed fixture");
    parse_jingle(&jingle)
}

fn text_of(result: Result<EndpointSources, SourceError>) -> String {
    match result {
        Err(SourceError::BadRequest(text)) => text,
        other => panic!("expected bad-request, got {other:?}"),
    }
}

fn room() -> BareJid {
    "room@conference.meet.test".parse().unwrap()
}

/// A session-accept of lib-jitsi-meet-dist 2.1.5 in Chromium 156, in the shape captured
/// (media-facts.md §1 and the e2e recipe's skeleton): audio one source, video a source and its
/// RTX in an FID group, only `cname` parameters — no msid, no name. SSRC and cname values are
/// stand-ins for the elided ones.
const CHROMIUM_2020_ACCEPT: &str = r#"<jingle xmlns="urn:xmpp:jingle:1" action="session-accept" initiator="room@conference.meet.test/focus" responder="6a7b8c9d@meet.test/Xq1" sid="3f9c2kq1m0a7e">
<group xmlns="urn:xmpp:jingle:apps:grouping:0" semantics="BUNDLE"><content name="audio"/><content name="video"/></group>
<content name="audio" creator="responder" senders="both"><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="audio" ssrc="1753911297">
<payload-type id="111" name="opus" clockrate="48000" channels="2"><parameter name="minptime" value="10"/><parameter name="useinbandfec" value="1"/><rtcp-fb xmlns="urn:xmpp:jingle:apps:rtp:rtcp-fb:0" type="transport-cc"/></payload-type>
<payload-type id="126" name="telephone-event" clockrate="8000" channels="1"/>
<source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="1753911297"><parameter name="cname" value="k3Jx2fGh8TqLmN0p"/></source>
<rtcp-mux/><rtp-hdrext xmlns="urn:xmpp:jingle:apps:rtp:rtp-hdrext:0" id="1" uri="urn:ietf:params:rtp-hdrext:ssrc-audio-level"/></description>
<transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="aB3d" pwd="Zx9yW8vU7tS6rQ5pO4nM3lK2"><fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="active">AA:BB</fingerprint></transport></content>
<content name="video" creator="responder" senders="both"><description xmlns="urn:xmpp:jingle:apps:rtp:1" media="video" ssrc="2905362510">
<payload-type id="100" name="VP8" clockrate="90000" channels="1"><rtcp-fb type="nack"/><rtcp-fb type="nack" subtype="pli"/></payload-type>
<payload-type id="96" name="rtx" clockrate="90000" channels="1"><parameter name="apt" value="100"/></payload-type>
<source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="2905362510"><parameter name="cname" value="k3Jx2fGh8TqLmN0p"/></source>
<source xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" ssrc="411223344"><parameter name="cname" value="k3Jx2fGh8TqLmN0p"/></source>
<ssrc-group xmlns="urn:xmpp:jingle:apps:rtp:ssma:0" semantics="FID"><source ssrc="2905362510"/><source ssrc="411223344"/></ssrc-group>
<rtcp-mux/></description>
<transport xmlns="urn:xmpp:jingle:transports:ice-udp:1" ufrag="aB3d" pwd="Zx9yW8vU7tS6rQ5pO4nM3lK2"><fingerprint xmlns="urn:xmpp:jingle:apps:dtls:0" hash="sha-256" setup="active">AA:BB</fingerprint></transport></content>
</jingle>"#;

/// What the 2020 client advertises: neither source names nor JSON sources.
const FEATURES_2020: [&str; 6] = [
    "urn:xmpp:jingle:1",
    "urn:xmpp:jingle:apps:rtp:1",
    FEATURE_AUDIO,
    FEATURE_VIDEO,
    "urn:ietf:rfc:4588",
    "http://jitsi.org/meet/lipsync",
];

fn bridge_sources() -> EndpointSources {
    EndpointSources::new(
        vec![
            Source::new(4039389863, Audio).with_msid("mixedmslabel mixedlabelaudio0").with_name("jvb-a0"),
            Source::new(3758540092, Video).with_msid("mixedmslabel mixedlabelvideo0").with_name("jvb-v0"),
        ],
        vec![],
    )
}

#[test]
fn the_2020_clients_msid_less_accept_is_taken_and_forwarded_with_msids() {
    let signalled = parse(CHROMIUM_2020_ACCEPT).unwrap();
    let bare = |ssrc, media| Source::new(ssrc, media);
    assert_eq!(
        signalled,
        EndpointSources::new(
            vec![bare(1753911297, Audio), bare(2905362510, Video), bare(411223344, Video)],
            vec![SourceGroup::new(Semantics::Fid, Video, [2905362510, 411223344])],
        )
    );
    let mut conference = ConferenceSources::new();
    let accepted = conference.add("6a7b8c9d", signalled, &SourceLimits::default()).unwrap();
    let msids: Vec<_> = accepted.sources.iter().map(|s| s.msid.as_deref().unwrap()).collect();
    assert_eq!(msids, ["6a7b8c9d-audio-0 6a7b8c9d-a0", "6a7b8c9d-video-0 6a7b8c9d-v0", "6a7b8c9d-video-0 6a7b8c9d-v0"]);

    // The other 2020 client receives them with an msid, owner as occupant JID, no bridge sources.
    let form = SourceForm::for_receiver(FEATURES_2020, &room());
    let jvb = bridge_sources();
    let SourcesPayload::Jingle(description) = encode(&form, [("6a7b8c9d", &accepted), (BRIDGE_OWNER, &jvb)]) else {
        panic!("2020 clients get Jingle sources")
    };
    let xml: Vec<String> = description.video.iter().map(to_xml).collect();
    assert_eq!(
        xml,
        [
            "<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' name='6a7b8c9d-v0' ssrc='2905362510'><ssrc-info xmlns='http://jitsi.org/jitmeet' owner='room@conference.meet.test/6a7b8c9d'/><parameter name='msid' value='6a7b8c9d-video-0 6a7b8c9d-v0'/></source>",
            "<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' name='6a7b8c9d-v0' ssrc='411223344'><ssrc-info xmlns='http://jitsi.org/jitmeet' owner='room@conference.meet.test/6a7b8c9d'/><parameter name='msid' value='6a7b8c9d-video-0 6a7b8c9d-v0'/></source>",
            "<ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source ssrc='2905362510'/><source ssrc='411223344'/></ssrc-group>",
        ]
    );
    assert_eq!(description.audio.len(), 1, "no jvb-a0 for the 2020 client");
}

/// lib-jitsi-meet's JingleSessionPC.spec.ts, "should handle multiple ssrcs belonging to
/// different sources" (a source-add as current clients write it, `owner` attribute included).
const LJM_SOURCE_ADD: &str = r#"<jingle xmlns='urn:xmpp:jingle:1'>
    <content name='audio'>
            <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'/>
    </content>
    <content name='video'>
        <description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'>
            <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1234' name='source1' owner='peer'>
                <parameter name='msid' value='stream1'/>
            </source>
            <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='5678' name='source1' owner='peer'>
                <parameter name='msid' value='stream1'/>
            </source>
            <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='4321' name='source2' owner='peer'>
                <parameter name='msid' value='stream2'/>
            </source>
            <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='8765' name='source2' owner='peer'>
                <parameter name='msid' value='stream2'/>
            </source>
            <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'>
                <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1234'/>
                <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='5678'/>
            </ssrc-group>
            <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'>
                <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='4321'/>
                <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='8765'/>
            </ssrc-group>
        </description>
    </content>
</jingle>"#;

/// Builds what a receiver would get and reads it back.
fn round_trip(set: &EndpointSources) -> EndpointSources {
    let form = SourceForm {
        owner: OwnerForm::EndpointId,
        json: false,
        filter: SourceFilter { strip_simulcast: false, ..Default::default() },
    };
    let SourcesPayload::Jingle(description) = encode(&form, [("abcd1234", set)]) else { unreachable!() };
    let jingle = description.into_contents().into_iter().fold(elem("jingle", JINGLE), ElementExt::with_child);
    let reparsed: Element = to_xml(&jingle).parse().unwrap();
    parse_jingle(&reparsed).unwrap()
}

#[test]
fn a_current_clients_source_add_is_read_and_round_trips() {
    let set = parse(LJM_SOURCE_ADD).unwrap();
    let named = |ssrc, name: &str, msid: &str| Source::new(ssrc, Video).with_name(name).with_msid(msid);
    assert_eq!(
        set,
        EndpointSources::new(
            vec![
                named(1234, "source1", "stream1"),
                named(5678, "source1", "stream1"),
                named(4321, "source2", "stream2"),
                named(8765, "source2", "stream2"),
            ],
            vec![
                SourceGroup::new(Semantics::Fid, Video, [1234, 5678]),
                SourceGroup::new(Semantics::Fid, Video, [4321, 8765]),
            ],
        )
    );
    assert_eq!(round_trip(&set), set);
    assert!(ConferenceSources::new().add("peer", set, &SourceLimits::default()).is_ok());
}

/// lib-jitsi-meet's SDP.spec.ts "gets converted to SDP": a Jicofo session-initiate carrying
/// the bridge's sources with the old cname/label/mslabel parameters.
#[test]
fn a_session_initiate_with_bridge_sources_is_read() {
    let xml = r#"<jingle action='session-initiate' initiator='focus' sid='123' xmlns='urn:xmpp:jingle:1'>
    <content creator='initiator' name='audio' senders='both'>
        <description media='audio' maxptime='60' xmlns='urn:xmpp:jingle:apps:rtp:1'>
            <payload-type channels='2' clockrate='48000' name='opus' id='111'><parameter name='minptime' value='10'/></payload-type>
            <rtcp-mux/>
            <source ssrc='4039389863' xmlns='urn:xmpp:jingle:apps:rtp:ssma:0'>
                <parameter name='cname' value='mixed'/>
                <parameter name='label' value='mixedlabelaudio0'/>
                <parameter name='msid' value='mixedmslabel mixedlabelaudio0'/>
                <parameter name='mslabel' value='mixedmslabel'/>
            </source>
        </description>
    </content>
    <content creator='initiator' name='video' senders='both'>
        <description media='video' xmlns='urn:xmpp:jingle:apps:rtp:1'>
            <source ssrc='3758540092' xmlns='urn:xmpp:jingle:apps:rtp:ssma:0'>
                <parameter name='cname' value='mixed'/>
                <parameter name='label' value='mixedlabelvideo0'/>
                <parameter name='msid' value='mixedmslabel mixedlabelvideo0'/>
                <parameter name='mslabel' value='mixedmslabel'/>
            </source>
        </description>
    </content>
    <group semantics='BUNDLE' xmlns='urn:xmpp:jingle:apps:grouping:0'><content name='audio'/><content name='video'/></group>
</jingle>"#;
    let set = parse(xml).unwrap();
    let unnamed = |s: &Source| Source { name: None, ..s.clone() };
    assert_eq!(set.sources, bridge_sources().sources.iter().map(unnamed).collect::<Vec<_>>());
    assert_eq!(round_trip(&set), set);
}

#[test]
fn elements_are_written_as_jicofo_writes_them() {
    // Jicofo's SourceTest "To XML" and SsrcGroupTest "To XML".
    let source =
        Source::new(1, Video).with_name("source-name-value").with_msid("msid-value").with_video_type("desktop");
    assert_eq!(
        to_xml(&source_element(&source, Some("abcdabcd"))),
        "<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' name='source-name-value' ssrc='1' videoType='desktop'><ssrc-info xmlns='http://jitsi.org/jitmeet' owner='abcdabcd'/><parameter name='msid' value='msid-value'/></source>"
    );
    assert_eq!(
        to_xml(&source_element(&Source::new(7, Audio), None)),
        "<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='7'/>"
    );
    assert_eq!(
        to_xml(&group_element(&SourceGroup::new(Semantics::Sim, Video, [1, 2, 3]))),
        "<ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='SIM'><source ssrc='1'/><source ssrc='2'/><source ssrc='3'/></ssrc-group>"
    );
}

#[test]
fn elements_are_read_as_jicofo_reads_them() {
    // Jicofo's SourceTest "From XML" and SsrcGroupTest "From XML" (semantics in any case).
    let xml = "<jingle xmlns='urn:xmpp:jingle:1'><content name='video'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'>\
        <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1' name='name-1' videoType='Camera'><parameter name='msid' value='msid'/></source>\
        <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='sim'><source ssrc='1'/><source ssrc='2'/><source ssrc='3'/></ssrc-group>\
        </description></content></jingle>";
    let set = parse(xml).unwrap();
    assert_eq!(set.sources, [Source::new(1, Video).with_name("name-1").with_msid("msid").with_video_type("camera")]);
    assert_eq!(set.groups, [SourceGroup::new(Semantics::Sim, Video, [1, 2, 3])]);
}

#[test]
fn sources_directly_in_a_content_and_media_from_its_name() {
    let xml = "<jingle xmlns='urn:xmpp:jingle:1'>\
        <content name='audio'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='5'/></content>\
        <content name='video'><description xmlns='urn:xmpp:jingle:apps:rtp:1'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='6'/></description></content>\
        <content name='data'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='application'/></content>\
        <content name='audio'><source xmlns='urn:other' ssrc='8'/><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='5'/></content>\
        </jingle>";
    assert_eq!(parse(xml).unwrap().sources, [Source::new(5, Audio), Source::new(6, Video)]);
    let content: Element = "<content xmlns='urn:xmpp:jingle:1' name='x'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='9'/></description></content>".parse().unwrap();
    assert_eq!(parse_content(&content).unwrap().sources, [Source::new(9, Audio)]);
}

#[test]
fn bad_ssrcs_semantics_media_and_video_types_are_refused_with_a_text() {
    let source = |attrs: &str| {
        format!("<jingle xmlns='urn:xmpp:jingle:1'><content name='video'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' {attrs}/></content></jingle>")
    };
    for (attrs, text) in [
        ("ssrc='-1'", "Invalid SSRC: -1."),
        ("", "Invalid SSRC: -1."),
        ("ssrc='4294967296'", "Invalid SSRC: 4294967296."),
        ("ssrc='99999999999999999999'", "Invalid SSRC: 99999999999999999999."),
        ("ssrc='(.+)+$'", "Invalid SSRC: (.+)+$."),
        ("ssrc=' 5'", "Invalid SSRC:  5."),
        ("ssrc='5' videoType='screen'", "Invalid VideoType: screen"),
    ] {
        assert_eq!(text_of(parse(&source(attrs))), text, "{attrs}");
    }
    let zero = parse(&source("ssrc='0'")).unwrap();
    assert_eq!(text_of(ConferenceSources::new().add("e", zero, &SourceLimits::default())), "Invalid SSRC: 0.");
    let group = |semantics: &str, member: &str| {
        format!("<jingle xmlns='urn:xmpp:jingle:1'><content name='video'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='video'><ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' {semantics}><source ssrc='{member}'/></ssrc-group></description></content></jingle>")
    };
    assert_eq!(text_of(parse(&group("semantics='FEC-FR'", "1"))), "Invalid ssrc-group semantics: FEC-FR");
    assert_eq!(text_of(parse(&group("semantics='(.+)+$'", "1"))), "Invalid ssrc-group semantics: (.+)+$");
    assert_eq!(text_of(parse(&group("", "1"))), "Invalid ssrc-group semantics: null");
    assert_eq!(text_of(parse(&group("semantics='FID'", "x"))), "Invalid SSRC: x.");
    let data = "<jingle xmlns='urn:xmpp:jingle:1'><content name='data'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='application'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1'/></description></content></jingle>";
    assert_eq!(text_of(parse(data)), "Invalid media type for sources: application");
}

#[test]
fn hostile_sizes_are_refused_with_short_texts() {
    let long = "9".repeat(5_000);
    let xml = format!("<jingle xmlns='urn:xmpp:jingle:1'><content name='audio'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{long}'/></content></jingle>");
    let text = text_of(parse(&xml));
    assert!(text.starts_with("Invalid SSRC: 9999") && text.chars().count() < 64, "{text}");
    let many: String = (1..=MAX_PARSED_ITEMS as u32 + 1)
        .map(|s| format!("<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='{s}'/>"))
        .collect();
    let xml = format!("<jingle xmlns='urn:xmpp:jingle:1'><content name='audio'>{many}</content></jingle>");
    assert_eq!(text_of(parse(&xml)), "Too many sources and groups (more than 2048).");
    for (attr, text) in [
        ("name", "Source name too long (more than 256 characters)."),
        ("videoType", "Invalid VideoType: xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…"),
    ] {
        let xml = format!("<jingle xmlns='urn:xmpp:jingle:1'><content name='video'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1' {attr}='{}'/></content></jingle>", "x".repeat(300));
        assert_eq!(text_of(parse(&xml)), text);
    }
    let xml = format!("<jingle xmlns='urn:xmpp:jingle:1'><content name='video'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1'><parameter name='msid' value='{}'/></source></content></jingle>", "m".repeat(257));
    assert_eq!(text_of(parse(&xml)), "Source msid too long (more than 256 characters).");
}

fn simulcast_sender() -> EndpointSources {
    let v = |ssrc| Source::new(ssrc, Video).with_msid("m").with_name("ep-v0");
    EndpointSources::new(
        vec![v(1), v(2), v(3), v(4), v(5), v(6), Source::new(7, Audio).with_msid("a").with_name("ep-a0")],
        vec![
            SourceGroup::new(Semantics::Sim, Video, [1, 2, 3]),
            SourceGroup::new(Semantics::Fid, Video, [1, 4]),
            SourceGroup::new(Semantics::Fid, Video, [2, 5]),
            SourceGroup::new(Semantics::Fid, Video, [3, 6]),
        ],
    )
}

#[test]
fn receivers_get_simulcast_stripped_to_its_first_layer() {
    let form = SourceForm::for_receiver(FEATURES_2020, &room());
    let SourcesPayload::Jingle(d) = encode(&form, [("ep", &simulcast_sender())]) else { unreachable!() };
    let ssrcs = |elements: &[Element]| {
        elements.iter().map(|e| e.attr("ssrc").unwrap_or(e.name()).to_owned()).collect::<Vec<_>>()
    };
    assert_eq!(ssrcs(&d.video), ["1", "4", "ssrc-group"]);
    assert_eq!(to_xml(&d.video[2]), "<ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source ssrc='1'/><source ssrc='4'/></ssrc-group>");
    assert_eq!(ssrcs(&d.audio), ["7"]);
}

const FEATURES_CURRENT: [&str; 6] = [
    FEATURE_AUDIO,
    FEATURE_VIDEO,
    FEATURE_JSON_SOURCES,
    FEATURE_SOURCE_NAMES,
    "urn:ietf:rfc:4588",
    "http://jitsi.org/tcc",
];

#[test]
fn each_receiver_gets_its_own_form() {
    let current = SourceForm::for_receiver(FEATURES_CURRENT, &room());
    assert_eq!(
        (current.owner.clone(), current.json, current.filter),
        (OwnerForm::EndpointId, true, SourceFilter::default())
    );
    // The Dec 2021 Unified-Plan fork: JSON, but owners as occupant JIDs.
    let fork = SourceForm::for_receiver([FEATURE_AUDIO, FEATURE_VIDEO, FEATURE_JSON_SOURCES], &room());
    assert_eq!(
        (fork.owner.clone(), fork.json, fork.filter.bridge_sources),
        (OwnerForm::OccupantJid(room()), true, true)
    );
    let old = SourceForm::for_receiver(FEATURES_2020, &room());
    assert_eq!((old.json, old.filter.bridge_sources, old.filter.strip_simulcast), (false, false, true));

    let sender = simulcast_sender();
    let jvb = bridge_sources();
    let all = || [("ep", &sender), (BRIDGE_OWNER, &jvb)];
    let SourcesPayload::Json(message) = encode(&current, all()) else { panic!("JSON for current clients") };
    assert_eq!(
        message.text(),
        r#"{"sources":{"ep":[[{"s":1,"n":"ep-v0","m":"m"},{"s":4,"n":"ep-v0","m":"m"}],[["f",1,4]],[{"s":7,"n":"ep-a0","m":"a"}]],"jvb":[[{"s":3758540092,"n":"jvb-v0","m":"mixedmslabel mixedlabelvideo0"}],[],[{"s":4039389863,"n":"jvb-a0","m":"mixedmslabel mixedlabelaudio0"}]]}}"#
    );
    let SourcesPayload::Json(message) = encode(&fork, all()) else { unreachable!() };
    // Owners keep the order of their endpoint ids; only the key changes.
    assert!(
        message.text().starts_with(r#"{"sources":{"room@conference.meet.test/ep":[[{"s":1,"#),
        "{}",
        message.text()
    );
    assert!(message.text().contains(r#""jvb":[[{"s":3758540092"#), "{}", message.text());

    let rewriting = SourceForm::for_receiver(FEATURES_CURRENT.into_iter().chain([FEATURE_SSRC_REWRITING]), &room());
    let SourcesPayload::Json(message) = encode(&rewriting, all()) else { unreachable!() };
    assert!(
        message.text().starts_with(r#"{"sources":{"jvb":"#) && !message.text().contains("\"ep\""),
        "{}",
        message.text()
    );
    let nothing = EndpointSources::default();
    assert_eq!(encode(&rewriting, [("ep", &nothing)]), SourcesPayload::Json(json_sources::json_message([])));
    assert!(!SourcesPayload::Json(json_sources::json_message([])).is_empty(), "session-initiate always has one");

    let audio_only = SourceForm::for_receiver([FEATURE_AUDIO, FEATURE_SOURCE_NAMES], &room());
    let SourcesPayload::Jingle(d) = encode(&audio_only, all()) else { unreachable!() };
    assert!(d.video.is_empty() && d.audio.len() == 2, "{d:?}");
    assert_eq!(d.audio[1].get_child("ssrc-info", ns::JITMEET).unwrap().attr("owner"), Some("jvb"));
}

#[test]
fn source_add_contents_carry_one_description_per_media() {
    let form = SourceForm { owner: OwnerForm::OccupantJid(room()), json: false, filter: SourceFilter::default() };
    let audio = EndpointSources::new(vec![Source::new(7, Audio).with_msid("a").with_name("ep-a0")], vec![]);
    let SourcesPayload::Jingle(d) = encode(&form, [("ep", &audio)]) else { unreachable!() };
    assert_eq!(d.of(Audio).len(), 1);
    let contents: Vec<String> = d.into_contents().iter().map(to_xml).collect();
    assert_eq!(
        contents,
        ["<content xmlns='urn:xmpp:jingle:1' name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' name='ep-a0' ssrc='7'><ssrc-info xmlns='http://jitsi.org/jitmeet' owner='room@conference.meet.test/ep'/><parameter name='msid' value='a'/></source></description></content>"]
    );
    let SourcesPayload::Jingle(empty) = encode(&form, []) else { unreachable!() };
    assert!(empty.is_empty() && SourcesPayload::Jingle(empty.clone()).is_empty() && empty.into_contents().is_empty());
}

/// Source text goes into every other participant's SDP: only what SDP takes is accepted.
#[test]
fn msids_and_names_that_would_break_receivers_sdp_are_refused() {
    let content = |source: &str| -> Element {
        format!("<content xmlns='urn:xmpp:jingle:1' name='audio'><description xmlns='urn:xmpp:jingle:apps:rtp:1' media='audio'>{source}</description></content>").parse().unwrap()
    };
    let with_msid = |msid: &str| {
        content(&format!(
            "<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1'><parameter name='msid' value='{msid}'/></source>"
        ))
    };
    assert!(parse_content(&with_msid("stream track")).is_ok());
    assert!(parse_content(&with_msid("{4b5c-9d} 7a0e-11")).is_ok());
    assert!(parse_content(&with_msid("stream")).is_ok());
    for bad in ["a b c", "s t&#13;&#10;a=candidate:1 1 udp 1 203.0.113.66 3478 typ host", "s  t", " s", "s:t x"] {
        let err = parse_content(&with_msid(bad)).unwrap_err();
        assert!(err.text().starts_with("Invalid msid: "), "{bad}: {err}");
    }
    let named =
        |name: &str| content(&format!("<source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1' name='{name}'/>"));
    assert!(parse_content(&named("abcd1234-a0")).is_ok());
    assert!(parse_content(&named("a b")).unwrap_err().text().starts_with("Invalid source name: "));
    assert!(parse_content(&named("x&#10;y")).is_err());
}
