//! The thin runtime around the sans-IO core: one task for the component connection, one task
//! per HTTP call, and a loop that feeds the core and sleeps until its next deadline.

pub mod component;
pub mod http;

use std::future::Future;
use std::time::Duration;

use chrono::Utc;
use thiserror::Error;
use tokio::sync::mpsc;
use tracing::{info, warn};

use crate::config::Config;
use crate::core::{Effect, Focus, Input, Settings};

/// How long a stopping focus waits for its last DELETEs (systemd's TimeoutStopSec is 15 s).
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

#[derive(Debug, Error)]
pub enum RunError {
    #[error(transparent)]
    Http(#[from] http::HttpSetupError),
}

/// Runs the focus until `shutdown` completes, then leaves every room and waits (briefly) for
/// pending reservation DELETEs.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), RunError> {
    let client = match config.reservation.enabled {
        true => Some(http::ReservationClient::new(&config.reservation)?),
        false => None,
    };
    let mut focus = Focus::new(Settings::from_config(&config));
    let (event_tx, mut event_rx) = mpsc::channel(1024);
    // Unbounded on purpose: a reconnect re-sends one join per live room at once, and dropping
    // any of them would strand a conference; the core produces stanzas only in answer to input.
    let (stanza_tx, stanza_rx) = mpsc::unbounded_channel();
    let (http_tx, mut http_rx) = mpsc::unbounded_channel();
    let connection = tokio::spawn(component::run(
        component::Settings {
            host: config.xmpp.host.clone(),
            port: config.xmpp.port,
            jid: config.xmpp.component.parse().expect("validated by Config"),
            secret: config.xmpp.secret.clone(),
            keepalive: config.xmpp.keepalive,
            reconnect_max_delay: config.xmpp.reconnect_max_delay,
        },
        event_tx,
        stanza_rx,
    ));
    let dispatch = |focus: &mut Focus| {
        while let Some(effect) = focus.poll_effect() {
            match effect {
                Effect::Send(stanza) => {
                    if stanza_tx.send(stanza).is_err() {
                        warn!("the connection task has stopped; dropping a stanza");
                    }
                }
                Effect::Http(call) => {
                    let (client, done) = (client.clone(), http_tx.clone());
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
            }
        }
    };
    tokio::pin!(shutdown);
    loop {
        dispatch(&mut focus);
        let sleep = sleep_until(focus.poll_timeout());
        tokio::select! {
            event = event_rx.recv() => {
                let Some(event) = event else { break };
                focus.handle(Utc::now(), to_input(event));
            }
            Some(input) = http_rx.recv() => focus.handle(Utc::now(), input),
            _ = sleep => focus.handle_timeout(Utc::now()),
            _ = &mut shutdown => break,
        }
    }
    info!(conferences = focus.conference_count(), "shutting down");
    focus.shutdown(Utc::now());
    dispatch(&mut focus);
    let grace = tokio::time::sleep(SHUTDOWN_GRACE);
    tokio::pin!(grace);
    while focus.has_pending_http() {
        tokio::select! {
            Some(input) = http_rx.recv() => focus.handle(Utc::now(), input),
            _ = sleep_until(focus.poll_timeout()) => focus.handle_timeout(Utc::now()),
            _ = &mut grace => {
                warn!("stopping with reservation DELETEs still pending");
                break;
            }
        }
        dispatch(&mut focus);
    }
    // Closing the stanza channel makes the connection task close the stream after flushing.
    drop(stanza_tx);
    let _ = tokio::time::timeout(Duration::from_secs(2), connection).await;
    Ok(())
}

fn to_input(event: component::Event) -> Input {
    match event {
        component::Event::Connected => Input::Connected,
        component::Event::Disconnected => Input::Disconnected,
        component::Event::Stanza(stanza) => Input::Stanza(stanza),
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
