//! The simulation and its driver. `Sim` plays the clients, Prosody and the reservation API, and
//! keeps what the invariants are judged against: the requests fed and their answers, the HTTP
//! calls outstanding, each reservation id's lifecycles (`Epoch`), the outbox replayed from the
//! focus's effects, and the owner grants per room and stay (`Grant`). `input` feeds the focus
//! one input and drains its effects into the checks (`checks.rs`), then `after_input` checks
//! that every reservation a POST created became a grant (invariant 3) and that a conference was
//! admitted only under the pending limit (6); `advance` moves virtual time through every
//! deadline in order (7); `finish` is the final phase (every request answered once, every
//! lifecycle closed, the outbox empty, nothing left).

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::Duration;
use minidom::Element;
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use super::generate::Reply;
use super::{start, xml, Check};
use crate::config::AuthMode;
use crate::core::reservation::HttpCall;
use crate::core::{Effect, Focus, Input, Limits, Settings, StoredDelete, Time};

/// One lifecycle of a reservation id held by the focus.
#[derive(Debug, Clone, Default)]
pub(super) struct Epoch {
    pub(super) number: u64,
    pub(super) closed: bool,
    pub(super) delete_sent: bool,
    pub(super) successes: u32,
}

/// Owner grant state of one nick in one room, during one stay of the focus there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Grant {
    Requested,
    /// The room showed the nick as owner after our grant.
    Owner,
}

pub(super) struct Sim {
    pub(super) focus: Focus,
    pub(super) now: Time,
    pub(super) connected: bool,
    pub(super) auth: AuthMode,
    pub(super) limits: Limits,
    pub(super) serial: u64,
    /// (from, id) of every IQ request fed, with the number of answers seen.
    pub(super) requests: HashMap<(String, String), u32>,
    /// Conference requests over HTTP by id, with the number of answers each got.
    pub(super) http_requests: HashMap<u64, u32>,
    /// Outstanding HTTP calls, with the epoch of the DELETEd id when sent.
    pub(super) calls: Vec<(HttpCall, u64)>,
    pub(super) answered_calls: Vec<(HttpCall, u64)>,
    /// Ids whose last answered GET said the reservation is gone or belongs to another room:
    /// the only grounds on which the focus may drop a DELETE it still owes.
    pub(super) gone: HashSet<String>,
    /// The server's reservations per room name, and the room of each id.
    pub(super) room_ids: HashMap<String, Vec<String>>,
    pub(super) id_room: HashMap<String, String>,
    pub(super) epochs: BTreeMap<String, Epoch>,
    pub(super) outbox: BTreeMap<String, StoredDelete>,
    /// Ids of POST grants fed during the current input: each must become a grant.
    pub(super) expected_grants: Vec<String>,
    pub(super) grants_seen: Vec<String>,
    pub(super) own_iqs: Vec<Element>,
    pub(super) answered_own: Vec<Element>,
    /// Occupants we said are present, by room.
    pub(super) present: HashMap<String, HashMap<String, String>>,
    /// Live owner grants by room and nick; `stays` counts joins per room.
    pub(super) grants: HashMap<String, HashMap<String, Grant>>,
    pub(super) stays: HashMap<String, u64>,
    pub(super) grant_ids: HashMap<String, (String, String, u64)>,
    pub(super) sessions: Vec<String>,
    /// `starting` before the current input, and rooms admitted in it.
    pub(super) starting_before: usize,
    pub(super) admitted: bool,
    /// The current input is a conference request: a POST or join it causes admits a conference.
    pub(super) in_request: bool,
    /// Rooms by the time of the focus's last join: all, and those whose join is unanswered.
    pub(super) joined: Vec<String>,
    pub(super) joins: Vec<String>,
}

impl Sim {
    pub(super) fn new(settings: Settings) -> Result<Sim, TestCaseError> {
        let mut sim = Sim {
            auth: settings.auth_mode,
            limits: settings.limits.clone(),
            focus: Focus::with_seed(settings, 7),
            now: start(),
            connected: true,
            serial: 0,
            requests: HashMap::new(),
            http_requests: HashMap::new(),
            calls: Vec::new(),
            answered_calls: Vec::new(),
            gone: HashSet::new(),
            room_ids: HashMap::new(),
            id_room: HashMap::new(),
            epochs: BTreeMap::new(),
            outbox: BTreeMap::new(),
            expected_grants: Vec::new(),
            grants_seen: Vec::new(),
            own_iqs: Vec::new(),
            answered_own: Vec::new(),
            present: HashMap::new(),
            grants: HashMap::new(),
            stays: HashMap::new(),
            grant_ids: HashMap::new(),
            sessions: Vec::new(),
            starting_before: 0,
            admitted: false,
            in_request: false,
            joined: Vec::new(),
            joins: Vec::new(),
        };
        sim.input(Input::Connected)?;
        Ok(sim)
    }

    pub(super) fn serial(&mut self) -> u64 {
        self.serial += 1;
        self.serial
    }

    /// Feeds one input, then drains and checks.
    pub(super) fn input(&mut self, input: Input) -> Check {
        if let Input::Stanza(stanza) = &input {
            self.expect_answer(stanza.name(), stanza.attr("type"), stanza.attr("id"), stanza.attr("from"));
        }
        self.starting_before = self.focus.footprint().starting;
        self.admitted = false;
        self.focus.handle(self.now, input);
        self.after_input()
    }

    pub(super) fn expect_answer(&mut self, name: &str, type_: Option<&str>, id: Option<&str>, from: Option<&str>) {
        if name != "iq" || matches!(type_, Some("result" | "error")) {
            return;
        }
        if let (Some(id), Some(from)) = (id, from) {
            let fresh = self.requests.insert((from.to_owned(), id.to_owned()), 0).is_none();
            assert!(fresh, "the simulation reused an IQ id");
        }
    }

    pub(super) fn after_input(&mut self) -> Check {
        self.drain()?;
        for id in std::mem::take(&mut self.expected_grants) {
            prop_assert!(
                self.grants_seen.contains(&id),
                "the focus did not take over reservation {id} its POST created"
            );
        }
        self.grants_seen.clear();
        if std::mem::take(&mut self.admitted) {
            prop_assert!(
                self.starting_before < self.limits.max_pending_conferences,
                "a conference was admitted while {} were starting",
                self.starting_before
            );
        }
        self.check_state()
    }

    pub(super) fn drain(&mut self) -> Check {
        while let Some(effect) = self.focus.poll_effect() {
            match effect {
                Effect::Send(stanza) => self.on_sent(stanza)?,
                Effect::Http(call) => self.on_call(call)?,
                Effect::Outbox(change) => self.on_outbox(change)?,
                Effect::AnswerHttp { id, .. } => {
                    let Some(answers) = self.http_requests.get_mut(&id) else {
                        return Err(TestCaseError::fail(format!("an HTTP answer ({id}) nobody asked for")));
                    };
                    *answers += 1;
                    prop_assert_eq!(*answers, 1, "HTTP request {} answered twice", id);
                }
            }
        }
        Ok(())
    }

    /// Moves virtual time forward, firing every deadline on the way in order.
    pub(super) fn advance(&mut self, seconds: i64) -> Check {
        let target = self.now + Duration::seconds(seconds);
        let mut same_instant = 0;
        while let Some(at) = self.focus.poll_timeout().filter(|t| *t <= target) {
            prop_assert!(at >= self.now || same_instant == 0, "a deadline in the past: {at} < {}", self.now);
            same_instant = if at > self.now { 0 } else { same_instant + 1 };
            self.now = at.max(self.now);
            self.starting_before = self.focus.footprint().starting;
            self.focus.handle_timeout(self.now);
            let next = self.focus.poll_timeout();
            prop_assert!(next.is_none_or(|t| t >= self.now), "handle_timeout left a past deadline: {next:?}");
            prop_assert!(same_instant < 3, "handle_timeout spins at {}", self.now);
            self.after_input()?;
        }
        self.now = target;
        Ok(())
    }

    pub(super) fn stanza(&mut self, text: &str) -> Check {
        if !self.connected {
            return Ok(()); // nothing arrives over a link that is down
        }
        self.input(Input::Stanza(xml(text)))
    }

    /// Shutdown, reconnection, every call answered with success, time for every retry: then
    /// every request is answered, every reservation deleted and nothing is left.
    pub(super) fn finish(&mut self) -> Check {
        self.focus.shutdown(self.now);
        self.after_input()?;
        if !self.connected {
            self.connected = true;
            self.input(Input::Connected)?;
        }
        for _ in 0..100 {
            while !self.calls.is_empty() {
                self.deliver(0, Reply::Granted { created: true, short: false, cap: false }, false)?;
            }
            if !self.focus.has_pending_http() {
                break;
            }
            self.advance(600)?;
        }
        prop_assert!(!self.focus.has_pending_http(), "{:?}", self.focus.footprint());
        for ((from, id), answers) in &self.requests {
            prop_assert_eq!(*answers, 1, "request {} from {} answered {} times", id, from, answers);
        }
        for (id, answers) in &self.http_requests {
            prop_assert_eq!(*answers, 1, "HTTP request {} answered {} times", id, answers);
        }
        prop_assert!(self.outbox.is_empty(), "outbox left: {:?}", self.outbox);
        for (id, epoch) in &self.epochs {
            prop_assert!(epoch.closed, "reservation {} never deleted: {:?}", id, epoch);
        }
        let fp = self.focus.footprint();
        prop_assert_eq!(
            (fp.conferences, fp.starting, fp.waiters, fp.participants, fp.deletes, fp.http_calls, fp.held_stanzas),
            (0, 0, 0, 0, 0, 0, 0),
            "{:?}",
            fp
        );
        Ok(())
    }
}
