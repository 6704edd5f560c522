//! JSON Schema checks with the `jsonschema` crate: per-record violations that name the field and the
//! broken constraint but never the value, and schema drift (unknown, missing, probably renamed columns).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use jsonschema::error::ValidationErrorKind;
use serde_json::Value;

use crate::config::located;

/// A schema file that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{}", located(path, *line, *column, message))]
    Json {
        path: PathBuf,
        line: usize,
        column: usize,
        message: String,
    },
    #[error("{path}: not a valid JSON Schema: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// One way a record breaks its schema.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// Dotted path of the field (`child.birth_date`), or `None` for the record as a whole.
    pub field: Option<String>,
    /// What is wrong, without the value: "required column is missing", "wrong type (expected string)".
    pub detail: String,
}

/// Columns that differ between an export and its schema.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Drift {
    /// Columns in the export that the schema does not know, each with the missing column it probably renames.
    pub unknown: Vec<(String, Option<String>)>,
    /// Columns the schema describes that the export does not have.
    pub missing: Vec<String>,
}

/// A compiled schema plus the column paths it describes.
#[derive(Debug)]
pub struct SchemaCheck {
    pub path: PathBuf,
    validator: jsonschema::Validator,
    properties: BTreeSet<String>,
}

impl SchemaCheck {
    /// Loads and compiles a JSON Schema file.
    pub fn load(path: &Path) -> Result<SchemaCheck, SchemaError> {
        let text = std::fs::read_to_string(path).map_err(|source| SchemaError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let schema: Value = serde_json::from_str(&text).map_err(|e| SchemaError::Json {
            path: path.to_path_buf(),
            line: e.line(),
            column: e.column(),
            message: strip_position(&e.to_string()),
        })?;
        let validator = jsonschema::validator_for(&schema).map_err(|e| SchemaError::Invalid {
            path: path.to_path_buf(),
            message: format!("{} at {}", e.kind().keyword(), e.schema_path()),
        })?;
        let mut properties = BTreeSet::new();
        collect_properties(&schema, "", &mut properties);
        Ok(SchemaCheck {
            path: path.to_path_buf(),
            validator,
            properties,
        })
    }

    /// Whether the schema describes the column (dotted path for nested fields).
    pub fn describes(&self, column: &str) -> bool {
        self.properties.contains(column) || is_parent_of_any(column, &self.properties)
    }

    /// Every way `record` breaks the schema.
    pub fn violations(&self, record: &Value) -> Vec<Violation> {
        // Most records are valid: asking only whether is much cheaper than listing the errors.
        if self.validator.is_valid(record) {
            return Vec::new();
        }
        let mut out: Vec<Violation> = self
            .validator
            .iter_errors(record)
            .map(|e| describe(e.kind(), &e.instance_path().to_string()))
            .collect();
        out.sort_by(|a, b| a.field.cmp(&b.field).then(a.detail.cmp(&b.detail)));
        out.dedup();
        out
    }

    /// Compares the column paths seen in an export with the ones the schema describes.
    pub fn drift(&self, observed: &BTreeSet<String>) -> Drift {
        let missing: Vec<String> = self
            .properties
            .iter()
            .filter(|p| !observed.contains(*p) && !is_parent_of_any(p, observed))
            .cloned()
            .collect();
        let unknown = observed
            .iter()
            .filter(|c| !self.properties.contains(*c) && !is_parent_of_any(c, &self.properties))
            .map(|c| (c.clone(), closest(c, &missing)))
            .collect();
        Drift { unknown, missing }
    }
}

fn is_parent_of_any(path: &str, set: &BTreeSet<String>) -> bool {
    let prefix = format!("{path}.");
    set.range(prefix.clone()..)
        .next()
        .is_some_and(|p| p.starts_with(&prefix))
}

fn closest(column: &str, candidates: &[String]) -> Option<String> {
    candidates
        .iter()
        .map(|c| {
            (
                strsim::normalized_levenshtein(&column.to_lowercase(), &c.to_lowercase()),
                c,
            )
        })
        .filter(|(score, _)| *score >= 0.6)
        .max_by(|a, b| a.0.total_cmp(&b.0).then(b.1.cmp(a.1)))
        .map(|(_, c)| c.clone())
}

fn collect_properties(schema: &Value, prefix: &str, out: &mut BTreeSet<String>) {
    let Some(props) = schema.get("properties").and_then(Value::as_object) else {
        return;
    };
    for (name, sub) in props {
        let path = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let before = out.len();
        collect_properties(sub, &path, out);
        if out.len() == before {
            out.insert(path);
        }
    }
}

/// Dotted paths of every leaf field in a JSON record (nested objects become `a.b`).
pub fn observed_paths(
    record: &serde_json::Map<String, Value>,
    prefix: &str,
    out: &mut BTreeSet<String>,
) {
    for (key, value) in record {
        let path = if prefix.is_empty() {
            key.clone()
        } else {
            format!("{prefix}.{key}")
        };
        match value {
            Value::Object(inner) if !inner.is_empty() => observed_paths(inner, &path, out),
            _ => {
                if !out.contains(&path) {
                    out.insert(path);
                }
            }
        }
    }
}

fn pointer_to_dotted(pointer: &str) -> Option<String> {
    let parts: Vec<&str> = pointer.split('/').filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        None
    } else {
        Some(parts.join("."))
    }
}

fn describe(kind: &ValidationErrorKind, instance_path: &str) -> Violation {
    let field = pointer_to_dotted(instance_path);
    let join = |name: &str| match &field {
        Some(f) => format!("{f}.{name}"),
        None => name.to_string(),
    };
    match kind {
        ValidationErrorKind::Required { property } => {
            let name = property
                .as_str()
                .map_or_else(|| property.to_string(), str::to_string);
            Violation {
                field: Some(join(&name)),
                detail: "required column is missing".to_string(),
            }
        }
        ValidationErrorKind::Type { kind } => Violation {
            field,
            detail: format!("wrong type (expected {})", type_names(kind)),
        },
        ValidationErrorKind::MinLength { .. } => Violation {
            field,
            detail: "is empty or too short".to_string(),
        },
        ValidationErrorKind::Enum { .. } => Violation {
            field,
            detail: "is not one of the allowed values".to_string(),
        },
        ValidationErrorKind::Pattern { .. } => Violation {
            field,
            detail: "does not have the expected form".to_string(),
        },
        // The unexpected names are not repeated: in a file without a header they are data.
        ValidationErrorKind::AdditionalProperties { unexpected } => Violation {
            field,
            detail: format!(
                "has {} column(s) the schema does not allow",
                unexpected.len()
            ),
        },
        other => Violation {
            field,
            detail: format!("breaks the \"{}\" constraint", other.keyword()),
        },
    }
}

fn type_names(kind: &jsonschema::error::TypeKind) -> String {
    match kind {
        jsonschema::error::TypeKind::Single(t) => t.to_string(),
        jsonschema::error::TypeKind::Multiple(ts) => {
            let names: Vec<String> = ts.into_iter().map(|t| t.to_string()).collect();
            names.join(" or ")
        }
    }
}

/// serde_json appends " at line L column C"; the location is reported separately.
fn strip_position(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(i) => message[..i].to_string(),
        None => message.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn schema(dir: &Path, text: &str) -> SchemaCheck {
        let path = dir.join("s.json");
        std::fs::write(&path, text).unwrap();
        SchemaCheck::load(&path).unwrap()
    }

    #[test]
    fn violations_name_field_but_not_value() {
        let dir = tempfile::tempdir().unwrap();
        let s = schema(
            dir.path(),
            r#"{"type":"object","required":["id","name"],
                "properties":{"id":{"type":"string","minLength":1},"name":{"type":["string","null"]},
                "child":{"type":"object","properties":{"age":{"type":["integer","null"]}}}}}"#,
        );
        let v = s.violations(&serde_json::json!({"id": "", "child": {"age": "Arben"}}));
        let shown = format!("{v:?}");
        assert!(!shown.contains("Arben"), "{shown}");
        assert!(v
            .iter()
            .any(|x| x.field.as_deref() == Some("name") && x.detail.contains("missing")));
        assert!(v.iter().any(|x| x.field.as_deref() == Some("id")));
        assert!(v
            .iter()
            .any(|x| x.field.as_deref() == Some("child.age") && x.detail.contains("integer")));
    }

    #[test]
    fn drift_reports_unknown_missing_and_renamed() {
        let dir = tempfile::tempdir().unwrap();
        let s = schema(
            dir.path(),
            r#"{"type":"object","properties":{"Emri":{},"Mbiemri":{},"Data e lindjes":{},
                "child":{"type":"object","properties":{"age":{}}}}}"#,
        );
        let observed: BTreeSet<String> =
            ["Emri", "Mbiemri", "Data lindjes", "Telefoni", "child.age"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let d = s.drift(&observed);
        assert_eq!(d.missing, vec!["Data e lindjes".to_string()]);
        assert!(d.unknown.contains(&(
            "Data lindjes".to_string(),
            Some("Data e lindjes".to_string())
        )));
        assert!(d.unknown.contains(&("Telefoni".to_string(), None)));
    }

    #[test]
    fn broken_schema_json_is_located() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bad.json");
        std::fs::write(&path, "{\n  \"type\": \"object\",\n  \"properties\": {\n}").unwrap();
        let err = SchemaCheck::load(&path).unwrap_err().to_string();
        assert!(err.contains("bad.json:4:"), "{err}");
    }
}
