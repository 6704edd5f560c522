//! Spreadsheet decoding with calamine (XLSX, also XLS / XLSB / ODS): one sheet, a header row, one
//! record per non-empty row located at the row number the spreadsheet shows, typed cell values.

use std::io::Cursor;

use calamine::{open_workbook_auto_from_rs, Data, Reader};
use serde_json::{Map, Number, Value};

use super::csv::unique_names;
use super::{DecodeProblem, Decoded, Location, RawRecord, XlsxFormat};

/// Decodes workbook bytes; see [`super::decode`].
pub(super) fn decode_xlsx(bytes: &[u8], options: &XlsxFormat) -> Decoded {
    if options.header_row == 0 {
        // `Format::validate`, called by `decode`, reports this first.
        return Decoded::lost_file("header_row must be 1 or more, not 0", None);
    }
    let mut workbook = match open_workbook_auto_from_rs(Cursor::new(bytes)) {
        Ok(workbook) => workbook,
        Err(_) => {
            return Decoded::lost_file(
                "not a readable workbook (expected an XLSX, XLS, XLSB or ODS file)",
                None,
            )
        }
    };
    let names = workbook.sheet_names();
    let sheet = match &options.sheet {
        Some(wanted) => match names.iter().find(|n| *n == wanted) {
            Some(name) => name.clone(),
            None => {
                return Decoded::lost_file(
                    format!(
                        "the workbook has no sheet {wanted:?}; its sheets are {}",
                        quoted_list(&names)
                    ),
                    None,
                )
            }
        },
        None => match names.first() {
            Some(name) => name.clone(),
            None => return Decoded::lost_file("the workbook has no sheets", None),
        },
    };
    let range = match workbook.worksheet_range(&sheet) {
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
        decoded.problems.push(DecodeProblem::new(
            Location::File,
            "the file has a header but no rows",
        ));
    }
    decoded
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
