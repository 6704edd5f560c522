//! XLSX writer: one sheet per table, bold frozen header, cheap column widths, real date cells
//! formatted dd.mm.yyyy, and byte-identical output for identical input (fixed document creation
//! time). A table longer than a worksheet continues on further sheets "<name> (2)", "<name> (3)", …
//! each with the header; a text longer than a cell holds is cut to fit and ends with "…".
//!
//! rust_xlsxwriter writes the workbook with its header rows only (the template: styles, sheet
//! names, widths, frozen panes, properties). Each worksheet's data rows are then written as XML by
//! [`sheet_xml`] straight into that worksheet's compressed entry, in a temporary file, worksheets
//! side by side on the machine's cores; the thread that writes the last one copies the entries,
//! still compressed, into the workbook. The parts are those rust_xlsxwriter writes when given
//! every cell (a test compares them), without its cost of storing each cell before writing it.

mod sheet_xml;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{BufWriter, Cursor, Read, Seek, Write};
use std::ops::Range;
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};
use tempfile::SpooledTempFile;
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, ZipArchive, ZipWriter};

use super::table::{CellRef, Rows, Table};
use super::{check_shape, SinkError};
use sheet_xml::{Extent, SheetFrame};

/// Rows looked at to size columns; bigger sheets are sized from their first rows only.
const WIDTH_SAMPLE_ROWS: usize = 1000;
/// Data rows per worksheet: Excel's limit of 1,048,576 rows less the header.
const MAX_DATA_ROWS: usize = 1_048_575;
/// Deflate level of the workbook's zip container. Compressing is most of writing a large workbook:
/// level 1 is about three times as fast as the default 6, for a file about a fifth larger
/// (measured on a million-record Cases sheet, BENCHMARKS.md).
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
    write_xlsx_beside(path, sheets, Vec::new())
}

/// Other work to run while a workbook is written.
pub type BesideJob<'a> = Box<dyn FnOnce() + Send + 'a>;

/// [`write_xlsx_rows`], its worksheets written side by side on the machine's cores, the largest
/// first; the thread that writes the last one puts the file together, and a thread that finds no
/// worksheet left runs the jobs `beside`, each taken in turn by the next free thread (the largest
/// worksheet takes longer than the others together, so a core would otherwise wait). Every job
/// runs exactly once, before this returns, whether or not the workbook could be written.
pub fn write_xlsx_beside(
    path: &Path,
    sheets: &[&dyn Rows],
    beside: Vec<BesideJob<'_>>,
) -> Result<(), SinkError> {
    let jobs = Mutex::new(beside.into_iter());
    // The worksheets' temporary files go on the output's disk rather than a RAM-backed /tmp. They
    // are anonymous (unlinked) files, so nothing is left behind in the folder.
    let folder = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .map_or_else(std::env::temp_dir, Path::to_path_buf);
    let save = |template: &[u8], written: Vec<WrittenSheet>| -> Result<(), WorkbookError> {
        let file = File::create(path)?;
        assemble(template, written, BufWriter::new(file))?.flush()?;
        tracing::debug!(path = %path.display(), "workbook saved");
        Ok(())
    };
    let saved = build_workbook(sheets, MAX_DATA_ROWS, &folder, &jobs, &save)
        .map_err(|e| e.into_sink(Some(path)));
    for job in jobs.into_inner().unwrap_or_else(|e| e.into_inner()) {
        job();
    }
    saved
}

/// The jobs to run beside a workbook, in the order they are taken.
type BesideJobs<'a> = Mutex<std::vec::IntoIter<BesideJob<'a>>>;

/// Runs the jobs left in `jobs`, one at a time, until none is left.
fn run_beside(jobs: &BesideJobs<'_>) {
    loop {
        let next = jobs.lock().unwrap_or_else(|e| e.into_inner()).next();
        match next {
            Some(job) => job(),
            None => break,
        }
    }
}

/// The workbook [`write_xlsx`] would write, as bytes (temporary files in the system temp folder).
pub fn xlsx_bytes(sheets: &[Table]) -> Result<Vec<u8>, SinkError> {
    xlsx_bytes_with_row_limit(sheets, MAX_DATA_ROWS)
}

/// [`xlsx_bytes`] with at most `max_data_rows` data rows per worksheet (tests split small tables).
fn xlsx_bytes_with_row_limit(sheets: &[Table], max_data_rows: usize) -> Result<Vec<u8>, SinkError> {
    for table in sheets {
        check_shape(table)?;
    }
    let sheets: Vec<&dyn Rows> = sheets.iter().map(|t| t as &dyn Rows).collect();
    let folder = std::env::temp_dir();
    let in_memory = |template: &[u8], written: Vec<WrittenSheet>| {
        assemble(template, written, Cursor::new(Vec::new())).map(Cursor::into_inner)
    };
    let no_jobs = Mutex::new(Vec::new().into_iter());
    build_workbook(&sheets, max_data_rows, &folder, &no_jobs, &in_memory)
        .map_err(|e| e.into_sink(None))
}

/// Why a workbook could not be written: a table's own fault, a file's, or the writing's.
#[derive(Debug)]
enum WorkbookError {
    Sink(SinkError),
    Io(std::io::Error),
    Failed(String),
}

impl WorkbookError {
    /// The error, about the workbook at `path` (none: one built in memory).
    fn into_sink(self, path: Option<&Path>) -> SinkError {
        match (self, path) {
            (WorkbookError::Sink(e), _) => e,
            (WorkbookError::Io(e), Some(path)) => SinkError::io("write", path, e),
            (WorkbookError::Failed(message), Some(path)) => SinkError::Write {
                path: path.to_path_buf(),
                message,
            },
            (WorkbookError::Io(e), None) => {
                SinkError::Invalid(format!("cannot build the workbook: {e}"))
            }
            (WorkbookError::Failed(m), None) => {
                SinkError::Invalid(format!("cannot build the workbook: {m}"))
            }
        }
    }
}

impl From<XlsxError> for WorkbookError {
    fn from(e: XlsxError) -> Self {
        WorkbookError::Failed(e.to_string())
    }
}

impl From<zip::result::ZipError> for WorkbookError {
    fn from(e: zip::result::ZipError) -> Self {
        WorkbookError::Failed(e.to_string())
    }
}

impl From<std::io::Error> for WorkbookError {
    fn from(e: std::io::Error) -> Self {
        WorkbookError::Io(e)
    }
}

/// One worksheet to write: rows `rows` of `table`, under `name` (rust_xlsxwriter's "SheetN" when
/// none), with the table's column widths.
struct PlannedSheet<'t> {
    name: Option<String>,
    table: &'t dyn Rows,
    widths: Vec<f64>,
    rows: Range<usize>,
}

/// A worksheet's entry in the workbook, compressed into a one-entry zip in a temporary file.
#[derive(Debug)]
struct WrittenSheet {
    /// Its name in the workbook, "xl/worksheets/sheetN.xml".
    entry: String,
    zip: SpooledTempFile,
    /// Whether it holds a real date.
    dates: bool,
}

/// What is done with the written worksheets once the last is written: given the template (the one
/// whose styles hold the date format if a worksheet uses it) and the worksheets in order.
type Finish<'f, R> = dyn Fn(&[u8], Vec<WrittenSheet>) -> Result<R, WorkbookError> + Sync + 'f;

/// Plans the worksheets, has rust_xlsxwriter write the workbook with their header rows only, writes
/// each worksheet's entry, the largest first, side by side, and has the thread that wrote the last
/// one `finish` the workbook.
///
/// The workbook's table of cell formats numbers formats in the order they are first used: the
/// header's bold first (every header is written before any data row), then the date format, so
/// the date style is the same whichever worksheet has the first date.
fn build_workbook<R: Send>(
    sheets: &[&dyn Rows],
    max_data_rows: usize,
    folder: &Path,
    beside: &BesideJobs<'_>,
    finish: &Finish<'_, R>,
) -> Result<R, WorkbookError> {
    let plan = plan_sheets(sheets, max_data_rows.max(1));
    let plain = template(&plan, false, folder)?;
    let dated = template(&plan, true, folder)?;
    let frames = frames_of(&plain, &plan)?;
    let date_style = date_style_of(&dated, &plan)?;
    let with_template = |written: Vec<WrittenSheet>| {
        let template = if written.iter().any(|sheet| sheet.dates) {
            &dated
        } else {
            &plain
        };
        finish(template, written)
    };
    let sheets = SheetsToWrite {
        plan: &plan,
        frames: &frames,
        date_style,
        folder,
    };
    sheets.write(beside, &with_template)
}

/// A worksheet per table, and per further part of a table longer than a worksheet.
fn plan_sheets<'t>(sheets: &[&'t dyn Rows], max_data_rows: usize) -> Vec<PlannedSheet<'t>> {
    // Sheet names in use (Excel compares them case-insensitively).
    let mut used: HashSet<String> = sheets
        .iter()
        .filter(|t| !t.name().is_empty())
        .map(|t| t.name().to_lowercase())
        .collect();
    let mut plan = Vec::new();
    for &table in sheets {
        let widths = column_widths(table);
        let length = table.len();
        // The first part is written even when the table has no rows (a sheet with its header).
        let first = 0..length.min(max_data_rows);
        let mut start = first.end;
        plan.push(PlannedSheet {
            name: Some(table.name().to_string()).filter(|n| !n.is_empty()),
            table,
            widths: widths.clone(),
            rows: first,
        });
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
            plan.push(PlannedSheet {
                name: Some(name),
                table,
                widths: widths.clone(),
                rows,
            });
        }
    }
    plan
}

/// The workbook with every planned worksheet's widths, frozen header and header row, and no data;
/// with `dated`, a date in the first worksheet's second row, so that its styles hold the date
/// format. Its worksheets' temporary files go into `folder`.
fn template(
    plan: &[PlannedSheet<'_>],
    dated: bool,
    folder: &Path,
) -> Result<Vec<u8>, WorkbookError> {
    let mut workbook = Workbook::new();
    workbook.set_zip_compression_level(ZIP_COMPRESSION_LEVEL);
    workbook.set_tempdir(folder)?;
    let created = ExcelDateTime::from_ymd(2000, 1, 1)?;
    workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let header = Format::new().set_bold();
    for planned in plan {
        // Constant-memory worksheets write their strings inline, as the data rows are written.
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        if let Some(name) = &planned.name {
            sheet.set_name(name)?;
        }
        write_header(sheet, planned.table, &planned.widths, &header)?;
    }
    if let Some(first) = workbook.worksheets_mut().first_mut().filter(|_| dated) {
        first.write_datetime_with_format(
            1,
            0,
            &created,
            &Format::new().set_num_format("dd.mm.yyyy"),
        )?;
    }
    Ok(workbook.save_to_buffer()?)
}

/// The name of worksheet `index` (from 0) in the workbook's zip.
fn sheet_entry(index: usize) -> String {
    format!("xl/worksheets/sheet{}.xml", index + 1)
}

/// Each planned worksheet's frame, cut from the header-only template.
fn frames_of(template: &[u8], plan: &[PlannedSheet<'_>]) -> Result<Vec<SheetFrame>, WorkbookError> {
    let mut archive = ZipArchive::new(Cursor::new(template))?;
    plan.iter()
        .enumerate()
        .map(|(index, planned)| {
            let mut xml = String::new();
            archive
                .by_name(&sheet_entry(index))?
                .read_to_string(&mut xml)?;
            // Every header cell is written, an empty name as a blank bold cell.
            let mut header = Extent::EMPTY;
            for col in 0..planned.table.columns().len() {
                header.include(0, col_num(col)?);
            }
            SheetFrame::cut(&xml, header)
        })
        .collect()
}

/// The style number rust_xlsxwriter gave the date format in the dated template (0 when there is
/// no worksheet to hold a date).
fn date_style_of(dated: &[u8], plan: &[PlannedSheet<'_>]) -> Result<u32, WorkbookError> {
    if plan.is_empty() {
        return Ok(0);
    }
    let mut xml = String::new();
    ZipArchive::new(Cursor::new(dated))?
        .by_name(&sheet_entry(0))?
        .read_to_string(&mut xml)?;
    let marker = "<c r=\"A2\" s=\"";
    xml.find(marker)
        .map(|at| &xml[at + marker.len()..])
        .and_then(|rest| rest.split('"').next())
        .and_then(|style| style.parse().ok())
        .ok_or_else(|| WorkbookError::Failed("the workbook has no date style".into()))
}

/// Every planned worksheet, with what writing them needs.
struct SheetsToWrite<'p> {
    plan: &'p [PlannedSheet<'p>],
    frames: &'p [SheetFrame],
    date_style: u32,
    folder: &'p Path,
}

impl SheetsToWrite<'_> {
    /// Writes every worksheet, the largest first, each taken by the next free thread; the thread
    /// that writes the last one calls `finish` with them all, in order; threads that find none
    /// left run the jobs `beside`.
    fn write<R: Send>(
        &self,
        beside: &BesideJobs<'_>,
        finish: &(dyn Fn(Vec<WrittenSheet>) -> Result<R, WorkbookError> + Sync),
    ) -> Result<R, WorkbookError> {
        let mut work: Vec<(usize, &PlannedSheet<'_>, &SheetFrame)> = self
            .plan
            .iter()
            .zip(self.frames)
            .enumerate()
            .map(|(index, (planned, frame))| (index, planned, frame))
            .collect();
        work.sort_by_key(|(index, planned, _)| (std::cmp::Reverse(planned.rows.len()), *index));
        let threads = std::thread::available_parallelism()
            .map_or(1, |n| n.get())
            .clamp(1, work.len().max(1));
        let remaining = AtomicUsize::new(work.len());
        let queue = Mutex::new(work.into_iter());
        let written: Mutex<Vec<(usize, Result<WrittenSheet, WorkbookError>)>> =
            Mutex::new(Vec::new());
        let finished: Mutex<Option<Result<R, WorkbookError>>> = Mutex::new(None);
        let complete = || {
            let mut results =
                std::mem::take(&mut *written.lock().unwrap_or_else(|e| e.into_inner()));
            // In worksheet order, so that the first worksheet's failure is the one reported.
            results.sort_by_key(|(index, _)| *index);
            let sheets: Result<Vec<WrittenSheet>, WorkbookError> =
                results.into_iter().map(|(_, sheet)| sheet).collect();
            let outcome = sheets.and_then(finish);
            *finished.lock().unwrap_or_else(|e| e.into_inner()) = Some(outcome);
        };
        let stopped = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| loop {
                        let next = queue.lock().unwrap_or_else(|e| e.into_inner()).next();
                        let Some((index, planned, frame)) = next else {
                            run_beside(beside);
                            break;
                        };
                        let sheet = SheetToWrite {
                            entry: sheet_entry(index),
                            planned,
                            frame,
                            date_style: self.date_style,
                        };
                        let result = sheet.write(self.folder);
                        written
                            .lock()
                            .unwrap_or_else(|e| e.into_inner())
                            .push((index, result));
                        if remaining.fetch_sub(1, Ordering::AcqRel) == 1 {
                            complete();
                        }
                    })
                })
                .collect();
            workers
                .into_iter()
                .map(|worker| worker.join())
                .filter(Result::is_err)
                .count()
        });
        if self.plan.is_empty() {
            complete();
        }
        match finished.into_inner().unwrap_or_else(|e| e.into_inner()) {
            Some(outcome) => outcome,
            None => Err(WorkbookError::Failed(format!(
                "{stopped} worksheet writer(s) stopped unexpectedly"
            ))),
        }
    }
}

/// One worksheet to write, with what it needs.
struct SheetToWrite<'p> {
    entry: String,
    planned: &'p PlannedSheet<'p>,
    frame: &'p SheetFrame,
    date_style: u32,
}

impl SheetToWrite<'_> {
    /// Writes and compresses the worksheet into memory, or a temporary file in `folder` past
    /// [`SHEET_IN_MEMORY`]. Its dimension is
    /// declared before its rows are written; in the rare case the rows end otherwise (a last row
    /// with no cell) it is written again with the dimension found.
    fn write(&self, folder: &Path) -> Result<WrittenSheet, WorkbookError> {
        let planned = self.frame.planned(self.planned.rows.len());
        let (mut zip, mut written) = self.compress(folder, planned)?;
        if written.extent != planned {
            (zip, written) = self.compress(folder, written.extent)?;
        }
        Ok(WrittenSheet {
            entry: self.entry.clone(),
            zip,
            dates: written.dates,
        })
    }

    fn compress(
        &self,
        folder: &Path,
        extent: Extent,
    ) -> Result<(SpooledTempFile, sheet_xml::Written), WorkbookError> {
        let file = tempfile::spooled_tempfile_in(SHEET_IN_MEMORY, folder);
        let mut zip = ZipWriter::new(BufWriter::with_capacity(1 << 16, file));
        zip.start_file(self.entry.as_str(), entry_options())?;
        let written = sheet_xml::write_sheet(
            &mut zip,
            self.frame,
            self.planned.table,
            self.planned.rows.clone(),
            self.date_style,
            extent,
        )?;
        let file = zip.finish()?.into_inner().map_err(|e| e.into_error())?;
        Ok((file, written))
    }
}

/// A compressed worksheet is held in memory up to this size, then moved to a temporary file: a
/// million cases compress to about 150 MB, which would otherwise be written to disk, read back
/// and written again into the workbook.
const SHEET_IN_MEMORY: usize = 256 << 20;

/// The zip options rust_xlsxwriter writes its parts with.
fn entry_options() -> SimpleFileOptions {
    SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .compression_level(Some(i64::from(ZIP_COMPRESSION_LEVEL)))
        .unix_permissions(0o600)
        .last_modified_time(zip::DateTime::default())
}

/// The workbook: the template's parts in its order, each worksheet's taken from its own zip, all
/// copied without being compressed again.
fn assemble<W: Write + Seek>(
    template: &[u8],
    sheets: Vec<WrittenSheet>,
    out: W,
) -> Result<W, WorkbookError> {
    let mut parts = ZipArchive::new(Cursor::new(template))?;
    let mut sheets: BTreeMap<String, SpooledTempFile> = sheets
        .into_iter()
        .map(|sheet| (sheet.entry, sheet.zip))
        .collect();
    let mut zip = ZipWriter::new(out);
    for index in 0..parts.len() {
        let part = parts.by_index_raw(index)?;
        let name = part.name()?.into_owned();
        match sheets.remove(&name) {
            Some(sheet) => {
                drop(part);
                let mut sheet = ZipArchive::new(sheet)?;
                zip.raw_copy_file(sheet.by_index_raw(0)?)?;
            }
            None => zip.raw_copy_file(part)?,
        }
    }
    if let Some(entry) = sheets.keys().next() {
        return Err(WorkbookError::Failed(format!(
            "{entry} is not a part of the workbook"
        )));
    }
    Ok(zip.finish()?)
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

    /// The workbook as rust_xlsxwriter writes it when given every cell (how this writer worked
    /// before it wrote the data rows itself): the reference the workbook's parts are compared with.
    fn reference_bytes(tables: &[Table], max_data_rows: usize) -> Vec<u8> {
        let rows: Vec<&dyn Rows> = tables.iter().map(|t| t as &dyn Rows).collect();
        let plan = plan_sheets(&rows, max_data_rows);
        let mut workbook = Workbook::new();
        workbook.set_zip_compression_level(ZIP_COMPRESSION_LEVEL);
        let created = ExcelDateTime::from_ymd(2000, 1, 1).unwrap();
        workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
        let header = rust_xlsxwriter::Format::new().set_bold();
        let date = rust_xlsxwriter::Format::new().set_num_format("dd.mm.yyyy");
        for planned in &plan {
            let sheet = workbook.add_worksheet_with_constant_memory().unwrap();
            if let Some(name) = &planned.name {
                sheet.set_name(name).unwrap();
            }
            write_header(sheet, planned.table, &planned.widths, &header).unwrap();
        }
        for (sheet, planned) in workbook.worksheets_mut().iter_mut().zip(&plan) {
            let mut row = Vec::new();
            for (offset, index) in planned.rows.clone().enumerate() {
                row.clear();
                planned.table.row(index, &mut row);
                let r = u32::try_from(offset + 1).unwrap();
                for (col, cell) in row.iter().enumerate() {
                    let c = col_num(col).unwrap();
                    match cell {
                        CellRef::Empty => {}
                        CellRef::Text(s) => {
                            sheet.write_string(r, c, fit_cell_text(s)).unwrap();
                        }
                        CellRef::Integer(i)
                            if (-MAX_EXACT_INTEGER..=MAX_EXACT_INTEGER).contains(i) =>
                        {
                            sheet.write_number(r, c, *i as f64).unwrap();
                        }
                        CellRef::Integer(i) => {
                            sheet.write_string(r, c, i.to_string()).unwrap();
                        }
                        CellRef::Number(n) if n.is_finite() => {
                            sheet.write_number(r, c, *n).unwrap();
                        }
                        CellRef::Number(n) => {
                            sheet.write_string(r, c, n.to_string()).unwrap();
                        }
                        CellRef::Bool(b) => {
                            sheet.write_boolean(r, c, *b).unwrap();
                        }
                        CellRef::Date { year, month, day } => {
                            match excel_date(*year, *month, *day) {
                                Some(value) => {
                                    sheet
                                        .write_datetime_with_format(r, c, &value, &date)
                                        .unwrap();
                                }
                                None => {
                                    sheet.write_string(r, c, cell.to_text()).unwrap();
                                }
                            }
                        }
                    }
                }
            }
        }
        workbook.save_to_buffer().unwrap()
    }

    /// A workbook's parts, unzipped, in order.
    fn parts(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
        let mut archive = ZipArchive::new(Cursor::new(bytes)).unwrap();
        (0..archive.len())
            .map(|index| {
                let mut part = archive.by_index(index).unwrap();
                let mut content = Vec::new();
                part.read_to_end(&mut content).unwrap();
                (part.name().unwrap().into_owned(), content)
            })
            .collect()
    }

    fn assert_same_parts(tables: &[Table], max_data_rows: usize) {
        let ours = parts(&xlsx_bytes_with_row_limit(tables, max_data_rows).unwrap());
        let reference = parts(&reference_bytes(tables, max_data_rows));
        let names = |parts: &[(String, Vec<u8>)]| -> Vec<String> {
            parts.iter().map(|(name, _)| name.clone()).collect()
        };
        assert_eq!(names(&ours), names(&reference));
        for ((name, ours), (_, reference)) in ours.iter().zip(&reference) {
            assert!(
                ours == reference,
                "{name} differs:\n ours: {}\n rust_xlsxwriter: {}",
                String::from_utf8_lossy(ours),
                String::from_utf8_lossy(reference)
            );
        }
    }

    /// Every part of the workbook is what rust_xlsxwriter writes when given each cell: texts that
    /// need escaping, keep their spaces or are too long, numbers of every kind, dates Excel has
    /// and has not, empty rows inside and at the end, empty header names, tables without rows or
    /// columns, unnamed tables and tables split over several worksheets.
    #[test]
    fn worksheets_are_the_ones_rust_xlsxwriter_writes() {
        let mut cases = Table::new("cases", &["", "name", "born", "score", "flag", "note", ""]);
        let texts = [
            "Arta & <Berisha>",
            " leading space",
            "trailing tab\t",
            "line\nbreak",
            "bell\u{7} and \u{FFFE}",
            "_x0041_ literal",
            "Đorđe Petrović – Ђорђе",
            "",
        ];
        let numbers = [2.5, -0.0, 1e20, 1e-7, f64::NAN, f64::INFINITY, 3.0, -12.75];
        let integers = [
            0,
            -5,
            999_999_999_999_999,
            1_000_000_000_000_000,
            i64::MIN,
            42,
            7,
            1,
        ];
        let dates = [
            (2012, 2, 29),
            (1850, 1, 1),
            (2023, 2, 30),
            (1900, 3, 1),
            (9999, 12, 31),
        ];
        for i in 0..40 {
            let empty = i % 9 == 4;
            let date = dates[i % dates.len()];
            cases.rows.push(if empty {
                vec![Cell::Empty; 7]
            } else {
                vec![
                    Cell::Integer(integers[i % integers.len()]),
                    Cell::Text(texts[i % texts.len()].to_string()),
                    Cell::Date {
                        year: date.0,
                        month: date.1,
                        day: date.2,
                    },
                    Cell::Number(numbers[i % numbers.len()]),
                    Cell::Bool(i % 2 == 0),
                    if i == 7 {
                        Cell::text("ë".repeat(33_000))
                    } else {
                        Cell::Empty
                    },
                    Cell::text(if i % 5 == 0 { "x" } else { "" }),
                ]
            });
        }
        // The last rows have no cell: the dimension ends before them.
        cases.rows.push(vec![Cell::Empty; 7]);
        cases.rows.push(vec![Cell::Empty; 7]);
        let mut unnamed = Table::new("", &["only"]);
        unnamed.rows.push(vec![Cell::text("one")]);
        let tables = [
            cases.clone(),
            Table::new("no rows", &["a", "b"]),
            Table::new("no columns", &[]),
            unnamed,
        ];
        assert_same_parts(&tables, MAX_DATA_ROWS);
        // Split over worksheets of 6 rows: some parts end on empty rows, one is all empty rows.
        assert_same_parts(&tables, 6);
        assert_same_parts(&tables, 4);
        // Without a date, the styles hold no date format.
        let mut plain = Table::new("plain", &["id", "name"]);
        plain.rows.push(vec![Cell::Integer(1), Cell::text("a")]);
        assert_same_parts(&[plain], MAX_DATA_ROWS);
        assert_same_parts(&[], MAX_DATA_ROWS);
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
        let runs: Vec<Mutex<usize>> = (0..5).map(|_| Mutex::new(0)).collect();
        let jobs: Vec<BesideJob<'_>> = runs
            .iter()
            .map(|count| Box::new(move || *count.lock().unwrap() += 1) as BesideJob<'_>)
            .collect();
        write_xlsx_beside(&path, &sheets, jobs).unwrap();
        assert!(runs.iter().all(|count| *count.lock().unwrap() == 1));
        assert_eq!(std::fs::read(&path).unwrap(), xlsx_bytes(&tables).unwrap());
        // Also when the workbook cannot be written (no worksheet to take the job).
        let bad = Table::new("a/b", &["x"]);
        let mut ran = false;
        let written = write_xlsx_beside(&path, &[&bad], vec![Box::new(|| ran = true)]);
        assert!(written.is_err());
        assert!(ran);
        // And with no worksheet at all.
        let mut ran = false;
        write_xlsx_beside(&path, &[], vec![Box::new(|| ran = true)]).unwrap();
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
