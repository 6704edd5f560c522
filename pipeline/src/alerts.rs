//! Data-quality digests: one email per institution that has findings, in its language, grouped by rule
//! with how to fix it and the record references (record id, file, row) — never a child's name, personal
//! number or date of birth. Rendering is pure; the run hands the result to the mail sink.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{context, AutoEscape, Environment};
use serde::Serialize;

use crate::config::{read_toml, ConfigError, Institution};
use crate::findings::{Finding, Language, Severity};
use crate::rules::RuleBook;

/// A template problem.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
}

/// The email templates and their words per language.
#[derive(Debug)]
pub struct Templates {
    env: Environment<'static>,
    strings: BTreeMap<String, BTreeMap<String, String>>,
}

const TEXT: &str = "digest.txt.j2";
const HTML: &str = "digest.html.j2";

fn template_error(name: &str, e: &minijinja::Error) -> AlertError {
    AlertError::Template {
        name: name.to_string(),
        message: e.to_string(),
    }
}

impl Templates {
    /// Loads `digest.txt.j2`, `digest.html.j2` and `strings.toml` from `dir`.
    pub fn load(dir: &Path) -> Result<Templates, AlertError> {
        let mut env = Environment::new();
        env.set_auto_escape_callback(|name| {
            if name.ends_with(".html.j2") {
                AutoEscape::Html
            } else {
                AutoEscape::None
            }
        });
        for name in [TEXT, HTML] {
            let path = dir.join(name);
            let source = std::fs::read_to_string(&path)
                .map_err(|source| AlertError::Read { path, source })?;
            env.add_template_owned(name.to_string(), source)
                .map_err(|e| template_error(name, &e))?;
        }
        let strings: BTreeMap<String, BTreeMap<String, String>> =
            read_toml(&dir.join("strings.toml"))?;
        for language in [Language::Sq, Language::Sr, Language::En] {
            if !strings.contains_key(language.as_str()) {
                return Err(AlertError::Template {
                    name: "strings.toml".to_string(),
                    message: format!("no [{}] table", language.as_str()),
                });
            }
        }
        Ok(Templates { env, strings })
    }

    fn words(&self, language: Language) -> BTreeMap<String, String> {
        self.strings
            .get(language.as_str())
            .cloned()
            .unwrap_or_default()
    }

    fn fill(&self, text: &str, values: minijinja::Value) -> Result<String, AlertError> {
        self.env
            .render_str(text, values)
            .map_err(|e| template_error("strings.toml", &e))
    }
}

/// What every digest of a run shares.
#[derive(Debug, Clone)]
pub struct DigestContext<'a> {
    pub run_id: &'a str,
    /// The run's date in Kosovo time, as people read it (dd.mm.yyyy).
    pub date: &'a str,
    pub max_records_per_rule: usize,
}

/// One institution's digest, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    pub institution: String,
    pub language: Language,
    pub recipients: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    pub findings: usize,
}

#[derive(Debug, Serialize)]
struct Group {
    message: String,
    fix: Option<String>,
    count: usize,
    records: Vec<String>,
    more: usize,
    more_text: String,
}

#[derive(Debug, Serialize)]
struct Section {
    title: String,
    groups: Vec<Group>,
}

/// Builds one digest per institution that has findings, in that institution's language.
pub fn build_digests(
    findings: &[Finding],
    rules: &RuleBook,
    institutions: &BTreeMap<String, Institution>,
    templates: &Templates,
    ctx: &DigestContext<'_>,
) -> Result<Vec<Digest>, AlertError> {
    let mut by_institution: BTreeMap<&str, Vec<&Finding>> = BTreeMap::new();
    for f in findings {
        by_institution
            .entry(f.institution.as_str())
            .or_default()
            .push(f);
    }
    let mut digests = Vec::new();
    for (key, own) in by_institution {
        let Some(institution) = institutions.get(key) else {
            continue;
        };
        digests.push(digest(key, institution, &own, rules, templates, ctx)?);
    }
    Ok(digests)
}

fn digest(
    key: &str,
    institution: &Institution,
    findings: &[&Finding],
    rules: &RuleBook,
    templates: &Templates,
    ctx: &DigestContext<'_>,
) -> Result<Digest, AlertError> {
    let language = institution.language;
    let words = templates.words(language);
    let word = |k: &str| words.get(k).cloned().unwrap_or_default();
    let base = context! {
        institution => institution.name.clone(),
        run_id => ctx.run_id,
        date => ctx.date,
        errors => records_with(findings, Severity::Error),
        warnings => records_with(findings, Severity::Warning),
    };
    let subject = templates.fill(&word("subject"), base.clone())?;
    let intro = templates.fill(&word("intro"), base)?;
    let mut sections = Vec::new();
    for (severity, title) in [
        (Severity::Error, word("errors")),
        (Severity::Warning, word("warnings")),
    ] {
        let mut groups: BTreeMap<(&str, Option<&str>), Vec<&Finding>> = BTreeMap::new();
        for f in findings.iter().filter(|f| f.severity == severity) {
            groups
                .entry((f.rule.as_str(), f.field.as_deref()))
                .or_default()
                .push(f);
        }
        let mut rendered = Vec::new();
        for ((rule_id, field), members) in groups {
            let Some(rule) = rules.rules.iter().find(|r| r.id == rule_id) else {
                continue;
            };
            // One shared detail goes into the message; differing details go beside each record.
            let first_detail = members.first().and_then(|f| f.detail.as_deref());
            let shared = members.iter().all(|f| f.detail.as_deref() == first_detail);
            let shown: Vec<String> = members
                .iter()
                .take(ctx.max_records_per_rule)
                .map(|f| {
                    let place = reference(f, &words);
                    match (&f.detail, shared) {
                        (Some(detail), false) => format!("{place}: {detail}"),
                        _ => place,
                    }
                })
                .collect();
            let more = members.len().saturating_sub(shown.len());
            rendered.push(Group {
                message: rule.render(language, field, if shared { first_detail } else { None }),
                fix: rule.fix.as_ref().map(|t| t.get(language).to_string()),
                count: members.len(),
                records: shown,
                more,
                more_text: templates.fill(&word("more"), context! { n => more })?,
            });
        }
        if !rendered.is_empty() {
            sections.push(Section {
                title,
                groups: rendered,
            });
        }
    }
    let values = context! {
        t => words.clone(),
        intro => intro,
        subject => subject.clone(),
        sections => sections,
        language => language.as_str(),
    };
    let render = |name: &str| -> Result<String, AlertError> {
        templates
            .env
            .get_template(name)
            .and_then(|t| t.render(values.clone()))
            .map_err(|e| template_error(name, &e))
    };
    Ok(Digest {
        institution: key.to_string(),
        language,
        recipients: institution.recipients.clone(),
        subject,
        text: render(TEXT)?,
        html: render(HTML)?,
        findings: findings.len(),
    })
}

/// Distinct records (or files) with a finding of this severity.
fn records_with(findings: &[&Finding], severity: Severity) -> usize {
    let places: std::collections::BTreeSet<(&str, &str, &str)> = findings
        .iter()
        .filter(|f| f.severity == severity)
        .map(|f| (f.source.as_str(), f.file.as_str(), f.location.as_str()))
        .collect();
    places.len()
}

/// A record reference without personal data, in the reader's words:
/// "PK-2025-000123 (identifikimet.csv, rreshti 17)".
fn reference(f: &Finding, words: &BTreeMap<String, String>) -> String {
    let word = |key: &str, default: &str| {
        words
            .get(key)
            .cloned()
            .unwrap_or_else(|| default.to_string())
    };
    let location = if let Some(n) = f.location.strip_prefix("row ") {
        format!("{} {n}", word("row", "row"))
    } else if let Some(n) = f.location.strip_prefix("line ") {
        format!("{} {n}", word("line", "line"))
    } else if f.location == "file" {
        word("whole_file", "whole file")
    } else {
        f.location.clone()
    };
    let place = format!("{}, {location}", f.file);
    match &f.record_id {
        Some(id) => format!("{id} ({place})"),
        None => place,
    }
}
