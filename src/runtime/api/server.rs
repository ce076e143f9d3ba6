//! The HTTP API's place in the runtime: the listener and its task ([`ApiServer`]), and the
//! main loop's side of the questions ([`PendingRequests::answer`]).

use std::collections::HashMap;
use std::time::Duration;

use chrono::Utc;
use minidom::Element;
use tokio::sync::oneshot;
use tracing::{error, info, warn};
use xmpp_parsers::stanza_error::StanzaError;

use super::{router, ApiState, Query, Queues};
use crate::config::Config;
use crate::core::{Focus, Input};
use crate::runtime::{AbortOnDrop, RunError};

/// The HTTP API, served in a task until [`ApiServer::stop`].
pub struct ApiServer {
    stop: oneshot::Sender<()>,
    task: AbortOnDrop,
}

impl ApiServer {
    /// Binds `http.bind` (a taken port stops start-up) and serves the API.
    pub async fn start(config: &Config, queries: Queues) -> Result<ApiServer, RunError> {
        let address = config.http.bind;
        let listener =
            tokio::net::TcpListener::bind(address).await.map_err(|source| RunError::HttpBind { address, source })?;
        let local = listener.local_addr().map_err(|source| RunError::HttpBind { address, source })?;
        info!(address = %local, "HTTP API listening");
        let state = ApiState::new(
            queries,
            config.bridges.brewery.is_some(),
            // The core answers within request_timeout; a little more covers the loop's turn.
            config.conference.request_timeout + Duration::from_secs(1),
        );
        let app = router(state, &config.http);
        let limits = config.http.limits();
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let stopped = async move {
                let _ = stopped.await;
            };
            if let Err(e) = crate::http_serve::serve(listener, app, limits, stopped).await {
                error!("the HTTP API stopped: {e}");
            }
        });
        Ok(ApiServer { stop, task: AbortOnDrop(task) })
    }

    /// Stops accepting and gives requests in progress a moment to finish.
    pub async fn stop(mut self) {
        let _ = self.stop.send(());
        if tokio::time::timeout(Duration::from_secs(2), &mut self.task.0).await.is_err() {
            warn!("stopping with HTTP API requests still open");
        }
    }
}

/// Conference requests that came over HTTP, by the id the core answers them with. The core
/// answers each within `conference.request_timeout` (also when its client has gone), so they
/// are bounded by the core's limits on requests (`limits.max_pending_conferences` ×
/// `limits.max_waiters_per_conference` at most) and by how fast `http.max_connections`
/// connections can send them.
#[derive(Default)]
pub struct PendingRequests {
    waiting: HashMap<u64, oneshot::Sender<Result<Element, StanzaError>>>,
    next_id: u64,
}

impl PendingRequests {
    /// Answers a question from the loop that owns the focus.
    pub fn answer(&mut self, focus: &mut Focus, query: Query) {
        match query {
            Query::Stats(reply) => {
                let _ = reply.send(focus.stats());
            }
            Query::DebugOverview(reply) => {
                let _ = reply.send(focus.debug_overview());
            }
            Query::DebugConference(room, reply) => {
                let _ = reply.send(focus.debug_conference(&room));
            }
            Query::ConferenceRequest(request, reply) => {
                self.next_id += 1;
                let id = self.next_id;
                self.waiting.insert(id, reply);
                focus.handle(Utc::now(), Input::HttpConferenceRequest { id, request });
            }
        }
    }

    /// The core's answer to request `id`; the client may have gone, then nobody hears it.
    pub fn deliver(&mut self, id: u64, answer: Result<Element, StanzaError>) {
        if let Some(reply) = self.waiting.remove(&id) {
            let _ = reply.send(answer);
        }
    }

    /// Forgets every request: their handlers hear that the focus is stopping.
    pub fn clear(&mut self) {
        self.waiting.clear();
    }
}
