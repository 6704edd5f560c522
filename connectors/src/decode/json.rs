//! JSON decoding: an array of objects at the top level or under a dotted path (records located by
//! JSON pointer), and JSON Lines (one object per line, located by line number).

use std::collections::HashSet;

use serde_json::{Map, Value};

use super::text::decode_text;
use super::{text_problems, DecodeProblem, Decoded, JsonFormat, Location, RawRecord, TextEncoding};

/// Decodes a JSON document; see [`super::decode`]. Invalid bytes are reported for the file (the
/// message names the line).
pub(super) fn decode_json(bytes: &[u8], options: &JsonFormat) -> Decoded {
    let text = decode_text(bytes, TextEncoding::Utf8);
    let mut decoded = Decoded {
        encoding: Some(text.encoding),
        ..Decoded::default()
    };
    decoded
        .problems
        .extend(text_problems(&text, &text.invalid_lines, |_| {
            Location::File
        }));
    let mut root: Value = match serde_json::from_str(&text.text) {
        Ok(value) => value,
        Err(error) => {
            decoded.problems.push(DecodeProblem::lost(
                Location::File,
                format!(
                    "not valid JSON at line {} column {}: {}",
                    error.line(),
                    error.column(),
                    error_text(&error)
                ),
            ));
            return decoded;
        }
    };

    // `Format::validate` (called by `decode`) rejects an empty path or segment.
    let path = options
        .records_path
        .as_deref()
        .map(str::trim)
        .filter(|p| !p.is_empty());
    let mut pointer = String::new();
    let mut target = &mut root;
    if let Some(path) = path {
        for segment in path.split('.') {
            pointer.push('/');
            pointer.push_str(&segment.replace('~', "~0").replace('/', "~1"));
            let next = match target {
                Value::Object(map) => map.get_mut(segment),
                Value::Array(items) => segment
                    .parse::<usize>()
                    .ok()
                    .and_then(move |index| items.get_mut(index)),
                _ => None,
            };
            match next {
                Some(value) => target = value,
                None => {
                    decoded.problems.push(DecodeProblem::lost(
                        Location::File,
                        format!("records_path {path:?} not found: nothing at {pointer}"),
                    ));
                    return decoded;
                }
            }
        }
    }
    let Value::Array(items) = target else {
        let message = match path {
            Some(path) => format!(
                "records_path {path:?} leads to {}, expected an array of records",
                kind(target)
            ),
            None => format!(
                "the top level is {}, expected an array of records (or set records_path)",
                kind(target)
            ),
        };
        decoded
            .problems
            .push(DecodeProblem::lost(Location::File, message));
        return decoded;
    };

    let mut seen = HashSet::new();
    for (index, item) in items.iter_mut().enumerate() {
        let location = Location::Pointer(format!("{pointer}/{index}"));
        match item.take() {
            Value::Object(fields) => {
                add_columns(&mut decoded.columns, &mut seen, &fields);
                decoded.records.push(RawRecord { location, fields });
            }
            other => decoded.problems.push(DecodeProblem::lost(
                location,
                format!("the element is {}, expected an object", kind(&other)),
            )),
        }
    }
    decoded
}

/// Decodes JSON Lines; see [`super::decode`]. A line that cannot be read is one lost problem, which
/// also says when the line holds invalid bytes; invalid bytes in a line that is read are a problem
/// of its record.
pub(super) fn decode_json_lines(bytes: &[u8]) -> Decoded {
    let text = decode_text(bytes, TextEncoding::Utf8);
    let mut decoded = Decoded {
        encoding: Some(text.encoding),
        ..Decoded::default()
    };
    let invalid: HashSet<u64> = text.invalid_lines.iter().copied().collect();
    let mut lost_invalid: HashSet<u64> = HashSet::new();
    let mut seen = HashSet::new();
    for (index, line) in text.text.split('\n').enumerate() {
        let number = index as u64 + 1;
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.trim().is_empty() {
            continue;
        }
        let location = Location::Line(number);
        let mut message = match serde_json::from_str::<Value>(line) {
            Ok(Value::Object(fields)) => {
                add_columns(&mut decoded.columns, &mut seen, &fields);
                decoded.records.push(RawRecord { location, fields });
                continue;
            }
            Ok(other) => format!("line {number} is {}, expected an object", kind(&other)),
            Err(error) => format!(
                "not valid JSON at line {number} column {}: {}",
                error.column(),
                error_text(&error)
            ),
        };
        if invalid.contains(&number) {
            lost_invalid.insert(number);
            message.push_str(&format!(
                "; the line also holds bytes that are not valid {}",
                text.encoding
            ));
        }
        decoded
            .problems
            .push(DecodeProblem::lost(location, message));
    }
    let other_invalid: Vec<u64> = text
        .invalid_lines
        .iter()
        .copied()
        .filter(|line| !lost_invalid.contains(line))
        .collect();
    decoded
        .problems
        .extend(text_problems(&text, &other_invalid, Location::Line));
    decoded
}

fn add_columns(columns: &mut Vec<String>, seen: &mut HashSet<String>, fields: &Map<String, Value>) {
    for key in fields.keys() {
        if !seen.contains(key) {
            seen.insert(key.clone());
            columns.push(key.clone());
        }
    }
}

/// serde_json's message without its position suffix, with `backticks` as 'quotes'. serde_json's
/// syntax errors never quote the input.
fn error_text(error: &serde_json::Error) -> String {
    let full = error.to_string();
    let suffix = format!(" at line {} column {}", error.line(), error.column());
    full.strip_suffix(&suffix)
        .unwrap_or(&full)
        .replace('`', "'")
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::decode::{decode, Format};
    use serde_json::json;

    fn json(text: &str, path: Option<&str>) -> Decoded {
        decode(
            text.as_bytes(),
            &Format::Json(JsonFormat {
                records_path: path.map(str::to_string),
            }),
        )
    }

    #[test]
    fn top_level_array() {
        let decoded = json(r#"[{"b":1,"a":"x"},{"c":null,"a":"y"},7]"#, None);
        assert_eq!(decoded.columns, ["b", "a", "c"]);
        assert_eq!(decoded.records.len(), 2);
        assert_eq!(decoded.records[1].location, Location::Pointer("/1".into()));
        assert_eq!(decoded.records[0].fields["b"], json!(1));
        assert_eq!(decoded.problems.len(), 1);
        assert_eq!(decoded.problems[0].location, Location::Pointer("/2".into()));
        assert!(decoded.problems[0].lost);
        assert_eq!(
            decoded.problems[0].message,
            "the element is a number, expected an object"
        );
        assert_eq!(decoded.encoding, Some("UTF-8"));
    }

    #[test]
    fn records_under_a_dotted_path() {
        let text = r#"{"meta":{"n":2},"data":{"inspections":[{"id":1},{"id":2,"x":[1]}]}}"#;
        let decoded = json(text, Some("data.inspections"));
        assert!(decoded.problems.is_empty());
        assert_eq!(decoded.columns, ["id", "x"]);
        assert_eq!(
            decoded.records[1].location,
            Location::Pointer("/data/inspections/1".into())
        );
        assert_eq!(decoded.records[1].fields["x"], json!([1]));

        let missing = json(text, Some("data.visits"));
        assert!(missing.records.is_empty());
        assert_eq!(missing.problems.len(), 1);
        assert_eq!(missing.problems[0].location, Location::File);
        assert!(missing.problems[0].lost);
        assert!(missing.problems[0].message.contains("/data/visits"));

        let not_array = json(text, Some("meta"));
        assert_eq!(not_array.problems[0].location, Location::File);
        assert!(not_array.problems[0].lost);
        let top_object = json(text, None);
        assert_eq!(top_object.problems[0].location, Location::File);
        assert!(top_object.problems[0].lost);

        // Changed: an empty records_path (or segment) is an invalid format, no longer "top level".
        for path in ["", "data..inspections"] {
            let invalid = json(text, Some(path));
            assert!(invalid.records.is_empty());
            assert_eq!(invalid.problems.len(), 1);
            assert!(invalid.problems[0].lost);
            assert!(invalid.problems[0].message.contains("records_path"));
        }
    }

    #[test]
    fn truncated_json_is_one_file_problem() {
        let decoded = json("[\n{\"name\": \"Arta\"},\n{\"name\": \"Bes", None);
        assert!(decoded.records.is_empty());
        assert_eq!(decoded.problems.len(), 1);
        assert_eq!(decoded.problems[0].location, Location::File);
        assert!(decoded.problems[0].lost);
        let message = &decoded.problems[0].message;
        assert!(
            message.starts_with("not valid JSON at line 3 column"),
            "{message}"
        );
        assert!(!message.contains("Bes"), "{message}");
        let decoded = json("[{\"a\":1 \"b\":2}]", None);
        assert_eq!(
            decoded.problems[0].message,
            "not valid JSON at line 1 column 9: expected ',' or '}'"
        );
    }

    #[test]
    fn json_lines_with_a_bad_line() {
        let text = "{\"a\":1}\r\n\n{\"a\":2,\"b\":\n[1]\n{\"b\":true}\n";
        let decoded = decode(text.as_bytes(), &Format::JsonLines);
        assert_eq!(decoded.columns, ["a", "b"]);
        let locations: Vec<_> = decoded.records.iter().map(|r| r.location.clone()).collect();
        assert_eq!(locations, [Location::Line(1), Location::Line(5)]);
        assert_eq!(decoded.problems.len(), 2);
        assert!(decoded.problems.iter().all(|p| p.lost));
        assert_eq!(decoded.problems[0].location, Location::Line(3));
        assert!(decoded.problems[0]
            .message
            .starts_with("not valid JSON at line 3 column"));
        assert_eq!(decoded.problems[1].location, Location::Line(4));
        assert_eq!(
            decoded.problems[1].message,
            "line 4 is an array, expected an object"
        );
    }

    /// Regression: a line with invalid bytes and bad JSON made two problems (one of them at a
    /// location without a record); it is now one lost problem. Every other line with invalid
    /// bytes is reported at its line, not lost.
    #[test]
    fn json_lines_invalid_bytes_one_problem_per_line() {
        let bytes = b"{\"a\":\"x\xFFy\"}\n{\"a\":\xFF\n{\"a\":3}\n{\"a\":\"\xFF\"}\n";
        let decoded = decode(bytes, &Format::JsonLines);
        let locations: Vec<_> = decoded.records.iter().map(|r| r.location.clone()).collect();
        assert_eq!(
            locations,
            [Location::Line(1), Location::Line(3), Location::Line(4)]
        );
        let problems: Vec<_> = decoded
            .problems
            .iter()
            .map(|p| (p.location.clone(), p.lost))
            .collect();
        assert_eq!(
            problems,
            [
                (Location::Line(1), false),
                (Location::Line(2), true),
                (Location::Line(4), false),
            ]
        );
        assert_eq!(
            decoded.problems[0].message,
            "invalid byte sequence for UTF-8 at line 1"
        );
        let lost = &decoded.problems[1].message;
        assert!(
            lost.starts_with("not valid JSON at line 2 column"),
            "{lost}"
        );
        assert!(
            lost.ends_with("; the line also holds bytes that are not valid UTF-8"),
            "{lost}"
        );
    }

    #[test]
    fn json_document_invalid_bytes_and_empty_files() {
        let decoded = json("[{\"a\":\"x\u{fffd}\"}]", None);
        assert!(decoded.problems.is_empty());
        let decoded = decode(
            b"[\n{\"a\":\"x\xFF\"},\n{\"a\":\"\xFF\"}]",
            &Format::Json(JsonFormat::default()),
        );
        assert_eq!(decoded.records.len(), 2);
        let problems: Vec<_> = decoded
            .problems
            .iter()
            .map(|p| (p.location.clone(), p.lost, p.message.as_str()))
            .collect();
        assert_eq!(
            problems,
            [
                (
                    Location::File,
                    false,
                    "invalid byte sequence for UTF-8 at line 2"
                ),
                (
                    Location::File,
                    false,
                    "invalid byte sequence for UTF-8 at line 3"
                ),
            ]
        );
        for format in [Format::Json(JsonFormat::default()), Format::JsonLines] {
            for bytes in [&b""[..], b"\xEF\xBB\xBF\n  \n"] {
                let decoded = decode(bytes, &format);
                assert!(decoded.records.is_empty());
                assert_eq!(decoded.problems.len(), 1);
                assert_eq!(decoded.problems[0].message, "the file is empty");
                assert_eq!(decoded.problems[0].location, Location::File);
                assert!(!decoded.problems[0].lost);
            }
        }
    }
}
