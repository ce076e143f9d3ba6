//! The invariants, checked on every effect of the focus as it is drained: its answers (each
//! request answered once, nothing else answered: invariants 1 and 2), owner grants (at most one
//! live owner without sign-in: 5), HTTP calls (a DELETE only for an ended record in an open
//! lifecycle: 3) and outbox changes (3 and 4), nothing sent while disconnected (7); and after
//! every input, the lifecycles against the outbox and the footprint against the limits (4, 6).

use minidom::Element;
use proptest::prelude::*;

use super::sim::{Epoch, Grant, Sim};
use super::{nick_of_bare, Check};
use crate::config::AuthMode;
use crate::core::reservation::{HttpCall, Method};
use crate::core::OutboxChange;
use crate::xmpp::focus::ConferenceResponse;
use crate::xmpp::ns;

impl Sim {
    pub(super) fn on_sent(&mut self, stanza: Element) -> Check {
        prop_assert!(self.connected, "sent while disconnected: {}", String::from(&stanza));
        let type_ = stanza.attr("type").unwrap_or_default().to_owned();
        let to = stanza.attr("to").unwrap_or_default().to_owned();
        match (stanza.name(), type_.as_str()) {
            ("iq", "result" | "error") => {
                let id = stanza.attr("id").unwrap_or_default().to_owned();
                let count = self.requests.get_mut(&(to.clone(), id.clone()));
                prop_assert!(count.is_some(), "an answer to no request: {}", String::from(&stanza));
                let count = count.unwrap();
                *count += 1;
                prop_assert!(*count == 1, "a second answer to {id} from {to}: {}", String::from(&stanza));
                if let Some(response) = stanza.children().next().and_then(|c| ConferenceResponse::try_from(c).ok()) {
                    if let Some(session) = response.session_id {
                        if !self.sessions.contains(&session) {
                            self.sessions.push(session);
                        }
                    }
                }
            }
            ("iq", "get" | "set") => {
                prop_assert!(stanza.attr("id").is_some_and(|id| id.starts_with("jf-")), "{}", String::from(&stanza));
                let room = to.clone();
                let grant = stanza
                    .get_child("query", ns::MUC_ADMIN)
                    .and_then(|q| q.children().next())
                    .filter(|item| item.attr("affiliation") == Some("owner"))
                    .and_then(|item| item.attr("jid"))
                    .map(str::to_owned);
                if let Some(jid) = grant {
                    self.on_owner_grant(&room, &jid, stanza.attr("id").unwrap())?;
                }
                self.own_iqs.push(stanza);
            }
            ("presence", "") => {
                // A (re)join: the focus starts over with the room's occupants.
                let room = to.strip_suffix("/focus").unwrap_or(&to).to_owned();
                prop_assert!(to.ends_with("/focus"), "{}", String::from(&stanza));
                *self.stays.entry(room.clone()).or_default() += 1;
                self.grants.remove(&room);
                self.admitted |= self.in_request;
                self.joins.retain(|r| *r != room);
                self.joins.push(room.clone());
                self.joined.retain(|r| *r != room);
                self.joined.push(room.clone());
            }
            ("presence", "unavailable") => prop_assert!(to.ends_with("/focus")),
            _ => prop_assert!(false, "unexpected stanza {}", String::from(&stanza)),
        }
        Ok(())
    }

    pub(super) fn on_owner_grant(&mut self, room: &str, jid: &str, id: &str) -> Check {
        let nick = nick_of_bare(jid);
        prop_assert!(nick.is_some(), "an owner grant for a stranger {jid}");
        let nick = nick.unwrap();
        let present = self.present.get(room).is_some_and(|p| p.contains_key(&nick));
        prop_assert!(present, "an owner grant for {nick}, who is not in {room}");
        prop_assert!(nick != "rec", "a trusted recorder was made owner");
        let stay = self.stays.get(room).copied().unwrap_or_default();
        self.grant_ids.insert(id.to_owned(), (room.to_owned(), nick.clone(), stay));
        let grants = self.grants.entry(room.to_owned()).or_default();
        grants.insert(nick, Grant::Requested);
        if self.auth == AuthMode::None {
            prop_assert!(grants.len() <= 1, "two owners in {room}: {grants:?}");
        }
        Ok(())
    }

    pub(super) fn on_call(&mut self, call: HttpCall) -> Check {
        let mut epoch = 0;
        match call.method {
            Method::Post => self.admitted |= self.in_request,
            Method::Get => {}
            Method::Delete => {
                let id = call.path.strip_prefix("/conference/").unwrap_or_default().to_owned();
                let state = self.epochs.get_mut(&id);
                prop_assert!(state.is_some(), "a DELETE of {id}, which the focus never held");
                let state = state.unwrap();
                prop_assert!(!state.closed, "a DELETE of {id} after its lifecycle ended: {state:?}");
                let ended = self.outbox.get(&id).is_some_and(|r| r.ended_at.is_some());
                prop_assert!(ended, "a DELETE of {id} before the outbox says it ended: {:?}", self.outbox.get(&id));
                state.delete_sent = true;
                epoch = state.number;
            }
        }
        self.calls.push((call, epoch));
        Ok(())
    }

    pub(super) fn on_outbox(&mut self, change: OutboxChange) -> Check {
        match change {
            OutboxChange::Put(record) => {
                if record.ended_at.is_none() {
                    let state = self.epochs.entry(record.id.clone()).or_default();
                    *state = Epoch { number: state.number + 1, ..Epoch::default() };
                    self.grants_seen.push(record.id.clone());
                } else {
                    let open = self.epochs.get(&record.id).is_some_and(|e| !e.closed);
                    prop_assert!(open, "an outbox record for {}, which the focus does not hold", record.id);
                }
                self.outbox.insert(record.id.clone(), record);
            }
            OutboxChange::Remove(id) => {
                prop_assert!(self.outbox.remove(&id).is_some(), "removed {id}, which the outbox does not hold");
                // Without a final DELETE answer, only a GET that found the id gone or naming
                // another room's reservation ends a lifecycle (a retried DELETE is checked first).
                if let Some(state) = self.epochs.get_mut(&id).filter(|e| !e.closed) {
                    prop_assert!(self.gone.contains(&id), "{id} dropped from the outbox without a reason: {state:?}");
                    state.closed = true;
                }
            }
        }
        Ok(())
    }

    pub(super) fn check_state(&self) -> Check {
        for (id, epoch) in &self.epochs {
            let record = self.outbox.get(id);
            prop_assert_eq!(record.is_some(), !epoch.closed, "outbox and lifecycle of {} disagree: {:?}", id, epoch);
            if let Some(record) = record {
                prop_assert_eq!(record.ended_at.is_some(), epoch.delete_sent, "record of {}: {:?}", id, record);
            }
            prop_assert!(epoch.successes <= 1);
        }
        let fp = self.focus.footprint();
        let l = &self.limits;
        prop_assert!(fp.conferences <= l.max_conferences, "{fp:?}");
        prop_assert!(fp.starting <= fp.conferences, "{fp:?}");
        prop_assert!(fp.waiters <= fp.conferences * l.max_waiters_per_conference, "{fp:?}");
        prop_assert!(fp.participants <= fp.conferences * l.max_participants_per_conference, "{fp:?}");
        prop_assert!(fp.refusals <= l.max_refusals_cached, "{fp:?}");
        prop_assert!(fp.sessions <= l.max_sessions, "{fp:?}");
        prop_assert!(fp.timers <= fp.conferences + fp.deletes + fp.refusals + 1, "{fp:?}");
        prop_assert!(fp.http_calls <= self.calls.len(), "{fp:?} but {} calls outstanding", self.calls.len());
        Ok(())
    }
}
