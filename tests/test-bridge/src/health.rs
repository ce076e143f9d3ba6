//! Health checks: `<healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/>`, answered as
//! JVB answers them (`Videobridge.healthCheckIqReceived`), or as the switch says.

use minidom::Element;

use crate::switches::HealthMode;
use crate::xml::{iq_error, iq_result, StanzaError};

/// The answer to a health check IQ, or `None` to leave it unanswered.
pub fn answer(request: &Element, mode: HealthMode) -> Option<Element> {
    match mode {
        HealthMode::Healthy => Some(iq_result(request, None)),
        HealthMode::Fail => Some(iq_error(
            request,
            &StanzaError::new("internal-server-error", "Health check failed (test bridge failure switch)"),
        )),
        HealthMode::Timeout => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::xml::{NS_CLIENT, NS_STANZAS};

    #[test]
    fn answers_follow_the_switch() {
        let request: Element = "<iq xmlns='jabber:client' type='get' id='h1' from='b@i/focus'>\
             <healthcheck xmlns='http://jitsi.org/protocol/healthcheck'/></iq>"
            .parse()
            .unwrap();
        let ok = answer(&request, HealthMode::Healthy).unwrap();
        assert_eq!(ok.attr("type"), Some("result"));
        assert_eq!(ok.children().count(), 0);
        let failed = answer(&request, HealthMode::Fail).unwrap();
        assert_eq!(failed.attr("type"), Some("error"));
        assert!(failed.get_child("error", NS_CLIENT).unwrap().has_child("internal-server-error", NS_STANZAS));
        assert!(answer(&request, HealthMode::Timeout).is_none());
    }
}
