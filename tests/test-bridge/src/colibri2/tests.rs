//! Colibri2 request handling against a fake transport factory: answers and errors in JVB's
//! shapes, and the state left behind.

use minidom::Element;

use super::*;
use crate::view::EndpointKey;
use crate::xml::{to_xml, StanzaError, NS_COLIBRI2, NS_DTLS, NS_ICE_UDP, NS_SSMA};

/// Records what the handler asked of the transports.
#[derive(Default)]
struct FakeTransports {
    created: Vec<(EndpointKey, bool)>,
    sctp: Vec<EndpointKey>,
    media: Vec<(EndpointKey, Vec<MediaDescription>)>,
    remote: Vec<(EndpointKey, IceUdpTransport)>,
    sources: Vec<(EndpointKey, Vec<MediaSource>)>,
    expired: Vec<EndpointKey>,
    force_mute: Vec<(EndpointKey, bool, bool)>,
}

impl EndpointTransports for FakeTransports {
    fn create(
        &mut self,
        key: &EndpointKey,
        ice_controlling: bool,
        _media: &[MediaDescription],
    ) -> Result<LocalTransport, String> {
        self.created.push((key.clone(), ice_controlling));
        Ok(LocalTransport {
            ufrag: format!("uf-{}", key.endpoint_id),
            pwd: "bridgepassword0123456789".into(),
            fingerprint_hash: "sha-256".into(),
            fingerprint: "AB:CD:EF".into(),
            candidates: vec![LocalCandidate {
                foundation: "1".into(),
                priority: 2130706431,
                ip: "127.0.0.1".into(),
                port: 10000,
                id: "c1".into(),
            }],
        })
    }
    fn start_sctp(&mut self, key: &EndpointKey) {
        self.sctp.push(key.clone());
    }
    fn set_media(&mut self, key: &EndpointKey, media: &[MediaDescription]) {
        self.media.push((key.clone(), media.to_vec()));
    }
    fn set_remote(&mut self, key: &EndpointKey, transport: &IceUdpTransport) {
        self.remote.push((key.clone(), transport.clone()));
    }
    fn set_sources(&mut self, key: &EndpointKey, sources: &[MediaSource]) {
        self.sources.push((key.clone(), sources.to_vec()));
    }
    fn set_force_mute(&mut self, key: &EndpointKey, audio: bool, video: bool) {
        self.force_mute.push((key.clone(), audio, video));
    }
    fn expire(&mut self, key: &EndpointKey) {
        self.expired.push(key.clone());
    }
}

struct Bridge {
    handler: Colibri2Handler,
    transports: FakeTransports,
    ctx: Context,
}

impl Bridge {
    fn new() -> Self {
        Bridge { handler: Colibri2Handler::new(), transports: FakeTransports::default(), ctx: Context::default() }
    }

    fn send(&mut self, xml: &str) -> Result<Element, StanzaError> {
        let payload: Element = xml.parse().unwrap_or_else(|e| panic!("bad XML in test: {e}: {xml}"));
        let answer = self.handler.handle(&payload, self.ctx, &mut self.transports);
        if let Ok(el) = &answer {
            // Every answer serialises and reads back.
            let _: Element = to_xml(el).parse().expect("answer is well-formed");
        }
        answer
    }

    fn ok(&mut self, xml: &str) -> Element {
        self.send(xml).unwrap_or_else(|e| panic!("expected success, got {e:?}"))
    }

    fn err(&mut self, xml: &str) -> StanzaError {
        match self.send(xml) {
            Ok(el) => panic!("expected an error, got {}", to_xml(&el)),
            Err(e) => e,
        }
    }
}

fn reason(error: &StanzaError) -> Option<&str> {
    error.extensions.iter().find(|e| e.is("error", NS_COLIBRI2)).and_then(|e| e.attr("reason"))
}

fn assert_error(error: &StanzaError, condition: &str, text: &str, colibri_reason: Option<&str>) {
    assert_eq!(error.condition, condition, "{error:?}");
    assert_eq!(error.text.as_deref(), Some(text), "{error:?}");
    assert_eq!(reason(error), colibri_reason, "{error:?}");
}

const C2: &str = "xmlns='jitsi:colibri2'";

fn create_with_endpoint(meeting: &str, endpoint: &str, sctp: bool) -> String {
    let sctp = if sctp { "<sctp/>" } else { "" };
    format!(
        "<conference-modify {C2} meeting-id='{meeting}' name='room@conference.meet.test' create='true'>\
           <endpoint id='{endpoint}' create='true' stats-id='Jane-Xyz'>\
             <capability name='source-names'/>\
             <media type='audio'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='111' name='opus' clockrate='48000' channels='2'>\
               <parameter name='minptime' value='10'/></payload-type>\
               <rtp-hdrext xmlns='urn:xmpp:jingle:apps:rtp:rtp-hdrext:0' id='1' uri='urn:ietf:params:rtp-hdrext:ssrc-audio-level'/></media>\
             <media type='video'><payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='100' name='VP8' clockrate='90000'>\
               <rtcp-fb xmlns='urn:xmpp:jingle:apps:rtp:rtcp-fb:0' type='nack' subtype='pli'/></payload-type></media>\
             <transport ice-controlling='true'>{sctp}</transport>\
             <sources/>\
           </endpoint>\
         </conference-modify>"
    )
}

#[test]
fn create_answers_transport_fingerprint_candidate_sctp_and_feedback_sources() {
    let mut b = Bridge::new();
    let answer = b.ok(&create_with_endpoint("m1", "ep1", true));
    assert!(answer.is("conference-modified", NS_COLIBRI2));
    assert_eq!(answer.attr("meeting-id"), None, "JVB's conference-modified has no meeting-id");

    let endpoint = answer.get_child("endpoint", NS_COLIBRI2).expect("endpoint");
    assert_eq!(endpoint.attr("id"), Some("ep1"));
    let transport = endpoint.get_child("transport", NS_COLIBRI2).expect("colibri2 transport");
    let ice = transport.get_child("transport", NS_ICE_UDP).expect("ice-udp transport");
    assert_eq!(ice.attr("ufrag"), Some("uf-ep1"));
    assert_eq!(ice.attr("pwd"), Some("bridgepassword0123456789"));
    assert!(ice.has_child("rtcp-mux", NS_ICE_UDP));
    let fingerprint = ice.get_child("fingerprint", NS_DTLS).expect("fingerprint");
    assert_eq!(fingerprint.attr("hash"), Some("sha-256"));
    assert_eq!(fingerprint.attr("setup"), Some("actpass"));
    assert_eq!(fingerprint.text(), "AB:CD:EF");
    let candidate = ice.get_child("candidate", NS_ICE_UDP).expect("candidate");
    for (name, value) in [
        ("component", "1"),
        ("foundation", "1"),
        ("generation", "0"),
        ("network", "0"),
        ("priority", "2130706431"),
        ("protocol", "udp"),
        ("type", "host"),
        ("ip", "127.0.0.1"),
        ("port", "10000"),
    ] {
        assert_eq!(candidate.attr(name), Some(value), "candidate {name}");
    }
    let sctp = transport.get_child("sctp", NS_COLIBRI2).expect("sctp");
    assert_eq!((sctp.attr("port"), sctp.attr("role")), (Some("5000"), Some("server")));

    let sources = answer.get_child("sources", NS_COLIBRI2).expect("feedback sources");
    let media_sources: Vec<_> = sources.children().collect();
    assert_eq!(media_sources.len(), 2);
    let conference = b.handler.snapshot().remove("m1").unwrap();
    for (ms, (kind, id, ssrc)) in media_sources
        .iter()
        .zip([("audio", "jvb-a0", conference.feedback_audio_ssrc), ("video", "jvb-v0", conference.feedback_video_ssrc)])
    {
        assert!(ms.is("media-source", NS_COLIBRI2));
        assert_eq!((ms.attr("type"), ms.attr("id")), (Some(kind), Some(id)));
        let source = ms.get_child("source", NS_SSMA).unwrap();
        assert_eq!(source.attr("name"), Some(id));
        assert_eq!(source.attr("ssrc"), Some(ssrc.to_string().as_str()));
    }

    assert_eq!(b.transports.created, vec![(EndpointKey::new("m1", "ep1"), true)]);
    assert_eq!(b.transports.sctp, vec![EndpointKey::new("m1", "ep1")]);
    let (_, media) = &b.transports.media[0];
    assert_eq!(media.len(), 2);
    assert_eq!(media[0].payload_types[0].name, "opus");
    assert_eq!(media[0].payload_types[0].parameters, vec![("minptime".to_string(), "10".to_string())]);
    assert_eq!(media[0].rtp_hdrexts[0].id, 1);
    assert_eq!(media[1].payload_types[0].rtcp_fbs, vec![("nack".to_string(), Some("pli".to_string()))]);

    let ep = &conference.endpoints["ep1"];
    assert_eq!(conference.name.as_deref(), Some("room@conference.meet.test"));
    assert_eq!(ep.stats_id.as_deref(), Some("Jane-Xyz"));
    assert!(ep.sctp && ep.ice_controlling);
    assert_eq!(b.handler.load(), (1, 1));
}

#[test]
fn sctp_only_when_asked() {
    let mut b = Bridge::new();
    let answer = b.ok(&create_with_endpoint("m1", "ep1", false));
    let transport = answer.get_child("endpoint", NS_COLIBRI2).unwrap().get_child("transport", NS_COLIBRI2).unwrap();
    assert!(transport.get_child("sctp", NS_COLIBRI2).is_none());
    assert!(b.transports.sctp.is_empty());
}

#[test]
fn conference_errors_are_jvbs() {
    let mut b = Bridge::new();
    b.ok(&create_with_endpoint("m1", "ep1", false));
    let e = b.err(&create_with_endpoint("m1", "ep2", false));
    assert_error(&e, "conflict", "Conference already exists for ID: m1", Some("conference_already_exists"));

    let e = b.err(&format!(
        "<conference-modify {C2} meeting-id='nope'><endpoint id='x' expire='true'/></conference-modify>"
    ));
    assert_error(&e, "item-not-found", "Conference not found for ID: nope", Some("conference_not_found"));

    let e = b.err(&format!("<conference-modify {C2} meeting-id='m2' name='not a jid@@' create='true'/>"));
    assert_error(&e, "bad-request", "Invalid conference name (not a JID)", None);
}

#[test]
fn endpoint_create_needs_source_names_and_transport() {
    let mut b = Bridge::new();
    let e = b.err(&format!(
        "<conference-modify {C2} meeting-id='m1' create='true'>\
           <endpoint id='ep1' create='true'><transport ice-controlling='true'/></endpoint></conference-modify>"
    ));
    assert_error(&e, "bad-request", "Source name support is mandatory.", None);
    assert!(b.transports.created.is_empty());
    // As in JVB, the conference was created before the endpoint failed.
    assert!(b.handler.snapshot().contains_key("m1"));

    let e = b.err(&format!(
        "<conference-modify {C2} meeting-id='m1'>\
           <endpoint id='ep1' create='true'><capability name='source-names'/></endpoint></conference-modify>"
    ));
    assert_error(&e, "bad-request", "Attempt to create endpoint ep1 with no <transport>", None);
}

#[test]
fn duplicate_endpoint_is_a_conflict() {
    let mut b = Bridge::new();
    b.ok(&create_with_endpoint("m1", "ep1", false));
    let e = b.err(&format!(
        "<conference-modify {C2} meeting-id='m1'><endpoint id='ep1' create='true'>\
           <capability name='source-names'/><transport/></endpoint></conference-modify>"
    ));
    assert_error(&e, "conflict", "Endpoint with ID ep1 already exists", None);
}

#[test]
fn more_than_one_substantial_endpoint_is_not_implemented() {
    let mut b = Bridge::new();
    b.ok(&create_with_endpoint("m1", "ep1", false));
    let e = b.err(&format!(
        "<conference-modify {C2} meeting-id='m1'>\
           <endpoint id='a' create='true'><capability name='source-names'/><transport/></endpoint>\
           <endpoint id='b' create='true'><capability name='source-names'/><transport/></endpoint>\
         </conference-modify>"
    ));
    assert_error(
        &e,
        "feature-not-implemented",
        "Creating or updating media, sources or transport for more than one endpoint in a request.",
        Some("feature_not_implemented"),
    );
    // Force-mute for several endpoints at once is fine, unknown ones ignored.
    let answer = b.ok(&format!(
        "<conference-modify {C2} meeting-id='m1'>\
           <endpoint id='ep1'><force-mute audio='true' video='false'/></endpoint>\
           <endpoint id='gone'><force-mute audio='true' video='true'/></endpoint>\
         </conference-modify>"
    ));
    assert_eq!(answer.children().filter(|c| c.is("endpoint", NS_COLIBRI2)).count(), 2);
    assert!(answer.get_child("sources", NS_COLIBRI2).is_none(), "feedback sources only on create");
    let ep = &b.handler.snapshot()["m1"].endpoints["ep1"];
    assert!(ep.force_mute_audio && !ep.force_mute_video);
}

#[test]
fn relays_are_refused_as_by_a_jvb_without_relays() {
    let mut b = Bridge::new();
    b.ok(&create_with_endpoint("m1", "ep1", false));
    let e =
        b.err(&format!("<conference-modify {C2} meeting-id='m1'><relay id='r1' create='true'/></conference-modify>"));
    assert_error(&e, "feature-not-implemented", "Octo is disabled in configuration.", None);
    let e = b.err(&format!(
        "<conference-modify {C2} meeting-id='m1'><relay id='r1'/><endpoint id='ep1' expire='true'/></conference-modify>"
    ));
    assert_error(
        &e,
        "feature-not-implemented",
        "Using both 'relay' and 'endpoint' in a request",
        Some("feature_not_implemented"),
    );
}

#[test]
fn unknown_endpoint_update_names_the_endpoint() {
    let mut b = Bridge::new();
    b.ok(&create_with_endpoint("m1", "ep1", false));
    let e = b.err(&format!(
        "<conference-modify {C2} meeting-id='m1'><endpoint id='ghost'><sources/></endpoint></conference-modify>"
    ));
    assert_error(&e, "item-not-found", "Endpoint not found for ID: ghost", Some("unknown_endpoint"));
    let endpoint = e.extensions.iter().find(|x| x.is("endpoint", NS_COLIBRI2)).expect("<endpoint id> in the error");
    assert_eq!(endpoint.attr("id"), Some("ghost"));
}

#[test]
fn transport_update_sources_and_last_n_reach_the_endpoint() {
    let mut b = Bridge::new();
    b.ok(&create_with_endpoint("m1", "ep1", true));
    let answer = b.ok(&format!(
        "<conference-modify {C2} meeting-id='m1'><endpoint id='ep1'>\
           <transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='cufr' pwd='clientpwd'>\
             <rtcp-mux/>\
             <fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='active'>01:02:03</fingerprint>\
             <candidate component='1' foundation='2' generation='0' id='x' network='0' priority='2122260223' protocol='udp' type='host' ip='127.0.0.1' port='40000'/>\
           </transport></transport>\
           <sources><media-source type='video' id='ep1-v0'>\
             <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1111' name='ep1-v0' videoType='camera'/>\
             <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='2222' name='ep1-v0'/>\
             <ssrc-group xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' semantics='FID'>\
               <source ssrc='1111'/><source ssrc='2222'/></ssrc-group>\
           </media-source>\
           <media-source type='audio' id='ep1-a0'><source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='3333' name='ep1-a0'/></media-source>\
           </sources>\
           <initial-last-n value='5'/>\
         </endpoint></conference-modify>"
    ));
    // An update answers the endpoint without a transport, and no feedback sources.
    let endpoint = answer.get_child("endpoint", NS_COLIBRI2).unwrap();
    assert_eq!(endpoint.attr("id"), Some("ep1"));
    assert!(endpoint.get_child("transport", NS_COLIBRI2).is_none());
    assert!(answer.get_child("sources", NS_COLIBRI2).is_none());

    let (key, remote) = &b.transports.remote[0];
    assert_eq!(key, &EndpointKey::new("m1", "ep1"));
    assert_eq!((remote.ufrag.as_deref(), remote.pwd.as_deref()), (Some("cufr"), Some("clientpwd")));
    assert_eq!(remote.fingerprints[0].setup.as_deref(), Some("active"));
    assert_eq!(remote.fingerprints[0].value, "01:02:03");
    assert_eq!(remote.candidates[0].port, 40000);
    // The create carried an empty <sources/>; the update replaces it.
    assert!(b.transports.sources[0].1.is_empty());
    let (_, sources) = b.transports.sources.last().unwrap();
    assert_eq!(sources[0].sources.len(), 2);
    assert_eq!(sources[0].ssrc_groups[0].semantics, "FID");
    assert_eq!(sources[0].ssrc_groups[0].ssrcs, vec![1111, 2222]);
    assert_eq!(sources[1].kind, MediaType::Audio);
    let ep = &b.handler.snapshot()["m1"].endpoints["ep1"];
    assert_eq!(ep.initial_last_n, Some(5));
    assert_eq!(ep.sources.len(), 2);
    assert!(ep.remote.is_some());
}

#[test]
fn expiring_the_last_endpoint_expires_the_conference() {
    let mut b = Bridge::new();
    b.ok(&create_with_endpoint("m1", "ep1", false));
    let answer = b
        .ok(&format!("<conference-modify {C2} meeting-id='m1'><endpoint id='ep1' expire='true'/></conference-modify>"));
    let endpoint = answer.get_child("endpoint", NS_COLIBRI2).unwrap();
    assert_eq!((endpoint.attr("id"), endpoint.attr("expire")), (Some("ep1"), Some("true")));
    assert_eq!(b.transports.expired, vec![EndpointKey::new("m1", "ep1")]);
    assert!(b.handler.snapshot().is_empty());
    let e = b.err(&format!(
        "<conference-modify {C2} meeting-id='m1'><endpoint id='ep1' expire='true'/></conference-modify>"
    ));
    assert_eq!(reason(&e), Some("conference_not_found"));
}

#[test]
fn conference_expire_drops_every_endpoint() {
    let mut b = Bridge::new();
    b.ok(&create_with_endpoint("m1", "ep1", false));
    b.ok(&format!(
        "<conference-modify {C2} meeting-id='m1'><endpoint id='ep2' create='true'>\
           <capability name='source-names'/><transport/></endpoint></conference-modify>"
    ));
    b.ok(&format!("<conference-modify {C2} meeting-id='m1' expire='true'/>"));
    assert!(b.handler.snapshot().is_empty());
    assert_eq!(b.transports.expired.len(), 2);
}

#[test]
fn graceful_shutdown_refuses_new_conferences_only() {
    let mut b = Bridge::new();
    b.ok(&create_with_endpoint("m1", "ep1", false));
    b.ctx.graceful_shutdown = true;
    let e = b.err(&create_with_endpoint("m2", "ep1", false));
    assert_error(&e, "service-unavailable", "In graceful shutdown", Some("graceful_shutdown"));
    b.ok(&format!("<conference-modify {C2} meeting-id='m1'><endpoint id='ep1'><force-mute audio='true'/></endpoint></conference-modify>"));
}

#[test]
fn sctp_role_and_port_are_checked() {
    let mut b = Bridge::new();
    let e = b.err(&format!(
        "<conference-modify {C2} meeting-id='m1' create='true'><endpoint id='ep1' create='true'>\
           <capability name='source-names'/><transport><sctp role='client'/></transport></endpoint></conference-modify>"
    ));
    assert_error(&e, "feature-not-implemented", "Unsupported SCTP role: CLIENT", None);
    let e = b.err(&format!(
        "<conference-modify {C2} meeting-id='m1'><endpoint id='ep2' create='true'>\
           <capability name='source-names'/><transport><sctp port='5001'/></transport></endpoint></conference-modify>"
    ));
    assert_error(&e, "bad-request", "Specific SCTP port requested, not supported.", None);
}

#[test]
fn visitors_cannot_have_sources() {
    let mut b = Bridge::new();
    b.ok(&format!(
        "<conference-modify {C2} meeting-id='m1' create='true'><endpoint id='v1' create='true' muc-role='visitor'>\
           <capability name='source-names'/><transport/></endpoint></conference-modify>"
    ));
    let e = b.err(&format!(
        "<conference-modify {C2} meeting-id='m1'><endpoint id='v1'><sources><media-source type='audio' id='v1-a0'>\
           <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='1'/></media-source></sources></endpoint></conference-modify>"
    ));
    assert_error(&e, "bad-request", "Attempt to set sources for visitor endpoint v1", None);
}

#[test]
fn unreadable_requests_are_bad_requests_never_panics() {
    let mut b = Bridge::new();
    b.ok(&create_with_endpoint("m1", "ep1", false));
    for xml in [
        format!("<conference-modify {C2}/>"),
        format!("<conference-modify {C2} meeting-id='  '/>"),
        format!("<conference-modify {C2} meeting-id='m1'><endpoint/></conference-modify>"),
        format!(
            "<conference-modify {C2} meeting-id='m1'><endpoint id='ep1'><sources><media-source type='video' id='s'>\
               <source xmlns='urn:xmpp:jingle:apps:rtp:ssma:0' ssrc='-1'/></media-source></sources></endpoint></conference-modify>"
        ),
        format!(
            "<conference-modify {C2} meeting-id='m1'><endpoint id='ep1'><sources><media-source type='data' id='s'/>\
             </sources></endpoint></conference-modify>"
        ),
        format!(
            "<conference-modify {C2} meeting-id='m1'><endpoint id='ep1'><transport>\
               <transport xmlns='urn:xmpp:jingle:transports:ice-udp:1'><candidate ip='1.2.3.4' port='99999' priority='1'/>\
             </transport></transport></endpoint></conference-modify>"
        ),
        format!("<conference-modify {C2} meeting-id='m1'><endpoint id='ep1'><initial-last-n value='x'/></endpoint></conference-modify>"),
        format!(
            "<conference-modify {C2} meeting-id='m1'><endpoint id='ep1'><media type='audio'>\
               <payload-type xmlns='urn:xmpp:jingle:apps:rtp:1' id='300'/></media></endpoint></conference-modify>"
        ),
    ] {
        let e = b.err(&xml);
        assert_eq!(e.condition, "bad-request", "{xml}: {e:?}");
        assert!(e.text.is_some());
    }
    // The conference is untouched by the refused requests.
    assert_eq!(b.handler.load(), (1, 1));
}

#[test]
fn iq_error_carries_the_shapes_on_the_wire() {
    let mut b = Bridge::new();
    b.ok(&create_with_endpoint("m1", "ep1", false));
    let error = b.err(&create_with_endpoint("m1", "ep1", false));
    let request: Element =
        "<iq xmlns='jabber:client' type='get' id='x1' from='brewery@internal/focus' to='jvb@meet/res'/>"
            .parse()
            .unwrap();
    let xml = to_xml(&crate::xml::iq_error(&request, &error));
    assert!(xml.contains("<conflict xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/>"), "{xml}");
    assert!(xml.contains("<error xmlns='jitsi:colibri2' reason='conference_already_exists'/>"), "{xml}");
    assert!(xml.contains("type='cancel'"), "{xml}");
}
