//! Draining before a stop: once [`Focus::start_draining`] was called, a request for a room
//! without a conference is refused (`request.draining` of the error catalog), while rooms
//! whose conference exists (live or starting) keep answering, so that participants can still
//! join and rejoin a running meeting. The runtime
//! watches [`Focus::conference_count`] fall to zero, or its drain timeout pass, and then calls
//! [`Focus::shutdown`].

use tracing::info;

use super::Focus;
use crate::core::Time;

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
