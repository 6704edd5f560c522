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

/// What the configuration says about a source file's format. Check it with [`Format::validate`];
/// [`decode`] reports an invalid format as a lost problem for the whole file.
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

/// Options of a CSV source. Unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CsvFormat {
    /// Field delimiter; must be a single-byte (ASCII) character, not a line break. Default `,`.
    pub delimiter: char,
    /// Quote character; must be ASCII, not a line break and not the delimiter. Default `"`.
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
    /// Byte order mark if present; else UTF-8 if the bytes are valid UTF-8, or mostly UTF-8 with a
    /// few invalid bytes (replaced and reported by line); else Windows-1250 (reported for the file).
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

/// Options of a spreadsheet source. Unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(default, deny_unknown_fields)]
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

/// Options of a JSON source. Unknown keys are an error.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JsonFormat {
    /// Dotted path to the array of records, e.g. `data.inspections` (a numeric segment indexes an
    /// array). `None`: the top level is the array. When set, neither the path nor any of its
    /// segments may be empty.
    pub records_path: Option<String>,
}

impl Format {
    /// Checks the options: a CSV delimiter and quote are each one ASCII character, not a line break,
    /// and differ; `header_row` is at least 1 (CSV, XLSX); a `records_path`, if set, is not empty
    /// and has no empty segment. The message names the setting, e.g. "delimiter must be one ASCII
    /// character, not 'é'".
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Format::Csv(options) => {
                for (setting, c) in [("delimiter", options.delimiter), ("quote", options.quote)] {
                    if !c.is_ascii() {
                        return Err(format!("{setting} must be one ASCII character, not {c:?}"));
                    }
                    if matches!(c, '\n' | '\r') {
                        return Err(format!("{setting} must not be a line break ({c:?})"));
                    }
                }
                if options.delimiter == options.quote {
                    return Err(format!(
                        "delimiter and quote must be different characters, both are {:?}",
                        options.delimiter
                    ));
                }
                check_header_row(options.header_row)
            }
            Format::Xlsx(options) => check_header_row(options.header_row),
            Format::Json(options) => match &options.records_path {
                None => Ok(()),
                Some(path) if path.trim().is_empty() => Err(
                    "records_path must not be empty (leave it out when the top level is the array)"
                        .to_string(),
                ),
                Some(path) if path.trim().split('.').any(|s| s.trim().is_empty()) => Err(format!(
                    "records_path {path:?} has an empty segment; segments are separated by single dots"
                )),
                Some(_) => Ok(()),
            },
            Format::JsonLines => Ok(()),
        }
    }
}

fn check_header_row(header_row: usize) -> Result<(), String> {
    if header_row == 0 {
        Err("header_row must be 1 or more (the header's 1-based row), not 0".to_string())
    } else {
        Ok(())
    }
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
    /// A record kept by its key (an HTTP source's record, stored between pulls).
    Key(String),
    /// The whole file.
    File,
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Location::Row(row) => write!(f, "row {row}"),
            Location::Pointer(pointer) => f.write_str(pointer),
            Location::Line(line) => write!(f, "line {line}"),
            Location::Key(key) => write!(f, "record {key}"),
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
            Location::Key(_) => 4,
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
            (Location::Key(a), Location::Key(b)) => a.cmp(b),
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

/// Something in a file that could not be decoded (or not cleanly). The message never contains cell
/// values or header texts (they may be children's names), only positions and counts.
///
/// A `lost` problem stands for a record (or a unit of the file: a row, a line, an element, the
/// whole file) that could not be read and for which no [`RawRecord`] was produced: the caller
/// accounts for it as one unreadable record. Any other problem concerns the record at the same
/// location (or, at [`Location::File`] or a location without a record, the file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DecodeProblem {
    /// Where.
    pub location: Location,
    /// The column concerned, when there is one.
    pub column: Option<String>,
    /// What is wrong.
    pub message: String,
    /// True exactly when no record was produced for what this problem stands for.
    pub lost: bool,
}

impl DecodeProblem {
    /// A problem about a record that was produced, or about the file (not lost).
    fn new(location: Location, message: impl Into<String>) -> Self {
        DecodeProblem {
            location,
            column: None,
            message: message.into(),
            lost: false,
        }
    }

    /// A record or unit of the file that could not be read: no record was produced for it.
    fn lost(location: Location, message: impl Into<String>) -> Self {
        DecodeProblem {
            location,
            column: None,
            message: message.into(),
            lost: true,
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
            lost: false,
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
    /// Everything that could not be decoded (cleanly), sorted by location, file-level first; one
    /// `lost` problem per row, line, element or file for which no record was produced.
    pub problems: Vec<DecodeProblem>,
    /// The text encoding actually used ("UTF-8", "windows-1250", …); `None` for spreadsheets.
    pub encoding: Option<&'static str>,
}

impl Decoded {
    /// A result holding a single lost file-level problem (the file could not be read) and no records.
    fn lost_file(message: impl Into<String>, encoding: Option<&'static str>) -> Self {
        Decoded {
            columns: Vec::new(),
            records: Vec::new(),
            problems: vec![DecodeProblem::lost(Location::File, message)],
            encoding,
        }
    }
}

/// At most this many problems per file report lines with invalid bytes; one more problem counts the rest.
const MAX_INVALID_LINE_PROBLEMS: usize = 100;

/// Problems about the text decoding: Windows-1250 guessed for a file without a byte order mark
/// (file), and one problem per line with invalid bytes (at `locate(line)`), at most
/// [`MAX_INVALID_LINE_PROBLEMS`] plus one counting the rest. None of them is lost.
fn text_problems(
    text: &text::DecodedText,
    lines: &[u64],
    locate: impl Fn(u64) -> Location,
) -> Vec<DecodeProblem> {
    let mut problems = Vec::new();
    if text.guessed {
        problems.push(DecodeProblem::new(
            Location::File,
            format!(
                "no byte-order mark and not valid UTF-8: read as {}; set encoding in the source's format to say which it is",
                text.encoding
            ),
        ));
    }
    for &line in lines.iter().take(MAX_INVALID_LINE_PROBLEMS) {
        problems.push(DecodeProblem::new(locate(line), text.invalid_message(line)));
    }
    if lines.len() > MAX_INVALID_LINE_PROBLEMS {
        problems.push(DecodeProblem::new(
            Location::File,
            format!(
                "… and {} more lines with invalid bytes for {}",
                lines.len() - MAX_INVALID_LINE_PROBLEMS,
                text.encoding
            ),
        ));
    }
    problems
}

/// Whether `bytes` hold nothing but an optional byte order mark and whitespace.
fn is_blank(bytes: &[u8]) -> bool {
    let blank_unit = |unit: u16| matches!(unit, 0x20 | 0x09 | 0x0A | 0x0C | 0x0D);
    match encoding_rs::Encoding::for_bom(bytes) {
        Some((encoding, length)) if encoding != encoding_rs::UTF_8 => {
            let body = bytes.get(length..).unwrap_or_default();
            let little = encoding == encoding_rs::UTF_16LE;
            let units = body.chunks_exact(2);
            units.remainder().is_empty()
                && units.into_iter().all(|pair| match pair {
                    [a, b] if little => blank_unit(u16::from_le_bytes([*a, *b])),
                    [a, b] => blank_unit(u16::from_be_bytes([*a, *b])),
                    _ => false,
                })
        }
        Some((_, length)) => bytes
            .get(length..)
            .unwrap_or_default()
            .iter()
            .all(u8::is_ascii_whitespace),
        None => bytes.iter().all(u8::is_ascii_whitespace),
    }
}

/// Decodes a file's bytes. Never fails: what it cannot read becomes a problem, `lost` when no record
/// was produced for it. A file it cannot read at all (or an invalid `format`, see
/// [`Format::validate`]) yields one lost problem at [`Location::File`] and no records; an empty
/// file (no bytes, or only a byte order mark and whitespace) one problem "the file is empty" that
/// is not lost. Problems are sorted by location (file first), in file order within a location.
pub fn decode(bytes: &[u8], format: &Format) -> Decoded {
    if let Err(message) = format.validate() {
        return Decoded::lost_file(format!("the format cannot be used: {message}"), None);
    }
    if is_blank(bytes) {
        return Decoded {
            problems: vec![DecodeProblem::new(Location::File, "the file is empty")],
            ..Decoded::default()
        };
    }
    let mut decoded = match format {
        Format::Csv(options) => csv::decode_csv(bytes, options),
        Format::Xlsx(options) => xlsx::decode_xlsx(bytes, options),
        Format::Json(options) => json::decode_json(bytes, options),
        Format::JsonLines => json::decode_json_lines(bytes),
    };
    decoded.problems.sort_by(|a, b| a.location.cmp(&b.location));
    decoded
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

    #[test]
    fn validate_names_the_setting() {
        let csv = |delimiter: char, quote: char, header_row: usize| {
            Format::Csv(CsvFormat {
                delimiter,
                quote,
                encoding: TextEncoding::Auto,
                header_row,
            })
            .validate()
        };
        assert_eq!(csv(';', '"', 1), Ok(()));
        assert_eq!(csv('\t', '\'', 3), Ok(()));
        assert_eq!(
            csv('é', '"', 1),
            Err("delimiter must be one ASCII character, not 'é'".to_string())
        );
        assert_eq!(
            csv(',', '«', 1),
            Err("quote must be one ASCII character, not '«'".to_string())
        );
        assert_eq!(
            csv('\n', '"', 1),
            Err("delimiter must not be a line break ('\\n')".to_string())
        );
        assert_eq!(
            csv(',', '\r', 1),
            Err("quote must not be a line break ('\\r')".to_string())
        );
        assert_eq!(
            csv(';', ';', 1),
            Err("delimiter and quote must be different characters, both are ';'".to_string())
        );
        assert!(csv(',', '"', 0)
            .unwrap_err()
            .starts_with("header_row must be"));
        let xlsx = Format::Xlsx(XlsxFormat {
            sheet: None,
            header_row: 0,
        });
        assert!(xlsx
            .validate()
            .unwrap_err()
            .starts_with("header_row must be"));
        assert_eq!(Format::Xlsx(XlsxFormat::default()).validate(), Ok(()));
        let json = |path: Option<&str>| {
            Format::Json(JsonFormat {
                records_path: path.map(str::to_string),
            })
            .validate()
        };
        assert_eq!(json(None), Ok(()));
        assert_eq!(json(Some("data.inspections")), Ok(()));
        assert_eq!(json(Some("data.0.items")), Ok(()));
        for bad in ["", "  ", ".data", "data.", "data..items"] {
            let message = json(Some(bad)).unwrap_err();
            assert!(message.starts_with("records_path"), "{message}");
        }
        assert_eq!(Format::JsonLines.validate(), Ok(()));
        // decode reports an invalid format as one lost problem for the file.
        let decoded = decode(
            b"a;b\n1;2\n",
            &Format::Csv(CsvFormat {
                delimiter: ';',
                quote: ';',
                ..CsvFormat::default()
            }),
        );
        assert!(decoded.records.is_empty());
        assert_eq!(decoded.problems.len(), 1);
        assert!(decoded.problems[0].lost);
        assert_eq!(decoded.problems[0].location, Location::File);
        assert!(decoded.problems[0].message.contains("delimiter and quote"));
    }

    #[derive(Debug, Deserialize)]
    struct SourceToml {
        #[allow(dead_code)]
        format: Format,
    }

    /// Unknown keys in a format table are an error naming the key, also through the `format` tag.
    #[test]
    fn unknown_format_keys_are_rejected() {
        let ok: SourceToml = toml::from_str("format = {format=\"csv\", delimiter=\";\"}").unwrap();
        assert_eq!(
            ok.format,
            Format::Csv(CsvFormat {
                delimiter: ';',
                ..CsvFormat::default()
            })
        );
        for text in [
            "format = {format=\"csv\", delimeter=\";\"}",
            "[format]\nformat = \"xlsx\"\nsheet = \"A\"\ndelimeter = \";\"\n",
            "format = {format=\"json\", records_path=\"a\", delimeter=\";\"}",
        ] {
            let error = toml::from_str::<SourceToml>(text).unwrap_err().to_string();
            assert!(error.contains("delimeter"), "{error}");
        }
        let error = serde_json::from_str::<Format>(r#"{"format":"csv","delimeter":";"}"#)
            .unwrap_err()
            .to_string();
        assert!(error.contains("delimeter"), "{error}");
        // Through `#[serde(flatten)]` too.
        assert!(serde_json::from_str::<Source>(r#"{"format":"csv","delimeter":";"}"#).is_err());
    }
}
