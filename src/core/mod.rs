//! The sans-IO core: deterministic state machines fed `(now, input)` that return effects.
//!
//! Nothing here touches a socket, a clock or a task. The runtime feeds stanzas, HTTP outcomes
//! and connection changes in, calls [`Focus::handle_timeout`] when [`Focus::poll_timeout`]
//! says so, and carries out the [`Effect`]s it drains with [`Focus::poll_effect`].

mod auth;
mod conference;
mod focus;
mod iq;
pub mod reservation;
#[cfg(test)]
mod tests;

pub use focus::{Focus, Settings};

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
    /// An HTTP call finished.
    Http { id: u64, outcome: reservation::HttpOutcome },
}

/// Something the runtime must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Effect {
    Send(Element),
    Http(reservation::HttpCall),
}
