//! What a test bridge is started with.

use std::time::Duration;

use crate::switches::Switches;
pub use crate::xmpp::Login;

/// Start-up configuration of a [`crate::TestBridge`].
#[derive(Debug, Clone)]
pub struct TestBridgeConfig {
    /// The XMPP server's c2s address, `host:port`, e.g. `127.0.0.1:5222`.
    pub xmpp_server: String,
    /// The XMPP domain to log in on, e.g. `auth.meet.test`.
    pub domain: String,
    pub login: Login,
    /// The brewery room's bare JID, e.g. `jvbbrewery@internal.auth.meet.test`.
    pub brewery: String,
    /// The bridge's nickname in the brewery (its id for the focus), e.g. `jvb-1`.
    pub nickname: String,
    /// UDP port on 127.0.0.1 for ICE/DTLS; 0 picks a free one.
    pub udp_port: u16,
    /// How often stats are re-sent in presence (JVB: `videobridge.stats.interval`, 5 s).
    pub presence_interval: Duration,
    /// Limit for connecting, logging in and joining the brewery.
    pub start_timeout: Duration,
    /// The initial switches (failure modes and advertised values).
    pub switches: Switches,
    /// Run ICE, DTLS and media for the endpoints it allocates (the default). Without, it still
    /// answers Colibri2 exactly as with (its own ICE credentials, fingerprint and candidate)
    /// but creates no peer: for load tests of the focus's signalling.
    pub media: bool,
}

impl TestBridgeConfig {
    /// Anonymous login, any UDP port, default switches.
    pub fn new(
        xmpp_server: impl Into<String>,
        domain: impl Into<String>,
        brewery: impl Into<String>,
        nickname: impl Into<String>,
    ) -> Self {
        TestBridgeConfig {
            xmpp_server: xmpp_server.into(),
            domain: domain.into(),
            login: Login::Anonymous,
            brewery: brewery.into(),
            nickname: nickname.into(),
            udp_port: 0,
            presence_interval: Duration::from_secs(5),
            start_timeout: Duration::from_secs(10),
            switches: Switches::default(),
            media: true,
        }
    }

    /// Colibri2 answers without ICE, DTLS or media behind them (see [`Self::media`]).
    pub fn signalling_only(mut self) -> Self {
        self.media = false;
        self
    }

    /// Logs in with a registered account instead of anonymously.
    pub fn with_password(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.login = Login::Password { user: user.into(), password: password.into() };
        self
    }

    /// The bridge's occupant JID in the brewery (what the focus addresses): `room/nick`.
    pub fn occupant_jid(&self) -> String {
        format!("{}/{}", self.brewery, self.nickname)
    }

    pub(crate) fn validate(&self) -> Result<(), String> {
        if self.brewery.is_empty() || !self.brewery.contains('@') || self.brewery.contains('/') {
            return Err(format!("brewery must be a bare room JID (room@service), not {:?}", self.brewery));
        }
        if self.nickname.is_empty() || self.nickname.contains('/') {
            return Err(format!("invalid nickname {:?}", self.nickname));
        }
        if self.domain.is_empty() {
            return Err("empty XMPP domain".into());
        }
        if self.presence_interval.is_zero() {
            return Err("presence interval must not be zero".into());
        }
        Ok(())
    }
}
