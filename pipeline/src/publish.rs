//! The published tables: cases, children, quarantine, findings and the summary by municipality, region,
//! sex, age group, community, activity and worst form. Pure: the large tables are [`Rows`] that make
//! each row when a sink asks for it (nothing is held but an order of the records); the run writes them.
//! No direct identifiers (names, personal numbers, dates of birth) ever enter these tables.

use std::borrow::Cow;
use std::collections::BTreeMap;

use rayon::slice::ParallelSliceMut;
use regbridge_connectors::sink::table::{Cell, CellRef, Rows, Table};

use crate::findings::{Finding, Language};
use crate::intake::{Accepted, Quarantined};
use crate::reconcile::Child;
use crate::reference::Reference;
use crate::rules::{Rule, RuleBook};

/// A child with its pseudonymous identifier.
#[derive(Debug, Clone)]
pub struct IdentifiedChild {
    pub child_id: String,
    pub child: Child,
}

/// Everything the tables are built from.
#[derive(Debug, Clone, Copy)]
pub struct Publication<'a> {
    pub accepted: &'a [Accepted],
    /// For each accepted record, the index of its child in `children`.
    pub child_of: &'a [usize],
    pub children: &'a [IdentifiedChild],
    pub quarantined: &'a [Quarantined],
    pub findings: &'a [Finding],
    pub reference: &'a Reference,
    pub rules: &'a RuleBook,
}

/// A summary dimension: its name and the codes a child counts under.
type SummaryDimension = (
    &'static str,
    for<'c> fn(&Publication<'c>, &'c Child) -> Vec<Cow<'c, str>>,
);

/// The columns of `cases.csv`.
const CASE_COLUMNS: [&str; 23] = [
    "source",
    "record_id",
    "file",
    "location",
    "child_id",
    "event_date",
    "age",
    "age_basis",
    "age_group",
    "sex",
    "municipality_code",
    "municipality",
    "region_code",
    "region",
    "community",
    "activity",
    "worst_form",
    "hazardous",
    "trafficking",
    "hours_per_week",
    "nace",
    "case_status",
    "warnings",
];

/// The columns of `children.csv`.
const CHILD_COLUMNS: [&str; 18] = [
    "child_id",
    "sex",
    "age",
    "age_group",
    "municipality_code",
    "municipality",
    "region_code",
    "region",
    "community",
    "activity",
    "activities",
    "worst_forms",
    "hazardous",
    "trafficking",
    "first_seen",
    "last_seen",
    "institutions",
    "records",
];

/// The columns of `quarantine.csv`.
const QUARANTINE_COLUMNS: [&str; 7] = [
    "source",
    "record_id",
    "file",
    "location",
    "rules",
    "fields",
    "messages",
];

/// The columns of `findings.csv`.
const FINDING_COLUMNS: [&str; 11] = [
    "institution",
    "source",
    "file",
    "location",
    "record_id",
    "child_id",
    "rule",
    "severity",
    "dimension",
    "field",
    "message",
];

/// The first 16 bytes of `text` as a big-endian number, zero-padded: when two texts' numbers
/// differ, the texts compare (bytewise) in the same order.
fn leading_bytes(text: &str) -> u128 {
    let mut bytes = [0u8; 16];
    for (slot, byte) in bytes.iter_mut().zip(text.bytes()) {
        *slot = byte;
    }
    u128::from_be_bytes(bytes)
}

fn names(columns: &[&str]) -> Vec<String> {
    columns.iter().map(|c| (*c).to_string()).collect()
}

fn opt(value: &Option<String>) -> CellRef<'_> {
    CellRef::opt(value.as_deref())
}

fn flag<'a>(value: Option<bool>) -> CellRef<'a> {
    value.map_or(CellRef::Empty, CellRef::Bool)
}

fn date<'a>(value: Option<chrono::NaiveDate>) -> CellRef<'a> {
    value.map_or(CellRef::Empty, |d| CellRef::text(d.to_string()))
}

/// The values joined by `separator`, borrowed when there is only one.
fn joined<'a>(values: impl IntoIterator<Item = &'a String>, separator: &str) -> CellRef<'a> {
    let mut values = values.into_iter();
    let Some(first) = values.next() else {
        return CellRef::Empty;
    };
    let Some(second) = values.next() else {
        return CellRef::text(first.as_str());
    };
    let mut text = String::with_capacity(first.len() * 3);
    text.push_str(first);
    text.push_str(separator);
    text.push_str(second);
    for value in values {
        text.push_str(separator);
        text.push_str(value);
    }
    CellRef::text(text)
}

impl<'p> Publication<'p> {
    fn municipality_name(&self, code: &Option<String>) -> CellRef<'p> {
        let reference: &'p Reference = self.reference;
        code.as_deref()
            .and_then(|c| reference.municipality(c))
            .map_or(CellRef::Empty, |m| CellRef::text(m.name_sq.as_str()))
    }

    fn region_name(&self, code: &Option<String>) -> CellRef<'p> {
        let reference: &'p Reference = self.reference;
        code.as_deref()
            .and_then(|c| reference.regions.iter().find(|r| r.code == c))
            .map_or(CellRef::Empty, |r| CellRef::text(r.name_sq.as_str()))
    }

    fn age_group(&self, age: Option<i64>) -> CellRef<'p> {
        let reference: &'p Reference = self.reference;
        age.and_then(|a| u32::try_from(a).ok())
            .and_then(|a| reference.age_group(a))
            .map_or(CellRef::Empty, |g| CellRef::text(g.code.as_str()))
    }

    /// `cases.csv`: one row per accepted source record, in source, file and location order.
    pub fn cases(&self) -> CaseRows<'p> {
        let mut order: Vec<usize> = (0..self.accepted.len()).collect();
        let accepted = self.accepted;
        // Stable, as the order of records with the same provenance must not depend on threads.
        order.par_sort_by(|&a, &b| accepted[a].provenance.cmp(&accepted[b].provenance));
        CaseRows {
            publication: *self,
            columns: names(&CASE_COLUMNS),
            order,
        }
    }

    /// `children.csv`: one row per unique child, `child_id` first, in `child_id` order.
    pub fn children_table(&self) -> ChildRows<'p> {
        // Sorted on the identifiers' first 16 bytes held in the array itself, and on the whole
        // identifier only where those are equal: the same order, without a cache miss per comparison.
        let mut keyed: Vec<(u128, &'p IdentifiedChild)> = self
            .children
            .iter()
            .map(|c| (leading_bytes(&c.child_id), c))
            .collect();
        keyed.par_sort_by(|(ka, a), (kb, b)| ka.cmp(kb).then_with(|| a.child_id.cmp(&b.child_id)));
        let order = keyed.into_iter().map(|(_, c)| c).collect();
        ChildRows {
            publication: *self,
            columns: names(&CHILD_COLUMNS),
            order,
        }
    }

    /// `quarantine.csv`: one row per rejected record, with the rules it failed and why.
    pub fn quarantine(&self) -> QuarantineRows<'p> {
        let mut order: Vec<&'p Quarantined> = self.quarantined.iter().collect();
        order.par_sort_by(|a, b| a.provenance.cmp(&b.provenance));
        QuarantineRows {
            publication: *self,
            columns: names(&QUARANTINE_COLUMNS),
            order,
        }
    }

    /// `findings.csv`: every finding of the run, with its owner and an English message.
    pub fn findings_table(&self) -> FindingRows<'p> {
        // The first rule of each id, as a search from the start would find it.
        let mut rules: BTreeMap<&'p str, &'p Rule> = BTreeMap::new();
        let book: &'p RuleBook = self.rules;
        for rule in &book.rules {
            rules.entry(rule.id.as_str()).or_insert(rule);
        }
        FindingRows {
            findings: self.findings,
            columns: names(&FINDING_COLUMNS),
            rules,
        }
    }

    /// The summary: unique children by each dimension the Committee asks about.
    pub fn summary(&self) -> Table {
        let mut table = Table::new("Summary", &["dimension", "code", "name", "children"]);
        let total = self.children.len() as i64;
        table.rows.push(vec![
            Cell::text("total"),
            Cell::Empty,
            Cell::text("Unique children"),
            Cell::Integer(total),
        ]);
        let reference = self.reference;
        let dims: [SummaryDimension; 8] = [
            ("region", |_, c| c.region.iter().map(|v| v.into()).collect()),
            ("municipality", |_, c| {
                c.municipality.iter().map(|v| v.into()).collect()
            }),
            ("sex", |_, c| c.sex.iter().map(|v| v.into()).collect()),
            ("age_group", |p, c| match p.age_group(c.age) {
                CellRef::Text(t) => vec![t],
                _ => Vec::new(),
            }),
            ("community", |_, c| {
                c.community.iter().map(|v| v.into()).collect()
            }),
            ("activity", |_, c| {
                c.activity.iter().map(|v| v.into()).collect()
            }),
            ("worst_form", |_, c| {
                c.worst_forms.iter().map(|v| v.into()).collect()
            }),
            ("institutions", |_, c| {
                vec![c
                    .institutions
                    .iter()
                    .map(String::as_str)
                    .collect::<Vec<_>>()
                    .join("+")
                    .into()]
            }),
        ];
        for (dimension, values_of) in dims {
            let mut counts: BTreeMap<Cow<'_, str>, i64> = BTreeMap::new();
            let mut unknown = 0;
            for identified in self.children {
                let values = values_of(self, &identified.child);
                if values.is_empty() {
                    unknown += 1;
                }
                for v in values {
                    *counts.entry(v).or_insert(0) += 1;
                }
            }
            for (code, n) in counts {
                let name = name_of(reference, dimension, &code);
                table.rows.push(vec![
                    Cell::text(dimension),
                    Cell::text(code),
                    Cell::text(name),
                    Cell::Integer(n),
                ]);
            }
            if unknown > 0 {
                table.rows.push(vec![
                    Cell::text(dimension),
                    Cell::Empty,
                    Cell::text("(unknown)"),
                    Cell::Integer(unknown),
                ]);
            }
        }
        table
    }
}

/// The rows of `cases.csv`, made as they are written.
#[derive(Debug)]
pub struct CaseRows<'p> {
    publication: Publication<'p>,
    columns: Vec<String>,
    /// Indexes into `accepted`, in the order of the rows.
    order: Vec<usize>,
}

impl<'p> CaseRows<'p> {
    /// The source of each row, in order (the first column).
    pub fn sources(&self) -> impl Iterator<Item = &'p str> + '_ {
        let accepted = self.publication.accepted;
        self.order
            .iter()
            .filter_map(move |&i| accepted.get(i))
            .map(|a| a.provenance.source.as_str())
    }
}

impl Rows for CaseRows<'_> {
    fn name(&self) -> &str {
        "Cases"
    }

    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn len(&self) -> usize {
        self.order.len()
    }

    fn row<'a>(&'a self, index: usize, row: &mut Vec<CellRef<'a>>) {
        let p = &self.publication;
        let Some(&i) = self.order.get(index) else {
            return;
        };
        let Some(record) = p.accepted.get(i) else {
            return;
        };
        let case = &record.case;
        let (age, basis) = case.age_at_event();
        let child_id = p
            .child_of
            .get(i)
            .and_then(|&c| p.children.get(c))
            .map_or(CellRef::Empty, |c| CellRef::text(c.child_id.as_str()));
        row.extend([
            CellRef::text(record.provenance.source.as_str()),
            opt(&case.record_id),
            CellRef::text(record.provenance.file.as_str()),
            CellRef::text(record.provenance.location.as_str()),
            child_id,
            date(case.event_date),
            age.map_or(CellRef::Empty, CellRef::Integer),
            CellRef::text(basis.as_str()),
            p.age_group(age),
            opt(&case.sex),
            opt(&case.municipality),
            p.municipality_name(&case.municipality),
            opt(&case.region),
            p.region_name(&case.region),
            opt(&case.community),
            opt(&case.activity),
            opt(&case.worst_form),
            flag(case.hazardous),
            flag(case.trafficking),
            case.hours_per_week.map_or(CellRef::Empty, CellRef::Number),
            opt(&case.nace),
            opt(&case.case_status),
            joined(&record.warnings, "|"),
        ]);
    }
}

/// The rows of `children.csv` (and the workbook's Children sheet), made as they are written.
#[derive(Debug)]
pub struct ChildRows<'p> {
    publication: Publication<'p>,
    columns: Vec<String>,
    order: Vec<&'p IdentifiedChild>,
}

impl Rows for ChildRows<'_> {
    fn name(&self) -> &str {
        "Children"
    }

    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn len(&self) -> usize {
        self.order.len()
    }

    fn row<'a>(&'a self, index: usize, row: &mut Vec<CellRef<'a>>) {
        let p = &self.publication;
        let Some(identified) = self.order.get(index) else {
            return;
        };
        let c = &identified.child;
        row.extend([
            CellRef::text(identified.child_id.as_str()),
            opt(&c.sex),
            c.age.map_or(CellRef::Empty, CellRef::Integer),
            p.age_group(c.age),
            opt(&c.municipality),
            p.municipality_name(&c.municipality),
            opt(&c.region),
            p.region_name(&c.region),
            opt(&c.community),
            opt(&c.activity),
            joined(&c.activities, "|"),
            joined(&c.worst_forms, "|"),
            flag(c.hazardous),
            flag(c.trafficking),
            date(c.first_seen),
            date(c.last_seen),
            joined(&c.institutions, "|"),
            CellRef::Integer(c.records as i64),
        ]);
    }
}

/// The rows of `quarantine.csv`, made as they are written.
#[derive(Debug)]
pub struct QuarantineRows<'p> {
    publication: Publication<'p>,
    columns: Vec<String>,
    order: Vec<&'p Quarantined>,
}

impl<'p> QuarantineRows<'p> {
    /// The source of each row, in order (the first column).
    pub fn sources(&self) -> impl Iterator<Item = &'p str> + '_ {
        self.order.iter().map(|q| q.provenance.source.as_str())
    }
}

impl Rows for QuarantineRows<'_> {
    fn name(&self) -> &str {
        "Quarantine"
    }

    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn len(&self) -> usize {
        self.order.len()
    }

    fn row<'a>(&'a self, index: usize, row: &mut Vec<CellRef<'a>>) {
        let Some(q) = self.order.get(index) else {
            return;
        };
        let mut ids = Vec::new();
        let mut fields = Vec::new();
        let mut messages = Vec::new();
        for hit in &q.hits {
            if let Some(rule) = self.publication.rules.rules.get(hit.rule) {
                ids.push(rule.id.as_str());
                fields.push(hit.field.as_deref().unwrap_or_default());
                messages.push(rule.render(
                    Language::En,
                    hit.field.as_deref(),
                    hit.detail.as_deref(),
                ));
            }
        }
        row.extend([
            CellRef::text(q.provenance.source.as_str()),
            opt(&q.record_id),
            CellRef::text(q.provenance.file.as_str()),
            CellRef::text(q.provenance.location.as_str()),
            CellRef::text(ids.join("|")),
            CellRef::text(fields.join("|")),
            CellRef::text(messages.join(" | ")),
        ]);
    }
}

/// The rows of `findings.csv`, made as they are written.
#[derive(Debug)]
pub struct FindingRows<'p> {
    findings: &'p [Finding],
    columns: Vec<String>,
    rules: BTreeMap<&'p str, &'p Rule>,
}

impl Rows for FindingRows<'_> {
    fn name(&self) -> &str {
        "Findings"
    }

    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn len(&self) -> usize {
        self.findings.len()
    }

    fn row<'a>(&'a self, index: usize, row: &mut Vec<CellRef<'a>>) {
        let Some(f) = self.findings.get(index) else {
            return;
        };
        let message = self
            .rules
            .get(f.rule.as_str())
            .map(|r| r.render(Language::En, f.field.as_deref(), f.detail.as_deref()))
            .unwrap_or_default();
        row.extend([
            CellRef::text(f.institution.as_str()),
            CellRef::text(f.source.as_str()),
            CellRef::text(f.file.as_str()),
            CellRef::text(f.location.as_str()),
            opt(&f.record_id),
            opt(&f.child_id),
            CellRef::text(f.rule.as_str()),
            CellRef::text(f.severity.as_str()),
            CellRef::text(f.dimension.as_str()),
            opt(&f.field),
            CellRef::text(message),
        ]);
    }
}

fn name_of(reference: &Reference, dimension: &str, code: &str) -> String {
    let found = match dimension {
        "region" => reference
            .regions
            .iter()
            .find(|r| r.code == code)
            .map(|r| r.name_sq.clone()),
        "municipality" => reference.municipality(code).map(|m| m.name_sq.clone()),
        "sex" => reference
            .sexes
            .iter()
            .find(|r| r.code == code)
            .map(|r| r.name_en.clone()),
        "age_group" => reference
            .age_groups
            .iter()
            .find(|g| g.code == code)
            .map(|g| g.name_en.clone()),
        "community" => reference
            .communities
            .iter()
            .find(|r| r.code == code)
            .map(|r| r.name_en.clone()),
        "activity" => reference.activity_by_code(code).map(|a| a.name_en.clone()),
        "worst_form" => reference
            .worst_forms
            .iter()
            .find(|r| r.code == code)
            .map(|r| r.name_en.clone()),
        _ => None,
    };
    found.unwrap_or_else(|| code.to_string())
}

#[cfg(test)]
mod tests {
    use super::leading_bytes;

    /// Children are sorted on their identifiers' leading bytes first: that must be their order.
    #[test]
    fn leading_bytes_keep_the_order_of_texts() {
        let mut texts = vec![
            "K-00ff",
            "K-",
            "",
            "K-0",
            "K-00fe99",
            "k-1",
            "K-0123456789abcdef",
            "K-0123456789abcdee",
            "K-0123456789abcdefg",
            "K-0123456789abcdef0",
            "ab\0x",
            "ab",
            "Ë",
            "Z",
        ];
        let mut by_key = texts.clone();
        by_key.sort_by(|a, b| {
            leading_bytes(a)
                .cmp(&leading_bytes(b))
                .then_with(|| a.cmp(b))
        });
        texts.sort();
        assert_eq!(by_key, texts);
    }
}
