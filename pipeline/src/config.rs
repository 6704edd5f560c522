//! The `config.toml` model: sources, institutions, alerts, pseudonym key and paths, loaded with errors
//! that name the file, line and column; secrets are resolved from the environment or files only.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use regbridge_connectors::decode::Format;
use regbridge_connectors::source::http::HttpSettings;
use serde::Deserialize;

use crate::findings::Language;

/// A configuration problem, located in its file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", located(path, *line, *column, message))]
    Syntax {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// `file:line:column: message`, the form editors and terminals jump to.
pub fn located(path: &Path, line: usize, column: usize, message: &str) -> String {
    format!("{}:{line}:{column}: {message}", path.display())
}

/// Line and column (both 1-based) of a byte offset in `text`.
pub fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset.min(text.len())).unwrap_or("");
    let line = before.matches('\n').count() + 1;
    let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, column)
}

/// Parses TOML into `T`, turning syntax and type errors into located `ConfigError::Syntax`.
pub fn parse_toml<T: serde::de::DeserializeOwned>(
    path: &Path,
    text: &str,
) -> Result<T, ConfigError> {
    toml::from_str(text).map_err(|e| {
        let (line, column) = e
            .span()
            .map_or((1, 1), |span| line_column(text, span.start));
        ConfigError::Syntax {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim().to_string(),
        }
    })
}

/// Reads and parses a TOML file.
pub fn read_toml<T: serde::de::DeserializeOwned>(path: &Path) -> Result<T, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    parse_toml(path, &text)
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    run: RunSettings,
    #[serde(default)]
    paths: AssetPaths,
    #[serde(default)]
    reference: ReferenceSettings,
    pseudonym: PseudonymSettings,
    alerts: AlertSettings,
    institutions: BTreeMap<String, Institution>,
    sources: BTreeMap<String, SourceConfig>,
    #[serde(default)]
    schedule: ScheduleSettings,
}

/// When the daemon publishes and sends digests (`[schedule]`); each source's pulls are under its own
/// `schedule`. Five-field crontab expressions read in `[run] timezone`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSettings {
    /// The national run: validate, link and publish what the sources have delivered.
    pub publish: Option<String>,
    /// The data-quality digests to the institutions.
    pub digests: Option<String>,
}

/// One scheduled job of the daemon.
#[derive(Debug, Clone)]
pub struct Job {
    /// `pull:<source>`, `publish` or `digests`.
    pub name: String,
    pub schedule: crate::schedule::Schedule,
}

/// Where a run writes.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSettings {
    pub output_dir: PathBuf,
    pub state_dir: PathBuf,
    #[serde(default = "default_timezone")]
    pub timezone: String,
    /// How many earlier releases to keep beside the published one.
    #[serde(default = "default_keep_releases")]
    pub keep_releases: usize,
}

fn default_timezone() -> String {
    "Europe/Belgrade".to_string()
}

fn default_keep_releases() -> usize {
    3
}

/// Folders of the data files domain people edit.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AssetPaths {
    pub schemas: PathBuf,
    pub mappings: PathBuf,
    pub rules: PathBuf,
    pub reference: PathBuf,
    pub templates: PathBuf,
}

impl Default for AssetPaths {
    fn default() -> Self {
        AssetPaths {
            schemas: "schemas".into(),
            mappings: "mappings".into(),
            rules: "rules".into(),
            reference: "reference".into(),
            templates: "templates".into(),
        }
    }
}

/// Reference-data choices.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ReferenceSettings {
    /// File name (without `.csv`) in `reference/crosswalks/`.
    pub region_crosswalk: String,
}

impl Default for ReferenceSettings {
    fn default() -> Self {
        ReferenceSettings {
            region_crosswalk: "kas_districts".to_string(),
        }
    }
}

/// Where the pseudonym key comes from.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PseudonymSettings {
    pub key_env: Option<String>,
    pub key_file: Option<PathBuf>,
    #[serde(default)]
    pub create_if_missing: bool,
}

/// How alerts are delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertTransport {
    Outbox,
    Smtp,
}

/// Alert delivery settings.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AlertSettings {
    pub from: String,
    pub transport: AlertTransport,
    pub outbox_dir: Option<PathBuf>,
    pub smtp: Option<SmtpConfig>,
    /// At most this many record references per rule in an email body.
    #[serde(default = "default_max_records")]
    pub max_records_per_rule: usize,
    /// A finding still open is told again after this many days without a word about it.
    #[serde(default = "default_reminder_days")]
    pub reminder_days: i64,
    /// At most this many record references in a digest's body; every one is in its attachment.
    #[serde(default = "default_max_findings_per_email")]
    pub max_findings_per_email: usize,
    /// The Committee secretariat, who get the national summary whenever digests go out.
    #[serde(default)]
    pub committee: Option<CommitteeSettings>,
    /// IT staff who are mailed when a source keeps failing (and when it works again).
    #[serde(default)]
    pub it_recipients: Vec<String>,
    /// IT staff are told when a source's pulls have all failed for this many minutes (the
    /// daemon's quick retries of a short outage do not add up to a mail). Default 60.
    #[serde(default = "default_report_failing_after_minutes")]
    pub report_failing_after_minutes: u64,
}

fn default_report_failing_after_minutes() -> u64 {
    60
}

fn default_reminder_days() -> i64 {
    7
}

fn default_max_findings_per_email() -> usize {
    200
}

/// Who reads the national summary, in which language.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitteeSettings {
    #[serde(default = "default_committee_name")]
    pub name: String,
    pub language: Language,
    pub recipients: Vec<String>,
}

fn default_committee_name() -> String {
    "Child Labour Committee".to_string()
}

fn default_max_records() -> usize {
    20
}

/// SMTP server settings; the password is named, never written here.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SmtpConfig {
    pub host: String,
    pub port: u16,
    pub security: regbridge_connectors::sink::mail::SmtpSecurity,
    pub username: Option<String>,
    pub password_env: Option<String>,
    pub password_file: Option<PathBuf>,
    pub ca_file: Option<PathBuf>,
    #[serde(default = "default_smtp_timeout")]
    pub timeout_secs: u64,
}

fn default_smtp_timeout() -> u64 {
    30
}

/// An institution that sends records and receives alerts.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Institution {
    pub name: String,
    pub language: Language,
    #[serde(default)]
    pub recipients: Vec<String>,
}

/// One configured source: where its exports are (a drop folder, or an HTTP API) and how to read
/// and map them.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SourceConfig {
    pub institution: String,
    /// The drop folder of a file source.
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// Which files of the folder are exports, e.g. `*.csv`.
    #[serde(default)]
    pub glob: Option<String>,
    /// An HTTP source (`[sources.<name>.http]`) instead of a folder; `format` describes its bodies.
    #[serde(default)]
    pub http: Option<HttpSettings>,
    /// File name in the schemas folder.
    pub schema: String,
    /// File name in the mappings folder.
    pub mapping: String,
    pub format: Format,
    /// When the daemon pulls this source (five-field crontab expression); none: only on `run`.
    #[serde(default)]
    pub schedule: Option<String>,
    /// How often new exports are expected, in days: longer without new content raises
    /// `source.stale` for the source's institution, and the manifest marks the source stale.
    #[serde(default)]
    pub expected_every_days: Option<u32>,
}

/// Where a source's records come from.
#[derive(Debug, Clone, Copy)]
pub enum Origin<'a> {
    /// Files matching `glob` in the folder `path`.
    Folder { path: &'a Path, glob: &'a str },
    /// Pages of an HTTP API, kept in the state database between runs.
    Http(&'a HttpSettings),
}

impl SourceConfig {
    /// The folder or the API; `None` only for a configuration `Config::load` refuses.
    pub fn origin(&self) -> Option<Origin<'_>> {
        match (&self.http, &self.path, &self.glob) {
            (Some(http), None, None) => Some(Origin::Http(http)),
            (None, Some(path), Some(glob)) => Some(Origin::Folder { path, glob }),
            _ => None,
        }
    }
}

/// A loaded configuration with every path made absolute against the config file's folder.
#[derive(Debug, Clone)]
pub struct Config {
    pub path: PathBuf,
    pub base_dir: PathBuf,
    pub run: RunSettings,
    pub paths: AssetPaths,
    pub reference: ReferenceSettings,
    pub pseudonym: PseudonymSettings,
    pub alerts: AlertSettings,
    pub institutions: BTreeMap<String, Institution>,
    pub sources: BTreeMap<String, SourceConfig>,
    pub schedule: ScheduleSettings,
}

impl Config {
    /// Loads and checks `config.toml`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let raw: RawConfig = read_toml(path)?;
        let parent = path
            .parent()
            .map(Path::to_path_buf)
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or_else(|| PathBuf::from("."));
        // Absolute, so that every path in messages and manifests says where it really is.
        let base_dir = std::path::absolute(&parent).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let base_dir = clean(&base_dir);
        let config = Config::from_raw(path, base_dir, raw);
        config.check_references()?;
        Ok(config)
    }

    fn from_raw(path: &Path, base_dir: PathBuf, raw: RawConfig) -> Config {
        let abs = |p: &Path| base_dir.join(p);
        let mut run = raw.run;
        run.output_dir = abs(&run.output_dir);
        run.state_dir = abs(&run.state_dir);
        let paths = AssetPaths {
            schemas: abs(&raw.paths.schemas),
            mappings: abs(&raw.paths.mappings),
            rules: abs(&raw.paths.rules),
            reference: abs(&raw.paths.reference),
            templates: abs(&raw.paths.templates),
        };
        let mut pseudonym = raw.pseudonym;
        pseudonym.key_file = pseudonym.key_file.as_deref().map(abs);
        let mut alerts = raw.alerts;
        alerts.outbox_dir = alerts.outbox_dir.as_deref().map(abs);
        if let Some(smtp) = alerts.smtp.as_mut() {
            smtp.password_file = smtp.password_file.as_deref().map(abs);
            smtp.ca_file = smtp.ca_file.as_deref().map(abs);
        }
        let sources = raw
            .sources
            .into_iter()
            .map(|(name, mut source)| {
                source.path = source.path.as_deref().map(abs);
                if let Some(http) = source.http.as_mut() {
                    let tls = &mut http.tls;
                    for file in [
                        &mut tls.ca_file,
                        &mut tls.client_cert_file,
                        &mut tls.client_key_file,
                    ] {
                        *file = file.as_deref().map(abs);
                    }
                    if let Some(secret) = http.auth.as_mut().and_then(|a| a.secret_file_mut()) {
                        *secret = abs(secret);
                    }
                }
                (name, source)
            })
            .collect();
        Config {
            path: path.to_path_buf(),
            base_dir,
            run,
            paths,
            reference: raw.reference,
            pseudonym,
            alerts,
            institutions: raw.institutions,
            sources,
            schedule: raw.schedule,
        }
    }

    /// The daemon's jobs, in a fixed order: every scheduled source pull, then publication, then
    /// digests. An expression that cannot be used is an error naming its place in the file.
    pub fn jobs(&self) -> Result<Vec<Job>, ConfigError> {
        let zone = self.timezone();
        let mut wanted: Vec<(String, String, &str)> = self
            .sources
            .iter()
            .filter_map(|(name, source)| {
                let expression = source.schedule.as_deref()?;
                Some((
                    format!("pull:{name}"),
                    format!("[sources.{name}] schedule"),
                    expression,
                ))
            })
            .collect();
        if let Some(expression) = self.schedule.publish.as_deref() {
            wanted.push(("publish".into(), "[schedule] publish".into(), expression));
        }
        if let Some(expression) = self.schedule.digests.as_deref() {
            wanted.push(("digests".into(), "[schedule] digests".into(), expression));
        }
        wanted
            .into_iter()
            .map(|(name, place, expression)| {
                let invalid = |message: String| ConfigError::Invalid {
                    path: self.path.clone(),
                    message: format!("{place}: {message}"),
                };
                let schedule = crate::schedule::Schedule::parse(expression, zone)
                    .map_err(|e| invalid(e.to_string()))?;
                if schedule.next_after(chrono::Utc::now()).is_none() {
                    return Err(invalid(format!(
                        "\"{expression}\" never fires (no such date)"
                    )));
                }
                Ok(Job { name, schedule })
            })
            .collect()
    }

    /// The configured time zone (Kosovo's civil time by default).
    pub fn timezone(&self) -> chrono_tz::Tz {
        self.run
            .timezone
            .parse()
            .unwrap_or(chrono_tz::Europe::Belgrade)
    }

    fn check_references(&self) -> Result<(), ConfigError> {
        let invalid = |message: String| ConfigError::Invalid {
            path: self.path.clone(),
            message,
        };
        if self.run.timezone.parse::<chrono_tz::Tz>().is_err() {
            return Err(invalid(format!(
                "[run] timezone \"{}\" is not an IANA time zone name such as \"Europe/Belgrade\"",
                self.run.timezone
            )));
        }
        for (name, source) in &self.sources {
            if let Err(problem) = source.format.validate() {
                return Err(invalid(format!("[sources.{name}.format] {problem}")));
            }
            match (&source.http, source.origin()) {
                (_, None) => {
                    return Err(invalid(format!(
                        "[sources.{name}] needs either path and glob (a drop folder) or an [sources.{name}.http] table, not both"
                    )))
                }
                (Some(http), Some(_)) => {
                    if let Err(problem) = http.validate() {
                        return Err(invalid(format!("[sources.{name}.http] {problem}")));
                    }
                    if matches!(source.format, Format::Xlsx(_)) {
                        return Err(invalid(format!(
                            "[sources.{name}.format] an HTTP source's bodies are json, json_lines or csv"
                        )));
                    }
                }
                (None, Some(_)) => {}
            }
            if !self.institutions.contains_key(&source.institution) {
                return Err(invalid(format!(
                    "[sources.{name}] names institution \"{}\", which is not under [institutions]",
                    source.institution
                )));
            }
        }
        match self.alerts.transport {
            AlertTransport::Outbox if self.alerts.outbox_dir.is_none() => Err(invalid(
                "[alerts] transport = \"outbox\" needs outbox_dir".to_string(),
            )),
            AlertTransport::Smtp if self.alerts.smtp.is_none() => Err(invalid(
                "[alerts] transport = \"smtp\" needs an [alerts.smtp] table".to_string(),
            )),
            _ => Ok(()),
        }?;
        self.jobs()?;
        if self.pseudonym.key_env.is_none() && self.pseudonym.key_file.is_none() {
            return Err(invalid(
                "[pseudonym] needs key_env or key_file (the key itself never goes in this file)"
                    .to_string(),
            ));
        }
        Ok(())
    }

    /// The schema file of a source.
    pub fn schema_path(&self, source: &SourceConfig) -> PathBuf {
        self.paths.schemas.join(&source.schema)
    }

    /// The mapping file of a source.
    pub fn mapping_path(&self, source: &SourceConfig) -> PathBuf {
        self.paths.mappings.join(&source.mapping)
    }

    /// The canonical case schema.
    pub fn canonical_schema_path(&self) -> PathBuf {
        self.paths.schemas.join("case.schema.json")
    }
}

/// Removes `.` components (`/a/./b` → `/a/b`), without touching the file system.
fn clean(path: &Path) -> PathBuf {
    path.components()
        .filter(|c| !matches!(c, std::path::Component::CurDir))
        .collect()
}

/// Reads a secret from an environment variable or a file; the value is never logged.
pub fn read_secret(env: Option<&str>, file: Option<&Path>) -> Result<Option<String>, ConfigError> {
    if let Some(var) = env {
        if let Ok(value) = std::env::var(var) {
            if !value.trim().is_empty() {
                return Ok(Some(value.trim().to_string()));
            }
        }
    }
    if let Some(path) = file {
        if path.exists() {
            let value = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
                path: path.to_path_buf(),
                source,
            })?;
            return Ok(Some(value.trim().to_string()));
        }
    }
    Ok(None)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn syntax_errors_name_line_and_column() {
        let text = "[run]\noutput_dir = \"out\"\nstate_dir = 12\n";
        let err = parse_toml::<RawConfig>(Path::new("c.toml"), text).unwrap_err();
        let shown = err.to_string();
        assert!(shown.starts_with("c.toml:3:"), "{shown}");
    }

    #[test]
    fn line_column_counts_from_one() {
        assert_eq!(line_column("ab\ncd", 4), (2, 2));
        assert_eq!(line_column("ab", 0), (1, 1));
    }
}
