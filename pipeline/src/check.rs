//! `regbridge check`: loads the configuration and every file it names (reference data, rules,
//! schemas, mappings, templates) and lists every problem with its file, line and column.

use std::path::Path;

use crate::alerts::Templates;
use crate::config::{Config, Origin};
use crate::mapping::Mapping;
use crate::reconcile::Survivorship;
use crate::reference::Reference;
use crate::rules::RuleBook;
use crate::schema::SchemaCheck;
use regbridge_connectors::source::http::HttpSource;

/// One problem found by `check`, already located ("file:line:column: message" or "file: message").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Problem {
    pub message: String,
}

/// What `check` found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct CheckReport {
    pub problems: Vec<Problem>,
    pub checked: Vec<String>,
}

impl CheckReport {
    fn problem(&mut self, message: impl ToString) {
        self.problems.push(Problem {
            message: message.to_string(),
        });
    }

    fn checked(&mut self, path: &Path) {
        self.checked.push(path.display().to_string());
    }
}

/// Checks a configuration and everything it names; never stops at the first problem.
pub fn check(config_path: &Path) -> CheckReport {
    let mut report = CheckReport::default();
    let config = match Config::load(config_path) {
        Ok(config) => config,
        Err(e) => {
            report.problem(e);
            return report;
        }
    };
    report.checked(config_path);
    match Reference::load(&config.paths.reference, &config.reference.region_crosswalk) {
        Ok(_) => report.checked(&config.paths.reference),
        Err(e) => report.problem(e),
    }
    let institutions: Vec<String> = config.institutions.keys().cloned().collect();
    match RuleBook::load(&config.paths.rules, &institutions) {
        Ok(_) => report.checked(&config.paths.rules),
        Err(e) => report.problem(e),
    }
    let survivorship = config.paths.rules.join("survivorship.toml");
    match Survivorship::load(&survivorship) {
        Ok(s) => {
            let named: std::collections::BTreeSet<&String> = s
                .default
                .order
                .iter()
                .chain(s.fields.values().flat_map(|f| f.order.iter()))
                .collect();
            for institution in named {
                if !config.institutions.contains_key(institution) {
                    report.problem(format!(
                        "{}: \"{institution}\" is not an institution under [institutions] in {}",
                        survivorship.display(),
                        config.path.display()
                    ));
                }
            }
            report.checked(&survivorship);
        }
        Err(e) => report.problem(e),
    }
    let linkage_path = config.paths.rules.join("linkage.toml");
    match crate::linkage::LinkageConfig::load(&linkage_path) {
        Ok(linkage) => {
            let referrals = &linkage.probabilistic.referrals;
            let most = crate::linkage::probabilistic::MAX_REFERRALS;
            if referrals.len() > most {
                report.problem(format!(
                    "{}: {} referrals; the linkage weighs the first {most} only",
                    linkage_path.display(),
                    referrals.len()
                ));
            }
            for referral in referrals.iter().filter(|r| r.from == r.to) {
                report.problem(format!(
                    "{}: the referral from \"{}\" to itself says nothing (records of one institution are compared as such)",
                    linkage_path.display(),
                    referral.from
                ));
            }
            for referral in referrals {
                for institution in [&referral.from, &referral.to] {
                    if !config.institutions.contains_key(institution) {
                        report.problem(format!(
                            "{}: the referral from \"{}\" to \"{}\" names \"{institution}\", which is not an institution under [institutions] in {}",
                            linkage_path.display(),
                            referral.from,
                            referral.to,
                            config.path.display()
                        ));
                    }
                }
            }
            if linkage_path.exists() {
                report.checked(&linkage_path);
            }
        }
        Err(e) => report.problem(e),
    }
    match SchemaCheck::load(&config.canonical_schema_path()) {
        Ok(_) => report.checked(&config.canonical_schema_path()),
        Err(e) => report.problem(e),
    }
    match Templates::load(&config.paths.templates) {
        Ok(_) => report.checked(&config.paths.templates),
        Err(e) => report.problem(e),
    }
    for (name, source) in &config.sources {
        let schema_path = config.schema_path(source);
        let schema = match SchemaCheck::load(&schema_path) {
            Ok(schema) => {
                report.checked(&schema_path);
                Some(schema)
            }
            Err(e) => {
                report.problem(e);
                None
            }
        };
        let mapping_path = config.mapping_path(source);
        match Mapping::load(&mapping_path) {
            Ok(mapping) => {
                report.checked(&mapping_path);
                if let Some(schema) = &schema {
                    for (field, column) in &mapping.fields {
                        if !schema.describes(column) {
                            report.problem(format!(
                                "{}: {field} is mapped from column \"{column}\", which {} does not describe",
                                mapping_path.display(),
                                schema_path.display()
                            ));
                        }
                    }
                }
            }
            Err(e) => report.problem(e),
        }
        match source.origin() {
            Some(Origin::Folder { path, .. }) if !path.is_dir() => {
                report.problem(format!(
                    "{}: [sources.{name}] path {} is not a folder",
                    config.path.display(),
                    path.display()
                ));
            }
            Some(Origin::Http(http)) => {
                // The secret, certificates and settings, without asking the API anything.
                if let Err(e) = HttpSource::new(http.clone(), source.format.clone()) {
                    report.problem(format!(
                        "{}: [sources.{name}.http] {e}",
                        config.path.display()
                    ));
                }
            }
            _ => {}
        }
    }
    report
}

/// What `check --connect` found at one source.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct Connection {
    pub source: String,
    /// The folder, or the API's endpoint (no query, no credentials).
    pub location: String,
    /// The HTTP status of the first page (an HTTP source).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Files matching the pattern (a folder source).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub files: Option<usize>,
    /// Records in the first page, or in the newest file.
    pub records: usize,
    /// Whether the API has further pages.
    pub more_pages: bool,
    pub seconds: f64,
    /// Fields the source's schema does not know (with the missing one each probably renames).
    pub unknown_fields: Vec<String>,
    /// Fields the schema describes that the source did not send.
    pub missing_fields: Vec<String>,
    /// Why the source could not be reached or read.
    pub error: Option<String>,
}

/// Tries every source once (the first page of each API, the newest file of each folder) and says
/// what it found; nothing is stored.
pub fn connect(config: &Config) -> Vec<Connection> {
    config
        .sources
        .iter()
        .map(|(name, source)| {
            let mut found = Connection {
                source: name.clone(),
                ..Connection::default()
            };
            let started = std::time::Instant::now();
            let decoded = match source.origin() {
                Some(Origin::Http(http)) => {
                    found.location = regbridge_connectors::source::http::endpoint_of(&http.url);
                    HttpSource::new(http.clone(), source.format.clone())
                        .and_then(|api| api.probe())
                        .map(|probe| {
                            found.status = Some(probe.status);
                            found.more_pages = probe.more_pages;
                            probe.decoded
                        })
                        .map_err(|e| e.to_string())
                }
                Some(Origin::Folder { path, glob }) => {
                    found.location = path.display().to_string();
                    newest_file(path, glob, &source.format).map(|(files, decoded)| {
                        found.files = Some(files);
                        decoded
                    })
                }
                None => Err("neither a folder nor an API".to_string()),
            };
            found.seconds = started.elapsed().as_secs_f64();
            match decoded {
                Ok(decoded) => {
                    found.records = decoded.records.len();
                    drift(config, source, &decoded, &mut found);
                }
                Err(e) => found.error = Some(e),
            }
            found
        })
        .collect()
}

/// The number of matching files and the newest one (by name, as exports are dated) decoded.
fn newest_file(
    path: &Path,
    glob: &str,
    format: &regbridge_connectors::decode::Format,
) -> Result<(usize, regbridge_connectors::decode::Decoded), String> {
    let files = regbridge_connectors::source::list_files(path, glob).map_err(|e| e.to_string())?;
    let Some(newest) = files.last() else {
        return Ok((0, regbridge_connectors::decode::Decoded::default()));
    };
    let file = regbridge_connectors::source::read_file(path, newest).map_err(|e| e.to_string())?;
    Ok((
        files.len(),
        regbridge_connectors::decode::decode(&file.bytes, format),
    ))
}

/// Schema drift of what was found against the source's schema.
fn drift(
    config: &Config,
    source: &crate::config::SourceConfig,
    decoded: &regbridge_connectors::decode::Decoded,
    found: &mut Connection,
) {
    let Ok(schema) = SchemaCheck::load(&config.schema_path(source)) else {
        return;
    };
    let observed = crate::intake::observed_fields(&source.format, decoded);
    if observed.is_empty() {
        return;
    }
    let drift = schema.drift(&observed);
    found.unknown_fields = drift
        .unknown
        .into_iter()
        .map(|(field, renamed)| match renamed {
            Some(old) => format!("{field} (probably renamed from {old})"),
            None => field,
        })
        .collect();
    found.missing_fields = drift.missing;
}
