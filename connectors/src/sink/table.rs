//! A neutral, typed table: what the writers (CSV, XLSX, JSON) take, independent of any domain model.

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
