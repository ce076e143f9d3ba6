//! Requests addressed to the focus component itself: the conference request (authentication,
//! the refusal cache, overload answers, the refusal while draining, a new conference and its reservation or join), its
//! `<conference/>` answer, `login-url` and disco#info.

use minidom::Element;
use tracing::{debug, info};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::stanza_error::StanzaError;

use super::Focus;
use crate::config::AuthMode;
use crate::core::auth::Identity;
use crate::core::conference::{Conference, Phase, Waiter};
use crate::core::iq::{IqEnvelope, Requester};
use crate::core::Time;
use crate::errors::{self, Failure};
use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::focus::{self as focus_ns, ConferenceRequest, ConferenceResponse, LoginUrlRequest, Property};
use crate::xmpp::ns;

impl Focus {
    /// `login-url`: where the client sends the user to sign in (XMPP mode: the room's page
    /// with `?login=true`, which shows jitsi-meet's login dialog).
    pub(super) fn login_url(&self, payload: &Element) -> Result<Option<Element>, Failure> {
        let request = LoginUrlRequest::try_from(payload).map_err(|e| errors::REQUEST_MALFORMED.raw(e.to_string()))?;
        let room = request.room.ok_or_else(|| errors::LOGIN_URL_NO_ROOM.with(&[]))?;
        if request.machine_uid.is_none() {
            return Err(errors::LOGIN_URL_NO_MACHINE_UID.with(&[]));
        }
        if self.settings.auth_mode == AuthMode::Jwt {
            return Err(errors::LOGIN_URL_JWT.with(&[]));
        }
        let name = room.split('@').next().unwrap_or_default();
        Ok(Some(focus_ns::login_url_response(&format!("./{name}?login=true"))))
    }

    /// Answers an IQ request with an error of the catalog.
    pub(super) fn answer(&mut self, envelope: &IqEnvelope, failure: &Failure) {
        self.out.send(envelope.error(failure.error()));
    }

    /// Checks `room`: a bare JID with a local part on our MUC domain.
    fn validate_room(&self, room: Option<&str>) -> Result<BareJid, Failure> {
        let room = room.ok_or_else(|| errors::REQUEST_NO_ROOM.with(&[]))?;
        let quoted = errors::quoted_inner(room);
        let muc_domain = self.settings.muc_domain.to_string();
        let jid: Jid = room.parse().map_err(|e: xmpp_parsers::jid::Error| {
            errors::REQUEST_ROOM_NOT_JID.with(&[("room", &quoted), ("why", &e.to_string())])
        })?;
        if jid.resource().is_some() {
            return Err(errors::REQUEST_ROOM_NOT_BARE.with(&[("room", &quoted)]));
        }
        let jid = jid.to_bare();
        if jid.node().is_none() {
            return Err(errors::REQUEST_ROOM_NO_NAME.with(&[("room", &quoted), ("muc_domain", &muc_domain)]));
        }
        if jid.domain() != self.settings.muc_domain.domain() {
            return Err(errors::REQUEST_ROOM_ELSEWHERE.with(&[("room", &quoted), ("muc_domain", &muc_domain)]));
        }
        Ok(jid)
    }

    /// A conference request answered with an error.
    fn request_error(&mut self, requester: &Requester, error: StanzaError) {
        self.counters.conference_requests_errors += 1;
        self.out.answer(requester, Err(error));
    }

    pub(super) fn on_conference_request(&mut self, now: Time, envelope: IqEnvelope, payload: &Element) {
        let request = match ConferenceRequest::try_from(payload) {
            Ok(request) => request,
            Err(e) => {
                self.counters.conference_requests += 1;
                let error = errors::REQUEST_MALFORMED.raw(e.to_string()).error();
                return self.request_error(&Requester::Xmpp(envelope), error);
            }
        };
        let Ok(sender) = envelope.from.parse::<Jid>() else {
            self.counters.conference_requests += 1;
            let error = errors::REQUEST_BAD_SENDER.with(&[]).error();
            return self.request_error(&Requester::Xmpp(envelope), error);
        };
        self.conference_request(now, Requester::Xmpp(envelope), Some(sender), request);
    }

    /// A conference request over XMPP (`sender` is the client's JID) or HTTP (no sender: the
    /// requester is a guest unless its `session-id` says otherwise).
    pub(super) fn conference_request(
        &mut self,
        now: Time,
        requester: Requester,
        sender: Option<Jid>,
        request: ConferenceRequest,
    ) {
        self.counters.conference_requests += 1;
        let room = match self.validate_room(request.room.as_deref()) {
            Ok(room) => room,
            Err(failure) => return self.request_error(&requester, failure.error()),
        };
        let identity = match self.sessions.authenticate(now, sender.as_ref(), &request) {
            Ok(identity) => identity,
            Err(error) => return self.request_error(&requester, error.into()),
        };
        // Over HTTP the room cannot be joined or answered for while the link is down: the
        // client hears `ready='false'` and asks again after its back-off. (An XMPP request
        // cannot arrive then; its answer would be held until the link is back.)
        if !self.out.connected && matches!(requester, Requester::Http(_)) {
            return self.not_ready(&room, requester, &identity, "not connected to Prosody");
        }
        // A session opened by this request, in XMPP mode, came over the client's sign-in
        // connection (or the client signed in directly). Answer with the session but
        // `ready='false'`: the client repeats the request with the session on its main
        // connection, where a reservation refusal reaches the user as RESERVATION_ERROR.
        // (Answered here, the refusal would travel lib-jitsi-meet's authenticate() path, which
        // shows it as GET_SESSION_ID_ERROR.)
        if let Identity::User { created: true, identity: user, .. } = &identity {
            if self.settings.auth_mode == AuthMode::Xmpp {
                info!(room = %room, identity = %user, "session created; the reservation check follows on the main connection");
                let response = self.response(&room, false, &identity);
                return self.out.answer(&requester, Ok(response));
            }
        }
        let deadline = now + self.settings.request_timeout;
        let limits = self.settings.limits.clone();
        if let Some(conference) = self.conferences.get_mut(&room) {
            self.touched.push(room.clone());
            if conference.phase == Phase::Live {
                if conference.participants.is_empty() {
                    conference.initial_deadline = Some(now + self.settings.initial_timeout);
                }
                let response = self.response(&room, true, &identity);
                self.out.answer(&requester, Ok(response));
                self.elect_owners(&room);
            } else if conference.waiters.len() < limits.max_waiters_per_conference {
                conference.waiters.push(Waiter { requester, deadline, identity });
            } else {
                self.not_ready(&room, requester, &identity, "too many requests wait for this room");
            }
            return;
        }
        self.counters.conference_requests_new += 1;
        if self.draining {
            debug!(room = %room, "new conference refused: draining");
            return self.request_error(&requester, errors::REQUEST_DRAINING.error(&[]));
        }
        if identity == Identity::Guest {
            return self.request_error(&requester, errors::AUTH_NOT_AUTHORIZED.with(&[]).error());
        }
        if let Some((refusal, until)) = self.refusals.get(&room) {
            if now < *until {
                let error = focus_ns::reservation_error(refusal.code, &refusal.message);
                return self.request_error(&requester, error);
            }
        }
        // Overload: a new room costs a reservation call and a join. Past the limits the client
        // hears `ready='false'` at once and asks again after its back-off (1, 2, 4… s); an error
        // would make current clients give up the join altogether (protocol.md §2.4, §3.2).
        if self.starting.len() >= limits.max_pending_conferences {
            return self.not_ready(&room, requester, &identity, "too many conferences are starting");
        }
        if self.conferences.len() >= limits.max_conferences {
            return self.not_ready(&room, requester, &identity, "the focus runs its maximum of conferences");
        }
        // `mail_owner`: the signed-in identity, or else the requester's bare JID, as Prosody's
        // mod_reservations sends it (some reservation servers require the field). An HTTP
        // request without a session has neither.
        let owner = match &identity {
            Identity::User { identity, .. } => Some(identity.to_string()),
            _ => sender.map(|sender| sender.to_bare().to_string()),
        };
        let phase = match self.settings.reservation {
            Some(_) => Phase::Reserving { attempt: 1, retry_at: None },
            None => Phase::Joining { sent_at: None },
        };
        let mut conference = Conference::new(room.clone(), owner, phase, now);
        // Start muted (§7.4): participants beyond the Nth join muted. Read from the request that
        // creates the conference, as Jicofo reads its conference properties.
        let start_muted = |name: &str| {
            request.properties.iter().find(|p| p.name == name).and_then(|p| p.value.trim().parse::<usize>().ok())
        };
        conference.media.start_audio_muted = start_muted("startAudioMuted");
        conference.media.start_video_muted = start_muted("startVideoMuted");
        conference.waiters.push(Waiter { requester, deadline, identity });
        debug!(room = %room, "new conference requested");
        self.conferences.insert(room.clone(), conference);
        self.touch(&room);
        if self.settings.reservation.is_some() {
            self.post_reservation(now, &room);
        } else {
            self.begin_join(now, &room);
        }
    }

    /// Answers `ready='false'` at once because of a limit; the client asks again later.
    fn not_ready(&mut self, room: &BareJid, requester: Requester, identity: &Identity, why: &str) {
        debug!(room = %room, why, "request answered ready='false'");
        let response = self.response(room, false, identity);
        self.out.answer(&requester, Ok(response));
    }

    /// The `<conference/>` answer, with the session of signed-in users.
    pub(super) fn response(&self, room: &BareJid, ready: bool, identity: &Identity) -> Element {
        let (session_id, user) = match identity {
            Identity::User { identity, session_id, .. } => (Some(session_id.clone()), Some(identity.to_string())),
            _ => (None, None),
        };
        let auth = self.sessions.enabled();
        let mut properties = vec![Property::new("authentication", auth.to_string())];
        if auth {
            properties.push(Property::new("externalAuth", (self.settings.auth_mode == AuthMode::Jwt).to_string()));
        }
        properties.push(Property::new("sipGatewayEnabled", "false"));
        Element::from(&ConferenceResponse {
            room: room.to_string(),
            ready,
            focus_jid: self.settings.component.to_string(),
            session_id,
            identity: user,
            properties,
        })
    }
}

/// disco#info of the component: clients and operators' tools look for the focus feature.
pub(super) fn disco_info() -> Element {
    let feature = |var: &str| elem("feature", ns::DISCO_INFO).with_attr("var", var);
    elem("query", ns::DISCO_INFO)
        .with_child(
            elem("identity", ns::DISCO_INFO)
                .with_attr("category", "component")
                .with_attr("type", "generic")
                .with_attr("name", "jitsi-focus"),
        )
        .with_child(feature(ns::DISCO_INFO))
        .with_child(feature(ns::PING))
        .with_child(feature(ns::FOCUS))
}
