//! `[bridges]`: the video bridges' brewery, their health checks, how a bridge is chosen
//! (strategy, regions, stress) and how many may be known; with the checks on regions and
//! stress values that the bounds in `Config::validate` do not cover.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use xmpp_parsers::jid::BareJid;

use super::{key_error, ConfigError};

/// How a bridge is chosen for a participant (protocol.md §8.3).
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(rename_all = "lowercase")]
pub enum SelectionStrategy {
    /// One bridge per conference: the least loaded, in the first participant's region if any.
    #[default]
    Single,
    /// Bridges in each participant's region (or region group), more bridges under load.
    Region,
    /// Every participant on another bridge, for testing multi-bridge conferences.
    Split,
}

/// The video bridges (jitsi-videobridge): where they gather, how they are checked and chosen.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct BridgesConfig {
    /// The MUC the bridges join, e.g. `jvbbrewery@internal.auth.meet.example.com`. Without
    /// it (or empty) the focus knows no bridge, and conferences get no media.
    pub brewery: Option<String>,
    /// How often each bridge is sent a health check.
    #[serde(with = "humantime_serde")]
    pub health_interval: Duration,
    /// A health check not answered within this time is retried once, after half
    /// `health_interval`; a second silence makes the bridge non-operational.
    #[serde(with = "humantime_serde")]
    pub health_timeout: Duration,
    /// A bridge that failed is not chosen again for this long, and not before it passed a
    /// health check.
    #[serde(with = "humantime_serde")]
    pub failure_reset: Duration,
    /// A bridge whose stress (corrected for recent participants) reaches this is overloaded.
    pub stress_threshold: f64,
    /// Participants of one conference on one bridge before region-based selection looks for
    /// another bridge.
    pub max_participants_per_bridge: usize,
    pub strategy: SelectionStrategy,
    /// The region the focus runs in (region-based selection).
    pub local_region: Option<String>,
    /// Regions close to each other, e.g. `[["us-east", "us-west"], ["eu-central", "eu-west"]]`.
    pub region_groups: Vec<Vec<String>>,
    /// Bridges known at once: anyone who can join the brewery can add one.
    pub max_bridges: usize,
    /// Participants added to a bridge within this time count towards its stress before its
    /// reports show them.
    #[serde(with = "humantime_serde")]
    pub participant_rampup_interval: Duration,
    /// The stress one participant adds, for bridges that do not report their own.
    pub average_participant_stress: f64,
}

impl Default for BridgesConfig {
    fn default() -> Self {
        BridgesConfig {
            brewery: None,
            health_interval: Duration::from_secs(10),
            health_timeout: Duration::from_secs(15),
            failure_reset: Duration::from_secs(60),
            stress_threshold: 0.8,
            max_participants_per_bridge: 80,
            strategy: SelectionStrategy::Single,
            local_region: None,
            region_groups: Vec::new(),
            max_bridges: 256,
            participant_rampup_interval: Duration::from_secs(20),
            average_participant_stress: 0.01,
        }
    }
}

/// Regions named in `bridges.region_groups`, all groups together.
const MAX_REGIONS: usize = 1000;
/// Characters of a region name (as in bridge stats).
const MAX_REGION_NAME: usize = 256;

impl BridgesConfig {
    /// The brewery's JID; `None` when no brewery is configured. Valid once the configuration
    /// is loaded.
    pub fn brewery_jid(&self) -> Option<BareJid> {
        self.brewery.as_deref().filter(|b| !b.is_empty()).and_then(|b| b.parse().ok())
    }

    /// Checks what the number and duration bounds in `Config::validate` do not.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(brewery) = self.brewery.as_deref().filter(|b| !b.is_empty()) {
            let example = "must be the bridges' MUC as a bare JID, e.g. jvbbrewery@internal.auth.meet.example.com";
            match brewery.parse::<BareJid>() {
                Ok(jid) if jid.node().is_some() => {}
                _ => return Err(key_error("bridges.brewery", example)),
            }
        }
        let region_ok = |r: &String| !r.is_empty() && r.chars().count() <= MAX_REGION_NAME;
        if self.local_region.as_ref().is_some_and(|r| !region_ok(r)) {
            return Err(key_error("bridges.local_region", format!("must be 1 to {MAX_REGION_NAME} characters")));
        }
        let mut seen = std::collections::HashSet::new();
        for region in self.region_groups.iter().flatten() {
            if !region_ok(region) {
                return Err(key_error(
                    "bridges.region_groups",
                    format!("every region must be 1 to {MAX_REGION_NAME} characters"),
                ));
            }
            if !seen.insert(region) {
                return Err(key_error("bridges.region_groups", "a region is listed twice (in one group or in two)"));
            }
            if seen.len() > MAX_REGIONS {
                return Err(key_error("bridges.region_groups", format!("at most {MAX_REGIONS} regions in all")));
            }
        }
        // `contains` is false for NaN, which TOML can write (`nan`).
        for (key, value, low, high) in [
            ("bridges.stress_threshold", self.stress_threshold, 0.01, 1.0),
            ("bridges.average_participant_stress", self.average_participant_stress, 0.0, 1.0),
        ] {
            if !(low..=high).contains(&value) {
                return Err(key_error(key, format!("must be between {low} and {high}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{BridgesConfig, SelectionStrategy};
    use crate::config::tests::{load, MINIMAL};
    use crate::config::Config;

    #[test]
    fn bridges_have_their_documented_defaults_and_take_values() {
        let config = Config::from_toml(MINIMAL).unwrap();
        let b = &config.bridges;
        assert_eq!(b, &BridgesConfig::default());
        assert_eq!((b.brewery.as_deref(), b.brewery_jid()), (None, None));
        assert_eq!((b.health_interval, b.health_timeout), (Duration::from_secs(10), Duration::from_secs(15)));
        assert_eq!(
            (b.failure_reset, b.participant_rampup_interval),
            (Duration::from_secs(60), Duration::from_secs(20))
        );
        assert_eq!((b.stress_threshold, b.average_participant_stress), (0.8, 0.01));
        assert_eq!((b.max_participants_per_bridge, b.max_bridges), (80, 256));
        assert_eq!((b.strategy, b.local_region.as_deref()), (SelectionStrategy::Single, None));
        assert!(b.region_groups.is_empty());
        let toml = format!(
            "{MINIMAL}\n[bridges]\nbrewery = \"jvbbrewery@internal.auth.meet.test\"\nstrategy = \"region\"\nlocal_region = \"eu-west\"\nregion_groups = [[\"eu-west\", \"eu-central\"], [\"us-east\"]]\nstress_threshold = 0.9\nfailure_reset = \"0s\"\nmax_bridges = 16\n"
        );
        let b = Config::from_toml(&toml).unwrap().bridges;
        assert_eq!(b.brewery_jid().unwrap().to_string(), "jvbbrewery@internal.auth.meet.test");
        assert_eq!((b.strategy, b.local_region.as_deref()), (SelectionStrategy::Region, Some("eu-west")));
        assert_eq!(b.region_groups, [vec!["eu-west", "eu-central"], vec!["us-east"]]);
        assert_eq!((b.stress_threshold, b.failure_reset, b.max_bridges), (0.9, Duration::ZERO, 16));
        // An empty brewery (e.g. to switch it off from the environment) is no brewery.
        let empty = Config::from_toml(&format!("{MINIMAL}\n[bridges]\nbrewery = \"\"\n")).unwrap();
        assert_eq!(empty.bridges.brewery_jid(), None);
        assert!(Config::from_toml(&toml).unwrap().redacted_toml().contains("[bridges]"));
    }

    #[test]
    fn bridges_can_be_set_from_the_environment() {
        let config = load(
            MINIMAL,
            &[
                ("JITSI_FOCUS_BRIDGES__BREWERY", "jvbbrewery@internal.auth.meet.test"),
                ("JITSI_FOCUS_BRIDGES__REGION_GROUPS", "[[us-east, us-west], [eu]]"),
                ("JITSI_FOCUS_BRIDGES__STRATEGY", "split"),
                ("JITSI_FOCUS_BRIDGES__STRESS_THRESHOLD", "0.5"),
                ("JITSI_FOCUS_BRIDGES__HEALTH_INTERVAL", "5s"),
                ("JITSI_FOCUS_BRIDGES__MAX_BRIDGES", "3"),
            ],
        )
        .unwrap();
        let b = config.bridges;
        assert!(b.brewery_jid().is_some());
        assert_eq!(b.region_groups, [vec!["us-east", "us-west"], vec!["eu"]]);
        assert_eq!((b.strategy, b.stress_threshold), (SelectionStrategy::Split, 0.5));
        assert_eq!((b.health_interval, b.max_bridges), (Duration::from_secs(5), 3));
        let err = load(MINIMAL, &[("JITSI_FOCUS_BRIDGES__STRESS_THRESHOLD", "high")]).unwrap_err().to_string();
        assert!(err.starts_with("bridges.stress_threshold") && err.contains("JITSI_FOCUS_BRIDGES__STRESS_THRESHOLD"));
    }

    #[test]
    fn bad_bridge_settings_are_refused_by_key_without_their_value() {
        const MARK: &str = "zq7marker";
        for (line, key) in [
            ("brewery = \"zq7marker.meet.test\"", "bridges.brewery"),
            ("brewery = \"zq7marker@internal.meet.test/jvb\"", "bridges.brewery"),
            ("brewery = \"zq7marker@@x\"", "bridges.brewery"),
            ("stress_threshold = nan", "bridges.stress_threshold"),
            ("stress_threshold = inf", "bridges.stress_threshold"),
            ("stress_threshold = 0.0", "bridges.stress_threshold"),
            ("stress_threshold = 1.5", "bridges.stress_threshold"),
            ("average_participant_stress = -0.1", "bridges.average_participant_stress"),
            ("max_participants_per_bridge = 0", "bridges.max_participants_per_bridge"),
            ("max_bridges = 0", "bridges.max_bridges"),
            ("max_bridges = 10001", "bridges.max_bridges"),
            ("health_interval = \"0s\"", "bridges.health_interval"),
            ("health_interval = \"11m\"", "bridges.health_interval"),
            ("health_timeout = \"6m\"", "bridges.health_timeout"),
            ("failure_reset = \"2h\"", "bridges.failure_reset"),
            ("participant_rampup_interval = \"11m\"", "bridges.participant_rampup_interval"),
            ("local_region = \"\"", "bridges.local_region"),
            ("region_groups = [[\"zq7marker\", \"b\"], [\"zq7marker\"]]", "bridges.region_groups"),
            ("region_groups = [[\"\"]]", "bridges.region_groups"),
            ("strategy = \"zq7marker\"", "bridges.strategy"),
            ("strategy = \"Single\"", "bridges.strategy"),
            ("relays = true", "bridges.relays"),
        ] {
            let err = Config::from_toml(&format!("{MINIMAL}\n[bridges]\n{line}\n")).expect_err(line).to_string();
            assert!(err.starts_with(key) && !err.contains(MARK), "{line}: {err}");
        }
        let many: Vec<String> = (0..1001).map(|n| format!("\"r{n}\"")).collect();
        let toml = format!("{MINIMAL}\n[bridges]\nregion_groups = [[{}]]\n", many.join(", "));
        assert!(Config::from_toml(&toml).unwrap_err().to_string().starts_with("bridges.region_groups"));
        let err = Config::from_toml(&format!("{MINIMAL}\n[bridges]\nstress_threshold = 2.0\n")).unwrap_err();
        assert_eq!(err.to_string(), "bridges.stress_threshold: must be between 0.01 and 1");
    }
}
