//! A loopback TCP proxy whose connections a test can cut, e.g. between the focus and Prosody's
//! component port, to simulate a network failure without restarting either side.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Result};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Notify};
use tokio::task::JoinSet;

struct Counters {
    /// Connections forwarded to the target (refused ones while cut are not counted).
    accepted: AtomicUsize,
    changed: Notify,
}

pub struct TcpProxy {
    port: u16,
    cut: watch::Sender<bool>,
    counters: Arc<Counters>,
    // Aborting it drops the JoinSet, which closes every forwarded connection.
    task: tokio::task::JoinHandle<()>,
}

impl TcpProxy {
    pub async fn start(target_port: u16) -> Result<TcpProxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let (cut, cut_rx) = watch::channel(false);
        let counters = Arc::new(Counters { accepted: AtomicUsize::new(0), changed: Notify::new() });
        let task = tokio::spawn(accept(listener, target_port, cut_rx, counters.clone()));
        Ok(TcpProxy { port, cut, counters, task })
    }

    /// Port to connect to instead of the target's.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Closes every live connection and closes new ones immediately after accepting them.
    pub fn cut(&self) {
        self.cut.send_replace(true);
    }

    /// Forwards new connections again (cut ones stay closed).
    pub fn restore(&self) {
        self.cut.send_replace(false);
    }

    /// Total connections forwarded so far.
    pub fn accepted(&self) -> usize {
        self.counters.accepted.load(Ordering::SeqCst)
    }

    /// Waits until `n` connections in total have been forwarded, e.g. to see a reconnect.
    pub async fn wait_accepted(&self, n: usize, timeout: Duration) -> Result<()> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let changed = self.counters.changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.accepted() >= n {
                return Ok(());
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                bail!("proxy forwarded {} of {n} connections within {timeout:?}", self.accepted());
            }
        }
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept(listener: TcpListener, target_port: u16, cut: watch::Receiver<bool>, counters: Arc<Counters>) {
    let mut connections = JoinSet::new();
    loop {
        let Ok((client, _)) = listener.accept().await else {
            continue;
        };
        while connections.try_join_next().is_some() {}
        if *cut.borrow() {
            drop(client); // refused: the peer sees the connection close at once
            continue;
        }
        let Ok(server) = TcpStream::connect(("127.0.0.1", target_port)).await else {
            continue; // target down: behave like it, close the client
        };
        counters.accepted.fetch_add(1, Ordering::SeqCst);
        counters.changed.notify_waiters();
        connections.spawn(forward(client, server, cut.clone()));
    }
}

/// Copies both ways until either side closes or the proxy is cut; dropping the sockets closes both.
async fn forward(mut client: TcpStream, mut server: TcpStream, mut cut: watch::Receiver<bool>) {
    tokio::select! {
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
        _ = cut.wait_for(|cut| *cut) => {}
    }
}
