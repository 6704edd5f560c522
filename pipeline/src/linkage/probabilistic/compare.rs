//! Comparison of two records: the levels of agreement per field (names, father's name, birth, sex,
//! place, personal number, event date, activity) that the model weighs.

use std::collections::HashMap;

use super::ProbabilisticSettings;
use crate::linkage::LinkRecord;

/// Comparisons and their number of levels (level 0 = disagree; higher = closer agreement).
pub(super) const COMPARISONS: [(&str, usize); 9] = [
    ("given_name", 4),
    ("surname", 4),
    ("father_name", 3),
    ("birth", 7),
    ("sex", 2),
    ("place", 3),
    ("personal_number", 2),
    ("event_date", 5),
    ("activity", 2),
];
pub(super) const K: usize = COMPARISONS.len();
/// A comparison that cannot be made (a value is missing on either side).
pub(super) const NULL: u8 = u8::MAX;

pub(super) type Gamma = [u8; K];

/// A record with its comparison keys computed once.
#[derive(Debug, Clone)]
pub(super) struct Prepared<'a> {
    pub(super) record: &'a LinkRecord,
    pub(super) surname_stem: &'a str,
}

impl<'a> Prepared<'a> {
    pub(super) fn new(record: &'a LinkRecord) -> Prepared<'a> {
        Prepared {
            record,
            surname_stem: stem(&record.surname_key),
        }
    }

    /// Given name and surname stem, the key of full-name frequencies.
    pub(super) fn full_name(&self) -> (&'a str, &'a str) {
        (self.record.given_key.as_str(), self.surname_stem)
    }
}

/// Name comparison levels, remembered: a register compares the same two spellings many times.
pub(super) struct NameLevels<'a> {
    settings: ProbabilisticSettings,
    memo: HashMap<(&'a str, &'a str), u8>,
}

impl<'a> NameLevels<'a> {
    pub(super) fn new(settings: &ProbabilisticSettings) -> NameLevels<'a> {
        NameLevels {
            settings: settings.clone(),
            memo: HashMap::new(),
        }
    }

    /// [`name_level`] of `a` and `b`.
    pub(super) fn level(&mut self, a: &'a str, b: &'a str) -> u8 {
        if a.is_empty() || b.is_empty() {
            return NULL;
        }
        if a == b {
            return 3;
        }
        let key = if a < b { (a, b) } else { (b, a) };
        let settings = &self.settings;
        *self
            .memo
            .entry(key)
            .or_insert_with(|| name_level(key.0, key.1, settings))
    }
}

/// Albanian surnames come with and without the definite -i (Hasan / Hasani).
pub(super) fn stem(surname: &str) -> &str {
    match surname.strip_suffix('i') {
        Some(s) if s.chars().count() >= 4 => s,
        _ => surname,
    }
}

pub(super) fn name_level(a: &str, b: &str, s: &ProbabilisticSettings) -> u8 {
    if a.is_empty() || b.is_empty() {
        return NULL;
    }
    if a == b {
        return 3;
    }
    let similarity = strsim::jaro_winkler(a, b);
    if similarity >= s.name_close {
        return 2;
    }
    // Jaro-Winkler is harsh on short names: Enis / Enia is one keystroke, yet 0.88.
    let shorter = a.chars().count().min(b.chars().count());
    let edits = strsim::osa_distance(a, b);
    if edits <= 1 && shorter >= 4 {
        2
    } else if similarity >= s.name_similar || (edits <= 2 && shorter >= 4) {
        1
    } else {
        0
    }
}

/// Birth comparison levels, weakest first:
/// 0 cannot be one child (years two or more apart); 1 two full dates a year apart; 2 two full dates in
/// the same year but with another day and month; 3 a year apart where a side knows only a year or an
/// age (estimated ages are often a year off); 4 compatible years where a side knows only a year or an
/// age; 5 two full dates a typo apart (same year and month, or day, or day and month swapped, or the
/// same day and month a year apart); 6 the same date.
pub(super) fn birth_level(a: &LinkRecord, b: &LinkRecord) -> u8 {
    use chrono::Datelike;
    if let (Some(x), Some(y)) = (a.birth_date, b.birth_date) {
        if x == y {
            return 6;
        }
        let swapped = x.day() == y.month() && x.month() == y.day();
        let year_typo =
            (x.year() - y.year()).abs() == 1 && x.month() == y.month() && x.day() == y.day();
        let same_year_close =
            x.year() == y.year() && (x.month() == y.month() || x.day() == y.day() || swapped);
        if year_typo || same_year_close {
            return 5;
        }
        return match (x.year() - y.year()).abs() {
            0 => 2,
            1 => 1,
            _ => 0,
        };
    }
    match (a.birth_years, b.birth_years) {
        (Some((a0, a1)), Some((b0, b1))) => match (b0 - a1).max(a0 - b1) {
            g if g <= 0 => 4,
            1 => 3,
            _ => 0,
        },
        _ => NULL,
    }
}

/// The comparison vector of two records.
pub(super) fn compare<'a>(a: &Prepared<'a>, b: &Prepared<'a>, names: &mut NameLevels<'a>) -> Gamma {
    let (ra, rb): (&'a LinkRecord, &'a LinkRecord) = (a.record, b.record);
    let (sa, sb) = (a.surname_stem, b.surname_stem);
    // Given name and surname may be swapped on one side: take the better reading.
    let straight = (
        names.level(&ra.given_key, &rb.given_key),
        names.level(sa, sb),
    );
    let swapped = (
        names.level(&ra.given_key, sb),
        names.level(sa, &rb.given_key),
    );
    let total = |(g, n): (u8, u8)| u16::from(g.min(3)) + u16::from(n.min(3));
    let (given, surname) =
        if swapped.0 != NULL && swapped.1 != NULL && total(swapped) > total(straight) + 1 {
            swapped
        } else {
            straight
        };
    let same = |x: &Option<String>, y: &Option<String>| match (x, y) {
        (Some(x), Some(y)) => u8::from(x == y),
        _ => NULL,
    };
    let place = match (&ra.municipality, &rb.municipality) {
        (Some(x), Some(y)) if x == y => 2,
        _ => match (&ra.region, &rb.region) {
            (Some(x), Some(y)) => u8::from(x == y),
            _ => NULL,
        },
    };
    let father = match names.level(&ra.father_key, &rb.father_key) {
        NULL => NULL,
        3 => 2,
        l if l >= 1 => 1,
        _ => 0,
    };
    [
        given,
        surname,
        father,
        birth_level(ra, rb),
        same(&ra.sex, &rb.sex),
        place,
        same(&ra.personal_number, &rb.personal_number),
        event_level(ra, rb),
        same(&ra.activity, &rb.activity),
    ]
}

/// How close in time two institutions met the child, weakest first: 0 more than a year apart; 1
/// within a year; 2 within 180 days; 3 within 60 days; 4 within 14 days.
pub(super) fn event_level(a: &LinkRecord, b: &LinkRecord) -> u8 {
    let (Some(x), Some(y)) = (a.event_date, b.event_date) else {
        return NULL;
    };
    match (x - y).num_days().abs() {
        0..=14 => 4,
        15..=60 => 3,
        61..=180 => 2,
        181..=365 => 1,
        _ => 0,
    }
}
