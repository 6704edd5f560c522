//! The synthetic data generator behind `regbridge synth`: a population of children in families, each
//! institution's reports of them with that institution's habits and noise, deliberate defects, the
//! exports in the institutions' exact formats and the ground truth.
//!
//! [`generate`] is pure and deterministic for its options and the reference data. The dataset keeps
//! only compact facts per child and per report (a few dozen bytes each); the export rows are rendered
//! on demand from a per-record seed, so a million records fit in well under 100 MB and later
//! streaming needs no change to the model. [`write`] is the only I/O.

mod lexicon;
mod names;
mod population;
mod render;
mod write;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::ops::Range;

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use regbridge_connectors::sink::table::Cell;

use crate::reference::Reference;

use self::lexicon::Lexicon;
use self::population::{Child, Report};

pub use self::render::{CSW_COLUMNS, POLICE_COLUMNS};
pub use self::write::{write, SynthError, SynthSummary, SynthWriteOptions};

/// What to generate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SynthOptions {
    /// Approximate number of records over all sources (the result is within a family's reports).
    pub records: usize,
    /// Seed of the random generator.
    pub seed: u64,
}

/// The institution a record comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Source {
    Police,
    Csw,
    Inspectorate,
}

impl Source {
    pub const ALL: [Source; 3] = [Source::Police, Source::Csw, Source::Inspectorate];

    /// The source name used in `config.toml` and `truth.csv`.
    pub fn name(self) -> &'static str {
        match self {
            Source::Police => "police",
            Source::Csw => "csw",
            Source::Inspectorate => "inspectorate",
        }
    }
}

/// A deliberate defect; each record has at most one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Defect {
    MissingGivenName,
    MissingSurname,
    ImpossibleBirthDate,
    Adult,
    UnknownMunicipality,
    MissingEventDate,
    FutureEventDate,
    BirthAfterEvent,
}

impl Defect {
    pub const ALL: [Defect; 8] = [
        Defect::MissingGivenName,
        Defect::MissingSurname,
        Defect::ImpossibleBirthDate,
        Defect::Adult,
        Defect::UnknownMunicipality,
        Defect::MissingEventDate,
        Defect::FutureEventDate,
        Defect::BirthAfterEvent,
    ];

    /// The id of the pipeline rule that must reject a record with this defect.
    pub fn rule_id(self) -> &'static str {
        match self {
            Defect::MissingGivenName => "given_name.required",
            Defect::MissingSurname => "surname.required",
            Defect::ImpossibleBirthDate => "birth_date.valid",
            Defect::Adult => "age.child",
            Defect::UnknownMunicipality => "municipality.known",
            Defect::MissingEventDate => "event_date.required",
            Defect::FutureEventDate => "event_date.not_future",
            Defect::BirthAfterEvent => "birth_date.before_event",
        }
    }
}

/// One line of `truth.csv`: which child a record is about and which defect it carries.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct TruthRow {
    pub source: Source,
    pub record_id: String,
    /// Stable synthetic child id (`K0000123`).
    pub child: String,
    pub defect: Option<Defect>,
}

/// A generated dataset: the children and every institution's reports of them.
#[derive(Debug, Clone)]
pub struct SynthDataset {
    options: SynthOptions,
    lexicon: Lexicon,
    children: Vec<Child>,
    /// Sorted by source (police, social work, inspectorate), then event date.
    reports: Vec<Report>,
}

/// Generates a dataset of about `options.records` records. Pure and deterministic: the same
/// options and reference data give the same dataset. A reference without municipalities,
/// communities or the generator's activities gives an empty dataset.
pub fn generate(options: &SynthOptions, reference: &Reference) -> SynthDataset {
    let lexicon = Lexicon::new(reference);
    let mut rng = ChaCha8Rng::seed_from_u64(options.seed);
    let (children, reports) = population::populate(options.records, &mut rng, &lexicon);
    SynthDataset {
        options: *options,
        lexicon,
        children,
        reports,
    }
}

impl SynthDataset {
    /// The options it was generated with.
    pub fn options(&self) -> &SynthOptions {
        &self.options
    }

    /// Number of records over all sources.
    pub fn len(&self) -> usize {
        self.reports.len()
    }

    /// True when there is no record.
    pub fn is_empty(&self) -> bool {
        self.reports.is_empty()
    }

    /// Number of distinct children (every one is reported at least once).
    pub fn children(&self) -> usize {
        self.children.len()
    }

    /// Number of records with a deliberate defect.
    pub fn defects(&self) -> usize {
        self.reports.iter().filter(|r| r.defect.is_some()).count()
    }

    /// Records per source name (`police`, `csw`, `inspectorate`), zeros included.
    pub fn records_per_source(&self) -> BTreeMap<String, usize> {
        Source::ALL
            .iter()
            .map(|&s| (s.name().to_string(), self.range(s).len()))
            .collect()
    }

    /// Number of children by how many distinct institutions reported them (1, 2 or 3).
    pub fn children_by_institutions(&self) -> BTreeMap<usize, usize> {
        let mut seen = vec![0u8; self.children.len()];
        for report in &self.reports {
            if let Some(mask) = seen.get_mut(report.child as usize) {
                *mask |= match report.source {
                    Source::Police => 1,
                    Source::Csw => 2,
                    Source::Inspectorate => 4,
                };
            }
        }
        let mut counts = BTreeMap::new();
        for mask in seen {
            *counts.entry(mask.count_ones() as usize).or_insert(0) += 1;
        }
        counts
    }

    /// The ground truth, one row per record, sorted by source name then record id.
    pub fn truth(&self) -> Vec<TruthRow> {
        let mut rows: Vec<TruthRow> = self
            .reports
            .iter()
            .map(|r| TruthRow {
                source: r.source,
                record_id: render::record_id(&self.lexicon, r),
                child: format!("K{:07}", u64::from(r.child) + 1),
                defect: r.defect,
            })
            .collect();
        rows.sort_by(|a, b| (a.source.name(), &a.record_id).cmp(&(b.source.name(), &b.record_id)));
        rows
    }

    /// The police export's rows (columns [`POLICE_COLUMNS`]), in file order.
    pub fn police_rows(&self) -> impl Iterator<Item = Vec<Cell>> + '_ {
        self.range(Source::Police).map(|i| self.police_row(i))
    }

    /// The social-work export's rows (columns [`CSW_COLUMNS`]), in file order.
    pub fn csw_rows(&self) -> impl Iterator<Item = Vec<Cell>> + '_ {
        self.range(Source::Csw).map(|i| self.csw_row(i))
    }

    /// The inspectorate's inspection objects, in API order.
    pub fn inspections(&self) -> impl Iterator<Item = serde_json::Value> + '_ {
        self.range(Source::Inspectorate).map(|i| self.inspection(i))
    }

    fn range(&self, source: Source) -> Range<usize> {
        let start = self.reports.partition_point(|r| r.source < source);
        let end = self.reports.partition_point(|r| r.source <= source);
        start..end
    }

    fn parts(&self, index: usize) -> Option<(&Child, &Report)> {
        let report = self.reports.get(index)?;
        let child = self.children.get(report.child as usize)?;
        Some((child, report))
    }

    fn police_row(&self, index: usize) -> Vec<Cell> {
        match self.parts(index) {
            Some((child, report)) => render::police_row(
                &self.lexicon,
                child,
                report,
                &mut render::record_rng(self.options.seed, index),
            ),
            None => Vec::new(),
        }
    }

    fn csw_row(&self, index: usize) -> Vec<Cell> {
        match self.parts(index) {
            Some((child, report)) => render::csw_row(
                &self.lexicon,
                child,
                report,
                &mut render::record_rng(self.options.seed, index),
            ),
            None => Vec::new(),
        }
    }

    fn inspection(&self, index: usize) -> serde_json::Value {
        match self.parts(index) {
            Some((child, report)) => {
                let employer_key = (child.family as usize) << 8 | usize::from(child.activity);
                render::inspection(
                    &self.lexicon,
                    child,
                    report,
                    &mut render::record_rng(self.options.seed, index),
                    &mut render::record_rng(!self.options.seed, employer_key),
                )
            }
            None => serde_json::Value::Null,
        }
    }
}
