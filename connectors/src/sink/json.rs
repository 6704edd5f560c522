//! JSON writers: JSON Lines from a table (one typed object per row) and pretty JSON documents.

use std::io::Write;
use std::path::Path;

use serde_json::{Number, Value};

use super::table::{Cell, CellRef, Rows, Table};
use super::{check_row, check_shape, write_file, SinkError};

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
    write_lines(&mut out, table).map_err(|e| match e {
        Written::Io(e) => SinkError::Invalid(format!("cannot format JSON: {e}")),
        Written::Sink(e) => e,
    })?;
    Ok(out)
}

/// Writes `table` to `path` as JSON Lines.
pub fn write_json_lines(path: &Path, table: &Table) -> Result<(), SinkError> {
    check_shape(table).map_err(|e| SinkError::Write {
        path: path.to_path_buf(),
        message: e.to_string(),
    })?;
    write_json_lines_rows(path, table)
}

/// Writes `rows` to `path` as JSON Lines, one row at a time.
pub fn write_json_lines_rows(path: &Path, rows: &dyn Rows) -> Result<(), SinkError> {
    let file = std::fs::File::create(path).map_err(|e| SinkError::io("write", path, e))?;
    let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
    write_lines(&mut out, rows)
        .and_then(|()| out.flush().map_err(Written::Io))
        .map_err(|e| match e {
            Written::Io(e) => SinkError::io("write", path, e),
            Written::Sink(e) => SinkError::Write {
                path: path.to_path_buf(),
                message: e.to_string(),
            },
        })
}

/// Why writing lines stopped.
enum Written {
    Io(std::io::Error),
    Sink(SinkError),
}

/// One object per row, written as `serde_json` writes a [`serde_json::Map`] of the columns (in column order;
/// a column named twice keeps its first place and its last value).
fn write_lines<W: Write>(out: &mut W, rows: &dyn Rows) -> Result<(), Written> {
    let columns = rows.columns();
    // Each distinct key, as JSON, with the column its value comes from.
    let mut keys: Vec<(Vec<u8>, usize)> = Vec::with_capacity(columns.len());
    for (index, name) in columns.iter().enumerate() {
        match columns.iter().position(|other| other == name) {
            Some(first) if first < index => {
                if let Some(slot) = keys.iter_mut().find(|(_, at)| columns[*at] == *name) {
                    slot.1 = index;
                }
            }
            _ => {
                let key = serde_json::to_vec(name).map_err(|e| {
                    Written::Sink(SinkError::Invalid(format!("cannot format JSON: {e}")))
                })?;
                keys.push((key, index));
            }
        }
    }
    let json = |e: serde_json::Error| Written::Io(e.into());
    let io = Written::Io;
    let mut row = Vec::with_capacity(columns.len());
    for index in 0..rows.len() {
        row.clear();
        rows.row(index, &mut row);
        check_row(rows, index, row.len()).map_err(Written::Sink)?;
        out.write_all(b"{").map_err(io)?;
        for (n, (key, column)) in keys.iter().enumerate() {
            if n > 0 {
                out.write_all(b",").map_err(io)?;
            }
            out.write_all(key).map_err(io)?;
            out.write_all(b":").map_err(io)?;
            match row.get(*column).unwrap_or(&CellRef::Empty) {
                CellRef::Empty => out.write_all(b"null").map_err(io)?,
                CellRef::Text(text) => {
                    serde_json::to_writer(&mut *out, text.as_ref()).map_err(json)?
                }
                CellRef::Integer(i) => serde_json::to_writer(&mut *out, i).map_err(json)?,
                // A non-finite number is written as null.
                CellRef::Number(n) => serde_json::to_writer(&mut *out, n).map_err(json)?,
                CellRef::Bool(b) => serde_json::to_writer(&mut *out, b).map_err(json)?,
                date @ CellRef::Date { .. } => {
                    serde_json::to_writer(&mut *out, date.to_text().as_ref()).map_err(json)?
                }
            }
        }
        out.write_all(b"}\n").map_err(io)?;
    }
    Ok(())
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
