//! The XEP-0114 component connection to Prosody: login, keepalive, reconnection.
//!
//! tokio-xmpp's `Component` parses every stanza into typed structs and ends its stream on one
//! that does not fit (an IQ without payload, say) or on a quiet minute. We drive tokio-xmpp's
//! `XmlStream` with plain `minidom` elements instead: every well-formed stanza reaches the core,
//! which answers even odd requests precisely, and a quiet link is pinged rather than dropped.

use std::io;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use minidom::Element;
use tokio::sync::mpsc;
use tokio_xmpp::connect::{DnsConfig, ServerConnector, TcpServerConnector};
use tokio_xmpp::parsers::component::Handshake;
use tokio_xmpp::parsers::jid::{BareJid, Jid};
use tokio_xmpp::xmlstream::{ReadError, Timeouts, XmlStream};
use tracing::{debug, error, info, warn};

use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::ns;

/// What the connection reports to the runtime.
#[derive(Debug)]
pub enum Event {
    Connected,
    Disconnected,
    Stanza(Element),
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub jid: BareJid,
    pub secret: String,
    pub keepalive: Duration,
    pub reconnect_max_delay: Duration,
}

/// Why one connection attempt or session ended.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("cannot reach Prosody's component port {addr}: {source}")]
    Unreachable { addr: String, source: tokio_xmpp::Error },
    #[error(
        "Prosody refused the component login ({detail}): check xmpp.secret and that Prosody has \
         Component \"{jid}\" with that component_secret"
    )]
    Refused { jid: BareJid, detail: String },
    #[error("connection lost: {0}")]
    Lost(String),
    #[error("the runtime stopped")]
    Stopped,
}

type Stream = XmlStream<<TcpServerConnector as ServerConnector>::Stream, Element>;

/// Keeps the component connected until `outgoing` closes, reconnecting with capped exponential
/// back-off.
pub async fn run(settings: Settings, events: mpsc::Sender<Event>, mut outgoing: mpsc::UnboundedReceiver<Element>) {
    let first_delay = Duration::from_millis(250);
    let mut delay = first_delay;
    loop {
        match login(&settings).await {
            Ok(stream) => {
                info!(jid = %settings.jid, host = %settings.host, port = settings.port, "connected to Prosody as a component");
                delay = first_delay;
                if events.send(Event::Connected).await.is_err() {
                    return;
                }
                let ended = serve(stream, &settings, &events, &mut outgoing).await;
                match ended {
                    ConnectionError::Stopped => return,
                    other => warn!("component connection ended: {other}; reconnecting"),
                }
                if events.send(Event::Disconnected).await.is_err() {
                    return;
                }
            }
            Err(e) => error!("{e}; retrying in {delay:?}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(delay) => {}
            _ = events.closed() => return,
        }
        delay = (delay * 2).min(settings.reconnect_max_delay.max(first_delay));
    }
}

async fn login(settings: &Settings) -> Result<Stream, ConnectionError> {
    let addr = format!("{}:{}", settings.host, settings.port);
    let connector = TcpServerConnector::from(DnsConfig::addr(&addr));
    // The soft read timeout fires after `keepalive` of silence; we answer it with a ping so a
    // dead link shows up as a hard timeout `keepalive` later.
    let timeouts = Timeouts { read_timeout: settings.keepalive, response_timeout: settings.keepalive };
    let jid = Jid::from(settings.jid.clone());
    let (mut pending, _) = connector
        .connect(&jid, xmpp_parsers::ns::COMPONENT, timeouts)
        .await
        .map_err(|source| ConnectionError::Unreachable { addr: addr.clone(), source })?;
    let header = pending.take_header();
    let refused = |detail: String| ConnectionError::Refused { jid: settings.jid.clone(), detail };
    let stream_id = header.id.ok_or_else(|| refused("the server sent no stream id".into()))?.into_owned();
    let mut stream: Stream = pending.skip_features();
    let handshake = Handshake::from_stream_id_and_password(stream_id, &settings.secret);
    stream.send(&handshake).await.map_err(|e| ConnectionError::Lost(e.to_string()))?;
    loop {
        match stream.next().await {
            Some(Ok(answer)) if answer.is("handshake", xmpp_parsers::ns::COMPONENT) => return Ok(stream),
            Some(Ok(answer)) if answer.name() == "error" => return Err(refused(stream_error(&answer))),
            Some(Ok(answer)) => return Err(refused(format!("unexpected answer {}", String::from(&answer)))),
            Some(Err(ReadError::SoftTimeout)) => continue,
            Some(Err(e)) => return Err(refused(e.to_string())),
            None => return Err(refused("the server closed the stream".into())),
        }
    }
}

/// `stream error not-authorized` from `<stream:error><not-authorized/>…</stream:error>`.
fn stream_error(error: &Element) -> String {
    let condition = error.children().map(Element::name).find(|n| *n != "text").unwrap_or("unknown");
    format!("stream error {condition}")
}

/// Moves stanzas both ways until the stream fails or the runtime stops.
async fn serve(
    mut stream: Stream,
    settings: &Settings,
    events: &mpsc::Sender<Event>,
    outgoing: &mut mpsc::UnboundedReceiver<Element>,
) -> ConnectionError {
    let mut ping_id = 0u64;
    loop {
        tokio::select! {
            incoming = stream.next() => {
                let element = match incoming {
                    Some(Ok(element)) => element,
                    Some(Err(ReadError::SoftTimeout)) => {
                        // Quiet link: ask Prosody to bounce a ping back to us.
                        ping_id += 1;
                        if let Err(e) = send(&mut stream, keepalive_ping(&settings.jid, ping_id)).await {
                            return e;
                        }
                        continue;
                    }
                    Some(Err(ReadError::ParseError(e))) => {
                        warn!("ignoring an element that is not XML we can read: {e}");
                        continue;
                    }
                    Some(Err(ReadError::HardError(e))) => return ConnectionError::Lost(e.to_string()),
                    Some(Err(ReadError::StreamFooterReceived)) | None => {
                        return ConnectionError::Lost("Prosody closed the stream".into())
                    }
                };
                match element.name() {
                    "iq" | "message" | "presence" => {
                        if events.send(Event::Stanza(element)).await.is_err() {
                            return ConnectionError::Stopped;
                        }
                    }
                    "error" => return ConnectionError::Lost(format!("Prosody sent {}", stream_error(&element))),
                    other => debug!(element = other, "ignoring a non-stanza element"),
                }
            }
            stanza = outgoing.recv() => {
                let Some(stanza) = stanza else {
                    let _ = SinkExt::<&Element>::close(&mut stream).await;
                    return ConnectionError::Stopped;
                };
                if let Err(e) = send(&mut stream, stanza).await {
                    return e;
                }
            }
        }
    }
}

async fn send(stream: &mut Stream, element: Element) -> Result<(), ConnectionError> {
    stream.send(&element).await.map_err(|e: io::Error| ConnectionError::Lost(e.to_string()))
}

/// A ping from the component to itself: Prosody routes it back, so any answer proves the link.
fn keepalive_ping(jid: &BareJid, n: u64) -> Element {
    elem("iq", ns::STREAM)
        .with_attr("type", "get")
        .with_attr("id", format!("keepalive-{n}"))
        .with_attr("from", jid.to_string())
        .with_attr("to", jid.to_string())
        .with_child(elem("ping", ns::PING))
}
