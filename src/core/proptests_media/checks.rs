//! The invariants, checked on what the focus does. Every stanza it sends is judged as its
//! addressee would judge it: answers to the requests fed (invariant 1), Colibri2 as JVB would
//! (4), the Jingle session rules (5) and each participant's view of the others' sources (6);
//! the model in `sim.rs` follows what was sent. Also the footprint bounds after every input (3)
//! and, after a quiet spell, the settled views (7).

use std::collections::BTreeMap;

use chrono::Duration;
use minidom::Element;
use proptest::prelude::*;

use super::sim::{BridgeConference, Peer, Sim};
use super::{bridge_jid, room_jid, Check, BREWERY, COMPONENT, MEDIA_IQS_PER_PARTICIPANT, REPLY_TIMEOUT};
use crate::core::sources::{SourceFilter, BRIDGE_OWNER};
use crate::xmpp::ns;

impl Sim {
    pub(super) fn check_footprint(&mut self) -> Check {
        let fp = self.focus.footprint();
        prop_assert!(fp.jingle_sessions <= fp.participants, "{fp:?}");
        prop_assert!(fp.bridges <= self.u.max_bridges, "{fp:?}");
        while self.media_sent.front().is_some_and(|t| *t + Duration::seconds(REPLY_TIMEOUT) < self.now) {
            self.media_sent.pop_front();
        }
        let window = Duration::seconds(REPLY_TIMEOUT);
        self.health_sent.retain(|(t, _)| *t + window >= self.now);
        self.stale_checks.retain(|t| *t + window >= self.now);
        // A health check of a bridge that left is awaited until its timeout.
        let bridges = fp.bridges + self.stale_checks.len();
        prop_assert!(
            fp.media_iqs <= bridges + MEDIA_IQS_PER_PARTICIPANT * fp.participants,
            "media IQs beyond what the participants and bridges justify: {fp:?}"
        );
        let timers = self.media_sent.len() + 4 * self.u.rooms + self.u.rooms * self.u.nicks + 2;
        prop_assert!(fp.timers <= timers, "{} timers, at most {timers} expected: {fp:?}", fp.timers);
        if self.connected {
            prop_assert_eq!(fp.held_stanzas, 0, "{:?}", fp);
        }
        Ok(())
    }

    /// With nothing held back any more (a held source-remove waits 1 s), every participant
    /// whose session is accepted knows exactly the sources the others have in the focus's
    /// conference, as its filter shows them (bridge sources aside: they come with
    /// session-initiate only).
    pub(super) fn check_views_settled(&self) -> Check {
        if !self.connected {
            return Ok(()); // what the focus says waits for the link
        }
        for room in (0..self.u.rooms).filter(|r| self.rooms[*r].focus_in) {
            let jid = room_jid(room);
            let conference = self.focus.conferences_for_tests(&jid);
            for ((r, nick), peer) in &self.peers {
                let (true, Some(sid)) = (*r == jid && peer.accepted, peer.sid.as_ref()) else { continue };
                let Some(media) = conference.media.participants.get(nick) else { continue };
                if media.session.as_ref().map(|s| &s.sid) != Some(sid) {
                    continue; // ended without a terminate (the client ended it)
                }
                let features = media.features.unwrap_or_default();
                let filter = SourceFilter {
                    audio: features.audio,
                    video: features.video,
                    strip_simulcast: true,
                    bridge_sources: features.source_names || features.json_sources,
                    ssrc_rewriting: features.ssrc_rewriting,
                };
                let expected: BTreeMap<u32, String> = conference
                    .media
                    .sources
                    .iter()
                    .filter(|(owner, _)| owner != nick)
                    .flat_map(|(owner, set)| {
                        filter.apply(owner, set).sources.into_iter().map(move |s| (s.ssrc, owner.to_owned()))
                    })
                    .collect();
                let told: BTreeMap<u32, String> = peer
                    .view
                    .iter()
                    .filter(|(_, owner)| *owner != BRIDGE_OWNER)
                    .map(|(s, o)| (*s, o.clone()))
                    .collect();
                prop_assert_eq!(&told, &expected, "{} in {} knows other sources than the conference has", nick, jid);
            }
        }
        Ok(())
    }

    // ---- what the focus sends ----------------------------------------------------------------

    pub(super) fn on_sent(&mut self, stanza: Element) -> Check {
        prop_assert!(self.connected, "sent while disconnected: {}", String::from(&stanza));
        // What the runtime does with every stanza.
        let text = String::from(&stanza);
        if self.debug {
            eprintln!(">> {text}");
        }
        let kind = match stanza.children().next() {
            Some(c) if c.name() == "jingle" => format!("sent jingle {}", c.attr("action").unwrap_or_default()),
            Some(c) if c.name() == "conference-modify" => format!(
                "sent colibri{}{}{}",
                if c.attr("create").is_some() { " create" } else { "" },
                if c.attr("expire").is_some() { " expire" } else { "" },
                if c.children().any(|e| e.attr("create").is_some()) { " endpoint-create" } else { "" }
            ),
            Some(c) => format!("sent {} {}", stanza.attr("type").unwrap_or_default(), c.name()),
            None => format!("sent {} {}", stanza.name(), stanza.attr("type").unwrap_or_default()),
        };
        *self.stats.entry(kind).or_default() += 1;
        let type_ = stanza.attr("type").unwrap_or_default().to_owned();
        let to = stanza.attr("to").unwrap_or_default().to_owned();
        match (stanza.name(), type_.as_str()) {
            ("iq", "result" | "error") => self.on_answer(&stanza, &to, &text),
            ("iq", "get" | "set") => {
                let id = stanza.attr("id").unwrap_or_default().to_owned();
                prop_assert!(
                    ["jf-", "jm-", "jn-"].iter().any(|p| id.starts_with(p)),
                    "an IQ with an id of no kind: {text}"
                );
                if id.starts_with("jm-") {
                    self.media_sent.push_back(self.now);
                }
                if stanza.get_child("healthcheck", ns::HEALTHCHECK).is_some() {
                    self.health_sent.push_back((self.now, to.clone()));
                }
                if let Some(modify) = stanza.get_child("conference-modify", ns::COLIBRI2) {
                    self.on_colibri(&id, &to, modify, &text)?;
                }
                if let Some(jingle) = stanza.get_child("jingle", ns::JINGLE) {
                    self.on_jingle_sent(&to, jingle, &text)?;
                }
                self.pending.push(stanza);
                Ok(())
            }
            ("presence", _) => {
                let join = stanza.get_child("x", ns::MUC).is_some();
                let leave = type_ == "unavailable";
                if to == format!("{BREWERY}/{COMPONENT}") {
                    prop_assert!(join, "{text}");
                    self.brewery_join_pending = true;
                    return Ok(());
                }
                let room = to.strip_suffix("/focus");
                prop_assert!(room.is_some(), "a presence to {to}: {text}");
                let index = self.room_index(room.unwrap());
                prop_assert!(index.is_some(), "a presence to an unknown room: {text}");
                let world = &mut self.rooms[index.unwrap()];
                if leave {
                    world.focus_in = false;
                    world.join_pending = false;
                } else if join {
                    world.join_pending = true;
                }
                Ok(())
            }
            _ => {
                prop_assert!(false, "unexpected stanza {text}");
                Ok(())
            }
        }
    }

    /// A result or error from the focus: it must answer a request of ours, once.
    pub(super) fn on_answer(&mut self, stanza: &Element, to: &str, text: &str) -> Check {
        let id = stanza.attr("id").unwrap_or_default().to_owned();
        let count = self.requests.get_mut(&(to.to_owned(), id.clone()));
        prop_assert!(count.is_some(), "an answer to no request: {text}");
        let count = count.unwrap();
        *count += 1;
        prop_assert!(*count == 1, "a second answer to {id} from {to}: {text}");
        let Some(request) = self.jingle_requests.remove(&id) else { return Ok(()) };
        let result = stanza.attr("type") == Some("result");
        let condition = stanza
            .get_child("error", ns::STREAM)
            .and_then(|e| e.children().find(|c| c.ns() == ns::STANZAS))
            .map(|c| c.name().to_owned());
        let outcome = format!("answer {} {}", request.action, condition.as_deref().unwrap_or("result"));
        *self.stats.entry(outcome).or_default() += 1;
        let key = (request.room.clone(), request.nick.clone());
        let peer = self.peers.entry(key).or_default();
        if peer.sid.as_deref() != Some(request.sid.as_str()) {
            return Ok(());
        }
        match (request.action, result) {
            ("session-accept", true) => {
                peer.accepted = true;
                peer.own = request.ssrcs.iter().map(|(ssrc, video, _)| (*ssrc, *video)).collect();
                peer.without_msid = request.ssrcs.iter().filter(|(_, _, msid)| !msid).map(|(ssrc, ..)| *ssrc).collect();
            }
            ("source-add", true) => {
                peer.own.extend(request.ssrcs.iter().map(|(ssrc, video, _)| (*ssrc, *video)));
                peer.without_msid.extend(request.ssrcs.iter().filter(|(_, _, msid)| !msid).map(|(ssrc, ..)| *ssrc));
            }
            ("source-remove", true) => {
                peer.last_removed = request
                    .ssrcs
                    .iter()
                    .filter(|(s, ..)| peer.own.contains_key(s))
                    .map(|(ssrc, video, _)| (*ssrc, *video))
                    .collect();
                for (ssrc, ..) in &request.ssrcs {
                    peer.own.remove(ssrc);
                    peer.without_msid.remove(ssrc);
                }
            }
            ("session-terminate", _) if result || condition.as_deref() == Some("resource-constraint") => {
                // The focus ended the session (a refused restart ends it too).
                *peer = Peer { last_removed: std::mem::take(&mut peer.last_removed), ..Peer::default() };
            }
            _ => {}
        }
        Ok(())
    }

    /// A Colibri2 request: checked as the bridge would, and the bridge's state follows it.
    pub(super) fn on_colibri(&mut self, id: &str, to: &str, modify: &Element, text: &str) -> Check {
        prop_assert!((0..self.u.bridges).any(|b| bridge_jid(b) == to), "Colibri2 to a non-bridge: {text}");
        let meeting = modify.attr("meeting-id").unwrap_or_default().to_owned();
        prop_assert!(!meeting.is_empty(), "no meeting-id: {text}");
        let endpoints: Vec<&Element> = modify.children().filter(|c| c.is("endpoint", ns::COLIBRI2)).collect();
        prop_assert!(endpoints.len() <= 1, "more than one endpoint in one request: {text}");
        let key = (to.to_owned(), meeting.clone());
        let create = modify.attr("create") == Some("true");
        let expire = modify.attr("expire") == Some("true");
        if create {
            prop_assert!(
                !self.bridge_conferences.contains_key(&key),
                "create='true' for meeting {meeting} that {to} still has (conference_already_exists): {text}"
            );
            let name = modify.attr("name");
            prop_assert!(name.is_some_and(|n| self.room_index(n).is_some()), "a create without the room: {text}");
            self.meeting_rooms.insert(meeting.clone(), name.unwrap().to_owned());
            self.bridge_conferences.insert(key.clone(), BridgeConference::default());
        } else if expire {
            prop_assert!(endpoints.is_empty(), "a conference expire with endpoints: {text}");
            self.bridge_conferences.remove(&key);
            return Ok(());
        }
        let conference = self.bridge_conferences.get_mut(&key);
        prop_assert!(conference.is_some(), "a request for meeting {meeting}, which {to} does not have: {text}");
        let conference = conference.unwrap();
        for endpoint in endpoints {
            let name = endpoint.attr("id").unwrap_or_default().to_owned();
            if endpoint.attr("create") == Some("true") {
                let capability = endpoint
                    .children()
                    .any(|c| c.is("capability", ns::COLIBRI2) && c.attr("name") == Some("source-names"));
                prop_assert!(capability, "an endpoint create without source-names: {text}");
                prop_assert!(endpoint.get_child("transport", ns::COLIBRI2).is_some(), "no transport: {text}");
                prop_assert!(
                    conference.endpoints.insert(name.clone()),
                    "endpoint {name} created twice on {to} ({meeting}): {text}"
                );
                let room = self.meeting_rooms.get(&meeting).cloned().unwrap_or_default();
                self.allocations.insert(id.to_owned(), (room, name));
            } else if endpoint.attr("expire") == Some("true") {
                prop_assert!(
                    conference.endpoints.remove(&name),
                    "expire of endpoint {name} {to} does not have: {text}"
                );
            } else {
                prop_assert!(
                    conference.endpoints.contains(&name),
                    "update of endpoint {name} {to} does not have: {text}"
                );
            }
        }
        Ok(())
    }

    /// Jingle to a participant: the session rules and its view of the sources.
    pub(super) fn on_jingle_sent(&mut self, to: &str, jingle: &Element, text: &str) -> Check {
        let (room, nick) = to.rsplit_once('/').unwrap_or_default();
        let (room, nick) = (room.to_owned(), nick.to_owned());
        let sid = jingle.attr("sid").unwrap_or_default().to_owned();
        let action = jingle.attr("action").unwrap_or_default().to_owned();
        let key = (room.clone(), nick.clone());
        match action.as_str() {
            "session-initiate" => {
                let present = self.room_index(&room).is_some_and(|r| {
                    let world = &self.rooms[r];
                    world.focus_in && world.occupants.contains_key(&nick)
                });
                prop_assert!(present, "session-initiate to {to}, who is not in the room: {text}");
                let answered = self.allocation_answered.clone();
                prop_assert!(
                    answered.as_ref().is_some_and(|(r, n, _)| *r == room && *n == nick),
                    "session-initiate to {to} outside the answer to its allocation ({answered:?}): {text}"
                );
                let ufrag = answered.unwrap().2;
                // (A participant whose disco#info lists no media gets no contents.)
                for content in jingle.children().filter(|c| c.is("content", ns::JINGLE)) {
                    let transport = content.get_child("transport", ns::JINGLE_ICE_UDP);
                    prop_assert!(
                        transport.is_some_and(|t| t.attr("ufrag") == Some(ufrag.as_str())),
                        "a content without the bridge's transport {ufrag}: {text}"
                    );
                }
                prop_assert!(!self.sids.contains_key(&sid), "sid {sid} used twice: {text}");
                let peer = self.peers.entry(key.clone()).or_default();
                prop_assert!(
                    peer.sid.is_none(),
                    "session-initiate to {to} while its session {:?} runs: {text}",
                    peer.sid
                );
                self.sids.insert(sid.clone(), (key.clone(), false));
                let bridge_session = jingle.get_child("bridge-session", ns::FOCUS).and_then(|b| b.attr("id"));
                prop_assert!(bridge_session.is_some(), "no bridge-session: {text}");
                let peer = self.peers.get_mut(&key).unwrap();
                *peer = Peer {
                    sid: Some(sid),
                    bridge_session: bridge_session.map(str::to_owned),
                    last_removed: std::mem::take(&mut peer.last_removed),
                    ..Peer::default()
                };
                let told = told_sources(jingle);
                prop_assert!(told.is_ok(), "unreadable sources {told:?}: {text}");
                self.apply(&key, told.unwrap(), text)
            }
            "session-terminate" => {
                let known = self.sids.get_mut(&sid);
                prop_assert!(
                    known.as_ref().is_some_and(|(k, _)| *k == key),
                    "session-terminate of {sid}, never initiated to {to}: {text}"
                );
                let (_, terminated) = known.unwrap();
                prop_assert!(!*terminated, "session {sid} terminated twice: {text}");
                *terminated = true;
                let peer = self.peers.entry(key).or_default();
                if peer.sid.as_deref() == Some(sid.as_str()) {
                    *peer = Peer { last_removed: std::mem::take(&mut peer.last_removed), ..Peer::default() };
                }
                Ok(())
            }
            "source-add" | "source-remove" => {
                let peer = self.peers.entry(key.clone()).or_default();
                prop_assert!(
                    peer.sid.as_deref() == Some(sid.as_str()),
                    "{action} to {to} for {sid}, not its current session {:?}: {text}",
                    peer.sid
                );
                self.needs_accept.push((room.clone(), nick, sid));
                let told = told_sources(jingle);
                prop_assert!(told.is_ok(), "unreadable sources {told:?}: {text}");
                let told = told.unwrap();
                prop_assert!(!told.is_empty(), "an empty {action}: {text}");
                if action == "source-add" {
                    self.apply(&key, told, text)
                } else {
                    let peer = self.peers.get_mut(&key).unwrap();
                    for (ssrc, owner) in told {
                        let had = peer.view.remove(&ssrc);
                        prop_assert!(
                            had.as_ref() == Some(&owner),
                            "source-remove of {ssrc} ({owner}) to {to}, who has it as {had:?}: {text}"
                        );
                    }
                    Ok(())
                }
            }
            _ => {
                prop_assert!(false, "unexpected Jingle action from the focus: {text}");
                Ok(())
            }
        }
    }

    /// Sources told to a participant (session-initiate or source-add).
    pub(super) fn apply(&mut self, key: &(String, String), told: Vec<(u32, String)>, text: &str) -> Check {
        let peer = self.peers.get_mut(key).unwrap();
        for (ssrc, owner) in told {
            prop_assert!(owner != key.1, "{} was sent its own source {ssrc}: {text}", key.1);
            let before = peer.view.insert(ssrc, owner.clone());
            prop_assert!(
                before.is_none(),
                "{} told of SSRC {ssrc} ({owner}) while it has it from {before:?}: {text}",
                key.1
            );
        }
        Ok(())
    }
}

/// The sources a Jingle element from the focus tells of, each with its owner (a nick or
/// `jvb`), in either form (Jingle `<source>`s or `<json-message>`).
pub(super) fn told_sources(jingle: &Element) -> Result<Vec<(u32, String)>, String> {
    let owner_nick = |owner: &str| owner.rsplit('/').next().unwrap_or(owner).to_owned();
    let mut told = Vec::new();
    for content in jingle.children().filter(|c| c.is("content", ns::JINGLE)) {
        for description in content.children().filter(|d| d.is("description", ns::JINGLE_RTP)) {
            for source in description.children().filter(|s| s.is("source", ns::SSMA)) {
                let ssrc = source.attr("ssrc").and_then(|s| s.parse().ok()).ok_or("a source without ssrc")?;
                let owner = source
                    .get_child("ssrc-info", ns::JITMEET)
                    .and_then(|i| i.attr("owner"))
                    .ok_or(format!("source {ssrc} without an owner"))?;
                told.push((ssrc, owner_nick(owner)));
            }
        }
    }
    if let Some(json) = jingle.get_child("json-message", ns::JITMEET) {
        let value: serde_json::Value = serde_json::from_str(&json.text()).map_err(|e| e.to_string())?;
        let owners = value.get("sources").and_then(|s| s.as_object()).ok_or("no 'sources' object")?;
        for (owner, lists) in owners {
            for index in [0, 2] {
                for source in lists.get(index).and_then(|l| l.as_array()).into_iter().flatten() {
                    let ssrc = source.get("s").and_then(|s| s.as_u64()).ok_or("a JSON source without 's'")?;
                    told.push((ssrc as u32, owner_nick(owner)));
                }
            }
        }
    }
    Ok(told)
}
