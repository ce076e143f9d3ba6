//! A test video bridge that speaks what jitsi-videobridge (JVB) speaks, for the integration
//! tests, end-to-end tests and benchmarks of jitsi-focus.
//!
//! It logs in to an XMPP server as a c2s client, joins the brewery room with JVB's stats in its
//! presence, answers health checks and Colibri2 `conference-modify` requests as JVB does, and
//! runs real ICE and DTLS (str0m) for the endpoints it allocates, forwarding their media to each
//! other. Failure switches make it fail
//! as a real bridge can: failing or silent health checks, Colibri2 errors or silence, drain,
//! graceful shutdown, shutting down, leaving the brewery, or dying.
//!
//! It does not depend on jitsi-focus: it is an independent implementation of the bridge side,
//! so tests against it check the focus's wire compatibility.
//!
//! ```no_run
//! # async fn demo() -> Result<(), jitsi_test_bridge::BridgeError> {
//! use jitsi_test_bridge::{TestBridge, TestBridgeConfig, HealthMode};
//! let config = TestBridgeConfig::new("127.0.0.1:5222", "auth.meet.test", "jvbbrewery@internal.auth.meet.test", "jvb-1")
//!     .with_password("jvb", "secret");
//! let bridge = TestBridge::start(config).await?;
//! bridge.set_health(HealthMode::Fail);
//! bridge.kill().await;
//! # Ok(()) }
//! ```

pub mod brewery;
mod bridge;
pub mod colibri2;
mod config;
mod error;
mod health;
mod local;
mod media;
mod switches;
mod view;
pub mod xml;
mod xmpp;

pub use bridge::TestBridge;
pub use config::{Login, TestBridgeConfig};
pub use error::BridgeError;
pub use local::LocalBridge;
pub use switches::{ColibriFailure, ColibriMode, HealthMode, Switches};
pub use view::{BridgeView, ConferenceView, Counters, EndpointKey, EndpointView, TransportState};
pub use xmpp::XmppError;

/// The str0m the bridge runs, for tests that build their own client peer against it.
pub use str0m;
