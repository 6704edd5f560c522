//! CSV decoding: configured delimiter, quote and encoding; header at a configured line; every data
//! row becomes a record located at the physical line where it starts, or a lost problem at that
//! line. A quote that swallows whole rows (never closed, or closed rows later) makes a lost problem
//! for each row it took in, so that no row vanishes unaccounted for.

use std::collections::{HashMap, HashSet};

use serde_json::{Map, Value};

use super::text::decode_text;
use super::{text_problems, CsvFormat, DecodeProblem, Decoded, Location, RawRecord};

/// Decodes CSV bytes; see [`super::decode`]. Blank lines and rows whose fields are all empty
/// (only delimiters) are skipped: they hold no data.
pub(super) fn decode_csv(bytes: &[u8], options: &CsvFormat) -> Decoded {
    let (Some(delimiter), Some(quote)) =
        (single_byte(options.delimiter), single_byte(options.quote))
    else {
        // `Format::validate`, called by `decode`, reports this first, naming the setting.
        return Decoded::lost_file("delimiter and quote must be ASCII characters", None);
    };
    let text = decode_text(bytes, options.encoding);
    let mut decoded = Decoded {
        encoding: Some(text.encoding),
        ..Decoded::default()
    };
    let mut spans = Vec::new();
    read_rows(
        &text.text,
        options,
        (delimiter, quote),
        &mut decoded,
        &mut spans,
    );
    let located = text_problems(&text, &text.invalid_lines, |line| record_at(&spans, line));
    decoded.problems.extend(located);
    decoded
}

/// The location of the record (or header) whose lines hold `line`; `spans` are the (first, last)
/// physical lines of every record read, ascending. A line of no record is its own row.
fn record_at(spans: &[(u64, u64)], line: u64) -> Location {
    let index = spans.partition_point(|(first, _)| *first <= line);
    match index.checked_sub(1).and_then(|i| spans.get(i)) {
        Some((first, last)) if line <= *last => Location::Row(*first),
        _ => Location::Row(line),
    }
}

/// Reads header and rows of `text` into `decoded`; pushes the line span of every record read
/// (header included) to `spans`.
fn read_rows(
    text: &str,
    options: &CsvFormat,
    (delimiter, quote): (u8, u8),
    decoded: &mut Decoded,
    spans: &mut Vec<(u64, u64)>,
) {
    if text.trim().is_empty() {
        decoded
            .problems
            .push(DecodeProblem::new(Location::File, "the file is empty"));
        return;
    }
    let skipped = options.header_row.saturating_sub(1);
    let Some(start) = start_of_line(text, skipped) else {
        decoded.problems.push(DecodeProblem::lost(
            Location::File,
            format!(
                "the file has no line {}, where the header should be",
                options.header_row
            ),
        ));
        return;
    };
    let body = text.get(start..).unwrap_or_default();
    let line_offset = u64::try_from(skipped).unwrap_or(u64::MAX);

    let mut reader = ::csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .delimiter(delimiter)
        .quote(quote)
        .from_reader(body.as_bytes());
    let mut record = ::csv::StringRecord::new();
    let end_of = |reader: &::csv::Reader<&[u8]>| {
        usize::try_from(reader.position().byte()).unwrap_or(usize::MAX)
    };

    // The header.
    let mut lines = LineCounter::new(body);
    match reader.read_record(&mut record) {
        Ok(true) => {}
        Ok(false) => {
            decoded.problems.push(DecodeProblem::lost(
                Location::File,
                format!("no header row at or after line {}", options.header_row),
            ));
            return;
        }
        Err(error) => {
            decoded.problems.push(DecodeProblem::lost(
                Location::File,
                format!("cannot read the header: {}", error_kind(&error)),
            ));
            return;
        }
    }
    let (first, start_byte) = lines.start_line(&record);
    let header_line = first.saturating_add(line_offset);
    let end_byte = end_of(&reader);
    let header_last = header_line.saturating_add(lines.feeds_within(start_byte, end_byte));
    spans.push((header_line, header_last));
    if lines.unclosed_quote(start_byte, end_byte, quote, delimiter) {
        decoded.problems.push(DecodeProblem::lost(
            Location::File,
            format!(
                "the header (row {header_line}) has a quote that is never closed; it runs to the end of the file (lines {header_line}-{header_last}), so no row can be read"
            ),
        ));
        return;
    }
    decoded.columns = unique_names(
        record.iter(),
        Location::Row(header_line),
        &mut decoded.problems,
    );
    let width = decoded.columns.len();
    let swallow_threshold = (width / 2).max(2);

    // The data rows.
    let mut data_rows: usize = 0;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {
                let (start_line, start_byte) = lines.start_line(&record);
                let line = start_line.saturating_add(line_offset);
                let end_byte = end_of(&reader);
                let last = line.saturating_add(lines.feeds_within(start_byte, end_byte));
                spans.push((line, last));
                if lines.unclosed_quote(start_byte, end_byte, quote, delimiter) {
                    data_rows += 1;
                    let span = if last > line {
                        format!("lines {line}-{last}")
                    } else {
                        format!("line {line}")
                    };
                    decoded.problems.push(DecodeProblem::lost(
                        Location::Row(line),
                        format!(
                            "row {line} has a quote that is never closed; it runs to the end of the file ({span})"
                        ),
                    ));
                    let swallowed = lines.further_lines(start_byte, end_byte, delimiter);
                    lose_rows(&mut decoded.problems, line, swallowed, |row| {
                        format!("row {row} could not be read: swallowed by a quote that opens in row {line} and is never closed")
                    });
                    continue;
                }
                if record.iter().all(str::is_empty) {
                    // Only delimiters (`;;;;`, as spreadsheet programs export trailing rows): no data.
                    continue;
                }
                data_rows += 1;
                if swallows_rows(&record, delimiter, swallow_threshold) {
                    decoded.problems.push(DecodeProblem::lost(
                        Location::Row(line),
                        format!(
                            "row {line} could not be read: a quoted field in it runs over lines {line}-{last} and takes in whole rows (a quote is probably unbalanced)"
                        ),
                    ));
                    let swallowed = lines.further_lines(start_byte, end_byte, delimiter);
                    lose_rows(&mut decoded.problems, line, swallowed, |row| {
                        format!("row {row} could not be read: an unbalanced quote that opens in row {line} runs into it")
                    });
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
                        .push(DecodeProblem::lost(Location::Row(line), message));
                    continue;
                }
                let mut fields = Map::with_capacity(width);
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
                data_rows += 1;
                let location = error.position().map_or(Location::File, |p| {
                    Location::Row(p.line().saturating_add(line_offset))
                });
                decoded.problems.push(DecodeProblem::lost(
                    location,
                    format!("cannot read the rest of the file: {}", error_kind(&error)),
                ));
                break;
            }
        }
    }
    if data_rows == 0 {
        decoded.problems.push(DecodeProblem::new(
            Location::File,
            "the file has a header but no rows",
        ));
    }
}

/// Whether a field of `record` holds a line break followed by at least `threshold` delimiters: a
/// quote that opened in one row and closed rows later, taking in the rows between. (Only a quoted
/// field can hold a line break.)
/// One lost record for each row a runaway quote swallowed (offsets from the row `line` it opens in).
fn lose_rows(
    problems: &mut Vec<DecodeProblem>,
    line: u64,
    offsets: Vec<u64>,
    message: impl Fn(u64) -> String,
) {
    for offset in offsets {
        let row = line.saturating_add(offset);
        problems.push(DecodeProblem::lost(Location::Row(row), message(row)));
    }
}

fn swallows_rows(record: &::csv::StringRecord, delimiter: u8, threshold: usize) -> bool {
    record.iter().any(|field| {
        field.find(['\n', '\r']).is_some_and(|at| {
            let after = field.as_bytes().get(at..).unwrap_or_default();
            after.iter().filter(|b| **b == delimiter).count() >= threshold
        })
    })
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

    /// The non-blank physical lines after the first inside `start..end`, as offsets from the first
    /// (1 = the next line). A blank line holds only whitespace and delimiters.
    fn further_lines(&self, start: usize, end: usize, delimiter: u8) -> Vec<u64> {
        let slice = self
            .text
            .get(start..end.min(self.text.len()))
            .unwrap_or_default();
        slice
            .split(|b| *b == b'\n')
            .enumerate()
            .skip(1)
            .filter(|(_, line)| {
                !line
                    .iter()
                    .all(|b| b.is_ascii_whitespace() || *b == delimiter)
            })
            .map(|(offset, _)| offset as u64)
            .collect()
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
/// " (2)", " (3)", …; each change is a problem (not lost) at the header's location, naming the new
/// column. Messages give column numbers only, never the header text: in a file without a header row
/// it is data.
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
    let mut first_seen: HashMap<&str, usize> = HashMap::new();
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
                format!("column {number} of the header is empty"),
            ));
            taken.insert(candidate.clone());
            out.push(candidate);
        } else if let Some(first) = first_seen.get(name) {
            let mut n = 2;
            let mut candidate = format!("{name} ({n})");
            while taken.contains(&candidate) {
                n += 1;
                candidate = format!("{name} ({n})");
            }
            problems.push(DecodeProblem::in_column(
                location.clone(),
                candidate.clone(),
                format!("columns {first} and {number} of the header have the same name"),
            ));
            taken.insert(candidate.clone());
            out.push(candidate);
        } else {
            first_seen.insert(name, number);
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

    /// Changed: the problems are now `lost` (no record was produced for them).
    #[test]
    fn wrong_field_count_is_a_lost_problem_and_other_rows_stay() {
        let text = "a,b,c\n1,2,3\n4,5\n6,7,8,9\n10,11,12\n,,\n;\n,\n";
        let decoded = csv(text, ',');
        assert_eq!(decoded.records.len(), 2);
        assert_eq!(decoded.records[0].location, Location::Row(2));
        assert_eq!(decoded.records[1].location, Location::Row(5));
        assert_eq!(decoded.problems.len(), 3);
        assert!(decoded.problems.iter().all(|p| p.lost));
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

    /// Changed: besides the lost problem at the opening row, every further non-blank line the quote
    /// swallowed is a lost problem of its own.
    #[test]
    fn unclosed_quote_loses_every_row_it_swallows() {
        let text = "a,b\n0,ok\n1,\"open\n2,x\n\n,\n3,y\n";
        let decoded = csv(text, ',');
        assert_eq!(decoded.records.len(), 1);
        let problems: Vec<_> = decoded
            .problems
            .iter()
            .map(|p| (p.location.clone(), p.lost, p.message.as_str()))
            .collect();
        assert_eq!(
            problems,
            [
                (
                    Location::Row(3),
                    true,
                    "row 3 has a quote that is never closed; it runs to the end of the file (lines 3-7)"
                ),
                (
                    Location::Row(4),
                    true,
                    "row 4 could not be read: swallowed by a quote that opens in row 3 and is never closed"
                ),
                (
                    Location::Row(7),
                    true,
                    "row 7 could not be read: swallowed by a quote that opens in row 3 and is never closed"
                ),
            ]
        );
        // A quote inside an unquoted field is data, not an error.
        let decoded = csv("a,b\n1,5\" screen\n", ',');
        assert_eq!(decoded.records.len(), 1);
        assert!(decoded.problems.is_empty());
        // A multi-line row with the wrong number of fields names its span.
        let decoded = csv("a,b,c\n1,\"x\ny\"\n2,3,4\n", ',');
        assert_eq!(decoded.records.len(), 1);
        assert_eq!(decoded.problems.len(), 1);
        assert!(decoded.problems[0].lost);
        assert_eq!(
            decoded.problems[0].message,
            "row 2 has 2 fields, the header has 3 (the row spans lines 2-3; a quote may be unbalanced)"
        );
        // A header whose quote never closes: the whole file is lost.
        let decoded = csv("a,\"b\n1,2\n3,4\n", ',');
        assert!(decoded.records.is_empty());
        assert_eq!(decoded.problems.len(), 1);
        assert!(decoded.problems[0].lost);
        assert_eq!(decoded.problems[0].location, Location::File);
    }

    fn fourteen(first: &str, rest: &str) -> String {
        let mut fields = vec![first.to_string()];
        fields.extend((2..=14).map(|i| format!("{rest}{i}")));
        fields.join(";")
    }

    /// Regression: a quote opened in row 10 and closed in row 15 used to merge rows 10-15 into one
    /// record with the right number of fields; rows 11-14 vanished without a trace.
    #[test]
    fn quote_closed_rows_later_loses_the_rows_it_took_in() {
        let mut lines = vec![fourteen("id", "c")];
        for row in 2..=9 {
            lines.push(fourteen(&row.to_string(), "v"));
        }
        // Row 10 opens a quote in its last field; rows 11-14 are whole rows (13 is blank); row 15
        // closes the quote in its first field and happens to bring the field count to 14.
        let mut row10: Vec<String> = (1..=13).map(|i| format!("r{i}")).collect();
        row10.push("\"Afer".into());
        lines.push(row10.join(";"));
        lines.push(fourteen("11", "v"));
        lines.push(fourteen("12", "v"));
        lines.push(String::new());
        lines.push(fourteen("14", "v"));
        lines.push(fourteen("x\"", "v"));
        lines.push(fourteen("16", "v"));
        let text = lines.join("\n") + "\n";
        let decoded = csv(&text, ';');
        let rows: Vec<_> = decoded.records.iter().map(|r| r.location.clone()).collect();
        let mut expected: Vec<_> = (2..=9).map(Location::Row).collect();
        expected.push(Location::Row(16));
        assert_eq!(rows, expected);
        let problems: Vec<_> = decoded
            .problems
            .iter()
            .map(|p| (p.location.clone(), p.lost, p.message.as_str()))
            .collect();
        let into = |row: u64| {
            format!("row {row} could not be read: an unbalanced quote that opens in row 10 runs into it")
        };
        assert_eq!(
            problems,
            [
                (
                    Location::Row(10),
                    true,
                    "row 10 could not be read: a quoted field in it runs over lines 10-15 and takes in whole rows (a quote is probably unbalanced)"
                ),
                (Location::Row(11), true, into(11).as_str()),
                (Location::Row(12), true, into(12).as_str()),
                (Location::Row(14), true, into(14).as_str()),
                (Location::Row(15), true, into(15).as_str()),
            ]
        );
        for problem in &decoded.problems {
            assert!(!problem.message.contains("Afer"), "{}", problem.message);
        }
    }

    /// An address over two lines is one record, even with a delimiter on its second line.
    #[test]
    fn multi_line_field_is_still_one_record() {
        let text = "id,address,note\n1,\"Rruga 1\nGjakovë, Kosovë\",x\n2,\"a\r\nb\",\n";
        let decoded = csv(text, ',');
        assert!(decoded.problems.is_empty(), "{:?}", decoded.problems);
        assert_eq!(decoded.records.len(), 2);
        assert_eq!(
            decoded.records[0].fields["address"],
            json!("Rruga 1\nGjakovë, Kosovë")
        );
        assert_eq!(decoded.records[1].location, Location::Row(4));
    }

    /// Changed: messages give column numbers, never the header text (it may be data).
    #[test]
    fn header_row_and_duplicate_or_empty_names() {
        let text = "Export of 2024\n\nArta,Arta,,x,Arta\n1,2,3,4,5\n";
        let decoded = decode(
            text.as_bytes(),
            &Format::Csv(CsvFormat {
                header_row: 3,
                ..CsvFormat::default()
            }),
        );
        assert_eq!(
            decoded.columns,
            ["Arta", "Arta (2)", "column 3", "x", "Arta (3)"]
        );
        let problems: Vec<_> = decoded
            .problems
            .iter()
            .map(|p| {
                assert_eq!(p.location, Location::Row(3));
                assert!(!p.lost);
                (p.column.as_deref().unwrap(), p.message.as_str())
            })
            .collect();
        assert_eq!(
            problems,
            [
                (
                    "Arta (2)",
                    "columns 1 and 2 of the header have the same name"
                ),
                ("column 3", "column 3 of the header is empty"),
                (
                    "Arta (3)",
                    "columns 1 and 5 of the header have the same name"
                ),
            ]
        );
        assert_eq!(decoded.records.len(), 1);
        assert_eq!(decoded.records[0].location, Location::Row(4));
        assert_eq!(decoded.records[0].fields["column 3"], json!("3"));
    }

    #[test]
    fn empty_file_header_only_and_missing_header_line() {
        let mut utf16_blank = vec![0xFF, 0xFE];
        for unit in " \r\n".encode_utf16() {
            utf16_blank.extend_from_slice(&unit.to_le_bytes());
        }
        for bytes in [
            &b""[..],
            b"\xEF\xBB\xBF",
            b"\xEF\xBB\xBF \r\n\t\n",
            b"  \n",
            &utf16_blank,
        ] {
            let decoded = decode(bytes, &Format::Csv(CsvFormat::default()));
            assert!(decoded.records.is_empty());
            assert_eq!(decoded.problems.len(), 1, "{bytes:?}");
            assert_eq!(decoded.problems[0].location, Location::File);
            assert_eq!(decoded.problems[0].message, "the file is empty");
            assert!(!decoded.problems[0].lost);
        }
        for text in ["a,b\n", "a,b", "a,b\r\n,\r\n\r\n"] {
            let decoded = csv(text, ',');
            assert!(decoded.records.is_empty());
            assert_eq!(decoded.columns, ["a", "b"]);
            assert_eq!(decoded.problems.len(), 1, "{text:?}");
            assert_eq!(decoded.problems[0].location, Location::File);
            assert_eq!(
                decoded.problems[0].message,
                "the file has a header but no rows"
            );
            assert!(!decoded.problems[0].lost);
        }
        let decoded = decode(
            b"a\n",
            &Format::Csv(CsvFormat {
                header_row: 5,
                ..CsvFormat::default()
            }),
        );
        assert_eq!(decoded.problems[0].location, Location::File);
        assert!(decoded.problems[0].lost);
        let decoded = csv("a,b\n", 'é');
        assert_eq!(decoded.problems[0].location, Location::File);
        assert!(decoded.problems[0].lost);
        assert!(decoded.problems[0]
            .message
            .contains("delimiter must be one ASCII character"));
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
        assert!(!decoded.problems[0].lost);
        assert_eq!(
            decoded.problems[0].message,
            "invalid byte sequence for UTF-8 at line 3"
        );
    }

    /// Regression: only the first line with invalid bytes was reported, at the physical line even
    /// when the record started earlier.
    #[test]
    fn every_invalid_line_is_reported_at_its_record() {
        let bytes = b"a,b\n1,\"x\ny\xFF\"\n2,\xFF\n\n3,ok\n";
        let decoded = decode(
            bytes,
            &Format::Csv(CsvFormat {
                encoding: TextEncoding::Utf8,
                ..CsvFormat::default()
            }),
        );
        let rows: Vec<_> = decoded.records.iter().map(|r| r.location.clone()).collect();
        assert_eq!(rows, [Location::Row(2), Location::Row(4), Location::Row(6)]);
        let problems: Vec<_> = decoded
            .problems
            .iter()
            .map(|p| (p.location.clone(), p.lost, p.message.as_str()))
            .collect();
        assert_eq!(
            problems,
            [
                (
                    Location::Row(2),
                    false,
                    "invalid byte sequence for UTF-8 at line 3"
                ),
                (
                    Location::Row(4),
                    false,
                    "invalid byte sequence for UTF-8 at line 4"
                ),
            ]
        );

        // At most 100 lines, then one problem counting the rest.
        let mut many = b"a,b\n".to_vec();
        for _ in 0..150 {
            many.extend_from_slice(b"x,\xFF\n");
        }
        let decoded = decode(
            &many,
            &Format::Csv(CsvFormat {
                encoding: TextEncoding::Utf8,
                ..CsvFormat::default()
            }),
        );
        assert_eq!(decoded.records.len(), 150);
        assert_eq!(decoded.problems.len(), 101);
        assert_eq!(decoded.problems[0].location, Location::File);
        assert_eq!(
            decoded.problems[0].message,
            "… and 50 more lines with invalid bytes for UTF-8"
        );
        assert_eq!(decoded.problems[1].location, Location::Row(2));
        assert_eq!(decoded.problems[100].location, Location::Row(101));
        assert!(decoded.problems.iter().all(|p| !p.lost));
    }

    /// Regression: one stray Windows byte in a UTF-8 file turned the whole file into mojibake.
    #[test]
    fn auto_reads_mostly_utf8_as_utf8_and_reports_a_guess() {
        let mut bytes = "id,name\n1,Gjakovë\n2,Đakovica\n".as_bytes().to_vec();
        bytes.extend_from_slice(b"3,it\x92s\n");
        let decoded = csv_bytes_auto(&bytes);
        assert_eq!(decoded.encoding, Some("UTF-8"));
        assert_eq!(decoded.records[0].fields["name"], json!("Gjakovë"));
        assert_eq!(decoded.problems.len(), 1);
        assert_eq!(decoded.problems[0].location, Location::Row(4));
        assert!(!decoded.problems[0].lost);

        let (bytes, _, _) = encoding_rs::WINDOWS_1250.encode("id,name\n1,Čekić\n2,Peć\n");
        let decoded = csv_bytes_auto(&bytes);
        assert_eq!(decoded.encoding, Some("windows-1250"));
        assert_eq!(decoded.records[0].fields["name"], json!("Čekić"));
        assert_eq!(decoded.problems.len(), 1);
        assert_eq!(decoded.problems[0].location, Location::File);
        assert!(!decoded.problems[0].lost);
        assert_eq!(
            decoded.problems[0].message,
            "no byte-order mark and not valid UTF-8: read as windows-1250; set encoding in the source's format to say which it is"
        );
    }

    fn csv_bytes_auto(bytes: &[u8]) -> Decoded {
        decode(bytes, &Format::Csv(CsvFormat::default()))
    }
}
