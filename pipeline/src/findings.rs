//! Findings: what a check says about a record, a file or a child — bad data is a finding, not an error.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// How serious a finding is: an `Error` quarantines the record, a `Warning` keeps it and alerts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
        }
    }
}

/// The data-quality dimension a rule measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Dimension {
    Completeness,
    Validity,
    Consistency,
    Timeliness,
    Uniqueness,
}

impl Dimension {
    pub fn as_str(self) -> &'static str {
        match self {
            Dimension::Completeness => "completeness",
            Dimension::Validity => "validity",
            Dimension::Consistency => "consistency",
            Dimension::Timeliness => "timeliness",
            Dimension::Uniqueness => "uniqueness",
        }
    }
}

/// A language alerts and messages are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Sq,
    Sr,
    En,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Sq => "sq",
            Language::Sr => "sr",
            Language::En => "en",
        }
    }
}

impl FromStr for Language {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "sq" => Ok(Language::Sq),
            "sr" => Ok(Language::Sr),
            "en" => Ok(Language::En),
            other => Err(format!("unknown language \"{other}\" (sq, sr or en)")),
        }
    }
}

/// One finding. It names the rule, the record (source, record id, file, location) and the field, but
/// never the field's value: findings travel into emails and published files.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Finding {
    /// Institution that is asked to act on it.
    pub institution: String,
    pub source: String,
    pub file: String,
    /// Sort key of the location in the file.
    #[serde(skip_serializing, default)]
    pub ordinal: u64,
    pub location: String,
    pub record_id: Option<String>,
    pub rule: String,
    pub severity: Severity,
    pub dimension: Dimension,
    pub field: Option<String>,
    /// Extra context without personal data, e.g. the column name or the schema keyword.
    pub detail: Option<String>,
    /// The child the record was linked to, for conflicts between institutions.
    pub child_id: Option<String>,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.file, self.location)?;
        if let Some(id) = &self.record_id {
            write!(f, " ({id})")?;
        }
        write!(f, ": {} {}", self.severity.as_str(), self.rule)?;
        if let Some(field) = &self.field {
            write!(f, " [{field}]")?;
        }
        if let Some(detail) = &self.detail {
            write!(f, " — {detail}")?;
        }
        Ok(())
    }
}
