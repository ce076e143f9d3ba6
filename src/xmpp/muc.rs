//! Multi-user chat (XEP-0045) as the focus uses it: joining as `focus`, reading occupants'
//! presence, fetching and submitting the room configuration, kicking and destroying rooms.

use minidom::Element;
use xmpp_parsers::jid::{BareJid, FullJid, Jid};

use super::build::{elem, ElementExt};
use super::ns;

/// Status code: this presence is about the receiving occupant itself.
pub const STATUS_SELF: u16 = 110;
/// Status code: the room was created by this join.
pub const STATUS_CREATED: u16 = 201;
/// Status code: the occupant was kicked.
pub const STATUS_KICKED: u16 = 307;

/// A MUC affiliation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Affiliation {
    Owner,
    Admin,
    Member,
    Outcast,
    None,
}

impl Affiliation {
    fn parse(value: Option<&str>) -> Self {
        match value {
            Some("owner") => Affiliation::Owner,
            Some("admin") => Affiliation::Admin,
            Some("member") => Affiliation::Member,
            Some("outcast") => Affiliation::Outcast,
            _ => Affiliation::None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Affiliation::Owner => "owner",
            Affiliation::Admin => "admin",
            Affiliation::Member => "member",
            Affiliation::Outcast => "outcast",
            Affiliation::None => "none",
        }
    }
}

/// What a room's presence says about one occupant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OccupantPresence {
    pub room: BareJid,
    pub nick: String,
    pub kind: PresenceKind,
    pub affiliation: Affiliation,
    pub role: String,
    /// The occupant's real JID; visible to us because rooms are configured `whois=anyone`
    /// and the focus is an owner.
    pub real_jid: Option<Jid>,
    pub statuses: Vec<u16>,
    /// Set when the room was destroyed; carries the destroyer's reason.
    pub destroyed: Option<Option<String>>,
    /// The condition of a presence error (`not-allowed`, …).
    pub error_condition: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PresenceKind {
    Available,
    Unavailable,
    /// A presence error, e.g. the join was refused.
    Error,
}

impl OccupantPresence {
    pub fn is_self(&self) -> bool {
        self.statuses.contains(&STATUS_SELF)
    }

    /// Parses a presence from a room occupant (`from='room@muc/nick'`); `None` for anything
    /// that is not one.
    pub fn parse(stanza: &Element) -> Option<OccupantPresence> {
        if stanza.name() != "presence" {
            return None;
        }
        let from: FullJid = stanza.attr("from")?.parse().ok()?;
        let kind = match stanza.attr("type") {
            None | Some("available") => PresenceKind::Available,
            Some("unavailable") => PresenceKind::Unavailable,
            Some("error") => PresenceKind::Error,
            Some(_) => return None,
        };
        let x = stanza.get_child("x", ns::MUC_USER);
        let item = x.and_then(|x| x.get_child("item", ns::MUC_USER));
        let statuses = x
            .map(|x| {
                x.children()
                    .filter(|c| c.is("status", ns::MUC_USER))
                    .filter_map(|c| c.attr("code")?.parse().ok())
                    .collect()
            })
            .unwrap_or_default();
        let destroyed = x
            .and_then(|x| x.get_child("destroy", ns::MUC_USER))
            .map(|d| d.get_child("reason", ns::MUC_USER).map(Element::text).filter(|r| !r.is_empty()));
        Some(OccupantPresence {
            room: from.to_bare(),
            nick: from.resource().to_string(),
            kind,
            affiliation: Affiliation::parse(item.and_then(|i| i.attr("affiliation"))),
            role: item.and_then(|i| i.attr("role")).unwrap_or("none").to_owned(),
            real_jid: item.and_then(|i| i.attr("jid")).and_then(|j| j.parse().ok()),
            statuses,
            destroyed,
            error_condition: stanza
                .get_child("error", ns::STREAM)
                .and_then(|e| e.children().next().map(|c| c.name().chars().take(64).collect())),
        })
    }
}

/// The presence that joins (or rejoins) a room as `occupant`, from our full JID.
pub fn join_presence(from: &FullJid, occupant: &FullJid, extensions: Vec<Element>) -> Element {
    let mut presence = elem("presence", ns::STREAM)
        .with_attr("from", from.to_string())
        .with_attr("to", occupant.to_string())
        .with_child(elem("x", ns::MUC).with_child(
            // We need no history; this also keeps rejoins cheap.
            elem("history", ns::MUC).with_attr("maxstanzas", "0"),
        ));
    for extension in extensions {
        presence.append_child(extension);
    }
    presence
}

/// The presence that leaves a room.
pub fn leave_presence(from: &FullJid, occupant: &FullJid) -> Element {
    elem("presence", ns::STREAM)
        .with_attr("from", from.to_string())
        .with_attr("to", occupant.to_string())
        .with_attr("type", "unavailable")
}

fn iq(type_: &str, id: &str, from: &FullJid, to: &BareJid, payload: Element) -> Element {
    elem("iq", ns::STREAM)
        .with_attr("type", type_)
        .with_attr("id", id)
        .with_attr("from", from.to_string())
        .with_attr("to", to.to_string())
        .with_child(payload)
}

/// Asks for the room's configuration form (owners only).
pub fn config_request(id: &str, from: &FullJid, room: &BareJid) -> Element {
    iq("get", id, from, room, elem("query", ns::MUC_OWNER))
}

/// Submits configuration fields; Prosody keeps every field we do not name.
pub fn config_submit(id: &str, from: &FullJid, room: &BareJid, fields: &[(&str, &str)]) -> Element {
    let mut form = elem("x", ns::DATA_FORMS).with_attr("type", "submit").with_child(
        elem("field", ns::DATA_FORMS)
            .with_attr("var", "FORM_TYPE")
            .with_child(elem("value", ns::DATA_FORMS).with_text("http://jabber.org/protocol/muc#roomconfig")),
    );
    for (var, value) in fields {
        form.append_child(
            elem("field", ns::DATA_FORMS)
                .with_attr("var", *var)
                .with_child(elem("value", ns::DATA_FORMS).with_text(*value)),
        );
    }
    iq("set", id, from, room, elem("query", ns::MUC_OWNER).with_child(form))
}

/// The parts of the room configuration form the focus cares about.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RoomConfig {
    /// `muc#roominfo_meetingId`, provided by Jitsi's `mod_muc_meeting_id` when loaded.
    pub meeting_id: Option<String>,
    /// `muc#roomconfig_whois`: `anyone` makes real JIDs public, which clients need to
    /// recognise the focus.
    pub whois: Option<String>,
}

impl RoomConfig {
    /// Reads the form out of a `muc#owner` query result.
    pub fn parse(iq_result: &Element) -> RoomConfig {
        let mut config = RoomConfig::default();
        let form = iq_result.get_child("query", ns::MUC_OWNER).and_then(|q| q.get_child("x", ns::DATA_FORMS));
        for field in form.into_iter().flat_map(|f| f.children()).filter(|c| c.is("field", ns::DATA_FORMS)) {
            let value = field.get_child("value", ns::DATA_FORMS).map(Element::text).filter(|v| !v.is_empty());
            match field.attr("var") {
                Some("muc#roominfo_meetingId") => config.meeting_id = value,
                Some("muc#roomconfig_whois") => config.whois = value,
                _ => {}
            }
        }
        config
    }
}

/// Destroys the room; occupants receive `reason` in the unavailable presence.
pub fn destroy_request(id: &str, from: &FullJid, room: &BareJid, reason: &str) -> Element {
    let destroy = elem("destroy", ns::MUC_OWNER).with_child(elem("reason", ns::MUC_OWNER).with_text(reason));
    iq("set", id, from, room, elem("query", ns::MUC_OWNER).with_child(destroy))
}

/// Kicks an occupant (role `none`) with a reason they can read.
pub fn kick_request(id: &str, from: &FullJid, room: &BareJid, nick: &str, reason: &str) -> Element {
    let item = elem("item", ns::MUC_ADMIN)
        .with_attr("nick", nick)
        .with_attr("role", "none")
        .with_child(elem("reason", ns::MUC_ADMIN).with_text(reason));
    iq("set", id, from, room, elem("query", ns::MUC_ADMIN).with_child(item))
}

/// Sets the affiliation of a real (bare) JID in the room.
pub fn affiliation_request(
    id: &str,
    from: &FullJid,
    room: &BareJid,
    jid: &BareJid,
    affiliation: Affiliation,
) -> Element {
    let item =
        elem("item", ns::MUC_ADMIN).with_attr("jid", jid.to_string()).with_attr("affiliation", affiliation.as_str());
    iq("set", id, from, room, elem("query", ns::MUC_ADMIN).with_child(item))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Captured: the focus's presence as Prosody 0.12 relays it to another occupant.
    const FOCUS_AS_SEEN: &str = r#"<presence xmlns="jabber:client" to="ihwp8styhwxexm6qll4dc_f9@meet.test/t7M67t375yID" xml:lang="en" from="granted-ws@conference.meet.test/focus"><priority>0</priority><versions xmlns="http://jitsi.org/jitmeet"><component name="focus">0.1.0</component></versions><conference-properties xmlns="http://jitsi.org/protocol/focus"><property key="support-terminate-restart" value="true"/></conference-properties><occupant-id xmlns="urn:xmpp:occupant-id:0" id="fUe5AvF+WhfaP/e0Ju/uvC8bZVeboR19FSYle1bF4N8="/><x xmlns="http://jabber.org/protocol/muc#user"><item role="moderator" jid="focus.meet.test/focus" affiliation="owner"/></x></presence>"#;

    #[test]
    fn captured_occupant_presence_is_read() {
        let p = OccupantPresence::parse(&FOCUS_AS_SEEN.parse().unwrap()).unwrap();
        assert!(!p.is_self());
        assert_eq!((p.nick.as_str(), p.affiliation, p.role.as_str()), ("focus", Affiliation::Owner, "moderator"));
        assert_eq!(p.real_jid.unwrap().to_string(), "focus.meet.test/focus");
    }

    /// The self-presence shape Prosody 0.12 sends after the focus created a room (statuses 201, 110, 100).
    const SELF_PRESENCE: &str = "<presence xmlns='jabber:component:accept' from='testroom@conference.meet.test/focus' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><status code='201'/><item jid='focus.meet.test/focus' affiliation='owner' role='moderator'/><status code='110'/><status code='100'/></x></presence>";

    const DESTROYED: &str = "<presence xmlns='jabber:component:accept' type='unavailable' from='r@conference.meet.test/focus' to='focus.meet.test/focus'><x xmlns='http://jabber.org/protocol/muc#user'><item affiliation='none' role='none'/><destroy><reason>Scheduled end</reason></destroy><status code='110'/></x></presence>";

    #[test]
    fn self_presence_is_recognised() {
        let p = OccupantPresence::parse(&SELF_PRESENCE.parse().unwrap()).unwrap();
        assert!(p.is_self());
        assert_eq!(p.nick, "focus");
        assert_eq!(p.room.to_string(), "testroom@conference.meet.test");
        assert_eq!(p.affiliation, Affiliation::Owner);
        assert_eq!(p.kind, PresenceKind::Available);
        assert_eq!(p.real_jid.unwrap().to_string(), "focus.meet.test/focus");
        assert!(p.statuses.contains(&STATUS_CREATED));
        assert_eq!(p.destroyed, None);
    }

    #[test]
    fn destroy_is_read_with_reason() {
        let p = OccupantPresence::parse(&DESTROYED.parse().unwrap()).unwrap();
        assert_eq!(p.kind, PresenceKind::Unavailable);
        assert_eq!(p.destroyed, Some(Some("Scheduled end".to_owned())));
    }

    #[test]
    fn presence_from_a_bare_jid_is_not_an_occupant() {
        let stanza: Element = "<presence xmlns='jabber:client' from='a@b'/>".parse().unwrap();
        assert!(OccupantPresence::parse(&stanza).is_none());
    }

    #[test]
    fn config_form_fields_are_read() {
        let result: Element = "<iq xmlns='jabber:component:accept' type='result' id='1'><query xmlns='http://jabber.org/protocol/muc#owner'><x xmlns='jabber:x:data' type='form'><field var='FORM_TYPE' type='hidden'><value>http://jabber.org/protocol/muc#roomconfig</value></field><field var='muc#roomconfig_whois' type='list-single'><value>moderators</value></field><field var='muc#roominfo_meetingId' type='text-single'><value>abc-123</value></field></x></query></iq>".parse().unwrap();
        let config = RoomConfig::parse(&result);
        assert_eq!(config.whois.as_deref(), Some("moderators"));
        assert_eq!(config.meeting_id.as_deref(), Some("abc-123"));
    }

    #[test]
    fn submit_round_trips_through_the_parser() {
        let from: FullJid = "focus.meet.test/focus".parse().unwrap();
        let room: BareJid = "r@conference.meet.test".parse().unwrap();
        let submit = config_submit("7", &from, &room, &[("muc#roomconfig_whois", "anyone")]);
        let xml = String::from(&submit);
        assert!(xml.contains("type='submit'"), "{xml}");
        // A result-like wrapper of the same form reads back the same value.
        let query = submit.get_child("query", ns::MUC_OWNER).unwrap().clone();
        let wrapper = elem("iq", ns::STREAM).with_child(query);
        assert_eq!(RoomConfig::parse(&wrapper).whois.as_deref(), Some("anyone"));
    }
}
