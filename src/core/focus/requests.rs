//! Requests addressed to the focus component itself: the conference request (authentication,
//! the refusal cache, overload answers, the refusal while draining, a new conference and its reservation or join), its
//! `<conference/>` answer, `login-url` and disco#info.

use minidom::Element;
use tracing::{debug, info};
use xmpp_parsers::jid::{BareJid, Jid};
use xmpp_parsers::stanza_error::{DefinedCondition, ErrorType};

use super::Focus;
use crate::config::AuthMode;
use crate::core::auth::Identity;
use crate::core::conference::{Conference, Phase, Waiter};
use crate::core::iq::IqEnvelope;
use crate::core::Time;
use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::focus::{self as focus_ns, ConferenceRequest, ConferenceResponse, LoginUrlRequest, Property};
use crate::xmpp::ns;

impl Focus {
    /// `login-url`: where the client sends the user to sign in (XMPP mode: the room's page
    /// with `?login=true`, which shows jitsi-meet's login dialog).
    pub(super) fn login_url(&self, payload: &Element) -> Result<Option<Element>, (DefinedCondition, String)> {
        let request = LoginUrlRequest::try_from(payload).map_err(|e| (DefinedCondition::BadRequest, e.to_string()))?;
        let room = request.room.ok_or((DefinedCondition::NotAcceptable, "missing attribute 'room'".to_owned()))?;
        if request.machine_uid.is_none() {
            return Err((DefinedCondition::BadRequest, "missing mandatory attribute 'machineUID'".to_owned()));
        }
        if self.settings.auth_mode == AuthMode::Jwt {
            return Err((DefinedCondition::ServiceUnavailable, "no login URL: users sign in with a token".to_owned()));
        }
        let name = room.split('@').next().unwrap_or_default();
        Ok(Some(focus_ns::login_url_response(&format!("./{name}?login=true"))))
    }

    pub(super) fn bad_request(&mut self, envelope: &IqEnvelope, text: &str) {
        self.out.send(envelope.error(focus_ns::error(ErrorType::Modify, DefinedCondition::BadRequest, text)));
    }

    /// Checks `room`: a bare JID with a local part on our MUC domain.
    fn validate_room(&self, room: Option<&str>) -> Result<BareJid, String> {
        let room = room.ok_or("No 'room' specified.")?;
        let jid: Jid = room.parse().map_err(|e| format!("'room' {room:?} is not a valid JID: {e}"))?;
        if jid.resource().is_some() {
            return Err(format!("'room' {room:?} must be a bare JID (no '/resource')"));
        }
        let jid = jid.to_bare();
        if jid.node().is_none() {
            return Err(format!("'room' {room:?} needs a room name: name@{}", self.settings.muc_domain));
        }
        if jid.domain() != self.settings.muc_domain.domain() {
            return Err(format!("'room' {room:?} must be on {}", self.settings.muc_domain));
        }
        Ok(jid)
    }

    pub(super) fn on_conference_request(&mut self, now: Time, envelope: IqEnvelope, payload: &Element) {
        let request = match ConferenceRequest::try_from(payload) {
            Ok(request) => request,
            Err(e) => return self.bad_request(&envelope, &e.to_string()),
        };
        let room = match self.validate_room(request.room.as_deref()) {
            Ok(room) => room,
            Err(text) => return self.bad_request(&envelope, &text),
        };
        let Ok(sender) = envelope.from.parse::<Jid>() else {
            return self.bad_request(&envelope, "the sender's address is not a valid JID");
        };
        let identity = match self.sessions.authenticate(now, &sender, &request) {
            Ok(identity) => identity,
            Err(error) => return self.out.send(envelope.error(error.into())),
        };
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
                return self.out.send(envelope.result(Some(response)));
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
                self.out.send(envelope.result(Some(response)));
                self.elect_owners(&room);
            } else if conference.waiters.len() < limits.max_waiters_per_conference {
                conference.waiters.push(Waiter { envelope, deadline, identity });
            } else {
                self.not_ready(&room, envelope, &identity, "too many requests wait for this room");
            }
            return;
        }
        if self.draining {
            debug!(room = %room, "new conference refused: draining");
            return self.out.send(envelope.error(super::drain::draining_error()));
        }
        if identity == Identity::Guest {
            let error = focus_ns::error(ErrorType::Auth, DefinedCondition::NotAuthorized, "not authorized user domain");
            return self.out.send(envelope.error(error));
        }
        if let Some((refusal, until)) = self.refusals.get(&room) {
            if now < *until {
                let error = focus_ns::reservation_error(refusal.code, &refusal.message);
                self.out.send(envelope.error(error));
                return;
            }
        }
        // Overload: a new room costs a reservation call and a join. Past the limits the client
        // hears `ready='false'` at once and asks again after its back-off (1, 2, 4… s); an error
        // would make current clients give up the join altogether (protocol.md §2.4, §3.2).
        if self.starting.len() >= limits.max_pending_conferences {
            return self.not_ready(&room, envelope, &identity, "too many conferences are starting");
        }
        if self.conferences.len() >= limits.max_conferences {
            return self.not_ready(&room, envelope, &identity, "the focus runs its maximum of conferences");
        }
        // `mail_owner`: the signed-in identity, or else the requester's bare JID, as Prosody's
        // mod_reservations sends it (some reservation servers require the field).
        let owner = match &identity {
            Identity::User { identity, .. } => identity.to_string(),
            _ => sender.to_bare().to_string(),
        };
        let phase = match self.settings.reservation {
            Some(_) => Phase::Reserving { attempt: 1, retry_at: None },
            None => Phase::Joining { sent_at: None },
        };
        let mut conference = Conference::new(room.clone(), Some(owner), phase, now);
        // Start muted (§7.4): participants beyond the Nth join muted. Read from the request that
        // creates the conference, as Jicofo reads its conference properties.
        let start_muted = |name: &str| {
            request.properties.iter().find(|p| p.name == name).and_then(|p| p.value.trim().parse::<usize>().ok())
        };
        conference.media.start_audio_muted = start_muted("startAudioMuted");
        conference.media.start_video_muted = start_muted("startVideoMuted");
        conference.waiters.push(Waiter { envelope, deadline, identity });
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
    fn not_ready(&mut self, room: &BareJid, envelope: IqEnvelope, identity: &Identity, why: &str) {
        debug!(room = %room, why, "request answered ready='false'");
        let response = self.response(room, false, identity);
        self.out.send(envelope.result(Some(response)));
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
