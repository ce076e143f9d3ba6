//! `/metrics`: the [`Stats`] snapshot as OpenMetrics text (prometheus-client), names
//! `jitsi_focus_*` with the meaning of Jicofo's `jitsi_jicofo_*` where one exists (README maps
//! them). A fresh registry per scrape: the loop's snapshot is the only state, so nothing here
//! can drift from `/stats`.

use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;

use crate::core::stats::Stats;

pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

fn gauge(registry: &mut Registry, name: &str, help: &str, value: u64) {
    let metric = Gauge::<i64>::default();
    metric.set(i64::try_from(value).unwrap_or(i64::MAX));
    registry.register(name, help, metric);
}

/// The scrape body.
pub fn render(stats: &Stats, healthy: bool) -> String {
    let mut registry = Registry::with_prefix("jitsi_focus");
    gauge(&mut registry, "healthy", "1 when /about/health answers 200", u64::from(healthy));
    gauge(&mut registry, "conferences", "Conferences, running or starting", stats.conferences);
    gauge(&mut registry, "participants", "Participants in all conferences", stats.participants);
    let mut text = String::new();
    encode(&mut text, &registry).expect("writing to a String cannot fail");
    text
}
