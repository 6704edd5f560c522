//! Intake of one decoded export file: decode problems, source schema, schema drift, mapping, canonical
//! schema and rules, ending with every record either accepted (maybe with warnings) or quarantined.
//! Pure: it gets the decoded records and returns outcomes and findings (records are checked on every
//! core and gathered in file order, so the result does not depend on the thread count). It reads the
//! clock only to report how long each step took.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use chrono::NaiveDate;
use rayon::prelude::*;
use regbridge_connectors::decode::{Decoded, Format, Location, RawRecord};
use serde_json::{Map, Value};

use crate::config::{Config, ConfigError, SourceConfig};
use crate::findings::{Finding, Severity};
use crate::mapping::Mapping;
use crate::model::{CanonicalCase, Provenance};
use crate::reconcile::Survivorship;
use crate::reference::{Reference, ReferenceError};
use crate::rules::{Check, Hit, RuleBook};
use crate::schema::{observed_paths, SchemaCheck, SchemaError};

/// Everything a run reads besides the exports: reference data, rules, schemas, mappings.
#[derive(Debug)]
pub struct Assets {
    pub reference: Reference,
    pub rules: RuleBook,
    pub survivorship: Survivorship,
    pub linkage: crate::linkage::LinkageConfig,
    pub canonical: SchemaCheck,
    /// Per source name: its schema and mapping.
    pub sources: Vec<(String, SourceAssets)>,
}

/// The schema and mapping of one source.
#[derive(Debug)]
pub struct SourceAssets {
    pub schema: SchemaCheck,
    pub mapping: Mapping,
}

/// A data file of the project that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum AssetError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Reference(#[from] ReferenceError),
    #[error(transparent)]
    Schema(#[from] SchemaError),
}

impl Assets {
    /// Loads every data file the configuration names.
    pub fn load(config: &Config) -> Result<Assets, AssetError> {
        let reference =
            Reference::load(&config.paths.reference, &config.reference.region_crosswalk)?;
        let institutions: Vec<String> = config.institutions.keys().cloned().collect();
        let rules = RuleBook::load(&config.paths.rules, &institutions)?;
        let survivorship = Survivorship::load(&config.paths.rules.join("survivorship.toml"))?;
        let linkage = crate::linkage::LinkageConfig::for_config(config)?;
        let canonical = SchemaCheck::load(&config.canonical_schema_path())?;
        let mut sources = Vec::new();
        for (name, source) in &config.sources {
            let schema = SchemaCheck::load(&config.schema_path(source))?;
            let mapping = Mapping::load(&config.mapping_path(source))?;
            sources.push((name.clone(), SourceAssets { schema, mapping }));
        }
        Ok(Assets {
            reference,
            rules,
            survivorship,
            linkage,
            canonical,
            sources,
        })
    }

    /// The schema and mapping of a source.
    pub fn source(&self, name: &str) -> Option<&SourceAssets> {
        self.sources.iter().find(|(n, _)| n == name).map(|(_, a)| a)
    }
}

/// An accepted source record.
#[derive(Debug, Clone)]
pub struct Accepted {
    pub provenance: Provenance,
    pub institution: String,
    /// Boxed: a run moves a million accepted records between vectors, and the case is most of a
    /// record's size.
    pub case: Box<CanonicalCase>,
    /// Ids of the warning rules that fired.
    pub warnings: Vec<String>,
}

/// A rejected source record (or an unreadable row or file).
#[derive(Debug, Clone)]
pub struct Quarantined {
    pub provenance: Provenance,
    pub record_id: Option<String>,
    /// Indexes of the error rules that fired, with the field each named.
    pub hits: Vec<Hit>,
}

/// What intake made of one file.
#[derive(Debug, Default)]
pub struct FileOutcome {
    /// Records the file holds, counted from the decoder (records read + records it could not read),
    /// independently of what intake made of them; the run checks it equals accepted + quarantined.
    pub received: usize,
    pub accepted: Vec<Accepted>,
    pub quarantined: Vec<Quarantined>,
    pub findings: Vec<Finding>,
    /// Wall-clock seconds of checking the file's records, split into schema validation, mapping
    /// and rules in proportion to the time each step took on all cores.
    pub check_seconds: CheckSeconds,
}

/// Seconds spent on each step of checking records.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CheckSeconds {
    /// The source and canonical schemas.
    pub validate: f64,
    pub map: f64,
    pub rules: f64,
}

/// Nanoseconds each check step took, summed over the threads that checked records.
#[derive(Debug, Default)]
struct CheckClock {
    validate: AtomicU64,
    map: AtomicU64,
    rules: AtomicU64,
}

impl CheckClock {
    /// Adds the time since `since` to `step` and returns now.
    fn add(step: &AtomicU64, since: Instant) -> Instant {
        let now = Instant::now();
        let nanos = u64::try_from((now - since).as_nanos()).unwrap_or(u64::MAX);
        step.fetch_add(nanos, Ordering::Relaxed);
        now
    }

    /// `wall` seconds shared out among the steps in proportion to their summed times.
    fn share(&self, wall: f64) -> CheckSeconds {
        let [validate, map, rules] =
            [&self.validate, &self.map, &self.rules].map(|n| n.load(Ordering::Relaxed) as f64);
        let total = validate + map + rules;
        if total <= 0.0 {
            return CheckSeconds::default();
        }
        CheckSeconds {
            validate: wall * validate / total,
            map: wall * map / total,
            rules: wall * rules / total,
        }
    }
}

/// Identifies the file being taken in.
#[derive(Debug, Clone)]
pub struct FileContext<'a> {
    pub source: &'a str,
    pub institution: &'a str,
    /// File name as shown to people (relative to the source folder).
    pub file: &'a str,
    pub format: &'a Format,
    pub as_of: NaiveDate,
}

/// Takes in one decoded file. The decoded records are consumed: each one is freed as soon as it is
/// checked, so that a large file's raw records and its checked cases are not all held at once.
pub fn take_in(
    ctx: &FileContext<'_>,
    decoded: Decoded,
    source: &SourceAssets,
    assets: &Assets,
) -> FileOutcome {
    let mut outcome = FileOutcome {
        received: decoded.records.len() + decoded.problems.iter().filter(|p| p.lost).count(),
        ..FileOutcome::default()
    };
    let rules = &assets.rules;
    let readable = rules.system(|c| matches!(c, Check::Readable));
    let sound_file = rules.system(|c| matches!(c, Check::SoundFile));

    // Decode problems: a lost one stands for a record that could not be read (quarantined by file and
    // row); one at a record's location belongs to that record; any other is about the file.
    let record_locations: BTreeSet<&Location> =
        decoded.records.iter().map(|r| &r.location).collect();
    // Without a recognisable header, column names may be a child's data: never repeat them.
    let unrecognised = header_unrecognised(ctx.format, &decoded, source);
    let mut record_problems: BTreeMap<&Location, Vec<Hit>> = BTreeMap::new();
    for problem in &decoded.problems {
        let provenance = provenance(ctx, &problem.location);
        let at_record = record_locations.contains(&problem.location);
        let column = problem
            .column
            .clone()
            .filter(|_| at_record && !unrecognised);
        let hit = |rule| Hit {
            rule,
            field: column.clone(),
            detail: Some(problem.message.clone()),
        };
        if problem.lost {
            let hit = hit(readable);
            outcome
                .findings
                .push(rules.finding(&hit, ctx.institution, &provenance, None));
            outcome.quarantined.push(Quarantined {
                provenance,
                record_id: None,
                hits: vec![hit],
            });
        } else if at_record {
            record_problems
                .entry(&problem.location)
                .or_default()
                .push(hit(readable));
        } else {
            outcome.findings.push(rules.finding(
                &hit(sound_file),
                ctx.institution,
                &provenance,
                None,
            ));
        }
    }

    // The problems' hits own what they need: the records can now be consumed.
    let mut record_problems: BTreeMap<Location, Vec<Hit>> = record_problems
        .into_iter()
        .map(|(location, hits)| (location.clone(), hits))
        .collect();
    let header_hit = Hit {
        rule: rules.system(|c| matches!(c, Check::RecognisedHeader)),
        field: None,
        detail: None,
    };
    if unrecognised {
        // Perhaps the file has no header row and its first record was taken for one: count that row
        // as a record that could not be read, and never echo its cells as column names.
        let hit = header_hit.clone();
        let location = header_location(ctx.format).unwrap_or(Location::File);
        let provenance = provenance(ctx, &location);
        outcome
            .findings
            .push(rules.finding(&hit, ctx.institution, &provenance, None));
        outcome.received += 1;
        outcome.quarantined.push(Quarantined {
            provenance,
            record_id: None,
            hits: vec![hit],
        });
    } else {
        drift_findings(ctx, &decoded, source, assets, &mut outcome);
    }

    if unrecognised {
        for record in &decoded.records {
            // One reason, not ten: without its header no column of the row can be read.
            let provenance = provenance(ctx, &record.location);
            outcome
                .findings
                .push(rules.finding(&header_hit, ctx.institution, &provenance, None));
            outcome.quarantined.push(Quarantined {
                provenance,
                record_id: None,
                hits: vec![header_hit.clone()],
            });
        }
        return outcome;
    }
    // Records are checked on every core; their outcomes are gathered in file order.
    let inputs: Vec<(RawRecord, Vec<Hit>)> = decoded
        .records
        .into_iter()
        .map(|r| {
            let problems = record_problems.remove(&r.location).unwrap_or_default();
            (r, problems)
        })
        .collect();
    let clock = CheckClock::default();
    let started = Instant::now();
    let verdicts: Vec<Verdict> = inputs
        .into_par_iter()
        .map(|(record, problems)| check_record(ctx, record, problems, (source, assets), &clock))
        .collect();
    outcome.check_seconds = clock.share(started.elapsed().as_secs_f64());
    for verdict in verdicts {
        outcome.findings.extend(verdict.findings);
        match verdict.kept {
            Kept::Accepted(a) => outcome.accepted.push(a),
            Kept::Quarantined(q) => outcome.quarantined.push(q),
        }
    }
    outcome
}

/// What the checks made of one record.
struct Verdict {
    findings: Vec<Finding>,
    kept: Kept,
}

// Each verdict is moved once, into the outcome's vectors: boxing the larger variant would only add
// an allocation per record.
#[allow(clippy::large_enum_variant)]
enum Kept {
    Accepted(Accepted),
    Quarantined(Quarantined),
}

/// One record through the source schema, mapping, canonical schema and rules, with the decode
/// problems already found at its location.
fn check_record(
    ctx: &FileContext<'_>,
    record: RawRecord,
    mut hits: Vec<Hit>,
    (source, assets): (&SourceAssets, &Assets),
    clock: &CheckClock,
) -> Verdict {
    let started = Instant::now();
    let rules = &assets.rules;
    let provenance = provenance(ctx, &record.location);
    let as_value = Value::Object(record.fields);
    let schema_rule = rules.system(|c| matches!(c, Check::SourceSchema));
    hits.extend(
        source
            .schema
            .violations(&as_value)
            .into_iter()
            .map(|v| Hit {
                rule: schema_rule,
                field: v.field,
                detail: Some(v.detail),
            }),
    );
    let validated = CheckClock::add(&clock.validate, started);
    let empty = Map::new();
    let fields = match &as_value {
        Value::Object(fields) => fields,
        _ => &empty,
    };
    let mapped = source.mapping.map(fields, &assets.reference);
    drop(as_value);
    let mapped_at = CheckClock::add(&clock.map, validated);
    if let Ok(case_value) = serde_json::to_value(&mapped.case) {
        let canonical_rule = rules.system(|c| matches!(c, Check::CanonicalSchema));
        hits.extend(
            assets
                .canonical
                .violations(&case_value)
                .into_iter()
                .map(|v| Hit {
                    rule: canonical_rule,
                    field: v.field,
                    detail: Some(v.detail),
                }),
        );
    }
    let checked = CheckClock::add(&clock.validate, mapped_at);
    hits.extend(rules.evaluate(&mapped.case, &mapped.issues, ctx.as_of));
    hits.sort();
    hits.dedup();
    let record_id = mapped.case.record_id.clone();
    let findings = hits
        .iter()
        .map(|hit| rules.finding(hit, ctx.institution, &provenance, record_id.as_deref()))
        .collect();
    let (errors, warnings): (Vec<Hit>, Vec<Hit>) = hits.into_iter().partition(|h| {
        rules
            .rules
            .get(h.rule)
            .is_some_and(|r| r.severity == Severity::Error)
    });
    let kept = if errors.is_empty() {
        let mut warning_ids: Vec<String> = warnings
            .iter()
            .filter_map(|h| rules.rules.get(h.rule).map(|r| r.id.clone()))
            .collect();
        warning_ids.dedup();
        Kept::Accepted(Accepted {
            provenance,
            institution: ctx.institution.to_string(),
            case: Box::new(mapped.case),
            warnings: warning_ids,
        })
    } else {
        Kept::Quarantined(Quarantined {
            provenance,
            record_id,
            hits: errors,
        })
    };
    CheckClock::add(&clock.rules, checked);
    Verdict { findings, kept }
}

fn drift_findings(
    ctx: &FileContext<'_>,
    decoded: &Decoded,
    source: &SourceAssets,
    assets: &Assets,
    outcome: &mut FileOutcome,
) {
    let observed = observed_fields(ctx.format, decoded);
    if observed.is_empty() {
        return;
    }
    let drift = source.schema.drift(&observed);
    let rules = &assets.rules;
    let file_provenance = provenance(ctx, &Location::File);
    let unknown_rule = rules.system(|c| matches!(c, Check::KnownColumns));
    for (column, renamed_from) in drift.unknown {
        let hit = Hit {
            rule: unknown_rule,
            field: Some(column),
            detail: renamed_from.map(|m| format!(" (probably renamed from \"{m}\")")),
        };
        outcome
            .findings
            .push(rules.finding(&hit, ctx.institution, &file_provenance, None));
    }
    let missing_rule = rules.system(|c| matches!(c, Check::ExpectedColumns));
    for column in drift.missing {
        let hit = Hit {
            rule: missing_rule,
            field: Some(column),
            detail: None,
        };
        outcome
            .findings
            .push(rules.finding(&hit, ctx.institution, &file_provenance, None));
    }
}

/// The fields a decoded input has: dotted paths of every leaf of its JSON records, or the header's
/// columns of a table.
pub fn observed_fields(format: &Format, decoded: &Decoded) -> BTreeSet<String> {
    let mut observed = BTreeSet::new();
    match format {
        Format::Json(_) | Format::JsonLines => {
            for record in &decoded.records {
                observed_paths(&record.fields, "", &mut observed);
            }
        }
        _ => observed.extend(decoded.columns.iter().cloned()),
    }
    observed
}

/// A tabular file whose header has none of the columns its schema describes.
fn header_unrecognised(format: &Format, decoded: &Decoded, source: &SourceAssets) -> bool {
    let tabular = matches!(format, Format::Csv(_) | Format::Xlsx(_));
    tabular
        && !decoded.columns.is_empty()
        && !decoded.columns.iter().any(|c| source.schema.describes(c))
}

/// The location of the header row, for tabular formats.
fn header_location(format: &Format) -> Option<Location> {
    match format {
        Format::Csv(c) => Some(Location::Row(c.header_row as u64)),
        Format::Xlsx(x) => Some(Location::Row(x.header_row as u64)),
        _ => None,
    }
}

fn provenance(ctx: &FileContext<'_>, location: &Location) -> Provenance {
    let ordinal = match location {
        Location::Row(n) | Location::Line(n) => *n,
        Location::Pointer(p) => p
            .rsplit('/')
            .next()
            .and_then(|last| last.parse::<u64>().ok())
            .map_or(0, |i| i + 1),
        // Records kept by key (HTTP sources) sort by their location text, the key.
        Location::Key(_) | Location::File => 0,
    };
    Provenance {
        source: ctx.source.to_string(),
        file: ctx.file.to_string(),
        ordinal,
        location: location.to_string(),
    }
}

/// The file name of `path` relative to `dir`, with forward slashes.
pub fn display_name(dir: &Path, path: &Path) -> String {
    let relative: PathBuf = path
        .strip_prefix(dir)
        .map_or_else(|_| path.to_path_buf(), Path::to_path_buf);
    relative.to_string_lossy().replace('\\', "/")
}

/// The configured source by name.
pub fn source_config<'a>(config: &'a Config, name: &str) -> Option<&'a SourceConfig> {
    config.sources.get(name)
}
