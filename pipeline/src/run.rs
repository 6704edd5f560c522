//! One national run: read every source, take each file in, link, reconcile, publish atomically and send
//! the digests. The only module of the library that calls connectors and reads the clock.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, Utc};
use regbridge_connectors::decode::{decode, Decoded};
use regbridge_connectors::sink::csv::{write_csv_rows, CsvWriteOptions};
use regbridge_connectors::sink::json::{write_json_lines_rows, write_json_pretty};
use regbridge_connectors::sink::mail::{MailAttachment, MailTransport, OutgoingMail, SmtpSettings};
use regbridge_connectors::sink::publish::PublishDir;
use regbridge_connectors::sink::table::Rows;
use regbridge_connectors::sink::xlsx::{write_xlsx_beside, BesideJob};
use regbridge_connectors::sink::SinkError;
use regbridge_connectors::source::{list_files_with_skips, read_file};
use serde_json::{json, Value};

use crate::alerts::{
    committee_digest, institution_digest, plan, AlertError, Digest, DigestContext, DigestPolicy,
    Reader, Templates,
};
use crate::config::{read_secret, AlertTransport, Config, ConfigError, Origin, SourceConfig};
use crate::findings::Language;
use crate::findings::{Finding, Severity};
use crate::identity::{assign_ids, IdentityMemory, PseudonymKey};
use crate::intake::{
    display_name, take_in, Accepted, AssetError, Assets, FileContext, FileOutcome, Quarantined,
    SourceAssets,
};
use crate::linkage::{LinkRecord, Linkage};
use crate::publish::{IdentifiedChild, Publication};
use crate::pull::{pull_source, stored_input, PullOptions, PullSummary};
use crate::reconcile::{reconcile, Member};
use crate::rules::Hit;
use crate::state::{Attempt, FindingChanges, FindingsSeen, InputRecord, StateStore};
use rayon::prelude::*;

/// Why a run could not complete (bad data never ends up here: it becomes findings).
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error(transparent)]
    Assets(#[from] AssetError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Alerts(#[from] AlertError),
    #[error(transparent)]
    Review(#[from] crate::review::ReviewError),
    #[error(transparent)]
    State(#[from] crate::state::StateError),
    #[error("pseudonym key: {0}")]
    Key(String),
    #[error("publication failed: {0}")]
    Publish(String),
    /// A scheduled job (a pull, the digests) that could not do its work.
    #[error("{0}")]
    Job(String),
    /// A pull of an HTTP source that stopped; what it stored before stays stored.
    #[error("source {name}: {message}")]
    Pull { name: String, message: String },
    #[error("record count check failed for source {name}: received {received} ≠ accepted {accepted} + quarantined {quarantined}; nothing was published")]
    Lost {
        name: String,
        received: usize,
        accepted: usize,
        quarantined: usize,
    },
}

/// Receives progress of a run; the binary draws bars with it, tests ignore it.
pub trait Progress: Sync {
    /// A new stage begins, with the number of steps if known.
    fn stage(&self, name: &str, total: Option<u64>);
    /// One more step of the current stage.
    fn advance(&self, steps: u64);
}

/// Progress that goes nowhere.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoProgress;

impl Progress for NoProgress {
    fn stage(&self, _: &str, _: Option<u64>) {}
    fn advance(&self, _: u64) {}
}

/// Counts of one source.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct SourceCounts {
    pub files: usize,
    pub received: usize,
    pub accepted: usize,
    pub quarantined: usize,
    /// Folders or files that could not be read; the run carries on with the rest.
    pub errors: Vec<String>,
}

/// What a run did, for the terminal, `--json` and tests.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunSummary {
    pub run_id: String,
    pub started_at: String,
    pub finished_at: String,
    pub sources: BTreeMap<String, SourceCounts>,
    pub unique_children: usize,
    pub findings: BTreeMap<String, usize>,
    pub findings_by_institution: BTreeMap<String, usize>,
    pub emails_written: usize,
    pub email_errors: Vec<String>,
    pub published_to: PathBuf,
    /// Wall-clock seconds per stage (intake, link, reconcile, publish, alerts), for the benchmark
    /// harness. Never written into the published dataset, which must not change from run to run.
    pub stage_seconds: BTreeMap<String, f64>,
    /// Inputs whose content no earlier run had read.
    pub new_inputs: usize,
    /// What this run did to the open findings in the state database.
    pub finding_changes: crate::state::FindingChanges,
}

/// Wall-clock time per stage of a run.
struct StageClock {
    last: std::time::Instant,
    seconds: BTreeMap<String, f64>,
}

impl StageClock {
    fn start() -> StageClock {
        StageClock {
            last: std::time::Instant::now(),
            seconds: BTreeMap::new(),
        }
    }

    /// Records the seconds of the parts of a stage (already counted in the stage's own lap).
    fn parts<K: AsRef<str>>(&mut self, parts: &BTreeMap<K, f64>) {
        for (part, seconds) in parts {
            self.seconds.insert(
                part.as_ref().to_string(),
                (seconds * 1000.0).round() / 1000.0,
            );
        }
    }

    /// Records the time since the previous lap as `stage`.
    fn lap(&mut self, stage: &str) {
        let now = std::time::Instant::now();
        let elapsed = (now - self.last).as_secs_f64();
        self.seconds
            .insert(stage.to_string(), (elapsed * 1000.0).round() / 1000.0);
        self.last = now;
    }
}

/// Input file record for the manifest.
#[derive(Debug, Clone, serde::Serialize)]
struct InputFile {
    source: String,
    file: String,
    sha256: String,
    bytes: usize,
    records: usize,
    encoding: Option<String>,
}

#[derive(Debug, Default)]
struct Intake {
    accepted: Vec<Accepted>,
    quarantined: Vec<Quarantined>,
    findings: Vec<Finding>,
    inputs: Vec<InputFile>,
    counts: BTreeMap<String, SourceCounts>,
    /// Wall-clock seconds of intake's steps: decode, validate, map, rules.
    steps: BTreeMap<&'static str, f64>,
}

/// Performs one full run, recorded in the state database (which it holds for writing meanwhile: a
/// second run or daemon is told to wait).
pub fn run(config: &Config, progress: &dyn Progress) -> Result<RunSummary, RunError> {
    run_as(config, progress, "run", HttpPulls::All)
}

/// Which HTTP sources a run pulls before it reads what is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HttpPulls {
    /// Every one (`regbridge run`).
    All,
    /// Those without a schedule of their own (the daemon's publication).
    Unscheduled,
    /// None: publish what earlier pulls stored (`regbridge run --no-pull`).
    None,
}

/// [`run`], recorded in the state database as `kind` (the daemon's job name), pulling `pulls`.
pub fn run_as(
    config: &Config,
    progress: &dyn Progress,
    kind: &str,
    pulls: HttpPulls,
) -> Result<RunSummary, RunError> {
    recorded(config, kind, |store, run_id, started| {
        run_with_state(config, progress, store, (run_id, started, kind), pulls)
    })
}

/// Pulls the HTTP sources `pulls` names; a source whose pull stops is logged and the others carry
/// on (the run then uses what was stored before).
fn pull_http_sources(
    config: &Config,
    store: &mut StateStore,
    run_id: &str,
    pulls: HttpPulls,
    progress: &dyn Progress,
) -> Result<(), RunError> {
    for (name, source) in &config.sources {
        let wanted = match pulls {
            HttpPulls::All => true,
            HttpPulls::Unscheduled => source.schedule.is_none(),
            HttpPulls::None => false,
        };
        if !wanted || source.http.is_none() {
            continue;
        }
        progress.stage(&format!("pull {name}"), None);
        match pull_source(config, name, store, run_id, PullOptions::default()) {
            Ok(_) => {}
            Err(RunError::Pull { name, message }) => {
                tracing::error!(source = %name, error = %message, "pull failed; using the records stored before");
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// `source.unreachable` for every HTTP source whose last pull failed; the failure also keeps the
/// source's findings open (it has not delivered).
fn unreachable_findings(
    assets: &Assets,
    config: &Config,
    store: &StateStore,
    intake: &mut Intake,
) -> Result<(), RunError> {
    let rule = assets
        .rules
        .system(|c| matches!(c, crate::rules::Check::ReachableSource));
    for health in store.pull_health()? {
        let Some(error) = &health.last_error else {
            continue;
        };
        let Some(source) = config
            .sources
            .get(&health.source)
            .filter(|s| s.http.is_some())
        else {
            continue;
        };
        let detail = match &health.last_ok_at {
            Some(at) => format!(
                "{} failed pulls in a row since {at}; the last: {error}",
                health.consecutive_failures
            ),
            None => format!(
                "{} failed pulls, never one that worked; the last: {error}",
                health.consecutive_failures
            ),
        };
        intake
            .counts
            .entry(health.source.clone())
            .or_default()
            .errors
            .push(detail.clone());
        let hit = Hit {
            rule,
            field: None,
            detail: Some(detail),
        };
        let provenance = crate::model::Provenance {
            source: health.source.clone(),
            file: String::new(),
            ordinal: 0,
            location: "source".to_string(),
        };
        intake.findings.push(
            assets
                .rules
                .finding(&hit, &source.institution, &provenance, None),
        );
    }
    Ok(())
}

/// Runs `body` holding the state database for writing, recorded there as a run of `kind`: started,
/// then ok with its JSON summary or failed with the error.
fn recorded<T: serde::Serialize>(
    config: &Config,
    kind: &str,
    body: impl FnOnce(&mut StateStore, &str, DateTime<Utc>) -> Result<T, RunError>,
) -> Result<T, RunError> {
    let started: DateTime<Utc> = Utc::now();
    let run_id = format!("{}", started.format("%Y%m%dT%H%M%S%.3fZ"));
    let mut store = StateStore::open_writer(&config.run.state_dir, &format!("regbridge {kind}"))?;
    store.begin_run(&run_id, kind, &started.to_rfc3339())?;
    let result = body(&mut store, &run_id, started);
    let finished = Utc::now().to_rfc3339();
    match &result {
        Ok(summary) => {
            let text = serde_json::to_string(summary).unwrap_or_default();
            store.finish_run(&run_id, &finished, Ok(&text))?;
        }
        Err(e) => store.finish_run(&run_id, &finished, Err(&e.to_string()))?,
    }
    result
}

fn run_with_state(
    config: &Config,
    progress: &dyn Progress,
    store: &mut StateStore,
    (run_id, started, kind): (&str, DateTime<Utc>, &str),
    pulls: HttpPulls,
) -> Result<RunSummary, RunError> {
    let run_id = run_id.to_string();
    // Dates are judged in Kosovo's civil time: a record dated today is not "in the future" at 00:30.
    let local = started.with_timezone(&config.timezone());
    let as_of = local.date_naive();
    let assets = Assets::load(config)?;
    let templates = Templates::load(&config.paths.templates)?;
    let key = pseudonym_key(config)?;
    let mut clock = StageClock::start();

    pull_http_sources(config, store, &run_id, pulls, progress)?;
    clock.lap("pull");
    let mut intake = read_sources(config, &assets, as_of, progress, Some(store));
    unreachable_findings(&assets, config, store, &mut intake)?;
    unique_findings(&assets, &mut intake);
    let new_inputs = record_inputs(store, &run_id, &intake.inputs)?;
    let freshness = freshness(config, store, started)?;
    stale_findings(&assets, config, &freshness, &mut intake);
    clock.lap("intake");
    clock.parts(&intake.steps);

    progress.stage("link", None);
    let standardising = std::time::Instant::now();
    let records: Vec<LinkRecord> = intake
        .accepted
        .par_iter()
        .map(|a| LinkRecord::from_case(&a.provenance.source, &a.case, &assets.reference.folder))
        .collect();
    crate::review::import_decisions_file(store, &config.run.state_dir)?;
    let decisions = crate::review::read_decisions(store)?;
    let standardised = standardising.elapsed().as_secs_f64();
    let linkage = assets.linkage.linker(decisions).link(&records);
    // The review queue names its records; the records standardised for linkage are not needed
    // after it (a million of them hold hundreds of megabytes).
    let queue: Vec<crate::review::QueuedPair> = linkage
        .review
        .iter()
        .map(|&(i, j, probability)| crate::review::QueuedPair {
            probability,
            a: (records[i].source.clone(), records[i].record_id.clone()),
            b: (records[j].source.clone(), records[j].record_id.clone()),
        })
        .collect();
    // Freed on another core (a million take about half a second) while reconciliation goes on.
    std::thread::spawn(move || drop(records));
    clock.lap("link");
    clock.parts(&BTreeMap::from([("standardise", standardised)]));
    clock.parts(&linkage.stage_seconds);

    progress.stage("reconcile", Some(linkage.clusters.len() as u64));
    let lap = step_log("reconciliation");
    let compared: Vec<_> = assets.rules.agreement_fields();
    let compared_fields: Vec<_> = compared.iter().map(|(_, f)| *f).collect();
    let mut child_of = vec![0usize; intake.accepted.len()];
    // Identifiers stay with their children from run to run (the state database's child_ids).
    let memory = read_identity_memory(store, &config.run.state_dir)?;
    let record_refs: Vec<Vec<(String, String)>> = linkage
        .clusters
        .par_iter()
        .map(|cluster| {
            cluster
                .iter()
                .map(|&i| {
                    let a = &intake.accepted[i];
                    (
                        a.provenance.source.clone(),
                        a.case.record_id.clone().unwrap_or_default(),
                    )
                })
                .collect()
        })
        .collect();
    lap("identities read");
    let (child_ids, identity_changes) = assign_ids(&record_refs, &memory, &key);
    drop((record_refs, memory));
    lap("identifiers assigned");
    // Each child is reconciled on its own (on every core); results are gathered in cluster order.
    let (children, conflicts): (Vec<IdentifiedChild>, Vec<Vec<Finding>>) = linkage
        .clusters
        .par_iter()
        .zip(child_ids.into_par_iter())
        .map(|(cluster, child_id)| {
            let members: Vec<Member<'_>> = cluster
                .iter()
                .map(|&i| {
                    let a = &intake.accepted[i];
                    Member {
                        institution: &a.institution,
                        source: &a.provenance.source,
                        record_id: a.case.record_id.as_deref().unwrap_or(""),
                        case: &a.case,
                    }
                })
                .collect();
            let (child, conflicts) = reconcile(&members, &assets.survivorship, &compared_fields);
            let mut findings = Vec::new();
            for conflict in conflicts {
                let record = &intake.accepted[cluster[conflict.member]];
                if let Some((rule, _)) = compared.iter().find(|(_, f)| *f == conflict.field) {
                    let mut finding =
                        record_finding(&assets, record, *rule, Some(conflict.field.as_str()));
                    finding.child_id = Some(child_id.clone());
                    findings.push(finding);
                }
            }
            (IdentifiedChild { child_id, child }, findings)
        })
        .unzip();
    lap("children reconciled");
    for (c, (cluster, findings)) in linkage.clusters.iter().zip(conflicts).enumerate() {
        intake.findings.extend(findings);
        for &i in cluster {
            child_of[i] = c;
        }
        progress.advance(1);
    }

    lap("findings gathered");
    intake.findings.sort();
    lap("findings sorted");
    clock.lap("reconcile");
    progress.stage("publish", None);
    let publication = Publication {
        accepted: &intake.accepted,
        child_of: &child_of,
        children: &children,
        quarantined: &intake.quarantined,
        findings: &intake.findings,
        reference: &assets.reference,
        rules: &assets.rules,
    };
    let finished = Utc::now();
    let mut manifest = manifest(
        &RunFacts {
            run_id: &run_id,
            timezone: &config.run.timezone,
            started,
            finished,
        },
        &intake,
        &linkage,
        children.len(),
    );
    if let Some(object) = manifest.as_object_mut() {
        object.insert("identity".to_string(), json!(identity_changes));
        object.insert("freshness".to_string(), json!(freshness));
    }
    let delivered: Vec<String> = intake
        .counts
        .iter()
        // A source with a file or folder it could not read this time keeps its findings open.
        .filter(|(_, c)| c.files > 0 && c.errors.is_empty())
        .map(|(name, _)| name.clone())
        .collect();
    let now = Utc::now().to_rfc3339();
    let seen = FindingsSeen {
        at: &now,
        findings: &intake.findings,
        delivered: &delivered,
    };
    // The identifiers and the findings' lifecycle are written while the release is, and kept only
    // once it is in place.
    let accepted = &intake.accepted;
    let mut finding_changes = None;
    let remember = |released: &mut dyn FnMut() -> bool| {
        let (child_of, children) = (&child_of, &children);
        finding_changes = remember_identities(
            store,
            &run_id,
            (accepted, child_of, children),
            (&identity_changes, &seen),
            released,
        )?;
        Ok(())
    };
    let published_to = publish(
        &intake.counts,
        config,
        &run_id,
        &publication,
        &manifest,
        remember,
    )?;
    crate::review::write_queue(&config.run.state_dir, &queue)?;
    clock.lap("publish");

    let unique_children = children.len();
    // What was published is not needed any more. A million records take about a second to free:
    // they are freed on another core while the findings are brought up to date and mailed.
    let published = (
        std::mem::take(&mut intake.accepted),
        std::mem::take(&mut intake.quarantined),
        children,
        child_of,
        linkage,
    );
    // Published, so the identifiers and the findings were committed with it.
    let finding_changes = finding_changes
        .ok_or_else(|| RunError::Job("the findings were not brought up to date".into()))?;
    std::thread::scope(|scope| {
        scope.spawn(move || drop(published));
        let lap = step_log("alerts");

        progress.stage("alerts", None);
        // The daemon's publication leaves digests to the `digests` job when one is scheduled; a run
        // started by hand plans them from the findings' history and sends them at once.
        let deferred = kind == "publish" && config.schedule.digests.is_some();
        let mut delivery = Delivery::default();
        if deferred {
            mail_outcome(&mut delivery, deliver_due(config, store, Backoff::Respect));
        } else {
            let queued = queue_digests(config, store, &assets.rules, &templates, &run_id);
            lap("digests queued");
            mail_outcome(&mut delivery, queued);
            mail_outcome(&mut delivery, deliver_due(config, store, Backoff::Ignore));
            lap("mail delivered");
        }
        let (emails_written, email_errors) = (delivery.sent, delivery.errors);
        clock.lap("alerts");

        let mut findings = BTreeMap::new();
        let mut findings_by_institution = BTreeMap::new();
        for f in &intake.findings {
            *findings.entry(f.severity.as_str().to_string()).or_insert(0) += 1;
            *findings_by_institution
                .entry(f.institution.clone())
                .or_insert(0) += 1;
        }
        Ok(RunSummary {
            run_id,
            started_at: started.to_rfc3339(),
            finished_at: Utc::now().to_rfc3339(),
            sources: intake.counts,
            unique_children,
            findings,
            findings_by_institution,
            emails_written,
            email_errors,
            published_to,
            stage_seconds: clock.seconds,
            new_inputs,
            finding_changes,
        })
    })
}

/// Every accepted record of the configured sources, standardised for linkage, as a run would see
/// them (for `eval`'s blocking recall); nothing is written.
pub fn link_records(
    config: &Config,
) -> Result<Vec<(crate::eval::RecordKey, LinkRecord)>, RunError> {
    let assets = Assets::load(config)?;
    let as_of = Utc::now().with_timezone(&config.timezone()).date_naive();
    let intake = read_sources(config, &assets, as_of, &NoProgress, None);
    Ok(intake
        .accepted
        .iter()
        .map(|a| {
            let key = (
                a.provenance.source.clone(),
                a.case.record_id.clone().unwrap_or_default(),
            );
            (
                key,
                LinkRecord::from_case(&a.provenance.source, &a.case, &assets.reference.folder),
            )
        })
        .collect())
}

/// Reads every source: each folder's files (with a state store, keeping each new content in its
/// archive) and each HTTP source's stored records (from the state store, or the state database
/// opened for reading when none is given). Folder files are read, decoded and checked on every
/// core at once, largest first; what came of them is added in source and file order, so the intake
/// is the same whatever finished first.
fn read_sources(
    config: &Config,
    assets: &Assets,
    as_of: chrono::NaiveDate,
    progress: &dyn Progress,
    archive: Option<&StateStore>,
) -> Intake {
    let mut intake = Intake::default();
    let mut reader = None;
    let readings: Vec<(Reading<'_>, Option<Origin<'_>>)> = config
        .sources
        .iter()
        .filter_map(|(name, source)| {
            intake.counts.entry(name.clone()).or_default();
            let reading = Reading {
                name,
                source,
                assets,
                source_assets: assets.source(name)?,
                as_of,
            };
            Some((reading, source.origin()))
        })
        .collect();
    let folders: Vec<FolderListing> = readings
        .iter()
        .map(|(reading, origin)| match origin {
            Some(Origin::Folder { path, glob }) => list_folder(reading.name, path, glob),
            _ => FolderListing::default(),
        })
        .collect();
    let shelf = archive.map(StateStore::archive_shelf);
    let mut read = read_files(&readings, &folders, shelf.as_ref(), progress).into_iter();
    for ((reading, origin), folder) in readings.iter().zip(folders) {
        match origin {
            Some(Origin::Folder { .. }) => {
                let files = read.by_ref().take(folder.files.len());
                add_folder(reading, folder, files, &mut intake);
            }
            Some(Origin::Http(http)) => {
                let store = match archive {
                    Some(store) => Some(store),
                    None => {
                        if reader.is_none() {
                            reader = StateStore::open_reader(&config.run.state_dir)
                                .ok()
                                .flatten();
                        }
                        reader.as_ref()
                    }
                };
                read_stored(reading, http, store, &mut intake);
            }
            None => {}
        }
    }
    intake
}

/// The source being read, and what it is read with.
struct Reading<'a> {
    name: &'a str,
    source: &'a SourceConfig,
    assets: &'a Assets,
    source_assets: &'a SourceAssets,
    as_of: chrono::NaiveDate,
}

impl Reading<'_> {
    /// The file being taken in, for the checks.
    fn context<'a>(&'a self, file: &'a str) -> FileContext<'a> {
        FileContext {
            source: self.name,
            institution: &self.source.institution,
            file,
            format: &self.source.format,
            as_of: self.as_of,
        }
    }

    /// Takes in one decoded input and adds what came of it to the intake.
    fn take_in(&self, input: InputFile, decoded: Decoded, intake: &mut Intake) {
        let outcome = take_in(
            &self.context(&input.file),
            decoded,
            self.source_assets,
            self.assets,
        );
        add_outcome(self.name, input, outcome, intake);
    }
}

/// Adds what came of one input to the intake.
fn add_outcome(source: &str, input: InputFile, outcome: FileOutcome, intake: &mut Intake) {
    let check = outcome.check_seconds;
    for (step, seconds) in [
        ("validate", check.validate),
        ("map", check.map),
        ("rules", check.rules),
    ] {
        *intake.steps.entry(step).or_insert(0.0) += seconds;
    }
    let counts = intake.counts.entry(source.to_string()).or_default();
    counts.files += 1;
    counts.received += outcome.received;
    counts.accepted += outcome.accepted.len();
    counts.quarantined += outcome.quarantined.len();
    intake.inputs.push(InputFile {
        records: outcome.received,
        ..input
    });
    intake.accepted.extend(outcome.accepted);
    intake.quarantined.extend(outcome.quarantined);
    intake.findings.extend(outcome.findings);
}

/// A folder source's files, in the order they are taken in, and the entries that could not be
/// listed.
#[derive(Debug, Default)]
struct FolderListing {
    dir: PathBuf,
    files: Vec<PathBuf>,
    errors: Vec<String>,
}

/// Lists a folder source's files matching `glob`; what cannot be listed is logged and kept as the
/// source's errors.
fn list_folder(name: &str, dir: &Path, glob: &str) -> FolderListing {
    let mut listing = FolderListing {
        dir: dir.to_path_buf(),
        ..FolderListing::default()
    };
    match list_files_with_skips(dir, glob) {
        Ok((files, skipped)) => {
            for skip in skipped {
                tracing::warn!(source = %name, error = %skip, "folder entry skipped");
                listing.errors.push(skip);
            }
            listing.files = files;
        }
        Err(e) => {
            tracing::warn!(source = %name, error = %e, "source skipped");
            listing.errors.push(e.to_string());
        }
    }
    listing
}

/// What came of reading one file of a folder, or why it could not be read (the message names it).
type FileRead = Result<TakenFile, String>;

/// A file of a folder, read, decoded and checked.
struct TakenFile {
    input: InputFile,
    /// `None` when an earlier file of the folder has the same content: it is taken in once.
    outcome: Option<FileOutcome>,
    decode_seconds: f64,
    /// The file could not be kept in the archive (the message names it).
    not_archived: Option<String>,
}

/// One listed file of a folder source, to be taken in.
#[derive(Clone, Copy)]
struct FileJob<'a> {
    /// Its place in the listing of every folder, folder by folder.
    order: usize,
    size: u64,
    reading: &'a Reading<'a>,
    dir: &'a Path,
    path: &'a Path,
}

/// What the threads taking in files share.
struct SharedIntake<'a> {
    shelf: Option<&'a crate::state::ArchiveShelf>,
    /// For each source and content (sha256), the first listed file known to have it.
    first_with: std::sync::Mutex<BTreeMap<(&'a str, String), usize>>,
}

/// Reads, archives, decodes and checks every listed file, the largest first on whichever core is
/// free; returns what came of each in listing order (folder by folder).
fn read_files(
    readings: &[(Reading<'_>, Option<Origin<'_>>)],
    folders: &[FolderListing],
    shelf: Option<&crate::state::ArchiveShelf>,
    progress: &dyn Progress,
) -> Vec<FileRead> {
    let mut jobs: Vec<FileJob<'_>> = Vec::new();
    for ((reading, _), folder) in readings.iter().zip(folders) {
        for path in &folder.files {
            jobs.push(FileJob {
                order: jobs.len(),
                size: std::fs::metadata(path).map_or(0, |m| m.len()),
                reading,
                dir: &folder.dir,
                path,
            });
        }
    }
    progress.stage("read sources", Some(jobs.len() as u64));
    // Largest first, so that no core is left with one big file at the end.
    jobs.sort_by(|a, b| b.size.cmp(&a.size).then(a.order.cmp(&b.order)));
    let shared = SharedIntake {
        shelf,
        first_with: std::sync::Mutex::new(BTreeMap::new()),
    };
    // Each core takes the next job when it is done with one (a file's own checks still spread
    // over every core). One loop per pool thread, never more: a thread waiting on its file's
    // checks cannot start a second loop inside the first.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let done = std::sync::Mutex::new(Vec::with_capacity(jobs.len()));
    rayon::broadcast(|_| loop {
        let taken = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let Some(job) = jobs.get(taken) else {
            break;
        };
        let read = read_one(job, &shared);
        progress.advance(1);
        done.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((job.order, read));
    });
    let mut done: Vec<(usize, FileRead)> = done.into_inner().unwrap_or_else(|e| e.into_inner());
    done.sort_by_key(|(order, _)| *order);
    done.into_iter().map(|(_, read)| read).collect()
}

/// Reads, archives, decodes and checks one file, unless an earlier file of its folder has the same
/// content.
fn read_one<'a>(job: &FileJob<'a>, shared: &SharedIntake<'a>) -> FileRead {
    let reading = job.reading;
    let name = reading.name;
    let file_name = display_name(job.dir, job.path);
    let file = match read_file(job.dir, job.path) {
        Ok(file) => file,
        Err(e) => {
            tracing::warn!(source = %name, file = %file_name, error = %e, "file skipped");
            return Err(e.to_string());
        }
    };
    let mut input = InputFile {
        source: name.to_string(),
        file: file_name,
        sha256: file.sha256.clone(),
        bytes: file.bytes.len(),
        records: 0,
        encoding: None,
    };
    let first = {
        let mut first_with = shared.first_with.lock().unwrap_or_else(|e| e.into_inner());
        let first = first_with
            .entry((name, file.sha256.clone()))
            .or_insert(job.order);
        *first = (*first).min(job.order);
        *first
    };
    if first < job.order {
        return Ok(TakenFile {
            input,
            outcome: None,
            decode_seconds: 0.0,
            not_archived: None,
        });
    }
    let not_archived = shared.shelf.and_then(|shelf| {
        let e = shelf.keep(&file.sha256, &file.bytes).err()?;
        tracing::warn!(source = %name, file = %input.file, error = %e, "not archived");
        Some(format!("{}: not archived: {e}", input.file))
    });
    let started = std::time::Instant::now();
    let decoded = decode(&file.bytes, &reading.source.format);
    let decode_seconds = started.elapsed().as_secs_f64();
    tracing::debug!(source = %name, file = %input.file, records = decoded.records.len(), decode_ms = started.elapsed().as_millis() as u64, "decoded");
    input.encoding = decoded.encoding.map(str::to_string);
    drop(file);
    let started = std::time::Instant::now();
    let outcome = take_in(
        &reading.context(&input.file),
        decoded,
        reading.source_assets,
        reading.assets,
    );
    tracing::debug!(source = %name, file = %input.file, check_ms = started.elapsed().as_millis() as u64, "checked");
    Ok(TakenFile {
        input,
        outcome: Some(outcome),
        decode_seconds,
        not_archived,
    })
}

/// Adds a folder's files to the intake in listing order; the same content twice (under any name)
/// is taken in once.
fn add_folder(
    reading: &Reading<'_>,
    folder: FolderListing,
    files: impl Iterator<Item = FileRead>,
    intake: &mut Intake,
) {
    let name = reading.name;
    let mut errors = folder.errors;
    // Content already taken in (sha256 → file): the same export dropped twice is taken in once.
    let mut seen: BTreeMap<String, String> = BTreeMap::new();
    for read in files {
        let TakenFile {
            input,
            outcome,
            decode_seconds,
            not_archived,
        } = match read {
            Ok(taken) => taken,
            Err(error) => {
                errors.push(error);
                continue;
            }
        };
        if let Some(first) = seen.get(&input.sha256) {
            intake.findings.push(duplicate_file_finding(
                reading.assets,
                name,
                &reading.source.institution,
                &input.file,
                first,
            ));
            continue;
        }
        let Some(outcome) = outcome else {
            // Only a file whose content an earlier file had is left out, and that file was
            // taken in above.
            errors.push(format!("{}: not taken in", input.file));
            continue;
        };
        seen.insert(input.sha256.clone(), format!("{name}/{}", input.file));
        errors.extend(not_archived);
        *intake.steps.entry("decode").or_insert(0.0) += decode_seconds;
        add_outcome(name, input, outcome, intake);
    }
    intake
        .counts
        .entry(name.to_string())
        .or_default()
        .errors
        .extend(errors);
}

/// Reads an HTTP source's records as stored by its pulls.
fn read_stored(
    reading: &Reading<'_>,
    http: &regbridge_connectors::source::http::HttpSettings,
    store: Option<&StateStore>,
    intake: &mut Intake,
) {
    let stored = store.map(|store| stored_input(store, reading.name, http));
    // An API that answered a successful pull with no records has delivered (an empty set).
    let pulled_ok = store
        .and_then(|store| store.pull_health().ok())
        .is_some_and(|health| {
            health
                .iter()
                .any(|h| h.source == reading.name && h.last_ok_at.is_some())
        });
    match stored {
        Some(Ok(stored)) if !stored.decoded.records.is_empty() || pulled_ok => {
            let input = InputFile {
                source: reading.name.to_string(),
                file: stored.file,
                sha256: stored.sha256,
                bytes: stored.bytes,
                records: 0,
                encoding: None,
            };
            reading.take_in(input, stored.decoded, intake);
        }
        Some(Ok(_)) | None => {
            tracing::info!(source = reading.name, "no records pulled yet");
        }
        Some(Err(e)) => {
            tracing::warn!(source = reading.name, error = %e, "stored records unreadable");
            let counts = intake.counts.entry(reading.name.to_string()).or_default();
            counts.errors.push(e.to_string());
        }
    }
}

/// A digest as the mail that carries it: a stable Message-ID (the run and the reader), so that a
/// copy sent twice after a crash is one message to mail clients.
fn digest_mail(config: &Config, run_id: &str, digest: &Digest) -> OutgoingMail {
    let list = if digest.key == "committee" {
        "regbridge national summary <committee.regbridge>".to_string()
    } else {
        format!("regbridge digests for {0} <{0}.regbridge>", digest.key)
    };
    OutgoingMail {
        from: config.alerts.from.clone(),
        to: digest.recipients.clone(),
        subject: digest.subject.clone(),
        text: digest.text.clone(),
        html: Some(digest.html.clone()),
        message_id: Some(format!("<{run_id}.{}@regbridge>", digest.key)),
        headers: vec![
            ("Auto-Submitted".to_string(), "auto-generated".to_string()),
            ("Precedence".to_string(), "bulk".to_string()),
            ("List-Id".to_string(), list),
        ],
        attachments: digest
            .attachment
            .iter()
            .map(|text| MailAttachment {
                name: "findings.csv".to_string(),
                content_type: "text/csv; charset=utf-8".to_string(),
                text: text.clone(),
            })
            .collect(),
    }
}

/// The next digests, planned from the findings' history in the state database: one per
/// institution with something to tell, and the Committee's summary when any has. `language`
/// overrides every reader's language (for `alerts preview`).
pub fn next_digests(
    config: &Config,
    store: &StateStore,
    (rules, templates): (&crate::rules::RuleBook, &Templates),
    run_id: &str,
    language: Option<Language>,
) -> Result<Vec<Digest>, RunError> {
    let now = Utc::now();
    let date = now
        .with_timezone(&config.timezone())
        .format("%d.%m.%Y")
        .to_string();
    let alerts = &config.alerts;
    let ctx = DigestContext {
        run_id,
        date: &date,
        policy: DigestPolicy {
            reminder_days: alerts.reminder_days,
            max_records_per_rule: alerts.max_records_per_rule,
            max_findings_per_email: alerts.max_findings_per_email,
        },
    };
    let planned = plan(&store.alert_candidates()?, now, alerts.reminder_days);
    let reviews = pending_reviews(config);
    let mut digests = Vec::new();
    for (key, items) in &planned {
        let Some(institution) = config.institutions.get(key) else {
            continue;
        };
        let reader = Reader {
            key,
            name: &institution.name,
            language: language.unwrap_or(institution.language),
            recipients: &institution.recipients,
        };
        let waiting = reviews.get(key).copied().unwrap_or(0);
        digests.push(institution_digest(
            &reader,
            items,
            waiting,
            (rules, templates),
            &ctx,
        )?);
    }
    // The Committee hears of what goes to institutions: not of readers without recipients (whose
    // findings are never marked told, and would come back in every summary).
    let planned: BTreeMap<String, Vec<crate::alerts::PlannedItem>> = planned
        .into_iter()
        .filter(|(key, _)| {
            language.is_some()
                || config
                    .institutions
                    .get(key)
                    .is_some_and(|i| !i.recipients.is_empty())
        })
        .collect();
    if let (Some(committee), false) = (&alerts.committee, planned.is_empty()) {
        let reader = Reader {
            key: "committee",
            name: &committee.name,
            language: language.unwrap_or(committee.language),
            recipients: &committee.recipients,
        };
        digests.push(committee_digest(
            &reader,
            &planned,
            &config.institutions,
            (rules, templates),
            &ctx,
        )?);
    }
    Ok(digests)
}

/// The next digests as the mails that would carry them (outbox key, mail), planned from the state
/// database without marking or sending anything (`regbridge alerts preview`).
pub fn preview_digests(
    config: &Config,
    language: Option<Language>,
) -> Result<Vec<(String, OutgoingMail)>, RunError> {
    let Some(store) = StateStore::open_reader(&config.run.state_dir)? else {
        return Ok(Vec::new());
    };
    let assets = Assets::load(config)?;
    let templates = Templates::load(&config.paths.templates)?;
    let run_id = format!("preview-{}", Utc::now().format("%Y%m%dT%H%M%SZ"));
    let digests = next_digests(
        config,
        &store,
        (&assets.rules, &templates),
        &run_id,
        language,
    )?;
    Ok(digests
        .iter()
        .map(|d| (d.key.clone(), digest_mail(config, &run_id, d)))
        .collect())
}

/// Pairs in the review queue per institution whose records they involve.
fn pending_reviews(config: &Config) -> BTreeMap<String, usize> {
    let mut counts = BTreeMap::new();
    let queue = crate::review::read_queue(&config.run.state_dir).unwrap_or_default();
    for pair in queue {
        let mut institutions: Vec<&str> = [&pair.a.0, &pair.b.0]
            .iter()
            .filter_map(|source| config.sources.get(source.as_str()))
            .map(|s| s.institution.as_str())
            .collect();
        institutions.dedup();
        for institution in institutions {
            *counts.entry(institution.to_string()).or_insert(0) += 1;
        }
    }
    counts
}

/// Plans the next digests and queues those with recipients (each superseding its reader's unsent
/// one); returns how many were queued. A mail whose sending was cut short goes first, as it is,
/// so that its findings are not planned into a second copy under another Message-ID. A reader
/// whose last digest was refused for good gets the next one only after `reminder_days`. A waiting
/// digest of a reader with nothing to tell any more is set aside.
fn queue_digests(
    config: &Config,
    store: &mut StateStore,
    rules: &crate::rules::RuleBook,
    templates: &Templates,
    run_id: &str,
) -> Result<Delivery, RunError> {
    let first = deliver_where(config, store, Backoff::Ignore, &|m| m.interrupted)?;
    let digests = next_digests(config, store, (rules, templates), run_id, None)?;
    let at = Utc::now().to_rfc3339();
    let pause_since =
        (Utc::now() - chrono::Duration::days(config.alerts.reminder_days)).to_rfc3339();
    let mut planned = std::collections::BTreeSet::new();
    for digest in digests.iter().filter(|d| !d.recipients.is_empty()) {
        planned.insert(digest.key.clone());
        if store.refused_since(&digest.key, &pause_since)? {
            tracing::warn!(key = %digest.key, "the last digest was refused for good; waiting before the next");
            continue;
        }
        let mail = digest_mail(config, run_id, digest);
        store.queue_mail((run_id, &at), &digest.key, &mail, &digest.items)?;
    }
    for key in store.waiting_keys()? {
        let reader = key == "committee" || config.institutions.contains_key(&key);
        if reader && !planned.contains(&key) {
            store.supersede_waiting(&key)?;
        }
    }
    Ok(first)
}

/// What a delivery of the waiting mail did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Delivery {
    pub sent: usize,
    /// `reader: error` for each mail that could not be delivered (it stays waiting, unless refused
    /// for good).
    pub errors: Vec<String>,
}

/// Whether a delivery waits for each mail's next attempt after a temporary failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backoff {
    /// The daemon: only mails whose next attempt is due.
    Respect,
    /// A person's command: every mail waiting.
    Ignore,
}

/// Sends the outbox's waiting mails (as `backoff` allows). A mail counts as sent only once the
/// server accepted it; a temporary failure (server down, 4xx) waits 1 min, 2 min, 4 min … (at
/// most an hour) for its next attempt; a permanent one (5xx) is given up and reported.
fn deliver_due(
    config: &Config,
    store: &mut StateStore,
    backoff: Backoff,
) -> Result<Delivery, RunError> {
    deliver_where(config, store, backoff, &|_| true)
}

/// Adds what happened to the mail to a delivery, or the reason it could not be tried: mail never
/// fails a run that has published.
fn mail_outcome(delivery: &mut Delivery, result: Result<Delivery, RunError>) {
    match result {
        Ok(more) => {
            delivery.sent += more.sent;
            delivery.errors.extend(more.errors);
        }
        Err(e) => {
            tracing::warn!(error = %e, "alerts not sent");
            delivery.errors.push(e.to_string());
        }
    }
}

/// [`deliver_due`] for the mails `wanted` accepts (by outbox key: an institution, `committee`,
/// `it:<source>`; or by whether their last attempt was cut short).
pub(crate) fn deliver_where(
    config: &Config,
    store: &mut StateStore,
    backoff: Backoff,
    wanted: &dyn Fn(&crate::state::PendingMail) -> bool,
) -> Result<Delivery, RunError> {
    let now = Utc::now();
    let due = match backoff {
        Backoff::Respect => store.due_mails(Some(&now.to_rfc3339()))?,
        Backoff::Ignore => store.due_mails(None)?,
    };
    let due: Vec<_> = due.into_iter().filter(|m| wanted(m)).collect();
    if due.is_empty() {
        return Ok(Delivery::default());
    }
    let transport = transport(config)?;
    let mut delivery = Delivery::default();
    for pending in due {
        let id = (pending.run_id.as_str(), pending.key.as_str());
        if pending.interrupted {
            // An earlier attempt stopped before its end was recorded: the server may have the
            // mail already. It goes again with the same Message-ID, so a second copy, if there is
            // one, is one message to mail clients.
            tracing::warn!(key = %pending.key, "resending a mail whose last attempt was cut short");
        }
        store.mark_sending(id.0, id.1, &Utc::now().to_rfc3339())?;
        let at = Utc::now().to_rfc3339();
        match transport.send(&pending.mail) {
            Ok(()) => {
                store.record_attempt(id, &at, Attempt::Sent)?;
                delivery.sent += 1;
            }
            Err(SinkError::MailRefused(error)) => {
                tracing::error!(key = %pending.key, error = %error, "mail refused for good");
                store.record_attempt(id, &at, Attempt::Failed { error: &error })?;
                delivery
                    .errors
                    .push(format!("{}: refused, not retried: {error}", pending.key));
            }
            Err(e) => {
                let error = e.to_string();
                let wait = chrono::Duration::minutes(1i64 << pending.attempts.min(6))
                    .min(chrono::Duration::hours(1));
                let next_at = (Utc::now() + wait).to_rfc3339();
                tracing::warn!(key = %pending.key, error = %error, next = %next_at, "mail not delivered; it waits in the outbox");
                store.record_attempt(
                    id,
                    &at,
                    Attempt::Retry {
                        error: &error,
                        next_at: &next_at,
                    },
                )?;
                delivery.errors.push(format!("{}: {error}", pending.key));
            }
        }
    }
    Ok(delivery)
}

/// Plans and sends the digests (the daemon's `digests` job, and `regbridge alerts send`),
/// recorded as a run of `kind`; then sends whatever else waits in the outbox.
pub fn send_digests(config: &Config, kind: &str, backoff: Backoff) -> Result<Delivery, RunError> {
    let assets = Assets::load(config)?;
    let templates = Templates::load(&config.paths.templates)?;
    recorded(config, kind, |store, run_id, _| {
        let mut delivery = queue_digests(config, store, &assets.rules, &templates, run_id)?;
        mail_outcome(&mut delivery, deliver_due(config, store, backoff));
        Ok(delivery)
    })
}

/// Sends the mails whose next attempt is due (between the daemon's jobs), without a run record
/// when there is nothing to send.
pub fn retry_due_mail(config: &Config) -> Result<Delivery, RunError> {
    let due = StateStore::open_reader(&config.run.state_dir)?
        .map(|store| store.due_mails(Some(&Utc::now().to_rfc3339())))
        .transpose()?
        .is_some_and(|due| !due.is_empty());
    if !due {
        return Ok(Delivery::default());
    }
    recorded(config, "mail", |store, _, _| {
        deliver_due(config, store, Backoff::Respect)
    })
}

/// Records the inputs a run read in the state database; returns how many were new.
fn record_inputs(
    store: &mut StateStore,
    run_id: &str,
    inputs: &[InputFile],
) -> Result<usize, RunError> {
    let records: Vec<InputRecord<'_>> = inputs
        .iter()
        .map(|i| InputRecord {
            source: &i.source,
            file: &i.file,
            sha256: &i.sha256,
            bytes: i.bytes,
            records: i.records,
        })
        .collect();
    Ok(store.record_inputs(run_id, &Utc::now().to_rfc3339(), &records)?)
}

/// How fresh a source's data is: when new content last came, and whether that is longer ago than
/// the source's expected cadence.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Freshness {
    /// When the newest distinct content was first read (RFC 3339), if ever.
    pub newest_input_at: Option<String>,
    pub expected_every_days: Option<u32>,
    /// Whole days since then.
    pub days_without_new_input: Option<i64>,
    pub stale: bool,
}

/// Freshness of every configured source, as of `now`.
fn freshness(
    config: &Config,
    store: &StateStore,
    now: DateTime<Utc>,
) -> Result<BTreeMap<String, Freshness>, RunError> {
    let inputs = store.source_inputs()?;
    Ok(config
        .sources
        .iter()
        .map(|(name, source)| {
            let newest = inputs
                .iter()
                .find(|s| &s.source == name)
                .and_then(|s| s.newest_first_seen_at.clone());
            let days = newest
                .as_deref()
                .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                .map(|t| (now - t.with_timezone(&Utc)).num_days());
            let stale = match (source.expected_every_days, days) {
                (Some(every), Some(days)) => days > i64::from(every),
                (Some(_), None) => true,
                (None, _) => false,
            };
            let entry = Freshness {
                newest_input_at: newest,
                expected_every_days: source.expected_every_days,
                days_without_new_input: days,
                stale,
            };
            (name.clone(), entry)
        })
        .collect())
}

/// `source.stale` for each source that has sent nothing new for longer than expected.
fn stale_findings(
    assets: &Assets,
    config: &Config,
    freshness: &BTreeMap<String, Freshness>,
    intake: &mut Intake,
) {
    let rules = &assets.rules;
    let rule = rules.system(|c| matches!(c, crate::rules::Check::FreshSource));
    for (name, f) in freshness.iter().filter(|(_, f)| f.stale) {
        let Some(source) = config.sources.get(name) else {
            continue;
        };
        let hit = crate::rules::Hit {
            rule,
            field: None,
            detail: Some(
                f.days_without_new_input
                    .map_or("?".to_string(), |d| d.to_string()),
            ),
        };
        let provenance = crate::model::Provenance {
            source: name.clone(),
            file: String::new(),
            ordinal: 0,
            location: "source".to_string(),
        };
        intake
            .findings
            .push(rules.finding(&hit, &source.institution, &provenance, None));
    }
}

/// Pulls one source into the state database (recorded as `pull:<source>`): a folder's new
/// exports, or an HTTP API's pages. Publication reads and checks them later.
pub fn pull(
    config: &Config,
    source_name: &str,
    options: PullOptions,
) -> Result<PullSummary, RunError> {
    recorded(
        config,
        &format!("pull:{source_name}"),
        |store, run_id, _| pull_source(config, source_name, store, run_id, options),
    )
}

/// `file.duplicate`: the file repeats the content of `first` (source/file), which was read instead.
fn duplicate_file_finding(
    assets: &Assets,
    source: &str,
    institution: &str,
    file: &str,
    first: &str,
) -> Finding {
    let rules = &assets.rules;
    let hit = crate::rules::Hit {
        rule: rules.system(|c| matches!(c, crate::rules::Check::DistinctFile)),
        field: None,
        detail: Some(first.to_string()),
    };
    let provenance = crate::model::Provenance {
        source: source.to_string(),
        file: file.to_string(),
        ordinal: 0,
        location: "file".to_string(),
    };
    rules.finding(&hit, institution, &provenance, None)
}

/// Findings for a value that must be unique within a source (the same record id twice).
fn unique_findings(assets: &Assets, intake: &mut Intake) {
    for (rule, field) in assets.rules.unique_fields() {
        // Every record after the first with its source's value, in record order.
        let accepted = &intake.accepted;
        let extra: Vec<usize> = crate::repeats::repeats(accepted.len(), |i| {
            let a = &accepted[i];
            Some((
                a.provenance.source.as_str(),
                crate::rules::text_of(&a.case, field)?,
            ))
        })
        .into_iter()
        .map(|(_, later)| later)
        .collect();
        for i in extra {
            let finding = record_finding(assets, &intake.accepted[i], rule, Some(field.as_str()));
            if let Some(r) = assets.rules.rules.get(rule) {
                intake.accepted[i].warnings.push(r.id.clone());
            }
            intake.findings.push(finding);
        }
    }
}

fn record_finding(assets: &Assets, record: &Accepted, rule: usize, field: Option<&str>) -> Finding {
    let hit = Hit {
        rule,
        field: field.map(str::to_string),
        detail: None,
    };
    assets.rules.finding(
        &hit,
        &record.institution,
        &record.provenance,
        record.case.record_id.as_deref(),
    )
}

/// The previous run's record → child identifiers; none on a first run.
/// The identifiers of the previous runs, from the state database; a `child_ids.csv` left by an
/// earlier version is imported first (once) and renamed `.imported`.
fn read_identity_memory(
    store: &mut StateStore,
    state_dir: &Path,
) -> Result<IdentityMemory, RunError> {
    let legacy = state_dir.join("child_ids.csv");
    if legacy.exists() {
        match crate::eval::read_assignment(&legacy, "child_id") {
            Ok(child_of) => {
                let rows: Vec<((String, String), String)> = child_of.into_iter().collect();
                store.remember_child_ids("imported", &rows, &[])?;
                let done = state_dir.join("child_ids.csv.imported");
                std::fs::rename(&legacy, &done).map_err(|e| {
                    RunError::Job(format!("cannot import {}: {e}", legacy.display()))
                })?;
                tracing::info!(
                    records = rows.len(),
                    "child identifiers imported into the state database"
                );
            }
            // Unreadable memory: identifiers are recomputed; say so, never fail the run for it.
            Err(e) => tracing::warn!(error = %e, "child_ids.csv unreadable; not imported"),
        }
    }
    Ok(IdentityMemory {
        child_of: store.child_ids()?,
    })
}

/// Remembers this run's identifiers for the next run, with its merges and splits, and brings the
/// findings' lifecycle up to date; kept only if `released` says the publication got into place.
/// What the findings did, when kept.
fn remember_identities(
    store: &mut StateStore,
    run_id: &str,
    (accepted, child_of, children): (&[Accepted], &[usize], &[IdentifiedChild]),
    (changes, findings): (&crate::identity::IdentityChanges, &FindingsSeen<'_>),
    released: &mut dyn FnMut() -> bool,
) -> Result<Option<FindingChanges>, RunError> {
    let assigned: Vec<((&str, &str), &str)> = accepted
        .iter()
        .zip(child_of)
        .filter_map(|(a, &c)| {
            let id = children.get(c)?.child_id.as_str();
            Some((
                (a.provenance.source.as_str(), a.case.record_id.as_deref()?),
                id,
            ))
        })
        .collect();
    let history: Vec<(&str, &str, &[String])> = changes
        .merged
        .iter()
        .map(|(id, others)| ("merged", id.as_str(), others.as_slice()))
        .chain(
            changes
                .split
                .iter()
                .map(|(id, others)| ("split", id.as_str(), others.as_slice())),
        )
        .collect();
    Ok(store.remember_run_if(run_id, &assigned, &history, findings, released)?)
}

fn pseudonym_key(config: &Config) -> Result<PseudonymKey, RunError> {
    let settings = &config.pseudonym;
    let existing = read_secret(settings.key_env.as_deref(), settings.key_file.as_deref())?;
    let text = match existing {
        Some(text) => text,
        None => match (&settings.key_file, settings.create_if_missing) {
            (Some(path), true) => create_key_file(path)?,
            _ => {
                return Err(RunError::Key(format!(
                    "no key: set the environment variable {} or create the key file {}",
                    settings.key_env.as_deref().unwrap_or("(none configured)"),
                    settings
                        .key_file
                        .as_deref()
                        .map_or_else(|| "(none configured)".into(), |p| p.display().to_string())
                )))
            }
        },
    };
    PseudonymKey::from_text(&text)
        .ok_or_else(|| RunError::Key("the key is shorter than 16 characters".to_string()))
}

/// Creates a new random key file readable by its owner only.
fn create_key_file(path: &Path) -> Result<String, RunError> {
    use rand::RngCore;
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let text = hex::encode(bytes);
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| RunError::Key(format!("cannot create {}: {e}", parent.display())))?;
    }
    write_private(path, &text)
        .map_err(|e| RunError::Key(format!("cannot write {}: {e}", path.display())))?;
    tracing::info!(path = %path.display(), "created a new pseudonym key file");
    Ok(text)
}

#[cfg(unix)]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(text.as_bytes())?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, text: &str) -> std::io::Result<()> {
    std::fs::write(path, text)
}

fn transport(config: &Config) -> Result<MailTransport, RunError> {
    let alerts = &config.alerts;
    match (alerts.transport, &alerts.outbox_dir, &alerts.smtp) {
        (AlertTransport::Smtp, _, Some(smtp)) => {
            let password =
                read_secret(smtp.password_env.as_deref(), smtp.password_file.as_deref())?;
            Ok(MailTransport::Smtp(SmtpSettings {
                host: smtp.host.clone(),
                port: smtp.port,
                security: smtp.security,
                username: smtp.username.clone(),
                password,
                ca_file: smtp.ca_file.clone(),
                timeout_secs: smtp.timeout_secs,
            }))
        }
        (_, Some(dir), _) => Ok(MailTransport::Outbox { dir: dir.clone() }),
        _ => Err(RunError::Config(ConfigError::Invalid {
            path: config.path.clone(),
            message: "[alerts] has neither an outbox_dir nor [alerts.smtp]".to_string(),
        })),
    }
}

/// When and as what a run ran, for the manifest.
struct RunFacts<'a> {
    run_id: &'a str,
    timezone: &'a str,
    started: DateTime<Utc>,
    finished: DateTime<Utc>,
}

fn manifest(
    facts: &RunFacts<'_>,
    intake: &Intake,
    linkage: &Linkage,
    unique_children: usize,
) -> Value {
    let RunFacts {
        run_id,
        timezone,
        started,
        finished,
    } = facts;
    let (method, links_by_rule) = (&linkage.method, &linkage.links_by_rule);
    let mut by_severity: BTreeMap<&str, usize> = BTreeMap::new();
    let mut by_rule: BTreeMap<&str, usize> = BTreeMap::new();
    for f in &intake.findings {
        *by_severity.entry(f.severity.as_str()).or_insert(0) += 1;
        *by_rule.entry(f.rule.as_str()).or_insert(0) += 1;
    }
    let sources: serde_json::Map<String, Value> = intake
        .counts
        .iter()
        .map(|(name, c)| {
            (
                name.clone(),
                json!({
                    "files": c.files,
                    "received": c.received,
                    "accepted": c.accepted,
                    "quarantined": c.quarantined,
                    "errors": c.errors,
                }),
            )
        })
        .collect();
    json!({
        "run_id": run_id,
        "started_at": started.to_rfc3339(),
        "finished_at": finished.to_rfc3339(),
        "timezone": timezone,
        "regbridge_version": env!("CARGO_PKG_VERSION"),
        "inputs": intake.inputs,
        "sources": sources,
        "received": intake.counts.values().map(|c| c.received).sum::<usize>(),
        "accepted": intake.counts.values().map(|c| c.accepted).sum::<usize>(),
        "quarantined": intake.counts.values().map(|c| c.quarantined).sum::<usize>(),
        "unique_children": unique_children,
        "linkage": { "method": method, "links_by_rule": links_by_rule },
        "findings": { "by_severity": by_severity, "by_rule": by_rule },
        "outputs": ["cases.csv", "children.csv", "children.jsonl", "quarantine.csv", "findings.csv", "national.xlsx"],
    })
}

/// Logs at debug level, for each step of `stage` it is called with, the milliseconds since it was
/// made (`REGBRIDGE_LOG=regbridge=debug`).
fn step_log(stage: &'static str) -> impl Fn(&str) + Sync + Copy {
    let begun = std::time::Instant::now();
    move |step| {
        tracing::debug!(
            step,
            elapsed_ms = begun.elapsed().as_millis() as u64,
            "{stage}"
        )
    }
}

/// How a published file is written.
#[derive(Debug, Clone, Copy)]
enum FileKind {
    Csv,
    JsonLines,
}

/// What came of writing one published file; empty until it was written.
type PublishedFile = std::sync::Mutex<Option<Result<(), SinkError>>>;

/// Every file written, or the first failure in the files' order (a file not written is one).
fn files_outcome(outcomes: &[PublishedFile]) -> Result<(), SinkError> {
    outcomes
        .iter()
        .map(|outcome| outcome.lock().unwrap_or_else(|e| e.into_inner()).take())
        .try_for_each(|outcome| {
            outcome.unwrap_or_else(|| {
                Err(SinkError::Invalid(
                    "the CSV and JSON files were not written".into(),
                ))
            })
        })
}

/// Writes the release and switches it into place.
///
/// Rows are made as each file asks for them. Three jobs share the cores: the workbook's
/// worksheets, each written and compressed on the next free core, the largest (Cases) first, the
/// workbook put together by the core that writes the last; the CSV and JSON files, each taken by
/// the next core out of worksheets; and `remember`, from the start. `remember` is given a
/// function to call once it has written the identifiers, which waits for the release and says
/// whether it got into place: it must keep what it wrote only if so. The release goes into place
/// only after that call, so a release never goes out without its identifiers.
fn publish(
    counts: &BTreeMap<String, SourceCounts>,
    config: &Config,
    run_id: &str,
    publication: &Publication<'_>,
    manifest: &Value,
    remember: impl FnOnce(&mut dyn FnMut() -> bool) -> Result<(), RunError> + Send,
) -> Result<PathBuf, RunError> {
    let begun = std::time::Instant::now();
    let fail = |e: &dyn std::fmt::Display| RunError::Publish(e.to_string());
    let target = &config.run.output_dir;
    if let Some(parent) = target.parent() {
        std::fs::create_dir_all(parent)
            .map_err(|e| fail(&format!("cannot create {}: {e}", parent.display())))?;
    }
    let release = PublishDir::begin(target, run_id).map_err(|e| fail(&e))?;
    let dir = release.staging().to_path_buf();
    // Values such as "=HYPERLINK(…)" must not run as formulas when the Committee opens a CSV in Excel.
    let csv = CsvWriteOptions {
        guard_formulas: true,
        ..CsvWriteOptions::default()
    };
    let cases = publication.cases();
    let children = publication.children_table();
    let quarantine = publication.quarantine();
    let findings = publication.findings_table();
    let summary = publication.summary();
    verify_tables(counts, cases.sources(), quarantine.sources())?;
    let sheets: [&dyn Rows; 4] = [&summary, &children, &cases, &quarantine];
    tracing::debug!(
        elapsed_ms = begun.elapsed().as_millis() as u64,
        "publication tables ordered"
    );
    let lap = step_log("publication");
    // The files, largest first: each is written by the next thread out of worksheets.
    let files: [(&str, &dyn Rows, FileKind); 5] = [
        ("children.jsonl", &children, FileKind::JsonLines),
        ("cases.csv", &cases, FileKind::Csv),
        ("children.csv", &children, FileKind::Csv),
        ("findings.csv", &findings, FileKind::Csv),
        ("quarantine.csv", &quarantine, FileKind::Csv),
    ];
    let outcomes: Vec<PublishedFile> = files.iter().map(|_| PublishedFile::default()).collect();
    let jobs: Vec<BesideJob<'_>> = files
        .iter()
        .zip(&outcomes)
        .map(|(&(name, rows, kind), outcome)| {
            let (dir, csv) = (&dir, &csv);
            Box::new(move || {
                let path = dir.join(name);
                let result = match kind {
                    FileKind::Csv => write_csv_rows(&path, rows, csv),
                    FileKind::JsonLines => write_json_lines_rows(&path, rows),
                };
                lap(name);
                *outcome.lock().unwrap_or_else(|e| e.into_inner()) = Some(result);
            }) as BesideJob<'_>
        })
        .collect();
    let (placed_sender, release_placed) = std::sync::mpsc::channel::<bool>();
    let (written_sender, identifiers_written) = std::sync::mpsc::channel::<()>();
    std::thread::scope(|scope| {
        // Owned here, so that a panic on this thread drops it and the identifiers thread hears
        // "not in place" instead of waiting for ever.
        let placed_sender = placed_sender;
        let identifiers = scope.spawn(move || {
            let remembered = remember(&mut || {
                // Written: the release may go into place. No answer (the publishing thread
                // failed) counts as "not in place".
                let _ = written_sender.send(());
                release_placed.recv().unwrap_or(false)
            });
            lap("identifiers remembered");
            remembered
        });
        let workbook = write_xlsx_beside(&dir.join("national.xlsx"), &sheets, jobs);
        lap("workbook and files written");
        let mut identifiers_missing = false;
        let placed = files_outcome(&outcomes)
            .map_err(|e| fail(&e))
            .and_then(|()| workbook.map_err(|e| fail(&e)))
            .and_then(|()| {
                write_json_pretty(&dir.join("manifest.json"), manifest).map_err(|e| fail(&e))
            })
            .and_then(|()| {
                // A release goes into place only with its identifiers written (they are committed
                // once it is), so that the next run gives its records the same children.
                identifiers_written.recv().map_err(|_| {
                    identifiers_missing = true;
                    RunError::Job("the child identifiers could not be written".into())
                })
            })
            .and_then(|()| {
                let committed = release
                    .commit(config.run.keep_releases)
                    .map_err(|e| fail(&e));
                lap("release placed");
                committed
            });
        let _ = placed_sender.send(placed.is_ok());
        let remembered = identifiers
            .join()
            .unwrap_or_else(|_| Err(RunError::Job("remembering identifiers failed".into())));
        match (placed, remembered) {
            (Ok(_), Ok(())) => Ok(()),
            // Why the identifiers could not be written says more than that they were not.
            (Err(_), Err(e)) if identifiers_missing => Err(e),
            (Err(e), _) | (Ok(_), Err(e)) => Err(e),
        }
    })?;
    Ok(target.clone())
}

/// The tables about to be published hold exactly the counted records of every source: a record lost or
/// doubled between intake and publication stops the run before anything is switched into place.
fn verify_tables<'a>(
    counts: &BTreeMap<String, SourceCounts>,
    cases: impl Iterator<Item = &'a str>,
    quarantine: impl Iterator<Item = &'a str>,
) -> Result<(), RunError> {
    let per_source = |sources: &mut dyn Iterator<Item = &'a str>| {
        let mut n: BTreeMap<&str, usize> = BTreeMap::new();
        for source in sources {
            *n.entry(source).or_insert(0) += 1;
        }
        n
    };
    let (mut cases, mut quarantine) = (cases, quarantine);
    let (published, quarantined) = (per_source(&mut cases), per_source(&mut quarantine));
    for (name, c) in counts {
        let p = published.get(name.as_str()).copied().unwrap_or(0);
        let q = quarantined.get(name.as_str()).copied().unwrap_or(0);
        if c.received != c.accepted + c.quarantined || p != c.accepted || q != c.quarantined {
            return Err(RunError::Lost {
                name: name.clone(),
                received: c.received,
                accepted: p,
                quarantined: q,
            });
        }
    }
    Ok(())
}

/// Severity of the worst finding, for exit codes and summaries.
pub fn worst(findings: &[Finding]) -> Option<Severity> {
    findings.iter().map(|f| f.severity).min()
}
