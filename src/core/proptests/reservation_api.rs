//! The reservation API's side of the simulation: the HTTP outcome each `Reply` means for a
//! call (recording the reservations a POST creates and the ids a 409 names), and its delivery
//! to the focus, which closes the lifecycle of a DELETEd id when the answer is final and notes
//! which ids a GET found gone.

use proptest::prelude::*;

use super::generate::Reply;
use super::sim::Sim;
use super::Check;
use crate::core::reservation::{format_time, HttpCall, HttpOutcome, Method};
use crate::core::Input;

impl Sim {
    /// The outcome `reply` means for `call`; records the reservations it creates.
    pub(super) fn outcome(&mut self, call: &HttpCall, reply: Reply) -> HttpOutcome {
        let response = |status: u16, body: String| HttpOutcome::Response { status, body };
        let path_id = call.path.strip_prefix("/conference/").map(str::to_owned);
        let room = match call.method {
            Method::Post => call.form.iter().find(|(k, _)| k == "name").map(|(_, v)| v.clone()).unwrap_or_default(),
            _ => path_id.as_ref().and_then(|id| self.id_room.get(id)).cloned().unwrap_or_else(|| "r0".to_owned()),
        };
        match reply {
            Reply::Granted { created, short, cap } => {
                if call.method == Method::Delete {
                    return response(if created { 204 } else { 200 }, String::new());
                }
                let id = match call.method {
                    Method::Post => {
                        let id = format!("{}", 1000 + self.serial());
                        self.room_ids.entry(room.clone()).or_default().push(id.clone());
                        self.id_room.insert(id.clone(), room.clone());
                        self.expected_grants.push(id.clone());
                        id
                    }
                    _ => path_id.unwrap_or_default(),
                };
                let duration = if short { 30 } else { 3600 };
                let cap = if cap { r#","max_occupants":2"# } else { "" };
                let body = format!(
                    r#"{{"id":"{id}","name":"{room}","start_time":"{}","duration":{duration}{cap}}}"#,
                    format_time(self.now)
                );
                response(if created { 201 } else { 200 }, body)
            }
            Reply::BadBody(0) => response(201, "<html>oops</html>".into()),
            Reply::BadBody(1) => response(
                201,
                format!(r#"{{"id":"x","name":"other","start_time":"{}","duration":60}}"#, format_time(self.now)),
            ),
            Reply::BadBody(_) => response(200, format!(r#"{{"id":7,"name":"{room}"}}"#)),
            Reply::Conflict { with_id: true, pick } => {
                // A foreign reservation, or (pick 0: the latest) one granted to the focus before.
                let mut pool = vec![format!("ext-{room}")];
                pool.extend(self.room_ids.get(&room).cloned().unwrap_or_default());
                let id = pool[pool.len() - 1 - pick % pool.len()].clone();
                self.id_room.insert(id.clone(), room);
                response(409, format!(r#"{{"conflict_id":"{id}","message":"exists"}}"#))
            }
            Reply::Conflict { with_id: false, .. } => response(409, r#"{"message":"conflict"}"#.into()),
            Reply::Forbidden => response(403, r#"{"message":"Kein Termin für diesen Raum, bitte buchen"}"#.into()),
            Reply::NotFound => response(404, String::new()),
            Reply::TooMany => response(429, String::new()),
            Reply::ServerError(status) => response(status, "{}".into()),
            Reply::Timeout => HttpOutcome::Timeout,
            Reply::Unreachable => HttpOutcome::Unreachable("connection refused".into()),
        }
    }

    /// Delivers the outcome of an outstanding call, and for a DELETE of the current epoch
    /// closes the epoch when the answer is final.
    pub(super) fn deliver(&mut self, index: usize, reply: Reply, twice: bool) -> Check {
        let (call, epoch) = self.calls.remove(index);
        let outcome = self.outcome(&call, reply);
        if call.method == Method::Delete {
            let id = call.path.strip_prefix("/conference/").unwrap_or_default().to_owned();
            let state = self.epochs.get_mut(&id).expect("checked when sent");
            if state.number == epoch {
                let status = match &outcome {
                    HttpOutcome::Response { status, .. } => Some(*status),
                    _ => None,
                };
                match status {
                    Some(200..=299 | 404) => {
                        prop_assert!(!state.closed, "two final answers in one lifecycle of {id}");
                        state.closed = true;
                        state.successes += 1;
                    }
                    Some(408 | 429) | None => {}
                    Some(400..=499) => state.closed = true,
                    Some(_) => {}
                }
            }
        }
        if call.method == Method::Get {
            let id = call.path.strip_prefix("/conference/").unwrap_or_default().to_owned();
            let gone = match &outcome {
                HttpOutcome::Response { status: 404 | 410, .. } => true,
                HttpOutcome::Response { status: 200..=299, body } => body.contains(r#""name":"other""#),
                _ => false,
            };
            if gone {
                self.gone.insert(id);
            } else {
                self.gone.remove(&id);
            }
        }
        self.answered_calls.push((call.clone(), epoch));
        self.input(Input::Http { id: call.id, outcome: outcome.clone() })?;
        if twice {
            self.input(Input::Http { id: call.id, outcome })?;
        }
        Ok(())
    }
}
