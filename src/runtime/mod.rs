//! The thin runtime around the sans-IO core: one task for the component connection, one task
//! per HTTP call, the durable outbox, and a loop that feeds the core and sleeps until its next
//! deadline.
//!
//! Every queue is bounded. Stanzas to Prosody go through a channel of `limits.outgoing_queue`;
//! when it is full, the loop keeps the core's further stanzas in order and stops reading new
//! stanzas from Prosody until it drains (back-pressure instead of memory). HTTP outcomes,
//! timers and link changes are still handled meanwhile: they are bounded by the core's limits.
//!
//! A stop request drains first ([`Stop::Drain`]): new rooms are refused while running
//! conferences go on, until none is left or `conference.drain_timeout` has passed. systemd's
//! watchdog is pinged from this loop and from nowhere else, so a loop that hangs stops the
//! pings and systemd restarts the focus ([`notify`]).

pub mod api;
pub mod component;
mod durability;
pub mod http;
pub mod notify;
pub mod outbox;

use std::collections::VecDeque;
use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use futures::{Stream, StreamExt};
use minidom::Element;
use thiserror::Error;
use tokio::sync::{mpsc, watch};
use tracing::{info, warn};

use crate::config::Config;
use crate::core::{Effect, Focus, Input, OutboxChange, Settings};
use crate::xmpp::stream::StreamLimits;

/// How long a stopping focus waits for its last DELETEs (the unit's TimeoutStopSec leaves room
/// for it after `conference.drain_timeout`); what is left stays in the outbox for the next start.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// How long a stop waits for the outbox thread to write what is queued.
const OUTBOX_CLOSE_TIMEOUT: Duration = Duration::from_secs(5);
/// Loop turns whose effects may wait for the outbox's disk before the loop stops reading.
const MAX_HELD_TURNS: usize = 4096;
/// Reservation answers handled in one loop turn at most (one outbox sync for all of them).
const HTTP_OUTCOME_BATCH: usize = 64;
/// Stanzas read from Prosody and not yet handled: each may hold up to `max_stanza_nodes` nodes
/// (about 1 MB at the default), so few.
const INCOMING_QUEUE: usize = 32;
/// systemd's status line is refreshed at most this often.
const STATUS_INTERVAL: Duration = Duration::from_secs(1);

/// A request to stop the focus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// SIGTERM or SIGINT: refuse new conferences and let running ones go on for up to
    /// `conference.drain_timeout`; a second request while draining stops at once.
    Drain,
    /// Leave every room now (after the reservation DELETEs' grace).
    Now,
}

/// What [`run_with`] needs beside the configuration.
#[derive(Default)]
pub struct RunOptions {
    /// systemd's notification socket ([`notify::Notifier::from_env`]); `None`: no notifications.
    pub notify: Option<notify::Notifier>,
    /// Called at the top of every turn of the main loop. Only for tests, which make it block to
    /// stall the loop as a deadlock would.
    #[doc(hidden)]
    pub before_turn: Option<Box<dyn FnMut() + Send>>,
}

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Http(#[from] http::HttpSetupError),
    #[error(transparent)]
    Outbox(#[from] outbox::OutboxError),
    #[error("cannot start the outbox thread: {0}")]
    OutboxThread(std::io::Error),
    /// Only a bug can end the outbox thread; exiting non-zero lets systemd restart us.
    #[error("the outbox thread ended unexpectedly")]
    OutboxThreadEnded,
    /// The HTTP API's address is taken or not ours: the operator must know at start-up.
    #[error("cannot listen on http.bind {address}: {source}")]
    HttpBind { address: std::net::SocketAddr, source: std::io::Error },
    /// Only a bug can end the connection task; exiting non-zero lets systemd restart us.
    #[error("the component connection task ended unexpectedly")]
    ConnectionTaskEnded,
}

/// Where the core's effects go.
struct Effects {
    client: Option<http::ReservationClient>,
    http_done: mpsc::UnboundedSender<Input>,
    stanzas: mpsc::Sender<Element>,
    /// Stanzas that did not fit in the channel, in order.
    backlog: VecDeque<Element>,
    outbox: Option<outbox::OutboxWriter>,
    /// Effects that wait for the outbox batches before them to be on disk.
    gate: durability::DurabilityGate,
    /// Conference requests that came over HTTP, by the id the core answers them with. Each is
    /// an open HTTP request (bounded by `http.max_connections`), answered by the core within
    /// `conference.request_timeout`.
    http_requests: api::PendingRequests,
}

impl Effects {
    fn dispatch(&mut self, focus: &mut Focus) {
        let effects: Vec<Effect> = std::iter::from_fn(|| focus.poll_effect()).collect();
        if effects.is_empty() {
            return;
        }
        // Outbox changes are made durable before anything that follows them happens; the
        // writer thread syncs, and the effects wait here meanwhile, not the loop.
        let changes: Vec<OutboxChange> = effects
            .iter()
            .filter_map(|e| match e {
                Effect::Outbox(change) => Some(change.clone()),
                _ => None,
            })
            .collect();
        if let (Some(writer), false) = (&self.outbox, changes.is_empty()) {
            // Refused only by a dead thread, whose report channel the main loop then finds
            // closed: that ends the run (the restart replays the file).
            writer.submit(self.gate.next_batch(), changes);
        }
        if let Some(effects) = self.gate.admit(effects) {
            self.perform(effects);
        }
    }

    /// The writer thread has every batch up to `batch` on disk: what followed them happens.
    fn outbox_durable(&mut self, batch: u64) {
        for effects in self.gate.durable(batch) {
            self.perform(effects);
        }
    }

    fn perform(&mut self, effects: Vec<Effect>) {
        for effect in effects {
            match effect {
                Effect::Send(stanza) => self.send(stanza),
                Effect::Http(call) => {
                    let (client, done) = (self.client.clone(), self.http_done.clone());
                    tokio::spawn(async move {
                        let outcome = match &client {
                            Some(client) => client.perform(&call).await,
                            None => {
                                crate::core::reservation::HttpOutcome::Unreachable("reservation API disabled".into())
                            }
                        };
                        let _ = done.send(Input::Http { id: call.id, outcome });
                    });
                }
                Effect::Outbox(_) => {}
                Effect::AnswerHttp { id, answer } => {
                    // The client may have gone; its answer then has nobody to go to.
                    self.http_requests.deliver(id, answer);
                }
            }
        }
    }

    fn send(&mut self, stanza: Element) {
        if !self.backlog.is_empty() {
            return self.backlog.push_back(stanza);
        }
        match self.stanzas.try_send(stanza) {
            Ok(()) => {}
            Err(mpsc::error::TrySendError::Full(stanza)) => self.backlog.push_back(stanza),
            Err(mpsc::error::TrySendError::Closed(_)) => warn!("the connection task has stopped; dropping a stanza"),
        }
    }
}

/// Runs the focus until `shutdown` completes, then leaves every room at once (no drain) and
/// waits (briefly) for pending reservation DELETEs. For embedding and tests; the binary uses
/// [`run_with`].
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let stops = futures::stream::once(async {
        shutdown.await;
        Stop::Now
    });
    run_with(config, stops, RunOptions::default()).await
}

/// Runs the focus until a [`Stop`] from `stops` ends it, draining first on [`Stop::Drain`]
/// (see [`Stop`]); then leaves every room and waits (briefly) for pending reservation DELETEs.
pub async fn run_with(config: Config, stops: impl Stream<Item = Stop>, options: RunOptions) -> Result<(), RunError> {
    let RunOptions { notify, mut before_turn } = options;
    let mut systemd = notify::Reporter::new(notify);
    let watchdog_period = systemd.notifier().and_then(notify::Notifier::watchdog_interval);
    let mut watchdog = watchdog_period.map(every);
    let mut status_timer = systemd.notifier().map(|_| every(STATUS_INTERVAL));
    let drain_timeout = config.conference.drain_timeout;
    let mut drain_deadline = None;
    let (client, outbox) = match config.reservation.enabled {
        true => (
            Some(http::ReservationClient::new(&config.reservation)?),
            Some(outbox::Outbox::open(&config.state.directory)?),
        ),
        false => (None, None),
    };
    let mut focus = Focus::new(Settings::from_config(&config));
    if let Some(outbox) = &outbox {
        if !outbox.is_empty() {
            info!(count = outbox.len(), "reservations left to delete by an earlier run");
        }
        focus.restore_deletes(Utc::now(), outbox.entries());
    }
    let (event_tx, mut event_rx) = mpsc::channel(INCOMING_QUEUE);
    let (link_tx, mut link_rx) = watch::channel(component::LinkState::default());
    let (stanza_tx, stanza_rx) = mpsc::channel(config.limits.outgoing_queue);
    let (http_tx, mut http_rx) = mpsc::unbounded_channel();
    let mut connection = AbortOnDrop(tokio::spawn(component::run(
        component::Settings {
            host: config.xmpp.host.clone(),
            port: config.xmpp.port,
            jid: config.xmpp.component.parse().expect("validated by Config"),
            secret: config.xmpp.secret.clone(),
            keepalive: config.xmpp.keepalive,
            reconnect_max_delay: config.xmpp.reconnect_max_delay,
            write_timeout: config.xmpp.write_timeout,
            limits: StreamLimits {
                max_stanza_size: config.limits.max_stanza_size,
                max_depth: config.limits.max_depth,
                max_nodes: config.limits.max_stanza_nodes,
            },
        },
        event_tx,
        link_tx,
        stanza_rx,
    )));
    let (queues, mut inbox) = api::queues();
    let api_server = match config.http.enabled {
        true => Some(api::ApiServer::start(&config, queues).await?),
        false => None,
    };
    let (durable_tx, mut durable_rx) = mpsc::unbounded_channel();
    let outbox = match outbox {
        Some(outbox) => Some(outbox::OutboxWriter::start(outbox, durable_tx).map_err(RunError::OutboxThread)?),
        None => None,
    };
    let has_outbox = outbox.is_some();
    let mut effects = Effects {
        client,
        http_done: http_tx,
        stanzas: stanza_tx,
        backlog: VecDeque::new(),
        outbox,
        gate: durability::DurabilityGate::default(),
        http_requests: api::PendingRequests::default(),
    };
    let mut link = component::LinkState::default();
    let mut failure = None;
    let stops = stops.fuse();
    tokio::pin!(stops);
    loop {
        if let Some(hook) = &mut before_turn {
            hook();
        }
        effects.dispatch(&mut focus);
        if focus.is_draining() && focus.conference_count() == 0 {
            info!("drained: no conference left");
            break;
        }
        let sleep = sleep_until(focus.poll_timeout());
        let backlogged = !effects.backlog.is_empty();
        // A disk that stops answering holds back every effect after a grant; past this many
        // held turns no more stanzas are read, so memory stays bounded (like a full backlog).
        let disk_stalled = effects.gate.held() >= MAX_HELD_TURNS;
        // Set by the select (whose futures borrow `effects`), acted on after it.
        let mut durable = None;
        tokio::select! {
            Some(stop) = stops.next() => {
                if stop == Stop::Now || focus.is_draining() || drain_timeout.is_zero() {
                    break;
                }
                info!(timeout = ?drain_timeout, "stop requested: draining; a second signal stops at once");
                focus.start_draining(Utc::now());
                drain_deadline = Some(tokio::time::Instant::now() + drain_timeout);
                systemd.stopping(&notify::status(&focus, link.up, true));
            }
            _ = sleep_until_instant(drain_deadline) => {
                info!(conferences = focus.conference_count(), "drain timeout passed");
                break;
            }
            _ = tick(&mut watchdog) => systemd.watchdog(),
            _ = tick(&mut status_timer) => systemd.update(&focus, link.up),
            changed = link_rx.changed() => {
                if changed.is_err() {
                    failure = Some(RunError::ConnectionTaskEnded);
                    break;
                }
                let now = *link_rx.borrow_and_update();
                // A flap can be seen as one change: a new session means the old one went down.
                if link.up && (!now.up || now.session != link.session) {
                    focus.handle(Utc::now(), Input::Disconnected);
                }
                if now.up && (!link.up || now.session != link.session) {
                    focus.handle(Utc::now(), Input::Connected);
                    systemd.connected(&focus);
                }
                link = now;
            }
            permit = effects.stanzas.reserve(), if backlogged => flush_one(&mut effects.backlog, permit),
            batch = durable_rx.recv(), if has_outbox => match batch {
                Some(batch) => durable = Some(batch),
                None => {
                    failure = Some(RunError::OutboxThreadEnded);
                    break;
                }
            },
            Some(input) = http_rx.recv() => {
                // Reservation answers that are already in are handled together, so that the
                // outbox changes they make (a grant to delete later, a DELETE confirmed) reach
                // the disk with one fdatasync before the effects that follow them, instead of
                // one each: under a burst of new rooms that sync was a fifth of the focus's CPU.
                focus.handle(Utc::now(), input);
                for _ in 1..HTTP_OUTCOME_BATCH {
                    let Ok(input) = http_rx.try_recv() else { break };
                    focus.handle(Utc::now(), input);
                }
            }
            Some(query) = inbox.state.recv() => effects.http_requests.answer(&mut focus, query),
            // Not while the disk holds effects back: each request would add to them.
            Some(query) = inbox.requests.recv(), if !disk_stalled => effects.http_requests.answer(&mut focus, query),
            event = event_rx.recv(), if !backlogged && !disk_stalled => {
                let Some(event) = event else {
                    failure = Some(RunError::ConnectionTaskEnded);
                    break;
                };
                let input = match event {
                    component::Event::Stanza(stanza) => Input::Stanza(stanza),
                    component::Event::Rejected(rejected) => Input::Rejected(rejected),
                };
                focus.handle(Utc::now(), input);
            }
            _ = sleep => focus.handle_timeout(Utc::now()),
        }
        if let Some(batch) = durable {
            effects.outbox_durable(batch);
        }
    }
    // Questions from the HTTP API now hear "stopping" instead of waiting for a loop that is gone.
    drop(inbox);
    effects.http_requests.clear();
    info!(conferences = focus.conference_count(), "shutting down");
    systemd.stopping("stopping");
    focus.shutdown(Utc::now());
    effects.dispatch(&mut focus);
    let grace = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(grace);
    // Stanzas still queued can only leave over a live link.
    while focus.has_pending_http() || effects.gate.held() > 0 || (!effects.backlog.is_empty() && link_rx.borrow().up) {
        let backlogged = !effects.backlog.is_empty();
        let mut durable = None;
        tokio::select! {
            permit = effects.stanzas.reserve(), if backlogged => flush_one(&mut effects.backlog, permit),
            Some(batch) = durable_rx.recv(), if has_outbox => durable = Some(batch),
            Some(input) = http_rx.recv() => focus.handle(Utc::now(), input),
            _ = sleep_until(focus.poll_timeout()) => focus.handle_timeout(Utc::now()),
            // systemd may watch a stopping service too.
            _ = tick(&mut watchdog) => systemd.watchdog(),
            _ = &mut grace => {
                warn!("stopping with reservation DELETEs still pending; the next start resumes them");
                break;
            }
        }
        if let Some(batch) = durable {
            effects.outbox_durable(batch);
        }
        effects.dispatch(&mut focus);
    }
    if effects.gate.held() > 0 {
        // Their outbox records still reach the disk (below); the next start resumes the DELETEs.
        warn!(turns = effects.gate.held(), "stopping with effects still waiting for the outbox's disk");
    }
    if let Some(writer) = effects.outbox.take() {
        writer.close(OUTBOX_CLOSE_TIMEOUT).await;
    }
    // Closing the stanza channel makes the connection task close the stream after flushing.
    drop(effects);
    let _ = tokio::time::timeout(Duration::from_secs(2), &mut connection.0).await;
    if let Some(server) = api_server {
        server.stop().await;
    }
    failure.map_or(Ok(()), Err)
}

/// The connection task ends with the runtime, also when the runtime's future is dropped.
pub(crate) struct AbortOnDrop(pub(crate) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Moves the oldest backlogged stanza into the channel; with the connection task gone the
/// backlog can never drain, so it is dropped rather than waited for.
fn flush_one(backlog: &mut VecDeque<Element>, permit: Result<mpsc::Permit<'_, Element>, mpsc::error::SendError<()>>) {
    match permit {
        Ok(permit) => permit.send(backlog.pop_front().expect("backlogged")),
        Err(_) => {
            warn!(count = backlog.len(), "the connection task has stopped; dropping queued stanzas");
            backlog.clear();
        }
    }
}

/// Sleeps until a core deadline (forever when there is none).
async fn sleep_until(deadline: Option<crate::core::Time>) {
    match deadline {
        Some(at) => {
            let wait = (at - Utc::now()).to_std().unwrap_or(Duration::ZERO);
            tokio::time::sleep(wait).await
        }
        None => std::future::pending().await,
    }
}

/// An interval whose missed ticks are not made up for: after a stall, one tick, then the period.
fn every(period: Duration) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

/// The next tick of an optional interval (never, without one).
async fn tick(interval: &mut Option<tokio::time::Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Sleeps until `deadline` (forever when there is none).
async fn sleep_until_instant(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}
