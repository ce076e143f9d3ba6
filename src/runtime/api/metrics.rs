//! `/metrics`: the [`Stats`] snapshot as OpenMetrics text (prometheus-client), names
//! `jitsi_focus_*` with the meaning of Jicofo's `jitsi_jicofo_*` where one exists (README maps
//! them). A fresh registry per scrape: the loop's snapshot is the only state, so `/metrics`
//! cannot drift from `/stats`, and a scrape costs microseconds.

use std::sync::atomic::AtomicU64;

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::core::stats::{Stats, CONFERENCE_SIZE_BUCKETS, JINGLE_ACTIONS};

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

type Labels = Vec<(&'static str, String)>;

fn int(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

struct Metrics {
    registry: Registry,
}

impl Metrics {
    fn gauge(&mut self, name: &str, help: &str, value: u64) {
        let metric = Gauge::<i64>::default();
        metric.set(int(value));
        self.registry.register(name, help, metric);
    }

    fn counter(&mut self, name: &str, help: &str, value: u64) {
        let metric = Counter::<u64>::default();
        metric.inc_by(value);
        self.registry.register(name, help, metric);
    }

    fn gauges(&mut self, name: &str, help: &str, values: impl IntoIterator<Item = (Labels, u64)>) {
        let family = Family::<Labels, Gauge>::default();
        for (labels, value) in values {
            family.get_or_create(&labels).set(int(value));
        }
        self.registry.register(name, help, family);
    }

    fn counters(&mut self, name: &str, help: &str, values: impl IntoIterator<Item = (Labels, u64)>) {
        let family = Family::<Labels, Counter>::default();
        for (labels, value) in values {
            family.get_or_create(&labels).inc_by(value);
        }
        self.registry.register(name, help, family);
    }
}

/// The scrape body.
pub fn render(stats: &Stats, healthy: bool) -> String {
    let mut m = Metrics { registry: Registry::with_prefix("jitsi_focus") };
    let c = &stats.counters;
    m.gauge("healthy", "1 when /about/health answers 200", u64::from(healthy));
    m.gauge("draining", "1 while the focus drains before a stop (no new conferences)", u64::from(stats.draining));
    m.gauge(
        "component_connected",
        "1 while the component is connected to Prosody",
        u64::from(stats.component_connected),
    );
    m.gauge("conferences", "Conferences, starting or running", stats.conferences);
    m.gauge("conferences_starting", "Conferences not running yet (reservation, room join)", stats.conferences_starting);
    m.gauge("participants", "Participants in all conferences (Jicofo: participants_current)", stats.participants);
    m.gauge("largest_conference", "Participants of the largest conference", stats.largest_conference);
    m.gauge("participants_pairs", "Sum over conferences of n*(n-1)", stats.participant_pairs);
    let sizes = stats.conference_sizes.iter().enumerate().map(|(size, count)| {
        let label = if size + 1 == CONFERENCE_SIZE_BUCKETS { format!("{size}+") } else { size.to_string() };
        (vec![("size", label)], *count)
    });
    m.gauges("conference_sizes", "Conferences by participants (the last bucket: that many or more)", sizes);
    let jingle = &stats.jingle_sessions;
    let states = [("allocating", jingle.allocating), ("initiated", jingle.initiated), ("active", jingle.active)];
    m.gauges("jingle_sessions", "Jingle sessions by state", states.map(|(s, n)| (vec![("state", s.to_owned())], n)));
    m.gauge("sessions", "Sign-in sessions", stats.sessions);
    m.gauge("pending_reservation_deletes", "Reservations still to be deleted", stats.pending_reservation_deletes);
    m.gauge("brewery_joined", "1 while the focus is in the bridges' brewery room", u64::from(stats.brewery_joined));
    m.gauge("bridge_selector_bridge_count", "Bridges known", stats.bridge_count);
    m.gauge("bridge_selector_bridge_count_operational", "Bridges not failed", stats.operational_bridge_count);
    m.gauge("bridge_selector_bridge_count_in_shutdown", "Bridges shutting down", stats.in_shutdown_bridge_count);
    let by_bridge = |value: fn(&crate::core::stats::BridgeStats) -> u64| {
        stats.bridges.iter().map(move |b| (vec![("jvb", b.jid.clone())], value(b))).collect::<Vec<_>>()
    };
    m.gauges("bridge_endpoints", "Endpoints the focus allocated on each bridge", by_bridge(|b| b.endpoints));
    m.gauges("bridge_conferences", "Conferences with a session on each bridge", by_bridge(|b| b.conferences));
    m.gauges("bridge_operational", "1 while a bridge is not failed", by_bridge(|b| u64::from(b.operational)));
    let stress = Family::<Labels, Gauge<f64, AtomicU64>>::default();
    for bridge in &stats.bridges {
        stress.get_or_create(&vec![("jvb", bridge.jid.clone())]).set(bridge.stress);
    }
    m.registry.register("bridge_stress", "The stress each bridge last reported", stress);

    m.counter("conference_requests", "Conference requests (XMPP and HTTP)", c.conference_requests);
    m.counter(
        "conference_requests_new",
        "Conference requests for a room with no conference",
        c.conference_requests_new,
    );
    m.counter("conference_requests_errors", "Conference requests answered with an error", c.conference_requests_errors);
    m.counter("conferences_created", "Conferences that went live", c.conferences_created);
    m.counter("participants_joined", "Participants that joined (Jicofo: participants)", c.participants_joined);
    m.counter("participants_moved", "Participants re-invited on another bridge session", c.participants_moved);
    m.counter("bridges_removed", "Bridge sessions conferences dropped", c.bridges_removed);
    m.counter("bridge_selector_lost_bridges", "Bridges that left without a shutdown", stats.lost_bridges);
    m.counter("participants_ice_failed", "ICE failures participants reported", c.participants_ice_failed);
    m.counter(
        "participants_restart_requested",
        "Session restarts participants asked for",
        c.participants_restart_requested,
    );
    m.counter("xmpp_disconnects", "Component link losses", c.component_disconnects);
    m.counter("component_reconnects", "Component links re-established", c.component_reconnects);
    let calls = &c.reservation_calls;
    let outcomes = [
        ("allowed", calls.allowed),
        ("refused", calls.refused),
        ("conflict", calls.conflict),
        ("failed", calls.failed),
    ];
    m.counters(
        "reservation_calls",
        "Reservation API answers by outcome",
        outcomes.map(|(o, n)| (vec![("outcome", o.to_owned())], n)),
    );
    // Every action appears, zero or not, so that rate() works from the first scrape.
    let actions = |map: &std::collections::BTreeMap<&'static str, u64>| {
        JINGLE_ACTIONS.map(|a| (vec![("action", a.to_owned())], map.get(a).copied().unwrap_or(0)))
    };
    m.counters("jingle_sent", "Jingle IQs sent, by action", actions(&c.jingle_sent));
    m.counters("jingle_received", "Jingle IQs received, by action", actions(&c.jingle_received));
    let mut text = String::new();
    encode(&mut text, &m.registry).expect("writing to a String cannot fail");
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> Option<f64> {
        scrape.samples.iter().find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v))).map(
            |s| match s.value {
                prometheus_parse::Value::Counter(v) | prometheus_parse::Value::Gauge(v) => v,
                prometheus_parse::Value::Untyped(v) => v,
                _ => f64::NAN,
            },
        )
    }

    #[test]
    fn the_snapshot_renders_as_prometheus_text_with_jicofo_names() {
        let mut stats = Stats { conferences: 3, participants: 7, largest_conference: 4, ..Stats::default() };
        stats.conference_sizes = vec![0; CONFERENCE_SIZE_BUCKETS];
        stats.conference_sizes[4] = 1;
        stats.counters.conferences_created = 11;
        stats.counters.reservation_calls.refused = 2;
        stats.counters.jingle_sent.insert("session-initiate", 5);
        stats.bridges.push(crate::core::stats::BridgeStats {
            jid: "jvbbrewery@internal.meet.test/jvb-1".into(),
            endpoints: 6,
            stress: 0.25,
            ..Default::default()
        });
        let text = render(&stats, true);
        assert!(text.ends_with("# EOF\n"), "{text}");
        let scrape = prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_owned()))).unwrap();
        assert_eq!(sample(&scrape, "jitsi_focus_conferences", None), Some(3.0));
        assert_eq!(sample(&scrape, "jitsi_focus_participants", None), Some(7.0));
        assert_eq!(sample(&scrape, "jitsi_focus_healthy", None), Some(1.0));
        assert_eq!(sample(&scrape, "jitsi_focus_conferences_created_total", None), Some(11.0));
        assert_eq!(sample(&scrape, "jitsi_focus_reservation_calls_total", Some(("outcome", "refused"))), Some(2.0));
        assert_eq!(sample(&scrape, "jitsi_focus_jingle_sent_total", Some(("action", "session-initiate"))), Some(5.0));
        assert_eq!(sample(&scrape, "jitsi_focus_jingle_received_total", Some(("action", "source-add"))), Some(0.0));
        assert_eq!(sample(&scrape, "jitsi_focus_conference_sizes", Some(("size", "4"))), Some(1.0));
        assert_eq!(sample(&scrape, "jitsi_focus_conference_sizes", Some(("size", "21+"))), Some(0.0));
        let jvb = ("jvb", "jvbbrewery@internal.meet.test/jvb-1");
        assert_eq!(sample(&scrape, "jitsi_focus_bridge_endpoints", Some(jvb)), Some(6.0));
        assert_eq!(sample(&scrape, "jitsi_focus_bridge_stress", Some(jvb)), Some(0.25));
    }

    #[test]
    fn readme_lists_exactly_the_metrics_rendered() {
        let readme = include_str!("../../../README.md");
        let section = readme.split("### Metrics").nth(1).unwrap().split("\n## ").next().unwrap();
        let documented: std::collections::BTreeSet<String> = section
            .split('`')
            .filter(|s| s.starts_with("jitsi_focus_"))
            .map(|s| s.split('{').next().unwrap().to_owned())
            .collect();
        // Families without series print nothing: give each one.
        let mut stats = Stats { conference_sizes: vec![1; CONFERENCE_SIZE_BUCKETS], ..Stats::default() };
        stats.bridges.push(crate::core::stats::BridgeStats::default());
        let text = render(&stats, false);
        let rendered: std::collections::BTreeSet<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("# TYPE "))
            .map(|l| {
                let (name, kind) = l.split_once(' ').unwrap();
                if kind == "counter" {
                    format!("{name}_total")
                } else {
                    name.to_owned()
                }
            })
            .collect();
        assert_eq!(documented, rendered, "README's metrics table and /metrics differ");
    }
}
