use super::*;
use crate::xmpp::build::{assert_same_xml, to_xml};
use crate::xmpp::jingle_rtp::{HeaderExtension, PayloadType};

/// JVB's answer to an endpoint create with SCTP on a new conference (shape of JVB's
/// Colibri2ConferenceHandler and jitsi-xmpp-extensions' Colibri2 tests): the endpoint's ICE
/// transport, the SCTP port, and the bridge's feedback sources.
const CREATED: &str = "<conference-modified xmlns='jitsi:colibri2'><endpoint id='abcd1234'><transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='2ehb41g1lhq6jr' pwd='4v9snmmt0bl3ls4h0bsapbavrp'><candidate component='1' foundation='1' generation='0' id='653aa1ba' ip='127.0.0.1' port='10000' priority='2130706431' protocol='udp' type='host' network='0'/><rtcp-mux/><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>A1:B2</fingerprint></transport><sctp port='5000'/></transport></endpoint><sources><media-source type='audio' id='jvb-a0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='411312308' name='jvb-a0'/></media-source><media-source type='video' id='jvb-v0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='3322125455' name='jvb-v0'/></media-source></sources></conference-modified>";

#[test]
fn create_answer_is_read() {
    let modified = ConferenceModified::parse(&CREATED.parse().unwrap()).unwrap();
    let endpoint = &modified.endpoints[0];
    assert_eq!(endpoint.id, "abcd1234");
    assert_eq!(endpoint.sctp_port, Some(5000));
    let transport = endpoint.transport.as_ref().unwrap();
    assert_eq!(transport.ufrag.as_deref(), Some("2ehb41g1lhq6jr"));
    assert_eq!(transport.fingerprints[0].setup.as_deref(), Some("actpass"));
    assert_eq!(modified.sources.len(), 2);
    assert_eq!(modified.sources[1].sources[0].ssrc, 3322125455);
    assert_eq!(modified.sources[1].id, "jvb-v0");
}

#[test]
fn endpoint_create_request_has_jvbs_required_parts() {
    let mut formats = RtpFormats::default();
    formats.payload_types.push(PayloadType::new(111, "opus", 48000));
    formats.header_extensions.push(HeaderExtension::new(1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"));
    let request = ConferenceModify {
        meeting_id: "6f1c".into(),
        name: Some("room@conference.meet.test".into()),
        create: true,
        expire: false,
        endpoints: vec![Endpoint {
            create: true,
            stats_id: Some("Jane-Xyz".into()),
            capabilities: vec![CAPABILITY_SOURCE_NAMES.into()],
            media: vec![Media { media_type: "audio".into(), formats }],
            transport: Some(EndpointTransport::Create { ice_controlling: true, sctp: true }),
            sources: Some(Vec::new()),
            ..Endpoint::new("abcd1234")
        }],
    };
    assert_same_xml(&request.to_element(), "<conference-modify xmlns='jitsi:colibri2' meeting-id='6f1c' name='room@conference.meet.test' create='true'><endpoint id='abcd1234' create='true' stats-id='Jane-Xyz'><capability name='source-names'/><media type='audio'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='111' name='opus' clockrate='48000'/><rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/></media><transport ice-controlling='true'><sctp/></transport><sources/></endpoint></conference-modify>");
}

#[test]
fn endpoint_update_carries_transport_sources_mute_and_last_n() {
    let transport = IceUdpTransport { ufrag: Some("u".into()), pwd: Some("p".into()), ..Default::default() };
    let source = MediaSource {
        media_type: "video".into(),
        id: "abcd1234-v0".into(),
        sources: vec![
            WireSource { ssrc: 1, name: Some("abcd1234-v0".into()), video_type: Some("camera".into()) },
            WireSource { ssrc: 2, name: Some("abcd1234-v0".into()), video_type: None },
        ],
        groups: vec![("FID".into(), vec![1, 2])],
    };
    let request = ConferenceModify {
        meeting_id: "m".into(),
        endpoints: vec![Endpoint {
            transport: Some(EndpointTransport::Update(transport)),
            sources: Some(vec![source.clone()]),
            force_mute: Some(ForceMute { audio: true, video: false }),
            initial_last_n: Some(5),
            ..Endpoint::new("abcd1234")
        }],
        ..Default::default()
    };
    let xml = to_xml(&request.to_element());
    assert_same_xml(
        &request.to_element(),
        "<conference-modify xmlns='jitsi:colibri2' meeting-id='m'><endpoint id='abcd1234'><transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u' pwd='p'/></transport><sources><media-source type='video' id='abcd1234-v0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1' name='abcd1234-v0' videoType='camera'/><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='2' name='abcd1234-v0'/><ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'><source ssrc='1'/><source ssrc='2'/></ssrc-group></media-source></sources><force-mute audio='true' video='false'/><initial-last-n value='5'/></endpoint></conference-modify>"
    );
    let element: Element = xml.parse().unwrap();
    let media_source =
        element.children().next().unwrap().get_child("sources", ns::COLIBRI2).unwrap().children().next().unwrap();
    assert_eq!(MediaSource::parse(media_source).unwrap(), source);
}

#[test]
fn error_reasons_are_read_case_insensitively() {
    let iq = |condition: &str, reason: &str| -> Element {
        format!("<iq xmlns='jabber:component:accept' type='error' id='1'><error type='cancel'><{condition} xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>why</text><error xmlns='jitsi:colibri2' reason='{reason}'/></error></iq>")
            .parse()
            .unwrap()
    };
    let error = Colibri2Error::parse(&iq("service-unavailable", "GRACEFUL_SHUTDOWN"));
    assert_eq!(error.condition, "service-unavailable");
    assert_eq!(error.reason, Some(ErrorReason::GracefulShutdown));
    assert_eq!(error.text.as_deref(), Some("why"));
    assert_eq!(
        Colibri2Error::parse(&iq("conflict", "conference_already_exists")).reason,
        Some(ErrorReason::ConferenceAlreadyExists)
    );
    assert_eq!(
        Colibri2Error::parse(&iq("item-not-found", "conference_not_found")).reason,
        Some(ErrorReason::ConferenceNotFound)
    );
    assert_eq!(Colibri2Error::parse(&iq("bad-request", "odd")).reason, Some(ErrorReason::Other("odd".into())));
    let unknown: Element = "<iq xmlns='jabber:component:accept' type='error' id='1'><error type='modify'><item-not-found xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><error xmlns='jitsi:colibri2' reason='unknown_endpoint'><endpoint id='ep9'/></error></error></iq>".parse().unwrap();
    let error = Colibri2Error::parse(&unknown);
    assert_eq!((error.reason, error.endpoint.as_deref()), (Some(ErrorReason::UnknownEndpoint), Some("ep9")));
    let bare: Element = "<iq xmlns='jabber:component:accept' type='error' id='1'/>".parse().unwrap();
    assert_eq!(Colibri2Error::parse(&bare).condition, "undefined-condition");
}
