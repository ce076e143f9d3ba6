//! Answers to the conference request (reservation refusals, room, sign-in session, the focus
//! in the room), to IQs the focus cannot read or that are over the limits, and to `login-url`
//! and `logout`.

use super::{base, reservation, Code, Condition, ErrorEntry, Extra, Group, Type};
use crate::core::reservation::codes;

use Condition::*;
use Group::{Request, SignIn};

pub(super) static ENTRIES: &[&ErrorEntry] = &[
    &RESERVATION_REFUSED,
    &RESERVATION_REJECTED,
    &RESERVATION_CONFLICT_REFUSED,
    &RESERVATION_CONFLICT_WITHOUT_ID,
    &RESERVATION_CONFLICT_UNREADABLE,
    &RESERVATION_EXPIRED,
    &RESERVATION_INVALID_RESPONSE,
    &RESERVATION_TOO_LARGE,
    &RESERVATION_REDIRECTED,
    &RESERVATION_UNREACHABLE,
    &RESERVATION_TIMEOUT,
    &REQUEST_NO_ROOM,
    &REQUEST_ROOM_NOT_JID,
    &REQUEST_ROOM_NOT_BARE,
    &REQUEST_ROOM_NO_NAME,
    &REQUEST_ROOM_ELSEWHERE,
    &REQUEST_MALFORMED,
    &REQUEST_BAD_SENDER,
    &REQUEST_NOT_SET,
    &AUTH_NOT_AUTHORIZED,
    &AUTH_INVALID_SESSION,
    &AUTH_MACHINE_MISMATCH,
    &AUTH_MISSING_MACHINE_UID,
    &AUTH_TOO_MANY_SESSIONS,
    &REQUEST_DRAINING,
    &REQUEST_NOT_OWNER,
    &REQUEST_JOIN_REFUSED,
    &REQUEST_JOIN_FAILED,
    &LIMITS_TOO_DEEP,
    &LIMITS_TOO_LARGE,
    &LIMITS_TOO_MANY_NODES,
    &IQ_NOT_XML,
    &IQ_NO_TYPE,
    &IQ_UNKNOWN_TYPE,
    &IQ_PAYLOAD_COUNT,
    &IQ_UNSUPPORTED,
    &AUTH_DISABLED,
    &LOGIN_URL_NO_ROOM,
    &LOGIN_URL_NO_MACHINE_UID,
    &LOGIN_URL_JWT,
    &LOGOUT_NO_SESSION_ID,
];

pub static RESERVATION_REFUSED: ErrorEntry = ErrorEntry {
    family: true,
    ..reservation(
        "reservation.refused",
        Code::ApiStatus,
        "the body's `message`",
        "the API refused (any status but 200/201, 409 and 3xx; a 5xx after the retries) with a JSON `message`",
    )
};
pub static RESERVATION_REJECTED: ErrorEntry = reservation(
    "reservation.rejected",
    Code::ApiStatus,
    "Rejected by reservation server (HTTP {status})",
    "as `reservation.refused`, without a JSON `message`",
);
pub static RESERVATION_CONFLICT_REFUSED: ErrorEntry = ErrorEntry {
    family: true,
    ..reservation(
        "reservation.conflict-refused",
        Code::Fixed(codes::CONFLICT),
        "the 409 body's `message`",
        "a 409 we could not resolve (no `conflict_id`, or the conflicting reservation could not be read) that carried a `message`",
    )
};
pub static RESERVATION_CONFLICT_WITHOUT_ID: ErrorEntry = reservation(
    "reservation.conflict-without-id",
    Code::Fixed(codes::CONFLICT),
    "Invalid response from reservation server: 409 without conflict_id",
    "a 409 without `conflict_id` nor `message`",
);
pub static RESERVATION_CONFLICT_UNREADABLE: ErrorEntry = reservation(
    "reservation.conflict-unreadable",
    Code::Fixed(codes::CONFLICT),
    "Conflicting reservation {id} could not be read ({detail})",
    "the `GET` of the conflicting reservation failed (`detail`: `HTTP N`, `timed out` or the connection error) and the 409 had no `message`",
);
pub static RESERVATION_EXPIRED: ErrorEntry = reservation(
    "reservation.expired",
    Code::Fixed(codes::EXPIRED),
    "Reservation expired",
    "the granted reservation's time is already over (not deleted: it is not ours)",
);
pub static RESERVATION_INVALID_RESPONSE: ErrorEntry = reservation(
    "reservation.invalid-response",
    Code::Fixed(codes::INVALID_RESPONSE),
    "Invalid response from reservation server: {why}",
    "200/201 with a body that is not valid (not JSON, missing `id`, wrong `name`, `duration` over ten years, …)",
);
pub static RESERVATION_TOO_LARGE: ErrorEntry = reservation(
    "reservation.too-large",
    Code::Fixed(codes::INVALID_RESPONSE),
    "Invalid response from reservation server: the answer is larger than {limit} bytes",
    "a body over `reservation.max_body_size` (to the POST, or to the GET after a 409)",
);
pub static RESERVATION_REDIRECTED: ErrorEntry = reservation(
    "reservation.redirected",
    Code::Fixed(codes::INVALID_RESPONSE),
    "Invalid response from reservation server: the API redirected (HTTP {status}{target}); reservation.base_url should point to the final URL",
    "a 3xx; `target` is \" to URL\" when the `Location` is short, else empty",
);
pub static RESERVATION_UNREACHABLE: ErrorEntry = reservation(
    "reservation.unreachable",
    Code::Fixed(codes::UNREACHABLE),
    "Could not contact reservation server ({why})",
    "connection failures after every retry",
);
pub static RESERVATION_TIMEOUT: ErrorEntry = reservation(
    "reservation.timeout",
    Code::Fixed(codes::TIMEOUT),
    "Reservation lookup timed out",
    "one attempt exceeded `reservation.timeout`",
);

pub static REQUEST_NO_ROOM: ErrorEntry =
    base("request.no-room", Request, BadRequest, Type::Modify, "No 'room' specified.", "a request without `room`");
pub static REQUEST_ROOM_NOT_JID: ErrorEntry = base(
    "request.room-not-jid",
    Request,
    BadRequest,
    Type::Modify,
    "'room' \"{room}\" is not a valid JID: {why}",
    "`room` is not a JID (`room` as Rust's `{:?}` quotes it)",
);
pub static REQUEST_ROOM_NOT_BARE: ErrorEntry = base(
    "request.room-not-bare",
    Request,
    BadRequest,
    Type::Modify,
    "'room' \"{room}\" must be a bare JID (no '/resource')",
    "`room` has a resource",
);
pub static REQUEST_ROOM_NO_NAME: ErrorEntry = base(
    "request.room-no-name",
    Request,
    BadRequest,
    Type::Modify,
    "'room' \"{room}\" needs a room name: name@{muc_domain}",
    "`room` has no local part",
);
pub static REQUEST_ROOM_ELSEWHERE: ErrorEntry = base(
    "request.room-elsewhere",
    Request,
    BadRequest,
    Type::Modify,
    "'room' \"{room}\" must be on {muc_domain}",
    "`room` is not on `xmpp.muc_domain`",
);
pub static REQUEST_MALFORMED: ErrorEntry = ErrorEntry {
    family: true,
    examples: &["<property/> needs a non-empty 'name' attribute"],
    ..base(
        "request.malformed",
        Request,
        BadRequest,
        Type::Modify,
        "the parse error",
        "a `<conference/>`, `<login-url/>` or `<logout/>` we cannot read",
    )
};
pub static REQUEST_BAD_SENDER: ErrorEntry = base(
    "request.bad-sender",
    Request,
    BadRequest,
    Type::Modify,
    "the sender's address is not a valid JID",
    "a conference request whose `from` is not a JID",
);
pub static REQUEST_NOT_SET: ErrorEntry = base(
    "request.not-set",
    Request,
    BadRequest,
    Type::Modify,
    "a conference request is an IQ of type 'set'",
    "`<conference/>` in an IQ `get`",
);
pub static AUTH_NOT_AUTHORIZED: ErrorEntry = ErrorEntry {
    client_2020: "`conference.authenticationRequired`: the login dialog",
    client_now:
        "`conference.authenticationRequired`: the login dialog or \"waiting for the host\" (asks again every 5 s)",
    ..base(
        "auth.not-authorized",
        Request,
        NotAuthorized,
        Type::Auth,
        "not authorized user domain",
        "a guest opens a new room when sign-in is on",
    )
};
/// The 2020–21 and current readings of any `not-acceptable` to the conference request.
const SESSION_2020: &str = "drops its session and asks again after 1, 2, 4 … s";
const SESSION_NOW: &str = "drops its session and asks again (1 … 32 s), then `connection.conferenceRequestFailed`";
pub static AUTH_INVALID_SESSION: ErrorEntry = ErrorEntry {
    extra: Extra::SessionInvalid,
    client_2020: SESSION_2020,
    client_now: SESSION_NOW,
    ..base(
        "auth.invalid-session",
        Request,
        NotAcceptable,
        Type::Modify,
        "invalid session",
        "an unknown or expired `session-id` (in a conference request or a `logout`)",
    )
};
pub static AUTH_MACHINE_MISMATCH: ErrorEntry = ErrorEntry {
    client_2020: SESSION_2020,
    client_now: SESSION_NOW,
    ..base(
        "auth.machine-mismatch",
        Request,
        NotAcceptable,
        Type::Modify,
        "machine UID mismatch or empty",
        "a session used by another machine (`machine-uid`)",
    )
};
pub static AUTH_MISSING_MACHINE_UID: ErrorEntry = ErrorEntry {
    client_2020: SESSION_2020,
    client_now: SESSION_NOW,
    ..base(
        "auth.missing-machine-uid",
        Request,
        NotAcceptable,
        Type::Modify,
        "Missing mandatory attribute 'machine-uid'",
        "a user signed in on `auth.domain` asks without `machine-uid`",
    )
};
pub static AUTH_TOO_MANY_SESSIONS: ErrorEntry = base(
    "auth.too-many-sessions",
    Request,
    ResourceConstraint,
    Type::Wait,
    "too many sign-in sessions; try again later",
    "`limits.max_sessions` reached",
);
pub static REQUEST_DRAINING: ErrorEntry = ErrorEntry {
    extra: Extra::GracefulShutdown,
    client_2020: "`conference.gracefulShutdown`",
    client_now: "`connection.conferenceRequestFailed` (no retry)",
    ..base(
        "request.draining",
        Request,
        ServiceUnavailable,
        Type::Cancel,
        "jitsi-focus is shutting down; no new conferences",
        "a request for a room without a conference while the focus drains (after SIGTERM, up to `conference.drain_timeout`); running conferences still take requests",
    )
};
pub static REQUEST_NOT_OWNER: ErrorEntry = base(
    "request.not-owner",
    Request,
    InternalServerError,
    Type::Cancel,
    "jitsi-focus is not an owner of the room: add the focus component to the admins of the MUC component",
    "the focus joined the room but is not its owner: Prosody's `admins` line is missing",
);
pub static REQUEST_JOIN_REFUSED: ErrorEntry = base(
    "request.join-refused",
    Request,
    InternalServerError,
    Type::Cancel,
    "jitsi-focus may not create or join the room ({condition}): add the focus component to the admins of the MUC component",
    "Prosody refused our join with `not-allowed`, `registration-required` or `forbidden`",
);
pub static REQUEST_JOIN_FAILED: ErrorEntry = base(
    "request.join-failed",
    Request,
    InternalServerError,
    Type::Cancel,
    "jitsi-focus could not join the room: {condition}",
    "Prosody refused our join with another condition",
);
pub static LIMITS_TOO_DEEP: ErrorEntry = base(
    "limits.too-deep",
    Request,
    PolicyViolation,
    Type::Modify,
    "the stanza is nested deeper than {limit} elements",
    "an IQ request over `limits.max_depth` (any IQ request, not only conference requests)",
);
pub static LIMITS_TOO_LARGE: ErrorEntry = base(
    "limits.too-large",
    Request,
    PolicyViolation,
    Type::Modify,
    "the stanza is larger than {limit} bytes",
    "an IQ request over `limits.max_stanza_size`",
);
pub static LIMITS_TOO_MANY_NODES: ErrorEntry = base(
    "limits.too-many-nodes",
    Request,
    PolicyViolation,
    Type::Modify,
    "the stanza has more than {limit} elements, attributes and texts",
    "an IQ request over `limits.max_stanza_nodes`",
);
pub static IQ_NOT_XML: ErrorEntry = base(
    "iq.not-xml",
    Request,
    BadRequest,
    Type::Modify,
    "the stanza is not namespace-well-formed XML",
    "an IQ request with an undeclared prefix, say",
);
pub static IQ_NO_TYPE: ErrorEntry =
    base("iq.no-type", Request, BadRequest, Type::Modify, "an IQ needs a 'type'", "an IQ without `type`");
pub static IQ_UNKNOWN_TYPE: ErrorEntry = base(
    "iq.unknown-type",
    Request,
    BadRequest,
    Type::Modify,
    "unknown IQ type \"{type}\"",
    "an IQ whose `type` is not get, set, result or error (`type` cut to 64 characters, quoted as `{:?}`)",
);
pub static IQ_PAYLOAD_COUNT: ErrorEntry = base(
    "iq.payload-count",
    Request,
    BadRequest,
    Type::Modify,
    "an IQ request carries exactly one payload element",
    "an IQ request with no child element or several",
);
pub static IQ_UNSUPPORTED: ErrorEntry = base(
    "iq.unsupported",
    Request,
    ServiceUnavailable,
    Type::Cancel,
    "<{name} xmlns='{namespace}'/> is not supported by this focus",
    "an IQ request with a payload the focus does not serve (also Jingle and mute when there are no bridges)",
);

pub static AUTH_DISABLED: ErrorEntry = base(
    "auth.disabled",
    SignIn,
    ServiceUnavailable,
    Type::Cancel,
    "authentication is not enabled on this focus",
    "`login-url` or `logout` with `auth.mode = \"none\"`",
);
pub static LOGIN_URL_NO_ROOM: ErrorEntry = base(
    "login-url.no-room",
    SignIn,
    NotAcceptable,
    Type::Cancel,
    "missing attribute 'room'",
    "`login-url` without `room`",
);
pub static LOGIN_URL_NO_MACHINE_UID: ErrorEntry = base(
    "login-url.no-machine-uid",
    SignIn,
    BadRequest,
    Type::Modify,
    "missing mandatory attribute 'machineUID'",
    "`login-url` without `machine-uid`",
);
pub static LOGIN_URL_JWT: ErrorEntry = base(
    "login-url.jwt",
    SignIn,
    ServiceUnavailable,
    Type::Cancel,
    "no login URL: users sign in with a token",
    "`login-url` with `auth.mode = \"jwt\"`",
);
pub static LOGOUT_NO_SESSION_ID: ErrorEntry = base(
    "logout.no-session-id",
    SignIn,
    BadRequest,
    Type::Modify,
    "missing attribute 'session-id'",
    "`logout` without `session-id`",
);
