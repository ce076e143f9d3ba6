//! Shared support for integration tests: `mod support;` in a test file.
//!
//! - [`prosody::Prosody`]: a private Prosody 0.12 on free loopback ports.
//! - [`reservation::ReservationServer`]: a scriptable Jitsi reservation REST API.
//! - [`reservations_server::ReservationsServer`]: the real `jitsi-reservations serve`, spawned.
//! - [`procfs`]: CPU time and memory of a process, for the benchmarks.
//! - [`proxy::TcpProxy`]: a loopback TCP proxy whose connections can be cut.
//! - [`client::TestClient`]: a plain-TCP XMPP c2s client for driving the focus.
//! - [`focus_process::FocusProcess`]: the real `jitsi-focus` binary, spawned, with its log lines
//!   and a [`focus_process::NotifySocket`] standing in for systemd.
//!
//! Every test binary compiles this module and uses only part of it.
#![allow(dead_code, unused_imports)]

pub mod client;
pub mod component_peer;
pub mod focus_process;
pub mod postgres;
pub mod procfs;
pub mod prosody;
pub mod proxy;
pub mod reservation;
pub mod reservations_server;

pub use client::TestClient;
pub use component_peer::ComponentPeer;
pub use focus_process::{FocusProcess, NotifySocket};
pub use prosody::{Prosody, ProsodyOptions};
pub use proxy::TcpProxy;
pub use reservation::{Recorded, Reply, ReservationServer};
pub use reservations_server::{ReservationsOptions, ReservationsServer};

use std::time::Duration;

use minidom::Element;

/// Anonymous-login host of the test Prosody (Jitsi's main domain).
pub const DOMAIN: &str = "meet.test";
/// Password-login host, present when `ProsodyOptions::users` or `auth_host` is set.
pub const AUTH_DOMAIN: &str = "auth.meet.test";
/// Conference MUC service.
pub const MUC_DOMAIN: &str = "conference.meet.test";
/// Brewery MUC service for bridges.
pub const INTERNAL_MUC_DOMAIN: &str = "internal.meet.test";
/// JID of the focus component.
pub const FOCUS_DOMAIN: &str = "focus.meet.test";
pub const DEFAULT_COMPONENT_SECRET: &str = "focussecret";
/// Default wait for anything a test expects to happen "soon".
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

pub const NS_CLIENT: &str = "jabber:client";
pub const NS_MUC: &str = "http://jabber.org/protocol/muc";
pub const NS_MUC_USER: &str = "http://jabber.org/protocol/muc#user";
pub const NS_DISCO_INFO: &str = "http://jabber.org/protocol/disco#info";

/// A loopback port that was free a moment ago. Racy by nature, but only other tests on this
/// machine could take it in between, and they also ask the kernel for fresh ports.
pub fn free_port() -> std::io::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// `from` attribute of a stanza ("" if absent), for predicates.
pub fn from_of(stanza: &Element) -> &str {
    stanza.attr("from").unwrap_or("")
}

/// Whether a MUC presence carries `<status code='CODE'/>` (e.g. 110 = self-presence).
pub fn has_muc_status(presence: &Element, code: &str) -> bool {
    presence
        .children()
        .any(|x| x.is("x", NS_MUC_USER) && x.children().any(|s| s.name() == "status" && s.attr("code") == Some(code)))
}

/// `<item affiliation=…>` of a MUC presence, e.g. "owner".
pub fn muc_affiliation(presence: &Element) -> Option<&str> {
    presence.get_child("x", NS_MUC_USER)?.get_child("item", NS_MUC_USER)?.attr("affiliation")
}

/// Serialises an element for assertion messages.
pub fn xml(el: &Element) -> String {
    String::from(el)
}

/// Parses XML written in a test, e.g. `parse("<iq xmlns='jabber:client' type='get'/>")`.
/// minidom needs the `xmlns`; stanzas use `jabber:client`.
pub fn parse(xml: &str) -> Element {
    xml.parse().unwrap_or_else(|e| panic!("bad XML in test: {e}: {xml}"))
}

/// Sets an attribute by plain name (minidom 0.19 wants an `NcName`).
pub fn set_attr(el: &mut Element, name: &str, value: &str) {
    let name = minidom::rxml::NcName::try_from(name).expect("valid attribute name");
    el.set_attr(minidom::rxml::Namespace::NONE, name, value);
}
