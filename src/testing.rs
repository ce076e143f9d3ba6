//! Simulated peers for driving the sans-IO core without a network: what a bridge and a client
//! answer to the focus's IQs. For the core's unit tests and the benches (feature
//! `test-support`); not part of the product.

use minidom::Element;

use crate::xmpp::ns;

/// What the bridge or a participant answers to a stanza from the focus, if anything, as the
/// component stream would deliver it to `focus` (the focus's occupant JID):
/// - a Colibri2 `conference-modify` gets a transport (ICE, DTLS, SCTP) for every endpoint it
///   creates;
/// - a disco#info query gets a web client's identity and `features`;
/// - any other request gets an empty result. Results and errors get nothing.
pub fn answer(stanza: &Element, focus: &str, features: &[&str]) -> Option<String> {
    if stanza.name() != "iq" || !matches!(stanza.attr("type"), Some("get" | "set")) {
        return None;
    }
    let (id, to) = (stanza.attr("id")?, stanza.attr("to")?);
    let head = format!("<iq xmlns='jabber:component:accept' type='result' id='{id}' from='{to}' to='{focus}'>");
    let colibri2 = ns::COLIBRI2;
    if let Some(modify) = stanza.get_child("conference-modify", colibri2) {
        let created: String = modify
            .children()
            .filter(|e| e.name() == "endpoint" && e.attr("create") == Some("true"))
            .map(|e| format!("<endpoint id='{}'><transport><transport xmlns='urn:xmpp:jingle:transports:ice-udp:1' ufrag='u' pwd='pppppppppppppppppppppp'><candidate component='1' foundation='1' generation='0' id='c1' ip='127.0.0.1' port='10000' priority='2130706431' protocol='udp' type='host' network='0'/><rtcp-mux/><fingerprint xmlns='urn:xmpp:jingle:apps:dtls:0' hash='sha-256' setup='actpass'>A1:B2</fingerprint></transport><sctp port='5000'/></transport></endpoint>", e.attr("id").expect("an endpoint the focus creates has an id")))
            .collect();
        return Some(format!("{head}<conference-modified xmlns='{colibri2}'>{created}</conference-modified></iq>"));
    }
    if stanza.get_child("query", "http://jabber.org/protocol/disco#info").is_some() {
        let features: String = features.iter().map(|f| format!("<feature var='{f}'/>")).collect();
        return Some(format!("{head}<query xmlns='http://jabber.org/protocol/disco#info'><identity category='client' type='web'/>{features}</query></iq>"));
    }
    Some(format!("{head}</iq>"))
}
