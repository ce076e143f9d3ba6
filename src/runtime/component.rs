//! The XEP-0114 component connection to Prosody: login, keepalive, reconnection.
//!
//! Bytes are read by our own [`StreamReader`], which enforces depth and size limits per
//! stanza (see its module), so no stanza anyone sends can crash the process or break the link.
//! Reading and writing run side by side: a slow reader of ours (back-pressure from the core)
//! never stops writes, and a peer that stops reading ends the link after `write_timeout`
//! instead of blocking the focus.

use std::time::Duration;

use minidom::Element;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};
use tokio::time::timeout;
use tracing::{debug, error, info, warn};
use xmpp_parsers::component::Handshake;
use xmpp_parsers::jid::BareJid;

use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::ns;
use crate::xmpp::stream::{ByteFilter, Item, RejectedStanza, StreamLimits, StreamReader};

/// A stanza (or what is left of a rejected one) from Prosody.
#[derive(Debug)]
pub enum Event {
    Stanza(Element),
    Rejected(RejectedStanza),
}

/// Whether the stream is up, and which connection it is (a reconnect is a new session).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkState {
    pub up: bool,
    pub session: u64,
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub host: String,
    pub port: u16,
    pub jid: BareJid,
    pub secret: String,
    pub keepalive: Duration,
    pub reconnect_max_delay: Duration,
    /// A write that does not complete in this time ends the link.
    pub write_timeout: Duration,
    pub limits: StreamLimits,
}

/// Why one connection attempt or session ended.
#[derive(Debug, thiserror::Error)]
pub enum ConnectionError {
    #[error("cannot reach Prosody's component port {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
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

/// Bytes read from the socket at a time; the reader keeps partial tokens itself.
const READ_CHUNK: usize = 64 * 1024;
/// Stanzas written in one go once this many bytes are buffered.
const WRITE_BATCH: usize = 64 * 1024;

/// Keeps the component connected until `outgoing` closes or the runtime goes away,
/// reconnecting with capped exponential back-off. `link` tells the runtime whether the stream
/// is up: it is a watch, not an event, so that reporting it never waits for queue space.
pub async fn run(
    settings: Settings,
    events: mpsc::Sender<Event>,
    link: watch::Sender<LinkState>,
    mut outgoing: mpsc::Receiver<Element>,
) {
    let first_delay = Duration::from_millis(250);
    let mut delay = first_delay;
    let mut session = 0;
    loop {
        match login(&settings).await {
            Ok((inbound, writer)) => {
                info!(jid = %settings.jid, host = %settings.host, port = settings.port, "connected to Prosody as a component");
                delay = first_delay;
                session += 1;
                let _ = link.send(LinkState { up: true, session });
                let ended = serve(inbound, writer, &settings, &events, &mut outgoing).await;
                let _ = link.send(LinkState { up: false, session });
                match ended {
                    ConnectionError::Stopped => return,
                    other => warn!("component connection ended: {other}; reconnecting"),
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

/// The reading side of a connection: bytes in, items out.
struct Inbound {
    socket: OwnedReadHalf,
    filter: ByteFilter,
    reader: StreamReader,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

impl Inbound {
    /// The next item. Cancel-safe: the only await is the socket read.
    async fn next(&mut self) -> Result<Item, ConnectionError> {
        loop {
            if self.start < self.end {
                let mut rest = &self.buf[self.start..self.end];
                let result = self.reader.next(&mut rest);
                self.start = self.end - rest.len();
                match result {
                    Ok(Some(item)) => return Ok(item),
                    Ok(None) => {}
                    Err(e) => return Err(ConnectionError::Lost(e.to_string())),
                }
            }
            let n = self.socket.read(&mut self.buf).await.map_err(|e| ConnectionError::Lost(e.to_string()))?;
            if n == 0 {
                return Err(ConnectionError::Lost("Prosody closed the connection".into()));
            }
            self.filter.clean(&mut self.buf[..n]);
            (self.start, self.end) = (0, n);
        }
    }
}

async fn write_all(writer: &mut OwnedWriteHalf, bytes: &[u8], limit: Duration) -> Result<(), ConnectionError> {
    match timeout(limit, writer.write_all(bytes)).await {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(ConnectionError::Lost(e.to_string())),
        Err(_) => Err(ConnectionError::Lost(format!("Prosody read nothing we sent for {limit:?}"))),
    }
}

async fn login(settings: &Settings) -> Result<(Inbound, OwnedWriteHalf), ConnectionError> {
    let addr = format!("{}:{}", settings.host, settings.port);
    let unreachable = |reason: String| ConnectionError::Unreachable { addr: addr.clone(), reason };
    let connect = TcpStream::connect((settings.host.as_str(), settings.port));
    let socket = match timeout(settings.write_timeout, connect).await {
        Ok(Ok(socket)) => socket,
        Ok(Err(e)) => return Err(unreachable(e.to_string())),
        Err(_) => return Err(unreachable(format!("no answer within {:?}", settings.write_timeout))),
    };
    let _ = socket.set_nodelay(true);
    let (read_half, mut writer) = socket.into_split();
    let mut inbound = Inbound {
        socket: read_half,
        filter: ByteFilter::default(),
        reader: StreamReader::new(settings.limits),
        buf: vec![0; READ_CHUNK],
        start: 0,
        end: 0,
    };
    let refused = |detail: String| ConnectionError::Refused { jid: settings.jid.clone(), detail };
    let header = format!(
        "<?xml version='1.0'?><stream:stream xmlns='{}' xmlns:stream='http://etherx.jabber.org/streams' to='{}'>",
        ns::STREAM,
        escape_attr(&settings.jid.to_string())
    );
    write_all(&mut writer, header.as_bytes(), settings.write_timeout).await?;
    // Prosody answers at once; allow for a busy server.
    let answer_time = settings.keepalive.max(Duration::from_secs(5)) * 2;
    let stream_id = match timeout(answer_time, inbound.next()).await {
        Ok(Ok(Item::Header { id: Some(id) })) => id,
        Ok(Ok(Item::Header { id: None })) => return Err(refused("the server sent no stream id".into())),
        Ok(Ok(Item::Stanza(e))) if e.name() == "error" => return Err(refused(stream_error(&e))),
        Ok(Ok(other)) => return Err(refused(format!("unexpected {other:?} before the stream header"))),
        Ok(Err(e)) => return Err(e),
        Err(_) => return Err(refused("no stream header".into())),
    };
    let handshake = Element::from(Handshake::from_stream_id_and_password(stream_id, &settings.secret));
    write_all(&mut writer, &serialise(&handshake), settings.write_timeout).await?;
    match timeout(answer_time, inbound.next()).await {
        Ok(Ok(Item::Stanza(answer))) if answer.is("handshake", ns::STREAM) => Ok((inbound, writer)),
        Ok(Ok(Item::Stanza(answer))) if answer.name() == "error" => Err(refused(stream_error(&answer))),
        Ok(Ok(Item::Closed)) | Ok(Err(_)) => Err(refused("the server closed the stream".into())),
        Ok(Ok(other)) => Err(refused(format!("unexpected answer {other:?}"))),
        Err(_) => Err(refused("no answer to the handshake".into())),
    }
}

/// `stream error not-authorized` from `<stream:error><not-authorized/>…</stream:error>`.
fn stream_error(error: &Element) -> String {
    let condition = error.children().map(Element::name).find(|n| *n != "text").unwrap_or("unknown");
    format!("stream error {condition}")
}

/// Moves stanzas both ways until the stream fails or the runtime stops.
async fn serve(
    inbound: Inbound,
    writer: OwnedWriteHalf,
    settings: &Settings,
    events: &mpsc::Sender<Event>,
    outgoing: &mut mpsc::Receiver<Element>,
) -> ConnectionError {
    let (ping_tx, ping_rx) = mpsc::channel(1);
    tokio::select! {
        ended = read_loop(inbound, settings, events, ping_tx) => ended,
        ended = write_loop(writer, settings, outgoing, ping_rx) => ended,
    }
}

async fn read_loop(
    mut inbound: Inbound,
    settings: &Settings,
    events: &mpsc::Sender<Event>,
    ping: mpsc::Sender<Element>,
) -> ConnectionError {
    let mut pings = 0u64;
    let mut pinged = false;
    loop {
        let item = match timeout(settings.keepalive, inbound.next()).await {
            Ok(Ok(item)) => item,
            Ok(Err(e)) => return e,
            Err(_) if pinged => {
                return ConnectionError::Lost(format!("Prosody sent nothing for {:?}", settings.keepalive * 2))
            }
            Err(_) => {
                // Quiet link: ask Prosody to bounce a ping back to us.
                pinged = true;
                pings += 1;
                let _ = ping.try_send(keepalive_ping(&settings.jid, pings));
                continue;
            }
        };
        pinged = false;
        let event = match item {
            Item::Stanza(stanza) => match stanza.name() {
                "iq" | "message" | "presence" => Event::Stanza(stanza),
                "error" => return ConnectionError::Lost(format!("Prosody sent {}", stream_error(&stanza))),
                other => {
                    debug!(element = other, "ignoring a non-stanza element");
                    continue;
                }
            },
            Item::Rejected(rejected) => {
                debug!(name = %rejected.name, from = rejected.from.as_deref().unwrap_or("-"), why = %rejected.why, "stanza over the limits");
                Event::Rejected(rejected)
            }
            Item::Header { .. } => continue,
            Item::Closed => return ConnectionError::Lost("Prosody closed the stream".into()),
        };
        if events.send(event).await.is_err() {
            return ConnectionError::Stopped;
        }
    }
}

async fn write_loop(
    mut writer: OwnedWriteHalf,
    settings: &Settings,
    outgoing: &mut mpsc::Receiver<Element>,
    mut ping: mpsc::Receiver<Element>,
) -> ConnectionError {
    let mut batch = Vec::with_capacity(WRITE_BATCH);
    loop {
        let first = tokio::select! {
            stanza = outgoing.recv() => match stanza {
                Some(stanza) => stanza,
                None => {
                    // The runtime is done: close the stream politely.
                    let _ = write_all(&mut writer, b"</stream:stream>", settings.write_timeout).await;
                    let _ = writer.shutdown().await;
                    return ConnectionError::Stopped;
                }
            },
            Some(ping) = ping.recv() => ping,
        };
        batch.clear();
        write_into(&mut batch, &first);
        while batch.len() < WRITE_BATCH {
            match outgoing.try_recv() {
                Ok(stanza) => write_into(&mut batch, &stanza),
                Err(_) => break,
            }
        }
        if let Err(e) = write_all(&mut writer, &batch, settings.write_timeout).await {
            return e;
        }
    }
}

/// Serialises one stanza after the others. minidom's writer panics on text XML forbids; the
/// core makes all outside text safe first, and a stanza that still fails is dropped, not the link.
fn write_into(batch: &mut Vec<u8>, stanza: &Element) {
    let start = batch.len();
    let written = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| stanza.write_to(batch)));
    match written {
        Ok(Ok(())) => {}
        Ok(Err(e)) => {
            batch.truncate(start);
            error!("cannot serialise a stanza: {e}");
        }
        Err(_) => {
            batch.truncate(start);
            error!(
                name = stanza.name(),
                id = stanza.attr("id").unwrap_or("-"),
                "dropped a stanza that cannot be serialised"
            );
        }
    }
}

fn serialise(stanza: &Element) -> Vec<u8> {
    let mut bytes = Vec::new();
    write_into(&mut bytes, stanza);
    bytes
}

fn escape_attr(value: &str) -> String {
    value.replace('&', "&amp;").replace('\'', "&apos;").replace('<', "&lt;")
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
