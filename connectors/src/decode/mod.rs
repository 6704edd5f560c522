//! Decoding export files into raw records: `Format` (what the configuration says about a file) and
//! `decode(bytes, &Format)`, which never fails: what it cannot read becomes a `DecodeProblem` with a
//! location, so every record is either decoded or accounted for by a problem.

mod csv;
mod json;
pub mod text;
mod xlsx;

use std::cmp::Ordering;
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// What the configuration says about a source file's format.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "format", rename_all = "snake_case")]
pub enum Format {
    /// Delimited text.
    Csv(CsvFormat),
    /// An Excel workbook (also reads `.xls`, `.xlsb` and `.ods`).
    Xlsx(XlsxFormat),
    /// A JSON document holding an array of objects.
    Json(JsonFormat),
    /// One JSON object per line.
    #[serde(alias = "jsonl", alias = "ndjson")]
    JsonLines,
}

/// Options of a CSV source.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct CsvFormat {
    /// Field delimiter; must be a single-byte (ASCII) character. Default `,`.
    pub delimiter: char,
    /// Quote character; must be ASCII. Default `"`.
    pub quote: char,
    /// Text encoding. Default [`TextEncoding::Auto`].
    pub encoding: TextEncoding,
    /// 1-based physical line of the header; lines above it are ignored. Default 1.
    pub header_row: usize,
}

impl Default for CsvFormat {
    fn default() -> Self {
        CsvFormat {
            delimiter: ',',
            quote: '"',
            encoding: TextEncoding::Auto,
            header_row: 1,
        }
    }
}

/// A text encoding. A byte order mark in the data always wins over the configured encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TextEncoding {
    /// Byte order mark if present; else UTF-8 if the bytes are valid UTF-8; else Windows-1250.
    #[default]
    #[serde(alias = "AUTO")]
    Auto,
    /// UTF-8.
    #[serde(alias = "utf-8", alias = "UTF-8", alias = "UTF8")]
    Utf8,
    /// UTF-16, little endian.
    #[serde(alias = "utf-16le", alias = "UTF-16LE", alias = "UTF16LE")]
    Utf16le,
    /// UTF-16, big endian.
    #[serde(alias = "utf-16be", alias = "UTF-16BE", alias = "UTF16BE")]
    Utf16be,
    /// Windows-1250 (Central European; Albanian and Serbian Latin).
    #[serde(
        alias = "windows-1250",
        alias = "cp1250",
        alias = "Windows-1250",
        alias = "CP1250"
    )]
    Windows1250,
    /// Windows-1252 (Western European).
    #[serde(
        alias = "windows-1252",
        alias = "cp1252",
        alias = "Windows-1252",
        alias = "CP1252"
    )]
    Windows1252,
}

impl TextEncoding {
    /// The WHATWG name of the encoding ("UTF-8", "windows-1250", …); "auto" for [`TextEncoding::Auto`].
    pub fn name(self) -> &'static str {
        match self {
            TextEncoding::Auto => "auto",
            TextEncoding::Utf8 => "UTF-8",
            TextEncoding::Utf16le => "UTF-16LE",
            TextEncoding::Utf16be => "UTF-16BE",
            TextEncoding::Windows1250 => "windows-1250",
            TextEncoding::Windows1252 => "windows-1252",
        }
    }
}

/// Options of a spreadsheet source.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default)]
pub struct XlsxFormat {
    /// Sheet name; `None` reads the first sheet.
    pub sheet: Option<String>,
    /// 1-based spreadsheet row of the header. Default 1.
    pub header_row: usize,
}

impl Default for XlsxFormat {
    fn default() -> Self {
        XlsxFormat {
            sheet: None,
            header_row: 1,
        }
    }
}

/// Options of a JSON source.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default)]
pub struct JsonFormat {
    /// Dotted path to the array of records, e.g. `data.inspections` (a numeric segment indexes an
    /// array). `None` (or empty): the top level is the array.
    pub records_path: Option<String>,
}

/// Where in a source file a record or a problem is.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Location {
    /// CSV: the physical line where the record starts (the header is line 1 by default, so the
    /// first data row is 2). XLSX: the row number as the spreadsheet shows it.
    Row(u64),
    /// JSON pointer of the record, e.g. `/data/inspections/17`.
    Pointer(String),
    /// JSON Lines: the 1-based line number.
    Line(u64),
    /// The whole file.
    File,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Row(row) => write!(f, "row {row}"),
            Location::Pointer(pointer) => f.write_str(pointer),
            Location::Line(line) => write!(f, "line {line}"),
            Location::File => f.write_str("file"),
        }
    }
}

impl Location {
    fn rank(&self) -> u8 {
        match self {
            Location::File => 0,
            Location::Row(_) => 1,
            Location::Line(_) => 2,
            Location::Pointer(_) => 3,
        }
    }
}

/// `File` first, then rows / lines by number, then pointers segment by segment, numeric segments
/// compared as numbers (so `/items/2` sorts before `/items/10`).
impl Ord for Location {
    fn cmp(&self, other: &Self) -> Ordering {
        match (self, other) {
            (Location::Row(a), Location::Row(b)) | (Location::Line(a), Location::Line(b)) => {
                a.cmp(b)
            }
            (Location::Pointer(a), Location::Pointer(b)) => compare_pointers(a, b),
            _ => self.rank().cmp(&other.rank()),
        }
    }
}

impl PartialOrd for Location {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

fn compare_pointers(a: &str, b: &str) -> Ordering {
    let mut left = a.split('/');
    let mut right = b.split('/');
    loop {
        match (left.next(), right.next()) {
            (None, None) => return Ordering::Equal,
            (None, Some(_)) => return Ordering::Less,
            (Some(_), None) => return Ordering::Greater,
            (Some(x), Some(y)) => {
                let order = match (x.parse::<u64>(), y.parse::<u64>()) {
                    (Ok(m), Ok(n)) => m.cmp(&n).then_with(|| x.cmp(y)),
                    _ => x.cmp(y),
                };
                if order != Ordering::Equal {
                    return order;
                }
            }
        }
    }
}

/// One decoded record: a JSON object of the source's fields plus where it came from.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RawRecord {
    /// Where the record is in the file.
    pub location: Location,
    /// Field name → value. CSV values are strings or null; spreadsheets and JSON keep their types.
    pub fields: Map<String, Value>,
}

/// Something in a file that could not be decoded as a record. The message never contains cell
/// values (they may be children's names), only positions, counts and names of columns.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecodeProblem {
    /// Where.
    pub location: Location,
    /// The column concerned, when there is one.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
}

impl DecodeProblem {
    fn new(location: Location, message: impl Into<String>) -> Self {
        DecodeProblem {
            location,
            column: None,
            message: message.into(),
        }
    }

    fn in_column(
        location: Location,
        column: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        DecodeProblem {
            location,
            column: Some(column.into()),
            message: message.into(),
        }
    }
}

impl fmt::Display for DecodeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.column {
            Some(column) => write!(f, "{}, column {column:?}: {}", self.location, self.message),
            None => write!(f, "{}: {}", self.location, self.message),
        }
    }
}

/// The result of decoding one file.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Decoded {
    /// The header (CSV, XLSX), or the union of the records' top-level keys in first-seen order (JSON).
    pub columns: Vec<String>,
    /// The records, in file order.
    pub records: Vec<RawRecord>,
    /// Everything that could not be decoded, in file order.
    pub problems: Vec<DecodeProblem>,
    /// The text encoding actually used ("UTF-8", "windows-1250", …); `None` for spreadsheets.
    pub encoding: Option<&'static str>,
}

impl Decoded {
    /// A result holding a single file-level problem and no records.
    fn file_problem(message: impl Into<String>, encoding: Option<&'static str>) -> Self {
        Decoded {
            columns: Vec::new(),
            records: Vec::new(),
            problems: vec![DecodeProblem::new(Location::File, message)],
            encoding,
        }
    }
}

/// Decodes a file's bytes. Never fails: a file it cannot read at all yields one problem with
/// [`Location::File`] and no records.
pub fn decode(bytes: &[u8], format: &Format) -> Decoded {
    match format {
        Format::Csv(options) => csv::decode_csv(bytes, options),
        Format::Xlsx(options) => xlsx::decode_xlsx(bytes, options),
        Format::Json(options) => json::decode_json(bytes, options),
        Format::JsonLines => json::decode_json_lines(bytes),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[derive(Deserialize)]
    struct Source {
        #[serde(flatten)]
        format: Format,
    }

    #[test]
    fn format_deserializes_from_config_shapes() {
        let csv: Format = serde_json::from_str(
            r#"{"format":"csv","delimiter":";","encoding":"windows-1250","header_row":2}"#,
        )
        .unwrap();
        assert_eq!(
            csv,
            Format::Csv(CsvFormat {
                delimiter: ';',
                quote: '"',
                encoding: TextEncoding::Windows1250,
                header_row: 2
            })
        );
        let plain: Format = serde_json::from_str(r#"{"format":"csv"}"#).unwrap();
        assert_eq!(plain, Format::Csv(CsvFormat::default()));
        let json: Format =
            serde_json::from_str(r#"{"format":"json","records_path":"data.inspections"}"#).unwrap();
        assert_eq!(
            json,
            Format::Json(JsonFormat {
                records_path: Some("data.inspections".into())
            })
        );
        let bare: Format = serde_json::from_str(r#"{"format":"json"}"#).unwrap();
        assert_eq!(bare, Format::Json(JsonFormat::default()));
        let bare: Format = serde_json::from_str(r#"{"format":"xlsx"}"#).unwrap();
        assert_eq!(bare, Format::Xlsx(XlsxFormat::default()));
        let lines: Format = serde_json::from_str(r#"{"format":"json_lines"}"#).unwrap();
        assert_eq!(lines, Format::JsonLines);
        let xlsx: Source = serde_json::from_str(r#"{"format":"xlsx","sheet":"Rasti"}"#).unwrap();
        assert_eq!(
            xlsx.format,
            Format::Xlsx(XlsxFormat {
                sheet: Some("Rasti".into()),
                header_row: 1
            })
        );
        for (text, expected) in [
            ("\"utf-8\"", TextEncoding::Utf8),
            ("\"utf8\"", TextEncoding::Utf8),
            ("\"utf-16le\"", TextEncoding::Utf16le),
            ("\"utf-16be\"", TextEncoding::Utf16be),
            ("\"cp1250\"", TextEncoding::Windows1250),
            ("\"windows1252\"", TextEncoding::Windows1252),
            ("\"cp1252\"", TextEncoding::Windows1252),
            ("\"auto\"", TextEncoding::Auto),
        ] {
            assert_eq!(
                serde_json::from_str::<TextEncoding>(text).unwrap(),
                expected,
                "{text}"
            );
        }
    }

    #[test]
    fn location_display_and_order() {
        assert_eq!(Location::Row(17).to_string(), "row 17");
        assert_eq!(Location::Line(3).to_string(), "line 3");
        assert_eq!(
            Location::Pointer("/data/inspections/17".into()).to_string(),
            "/data/inspections/17"
        );
        assert_eq!(Location::File.to_string(), "file");
        let mut locations = vec![
            Location::Pointer("/a/10".into()),
            Location::Row(10),
            Location::Pointer("/a/2".into()),
            Location::File,
            Location::Row(2),
        ];
        locations.sort();
        assert_eq!(
            locations,
            [
                Location::File,
                Location::Row(2),
                Location::Row(10),
                Location::Pointer("/a/2".into()),
                Location::Pointer("/a/10".into()),
            ]
        );
    }
}
