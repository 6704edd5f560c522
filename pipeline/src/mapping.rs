//! Declarative per-source mapping (`mappings/*.toml`): source column → canonical field, value maps,
//! date formats (dd.mm.yyyy first, never mm.dd), Excel serial dates, partial dates and age-only records.

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;
use serde_json::Value;

use crate::config::{read_toml, ConfigError};
use crate::model::{CanonicalCase, PartialDate};
use crate::reference::{PlaceMatch, Reference};

/// A canonical field a source column can be mapped to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Field {
    RecordId,
    GivenName,
    FatherName,
    Surname,
    Sex,
    BirthDate,
    Age,
    PersonalNumber,
    Municipality,
    Community,
    Activity,
    Trafficking,
    Hazardous,
    HoursPerWeek,
    Nace,
    EventDate,
    CaseStatus,
}

impl Field {
    /// Every field, in canonical order.
    pub const ALL: [Field; 17] = [
        Field::RecordId,
        Field::GivenName,
        Field::FatherName,
        Field::Surname,
        Field::Sex,
        Field::BirthDate,
        Field::Age,
        Field::PersonalNumber,
        Field::Municipality,
        Field::Community,
        Field::Activity,
        Field::Trafficking,
        Field::Hazardous,
        Field::HoursPerWeek,
        Field::Nace,
        Field::EventDate,
        Field::CaseStatus,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Field::RecordId => "record_id",
            Field::GivenName => "given_name",
            Field::FatherName => "father_name",
            Field::Surname => "surname",
            Field::Sex => "sex",
            Field::BirthDate => "birth_date",
            Field::Age => "age",
            Field::PersonalNumber => "personal_number",
            Field::Municipality => "municipality",
            Field::Community => "community",
            Field::Activity => "activity",
            Field::Trafficking => "trafficking",
            Field::Hazardous => "hazardous",
            Field::HoursPerWeek => "hours_per_week",
            Field::Nace => "nace",
            Field::EventDate => "event_date",
            Field::CaseStatus => "case_status",
        }
    }

    /// The field named `name` in rules and mappings.
    pub fn parse(name: &str) -> Option<Field> {
        Field::ALL.into_iter().find(|f| f.as_str() == name)
    }
}

impl fmt::Display for Field {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a present value could not be mapped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum IssueKind {
    /// Not readable as the field's type (an impossible date, a non-number age).
    Unparseable,
    /// Readable but not in the reference list or value map.
    Unknown,
    /// Fits several reference entries (e.g. "Mitrovica" alone).
    Ambiguous,
}

/// A value that could not be mapped; it becomes a finding through the rule for (field, kind).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct MappingIssue {
    pub field: Field,
    pub kind: IssueKind,
    /// The source column it came from.
    pub column: String,
}

/// Date reading settings of a source.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DateSettings {
    /// chrono formats, tried in order.
    pub formats: Vec<String>,
    /// Accept numbers as Excel serial dates (1900 date system).
    pub excel_serial: bool,
}

impl Default for DateSettings {
    fn default() -> Self {
        DateSettings {
            formats: vec![
                "%d.%m.%Y".to_string(),
                "%d.%m.%Y.".to_string(),
                "%Y-%m-%d".to_string(),
            ],
            excel_serial: true,
        }
    }
}

/// A source's mapping file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mapping {
    /// Canonical field → source column (dotted path for nested JSON).
    pub fields: BTreeMap<Field, String>,
    #[serde(default)]
    pub dates: DateSettings,
    /// Per field: source value → value the reference lists understand.
    #[serde(default)]
    pub values: BTreeMap<Field, BTreeMap<String, String>>,
}

/// A record in the canonical model plus whatever could not be mapped.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Mapped {
    pub case: CanonicalCase,
    pub issues: Vec<MappingIssue>,
}

impl Mapping {
    /// Loads a mapping file.
    pub fn load(path: &Path) -> Result<Mapping, ConfigError> {
        read_toml(path)
    }

    /// Maps one raw record.
    pub fn map(&self, record: &serde_json::Map<String, Value>, reference: &Reference) -> Mapped {
        let mut mapper = Mapper {
            mapping: self,
            record,
            reference,
            issues: Vec::new(),
        };
        let case = mapper.case();
        let mut issues = mapper.issues;
        issues.sort();
        Mapped { case, issues }
    }
}

struct Mapper<'a> {
    mapping: &'a Mapping,
    record: &'a serde_json::Map<String, Value>,
    reference: &'a Reference,
    issues: Vec<MappingIssue>,
}

impl Mapper<'_> {
    fn case(&mut self) -> CanonicalCase {
        let mut case = CanonicalCase {
            record_id: self.text(Field::RecordId),
            given_name: self.text(Field::GivenName),
            father_name: self.text(Field::FatherName),
            surname: self.text(Field::Surname),
            sex: self.coded(Field::Sex),
            birth_date: self.partial_date(Field::BirthDate),
            age: self.whole_number(Field::Age),
            personal_number: self.personal_number(),
            community: self.coded(Field::Community),
            activity: self.coded(Field::Activity),
            trafficking: self.boolean(Field::Trafficking),
            hazardous: self.boolean(Field::Hazardous),
            hours_per_week: self.number(Field::HoursPerWeek),
            nace: self.text(Field::Nace),
            event_date: self.full_date(Field::EventDate),
            case_status: self.text(Field::CaseStatus),
            ..CanonicalCase::default()
        };
        self.place(&mut case);
        self.derive(&mut case);
        case
    }

    /// Worst form and hazard from the activity; trafficking makes it category (a).
    fn derive(&self, case: &mut CanonicalCase) {
        let activity = case
            .activity
            .as_deref()
            .and_then(|code| self.reference.activity_by_code(code));
        if case.hazardous.is_none() {
            case.hazardous = activity.map(|a| a.hazardous);
        }
        case.worst_form = if case.trafficking == Some(true) {
            Some("a".to_string())
        } else {
            activity
                .map(|a| a.worst_form.clone())
                .filter(|w| !w.is_empty())
        };
    }

    fn column(&self, field: Field) -> Option<&str> {
        self.mapping.fields.get(&field).map(String::as_str)
    }

    fn raw(&self, field: Field) -> Option<&Value> {
        let column = self.column(field)?;
        let current = self.record.get(column).or_else(|| {
            // Dotted path into nested objects.
            let mut parts = column.split('.');
            let first = self.record.get(parts.next()?)?;
            parts.try_fold(first, |v, p| v.get(p))
        })?;
        if let Value::String(s) = current {
            if s.trim().is_empty() {
                return None;
            }
        }
        if current.is_null() {
            return None;
        }
        Some(current)
    }

    fn issue(&mut self, field: Field, kind: IssueKind) {
        let column = self.column(field).unwrap_or_default().to_string();
        self.issues.push(MappingIssue {
            field,
            kind,
            column,
        });
    }

    /// The value as trimmed text after the field's value map.
    fn text(&self, field: Field) -> Option<String> {
        let raw = match self.raw(field)? {
            Value::String(s) => s.trim().to_string(),
            Value::Number(n) => number_text(n),
            Value::Bool(b) => b.to_string(),
            other => other.to_string(),
        };
        let mapped = self.value_map(field, &raw).unwrap_or(raw);
        if mapped.is_empty() {
            None
        } else {
            Some(mapped)
        }
    }

    fn value_map(&self, field: Field, raw: &str) -> Option<String> {
        let map = self.mapping.values.get(&field)?;
        let folder = &self.reference.folder;
        let key = folder.fold(raw);
        map.iter()
            .find(|(from, _)| folder.fold(from) == key)
            .map(|(_, to)| to.clone())
    }

    fn coded(&mut self, field: Field) -> Option<String> {
        let text = self.text(field)?;
        let found = match field {
            Field::Sex => self.reference.sex(&text).map(|e| e.code.clone()),
            Field::Community => self.reference.community(&text).map(|e| e.code.clone()),
            Field::Activity => self.reference.activity(&text).map(|a| a.code.clone()),
            _ => Some(text),
        };
        if found.is_none() {
            self.issue(field, IssueKind::Unknown);
        }
        found
    }

    fn place(&mut self, case: &mut CanonicalCase) {
        let Some(text) = self.text(Field::Municipality) else {
            return;
        };
        match self.reference.place(&text) {
            PlaceMatch::Known(m) => {
                case.region = self.reference.region(&m.code).map(str::to_string);
                case.municipality = Some(m.code.clone());
            }
            PlaceMatch::Ambiguous(a) => {
                // The region is known when every candidate lies in the same one (by the configured
                // crosswalk): "Mitrovica" is South or North, but Mitrovicë region either way.
                let regions: std::collections::BTreeSet<&str> = a
                    .candidates
                    .iter()
                    .filter_map(|c| self.reference.region(c))
                    .collect();
                case.region = match regions.len() {
                    1 => regions.first().map(|r| (*r).to_string()),
                    _ => None,
                };
                self.issue(Field::Municipality, IssueKind::Ambiguous);
            }
            PlaceMatch::Unknown => self.issue(Field::Municipality, IssueKind::Unknown),
        }
    }

    fn boolean(&mut self, field: Field) -> Option<bool> {
        let text = self.text(field)?;
        let value = match self.reference.folder.fold(&text).as_str() {
            "true" | "po" | "yes" | "da" | "1" | "y" | "x" => Some(true),
            "false" | "jo" | "no" | "ne" | "0" | "n" => Some(false),
            _ => None,
        };
        if value.is_none() {
            self.issue(field, IssueKind::Unparseable);
        }
        value
    }

    fn number(&mut self, field: Field) -> Option<f64> {
        let value = match self.raw(field)? {
            Value::Number(n) => n.as_f64(),
            _ => self
                .text(field)
                .and_then(|t| t.replace(',', ".").trim().parse::<f64>().ok()),
        };
        if value.is_none() {
            self.issue(field, IssueKind::Unparseable);
        }
        value
    }

    fn whole_number(&mut self, field: Field) -> Option<u32> {
        let value = match self.raw(field)? {
            Value::Number(n) => n
                .as_u64()
                .or_else(|| {
                    n.as_f64()
                        .filter(|f| f.fract() == 0.0 && *f >= 0.0)
                        .map(|f| f as u64)
                })
                .and_then(|n| u32::try_from(n).ok()),
            _ => self.text(field).and_then(|t| single_number(&t)),
        };
        if value.is_none() {
            self.issue(field, IssueKind::Unparseable);
        }
        value
    }

    fn personal_number(&self) -> Option<String> {
        let text = self.text(Field::PersonalNumber)?;
        let cleaned: String = text
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-' && *c != '.')
            .collect();
        Some(cleaned).filter(|c| !c.is_empty())
    }

    fn full_date(&mut self, field: Field) -> Option<NaiveDate> {
        let raw = self.raw(field)?.clone();
        let date = self.parse_date(&raw);
        if date.is_none() {
            self.issue(field, IssueKind::Unparseable);
        }
        date
    }

    fn partial_date(&mut self, field: Field) -> Option<PartialDate> {
        let raw = self.raw(field)?.clone();
        if let Some(date) = self.parse_date(&raw) {
            return Some(PartialDate::full(date));
        }
        let partial = match &raw {
            Value::String(s) => parse_partial(s.trim()),
            Value::Number(n) => n.as_f64().and_then(year_number).map(|year| PartialDate {
                year,
                month: None,
                day: None,
            }),
            _ => None,
        };
        if partial.is_none() {
            self.issue(field, IssueKind::Unparseable);
        }
        partial
    }

    fn parse_date(&self, raw: &Value) -> Option<NaiveDate> {
        parse_date(&self.mapping.dates, raw)
    }
}

/// A full date from text in one of the configured formats, or an Excel serial number.
pub fn parse_date(settings: &DateSettings, raw: &Value) -> Option<NaiveDate> {
    match raw {
        // A whole number that reads as a year (2012) is a year, not Excel's day 2012 of 1905.
        Value::Number(n) if settings.excel_serial => n
            .as_f64()
            .filter(|f| year_number(*f).is_none())
            .and_then(excel_serial),
        Value::String(s) => {
            let s = s.trim();
            // "2024-03-15T10:30", "15.03.2024 10:30": the date is what counts.
            let date_part = match s.split_once(['T', ' ']) {
                Some((date, time)) if time.contains(':') => date,
                _ => s,
            };
            settings
                .formats
                .iter()
                .find_map(|f| NaiveDate::parse_from_str(date_part, f).ok())
                .filter(|d| (1900..=2200).contains(&chrono::Datelike::year(d)))
        }
        _ => None,
    }
}

fn number_text(n: &serde_json::Number) -> String {
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", f as i64),
        _ => n.to_string(),
    }
}

/// A whole number that can only be a year.
fn year_number(value: f64) -> Option<i32> {
    (value.fract() == 0.0 && (1900.0..=2100.0).contains(&value)).then_some(value as i32)
}

/// An age in years written as "14", "14.0", "~14", "14 vjeç", "14 god.": nothing else (not "-5",
/// "12-14" or "6 muaj", which is six months).
fn single_number(text: &str) -> Option<u32> {
    static AGE: std::sync::OnceLock<Option<regex::Regex>> = std::sync::OnceLock::new();
    let pattern = AGE.get_or_init(|| {
        regex::Regex::new(
            r"(?i)^~?\s*(\d{1,3})(?:[.,]0+)?\s*(?:vje[çc]\w*|vjet\w*|god\w*\.?|years?|yrs?|год\w*\.?)?$",
        )
        .ok()
    });
    let captures = pattern.as_ref()?.captures(text.trim())?;
    captures.get(1)?.as_str().parse().ok()
}

/// An Excel serial day number (1900 system, as Excel counts it) as a date.
fn excel_serial(serial: f64) -> Option<NaiveDate> {
    if !(1.0..=2_958_465.0).contains(&serial) {
        return None;
    }
    let base = NaiveDate::from_ymd_opt(1899, 12, 30)?;
    base.checked_add_signed(chrono::Duration::days(serial.trunc() as i64))
}

/// A year ("2012"), or a month and year ("05.2012", "2012-05").
fn parse_partial(text: &str) -> Option<PartialDate> {
    let text = text.trim_end_matches('.');
    let valid_year = |y: i32| (1900..=2200).contains(&y);
    if text.len() == 4 {
        let year: i32 = text.parse().ok()?;
        return valid_year(year).then_some(PartialDate {
            year,
            month: None,
            day: None,
        });
    }
    let (year, month) = if let Some((m, y)) = text.split_once('.') {
        (y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)
    } else if let Some((y, m)) = text.split_once('-') {
        (y.parse::<i32>().ok()?, m.parse::<u32>().ok()?)
    } else {
        return None;
    };
    (valid_year(year) && (1..=12).contains(&month)).then_some(PartialDate {
        year,
        month: Some(month),
        day: None,
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_day_first_and_impossible_ones_fail() {
        let settings = DateSettings::default();
        let parse = |s: &str| parse_date(&settings, &Value::String(s.to_string()));
        assert_eq!(parse("03.04.2012"), NaiveDate::from_ymd_opt(2012, 4, 3));
        assert_eq!(parse("25.12.2013."), NaiveDate::from_ymd_opt(2013, 12, 25));
        assert_eq!(parse("2012-04-03"), NaiveDate::from_ymd_opt(2012, 4, 3));
        assert_eq!(parse("31.02.2012"), None);
        assert_eq!(parse("2012-13-05"), None);
        assert_eq!(parse("12.25.2013"), None);
        assert_eq!(
            parse("15.03.2024 10:30"),
            NaiveDate::from_ymd_opt(2024, 3, 15)
        );
        assert_eq!(
            parse("2024-03-15T10:30:00"),
            NaiveDate::from_ymd_opt(2024, 3, 15)
        );
        let number = |n: f64| parse_date(&settings, &serde_json::json!(n));
        assert_eq!(number(2012.0), None, "a year is not Excel day 2012");
        assert_eq!(number(45000.0), NaiveDate::from_ymd_opt(2023, 3, 15));
        assert_eq!(excel_serial(45000.0), NaiveDate::from_ymd_opt(2023, 3, 15));
    }

    #[test]
    fn partial_dates_and_ages() {
        assert_eq!(parse_partial("2012").map(|p| p.precision()), Some("year"));
        assert_eq!(
            parse_partial("05.2012").map(|p| p.precision()),
            Some("month")
        );
        assert_eq!(
            parse_partial("2012-05").map(|p| p.precision()),
            Some("month")
        );
        assert_eq!(parse_partial("2012-13"), None);
        assert_eq!(single_number("14"), Some(14));
        assert_eq!(single_number("14 vjeç"), Some(14));
        assert_eq!(single_number("14.0"), Some(14));
        assert_eq!(single_number("12-14"), None);
        assert_eq!(single_number("-5"), None);
        assert_eq!(single_number("6 muaj"), None);
        assert_eq!(single_number("~ 9 god."), Some(9));
    }
}
