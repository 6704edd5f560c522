//! XLSX writer: one sheet per table in constant-memory mode (rows streamed to a temporary file,
//! worksheets written side by side on the machine's cores), bold
//! frozen header, cheap column widths, real date cells formatted dd.mm.yyyy, and byte-identical
//! output for identical input (fixed document creation time). A table longer than a worksheet
//! continues on further sheets "<name> (2)", "<name> (3)", … each with the header; a text longer
//! than a cell holds is cut to fit and ends with "…".

use std::borrow::Cow;
use std::collections::HashSet;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::table::{CellRef, Rows, Table};
use super::{check_row, check_shape, SinkError};

/// Rows looked at to size columns; bigger sheets are sized from their first rows only.
const WIDTH_SAMPLE_ROWS: usize = 1000;
/// Data rows per worksheet: Excel's limit of 1,048,576 rows less the header.
const MAX_DATA_ROWS: usize = 1_048_575;
/// Deflate level of the workbook's zip container. Compressing is most of writing a large workbook
/// and runs on one core: level 1 is about three times as fast as the default 6, for a file about a
/// fifth larger (measured on a million-record Cases sheet, BENCHMARKS.md).
const ZIP_COMPRESSION_LEVEL: u8 = 1;
/// Excel's limit on the length of a cell's text, in UTF-16 code units.
const MAX_CELL_TEXT: usize = 32_767;
/// Excel's limit on the length of a sheet name, in UTF-16 code units.
const MAX_SHEET_NAME: usize = 31;
/// Integers beyond this many digits lose precision in Excel; they are written as text.
const MAX_EXACT_INTEGER: i64 = 999_999_999_999_999;

/// Writes `sheets` to `path` as an XLSX workbook, one worksheet per table, named after the table.
pub fn write_xlsx(path: &Path, sheets: &[Table]) -> Result<(), SinkError> {
    for table in sheets {
        check_shape(table)?;
    }
    let sheets: Vec<&dyn Rows> = sheets.iter().map(|t| t as &dyn Rows).collect();
    write_xlsx_rows(path, &sheets)
}

/// Writes `sheets` to `path` as an XLSX workbook, one worksheet per table, each row made when it
/// is written.
pub fn write_xlsx_rows(path: &Path, sheets: &[&dyn Rows]) -> Result<(), SinkError> {
    fill_xlsx(path, sheets)?.save()
}

/// A workbook whose worksheets are written (to their temporary files), to be saved with
/// [`FilledWorkbook::save`]: compressing it into the file is most of the work and uses one core,
/// so a caller may give the other core something else to do meanwhile.
pub struct FilledWorkbook {
    workbook: Workbook,
    path: PathBuf,
}

impl std::fmt::Debug for FilledWorkbook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FilledWorkbook")
            .field("path", &self.path)
            .finish_non_exhaustive()
    }
}

impl FilledWorkbook {
    /// Writes the workbook to its path.
    pub fn save(mut self) -> Result<(), SinkError> {
        let path = self.path;
        self.workbook.save(&path).map_err(|e| SinkError::Write {
            message: e.to_string(),
            path,
        })
    }
}

/// Writes every worksheet of the workbook [`write_xlsx_rows`] would write to `path` (worksheets
/// side by side, on the machine's cores), without saving it yet.
pub fn fill_xlsx(path: &Path, sheets: &[&dyn Rows]) -> Result<FilledWorkbook, SinkError> {
    fill_xlsx_beside(path, sheets, Box::new(|| ()))
}

/// Other work to run while a workbook is filled.
pub type BesideJob<'a> = Box<dyn FnOnce() + Send + 'a>;

/// [`fill_xlsx`], running `beside` on the first thread that finds no worksheet left to write: the
/// largest worksheet takes longer than the others together, so a core would otherwise wait. `beside`
/// runs exactly once, before this returns, whether or not the workbook could be filled.
pub fn fill_xlsx_beside(
    path: &Path,
    sheets: &[&dyn Rows],
    beside: BesideJob<'_>,
) -> Result<FilledWorkbook, SinkError> {
    let slot = Mutex::new(Some(beside));
    let filled = fill_xlsx_with(path, sheets, &slot);
    if let Some(job) = slot.into_inner().unwrap_or_else(|e| e.into_inner()) {
        job();
    }
    filled
}

fn fill_xlsx_with(
    path: &Path,
    sheets: &[&dyn Rows],
    beside: &Mutex<Option<BesideJob<'_>>>,
) -> Result<FilledWorkbook, SinkError> {
    let failed = |e: XlsxError| SinkError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut workbook = Workbook::new();
    workbook.set_zip_compression_level(ZIP_COMPRESSION_LEVEL);
    // Keep the constant-memory temporary files on the output's disk rather than a RAM-backed /tmp.
    // They are anonymous (unlinked) files, so nothing is left behind in the folder.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        workbook.set_tempdir(parent).map_err(failed)?;
    }
    fill_workbook(&mut workbook, sheets, MAX_DATA_ROWS, beside).map_err(|e| match e {
        Filled::Sink(e) => e,
        Filled::Xlsx(e) => failed(e),
    })?;
    Ok(FilledWorkbook {
        workbook,
        path: path.to_path_buf(),
    })
}

/// The workbook [`write_xlsx`] would write, as bytes (temporary files in the system temp folder).
pub fn xlsx_bytes(sheets: &[Table]) -> Result<Vec<u8>, SinkError> {
    xlsx_bytes_with_row_limit(sheets, MAX_DATA_ROWS)
}

/// [`xlsx_bytes`] with at most `max_data_rows` data rows per worksheet (tests split small tables).
fn xlsx_bytes_with_row_limit(sheets: &[Table], max_data_rows: usize) -> Result<Vec<u8>, SinkError> {
    let failed = |e: XlsxError| SinkError::Invalid(format!("cannot build the workbook: {e}"));
    for table in sheets {
        check_shape(table)?;
    }
    let sheets: Vec<&dyn Rows> = sheets.iter().map(|t| t as &dyn Rows).collect();
    let mut workbook = Workbook::new();
    workbook.set_zip_compression_level(ZIP_COMPRESSION_LEVEL);
    fill_workbook(&mut workbook, &sheets, max_data_rows, &Mutex::new(None)).map_err(
        |e| match e {
            Filled::Sink(e) => e,
            Filled::Xlsx(e) => failed(e),
        },
    )?;
    workbook.save_to_buffer().map_err(failed)
}

enum Filled {
    Sink(SinkError),
    Xlsx(XlsxError),
}

impl From<XlsxError> for Filled {
    fn from(e: XlsxError) -> Self {
        Filled::Xlsx(e)
    }
}

/// One worksheet's data: rows `rows` of `table`.
struct SheetPart<'t> {
    table: &'t dyn Rows,
    rows: Range<usize>,
}

/// Adds a worksheet per table (and per further part of a table longer than a worksheet), writes
/// each one's widths, frozen header and header row in order, then their data rows side by side.
///
/// Worksheets are independent (each has its own temporary file, strings are written inline) but
/// for the workbook's table of cell formats, which numbers formats in the order they are first
/// used: the header's bold is used first, here, before any data row; the date format, the only
/// other one, is first used under a lock, so it is number 2 whichever worksheet uses it first.
fn fill_workbook(
    workbook: &mut Workbook,
    sheets: &[&dyn Rows],
    max_data_rows: usize,
    beside: &Mutex<Option<BesideJob<'_>>>,
) -> Result<(), Filled> {
    let created = ExcelDateTime::from_ymd(2000, 1, 1)?;
    workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let header = Format::new().set_bold();
    let date = Format::new().set_num_format("dd.mm.yyyy");
    let max_data_rows = max_data_rows.max(1);
    // Sheet names in use (Excel compares them case-insensitively).
    let mut used: HashSet<String> = sheets
        .iter()
        .filter(|t| !t.name().is_empty())
        .map(|t| t.name().to_lowercase())
        .collect();
    let mut parts: Vec<SheetPart<'_>> = Vec::new();
    for &table in sheets {
        let widths = column_widths(table);
        let length = table.len();
        // The first part is written even when the table has no rows (a sheet with its header).
        let first = 0..length.min(max_data_rows);
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        if !table.name().is_empty() {
            sheet.set_name(table.name())?;
        }
        write_header(sheet, table, &widths, &header)?;
        let mut start = first.end;
        parts.push(SheetPart { table, rows: first });
        let mut number = 2_usize;
        while start < length {
            let rows = start..length.min(start + max_data_rows);
            start = rows.end;
            let name = loop {
                let candidate = part_name(table.name(), number);
                number += 1;
                if used.insert(candidate.to_lowercase()) {
                    break candidate;
                }
            };
            let sheet = workbook.add_worksheet_with_constant_memory()?;
            sheet.set_name(&name)?;
            write_header(sheet, table, &widths, &header)?;
            parts.push(SheetPart { table, rows });
        }
    }
    // The largest worksheets first, each taken by the next free thread.
    let mut work: Vec<(usize, &mut Worksheet, SheetPart<'_>)> = workbook
        .worksheets_mut()
        .iter_mut()
        .zip(parts)
        .enumerate()
        .map(|(index, (sheet, part))| (index, sheet, part))
        .collect();
    work.sort_by_key(|(index, _, part)| (std::cmp::Reverse(part.rows.len()), *index));
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .clamp(1, work.len().max(1));
    let queue = Mutex::new(work.into_iter());
    let date_first_use = Mutex::new(());
    let failures: Vec<(usize, Filled)> = std::thread::scope(|scope| {
        let workers: Vec<_> = (0..threads)
            .map(|_| {
                scope.spawn(|| {
                    let mut failures = Vec::new();
                    loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                        let Some((index, sheet, part)) = next else {
                            let job = beside.lock().unwrap_or_else(|e| e.into_inner()).take();
                            if let Some(job) = job {
                                job();
                            }
                            break;
                        };
                        let written = write_rows(sheet, &part, &date, &date_first_use);
                        if let Err(e) = written {
                            failures.push((index, e));
                        }
                    }
                    failures
                })
            })
            .collect();
        workers
            .into_iter()
            .flat_map(|worker| {
                worker.join().unwrap_or_else(|_| {
                    vec![(
                        usize::MAX,
                        Filled::Sink(SinkError::Invalid(
                            "a worksheet writer stopped unexpectedly".to_string(),
                        )),
                    )]
                })
            })
            .collect()
    });
    // The first worksheet's failure, whichever thread met it first.
    match failures.into_iter().min_by_key(|(index, _)| *index) {
        Some((_, e)) => Err(e),
        None => Ok(()),
    }
}

/// "<name> (n)", the name shortened to keep within Excel's 31 characters; "Sheet (n)" when unnamed.
fn part_name(name: &str, number: usize) -> String {
    let suffix = format!(" ({number})");
    let base = if name.is_empty() { "Sheet" } else { name };
    let room = MAX_SHEET_NAME.saturating_sub(suffix.len());
    let mut kept = String::new();
    let mut length = 0;
    for c in base.chars() {
        length += c.len_utf16();
        if length > room {
            break;
        }
        kept.push(c);
    }
    format!("{}{suffix}", kept.trim_end())
}

/// `text` cut to Excel's cell limit, ending with "…" when cut.
fn fit_cell_text(text: &str) -> Cow<'_, str> {
    if text.len() <= MAX_CELL_TEXT || text.encode_utf16().count() <= MAX_CELL_TEXT {
        return Cow::Borrowed(text);
    }
    let room = MAX_CELL_TEXT - '…'.len_utf16();
    let mut length = 0;
    let mut end = 0;
    for (index, c) in text.char_indices() {
        length += c.len_utf16();
        if length > room {
            break;
        }
        end = index + c.len_utf8();
    }
    let mut cut = text.get(..end).unwrap_or_default().to_string();
    cut.push('…');
    Cow::Owned(cut)
}

/// A worksheet's column widths, frozen header and header row.
fn write_header(
    sheet: &mut Worksheet,
    table: &dyn Rows,
    widths: &[f64],
    header: &Format,
) -> Result<(), XlsxError> {
    for (col, width) in widths.iter().enumerate() {
        sheet.set_column_width(col_num(col)?, *width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (col, name) in table.columns().iter().enumerate() {
        sheet.write_string_with_format(0, col_num(col)?, fit_cell_text(name), header)?;
    }
    Ok(())
}

/// A worksheet's data rows, from its second row on.
fn write_rows(
    sheet: &mut Worksheet,
    part: &SheetPart<'_>,
    date: &Format,
    date_first_use: &Mutex<()>,
) -> Result<(), Filled> {
    let table = part.table;
    let mut row = Vec::with_capacity(table.columns().len());
    for (offset, index) in part.rows.clone().enumerate() {
        row.clear();
        table.row(index, &mut row);
        check_row(table, index, row.len()).map_err(Filled::Sink)?;
        let r = u32::try_from(offset + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
        for (col, cell) in row.iter().enumerate() {
            let c = col_num(col)?;
            match cell {
                CellRef::Empty => {}
                CellRef::Text(s) => {
                    sheet.write_string(r, c, fit_cell_text(s))?;
                }
                CellRef::Integer(i) if i.abs() <= MAX_EXACT_INTEGER => {
                    sheet.write_number(r, c, *i as f64)?;
                }
                CellRef::Integer(i) => {
                    sheet.write_string(r, c, i.to_string())?;
                }
                CellRef::Number(n) if n.is_finite() => {
                    sheet.write_number(r, c, *n)?;
                }
                CellRef::Number(n) => {
                    sheet.write_string(r, c, n.to_string())?;
                }
                CellRef::Bool(b) => {
                    sheet.write_boolean(r, c, *b)?;
                }
                CellRef::Date { year, month, day } => match excel_date(*year, *month, *day) {
                    Some(value) => {
                        let _numbering = date_first_use.lock().unwrap_or_else(|e| e.into_inner());
                        sheet.write_datetime_with_format(r, c, &value, date)?;
                    }
                    // Before 1900 or invalid: Excel has no date for it; keep the ISO text.
                    None => {
                        sheet.write_string(r, c, cell.to_text())?;
                    }
                },
            }
        }
    }
    Ok(())
}

fn col_num(col: usize) -> Result<u16, XlsxError> {
    u16::try_from(col).map_err(|_| XlsxError::RowColumnLimitError)
}

fn excel_date(year: i32, month: u32, day: u32) -> Option<ExcelDateTime> {
    let year = u16::try_from(year)
        .ok()
        .filter(|y| (1900..=9999).contains(y))?;
    let month = u8::try_from(month).ok()?;
    let day = u8::try_from(day).ok()?;
    ExcelDateTime::from_ymd(year, month, day).ok()
}

/// Widths from the header and the first [`WIDTH_SAMPLE_ROWS`] rows, between 8 and 60 characters.
fn column_widths(table: &dyn Rows) -> Vec<f64> {
    let mut widths: Vec<usize> = table
        .columns()
        .iter()
        .map(|name| name.chars().count() + 2)
        .collect();
    let mut row = Vec::new();
    for index in 0..table.len().min(WIDTH_SAMPLE_ROWS) {
        row.clear();
        table.row(index, &mut row);
        for (width, cell) in widths.iter_mut().zip(&row) {
            let length = match cell {
                CellRef::Empty => 0,
                CellRef::Date { .. } => 10,
                CellRef::Text(s) => s.lines().map(|l| l.chars().count()).max().unwrap_or(0),
                other => other.to_text().len(),
            };
            *width = (*width).max(length);
        }
    }
    widths
        .into_iter()
        .map(|w| (w + 1).clamp(8, 60) as f64)
        .collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::decode::{decode, Format, Location, XlsxFormat};
    use crate::sink::table::Cell;
    use serde_json::{json, Value};

    fn sample() -> Vec<Table> {
        let mut cases = Table::new("cases", &["id", "name", "born", "score", "flag", "note"]);
        cases.rows.push(vec![
            Cell::Integer(1),
            Cell::text("Arta Berisha"),
            Cell::Date {
                year: 2012,
                month: 2,
                day: 29,
            },
            Cell::Number(2.5),
            Cell::Bool(true),
            Cell::Empty,
        ]);
        cases.rows.push(vec![
            Cell::Integer(2),
            Cell::text("Đorđe Petrović"),
            Cell::Date {
                year: 1850,
                month: 1,
                day: 1,
            },
            Cell::Number(3.0),
            Cell::Bool(false),
            Cell::text("x"),
        ]);
        let mut summary = Table::new("summary", &["source", "received"]);
        summary
            .rows
            .push(vec![Cell::text("police"), Cell::Integer(2)]);
        vec![cases, summary]
    }

    #[test]
    fn round_trip_through_decode() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("national.xlsx");
        write_xlsx(&path, &sample()).unwrap();
        let bytes = std::fs::read(&path).unwrap();

        let decoded = decode(&bytes, &Format::Xlsx(XlsxFormat::default()));
        assert!(decoded.problems.is_empty(), "{:?}", decoded.problems);
        assert_eq!(decoded.encoding, None);
        assert_eq!(
            decoded.columns,
            ["id", "name", "born", "score", "flag", "note"]
        );
        assert_eq!(decoded.records.len(), 2);
        let first = &decoded.records[0];
        assert_eq!(first.location, Location::Row(2));
        assert_eq!(first.fields["id"], json!(1));
        assert_eq!(first.fields["name"], json!("Arta Berisha"));
        assert_eq!(first.fields["born"], json!("2012-02-29"));
        assert_eq!(first.fields["score"], json!(2.5));
        assert_eq!(first.fields["flag"], json!(true));
        assert_eq!(first.fields["note"], Value::Null);
        let second = &decoded.records[1];
        assert_eq!(second.location, Location::Row(3));
        assert_eq!(second.fields["name"], json!("Đorđe Petrović"));
        assert_eq!(second.fields["born"], json!("1850-01-01"));
        assert_eq!(second.fields["score"], json!(3));

        let summary = decode(
            &bytes,
            &Format::Xlsx(XlsxFormat {
                sheet: Some("summary".into()),
                header_row: 1,
            }),
        );
        assert_eq!(summary.records[0].fields["source"], json!("police"));

        let missing = decode(
            &bytes,
            &Format::Xlsx(XlsxFormat {
                sheet: Some("Nope".into()),
                header_row: 1,
            }),
        );
        assert!(missing.records.is_empty());
        assert_eq!(missing.problems.len(), 1);
        assert_eq!(missing.problems[0].location, Location::File);
        assert!(missing.problems[0].lost);
        assert!(missing.problems[0]
            .message
            .contains("\"cases\", \"summary\""));
    }

    #[test]
    fn work_beside_the_workbook_runs_once_and_changes_nothing() {
        let tmp = tempfile::tempdir().unwrap();
        let tables = sample();
        let sheets: Vec<&dyn Rows> = tables.iter().map(|t| t as &dyn Rows).collect();
        let path = tmp.path().join("beside.xlsx");
        let mut runs = 0;
        fill_xlsx_beside(&path, &sheets, Box::new(|| runs += 1))
            .unwrap()
            .save()
            .unwrap();
        assert_eq!(runs, 1);
        assert_eq!(std::fs::read(&path).unwrap(), xlsx_bytes(&tables).unwrap());
        // Also when the workbook cannot be filled (no worksheet to take the job).
        let bad = Table::new("a/b", &["x"]);
        let mut ran = false;
        let filled = fill_xlsx_beside(&path, &[&bad], Box::new(|| ran = true));
        assert!(filled.is_err());
        assert!(ran);
    }

    #[test]
    fn identical_input_gives_identical_bytes() {
        let tmp = tempfile::tempdir().unwrap();
        let a = tmp.path().join("a.xlsx");
        let b = tmp.path().join("b.xlsx");
        write_xlsx(&a, &sample()).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(1100));
        write_xlsx(&b, &sample()).unwrap();
        assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
        assert_eq!(std::fs::read(&a).unwrap(), xlsx_bytes(&sample()).unwrap());
    }

    #[test]
    fn header_row_blank_rows_and_not_a_workbook() {
        let mut table = Table::new("s", &["Report of 2024", ""]);
        table.rows.push(vec![Cell::Empty, Cell::Empty]);
        table.rows.push(vec![Cell::text("a"), Cell::text("b")]);
        table.rows.push(vec![Cell::text("1"), Cell::Empty]);
        table.rows.push(vec![Cell::Empty, Cell::Empty]);
        table.rows.push(vec![Cell::Empty, Cell::text("2")]);
        let bytes = xlsx_bytes(&[table]).unwrap();
        let decoded = decode(
            &bytes,
            &Format::Xlsx(XlsxFormat {
                sheet: None,
                header_row: 3,
            }),
        );
        assert!(decoded.problems.is_empty(), "{:?}", decoded.problems);
        assert_eq!(decoded.columns, ["a", "b"]);
        let rows: Vec<_> = decoded.records.iter().map(|r| r.location.clone()).collect();
        assert_eq!(rows, [Location::Row(4), Location::Row(6)]);

        let decoded = decode(b"id,name\n1,x\n", &Format::Xlsx(XlsxFormat::default()));
        assert!(decoded.records.is_empty());
        assert_eq!(decoded.problems.len(), 1);
        assert_eq!(decoded.problems[0].location, Location::File);
        assert!(decoded.problems[0].lost);

        // Not lost: an empty file and a sheet with a header but no rows.
        let decoded = decode(b"", &Format::Xlsx(XlsxFormat::default()));
        assert_eq!(decoded.problems.len(), 1);
        assert_eq!(decoded.problems[0].message, "the file is empty");
        assert!(!decoded.problems[0].lost);
        let mut header_only = Table::new("s", &["a", "b"]);
        header_only.rows.push(vec![Cell::Empty, Cell::Empty]);
        let bytes = xlsx_bytes(&[header_only]).unwrap();
        let decoded = decode(&bytes, &Format::Xlsx(XlsxFormat::default()));
        assert!(decoded.records.is_empty());
        assert_eq!(decoded.columns, ["a", "b"]);
        assert_eq!(decoded.problems.len(), 1);
        assert_eq!(decoded.problems[0].location, Location::File);
        assert_eq!(
            decoded.problems[0].message,
            "the file has a header but no rows"
        );
        assert!(!decoded.problems[0].lost);
        let bytes = xlsx_bytes(&[Table::new("blank", &[])]).unwrap();
        let decoded = decode(&bytes, &Format::Xlsx(XlsxFormat::default()));
        assert!(decoded.records.is_empty());
        assert_eq!(decoded.problems.len(), 1);
        assert_eq!(decoded.problems[0].message, "sheet \"blank\" is empty");
        assert!(!decoded.problems[0].lost);
    }

    /// Regression: one text over Excel's 32,767-character limit failed the whole workbook.
    #[test]
    fn overlong_text_is_cut_to_fit() {
        let mut table = Table::new("notes", &["id", "note"]);
        let long = "ë".repeat(40_000);
        // A character of two UTF-16 units right at the limit is not split.
        let mut surrogate = "a".repeat(MAX_CELL_TEXT - 2);
        surrogate.push('😀');
        surrogate.push_str("tail");
        let exact = "x".repeat(MAX_CELL_TEXT);
        for (id, text) in [&long, &surrogate, &exact].into_iter().enumerate() {
            table
                .rows
                .push(vec![Cell::Integer(id as i64), Cell::text(text.as_str())]);
        }
        let bytes = xlsx_bytes(&[table]).unwrap();
        let decoded = decode(&bytes, &Format::Xlsx(XlsxFormat::default()));
        assert!(decoded.problems.is_empty(), "{:?}", decoded.problems);
        let notes: Vec<String> = decoded
            .records
            .iter()
            .map(|r| r.fields["note"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(notes[0].encode_utf16().count(), MAX_CELL_TEXT);
        assert!(notes[0].ends_with("ëë…"));
        assert_eq!(notes[1], format!("{}…", "a".repeat(MAX_CELL_TEXT - 2)));
        assert_eq!(notes[2], exact);
        assert_eq!(fit_cell_text("short"), "short");
    }

    /// Tables longer than a worksheet continue on "<name> (2)", "<name> (3)", … with the header.
    #[test]
    fn long_table_continues_on_further_sheets() {
        let mut cases = Table::new("cases", &["id", "name"]);
        for i in 0..5 {
            cases
                .rows
                .push(vec![Cell::Integer(i), Cell::text(format!("n{i}"))]);
        }
        let mut other = Table::new("cases (2)", &["x"]);
        other.rows.push(vec![Cell::Integer(9)]);
        let bytes = xlsx_bytes_with_row_limit(&[cases, other], 2).unwrap();
        let sheet = |name: &str| {
            decode(
                &bytes,
                &Format::Xlsx(XlsxFormat {
                    sheet: Some(name.into()),
                    header_row: 1,
                }),
            )
        };
        let mut ids = Vec::new();
        for (name, count) in [("cases", 2), ("cases (3)", 2), ("cases (4)", 1)] {
            let decoded = sheet(name);
            assert!(
                decoded.problems.is_empty(),
                "{name}: {:?}",
                decoded.problems
            );
            assert_eq!(decoded.columns, ["id", "name"], "{name}");
            assert_eq!(decoded.records.len(), count, "{name}");
            assert_eq!(decoded.records[0].location, Location::Row(2));
            ids.extend(decoded.records.iter().map(|r| r.fields["id"].clone()));
        }
        assert_eq!(ids, [json!(0), json!(1), json!(2), json!(3), json!(4)]);
        let other = sheet("cases (2)");
        assert_eq!(other.columns, ["x"]);
        assert_eq!(other.records.len(), 1);

        assert_eq!(part_name("cases", 2), "cases (2)");
        assert_eq!(part_name("", 3), "Sheet (3)");
        let long = part_name(&"k".repeat(31), 12);
        assert_eq!(long, format!("{} (12)", "k".repeat(26)));
        assert_eq!(long.chars().count(), 31);
        // The real limit is Excel's.
        assert_eq!(MAX_DATA_ROWS, 1_048_575);
    }

    /// Worksheets are written side by side; the workbook must not depend on which one first
    /// used the date format, nor on how the threads met.
    #[test]
    fn worksheets_written_side_by_side_give_the_same_bytes_every_time() {
        let sheet = |name: &str, rows: i64| {
            let mut table = Table::new(name, &["id", "born", "note"]);
            for i in 0..rows {
                table.rows.push(vec![
                    Cell::Integer(i),
                    Cell::Date {
                        year: 2010,
                        month: 1 + (i % 12) as u32,
                        day: 1,
                    },
                    Cell::text(format!("n{i}")),
                ]);
            }
            table
        };
        let sheets = [sheet("a", 300), sheet("b", 2000), sheet("c", 700)];
        let first = xlsx_bytes(&sheets).unwrap();
        for _ in 0..5 {
            assert_eq!(xlsx_bytes(&sheets).unwrap(), first);
        }
        let decoded = decode(
            &first,
            &Format::Xlsx(XlsxFormat {
                sheet: Some("c".into()),
                header_row: 1,
            }),
        );
        assert!(decoded.problems.is_empty(), "{:?}", decoded.problems);
        assert_eq!(decoded.records.len(), 700);
        assert_eq!(decoded.records[13].fields["born"], json!("2010-02-01"));
    }
}
