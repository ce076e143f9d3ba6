//! The simulation and its driver. `Sim` plays Prosody, the bridges and the clients, and models
//! what each of them has been told from the focus's output alone (`Peer`: one client's Jingle
//! life; `BridgeConference`: a conference as its bridge knows it; `RoomWorld`: a room as
//! Prosody has it). `input` feeds the focus one input and drains its effects into the checks
//! (`checks.rs`), then `after_input` checks that source signalling went only to accepted
//! sessions (invariant 5) and the footprint (3); `advance` moves virtual time through every
//! deadline in order (2); `finish` is the final phase (8).

use std::collections::{BTreeMap, BTreeSet, HashMap, VecDeque};

use chrono::Duration;
use minidom::Element;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::generate::{settings, Stats, Universe};
use super::{room_jid, start, xml, Check, NICKS};
use crate::core::{Effect, Focus, Input, Time};

/// One client's Jingle life as it sees it, from what the focus sent it.
#[derive(Debug, Default)]
pub(super) struct Peer {
    /// The running session: initiated and not terminated.
    pub(super) sid: Option<String>,
    pub(super) bridge_session: Option<String>,
    /// Its session-accept of `sid` was answered with a result.
    pub(super) accepted: bool,
    /// The others' sources it knows: SSRC → owner (nick, or `jvb`).
    pub(super) view: BTreeMap<u32, String>,
    /// What the focus accepted from it: SSRC → (video, msid given).
    pub(super) own: BTreeMap<u32, bool>,
    /// Those it signalled without an msid (the focus named them).
    pub(super) without_msid: BTreeSet<u32>,
    /// SSRCs (with media) of its last accepted source-remove.
    pub(super) last_removed: Vec<(u32, bool)>,
}

/// A conference on one bridge, as the bridge knows it from the requests it got.
#[derive(Debug, Default)]
pub(super) struct BridgeConference {
    pub(super) endpoints: BTreeSet<String>,
}

/// A Jingle request a client sent, to read the focus's answer.
#[derive(Debug, Clone)]
pub(super) struct JingleRequest {
    pub(super) room: String,
    pub(super) nick: String,
    pub(super) sid: String,
    pub(super) action: &'static str,
    /// SSRCs (with media, msid given) it carries.
    pub(super) ssrcs: Vec<(u32, bool, bool)>,
}

#[derive(Debug, Default)]
pub(super) struct RoomWorld {
    /// Occupants (nick → owner) as Prosody has them.
    pub(super) occupants: BTreeMap<String, bool>,
    /// Prosody relays the room's presence to the focus.
    pub(super) focus_in: bool,
    pub(super) join_pending: bool,
}

pub(super) struct Sim {
    pub(super) u: Universe,
    pub(super) focus: Focus,
    pub(super) now: Time,
    pub(super) connected: bool,
    pub(super) serial: u64,
    /// (from, id) of every IQ request fed, with the answers seen.
    pub(super) requests: HashMap<(String, String), u32>,
    pub(super) jingle_requests: HashMap<String, JingleRequest>,
    /// The focus's IQ requests not answered yet, oldest first.
    pub(super) pending: Vec<Element>,
    /// Answered, dropped and pre-reconnection ones, for late answers.
    pub(super) late: VecDeque<Element>,
    pub(super) rooms: Vec<RoomWorld>,
    pub(super) in_brewery: bool,
    pub(super) brewery_join_pending: bool,
    /// Bridges in the brewery with their last stats.
    pub(super) bridges: BTreeMap<usize, Stats>,
    /// Conferences per (bridge JID, meeting-id) that the bridge has.
    pub(super) bridge_conferences: HashMap<(String, String), BridgeConference>,
    /// The room of each meeting-id, from the conference creates.
    pub(super) meeting_rooms: HashMap<String, String>,
    /// Endpoint creates by IQ id: (room, endpoint).
    pub(super) allocations: HashMap<String, (String, String)>,
    /// The allocation answered by the current input: (room, nick, ufrag of its transport).
    pub(super) allocation_answered: Option<(String, String, String)>,
    pub(super) peers: HashMap<(String, String), Peer>,
    /// Every sid initiated, with its (room, nick) and whether it was terminated.
    pub(super) sids: HashMap<String, ((String, String), bool)>,
    /// source-add/remove sent in this input to (room, nick, sid): accepted by the input's end.
    pub(super) needs_accept: Vec<(String, String, String)>,
    /// When each media IQ (`jm-`) was sent, for the timer bound.
    pub(super) media_sent: VecDeque<Time>,
    /// When each health check was sent, and to which bridge.
    pub(super) health_sent: VecDeque<(Time, String)>,
    /// When the health checks of bridges that left since were sent.
    pub(super) stale_checks: Vec<Time>,
    pub(super) meeting_ids: bool,
    /// `MEDIA_TRACE=1`: every stanza in and out on stderr.
    pub(super) debug: bool,
    /// `MEDIA_STATS=1`: what the focus sent, and its answers to Jingle, summed over cases.
    pub(super) stats: BTreeMap<String, usize>,
}

impl Sim {
    pub(super) fn new(u: Universe) -> Result<Sim, TestCaseError> {
        let mut sim = Sim {
            u,
            focus: Focus::with_seed(settings(&u), 11),
            now: start(),
            connected: false,
            serial: 0,
            requests: HashMap::new(),
            jingle_requests: HashMap::new(),
            pending: Vec::new(),
            late: VecDeque::new(),
            rooms: (0..u.rooms).map(|_| RoomWorld::default()).collect(),
            in_brewery: false,
            brewery_join_pending: false,
            bridges: BTreeMap::new(),
            bridge_conferences: HashMap::new(),
            meeting_rooms: HashMap::new(),
            allocations: HashMap::new(),
            allocation_answered: None,
            peers: HashMap::new(),
            sids: HashMap::new(),
            needs_accept: Vec::new(),
            media_sent: VecDeque::new(),
            health_sent: VecDeque::new(),
            stale_checks: Vec::new(),
            meeting_ids: false,
            debug: std::env::var("MEDIA_TRACE").is_ok(),
            stats: BTreeMap::new(),
        };
        sim.connected = true;
        sim.input(Input::Connected)?;
        Ok(sim)
    }

    pub(super) fn serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    pub(super) fn room_index(&self, room: &str) -> Option<usize> {
        (0..self.u.rooms).find(|r| room_jid(*r) == room)
    }

    // ---- feeding the focus -------------------------------------------------------------------

    pub(super) fn input(&mut self, input: Input) -> Check {
        if let Input::Stanza(stanza) = &input {
            if stanza.name() == "iq" && matches!(stanza.attr("type"), Some("get" | "set")) {
                let key = (stanza.attr("from").unwrap().to_owned(), stanza.attr("id").unwrap().to_owned());
                assert!(self.requests.insert(key, 0).is_none(), "the simulation reused an IQ id");
            }
        }
        self.focus.handle(self.now, input);
        let checked = self.after_input();
        self.allocation_answered = None;
        checked
    }

    pub(super) fn stanza(&mut self, text: &str) -> Check {
        if !self.connected {
            return Ok(()); // nothing arrives over a link that is down
        }
        if self.debug {
            eprintln!("<< {text}");
        }
        self.input(Input::Stanza(xml(text)))
    }

    pub(super) fn after_input(&mut self) -> Check {
        while let Some(effect) = self.focus.poll_effect() {
            match effect {
                Effect::Send(stanza) => self.on_sent(stanza)?,
                other => prop_assert!(false, "a media focus without reservations did {other:?}"),
            }
        }
        for (room, nick, sid) in std::mem::take(&mut self.needs_accept) {
            let peer = self.peers.get(&(room.clone(), nick.clone()));
            let accepted = peer.is_some_and(|p| p.accepted && p.sid.as_deref() == Some(sid.as_str()));
            let ended = peer.is_some_and(|p| p.sid.as_deref() != Some(sid.as_str()));
            prop_assert!(
                accepted || ended,
                "source signalling to {room}/{nick} for session {sid} whose session-accept got no result"
            );
        }
        self.check_footprint()
    }

    /// Moves virtual time forward, firing every deadline on the way in order.
    pub(super) fn advance(&mut self, seconds: i64) -> Check {
        let target = self.now + Duration::seconds(seconds);
        let mut same_instant = 0;
        while let Some(at) = self.focus.poll_timeout().filter(|t| *t <= target) {
            prop_assert!(at >= self.now || same_instant == 0, "a deadline in the past: {at} < {}", self.now);
            same_instant = if at > self.now { 0 } else { same_instant + 1 };
            self.now = at.max(self.now);
            self.allocation_answered = None;
            self.focus.handle_timeout(self.now);
            let next = self.focus.poll_timeout();
            prop_assert!(next.is_none_or(|t| t >= self.now), "handle_timeout left a past deadline: {next:?}");
            prop_assert!(same_instant < 3, "handle_timeout spins at {}", self.now);
            self.after_input()?;
        }
        self.now = target;
        Ok(())
    }

    /// Everyone leaves, time passes, the focus shuts down; then nothing may be left.
    pub(super) fn finish(&mut self) -> Check {
        if !self.connected {
            self.connected = true;
            self.input(Input::Connected)?;
        }
        self.answer_joins()?;
        for room in 0..self.u.rooms {
            let nicks: Vec<String> = self.rooms[room].occupants.keys().cloned().collect();
            for nick in nicks {
                let index = NICKS.iter().position(|n| *n == nick).unwrap();
                self.participant(room, index, false, false)?;
            }
        }
        self.advance(120)?;
        self.focus.shutdown(self.now);
        self.after_input()?;
        self.advance(60)?;
        let fp = self.focus.footprint();
        prop_assert_eq!((fp.conferences, fp.jingle_sessions, fp.participants), (0, 0, 0), "{:?}", fp);
        for ((from, id), answers) in &self.requests {
            prop_assert_eq!(*answers, 1, "request {} from {} answered {} times", id, from, answers);
        }
        for ((bridge, meeting), conference) in &self.bridge_conferences {
            prop_assert!(
                conference.endpoints.is_empty(),
                "{bridge} still has meeting {meeting} with endpoints {:?}: never expired",
                conference.endpoints
            );
        }
        Ok(())
    }
}
