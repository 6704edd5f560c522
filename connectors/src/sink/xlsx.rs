//! XLSX writer: one sheet per table in constant-memory mode (rows streamed to a temporary file), bold
//! frozen header, cheap column widths, real date cells formatted dd.mm.yyyy, and byte-identical
//! output for identical input (fixed document creation time).

use std::path::Path;

use rust_xlsxwriter::{DocProperties, ExcelDateTime, Format, Workbook, Worksheet, XlsxError};

use super::table::{Cell, Table};
use super::{check_shape, SinkError};

/// Rows looked at to size columns; bigger sheets are sized from their first rows only.
const WIDTH_SAMPLE_ROWS: usize = 1000;
/// Excel's row limit, header included.
const MAX_ROWS: usize = 1_048_576;
/// Integers beyond this many digits lose precision in Excel; they are written as text.
const MAX_EXACT_INTEGER: i64 = 999_999_999_999_999;

/// Writes `sheets` to `path` as an XLSX workbook, one worksheet per table, named after the table.
pub fn write_xlsx(path: &Path, sheets: &[Table]) -> Result<(), SinkError> {
    let failed = |e: XlsxError| SinkError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    };
    let mut workbook = Workbook::new();
    // Keep the constant-memory temporary files on the output's disk rather than a RAM-backed /tmp.
    // They are anonymous (unlinked) files, so nothing is left behind in the folder.
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        workbook.set_tempdir(parent).map_err(failed)?;
    }
    fill_workbook(&mut workbook, sheets).map_err(|e| match e {
        Filled::Sink(e) => e,
        Filled::Xlsx(e) => failed(e),
    })?;
    workbook.save(path).map_err(failed)
}

/// The workbook [`write_xlsx`] would write, as bytes (temporary files in the system temp folder).
pub fn xlsx_bytes(sheets: &[Table]) -> Result<Vec<u8>, SinkError> {
    let failed = |e: XlsxError| SinkError::Invalid(format!("cannot build the workbook: {e}"));
    let mut workbook = Workbook::new();
    fill_workbook(&mut workbook, sheets).map_err(|e| match e {
        Filled::Sink(e) => e,
        Filled::Xlsx(e) => failed(e),
    })?;
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

fn fill_workbook(workbook: &mut Workbook, sheets: &[Table]) -> Result<(), Filled> {
    let created = ExcelDateTime::from_ymd(2000, 1, 1)?;
    workbook.set_properties(&DocProperties::new().set_creation_datetime(&created));
    let header = Format::new().set_bold();
    let date = Format::new().set_num_format("dd.mm.yyyy");
    for table in sheets {
        check_shape(table).map_err(Filled::Sink)?;
        if table.rows.len() >= MAX_ROWS {
            return Err(Filled::Sink(SinkError::Invalid(format!(
                "table {:?} has {} rows; a worksheet holds at most {}",
                table.name,
                table.rows.len(),
                MAX_ROWS - 1
            ))));
        }
        let sheet = workbook.add_worksheet_with_constant_memory()?;
        if !table.name.is_empty() {
            sheet.set_name(&table.name)?;
        }
        write_sheet(sheet, table, &header, &date)?;
    }
    Ok(())
}

fn write_sheet(
    sheet: &mut Worksheet,
    table: &Table,
    header: &Format,
    date: &Format,
) -> Result<(), XlsxError> {
    for (col, width) in column_widths(table).into_iter().enumerate() {
        sheet.set_column_width(col_num(col)?, width)?;
    }
    sheet.set_freeze_panes(1, 0)?;
    for (col, name) in table.columns.iter().enumerate() {
        sheet.write_string_with_format(0, col_num(col)?, name, header)?;
    }
    for (index, row) in table.rows.iter().enumerate() {
        let r = u32::try_from(index + 1).map_err(|_| XlsxError::RowColumnLimitError)?;
        for (col, cell) in row.iter().enumerate() {
            let c = col_num(col)?;
            match cell {
                Cell::Empty => {}
                Cell::Text(s) => {
                    sheet.write_string(r, c, s)?;
                }
                Cell::Integer(i) if i.abs() <= MAX_EXACT_INTEGER => {
                    sheet.write_number(r, c, *i as f64)?;
                }
                Cell::Integer(i) => {
                    sheet.write_string(r, c, i.to_string())?;
                }
                Cell::Number(n) if n.is_finite() => {
                    sheet.write_number(r, c, *n)?;
                }
                Cell::Number(n) => {
                    sheet.write_string(r, c, n.to_string())?;
                }
                Cell::Bool(b) => {
                    sheet.write_boolean(r, c, *b)?;
                }
                Cell::Date { year, month, day } => match excel_date(*year, *month, *day) {
                    Some(value) => {
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
fn column_widths(table: &Table) -> Vec<f64> {
    let mut widths: Vec<usize> = table
        .columns
        .iter()
        .map(|name| name.chars().count() + 2)
        .collect();
    for row in table.rows.iter().take(WIDTH_SAMPLE_ROWS) {
        for (width, cell) in widths.iter_mut().zip(row) {
            let length = match cell {
                Cell::Empty => 0,
                Cell::Date { .. } => 10,
                Cell::Text(s) => s.lines().map(|l| l.chars().count()).max().unwrap_or(0),
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
        assert!(missing.problems[0]
            .message
            .contains("\"cases\", \"summary\""));
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
    }
}
