//! Errors of the test bridge's library API.

use std::time::Duration;

use crate::xmpp::XmppError;

#[derive(Debug, thiserror::Error)]
pub enum BridgeError {
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("binding the UDP socket: {0}")]
    Udp(#[source] std::io::Error),
    #[error(transparent)]
    Xmpp(#[from] XmppError),
    #[error("the bridge failed: {0}")]
    Failed(String),
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
    #[error("the bridge is not running")]
    Stopped,
}
