//! The bridge without its XMPP side: the Colibri2 handler and the media runtime, driven by a
//! test in the same process. Requests are `<conference-modify>` elements; answers are what the
//! bridge would put in its IQ result or error. For tests of forwarding that need no XMPP
//! server (two str0m peers through the bridge).

use std::net::SocketAddr;
use std::time::Duration;

use minidom::Element;
use tokio::sync::watch;

use crate::colibri2::{Colibri2Handler, Context};
use crate::error::BridgeError;
use crate::media::{MediaRuntime, RtcTransports};
use crate::view::BridgeView;
use crate::xml::StanzaError;

/// A bridge's Colibri2 and media, in process.
pub struct LocalBridge {
    handler: Colibri2Handler,
    transports: RtcTransports,
    media: Option<MediaRuntime>,
    view: watch::Sender<BridgeView>,
}

impl LocalBridge {
    /// Binds the UDP socket on 127.0.0.1 (`port` 0 = any) and starts the media runtime.
    pub async fn start(port: u16) -> Result<LocalBridge, BridgeError> {
        let (view, _) = watch::channel(BridgeView::default());
        let media = MediaRuntime::start(port, view.clone()).await.map_err(BridgeError::Udp)?;
        Ok(LocalBridge {
            handler: Colibri2Handler::new(),
            transports: media.transports(false),
            media: Some(media),
            view,
        })
    }

    /// The UDP address of the ICE host candidate.
    pub fn udp_addr(&self) -> SocketAddr {
        self.media.as_ref().map(MediaRuntime::local_addr).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 0)))
    }

    /// Handles a `<conference-modify>`: `Ok(<conference-modified>)` or the stanza `<error>`.
    pub fn colibri2(&mut self, request: &Element) -> Result<Element, Element> {
        let answer = self.handler.handle(request, Context::default(), &mut self.transports);
        let snapshot = self.handler.snapshot();
        self.view.send_modify(|v| v.conferences = snapshot);
        answer.map_err(|e: StanzaError| e.to_element())
    }

    /// A copy of everything observable.
    pub fn view(&self) -> BridgeView {
        self.view.borrow().clone()
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

    /// Stops the media runtime and closes the socket.
    pub async fn shutdown(mut self) {
        if let Some(media) = self.media.take() {
            media.shutdown().await;
        }
    }
}

impl Drop for LocalBridge {
    fn drop(&mut self) {
        if let Some(media) = self.media.take() {
            media.abort();
        }
    }
}
