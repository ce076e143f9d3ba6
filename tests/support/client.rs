//! A test XMPP client (c2s over plain TCP on loopback).
//!
//! Built from tokio-xmpp's low-level pieces (`xmlstream` and `client_login` for SASL) rather than
//! `tokio_xmpp::Client`, because that client, for a test, hides exactly what tests look at: it
//! reconnects silently (a new anonymous identity) when the connection drops, it swallows the
//! "suspended" event, it parses stanzas into typed xmpp-parsers structs (an unknown payload shape
//! could be dropped), and it panics on a JID without a node (anonymous login). Here stanzas are raw
//! `minidom::Element`s, a dropped connection is final and visible, and nothing times out on its
//! own: soft read timeouts are ignored (tests are short and Prosody does not idle out c2s).

use std::borrow::Cow;
use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use futures::{SinkExt, StreamExt};
use minidom::Element;
use tokio::io::BufStream;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};
use tokio_xmpp::xmlstream::{self, ReadError, StreamHeader, Timeouts, XmlStream};

use super::{has_muc_status, set_attr, xml, DEFAULT_TIMEOUT, NS_CLIENT, NS_MUC};

type Stream = XmlStream<BufStream<TcpStream>, Element>;

enum Command {
    Send(Element, oneshot::Sender<std::io::Result<()>>),
    Close,
}

/// What the reader task has received and not yet handed out.
#[derive(Default)]
struct Inbox {
    unclaimed: VecDeque<Element>,
    /// Set once the stream is gone, with the reason.
    closed: Option<String>,
}

pub struct TestClient {
    jid: String,
    commands: mpsc::UnboundedSender<Command>,
    inbox: Arc<Mutex<Inbox>>,
    changed: Arc<Notify>,
    task: tokio::task::JoinHandle<()>,
}

static NEXT_ID: AtomicU64 = AtomicU64::new(1);

impl TestClient {
    /// Anonymous login on `meet.test`.
    pub async fn anonymous(c2s_port: u16) -> Result<TestClient> {
        Self::connect(c2s_port, super::DOMAIN, None).await
    }

    /// Password login, e.g. `TestClient::login(port, "alice", AUTH_DOMAIN, "secret")`.
    pub async fn login(c2s_port: u16, user: &str, domain: &str, password: &str) -> Result<TestClient> {
        Self::connect(c2s_port, domain, Some((user, password))).await
    }

    /// Stream open, SASL (ANONYMOUS, or SCRAM/PLAIN via tokio-xmpp), resource bind.
    pub async fn connect(port: u16, domain: &str, creds: Option<(&str, &str)>) -> Result<TestClient> {
        let tcp =
            TcpStream::connect(("127.0.0.1", port)).await.with_context(|| format!("connecting to c2s port {port}"))?;
        // As browsers do (Chromium sets TCP_NODELAY): a stanza written right after another must
        // not wait for the server's delayed ACK of the first.
        tcp.set_nodelay(true)?;
        // Timeouts never fire within a test's lifetime, so no keepalive logic is needed.
        let timeouts =
            Timeouts { read_timeout: Duration::from_secs(3600), response_timeout: Duration::from_secs(3600) };
        let header = || StreamHeader { to: Some(Cow::Owned(domain.to_string())), from: None, id: None };
        let login = async {
            let pending = xmlstream::initiate_stream(BufStream::new(tcp), NS_CLIENT, header(), timeouts).await?;
            let (features, stream) = pending.recv_features().await?;
            // tokio-xmpp builds every mechanism up front and SCRAM insists on a username, so an
            // anonymous login still passes one; the server only offers ANONYMOUS there.
            let (user, password) = creds.unwrap_or(("anonymous", ""));
            let credentials = sasl::common::Credentials::default().with_username(user).with_password(password);
            let stream = tokio_xmpp::client_login(stream, features.sasl_mechanisms, credentials)
                .await
                .map_err(|e| anyhow!("SASL login to {domain} failed: {e}"))?;
            let (_features, mut stream) = stream.send_header(header()).await?.recv_features().await?;
            let jid = bind(&mut stream).await?;
            anyhow::Ok((stream, jid))
        };
        let (stream, jid) = tokio::time::timeout(DEFAULT_TIMEOUT, login).await.context("XMPP login timed out")??;

        let (commands, rx) = mpsc::unbounded_channel();
        let inbox = Arc::new(Mutex::new(Inbox::default()));
        let changed = Arc::new(Notify::new());
        let task = tokio::spawn(run(stream, rx, inbox.clone(), changed.clone()));
        Ok(TestClient { jid, commands, inbox, changed, task })
    }

    /// Full JID assigned by the server at bind.
    pub fn jid(&self) -> &str {
        &self.jid
    }

    /// Writes a stanza; returns once it is on the socket.
    pub async fn send(&self, stanza: Element) -> Result<()> {
        let (done, written) = oneshot::channel();
        self.commands.send(Command::Send(stanza, done)).map_err(|_| anyhow!("client {} is disconnected", self.jid))?;
        written.await.map_err(|_| anyhow!("client {} is disconnected", self.jid))?.context("writing stanza")
    }

    /// Sends an IQ (an id is assigned if missing) and returns the reply, `result` or `error`:
    /// check `type` yourself.
    pub async fn iq(&self, mut iq: Element) -> Result<Element> {
        let id = match iq.attr("id") {
            Some(id) => id.to_string(),
            None => {
                let id = format!("tc{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
                set_attr(&mut iq, "id", &id);
                id
            }
        };
        self.send(iq).await?;
        self.next_matching(
            |s| {
                s.name() == "iq"
                    && s.attr("id") == Some(id.as_str())
                    && matches!(s.attr("type"), Some("result" | "error"))
            },
            DEFAULT_TIMEOUT,
        )
        .await
    }

    /// Joins `room@conference.meet.test` as `nick`; returns our self-presence (status 110), or an
    /// error if the MUC answers with an error presence (e.g. not-allowed).
    pub async fn join_muc(&self, room: &str, nick: &str) -> Result<Element> {
        let occupant = format!("{room}/{nick}");
        let presence = Element::builder("presence", NS_CLIENT).append(Element::bare("x", NS_MUC)).build();
        self.send(with_to(presence, &occupant)).await?;
        let reply = self
            .next_matching(
                |s| {
                    s.name() == "presence"
                        && s.attr("from") == Some(occupant.as_str())
                        && (s.attr("type") == Some("error") || has_muc_status(s, "110"))
                },
                DEFAULT_TIMEOUT,
            )
            .await?;
        if reply.attr("type") == Some("error") {
            bail!("joining {occupant} failed: {}", xml(&reply));
        }
        Ok(reply)
    }

    /// Leaves a room and waits for the MUC to confirm (our own unavailable presence).
    pub async fn leave_muc(&self, room: &str, nick: &str) -> Result<()> {
        let occupant = format!("{room}/{nick}");
        let presence = Element::builder("presence", NS_CLIENT).build();
        let mut presence = with_to(presence, &occupant);
        set_attr(&mut presence, "type", "unavailable");
        self.send(presence).await?;
        self.next_matching(
            |s| {
                s.name() == "presence"
                    && s.attr("from") == Some(occupant.as_str())
                    && s.attr("type") == Some("unavailable")
            },
            DEFAULT_TIMEOUT,
        )
        .await?;
        Ok(())
    }

    /// Takes the oldest received stanza matching `pred`, waiting up to `timeout` for one.
    /// Stanzas that do not match stay buffered for later calls, so nothing is lost.
    pub async fn next_matching(&self, pred: impl Fn(&Element) -> bool, timeout: Duration) -> Result<Element> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            // Register interest before looking, so a stanza arriving in between still wakes us.
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            {
                let mut inbox = self.inbox.lock().unwrap();
                if let Some(i) = inbox.unclaimed.iter().position(&pred) {
                    return Ok(inbox.unclaimed.remove(i).expect("index is valid"));
                }
                if let Some(reason) = &inbox.closed {
                    bail!("{}: stream closed ({reason}) before a matching stanza", self.jid);
                }
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                bail!("{}: no matching stanza within {timeout:?}; unclaimed:\n{}", self.jid, self.unclaimed_xml());
            }
        }
    }

    /// Removes and returns every buffered stanza (e.g. to assert nothing unexpected arrived).
    pub fn drain(&self) -> Vec<Element> {
        self.inbox.lock().unwrap().unclaimed.drain(..).collect()
    }

    pub fn is_connected(&self) -> bool {
        self.inbox.lock().unwrap().closed.is_none()
    }

    /// Waits until the server or the network ends the stream; returns why.
    pub async fn wait_disconnected(&self, timeout: Duration) -> Result<String> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if let Some(reason) = &self.inbox.lock().unwrap().closed {
                return Ok(reason.clone());
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                bail!("{} still connected after {timeout:?}", self.jid);
            }
        }
    }

    /// Closes the stream politely (`</stream:stream>`) and waits for the server to close too.
    pub async fn disconnect(&self) -> Result<()> {
        let _ = self.commands.send(Command::Close);
        self.wait_disconnected(DEFAULT_TIMEOUT).await.map(drop)
    }

    fn unclaimed_xml(&self) -> String {
        let inbox = self.inbox.lock().unwrap();
        inbox.unclaimed.iter().map(|e| format!("  {}\n", xml(e))).collect()
    }
}

impl Drop for TestClient {
    fn drop(&mut self) {
        // Dropping the socket ends the session abruptly, as a crashed client would.
        self.task.abort();
    }
}

fn with_to(mut stanza: Element, to: &str) -> Element {
    set_attr(&mut stanza, "to", to);
    stanza
}

async fn bind(stream: &mut Stream) -> Result<String> {
    let request: Element = "<iq xmlns='jabber:client' type='set' id='bind'>\
         <bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>"
        .parse()?;
    stream.send(&request).await?;
    loop {
        let reply = match stream.next().await {
            Some(Ok(el)) => el,
            Some(Err(ReadError::SoftTimeout | ReadError::ParseError(_))) => continue,
            Some(Err(e)) => bail!("stream failed during bind: {e}"),
            None => bail!("stream ended during bind"),
        };
        if reply.name() != "iq" || reply.attr("id") != Some("bind") {
            continue;
        }
        return reply
            .get_child("bind", "urn:ietf:params:xml:ns:xmpp-bind")
            .and_then(|b| b.get_child("jid", "urn:ietf:params:xml:ns:xmpp-bind"))
            .map(|j| j.text())
            .ok_or_else(|| anyhow!("bind failed: {}", xml(&reply)));
    }
}

/// Owns the socket: writes what `TestClient` sends and files everything received in the inbox.
async fn run(
    mut stream: Stream,
    mut commands: mpsc::UnboundedReceiver<Command>,
    inbox: Arc<Mutex<Inbox>>,
    changed: Arc<Notify>,
) {
    let mut closing = false;
    let reason = loop {
        tokio::select! {
            command = commands.recv(), if !closing => match command {
                Some(Command::Send(stanza, done)) => {
                    let _ = done.send(stream.send(&stanza).await);
                }
                // Close, or the TestClient is gone: send our footer, keep reading until theirs.
                Some(Command::Close) | None => {
                    closing = true;
                    if let Err(e) = SinkExt::<&Element>::close(&mut stream).await {
                        break format!("closing: {e}");
                    }
                }
            },
            incoming = stream.next() => match incoming {
                Some(Ok(stanza)) => {
                    inbox.lock().unwrap().unclaimed.push_back(stanza);
                    changed.notify_waiters();
                }
                // Not fatal: ignore rather than tear a test's session down.
                Some(Err(ReadError::SoftTimeout | ReadError::ParseError(_))) => {}
                Some(Err(ReadError::StreamFooterReceived)) => break "stream closed by server".into(),
                Some(Err(ReadError::HardError(e))) => break format!("connection error: {e}"),
                None => break "connection closed".into(),
            },
        }
    };
    inbox.lock().unwrap().closed = Some(reason);
    changed.notify_waiters();
}
