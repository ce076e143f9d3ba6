//! The bridges' MUC, the "brewery" (protocol.md §8.1–8.2): the statistics each
//! jitsi-videobridge publishes in its presence there, and the health-check IQ the focus sends
//! to a bridge's occupant JID.
//!
//! Anyone who can join the brewery can send anything as stats, so every value is checked:
//! texts are cut to [`MAX_STAT_TEXT`] characters, numbers that are not finite are ignored,
//! stress is kept within `0..=`[`MAX_STRESS`].

use minidom::Element;
use xmpp_parsers::jid::FullJid;
use xmpp_parsers::stanza_error::{DefinedCondition, StanzaError};

use super::build::{elem, ElementExt};
use super::ns;

/// Characters kept of a text stat (version, release, region, relay id).
pub const MAX_STAT_TEXT: usize = 256;
/// Highest stress kept. A loaded bridge reports a little over 1; this only keeps a hostile
/// value from swamping the ramp-up arithmetic.
pub const MAX_STRESS: f64 = 1000.0;

/// What a bridge's `<stats xmlns='http://jitsi.org/protocol/colibri'>` says that matters for
/// choosing and trusting it. `None` (or `false` for the sticky flags) means "not said in this
/// presence": the registry keeps what an earlier presence said, as Jicofo does.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct BridgeStats {
    /// `stress_level`: load, 0 idle, about 1 full (may exceed 1).
    pub stress_level: Option<f64>,
    /// `average_participant_stress`: what one more participant adds to the stress.
    pub average_participant_stress: Option<f64>,
    /// `graceful_shutdown=true`: finishing its conferences, should get no new ones.
    pub graceful_shutdown: bool,
    /// `shutting_down=true`: about to stop; its participants must be moved now.
    pub shutting_down: bool,
    /// `drain`: the operator asked it to take no new conferences.
    pub drain: Option<bool>,
    pub version: Option<String>,
    pub release: Option<String>,
    pub region: Option<String>,
    /// Needed to connect it to other bridges of a conference (relays, not implemented yet).
    pub relay_id: Option<String>,
    /// The bridge's own health verdict (only used by Jicofo's presence-based health mode).
    pub healthy: Option<bool>,
}

impl BridgeStats {
    /// The stats of a brewery occupant's presence; `None` when it carries no `<stats>`, i.e.
    /// the occupant is not a bridge (Jicofo ignores such occupants).
    pub fn from_presence(presence: &Element) -> Option<BridgeStats> {
        presence.get_child("stats", ns::COLIBRI).map(BridgeStats::parse)
    }

    /// Reads a `<stats>` element. Unknown stats are ignored; when a name repeats, the last one
    /// counts; malformed values count as absent.
    pub fn parse(stats: &Element) -> BridgeStats {
        let mut parsed = BridgeStats::default();
        for stat in stats.children().filter(|c| c.is("stat", ns::COLIBRI)) {
            let (Some(name), Some(value)) = (stat.attr("name"), stat.attr("value")) else { continue };
            let value = value.trim();
            match name {
                "stress_level" => parsed.stress_level = number(value, MAX_STRESS),
                "average_participant_stress" => parsed.average_participant_stress = number(value, 1.0),
                "graceful_shutdown" => parsed.graceful_shutdown = boolean(value) == Some(true),
                "shutting_down" => parsed.shutting_down = boolean(value) == Some(true),
                "drain" => parsed.drain = boolean(value),
                "version" => parsed.version = text(value),
                "release" => parsed.release = text(value),
                "region" => parsed.region = text(value),
                "relay_id" => parsed.relay_id = text(value),
                "healthy" => parsed.healthy = boolean(value),
                _ => {}
            }
        }
        parsed
    }

    /// The `<stats>` element saying what is set here, in the form JVB sends it.
    pub fn to_element(&self) -> Element {
        let stats = [
            ("stress_level", self.stress_level.map(|v| v.to_string())),
            ("average_participant_stress", self.average_participant_stress.map(|v| v.to_string())),
            ("graceful_shutdown", Some(self.graceful_shutdown.to_string())),
            ("shutting_down", Some(self.shutting_down.to_string())),
            ("drain", self.drain.map(|v| v.to_string())),
            ("healthy", self.healthy.map(|v| v.to_string())),
            ("version", self.version.clone()),
            ("release", self.release.clone()),
            ("region", self.region.clone()),
            ("relay_id", self.relay_id.clone()),
        ];
        stats.into_iter().filter_map(|(name, value)| Some((name, value?))).fold(
            elem("stats", ns::COLIBRI),
            |stats, (name, value)| {
                stats.with_child(elem("stat", ns::COLIBRI).with_attr("name", name).with_attr("value", value))
            },
        )
    }
}

/// A finite number, raised to 0 and lowered to `max`. NaN and infinities carry no usable
/// meaning: ignored.
fn number(value: &str, max: f64) -> Option<f64> {
    value.parse::<f64>().ok().filter(|v| v.is_finite()).map(|v| v.clamp(0.0, max))
}

/// `true`/`false` in any case; anything else is not a boolean (Java's `parseBoolean` would
/// read it as `false`, which for `drain` would wrongly make a bridge look available).
fn boolean(value: &str) -> Option<bool> {
    match value {
        v if v.eq_ignore_ascii_case("true") => Some(true),
        v if v.eq_ignore_ascii_case("false") => Some(false),
        _ => None,
    }
}

/// A non-empty text, cut to `MAX_STAT_TEXT` characters.
fn text(value: &str) -> Option<String> {
    Some(value.chars().take(MAX_STAT_TEXT).collect::<String>()).filter(|v| !v.is_empty())
}

/// The payload of a health check: `<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>`.
pub fn health_check_payload() -> Element {
    elem("healthcheck", ns::HEALTHCHECK)
}

/// The health-check IQ (type `get`) to a bridge's brewery occupant JID.
pub fn health_check_request(id: &str, from: &FullJid, to: &FullJid) -> Element {
    elem("iq", ns::STREAM)
        .with_attr("type", "get")
        .with_attr("id", id)
        .with_attr("from", from.to_string())
        .with_attr("to", to.to_string())
        .with_child(health_check_payload())
}

/// A bridge's answer to a health check.
#[derive(Debug, Clone, PartialEq)]
pub enum HealthOutcome {
    /// `type='result'`: the bridge is healthy.
    Healthy,
    /// `type='error'` with this condition. `internal-server-error` and `service-unavailable`
    /// mean unhealthy; other conditions are not a verdict on the bridge. An error whose
    /// condition cannot be read is `undefined-condition`.
    Error(DefinedCondition),
}

impl HealthOutcome {
    /// Reads an IQ response; `None` when the stanza is not one (a request, or no IQ at all).
    pub fn from_response(iq: &Element) -> Option<HealthOutcome> {
        if iq.name() != "iq" {
            return None;
        }
        match iq.attr("type")? {
            "result" => Some(HealthOutcome::Healthy),
            "error" => {
                let condition = iq
                    .get_child("error", ns::STREAM)
                    .and_then(|error| StanzaError::try_from(error.clone()).ok())
                    .map_or(DefinedCondition::UndefinedCondition, |error| error.defined_condition);
                Some(HealthOutcome::Error(condition))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The start of a JVB 2.3.x brewery presence as Jicofo logged it (docker-jitsi-meet issue
    /// #2008) and the end of another (issue #1965), joined; counters between are left out.
    /// Its namespace is the component stream's, as Prosody delivers it to a component.
    const JVB_PRESENCE: &str = "<presence xmlns='jabber:component:accept' xml:lang='en-US' to='focus@auth.meet.jitsi/focus' from='jvbbrewery@internal-muc.meet.jitsi/f1969b946771'><priority>0</priority><stats xmlns='http://jitsi.org/protocol/colibri'><stat name='incoming_loss' value='0.0'/><stat name='outgoing_loss' value='0.0'/><stat name='overall_loss' value='0.0'/><stat name='bit_rate_download' value='0'/><stat name='packet_rate_download' value='0'/><stat name='endpoints' value='0'/><stat name='participants' value='0'/><stat name='total_video_stream_milliseconds_received' value='0'/><stat name='stress_level' value='0.0'/><stat name='conferences' value='0'/><stat name='visitors' value='0'/><stat name='local_endpoints' value='0'/><stat name='total_ice_succeeded_relayed' value='0'/><stat name='average_participant_stress' value='0.01'/><stat name='threads' value='7'/><stat name='graceful_shutdown' value='false'/><stat name='shutting_down' value='false'/><stat name='drain' value='false'/><stat name='current_timestamp' value='2024-11-13 08:31:31.771'/><stat name='muc_clients_configured' value='0'/><stat name='mucs_joined' value='0'/><stat name='endpoints_with_spurious_remb' value='0'/><stat name='healthy' value='true'/><stat name='endpoints_disconnected' value='0'/><stat name='endpoints_reconnected' value='0'/><stat name='version' value='2.3.174-gd011ddf7'/></stats><c xmlns='http://jabber.org/protocol/caps' hash='sha-1' node='https://igniterealtime.org/projects/smack' ver='V78g62DrlQFfgmPEo5t0m/hyx4w='/><occupant-id xmlns='urn:xmpp:occupant-id:0' id='vMKebMy0hDD4vZU0R+EtYPpZrcD0NWKskebVwlphY7M='></occupant-id><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='owner' jid='jvb@auth.meet.jitsi/Bew_IyrpurLH' role='moderator'></item></x></presence>";

    /// The stats JVB adds with relays, a region and a release configured (names as in JVB's
    /// `VideobridgeStatisticsShim`, values invented), in a bridge under load and shutting down.
    const RELAY_STATS: &str = "<stats xmlns='http://jitsi.org/protocol/colibri'><stat name='stress_level' value='0.4321'/><stat name='average_participant_stress' value='0.005'/><stat name='graceful_shutdown' value='true'/><stat name='shutting_down' value='true'/><stat name='drain' value='true'/><stat name='relay_id' value='jvb-eu-1'/><stat name='version' value='2.3.215-gbee626bf'/><stat name='release' value='9909'/><stat name='region' value='eu-central'/></stats>";

    fn xml(text: &str) -> Element {
        text.parse().unwrap_or_else(|e| panic!("{e}: {text}"))
    }

    #[test]
    fn a_captured_jvb_presence_is_read() {
        let stats = BridgeStats::from_presence(&xml(JVB_PRESENCE)).unwrap();
        assert_eq!(
            stats,
            BridgeStats {
                stress_level: Some(0.0),
                average_participant_stress: Some(0.01),
                graceful_shutdown: false,
                shutting_down: false,
                drain: Some(false),
                version: Some("2.3.174-gd011ddf7".into()),
                release: None,
                region: None,
                relay_id: None,
                healthy: Some(true),
            }
        );
    }

    #[test]
    fn relay_region_release_and_shutdown_are_read() {
        let stats = BridgeStats::parse(&xml(RELAY_STATS));
        assert_eq!(stats.stress_level, Some(0.4321));
        assert_eq!(stats.average_participant_stress, Some(0.005));
        assert!(stats.graceful_shutdown && stats.shutting_down);
        assert_eq!(stats.drain, Some(true));
        assert_eq!(stats.relay_id.as_deref(), Some("jvb-eu-1"));
        assert_eq!(stats.release.as_deref(), Some("9909"));
        assert_eq!(stats.region.as_deref(), Some("eu-central"));
        assert_eq!(stats.healthy, None);
    }

    #[test]
    fn stats_round_trip_through_xml() {
        for original in [BridgeStats::parse(&xml(RELAY_STATS)), BridgeStats::from_presence(&xml(JVB_PRESENCE)).unwrap()]
        {
            let serialised = String::from(&original.to_element());
            assert_eq!(BridgeStats::parse(&xml(&serialised)), original, "{serialised}");
        }
        assert_eq!(BridgeStats::parse(&BridgeStats::default().to_element()), BridgeStats::default());
    }

    #[test]
    fn an_occupant_without_stats_is_not_a_bridge() {
        let presence = "<presence xmlns='jabber:component:accept' from='jvbbrewery@internal.auth.meet.test/jicofo'><stats xmlns='urn:other'/></presence>";
        assert_eq!(BridgeStats::from_presence(&xml(presence)), None);
    }

    fn stats_of(pairs: &[(&str, &str)]) -> BridgeStats {
        let stats = pairs.iter().fold(elem("stats", ns::COLIBRI), |stats, (name, value)| {
            stats.with_child(elem("stat", ns::COLIBRI).with_attr("name", *name).with_attr("value", *value))
        });
        BridgeStats::parse(&stats)
    }

    #[test]
    fn hostile_numbers_are_ignored_or_clamped() {
        for bad in ["NaN", "nan", "inf", "-inf", "infinity", "1e999", "", "0.5.5", "0x10", "high"] {
            let stats = stats_of(&[("stress_level", bad), ("average_participant_stress", bad)]);
            assert_eq!((stats.stress_level, stats.average_participant_stress), (None, None), "{bad:?}");
        }
        let stats = stats_of(&[("stress_level", "-3"), ("average_participant_stress", "-0.1")]);
        assert_eq!((stats.stress_level, stats.average_participant_stress), (Some(0.0), Some(0.0)));
        let stats = stats_of(&[("stress_level", "1e300"), ("average_participant_stress", "7")]);
        assert_eq!((stats.stress_level, stats.average_participant_stress), (Some(MAX_STRESS), Some(1.0)));
        assert_eq!(stats_of(&[("stress_level", " 1.25 ")]).stress_level, Some(1.25));
    }

    #[test]
    fn hostile_texts_and_flags_are_bounded_or_ignored() {
        let long = "r".repeat(100_000);
        let stats = stats_of(&[("region", &long), ("version", ""), ("drain", "yes"), ("healthy", "1")]);
        assert_eq!(stats.region.unwrap().chars().count(), MAX_STAT_TEXT);
        assert_eq!((stats.version, stats.drain, stats.healthy), (None, None, None));
        let stats = stats_of(&[("graceful_shutdown", "TRUE"), ("shutting_down", "maybe"), ("drain", "False")]);
        assert!(stats.graceful_shutdown && !stats.shutting_down);
        assert_eq!(stats.drain, Some(false));
    }

    #[test]
    fn duplicates_last_wins_unknown_and_malformed_stats_are_skipped() {
        let stats =
            stats_of(&[("stress_level", "0.1"), ("drain", "true"), ("stress_level", "0.7"), ("drain", "false")]);
        assert_eq!((stats.stress_level, stats.drain), (Some(0.7), Some(false)));
        let odd = "<stats xmlns='http://jitsi.org/protocol/colibri'><stat name='stress_level'/><stat value='0.9'/><stat xmlns='urn:x' name='stress_level' value='0.9'/><stat name='conferences' value='7'/><stat name='region' value='us'><stat name='region' value='nested'/></stat></stats>";
        let stats = BridgeStats::parse(&xml(odd));
        assert_eq!(stats, BridgeStats { region: Some("us".into()), ..BridgeStats::default() });
    }

    #[test]
    fn health_check_request_is_what_jvb_expects() {
        let from: FullJid = "focus.meet.test/focus".parse().unwrap();
        let to: FullJid = "jvbbrewery@internal.auth.meet.test/jvb-1".parse().unwrap();
        let iq = health_check_request("hc-1", &from, &to);
        let again = xml(&String::from(&iq));
        assert_eq!((again.attr("type"), again.attr("id")), (Some("get"), Some("hc-1")));
        assert_eq!(again.attr("to"), Some("jvbbrewery@internal.auth.meet.test/jvb-1"));
        let payload = again.get_child("healthcheck", ns::HEALTHCHECK).expect("payload");
        assert_eq!(payload.children().count() + payload.attrs().into_iter().count(), 0);
    }

    #[test]
    fn health_answers_are_read() {
        let answer = |inner: &str| HealthOutcome::from_response(&xml(inner));
        assert_eq!(
            answer("<iq xmlns='jabber:component:accept' type='result' id='hc-1'/>"),
            Some(HealthOutcome::Healthy)
        );
        // JVB's answer when its own check failed (jicofo issue #1143).
        let failed = "<iq xmlns='jabber:component:accept' type='error' id='hc-1'><error type='cancel'><internal-server-error xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas' xml:lang='en'>Performing a health check took too long: PT3.512705S</text></error></iq>";
        assert_eq!(answer(failed), Some(HealthOutcome::Error(DefinedCondition::InternalServerError)));
        let unavailable = "<iq xmlns='jabber:component:accept' type='error'><error type='cancel'><service-unavailable xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>";
        assert_eq!(answer(unavailable), Some(HealthOutcome::Error(DefinedCondition::ServiceUnavailable)));
        let garbled = "<iq xmlns='jabber:component:accept' type='error'><error><what/></error></iq>";
        assert_eq!(answer(garbled), Some(HealthOutcome::Error(DefinedCondition::UndefinedCondition)));
        assert_eq!(
            answer("<iq xmlns='jabber:component:accept' type='error'/>"),
            Some(HealthOutcome::Error(DefinedCondition::UndefinedCondition))
        );
        assert_eq!(answer("<iq xmlns='jabber:component:accept' type='get'/>"), None);
        assert_eq!(answer("<message xmlns='jabber:component:accept' type='result'/>"), None);
    }
}
