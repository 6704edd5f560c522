//! Pulling sources into the state database: a drop folder's exports (archived and recorded by
//! sha256) or an HTTP API's pages (records kept by key, the cursor moved only with stored pages);
//! an HTTP source's stored records as one decoded input for a run; and the mail that tells IT
//! staff when a source keeps failing.

use chrono::Utc;
use regbridge_connectors::decode::{decode, DecodeProblem, Decoded, Location, RawRecord};
use regbridge_connectors::sink::mail::OutgoingMail;
use regbridge_connectors::source::http::{
    endpoint_of, HttpSettings, HttpSource, Page, PageSink, PullStart,
};
use regbridge_connectors::source::{list_files_with_skips, read_file, sha256_hex};

use crate::config::{Config, Origin, SourceConfig};
use crate::intake::display_name;
use crate::run::RunError;
use crate::state::{
    InputRecord, PageCounts, PassPage, PullHealth, PullRow, StateError, StateStore, Withdraw,
};

/// How to pull.
#[derive(Debug, Clone, Copy, Default)]
pub struct PullOptions {
    /// Ask an HTTP source for everything, not only what changed since the last pull.
    pub full: bool,
}

/// What a pull of one source found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct PullSummary {
    pub source: String,
    /// Files read (a folder source).
    pub files: usize,
    /// Inputs (files, or pages with new or changed records) whose content no earlier pull had.
    pub new_inputs: usize,
    pub errors: Vec<String>,
    /// What an HTTP source's pull did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpPullReport>,
}

/// What a pull of an HTTP source did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct HttpPullReport {
    pub pages: u32,
    /// Records received (a record delivered twice counts twice).
    pub records: usize,
    /// Records not stored before, and stored records that changed.
    pub new_records: usize,
    pub changed_records: usize,
    /// Records a full pass no longer found at the API, removed from the store.
    pub withdrawn: usize,
    /// Records this full pass did not see for the first time: withdrawn if the next one misses
    /// them too.
    pub withdrawal_pending: usize,
    /// Records a full pass did not see but kept, because it delivered nothing or a tenth fewer
    /// records than the last one; `regbridge pull --full` withdraws them.
    pub withdrawal_held: usize,
    /// The incremental value the next pull asks with.
    pub watermark: Option<String>,
    /// Whether this pull continued an interrupted one, and whether it had to start over.
    pub resumed: bool,
    pub restarted: bool,
    /// Page-level decoding notes (an encoding guessed, …).
    pub notes: Vec<String>,
}

/// Pulls one configured source into the state database.
pub fn pull_source(
    config: &Config,
    name: &str,
    store: &mut StateStore,
    run_id: &str,
    options: PullOptions,
) -> Result<PullSummary, RunError> {
    let source = config
        .sources
        .get(name)
        .ok_or_else(|| RunError::Job(format!("no source \"{name}\" in the configuration")))?;
    match source.origin() {
        Some(Origin::Folder { path, glob }) => {
            pull_folder(name, source, (path, glob), store, run_id)
        }
        Some(Origin::Http(http)) => {
            let pull = HttpPull {
                config,
                name,
                source,
                http,
                run_id,
                options,
            };
            pull.run(store)
        }
        None => Err(RunError::Job(format!(
            "source {name} has neither a folder nor an API"
        ))),
    }
}

/// Reads a folder source's files, keeps each new content in the archive and records it.
fn pull_folder(
    name: &str,
    source: &SourceConfig,
    (path, glob): (&std::path::Path, &str),
    store: &mut StateStore,
    run_id: &str,
) -> Result<PullSummary, RunError> {
    let mut summary = PullSummary {
        source: name.to_string(),
        ..PullSummary::default()
    };
    let (files, skipped) = list_files_with_skips(path, glob)
        .map_err(|e| RunError::Job(format!("source {name}: {e}")))?;
    summary.errors.extend(skipped);
    let mut read = Vec::new();
    for file_path in files {
        let file_name = display_name(path, &file_path);
        match read_file(path, &file_path) {
            Ok(file) => {
                store.archive(&file.sha256, &file.bytes)?;
                let records = decode(&file.bytes, &source.format).records.len();
                read.push((file_name, file.sha256, file.bytes.len(), records));
            }
            Err(e) => summary.errors.push(e.to_string()),
        }
    }
    summary.files = read.len();
    let inputs: Vec<InputRecord<'_>> = read
        .iter()
        .map(|(file, sha256, bytes, records)| InputRecord {
            source: name,
            file,
            sha256,
            bytes: *bytes,
            records: *records,
        })
        .collect();
    summary.new_inputs = store.record_inputs(run_id, &Utc::now().to_rfc3339(), &inputs)?;
    Ok(summary)
}

/// One pull of an HTTP source.
struct HttpPull<'a> {
    config: &'a Config,
    name: &'a str,
    source: &'a SourceConfig,
    http: &'a HttpSettings,
    run_id: &'a str,
    options: PullOptions,
}

impl HttpPull<'_> {
    fn run(&self, store: &mut StateStore) -> Result<PullSummary, RunError> {
        let started = Utc::now().to_rfc3339();
        let before = health_of(store, self.name)?;
        let result = self.pages(store);
        let mut row = PullRow {
            run_id: self.run_id.to_string(),
            source: self.name.to_string(),
            started_at: started,
            finished_at: Utc::now().to_rfc3339(),
            ok: result.is_ok(),
            ..PullRow::default()
        };
        match &result {
            Ok(summary) => {
                if let Some(report) = &summary.http {
                    row.pages = report.pages;
                    row.records = report.records;
                    row.new_records = report.new_records;
                    row.changed_records = report.changed_records;
                    row.withdrawn = report.withdrawn;
                }
            }
            Err(e) => row.error = Some(e.to_string()),
        }
        store.record_pull(&row)?;
        let after = health_of(store, self.name)?;
        // Telling IT staff must not turn one source's trouble into a failed run.
        if let Err(e) = self.tell_it_staff(store, before.as_ref(), after.as_ref()) {
            tracing::warn!(source = self.name, error = %e, "IT staff could not be told");
        }
        result
    }

    /// Pulls the pages; an `Err` for a pull that stopped (what was stored stays stored).
    fn pages(&self, store: &mut StateStore) -> Result<PullSummary, RunError> {
        let failed = |message: String| RunError::Pull {
            name: self.name.to_string(),
            message,
        };
        let api = HttpSource::new(self.http.clone(), self.source.format.clone())
            .map_err(|e| failed(e.to_string()))?;
        let position = store.pull_position(self.name)?;
        let resume = position.checkpoint.clone().filter(|_| !self.options.full);
        let pass = match (&resume, &position.pass) {
            (Some(_), Some(pass)) => pass.clone(),
            _ => self.run_id.to_string(),
        };
        // A pass that asks for everything may withdraw what the API no longer has.
        let full = self.options.full
            || self.http.incremental.is_none()
            || (resume.is_some() && position.pass_full);
        let start = PullStart {
            watermark: position.watermark.clone(),
            previous_max: position.previous_max.clone(),
            resume,
            full: self.options.full,
        };
        let mut sink = StoreSink {
            store,
            source: self.name,
            pass,
            full,
            endpoint: api.endpoint().to_string(),
            run_id: self.run_id,
            counts: PageCounts::default(),
            new_inputs: 0,
            notes: Vec::new(),
        };
        let outcome = api
            .pull(start, &mut sink)
            .map_err(|e| failed(e.to_string()))?;
        let (counts, new_inputs, mut notes, pass) =
            (sink.counts, sink.new_inputs, sink.notes, sink.pass);
        let at = Utc::now().to_rfc3339();
        let finished = PassPage {
            source: self.name,
            pass: &pass,
            full,
            at: &at,
        };
        let withdraw = match (full, self.options.full) {
            (false, _) => Withdraw::Never,
            (true, false) => Withdraw::Guarded,
            (true, true) => Withdraw::All,
        };
        let watermarks = (outcome.watermark.as_deref(), outcome.seen_max.as_deref());
        let withdrawal = store.finish_pass(finished, watermarks, withdraw)?;
        if withdrawal.held > 0 {
            tracing::warn!(
                source = self.name,
                held = withdrawal.held,
                "a full pull came back short; kept the records it did not see"
            );
            notes.push(format!(
                "the pull delivered nothing or a tenth fewer records than the last full pull; the {} stored records it did not see are kept (`regbridge pull --full` withdraws them once the API is known to have dropped them)",
                withdrawal.held
            ));
        }
        let withdrawn = withdrawal.withdrawn;
        tracing::info!(
            source = self.name,
            pages = outcome.pages,
            records = outcome.records,
            new = counts.new,
            changed = counts.changed,
            withdrawn,
            "pulled"
        );
        Ok(PullSummary {
            source: self.name.to_string(),
            files: 0,
            new_inputs,
            errors: Vec::new(),
            http: Some(HttpPullReport {
                pages: outcome.pages,
                records: outcome.records,
                new_records: counts.new,
                changed_records: counts.changed,
                withdrawn,
                withdrawal_pending: withdrawal.pending,
                withdrawal_held: withdrawal.held,
                watermark: outcome.watermark,
                resumed: outcome.resumed,
                restarted: outcome.restarted,
                notes,
            }),
        })
    }

    /// Mails IT staff once when a source has been failing for `report_failing_after_minutes`,
    /// and once when it works again after that; retries within a failure do not add mails.
    fn tell_it_staff(
        &self,
        store: &mut StateStore,
        before: Option<&PullHealth>,
        after: Option<&PullHealth>,
    ) -> Result<(), RunError> {
        let alerts = &self.config.alerts;
        if alerts.it_recipients.is_empty() {
            return Ok(());
        }
        let key = format!("it:{}", self.name);
        let institution = self
            .config
            .institutions
            .get(&self.source.institution)
            .map_or(self.source.institution.as_str(), |i| i.name.as_str());
        let endpoint = endpoint_of(&self.http.url);
        let failing_since = |h: Option<&PullHealth>| h.and_then(|h| h.failing_since.clone());
        let (subject, text) = match (failing_since(before), failing_since(after), after) {
            (_, Some(since), Some(now)) => {
                let minutes = minutes_since(&since);
                if minutes < alerts.report_failing_after_minutes
                    || store.mail_queued_since(&key, &since)?
                {
                    return Ok(());
                }
                (
                    format!("regbridge: source {} is failing", self.name),
                    format!(
                        "The source {} ({institution}) at {endpoint} has failed every pull for {minutes} minutes ({} pulls).\n\n\
                         Last error: {}\n\n\
                         The other sources carry on. Publication keeps using the records stored before the failures, \
                         and the institution's digest reports source.unreachable until a pull succeeds. \
                         `regbridge status` shows every source's pulls; `regbridge check --connect` tries the API once.\n",
                        self.name,
                        now.consecutive_failures,
                        now.last_error.as_deref().unwrap_or("unknown"),
                    ),
                )
            }
            (Some(since), None, _) if store.mail_queued_since(&key, &since)? => (
                format!("regbridge: source {} works again", self.name),
                format!(
                    "The source {} ({institution}) at {endpoint} was pulled successfully again; it had failed since {since}.\n",
                    self.name
                ),
            ),
            _ => return Ok(()),
        };
        let mail = OutgoingMail {
            from: alerts.from.clone(),
            to: alerts.it_recipients.clone(),
            subject,
            text,
            html: None,
            message_id: Some(format!("<{}.it-{}@regbridge>", self.run_id, self.name)),
            headers: vec![
                ("Auto-Submitted".to_string(), "auto-generated".to_string()),
                (
                    "List-Id".to_string(),
                    "regbridge source operations <operations.regbridge>".to_string(),
                ),
            ],
            attachments: Vec::new(),
        };
        let at = Utc::now().to_rfc3339();
        store.queue_mail((self.run_id, &at), &key, &mail, &[])?;
        // Sent now (the outbox keeps it if the mail server is down); other queued digests wait
        // for their own job.
        let delivery = crate::run::deliver_where(
            self.config,
            store,
            crate::run::Backoff::Ignore,
            &|queued| queued.key == key,
        )?;
        for e in delivery.errors {
            tracing::warn!(error = %e, "IT staff not told yet; the mail waits in the outbox");
        }
        Ok(())
    }
}

/// Whole minutes from an RFC 3339 time until now (0 if it cannot be read).
fn minutes_since(at: &str) -> u64 {
    chrono::DateTime::parse_from_rfc3339(at).map_or(0, |t| {
        u64::try_from((Utc::now() - t.with_timezone(&Utc)).num_minutes()).unwrap_or(0)
    })
}

fn health_of(store: &StateStore, source: &str) -> Result<Option<PullHealth>, StateError> {
    Ok(store
        .pull_health()?
        .into_iter()
        .find(|h| h.source == source))
}

/// Stores each page in the state database as it arrives.
struct StoreSink<'a> {
    store: &'a mut StateStore,
    source: &'a str,
    /// The pass the pages belong to: the interrupted one being resumed, or a new one (this run's
    /// id) when a pass starts from its first page — also when a resumed pass has to start over,
    /// so that what it withdraws is judged by what it saw itself.
    pass: String,
    full: bool,
    endpoint: String,
    run_id: &'a str,
    counts: PageCounts,
    new_inputs: usize,
    notes: Vec<String>,
}

impl PageSink for StoreSink<'_> {
    fn store(&mut self, page: &Page) -> Result<(), String> {
        if page.number == 1 {
            self.pass = self.run_id.to_string();
        }
        let at = Utc::now().to_rfc3339();
        let sha256 = sha256_hex(&page.bytes);
        let place = PassPage {
            source: self.source,
            pass: &self.pass,
            full: self.full,
            at: &at,
        };
        let counts = self
            .store
            .store_page(place, page)
            .map_err(|e| e.to_string())?;
        self.counts.new += counts.new;
        self.counts.changed += counts.changed;
        self.notes.extend(
            page.notes
                .iter()
                .map(|n| format!("{} {}: {n}", self.endpoint, page.request.describe())),
        );
        // A page that brought something new is kept as delivered, for audit and freshness. Its
        // records are stored already: a failure here is reported, it does not fail the pull.
        if counts.new + counts.changed > 0 {
            let file = format!("{} {}", self.endpoint, page.request.describe());
            let input = InputRecord {
                source: self.source,
                file: &file,
                sha256: &sha256,
                bytes: page.bytes.len(),
                records: page.records.len(),
            };
            let kept = self
                .store
                .archive(&sha256, &page.bytes)
                .and_then(|()| self.store.record_inputs(self.run_id, &at, &[input]));
            match kept {
                Ok(new) => self.new_inputs += new,
                Err(e) => {
                    tracing::warn!(source = self.source, error = %e, "page not archived");
                    self.notes.push(format!("{file}: not archived: {e}"));
                }
            }
        }
        Ok(())
    }
}

/// An HTTP source's stored records as one decoded input for a run: in key order, located by key,
/// with the problems found when they were pulled.
#[derive(Debug)]
pub struct StoredInput {
    /// The endpoint, shown as the input's file.
    pub file: String,
    pub decoded: Decoded,
    /// SHA-256 over the records' keys and contents: the same stored records, the same digest.
    pub sha256: String,
    pub bytes: usize,
}

/// What a run reads of an HTTP source.
pub fn stored_input(
    store: &StateStore,
    name: &str,
    http: &HttpSettings,
) -> Result<StoredInput, StateError> {
    let records = store.pulled_records(name)?;
    let mut decoded = Decoded::default();
    let mut digest_text = String::new();
    let mut bytes = 0;
    for record in records {
        let location = Location::Key(record.key.clone());
        for key in record.fields.keys() {
            if !decoded.columns.contains(key) {
                decoded.columns.push(key.clone());
            }
        }
        for problem in &record.problems {
            decoded.problems.push(DecodeProblem {
                location: location.clone(),
                column: None,
                message: problem.clone(),
                lost: false,
            });
        }
        let text = serde_json::to_string(&record.fields).unwrap_or_default();
        bytes += text.len();
        digest_text.push_str(&record.key);
        digest_text.push('\t');
        digest_text.push_str(&text);
        digest_text.push('\n');
        decoded.records.push(RawRecord {
            location,
            fields: record.fields,
        });
    }
    Ok(StoredInput {
        file: endpoint_of(&http.url),
        decoded,
        sha256: sha256_hex(digest_text.as_bytes()),
        bytes,
    })
}
