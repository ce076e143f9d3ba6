//! The focus and its component link: what it does when the link comes up (held stanzas sent,
//! rooms and the brewery joined again) or goes down, and with stanzas the stream reader
//! rejected as over the limits (requests still answered, leaves still acted on).

use tracing::debug;
use xmpp_parsers::jid::BareJid;

use super::{join, Focus, FOCUS_NICK};
use crate::core::conference::Phase;
use crate::core::iq::IqEnvelope;
use crate::core::Time;
use crate::xmpp::build::{elem, ElementExt};
use crate::xmpp::muc;
use crate::xmpp::ns;
use crate::xmpp::stream::RejectedStanza;

impl Focus {
    pub(super) fn on_connected(&mut self, now: Time) {
        self.counters.connected();
        self.out.connected = true;
        for stanza in std::mem::take(&mut self.out.held) {
            self.out.send(stanza);
        }
        // Answers to IQs of the old link will not come; the rejoin below asks again.
        self.own_iqs.clear();
        self.join_brewery(now);
        // Rejoin every room we were in. Prosody may still list our old occupant (it sends no
        // leave for a vanished component); the join then simply refreshes it.
        let rooms: Vec<BareJid> = self.conferences.keys().cloned().collect();
        for room in rooms {
            self.touch(&room);
            let conference = self.conferences.get_mut(&room).expect("listed above");
            if matches!(conference.phase, Phase::Joining { .. } | Phase::Configuring { .. } | Phase::Live) {
                // Media starts afresh: participants are invited again as their presence returns.
                let media = std::mem::take(&mut conference.media);
                conference.media.colibri.meeting_id = media.colibri.meeting_id.clone();
                conference.participants.clear();
                // go_live re-arms it once we know who is still there.
                conference.initial_deadline = None;
                conference.phase = Phase::Joining { sent_at: Some(now) };
                self.out.send(join(&self.focus_jid, &room));
                self.media_reset(&room, media);
            }
        }
    }

    pub(super) fn on_disconnected(&mut self) {
        self.counters.component_disconnects += u64::from(self.out.connected);
        self.out.connected = false;
        // Bridges announce themselves again when we rejoin the brewery; answers to our media
        // IQs will not come (their timers find nothing).
        self.bridges.clear();
        self.brewery_joined = false;
        self.media_iqs.clear();
    }

    /// A stanza over the limits (or not namespace-well-formed): requests are answered, a
    /// presence that changes who is in a room is acted on from its envelope, the rest is
    /// dropped.
    pub(super) fn on_rejected(&mut self, now: Time, rejected: &RejectedStanza) {
        if rejected.name == "presence" {
            return self.on_rejected_presence(now, rejected);
        }
        if rejected.name != "iq" || !matches!(rejected.type_.as_deref(), Some("get" | "set")) {
            return;
        }
        let (Some(id), Some(from)) = (&rejected.id, &rejected.from) else { return };
        let envelope = IqEnvelope {
            id: id.clone(),
            from: from.clone(),
            to: rejected.to.clone().unwrap_or_else(|| self.settings.component.to_string()),
        };
        self.answer(&envelope, &rejected.why.entry().raw(rejected.why.to_string()));
    }

    /// What a presence over the limits still tells: someone left (a leave can carry a huge
    /// status, and a destroyed room's reason reaches every occupant), or our join failed. Read
    /// as the bare presence its envelope describes, so that no conference outlives its room.
    /// A rejected available presence changes nothing: whoever sent it is as before.
    fn on_rejected_presence(&mut self, now: Time, rejected: &RejectedStanza) {
        let (Some(from), Some(type_)) = (&rejected.from, rejected.type_.as_deref()) else { return };
        let ours = from.rsplit_once('/').is_some_and(|(_, nick)| nick == FOCUS_NICK);
        let mut presence = elem("presence", ns::STREAM).with_attr("from", from).with_attr("type", type_);
        match type_ {
            "unavailable" if ours => {
                let x = elem("x", ns::MUC_USER)
                    .with_child(elem("item", ns::MUC_USER).with_attr("affiliation", "none").with_attr("role", "none"))
                    .with_child(elem("status", ns::MUC_USER).with_attr("code", muc::STATUS_SELF.to_string()));
                presence.append_child(x);
            }
            "unavailable" => {}
            "error" if ours => {
                let condition = elem("undefined-condition", ns::STANZAS);
                presence.append_child(elem("error", ns::STREAM).with_attr("type", "cancel").with_child(condition));
            }
            _ => return,
        }
        debug!(from, type_, why = %rejected.why, "acting on a presence over the limits from its envelope");
        self.on_presence(now, &presence);
    }
}
