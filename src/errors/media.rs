//! Answers to Jingle from participants (to `room@conference…/focus`) and to mute requests.

use super::{base, Condition, ErrorEntry, Group, Type};

use Condition::*;
use Group::{Jingle, Mute};

pub(super) static ENTRIES: &[&ErrorEntry] = &[
    &JINGLE_MALFORMED,
    &MEDIA_NOT_PARTICIPANT,
    &JINGLE_SESSION_ENDED,
    &JINGLE_SESSION_REPLACED,
    &JINGLE_SESSION_INACTIVE,
    &JINGLE_UNKNOWN_SESSION,
    &JINGLE_NOT_INITIATED,
    &JINGLE_MISSING_TRANSPORT,
    &JINGLE_INVALID_SOURCES,
    &JINGLE_SENDER_LIMIT,
    &JINGLE_BRIDGE_SESSION_NOT_FOUND,
    &JINGLE_RATE_LIMITED,
    &JINGLE_ICE_RESTART,
    &JINGLE_UNSUPPORTED_ACTION,
    &MUTE_BAD_JID,
    &MUTE_OTHER_ROOM,
    &MUTE_BAD_VALUE,
    &MUTE_NO_SUCH_PARTICIPANT,
    &MUTE_NOT_ALLOWED,
];

pub static JINGLE_MALFORMED: ErrorEntry = ErrorEntry {
    family: true,
    examples: &["missing 'action'", "<candidate/> has an invalid 'port'", "more than 32 candidates"],
    ..base("jingle.malformed", Jingle, BadRequest, Type::Modify, "the parse error", "a Jingle element we cannot read")
};
pub static MEDIA_NOT_PARTICIPANT: ErrorEntry = base(
    "media.not-participant",
    Jingle,
    ItemNotFound,
    Type::Cancel,
    "not a participant of a conference of this focus",
    "Jingle or mute from someone the focus has no media for",
);
pub static JINGLE_SESSION_ENDED: ErrorEntry = base(
    "jingle.session-ended",
    Jingle,
    Gone,
    Type::Cancel,
    "session ended",
    "Jingle for a session that ended (e.g. after a refused restart)",
);
pub static JINGLE_SESSION_REPLACED: ErrorEntry = base(
    "jingle.session-replaced",
    Jingle,
    Gone,
    Type::Cancel,
    "session has been replaced",
    "session-accept for an earlier session of the participant",
);
pub static JINGLE_SESSION_INACTIVE: ErrorEntry = base(
    "jingle.session-inactive",
    Jingle,
    ItemNotFound,
    Type::Cancel,
    "jingle session no longer active",
    "other Jingle for an earlier session of the participant",
);
pub static JINGLE_UNKNOWN_SESSION: ErrorEntry = base(
    "jingle.unknown-session",
    Jingle,
    BadRequest,
    Type::Modify,
    "unknown session '{sid}'",
    "a Jingle `sid` that is none of the participant's sessions",
);
pub static JINGLE_NOT_INITIATED: ErrorEntry = base(
    "jingle.not-initiated",
    Jingle,
    BadRequest,
    Type::Modify,
    "the session is not waiting for session-accept",
    "a second session-accept (or transport-accept)",
);
pub static JINGLE_MISSING_TRANSPORT: ErrorEntry = base(
    "jingle.missing-transport",
    Jingle,
    BadRequest,
    Type::Modify,
    "missing transport",
    "transport-info without a transport",
);
pub static JINGLE_INVALID_SOURCES: ErrorEntry = ErrorEntry {
    family: true,
    examples: &["SSRC is already used: 1111.", "SSRC limit (20) exceeded.", "Invalid ssrc-group semantics: X"],
    ..base(
        "jingle.invalid-sources",
        Jingle,
        BadRequest,
        Type::Modify,
        "Jicofo's source validation texts",
        "invalid sources in session-accept (the session then ends), source-add or source-remove",
    )
};
pub static JINGLE_SENDER_LIMIT: ErrorEntry = ErrorEntry {
    examples: &["Sender count exceeded for: audio "],
    ..base(
        "jingle.sender-limit",
        Jingle,
        ResourceConstraint,
        Type::Wait,
        "Sender count exceeded for: {media}",
        "not produced yet: the conference's sender caps (Jicofo's `max-audio-senders`, `max-video-senders`) are not implemented",
    )
};
pub static JINGLE_BRIDGE_SESSION_NOT_FOUND: ErrorEntry = base(
    "jingle.bridge-session-not-found",
    Jingle,
    ItemNotFound,
    Type::Cancel,
    "bridge session not found",
    "session-terminate naming another bridge session",
);
pub static JINGLE_RATE_LIMITED: ErrorEntry = base(
    "jingle.rate-limited",
    Jingle,
    ResourceConstraint,
    Type::Wait,
    "rate-limited",
    "a restart request (session-terminate `restart='true'`, or the old client's ICE-failed session-info) within 5 s of the last, or the sixth in a minute; the session ends",
);
pub static JINGLE_ICE_RESTART: ErrorEntry = base(
    "jingle.ice-restart",
    Jingle,
    FeatureNotImplemented,
    Type::Cancel,
    "ICE restart is not supported",
    "an in-place ICE restart request (session-info `ice-restart='true'`)",
);
pub static JINGLE_UNSUPPORTED_ACTION: ErrorEntry = base(
    "jingle.unsupported-action",
    Jingle,
    FeatureNotImplemented,
    Type::Cancel,
    "Unsupported 'action': {action}",
    "e.g. `content-modify`, `session-initiate` (`action` cut to 64 characters)",
);

pub static MUTE_BAD_JID: ErrorEntry =
    base("mute.bad-jid", Mute, BadRequest, Type::Modify, "missing or invalid 'jid'", "a mute without a full `jid`");
pub static MUTE_OTHER_ROOM: ErrorEntry = base(
    "mute.other-room",
    Mute,
    BadRequest,
    Type::Modify,
    "the participant is not in your room",
    "a mute of an occupant of another room",
);
pub static MUTE_BAD_VALUE: ErrorEntry = base(
    "mute.bad-value",
    Mute,
    BadRequest,
    Type::Modify,
    "the mute value is 'true' or 'false'",
    "a mute whose text is neither",
);
pub static MUTE_NO_SUCH_PARTICIPANT: ErrorEntry = base(
    "mute.no-such-participant",
    Mute,
    ItemNotFound,
    Type::Cancel,
    "no such participant",
    "a mute of someone in the room without media",
);
pub static MUTE_NOT_ALLOWED: ErrorEntry = base(
    "mute.not-allowed",
    Mute,
    NotAllowed,
    Type::Cancel,
    "only moderators may mute others, and nobody may unmute others",
    "mute of another participant by a non-moderator, or any unmute of another",
);
