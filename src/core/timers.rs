//! One deadline per key, ordered: the next deadline and the keys that are due cost
//! O(log n), whatever the number of conferences, DELETEs and cached refusals.

use std::collections::{BTreeSet, HashMap};
use std::hash::Hash;

use super::Time;

#[derive(Debug)]
pub struct Timers<K: Ord + Hash + Clone> {
    by_time: BTreeSet<(Time, K)>,
    by_key: HashMap<K, Time>,
}

impl<K: Ord + Hash + Clone> Default for Timers<K> {
    fn default() -> Self {
        Timers { by_time: BTreeSet::new(), by_key: HashMap::new() }
    }
}

impl<K: Ord + Hash + Clone> Timers<K> {
    /// Arms (or moves, or with `None` cancels) the timer of `key`.
    pub fn set(&mut self, key: K, at: Option<Time>) {
        match at {
            Some(at) => {
                if let Some(old) = self.by_key.insert(key.clone(), at) {
                    if old == at {
                        return;
                    }
                    self.by_time.remove(&(old, key.clone()));
                }
                self.by_time.insert((at, key));
            }
            None => {
                if let Some(old) = self.by_key.remove(&key) {
                    self.by_time.remove(&(old, key));
                }
            }
        }
    }

    pub fn next(&self) -> Option<Time> {
        self.by_time.first().map(|(at, _)| *at)
    }

    /// Removes and returns the keys whose deadline is `now` or earlier, earliest first.
    pub fn take_due(&mut self, now: Time) -> Vec<K> {
        let mut due = Vec::new();
        while let Some((at, _)) = self.by_time.first() {
            if *at > now {
                break;
            }
            let (_, key) = self.by_time.pop_first().expect("checked above");
            self.by_key.remove(&key);
            due.push(key);
        }
        due
    }

    pub fn contains(&self, key: &K) -> bool {
        self.by_key.contains_key(key)
    }

    pub fn len(&self) -> usize {
        self.by_key.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{Duration, Utc};

    #[test]
    fn moving_and_cancelling_keep_one_entry_per_key() {
        let t0 = Utc::now();
        let mut timers = Timers::default();
        timers.set("a", Some(t0 + Duration::seconds(5)));
        timers.set("b", Some(t0 + Duration::seconds(3)));
        timers.set("a", Some(t0 + Duration::seconds(1)));
        assert_eq!(timers.next(), Some(t0 + Duration::seconds(1)));
        assert_eq!(timers.len(), 2);
        timers.set("a", None);
        assert_eq!(timers.next(), Some(t0 + Duration::seconds(3)));
        timers.set("c", Some(t0));
        assert_eq!(timers.take_due(t0 + Duration::seconds(3)), vec!["c", "b"]);
        assert!(timers.len() == 0 && timers.next().is_none());
    }
}
