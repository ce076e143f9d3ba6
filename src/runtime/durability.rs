//! Holds back effects until the outbox batches before them are on disk.
//!
//! The core emits a reservation grant's outbox record together with what follows it (the MUC
//! join, the answer to the client). The record must be durable first, or a crash in between
//! would leave a reservation nobody deletes. The outbox thread syncs in the background; these
//! effects wait here meanwhile, in order, instead of the main loop waiting for the disk.

use std::collections::VecDeque;

use crate::core::Effect;

#[derive(Default)]
pub(crate) struct DurabilityGate {
    /// The number of the last outbox batch submitted, and of the last one on disk.
    submitted: u64,
    durable: u64,
    /// Effects, in order, each with the last batch submitted before it.
    held: VecDeque<(u64, Vec<Effect>)>,
}

impl DurabilityGate {
    /// Numbers a new outbox batch (from 1 up); submit it to the writer under that number.
    pub(crate) fn next_batch(&mut self) -> u64 {
        self.submitted += 1;
        self.submitted
    }

    /// `effects` back if they may happen now; otherwise they wait for the batches submitted so
    /// far (also when they have no outbox change themselves: order is kept).
    pub(crate) fn admit(&mut self, effects: Vec<Effect>) -> Option<Vec<Effect>> {
        if self.submitted > self.durable {
            self.held.push_back((self.submitted, effects));
            return None;
        }
        Some(effects)
    }

    /// Every batch up to `batch` is on disk: the effects released by it, in order.
    pub(crate) fn durable(&mut self, batch: u64) -> Vec<Vec<Effect>> {
        self.durable = self.durable.max(batch);
        let mut released = Vec::new();
        while self.held.front().is_some_and(|(after, _)| *after <= self.durable) {
            released.push(self.held.pop_front().expect("checked").1);
        }
        released
    }

    /// Turns' worth of effects waiting.
    pub(crate) fn held(&self) -> usize {
        self.held.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::OutboxChange;

    fn send(name: &str) -> Vec<Effect> {
        vec![Effect::Send(minidom::Element::bare(name, "jabber:component:accept"))]
    }

    fn names(released: Vec<Vec<Effect>>) -> Vec<String> {
        released
            .into_iter()
            .flatten()
            .map(|e| match e {
                Effect::Send(s) => s.name().to_owned(),
                _ => "other".to_owned(),
            })
            .collect()
    }

    #[test]
    fn effects_pass_when_nothing_is_waiting_for_the_disk() {
        let mut gate = DurabilityGate::default();
        assert!(gate.admit(send("a")).is_some());
        assert_eq!(gate.held(), 0);
    }

    #[test]
    fn effects_after_a_batch_wait_for_it_in_order_even_without_changes_of_their_own() {
        let mut gate = DurabilityGate::default();
        let first = gate.next_batch();
        let mut grant = send("join");
        grant.push(Effect::Outbox(OutboxChange::Remove("1".into())));
        assert!(gate.admit(grant).is_none());
        assert!(gate.admit(send("answer")).is_none(), "a later turn must not overtake the held one");
        let second = gate.next_batch();
        assert!(gate.admit(send("late")).is_none());
        assert_eq!(gate.held(), 3);

        assert!(gate.durable(0).is_empty(), "nothing is on disk yet");
        assert_eq!(names(gate.durable(first)), ["join", "other", "answer"]);
        assert_eq!(gate.held(), 1);
        assert_eq!(names(gate.durable(second)), ["late"]);
        assert!(gate.admit(send("free")).is_some(), "all on disk: no more waiting");
    }

    #[test]
    fn a_report_of_a_later_batch_covers_the_earlier_ones_and_an_old_report_changes_nothing() {
        let mut gate = DurabilityGate::default();
        for name in ["a", "b", "c"] {
            gate.next_batch();
            assert!(gate.admit(send(name)).is_none());
        }
        assert_eq!(names(gate.durable(3)), ["a", "b", "c"]);
        assert!(gate.durable(2).is_empty());
        assert!(gate.admit(send("d")).is_some());
    }
}
