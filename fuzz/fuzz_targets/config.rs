//! A fuzzed configuration file: `Config::from_toml` must answer Ok or Err, never panic; an
//! accepted configuration must start a focus (`Settings::from_config` relies on validation)
//! and print as redacted TOML (`check-config`).
#![no_main]

use jitsi_focus::config::Config;
use jitsi_focus::core::{Focus, Settings};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(config) = Config::from_toml(text) {
        let _ = config.redacted_toml();
        let mut focus = Focus::new(Settings::from_config(&config));
        let _ = focus.poll_timeout();
        let _ = focus.poll_effect();
    }
});
