//! `[codecs]`: what the focus offers participants (protocol.md §7.4). The defaults are current
//! Jicofo's (`jicofo.codec` in its reference.conf); payload types and header-extension ids are
//! configurable because a bridge and every client must agree on them.

use serde::{Deserialize, Serialize};

use super::{key_error, ConfigError};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields, default)]
pub struct CodecsConfig {
    pub opus: bool,
    pub opus_pt: u8,
    /// Opus RED (redundant audio); offered only to clients that advertise `opus-red`.
    pub red: bool,
    pub red_pt: u8,
    pub telephone_event: bool,
    pub telephone_event_pt: u8,
    pub av1: bool,
    pub av1_pt: u8,
    pub av1_rtx_pt: u8,
    pub vp8: bool,
    pub vp8_pt: u8,
    pub vp8_rtx_pt: u8,
    pub h264: bool,
    pub h264_pt: u8,
    pub h264_rtx_pt: u8,
    pub vp9: bool,
    pub vp9_pt: u8,
    pub vp9_rtx_pt: u8,
    /// RTX retransmission streams; offered only to clients that advertise RFC 4588.
    pub rtx: bool,
    /// Transport-wide congestion control; offered only to clients that advertise `tcc`.
    pub transport_cc: bool,
    /// REMB; offered only to clients that advertise `remb` and get no transport-cc.
    pub remb: bool,
    pub ext_audio_level: u8,
    pub ext_abs_send_time: u8,
    pub ext_transport_cc: u8,
    pub ext_mid: u8,
    pub ext_av1_dependency_descriptor: u8,
    /// `extmap-allow-mixed` in both media.
    pub extmap_allow_mixed: bool,
}

impl Default for CodecsConfig {
    fn default() -> Self {
        CodecsConfig {
            opus: true,
            opus_pt: 111,
            red: false,
            red_pt: 112,
            telephone_event: true,
            telephone_event_pt: 126,
            av1: true,
            av1_pt: 41,
            av1_rtx_pt: 42,
            vp8: true,
            vp8_pt: 100,
            vp8_rtx_pt: 96,
            h264: true,
            h264_pt: 107,
            h264_rtx_pt: 99,
            vp9: true,
            vp9_pt: 101,
            vp9_rtx_pt: 97,
            rtx: true,
            transport_cc: true,
            remb: true,
            ext_audio_level: 1,
            ext_abs_send_time: 3,
            ext_transport_cc: 5,
            ext_mid: 10,
            ext_av1_dependency_descriptor: 11,
            extmap_allow_mixed: true,
        }
    }
}

impl CodecsConfig {
    /// Payload types must be valid RTP payload types outside 64–95 (which RTCP packet types use
    /// under rtcp-mux, RFC 5761) and distinct; header-extension ids are one-byte ids 1–14 and
    /// distinct; an offer needs at least one audio or video codec.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        let c = self;
        let payload_types = [
            ("codecs.opus_pt", c.opus, c.opus_pt),
            ("codecs.red_pt", c.opus && c.red, c.red_pt),
            ("codecs.telephone_event_pt", c.telephone_event, c.telephone_event_pt),
            ("codecs.av1_pt", c.av1, c.av1_pt),
            ("codecs.av1_rtx_pt", c.av1 && c.rtx, c.av1_rtx_pt),
            ("codecs.vp8_pt", c.vp8, c.vp8_pt),
            ("codecs.vp8_rtx_pt", c.vp8 && c.rtx, c.vp8_rtx_pt),
            ("codecs.h264_pt", c.h264, c.h264_pt),
            ("codecs.h264_rtx_pt", c.h264 && c.rtx, c.h264_rtx_pt),
            ("codecs.vp9_pt", c.vp9, c.vp9_pt),
            ("codecs.vp9_rtx_pt", c.vp9 && c.rtx, c.vp9_rtx_pt),
        ];
        let mut used: Vec<(&str, u8)> = Vec::new();
        for (key, enabled, pt) in payload_types {
            if pt > 127 || (64..=95).contains(&pt) {
                return Err(key_error(key, "must be a payload type from 0 to 63 or 96 to 127"));
            }
            if enabled {
                if let Some((other, _)) = used.iter().find(|(_, p)| *p == pt) {
                    return Err(key_error(key, format!("is the same payload type as {other}")));
                }
                used.push((key, pt));
            }
        }
        let extensions = [
            ("codecs.ext_audio_level", c.ext_audio_level),
            ("codecs.ext_abs_send_time", c.ext_abs_send_time),
            ("codecs.ext_transport_cc", c.ext_transport_cc),
            ("codecs.ext_mid", c.ext_mid),
            ("codecs.ext_av1_dependency_descriptor", c.ext_av1_dependency_descriptor),
        ];
        let mut ids: Vec<(&str, u8)> = Vec::new();
        for (key, id) in extensions {
            if !(1..=14).contains(&id) {
                return Err(key_error(key, "must be a header-extension id from 1 to 14"));
            }
            if let Some((other, _)) = ids.iter().find(|(_, i)| *i == id) {
                return Err(key_error(key, format!("is the same id as {other}")));
            }
            ids.push((key, id));
        }
        if !(c.opus || c.av1 || c.vp8 || c.h264 || c.vp9) {
            return Err(key_error("codecs.opus", "at least one audio or video codec must be enabled"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn load(codecs: &str) -> Result<Config, crate::config::ConfigError> {
        let base = "[xmpp]\ncomponent = \"focus.meet.test\"\nsecret = \"s\"\nmuc_domain = \"conference.meet.test\"\n";
        Config::from_toml(&format!("{base}[codecs]\n{codecs}"))
    }

    #[test]
    fn defaults_are_valid_and_mistakes_are_named() {
        assert!(load("").is_ok());
        let clash = load("vp8_pt = 111\n").unwrap_err();
        assert_eq!(clash.to_string(), "codecs.vp8_pt: is the same payload type as codecs.opus_pt");
        let rtcp = load("vp9_pt = 72\n").unwrap_err();
        assert_eq!(rtcp.to_string(), "codecs.vp9_pt: must be a payload type from 0 to 63 or 96 to 127");
        let ext = load("ext_mid = 15\n").unwrap_err();
        assert_eq!(ext.to_string(), "codecs.ext_mid: must be a header-extension id from 1 to 14");
        let none = "opus = false\nav1 = false\nvp8 = false\nh264 = false\nvp9 = false\n";
        assert!(load(none).unwrap_err().to_string().contains("at least one"));
        // A disabled codec's payload type may clash: it is not offered.
        assert!(load("vp9 = false\nvp9_pt = 100\n").is_ok());
    }
}
