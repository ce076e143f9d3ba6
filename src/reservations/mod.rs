//! `jitsi-reservations`: a reservation server operators can run — meetings booked by room,
//! owner and time — speaking the reservation REST contract Jicofo and Prosody's
//! `mod_reservations` call (`POST /conference`, `GET`/`DELETE /conference/{id}`), with a
//! management API, a CLI and a booking page.
//!
//! Layout (sans-IO where it can be):
//! - [`model`]: meetings, recurrence, conferences — the types everything shares;
//! - [`policy`]: whether a room may open now, and the refusal text a person reads
//!   (deterministic: `(now, request, meetings)` in, a decision out; tested in virtual time);
//! - [`store`]: SQLite or PostgreSQL through sqlx, with migrations; the database enforces that
//!   a room has at most one running conference.

pub mod config;
pub mod model;
pub mod policy;
pub mod server;
pub mod store;
