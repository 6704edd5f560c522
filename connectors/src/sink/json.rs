//! JSON writers: JSON Lines from a table (one typed object per row) and pretty JSON documents.

use std::io::Write;
use std::path::Path;

use serde_json::{Map, Number, Value};

use super::table::{Cell, Table};
use super::{check_shape, write_file, SinkError};

/// A cell as JSON: Empty → null, Integer / Number / Bool typed (a non-finite number → null),
/// Date → "YYYY-MM-DD", Text → string.
pub fn cell_json(cell: &Cell) -> Value {
    match cell {
        Cell::Empty => Value::Null,
        Cell::Text(s) => Value::String(s.clone()),
        Cell::Integer(i) => Value::from(*i),
        Cell::Number(n) => Number::from_f64(*n).map_or(Value::Null, Value::Number),
        Cell::Bool(b) => Value::Bool(*b),
        Cell::Date { .. } => Value::String(cell.to_text()),
    }
}

/// `table` as JSON Lines: one object per row, keys = columns in order, each line ending in `\n`.
pub fn json_lines_bytes(table: &Table) -> Result<Vec<u8>, SinkError> {
    check_shape(table)?;
    let mut out = Vec::new();
    for row in &table.rows {
        let object: Map<String, Value> = table
            .columns
            .iter()
            .zip(row)
            .map(|(name, cell)| (name.clone(), cell_json(cell)))
            .collect();
        serde_json::to_writer(&mut out, &object)
            .map_err(|e| SinkError::Invalid(format!("cannot format JSON: {e}")))?;
        out.push(b'\n');
    }
    Ok(out)
}

/// Writes `table` to `path` as JSON Lines.
pub fn write_json_lines(path: &Path, table: &Table) -> Result<(), SinkError> {
    let bytes = json_lines_bytes(table).map_err(|e| SinkError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_file(path, &bytes)
}

/// Writes `value` to `path` as pretty-printed JSON with a trailing newline.
pub fn write_json_pretty(path: &Path, value: &Value) -> Result<(), SinkError> {
    let mut bytes = serde_json::to_vec_pretty(value).map_err(|e| SinkError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    bytes
        .write_all(b"\n")
        .map_err(|e| SinkError::io("write", path, e))?;
    write_file(path, &bytes)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_lines_are_typed_and_ordered() {
        let tmp = tempfile::tempdir().unwrap();
        let path = tmp.path().join("children.jsonl");
        let mut table = Table::new("children", &["z", "a", "n", "d", "b", "e"]);
        table.rows.push(vec![
            Cell::text("x"),
            Cell::Integer(7),
            Cell::Number(1.25),
            Cell::Date {
                year: 2010,
                month: 5,
                day: 9,
            },
            Cell::Bool(true),
            Cell::Empty,
        ]);
        write_json_lines(&path, &table).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(
            text,
            "{\"z\":\"x\",\"a\":7,\"n\":1.25,\"d\":\"2010-05-09\",\"b\":true,\"e\":null}\n"
        );
        let decoded = crate::decode(text.as_bytes(), &crate::Format::JsonLines);
        assert_eq!(decoded.columns, ["z", "a", "n", "d", "b", "e"]);

        let pretty = tmp.path().join("manifest.json");
        write_json_pretty(&pretty, &json!({"b": 1, "a": [1, 2]})).unwrap();
        let text = std::fs::read_to_string(&pretty).unwrap();
        assert!(text.ends_with("}\n"));
        assert!(text.find("\"b\"").unwrap() < text.find("\"a\"").unwrap());
    }
}
