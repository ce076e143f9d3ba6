//! Failure switches and the values the bridge advertises: set at start (CLI flags or
//! [`crate::TestBridgeConfig::switches`]) and flipped at runtime through [`crate::TestBridge`].
//! Any change is advertised at once (a new brewery presence), as JVB does on a state change.

use std::fmt;
use std::str::FromStr;

/// How the bridge answers `<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum HealthMode {
    /// An empty `result` (JVB healthy).
    #[default]
    Healthy,
    /// `internal-server-error` with a text, as JVB answers when its own health check failed.
    Fail,
    /// No answer at all (a hung bridge).
    Timeout,
}

impl FromStr for HealthMode {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "healthy" | "ok" => Ok(HealthMode::Healthy),
            "fail" | "error" => Ok(HealthMode::Fail),
            "timeout" | "none" => Ok(HealthMode::Timeout),
            other => Err(format!("unknown health mode {other:?} (healthy, fail, timeout)")),
        }
    }
}

/// How the bridge answers Colibri2 `conference-modify` requests.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum ColibriMode {
    /// As JVB does (the Colibri2 state machine).
    #[default]
    Normal,
    /// Every request gets this error, e.g. `service-unavailable` with reason `graceful_shutdown`.
    Error(ColibriFailure),
    /// Requests are never answered.
    NoAnswer,
}

/// A configured Colibri2 error: stanza condition, optional `<error xmlns='jitsi:colibri2'
/// reason>` and optional text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColibriFailure {
    pub condition: String,
    pub reason: Option<String>,
    pub text: Option<String>,
}

impl ColibriFailure {
    pub fn new(condition: &str, reason: Option<&str>) -> Self {
        ColibriFailure { condition: condition.to_string(), reason: reason.map(str::to_string), text: None }
    }
}

/// `CONDITION[:REASON]`, e.g. `service-unavailable:graceful_shutdown` or `internal-server-error`.
impl FromStr for ColibriFailure {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (condition, reason) = match s.split_once(':') {
            Some((c, r)) => (c, Some(r)),
            None => (s, None),
        };
        if condition.is_empty() {
            return Err("empty error condition".into());
        }
        Ok(ColibriFailure::new(condition, reason.filter(|r| !r.is_empty())))
    }
}

impl fmt::Display for ColibriFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.reason {
            Some(reason) => write!(f, "{}:{}", self.condition, reason),
            None => f.write_str(&self.condition),
        }
    }
}

/// Everything a test can flip. The defaults are a healthy, idle bridge in the brewery.
#[derive(Debug, Clone, PartialEq)]
pub struct Switches {
    pub health: HealthMode,
    pub colibri: ColibriMode,
    /// In the brewery room. `false` leaves it politely (unavailable presence); `true` joins again.
    pub in_brewery: bool,
    /// Stat `drain`.
    pub drain: bool,
    /// Stat `graceful_shutdown`; also makes conference creation fail with `service-unavailable`
    /// reason `graceful_shutdown`, as JVB does.
    pub graceful_shutdown: bool,
    /// Stat `shutting_down`.
    pub shutting_down: bool,
    /// Stat `stress_level`.
    pub stress_level: f64,
    /// Stat `region` (absent when `None`).
    pub region: Option<String>,
    /// Stat `version`.
    pub version: String,
    /// Stat `release` (absent when `None`).
    pub release: Option<String>,
    /// Stat `relay_id` (absent when `None`, as JVB without relays).
    pub relay_id: Option<String>,
}

impl Default for Switches {
    fn default() -> Self {
        Switches {
            health: HealthMode::Healthy,
            colibri: ColibriMode::Normal,
            in_brewery: true,
            drain: false,
            graceful_shutdown: false,
            shutting_down: false,
            stress_level: 0.0,
            region: None,
            version: "2.3.0-test".to_string(),
            release: None,
            relay_id: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_from_cli_strings() {
        assert_eq!("fail".parse::<HealthMode>(), Ok(HealthMode::Fail));
        assert_eq!("timeout".parse::<HealthMode>(), Ok(HealthMode::Timeout));
        assert!("x".parse::<HealthMode>().is_err());
        let failure: ColibriFailure = "service-unavailable:graceful_shutdown".parse().unwrap();
        assert_eq!(failure, ColibriFailure::new("service-unavailable", Some("graceful_shutdown")));
        assert_eq!(failure.to_string(), "service-unavailable:graceful_shutdown");
        let plain: ColibriFailure = "internal-server-error".parse().unwrap();
        assert_eq!(plain.reason, None);
        assert!("".parse::<ColibriFailure>().is_err());
    }
}
