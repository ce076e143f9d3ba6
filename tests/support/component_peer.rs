//! A stand-in for Prosody's component port that a test controls byte by byte: it accepts the
//! focus's XEP-0114 login, then lets the test write anything on the stream (also what Prosody
//! itself would never relay) and read what the focus answers, or stop reading altogether.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

pub struct ComponentPeer {
    listener: TcpListener,
}

/// One logged-in component connection.
pub struct PeerConnection {
    pub stream: TcpStream,
    /// Everything the focus sent after the handshake, as text.
    pub received: String,
}

impl ComponentPeer {
    pub async fn start() -> Result<ComponentPeer> {
        Ok(ComponentPeer { listener: TcpListener::bind("127.0.0.1:0").await? })
    }

    pub fn port(&self) -> u16 {
        self.listener.local_addr().expect("bound").port()
    }

    /// Accepts the next connection and completes the login whatever the secret.
    pub async fn accept(&self, timeout: Duration) -> Result<PeerConnection> {
        let (stream, _) = tokio::time::timeout(timeout, self.listener.accept()).await.context("no connection")??;
        let mut connection = PeerConnection { stream, received: String::new() };
        connection.read_until("<stream:stream", timeout).await?;
        connection.read_until(">", timeout).await?;
        connection
            .write("<?xml version='1.0'?><stream:stream xmlns:stream='http://etherx.jabber.org/streams' xmlns='jabber:component:accept' id='peer-stream-1' from='focus.meet.test'>")
            .await?;
        connection.read_until("</handshake>", timeout).await?;
        connection.write("<handshake/>").await?;
        connection.received.clear();
        Ok(connection)
    }
}

impl PeerConnection {
    pub async fn write(&mut self, text: &str) -> Result<()> {
        self.stream.write_all(text.as_bytes()).await?;
        Ok(())
    }

    /// Reads until `needle` has been received (keeping what came with it in `received`).
    pub async fn read_until(&mut self, needle: &str, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut buf = vec![0; 65536];
        while !self.received.contains(needle) {
            let n = tokio::time::timeout_at(deadline, self.stream.read(&mut buf))
                .await
                .with_context(|| format!("waiting for {needle:?}; received {:?}", tail(&self.received)))??;
            if n == 0 {
                bail!("the focus closed the connection while we waited for {needle:?}");
            }
            self.received.push_str(&String::from_utf8_lossy(&buf[..n]));
        }
        Ok(())
    }
}

fn tail(text: &str) -> &str {
    let start = text.char_indices().rev().nth(500).map_or(0, |(i, _)| i);
    &text[start..]
}
