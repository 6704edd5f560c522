//! Writing a synthetic dataset: the three institutions' exports in their exact formats, the ground
//! truth and a `config.toml` that runs the pipeline on them; the generator's only I/O.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use regbridge_connectors::decode::TextEncoding;
use regbridge_connectors::sink::csv::{write_csv, CsvWriteOptions};
use regbridge_connectors::sink::json::write_json_pretty;
use regbridge_connectors::sink::table::{Cell, Table};
use regbridge_connectors::sink::xlsx::write_xlsx;
use regbridge_connectors::sink::SinkError;
use serde_json::json;

use super::{SynthDataset, CSW_COLUMNS, POLICE_COLUMNS};

/// Police rows per CSV file when the export is split.
pub const POLICE_ROWS_PER_FILE: usize = 400_000;
/// Social-work rows per workbook when the export is split.
pub const CSW_ROWS_PER_FILE: usize = 500_000;
/// Inspections per API page.
pub const INSPECTIONS_PER_PAGE: usize = 1_000;

/// Where to write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthWriteOptions {
    /// The folder that receives `police/`, `csw/`, `inspectorate/`, `truth.csv` and `config.toml`.
    pub out_dir: PathBuf,
    /// The folder holding `schemas/`, `mappings/`, `rules/`, `reference/` and `templates/`.
    pub assets_dir: PathBuf,
}

/// What was written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SynthSummary {
    pub records_per_source: BTreeMap<String, usize>,
    pub children: usize,
    pub defects: usize,
    /// Every file written, in the order written.
    pub files: Vec<PathBuf>,
}

/// Failure to write the dataset.
#[derive(Debug, thiserror::Error)]
pub enum SynthError {
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Sink(#[from] SinkError),
}

fn io_error(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> SynthError {
    let path = path.to_path_buf();
    move |source| SynthError::Io {
        action,
        path,
        source,
    }
}

/// Writes the dataset into `options.out_dir` (folders created; earlier generated exports there
/// removed first so that none is left over). Deterministic: the same dataset gives byte-identical
/// files.
pub fn write(
    dataset: &SynthDataset,
    options: &SynthWriteOptions,
) -> Result<SynthSummary, SynthError> {
    let out = &options.out_dir;
    let police_dir = out.join("police");
    let csw_dir = out.join("csw");
    let inspectorate_dir = out.join("inspectorate");
    for dir in [out, &police_dir, &csw_dir, &inspectorate_dir] {
        std::fs::create_dir_all(dir).map_err(io_error("create", dir))?;
    }
    remove_generated(&police_dir, "identifikimet", ".csv")?;
    remove_generated(&csw_dir, "qps_rastet", ".xlsx")?;
    remove_generated(&inspectorate_dir, "inspections_", ".json")?;

    let mut files = Vec::new();
    let per_source = dataset.records_per_source();
    let count = |name: &str| per_source.get(name).copied().unwrap_or(0);

    // Police: `;`-separated UTF-8 with BOM and CRLF, split at 400,000 rows.
    let police_options = CsvWriteOptions {
        delimiter: b';',
        encoding: TextEncoding::Utf8,
        bom: true,
        crlf: true,
        guard_formulas: false,
    };
    let police_total = count("police");
    let mut rows = dataset.police_rows();
    for (part, path) in parts(
        &police_dir,
        "identifikimet",
        "csv",
        police_total,
        POLICE_ROWS_PER_FILE,
        3,
    ) {
        let table = Table {
            name: "identifikimet".to_string(),
            columns: POLICE_COLUMNS.iter().map(|c| (*c).to_string()).collect(),
            rows: rows.by_ref().take(part).collect(),
        };
        write_csv(&path, &table, &police_options)?;
        files.push(path);
    }

    // Social work: one sheet "Rastet" per workbook, split at 500,000 rows.
    let csw_total = count("csw");
    let mut rows = dataset.csw_rows();
    for (part, path) in parts(
        &csw_dir,
        "qps_rastet",
        "xlsx",
        csw_total,
        CSW_ROWS_PER_FILE,
        3,
    ) {
        let table = Table {
            name: "Rastet".to_string(),
            columns: CSW_COLUMNS.iter().map(|c| (*c).to_string()).collect(),
            rows: rows.by_ref().take(part).collect(),
        };
        write_xlsx(&path, &[table])?;
        files.push(path);
    }

    // Inspectorate: API pages of 1,000 inspections.
    let inspectorate_total = count("inspectorate");
    let mut inspections = dataset.inspections();
    let pages = inspectorate_total.div_ceil(INSPECTIONS_PER_PAGE);
    for page in 1..=pages {
        let data: Vec<serde_json::Value> =
            inspections.by_ref().take(INSPECTIONS_PER_PAGE).collect();
        let document = json!({
            "status": "ok",
            "page": page,
            "page_size": INSPECTIONS_PER_PAGE,
            "total": inspectorate_total,
            "data": {"inspections": data},
        });
        let path = inspectorate_dir.join(format!("inspections_{page:04}.json"));
        write_json_pretty(&path, &document)?;
        files.push(path);
    }

    // Ground truth.
    let truth = dataset.truth();
    let table = Table {
        name: "truth".to_string(),
        columns: ["source", "record_id", "child", "defect"]
            .iter()
            .map(|c| (*c).to_string())
            .collect(),
        rows: truth
            .into_iter()
            .map(|t| {
                vec![
                    Cell::text(t.source.name()),
                    Cell::text(t.record_id),
                    Cell::text(t.child),
                    t.defect.map_or(Cell::Empty, |d| Cell::text(d.rule_id())),
                ]
            })
            .collect(),
    };
    let truth_path = out.join("truth.csv");
    write_csv(&truth_path, &table, &CsvWriteOptions::default())?;
    files.push(truth_path);

    // Configuration.
    let config_path = out.join("config.toml");
    let assets = assets_path(out, &options.assets_dir);
    let config = config_toml(&assets, dataset);
    std::fs::write(&config_path, config).map_err(io_error("write", &config_path))?;
    files.push(config_path);

    Ok(SynthSummary {
        records_per_source: per_source,
        children: dataset.children(),
        defects: dataset.defects(),
        files,
    })
}

/// The files of one split export: `(rows, path)` per part; one unnumbered file when everything
/// fits (an empty export still gets its header-only file).
fn parts(
    dir: &Path,
    stem: &str,
    extension: &str,
    total: usize,
    per_file: usize,
    digits: usize,
) -> Vec<(usize, PathBuf)> {
    if total <= per_file {
        return vec![(total, dir.join(format!("{stem}.{extension}")))];
    }
    (0..total.div_ceil(per_file))
        .map(|i| {
            let rows = per_file.min(total - i * per_file);
            let name = format!("{stem}_{:0digits$}.{extension}", i + 1);
            (rows, dir.join(name))
        })
        .collect()
}

/// Removes files an earlier `write` left in `dir` (`stem*` + `extension`).
fn remove_generated(dir: &Path, stem: &str, extension: &str) -> Result<(), SynthError> {
    let entries = std::fs::read_dir(dir).map_err(io_error("read", dir))?;
    let mut stale: Vec<PathBuf> = Vec::new();
    for entry in entries {
        let entry = entry.map_err(io_error("read", dir))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with(stem) && name.ends_with(extension) && entry.path().is_file() {
            stale.push(entry.path());
        }
    }
    stale.sort();
    for path in stale {
        std::fs::remove_file(&path).map_err(io_error("remove", &path))?;
    }
    Ok(())
}

/// The assets folder as the config should name it: relative to `out_dir` when both canonicalise
/// (with `/` separators), else absolute.
fn assets_path(out_dir: &Path, assets_dir: &Path) -> String {
    let relative = match (out_dir.canonicalize(), assets_dir.canonicalize()) {
        (Ok(from), Ok(to)) => relative_path(&from, &to),
        _ => None,
    };
    match relative {
        Some(path) => path,
        None => {
            let absolute = assets_dir
                .canonicalize()
                .or_else(|_| std::path::absolute(assets_dir))
                .unwrap_or_else(|_| assets_dir.to_path_buf());
            absolute.to_string_lossy().into_owned()
        }
    }
}

/// The relative path from folder `from` to `to` (both absolute), `/`-separated; `None` when they
/// share no root.
fn relative_path(from: &Path, to: &Path) -> Option<String> {
    let from: Vec<Component> = from.components().collect();
    let to: Vec<Component> = to.components().collect();
    if from.first() != to.first() {
        return None;
    }
    let common = from.iter().zip(&to).take_while(|(a, b)| a == b).count();
    let mut parts: Vec<String> = vec!["..".to_string(); from.len() - common];
    for component in to.iter().skip(common) {
        match component {
            Component::Normal(name) => parts.push(name.to_str()?.to_string()),
            _ => return None,
        }
    }
    Some(if parts.is_empty() {
        ".".to_string()
    } else {
        parts.join("/")
    })
}

/// A TOML basic string.
fn toml_string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => out.push_str(&format!("\\u{:04X}", u32::from(c))),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `config.toml` for a run over the written exports.
fn config_toml(assets: &str, dataset: &SynthDataset) -> String {
    let asset = |name: &str| {
        if assets == "." {
            toml_string(name)
        } else {
            toml_string(&format!("{}/{name}", assets.trim_end_matches('/')))
        }
    };
    let options = dataset.options();
    format!(
        r#"# regbridge configuration for a synthetic dataset written by `regbridge synth`
# ({records} records requested, seed {seed}; the ground truth is in truth.csv beside this file).
# Paths are relative to this file. Secrets never go here: name an environment variable or a file.

[run]
# Where the national dataset is published (a symlink switched atomically to the newest release).
output_dir = "out/published"
# Local state: the pseudonym key (created on first run) and run records.
state_dir = "out/state"
# Kosovo's civil time; dates in alerts and the manifest use it.
timezone = "Europe/Belgrade"

[paths]
schemas = {schemas}
mappings = {mappings}
rules = {rules}
reference = {reference}
templates = {templates}

[reference]
# Which regional grouping to publish (a file in reference/crosswalks/).
region_crosswalk = "kas_districts"

[pseudonym]
# The key for the keyed-HMAC child identifiers. Taken from the environment variable if it is set,
# else from the file; this configuration creates the file (owner-only) on first run.
key_env = "REGBRIDGE_PSEUDONYM_KEY"
key_file = "out/state/pseudonym.key"
create_if_missing = true

[alerts]
from = "regbridge <regbridge@localhost>"
# "outbox" writes .eml files into outbox_dir; "smtp" sends through [alerts.smtp].
transport = "outbox"
outbox_dir = "out/outbox"

# [alerts.smtp]
# host = "smtp.example.org"
# port = 587
# security = "starttls"          # "starttls", "tls" or "none"
# username = "regbridge"
# password_env = "REGBRIDGE_SMTP_PASSWORD"
# ca_file = "/etc/regbridge/gov-ca.pem"

[institutions.police]
name = "Kosovo Police"
language = "sq"
recipients = ["data-officer@police.example"]

[institutions.csw]
name = "Centres for Social Work"
language = "sq"
recipients = ["data-officer@csw.example"]

[institutions.inspectorate]
name = "Labour Inspectorate"
language = "en"
recipients = ["data-officer@inspectorate.example"]

[sources.police]
institution = "police"
path = "police"
glob = "*.csv"
schema = "police.schema.json"
mapping = "police.toml"
[sources.police.format]
format = "csv"
delimiter = ";"
encoding = "auto"

[sources.csw]
institution = "csw"
path = "csw"
glob = "*.xlsx"
schema = "csw.schema.json"
mapping = "csw.toml"
[sources.csw.format]
format = "xlsx"
sheet = "Rastet"

[sources.inspectorate]
institution = "inspectorate"
path = "inspectorate"
glob = "*.json"
schema = "inspectorate.schema.json"
mapping = "inspectorate.toml"
[sources.inspectorate.format]
format = "json"
records_path = "data.inspections"
"#,
        records = options.records,
        seed = options.seed,
        schemas = asset("schemas"),
        mappings = asset("mappings"),
        rules = asset("rules"),
        reference = asset("reference"),
        templates = asset("templates"),
    )
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn relative_paths() {
        assert_eq!(
            relative_path(Path::new("/a/b/out"), Path::new("/a/b")).as_deref(),
            Some("..")
        );
        assert_eq!(
            relative_path(Path::new("/a/b/out/x"), Path::new("/a/c")).as_deref(),
            Some("../../../c")
        );
        assert_eq!(
            relative_path(Path::new("/a"), Path::new("/a")).as_deref(),
            Some(".")
        );
        assert_eq!(
            relative_path(Path::new("/a"), Path::new("/a/assets")).as_deref(),
            Some("assets")
        );
    }

    #[test]
    fn split_parts() {
        let p = parts(Path::new("d"), "x", "csv", 10, 400, 3);
        assert_eq!(p, vec![(10, PathBuf::from("d/x.csv"))]);
        let p = parts(Path::new("d"), "x", "csv", 900, 400, 3);
        assert_eq!(
            p,
            vec![
                (400, PathBuf::from("d/x_001.csv")),
                (400, PathBuf::from("d/x_002.csv")),
                (100, PathBuf::from("d/x_003.csv")),
            ]
        );
        assert_eq!(toml_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
    }
}
