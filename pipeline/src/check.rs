//! `regbridge check`: loads the configuration and every file it names (reference data, rules,
//! schemas, mappings, templates) and lists every problem with its file, line and column.

use std::path::Path;

use crate::alerts::Templates;
use crate::config::Config;
use crate::mapping::Mapping;
use crate::reconcile::Survivorship;
use crate::reference::Reference;
use crate::rules::RuleBook;
use crate::schema::SchemaCheck;

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
        if !source.path.is_dir() {
            report.problem(format!(
                "{}: [sources.{name}] path {} is not a folder",
                config.path.display(),
                source.path.display()
            ));
        }
    }
    report
}
