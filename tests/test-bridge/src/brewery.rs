//! The brewery room: the presences the bridge sends there, with JVB's
//! `<stats xmlns='http://jitsi.org/protocol/colibri'>` extension.

use minidom::Element;

use crate::switches::{HealthMode, Switches};
use crate::xml::{elem, ElementExt, NS_CLIENT, NS_COLIBRI, NS_MUC};

/// The load figures that go into the stats.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Load {
    pub conferences: usize,
    pub participants: usize,
}

/// Java's `Double.toString` for the values a test uses ("0.0", "0.85").
fn java_double(value: f64) -> String {
    if value.is_finite() {
        format!("{value:?}")
    } else if value.is_nan() {
        "NaN".to_string()
    } else if value > 0.0 {
        "Infinity".to_string()
    } else {
        "-Infinity".to_string()
    }
}

/// `(name, value)` of every stat, in the order JVB's shim writes the ones Jicofo reads.
pub fn stats(switches: &Switches, load: Load) -> Vec<(&'static str, String)> {
    let mut stats = vec![
        ("stress_level", java_double(switches.stress_level)),
        ("average_participant_stress", "0.01".to_string()),
        ("conferences", load.conferences.to_string()),
        ("participants", load.participants.to_string()),
        ("endpoints", load.participants.to_string()),
        ("local_endpoints", load.participants.to_string()),
        ("graceful_shutdown", switches.graceful_shutdown.to_string()),
        ("shutting_down", switches.shutting_down.to_string()),
        ("drain", switches.drain.to_string()),
        ("healthy", (switches.health == HealthMode::Healthy).to_string()),
        ("version", switches.version.clone()),
    ];
    if let Some(relay_id) = &switches.relay_id {
        stats.push(("relay_id", relay_id.clone()));
    }
    if let Some(release) = &switches.release {
        stats.push(("release", release.clone()));
    }
    if let Some(region) = &switches.region {
        stats.push(("region", region.clone()));
    }
    stats
}

/// `<stats xmlns='http://jitsi.org/protocol/colibri'><stat name value/>…</stats>`.
pub fn stats_element(switches: &Switches, load: Load) -> Element {
    stats(switches, load).into_iter().fold(elem("stats", NS_COLIBRI), |el, (name, value)| {
        el.with_child(elem("stat", NS_COLIBRI).with_attr("name", name).with_attr("value", value))
    })
}

/// The join: presence to `room/nick` with `<x xmlns='http://jabber.org/protocol/muc'/>` and stats.
pub fn join_presence(occupant: &str, stats: Element) -> Element {
    elem("presence", NS_CLIENT).with_attr("to", occupant).with_child(elem("x", NS_MUC)).with_child(stats)
}

/// A presence update while in the room (no MUC `<x/>`: that is for joining).
pub fn update_presence(occupant: &str, stats: Element) -> Element {
    elem("presence", NS_CLIENT).with_attr("to", occupant).with_child(stats)
}

/// The polite leave.
pub fn leave_presence(occupant: &str) -> Element {
    elem("presence", NS_CLIENT).with_attr("to", occupant).with_attr("type", "unavailable")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::to_xml;

    #[test]
    fn stats_carry_what_jicofo_reads() {
        let switches = Switches {
            stress_level: 0.85,
            drain: true,
            region: Some("eu-west".into()),
            relay_id: Some("relay-1".into()),
            release: Some("42".into()),
            health: HealthMode::Fail,
            ..Switches::default()
        };
        let el = stats_element(&switches, Load { conferences: 2, participants: 5 });
        let get = |name: &str| {
            el.children().find(|s| s.attr("name") == Some(name)).and_then(|s| s.attr("value")).map(str::to_string)
        };
        assert_eq!(get("stress_level").as_deref(), Some("0.85"));
        assert_eq!(get("conferences").as_deref(), Some("2"));
        assert_eq!(get("participants").as_deref(), Some("5"));
        assert_eq!(get("drain").as_deref(), Some("true"));
        assert_eq!(get("graceful_shutdown").as_deref(), Some("false"));
        assert_eq!(get("shutting_down").as_deref(), Some("false"));
        assert_eq!(get("healthy").as_deref(), Some("false"));
        assert_eq!(get("region").as_deref(), Some("eu-west"));
        assert_eq!(get("relay_id").as_deref(), Some("relay-1"));
        assert_eq!(get("release").as_deref(), Some("42"));
        assert_eq!(get("version").as_deref(), Some("2.3.0-test"));
        assert_eq!(java_double(0.0), "0.0");
        let join = join_presence("jvbbrewery@internal.meet.test/jvb-1", el);
        assert!(to_xml(&join).contains("<x xmlns='http://jabber.org/protocol/muc'/>"));
        assert!(!to_xml(&stats_element(&Switches::default(), Load::default())).contains("region"));
    }
}
