//! The str0m configuration of one endpoint, from the Colibri2 `<media>` the focus sent.
//!
//! str0m in RTP mode drops packets whose payload type its codec table does not know, and
//! reads and writes header extensions with its own id map. A bridge must use the participant's
//! numbering instead (the focus's offer), so the codec table and the extension map are built
//! here from the Colibri2 media and never hard-coded. An RTX payload type (`apt=`) becomes the
//! resend type of its primary, which lets str0m answer a receiver's NACKs from its cache with
//! the sender's RTX SSRC and payload type.

use std::collections::BTreeMap;

use str0m::format::{Codec, FormatParams};
use str0m::media::{Frequency, Pt};
use str0m::rtp::{Extension, ExtensionMap};
use str0m::RtcConfig;
use tracing::debug;

use crate::colibri2::{MediaDescription, MediaType, PayloadType};

/// Header extensions the bridge reads and forwards. The mid and rid extensions are left out on
/// purpose: they describe one transport's m-lines, not the forwarded stream (JVB strips them
/// too), and str0m would otherwise stamp its own mid on every forwarded packet.
const FORWARDED_EXTENSIONS: [Extension; 9] = [
    Extension::AudioLevel,
    Extension::AbsoluteSendTime,
    Extension::TransportSequenceNumber,
    Extension::TransmissionTimeOffset,
    Extension::VideoOrientation,
    Extension::PlayoutDelay,
    Extension::VideoContentType,
    Extension::VideoTiming,
    Extension::AbsoluteCaptureTime,
];

/// What of the Colibri2 media str0m could take (for logs and tests).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Applied {
    /// Payload types configured, with their codec.
    pub payload_types: BTreeMap<u8, String>,
    /// Extension ids configured, with their URI.
    pub extensions: BTreeMap<u8, String>,
    /// Payload types or extensions str0m cannot forward, with why.
    pub skipped: Vec<String>,
}

/// Replaces str0m's default codecs and extensions with those of `media`.
pub fn configure(mut config: RtcConfig, media: &[MediaDescription]) -> (RtcConfig, Applied) {
    let mut applied = Applied::default();
    config = config.clear_codecs();
    let mut exts = ExtensionMap::empty();
    for description in media {
        for pt in &description.payload_types {
            if is_rtx(pt) {
                continue; // configured with its primary below
            }
            let Some(codec) = codec_of(&pt.name, description.kind) else {
                applied.skipped.push(format!("payload type {} ({})", pt.id, pt.name));
                continue;
            };
            let rtx = description
                .payload_types
                .iter()
                .find(|r| is_rtx(r) && parameter(r, "apt").and_then(|a| a.parse::<u8>().ok()) == Some(pt.id))
                .map(|r| Pt::from(r.id));
            let clock = pt.clockrate.unwrap_or(match description.kind {
                MediaType::Audio => 48_000,
                MediaType::Video => 90_000,
            });
            let Some(clock) = Frequency::new(clock) else {
                applied.skipped.push(format!("payload type {} (clock rate 0)", pt.id));
                continue;
            };
            let fmtp = pt.parameters.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(";");
            let channels = pt.channels.or((codec == Codec::Opus).then_some(2));
            config.codec_config().add_config(
                Pt::from(pt.id),
                rtx,
                codec,
                clock,
                channels,
                FormatParams::parse_line(&fmtp),
            );
            applied.payload_types.insert(pt.id, format!("{codec:?}"));
        }
        for ext in &description.rtp_hdrexts {
            match FORWARDED_EXTENSIONS.iter().find(|e| e.as_uri() == ext.uri) {
                Some(e) if exts.lookup(ext.id).is_none() => {
                    exts.set(ext.id, e.clone());
                    applied.extensions.insert(ext.id, ext.uri.clone());
                }
                Some(_) => {} // the same extension announced for audio and video
                None => applied.skipped.push(format!("extension {} ({})", ext.id, ext.uri)),
            }
        }
    }
    let mut config = config.set_extension_map(exts);
    if !applied.skipped.is_empty() {
        debug!(skipped = ?applied.skipped, "media str0m does not forward");
    }
    config = config.set_rtp_mode(true);
    (config, applied)
}

fn is_rtx(pt: &PayloadType) -> bool {
    pt.name.eq_ignore_ascii_case("rtx")
}

fn parameter<'a>(pt: &'a PayloadType, name: &str) -> Option<&'a str> {
    pt.parameters.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn codec_of(name: &str, kind: MediaType) -> Option<Codec> {
    let codec = match name.to_ascii_lowercase().as_str() {
        "opus" => Codec::Opus,
        "pcmu" => Codec::PCMU,
        "pcma" => Codec::PCMA,
        "g722" => Codec::G722,
        "telephone-event" => Codec::Tele,
        "vp8" => Codec::Vp8,
        "vp9" => Codec::Vp9,
        "h264" => Codec::H264,
        "av1" => Codec::Av1,
        _ => return None,
    };
    // A video codec announced in the audio description (or the reverse) would make str0m
    // mis-type the stream.
    let audio = codec.is_audio() || codec == Codec::Tele;
    (audio == (kind == MediaType::Audio)).then_some(codec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::colibri2::RtpHdrExt;

    fn pt(id: u8, name: &str, clock: u32, params: &[(&str, &str)]) -> PayloadType {
        PayloadType {
            id,
            name: name.into(),
            clockrate: Some(clock),
            channels: None,
            parameters: params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect(),
            rtcp_fbs: vec![],
        }
    }

    /// The focus's default offer (Jicofo's numbering), as the Colibri2 create carries it.
    fn jitsi_media() -> Vec<MediaDescription> {
        let ext = |id, uri: &str| RtpHdrExt { id, uri: uri.into() };
        vec![
            MediaDescription {
                kind: MediaType::Audio,
                payload_types: vec![
                    pt(111, "opus", 48_000, &[("minptime", "10"), ("useinbandfec", "1")]),
                    pt(126, "telephone-event", 8_000, &[]),
                ],
                rtp_hdrexts: vec![
                    ext(1, "urn:ietf:params:rtp-hdrext:ssrc-audio-level"),
                    ext(5, "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"),
                    ext(10, "urn:ietf:params:rtp-hdrext:sdes:mid"),
                ],
                extmap_allow_mixed: true,
            },
            MediaDescription {
                kind: MediaType::Video,
                payload_types: vec![
                    pt(100, "VP8", 90_000, &[]),
                    pt(96, "rtx", 90_000, &[("apt", "100")]),
                    pt(107, "H264", 90_000, &[("packetization-mode", "1")]),
                    pt(99, "rtx", 90_000, &[("apt", "107")]),
                    pt(120, "flexfec-03", 90_000, &[]),
                ],
                rtp_hdrexts: vec![
                    ext(3, "http://www.webrtc.org/experiments/rtp-hdrext/abs-send-time"),
                    ext(5, "http://www.ietf.org/id/draft-holmer-rmcat-transport-wide-cc-extensions-01"),
                ],
                extmap_allow_mixed: true,
            },
        ]
    }

    #[test]
    fn the_focus_numbering_is_used() {
        let (config, applied) = configure(RtcConfig::new(), &jitsi_media());
        let expected: BTreeMap<u8, String> =
            [(111, "Opus"), (126, "Tele"), (100, "Vp8"), (107, "H264")].map(|(k, v)| (k, v.to_string())).into();
        assert_eq!(applied.payload_types, expected);
        assert_eq!(applied.extensions.keys().copied().collect::<Vec<_>>(), vec![1, 3, 5]);
        assert_eq!(
            applied.skipped,
            vec!["extension 10 (urn:ietf:params:rtp-hdrext:sdes:mid)", "payload type 120 (flexfec-03)"]
        );
        let mut config = config;
        let vp8 = config.codec_config().params().iter().find(|p| *p.pt() == 100).map(|p| p.resend());
        assert_eq!(vp8, Some(Some(Pt::from(96))), "RTX 96 is VP8's resend type");
        assert!(config.codec_config().params().iter().all(|p| *p.pt() != 96), "RTX is not a codec of its own");
    }

    #[test]
    fn a_codec_in_the_wrong_media_is_skipped() {
        let media = vec![MediaDescription {
            kind: MediaType::Audio,
            payload_types: vec![pt(100, "VP8", 90_000, &[]), pt(111, "opus", 0, &[])],
            rtp_hdrexts: vec![],
            extmap_allow_mixed: false,
        }];
        let (_, applied) = configure(RtcConfig::new(), &media);
        assert!(applied.payload_types.is_empty(), "{applied:?}");
        assert_eq!(applied.skipped.len(), 2);
    }
}
