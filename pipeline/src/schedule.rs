//! Cron schedules in a civil time zone: when a job fires, exactly once per matching wall-clock time,
//! including on the days clocks change.
//!
//! Expressions are the usual five-field crontab (minute hour day-of-month month day-of-week; Sunday is
//! 0 or 7; names like MON and JAN; when both day fields are restricted, either may match). `croner`
//! parses and matches them; this module decides the instants. It matches against wall-clock (naive)
//! times, each of which exists once, and then places each on the time line: a wall-clock time that
//! the spring change skips (02:30 on 28 March 2027 in Belgrade) fires at the first instant after the
//! gap (03:00 CEST); one the autumn change repeats (02:30 on 31 October 2027) fires at its first
//! occurrence only. So a daily job fires once on every calendar day.

use std::str::FromStr;

use chrono::{DateTime, Duration, LocalResult, NaiveDateTime, TimeZone, Utc};
use chrono_tz::Tz;
use croner::parser::{CronParser, Seconds, Year};
use croner::Cron;

/// A cron expression that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScheduleError {
    #[error("cron expression \"{expression}\": {message} (five fields: minute hour day-of-month month day-of-week, e.g. \"30 2 * * *\")")]
    Expression { expression: String, message: String },
    #[error("unknown time zone \"{0}\" (use an IANA name such as Europe/Belgrade)")]
    TimeZone(String),
}

/// A five-field cron expression read in a time zone.
#[derive(Debug, Clone)]
pub struct Schedule {
    expression: String,
    cron: Cron,
    zone: Tz,
}

/// How far back the search starts: longer than any clock change, so that a wall-clock time repeated
/// by the autumn change is seen (and skipped) rather than fired twice.
const LOOK_BACK_HOURS: i64 = 3;

/// Searches give up after this many wall-clock matches without finding one after the instant.
const MAX_STEPS: usize = 1000;

impl Schedule {
    /// Parses a five-field expression for `zone`.
    pub fn parse(expression: &str, zone: Tz) -> Result<Schedule, ScheduleError> {
        let fields = expression.split_whitespace().count();
        let error = |message: String| ScheduleError::Expression {
            expression: expression.to_string(),
            message,
        };
        if fields != 5 {
            return Err(error(format!("{fields} fields")));
        }
        let cron = CronParser::builder()
            .seconds(Seconds::Disallowed)
            .year(Year::Disallowed)
            .build()
            .parse(expression)
            .map_err(|e| error(e.to_string()))?;
        Ok(Schedule {
            expression: expression.to_string(),
            cron,
            zone,
        })
    }

    /// Parses an expression with the zone given by its IANA name.
    pub fn parse_in(expression: &str, zone: &str) -> Result<Schedule, ScheduleError> {
        let zone = Tz::from_str(zone).map_err(|_| ScheduleError::TimeZone(zone.to_string()))?;
        Schedule::parse(expression, zone)
    }

    pub fn expression(&self) -> &str {
        &self.expression
    }

    pub fn zone(&self) -> Tz {
        self.zone
    }

    /// The first firing strictly after `after`, or `None` if the expression never matches again
    /// (30 February).
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Tz>> {
        let local = after.with_timezone(&self.zone).naive_local();
        let mut cursor = local - Duration::hours(LOOK_BACK_HOURS);
        for _ in 0..MAX_STEPS {
            let wall = self.next_wall_clock(cursor)?;
            let instant = self.place(wall)?;
            if instant.with_timezone(&Utc) > after {
                return Some(instant);
            }
            cursor = wall;
        }
        None
    }

    /// The next `count` firings strictly after `after`.
    pub fn firings(&self, after: DateTime<Utc>, count: usize) -> Vec<DateTime<Tz>> {
        let mut out = Vec::with_capacity(count);
        let mut cursor = after;
        while out.len() < count {
            let Some(next) = self.next_after(cursor) else {
                break;
            };
            cursor = next.with_timezone(&Utc);
            out.push(next);
        }
        out
    }

    /// The latest firing at or before `at` and strictly after `since`: the one slot a scheduler that
    /// was down from `since` to `at` catches up on, however many it missed.
    pub fn missed_since(&self, since: DateTime<Utc>, at: DateTime<Utc>) -> Option<DateTime<Tz>> {
        // Start a little after `at` on the wall clock: after the autumn change, `at` may read an
        // earlier wall-clock time than a firing that has already happened.
        let local = at.with_timezone(&self.zone).naive_local();
        let mut cursor = local + Duration::hours(LOOK_BACK_HOURS);
        for _ in 0..MAX_STEPS {
            let probe = Utc.from_utc_datetime(&cursor);
            let wall = self
                .cron
                .find_previous_occurrence(&probe, true)
                .ok()?
                .naive_utc();
            let instant = self.place(wall)?;
            let utc = instant.with_timezone(&Utc);
            if utc <= since {
                return None;
            }
            if utc <= at {
                return Some(instant);
            }
            cursor = wall - Duration::minutes(1);
        }
        None
    }

    /// The first wall-clock time after `cursor` that the expression matches.
    fn next_wall_clock(&self, cursor: NaiveDateTime) -> Option<NaiveDateTime> {
        // Search in UTC, which has no clock changes: its wall clock is every naive time once.
        let probe = Utc.from_utc_datetime(&cursor);
        self.cron
            .find_next_occurrence(&probe, false)
            .ok()
            .map(|t| t.naive_utc())
    }

    /// The instant a wall-clock firing happens: its only occurrence, its first occurrence when the
    /// autumn change repeats it, or the end of the gap when the spring change skips it.
    fn place(&self, wall: NaiveDateTime) -> Option<DateTime<Tz>> {
        match self.zone.from_local_datetime(&wall) {
            LocalResult::Single(t) => Some(t),
            LocalResult::Ambiguous(first, _) => Some(first),
            LocalResult::None => {
                // Step minute by minute to the first wall-clock time that exists (gaps are an hour).
                let existing = |minutes: i64| {
                    let t = wall + Duration::minutes(minutes);
                    match self.zone.from_local_datetime(&t) {
                        LocalResult::Single(t) => Some(t),
                        LocalResult::Ambiguous(first, _) => Some(first),
                        LocalResult::None => None,
                    }
                };
                let after = (1..=24 * 60).find_map(existing)?;
                if after.date_naive() == wall.date() {
                    return Some(after);
                }
                // A gap that ends at midnight (America/Nuuk jumps from 23:00 to 00:00): firing when
                // it ends would move the job to the next day; fire at the last minute before it.
                (1..=24 * 60).find_map(|m| existing(-m)).or(Some(after))
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use chrono::{Datelike, Timelike};

    fn belgrade(expression: &str) -> Schedule {
        Schedule::parse_in(expression, "Europe/Belgrade").unwrap()
    }

    fn utc(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .unwrap()
            .with_timezone(&Utc)
    }

    #[test]
    fn a_daily_job_fires_once_on_each_day_around_the_spring_change() {
        // 28 March 2027: clocks jump from 02:00 to 03:00; 02:30 does not exist that day.
        let firings = belgrade("30 2 * * *").firings(utc("2027-03-26T12:00:00+01:00"), 4);
        let days: Vec<u32> = firings.iter().map(|t| t.day()).collect();
        assert_eq!(days, [27, 28, 29, 30]);
        assert_eq!((firings[0].hour(), firings[0].minute()), (2, 30));
        assert_eq!(
            firings[1].to_rfc3339(),
            "2027-03-28T03:00:00+02:00",
            "the skipped 02:30 fires when the gap ends"
        );
        assert_eq!(firings[2].to_rfc3339(), "2027-03-29T02:30:00+02:00");
    }

    #[test]
    fn a_daily_job_fires_once_on_each_day_around_the_autumn_change() {
        // 31 October 2027: clocks fall back from 03:00 to 02:00; 02:30 happens twice.
        let schedule = belgrade("30 2 * * *");
        let firings = schedule.firings(utc("2027-10-29T12:00:00+02:00"), 4);
        let rendered: Vec<String> = firings.iter().map(|t| t.to_rfc3339()).collect();
        assert_eq!(
            rendered,
            [
                "2027-10-30T02:30:00+02:00",
                "2027-10-31T02:30:00+02:00",
                "2027-11-01T02:30:00+01:00",
                "2027-11-02T02:30:00+01:00",
            ]
        );
        // Asked again from between the two 02:30s, it does not fire the repeat.
        let between = utc("2027-10-31T02:45:00+02:00");
        assert_eq!(
            schedule.next_after(between).unwrap().to_rfc3339(),
            "2027-11-01T02:30:00+01:00"
        );
    }

    #[test]
    fn every_hour_across_the_autumn_change_fires_each_wall_clock_hour_once() {
        let firings = belgrade("0 * * * *").firings(utc("2027-10-31T00:30:00+02:00"), 4);
        let rendered: Vec<String> = firings.iter().map(|t| t.to_rfc3339()).collect();
        assert_eq!(
            rendered,
            [
                "2027-10-31T01:00:00+02:00",
                "2027-10-31T02:00:00+02:00",
                "2027-10-31T03:00:00+01:00",
                "2027-10-31T04:00:00+01:00",
            ]
        );
    }

    #[test]
    fn crontab_weekdays_and_either_day_field() {
        // Sunday is 0 and 7; Monday to Friday by name.
        let sundays = belgrade("0 9 * * 0").firings(utc("2027-01-01T00:00:00Z"), 2);
        assert!(sundays.iter().all(|t| t.weekday() == chrono::Weekday::Sun));
        let also = belgrade("0 9 * * 7").firings(utc("2027-01-01T00:00:00Z"), 1);
        assert_eq!(also[0], sundays[0]);
        let weekdays = belgrade("0 9 * * MON-FRI").firings(utc("2027-01-01T00:00:00Z"), 5);
        assert!(weekdays
            .iter()
            .all(|t| t.weekday().number_from_monday() <= 5));
        // Day 1 of the month or any Monday (crontab's "either").
        let either = belgrade("0 9 1 * MON").firings(utc("2027-02-01T10:00:00+01:00"), 2);
        assert_eq!(either[0].to_rfc3339(), "2027-02-08T09:00:00+01:00");
    }

    #[test]
    fn a_gap_ending_at_midnight_keeps_the_firing_on_its_day() {
        // America/Nuuk, 28 March 2026: clocks jump from 23:00 (-02) to 00:00 (-01); 23:30 is skipped.
        let nuuk = Schedule::parse_in("30 23 * * *", "America/Nuuk").unwrap();
        let firings = nuuk.firings(utc("2026-03-27T12:00:00-02:00"), 3);
        let days: Vec<u32> = firings.iter().map(|t| t.day()).collect();
        assert_eq!(days, [27, 28, 29], "{firings:?}");
    }

    #[test]
    fn bad_expressions_and_zones_are_named() {
        let six = Schedule::parse_in("0 30 2 * * *", "Europe/Belgrade").unwrap_err();
        assert!(six.to_string().contains("6 fields"), "{six}");
        let bad = Schedule::parse_in("61 2 * * *", "Europe/Belgrade").unwrap_err();
        assert!(bad.to_string().contains("61 2 * * *"), "{bad}");
        let zone = Schedule::parse_in("0 2 * * *", "Europe/Prishtina").unwrap_err();
        assert!(zone.to_string().contains("Europe/Prishtina"), "{zone}");
        // 30 February never comes.
        let never = Schedule::parse_in("0 0 30 2 *", "Europe/Belgrade").unwrap();
        assert!(never.next_after(utc("2027-01-01T00:00:00Z")).is_none());
    }

    #[test]
    fn a_scheduler_down_for_days_catches_up_on_one_slot() {
        let schedule = belgrade("30 2 * * *");
        let missed = schedule
            .missed_since(utc("2027-05-01T12:00:00Z"), utc("2027-05-04T12:00:00Z"))
            .unwrap();
        assert_eq!(missed.to_rfc3339(), "2027-05-04T02:30:00+02:00");
        assert!(schedule
            .missed_since(utc("2027-05-04T12:00:00Z"), utc("2027-05-04T13:00:00Z"))
            .is_none());
    }
}
