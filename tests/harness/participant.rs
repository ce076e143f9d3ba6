//! A conference participant that speaks the focus's Jingle like lib-jitsi-meet does, over a
//! real c2s connection: it requests the conference, joins the room, answers disco#info with a
//! chosen feature set and answers Jingle from the focus. For signalling tests; the browser
//! tests use the real client.

use std::time::Duration;

use anyhow::{bail, Context, Result};
use minidom::Element;

use crate::support::{set_attr, xml, TestClient, DEFAULT_TIMEOUT, MUC_DOMAIN, NS_CLIENT, NS_DISCO_INFO};

pub const NS_JINGLE: &str = "urn:xmpp:jingle:1";
pub const NS_RTP: &str = "urn:xmpp:jingle:apps:rtp:1";
pub const NS_SSMA: &str = "urn:xmpp:jingle:apps:rtp:ssma:0";
pub const NS_ICE: &str = "urn:xmpp:jingle:transports:ice-udp:1";
pub const NS_DTLS: &str = "urn:xmpp:jingle:apps:dtls:0";
pub const NS_FOCUS: &str = "http://jitsi.org/protocol/focus";
pub const NS_JITMEET: &str = "http://jitsi.org/jitmeet";

/// What lib-jitsi-meet 2.1.5 (the 2020 client) advertises.
pub const FEATURES_2020: &[&str] = &[
    "urn:xmpp:jingle:1",
    "urn:xmpp:jingle:apps:rtp:1",
    "urn:xmpp:jingle:transports:ice-udp:1",
    "urn:xmpp:jingle:apps:dtls:0",
    "urn:xmpp:jingle:transports:dtls-sctp:1",
    "urn:xmpp:jingle:apps:rtp:audio",
    "urn:xmpp:jingle:apps:rtp:video",
    "urn:ietf:rfc:4588",
    "http://jitsi.org/opus-red",
];

/// What a current client advertises (source names, JSON sources, TCC).
pub const FEATURES_CURRENT: &[&str] = &[
    "urn:xmpp:jingle:1",
    "urn:xmpp:jingle:apps:rtp:1",
    "urn:xmpp:jingle:transports:ice-udp:1",
    "urn:xmpp:jingle:apps:dtls:0",
    "urn:xmpp:jingle:transports:dtls-sctp:1",
    "urn:xmpp:jingle:apps:rtp:audio",
    "urn:xmpp:jingle:apps:rtp:video",
    "urn:ietf:rfc:4588",
    "http://jitsi.org/tcc",
    "http://jitsi.org/source-name",
    "http://jitsi.org/json-encoded-sources",
];

pub struct Participant {
    pub client: TestClient,
    /// `room@conference.meet.test`
    pub room: String,
    pub nick: String,
}

impl Participant {
    /// Requests the conference (until ready) and joins the room as `nick`.
    pub async fn join(c2s_port: u16, room: &str, nick: &str) -> Result<Participant> {
        let client = TestClient::anonymous(c2s_port).await?;
        let reply = crate::harness::request_conference(&client, room, None).await?;
        crate::harness::ready_conference(&reply)?;
        let room = format!("{room}@{MUC_DOMAIN}");
        client.join_muc(&room, nick).await?;
        Ok(Participant { client, room, nick: nick.to_owned() })
    }

    pub fn focus_occupant(&self) -> String {
        format!("{}/focus", self.room)
    }

    /// Waits for the focus's disco#info query and answers it with `features`.
    pub async fn answer_disco(&self, features: &[&str]) -> Result<()> {
        let query = self
            .client
            .next_matching(
                |s| s.name() == "iq" && s.attr("type") == Some("get") && s.get_child("query", NS_DISCO_INFO).is_some(),
                DEFAULT_TIMEOUT,
            )
            .await
            .context("no disco#info query from the focus")?;
        let mut answer = Element::bare("query", NS_DISCO_INFO);
        answer.append_child(
            Element::builder("identity", NS_DISCO_INFO)
                .attr("category".try_into().unwrap(), "client")
                .attr("type".try_into().unwrap(), "web")
                .build(),
        );
        for feature in features {
            answer.append_child(
                Element::builder("feature", NS_DISCO_INFO).attr("var".try_into().unwrap(), *feature).build(),
            );
        }
        self.client.send(result_to(&query, Some(answer))).await
    }

    /// The next Jingle IQ from the focus with `action`, answered with a result.
    pub async fn expect_jingle(&self, action: &str, timeout: Duration) -> Result<Element> {
        let iq = self.next_jingle(action, timeout).await?;
        self.client.send(result_to(&iq, None)).await?;
        Ok(iq.get_child("jingle", NS_JINGLE).expect("matched on it").clone())
    }

    /// The next Jingle IQ with `action`, not answered.
    pub async fn next_jingle(&self, action: &str, timeout: Duration) -> Result<Element> {
        let focus = self.focus_occupant();
        self.client
            .next_matching(
                |s| {
                    s.name() == "iq"
                        && s.attr("type") == Some("set")
                        && s.attr("from") == Some(focus.as_str())
                        && s.get_child("jingle", NS_JINGLE).is_some_and(|j| j.attr("action") == Some(action))
                },
                timeout,
            )
            .await
            .with_context(|| format!("{} got no {action}", self.nick))
    }

    /// Sends a Jingle IQ to the focus and returns its answer.
    pub async fn send_jingle(&self, jingle: Element) -> Result<Element> {
        let mut iq = Element::builder("iq", NS_CLIENT).append(jingle).build();
        set_attr(&mut iq, "type", "set");
        set_attr(&mut iq, "to", &self.focus_occupant());
        self.client.iq(iq).await
    }

    /// session-accept for `initiate` with an audio source and a video FID pair, msid-less like
    /// the 2020 client in Chromium, and a browser-like transport.
    pub async fn accept(&self, initiate: &Element, audio: u32, video: (u32, u32)) -> Result<Element> {
        let sid = initiate.attr("sid").context("no sid")?;
        let jingle = session_accept(sid, audio, video);
        let reply = self.send_jingle(jingle).await?;
        if reply.attr("type") != Some("result") {
            bail!("session-accept refused: {}", xml(&reply));
        }
        Ok(reply)
    }
}

/// A result to `iq`, from its recipient.
pub fn result_to(iq: &Element, payload: Option<Element>) -> Element {
    let mut result = Element::bare("iq", NS_CLIENT);
    set_attr(&mut result, "type", "result");
    set_attr(&mut result, "id", iq.attr("id").unwrap_or_default());
    set_attr(&mut result, "to", iq.attr("from").unwrap_or_default());
    if let Some(payload) = payload {
        result.append_child(payload);
    }
    result
}

/// A session-accept like lib-jitsi-meet 2.1.5's in Chromium 156.
pub fn session_accept(sid: &str, audio: u32, video: (u32, u32)) -> Element {
    let transport = format!(
        "<transport xmlns='{NS_ICE}' ufrag='Kq4b' pwd='4sWb7XJ3cM0Jm7cq3dI7hQ2L'><fingerprint xmlns='{NS_DTLS}' hash='sha-256' setup='active'>0F:7C:3E:21:AA:90:5B:11:CE:42:08:D3:9A:7F:61:E5:23:B8:04:C9:6D:1A:F0:37:82:5E:99:B4:12:6C:DE:03</fingerprint><candidate component='1' foundation='1' generation='0' id='1' ip='127.0.0.1' network='1' port='54107' priority='2122260223' protocol='udp' type='host'/></transport>"
    );
    let (v1, v2) = video;
    format!(
        "<jingle xmlns='{NS_JINGLE}' action='session-accept' sid='{sid}'>\
<content creator='initiator' name='audio' senders='both'><description xmlns='{NS_RTP}' media='audio'><source xmlns='{NS_SSMA}' ssrc='{audio}'><parameter name='cname' value='c1'/></source></description>{transport}</content>\
<content creator='initiator' name='video' senders='both'><description xmlns='{NS_RTP}' media='video'><source xmlns='{NS_SSMA}' ssrc='{v1}'><parameter name='cname' value='c1'/></source><source xmlns='{NS_SSMA}' ssrc='{v2}'><parameter name='cname' value='c1'/></source><ssrc-group xmlns='{NS_SSMA}' semantics='FID'><source ssrc='{v1}'/><source ssrc='{v2}'/></ssrc-group></description>{transport}</content>\
</jingle>"
    )
    .parse()
    .expect("valid XML")
}

/// The SSRCs of every `<source>` in a Jingle element's descriptions.
pub fn ssrcs(jingle: &Element) -> Vec<u32> {
    let mut ssrcs = Vec::new();
    for content in jingle.children().filter(|c| c.is("content", NS_JINGLE)) {
        for description in content.children().filter(|c| c.is("description", NS_RTP)) {
            for source in description.children().filter(|c| c.is("source", NS_SSMA)) {
                if let Some(ssrc) = source.attr("ssrc").and_then(|s| s.parse().ok()) {
                    ssrcs.push(ssrc);
                }
            }
        }
    }
    ssrcs
}

/// The `<bridge-session id>` of a session-initiate.
pub fn bridge_session(jingle: &Element) -> Option<String> {
    jingle.get_child("bridge-session", NS_FOCUS).and_then(|b| b.attr("id")).map(str::to_owned)
}

/// The port of the first candidate of the first transport (the bridge's UDP port).
pub fn candidate_port(jingle: &Element) -> Option<u16> {
    let content = jingle.get_child("content", NS_JINGLE)?;
    let transport = content.get_child("transport", NS_ICE)?;
    transport.get_child("candidate", NS_ICE)?.attr("port")?.parse().ok()
}
