//! The published tables: cases, children, quarantine, findings and the summary by municipality, region,
//! sex, age group, community, activity and worst form. Pure: builds `Table`s; the run writes them.
//! No direct identifiers (names, personal numbers, dates of birth) ever enter these tables.

use std::collections::BTreeMap;

use regbridge_connectors::sink::table::{Cell, Table};

use crate::findings::{Finding, Language};
use crate::intake::{Accepted, Quarantined};
use crate::reconcile::Child;
use crate::reference::Reference;
use crate::rules::RuleBook;

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
type SummaryDimension = (&'static str, fn(&Publication<'_>, &Child) -> Vec<String>);

fn opt(value: &Option<String>) -> Cell {
    value.clone().into()
}

fn flag(value: Option<bool>) -> Cell {
    value.map_or(Cell::Empty, Cell::Bool)
}

impl Publication<'_> {
    fn municipality_name(&self, code: &Option<String>) -> Cell {
        code.as_deref()
            .and_then(|c| self.reference.municipality(c))
            .map_or(Cell::Empty, |m| Cell::text(m.name_sq.clone()))
    }

    fn region_name(&self, code: &Option<String>) -> Cell {
        code.as_deref()
            .and_then(|c| self.reference.regions.iter().find(|r| r.code == c))
            .map_or(Cell::Empty, |r| Cell::text(r.name_sq.clone()))
    }

    fn age_group(&self, age: Option<i64>) -> Cell {
        age.and_then(|a| u32::try_from(a).ok())
            .and_then(|a| self.reference.age_group(a))
            .map_or(Cell::Empty, |g| Cell::text(g.code.clone()))
    }

    /// `cases.csv`: one row per accepted source record.
    pub fn cases(&self) -> Table {
        let mut table = Table::new(
            "Cases",
            &[
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
            ],
        );
        let mut order: Vec<usize> = (0..self.accepted.len()).collect();
        order.sort_by(|&a, &b| {
            self.accepted[a]
                .provenance
                .cmp(&self.accepted[b].provenance)
        });
        for i in order {
            let record = &self.accepted[i];
            let case = &record.case;
            let (age, basis) = case.age_at_event();
            let child_id = self
                .child_of
                .get(i)
                .and_then(|&c| self.children.get(c))
                .map_or(Cell::Empty, |c| Cell::text(c.child_id.clone()));
            table.rows.push(vec![
                Cell::text(record.provenance.source.clone()),
                opt(&case.record_id),
                Cell::text(record.provenance.file.clone()),
                Cell::text(record.provenance.location.clone()),
                child_id,
                case.event_date
                    .map_or(Cell::Empty, |d| Cell::text(d.to_string())),
                age.map_or(Cell::Empty, Cell::Integer),
                Cell::text(basis.as_str()),
                self.age_group(age),
                opt(&case.sex),
                opt(&case.municipality),
                self.municipality_name(&case.municipality),
                opt(&case.region),
                self.region_name(&case.region),
                opt(&case.community),
                opt(&case.activity),
                opt(&case.worst_form),
                flag(case.hazardous),
                flag(case.trafficking),
                case.hours_per_week.map_or(Cell::Empty, Cell::Number),
                opt(&case.nace),
                opt(&case.case_status),
                Cell::text(record.warnings.join("|")),
            ]);
        }
        table
    }

    /// `children.csv`: one row per unique child, `child_id` first.
    pub fn children_table(&self) -> Table {
        let mut table = Table::new(
            "Children",
            &[
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
            ],
        );
        let mut order: Vec<&IdentifiedChild> = self.children.iter().collect();
        order.sort_by(|a, b| a.child_id.cmp(&b.child_id));
        for identified in order {
            let c = &identified.child;
            let join = |set: &std::collections::BTreeSet<String>| {
                Cell::text(set.iter().cloned().collect::<Vec<_>>().join("|"))
            };
            table.rows.push(vec![
                Cell::text(identified.child_id.clone()),
                opt(&c.sex),
                c.age.map_or(Cell::Empty, Cell::Integer),
                self.age_group(c.age),
                opt(&c.municipality),
                self.municipality_name(&c.municipality),
                opt(&c.region),
                self.region_name(&c.region),
                opt(&c.community),
                opt(&c.activity),
                join(&c.activities),
                join(&c.worst_forms),
                flag(c.hazardous),
                flag(c.trafficking),
                c.first_seen
                    .map_or(Cell::Empty, |d| Cell::text(d.to_string())),
                c.last_seen
                    .map_or(Cell::Empty, |d| Cell::text(d.to_string())),
                join(&c.institutions),
                Cell::Integer(c.records as i64),
            ]);
        }
        table
    }

    /// `quarantine.csv`: one row per rejected record, with the rules it failed and why.
    pub fn quarantine(&self) -> Table {
        let mut table = Table::new(
            "Quarantine",
            &[
                "source",
                "record_id",
                "file",
                "location",
                "rules",
                "fields",
                "messages",
            ],
        );
        let mut order: Vec<&Quarantined> = self.quarantined.iter().collect();
        order.sort_by(|a, b| a.provenance.cmp(&b.provenance));
        for q in order {
            let mut ids = Vec::new();
            let mut fields = Vec::new();
            let mut messages = Vec::new();
            for hit in &q.hits {
                if let Some(rule) = self.rules.rules.get(hit.rule) {
                    ids.push(rule.id.clone());
                    fields.push(hit.field.clone().unwrap_or_default());
                    messages.push(rule.render(
                        Language::En,
                        hit.field.as_deref(),
                        hit.detail.as_deref(),
                    ));
                }
            }
            table.rows.push(vec![
                Cell::text(q.provenance.source.clone()),
                opt(&q.record_id),
                Cell::text(q.provenance.file.clone()),
                Cell::text(q.provenance.location.clone()),
                Cell::text(ids.join("|")),
                Cell::text(fields.join("|")),
                Cell::text(messages.join(" | ")),
            ]);
        }
        table
    }

    /// `findings.csv`: every finding of the run, with its owner and an English message.
    pub fn findings_table(&self) -> Table {
        let mut table = Table::new(
            "Findings",
            &[
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
            ],
        );
        for f in self.findings {
            let message = self
                .rules
                .rules
                .iter()
                .find(|r| r.id == f.rule)
                .map(|r| r.render(Language::En, f.field.as_deref(), f.detail.as_deref()))
                .unwrap_or_default();
            table.rows.push(vec![
                Cell::text(f.institution.clone()),
                Cell::text(f.source.clone()),
                Cell::text(f.file.clone()),
                Cell::text(f.location.clone()),
                opt(&f.record_id),
                opt(&f.child_id),
                Cell::text(f.rule.clone()),
                Cell::text(f.severity.as_str()),
                Cell::text(f.dimension.as_str()),
                opt(&f.field),
                Cell::text(message),
            ]);
        }
        table
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
            ("region", |_, c| c.region.iter().cloned().collect()),
            ("municipality", |_, c| {
                c.municipality.iter().cloned().collect()
            }),
            ("sex", |_, c| c.sex.iter().cloned().collect()),
            ("age_group", |p, c| match p.age_group(c.age) {
                Cell::Text(t) => vec![t],
                _ => Vec::new(),
            }),
            ("community", |_, c| c.community.iter().cloned().collect()),
            ("activity", |_, c| c.activity.iter().cloned().collect()),
            ("worst_form", |_, c| c.worst_forms.iter().cloned().collect()),
            ("institutions", |_, c| {
                vec![c.institutions.iter().cloned().collect::<Vec<_>>().join("+")]
            }),
        ];
        for (dimension, values_of) in dims {
            let mut counts: BTreeMap<String, i64> = BTreeMap::new();
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
