//! The canonical data model: where a record came from (`Provenance`), what it says once mapped
//! (`CanonicalCase`), and dates that may be known only in part (`PartialDate`).

use std::fmt;

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

/// Where a record came from: source, file, and the row, line or JSON pointer inside the file.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub struct Provenance {
    pub source: String,
    pub file: String,
    /// Sort key of the location inside the file (row or line number, element index).
    pub ordinal: u64,
    /// The location as a person reads it: "row 17", "line 3", "/data/inspections/4".
    pub location: String,
}

/// A date of birth known fully, to the month, or only to the year.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PartialDate {
    pub year: i32,
    pub month: Option<u32>,
    pub day: Option<u32>,
}

impl PartialDate {
    /// A full date.
    pub fn full(date: NaiveDate) -> PartialDate {
        PartialDate {
            year: date.year(),
            month: Some(date.month()),
            day: Some(date.day()),
        }
    }

    /// The full date, if day and month are known.
    pub fn as_full(&self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.month?, self.day?)
    }

    /// `"full"`, `"month"` or `"year"`.
    pub fn precision(&self) -> &'static str {
        match (self.month, self.day) {
            (Some(_), Some(_)) => "full",
            (Some(_), None) => "month",
            _ => "year",
        }
    }

    /// The earliest day the date can be.
    pub fn earliest(&self) -> Option<NaiveDate> {
        NaiveDate::from_ymd_opt(self.year, self.month.unwrap_or(1), self.day.unwrap_or(1))
    }

    /// Age in whole years at `on`; for partial dates the youngest age the child can be.
    pub fn age_at(&self, on: NaiveDate) -> Option<i64> {
        let (month, day) = match (self.month, self.day) {
            (Some(m), Some(d)) => (m, d),
            (Some(m), None) => (m, last_day_of_month(self.year, m)),
            _ => (12, 31),
        };
        let mut age = i64::from(on.year()) - i64::from(self.year);
        if (on.month(), on.day()) < (month, day) {
            age -= 1;
        }
        // Born in the event's year or month, on an unknown day: not yet one, not minus one.
        if age < 0 && self.earliest().is_some_and(|e| e <= on) {
            age = 0;
        }
        Some(age)
    }
}

fn last_day_of_month(year: i32, month: u32) -> u32 {
    (28..=31)
        .rev()
        .find(|&d| NaiveDate::from_ymd_opt(year, month, d).is_some())
        .unwrap_or(28)
}

impl fmt::Display for PartialDate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.month, self.day) {
            (Some(m), Some(d)) => write!(f, "{:04}-{m:02}-{d:02}", self.year),
            (Some(m), None) => write!(f, "{:04}-{m:02}", self.year),
            _ => write!(f, "{:04}", self.year),
        }
    }
}

impl Serialize for PartialDate {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// One source record in the canonical model, after mapping. Direct identifiers (names, personal
/// number, date of birth) are here for linkage only and never published.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct CanonicalCase {
    pub record_id: Option<String>,
    pub given_name: Option<String>,
    pub father_name: Option<String>,
    pub surname: Option<String>,
    /// `M` or `F`.
    pub sex: Option<String>,
    pub birth_date: Option<PartialDate>,
    /// Age in years as reported (often estimated) at the event.
    pub age: Option<u32>,
    pub personal_number: Option<String>,
    /// Internal municipality code (reference/municipalities.csv).
    pub municipality: Option<String>,
    /// Region code from the configured crosswalk.
    pub region: Option<String>,
    pub community: Option<String>,
    pub activity: Option<String>,
    /// ILO C182 Art. 3 category (a–d).
    pub worst_form: Option<String>,
    pub hazardous: Option<bool>,
    pub trafficking: Option<bool>,
    pub hours_per_week: Option<f64>,
    pub nace: Option<String>,
    /// Identification, referral or inspection date.
    pub event_date: Option<NaiveDate>,
    pub case_status: Option<String>,
}

/// How an age at the event was obtained.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AgeBasis {
    BirthDate,
    BirthYear,
    Reported,
    Unknown,
}

impl AgeBasis {
    pub fn as_str(self) -> &'static str {
        match self {
            AgeBasis::BirthDate => "birth_date",
            AgeBasis::BirthYear => "birth_year",
            AgeBasis::Reported => "reported_age",
            AgeBasis::Unknown => "unknown",
        }
    }
}

impl CanonicalCase {
    /// Age in whole years at the event, and how it was obtained.
    pub fn age_at_event(&self) -> (Option<i64>, AgeBasis) {
        if let (Some(birth), Some(event)) = (self.birth_date, self.event_date) {
            let basis = if birth.as_full().is_some() {
                AgeBasis::BirthDate
            } else {
                AgeBasis::BirthYear
            };
            return (birth.age_at(event), basis);
        }
        match self.age {
            Some(age) => (Some(i64::from(age)), AgeBasis::Reported),
            None => (None, AgeBasis::Unknown),
        }
    }

    /// Number of filled fields, used as the "most complete" tie-breaker.
    pub fn completeness(&self) -> usize {
        [
            self.given_name.is_some(),
            self.father_name.is_some(),
            self.surname.is_some(),
            self.sex.is_some(),
            self.birth_date.is_some(),
            self.age.is_some(),
            self.personal_number.is_some(),
            self.municipality.is_some(),
            self.community.is_some(),
            self.activity.is_some(),
            self.event_date.is_some(),
        ]
        .iter()
        .filter(|x| **x)
        .count()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    #[test]
    fn age_counts_whole_years_and_birthdays() {
        let birth = PartialDate::full(date(2010, 5, 12));
        assert_eq!(birth.age_at(date(2024, 5, 11)), Some(13));
        assert_eq!(birth.age_at(date(2024, 5, 12)), Some(14));
        let year_only = PartialDate {
            year: 2010,
            month: None,
            day: None,
        };
        assert_eq!(year_only.age_at(date(2024, 6, 1)), Some(13));
        assert_eq!(year_only.to_string(), "2010");
        let this_year = PartialDate {
            year: 2024,
            month: None,
            day: None,
        };
        assert_eq!(this_year.age_at(date(2024, 6, 1)), Some(0));
    }
}
