//! The sans-IO core: deterministic state machines fed `(now, input)` that return effects.
//!
//! Nothing here touches a socket, a clock or a task. The runtime feeds stanzas, HTTP outcomes
//! and connection changes in, calls [`Focus::handle_timeout`] when [`Focus::poll_timeout`]
//! says so, and carries out the [`Effect`]s it drains with [`Focus::poll_effect`].

mod auth;
pub mod bridges;
pub mod colibri;
mod conference;
pub mod features;
mod focus;
mod iq;
pub mod jingle_session;
pub mod media;
pub mod offer;
#[cfg(test)]
mod proptests;
#[cfg(test)]
mod proptests_media;
pub mod reservation;
pub mod sources;
#[cfg(test)]
mod tests;
mod timers;

pub use crate::config::LimitsConfig as Limits;
pub use focus::{Focus, Settings, DRAINING_TEXT};

use minidom::Element;

/// Wall-clock time: reservations are scheduled in UTC, so the core counts in UTC too.
pub type Time = chrono::DateTime<chrono::Utc>;

/// Something that happened outside the core.
#[derive(Debug, Clone)]
pub enum Input {
    /// The component stream is up (again).
    Connected,
    /// The component stream is gone; stanzas cannot be sent until `Connected`.
    Disconnected,
    /// A stanza addressed to us.
    Stanza(Element),
    /// A stanza the stream reader refused to build (too deep, too large, malformed).
    Rejected(crate::xmpp::stream::RejectedStanza),
    /// An HTTP call finished.
    Http { id: u64, outcome: reservation::HttpOutcome },
}

/// Something the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Element),
    Http(reservation::HttpCall),
    /// Record a change to the durable outbox of reservations to delete, before carrying out
    /// the effects that follow it.
    Outbox(OutboxChange),
}

/// A change to the durable outbox: reservations the focus must delete, kept across restarts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OutboxChange {
    /// Insert or replace the record with this reservation id.
    Put(StoredDelete),
    /// The reservation with this id is deleted (or given up): forget it.
    Remove(String),
}

/// A reservation the focus owns and must delete, as stored in the outbox.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct StoredDelete {
    /// The reservation API's id.
    pub id: String,
    /// The room's bare JID, for the logs.
    pub room: String,
    /// When its conference ended; `None` while it runs. The give-up time counts from here.
    pub ended_at: Option<Time>,
}

/// What the focus holds at one moment; every number is bounded by [`Limits`] (see README).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Footprint {
    pub conferences: usize,
    pub starting: usize,
    pub waiters: usize,
    pub participants: usize,
    pub refusals: usize,
    pub deletes: usize,
    pub http_calls: usize,
    pub own_iqs: usize,
    pub sessions: usize,
    pub timers: usize,
    pub held_stanzas: usize,
    pub media_iqs: usize,
    pub bridges: usize,
    pub jingle_sessions: usize,
}
