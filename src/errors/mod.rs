//! Every error a client can receive from the focus, in one catalog: its stable key, XMPP
//! condition and type, reservation code, text and what lib-jitsi-meet makes of it.
//!
//! The code that answers with an error takes condition, type and text from the entry here
//! ([`ErrorEntry::error`], [`ErrorEntry::text_with`]), so the catalog is the code's truth;
//! README's error tables are generated from it ([`readme::markdown`], checked by a test that
//! `UPDATE_README=1` lets rewrite README), and the core's tests drive one input per entry and
//! compare the answer with it. Entries whose text comes from a parser or a validation module
//! are *families* ([`ErrorEntry::family`]): their `text` describes the family and `examples`
//! are checked against the real producer.

mod media;
pub mod readme;
mod request;
#[cfg(test)]
mod tests;

use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType, StanzaError};

pub use media::*;
pub use request::*;

use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::ns;

/// The stanza error conditions the focus answers with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    BadRequest,
    FeatureNotImplemented,
    Gone,
    InternalServerError,
    ItemNotFound,
    NotAcceptable,
    NotAllowed,
    NotAuthorized,
    PolicyViolation,
    ResourceConstraint,
    ServiceUnavailable,
}

impl Condition {
    /// The element name, e.g. `bad-request`.
    pub fn name(self) -> &'static str {
        match self {
            Condition::BadRequest => "bad-request",
            Condition::FeatureNotImplemented => "feature-not-implemented",
            Condition::Gone => "gone",
            Condition::InternalServerError => "internal-server-error",
            Condition::ItemNotFound => "item-not-found",
            Condition::NotAcceptable => "not-acceptable",
            Condition::NotAllowed => "not-allowed",
            Condition::NotAuthorized => "not-authorized",
            Condition::PolicyViolation => "policy-violation",
            Condition::ResourceConstraint => "resource-constraint",
            Condition::ServiceUnavailable => "service-unavailable",
        }
    }

    pub fn defined(self) -> DefinedCondition {
        match self {
            Condition::BadRequest => DefinedCondition::BadRequest,
            Condition::FeatureNotImplemented => DefinedCondition::FeatureNotImplemented,
            Condition::Gone => DefinedCondition::Gone { new_address: None },
            Condition::InternalServerError => DefinedCondition::InternalServerError,
            Condition::ItemNotFound => DefinedCondition::ItemNotFound,
            Condition::NotAcceptable => DefinedCondition::NotAcceptable,
            Condition::NotAllowed => DefinedCondition::NotAllowed,
            Condition::NotAuthorized => DefinedCondition::NotAuthorized,
            Condition::PolicyViolation => DefinedCondition::PolicyViolation,
            Condition::ResourceConstraint => DefinedCondition::ResourceConstraint,
            Condition::ServiceUnavailable => DefinedCondition::ServiceUnavailable,
        }
    }
}

/// The error's `type` attribute.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    Auth,
    Cancel,
    Modify,
    Wait,
}

impl Type {
    pub fn name(self) -> &'static str {
        match self {
            Type::Auth => "auth",
            Type::Cancel => "cancel",
            Type::Modify => "modify",
            Type::Wait => "wait",
        }
    }

    pub fn error_type(self) -> ErrorType {
        match self {
            Type::Auth => ErrorType::Auth,
            Type::Cancel => ErrorType::Cancel,
            Type::Modify => ErrorType::Modify,
            Type::Wait => ErrorType::Wait,
        }
    }
}

/// An application-specific child of `<error/>`, in `http://jitsi.org/protocol/focus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Extra {
    None,
    /// `<session-invalid/>`: the client drops its stored session.
    SessionInvalid,
    /// `<reservation-error error-code='CODE'/>`.
    Reservation,
    /// `<graceful-shutdown/>`: the 2020–21 client shows `conference.gracefulShutdown`.
    GracefulShutdown,
}

/// The `error-code` of a reservation error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    None,
    /// The reservation API's HTTP status.
    ApiStatus,
    Fixed(u16),
}

/// Which request the error answers; one README table each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    /// Refusals of the reservation API (answers to the conference request).
    Reservation,
    /// Other answers to the conference request, and IQs the focus cannot read.
    Request,
    /// `login-url` and `logout`.
    SignIn,
    /// Jingle from a participant.
    Jingle,
    /// Mute requests.
    Mute,
    // The HTTP conference request's answers join here with the HTTP API.
}

impl Group {
    pub const ALL: [Group; 5] = [Group::Reservation, Group::Request, Group::SignIn, Group::Jingle, Group::Mute];
}

/// One error a client can receive.
#[derive(Debug)]
pub struct ErrorEntry {
    /// Stable, e.g. `request.no-room`; the static's name is the key in upper case.
    pub key: &'static str,
    pub group: Group,
    pub condition: Condition,
    pub type_: Type,
    pub extra: Extra,
    pub code: Code,
    /// The exact text, with `{placeholders}`; for a family, a description of the texts.
    pub text: &'static str,
    /// True when `text` describes texts made elsewhere (a parser, the source validation).
    pub family: bool,
    /// Texts the producer really makes (checked by tests); for families, shown in README.
    pub examples: &'static [&'static str],
    /// When it happens.
    pub when: &'static str,
    /// What lib-jitsi-meet of 2020–21 does with it (protocol.md §3.1).
    pub client_2020: &'static str,
    /// What current lib-jitsi-meet does with it (protocol.md §3.2).
    pub client_now: &'static str,
}

impl ErrorEntry {
    /// The text with each `{name}` replaced by its value. Panics in debug builds when a
    /// placeholder of the template is not given, or a value names none.
    pub fn text_with(&self, values: &[(&str, &str)]) -> String {
        debug_assert!(!self.family, "{}: a family has no template", self.key);
        let mut out = String::with_capacity(self.text.len());
        let mut rest = self.text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else { break };
            let name = &rest[open + 1..close];
            out.push_str(&rest[..open]);
            match values.iter().find(|(n, _)| *n == name) {
                Some((_, value)) => out.push_str(value),
                None => {
                    debug_assert!(false, "{}: no value for {{{name}}}", self.key);
                    out.push_str(&rest[open..=close]);
                }
            }
            rest = &rest[close + 1..];
        }
        out.push_str(rest);
        debug_assert!(
            values.iter().all(|(n, _)| self.text.contains(&format!("{{{n}}}"))),
            "{}: a value for a placeholder the template lacks",
            self.key
        );
        out
    }

    /// The template's placeholder names.
    pub fn placeholders(&self) -> Vec<&'static str> {
        let mut names = Vec::new();
        let mut rest = self.text;
        while let Some(open) = rest.find('{') {
            let Some(close) = rest[open..].find('}').map(|c| open + c) else { break };
            names.push(&rest[open + 1..close]);
            rest = &rest[close + 1..];
        }
        names
    }

    /// This error with its text filled in.
    pub fn with(&'static self, values: &[(&str, &str)]) -> Failure {
        Failure { entry: self, text: self.text_with(values) }
    }

    /// This error with a text made by its producer (families).
    pub fn raw(&'static self, text: impl Into<String>) -> Failure {
        Failure { entry: self, text: text.into() }
    }

    /// The stanza error with the text filled in (no reservation code: see [`Failure::error`]).
    pub fn error(&'static self, values: &[(&str, &str)]) -> StanzaError {
        self.with(values).error()
    }
}

/// An entry with its text: what one answer carries.
#[derive(Debug, Clone)]
pub struct Failure {
    pub entry: &'static ErrorEntry,
    pub text: String,
}

impl Failure {
    pub fn error(&self) -> StanzaError {
        self.error_with_code(0)
    }

    /// The stanza error; `code` is the reservation code when the entry carries
    /// `<reservation-error/>`.
    pub fn error_with_code(&self, code: u16) -> StanzaError {
        let entry = self.entry;
        let text = crate::xmpp::build::xml_safe(&self.text);
        let mut error = StanzaError::new(entry.type_.error_type(), entry.condition.defined(), "en", text.as_ref());
        error.other = match entry.extra {
            Extra::None => None,
            Extra::SessionInvalid => Some(elem("session-invalid", ns::FOCUS)),
            Extra::Reservation => Some(elem("reservation-error", ns::FOCUS).with_attr("error-code", code.to_string())),
            Extra::GracefulShutdown => Some(elem("graceful-shutdown", ns::FOCUS)),
        };
        error
    }
}

/// The entries, in README's order.
pub fn catalog() -> impl Iterator<Item = &'static ErrorEntry> {
    request::ENTRIES.iter().chain(media::ENTRIES.iter()).copied()
}

/// The entry with this key.
pub fn entry(key: &str) -> Option<&'static ErrorEntry> {
    catalog().find(|e| e.key == key)
}

/// `value` as `{value:?}` writes it without the quotes: for templates that quote a value.
pub fn quoted_inner(value: &str) -> String {
    let debug = format!("{value:?}");
    debug[1..debug.len() - 1].to_owned()
}

/// What the 2020–21 client does with a reservation error, and the current client alike.
const RESERVATION: &str = "`conference.reservationError` with the code and text";
/// Any other error to the conference request, 2020–21 client (protocol.md §3.1).
const FOCUS_DISCONNECTED: &str = "`conference.focusDisconnected`; asks again after 1, 2, 4 … s";
/// Any other error to the conference request, current client (protocol.md §3.2).
const REQUEST_FAILED: &str = "`connection.conferenceRequestFailed`; gives up";
/// Errors of `login-url` and `logout`.
const SIGN_IN: &str = "the `getLoginUrl`/`logout` call fails; no conference event";
/// Errors to Jingle and mute requests.
const IQ_ONLY: &str = "no conference event: the IQ's error callback logs it";

/// An entry with the clients' usual reading of its group; the rest is set by struct update.
const fn base(
    key: &'static str,
    group: Group,
    condition: Condition,
    type_: Type,
    text: &'static str,
    when: &'static str,
) -> ErrorEntry {
    let (client_2020, client_now) = match group {
        Group::Reservation => (RESERVATION, RESERVATION),
        Group::Request => (FOCUS_DISCONNECTED, REQUEST_FAILED),
        Group::SignIn => (SIGN_IN, SIGN_IN),
        Group::Jingle | Group::Mute => (IQ_ONLY, IQ_ONLY),
    };
    ErrorEntry {
        key,
        group,
        condition,
        type_,
        extra: Extra::None,
        code: Code::None,
        text,
        family: false,
        examples: &[],
        when,
        client_2020,
        client_now,
    }
}

/// A refusal of the reservation API: `service-unavailable` (cancel) with `<reservation-error/>`.
const fn reservation(key: &'static str, code: Code, text: &'static str, when: &'static str) -> ErrorEntry {
    ErrorEntry {
        extra: Extra::Reservation,
        code,
        ..base(key, Group::Reservation, Condition::ServiceUnavailable, Type::Cancel, text, when)
    }
}
