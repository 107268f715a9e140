//! The business calendar: weekends plus holidays (R-REL-4).
//!
//! relops counts business days for the feature freeze (go-live − 5 business days), for
//! post-mortem deadlines (3 business days) and for business-hours SLAs. The default holiday
//! set is Germany's nine nationwide public holidays (the customer's playbook is German);
//! extra dates (company holidays, regional holidays) are added in the config file.

use std::collections::BTreeSet;
use std::fmt;
use std::str::FromStr;

use chrono::{Datelike, Days, NaiveDate, Weekday};
use serde::{Deserialize, Serialize};

/// Business days between the feature freeze and go-live.
pub const FREEZE_BUSINESS_DAYS: u32 = 5;

/// Which built-in holiday rules apply.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HolidayRules {
    /// Germany's nationwide public holidays (Neujahr, Karfreitag, Ostermontag,
    /// Tag der Arbeit, Christi Himmelfahrt, Pfingstmontag, Tag der Deutschen Einheit,
    /// 1. and 2. Weihnachtstag).
    #[default]
    #[serde(rename = "de")]
    GermanFederal,
    /// Weekends only (plus any extra dates).
    None,
}

impl FromStr for HolidayRules {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "de" => Ok(Self::GermanFederal),
            "none" => Ok(Self::None),
            other => Err(format!(
                "unknown holiday rules `{other}`: expected `de` (German federal holidays) or `none`"
            )),
        }
    }
}

impl fmt::Display for HolidayRules {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::GermanFederal => "de",
            Self::None => "none",
        })
    }
}

/// Weekends, built-in holidays and extra dates.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessCalendar {
    rules: HolidayRules,
    extra: BTreeSet<NaiveDate>,
}

impl BusinessCalendar {
    pub fn new(rules: HolidayRules, extra: impl IntoIterator<Item = NaiveDate>) -> Self {
        Self {
            rules,
            extra: extra.into_iter().collect(),
        }
    }

    /// The default calendar: weekends and German federal holidays.
    pub fn german_federal() -> Self {
        Self::new(HolidayRules::GermanFederal, [])
    }

    /// The named holiday on `date`, if any (built-in rules or an extra date).
    pub fn holiday(&self, date: NaiveDate) -> Option<&'static str> {
        if self.extra.contains(&date) {
            return Some("configured holiday");
        }
        match self.rules {
            HolidayRules::GermanFederal => german_federal_holiday(date),
            HolidayRules::None => None,
        }
    }

    pub fn is_business_day(&self, date: NaiveDate) -> bool {
        !matches!(date.weekday(), Weekday::Sat | Weekday::Sun) && self.holiday(date).is_none()
    }

    /// The business day `n` business days before `date` (`date` itself never counts).
    pub fn sub_business_days(&self, date: NaiveDate, n: u32) -> NaiveDate {
        self.step(date, n, |d| d.checked_sub_days(Days::new(1)))
    }

    /// The business day `n` business days after `date` (`date` itself never counts).
    pub fn add_business_days(&self, date: NaiveDate, n: u32) -> NaiveDate {
        self.step(date, n, |d| d.checked_add_days(Days::new(1)))
    }

    fn step(
        &self,
        mut date: NaiveDate,
        n: u32,
        next: impl Fn(NaiveDate) -> Option<NaiveDate>,
    ) -> NaiveDate {
        let mut left = n;
        while left > 0 {
            match next(date) {
                Some(d) => date = d,
                None => return date,
            }
            if self.is_business_day(date) {
                left -= 1;
            }
        }
        date
    }

    /// Feature freeze of a release going live on `go_live`: 5 business days before it.
    pub fn freeze_date(&self, go_live: NaiveDate) -> NaiveDate {
        self.sub_business_days(go_live, FREEZE_BUSINESS_DAYS)
    }
}

impl Default for BusinessCalendar {
    fn default() -> Self {
        Self::german_federal()
    }
}

/// Easter Sunday of `year` in the Gregorian calendar (anonymous Gregorian algorithm,
/// Meeus/Jones/Butcher).
pub fn easter_sunday(year: i32) -> NaiveDate {
    let a = year % 19;
    let b = year / 100;
    let c = year % 100;
    let d = b / 4;
    let e = b % 4;
    let f = (b + 8) / 25;
    let g = (b - f + 1) / 3;
    let h = (19 * a + b - d - g + 15) % 30;
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k) % 7;
    let m = (a + 11 * h + 22 * l) / 451;
    let month = (h + l - 7 * m + 114) / 31;
    let day = (h + l - 7 * m + 114) % 31 + 1;
    NaiveDate::from_ymd_opt(year, month as u32, day as u32).expect("Easter is a valid date")
}

fn german_federal_holiday(date: NaiveDate) -> Option<&'static str> {
    let fixed = match (date.month(), date.day()) {
        (1, 1) => Some("Neujahr"),
        (5, 1) => Some("Tag der Arbeit"),
        (10, 3) => Some("Tag der Deutschen Einheit"),
        (12, 25) => Some("1. Weihnachtstag"),
        (12, 26) => Some("2. Weihnachtstag"),
        _ => None,
    };
    if fixed.is_some() {
        return fixed;
    }
    let easter = easter_sunday(date.year());
    match (date - easter).num_days() {
        -2 => Some("Karfreitag"),
        1 => Some("Ostermontag"),
        39 => Some("Christi Himmelfahrt"),
        50 => Some("Pfingstmontag"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn easter_dates() {
        for (year, date) in [
            (2024, "2024-03-31"),
            (2025, "2025-04-20"),
            (2026, "2026-04-05"),
            (2027, "2027-03-28"),
            (2028, "2028-04-16"),
            (2038, "2038-04-25"),
            (2285, "2285-03-22"),
        ] {
            assert_eq!(easter_sunday(year), d(date), "{year}");
        }
    }

    #[test]
    fn german_holidays_2027() {
        let cal = BusinessCalendar::german_federal();
        for (date, name) in [
            ("2027-01-01", "Neujahr"),
            ("2027-03-26", "Karfreitag"),
            ("2027-03-29", "Ostermontag"),
            ("2027-05-01", "Tag der Arbeit"),
            ("2027-05-06", "Christi Himmelfahrt"),
            ("2027-05-17", "Pfingstmontag"),
            ("2027-10-03", "Tag der Deutschen Einheit"),
            ("2027-12-25", "1. Weihnachtstag"),
            ("2027-12-26", "2. Weihnachtstag"),
        ] {
            assert_eq!(cal.holiday(d(date)), Some(name), "{date}");
        }
        assert_eq!(cal.holiday(d("2027-03-25")), None);
    }

    #[test]
    fn freeze_dates() {
        let de = BusinessCalendar::german_federal();
        let none = BusinessCalendar::new(HolidayRules::None, []);
        let cases = [
            // Plain week: Monday go-live, freeze the Monday before.
            (&de, "2027-03-15", "2027-03-08"),
            // Easter 2027: Karfreitag 26 Mar and Ostermontag 29 Mar are skipped.
            (&de, "2027-04-02", "2027-03-24"),
            (&none, "2027-04-02", "2027-03-26"),
            // Christmas and New Year 2026/27: 25/26 Dec fall on Fri/Sat, 1 Jan on Fri.
            (&de, "2027-01-05", "2026-12-28"),
            // Go-live on a Sunday counts back from the Friday.
            (&de, "2027-03-14", "2027-03-08"),
        ];
        for (cal, go_live, freeze) in cases {
            assert_eq!(cal.freeze_date(d(go_live)), d(freeze), "go-live {go_live}");
        }
    }

    #[test]
    fn extra_holidays_are_skipped() {
        let cal = BusinessCalendar::new(HolidayRules::GermanFederal, [d("2027-03-10")]);
        assert_eq!(cal.freeze_date(d("2027-03-15")), d("2027-03-05"));
        assert_eq!(cal.holiday(d("2027-03-10")), Some("configured holiday"));
    }

    #[test]
    fn add_business_days_skips_weekend_and_holidays() {
        let cal = BusinessCalendar::german_federal();
        // Thursday 2027-03-25 + 3 business days: Fri is Karfreitag, Mon Ostermontag.
        assert_eq!(cal.add_business_days(d("2027-03-25"), 3), d("2027-04-01"));
    }

    proptest! {
        #[test]
        fn sub_business_days_counts_exactly_n(days in 0i64..20_000, n in 0u32..30) {
            let cal = BusinessCalendar::german_federal();
            let start = d("2000-01-01") + chrono::Duration::days(days);
            let back = cal.sub_business_days(start, n);
            if n == 0 {
                prop_assert_eq!(back, start);
            } else {
                prop_assert!(back < start);
                prop_assert!(cal.is_business_day(back));
                // `back` is the n-th business day before `start`: n - 1 lie strictly between.
                let between = back.iter_days()
                    .skip(1)
                    .take_while(|x| *x < start)
                    .filter(|x| cal.is_business_day(*x))
                    .count() as u32;
                prop_assert_eq!(between, n - 1);
            }
        }

        #[test]
        fn add_then_sub_returns_to_a_business_day(days in 0i64..20_000, n in 1u32..30) {
            let cal = BusinessCalendar::german_federal();
            let start = d("2000-01-01") + chrono::Duration::days(days);
            prop_assume!(cal.is_business_day(start));
            let fwd = cal.add_business_days(start, n);
            prop_assert_eq!(cal.sub_business_days(fwd, n), start);
        }
    }
}
