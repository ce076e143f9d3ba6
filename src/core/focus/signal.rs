//! Source signalling to participants (protocol.md §7.8): what goes into session-initiate, and
//! the source-add / source-remove that follow, each in the form the receiver understands.

use minidom::Element;
use xmpp_parsers::jid::{BareJid, FullJid};

use super::{Focus, TimerKey};
use crate::core::features::Features;
use crate::core::sources::signaling::{ReceiverSources, SourceAction, SourceFilter, BRIDGE_OWNER};
use crate::core::sources::{EndpointSources, MediaType, Source};
use crate::core::Time;
use crate::xmpp::colibri2::MediaSource;
use crate::xmpp::jingle::{self, Action};
use crate::xmpp::jingle_sources::{encode, OwnerForm, SourceForm, SourcesPayload};

/// How a participant with `features` in `room` gets sources (see [`SourceForm`]).
pub(super) fn receiver_form(features: &Features, room: &BareJid) -> SourceForm {
    SourceForm {
        owner: if features.source_names { OwnerForm::EndpointId } else { OwnerForm::OccupantJid(room.clone()) },
        json: features.json_sources,
        filter: SourceFilter {
            audio: features.audio,
            video: features.video,
            strip_simulcast: true,
            // The 2020 client (neither source names nor JSON) breaks on a second msid in one
            // m-line, which the bridge's feedback sources would be (media-facts §1).
            bridge_sources: features.source_names || features.json_sources,
            ssrc_rewriting: features.ssrc_rewriting,
        },
    }
}

/// How long source changes are gathered before receivers are told, by conference size
/// (Jicofo's recommended `source-signaling-delays`: 50 participants → 500 ms, 100 → 1 s).
fn signaling_delay(participants: usize) -> Option<chrono::Duration> {
    match participants {
        0..50 => None,
        50..100 => Some(chrono::Duration::milliseconds(500)),
        _ => Some(chrono::Duration::seconds(1)),
    }
}

/// The bridge's feedback sources as a source set owned by `jvb`.
fn feedback_sources(feedback: &[MediaSource]) -> EndpointSources {
    let mut set = EndpointSources::default();
    for media_source in feedback {
        let Some(media) = MediaType::parse(&media_source.media_type) else { continue };
        for source in &media_source.sources {
            let mut s =
                Source::new(source.ssrc, media).with_msid(format!("mixedmslabel mixedlabel{}0", media.as_str()));
            if let Some(name) = &source.name {
                s = s.with_name(name.clone());
            }
            set.sources.push(s);
        }
    }
    set
}

impl Focus {
    fn form_of(&self, room: &BareJid, nick: &str) -> Option<SourceForm> {
        let features = self.conferences.get(room)?.media.participants.get(nick)?.features.unwrap_or_default();
        Some(receiver_form(&features, room))
    }

    /// The sources for `nick`'s session-initiate: everyone else's, plus its bridge's feedback
    /// sources; from here on its receiver state tracks what it knows.
    pub(super) fn initial_sources(
        &mut self,
        room: &BareJid,
        nick: &str,
    ) -> (Vec<Element>, Vec<Element>, Option<Element>) {
        let Some(form) = self.form_of(room, nick) else { return Default::default() };
        let Some(conference) = self.conferences.get_mut(room) else { return Default::default() };
        let media = &mut conference.media;
        let bridge = media.participants.get(nick).and_then(|p| p.session.as_ref()).map(|s| s.bridge.clone());
        let feedback = bridge
            .and_then(|b| media.colibri.by_bridge.get(&b))
            .map(|s| feedback_sources(&s.feedback))
            .unwrap_or_default();
        let mut all: Vec<(&str, &EndpointSources)> = media.sources.iter().filter(|(owner, _)| *owner != nick).collect();
        all.push((BRIDGE_OWNER, &feedback));
        let mut receiver = ReceiverSources::new(form.filter);
        let known = receiver.reset(all);
        media.receivers.insert(nick.to_owned(), receiver);
        match encode(&form, known.iter().map(|(o, s)| (o.as_str(), s))) {
            SourcesPayload::Jingle(description) => (description.audio, description.video, None),
            SourcesPayload::Json(message) => (Vec::new(), Vec::new(), Some(message)),
        }
    }

    /// `owner` added sources: every other receiver is told (now if its session is accepted,
    /// else once it is).
    pub(super) fn propagate_add(&mut self, now: Time, room: &BareJid, owner: &str, added: &EndpointSources) {
        self.propagate(now, room, owner, |receiver| receiver.add(owner, added));
    }

    pub(super) fn propagate_remove(&mut self, now: Time, room: &BareJid, owner: &str, removed: &EndpointSources) {
        self.propagate(now, room, owner, |receiver| receiver.remove(owner, removed));
    }

    fn propagate(&mut self, now: Time, room: &BareJid, owner: &str, mut change: impl FnMut(&mut ReceiverSources)) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        for (_, receiver) in conference.media.receivers.iter_mut().filter(|(nick, _)| nick.as_str() != owner) {
            change(receiver);
        }
        match signaling_delay(conference.media.participants.len()) {
            None => self.flush_all(now, room),
            // In a large conference changes are gathered for a moment, so that churn nets out
            // and each receiver gets one source-add/remove for many changes (Jicofo's
            // `source-signaling-delays`).
            Some(delay) => {
                let key = TimerKey::FlushSources(room.clone());
                if !self.timers.contains(&key) {
                    self.timers.set(key, Some(now + delay));
                }
            }
        }
    }

    /// Every receiver whose session is accepted is told what changed.
    pub(super) fn flush_all(&mut self, now: Time, room: &BareJid) {
        let Some(conference) = self.conferences.get(room) else { return };
        let ready: Vec<String> = conference
            .media
            .receivers
            .iter()
            .filter(|(nick, receiver)| {
                receiver.has_pending()
                    && conference
                        .media
                        .participants
                        .get(*nick)
                        .and_then(|p| p.session.as_ref())
                        .is_some_and(|s| s.is_active())
            })
            .map(|(nick, _)| nick.clone())
            .collect();
        for nick in ready {
            self.flush_sources(now, room, &nick);
        }
    }

    /// Sends `nick` what changed since it was last told (source-remove first, then source-add).
    pub(super) fn flush_sources(&mut self, _now: Time, room: &BareJid, nick: &str) {
        if !self.out.connected {
            // It would reach the participant after the reconnection, which ends every session
            // (and the participant may have left meanwhile): nothing to tell.
            return;
        }
        let Some(form) = self.form_of(room, nick) else { return };
        let Some(conference) = self.conferences.get_mut(room) else { return };
        let Some(sid) = conference.media.participants.get(nick).and_then(|p| p.session.as_ref()).map(|s| s.sid.clone())
        else {
            return;
        };
        let Some(receiver) = conference.media.receivers.get_mut(nick) else { return };
        let updates = receiver.flush();
        let Ok(to) = format!("{room}/{nick}").parse::<FullJid>() else { return };
        for update in updates {
            let action = match update.action {
                SourceAction::Add => Action::SourceAdd,
                SourceAction::Remove => Action::SourceRemove,
            };
            let mut element = jingle::jingle(action, &sid, Some(&self.focus_jid.to_string()));
            match encode(&form, update.sources.iter().map(|(o, s)| (o.as_str(), s))) {
                SourcesPayload::Jingle(description) if !description.is_empty() => {
                    for content in description.into_contents() {
                        element.append_child(content);
                    }
                }
                SourcesPayload::Json(message) => {
                    element.append_child(message);
                }
                SourcesPayload::Jingle(_) => continue,
            }
            self.send_notify_iq(&to, "set", element);
        }
    }
}
