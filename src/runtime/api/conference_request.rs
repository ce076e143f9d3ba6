//! `POST /conference-request/v1`: Jicofo's JSON form of the conference request, which current
//! lib-jitsi-meet sends when `conferenceRequestUrl` is configured (protocol.md §2.5). The
//! request and the answer use the same field names; the answer comes from the core exactly as
//! an IQ would, and IQ errors become HTTP statuses that lib-jitsi-meet reads correctly:
//!
//! * `not-authorized` → 403, which the client shows as "authentication required";
//! * `not-acceptable` (an unknown or foreign session) → 400 with `400 invalid-session` in the
//!   body, the substring lib-jitsi-meet looks for before it drops its session and retries;
//! * a reservation refusal → 409 (the API refused this room now: not booked, not started …)
//!   or 502/504 (the API failed or timed out), never 403, which the client would misread as a
//!   sign-in prompt. The body carries the reservation code and message. A stock client shows
//!   "conference request failed" for these: only over XMPP does it show the message
//!   (RESERVATION_ERROR), which is why README recommends XMPP requests with a reservation API.

use std::collections::BTreeMap;

use axum::http::StatusCode;
use minidom::Element;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use xmpp_parsers::stanza_error::{DefinedCondition, StanzaError};

use crate::xmpp::focus::{parse_reservation_error, ConferenceRequest, ConferenceResponse, Property};

/// Properties a request may carry; more is not a conference request.
pub const MAX_PROPERTIES: usize = 64;
/// Longest property name or value, and longest string field of the body. (Not the token: a
/// JWT with a user context is often longer, the core never reads it, and its header is bounded
/// by the HTTP server.)
pub const MAX_FIELD_CHARS: usize = 1024;

/// The request body. Unknown fields are ignored, as Jicofo ignores them.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonRequest {
    pub room: Option<String>,
    pub session_id: Option<String>,
    pub machine_uid: Option<String>,
    /// lib-jitsi-meet sends booleans and numbers here as JSON values (`"rtcstatsEnabled": true`,
    /// `"startAudioMuted": 9`); over XMPP they are attribute strings, so they become strings.
    #[serde(default)]
    pub properties: BTreeMap<String, Value>,
}

/// The answer body: the `<conference/>` result in JSON, empty fields left out.
#[derive(Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct JsonResponse {
    pub room: String,
    pub ready: bool,
    pub focus_jid: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identity: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub properties: BTreeMap<String, String>,
}

/// Why a body is not a conference request; answered 400.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RequestError {
    #[error("the body is not a JSON conference request: {0}")]
    Json(String),
    #[error("more than {MAX_PROPERTIES} properties")]
    TooManyProperties,
    #[error("property {0:?}: a value is a string, a number or a boolean")]
    PropertyValue(String),
    #[error("a field or property is longer than {MAX_FIELD_CHARS} characters")]
    TooLong,
}

/// Reads a body into the request the core handles, with the `Authorization: Bearer` token.
pub fn parse(body: &[u8], token: Option<String>) -> Result<ConferenceRequest, RequestError> {
    let json: JsonRequest = serde_json::from_slice(body).map_err(|e| RequestError::Json(e.to_string()))?;
    if json.properties.len() > MAX_PROPERTIES {
        return Err(RequestError::TooManyProperties);
    }
    let long = |s: &Option<String>| s.as_ref().is_some_and(|s| s.chars().count() > MAX_FIELD_CHARS);
    if long(&json.room) || long(&json.session_id) || long(&json.machine_uid) {
        return Err(RequestError::TooLong);
    }
    let mut properties = Vec::with_capacity(json.properties.len());
    for (name, value) in json.properties {
        let value = match value {
            Value::String(s) => s,
            Value::Bool(b) => b.to_string(),
            Value::Number(n) => n.to_string(),
            Value::Null => continue,
            _ => return Err(RequestError::PropertyValue(name)),
        };
        if name.is_empty() || name.chars().count() > MAX_FIELD_CHARS || value.chars().count() > MAX_FIELD_CHARS {
            return Err(RequestError::TooLong);
        }
        properties.push(Property::new(name, value));
    }
    let nonempty = |s: Option<String>| s.filter(|s| !s.is_empty());
    Ok(ConferenceRequest {
        room: nonempty(json.room),
        machine_uid: nonempty(json.machine_uid),
        session_id: nonempty(json.session_id),
        token: nonempty(token),
        properties,
    })
}

/// The HTTP status and JSON body for the core's answer.
pub fn answer(answer: Result<Element, StanzaError>) -> (StatusCode, Value) {
    match answer {
        Ok(element) => match ConferenceResponse::try_from(&element) {
            Ok(response) => (StatusCode::OK, json!(JsonResponse::from(response))),
            Err(e) => internal(&format!("the focus built an unreadable answer: {e}")),
        },
        Err(error) => refusal(&error),
    }
}

impl From<ConferenceResponse> for JsonResponse {
    fn from(r: ConferenceResponse) -> Self {
        JsonResponse {
            room: r.room,
            ready: r.ready,
            focus_jid: r.focus_jid,
            session_id: r.session_id,
            identity: r.identity,
            properties: r.properties.into_iter().map(|p| (p.name, p.value)).collect(),
        }
    }
}

fn text_of(error: &StanzaError) -> String {
    error.texts.values().next().cloned().unwrap_or_default()
}

/// The condition's name as XMPP writes it (`not-authorized`).
fn condition_name(condition: &DefinedCondition) -> String {
    let element =
        Element::from(StanzaError::new(xmpp_parsers::stanza_error::ErrorType::Cancel, condition.clone(), "en", ""));
    element
        .children()
        .find(|c| c.ns() == crate::xmpp::ns::STANZAS && c.name() != "text")
        .map(|c| c.name().to_owned())
        .unwrap_or_else(|| "undefined-condition".to_owned())
}

fn refusal(error: &StanzaError) -> (StatusCode, Value) {
    let text = text_of(error);
    if let Some((code, message)) = parse_reservation_error(error) {
        // 5xx codes are the API failing (502 unreachable, 504 timed out, 500 invalid answer):
        // a gateway error. Anything else is the API's decision about this room.
        let status = match code {
            504 => StatusCode::GATEWAY_TIMEOUT,
            500..=599 => StatusCode::BAD_GATEWAY,
            _ => StatusCode::CONFLICT,
        };
        return (status, json!({ "error": "reservation-error", "code": code, "message": message }));
    }
    let condition = condition_name(&error.defined_condition);
    let status = match error.defined_condition {
        DefinedCondition::NotAuthorized => StatusCode::FORBIDDEN,
        DefinedCondition::NotAcceptable => {
            // lib-jitsi-meet drops its session and asks again when the body contains this.
            let message = format!("400 invalid-session: {text}");
            return (StatusCode::BAD_REQUEST, json!({ "error": "invalid-session", "message": message }));
        }
        DefinedCondition::BadRequest | DefinedCondition::PolicyViolation => StatusCode::BAD_REQUEST,
        DefinedCondition::ServiceUnavailable | DefinedCondition::ResourceConstraint => StatusCode::SERVICE_UNAVAILABLE,
        _ => StatusCode::INTERNAL_SERVER_ERROR,
    };
    (status, json!({ "error": condition, "message": text }))
}

fn internal(message: &str) -> (StatusCode, Value) {
    (StatusCode::INTERNAL_SERVER_ERROR, json!({ "error": "internal-server-error", "message": message }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::errors;
    use crate::xmpp::focus::reservation_error;

    #[test]
    fn a_current_client_request_is_read_with_its_typed_properties() {
        // As lib-jitsi-meet's moderator.js builds it for `conferenceRequestUrl`.
        let body = br#"{"room":"hello@conference.meet.example.com","machineUid":"m1","sessionId":"",
            "properties":{"rtcstatsEnabled":false,"startAudioMuted":9,"visitors-version":1,
            "disableRtx":null,"previous-session":"x"},"unknown":{"a":1}}"#;
        let request = parse(body, Some("eyJ.token".into())).unwrap();
        assert_eq!(request.room.as_deref(), Some("hello@conference.meet.example.com"));
        assert_eq!(request.machine_uid.as_deref(), Some("m1"));
        assert_eq!(request.session_id, None, "an empty session is no session");
        assert_eq!(request.token.as_deref(), Some("eyJ.token"));
        let props: Vec<(&str, &str)> = request.properties.iter().map(|p| (p.name.as_str(), p.value.as_str())).collect();
        assert_eq!(
            props,
            [
                ("previous-session", "x"),
                ("rtcstatsEnabled", "false"),
                ("startAudioMuted", "9"),
                ("visitors-version", "1")
            ]
        );
    }

    #[test]
    fn malformed_bodies_are_refused_with_the_reason() {
        assert!(matches!(parse(b"not json", None), Err(RequestError::Json(_))));
        assert!(matches!(parse(b"[1,2]", None), Err(RequestError::Json(_))));
        assert!(matches!(parse(br#"{"room": 5}"#, None), Err(RequestError::Json(_))));
        assert_eq!(parse(br#"{"properties":{"a":[1]}}"#, None).unwrap_err(), RequestError::PropertyValue("a".into()));
        let many: BTreeMap<String, u32> = (0..=MAX_PROPERTIES as u32).map(|i| (format!("p{i}"), i)).collect();
        let body = serde_json::to_vec(&json!({ "properties": many })).unwrap();
        assert_eq!(parse(&body, None).unwrap_err(), RequestError::TooManyProperties);
        let body = serde_json::to_vec(&json!({ "room": "r".repeat(MAX_FIELD_CHARS + 1) })).unwrap();
        assert_eq!(parse(&body, None).unwrap_err(), RequestError::TooLong);
        // No room is for the core to answer, exactly as over XMPP.
        assert_eq!(parse(b"{}", None).unwrap().room, None);
    }

    #[test]
    fn a_long_token_is_no_reason_to_refuse_the_request() {
        // A JWT with a user context (name, e-mail, avatar URL, features) is often well over
        // 1 KiB; the header it comes in is bounded by the HTTP server, not by this parser.
        let token = format!("eyJhbGciOiJSUzI1NiJ9.{}.sig", "x".repeat(4 * MAX_FIELD_CHARS));
        let request = parse(br#"{"room":"r@conference.meet.test"}"#, Some(token.clone())).unwrap();
        assert_eq!(request.token, Some(token));
    }

    #[test]
    fn answers_map_to_statuses_the_client_reads_correctly() {
        let response = ConferenceResponse {
            room: "r@c.example".into(),
            ready: true,
            focus_jid: "focus.example".into(),
            session_id: None,
            identity: None,
            properties: vec![Property::new("authentication", "false")],
        };
        let (status, body) = answer(Ok(Element::from(&response)));
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            body,
            json!({"room":"r@c.example","ready":true,"focusJid":"focus.example","properties":{"authentication":"false"}})
        );

        let (status, body) = answer(Err(reservation_error(403, "Not booked")));
        assert_eq!(
            (status, &body),
            (StatusCode::CONFLICT, &json!({"error":"reservation-error","code":403,"message":"Not booked"}))
        );
        assert_eq!(answer(Err(reservation_error(504, "Reservation lookup timed out"))).0, StatusCode::GATEWAY_TIMEOUT);
        assert_eq!(answer(Err(reservation_error(502, "Could not contact"))).0, StatusCode::BAD_GATEWAY);

        let (status, body) = answer(Err(errors::AUTH_INVALID_SESSION.error(&[])));
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body["message"].as_str().unwrap().contains("400 invalid-session"), "{body}");

        let (status, body) = answer(Err(errors::AUTH_NOT_AUTHORIZED.error(&[])));
        assert_eq!(
            (status, &body),
            (StatusCode::FORBIDDEN, &json!({"error":"not-authorized","message":"not authorized user domain"}))
        );

        let bad = errors::REQUEST_NO_ROOM.error(&[]);
        assert_eq!(
            answer(Err(bad)),
            (StatusCode::BAD_REQUEST, json!({"error":"bad-request","message":"No 'room' specified."}))
        );
        assert_eq!(answer(Err(errors::AUTH_TOO_MANY_SESSIONS.error(&[]))).0, StatusCode::SERVICE_UNAVAILABLE);
    }

    proptest::proptest! {
        /// Whatever an anonymous client posts, the body is read or refused with a reason, never
        /// a panic, and what is read stays within the limits.
        #[test]
        fn any_body_is_read_or_refused(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            if let Ok(request) = parse(&body, None) {
                proptest::prop_assert!(request.properties.len() <= MAX_PROPERTIES);
            }
        }

        /// JSON-shaped bodies with odd field types, nesting and sizes.
        #[test]
        fn json_shaped_bodies_are_read_or_refused(
            room in proptest::option::of(".{0,40}"),
            values in proptest::collection::vec("(null|true|1e999|-0|\\[\\[\\[1\\]\\]\\]|\\{\\}|\"x\"|[0-9]{1,30})", 0..80),
            depth in 0usize..300,
        ) {
            let properties: Vec<String> = values.iter().enumerate().map(|(i, v)| format!("\"p{i}\":{v}")).collect();
            // Nesting in an unknown field is skipped without recursion; in a property it is
            // parsed, up to serde_json's recursion limit, and refused (an array is no value).
            let nested = format!("{}1{}", "[".repeat(depth), "]".repeat(depth));
            let body = format!(
                "{{\"room\":{},\"properties\":{{{}}},\"extra\":{nested}}}",
                serde_json::to_string(&room).unwrap(),
                properties.join(",")
            );
            if let Ok(request) = parse(body.as_bytes(), Some("t".into())) {
                proptest::prop_assert!(request.properties.len() <= MAX_PROPERTIES);
            }
            let in_property = format!("{{\"properties\":{{\"p\":{nested}}}}}");
            proptest::prop_assert!(parse(in_property.as_bytes(), None).is_err() || depth == 0);
        }
    }
}
