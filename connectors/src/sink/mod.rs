//! Sinks: writing tables as CSV / XLSX / JSON, publishing a folder atomically, delivering mail.

pub mod csv;
pub mod json;
pub mod mail;
pub mod publish;
pub mod table;
pub mod xlsx;

use std::io;
use std::path::PathBuf;

pub use self::csv::{csv_bytes, write_csv, write_csv_rows, CsvWriteOptions};
pub use self::json::{
    cell_json, json_lines_bytes, write_json_lines, write_json_lines_rows, write_json_pretty,
};
pub use self::mail::{MailTransport, OutgoingMail, SmtpSecurity, SmtpSettings};
pub use self::publish::PublishDir;
pub use self::table::{Cell, CellRef, Rows, Table};
pub use self::xlsx::{write_xlsx, write_xlsx_beside, write_xlsx_rows, xlsx_bytes, BesideJob};

/// Failure to write, publish or send. Messages name the path; they never contain a password.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// An I/O error on a path.
    #[error("cannot {action} {}: {source}", .path.display())]
    Io {
        /// What was attempted ("write", "create", "rename", …).
        action: &'static str,
        /// The path concerned.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: io::Error,
    },
    /// A value has no representation in the chosen text encoding.
    #[error("cannot encode row {row}, column {column:?} as {encoding}: {reason}")]
    Encode {
        /// 1-based row of the output, the header being row 1.
        row: usize,
        /// The column name.
        column: String,
        /// The target encoding.
        encoding: &'static str,
        /// What could not be encoded (a code point, never the value).
        reason: String,
    },
    /// The table or the options cannot be written (rows of the wrong width, a non-ASCII delimiter…).
    #[error("{0}")]
    Invalid(String),
    /// The mail server refused the mail for good (a 5xx answer): trying again will not help.
    #[error("{0}")]
    MailRefused(String),
    /// Writing a file failed for a reason other than plain I/O.
    #[error("cannot write {}: {message}", .path.display())]
    Write {
        /// The file.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Publishing a folder failed.
    #[error("cannot publish {}: {message}", .path.display())]
    Publish {
        /// The publication target.
        path: PathBuf,
        /// Why.
        message: String,
    },
    /// Building or delivering a mail failed.
    #[error("cannot send mail: {0}")]
    Mail(String),
}

impl SinkError {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: io::Error) -> Self {
        SinkError::Io {
            action,
            path: path.into(),
            source,
        }
    }
}

/// Checks that every row of `table` has one cell per column.
pub(crate) fn check_shape(table: &table::Table) -> Result<(), SinkError> {
    let width = table.columns.len();
    match table.rows.iter().position(|row| row.len() != width) {
        Some(index) => Err(SinkError::Invalid(format!(
            "table {:?}: data row {} has {} cells, the table has {width} columns",
            table.name,
            index + 1,
            table.rows.get(index).map_or(0, Vec::len)
        ))),
        None => Ok(()),
    }
}

/// Checks that row `index` of `rows`, made with `cells` cells, has one cell per column.
pub(crate) fn check_row(
    rows: &dyn table::Rows,
    index: usize,
    cells: usize,
) -> Result<(), SinkError> {
    let width = rows.columns().len();
    if cells == width {
        return Ok(());
    }
    Err(SinkError::Invalid(format!(
        "table {:?}: data row {} has {cells} cells, the table has {width} columns",
        rows.name(),
        index + 1,
    )))
}

/// Writes `bytes` to `path` (created or truncated).
pub(crate) fn write_file(path: &std::path::Path, bytes: &[u8]) -> Result<(), SinkError> {
    std::fs::write(path, bytes).map_err(|e| SinkError::io("write", path, e))
}
