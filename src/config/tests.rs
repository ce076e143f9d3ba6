//! Tests of the configuration as a whole: defaults, unknown keys and bad values named, the
//! shipped example and README documenting every key, redaction. Also the fixtures the section
//! modules' tests share.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use super::*;

pub(super) const MINIMAL: &str = r#"
        [xmpp]
        component = "focus.meet.test"
        secret = "s3cret"
        muc_domain = "conference.meet.test"
    "#;

pub(super) const NO_SECRET: &str = r#"
        [xmpp]
        component = "focus.meet.test"
        muc_domain = "conference.meet.test"
    "#;

pub(super) fn vars(pairs: &[(&str, &str)]) -> Vec<(OsString, OsString)> {
    pairs.iter().map(|(k, v)| (OsString::from(k), OsString::from(v))).collect()
}

/// Loads `toml` from a temporary file with the given environment.
pub(super) fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("focus.toml");
    std::fs::write(&path, toml).unwrap();
    Config::load_with_env(&path, true, vars(env))
}

#[test]
fn minimal_file_gets_defaults() {
    let config = Config::from_toml(MINIMAL).unwrap();
    assert_eq!(config.xmpp.port, 5347);
    assert_eq!(config.conference.initial_timeout, Duration::from_secs(15));
    assert!(!config.reservation.enabled);
}

#[test]
fn unknown_key_is_named() {
    let err = Config::from_toml(&format!("{MINIMAL}\nsecrett = 1")).unwrap_err().to_string();
    assert!(err.contains("secrett"), "{err}");
}

#[test]
fn bad_value_is_named() {
    let err = Config::from_toml(&MINIMAL.replace("[xmpp]", "[xmpp]\nport = 99999")).unwrap_err().to_string();
    assert!(err.contains("port"), "{err}");
    let err = Config::from_toml(&format!("{MINIMAL}\n[reservation]\ntimeout = \"ten\"")).unwrap_err().to_string();
    assert!(err.contains("timeout"), "{err}");
}

#[test]
fn absurd_durations_are_named() {
    let err = Config::from_toml(&format!("{MINIMAL}\n[auth]\nsession_lifetime = \"500years\"")).unwrap_err();
    assert!(err.to_string().starts_with("auth.session_lifetime"), "{err}");
}

#[test]
fn missing_secret_is_named() {
    let err = Config::from_toml(&MINIMAL.replace("secret = \"s3cret\"", "")).unwrap_err().to_string();
    assert!(err.starts_with("xmpp.secret"), "{err}");
}

#[test]
fn the_shipped_example_is_valid_once_the_secret_is_given() {
    let example = include_str!("../../config/jitsi-focus.toml");
    let err = Config::from_toml(example).unwrap_err().to_string();
    assert!(err.starts_with("xmpp.secret"), "{err}");
    let with_secret = example.replace("# secret = \"change-me\"", "secret = \"s\"");
    let config = Config::from_toml(&with_secret).unwrap();
    assert_eq!(config.xmpp.component, "focus.meet.example.com");
    let enabled = with_secret.replace("enabled = false", "enabled = true");
    assert!(Config::from_toml(&enabled).unwrap().reservation.enabled);
}

#[test]
fn absurd_values_are_refused_by_key() {
    for (section, line, key) in [
        ("xmpp", "port = 0", "xmpp.port"),
        ("xmpp", "keepalive = \"0s\"", "xmpp.keepalive"),
        ("xmpp", "write_timeout = \"500ms\"", "xmpp.write_timeout"),
        ("xmpp", "write_timeout = \"6m\"", "xmpp.write_timeout"),
        ("reservation", "retries = 11", "reservation.retries"),
        ("reservation", "retry_delay = \"5ms\"", "reservation.retry_delay"),
        ("reservation", "retry_delay = \"301s\"", "reservation.retry_delay"),
        ("reservation", "timeout = \"0s\"", "reservation.timeout"),
        ("reservation", "max_concurrent_calls = 0", "reservation.max_concurrent_calls"),
        ("reservation", "max_body_size = 100", "reservation.max_body_size"),
        ("reservation", "max_body_size = 1000000000", "reservation.max_body_size"),
        ("reservation", "max_message_length = 1", "reservation.max_message_length"),
        ("reservation", "delete_give_up = \"10s\"", "reservation.delete_give_up"),
        ("reservation", "delete_give_up = \"31d\"", "reservation.delete_give_up"),
        ("conference", "request_timeout = \"0s\"", "conference.request_timeout"),
        ("conference", "drain_timeout = \"25h\"", "conference.drain_timeout"),
        ("limits", "max_stanza_size = 100", "limits.max_stanza_size"),
        ("limits", "max_depth = 1000", "limits.max_depth"),
        ("limits", "max_conferences = 0", "limits.max_conferences"),
        ("limits", "outgoing_queue = 1", "limits.outgoing_queue"),
        ("limits", "max_sessions = 0", "limits.max_sessions"),
        ("limits", "max_ssrcs_per_endpoint = 0", "limits.max_ssrcs_per_endpoint"),
        ("limits", "max_ssrcs_per_endpoint = 257", "limits.max_ssrcs_per_endpoint"),
        ("limits", "max_ssrc_groups_per_endpoint = 0", "limits.max_ssrc_groups_per_endpoint"),
        ("limits", "max_ssrc_groups_per_endpoint = 257", "limits.max_ssrc_groups_per_endpoint"),
    ] {
        let toml = match section {
            "xmpp" => format!("{MINIMAL}{line}\n"),
            _ => format!("{MINIMAL}\n[{section}]\n{line}\n"),
        };
        let err = Config::from_toml(&toml).unwrap_err().to_string();
        assert!(err.starts_with(key) && err.contains("between"), "{line}: {err}");
    }
    let err = Config::from_toml(&format!("{MINIMAL}\n[reservation]\nretry_delay = \"1s\"\nretries = 11\n"))
        .unwrap_err()
        .to_string();
    assert_eq!(err, "reservation.retries: must be between 0 and 10");
    let err = Config::from_toml(&format!("{MINIMAL}\n[reservation]\nretry_delay = \"1ms\"\n")).unwrap_err();
    assert_eq!(err.to_string(), "reservation.retry_delay: must be between 10ms and 5m");
}

#[test]
fn new_keys_have_their_documented_defaults() {
    let config = Config::from_toml(MINIMAL).unwrap();
    assert_eq!(config.xmpp.write_timeout, Duration::from_secs(10));
    assert_eq!(config.conference.drain_timeout, Duration::from_secs(300));
    let stop_at_once = Config::from_toml(&format!("{MINIMAL}\n[conference]\ndrain_timeout = \"0s\"\n")).unwrap();
    assert_eq!(stop_at_once.conference.drain_timeout, Duration::ZERO);
    assert_eq!(config.limits, LimitsConfig::default());
    assert_eq!(config.limits.max_stanza_size, 262_144);
    assert_eq!(config.limits.max_depth, 32);
    assert_eq!(config.limits.max_pending_conferences, 1000);
    assert_eq!(config.limits.max_conferences, 10_000);
    assert_eq!(config.limits.max_waiters_per_conference, 100);
    assert_eq!(config.limits.max_participants_per_conference, 1000);
    assert_eq!(config.limits.max_refusals_cached, 10_000);
    assert_eq!(config.limits.max_sessions, 100_000);
    assert_eq!(config.limits.outgoing_queue, 4096);
    assert_eq!(config.limits.max_ssrcs_per_endpoint, 20);
    assert_eq!(config.limits.max_ssrc_groups_per_endpoint, 20);
    assert_eq!(config.reservation.max_concurrent_calls, 32);
    assert_eq!(config.reservation.max_body_size, 65_536);
    assert_eq!(config.reservation.max_message_length, 1024);
    assert_eq!(config.reservation.delete_give_up, Duration::from_secs(24 * 3600));
    assert_eq!(config.state.directory, Path::new("/var/lib/jitsi-focus"));
    let shown = config.redacted_toml();
    assert!(shown.contains("[limits]") && shown.contains("[state]"), "{shown}");
}

#[test]
fn every_key_is_documented_in_the_shipped_example_with_its_default() {
    let example = include_str!("../../config/jitsi-focus.toml");
    let readme = include_str!("../../README.md");
    let defaults = toml::Table::try_from(Config::default()).unwrap();
    for (section, keys) in &defaults {
        assert!(example.contains(&format!("[{section}]")), "[{section}] missing from the example");
        for key in keys.as_table().unwrap().keys() {
            let table = format!("[{section}.{key}]");
            assert!(
                example.contains(&format!("{key} =")) || example.contains(&table),
                "{section}.{key} missing from the example"
            );
            assert!(readme.contains(&format!("`{section}.{key}`")), "{section}.{key} missing from README.md");
        }
    }
    let with_secret = example.replace("# secret = \"change-me\"", "secret = \"s\"");
    let config = Config::from_toml(&with_secret).unwrap();
    assert_eq!(config.limits, LimitsConfig::default());
    assert_eq!(config.state, StateConfig::default());
    assert_eq!(config.xmpp.write_timeout, XmppConfig::default().write_timeout);
    assert_eq!(config.reservation.delete_give_up, ReservationConfig::default().delete_give_up);
    assert_eq!(config.reservation.max_body_size, ReservationConfig::default().max_body_size);
}

#[test]
fn redaction_hides_secret_and_headers() {
    let toml = format!("{MINIMAL}\n[reservation]\nheaders = {{ Authorization = \"Bearer tok\" }}");
    let shown = Config::from_toml(&toml).unwrap().redacted_toml();
    assert!(!shown.contains("s3cret") && !shown.contains("Bearer tok"), "{shown}");
    assert!(shown.contains("initial_timeout = \"15s\""), "{shown}");
}

#[test]
fn log_filters_that_would_take_exponential_time_are_refused_at_once() {
    let slow = include_str!("../../fuzz/seeds/config/log-level-slow-dfa.toml");
    let started = std::time::Instant::now();
    let err = Config::from_toml(slow).unwrap_err().to_string();
    assert!(err.starts_with("log.level"), "{err}");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "validation took {:?}", started.elapsed());
    let ok = format!("{MINIMAL}\n[log]\nlevel = \"info,jitsi_focus::core=debug\"");
    assert!(Config::from_toml(&ok).is_ok());
}
