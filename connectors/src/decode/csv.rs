//! CSV decoding: configured delimiter, quote and encoding; header at a configured line; every data
//! row becomes a record located at the physical line where it starts, or a problem at that line.

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::text::decode_text;
use super::{CsvFormat, DecodeProblem, Decoded, Location, RawRecord};

/// Decodes CSV bytes; see [`super::decode`]. Blank lines and rows whose fields are all empty
/// (only delimiters) are skipped: they hold no data.
pub(super) fn decode_csv(bytes: &[u8], options: &CsvFormat) -> Decoded {
    let Some(delimiter) = single_byte(options.delimiter) else {
        return Decoded::file_problem(
            format!(
                "the delimiter {:?} is not a single-byte (ASCII) character",
                options.delimiter
            ),
            None,
        );
    };
    let Some(quote) = single_byte(options.quote) else {
        return Decoded::file_problem(
            format!(
                "the quote {:?} is not a single-byte (ASCII) character",
                options.quote
            ),
            None,
        );
    };
    if delimiter == quote {
        return Decoded::file_problem("the delimiter and the quote are the same character", None);
    }
    if options.header_row == 0 {
        return Decoded::file_problem("header_row is 1-based; 0 is not a line", None);
    }

    let text = decode_text(bytes, options.encoding);
    let mut decoded = Decoded {
        encoding: Some(text.encoding),
        ..Decoded::default()
    };
    if let (Some(line), Some(message)) = (text.invalid_line, text.invalid_message()) {
        decoded
            .problems
            .push(DecodeProblem::new(Location::Row(line), message));
    }

    let skipped = options.header_row - 1;
    let Some(start) = start_of_line(&text.text, skipped) else {
        decoded.problems.push(DecodeProblem::new(
            Location::File,
            format!(
                "the file has no line {}, where the header should be",
                options.header_row
            ),
        ));
        return decoded;
    };
    let body = text.text.get(start..).unwrap_or_default();
    let line_offset = u64::try_from(skipped).unwrap_or(u64::MAX);

    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quote(quote)
        .from_reader(body.as_bytes());
    let mut record = ::csv::StringRecord::new();

    // The header.
    let mut lines = LineCounter::new(body);
    let header_line = match reader.read_record(&mut record) {
        Ok(true) => lines.start_line(&record).0.saturating_add(line_offset),
        Ok(false) => {
            let message = if text.text.trim().is_empty() {
                "the file is empty".to_string()
            } else {
                format!("no header row at or after line {}", options.header_row)
            };
            decoded
                .problems
                .push(DecodeProblem::new(Location::File, message));
            return decoded;
        }
        Err(error) => {
            decoded.problems.push(DecodeProblem::new(
                Location::File,
                format!("cannot read the header: {}", error_kind(&error)),
            ));
            return decoded;
        }
    };
    decoded.columns = unique_names(
        record.iter(),
        Location::Row(header_line),
        &mut decoded.problems,
    );
    let width = decoded.columns.len();

    // The data rows.
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let (start_line, start_byte) = lines.start_line(&record);
                let line = start_line.saturating_add(line_offset);
                let end_byte = usize::try_from(reader.position().byte()).unwrap_or(usize::MAX);
                let last = line.saturating_add(lines.feeds_within(start_byte, end_byte));
                if lines.unclosed_quote(start_byte, end_byte, quote, delimiter) {
                    let span = if last > line {
                        format!("lines {line}-{last}")
                    } else {
                        format!("line {line}")
                    };
                    decoded.problems.push(DecodeProblem::new(
                        Location::Row(line),
                        format!(
                            "row {line} has a quote that is never closed; it runs to the end of the file ({span})"
                        ),
                    ));
                    continue;
                }
                if record.iter().all(str::is_empty) {
                    // Only delimiters (`;;;;`, as spreadsheet programs export trailing rows): no data.
                    continue;
                }
                if record.len() != width {
                    let mut message = format!(
                        "row {line} has {}, the header has {width}",
                        fields_text(record.len())
                    );
                    if last > line {
                        message.push_str(&format!(
                            " (the row spans lines {line}-{last}; a quote may be unbalanced)"
                        ));
                    }
                    decoded
                        .problems
                        .push(DecodeProblem::new(Location::Row(line), message));
                    continue;
                }
                let mut fields = Map::new();
                for (name, value) in decoded.columns.iter().zip(record.iter()) {
                    let value = value.strip_suffix('\r').unwrap_or(value);
                    let value = if value.is_empty() {
                        Value::Null
                    } else {
                        Value::String(value.to_string())
                    };
                    fields.insert(name.clone(), value);
                }
                decoded.records.push(RawRecord {
                    location: Location::Row(line),
                    fields,
                });
            }
            Err(error) => {
                let location = error.position().map_or(Location::File, |p| {
                    Location::Row(p.line().saturating_add(line_offset))
                });
                decoded.problems.push(DecodeProblem::new(
                    location,
                    format!("cannot read the rest of the file: {}", error_kind(&error)),
                ));
                break;
            }
        }
    }
    decoded
}

fn fields_text(count: usize) -> String {
    if count == 1 {
        "1 field".to_string()
    } else {
        format!("{count} fields")
    }
}

/// The byte as which `c` can be given to the csv crate.
fn single_byte(c: char) -> Option<u8> {
    if c.is_ascii() {
        u8::try_from(u32::from(c)).ok()
    } else {
        None
    }
}

/// Byte index of the start of the line after `lines` line feeds; `None` when there are fewer.
fn start_of_line(text: &str, lines: usize) -> Option<usize> {
    if lines == 0 {
        return Some(0);
    }
    text.match_indices('\n')
        .nth(lines - 1)
        .map(|(index, _)| index + 1)
}

/// Physical line numbers of records. The csv crate's record positions point at the end of the
/// previous record (before its line terminator and any blank lines), so the real start is found by
/// skipping line breaks from there.
struct LineCounter<'a> {
    text: &'a [u8],
    /// Bytes up to here have been counted.
    counted: usize,
    /// 1 + the line feeds before `counted`.
    line: u64,
}

impl<'a> LineCounter<'a> {
    fn new(text: &'a str) -> Self {
        LineCounter {
            text: text.as_bytes(),
            counted: 0,
            line: 1,
        }
    }

    /// The 1-based line and the byte offset where `record` starts.
    fn start_line(&mut self, record: &::csv::StringRecord) -> (u64, usize) {
        let reported = record
            .position()
            .map_or(0, |p| usize::try_from(p.byte()).unwrap_or(usize::MAX));
        let mut start = reported.min(self.text.len());
        while matches!(self.text.get(start), Some(b'\r' | b'\n')) {
            start += 1;
        }
        if start < self.counted {
            self.counted = 0;
            self.line = 1;
        }
        let feeds = self
            .text
            .get(self.counted..start)
            .map_or(0, |slice| slice.iter().filter(|b| **b == b'\n').count());
        self.line = self.line.saturating_add(feeds as u64);
        self.counted = start;
        (self.line, start)
    }

    /// Whether the record at `start..end` is the last one and ends inside a quoted field: a quote
    /// that was never closed and swallowed the rest of the file. (A quote inside an unquoted field
    /// is data, as for the csv crate.)
    fn unclosed_quote(&self, start: usize, end: usize, quote: u8, delimiter: u8) -> bool {
        let at_end = self
            .text
            .get(end..)
            .unwrap_or_default()
            .iter()
            .all(|b| matches!(b, b'\r' | b'\n'));
        if !at_end {
            return false;
        }
        let raw = self.text.get(start..).unwrap_or_default();
        let mut field_start = true;
        let mut quoted = false;
        let mut bytes = raw.iter().peekable();
        while let Some(&byte) = bytes.next() {
            if quoted {
                if byte == quote {
                    if bytes.peek() == Some(&&quote) {
                        bytes.next();
                    } else {
                        quoted = false;
                    }
                }
            } else if field_start && byte == quote {
                quoted = true;
                field_start = false;
            } else {
                field_start = byte == delimiter || byte == b'\n' || byte == b'\r';
            }
        }
        quoted
    }

    /// Line feeds inside `start..end`, not counting the record's own trailing line break.
    fn feeds_within(&self, start: usize, end: usize) -> u64 {
        let slice = self
            .text
            .get(start..end.min(self.text.len()))
            .unwrap_or_default();
        let mut length = slice.len();
        while length > 0 && matches!(slice.get(length - 1), Some(b'\r' | b'\n')) {
            length -= 1;
        }
        slice
            .get(..length)
            .map_or(0, |s| s.iter().filter(|b| **b == b'\n').count()) as u64
    }
}

/// A description of a csv error that holds no data.
fn error_kind(error: &::csv::Error) -> String {
    match error.kind() {
        ::csv::ErrorKind::Utf8 { err, .. } => format!("invalid UTF-8 in field {}", err.field() + 1),
        ::csv::ErrorKind::Io(io) => io.to_string(),
        ::csv::ErrorKind::UnequalLengths {
            expected_len, len, ..
        } => format!("{len} fields where {expected_len} were expected"),
        _ => "malformed CSV".to_string(),
    }
}

/// Header names made unique: an empty name becomes "column N" (1-based), a repeated one gets
/// " (2)", " (3)", …; each change is reported as a problem at the header's location.
pub(super) fn unique_names<'a>(
    names: impl Iterator<Item = &'a str>,
    location: Location,
    problems: &mut Vec<DecodeProblem>,
) -> Vec<String> {
    let names: Vec<&str> = names.collect();
    let mut taken: HashSet<String> = names
        .iter()
        .filter(|n| !n.trim().is_empty())
        .map(|n| (*n).to_string())
        .collect();
    let mut seen: HashSet<&str> = HashSet::new();
    let mut out = Vec::with_capacity(names.len());
    for (index, name) in names.iter().enumerate() {
        let number = index + 1;
        if name.trim().is_empty() {
            let mut candidate = format!("column {number}");
            let mut n = 2;
            while taken.contains(&candidate) {
                candidate = format!("column {number} ({n})");
                n += 1;
            }
            problems.push(DecodeProblem::in_column(
                location.clone(),
                candidate.clone(),
                format!("column {number} has no header name; it is called {candidate:?}"),
            ));
            taken.insert(candidate.clone());
            out.push(candidate);
        } else if !seen.insert(name) {
            let mut n = 2;
            let mut candidate = format!("{name} ({n})");
            while taken.contains(&candidate) {
                n += 1;
                candidate = format!("{name} ({n})");
            }
            problems.push(DecodeProblem::in_column(
                location.clone(),
                candidate.clone(),
                format!(
                    "the header name {name:?} appears more than once; column {number} is called {candidate:?}"
                ),
            ));
            taken.insert(candidate.clone());
            out.push(candidate);
        } else {
            out.push((*name).to_string());
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::decode::{decode, Format, TextEncoding};
    use serde_json::json;

    fn csv(text: &str, delimiter: char) -> Decoded {
        decode(
            text.as_bytes(),
            &Format::Csv(CsvFormat {
                delimiter,
                ..CsvFormat::default()
            }),
        )
    }

    #[test]
    fn semicolons_quotes_and_newlines_keep_row_numbers() {
        let text = "id;name;note\r\n1;\"Berisha; Arta\";\"two\r\nlines\"\r\n\r\n2;Peć;\r\n3;\"a \"\"quoted\"\" word\";x\r\n";
        let decoded = csv(text, ';');
        assert!(decoded.problems.is_empty(), "{:?}", decoded.problems);
        assert_eq!(decoded.columns, ["id", "name", "note"]);
        let rows: Vec<_> = decoded.records.iter().map(|r| r.location.clone()).collect();
        assert_eq!(rows, [Location::Row(2), Location::Row(5), Location::Row(6)]);
        assert_eq!(decoded.records[0].fields["name"], json!("Berisha; Arta"));
        assert_eq!(decoded.records[0].fields["note"], json!("two\r\nlines"));
        assert_eq!(decoded.records[1].fields["note"], Value::Null);
        assert_eq!(
            decoded.records[2].fields["name"],
            json!("a \"quoted\" word")
        );
        assert_eq!(decoded.encoding, Some("UTF-8"));
    }

    #[test]
    fn wrong_field_count_is_a_problem_and_other_rows_stay() {
        let text = "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n,,\n;\n,\n";
        let decoded = csv(text, ',');
        assert_eq!(decoded.records.len(), 2);
        assert_eq!(decoded.records[0].location, Location::Row(2));
        assert_eq!(decoded.records[1].location, Location::Row(5));
        assert_eq!(decoded.problems.len(), 3);
        assert_eq!(
            decoded.problems[2].message,
            "row 7 has 1 field, the header has 3"
        );
        assert_eq!(decoded.problems[0].location, Location::Row(3));
        assert_eq!(
            decoded.problems[0].message,
            "row 3 has 2 fields, the header has 3"
        );
        assert_eq!(decoded.problems[1].location, Location::Row(4));
        assert_eq!(
            decoded.problems[1].message,
            "row 4 has 4 fields, the header has 3"
        );
    }

    #[test]
    fn unbalanced_quote_names_the_span() {
        let text = "a,b\n0,ok\n1,\"open\n2,x\n3,y\n";
        let decoded = csv(text, ',');
        assert_eq!(decoded.records.len(), 1);
        assert_eq!(decoded.problems.len(), 1);
        assert_eq!(decoded.problems[0].location, Location::Row(3));
        assert_eq!(
            decoded.problems[0].message,
            "row 3 has a quote that is never closed; it runs to the end of the file (lines 3-5)"
        );
        // A quote inside an unquoted field is data, not an error.
        let decoded = csv("a,b\n1,5\" screen\n", ',');
        assert_eq!(decoded.records.len(), 1);
        assert!(decoded.problems.is_empty());
        // A multi-line row with the wrong number of fields names its span.
        let decoded = csv("a,b,c\n1,\"x\ny\"\n2,3,4\n", ',');
        assert_eq!(decoded.records.len(), 1);
        assert_eq!(
            decoded.problems[0].message,
            "row 2 has 2 fields, the header has 3 (the row spans lines 2-3; a quote may be unbalanced)"
        );
    }

    #[test]
    fn header_row_and_duplicate_or_empty_names() {
        let text = "Export of 2024\n\ncol,col,,x\n1,2,3,4\n";
        let decoded = decode(
            text.as_bytes(),
            &Format::Csv(CsvFormat {
                header_row: 3,
                ..CsvFormat::default()
            }),
        );
        assert_eq!(decoded.columns, ["col", "col (2)", "column 3", "x"]);
        assert_eq!(decoded.problems.len(), 2);
        assert!(decoded
            .problems
            .iter()
            .all(|p| p.location == Location::Row(3)));
        assert_eq!(decoded.problems[0].column.as_deref(), Some("col (2)"));
        assert_eq!(decoded.problems[1].column.as_deref(), Some("column 3"));
        assert_eq!(decoded.records.len(), 1);
        assert_eq!(decoded.records[0].location, Location::Row(4));
        assert_eq!(decoded.records[0].fields["column 3"], json!("3"));
    }

    #[test]
    fn empty_file_and_missing_header_line() {
        let decoded = csv("", ',');
        assert_eq!(decoded.problems.len(), 1);
        assert_eq!(decoded.problems[0].location, Location::File);
        let decoded = decode(
            b"a\n",
            &Format::Csv(CsvFormat {
                header_row: 5,
                ..CsvFormat::default()
            }),
        );
        assert_eq!(decoded.problems[0].location, Location::File);
        let decoded = csv("a,b\n", 'é');
        assert_eq!(decoded.problems[0].location, Location::File);
    }

    #[test]
    fn explicit_utf8_with_invalid_bytes_is_reported_by_line() {
        let bytes = b"a,b\n1,2\n3,\xE8\n";
        let decoded = decode(
            bytes,
            &Format::Csv(CsvFormat {
                encoding: TextEncoding::Utf8,
                ..CsvFormat::default()
            }),
        );
        assert_eq!(decoded.records.len(), 2);
        assert_eq!(decoded.problems.len(), 1);
        assert_eq!(decoded.problems[0].location, Location::Row(3));
        assert_eq!(
            decoded.problems[0].message,
            "invalid byte sequence for UTF-8 at line 3"
        );
    }
}
