//! Sign-in sessions (protocol.md §5.2): who may open rooms and who becomes moderator.
//!
//! A user signed in on the auth domain gets a session (`session-id`, bound to the client's
//! `machine-uid`); requests that carry it, from any connection of that client, act with the
//! user's identity.

use std::collections::HashMap;

use chrono::Duration;
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::stanza_error::StanzaError;

use super::Time;
use crate::config::AuthMode;
use crate::errors::{self, ErrorEntry};
use crate::xmpp::focus::ConferenceRequest;

/// Why a request's authentication failed; each maps to the stanza error clients expect (its
/// catalog entry in [`crate::errors`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthError {
    UnknownSession,
    MachineMismatch,
    MissingMachineUid,
    TooManySessions,
}

impl AuthError {
    pub fn entry(&self) -> &'static ErrorEntry {
        match self {
            // `<session-invalid/>` makes the client drop its stored session and start over.
            AuthError::UnknownSession => &errors::AUTH_INVALID_SESSION,
            AuthError::MachineMismatch => &errors::AUTH_MACHINE_MISMATCH,
            AuthError::MissingMachineUid => &errors::AUTH_MISSING_MACHINE_UID,
            AuthError::TooManySessions => &errors::AUTH_TOO_MANY_SESSIONS,
        }
    }
}

impl std::fmt::Display for AuthError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.entry().text)
    }
}

impl std::error::Error for AuthError {}

impl From<AuthError> for StanzaError {
    fn from(e: AuthError) -> StanzaError {
        e.entry().error(&[])
    }
}

#[derive(Debug, Clone)]
pub struct Session {
    pub id: String,
    pub machine_uid: String,
    pub identity: BareJid,
    /// The full JID that last used the session: the occupant's real JID in the room.
    pub bound_jid: Jid,
    pub last_used: Time,
}

/// The outcome of the authentication step of a conference request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Identity {
    /// Authentication is off: everyone may open rooms.
    Open,
    /// A guest (no session, not on the auth domain).
    Guest,
    /// A signed-in user. `created` is true when this request opened the session.
    User { identity: BareJid, session_id: String, created: bool },
}

#[derive(Debug)]
pub struct Sessions {
    pub mode: AuthMode,
    domain: String,
    lifetime: Duration,
    /// New sessions beyond this many are refused.
    max_sessions: usize,
    by_id: HashMap<String, Session>,
    /// How many sessions each connection uses: "is this occupant signed in" without a scan.
    bound: HashMap<Jid, usize>,
}

impl Sessions {
    pub fn new(mode: AuthMode, domain: &str, lifetime: Duration, max_sessions: usize) -> Sessions {
        Sessions {
            mode,
            domain: domain.to_lowercase(),
            lifetime,
            max_sessions,
            by_id: HashMap::new(),
            bound: HashMap::new(),
        }
    }

    fn bind(&mut self, jid: &Jid) {
        *self.bound.entry(jid.clone()).or_default() += 1;
    }

    fn unbind(&mut self, jid: &Jid) {
        if let Some(count) = self.bound.get_mut(jid) {
            *count -= 1;
            if *count == 0 {
                self.bound.remove(jid);
            }
        }
    }

    pub fn enabled(&self) -> bool {
        self.mode != AuthMode::None
    }

    fn on_auth_domain(&self, jid: &Jid) -> bool {
        jid.node().is_some() && jid.domain().as_str().eq_ignore_ascii_case(&self.domain)
    }

    /// The authentication step for a conference request from `sender`, or over HTTP (no
    /// sender: a session still identifies the user, but it stays bound to the connection that
    /// last used it over XMPP, the one whose occupant is made moderator).
    pub fn authenticate(
        &mut self,
        now: Time,
        sender: Option<&Jid>,
        request: &ConferenceRequest,
    ) -> Result<Identity, AuthError> {
        if !self.enabled() {
            return Ok(Identity::Open);
        }
        if let Some(session_id) = &request.session_id {
            let session = self.by_id.get_mut(session_id).ok_or(AuthError::UnknownSession)?;
            if request.machine_uid.as_deref() != Some(session.machine_uid.as_str()) {
                return Err(AuthError::MachineMismatch);
            }
            session.last_used = now;
            let identity =
                Identity::User { identity: session.identity.clone(), session_id: session.id.clone(), created: false };
            if let Some(sender) = sender {
                let previous = std::mem::replace(&mut session.bound_jid, sender.clone());
                self.unbind(&previous);
                self.bind(sender);
            }
            return Ok(identity);
        }
        let Some(sender) = sender.filter(|sender| self.on_auth_domain(sender)) else {
            return Ok(Identity::Guest);
        };
        let machine_uid = request.machine_uid.clone().ok_or(AuthError::MissingMachineUid)?;
        if self.by_id.len() >= self.max_sessions {
            return Err(AuthError::TooManySessions);
        }
        let session = Session {
            id: uuid::Uuid::new_v4().to_string(),
            machine_uid,
            identity: sender.to_bare(),
            bound_jid: sender.clone(),
            last_used: now,
        };
        let identity =
            Identity::User { identity: session.identity.clone(), session_id: session.id.clone(), created: true };
        self.bind(sender);
        self.by_id.insert(session.id.clone(), session);
        Ok(identity)
    }

    /// Ends a session on the client's request.
    pub fn logout(&mut self, session_id: &str) -> Result<Session, AuthError> {
        let session = self.by_id.remove(session_id).ok_or(AuthError::UnknownSession)?;
        self.unbind(&session.bound_jid);
        Ok(session)
    }

    /// Whether an occupant with this real JID is signed in: it used a session, or it is
    /// connected on the auth domain itself.
    pub fn is_authenticated(&self, real_jid: &Jid) -> bool {
        self.enabled() && (self.on_auth_domain(real_jid) || self.bound.contains_key(real_jid))
    }

    #[cfg(test)]
    pub fn next_expiry(&self) -> Option<Time> {
        self.by_id.values().map(|s| s.last_used + self.lifetime).min()
    }

    pub fn expire(&mut self, now: Time) {
        let lifetime = self.lifetime;
        let expired: Vec<String> =
            self.by_id.values().filter(|s| s.last_used + lifetime <= now).map(|s| s.id.clone()).collect();
        for id in expired {
            let _ = self.logout(&id);
        }
    }

    pub fn len(&self) -> usize {
        self.by_id.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_id.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use xmpp_parsers::stanza_error::DefinedCondition;

    fn now() -> Time {
        DateTime::parse_from_rfc3339("2026-11-22T10:00:00Z").unwrap().with_timezone(&Utc)
    }

    fn request(session: Option<&str>, machine: Option<&str>) -> ConferenceRequest {
        ConferenceRequest {
            room: Some("r@conference.meet.test".into()),
            machine_uid: machine.map(str::to_owned),
            session_id: session.map(str::to_owned),
            ..Default::default()
        }
    }

    fn sessions() -> Sessions {
        Sessions::new(AuthMode::Xmpp, "auth.meet.test", Duration::hours(1), 1000)
    }

    #[test]
    fn a_signed_in_user_gets_a_session_that_other_connections_can_use() {
        let mut s = sessions();
        let alice: Jid = "alice@auth.meet.test/web".parse().unwrap();
        let Identity::User { session_id, created: true, identity } =
            s.authenticate(now(), Some(&alice), &request(None, Some("m1"))).unwrap()
        else {
            panic!()
        };
        assert_eq!(identity.to_string(), "alice@auth.meet.test");
        let guest: Jid = "random@meet.test/x".parse().unwrap();
        assert!(!s.is_authenticated(&guest));
        let again = s.authenticate(now(), Some(&guest), &request(Some(&session_id), Some("m1"))).unwrap();
        assert!(matches!(again, Identity::User { created: false, .. }));
        assert!(s.is_authenticated(&guest), "the session is bound to the connection that used it last");
    }

    #[test]
    fn unknown_and_foreign_sessions_are_refused() {
        let mut s = sessions();
        let guest: Jid = "random@meet.test/x".parse().unwrap();
        let err =
            StanzaError::from(s.authenticate(now(), Some(&guest), &request(Some("nope"), Some("m1"))).unwrap_err());
        assert_eq!(err.defined_condition, DefinedCondition::NotAcceptable);
        assert!(err.other.unwrap().is("session-invalid", crate::xmpp::ns::FOCUS));
        let alice: Jid = "alice@auth.meet.test/web".parse().unwrap();
        let Identity::User { session_id, .. } =
            s.authenticate(now(), Some(&alice), &request(None, Some("m1"))).unwrap()
        else {
            panic!()
        };
        let err = StanzaError::from(
            s.authenticate(now(), Some(&guest), &request(Some(&session_id), Some("other"))).unwrap_err(),
        );
        assert_eq!(err.defined_condition, DefinedCondition::NotAcceptable);
        assert_eq!(err.texts.values().next().unwrap(), "machine UID mismatch or empty");
        assert_eq!(s.authenticate(now(), Some(&alice), &request(None, None)), Err(AuthError::MissingMachineUid));
    }

    #[test]
    fn guests_and_open_mode() {
        let mut s = sessions();
        let guest: Jid = "random@meet.test/x".parse().unwrap();
        assert_eq!(s.authenticate(now(), Some(&guest), &request(None, Some("m"))).unwrap(), Identity::Guest);
        let mut open = Sessions::new(AuthMode::None, "", Duration::hours(1), 1000);
        assert_eq!(open.authenticate(now(), Some(&guest), &request(Some("x"), None)).unwrap(), Identity::Open);
    }

    #[test]
    fn sessions_expire_after_their_lifetime_of_inactivity() {
        let mut s = sessions();
        let alice: Jid = "alice@auth.meet.test/web".parse().unwrap();
        s.authenticate(now(), Some(&alice), &request(None, Some("m1"))).unwrap();
        assert_eq!(s.next_expiry(), Some(now() + Duration::hours(1)));
        s.expire(now() + Duration::minutes(59));
        assert_eq!(s.len(), 1);
        s.expire(now() + Duration::hours(1));
        assert!(s.is_empty());
    }
}
