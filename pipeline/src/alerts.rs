//! Data-quality digests: one email per institution, in its language, telling what is new since the
//! last digest, what is still open (a reminder on a cadence, with its age) and what was resolved,
//! grouped by rule with how to fix it and the record references (record id, file, row), capped in
//! the body with every record in an attached CSV; and a national summary for the Committee. Never a
//! child's name, personal number or date of birth. Planning and rendering are pure; the run reads
//! the findings' history from the state database and hands the digests to the outbox.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use minijinja::{context, AutoEscape, Environment};
use serde::Serialize;

use crate::config::{read_toml, ConfigError, Institution};
use crate::findings::{Finding, Language, Severity};
use crate::rules::RuleBook;
use crate::state::{AlertCandidate, AlertItem, AlertKind};

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
            let Some(words) = strings.get(language.as_str()) else {
                return Err(AlertError::Template {
                    name: "strings.toml".to_string(),
                    message: format!("no [{}] table", language.as_str()),
                });
            };
            // Every text is a small template: a mistake shows now, not in the middle of a run.
            for (key, text) in words {
                env.template_from_str(text)
                    .map_err(|e| AlertError::Template {
                        name: format!("strings.toml [{}] {key}", language.as_str()),
                        message: e.to_string(),
                    })?;
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

/// How digests are planned and capped.
#[derive(Debug, Clone, Copy)]
pub struct DigestPolicy {
    /// A finding still open is told again after this many days without a word about it.
    pub reminder_days: i64,
    /// At most this many record references per rule in the body.
    pub max_records_per_rule: usize,
    /// At most this many record references in the whole body; every one is in the attachment.
    pub max_findings_per_email: usize,
}

/// A finding a digest will tell about.
#[derive(Debug, Clone)]
pub struct PlannedItem {
    pub key: String,
    pub kind: AlertKind,
    pub finding: Finding,
    /// Whole days since the finding was first seen.
    pub age_days: i64,
}

/// What each institution's next digest tells: new findings, reminders of open ones that are due,
/// and resolutions not yet told. Institutions with nothing to tell are left out.
pub fn plan(
    candidates: &[AlertCandidate],
    now: chrono::DateTime<chrono::Utc>,
    reminder_days: i64,
) -> BTreeMap<String, Vec<PlannedItem>> {
    let since = |at: &str| {
        chrono::DateTime::parse_from_rfc3339(at).map_or(chrono::Duration::zero(), |t| {
            now - t.with_timezone(&chrono::Utc)
        })
    };
    let days_since = |at: &str| since(at).num_days();
    // A weekly digest comes a little more than seven days after the last one told (sending took
    // a moment): half a day of grace keeps reminders on the cadence instead of a week late.
    let cadence = chrono::Duration::days(reminder_days) - chrono::Duration::hours(12);
    let mut planned: BTreeMap<String, Vec<PlannedItem>> = BTreeMap::new();
    for c in candidates {
        let kind = match (&c.resolved_at, &c.announced_at) {
            (Some(_), Some(_)) => Some(AlertKind::Resolved),
            (Some(_), None) => None,
            (None, None) => Some(AlertKind::New),
            (None, Some(announced)) => {
                let last_word = c.reminded_at.as_deref().unwrap_or(announced);
                (since(last_word) >= cadence).then_some(AlertKind::Reminder)
            }
        };
        if let Some(kind) = kind {
            planned
                .entry(c.finding.institution.clone())
                .or_default()
                .push(PlannedItem {
                    key: c.key.clone(),
                    kind,
                    finding: c.finding.clone(),
                    age_days: days_since(&c.first_seen_at),
                });
        }
    }
    for items in planned.values_mut() {
        items.sort_by(|a, b| (a.kind, &a.finding).cmp(&(b.kind, &b.finding)));
    }
    planned
}

/// What every digest of a run shares.
#[derive(Debug, Clone)]
pub struct DigestContext<'a> {
    pub run_id: &'a str,
    /// The run's date in Kosovo time, as people read it (dd.mm.yyyy).
    pub date: &'a str,
    pub policy: DigestPolicy,
}

/// Who reads a digest, in which language.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    /// The outbox key: the institution's key, or `committee`.
    pub key: &'a str,
    pub name: &'a str,
    pub language: Language,
    pub recipients: &'a [String],
}

/// One digest, ready to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Digest {
    /// The outbox key: the institution's key, or `committee`.
    pub key: String,
    pub language: Language,
    pub recipients: Vec<String>,
    pub subject: String,
    pub text: String,
    pub html: String,
    /// Every record the digest tells about, as CSV (none for the Committee's summary).
    pub attachment: Option<String>,
    /// The findings it tells about; they count as told once the mail is accepted.
    pub items: Vec<AlertItem>,
    /// New findings in it.
    pub new: usize,
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

/// An institution's digest: its planned items, and how many pairs of its records wait for review.
pub fn institution_digest(
    reader: &Reader<'_>,
    items: &[PlannedItem],
    pending_reviews: usize,
    (rules, templates): (&RuleBook, &Templates),
    ctx: &DigestContext<'_>,
) -> Result<Digest, AlertError> {
    let language = reader.language;
    let words = templates.words(language);
    let word = |k: &str| words.get(k).cloned().unwrap_or_default();
    let count = |kind: AlertKind| items.iter().filter(|i| i.kind == kind).count();
    let (new, open, resolved) = (
        count(AlertKind::New),
        count(AlertKind::Reminder),
        count(AlertKind::Resolved),
    );
    let base = context! {
        institution => reader.name,
        run_id => ctx.run_id,
        date => ctx.date,
        new => new,
        open => open,
        resolved => resolved,
        reviews => pending_reviews,
        days => ctx.policy.reminder_days,
    };
    let subject = templates.fill(&word("subject"), base.clone())?;
    let intro = templates.fill(&word("intro"), base.clone())?;
    let mut budget = ctx.policy.max_findings_per_email;
    let mut sections = Vec::new();
    let parts = [
        (AlertKind::New, Some(Severity::Error), "new_errors"),
        (AlertKind::New, Some(Severity::Warning), "new_warnings"),
        (AlertKind::Reminder, None, "still_open"),
        (AlertKind::Resolved, None, "resolved"),
    ];
    for (kind, severity, title) in parts {
        let members: Vec<&PlannedItem> = items
            .iter()
            .filter(|i| i.kind == kind && severity.is_none_or(|s| i.finding.severity == s))
            .collect();
        let groups = groups(&members, language, (rules, templates), &mut budget, ctx)?;
        if !groups.is_empty() {
            sections.push(Section {
                title: word(title),
                groups,
            });
        }
    }
    let mut notes = Vec::new();
    if pending_reviews > 0 {
        notes.push(templates.fill(&word("reviews"), base.clone())?);
    }
    notes.push(word("attachment"));
    let text_and_html = bodies(templates, language, (&intro, &subject), &sections, &notes)?;
    Ok(Digest {
        key: reader.key.to_string(),
        language,
        recipients: reader.recipients.to_vec(),
        subject,
        text: text_and_html.0,
        html: text_and_html.1,
        attachment: Some(attachment(items, language, rules, &words)),
        items: items
            .iter()
            .map(|i| AlertItem {
                finding_key: i.key.clone(),
                kind: i.kind,
            })
            .collect(),
        new,
    })
}

/// The items of one section grouped by rule and field, each with its record references (within
/// the per-rule cap and what is left of the body's budget).
fn groups(
    members: &[&PlannedItem],
    language: Language,
    (rules, templates): (&RuleBook, &Templates),
    budget: &mut usize,
    ctx: &DigestContext<'_>,
) -> Result<Vec<Group>, AlertError> {
    let words = templates.words(language);
    let word = |k: &str| words.get(k).cloned().unwrap_or_default();
    let mut by_rule: BTreeMap<(&str, Option<&str>), Vec<&PlannedItem>> = BTreeMap::new();
    for item in members {
        by_rule
            .entry((item.finding.rule.as_str(), item.finding.field.as_deref()))
            .or_default()
            .push(item);
    }
    let mut out = Vec::new();
    for ((rule_id, field), members) in by_rule {
        let Some(rule) = rules.rules.iter().find(|r| r.id == rule_id) else {
            continue;
        };
        // One shared detail goes into the message; differing details go beside each record.
        let first_detail = members.first().and_then(|i| i.finding.detail.as_deref());
        let shared = members
            .iter()
            .all(|i| i.finding.detail.as_deref() == first_detail);
        let cap = ctx.policy.max_records_per_rule.min(*budget);
        let mut shown = Vec::new();
        for item in members.iter().take(cap) {
            let mut place = reference(&item.finding, &words);
            if let (Some(detail), false) = (&item.finding.detail, shared) {
                place = format!("{place}: {detail}");
            }
            if item.kind == AlertKind::Reminder {
                let age = templates.fill(&word("open_days"), context! { n => item.age_days })?;
                place = format!("{place} — {age}");
            }
            shown.push(place);
        }
        *budget -= shown.len();
        let more = members.len().saturating_sub(shown.len());
        out.push(Group {
            message: rule.render(language, field, if shared { first_detail } else { None }),
            fix: rule.fix.as_ref().map(|t| t.get(language).to_string()),
            count: members.len(),
            records: shown,
            more,
            more_text: templates.fill(&word("more"), context! { n => more })?,
        });
    }
    Ok(out)
}

/// The plain-text and HTML bodies of a digest in `language`.
fn bodies(
    templates: &Templates,
    language: Language,
    (intro, subject): (&str, &str),
    sections: &[Section],
    notes: &[String],
) -> Result<(String, String), AlertError> {
    render(
        templates,
        context! {
            t => templates.words(language),
            intro => intro,
            subject => subject,
            sections => sections,
            notes => notes,
            language => language.as_str(),
        },
    )
}

/// The plain-text and HTML bodies.
fn render(templates: &Templates, values: minijinja::Value) -> Result<(String, String), AlertError> {
    let one = |name: &str| -> Result<String, AlertError> {
        templates
            .env
            .get_template(name)
            .and_then(|t| t.render(values.clone()))
            .map_err(|e| template_error(name, &e))
    };
    Ok((one(TEXT)?, one(HTML)?))
}

/// Every record of the digest as CSV (UTF-8 with a byte order mark, so that Excel reads it):
/// what, the rule's message in the reader's language, the record reference, since when.
fn attachment(
    items: &[PlannedItem],
    language: Language,
    rules: &RuleBook,
    words: &BTreeMap<String, String>,
) -> String {
    let word = |k: &str| words.get(k).cloned().unwrap_or_else(|| k.to_string());
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    let _ = writer.write_record([
        "status",
        "severity",
        "rule",
        "message",
        "source",
        "file",
        "location",
        "record_id",
        "field",
        "days_open",
    ]);
    for item in items {
        let f = &item.finding;
        let message = rules
            .rules
            .iter()
            .find(|r| r.id == f.rule)
            .map(|r| r.render(language, f.field.as_deref(), f.detail.as_deref()))
            .unwrap_or_default();
        let status = word(status_key(item.kind));
        let _ = writer.write_record([
            status.as_str(),
            f.severity.as_str(),
            f.rule.as_str(),
            message.as_str(),
            f.source.as_str(),
            f.file.as_str(),
            f.location.as_str(),
            f.record_id.as_deref().unwrap_or(""),
            f.field.as_deref().unwrap_or(""),
            &item.age_days.to_string(),
        ]);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    format!("\u{feff}{}", String::from_utf8_lossy(&bytes))
}

/// The Committee's national summary: per institution, what is new, still open and resolved, by
/// rule, with no record references.
pub fn committee_digest(
    reader: &Reader<'_>,
    planned: &BTreeMap<String, Vec<PlannedItem>>,
    institutions: &BTreeMap<String, Institution>,
    (rules, templates): (&RuleBook, &Templates),
    ctx: &DigestContext<'_>,
) -> Result<Digest, AlertError> {
    let language = reader.language;
    let words = templates.words(language);
    let word = |k: &str| words.get(k).cloned().unwrap_or_default();
    let all: Vec<&PlannedItem> = planned.values().flatten().collect();
    let count = |kind: AlertKind| all.iter().filter(|i| i.kind == kind).count();
    let base = context! {
        run_id => ctx.run_id,
        date => ctx.date,
        new => count(AlertKind::New),
        open => count(AlertKind::Reminder),
        resolved => count(AlertKind::Resolved),
        institutions => planned.len(),
    };
    let subject = templates.fill(&word("committee_subject"), base.clone())?;
    let intro = templates.fill(&word("committee_intro"), base)?;
    let mut sections = Vec::new();
    for (key, items) in planned {
        let name = institutions
            .get(key)
            .map_or(key.as_str(), |i| i.name.as_str());
        let mut by_rule: BTreeMap<(AlertKind, &str), usize> = BTreeMap::new();
        for item in items {
            *by_rule
                .entry((item.kind, item.finding.rule.as_str()))
                .or_default() += 1;
        }
        let groups = by_rule
            .into_iter()
            .map(|((kind, rule_id), n)| {
                let label = word(status_key(kind));
                let message = rules
                    .rules
                    .iter()
                    .find(|r| r.id == rule_id)
                    .map_or_else(|| rule_id.to_string(), |r| r.render(language, None, None));
                Group {
                    message: format!("{label}: {message}"),
                    fix: None,
                    count: n,
                    records: Vec::new(),
                    more: 0,
                    more_text: String::new(),
                }
            })
            .collect();
        sections.push(Section {
            title: name.to_string(),
            groups,
        });
    }
    let (text, html) = bodies(templates, language, (&intro, &subject), &sections, &[])?;
    Ok(Digest {
        key: reader.key.to_string(),
        language,
        recipients: reader.recipients.to_vec(),
        subject,
        text,
        html,
        attachment: None,
        items: Vec::new(),
        new: count(AlertKind::New),
    })
}

/// The word for what a digest tells about a finding.
fn status_key(kind: AlertKind) -> &'static str {
    match kind {
        AlertKind::New => "status_new",
        AlertKind::Reminder => "status_open",
        AlertKind::Resolved => "status_resolved",
    }
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
    } else if f.location.starts_with("record ") || f.location == "source" {
        // An API record (its key is the record id) or a whole source: the reference says enough.
        String::new()
    } else {
        f.location.clone()
    };
    let place = match (f.file.is_empty(), location.is_empty()) {
        (true, true) => f.source.clone(),
        (true, false) => location,
        (false, true) => f.file.clone(),
        (false, false) => format!("{}, {location}", f.file),
    };
    match &f.record_id {
        Some(id) => format!("{id} ({place})"),
        None => place,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::findings::Dimension;

    fn candidate(
        key: &str,
        told: Option<&str>,
        reminded: Option<&str>,
        resolved: Option<&str>,
    ) -> AlertCandidate {
        AlertCandidate {
            key: key.to_string(),
            finding: Finding {
                institution: "police".to_string(),
                source: "police".to_string(),
                file: "a.csv".to_string(),
                ordinal: 2,
                location: "row 2".to_string(),
                record_id: Some(key.to_string()),
                rule: "birth_date.valid".to_string(),
                severity: Severity::Error,
                dimension: Dimension::Validity,
                field: Some("birth_date".to_string()),
                detail: None,
                child_id: None,
            },
            first_seen_at: "2026-11-01T08:00:00+00:00".to_string(),
            resolved_at: resolved.map(str::to_string),
            announced_at: told.map(str::to_string),
            reminded_at: reminded.map(str::to_string),
        }
    }

    #[test]
    fn a_finding_is_told_new_then_reminded_on_the_cadence_then_resolved_once() {
        let now = chrono::DateTime::parse_from_rfc3339("2026-11-20T08:00:00+00:00")
            .unwrap()
            .with_timezone(&chrono::Utc);
        let told = Some("2026-11-18T08:00:00+00:00");
        let long_ago = Some("2026-11-10T08:00:00+00:00");
        let candidates = [
            candidate("new", None, None, None),
            candidate("told-recently", told, told, None),
            candidate("told-long-ago", long_ago, long_ago, None),
            candidate("reminded-recently", long_ago, told, None),
            candidate(
                "resolved",
                long_ago,
                long_ago,
                Some("2026-11-19T08:00:00+00:00"),
            ),
            // Found and fixed between two digests: nobody needs to hear of it.
            candidate("never-told", None, None, Some("2026-11-19T08:00:00+00:00")),
        ];
        let planned = plan(&candidates, now, 7);
        let kinds: Vec<(&str, AlertKind, i64)> = planned["police"]
            .iter()
            .map(|i| (i.key.as_str(), i.kind, i.age_days))
            .collect();
        assert_eq!(
            kinds,
            [
                ("new", AlertKind::New, 19),
                ("told-long-ago", AlertKind::Reminder, 19),
                ("resolved", AlertKind::Resolved, 19),
            ]
        );
        assert!(plan(&[candidate("x", told, told, None)], now, 7).is_empty());
    }
}
