//! `http://jitsi.org/protocol/focus`: the conference request and its answers.
//!
//! Clients send `<conference room='…'/>` to the focus component; the focus answers with
//! `ready='true'` once it is in the room, or with a stanza error. A refusal by the reservation
//! system carries `<reservation-error error-code='N'/>` beside `<text>` directly under `<error>`,
//! which is where lib-jitsi-meet looks for them.

use minidom::Element;
use thiserror::Error;
use xmpp_parsers::stanza_error::StanzaError;

use super::build::{elem, ElementExt};
use super::ns;

/// A malformed focus element.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum FocusParseError {
    #[error("expected <{0} xmlns='http://jitsi.org/protocol/focus'/>")]
    WrongElement(&'static str),
    #[error("<property/> needs a non-empty 'name' attribute")]
    PropertyWithoutName,
}

/// `<conference/>` as sent by a client (IQ type `set`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ConferenceRequest {
    /// The room's JID as the client wrote it; validated by the core, which knows the MUC domain.
    pub room: Option<String>,
    pub machine_uid: Option<String>,
    pub session_id: Option<String>,
    pub token: Option<String>,
    pub properties: Vec<Property>,
}

/// A `<property name='…' value='…'/>` child.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Property {
    pub name: String,
    pub value: String,
}

impl Property {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Self {
        Property { name: name.into(), value: value.into() }
    }

    fn parse(element: &Element) -> Result<Self, FocusParseError> {
        let name = element.attr_nonempty("name").ok_or(FocusParseError::PropertyWithoutName)?;
        Ok(Property::new(name, element.attr("value").unwrap_or_default()))
    }

    fn to_element(&self) -> Element {
        elem("property", ns::FOCUS).with_attr("name", &self.name).with_attr("value", &self.value)
    }
}

fn parse_properties(element: &Element) -> Result<Vec<Property>, FocusParseError> {
    element.children().filter(|c| c.is("property", ns::FOCUS)).map(Property::parse).collect()
}

fn owned(element: &Element, name: &str) -> Option<String> {
    element.attr_nonempty(name).map(str::to_owned)
}

impl TryFrom<&Element> for ConferenceRequest {
    type Error = FocusParseError;

    fn try_from(element: &Element) -> Result<Self, Self::Error> {
        if !element.is("conference", ns::FOCUS) {
            return Err(FocusParseError::WrongElement("conference"));
        }
        Ok(ConferenceRequest {
            room: owned(element, "room"),
            machine_uid: owned(element, "machine-uid"),
            session_id: owned(element, "session-id"),
            token: owned(element, "token"),
            properties: parse_properties(element)?,
        })
    }
}

impl From<&ConferenceRequest> for Element {
    fn from(request: &ConferenceRequest) -> Element {
        let mut element = elem("conference", ns::FOCUS);
        for (name, value) in [
            ("room", &request.room),
            ("machine-uid", &request.machine_uid),
            ("session-id", &request.session_id),
            ("token", &request.token),
        ] {
            if let Some(value) = value {
                element = element.with_attr(name, value);
            }
        }
        for property in &request.properties {
            element.append_child(property.to_element());
        }
        element
    }
}

/// `<conference/>` as answered by the focus (IQ type `result`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConferenceResponse {
    pub room: String,
    pub ready: bool,
    /// The bare JID the client matches against the focus occupant's real JID (`focusjid/…`).
    pub focus_jid: String,
    pub session_id: Option<String>,
    pub identity: Option<String>,
    pub properties: Vec<Property>,
}

impl From<&ConferenceResponse> for Element {
    fn from(response: &ConferenceResponse) -> Element {
        let mut element = elem("conference", ns::FOCUS)
            .with_attr("room", &response.room)
            .with_attr("ready", if response.ready { "true" } else { "false" })
            .with_attr("focusjid", &response.focus_jid);
        if let Some(session_id) = &response.session_id {
            element = element.with_attr("session-id", session_id);
        }
        if let Some(identity) = &response.identity {
            element = element.with_attr("identity", identity);
        }
        for property in &response.properties {
            element.append_child(property.to_element());
        }
        element
    }
}

impl TryFrom<&Element> for ConferenceResponse {
    type Error = FocusParseError;

    fn try_from(element: &Element) -> Result<Self, Self::Error> {
        if !element.is("conference", ns::FOCUS) {
            return Err(FocusParseError::WrongElement("conference"));
        }
        Ok(ConferenceResponse {
            room: element.attr("room").unwrap_or_default().to_owned(),
            ready: element.attr("ready") == Some("true"),
            focus_jid: element.attr("focusjid").unwrap_or_default().to_owned(),
            session_id: owned(element, "session-id"),
            identity: owned(element, "identity"),
            properties: parse_properties(element)?,
        })
    }
}

/// The error a refused reservation produces: `service-unavailable`, the API's message as
/// `<text>` and `<reservation-error error-code='STATUS'/>` (every reservation entry of the
/// error catalog has this shape).
pub fn reservation_error(code: u16, message: &str) -> StanzaError {
    crate::errors::RESERVATION_REFUSED.raw(message).error_with_code(code)
}

/// Reads `(code, text)` back from a reservation error (used by tests and by our own checks).
pub fn parse_reservation_error(error: &StanzaError) -> Option<(u16, String)> {
    let other = error.other.as_ref().filter(|o| o.is("reservation-error", ns::FOCUS))?;
    let code = other.attr("error-code")?.parse().ok()?;
    let text = error.texts.values().next().cloned().unwrap_or_default();
    Some((code, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured from lib-jitsi-meet 2.1.5 in Chromium 156 (WebSocket), the IQ's payload.
    const CLIENT_REQUEST: &str = r#"<conference xmlns="http://jitsi.org/protocol/focus" room="granted-ws@conference.meet.test" machine-uid="96aa29243e19a60f191f8b70e392a99e"><property name="disableRtx" value="false"/><property name="enableLipSync" value="false"/><property name="openSctp" value="true"/></conference>"#;

    /// Captured: our answer as the client received it.
    const FOCUS_RESPONSE: &str = r#"<conference xmlns="http://jitsi.org/protocol/focus" ready="true" room="granted-ws@conference.meet.test" focusjid="focus.meet.test"><property name="authentication" value="false"/><property name="sipGatewayEnabled" value="false"/></conference>"#;

    #[test]
    fn client_request_round_trips() {
        let element: Element = CLIENT_REQUEST.parse().unwrap();
        let request = ConferenceRequest::try_from(&element).unwrap();
        assert_eq!(request.room.as_deref(), Some("granted-ws@conference.meet.test"));
        assert_eq!(request.machine_uid.as_deref(), Some("96aa29243e19a60f191f8b70e392a99e"));
        assert_eq!(request.session_id, None);
        assert_eq!(request.properties.len(), 3);
        assert_eq!(request.properties[2], Property::new("openSctp", "true"));
        let again = ConferenceRequest::try_from(&Element::from(&request)).unwrap();
        assert_eq!(again, request);
    }

    #[test]
    fn captured_response_round_trips() {
        let element: Element = FOCUS_RESPONSE.parse().unwrap();
        let response = ConferenceResponse::try_from(&element).unwrap();
        assert!(response.ready);
        assert_eq!(response.focus_jid, "focus.meet.test");
        assert_eq!(Element::from(&response), element);
    }

    #[test]
    fn empty_attributes_count_as_absent() {
        let element: Element =
            "<conference xmlns='http://jitsi.org/protocol/focus' room='' session-id=''/>".parse().unwrap();
        let request = ConferenceRequest::try_from(&element).unwrap();
        assert_eq!(request.room, None);
        assert_eq!(request.session_id, None);
    }

    #[test]
    fn property_without_name_is_rejected() {
        let element: Element =
            "<conference xmlns='http://jitsi.org/protocol/focus' room='a@b'><property value='1'/></conference>"
                .parse()
                .unwrap();
        assert_eq!(ConferenceRequest::try_from(&element), Err(FocusParseError::PropertyWithoutName));
    }

    #[test]
    fn wrong_namespace_is_rejected() {
        let element: Element = "<conference xmlns='urn:other' room='a@b'/>".parse().unwrap();
        assert!(ConferenceRequest::try_from(&element).is_err());
    }

    #[test]
    fn response_serialises_like_jicofo() {
        let response = ConferenceResponse {
            room: "testroom@conference.meet.test".into(),
            ready: true,
            focus_jid: "focus.meet.test".into(),
            session_id: None,
            identity: None,
            properties: vec![Property::new("authentication", "false")],
        };
        let element = Element::from(&response);
        assert_eq!(element.attr("focusjid"), Some("focus.meet.test"));
        assert_eq!(element.attr("ready"), Some("true"));
        assert_eq!(ConferenceResponse::try_from(&element).unwrap(), response);
    }

    #[test]
    fn reservation_error_carries_code_and_text_as_children_of_error() {
        let error = reservation_error(403, "Räume nur <b>mit</b> Buchung");
        let xml = String::from(&Element::from(error.clone()));
        assert!(xml.contains("<service-unavailable"), "{xml}");
        assert!(xml.contains("error-code='403'"), "{xml}");
        assert!(xml.contains("Räume nur &lt;b&gt;mit&lt;/b&gt; Buchung"), "{xml}");
        let reparsed = StanzaError::try_from(xml.parse::<Element>().unwrap()).unwrap();
        assert_eq!(parse_reservation_error(&reparsed), Some((403, "Räume nur <b>mit</b> Buchung".to_owned())));
    }
}

/// `<login-url room='…' machine-uid='…' popup='…'/>` (IQ get) and its answer `<login-url url='…'/>`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct LoginUrlRequest {
    pub room: Option<String>,
    pub machine_uid: Option<String>,
    pub popup: bool,
}

impl TryFrom<&Element> for LoginUrlRequest {
    type Error = FocusParseError;

    fn try_from(element: &Element) -> Result<Self, Self::Error> {
        if !element.is("login-url", ns::FOCUS) {
            return Err(FocusParseError::WrongElement("login-url"));
        }
        Ok(LoginUrlRequest {
            room: owned(element, "room"),
            machine_uid: owned(element, "machine-uid"),
            popup: element.attr("popup") == Some("true"),
        })
    }
}

/// The answer to a login-url request; `url` is sent percent-encoded as Jicofo does.
pub fn login_url_response(url: &str) -> Element {
    let encoded: String = form_urlencoded_component(url);
    elem("login-url", ns::FOCUS).with_attr("url", encoded)
}

/// `<logout session-id='…'/>` (IQ set).
pub fn parse_logout(element: &Element) -> Result<Option<String>, FocusParseError> {
    if !element.is("logout", ns::FOCUS) {
        return Err(FocusParseError::WrongElement("logout"));
    }
    Ok(owned(element, "session-id"))
}

/// The answer to a logout: no `logout-url` for XMPP and JWT sign-in.
pub fn logout_response() -> Element {
    elem("logout", ns::FOCUS)
}

fn form_urlencoded_component(text: &str) -> String {
    serde_urlencoded::to_string([("", text)]).map(|s| s[1..].to_owned()).unwrap_or_default()
}

#[cfg(test)]
mod login_tests {
    use super::*;

    #[test]
    fn login_url_request_and_answer() {
        let element: Element =
            "<login-url xmlns='http://jitsi.org/protocol/focus' room='r@conference.meet.test' machine-uid='m' popup='false'/>"
                .parse()
                .unwrap();
        let request = LoginUrlRequest::try_from(&element).unwrap();
        assert_eq!(request.room.as_deref(), Some("r@conference.meet.test"));
        assert!(!request.popup);
        let answer = login_url_response("./r?login=true");
        assert_eq!(answer.attr("url"), Some(".%2Fr%3Flogin%3Dtrue"));
    }

    #[test]
    fn logout_session() {
        let element: Element = "<logout xmlns='http://jitsi.org/protocol/focus' session-id='s1'/>".parse().unwrap();
        assert_eq!(parse_logout(&element), Ok(Some("s1".to_owned())));
    }
}
