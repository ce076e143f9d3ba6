//! The media a participant is offered (protocol.md §7.4): payload types, RTCP feedback and
//! header extensions from `[codecs]`, trimmed to what the participant's client advertises.
//! The same formats go to the bridge as Colibri2 `<media>`, so both sides agree.

use crate::config::CodecsConfig;
use crate::xmpp::jingle_rtp::{HeaderExtension, PayloadType, RtcpFb, RtpFormats};

use super::features::Features;

pub const URI_AUDIO_LEVEL: &str = "urn:ietf:params:rtp-hdrext:ssrc-audio-level";
pub const URI_MID: &str = "urn:ietf:params:rtp-hdrext:sdes:mid";
pub const URI_ABS_SEND_TIME: &str = "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time";
pub const URI_TRANSPORT_CC: &str = "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01";
pub const URI_AV1_DD: &str = "https://aomediacodec.github.io/av1-rtp-spec/#dependency-descriptor-rtp-header-extension";

/// What one participant is offered; `None` for a media type it cannot take.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    pub audio: Option<RtpFormats>,
    pub video: Option<RtpFormats>,
    /// A `data` content for the bridge channel (SCTP).
    pub data: bool,
}

/// Builds the offer for a client with `features`.
pub fn build(codecs: &CodecsConfig, features: &Features) -> Offer {
    // TCC iff the client advertises it; REMB only without TCC (old clients advertise neither
    // and get neither).
    let tcc = codecs.transport_cc && features.tcc;
    let remb = codecs.remb && features.remb && !tcc;
    let audio = (features.audio && codecs.opus).then(|| audio(codecs, features, tcc));
    let has_video_codec = codecs.av1 || codecs.vp8 || codecs.h264 || codecs.vp9;
    let video = (features.video && has_video_codec).then(|| video(codecs, features, tcc, remb));
    Offer { audio, video, data: features.sctp }
}

fn audio(codecs: &CodecsConfig, features: &Features, tcc: bool) -> RtpFormats {
    let red = codecs.red && features.opus_red;
    let mut formats = RtpFormats { extmap_allow_mixed: codecs.extmap_allow_mixed, ..RtpFormats::default() };
    if red {
        let mut pt = PayloadType::new(codecs.red_pt, "red", 48000);
        pt.channels = Some(2);
        let opus = codecs.opus_pt;
        pt.parameters.push((None, format!("{opus}/{opus}")));
        formats.payload_types.push(pt);
    }
    let mut opus = PayloadType::new(codecs.opus_pt, "opus", 48000);
    opus.channels = Some(2);
    opus.parameters.push((Some("minptime".into()), "10".into()));
    if !red {
        // With RED the redundancy replaces in-band FEC.
        opus.parameters.push((Some("useinbandfec".into()), "1".into()));
    }
    if tcc {
        opus.rtcp_fb.push(RtcpFb::new("transport-cc", None));
    }
    formats.payload_types.push(opus);
    if codecs.telephone_event {
        formats.payload_types.push(PayloadType::new(codecs.telephone_event_pt, "telephone-event", 8000));
    }
    formats.header_extensions.push(HeaderExtension::new(codecs.ext_audio_level, URI_AUDIO_LEVEL));
    formats.header_extensions.push(HeaderExtension::new(codecs.ext_mid, URI_MID));
    if tcc {
        formats.header_extensions.push(HeaderExtension::new(codecs.ext_transport_cc, URI_TRANSPORT_CC));
    }
    formats
}

fn video(codecs: &CodecsConfig, features: &Features, tcc: bool, remb: bool) -> RtpFormats {
    let feedback = |pt: &mut PayloadType, congestion: bool| {
        pt.rtcp_fb.push(RtcpFb::new("ccm", Some("fir")));
        pt.rtcp_fb.push(RtcpFb::new("nack", None));
        pt.rtcp_fb.push(RtcpFb::new("nack", Some("pli")));
        if congestion && remb {
            pt.rtcp_fb.push(RtcpFb::new("goog-remb", None));
        }
        if congestion && tcc {
            pt.rtcp_fb.push(RtcpFb::new("transport-cc", None));
        }
    };
    let mut formats = RtpFormats { extmap_allow_mixed: codecs.extmap_allow_mixed, ..RtpFormats::default() };
    // Jicofo's order: AV1, VP8, H264, VP9; then their RTX in the order AV1, VP8, VP9, H264.
    let primaries = [
        (codecs.av1, codecs.av1_pt, "AV1"),
        (codecs.vp8, codecs.vp8_pt, "VP8"),
        (codecs.h264, codecs.h264_pt, "H264"),
        (codecs.vp9, codecs.vp9_pt, "VP9"),
    ];
    for (enabled, id, name) in primaries {
        if !enabled {
            continue;
        }
        let mut pt = PayloadType::new(id, name, 90000);
        if name == "H264" {
            // Jicofo's deliberate hack: the whole fmtp line in one parameter value.
            pt.parameters.push((
                Some("profile-level-id".into()),
                "42e01f;level-asymmetry-allowed=1;packetization-mode=1;".into(),
            ));
        }
        feedback(&mut pt, true);
        formats.payload_types.push(pt);
    }
    if codecs.rtx && features.rtx {
        let rtx = [
            (codecs.av1, codecs.av1_rtx_pt, codecs.av1_pt, true),
            (codecs.vp8, codecs.vp8_rtx_pt, codecs.vp8_pt, true),
            (codecs.vp9, codecs.vp9_rtx_pt, codecs.vp9_pt, true),
            (codecs.h264, codecs.h264_rtx_pt, codecs.h264_pt, false),
        ];
        for (enabled, id, apt, with_feedback) in rtx {
            if !enabled {
                continue;
            }
            let mut pt = PayloadType::new(id, "rtx", 90000);
            pt.parameters.push((Some("apt".into()), apt.to_string()));
            if with_feedback {
                feedback(&mut pt, false);
            }
            formats.payload_types.push(pt);
        }
    }
    if codecs.av1 {
        formats.header_extensions.push(HeaderExtension::new(codecs.ext_av1_dependency_descriptor, URI_AV1_DD));
    }
    formats.header_extensions.push(HeaderExtension::new(codecs.ext_mid, URI_MID));
    formats.header_extensions.push(HeaderExtension::new(codecs.ext_abs_send_time, URI_ABS_SEND_TIME));
    if tcc {
        formats.header_extensions.push(HeaderExtension::new(codecs.ext_transport_cc, URI_TRANSPORT_CC));
    }
    formats
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(formats: &RtpFormats) -> Vec<String> {
        formats.payload_types.iter().map(|p| format!("{}:{}", p.id, p.name)).collect()
    }

    fn has_fb(formats: &RtpFormats, type_: &str) -> bool {
        formats.payload_types.iter().any(|p| p.rtcp_fb.iter().any(|f| f.type_ == type_))
    }

    fn has_ext(formats: &RtpFormats, uri: &str) -> bool {
        formats.header_extensions.iter().any(|e| e.uri == uri)
    }

    #[test]
    fn a_current_client_gets_jicofos_defaults_with_tcc() {
        let features = Features { rtx: true, tcc: true, remb: true, ..Features::default() };
        let offer = build(&CodecsConfig::default(), &features);
        let audio = offer.audio.unwrap();
        let video = offer.video.unwrap();
        assert_eq!(names(&audio), ["111:opus", "126:telephone-event"]);
        assert_eq!(names(&video), ["41:AV1", "100:VP8", "107:H264", "101:VP9", "42:rtx", "96:rtx", "97:rtx", "99:rtx"]);
        assert!(has_fb(&video, "transport-cc") && !has_fb(&video, "goog-remb"));
        assert!(has_ext(&video, URI_TRANSPORT_CC) && has_ext(&audio, URI_TRANSPORT_CC));
        let rtx_h264 = video.payload_types.iter().find(|p| p.id == 99).unwrap();
        assert!(rtx_h264.rtcp_fb.is_empty());
        assert_eq!(rtx_h264.parameters, [(Some("apt".to_owned()), "107".to_owned())]);
        assert!(offer.data);
    }

    #[test]
    fn remb_only_without_tcc_and_old_clients_get_neither() {
        let remb_only = Features { remb: true, ..Features::default() };
        let video = build(&CodecsConfig::default(), &remb_only).video.unwrap();
        assert!(has_fb(&video, "goog-remb") && !has_fb(&video, "transport-cc"));
        assert!(!has_ext(&video, URI_TRANSPORT_CC));
        let old = Features { rtx: true, opus_red: true, ..Features::default() };
        let offer = build(&CodecsConfig::default(), &old);
        assert!(!has_fb(offer.video.as_ref().unwrap(), "goog-remb"));
        assert!(!has_fb(offer.video.as_ref().unwrap(), "transport-cc"));
        assert!(!has_fb(offer.audio.as_ref().unwrap(), "transport-cc"));
    }

    #[test]
    fn rtx_needs_the_feature_and_red_replaces_fec() {
        let video = build(&CodecsConfig::default(), &Features::default()).video.unwrap();
        assert!(!names(&video).iter().any(|n| n.ends_with("rtx")));
        let codecs = CodecsConfig { red: true, ..CodecsConfig::default() };
        let audio = build(&codecs, &Features { opus_red: true, ..Features::default() }).audio.unwrap();
        assert_eq!(names(&audio), ["112:red", "111:opus", "126:telephone-event"]);
        assert_eq!(audio.payload_types[0].parameters, [(None, "111/111".to_owned())]);
        assert!(!audio.payload_types[1].parameters.iter().any(|(n, _)| n.as_deref() == Some("useinbandfec")));
        // Without the client's opus-red feature, no RED.
        let audio = build(&codecs, &Features::default()).audio.unwrap();
        assert_eq!(names(&audio), ["111:opus", "126:telephone-event"]);
    }

    #[test]
    fn media_the_client_lacks_or_the_operator_disabled_is_not_offered() {
        let audio_only = Features { video: false, sctp: false, ..Features::default() };
        let offer = build(&CodecsConfig::default(), &audio_only);
        assert!(offer.audio.is_some() && offer.video.is_none() && !offer.data);
        let codecs = CodecsConfig { av1: false, h264: false, vp9: false, ..CodecsConfig::default() };
        let video = build(&codecs, &Features { rtx: true, ..Features::default() }).video.unwrap();
        assert_eq!(names(&video), ["100:VP8", "96:rtx"]);
        assert!(!has_ext(&video, URI_AV1_DD));
    }
}
