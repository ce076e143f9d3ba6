//! A small XMPP c2s client, as JVB's Smack connection logs in: plain TCP (loopback, no TLS),
//! SASL, resource bind. Built from tokio-xmpp's low-level pieces (`xmlstream`, `client_login`)
//! so stanzas stay raw `minidom` elements and a lost connection is final and visible.

use std::borrow::Cow;
use std::collections::BTreeSet;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use minidom::Element;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio_xmpp::xmlstream::{self, ReadError, StreamHeader, Timeouts, XmlStream};

use crate::xml::{elem, ElementExt, NS_CLIENT};

const NS_BIND: &str = "urn:ietf:params:xml:ns:xmpp-bind";

/// The XML stream of a logged-in client.
pub type Stream = XmlStream<BufStream<TcpStream>, Element>;

/// How the bridge logs in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Login {
    /// SASL ANONYMOUS on the domain.
    Anonymous,
    /// A registered account (`prosodyctl register USER DOMAIN PASSWORD`), with whichever of
    /// SCRAM-SHA-256, SCRAM-SHA-1 or PLAIN the server offers.
    Password { user: String, password: String },
}

#[derive(Debug, thiserror::Error)]
pub enum XmppError {
    #[error("connecting to {addr}: {source}")]
    Connect { addr: String, source: std::io::Error },
    #[error("XMPP stream: {0}")]
    Stream(String),
    #[error("SASL {mechanisms} login to {domain} failed: {reason}")]
    Auth { domain: String, mechanisms: String, reason: String },
    #[error("resource bind failed: {0}")]
    Bind(String),
    #[error("login to {0} did not finish within {1:?}")]
    Timeout(String, Duration),
}

/// A logged-in stream and the full JID the server bound.
pub struct Connection {
    pub stream: Stream,
    pub jid: String,
}

/// Stream timeouts: a soft timeout makes the bridge ping the server; the hard one follows a
/// silent server after another `response_timeout`.
pub fn timeouts() -> Timeouts {
    Timeouts { read_timeout: Duration::from_secs(60), response_timeout: Duration::from_secs(30) }
}

/// Connects to `addr` (`host:port`), logs in on `domain` and binds a resource.
pub async fn connect(addr: &str, domain: &str, login: &Login, limit: Duration) -> Result<Connection, XmppError> {
    tokio::time::timeout(limit, connect_inner(addr, domain, login))
        .await
        .map_err(|_| XmppError::Timeout(domain.to_string(), limit))?
}

async fn connect_inner(addr: &str, domain: &str, login: &Login) -> Result<Connection, XmppError> {
    let tcp = TcpStream::connect(addr).await.map_err(|source| XmppError::Connect { addr: addr.to_string(), source })?;
    // Each stanza leaves at once: with Nagle's algorithm a Colibri2 answer could wait for the
    // server's delayed ACK of the stanza before it, which the focus's latency would show.
    let _ = tcp.set_nodelay(true);
    let header = || StreamHeader { to: Some(Cow::Owned(domain.to_string())), from: None, id: None };
    let stream_err = |e: &dyn std::fmt::Display| XmppError::Stream(e.to_string());

    let pending = xmlstream::initiate_stream(BufStream::new(tcp), NS_CLIENT, header(), timeouts())
        .await
        .map_err(|e| stream_err(&e))?;
    let (features, stream) = pending.recv_features().await.map_err(|e| stream_err(&e))?;

    // tokio-xmpp tries SCRAM, PLAIN, then ANONYMOUS, whichever the server offers: narrow the
    // offer to what this login means.
    let offered = features.sasl_mechanisms;
    let (mechanisms, user, password): (BTreeSet<String>, &str, &str) = match login {
        Login::Anonymous => (offered.into_iter().filter(|m| m == "ANONYMOUS").collect(), "anonymous", ""),
        Login::Password { user, password } => {
            (offered.into_iter().filter(|m| m != "ANONYMOUS").collect(), user.as_str(), password.as_str())
        }
    };
    let mechanism_list = mechanisms.iter().cloned().collect::<Vec<_>>().join(",");
    if mechanisms.is_empty() {
        return Err(XmppError::Auth {
            domain: domain.to_string(),
            mechanisms: "(none)".into(),
            reason: format!("the server offers no mechanism for {login:?}"),
        });
    }
    let credentials = sasl::common::Credentials::default().with_username(user).with_password(password);
    let stream = tokio_xmpp::client_login(stream, mechanisms, credentials).await.map_err(|e| XmppError::Auth {
        domain: domain.to_string(),
        mechanisms: mechanism_list,
        reason: e.to_string(),
    })?;
    let pending = stream.send_header(header()).await.map_err(|e| stream_err(&e))?;
    let (_features, mut stream) = pending.recv_features::<Element>().await.map_err(|e| stream_err(&e))?;
    let jid = bind(&mut stream).await?;
    Ok(Connection { stream, jid })
}

async fn bind(stream: &mut Stream) -> Result<String, XmppError> {
    let request = elem("iq", NS_CLIENT)
        .with_attr("type", "set")
        .with_attr("id", "bind-1")
        // No resource: the server picks a unique one, so bridges sharing an account (as JVBs
        // do) never replace each other's session.
        .with_child(elem("bind", NS_BIND));
    stream.send(&request).await.map_err(|e| XmppError::Bind(e.to_string()))?;
    loop {
        let reply = match stream.next().await {
            Some(Ok(el)) => el,
            Some(Err(ReadError::SoftTimeout | ReadError::ParseError(_))) => continue,
            Some(Err(e)) => return Err(XmppError::Bind(e.to_string())),
            None => return Err(XmppError::Bind("stream ended".into())),
        };
        if reply.name() != "iq" || reply.attr("id") != Some("bind-1") {
            continue;
        }
        return reply
            .get_child("bind", NS_BIND)
            .and_then(|b| b.get_child("jid", NS_BIND))
            .map(|j| j.text())
            .ok_or_else(|| XmppError::Bind(crate::xml::to_xml(&reply)));
    }
}
