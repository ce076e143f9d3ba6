//! The focus's side of the reservation API: POST and the GET after a 409, their verdicts, the
//! refusal cache, and DELETEs that survive restarts through the outbox.

use tracing::{debug, error, info, warn};
use xmpp_parsers::jid::BareJid;

use super::settings::chrono;
use super::{Focus, HttpPurpose, PendingDelete, TimerKey};
use crate::core::conference::Phase;
use crate::core::reservation::{self as policy, DeleteVerdict, HttpOutcome, Method, Refusal, Verdict};
use crate::core::{Effect, OutboxChange, StoredDelete, Time};
use crate::xmpp::focus as focus_ns;

impl Focus {
    /// `POST /conference` for this conference; the conference remembers the call it waits for.
    pub(super) fn post_reservation(&mut self, now: Time, room: &BareJid) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        // The previous conference's DELETE is still on the wire: a POST now could get a 409
        // naming the reservation that DELETE is about to remove. Wait for its answer.
        conference.blocked_by_delete = self.deleting.contains_key(room);
        if conference.blocked_by_delete {
            debug!(room = %room, "new reservation waits for the previous one's DELETE");
            return;
        }
        let form = policy::create_form(&conference.name, now, conference.owner.as_deref());
        let call = self.out.http(Method::Post, "/conference".into(), form);
        self.http.insert(call, HttpPurpose::Create(room.clone()));
        conference.awaited_call = Some(call);
    }

    pub(super) fn fetch_conflict(&mut self, room: &BareJid, id: &str) {
        let call = self.out.http(Method::Get, policy::path_for(id), Vec::new());
        self.http.insert(call, HttpPurpose::FetchConflict(room.clone()));
        if let Some(conference) = self.conferences.get_mut(room) {
            conference.awaited_call = Some(call);
        }
    }

    pub(super) fn on_http(&mut self, now: Time, id: u64, outcome: HttpOutcome) {
        let Some(purpose) = self.http.remove(&id) else { return };
        let retries = self.settings.reservation.as_ref().map_or(0, |r| r.retries);
        match purpose {
            HttpPurpose::Create(room) => {
                self.touch(&room);
                let awaited = self.conferences.get(&room).filter(|c| c.awaited_call == Some(id));
                let Some(Phase::Reserving { attempt, .. }) = awaited.map(|c| c.phase.clone()) else {
                    // Nobody waits for this answer any more (the conference ended, or the focus is
                    // stopping). A reservation it granted would be left behind: delete it.
                    let name = room.node().map(|n| n.to_string()).unwrap_or_default();
                    if let Verdict::Granted(reservation) = policy::judge_create(&outcome, &name, 1, 0) {
                        info!(room = %room, reservation_id = %reservation.id, "deleting a reservation granted too late");
                        self.acquired(&room, &reservation.id);
                        self.delete_reservation(now, room, reservation.id);
                    }
                    return;
                };
                let name = awaited.map(|c| c.name.clone()).unwrap_or_default();
                let verdict = policy::judge_create(&outcome, &name, attempt, retries);
                self.apply_verdict(now, &room, verdict, &outcome);
            }
            HttpPurpose::FetchConflict(room) => {
                self.touch(&room);
                // An adopted reservation existed before us: nothing to clean up if nobody waits.
                let Some(conference) = self.conferences.get(&room).filter(|c| c.awaited_call == Some(id)) else {
                    return;
                };
                let Phase::FetchingConflict { id, message, attempt, .. } = &conference.phase else { return };
                let verdict =
                    policy::judge_conflict_fetch(&outcome, &conference.name, id, message.as_deref(), *attempt, retries);
                self.apply_verdict(now, &room, verdict, &outcome);
            }
            HttpPurpose::CheckDelete(key) => self.on_delete_check(now, key, &outcome),
            HttpPurpose::Delete { key, room } => {
                if let Some(count) = self.deleting.get_mut(&room) {
                    *count -= 1;
                    if *count == 0 {
                        self.deleting.remove(&room);
                        let blocked = self.conferences.get(&room).is_some_and(|c| c.blocked_by_delete);
                        if blocked {
                            self.touch(&room);
                            self.post_reservation(now, &room);
                        }
                    }
                }
                self.on_delete_outcome(now, key, &outcome);
            }
        }
    }

    fn apply_verdict(&mut self, now: Time, room: &BareJid, verdict: Verdict, outcome: &HttpOutcome) {
        self.counters.reservation_call(&verdict, outcome);
        let Some(conference) = self.conferences.get_mut(room) else { return };
        conference.awaited_call = None;
        match verdict {
            Verdict::Granted(reservation) => {
                // Whose reservation it is, is the reservation server's business: it received
                // `mail_owner`, and a 409 means "this conference exists, here it is" (as with
                // Prosody's mod_reservations, which operators migrate from).
                if reservation.ends_at() <= now {
                    return self.refuse(now, room, Refusal::of(&crate::errors::RESERVATION_EXPIRED, &[]));
                }
                let id = reservation.id.clone();
                conference.reservation = Some(reservation);
                self.acquired(room, &id);
                self.begin_join(now, room);
            }
            Verdict::Conflict { id, message } => {
                conference.phase = Phase::FetchingConflict { id: id.clone(), message, attempt: 1, retry_at: None };
                self.fetch_conflict(room, &id);
            }
            Verdict::Retry => {
                let delay = self.settings.reservation.as_ref().map(|r| r.retry_delay).unwrap_or_default();
                warn!(room = %room, %outcome, "reservation API failed; retrying in {delay:?}");
                match &mut conference.phase {
                    Phase::Reserving { retry_at, .. } | Phase::FetchingConflict { retry_at, .. } => {
                        *retry_at = Some(now + chrono(delay));
                    }
                    _ => {}
                }
            }
            Verdict::Refused(refusal) => self.refuse(now, room, refusal),
        }
    }

    /// A reservation is ours to delete from now on: recorded in the outbox before anything else
    /// can happen to it, so that a crash cannot leave it behind.
    fn acquired(&mut self, room: &BareJid, id: &str) {
        // A DELETE of ours still retrying for this id must not remove it now that the
        // reservation is in use again (a 409 hands back the same id; servers reuse ids).
        if let Some(key) = self.delete_by_id.get(id).copied() {
            self.untrack_delete(key);
            self.timers.set(TimerKey::Delete(key), None);
        }
        let record = StoredDelete { id: id.to_owned(), room: room.to_string(), ended_at: None };
        self.out.effects.push_back(Effect::Outbox(OutboxChange::Put(record)));
    }

    /// Answers every waiting request with the refusal, remembers it for a while and forgets the
    /// conference.
    pub(super) fn refuse(&mut self, now: Time, room: &BareJid, refusal: Refusal) {
        let Some(conference) = self.remove_conference(room) else { return };
        let refusal = refusal.truncated(self.settings.max_message_length);
        info!(room = %room, code = refusal.code, text = %refusal.message, outcome = "refused", "conference refused");
        self.counters.conference_requests_errors += conference.waiters.len() as u64;
        for waiter in conference.waiters {
            self.out.answer(&waiter.requester, Err(focus_ns::reservation_error(refusal.code, &refusal.message)));
        }
        let cache = self.settings.reservation.as_ref().map(|r| r.refusal_cache).unwrap_or_default();
        // A full cache only costs API calls; it never grows past its limit.
        if cache > chrono::Duration::zero() && self.refusals.len() < self.settings.limits.max_refusals_cached {
            let until = now + cache;
            self.refusals.insert(room.clone(), (refusal, until));
            self.timers.set(TimerKey::Refusal(room.clone()), Some(until));
        }
    }

    /// Starts deleting a reservation; [`Focus::send_delete`] retries until the API confirms or
    /// the give-up time passes.
    pub(super) fn delete_reservation(&mut self, now: Time, room: BareJid, id: String) {
        let key = self.out.id();
        let record = StoredDelete { id: id.clone(), room: room.to_string(), ended_at: Some(now) };
        self.out.effects.push_back(Effect::Outbox(OutboxChange::Put(record)));
        let give_up_at = now + self.settings.delete_give_up;
        self.track_delete(key, PendingDelete { room, id: id.clone(), attempt: 0, give_up_at, verify: false });
        self.send_delete(key, &id);
    }

    /// DELETEs left over by an earlier run (stopped with the API down, or crashed): retried
    /// from now on. Call once, before any other input.
    pub fn restore_deletes(&mut self, now: Time, stored: Vec<StoredDelete>) {
        for record in stored {
            let Ok(room) = record.room.parse::<BareJid>() else {
                warn!(reservation_id = %record.id, room = %record.room, "dropping an outbox entry with a bad room");
                self.out.effects.push_back(Effect::Outbox(OutboxChange::Remove(record.id)));
                continue;
            };
            // A conference that was running when the focus died ended then.
            let ended_at = record.ended_at.unwrap_or(now).min(now);
            let give_up_at = ended_at + self.settings.delete_give_up;
            info!(room = %room, reservation_id = %record.id, "resuming the DELETE of a reservation left by an earlier run");
            let key = self.out.id();
            if record.ended_at.is_none() {
                let record = StoredDelete { ended_at: Some(ended_at), ..record.clone() };
                self.out.effects.push_back(Effect::Outbox(OutboxChange::Put(record)));
            }
            self.track_delete(key, PendingDelete { room, id: record.id, attempt: 0, give_up_at, verify: true });
            self.retry_delete(key);
        }
    }

    /// One `DELETE {base_url}/conference/{id}` attempt for the pending delete `key`.
    pub(super) fn send_delete(&mut self, key: u64, id: &str) {
        let Some(room) = self.deletes.get(&key).map(|d| d.room.clone()) else { return };
        let call = self.out.http(Method::Delete, policy::path_for(id), Vec::new());
        *self.deleting.entry(room.clone()).or_default() += 1;
        self.http.insert(call, HttpPurpose::Delete { key, room });
    }

    /// The answer to the GET before a retried DELETE: delete only what is still this room's.
    fn on_delete_check(&mut self, now: Time, key: u64, outcome: &HttpOutcome) {
        let Some(delete) = self.deletes.get(&key) else { return };
        let name = delete.room.node().map(|n| n.to_string()).unwrap_or_default();
        match outcome {
            HttpOutcome::Response { status: 404 | 410, .. } => {
                info!(room = %delete.room, reservation_id = %delete.id, "reservation already gone");
                self.finish_delete(key);
            }
            HttpOutcome::Response { status: 200..=299, body } => match policy::parse_reservation(body, &name) {
                Err(why) if why.starts_with("'name'") => {
                    // The server gave the id to another room's reservation: not ours to delete.
                    warn!(room = %delete.room, reservation_id = %delete.id, %why, "the id now names another reservation; not deleting it");
                    self.finish_delete(key);
                }
                _ => {
                    let id = delete.id.clone();
                    self.send_delete(key, &id);
                }
            },
            // Unknown: try the DELETE itself (a server without GET answers it).
            HttpOutcome::Response { status: 405 | 501, .. } => {
                let id = delete.id.clone();
                self.send_delete(key, &id);
            }
            // Anything else says nothing about the id: try again later, as after a failed DELETE.
            _ => {
                if self.schedule_delete_retry(now, key, outcome) {
                    self.finish_delete(key);
                }
            }
        }
    }

    /// Arms the back-off before the next attempt of the pending delete `key`; true when its
    /// give-up time comes first (the caller then ends it).
    fn schedule_delete_retry(&mut self, now: Time, key: u64, outcome: &HttpOutcome) -> bool {
        let Some(delete) = self.deletes.get_mut(&key) else { return false };
        let base = self.settings.reservation.as_ref().map(|r| r.retry_delay).unwrap_or_default();
        let delay = policy::delete_backoff(base, delete.attempt);
        let retry_at = now + chrono(delay);
        if retry_at > delete.give_up_at {
            error!(room = %delete.room, reservation_id = %delete.id, %outcome, "DELETE kept failing; giving up");
            return true;
        }
        delete.attempt += 1;
        delete.verify = true;
        warn!(room = %delete.room, reservation_id = %delete.id, %outcome, "DELETE failed; retrying in {delay:?}");
        self.timers.set(TimerKey::Delete(key), Some(retry_at));
        false
    }

    fn track_delete(&mut self, key: u64, delete: PendingDelete) {
        self.delete_by_id.insert(delete.id.clone(), key);
        self.deletes.insert(key, delete);
    }

    fn untrack_delete(&mut self, key: u64) -> Option<PendingDelete> {
        let delete = self.deletes.remove(&key)?;
        self.delete_by_id.remove(&delete.id);
        Some(delete)
    }

    /// The pending delete `key` is over (deleted, gone, or given up).
    fn finish_delete(&mut self, key: u64) {
        if let Some(delete) = self.untrack_delete(key) {
            self.timers.set(TimerKey::Delete(key), None);
            self.out.effects.push_back(Effect::Outbox(OutboxChange::Remove(delete.id)));
        }
    }

    fn on_delete_outcome(&mut self, now: Time, key: u64, outcome: &HttpOutcome) {
        let Some(delete) = self.deletes.get_mut(&key) else { return };
        let finished = match policy::judge_delete(outcome) {
            DeleteVerdict::Done => {
                info!(room = %delete.room, reservation_id = %delete.id, "reservation deleted");
                true
            }
            DeleteVerdict::Retry => self.schedule_delete_retry(now, key, outcome),
            DeleteVerdict::GiveUp(why) => {
                error!(room = %delete.room, reservation_id = %delete.id, %why, "reservation API refused the DELETE");
                true
            }
        };
        if finished {
            self.finish_delete(key);
        }
    }

    /// A DELETE's back-off ended (or it was resumed after a restart): check the id, then
    /// delete.
    pub(super) fn retry_delete(&mut self, key: u64) {
        let Some(delete) = self.deletes.get(&key) else { return };
        if delete.verify {
            let call = self.out.http(Method::Get, policy::path_for(&delete.id), Vec::new());
            self.http.insert(call, HttpPurpose::CheckDelete(key));
        } else {
            let id = delete.id.clone();
            self.send_delete(key, &id);
        }
    }
}
