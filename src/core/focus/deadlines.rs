//! Conference deadlines: after each input the deadlines of the conferences it touched are
//! filed again in the one ordered index, and when one passes the conference moves on (late
//! requests told `ready='false'`, reservation retries, join and configuration timeouts, the
//! end of a reservation, nobody joining in time).

use tracing::{info, warn};
use xmpp_parsers::jid::BareJid;

use super::{join, new_uuid, Exit, Focus, TimerKey};
use crate::core::conference::{Phase, Waiter};
use crate::core::Time;

impl Focus {
    /// After each input: re-files the deadlines of the conferences it touched.
    pub(super) fn settle(&mut self, now: Time) {
        let join_retry = self.settings.request_timeout;
        for room in std::mem::take(&mut self.touched) {
            let key = TimerKey::Conference(room.clone());
            match self.conferences.get(&room) {
                Some(conference) => {
                    self.timers.set(key, conference.next_deadline(join_retry));
                    if conference.phase == Phase::Live {
                        self.starting.remove(&room);
                    } else {
                        self.starting.insert(room);
                    }
                }
                None => {
                    self.timers.set(key, None);
                    self.starting.remove(&room);
                }
            }
        }
        if !self.sessions.is_empty() && !self.timers.contains(&TimerKey::SessionSweep) {
            // Sessions are swept now and then rather than each given a timer: they are many,
            // and a minute's difference in expiry does not matter.
            let period = self.settings.session_lifetime.min(chrono::Duration::minutes(1));
            self.timers.set(TimerKey::SessionSweep, Some(now + period));
        }
    }

    pub(super) fn conference_timeout(&mut self, now: Time, room: &BareJid) {
        let Some(conference) = self.conferences.get_mut(room) else { return };
        // Requests that waited too long are told `ready='false'`: the client asks again.
        let (expired, waiting): (Vec<Waiter>, Vec<Waiter>) =
            std::mem::take(&mut conference.waiters).into_iter().partition(|w| w.deadline <= now);
        conference.waiters = waiting;
        for waiter in expired {
            let not_ready = self.response(room, false, &waiter.identity);
            self.out.answer(&waiter.requester, Ok(not_ready));
        }
        let Some(conference) = self.conferences.get_mut(room) else { return };
        match conference.phase.clone() {
            Phase::Reserving { attempt, retry_at: Some(at) } if at <= now => {
                conference.phase = Phase::Reserving { attempt: attempt + 1, retry_at: None };
                self.post_reservation(now, room);
            }
            Phase::FetchingConflict { id, message, attempt, retry_at: Some(at) } if at <= now => {
                conference.phase =
                    Phase::FetchingConflict { id: id.clone(), message, attempt: attempt + 1, retry_at: None };
                self.fetch_conflict(room, &id);
            }
            Phase::Joining { sent_at: Some(at) } if at + self.settings.request_timeout <= now => {
                if conference.was_live {
                    // A rejoin after a reconnection: people are in that room, so keep trying
                    // (one join per live room per `request_timeout` at most).
                    warn!(room = %room, "no answer to our rejoin; trying again");
                    conference.phase = Phase::Joining { sent_at: self.out.connected.then_some(now) };
                    if self.out.connected {
                        self.out.send(join(&self.focus_jid, room));
                    }
                } else {
                    // The component link does not lose stanzas: a join this slow means Prosody
                    // is overloaded, and re-sending it would add to the load. Give up; waiting
                    // clients hear `ready='false'` and ask again later.
                    warn!(room = %room, "no answer to our join; ending the conference");
                    self.end(now, room, "the room did not answer our join", Exit::Leave);
                }
            }
            Phase::Configuring { deadline } if deadline <= now => {
                warn!(room = %room, "no answer to the room configuration request; going live without it");
                if conference.meeting_id.is_none() {
                    conference.meeting_id = Some(new_uuid(&mut self.rng));
                }
                self.go_live(now, room);
                // Its reservation may have ended meanwhile: the live checks below run now,
                // rather than leave the expiry as a deadline in the past.
                self.conference_timeout(now, room);
            }
            Phase::Live => {
                let ends_at = conference.reservation.as_ref().map(|r| r.ends_at());
                if ends_at.is_some_and(|t| t <= now) {
                    let reason = "The reserved time for this conference is over.".to_owned();
                    info!(room = %room, reservation_id = conference.reservation_id().unwrap_or("-"), outcome = "expired", "conference expired");
                    return self.end(now, room, "reservation expired", Exit::Destroy(reason));
                }
                if conference.initial_deadline.is_some_and(|t| t <= now) {
                    self.end(now, room, "nobody joined within the initial timeout", Exit::Leave);
                }
            }
            _ => {}
        }
    }
}
