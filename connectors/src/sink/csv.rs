//! CSV writer: configurable delimiter, line ending, byte order mark and text encoding (UTF-8,
//! UTF-16LE/BE, Windows-1250, Windows-1252); a value the encoding cannot hold is an error naming
//! its row and column. Optionally guards text that a spreadsheet program would run as a formula.

use std::io::Write;
use std::path::Path;

use encoding_rs::Encoding;

use super::table::{CellRef, Rows, Table};
use super::{check_row, check_shape, write_file, SinkError};
use crate::decode::text::encoding_for;
use crate::decode::TextEncoding;

/// How to write a CSV file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CsvWriteOptions {
    /// Field delimiter; must be ASCII. Default `,`.
    pub delimiter: u8,
    /// Text encoding. Default UTF-8; [`TextEncoding::Auto`] is treated as UTF-8.
    pub encoding: TextEncoding,
    /// Start a UTF-8 file with a byte order mark (UTF-16 always has one; Windows code pages never).
    pub bom: bool,
    /// End lines with CR LF instead of LF.
    pub crlf: bool,
    /// Write a [`Cell::Text`](super::table::Cell::Text) that starts with `=`, `+`, `-`, `@`, a tab or a carriage return with a
    /// leading apostrophe `'`, so that spreadsheet programs show it instead of running it as a
    /// formula (CSV injection). Numbers, dates and the header are never changed. Default false.
    pub guard_formulas: bool,
}

impl Default for CsvWriteOptions {
    fn default() -> Self {
        CsvWriteOptions {
            delimiter: b',',
            encoding: TextEncoding::Utf8,
            bom: false,
            crlf: false,
            guard_formulas: false,
        }
    }
}

/// Writes `table` to `path` as CSV.
pub fn write_csv(path: &Path, table: &Table, options: &CsvWriteOptions) -> Result<(), SinkError> {
    check_delimiter(options).map_err(|e| named(path, e))?;
    check_shape(table).map_err(|e| named(path, e))?;
    write_csv_rows(path, table, options)
}

/// Writes `rows` to `path` as CSV, one row at a time. UTF-8 (the default) goes straight to the
/// file; another encoding is built in memory first, so that a value it cannot hold fails the
/// file before anything is written.
pub fn write_csv_rows(
    path: &Path,
    rows: &dyn Rows,
    options: &CsvWriteOptions,
) -> Result<(), SinkError> {
    check_delimiter(options).map_err(|e| named(path, e))?;
    if !matches!(options.encoding, TextEncoding::Auto | TextEncoding::Utf8) {
        let bytes = csv_bytes_of(rows, options).map_err(|e| named(path, e))?;
        return write_file(path, &bytes);
    }
    let io = |e: std::io::Error| SinkError::io("write", path, e);
    let file = std::fs::File::create(path).map_err(io)?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
    if options.bom {
        out.write_all(&[0xEF, 0xBB, 0xBF]).map_err(io)?;
    }
    let mut writer = csv_writer(options, out);
    write_records(&mut writer, rows, options).map_err(|e| match e {
        Written::Csv(e) => csv_failure(path, e),
        Written::Sink(e) => named(path, e),
    })?;
    let mut out = writer
        .into_inner()
        .map_err(|e| SinkError::io("write", path, e.into_error()))?;
    out.flush().map_err(io)
}

/// `table` as CSV bytes: header, then one line per row; fields quoted only when needed.
pub fn csv_bytes(table: &Table, options: &CsvWriteOptions) -> Result<Vec<u8>, SinkError> {
    check_delimiter(options)?;
    check_shape(table)?;
    csv_bytes_of(table, options)
}

/// An error about the content, named after the file it was for (I/O errors name it already).
fn named(path: &Path, error: SinkError) -> SinkError {
    match error {
        SinkError::Io { .. } => error,
        other => SinkError::Write {
            path: path.to_path_buf(),
            message: other.to_string(),
        },
    }
}

/// A CSV writer's failure: the file's I/O error, or the formatting error it was.
fn csv_failure(path: &Path, error: ::csv::Error) -> SinkError {
    if error.is_io_error() {
        if let ::csv::ErrorKind::Io(e) = error.into_kind() {
            return SinkError::io("write", path, e);
        }
        return SinkError::Write {
            path: path.to_path_buf(),
            message: "cannot format CSV".to_string(),
        };
    }
    named(path, csv_error(error))
}

fn csv_error(e: ::csv::Error) -> SinkError {
    SinkError::Invalid(format!("cannot format CSV: {e}"))
}

fn check_delimiter(options: &CsvWriteOptions) -> Result<(), SinkError> {
    if !options.delimiter.is_ascii() || matches!(options.delimiter, b'"' | b'\r' | b'\n') {
        return Err(SinkError::Invalid(format!(
            "the CSV delimiter 0x{:02X} must be an ASCII character other than a quote or a line break",
            options.delimiter
        )));
    }
    Ok(())
}

fn csv_writer<W: Write>(options: &CsvWriteOptions, out: W) -> ::csv::Writer<W> {
    let terminator = if options.crlf {
        ::csv::Terminator::CRLF
    } else {
        ::csv::Terminator::Any(b'\n')
    };
    ::csv::WriterBuilder::new()
        .delimiter(options.delimiter)
        .terminator(terminator)
        .from_writer(out)
}

/// Why writing records stopped.
enum Written {
    Csv(::csv::Error),
    Sink(SinkError),
}

/// The header, then every row (each checked to have one cell per column).
fn write_records<W: Write>(
    writer: &mut ::csv::Writer<W>,
    rows: &dyn Rows,
    options: &CsvWriteOptions,
) -> Result<(), Written> {
    writer.write_record(rows.columns()).map_err(Written::Csv)?;
    let width = rows.columns().len();
    let mut row = Vec::with_capacity(width);
    let mut number = String::new();
    for index in 0..rows.len() {
        row.clear();
        rows.row(index, &mut row);
        check_row(rows, index, row.len()).map_err(Written::Sink)?;
        for cell in &row {
            let field: &[u8] = match cell {
                CellRef::Empty => b"",
                CellRef::Text(text) if options.guard_formulas && starts_like_formula(text) => {
                    number.clear();
                    number.push('\'');
                    number.push_str(text);
                    number.as_bytes()
                }
                CellRef::Text(text) => text.as_bytes(),
                other => {
                    number.clear();
                    number.push_str(&other.to_text());
                    number.as_bytes()
                }
            };
            writer.write_field(field).map_err(Written::Csv)?;
        }
        writer
            .write_record(std::iter::empty::<&[u8]>())
            .map_err(Written::Csv)?;
    }
    Ok(())
}

/// `rows` as CSV bytes in the configured encoding.
fn csv_bytes_of(rows: &dyn Rows, options: &CsvWriteOptions) -> Result<Vec<u8>, SinkError> {
    let mut writer = csv_writer(options, Vec::new());
    write_records(&mut writer, rows, options).map_err(|e| match e {
        Written::Csv(e) => csv_error(e),
        Written::Sink(e) => e,
    })?;
    let utf8 = writer
        .into_inner()
        .map_err(|e| SinkError::Invalid(format!("cannot format CSV: {}", e.error())))?;

    match options.encoding {
        TextEncoding::Auto | TextEncoding::Utf8 => {
            if options.bom {
                let mut out = Vec::with_capacity(utf8.len() + 3);
                out.extend_from_slice(&[0xEF, 0xBB, 0xBF]);
                out.extend_from_slice(&utf8);
                Ok(out)
            } else {
                Ok(utf8)
            }
        }
        TextEncoding::Utf16le | TextEncoding::Utf16be => {
            let text = into_string(utf8)?;
            let little = options.encoding == TextEncoding::Utf16le;
            let mut out = Vec::with_capacity(text.len() * 2 + 2);
            out.extend_from_slice(if little { &[0xFF, 0xFE] } else { &[0xFE, 0xFF] });
            for unit in text.encode_utf16() {
                out.extend_from_slice(&if little {
                    unit.to_le_bytes()
                } else {
                    unit.to_be_bytes()
                });
            }
            Ok(out)
        }
        TextEncoding::Windows1250 | TextEncoding::Windows1252 => {
            let text = into_string(utf8)?;
            let Some(encoding) = encoding_for(options.encoding) else {
                return Err(SinkError::Invalid("no encoding".into()));
            };
            let (bytes, _, unmappable) = encoding.encode(&text);
            if unmappable {
                return Err(find_unmappable(rows, encoding));
            }
            Ok(bytes.into_owned())
        }
    }
}

/// Whether a spreadsheet program might take `text` for a formula (OWASP: CSV injection).
fn starts_like_formula(text: &str) -> bool {
    text.starts_with(['=', '+', '-', '@', '\t', '\r'])
}

fn into_string(utf8: Vec<u8>) -> Result<String, SinkError> {
    String::from_utf8(utf8).map_err(|_| SinkError::Invalid("CSV output is not valid UTF-8".into()))
}

/// The error naming the first cell (header = row 1) that `encoding` cannot represent.
fn find_unmappable(rows: &dyn Rows, encoding: &'static Encoding) -> SinkError {
    let unmappable = |text: &str| {
        text.chars()
            .find(|c| encoding.encode(c.encode_utf8(&mut [0; 4])).2)
    };
    let error = |row: usize, column: &str, c: char| SinkError::Encode {
        row,
        column: column.to_string(),
        encoding: encoding.name(),
        reason: format!(
            "the character U+{:04X} is not in {}",
            u32::from(c),
            encoding.name()
        ),
    };
    for name in rows.columns() {
        if let Some(c) = unmappable(name) {
            return error(1, name, c);
        }
    }
    let mut row = Vec::new();
    for index in 0..rows.len() {
        row.clear();
        rows.row(index, &mut row);
        for (name, cell) in rows.columns().iter().zip(&row) {
            if let Some(c) = unmappable(&cell.to_text()) {
                return error(index + 2, name, c);
            }
        }
    }
    SinkError::Invalid(format!("a value cannot be encoded as {}", encoding.name()))
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::decode::{decode, CsvFormat, Format, Location};
    use crate::sink::table::Cell;
    use serde_json::json;

    fn places() -> Table {
        let mut table = Table::new("places", &["id", "municipality", "count", "since"]);
        for (i, name) in ["Gjakovë", "Đakovica", "Peć", "Štrpce", "Čekić; \"x\""]
            .iter()
            .enumerate()
        {
            table.rows.push(vec![
                Cell::Integer(i as i64 + 1),
                Cell::text(*name),
                if i == 2 {
                    Cell::Empty
                } else {
                    Cell::Number(1.5)
                },
                Cell::Date {
                    year: 2024,
                    month: 3,
                    day: i as u32 + 1,
                },
            ]);
        }
        table
    }

    #[test]
    fn windows_1250_round_trip_explicit_and_auto() {
        let table = places();
        let options = CsvWriteOptions {
            delimiter: b';',
            encoding: TextEncoding::Windows1250,
            crlf: true,
            ..CsvWriteOptions::default()
        };
        let bytes = csv_bytes(&table, &options).unwrap();
        assert!(
            std::str::from_utf8(&bytes).is_err(),
            "should be single-byte"
        );
        assert!(bytes.windows(2).any(|w| w == b"\r\n"));
        for encoding in [TextEncoding::Windows1250, TextEncoding::Auto] {
            let decoded = decode(
                &bytes,
                &Format::Csv(CsvFormat {
                    delimiter: ';',
                    encoding,
                    ..CsvFormat::default()
                }),
            );
            assert_eq!(decoded.encoding, Some("windows-1250"));
            if encoding == TextEncoding::Auto {
                // Changed: the guess is now reported for the file (not lost).
                assert_eq!(decoded.problems.len(), 1, "{:?}", decoded.problems);
                assert_eq!(decoded.problems[0].location, Location::File);
                assert!(!decoded.problems[0].lost);
            } else {
                assert!(decoded.problems.is_empty(), "{:?}", decoded.problems);
            }
            let names: Vec<_> = decoded
                .records
                .iter()
                .map(|r| r.fields["municipality"].clone())
                .collect();
            assert_eq!(
                names,
                [
                    json!("Gjakovë"),
                    json!("Đakovica"),
                    json!("Peć"),
                    json!("Štrpce"),
                    json!("Čekić; \"x\"")
                ]
            );
            assert_eq!(decoded.records[2].fields["count"], serde_json::Value::Null);
            assert_eq!(decoded.records[0].fields["since"], json!("2024-03-01"));
            assert_eq!(decoded.records[4].location, Location::Row(6));
        }
    }

    #[test]
    fn windows_1252_unmappable_names_row_and_column() {
        let mut table = Table::new("t", &["id", "place"]);
        table
            .rows
            .push(vec![Cell::Integer(1), Cell::text("Gjakovë")]);
        table
            .rows
            .push(vec![Cell::Integer(2), Cell::text("Mamuşa")]);
        let options = CsvWriteOptions {
            encoding: TextEncoding::Windows1252,
            ..CsvWriteOptions::default()
        };
        let error = csv_bytes(&table, &options).unwrap_err();
        assert!(
            matches!(
                &error,
                SinkError::Encode { row: 3, column, encoding: "windows-1252", .. } if column == "place"
            ),
            "{error:?}"
        );
        let message = error.to_string();
        assert!(message.contains("U+015F"), "{message}");
        assert!(!message.contains("Mamu"), "{message}");
        table.rows.pop();
        let bytes = csv_bytes(&table, &options).unwrap();
        assert_eq!(bytes, b"id,place\n1,Gjakov\xEB\n");
    }

    #[test]
    fn utf8_bom_and_utf16_round_trip() {
        let table = places();
        let bom = csv_bytes(
            &table,
            &CsvWriteOptions {
                bom: true,
                ..CsvWriteOptions::default()
            },
        )
        .unwrap();
        assert!(bom.starts_with(&[0xEF, 0xBB, 0xBF]));
        let decoded = decode(&bom, &Format::Csv(CsvFormat::default()));
        assert_eq!(decoded.columns[0], "id");
        assert_eq!(decoded.encoding, Some("UTF-8"));
        assert_eq!(decoded.records.len(), 5);

        for (encoding, name) in [
            (TextEncoding::Utf16le, "UTF-16LE"),
            (TextEncoding::Utf16be, "UTF-16BE"),
        ] {
            let bytes = csv_bytes(
                &table,
                &CsvWriteOptions {
                    encoding,
                    ..CsvWriteOptions::default()
                },
            )
            .unwrap();
            // The BOM wins over the configured encoding.
            let decoded = decode(
                &bytes,
                &Format::Csv(CsvFormat {
                    encoding: TextEncoding::Windows1252,
                    ..CsvFormat::default()
                }),
            );
            assert_eq!(decoded.encoding, Some(name));
            assert_eq!(decoded.columns, ["id", "municipality", "count", "since"]);
            assert_eq!(decoded.records[3].fields["municipality"], json!("Štrpce"));
            assert!(decoded.problems.is_empty());
        }
    }

    #[test]
    fn ragged_table_and_bad_delimiter_are_errors() {
        let mut table = Table::new("t", &["a", "b"]);
        table.rows.push(vec![Cell::Empty]);
        assert!(csv_bytes(&table, &CsvWriteOptions::default()).is_err());
        let table = Table::new("t", &["a"]);
        let options = CsvWriteOptions {
            delimiter: 0xA7,
            ..CsvWriteOptions::default()
        };
        assert!(csv_bytes(&table, &options).is_err());
    }

    /// `guard_formulas` prefixes text that looks like a formula with an apostrophe; numbers stay.
    #[test]
    fn formula_guard_prefixes_risky_text_only() {
        let mut table = Table::new("t", &["=header", "value"]);
        for cell in [
            Cell::text("=HYPERLINK(\"http://x\")"),
            Cell::text("+1"),
            Cell::text("-2"),
            Cell::text("@SUM(A1)"),
            Cell::text("\tx"),
            Cell::text("\ry"),
            Cell::text("a=b"),
            Cell::Integer(-5),
            Cell::Number(-1.5),
            Cell::Empty,
        ] {
            table.rows.push(vec![Cell::text("r"), cell]);
        }
        let guarded = csv_bytes(
            &table,
            &CsvWriteOptions {
                guard_formulas: true,
                ..CsvWriteOptions::default()
            },
        )
        .unwrap();
        assert_eq!(
            String::from_utf8(guarded).unwrap(),
            "=header,value\nr,\"'=HYPERLINK(\"\"http://x\"\")\"\nr,'+1\nr,'-2\nr,'@SUM(A1)\nr,'\tx\nr,\"'\ry\"\nr,a=b\nr,-5\nr,-1.5\nr,\n"
        );
        // Off by default: written as is.
        assert!(!CsvWriteOptions::default().guard_formulas);
        let plain = csv_bytes(&table, &CsvWriteOptions::default()).unwrap();
        let plain = String::from_utf8(plain).unwrap();
        assert!(plain.contains("\nr,+1\nr,-2\nr,@SUM(A1)\n"), "{plain}");
    }
}
