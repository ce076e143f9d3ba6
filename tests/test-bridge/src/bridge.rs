//! The running bridge: [`TestBridge`] is the handle tests hold; one task owns the XMPP stream
//! (brewery presence, IQ answers, switch changes) and the media runtime owns the UDP socket.

use std::net::SocketAddr;
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use minidom::Element;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use tokio_xmpp::xmlstream::ReadError;
use tracing::{debug, info, warn};

use crate::brewery::{self, Load};
use crate::colibri2::{Colibri2Handler, Context};
use crate::config::TestBridgeConfig;
use crate::error::BridgeError;
use crate::health;
use crate::media::{MediaRuntime, RtcTransports};
use crate::switches::{ColibriMode, HealthMode, Switches};
use crate::view::{BridgeView, ConferenceView, Counters, EndpointView};
use crate::xml::{
    elem, iq_error, iq_result, to_xml, ElementExt, StanzaError, NS_CLIENT, NS_COLIBRI2, NS_DISCO_INFO, NS_DTLS,
    NS_HEALTH, NS_ICE_UDP, NS_MUC_USER, NS_PING, NS_VERSION,
};
use crate::xmpp::{self, Stream};

enum Control {
    Stop(oneshot::Sender<()>),
}

/// A running test bridge. Dropping it is the same as [`TestBridge::kill`] without waiting.
pub struct TestBridge {
    occupant: String,
    jid: String,
    udp_addr: SocketAddr,
    switches: watch::Sender<Switches>,
    view: watch::Sender<BridgeView>,
    control: mpsc::UnboundedSender<Control>,
    task: Option<JoinHandle<()>>,
    media: Option<MediaRuntime>,
}

impl TestBridge {
    /// Binds the UDP socket, logs in, and (unless `switches.in_brewery` is false) joins the
    /// brewery; returns once the MUC confirmed the join.
    pub async fn start(config: TestBridgeConfig) -> Result<TestBridge, BridgeError> {
        config.validate().map_err(BridgeError::Config)?;
        let (view, _) = watch::channel(BridgeView::default());
        let media = MediaRuntime::start(config.udp_port, view.clone()).await.map_err(BridgeError::Udp)?;
        let connection =
            match xmpp::connect(&config.xmpp_server, &config.domain, &config.login, config.start_timeout).await {
                Ok(c) => c,
                Err(e) => {
                    media.shutdown().await;
                    return Err(e.into());
                }
            };
        info!(jid = %connection.jid, "logged in");
        view.send_modify(|v| {
            v.xmpp_connected = true;
            v.jid = Some(connection.jid.clone());
        });
        let (switches, switches_rx) = watch::channel(config.switches.clone());
        let (control, control_rx) = mpsc::unbounded_channel();
        let occupant = config.occupant_jid();
        let task = BridgeTask {
            stream: connection.stream,
            domain: config.domain.clone(),
            occupant: occupant.clone(),
            switches: switches_rx,
            last: config.switches.clone(),
            view: view.clone(),
            control: control_rx,
            colibri: Colibri2Handler::new(),
            transports: media.transports(!config.media),
            presence_interval: config.presence_interval,
            joined: false,
        };
        let bridge = TestBridge {
            occupant,
            jid: connection.jid,
            udp_addr: media.local_addr(),
            switches,
            view,
            control,
            task: Some(tokio::spawn(task.run())),
            media: Some(media),
        };
        if config.switches.in_brewery {
            let joined = bridge
                .wait_for(config.start_timeout, "the brewery join", |v| v.in_brewery || v.failure.is_some())
                .await;
            let failure = match joined {
                Ok(v) => v.failure,
                Err(e) => Some(e.to_string()),
            };
            if let Some(failure) = failure {
                bridge.kill().await;
                return Err(BridgeError::Failed(failure));
            }
        }
        Ok(bridge)
    }

    /// `brewery@service/nick`: where the focus sends health checks and Colibri2.
    pub fn occupant_jid(&self) -> &str {
        &self.occupant
    }

    /// The full JID the XMPP server bound.
    pub fn jid(&self) -> &str {
        &self.jid
    }

    /// The UDP address of the ICE host candidate.
    pub fn udp_addr(&self) -> SocketAddr {
        self.udp_addr
    }

    /// The current switches.
    pub fn switches(&self) -> Switches {
        self.switches.borrow().clone()
    }

    /// Changes switches; the bridge advertises the change at once.
    pub fn update_switches(&self, change: impl FnOnce(&mut Switches)) {
        self.switches.send_modify(change);
    }

    pub fn set_health(&self, mode: HealthMode) {
        self.update_switches(|s| s.health = mode);
    }

    pub fn set_colibri(&self, mode: ColibriMode) {
        self.update_switches(|s| s.colibri = mode);
    }

    pub fn set_drain(&self, on: bool) {
        self.update_switches(|s| s.drain = on);
    }

    pub fn set_graceful_shutdown(&self, on: bool) {
        self.update_switches(|s| s.graceful_shutdown = on);
    }

    pub fn set_shutting_down(&self, on: bool) {
        self.update_switches(|s| s.shutting_down = on);
    }

    pub fn set_stress_level(&self, level: f64) {
        self.update_switches(|s| s.stress_level = level);
    }

    pub fn set_region(&self, region: Option<&str>) {
        self.update_switches(|s| s.region = region.map(str::to_string));
    }

    pub fn set_version(&self, version: &str) {
        self.update_switches(|s| s.version = version.to_string());
    }

    /// Leaves the brewery politely (unavailable presence); returns once the MUC confirmed.
    pub async fn leave_brewery(&self, timeout: Duration) -> Result<(), BridgeError> {
        self.update_switches(|s| s.in_brewery = false);
        self.wait_for(timeout, "leaving the brewery", |v| !v.in_brewery || !v.xmpp_connected).await.map(drop)
    }

    /// Joins the brewery again; returns once the MUC confirmed.
    pub async fn join_brewery(&self, timeout: Duration) -> Result<(), BridgeError> {
        self.view.send_modify(|v| v.failure = None);
        self.update_switches(|s| s.in_brewery = true);
        let v = self.wait_for(timeout, "joining the brewery", |v| v.in_brewery || v.failure.is_some()).await?;
        match v.failure {
            Some(f) => Err(BridgeError::Failed(f)),
            None => Ok(()),
        }
    }

    /// A copy of everything observable.
    pub fn view(&self) -> BridgeView {
        self.view.borrow().clone()
    }

    /// A receiver of every change of the view.
    pub fn subscribe(&self) -> watch::Receiver<BridgeView> {
        self.view.subscribe()
    }

    pub fn counters(&self) -> Counters {
        self.view.borrow().counters
    }

    pub fn conference(&self, meeting_id: &str) -> Option<ConferenceView> {
        self.view.borrow().conferences.get(meeting_id).cloned()
    }

    /// An endpoint, with its transport (ICE/DTLS) state.
    pub fn endpoint(&self, meeting_id: &str, endpoint_id: &str) -> Option<EndpointView> {
        self.view.borrow().endpoint(meeting_id, endpoint_id)
    }

    /// Waits until `condition` holds for the view (checked at once and on every change).
    pub async fn wait_for(
        &self,
        timeout: Duration,
        what: &str,
        mut condition: impl FnMut(&BridgeView) -> bool,
    ) -> Result<BridgeView, BridgeError> {
        let mut rx = self.view.subscribe();
        let outcome = match tokio::time::timeout(timeout, rx.wait_for(|v| condition(v))).await {
            Ok(Ok(v)) => Ok(v.clone()),
            Ok(Err(_)) => Err(BridgeError::Stopped),
            Err(_) => Err(BridgeError::Timeout(timeout, what.to_string())),
        };
        outcome
    }

    /// Waits until the endpoint's ICE and DTLS are both connected (or its transport failed).
    pub async fn wait_endpoint_connected(
        &self,
        meeting_id: &str,
        endpoint_id: &str,
        timeout: Duration,
    ) -> Result<EndpointView, BridgeError> {
        let what = format!("ICE and DTLS of endpoint {meeting_id}/{endpoint_id}");
        let v = self
            .wait_for(timeout, &what, |v| {
                v.endpoint(meeting_id, endpoint_id).is_some_and(|e| {
                    (e.transport.ice_connected && e.transport.dtls_connected) || e.transport.failure.is_some()
                })
            })
            .await?;
        let endpoint = v.endpoint(meeting_id, endpoint_id).ok_or(BridgeError::Stopped)?;
        match &endpoint.transport.failure {
            Some(f) => Err(BridgeError::Failed(format!("{what}: {f}"))),
            None => Ok(endpoint),
        }
    }

    /// Stops politely: unavailable presence in the brewery, stream closed, socket closed.
    pub async fn stop(mut self) {
        let (done, stopped) = oneshot::channel();
        if self.control.send(Control::Stop(done)).is_ok() {
            let _ = tokio::time::timeout(Duration::from_secs(5), stopped).await;
        }
        self.shutdown_tasks().await;
    }

    /// Dies: the XMPP connection is dropped without unavailable presence or stream footer, and
    /// the UDP socket is closed. Returns once both are closed.
    pub async fn kill(mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
            let _ = task.await;
        }
        self.shutdown_tasks().await;
    }

    async fn shutdown_tasks(&mut self) {
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        if let Some(media) = self.media.take() {
            media.shutdown().await;
        }
        self.view.send_modify(|v| {
            v.xmpp_connected = false;
            v.in_brewery = false;
        });
    }
}

impl Drop for TestBridge {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
        if let Some(media) = self.media.take() {
            media.abort();
        }
    }
}

/// The task that owns the XMPP stream.
struct BridgeTask {
    stream: Stream,
    domain: String,
    occupant: String,
    switches: watch::Receiver<Switches>,
    /// The switches last acted on.
    last: Switches,
    view: watch::Sender<BridgeView>,
    control: mpsc::UnboundedReceiver<Control>,
    colibri: Colibri2Handler,
    transports: RtcTransports,
    presence_interval: Duration,
    /// A join was sent and no leave since.
    joined: bool,
}

type Step = Result<(), String>;

impl BridgeTask {
    async fn run(mut self) {
        let outcome = self.serve().await;
        if let Err(why) = &outcome {
            warn!("bridge stopped: {why}");
        }
        // Conferences and transports stay as they were (a JVB that loses XMPP keeps its media).
        self.view.send_modify(|v| {
            v.xmpp_connected = false;
            v.in_brewery = false;
            if let Err(why) = outcome {
                v.failure = Some(why);
            }
        });
    }

    async fn serve(&mut self) -> Step {
        self.last = self.switches.borrow_and_update().clone();
        if self.last.in_brewery {
            self.join().await?;
        }
        let period = self.presence_interval;
        let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                incoming = self.stream.next() => match incoming {
                    Some(Ok(stanza)) => self.on_stanza(stanza).await?,
                    Some(Err(ReadError::SoftTimeout)) => {
                        let ping = elem("iq", NS_CLIENT)
                            .with_attr("type", "get")
                            .with_attr("id", format!("ping-{:08x}", rand::random::<u32>()))
                            .with_attr("to", &self.domain)
                            .with_child(elem("ping", NS_PING));
                        self.send(ping).await?;
                    }
                    Some(Err(ReadError::ParseError(e))) => warn!("unreadable stanza skipped: {e}"),
                    Some(Err(ReadError::StreamFooterReceived)) => return Err("the server closed the stream".into()),
                    Some(Err(ReadError::HardError(e))) => return Err(format!("connection error: {e}")),
                    None => return Err("connection closed".into()),
                },
                changed = self.switches.changed() => {
                    if changed.is_err() {
                        return Ok(());
                    }
                    self.on_switches().await?;
                }
                _ = ticker.tick() => {
                    if self.joined {
                        self.send_presence().await?;
                    }
                }
                control = self.control.recv() => {
                    if let Some(Control::Stop(done)) = control {
                        self.stop_politely().await;
                        let _ = done.send(());
                    }
                    return Ok(());
                }
            }
        }
    }

    async fn send(&mut self, stanza: Element) -> Step {
        self.stream.send(&stanza).await.map_err(|e| format!("sending a stanza: {e}"))
    }

    fn stats(&self) -> Element {
        let (conferences, participants) = self.colibri.load();
        brewery::stats_element(&self.last, Load { conferences, participants })
    }

    async fn join(&mut self) -> Step {
        info!(occupant = %self.occupant, "joining the brewery");
        self.joined = true;
        self.send_stats(brewery::join_presence).await
    }

    async fn send_presence(&mut self) -> Step {
        self.send_stats(brewery::update_presence).await
    }

    /// A presence with the current stats (a join or an update).
    async fn send_stats(&mut self, presence: fn(&str, Element) -> Element) -> Step {
        let presence = presence(&self.occupant, self.stats());
        self.send(presence).await?;
        self.view.send_modify(|v| v.counters.presences_sent += 1);
        Ok(())
    }

    async fn leave(&mut self) -> Step {
        info!(occupant = %self.occupant, "leaving the brewery");
        self.joined = false;
        self.send(brewery::leave_presence(&self.occupant)).await
    }

    async fn on_switches(&mut self) -> Step {
        self.last = self.switches.borrow_and_update().clone();
        // Compared with what was done, not with the previous switches: after a kick or a
        // refused join, `in_brewery = true` joins again.
        match (self.joined, self.last.in_brewery) {
            (false, true) => self.join().await,
            (true, false) => self.leave().await,
            (true, true) => self.send_presence().await,
            (false, false) => Ok(()),
        }
    }

    async fn stop_politely(&mut self) {
        if self.joined {
            let _ = self.leave().await;
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), SinkExt::<&Element>::close(&mut self.stream)).await;
    }

    async fn on_stanza(&mut self, stanza: Element) -> Step {
        match stanza.name() {
            "presence" => {
                self.on_presence(&stanza);
                Ok(())
            }
            "iq" => match self.on_iq(&stanza) {
                Some(reply) => self.send(reply).await,
                None => Ok(()),
            },
            _ => Ok(()),
        }
    }

    /// Our own presence in the brewery tells whether we are in it.
    fn on_presence(&mut self, presence: &Element) {
        if presence.attr("from") != Some(self.occupant.as_str()) {
            return;
        }
        match presence.attr("type") {
            Some("error") => {
                let condition = presence
                    .get_child("error", NS_CLIENT)
                    .and_then(|e| e.children().next())
                    .map(|c| c.name().to_string())
                    .unwrap_or_else(|| "unknown".into());
                warn!(occupant = %self.occupant, %condition, "brewery join refused");
                self.joined = false;
                let failure = format!("joining {} refused: {condition}", self.occupant);
                self.view.send_modify(|v| {
                    v.in_brewery = false;
                    v.failure = Some(failure);
                });
            }
            Some("unavailable") => {
                if self.joined {
                    warn!(occupant = %self.occupant, "removed from the brewery");
                    self.joined = false;
                }
                self.view.send_modify(|v| v.in_brewery = false);
            }
            None => {
                let self_presence = presence
                    .get_child("x", NS_MUC_USER)
                    .is_some_and(|x| x.children().any(|s| s.name() == "status" && s.attr("code") == Some("110")));
                if self_presence && !self.view.borrow().in_brewery {
                    info!(occupant = %self.occupant, "in the brewery");
                    self.view.send_modify(|v| v.in_brewery = true);
                }
            }
            Some(_) => {}
        }
    }

    /// The answer to an IQ, if one is due.
    fn on_iq(&mut self, iq: &Element) -> Option<Element> {
        if !matches!(iq.attr("type"), Some("get" | "set")) {
            return None;
        }
        let Some(payload) = iq.children().next() else {
            self.view.send_modify(|v| v.counters.other_iqs += 1);
            return Some(iq_error(iq, &StanzaError::new("bad-request", "IQ request without a payload")));
        };
        if payload.is("healthcheck", NS_HEALTH) {
            self.view.send_modify(|v| v.counters.health_checks += 1);
            return health::answer(iq, self.last.health);
        }
        if payload.is("conference-modify", NS_COLIBRI2) {
            return self.on_colibri2(iq, payload);
        }
        self.view.send_modify(|v| v.counters.other_iqs += 1);
        if payload.is("ping", NS_PING) {
            return Some(iq_result(iq, None));
        }
        if payload.is("query", NS_VERSION) && iq.attr("type") == Some("get") {
            let query = elem("query", NS_VERSION)
                .with_child(elem("name", NS_VERSION).with_text("JVB"))
                .with_child(elem("version", NS_VERSION).with_text(&self.last.version))
                .with_child(elem("os", NS_VERSION).with_text(std::env::consts::OS));
            return Some(iq_result(iq, Some(query)));
        }
        if payload.is("query", NS_DISCO_INFO) && iq.attr("type") == Some("get") {
            let query = [NS_HEALTH, NS_DTLS, NS_ICE_UDP, NS_VERSION, NS_PING, NS_DISCO_INFO]
                .into_iter()
                .fold(elem("query", NS_DISCO_INFO), |q, var| {
                    q.with_child(elem("feature", NS_DISCO_INFO).with_attr("var", var))
                });
            return Some(iq_result(iq, Some(query)));
        }
        let text = format!("Unsupported IQ request {}", payload.name());
        Some(iq_error(iq, &StanzaError::new("service-unavailable", text)))
    }

    fn on_colibri2(&mut self, iq: &Element, payload: &Element) -> Option<Element> {
        debug!(request = %to_xml(iq), "colibri2 request");
        let answer = match &self.last.colibri {
            ColibriMode::NoAnswer => {
                self.view.send_modify(|v| {
                    v.counters.colibri_requests += 1;
                    v.counters.colibri_unanswered += 1;
                });
                return None;
            }
            ColibriMode::Error(failure) => {
                let text = failure.text.clone().unwrap_or_else(|| match failure.reason.as_deref() {
                    Some("graceful_shutdown") => "In graceful shutdown".to_string(),
                    _ => "Failure switch of the test bridge".to_string(),
                });
                let mut error = StanzaError::new(&failure.condition, text);
                if let Some(reason) = &failure.reason {
                    error = error.with_extension(elem("error", NS_COLIBRI2).with_attr("reason", reason));
                }
                Err(error)
            }
            ColibriMode::Normal => {
                let ctx = Context { graceful_shutdown: self.last.graceful_shutdown };
                self.colibri.handle(payload, ctx, &mut self.transports)
            }
        };
        let meeting_id = payload.attr("meeting-id").map(str::trim).unwrap_or_default();
        let snapshot = self.colibri.snapshot_of(meeting_id);
        let failed = answer.is_err();
        self.view.send_modify(|v| {
            v.counters.colibri_requests += 1;
            if failed {
                v.counters.colibri_errors += 1;
            }
            match snapshot {
                Some(conference) => v.conferences.insert(meeting_id.to_owned(), conference),
                None => v.conferences.remove(meeting_id),
            };
        });
        let reply = match answer {
            Ok(modified) => iq_result(iq, Some(modified)),
            Err(error) => {
                info!(condition = %error.condition, text = ?error.text, "colibri2 request refused");
                iq_error(iq, &error)
            }
        };
        debug!(answer = %to_xml(&reply), "colibri2 answer");
        Some(reply)
    }
}
