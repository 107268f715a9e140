//! Support SLAs (R-CR-6, issue #9): time to first response per ticket priority — Critical
//! 4 h, High 8 h, Normal 24 h by default — counted on a clock per priority: Critical around
//! the clock, High and Normal in working hours (09:00–17:00 Europe/Berlin on business days
//! of the [`BusinessCalendar`] by default). The clock stops while the ticket waits on the
//! customer.
//!
//! Working hours are wall-clock times in the configured time zone, so a DST change moves
//! them in UTC and never shortens or lengthens a working day. Everything here is pure:
//! the ticket store passes in the priority, when the ticket was opened, its paused
//! intervals and the time of the first response; [`SlaClock::assess`] answers when it is due,
//! how much of the budget is used, and whether it is breached or due a warning.

use chrono::{DateTime, Days, Duration, NaiveDate, NaiveTime, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::calendar::BusinessCalendar;

/// A ticket's priority.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Priority {
    Critical,
    High,
    Normal,
}

impl Priority {
    pub const ALL: [Priority; 3] = [Self::Critical, Self::High, Self::Normal];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Critical => "critical",
            Self::High => "high",
            Self::Normal => "normal",
        }
    }
}

impl std::str::FromStr for Priority {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("unknown priority `{s}`: expected critical, high or normal"))
    }
}

/// Which hours a priority's clock runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Coverage {
    /// Every hour of every day.
    AroundTheClock,
    /// Working hours on business days.
    WorkingHours,
}

/// One priority's promise: the first response within `budget` of `coverage` time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Target {
    pub budget: Duration,
    pub coverage: Coverage,
}

/// The working day, as wall-clock times in a time zone.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WorkingHours {
    pub start: NaiveTime,
    pub end: NaiveTime,
    pub tz: Tz,
}

impl Default for WorkingHours {
    /// 09:00–17:00 in Europe/Berlin (the customer's support team).
    fn default() -> Self {
        Self {
            start: NaiveTime::from_hms_opt(9, 0, 0).expect("a time"),
            end: NaiveTime::from_hms_opt(17, 0, 0).expect("a time"),
            tz: chrono_tz::Europe::Berlin,
        }
    }
}

/// Where a ticket stands against its SLA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SlaState {
    /// When the first response is due; `None` while the clock is stopped (waiting on the
    /// customer) or once responded.
    pub due: Option<DateTime<Utc>>,
    /// Clock time used so far (up to the first response, if there was one).
    pub used: Duration,
    /// The budget.
    pub budget: Duration,
    /// Used more than the budget before responding (or still unresponded past it).
    pub breached: bool,
    /// Used 75 % or more of the budget without a response, not yet breached.
    pub warn: bool,
}

/// Share of the budget at which the support channel is warned.
pub const WARN_AT_PERCENT: i64 = 75;

/// Longest stretch searched for working time: ten years of calendar days, so that a
/// calendar without any business day ends the search instead of looping.
const MAX_DAYS: u32 = 3660;

/// The SLA clock: targets per priority, working hours and the business calendar.
#[derive(Debug, Clone)]
pub struct SlaClock {
    pub critical: Target,
    pub high: Target,
    pub normal: Target,
    pub hours: WorkingHours,
    pub calendar: BusinessCalendar,
}

impl Default for SlaClock {
    /// The playbook's SLAs: Critical 4 h around the clock, High 8 h and Normal 24 h of
    /// working hours, on German federal business days.
    fn default() -> Self {
        Self {
            critical: Target {
                budget: Duration::hours(4),
                coverage: Coverage::AroundTheClock,
            },
            high: Target {
                budget: Duration::hours(8),
                coverage: Coverage::WorkingHours,
            },
            normal: Target {
                budget: Duration::hours(24),
                coverage: Coverage::WorkingHours,
            },
            hours: WorkingHours::default(),
            calendar: BusinessCalendar::german_federal(),
        }
    }
}

impl SlaClock {
    pub fn target(&self, p: Priority) -> Target {
        match p {
            Priority::Critical => self.critical,
            Priority::High => self.high,
            Priority::Normal => self.normal,
        }
    }

    /// The working window of local day `day` in UTC, if it is a business day. A start or
    /// end that does not exist locally (inside a DST gap) is taken at the next valid
    /// instant, an ambiguous one (the repeated hour) at its first.
    fn window(&self, day: NaiveDate) -> Option<(DateTime<Utc>, DateTime<Utc>)> {
        if !self.calendar.is_business_day(day) {
            return None;
        }
        let at = |t: NaiveTime| -> Option<DateTime<Utc>> {
            let local = day.and_time(t);
            (0..=120)
                .find_map(|m| {
                    self.hours
                        .tz
                        .from_local_datetime(&(local + Duration::minutes(m)))
                        .earliest()
                })
                .map(|d| d.with_timezone(&Utc))
        };
        let (s, e) = (at(self.hours.start)?, at(self.hours.end)?);
        (s < e).then_some((s, e))
    }

    fn local_day(&self, t: DateTime<Utc>) -> NaiveDate {
        t.with_timezone(&self.hours.tz).date_naive()
    }

    /// Clock time of `coverage` between `from` and `to` (zero when `to` is not later).
    pub fn elapsed(&self, coverage: Coverage, from: DateTime<Utc>, to: DateTime<Utc>) -> Duration {
        if to <= from {
            return Duration::zero();
        }
        if coverage == Coverage::AroundTheClock {
            return to - from;
        }
        let mut total = Duration::zero();
        let mut day = self.local_day(from);
        let last = self.local_day(to);
        while day <= last {
            if let Some((s, e)) = self.window(day) {
                let (a, b) = (s.max(from), e.min(to));
                if b > a {
                    total += b - a;
                }
            }
            match day.checked_add_days(Days::new(1)) {
                Some(d) => day = d,
                None => break,
            }
        }
        total
    }

    /// The instant at which `budget` of `coverage` time, counted from `start`, is used up.
    /// `None` only when the calendar has no working time within ten years.
    pub fn add(
        &self,
        coverage: Coverage,
        start: DateTime<Utc>,
        budget: Duration,
    ) -> Option<DateTime<Utc>> {
        if coverage == Coverage::AroundTheClock {
            return Some(start + budget);
        }
        let mut left = budget;
        let mut day = self.local_day(start);
        for _ in 0..MAX_DAYS {
            if let Some((s, e)) = self.window(day) {
                let from = s.max(start);
                if e > from {
                    if left <= e - from {
                        return Some(from + left);
                    }
                    left -= e - from;
                }
            }
            day = day.checked_add_days(Days::new(1))?;
        }
        None
    }

    /// Where a ticket of priority `p`, opened at `opened`, stands at `now`. `paused`: the
    /// intervals it waited on the customer (an open one has no end); `responded`: its
    /// first response, if any.
    pub fn assess(
        &self,
        p: Priority,
        opened: DateTime<Utc>,
        paused: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
        responded: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> SlaState {
        let target = self.target(p);
        let until = responded.unwrap_or(now).max(opened);
        let mut used = self.elapsed(target.coverage, opened, until);
        for (from, to) in paused {
            let (a, b) = ((*from).max(opened), to.unwrap_or(until).min(until));
            used -= self.elapsed(target.coverage, a, b);
        }
        let used = used.max(Duration::zero());
        let waiting = responded.is_none() && paused.iter().any(|(f, t)| t.is_none() && *f <= now);
        let breached = used > target.budget;
        let due = if responded.is_some() || waiting {
            None
        } else if breached {
            // Already past: due when the budget ran out, found by replaying from `opened`
            // with the pauses — the moment at which `used` crossed the budget.
            self.crossing(target, opened, paused, now)
        } else {
            self.add(target.coverage, now, target.budget - used)
        };
        SlaState {
            due,
            used,
            budget: target.budget,
            breached,
            warn: responded.is_none()
                && !breached
                && used * 100 >= target.budget * WARN_AT_PERCENT as i32,
        }
    }

    /// The instant the clock (with pauses) used up `target.budget`: walk the running
    /// stretches between `opened` and `now` (the pauses cut out, in order) until the
    /// budget is spent inside one.
    fn crossing(
        &self,
        target: Target,
        opened: DateTime<Utc>,
        paused: &[(DateTime<Utc>, Option<DateTime<Utc>>)],
        now: DateTime<Utc>,
    ) -> Option<DateTime<Utc>> {
        let mut cuts: Vec<(DateTime<Utc>, DateTime<Utc>)> = paused
            .iter()
            .map(|(f, t)| ((*f).max(opened), t.unwrap_or(now).min(now)))
            .filter(|(f, t)| t > f)
            .collect();
        cuts.sort();
        let mut left = target.budget;
        let mut at = opened;
        for (from, to) in cuts.into_iter().chain([(now, now)]) {
            if from > at {
                let run = self.elapsed(target.coverage, at, from);
                if left <= run {
                    return self.add(target.coverage, at, left);
                }
                left -= run;
            }
            at = at.max(to);
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Berlin wall-clock time as UTC.
    fn berlin(s: &str) -> DateTime<Utc> {
        let local = chrono::NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M").unwrap();
        chrono_tz::Europe::Berlin
            .from_local_datetime(&local)
            .earliest()
            .unwrap()
            .with_timezone(&Utc)
    }

    /// The due time of a fresh ticket, table-driven over the business-hour edges.
    #[test]
    fn first_response_due() {
        let c = SlaClock::default();
        let cases: &[(&str, Priority, &str, &str)] = &[
            (
                "Critical runs around the clock, weekend or not",
                Priority::Critical,
                "2027-03-13 22:00",
                "2027-03-14 02:00",
            ),
            (
                "High within one working day",
                Priority::High,
                "2027-03-10 09:00",
                "2027-03-10 17:00",
            ),
            (
                "High opened Friday 17:00 waits for Monday",
                Priority::High,
                "2027-03-12 17:00",
                "2027-03-15 17:00",
            ),
            (
                "High opened Friday 16:00: 1 h Friday, 7 h Monday",
                Priority::High,
                "2027-03-12 16:00",
                "2027-03-15 16:00",
            ),
            (
                "High opened Saturday starts Monday 09:00",
                Priority::High,
                "2027-03-13 11:00",
                "2027-03-15 17:00",
            ),
            (
                "High opened before the working day starts at 09:00",
                Priority::High,
                "2027-03-10 06:30",
                "2027-03-10 17:00",
            ),
            (
                "Normal is three working days",
                Priority::Normal,
                "2027-03-10 09:00",
                "2027-03-12 17:00",
            ),
            (
                "Easter: Karfreitag and Ostermontag do not count",
                Priority::High,
                "2027-03-25 13:00",
                "2027-03-30 13:00",
            ),
            (
                "Normal across Christmas and the weekend",
                Priority::Normal,
                "2026-12-23 12:00",
                "2026-12-29 12:00",
            ),
            (
                "DST starts (29 March 2026): still 09:00-17:00 local",
                Priority::High,
                "2026-03-27 13:00",
                "2026-03-30 13:00",
            ),
            (
                "DST ends (25 October 2026): still 09:00-17:00 local",
                Priority::High,
                "2026-10-23 13:00",
                "2026-10-26 13:00",
            ),
        ];
        for (what, p, opened, due) in cases {
            let s = c.assess(*p, berlin(opened), &[], None, berlin(opened));
            assert_eq!(s.due, Some(berlin(due)), "{what}");
            assert!(!s.breached && !s.warn, "{what}");
        }
    }

    /// Working time across the DST change is wall-clock working time: a working day is
    /// 8 h whether it has 23 or 25 hours.
    #[test]
    fn elapsed_across_dst() {
        let c = SlaClock::default();
        let w = Coverage::WorkingHours;
        assert_eq!(
            c.elapsed(w, berlin("2026-03-27 09:00"), berlin("2026-03-31 09:00")),
            Duration::hours(16)
        );
        assert_eq!(
            c.elapsed(w, berlin("2026-10-23 09:00"), berlin("2026-10-27 09:00")),
            Duration::hours(16)
        );
        // Around the clock it is the real elapsed time: 25 h over the night the clocks go back.
        assert_eq!(
            c.elapsed(
                Coverage::AroundTheClock,
                berlin("2026-10-24 12:00"),
                berlin("2026-10-25 12:00")
            ),
            Duration::hours(25)
        );
    }

    /// Waiting on the customer stops the clock; the warning and the breach follow the
    /// time used.
    #[test]
    fn pauses_warnings_and_breaches() {
        let c = SlaClock::default();
        let opened = berlin("2027-03-10 09:00");
        // 6 of 8 working hours used: warned (75 %), due at 17:00.
        let s = c.assess(
            Priority::High,
            opened,
            &[],
            None,
            berlin("2027-03-10 15:00"),
        );
        assert_eq!(
            (s.used, s.warn, s.breached),
            (Duration::hours(6), true, false)
        );
        assert_eq!(s.due, Some(berlin("2027-03-10 17:00")));
        // Waiting on the customer from 10:00 to 14:00: only 2 h used at 15:00, due at 09:00
        // + 8 h of clock = 17:00 + the 4 h paused = Thursday 13:00.
        let paused = [(berlin("2027-03-10 10:00"), Some(berlin("2027-03-10 14:00")))];
        let s = c.assess(
            Priority::High,
            opened,
            &paused,
            None,
            berlin("2027-03-10 15:00"),
        );
        assert_eq!((s.used, s.warn), (Duration::hours(2), false));
        assert_eq!(s.due, Some(berlin("2027-03-11 13:00")));
        // Still waiting: no due time, the clock stands.
        let waiting = [(berlin("2027-03-10 10:00"), None)];
        let s = c.assess(
            Priority::High,
            opened,
            &waiting,
            None,
            berlin("2027-03-12 15:00"),
        );
        assert_eq!(
            (s.due, s.used, s.breached),
            (None, Duration::hours(1), false)
        );
        // Unanswered past the budget: breached, and the due time is when it ran out.
        let s = c.assess(
            Priority::High,
            opened,
            &[],
            None,
            berlin("2027-03-11 10:00"),
        );
        assert!(s.breached && !s.warn);
        assert_eq!(s.due, Some(berlin("2027-03-10 17:00")));
        // Breached after a pause: it ran out 8 clock hours in, the pause not counted.
        let s = c.assess(
            Priority::High,
            opened,
            &paused,
            None,
            berlin("2027-03-11 15:00"),
        );
        assert_eq!((s.used, s.breached), (Duration::hours(10), true));
        assert_eq!(s.due, Some(berlin("2027-03-11 13:00")));
        // Answered in time: not breached however late it is now; no due time.
        let s = c.assess(
            Priority::High,
            opened,
            &[],
            Some(berlin("2027-03-10 16:00")),
            berlin("2027-03-20 10:00"),
        );
        assert_eq!(
            (s.due, s.used, s.breached, s.warn),
            (None, Duration::hours(7), false, false)
        );
        // Answered late: breached for good.
        let s = c.assess(
            Priority::Critical,
            opened,
            &[],
            Some(berlin("2027-03-10 13:30")),
            berlin("2027-03-10 14:00"),
        );
        assert!(s.breached);
    }

    #[test]
    fn a_calendar_without_working_time_ends_the_search() {
        let c = SlaClock {
            hours: WorkingHours {
                start: NaiveTime::from_hms_opt(17, 0, 0).unwrap(),
                end: NaiveTime::from_hms_opt(9, 0, 0).unwrap(),
                tz: chrono_tz::Europe::Berlin,
            },
            ..SlaClock::default()
        };
        assert_eq!(
            c.add(
                Coverage::WorkingHours,
                berlin("2027-03-10 09:00"),
                Duration::hours(8)
            ),
            None
        );
        assert_eq!("high".parse::<Priority>(), Ok(Priority::High));
        assert!("urgent".parse::<Priority>().is_err());
    }
}
