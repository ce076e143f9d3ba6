//! Draining before a stop: once [`Focus::start_draining`] was called, a request for a room
//! without a conference is refused, while rooms whose conference exists (live or starting) keep
//! answering, so that participants can still join and rejoin a running meeting. The runtime
//! watches [`Focus::conference_count`] fall to zero, or its drain timeout pass, and then calls
//! [`Focus::shutdown`].

use tracing::info;
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

use super::Focus;
use crate::core::Time;
use crate::xmpp::build::elem;
use crate::xmpp::focus as focus_ns;
use crate::xmpp::ns;

/// The text of the refusal of a new conference while draining.
pub const DRAINING_TEXT: &str = "jitsi-focus is shutting down; no new conferences";

impl Focus {
    /// Stops accepting new conferences; existing ones run on. Idempotent.
    pub fn start_draining(&mut self, now: Time) {
        if !self.draining {
            self.draining = true;
            info!(conferences = self.conferences.len(), "draining: no new conferences");
        }
        self.settle(now);
    }

    /// True once [`Focus::start_draining`] was called.
    pub fn is_draining(&self) -> bool {
        self.draining
    }
}

/// `cancel` / `service-unavailable` with `<graceful-shutdown/>`: old lib-jitsi-meet maps that
/// child (by name, whatever its namespace) to CONFERENCE_FAILED `conference.gracefulShutdown`;
/// current clients report conferenceRequestFailed with the text.
pub(super) fn draining_error() -> StanzaError {
    let mut error = focus_ns::error(ErrorType::Cancel, DefinedCondition::ServiceUnavailable, DRAINING_TEXT);
    error.other = Some(elem("graceful-shutdown", ns::FOCUS));
    error
}
