//! Deterministic linkage: records are the same child when they share a source record id, a personal
//! number, or the exact standardised given name + surname + full date of birth + municipality.

use std::collections::BTreeMap;

use super::{DisjointSets, LinkRecord, Linkage, Linker};

/// A named linking rule: records with the same key are the same child.
type KeyRule = (&'static str, fn(&LinkRecord) -> Option<String>);

/// The exact-match linker.
#[derive(Debug, Clone, Copy, Default)]
pub struct DeterministicLinker;

impl Linker for DeterministicLinker {
    fn link(&self, records: &[LinkRecord]) -> Linkage {
        let mut sets = DisjointSets::new(records.len());
        let mut links_by_rule = BTreeMap::new();
        let keys: [KeyRule; 3] = [
            ("same_source_record_id", |r| {
                (!r.record_id.is_empty()).then(|| format!("{}\u{1f}{}", r.source, r.record_id))
            }),
            ("same_personal_number", |r| r.personal_number.clone()),
            ("same_name_birth_date_municipality", |r| {
                match (&r.birth_date, &r.municipality) {
                    (Some(b), Some(m)) if !r.given_key.is_empty() && !r.surname_key.is_empty() => {
                        Some(format!(
                            "{}\u{1f}{}\u{1f}{b}\u{1f}{m}",
                            r.given_key, r.surname_key
                        ))
                    }
                    _ => None,
                }
            }),
        ];
        for (rule, key_of) in keys {
            let mut first_with: BTreeMap<String, usize> = BTreeMap::new();
            let mut linked = 0;
            for (i, record) in records.iter().enumerate() {
                let Some(key) = key_of(record) else { continue };
                match first_with.get(&key) {
                    Some(&first) if compatible(&records[first], record) => {
                        if sets.union(first, i) {
                            linked += 1;
                        }
                    }
                    Some(_) => {}
                    None => {
                        first_with.insert(key, i);
                    }
                }
            }
            links_by_rule.insert(rule.to_string(), linked);
        }
        Linkage {
            clusters: sets.sets(),
            method: "deterministic".to_string(),
            links_by_rule,
            review: Vec::new(),
            stage_seconds: BTreeMap::new(),
        }
    }
}

/// Two records sharing a key still are not one child when they contradict each other on sex or on a
/// full date of birth (a mistyped or reused personal number must not merge two children).
fn compatible(a: &LinkRecord, b: &LinkRecord) -> bool {
    !differ(&a.sex, &b.sex) && !differ(&a.birth_date, &b.birth_date)
}

fn differ<T: PartialEq>(x: &Option<T>, y: &Option<T>) -> bool {
    matches!((x, y), (Some(p), Some(q)) if p != q)
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::NaiveDate;

    fn record(source: &str, id: &str, given: &str, surname: &str, pn: Option<&str>) -> LinkRecord {
        LinkRecord {
            source: source.into(),
            record_id: id.into(),
            personal_number: pn.map(str::to_string),
            sex: Some("M".into()),
            given_key: given.into(),
            surname_key: surname.into(),
            father_key: String::new(),
            birth_date: NaiveDate::from_ymd_opt(2012, 3, 4),
            birth_window: NaiveDate::from_ymd_opt(2012, 3, 4).map(|d| (d, d)),
            municipality: Some("PRI".into()),
            region: Some("PR".into()),
            event_date: None,
            activity: None,
            community: None,
        }
    }

    #[test]
    fn links_on_each_key_and_keeps_twins_apart() {
        let records = vec![
            record("police", "P1", "arben", "krasnici", None),
            record("csw", "C1", "arben", "krasnici", None),
            record("csw", "C2", "arta", "krasnici", Some("1234567892")),
            record(
                "inspectorate",
                "I1",
                "arta",
                "krasniqi-typo",
                Some("1234567892"),
            ),
            record("police", "P1", "arben", "krasnici", None),
        ];
        let linkage = DeterministicLinker.link(&records);
        assert_eq!(linkage.clusters, vec![vec![0, 1, 4], vec![2, 3]]);
    }

    #[test]
    fn a_shared_personal_number_does_not_merge_children_who_contradict() {
        let mut a = record("police", "P1", "arben", "gashi", Some("1234567892"));
        let b = record("csw", "C1", "arta", "gashi", Some("1234567892"));
        a.sex = Some("F".into());
        let linkage = DeterministicLinker.link(&[a, b]);
        assert_eq!(linkage.clusters.len(), 2);
    }

    #[test]
    fn placeholder_personal_numbers_are_not_used() {
        assert!(!super::super::usable_personal_number("0000000000"));
        assert!(!super::super::usable_personal_number("1111111111111"));
        assert!(!super::super::usable_personal_number("12345"));
        assert!(super::super::usable_personal_number("1234567892"));
    }
}
