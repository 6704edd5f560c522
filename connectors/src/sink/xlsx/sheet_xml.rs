//! A worksheet's XML written straight from a table's rows: the frame (everything but the data rows)
//! comes from the header-only worksheet rust_xlsxwriter wrote, and each data row becomes the same
//! `<row>` and `<c>` elements rust_xlsxwriter writes for those cells in constant-memory mode
//! (inline strings, real dates with the date style), without storing each cell first.

use std::borrow::Cow;
use std::io::Write;
use std::ops::Range;

use rust_xlsxwriter::utility::{cell_range, column_number_to_name};
use rust_xlsxwriter::ExcelDateTime;

use super::{fit_cell_text, WorkbookError, MAX_EXACT_INTEGER};
use crate::sink::check_row;
use crate::sink::table::{CellRef, Rows};

/// Excel's number of columns.
const MAX_COLUMNS: u16 = 16_384;
/// Bytes of XML gathered before they are handed to the compressor: small writes cost it dearly.
const CHUNK_BYTES: usize = 1 << 17;

/// The cells written to a worksheet, as its `<dimension>` gives them (0-based, inclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Extent {
    first_row: u32,
    first_col: u16,
    last_row: u32,
    last_col: u16,
}

impl Extent {
    /// No cell yet.
    pub(super) const EMPTY: Extent = Extent {
        first_row: u32::MAX,
        first_col: u16::MAX,
        last_row: 0,
        last_col: 0,
    };

    pub(super) fn include(&mut self, row: u32, col: u16) {
        self.first_row = self.first_row.min(row);
        self.first_col = self.first_col.min(col);
        self.last_row = self.last_row.max(row);
        self.last_col = self.last_col.max(col);
    }

    /// The header's extent once `rows` data rows follow it, the last of them holding a cell.
    fn with_data_rows(self, rows: usize) -> Extent {
        let Ok(last) = u32::try_from(rows) else {
            return self;
        };
        if last == 0 {
            return self;
        }
        Extent {
            first_row: self.first_row.min(1),
            first_col: if self.first_col == u16::MAX {
                0
            } else {
                self.first_col
            },
            last_row: last,
            last_col: self.last_col,
        }
    }

    /// "A1:W2920", or "A1" for a sheet without cells or with nothing but a header as wide as a
    /// sheet (as rust_xlsxwriter writes them).
    fn range(&self) -> String {
        let whole_first_row = Extent {
            first_row: 0,
            first_col: 0,
            last_row: 0,
            last_col: MAX_COLUMNS - 1,
        };
        if *self == Extent::EMPTY || *self == whole_first_row {
            "A1".to_string()
        } else {
            cell_range(self.first_row, self.first_col, self.last_row, self.last_col)
        }
    }
}

/// A header-only worksheet's XML, cut where the dimension and the data rows go.
#[derive(Debug, Clone)]
pub(super) struct SheetFrame {
    /// Up to and including `<dimension ref="`.
    head: String,
    /// From the end of the dimension's range up to `<sheetData`.
    views: String,
    /// The header row's elements (empty when the header has no cell).
    header_rows: String,
    /// From after `</sheetData>` (or `<sheetData/>`) to the end.
    tail: String,
    /// The header's cells.
    header: Extent,
}

impl SheetFrame {
    /// The extent of the worksheet once `rows` data rows follow its header, if the last of them
    /// has a cell (as the dataset's rows all do).
    pub(super) fn planned(&self, rows: usize) -> Extent {
        self.header.with_data_rows(rows)
    }

    /// Cuts `xml`, a worksheet with at most its header row, whose header cells span `header`.
    pub(super) fn cut(xml: &str, header: Extent) -> Result<SheetFrame, WorkbookError> {
        let broken =
            || WorkbookError::Failed("the header-only worksheet has an unexpected shape".into());
        let marker = "<dimension ref=\"";
        let head_end = xml.find(marker).ok_or_else(broken)? + marker.len();
        let range_end = head_end + xml[head_end..].find('"').ok_or_else(broken)?;
        let data_start = range_end + xml[range_end..].find("<sheetData").ok_or_else(broken)?;
        let (header_rows, tail_start) = if xml[data_start..].starts_with("<sheetData/>") {
            (String::new(), data_start + "<sheetData/>".len())
        } else {
            let open = data_start + "<sheetData>".len();
            let close = open + xml[open..].find("</sheetData>").ok_or_else(broken)?;
            (xml[open..close].to_string(), close + "</sheetData>".len())
        };
        Ok(SheetFrame {
            head: xml[..head_end].to_string(),
            views: xml[range_end..data_start].to_string(),
            header_rows,
            tail: xml[tail_start..].to_string(),
            header,
        })
    }
}

/// What writing a worksheet found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) struct Written {
    /// The cells written, header included.
    pub(super) extent: Extent,
    /// Whether a cell holds a real date (the workbook then needs the date style).
    pub(super) dates: bool,
}

/// Writes the worksheet: the frame around rows `rows` of `table`, its dimension declared as
/// `declared`; [`Written::extent`] says what it really was, so that a caller can write the sheet
/// again in the rare case the two differ.
pub(super) fn write_sheet<W: Write>(
    out: &mut W,
    frame: &SheetFrame,
    table: &dyn Rows,
    rows: Range<usize>,
    date_style: u32,
    declared: Extent,
) -> Result<Written, WorkbookError> {
    let mut chunk: Vec<u8> = Vec::with_capacity(CHUNK_BYTES + 4096);
    chunk.extend_from_slice(frame.head.as_bytes());
    chunk.extend_from_slice(declared.range().as_bytes());
    chunk.extend_from_slice(frame.views.as_bytes());
    let opened = chunk.len();
    chunk.extend_from_slice(b"<sheetData>");
    chunk.extend_from_slice(frame.header_rows.as_bytes());
    let mut writer = RowWriter::new(table.columns().len(), date_style);
    let mut written = Written {
        extent: frame.header,
        dates: false,
    };
    let mut cells = Vec::with_capacity(table.columns().len());
    let mut any_row = !frame.header_rows.is_empty();
    for (offset, index) in rows.enumerate() {
        cells.clear();
        table.row(index, &mut cells);
        check_row(table, index, cells.len()).map_err(WorkbookError::Sink)?;
        let row = u32::try_from(offset + 1)
            .map_err(|_| WorkbookError::Failed("too many rows for a worksheet".into()))?;
        any_row |= writer.row(&mut chunk, row, &cells, &mut written)?;
        if chunk.len() >= CHUNK_BYTES {
            out.write_all(&chunk)?;
            chunk.clear();
        }
    }
    if any_row {
        chunk.extend_from_slice(b"</sheetData>");
    } else {
        // Nothing at all: rust_xlsxwriter writes an empty element. Nothing was flushed yet (the
        // chunk only grows with a row), so the opening tag is still in it to take back.
        chunk.truncate(opened);
        chunk.extend_from_slice(b"<sheetData/>");
    }
    chunk.extend_from_slice(frame.tail.as_bytes());
    out.write_all(&chunk)?;
    Ok(written)
}

/// Writes rows' cells as XML, reusing its buffers from row to row.
struct RowWriter {
    /// Each column's letters.
    columns: Vec<String>,
    row_number: itoa::Buffer,
    cells: CellXml,
}

/// A row's cells as XML.
struct CellXml {
    bytes: Vec<u8>,
    date_style: u32,
}

impl RowWriter {
    fn new(columns: usize, date_style: u32) -> RowWriter {
        let columns = (0..columns)
            .map(|c| u16::try_from(c).map_or_else(|_| String::new(), column_number_to_name))
            .collect();
        RowWriter {
            columns,
            row_number: itoa::Buffer::new(),
            cells: CellXml {
                bytes: Vec::new(),
                date_style,
            },
        }
    }

    /// Appends row `row` (0-based; the header is 0) to `out` when it has a cell; says whether it had.
    fn row(
        &mut self,
        out: &mut Vec<u8>,
        row: u32,
        cells: &[CellRef<'_>],
        written: &mut Written,
    ) -> Result<bool, WorkbookError> {
        let number = self.row_number.format(u64::from(row) + 1).to_string();
        self.cells.bytes.clear();
        for (col, cell) in cells.iter().enumerate() {
            let name = self
                .columns
                .get(col)
                .filter(|n| !n.is_empty())
                .ok_or_else(|| WorkbookError::Failed("too many columns for a worksheet".into()))?;
            let reference = CellReference {
                column: name,
                row: &number,
            };
            if self.cells.cell(&reference, cell, &mut written.dates) {
                let col = u16::try_from(col).map_err(|_| {
                    WorkbookError::Failed("too many columns for a worksheet".into())
                })?;
                written.extent.include(row, col);
            }
        }
        if self.cells.bytes.is_empty() {
            return Ok(false);
        }
        out.extend_from_slice(b"<row r=\"");
        out.extend_from_slice(number.as_bytes());
        out.extend_from_slice(b"\">");
        out.extend_from_slice(&self.cells.bytes);
        out.extend_from_slice(b"</row>");
        Ok(true)
    }
}

impl CellXml {
    /// Appends one cell; says whether there was one to write.
    fn cell(&mut self, at: &CellReference<'_>, cell: &CellRef<'_>, dates: &mut bool) -> bool {
        match cell {
            CellRef::Empty => false,
            CellRef::Text(text) => self.text(at, &fit_cell_text(text)),
            CellRef::Integer(i) if (-MAX_EXACT_INTEGER..=MAX_EXACT_INTEGER).contains(i) => {
                self.value(at, None, itoa::Buffer::new().format(*i));
                true
            }
            CellRef::Integer(i) => self.text(at, &i.to_string()),
            CellRef::Number(n) if n.is_finite() => {
                self.value(at, None, &n.to_string());
                true
            }
            CellRef::Number(n) => self.text(at, &n.to_string()),
            CellRef::Bool(b) => {
                self.open(at, None, Some("b"));
                self.bytes
                    .extend_from_slice(if *b { b"<v>1</v></c>" } else { b"<v>0</v></c>" });
                true
            }
            CellRef::Date { year, month, day } => match super::excel_date(*year, *month, *day) {
                Some(date) => {
                    *dates = true;
                    let serial = ExcelDateTime::to_excel(&date).to_string();
                    self.value(at, Some(self.date_style), &serial);
                    true
                }
                // Before 1900 or invalid: Excel has no date for it; keep the ISO text.
                None => self.text(at, &cell.to_text()),
            },
        }
    }

    /// `<c r="A1"[ s="n"][ t="type"]>`.
    fn open(&mut self, at: &CellReference<'_>, style: Option<u32>, kind: Option<&str>) {
        self.bytes.extend_from_slice(b"<c r=\"");
        self.bytes.extend_from_slice(at.column.as_bytes());
        self.bytes.extend_from_slice(at.row.as_bytes());
        self.bytes.push(b'"');
        if let Some(style) = style.filter(|s| *s > 0) {
            self.bytes.extend_from_slice(b" s=\"");
            self.bytes
                .extend_from_slice(itoa::Buffer::new().format(style).as_bytes());
            self.bytes.push(b'"');
        }
        if let Some(kind) = kind {
            self.bytes.extend_from_slice(b" t=\"");
            self.bytes.extend_from_slice(kind.as_bytes());
            self.bytes.push(b'"');
        }
        self.bytes.push(b'>');
    }

    fn value(&mut self, at: &CellReference<'_>, style: Option<u32>, value: &str) {
        self.open(at, style, None);
        self.bytes.extend_from_slice(b"<v>");
        self.bytes.extend_from_slice(value.as_bytes());
        self.bytes.extend_from_slice(b"</v></c>");
    }

    /// An inline string; an empty text is no cell (Excel ignores it).
    fn text(&mut self, at: &CellReference<'_>, text: &str) -> bool {
        if text.is_empty() {
            return false;
        }
        self.open(at, None, Some("inlineStr"));
        let whitespace = ['\t', '\n', ' '];
        if text.starts_with(whitespace) || text.ends_with(whitespace) {
            self.bytes
                .extend_from_slice(b"<is><t xml:space=\"preserve\">");
        } else {
            self.bytes.extend_from_slice(b"<is><t>");
        }
        push_escaped(&mut self.bytes, text);
        self.bytes.extend_from_slice(b"</t></is></c>");
        true
    }
}

/// Where a cell is: its column's letters and its row's number.
struct CellReference<'a> {
    column: &'a str,
    row: &'a str,
}

/// `text` as cell text XML, escaped the way Excel (and rust_xlsxwriter) escape it: `&`, `<`, `>`,
/// control characters but tab and newline as `_xHHHH_`, U+FFFE and U+FFFF likewise, and a literal
/// `_xHHHH_` in the text kept literal by escaping its underscore.
fn push_escaped(out: &mut Vec<u8>, text: &str) {
    let plain = !text.contains("_x")
        && text.bytes().all(|b| {
            !matches!(b, b'&' | b'<' | b'>' | 0xEF) && (b >= 0x20 || b == b'\t' || b == b'\n')
        });
    if plain {
        out.extend_from_slice(text.as_bytes());
        return;
    }
    for c in keep_literal_escapes(text).chars() {
        match c {
            '&' => out.extend_from_slice(b"&amp;"),
            '<' => out.extend_from_slice(b"&lt;"),
            '>' => out.extend_from_slice(b"&gt;"),
            '\t' | '\n' => out.push(c as u8),
            '\u{0}'..='\u{1F}' | '\u{FFFE}' | '\u{FFFF}' => {
                out.extend_from_slice(format!("_x{:04X}_", u32::from(c)).as_bytes());
            }
            _ => {
                let mut bytes = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut bytes).as_bytes());
            }
        }
    }
}

/// `text` with "_x005F" put before every "_xHHHH_" in it, so Excel reads it as written.
fn keep_literal_escapes(text: &str) -> Cow<'_, str> {
    const ESCAPE_LENGTH: usize = "_xHHHH_".len();
    let mut kept: Option<String> = None;
    // From the right, so that inserting keeps the earlier positions right.
    for (index, _) in text.rmatch_indices("_x") {
        let end = index + ESCAPE_LENGTH;
        let is_escape = end <= text.len()
            && text.is_char_boundary(end - 1)
            && text[end - 1..].starts_with('_')
            && text[index + 2..end - 1]
                .chars()
                .all(|c| c.is_ascii_hexdigit());
        if is_escape {
            kept.get_or_insert_with(|| text.to_string())
                .insert_str(index, "_x005F");
        }
    }
    kept.map_or(Cow::Borrowed(text), Cow::Owned)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn escaped(text: &str) -> String {
        let mut out = Vec::new();
        push_escaped(&mut out, text);
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn text_is_escaped_as_excel_escapes_it() {
        assert_eq!(escaped("Arta & <Berisha>"), "Arta &amp; &lt;Berisha&gt;");
        assert_eq!(escaped("tab\tnew\nline"), "tab\tnew\nline");
        assert_eq!(escaped("bell\u{7}"), "bell_x0007_");
        assert_eq!(escaped("odd\u{FFFE}\u{FFFF}"), "odd_xFFFE__xFFFF_");
        assert_eq!(escaped("ïřž"), "ïřž");
        assert_eq!(escaped("_x0041_ and _x12"), "_x005F_x0041_ and _x12");
        assert_eq!(escaped("_xZZZZ_"), "_xZZZZ_");
        assert_eq!(escaped("a_x00é_"), "a_x00é_");
    }

    #[test]
    fn extents_name_their_range() {
        assert_eq!(Extent::EMPTY.range(), "A1");
        let mut header = Extent::EMPTY;
        header.include(0, 0);
        header.include(0, 22);
        assert_eq!(header.range(), "A1:W1");
        assert_eq!(header.with_data_rows(2919).range(), "A1:W2920");
        assert_eq!(Extent::EMPTY.with_data_rows(3).range(), "A2:A4");
        let mut widest = Extent::EMPTY;
        widest.include(0, 0);
        widest.include(0, MAX_COLUMNS - 1);
        assert_eq!(widest.range(), "A1");
        assert_eq!(widest.with_data_rows(1).range(), "A1:XFD2");
    }
}
