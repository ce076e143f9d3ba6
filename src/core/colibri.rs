//! A conference's Colibri2 sessions: one per bridge it uses (without relays, at most one), the
//! endpoints allocated there, and what a bridge's error or silence means (protocol.md §9.3,
//! §9.4).

use std::collections::{BTreeMap, BTreeSet};

use xmpp_parsers::jid::FullJid;

use crate::xmpp::colibri2::{Colibri2Error, ErrorReason, MediaSource};

/// The focus's session with one bridge for one conference.
#[derive(Debug, Clone)]
pub struct BridgeSession {
    /// `<bridge-session id>` in session-initiate: a UUID per (conference, bridge) session.
    pub id: String,
    /// The Colibri2 `meeting-id` this session was created with on the bridge.
    pub meeting_id: String,
    /// The conference-create went out; later requests must not carry `create`.
    pub create_sent: bool,
    pub endpoints: BTreeSet<String>,
    /// The bridge's feedback sources, from its answer to the conference create.
    pub feedback: Vec<MediaSource>,
}

/// All Colibri2 sessions of one conference, by bridge.
#[derive(Debug, Clone, Default)]
pub struct ColibriSessions {
    pub by_bridge: BTreeMap<FullJid, BridgeSession>,
    /// The Colibri2 `meeting-id`. Starts as the room's meeting id; replaced by a fresh one when
    /// a bridge says the conference already exists, so a restart of the focus (which reuses
    /// meeting ids) cannot make allocations fail forever.
    pub meeting_id: String,
}

impl ColibriSessions {
    pub fn new(meeting_id: String) -> ColibriSessions {
        ColibriSessions { by_bridge: BTreeMap::new(), meeting_id }
    }

    /// The session on `bridge`, created if new; returns whether the request must carry
    /// `create='true'` (the first request to this bridge).
    pub fn open(&mut self, bridge: &FullJid, new_id: impl FnOnce() -> String) -> (&mut BridgeSession, bool) {
        let meeting_id = self.meeting_id.clone();
        let session = self.by_bridge.entry(bridge.clone()).or_insert_with(|| BridgeSession {
            id: new_id(),
            meeting_id,
            create_sent: false,
            endpoints: BTreeSet::new(),
            feedback: Vec::new(),
        });
        let create = !session.create_sent;
        session.create_sent = true;
        (session, create)
    }

    /// The bridge each endpoint is on, for participant counts per bridge.
    pub fn participants_per_bridge(&self) -> Vec<(FullJid, usize)> {
        self.by_bridge.iter().map(|(bridge, s)| (bridge.clone(), s.endpoints.len())).collect()
    }
}

/// What happens to a bridge after its error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BridgeVerdict {
    /// The bridge stays usable.
    Keep,
    /// Not to be used until it passes a health check again.
    NonOperational,
    /// In graceful shutdown: no new conferences.
    GracefulShutdown,
}

/// What the conference does after a Colibri2 error (or silence).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recovery {
    /// The allocation fails; the participant stays in the room without media (bridge kept).
    Abandon,
    /// The conference drops its session on the bridge and re-invites everyone who was on it.
    DropSession { bridge: BridgeVerdict, fresh_meeting_id: bool },
    /// Only this endpoint is re-invited (the bridge lost it).
    ReinviteEndpoint(String),
    /// Nothing to do (an update's timeout).
    Ignore,
}

/// §9.4: an endpoint allocation's error (`None` = no answer in time).
pub fn allocation_failed(error: Option<&Colibri2Error>) -> Recovery {
    let Some(error) = error else {
        return Recovery::DropSession { bridge: BridgeVerdict::NonOperational, fresh_meeting_id: false };
    };
    let reason = error.reason.as_ref();
    match error.condition.as_str() {
        "bad-request" => Recovery::Abandon,
        "item-not-found" if reason == Some(&ErrorReason::ConferenceNotFound) => {
            Recovery::DropSession { bridge: BridgeVerdict::Keep, fresh_meeting_id: false }
        }
        "item-not-found" => Recovery::Abandon,
        // A bridge that still has our meeting id (the focus restarted, Prosody reused the
        // id): a fresh meeting id ends the conflict rather than re-inviting into it forever.
        "conflict" => Recovery::DropSession {
            bridge: BridgeVerdict::Keep,
            fresh_meeting_id: reason == Some(&ErrorReason::ConferenceAlreadyExists),
        },
        "service-unavailable" if reason == Some(&ErrorReason::GracefulShutdown) => {
            Recovery::DropSession { bridge: BridgeVerdict::GracefulShutdown, fresh_meeting_id: false }
        }
        _ => Recovery::DropSession { bridge: BridgeVerdict::NonOperational, fresh_meeting_id: false },
    }
}

/// §9.3: an endpoint update's (or expire's) error. Updates are not awaited: silence is fine.
pub fn update_failed(error: Option<&Colibri2Error>) -> Recovery {
    let Some(error) = error else { return Recovery::Ignore };
    match (&error.reason, &error.endpoint) {
        (Some(ErrorReason::UnknownEndpoint), Some(endpoint)) => Recovery::ReinviteEndpoint(endpoint.clone()),
        _ => Recovery::DropSession { bridge: BridgeVerdict::Keep, fresh_meeting_id: false },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn error(condition: &str, reason: Option<ErrorReason>) -> Colibri2Error {
        Colibri2Error { condition: condition.into(), reason, text: None, endpoint: None }
    }

    #[test]
    fn allocation_errors_map_as_jicofo_documents_them() {
        use BridgeVerdict::*;
        let drop = |bridge, fresh_meeting_id| Recovery::DropSession { bridge, fresh_meeting_id };
        assert_eq!(allocation_failed(None), drop(NonOperational, false));
        assert_eq!(allocation_failed(Some(&error("bad-request", None))), Recovery::Abandon);
        let not_found = error("item-not-found", Some(ErrorReason::ConferenceNotFound));
        assert_eq!(allocation_failed(Some(&not_found)), drop(Keep, false));
        assert_eq!(allocation_failed(Some(&error("item-not-found", None))), Recovery::Abandon);
        let exists = error("conflict", Some(ErrorReason::ConferenceAlreadyExists));
        assert_eq!(allocation_failed(Some(&exists)), drop(Keep, true));
        assert_eq!(allocation_failed(Some(&error("conflict", None))), drop(Keep, false));
        let graceful = error("service-unavailable", Some(ErrorReason::GracefulShutdown));
        assert_eq!(allocation_failed(Some(&graceful)), drop(GracefulShutdown, false));
        assert_eq!(allocation_failed(Some(&error("service-unavailable", None))), drop(NonOperational, false));
        assert_eq!(allocation_failed(Some(&error("internal-server-error", None))), drop(NonOperational, false));
    }

    #[test]
    fn update_errors_reinvite_one_endpoint_or_drop_the_session() {
        assert_eq!(update_failed(None), Recovery::Ignore);
        let mut unknown = error("item-not-found", Some(ErrorReason::UnknownEndpoint));
        unknown.endpoint = Some("ep1".into());
        assert_eq!(update_failed(Some(&unknown)), Recovery::ReinviteEndpoint("ep1".into()));
        assert_eq!(
            update_failed(Some(&error("internal-server-error", None))),
            Recovery::DropSession { bridge: BridgeVerdict::Keep, fresh_meeting_id: false }
        );
    }

    #[test]
    fn only_the_first_request_to_a_bridge_creates_the_conference() {
        let bridge: FullJid = "jvbbrewery@internal.auth.meet.test/jvb-1".parse().unwrap();
        let mut sessions = ColibriSessions::new("m".into());
        let (session, create) = sessions.open(&bridge, || "s1".into());
        assert!(create);
        session.endpoints.insert("a".into());
        let (session, create) = sessions.open(&bridge, || unreachable!("the session exists"));
        assert!(!create);
        assert_eq!(session.id, "s1");
        assert_eq!(sessions.participants_per_bridge(), [(bridge, 1)]);
    }
}
