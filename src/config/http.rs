//! `[http]`: the HTTP API operators and load balancers use (health, version, statistics,
//! Prometheus metrics, debug state) and the HTTP form of the conference request. Jicofo's
//! REST port is 127.0.0.1:8888; ours is the same so that proxies and probes carry over.

use std::net::SocketAddr;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::{key_error, ConfigError};
use crate::http_serve::Limits;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HttpConfig {
    /// Serve the HTTP API at all.
    pub enabled: bool,
    /// Address and port. Loopback by default: only `/conference-request/v1` is meant for
    /// browsers, through the web server's reverse proxy.
    pub bind: SocketAddr,
    /// `GET /about/health`.
    pub health: bool,
    /// `GET /debug` and `/debug/conference/{room}`: participants' JIDs and sources, so off
    /// unless an operator turns it on.
    pub debug: bool,
    /// `POST /conference-request/v1`, the conference request of lib-jitsi-meet's
    /// `conferenceRequestUrl`.
    pub conference_request: bool,
    /// Connections served at once; more wait in the kernel's backlog.
    pub max_connections: usize,
    /// Time a client may take to send a request's headers (or sit idle between requests).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// Longest time one request may take; then 408. It must exceed
    /// `conference.request_timeout`, which a conference request may wait.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest request body (a conference request is well under 1 KiB).
    pub max_body_bytes: usize,
}

impl Default for HttpConfig {
    fn default() -> Self {
        HttpConfig {
            enabled: true,
            bind: SocketAddr::from(([127, 0, 0, 1], 8888)),
            health: true,
            debug: false,
            conference_request: true,
            max_connections: 256,
            header_read_timeout: Duration::from_secs(10),
            request_timeout: Duration::from_secs(30),
            max_body_bytes: 16 * 1024,
        }
    }
}

impl HttpConfig {
    pub fn limits(&self) -> Limits {
        Limits {
            max_connections: self.max_connections,
            header_read_timeout: self.header_read_timeout,
            request_timeout: self.request_timeout,
            max_body_bytes: self.max_body_bytes,
        }
    }

    pub(super) fn validate(&self, conference_request_timeout: Duration) -> Result<(), ConfigError> {
        if !(1..=100_000).contains(&self.max_connections) {
            return Err(key_error("http.max_connections", "must be between 1 and 100000"));
        }
        if !(256..=16 << 20).contains(&self.max_body_bytes) {
            return Err(key_error("http.max_body_bytes", "must be between 256 and 16777216"));
        }
        let s = Duration::from_secs;
        if self.header_read_timeout < s(1) || self.header_read_timeout > s(300) {
            return Err(key_error("http.header_read_timeout", "must be between 1s and 5m"));
        }
        if self.request_timeout < s(1) || self.request_timeout > s(600) {
            return Err(key_error("http.request_timeout", "must be between 1s and 10m"));
        }
        if self.conference_request && self.request_timeout <= conference_request_timeout {
            return Err(key_error(
                "http.request_timeout",
                "must be longer than conference.request_timeout (a conference request may wait that long)",
            ));
        }
        Ok(())
    }
}
