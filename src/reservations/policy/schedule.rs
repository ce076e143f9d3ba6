//! Occurrence arithmetic: where the `k`-th occurrence of a meeting falls, and which `k` is
//! nearest a given instant — computed directly, never by walking from the first occurrence,
//! so a weekly meeting booked in 1990 costs the same as one booked yesterday.
//!
//! Occurrence 0 is the booking itself (`start`..`end`, exactly as stored). Occurrence `k ≥ 1`
//! of a weekly meeting is the booking's *local* start and end moved by `k × interval × 7`
//! calendar days in the meeting's time zone, then resolved to an instant with jiff's
//! "compatible" disambiguation: a wall-clock time in a spring-forward gap moves forward by the
//! gap (02:30 → 03:30 in Europe/Berlin), one in a fall-back fold takes the earlier instant.
//! So a 14:00 Berlin meeting stays at 14:00 when the clocks change, which is what the people
//! in it expect. If the resolved end is not after the resolved start (only possible when a
//! gap swallows the start), the end is the start plus the booking's length instead.
//!
//! Why the index search is exact without iterating: every occurrence lies within `Δ` of
//! "occurrence 0 plus `k` periods", where `Δ` is at most the largest difference of two UTC
//! offsets (jiff bounds offsets to ±26 h, so `Δ < 52 h`), and a period is at least a week
//! (168 h), so `Δ < period / 2`. Dividing the distance by the period therefore lands within
//! one index of the answer, and checking the two or three neighbours finds it.

use jiff::civil::DateTime;
use jiff::tz::TimeZone;
use jiff::{SignedDuration, Span, Timestamp};

use crate::reservations::model::{Meeting, Recurrence};

/// The time zone used when a meeting's zone is unknown to the system tzdb (the booking
/// checks refuse such zones, so this only matters for records written by other means).
pub(crate) const FALLBACK_TIME_ZONE: &str = "UTC";

/// One meeting's occurrences, ready for index arithmetic.
pub(crate) struct Schedule {
    pub(crate) tz: TimeZone,
    /// The zone's name as shown to people: the meeting's own (canonical spelling), or
    /// [`FALLBACK_TIME_ZONE`].
    pub(crate) tz_name: String,
    /// How long before each start the room may open; negative values count as 0.
    pub(crate) early_join: SignedDuration,
    start: Timestamp,
    end: Timestamp,
    start_civil: DateTime,
    end_civil: DateTime,
    repeat: Option<Repeat>,
}

struct Repeat {
    /// Calendar days between two occurrences (`7 × interval`, interval 0 counted as 1).
    step_days: i64,
    /// The same in seconds, for the index estimate only.
    period_secs: i64,
    /// Occurrences after the first must start no later than this.
    until: Option<Timestamp>,
}

impl Schedule {
    /// `None` when the meeting has no occurrence at all (its end is not after its start:
    /// the booking checks refuse that, but the policy must not trip over it).
    ///
    /// Lenient on purpose, because the policy runs on whatever is stored: an unknown zone
    /// counts as UTC, a negative early join as none, a weekly interval of 0 as 1, and an
    /// `until` before the start leaves just the first occurrence.
    pub(crate) fn new(meeting: &Meeting) -> Option<Schedule> {
        if meeting.end <= meeting.start {
            return None;
        }
        let (tz, tz_name) = match TimeZone::get(&meeting.time_zone) {
            // The canonical spelling: jiff finds `europe/berlin` too, but texts say `Europe/Berlin`.
            Ok(tz) => {
                let name = tz.iana_name().unwrap_or(&meeting.time_zone).to_owned();
                (tz, name)
            }
            Err(_) => (TimeZone::UTC, FALLBACK_TIME_ZONE.to_owned()),
        };
        let early_join = if meeting.early_join.is_negative() { SignedDuration::ZERO } else { meeting.early_join };
        let repeat = meeting.recurrence.map(|Recurrence::Weekly { interval, until }| {
            let step_days = 7 * i64::from(interval.max(1));
            Repeat { step_days, period_secs: step_days * 86_400, until }
        });
        Some(Schedule {
            start_civil: meeting.start.to_zoned(tz.clone()).datetime(),
            end_civil: meeting.end.to_zoned(tz.clone()).datetime(),
            tz,
            tz_name,
            early_join,
            start: meeting.start,
            end: meeting.end,
            repeat,
        })
    }

    /// Occurrence `k`, ignoring `until`; `None` past the end of representable time.
    fn raw(&self, k: i64) -> Option<(Timestamp, Timestamp)> {
        if k == 0 {
            return Some((self.start, self.end));
        }
        let repeat = self.repeat.as_ref()?;
        if k < 0 {
            return None;
        }
        let days = Span::new().try_days(k.checked_mul(repeat.step_days)?).ok()?;
        let start = self.resolve(self.start_civil.checked_add(days).ok()?)?;
        let civil_end = self.end_civil.checked_add(days).ok().and_then(|dt| self.resolve(dt));
        let end = match civil_end {
            Some(end) if end > start => end,
            _ => start.checked_add(self.end.duration_since(self.start)).ok()?,
        };
        Some((start, end))
    }

    fn resolve(&self, dt: DateTime) -> Option<Timestamp> {
        self.tz.to_ambiguous_timestamp(dt).compatible().ok()
    }

    /// Occurrence `k` if the meeting has one (`until` applied).
    pub(crate) fn nth(&self, k: i64) -> Option<(Timestamp, Timestamp)> {
        let occurrence = self.raw(k)?;
        match self.repeat.as_ref().and_then(|r| r.until) {
            Some(until) if k > 0 && occurrence.0 > until => None,
            _ => Some(occurrence),
        }
    }

    /// The last occurrence starting at or before `t`.
    pub(crate) fn last_starting_at_or_before(&self, t: Timestamp) -> Option<i64> {
        if self.start > t {
            return None;
        }
        let Some(repeat) = self.repeat.as_ref() else { return Some(0) };
        let t = match repeat.until {
            Some(until) if until < t => until,
            _ => t,
        };
        if t < self.start {
            return Some(0);
        }
        let n = periods_between(self.start, t, repeat.period_secs);
        // The answer is n - 1, n or n + 1 (module docs)…
        let found = [n.saturating_add(1), n, n.saturating_sub(1)]
            .into_iter()
            .filter(|&k| k >= 0)
            .find(|&k| self.raw(k).is_some_and(|(start, _)| start <= t));
        // … unless those occurrences do not exist because their end is past the last instant
        // jiff can represent (year 9999): then the answer is the last occurrence that does
        // exist, found by bisection (existence is monotonic, and occurrence 0 exists).
        Some(found.unwrap_or_else(|| self.last_existing_below(n.saturating_sub(1))))
    }

    /// The largest `k < limit` whose occurrence is representable (`0` if none is).
    fn last_existing_below(&self, limit: i64) -> i64 {
        let (mut lo, mut hi) = (0, limit.max(1)); // raw(lo) exists; raw(hi) is not known to
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            if self.raw(mid).is_some() {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        lo
    }

    /// The first occurrence ending after `t`.
    pub(crate) fn first_ending_after(&self, t: Timestamp) -> Option<i64> {
        if self.end > t {
            return Some(0);
        }
        let repeat = self.repeat.as_ref()?;
        let n = periods_between(self.end, t, repeat.period_secs);
        // The answer is n, n + 1 or n + 2 (module docs); one more for slack.
        for k in n..n.saturating_add(4) {
            let (_, end) = self.raw(k)?;
            if end > t {
                return self.nth(k).map(|_| k);
            }
        }
        None
    }
}

/// Whole periods from `from` to `to` (`from <= to`), rounded down.
fn periods_between(from: Timestamp, to: Timestamp, period_secs: i64) -> i64 {
    let secs = i128::from(to.as_second()) - i128::from(from.as_second());
    i64::try_from(secs.max(0) / i128::from(period_secs.max(1))).unwrap_or(i64::MAX)
}
