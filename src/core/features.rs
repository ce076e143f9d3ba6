//! What a participant's client can do, from its disco#info (protocol.md §7.2), and a cache of
//! feature sets by entity-capabilities hash so that a room of identical clients costs one
//! disco query.
//!
//! The cache only takes an answer whose features hash to the `ver` the client announced
//! (XEP-0115): otherwise one participant could claim a popular client's `ver`, answer disco
//! with odd features, and change the offers every later participant with that `ver` gets.

use std::collections::{HashMap, VecDeque};

use minidom::Element;
use xmpp_parsers::caps::{compute_disco, hash_caps};
use xmpp_parsers::disco::DiscoInfoResult;
use xmpp_parsers::hashes::Algo;

use crate::xmpp::jitsi_presence::Caps;

pub const AUDIO: &str = "urn:xmpp:jingle:apps:rtp:audio";
pub const VIDEO: &str = "urn:xmpp:jingle:apps:rtp:video";
pub const SCTP: &str = "urn:xmpp:jingle:transports:dtls-sctp:1";
pub const RTX: &str = "urn:ietf:rfc:4588";
pub const REMB: &str = "http://jitsi.org/remb";
pub const TCC: &str = "http://jitsi.org/tcc";
pub const OPUS_RED: &str = "http://jitsi.org/opus-red";
pub const SOURCE_NAMES: &str = "http://jitsi.org/source-name";
pub const SSRC_REWRITING: &str = "http://jitsi.org/ssrc-rewriting-1";
pub const JSON_SOURCES: &str = "http://jitsi.org/json-encoded-sources";
pub const RECEIVE_MULTIPLE_STREAMS: &str = "http://jitsi.org/receive-multiple-video-streams";
pub const AUDIO_MUTE: &str = "http://jitsi.org/protocol/audio-mute";

/// The features that change what the focus offers or signals to a participant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Features {
    pub audio: bool,
    pub video: bool,
    pub sctp: bool,
    pub rtx: bool,
    pub remb: bool,
    pub tcc: bool,
    pub opus_red: bool,
    pub source_names: bool,
    pub ssrc_rewriting: bool,
    pub json_sources: bool,
    pub receive_multiple_streams: bool,
    pub audio_mute: bool,
}

impl Default for Features {
    /// What Jicofo assumes when disco fails or times out: audio, video and a data channel.
    fn default() -> Features {
        Features {
            audio: true,
            video: true,
            sctp: true,
            rtx: false,
            remb: false,
            tcc: false,
            opus_red: false,
            source_names: false,
            ssrc_rewriting: false,
            json_sources: false,
            receive_multiple_streams: false,
            audio_mute: false,
        }
    }
}

impl Features {
    pub fn from_vars<'a>(vars: impl IntoIterator<Item = &'a str>) -> Features {
        let mut f = Features { audio: false, video: false, sctp: false, ..Features::default() };
        for var in vars {
            match var {
                AUDIO => f.audio = true,
                VIDEO => f.video = true,
                SCTP => f.sctp = true,
                RTX => f.rtx = true,
                REMB => f.remb = true,
                TCC => f.tcc = true,
                OPUS_RED => f.opus_red = true,
                SOURCE_NAMES => f.source_names = true,
                SSRC_REWRITING => f.ssrc_rewriting = true,
                JSON_SOURCES => f.json_sources = true,
                RECEIVE_MULTIPLE_STREAMS => f.receive_multiple_streams = true,
                AUDIO_MUTE => f.audio_mute = true,
                _ => {}
            }
        }
        f
    }

    /// Reads a disco#info result payload; `None` if it is not one.
    pub fn from_disco(query: &Element) -> Option<(Features, DiscoInfoResult)> {
        let result = DiscoInfoResult::try_from(query.clone()).ok()?;
        let features = Features::from_vars(result.features.iter().map(String::as_str));
        Some((features, result))
    }
}

/// Feature sets by caps `(node, ver)`, bounded; the oldest entry goes first when full.
#[derive(Debug)]
pub struct FeatureCache {
    entries: HashMap<(String, String), Features>,
    order: VecDeque<(String, String)>,
    capacity: usize,
}

impl FeatureCache {
    pub fn new(capacity: usize) -> FeatureCache {
        FeatureCache { entries: HashMap::new(), order: VecDeque::new(), capacity }
    }

    pub fn get(&self, caps: &Caps) -> Option<Features> {
        self.entries.get(&(caps.node.clone(), caps.ver.clone())).copied()
    }

    /// Remembers `features` for `caps` if `disco` really hashes to the announced `ver`.
    /// Returns whether it was cached.
    pub fn insert_verified(&mut self, caps: &Caps, disco: &DiscoInfoResult, features: Features) -> bool {
        if self.capacity == 0 || !caps.hash.eq_ignore_ascii_case("sha-1") {
            return false;
        }
        let Ok(hash) = hash_caps(&compute_disco(disco), Algo::Sha_1) else { return false };
        if hash.to_base64() != caps.ver {
            return false;
        }
        let key = (caps.node.clone(), caps.ver.clone());
        if self.entries.insert(key.clone(), features).is_none() {
            self.order.push_back(key);
            if self.order.len() > self.capacity {
                if let Some(oldest) = self.order.pop_front() {
                    self.entries.remove(&oldest);
                }
            }
        }
        true
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// disco#info of lib-jitsi-meet 2.1.5 (the 2020 client), with its identity, as Strophe's
    /// caps plugin builds it.
    fn ljm_2020() -> Element {
        let features = [
            "http://jabber.org/protocol/disco#info",
            "urn:xmpp:jingle:1",
            "urn:xmpp:jingle:apps:rtp:1",
            "urn:xmpp:jingle:transports:ice-udp:1",
            "urn:xmpp:jingle:apps:dtls:0",
            "urn:xmpp:jingle:transports:dtls-sctp:1",
            "urn:xmpp:jingle:apps:rtp:audio",
            "urn:xmpp:jingle:apps:rtp:video",
            "urn:ietf:rfc:4588",
            "http://jitsi.org/opus-red",
            "urn:ietf:rfc:5761",
            "urn:ietf:rfc:5888",
            "http://jitsi.org/meet/lipsync",
            "urn:xmpp:rayo:client:1",
            "https://jitsi.org/meet/e2ee",
        ];
        let vars: String = features.iter().map(|f| format!("<feature var='{f}'/>")).collect();
        format!("<query xmlns='http://jabber.org/protocol/disco#info' node='http://jitsi.org/jitsimeet#x'><identity category='client' type='web' name='https://jitsi.org/jitsi-meet'/>{vars}</query>")
            .parse()
            .unwrap()
    }

    #[test]
    fn old_clients_get_neither_tcc_nor_remb() {
        let (features, _) = Features::from_disco(&ljm_2020()).unwrap();
        assert!(features.audio && features.video && features.sctp && features.rtx && features.opus_red);
        assert!(!features.tcc && !features.remb && !features.json_sources && !features.source_names);
    }

    #[test]
    fn defaults_are_audio_video_and_data() {
        let f = Features::default();
        assert!(f.audio && f.video && f.sctp && !f.rtx && !f.tcc);
    }

    #[test]
    fn the_cache_takes_only_answers_that_match_their_hash() {
        let (features, disco) = Features::from_disco(&ljm_2020()).unwrap();
        let ver = hash_caps(&compute_disco(&disco), Algo::Sha_1).unwrap().to_base64();
        let honest = Caps { node: "http://jitsi.org/jitsimeet".into(), ver, hash: "sha-1".into() };
        let mut cache = FeatureCache::new(2);
        assert!(cache.insert_verified(&honest, &disco, features));
        assert_eq!(cache.get(&honest), Some(features));
        let liar = Caps { ver: "cvjWXufsg4xT62Ec2mlATkFZ9lk=".into(), ..honest.clone() };
        assert!(!cache.insert_verified(&liar, &disco, features));
        assert_eq!(cache.get(&liar), None);
    }

    #[test]
    fn the_cache_is_bounded() {
        let (features, disco) = Features::from_disco(&ljm_2020()).unwrap();
        let ver = hash_caps(&compute_disco(&disco), Algo::Sha_1).unwrap().to_base64();
        let mut cache = FeatureCache::new(2);
        for node in ["a", "b", "c"] {
            let caps = Caps { node: node.into(), ver: ver.clone(), hash: "sha-1".into() };
            assert!(cache.insert_verified(&caps, &disco, features));
        }
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.get(&Caps { node: "a".into(), ver, hash: "sha-1".into() }), None);
    }
}
