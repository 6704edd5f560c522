//! A neutral, typed table: what the writers (CSV, XLSX, JSON) take, independent of any domain model.
//! A [`Table`] holds its rows; a [`Rows`] makes each row when a writer asks for it, so that a large
//! table is never held in memory whole.

use std::borrow::Cow;

/// One cell of a [`Table`].
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    /// No value (an empty CSV field, a blank spreadsheet cell).
    Empty,
    /// Text, written as is.
    Text(String),
    /// A whole number.
    Integer(i64),
    /// A decimal number.
    Number(f64),
    /// A calendar date; spreadsheets get a real date cell, text formats ISO 8601 unless a writer says otherwise.
    Date { year: i32, month: u32, day: u32 },
    /// A yes / no value.
    Bool(bool),
}

impl Cell {
    /// Text cell, or [`Cell::Empty`] when the text is empty.
    pub fn text(value: impl Into<String>) -> Self {
        let value = value.into();
        if value.is_empty() {
            Cell::Empty
        } else {
            Cell::Text(value)
        }
    }

    /// The cell as text, the way CSV and JSON Lines writers render it (dates as `YYYY-MM-DD`).
    pub fn to_text(&self) -> String {
        match self {
            Cell::Empty => String::new(),
            Cell::Text(s) => s.clone(),
            Cell::Integer(i) => i.to_string(),
            Cell::Number(n) => n.to_string(),
            Cell::Date { year, month, day } => format!("{year:04}-{month:02}-{day:02}"),
            Cell::Bool(b) => b.to_string(),
        }
    }
}

impl From<Option<String>> for Cell {
    fn from(value: Option<String>) -> Self {
        value.map_or(Cell::Empty, Cell::text)
    }
}

/// A named table with a header row: a CSV file, a spreadsheet sheet, a JSON Lines file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    /// Sheet name in a workbook; ignored by single-table formats.
    pub name: String,
    /// Column names, in order.
    pub columns: Vec<String>,
    /// Rows; each has one cell per column.
    pub rows: Vec<Vec<Cell>>,
}

impl Table {
    /// An empty table with the given sheet name and columns.
    pub fn new(name: impl Into<String>, columns: &[&str]) -> Self {
        Table {
            name: name.into(),
            columns: columns.iter().map(|c| (*c).to_string()).collect(),
            rows: Vec::new(),
        }
    }
}

/// One cell as a writer sees it: like [`Cell`], but its text is borrowed where it can be.
#[derive(Debug, Clone, PartialEq)]
pub enum CellRef<'a> {
    /// No value.
    Empty,
    /// Text, written as is.
    Text(Cow<'a, str>),
    /// A whole number.
    Integer(i64),
    /// A decimal number.
    Number(f64),
    /// A calendar date.
    Date { year: i32, month: u32, day: u32 },
    /// A yes / no value.
    Bool(bool),
}

impl<'a> CellRef<'a> {
    /// Text cell, or [`CellRef::Empty`] when the text is empty.
    pub fn text(value: impl Into<Cow<'a, str>>) -> Self {
        let value = value.into();
        if value.is_empty() {
            CellRef::Empty
        } else {
            CellRef::Text(value)
        }
    }

    /// A text cell from an optional text ([`CellRef::Empty`] when absent or empty).
    pub fn opt(value: Option<&'a str>) -> Self {
        value.map_or(CellRef::Empty, CellRef::text)
    }

    /// The cell as text, as [`Cell::to_text`] renders it.
    pub fn to_text(&self) -> Cow<'a, str> {
        match self {
            CellRef::Empty => Cow::Borrowed(""),
            CellRef::Text(s) => s.clone(),
            CellRef::Integer(i) => Cow::Owned(i.to_string()),
            CellRef::Number(n) => Cow::Owned(n.to_string()),
            CellRef::Date { year, month, day } => {
                Cow::Owned(format!("{year:04}-{month:02}-{day:02}"))
            }
            CellRef::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
        }
    }
}

impl<'a> From<&'a Cell> for CellRef<'a> {
    fn from(cell: &'a Cell) -> Self {
        match cell {
            Cell::Empty => CellRef::Empty,
            // A `Cell::Text` made without `Cell::text` may be empty; it is written as it is.
            Cell::Text(s) => CellRef::Text(Cow::Borrowed(s)),
            Cell::Integer(i) => CellRef::Integer(*i),
            Cell::Number(n) => CellRef::Number(*n),
            Cell::Date { year, month, day } => CellRef::Date {
                year: *year,
                month: *month,
                day: *day,
            },
            Cell::Bool(b) => CellRef::Bool(*b),
        }
    }
}

/// A table whose rows are made one at a time, when a writer asks for them: a large table is
/// written without being held in memory. Rows may be asked for more than once and from several
/// threads; the same index must give the same row each time.
pub trait Rows: Sync {
    /// Sheet name in a workbook; ignored by single-table formats.
    fn name(&self) -> &str;
    /// Column names, in order.
    fn columns(&self) -> &[String];
    /// How many rows.
    fn len(&self) -> usize;
    /// Whether there are no rows.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Row `index` (from 0), one cell per column, appended to `row` (which the caller clears).
    fn row<'a>(&'a self, index: usize, row: &mut Vec<CellRef<'a>>);
}

impl Rows for Table {
    fn name(&self) -> &str {
        &self.name
    }

    fn columns(&self) -> &[String] {
        &self.columns
    }

    fn len(&self) -> usize {
        self.rows.len()
    }

    fn row<'a>(&'a self, index: usize, row: &mut Vec<CellRef<'a>>) {
        if let Some(cells) = self.rows.get(index) {
            row.extend(cells.iter().map(CellRef::from));
        }
    }
}
