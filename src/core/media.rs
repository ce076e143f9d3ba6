//! A conference's media state: its Colibri2 sessions, every participant's features and
//! Jingle session, the conference's sources and what each receiver still has to be told.
//! The focus's media logic ([`super::focus`]'s `media` and `jingle` modules) works on it.

use std::collections::{BTreeMap, BTreeSet};

use xmpp_parsers::jid::FullJid;

use super::colibri::ColibriSessions;
use super::jingle_session::ParticipantMedia;
use super::sources::signaling::ReceiverSources;
use super::sources::ConferenceSources;

#[derive(Debug, Default)]
pub struct ConferenceMedia {
    pub colibri: ColibriSessions,
    /// By MUC nickname (= endpoint id).
    pub participants: BTreeMap<String, ParticipantMedia>,
    pub sources: ConferenceSources,
    /// What each receiver (by nickname) has been told, and what it still must be told.
    pub receivers: BTreeMap<String, ReceiverSources>,
    /// No bridge could be selected: our presence says `<bridgeNotAvailable/>`, and everybody is
    /// invited as soon as one appears.
    pub bridge_not_available: bool,
    /// Moderator-controlled start-muted settings from the room (§7.4).
    pub start_audio_muted: Option<usize>,
    pub start_video_muted: Option<usize>,
    /// Ids of the focus's media IQs for this conference still awaited, so that those of a
    /// participant that left (or of the whole conference when it ends) are forgotten then
    /// rather than held until their timeout.
    pub iqs: BTreeSet<String>,
}

impl ConferenceMedia {
    /// Participants with a session on `bridge`.
    pub fn on_bridge<'a>(&'a self, bridge: &'a FullJid) -> impl Iterator<Item = &'a str> + 'a {
        self.participants
            .iter()
            .filter(move |(_, p)| p.session.as_ref().is_some_and(|s| &s.bridge == bridge))
            .map(|(nick, _)| nick.as_str())
    }

    /// Jingle sessions in progress or established.
    pub fn session_count(&self) -> usize {
        self.participants.values().filter(|p| p.session.is_some()).count()
    }
}
