//! Reconciliation: one national record per child from its linked source records, with field-level
//! survivorship (which institution is trusted first for which field, then most recent, then most
//! complete) and disagreements between institutions reported as conflicts.

use std::collections::BTreeMap;
use std::path::Path;

use chrono::NaiveDate;
use serde::Deserialize;

use crate::config::{read_toml, ConfigError};
use crate::mapping::Field;
use crate::model::{CanonicalCase, PartialDate};

/// Trust order of institutions for one field.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FieldTrust {
    pub order: Vec<String>,
}

/// `rules/survivorship.toml`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Survivorship {
    pub default: FieldTrust,
    #[serde(default)]
    pub fields: BTreeMap<Field, FieldTrust>,
}

impl Survivorship {
    pub fn load(path: &Path) -> Result<Survivorship, ConfigError> {
        read_toml(path)
    }

    fn rank(&self, field: Field, institution: &str) -> usize {
        let order = &self.fields.get(&field).unwrap_or(&self.default).order;
        order
            .iter()
            .position(|i| i == institution)
            .unwrap_or(order.len())
    }
}

/// One member record of a child, as reconciliation sees it.
#[derive(Debug, Clone, Copy)]
pub struct Member<'a> {
    pub institution: &'a str,
    pub source: &'a str,
    pub record_id: &'a str,
    pub case: &'a CanonicalCase,
}

/// The national record of one child (no direct identifiers).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Child {
    pub sex: Option<String>,
    pub birth_date: Option<PartialDate>,
    /// Age at first identification.
    pub age: Option<i64>,
    pub municipality: Option<String>,
    pub region: Option<String>,
    pub community: Option<String>,
    /// Activity trusted most; every activity seen is in `activities`.
    pub activity: Option<String>,
    /// Sorted, each once (as the other lists of a child): a vector, as a child has a few, and a
    /// million children's one-element sets would take half a gigabyte.
    pub activities: Vec<String>,
    pub worst_forms: Vec<String>,
    /// Unknown (`None`) when no record says either way.
    pub hazardous: Option<bool>,
    pub trafficking: Option<bool>,
    pub first_seen: Option<NaiveDate>,
    pub last_seen: Option<NaiveDate>,
    pub institutions: Vec<String>,
    pub records: usize,
}

/// A field on which a member disagrees with the surviving value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conflict {
    pub field: Field,
    /// Index of the dissenting member in the slice given to [`reconcile`].
    pub member: usize,
}

/// Builds a child's national record and lists the conflicts on the `compared` fields.
pub fn reconcile(
    members: &[Member<'_>],
    trust: &Survivorship,
    compared: &[Field],
) -> (Child, Vec<Conflict>) {
    let pick = |field: Field, value: &dyn Fn(&CanonicalCase) -> Option<String>| -> Option<usize> {
        members
            .iter()
            .enumerate()
            .filter(|(_, m)| value(m.case).is_some())
            .min_by(|(_, a), (_, b)| {
                // A full date of birth beats a year from a more trusted institution.
                precision_rank(field, a.case)
                    .cmp(&precision_rank(field, b.case))
                    .then(
                        trust
                            .rank(field, a.institution)
                            .cmp(&trust.rank(field, b.institution)),
                    )
                    .then(b.case.event_date.cmp(&a.case.event_date))
                    .then(b.case.completeness().cmp(&a.case.completeness()))
                    .then(a.source.cmp(b.source))
                    .then(a.record_id.cmp(b.record_id))
            })
            .map(|(i, _)| i)
    };
    let survive = |field: Field| -> Option<usize> { pick(field, &|c| field_text(c, field)) };
    let flag = |value: fn(&CanonicalCase) -> Option<bool>| -> Option<bool> {
        let values: Vec<bool> = members.iter().filter_map(|m| value(m.case)).collect();
        (!values.is_empty()).then(|| values.contains(&true))
    };
    let value_of = |field: Field| survive(field).and_then(|i| field_text(members[i].case, field));

    let birth = survive(Field::BirthDate).and_then(|i| members[i].case.birth_date);
    let municipality_member = survive(Field::Municipality);
    let first_seen = members.iter().filter_map(|m| m.case.event_date).min();
    let mut child = Child {
        sex: value_of(Field::Sex),
        birth_date: birth,
        municipality: municipality_member.and_then(|i| members[i].case.municipality.clone()),
        region: municipality_member
            .and_then(|i| members[i].case.region.clone())
            .or_else(|| members.iter().find_map(|m| m.case.region.clone())),
        community: value_of(Field::Community),
        activity: value_of(Field::Activity),
        activities: sorted_once(members.iter().filter_map(|m| m.case.activity.as_deref())),
        worst_forms: sorted_once(members.iter().filter_map(|m| m.case.worst_form.as_deref())),
        hazardous: flag(|c| c.hazardous),
        trafficking: flag(|c| c.trafficking),
        first_seen,
        last_seen: members.iter().filter_map(|m| m.case.event_date).max(),
        institutions: sorted_once(members.iter().map(|m| m.institution)),
        records: members.len(),
        age: None,
    };
    child.age = age_at_first_event(members, birth, first_seen);

    let mut conflicts = Vec::new();
    for &field in compared {
        let Some(trusted) = survive(field) else {
            continue;
        };
        let Some(survivor) = field_text(members[trusted].case, field) else {
            continue;
        };
        for (i, m) in members.iter().enumerate() {
            // Conflicts are between institutions; one institution's own duplicates are another matter.
            if m.institution == members[trusted].institution {
                continue;
            }
            if let Some(value) = field_text(m.case, field) {
                if !agrees(field, &value, &survivor) {
                    conflicts.push(Conflict { field, member: i });
                }
            }
        }
    }
    (child, conflicts)
}

/// The values sorted, each once.
fn sorted_once<'a>(values: impl Iterator<Item = &'a str>) -> Vec<String> {
    let mut values: Vec<&str> = values.collect();
    values.sort_unstable();
    values.dedup();
    values.into_iter().map(str::to_string).collect()
}

fn age_at_first_event(
    members: &[Member<'_>],
    birth: Option<PartialDate>,
    first: Option<NaiveDate>,
) -> Option<i64> {
    if let (Some(b), Some(f)) = (birth, first) {
        return b.age_at(f);
    }
    // No date of birth anywhere: the reported age at the earliest event that has one.
    members
        .iter()
        .filter(|m| m.case.age.is_some())
        .min_by_key(|m| m.case.event_date)
        .and_then(|m| m.case.age.map(i64::from))
}

/// 0 for a full date of birth, 1 for year-month, 2 for a year; 0 for every other field.
fn precision_rank(field: Field, case: &CanonicalCase) -> u8 {
    match (field, case.birth_date) {
        (Field::BirthDate, Some(b)) => match b.precision() {
            "full" => 0,
            "month" => 1,
            _ => 2,
        },
        _ => 0,
    }
}

/// Dates agree when one is a coarser form of the other (2012 agrees with 2012-05-03).
fn agrees(field: Field, value: &str, survivor: &str) -> bool {
    if field == Field::BirthDate {
        return value.starts_with(survivor) || survivor.starts_with(value);
    }
    value == survivor
}

fn field_text(case: &CanonicalCase, field: Field) -> Option<String> {
    match field {
        Field::BirthDate => case.birth_date.map(|b| b.to_string()),
        Field::Age => case.age.map(|a| a.to_string()),
        Field::EventDate => case.event_date.map(|d| d.to_string()),
        other => crate::rules::text_of(case, other).map(str::to_string),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn case(sex: &str, municipality: &str, event: (i32, u32, u32)) -> CanonicalCase {
        CanonicalCase {
            sex: Some(sex.into()),
            municipality: Some(municipality.into()),
            event_date: NaiveDate::from_ymd_opt(event.0, event.1, event.2),
            activity: Some("begging".into()),
            ..CanonicalCase::default()
        }
    }

    #[test]
    fn trusted_institution_wins_and_dissent_is_a_conflict() {
        let trust = Survivorship {
            default: FieldTrust {
                order: vec!["csw".into(), "police".into()],
            },
            fields: BTreeMap::new(),
        };
        let police = case("F", "PRI", (2025, 1, 1));
        let csw = case("M", "PRI", (2024, 1, 1));
        let members = [
            Member {
                institution: "police",
                source: "police",
                record_id: "P1",
                case: &police,
            },
            Member {
                institution: "csw",
                source: "csw",
                record_id: "C1",
                case: &csw,
            },
        ];
        let (child, conflicts) = reconcile(&members, &trust, &[Field::Sex, Field::Municipality]);
        assert_eq!(child.sex.as_deref(), Some("M"));
        assert_eq!(child.first_seen, NaiveDate::from_ymd_opt(2024, 1, 1));
        assert_eq!(
            conflicts,
            vec![Conflict {
                field: Field::Sex,
                member: 0
            }]
        );
    }
}
