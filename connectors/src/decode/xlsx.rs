//! Spreadsheet decoding with calamine (XLSX, also XLS / XLSB / ODS): one sheet, a header row, one
//! record per non-empty row located at the row number the spreadsheet shows, typed cell values.

use std::io::{Cursor, Read, Seek};

use calamine::{open_workbook_auto_from_rs, Data, DataRef, Reader, Sheets, Xlsx};
use serde_json::{Map, Number, Value};

use super::csv::unique_names;
use super::{DecodeProblem, Decoded, Location, RawRecord, XlsxFormat};

/// The problem of a sheet with a header and nothing under it.
const NO_ROWS: &str = "the file has a header but no rows";

/// Decodes workbook bytes; see [`super::decode`]. An XLSX sheet is read cell by cell when it can be
/// (see [`stream_sheet`]), any other whole.
pub(super) fn decode_xlsx(bytes: &[u8], options: &XlsxFormat) -> Decoded {
    let (mut workbook, sheet) = match open_sheet(bytes, options) {
        Ok(opened) => opened,
        Err(lost) => return lost,
    };
    if let Sheets::Xlsx(xlsx) = &mut workbook {
        if let Some(decoded) = stream_sheet(xlsx, &sheet, options.header_row) {
            return decoded;
        }
    }
    read_whole_sheet(&mut workbook, &sheet, options)
}

/// A workbook read from bytes in memory.
type Workbook<'a> = Sheets<Cursor<&'a [u8]>>;

/// The workbook and the name of the sheet to read, or why the file cannot be read.
fn open_sheet<'a>(
    bytes: &'a [u8],
    options: &XlsxFormat,
) -> Result<(Workbook<'a>, String), Decoded> {
    if options.header_row == 0 {
        // `Format::validate`, called by `decode`, reports this first.
        return Err(Decoded::lost_file(
            "header_row must be 1 or more, not 0",
            None,
        ));
    }
    let Ok(workbook) = open_workbook_auto_from_rs(Cursor::new(bytes)) else {
        return Err(Decoded::lost_file(
            "not a readable workbook (expected an XLSX, XLS, XLSB or ODS file)",
            None,
        ));
    };
    let names = workbook.sheet_names();
    let sheet = match &options.sheet {
        Some(wanted) => match names.iter().find(|n| *n == wanted) {
            Some(name) => name.clone(),
            None => {
                return Err(Decoded::lost_file(
                    format!(
                        "the workbook has no sheet {wanted:?}; its sheets are {}",
                        quoted_list(&names)
                    ),
                    None,
                ))
            }
        },
        None => match names.first() {
            Some(name) => name.clone(),
            None => return Err(Decoded::lost_file("the workbook has no sheets", None)),
        },
    };
    Ok((workbook, sheet))
}

/// Reads a sheet whole (calamine's range) into records: any sheet of any workbook format.
fn read_whole_sheet(workbook: &mut Workbook<'_>, sheet: &str, options: &XlsxFormat) -> Decoded {
    let range = match workbook.worksheet_range(sheet) {
        Ok(range) => range,
        Err(error) => {
            return Decoded::lost_file(format!("cannot read sheet {sheet:?}: {error}"), None)
        }
    };
    let (Some((first_row, _)), Some((last_row, _))) = (range.start(), range.end()) else {
        return Decoded {
            problems: vec![DecodeProblem::new(
                Location::File,
                format!("sheet {sheet:?} is empty"),
            )],
            ..Decoded::default()
        };
    };
    let header_index = u32::try_from(options.header_row - 1).unwrap_or(u32::MAX);
    if header_index > last_row {
        return Decoded::lost_file(
            format!(
                "sheet {sheet:?} has no row {} (the header row); its last row is {}",
                options.header_row,
                u64::from(last_row) + 1
            ),
            None,
        );
    }

    let mut decoded = Decoded::default();
    let header_location = Location::Row(u64::from(header_index) + 1);
    let header_texts: Vec<String> = if header_index < first_row {
        Vec::new()
    } else {
        range
            .rows()
            .nth((header_index - first_row) as usize)
            .map(|row| row.iter().map(header_text).collect())
            .unwrap_or_default()
    };
    if header_texts.iter().all(|t| t.trim().is_empty()) {
        return Decoded::lost_file(
            format!(
                "the header row {} of sheet {sheet:?} is empty",
                options.header_row
            ),
            None,
        );
    }
    decoded.columns = unique_names(
        header_texts.iter().map(String::as_str),
        header_location,
        &mut decoded.problems,
    );

    let skip = if header_index < first_row {
        0
    } else {
        (header_index - first_row) as usize + 1
    };
    for (offset, row) in range.rows().enumerate().skip(skip) {
        let number = u64::from(first_row) + offset as u64 + 1;
        let location = Location::Row(number);
        let mut fields = Map::with_capacity(decoded.columns.len());
        let mut non_empty = false;
        for (name, cell) in decoded.columns.iter().zip(row.iter()) {
            if let Data::Error(error) = cell {
                decoded.problems.push(DecodeProblem::in_column(
                    location.clone(),
                    name.clone(),
                    format!("the cell holds the error value {error}"),
                ));
                non_empty = true;
            }
            let value = cell_value(cell);
            if !value.is_null() {
                non_empty = true;
            }
            fields.insert(name.clone(), value);
        }
        if non_empty {
            decoded.records.push(RawRecord { location, fields });
        }
    }
    if decoded.records.is_empty() {
        decoded
            .problems
            .push(DecodeProblem::new(Location::File, NO_ROWS));
    }
    decoded
}

/// Reads an XLSX sheet cell by cell straight into records, instead of building the whole sheet
/// first (calamine's range holds every cell twice over, and a copy of every string). Only for the
/// ordinary sheet: it declares its dimension and its cells fill exactly that rectangle, rows come
/// in order, and the header row is within it and holds text. Otherwise `None`, and the caller
/// reads the sheet whole, which handles everything; the records are the same either way.
fn stream_sheet<RS: Read + Seek>(
    xlsx: &mut Xlsx<RS>,
    sheet: &str,
    header_row: usize,
) -> Option<Decoded> {
    let mut cells = xlsx.worksheet_cells_reader(sheet).ok()?;
    let declared = cells.dimensions();
    let header_index = u32::try_from(header_row.checked_sub(1)?).ok()?;
    if !(declared.start.0..=declared.end.0).contains(&header_index) {
        return None;
    }
    let width = usize::try_from(declared.end.1.checked_sub(declared.start.1)?).ok()? + 1;
    let mut rows = SheetRows {
        header_index,
        decoded: Decoded::default(),
        header_seen: false,
    };
    let mut row: Vec<DataRef<'_>> = vec![DataRef::Empty; width];
    let mut current: Option<u32> = None;
    let mut seen: Option<((u32, u32), (u32, u32))> = None;
    while let Some(cell) = cells.next_cell().ok()? {
        if matches!(cell.get_value(), DataRef::Empty) {
            continue;
        }
        let (r, c) = cell.get_position();
        let column = usize::try_from(c.checked_sub(declared.start.1)?).ok()?;
        if r > declared.end.0 || column >= width {
            return None;
        }
        match current {
            Some(at) if r < at => return None,
            Some(at) if r > at => rows.take_row(at, &mut row)?,
            _ => {}
        }
        current = Some(r);
        let slot = row.get_mut(column)?;
        if !matches!(slot, DataRef::Empty) {
            return None;
        }
        // A shared string is only borrowed; an inline one is copied (calamine lends the cell).
        *slot = cell.get_value().clone();
        seen = Some(match seen {
            None => ((r, c), (r, c)),
            Some((start, end)) => (
                (start.0.min(r), start.1.min(c)),
                (end.0.max(r), end.1.max(c)),
            ),
        });
    }
    if let Some(at) = current {
        rows.take_row(at, &mut row)?;
    }
    if seen != Some((declared.start, declared.end)) || !rows.header_seen {
        return None;
    }
    let mut decoded = rows.decoded;
    if decoded.records.is_empty() {
        decoded
            .problems
            .push(DecodeProblem::new(Location::File, NO_ROWS));
    }
    Some(decoded)
}

/// Rows of a sheet read cell by cell, turned into the header and records.
struct SheetRows {
    /// 0-based row of the header.
    header_index: u32,
    decoded: Decoded,
    header_seen: bool,
}

impl SheetRows {
    /// Takes the cells of 0-based row `index` (and leaves `row` empty for the next one); `None`
    /// if the sheet is not one [`stream_sheet`] reads.
    fn take_row(&mut self, index: u32, row: &mut [DataRef<'_>]) -> Option<()> {
        if index < self.header_index {
            row.fill(DataRef::Empty);
            return Some(());
        }
        if index == self.header_index {
            let texts: Vec<String> = row
                .iter_mut()
                .map(|cell| header_text(&Data::from(std::mem::take(cell))))
                .collect();
            if texts.iter().all(|t| t.trim().is_empty()) {
                return None;
            }
            let location = Location::Row(u64::from(index) + 1);
            self.decoded.columns = unique_names(
                texts.iter().map(String::as_str),
                location,
                &mut self.decoded.problems,
            );
            self.header_seen = true;
            return Some(());
        }
        if !self.header_seen {
            return None;
        }
        let location = Location::Row(u64::from(index) + 1);
        let mut fields = Map::with_capacity(self.decoded.columns.len());
        let mut non_empty = false;
        for (name, cell) in self.decoded.columns.iter().zip(row.iter_mut()) {
            if let DataRef::Error(error) = cell {
                self.decoded.problems.push(DecodeProblem::in_column(
                    location.clone(),
                    name.clone(),
                    format!("the cell holds the error value {error}"),
                ));
                non_empty = true;
            }
            let value = cell_ref_value(std::mem::take(cell));
            if !value.is_null() {
                non_empty = true;
            }
            fields.insert(name.clone(), value);
        }
        if non_empty {
            self.decoded.records.push(RawRecord { location, fields });
        }
        Some(())
    }
}

/// [`cell_value`] of a cell as the cell reader gives it, copying a shared string once.
fn cell_ref_value(cell: DataRef<'_>) -> Value {
    match cell {
        DataRef::SharedString("") => Value::Null,
        DataRef::SharedString(s) => Value::String(s.to_string()),
        DataRef::String(s) if s.is_empty() => Value::Null,
        DataRef::String(s) => Value::String(s),
        other => cell_value(&Data::from(other)),
    }
}

/// A cell as JSON: strings (empty → null), numbers (whole floats → integers), booleans, dates as
/// `YYYY-MM-DD` or `YYYY-MM-DDTHH:MM:SS`, errors and empty cells → null.
fn cell_value(cell: &Data) -> Value {
    match cell {
        Data::Empty | Data::Error(_) => Value::Null,
        Data::String(s) if s.is_empty() => Value::Null,
        Data::String(s) => Value::String(s.clone()),
        Data::Int(i) => Value::from(*i),
        Data::Float(f) => float_value(*f),
        Data::Bool(b) => Value::Bool(*b),
        Data::DateTime(datetime) => {
            if datetime.is_duration() {
                Value::String(duration_text(datetime.as_f64()))
            } else {
                Value::String(datetime_text(datetime))
            }
        }
        Data::DateTimeIso(s) => Value::String(
            s.strip_suffix("T00:00:00")
                .map_or_else(|| s.clone(), str::to_string),
        ),
        Data::DurationIso(s) => Value::String(s.clone()),
    }
}

fn float_value(f: f64) -> Value {
    if f.fract() == 0.0 && f.abs() < 9.0e15 {
        // Exactly representable, so the conversion is lossless.
        Value::from(f as i64)
    } else {
        Number::from_f64(f).map_or(Value::Null, Value::Number)
    }
}

fn datetime_text(datetime: &calamine::ExcelDateTime) -> String {
    let (year, month, day, hour, minute, second, milli) = datetime.to_ymd_hms_milli();
    let time = if milli == 0 {
        format!("{hour:02}:{minute:02}:{second:02}")
    } else {
        format!("{hour:02}:{minute:02}:{second:02}.{milli:03}")
    };
    let value = datetime.as_f64();
    if (0.0..1.0).contains(&value) && value > 0.0 {
        // A time of day without a date.
        time
    } else if hour == 0 && minute == 0 && second == 0 && milli == 0 {
        format!("{year:04}-{month:02}-{day:02}")
    } else {
        format!("{year:04}-{month:02}-{day:02}T{time}")
    }
}

/// A duration in days as `[h]:mm:ss`, the way Excel shows it.
fn duration_text(days: f64) -> String {
    let total = (days * 86_400.0).round();
    let sign = if total < 0.0 { "-" } else { "" };
    let total = total.abs() as u64;
    format!(
        "{sign}{}:{:02}:{:02}",
        total / 3600,
        (total / 60) % 60,
        total % 60
    )
}

fn header_text(cell: &Data) -> String {
    match cell_value(cell) {
        Value::String(s) => s,
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

fn quoted_list(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("{n:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use calamine::{ExcelDateTime, ExcelDateTimeType};

    /// A workbook of one sheet with `cells` ((row, column) → value, 0-based) written by
    /// rust_xlsxwriter.
    fn workbook(cells: &[((u32, u16), &str)], blank_formatted: Option<(u32, u16)>) -> Vec<u8> {
        let mut workbook = rust_xlsxwriter::Workbook::new();
        let sheet = workbook.add_worksheet();
        let date = rust_xlsxwriter::Format::new().set_num_format("dd.mm.yyyy");
        for &((row, col), value) in cells {
            if let Ok(number) = value.parse::<f64>() {
                sheet.write_number(row, col, number).unwrap();
            } else if let Some(day) = value.strip_prefix("date:") {
                let day = rust_xlsxwriter::ExcelDateTime::parse_from_str(day).unwrap();
                sheet
                    .write_datetime_with_format(row, col, &day, &date)
                    .unwrap();
            } else if value == "TRUE" {
                sheet.write_boolean(row, col, true).unwrap();
            } else {
                sheet.write_string(row, col, value).unwrap();
            }
        }
        if let Some((row, col)) = blank_formatted {
            let bold = rust_xlsxwriter::Format::new().set_bold();
            sheet.write_blank(row, col, &bold).unwrap();
        }
        workbook.save_to_buffer().unwrap()
    }

    #[test]
    fn streamed_sheets_decode_as_whole_ones() {
        let ordinary: Vec<((u32, u16), &str)> = vec![
            ((0, 0), "id"),
            ((0, 1), "name"),
            ((0, 2), "born"),
            ((0, 3), "score"),
            ((0, 4), "flag"),
            ((1, 0), "1"),
            ((1, 1), "Arta"),
            ((1, 2), "date:2012-02-29"),
            ((1, 3), "2.5"),
            ((1, 4), "TRUE"),
            ((2, 0), "2"),
            ((2, 1), ""),
            ((4, 1), "Đorđe"),
            ((4, 3), "3"),
        ];
        // Title rows above the header, the table starting in column C, a header cell missing.
        let offset: Vec<((u32, u16), &str)> = vec![
            ((0, 2), "Raport mujor"),
            ((2, 2), "id"),
            ((2, 4), "emri"),
            ((3, 2), "7"),
            ((3, 3), "pa titull"),
            ((3, 4), "Besa"),
            ((5, 5), "jashtë"),
        ];
        let header_only: Vec<((u32, u16), &str)> = vec![((0, 0), "id"), ((0, 1), "name")];
        let lower: Vec<((u32, u16), &str)> = vec![((2, 0), "id"), ((3, 0), "1")];
        let cases = [
            ("ordinary", workbook(&ordinary, None), 1, true),
            ("offset", workbook(&offset, None), 3, true),
            ("header only", workbook(&header_only, None), 1, true),
            // A formatted blank cell widens the declared dimension: read whole.
            (
                "formatted blank",
                workbook(&ordinary, Some((8, 9))),
                1,
                false,
            ),
            ("title row as the header", workbook(&offset, None), 1, true),
            // A header row above the first cell, or below the last: read whole.
            ("header above", workbook(&lower, None), 1, false),
            ("header below", workbook(&ordinary, None), 9, false),
        ];
        for (name, bytes, header_row, streams) in cases {
            let options = XlsxFormat {
                header_row,
                ..XlsxFormat::default()
            };
            let streamed = decode_xlsx(&bytes, &options);
            let whole = match open_sheet(&bytes, &options) {
                Ok((mut workbook, sheet)) => read_whole_sheet(&mut workbook, &sheet, &options),
                Err(lost) => lost,
            };
            assert_eq!(streamed, whole, "{name}");
            let mut xlsx: Xlsx<_> = Xlsx::new(Cursor::new(&bytes)).unwrap();
            assert_eq!(
                stream_sheet(&mut xlsx, "Sheet1", header_row).is_some(),
                streams,
                "{name}"
            );
        }
    }

    #[test]
    fn cell_values() {
        assert_eq!(cell_value(&Data::Float(3.0)), Value::from(3));
        assert_eq!(cell_value(&Data::Float(2.5)), Value::from(2.5));
        assert_eq!(cell_value(&Data::String(String::new())), Value::Null);
        let date = ExcelDateTime::new(45_000.0, ExcelDateTimeType::DateTime, false);
        assert_eq!(cell_value(&Data::DateTime(date)), Value::from("2023-03-15"));
        let datetime = ExcelDateTime::new(45_000.5, ExcelDateTimeType::DateTime, false);
        assert_eq!(
            cell_value(&Data::DateTime(datetime)),
            Value::from("2023-03-15T12:00:00")
        );
        let time = ExcelDateTime::new(0.75, ExcelDateTimeType::DateTime, false);
        assert_eq!(cell_value(&Data::DateTime(time)), Value::from("18:00:00"));
        let duration = ExcelDateTime::new(1.5, ExcelDateTimeType::TimeDelta, false);
        assert_eq!(
            cell_value(&Data::DateTime(duration)),
            Value::from("36:00:00")
        );
        assert_eq!(
            cell_value(&Data::DateTimeIso("2024-01-02T00:00:00".into())),
            Value::from("2024-01-02")
        );
    }
}
