//! Building IQ replies from the request's envelope.

use minidom::Element;
use xmpp_parsers::stanza_error::StanzaError;

use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::ns;

/// The envelope of an IQ request: enough to address its reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IqEnvelope {
    pub id: String,
    /// The requester, to whom the reply goes.
    pub from: String,
    /// The address the request was sent to, which the reply comes from.
    pub to: String,
}

impl IqEnvelope {
    pub fn of(stanza: &Element, our_jid: &str) -> Option<IqEnvelope> {
        Some(IqEnvelope {
            id: stanza.attr("id")?.to_owned(),
            from: stanza.attr("from")?.to_owned(),
            to: stanza.attr("to").unwrap_or(our_jid).to_owned(),
        })
    }

    fn reply(&self, type_: &str) -> Element {
        elem("iq", ns::STREAM)
            .with_attr("type", type_)
            .with_attr("id", &self.id)
            .with_attr("from", &self.to)
            .with_attr("to", &self.from)
    }

    pub fn result(&self, payload: Option<Element>) -> Element {
        let mut iq = self.reply("result");
        if let Some(payload) = payload {
            iq.append_child(payload);
        }
        iq
    }

    pub fn error(&self, error: StanzaError) -> Element {
        self.reply("error").with_child(Element::from(error))
    }
}

/// Who asked for a conference: a client over XMPP (answered with an IQ) or over HTTP
/// (answered with [`Effect::AnswerHttp`](super::Effect::AnswerHttp)).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requester {
    Xmpp(IqEnvelope),
    Http(u64),
}
