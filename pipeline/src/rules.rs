//! Declarative data-quality rules from `rules/*.toml`: each has a check, a severity (error quarantines,
//! warning keeps and alerts), a dimension, an owner and messages in sq / sr / en. Checks are evaluated on
//! canonical cases and on mapping issues; the result is a list of hits, never an error.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::NaiveDate;
use regex::Regex;
use serde::Deserialize;

use crate::config::{parse_toml, ConfigError};
use crate::findings::{Dimension, Finding, Language, Severity};
use crate::mapping::{Field, IssueKind, MappingIssue};
use crate::model::{CanonicalCase, Provenance};

/// What a rule checks.
#[derive(Debug, Clone)]
pub enum Check {
    /// The field has no value.
    Required(Field),
    /// None of the fields has a value.
    OneOfRequired(Vec<Field>),
    /// The value is there but unreadable (mapping issue).
    Valid(Field),
    /// The value is not in the reference list (mapping issue).
    Known(Field),
    /// The value fits several reference entries (mapping issue).
    Unambiguous(Field),
    /// A date after the run's date.
    NotFuture(Field),
    /// `field` must not be after `other` (dates).
    Before(Field, Field),
    /// A date more than `days` before the run's date.
    NotOlderThan(Field, i64),
    /// Age at the event outside `min..=max`.
    AgeRange(i64, i64),
    /// Reported age and age from the date of birth differ by more than the tolerance.
    AgeConsistent(i64),
    /// The text does not match the pattern.
    Pattern(Field, Regex),
    /// Weighted mod-11 check digit over the first digits (only for values of weights + 1 digits).
    CheckDigit(Field, Vec<u32>),
    /// The same value twice within one source.
    Unique(Field),
    /// Linked records from different institutions disagree.
    Agree(Field),
    /// A record the decoder could not read (a bad row, a broken file).
    Readable,
    /// The record breaks its source schema.
    SourceSchema,
    /// The mapped case breaks the canonical schema.
    CanonicalSchema,
    /// An export column the schema does not describe.
    KnownColumns,
    /// A column the schema describes is missing from an export.
    ExpectedColumns,
    /// A mapping issue no other rule covers.
    Mappable,
    /// A file-level problem that cost no record (an empty file, an odd header, an encoding guess).
    SoundFile,
    /// A header row that has none of the columns the schema describes (perhaps no header at all).
    RecognisedHeader,
    /// A file with the same content as another one delivered in the run (read once).
    DistinctFile,
    /// A source that has sent nothing new for longer than its expected cadence.
    FreshSource,
    /// An HTTP source whose last pull failed.
    ReachableSource,
}

/// Texts of a rule in the three languages.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texts {
    pub sq: String,
    pub sr: String,
    pub en: String,
}

impl Texts {
    pub fn get(&self, language: Language) -> &str {
        match language {
            Language::Sq => &self.sq,
            Language::Sr => &self.sr,
            Language::En => &self.en,
        }
    }
}

/// Who is alerted: the institution whose record it is, or a named institution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owner {
    Source,
    Institution(String),
}

/// One rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub check: Check,
    pub severity: Severity,
    pub dimension: Dimension,
    pub owner: Owner,
    pub message: Texts,
    pub fix: Option<Texts>,
    /// The rule file it came from.
    pub file: PathBuf,
}

impl Rule {
    /// The field the rule is about, if one.
    pub fn field(&self) -> Option<Field> {
        match &self.check {
            Check::Required(f)
            | Check::Valid(f)
            | Check::Known(f)
            | Check::Unambiguous(f)
            | Check::NotFuture(f)
            | Check::Before(f, _)
            | Check::NotOlderThan(f, _)
            | Check::Pattern(f, _)
            | Check::CheckDigit(f, _)
            | Check::Unique(f)
            | Check::Agree(f) => Some(*f),
            _ => None,
        }
    }

    /// The message in `language` with `{field}`, `{column}` and `{detail}` filled in.
    pub fn render(&self, language: Language, field: Option<&str>, detail: Option<&str>) -> String {
        self.message
            .get(language)
            .replace("{field}", field.unwrap_or(""))
            .replace("{column}", field.unwrap_or(""))
            .replace("{detail}", detail.unwrap_or(""))
    }

    /// The institution to alert for a record of `source_institution`.
    pub fn institution<'a>(&'a self, source_institution: &'a str) -> &'a str {
        match &self.owner {
            Owner::Source => source_institution,
            Owner::Institution(name) => name,
        }
    }
}

/// One rule that fired on a record.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Hit {
    /// Index into [`RuleBook::rules`].
    pub rule: usize,
    pub field: Option<String>,
    pub detail: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleFile {
    #[serde(default)]
    rule: Vec<RawRule>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    id: String,
    check: String,
    severity: Severity,
    dimension: Dimension,
    owner: String,
    field: Option<String>,
    fields: Option<Vec<String>>,
    other: Option<String>,
    min: Option<i64>,
    max: Option<i64>,
    tolerance: Option<i64>,
    days: Option<i64>,
    pattern: Option<String>,
    weights: Option<Vec<u32>>,
    message: Texts,
    fix: Option<Texts>,
}

/// A system check every rule book must have: its name and how to recognise it.
type SystemCheck = (&'static str, fn(&Check) -> bool);

/// Every rule, in file order (files sorted by name).
#[derive(Debug, Clone, Default)]
pub struct RuleBook {
    pub rules: Vec<Rule>,
}

impl RuleBook {
    /// Loads every `*.toml` in `dir` except `survivorship.toml`.
    pub fn load(dir: &Path, institutions: &[String]) -> Result<RuleBook, ConfigError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|source| ConfigError::Read {
                path: dir.to_path_buf(),
                source,
            })?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "toml"))
            .filter(|p| {
                p.file_name()
                    .is_some_and(|n| n != "survivorship.toml" && n != "linkage.toml")
            })
            .collect();
        files.sort();
        let mut rules: Vec<Rule> = Vec::new();
        for path in files {
            let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
                path: path.clone(),
                source,
            })?;
            let file: RuleFile = parse_toml(&path, &text)?;
            for raw in file.rule {
                let rule = build_rule(raw, &path, &text, institutions)?;
                if let Some(earlier) = rules.iter().find(|r| r.id == rule.id) {
                    return Err(invalid_at(
                        &path,
                        &text,
                        &rule.id,
                        format!(
                            "rule \"{}\" is defined twice (also in {})",
                            rule.id,
                            earlier.file.display()
                        ),
                    ));
                }
                rules.push(rule);
            }
        }
        let book = RuleBook { rules };
        book.require_system_rules(dir)?;
        Ok(book)
    }

    fn require_system_rules(&self, dir: &Path) -> Result<(), ConfigError> {
        let needed: [SystemCheck; 11] = [
            ("readable", |c| matches!(c, Check::Readable)),
            ("source_schema", |c| matches!(c, Check::SourceSchema)),
            ("canonical_schema", |c| matches!(c, Check::CanonicalSchema)),
            ("known_columns", |c| matches!(c, Check::KnownColumns)),
            ("expected_columns", |c| matches!(c, Check::ExpectedColumns)),
            ("mappable", |c| matches!(c, Check::Mappable)),
            ("sound_file", |c| matches!(c, Check::SoundFile)),
            ("recognised_header", |c| {
                matches!(c, Check::RecognisedHeader)
            }),
            ("distinct_file", |c| matches!(c, Check::DistinctFile)),
            ("fresh_source", |c| matches!(c, Check::FreshSource)),
            ("reachable_source", |c| matches!(c, Check::ReachableSource)),
        ];
        for (name, is) in needed {
            if !self.rules.iter().any(|r| is(&r.check)) {
                return Err(ConfigError::Invalid {
                    path: dir.to_path_buf(),
                    message: format!(
                        "no rule has check = \"{name}\"; every run needs one to report such problems"
                    ),
                });
            }
        }
        Ok(())
    }

    /// The first rule with the given system check.
    pub fn system(&self, is: impl Fn(&Check) -> bool) -> usize {
        self.rules.iter().position(|r| is(&r.check)).unwrap_or(0)
    }

    /// The rule for a mapping issue (valid / known / unambiguous on that field), else the `mappable` rule.
    pub fn issue_rule(&self, issue: &MappingIssue) -> usize {
        self.rules
            .iter()
            .position(|r| match (&r.check, issue.kind) {
                (Check::Valid(f), IssueKind::Unparseable)
                | (Check::Known(f), IssueKind::Unknown)
                | (Check::Unambiguous(f), IssueKind::Ambiguous) => *f == issue.field,
                _ => false,
            })
            .unwrap_or_else(|| self.system(|c| matches!(c, Check::Mappable)))
    }

    /// Rule indexes of the `agree` checks, with their fields.
    pub fn agreement_fields(&self) -> Vec<(usize, Field)> {
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r.check {
                Check::Agree(f) => Some((i, f)),
                _ => None,
            })
            .collect()
    }

    /// Rule indexes of the `unique` checks, with their fields.
    pub fn unique_fields(&self) -> Vec<(usize, Field)> {
        self.rules
            .iter()
            .enumerate()
            .filter_map(|(i, r)| match r.check {
                Check::Unique(f) => Some((i, f)),
                _ => None,
            })
            .collect()
    }

    /// The finding for a hit on a record of `source_institution` (or on a file, without a record id).
    pub fn finding(
        &self,
        hit: &Hit,
        source_institution: &str,
        provenance: &Provenance,
        record_id: Option<&str>,
    ) -> Finding {
        let rule = self.rules.get(hit.rule);
        Finding {
            institution: rule
                .map_or(source_institution, |r| r.institution(source_institution))
                .to_string(),
            source: provenance.source.clone(),
            file: provenance.file.clone(),
            ordinal: provenance.ordinal,
            location: provenance.location.clone(),
            record_id: record_id.map(str::to_string),
            rule: rule.map_or_else(String::new, |r| r.id.clone()),
            severity: rule.map_or(Severity::Error, |r| r.severity),
            dimension: rule.map_or(Dimension::Validity, |r| r.dimension),
            field: hit.field.clone(),
            detail: hit.detail.clone(),
            child_id: None,
        }
    }

    /// Every record-level rule that fires on a mapped case.
    pub fn evaluate(
        &self,
        case: &CanonicalCase,
        issues: &[MappingIssue],
        as_of: NaiveDate,
    ) -> Vec<Hit> {
        let mut hits: Vec<Hit> = issues
            .iter()
            .map(|issue| Hit {
                rule: self.issue_rule(issue),
                field: Some(issue.field.as_str().to_string()),
                detail: Some(issue.column.clone()),
            })
            .collect();
        for (i, rule) in self.rules.iter().enumerate() {
            if let Some(field) = fires(&rule.check, case, issues, as_of) {
                hits.push(Hit {
                    rule: i,
                    field,
                    detail: None,
                });
            }
        }
        hits.sort();
        hits.dedup();
        hits
    }
}

/// `Some(field)` when the check fires on the case.
fn fires(
    check: &Check,
    case: &CanonicalCase,
    issues: &[MappingIssue],
    as_of: NaiveDate,
) -> Option<Option<String>> {
    let has_issue = |f: Field| issues.iter().any(|i| i.field == f);
    let name = |f: Field| Some(Some(f.as_str().to_string()));
    match check {
        Check::Required(f) => (!has_value(case, *f) && !has_issue(*f))
            .then(|| name(*f))
            .flatten(),
        Check::OneOfRequired(fields) => (fields
            .iter()
            .all(|f| !has_value(case, *f) && !has_issue(*f)))
        .then(|| {
            Some(
                fields
                    .iter()
                    .map(|f| f.as_str())
                    .collect::<Vec<_>>()
                    .join("|"),
            )
        }),
        Check::NotFuture(f) => date_of(case, *f)
            .filter(|d| *d > as_of)
            .and_then(|_| name(*f)),
        Check::Before(f, other) => match (date_of(case, *f), date_of(case, *other)) {
            (Some(a), Some(b)) if a > b => name(*f),
            _ => None,
        },
        Check::NotOlderThan(f, days) => date_of(case, *f)
            .filter(|d| (as_of - *d).num_days() > *days)
            .and_then(|_| name(*f)),
        Check::AgeRange(min, max) => {
            let (age, _) = case.age_at_event();
            // A birth date after the event is reported by its own rule.
            age.filter(|a| *a >= 0 && (a < min || a > max))
                .map(|_| Some("age".to_string()))
        }
        Check::AgeConsistent(tolerance) => {
            let from_birth = match (case.birth_date.and_then(|b| b.as_full()), case.event_date) {
                (Some(b), Some(e)) => crate::model::PartialDate::full(b).age_at(e),
                _ => None,
            };
            match (from_birth, case.age) {
                (Some(a), Some(r)) if (a - i64::from(r)).abs() > *tolerance => name(Field::Age),
                _ => None,
            }
        }
        Check::Pattern(f, regex) => text_of(case, *f)
            .filter(|t| !regex.is_match(t))
            .and_then(|_| name(*f)),
        Check::CheckDigit(f, weights) => text_of(case, *f)
            .filter(|t| t.len() == weights.len() + 1 && t.chars().all(|c| c.is_ascii_digit()))
            .filter(|t| !check_digit_ok(t, weights))
            .and_then(|_| name(*f)),
        _ => None,
    }
}

/// Weighted mod-11: check = 11 − (Σ dᵢ·wᵢ mod 11), where 10 and 11 become 0.
pub fn check_digit_ok(digits: &str, weights: &[u32]) -> bool {
    let values: Vec<u32> = digits.chars().filter_map(|c| c.to_digit(10)).collect();
    let Some((&last, body)) = values.split_last() else {
        return false;
    };
    let sum: u32 = body.iter().zip(weights).map(|(d, w)| d * w).sum();
    let check = 11 - (sum % 11);
    let check = if check >= 10 { 0 } else { check };
    check == last
}

/// Whether the canonical field has a value.
pub fn has_value(case: &CanonicalCase, field: Field) -> bool {
    match field {
        Field::BirthDate => case.birth_date.is_some(),
        Field::Age => case.age.is_some(),
        Field::EventDate => case.event_date.is_some(),
        Field::Trafficking => case.trafficking.is_some(),
        Field::Hazardous => case.hazardous.is_some(),
        Field::HoursPerWeek => case.hours_per_week.is_some(),
        other => text_of(case, other).is_some(),
    }
}

fn date_of(case: &CanonicalCase, field: Field) -> Option<NaiveDate> {
    match field {
        Field::EventDate => case.event_date,
        Field::BirthDate => case.birth_date.and_then(|b| b.earliest()),
        _ => None,
    }
}

/// The text value of a text-like canonical field.
pub fn text_of(case: &CanonicalCase, field: Field) -> Option<&str> {
    let value = match field {
        Field::RecordId => &case.record_id,
        Field::GivenName => &case.given_name,
        Field::FatherName => &case.father_name,
        Field::Surname => &case.surname,
        Field::Sex => &case.sex,
        Field::PersonalNumber => &case.personal_number,
        Field::Municipality => &case.municipality,
        Field::Community => &case.community,
        Field::Activity => &case.activity,
        Field::Nace => &case.nace,
        Field::CaseStatus => &case.case_status,
        _ => return None,
    };
    value.as_deref()
}

fn build_rule(
    raw: RawRule,
    path: &Path,
    text: &str,
    institutions: &[String],
) -> Result<Rule, ConfigError> {
    let id = raw.id.clone();
    let fail = |message: String| invalid_at(path, text, &id, message);
    let field = |name: &Option<String>, key: &str| -> Result<Field, ConfigError> {
        let name = name
            .as_deref()
            .ok_or_else(|| fail(format!("rule \"{id}\" needs {key} = \"<canonical field>\"")))?;
        Field::parse(name).ok_or_else(|| {
            fail(format!(
                "rule \"{id}\": \"{name}\" is not a canonical field (one of: {})",
                Field::ALL.map(Field::as_str).join(", ")
            ))
        })
    };
    let number = |value: Option<i64>, key: &str| {
        value.ok_or_else(|| fail(format!("rule \"{id}\" needs {key} = <number>")))
    };
    let check = match raw.check.as_str() {
        "required" => Check::Required(field(&raw.field, "field")?),
        "one_of_required" => {
            let names = raw
                .fields
                .clone()
                .ok_or_else(|| fail(format!("rule \"{id}\" needs fields = [..]")))?;
            let fields = names
                .iter()
                .map(|n| field(&Some(n.clone()), "fields"))
                .collect::<Result<Vec<_>, _>>()?;
            Check::OneOfRequired(fields)
        }
        "valid" => Check::Valid(field(&raw.field, "field")?),
        "known" => Check::Known(field(&raw.field, "field")?),
        "unambiguous" => Check::Unambiguous(field(&raw.field, "field")?),
        "not_future" => Check::NotFuture(field(&raw.field, "field")?),
        "before" => Check::Before(field(&raw.field, "field")?, field(&raw.other, "other")?),
        "not_older_than" => Check::NotOlderThan(field(&raw.field, "field")?, number(raw.days, "days")?),
        "age_range" => Check::AgeRange(number(raw.min, "min")?, number(raw.max, "max")?),
        "age_consistent" => Check::AgeConsistent(number(raw.tolerance, "tolerance")?),
        "pattern" => {
            let pattern = raw
                .pattern
                .clone()
                .ok_or_else(|| fail(format!("rule \"{id}\" needs pattern = \"<regex>\"")))?;
            let regex = Regex::new(&pattern)
                .map_err(|e| fail(format!("rule \"{id}\": bad pattern: {e}")))?;
            Check::Pattern(field(&raw.field, "field")?, regex)
        }
        "check_digit" => Check::CheckDigit(
            field(&raw.field, "field")?,
            raw.weights
                .clone()
                .ok_or_else(|| fail(format!("rule \"{id}\" needs weights = [..]")))?,
        ),
        "unique" => Check::Unique(field(&raw.field, "field")?),
        "agree" => Check::Agree(field(&raw.field, "field")?),
        "readable" => Check::Readable,
        "source_schema" => Check::SourceSchema,
        "canonical_schema" => Check::CanonicalSchema,
        "known_columns" => Check::KnownColumns,
        "expected_columns" => Check::ExpectedColumns,
        "mappable" => Check::Mappable,
        "sound_file" => Check::SoundFile,
        "recognised_header" => Check::RecognisedHeader,
        "distinct_file" => Check::DistinctFile,
        "fresh_source" => Check::FreshSource,
        "reachable_source" => Check::ReachableSource,
        other => {
            return Err(fail(format!(
                "rule \"{id}\": unknown check \"{other}\" (required, one_of_required, valid, known, \
                 unambiguous, not_future, before, not_older_than, age_range, age_consistent, pattern, \
                 check_digit, unique, agree, readable, source_schema, canonical_schema, known_columns, \
                 expected_columns, mappable, sound_file, recognised_header, distinct_file, fresh_source, reachable_source)"
            )))
        }
    };
    let owner = match raw.owner.as_str() {
        "source" => Owner::Source,
        name if institutions.iter().any(|i| i == name) => Owner::Institution(name.to_string()),
        name => {
            return Err(fail(format!(
                "rule \"{id}\": owner \"{name}\" is neither \"source\" nor an institution in the config"
            )))
        }
    };
    Ok(Rule {
        id: raw.id,
        check,
        severity: raw.severity,
        dimension: raw.dimension,
        owner,
        message: raw.message,
        fix: raw.fix,
        file: path.to_path_buf(),
    })
}

/// A rule-file error located at the rule's `id = "…"` line.
fn invalid_at(path: &Path, text: &str, id: &str, message: String) -> ConfigError {
    let needle = format!("\"{id}\"");
    let (line, column) = text
        .find(&needle)
        .map_or((1, 1), |offset| crate::config::line_column(text, offset));
    ConfigError::Syntax {
        path: path.to_path_buf(),
        line,
        column,
        message,
    }
}

/// Rule ids grouped by severity, for summaries.
pub fn count_by_rule<'a>(ids: impl Iterator<Item = &'a str>) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for id in ids {
        *out.entry(id.to_string()).or_insert(0) += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kosovo_check_digit() {
        // weights 4,3,2,7,6,5,4,3,2 over 123456789: 4+6+6+28+30+30+28+24+18 = 174; 174 mod 11 = 9; 11-9 = 2
        let weights = [4, 3, 2, 7, 6, 5, 4, 3, 2];
        assert!(check_digit_ok("1234567892", &weights));
        assert!(!check_digit_ok("1234567891", &weights));
    }
}
