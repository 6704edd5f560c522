//! End-to-end tests of the connectors with real files in a temporary folder: list, read, decode,
//! write and decode again.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;

use regbridge_connectors::sink::{write_csv, write_xlsx, Cell, CsvWriteOptions, Table};
use regbridge_connectors::source::{list_files, read_file};
use regbridge_connectors::{
    decode, CsvFormat, Format, JsonFormat, Location, TextEncoding, XlsxFormat,
};
use serde_json::{json, Value};

fn csv_format(delimiter: char, encoding: TextEncoding) -> Format {
    Format::Csv(CsvFormat {
        delimiter,
        encoding,
        ..CsvFormat::default()
    })
}

fn read(dir: &Path, name: &str) -> Vec<u8> {
    read_file(dir, &dir.join(name)).unwrap().bytes
}

#[test]
fn csv_files_in_several_encodings() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(
        dir.join("a_semicolon.csv"),
        "id;name;address\n1;\"Krasniqi; Arta\";\"Rruga 1\nGjakovë\"\n2;Peć;\n",
    )
    .unwrap();
    let mut bom = b"\xEF\xBB\xBF".to_vec();
    bom.extend_from_slice("id,place\n1,Štrpce\n".as_bytes());
    fs::write(dir.join("b_bom.csv"), &bom).unwrap();
    let mut utf16 = vec![0xFF, 0xFE];
    for unit in "id,place\r\n1,Đakovica\r\n2,Čekić\r\n".encode_utf16() {
        utf16.extend_from_slice(&unit.to_le_bytes());
    }
    fs::write(dir.join("c_utf16.csv"), &utf16).unwrap();
    fs::write(dir.join("d_broken.csv"), "a,b,c\n1,2,3\n4,5\n6,7,8\n").unwrap();

    let files = list_files(dir, "*.csv").unwrap();
    let names: Vec<_> = files
        .iter()
        .map(|p| read_file(dir, p).unwrap().name)
        .collect();
    assert_eq!(
        names,
        [
            "a_semicolon.csv",
            "b_bom.csv",
            "c_utf16.csv",
            "d_broken.csv"
        ]
    );

    let semicolon = decode(
        &read(dir, "a_semicolon.csv"),
        &csv_format(';', TextEncoding::Auto),
    );
    assert!(semicolon.problems.is_empty());
    assert_eq!(semicolon.records.len(), 2);
    assert_eq!(semicolon.records[0].location, Location::Row(2));
    assert_eq!(semicolon.records[1].location, Location::Row(4));
    assert_eq!(semicolon.records[0].fields["name"], json!("Krasniqi; Arta"));
    assert_eq!(
        semicolon.records[0].fields["address"],
        json!("Rruga 1\nGjakovë")
    );
    assert_eq!(semicolon.records[1].fields["address"], Value::Null);

    let bom = decode(
        &read(dir, "b_bom.csv"),
        &csv_format(',', TextEncoding::Utf8),
    );
    assert_eq!(bom.columns, ["id", "place"]);
    assert_eq!(bom.records[0].fields["place"], json!("Štrpce"));

    let utf16 = decode(
        &read(dir, "c_utf16.csv"),
        &csv_format(',', TextEncoding::Auto),
    );
    assert_eq!(utf16.encoding, Some("UTF-16LE"));
    assert_eq!(utf16.columns, ["id", "place"]);
    assert_eq!(utf16.records[1].fields["place"], json!("Čekić"));
    assert_eq!(utf16.records[1].location, Location::Row(3));

    let broken = decode(
        &read(dir, "d_broken.csv"),
        &csv_format(',', TextEncoding::Auto),
    );
    assert_eq!(broken.records.len(), 2);
    assert_eq!(broken.records[1].location, Location::Row(4));
    assert_eq!(broken.problems.len(), 1);
    assert_eq!(broken.problems[0].location, Location::Row(3));
    assert!(broken.problems[0].lost);
    assert_eq!(
        broken.problems[0].message,
        "row 3 has 2 fields, the header has 3"
    );
}

#[test]
fn windows_1250_written_and_read_back() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("places.csv");
    let mut table = Table::new("places", &["place"]);
    for name in ["Gjakovë", "Đakovica", "Peć", "Štrpce", "Čekić"] {
        table.rows.push(vec![Cell::text(name)]);
    }
    let options = CsvWriteOptions {
        encoding: TextEncoding::Windows1250,
        ..CsvWriteOptions::default()
    };
    write_csv(&path, &table, &options).unwrap();
    let bytes = read(tmp.path(), "places.csv");
    for encoding in [TextEncoding::Windows1250, TextEncoding::Auto] {
        let decoded = decode(&bytes, &csv_format(',', encoding));
        assert_eq!(decoded.encoding, Some("windows-1250"));
        let names: Vec<_> = decoded
            .records
            .iter()
            .map(|r| r.fields["place"].as_str().unwrap().to_string())
            .collect();
        assert_eq!(names, ["Gjakovë", "Đakovica", "Peć", "Štrpce", "Čekić"]);
    }

    let mut table = Table::new("west", &["place"]);
    table.rows.push(vec![Cell::text("Gjakovë")]);
    table.rows.push(vec![Cell::text("Mamuşa")]);
    let options = CsvWriteOptions {
        encoding: TextEncoding::Windows1252,
        ..CsvWriteOptions::default()
    };
    let error = write_csv(&tmp.path().join("west.csv"), &table, &options).unwrap_err();
    let message = error.to_string();
    assert!(message.contains("west.csv"), "{message}");
    assert!(message.contains("row 3"), "{message}");
    assert!(message.contains("U+015F"), "{message}");
    assert!(message.contains("\"place\""), "{message}");
    assert!(!message.contains("Mamu"), "{message}");
}

#[test]
fn spreadsheet_with_dates_gaps_and_error_cells() {
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("social.xlsx");
    {
        use rust_xlsxwriter::{ExcelDateTime, Format as CellFormat, Formula, Workbook};
        let mut workbook = Workbook::new();
        let sheet = workbook.add_worksheet();
        sheet.set_name("Raporti").unwrap();
        sheet.write_string(0, 0, "Raporti mujor").unwrap();
        for (col, name) in [
            "Emri",
            "Datëlindja",
            "Mosha",
            "Pesha",
            "Aktiv",
            "Llogaritje",
        ]
        .iter()
        .enumerate()
        {
            sheet.write_string(2, col as u16, *name).unwrap();
        }
        let date = CellFormat::new().set_num_format("dd.mm.yyyy");
        let datetime = CellFormat::new().set_num_format("dd.mm.yyyy hh:mm");
        sheet.write_string(3, 0, "Arta").unwrap();
        sheet
            .write_datetime_with_format(3, 1, ExcelDateTime::from_ymd(2011, 7, 4).unwrap(), &date)
            .unwrap();
        sheet.write_number(3, 2, 12.0).unwrap();
        sheet.write_number(3, 3, 41.5).unwrap();
        sheet.write_boolean(3, 4, true).unwrap();
        sheet
            .write_formula(3, 5, Formula::new("=1/0").set_result("#DIV/0!"))
            .unwrap();
        // Row 5 is blank and skipped.
        sheet.write_string(5, 0, "Besa").unwrap();
        sheet
            .write_datetime_with_format(
                5,
                1,
                ExcelDateTime::parse_from_str("2012-01-02 08:30:00").unwrap(),
                &datetime,
            )
            .unwrap();
        sheet.write_string(5, 2, "").unwrap();
        workbook.save(&path).unwrap();
    }
    let bytes = read(tmp.path(), "social.xlsx");
    let decoded = decode(
        &bytes,
        &Format::Xlsx(XlsxFormat {
            sheet: Some("Raporti".into()),
            header_row: 3,
        }),
    );
    assert_eq!(
        decoded.columns,
        [
            "Emri",
            "Datëlindja",
            "Mosha",
            "Pesha",
            "Aktiv",
            "Llogaritje"
        ]
    );
    assert_eq!(decoded.records.len(), 2);
    let first = &decoded.records[0];
    assert_eq!(first.location, Location::Row(4));
    assert_eq!(first.fields["Datëlindja"], json!("2011-07-04"));
    assert_eq!(first.fields["Mosha"], json!(12));
    assert_eq!(first.fields["Pesha"], json!(41.5));
    assert_eq!(first.fields["Aktiv"], json!(true));
    assert_eq!(first.fields["Llogaritje"], Value::Null);
    let second = &decoded.records[1];
    assert_eq!(second.location, Location::Row(6));
    assert_eq!(second.fields["Datëlindja"], json!("2012-01-02T08:30:00"));
    assert_eq!(second.fields["Mosha"], Value::Null);
    assert_eq!(second.fields["Aktiv"], Value::Null);
    assert_eq!(decoded.problems.len(), 1);
    assert_eq!(decoded.problems[0].location, Location::Row(4));
    assert_eq!(decoded.problems[0].column.as_deref(), Some("Llogaritje"));
    assert!(!decoded.problems[0].lost, "the record is kept");
    assert!(decoded.problems[0].message.contains("#DIV/0!"));

    fs::write(tmp.path().join("fake.xlsx"), "Emri,Mosha\nArta,12\n").unwrap();
    let fake = decode(
        &read(tmp.path(), "fake.xlsx"),
        &Format::Xlsx(XlsxFormat::default()),
    );
    assert!(fake.records.is_empty());
    assert_eq!(fake.problems.len(), 1);
    assert_eq!(fake.problems[0].location, Location::File);
    assert!(fake.problems[0].lost);
}

#[test]
fn xlsx_written_twice_is_byte_identical() {
    let tmp = tempfile::tempdir().unwrap();
    let mut table = Table::new("cases", &["id", "born"]);
    for i in 0..50 {
        table.rows.push(vec![
            Cell::Integer(i),
            Cell::Date {
                year: 2010,
                month: 1,
                day: 1 + (i as u32 % 28),
            },
        ]);
    }
    let a = tmp.path().join("a.xlsx");
    let b = tmp.path().join("b.xlsx");
    write_xlsx(&a, std::slice::from_ref(&table)).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    write_xlsx(&b, &[table]).unwrap();
    assert_eq!(fs::read(a).unwrap(), fs::read(b).unwrap());
}

#[test]
fn json_documents_and_lines() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    fs::write(
        dir.join("inspections.json"),
        r#"{"data": {"inspections": [{"id": "I-1", "children": 2}, "oops", {"id": "I-3", "site": "Peć"}]}}"#,
    )
    .unwrap();
    fs::write(
        dir.join("truncated.json"),
        "[{\"id\": 1},\n{\"id\": 2, \"name\": \"Ar",
    )
    .unwrap();
    fs::write(
        dir.join("visits.jsonl"),
        "{\"id\":1}\n{\"id\":2,\n\n{\"id\":3,\"x\":true}\n",
    )
    .unwrap();

    let files = list_files(dir, "*.json*").unwrap();
    assert_eq!(files.len(), 3);

    let decoded = decode(
        &read(dir, "inspections.json"),
        &Format::Json(JsonFormat {
            records_path: Some("data.inspections".into()),
        }),
    );
    assert_eq!(decoded.columns, ["id", "children", "site"]);
    assert_eq!(decoded.records.len(), 2);
    assert_eq!(
        decoded.records[1].location,
        Location::Pointer("/data/inspections/2".into())
    );
    assert_eq!(decoded.problems.len(), 1);
    assert_eq!(
        decoded.problems[0].location,
        Location::Pointer("/data/inspections/1".into())
    );
    assert!(decoded.problems[0].lost);

    let truncated = decode(
        &read(dir, "truncated.json"),
        &Format::Json(JsonFormat::default()),
    );
    assert!(truncated.records.is_empty());
    assert_eq!(truncated.problems.len(), 1);
    assert_eq!(truncated.problems[0].location, Location::File);
    assert!(truncated.problems[0].lost);
    assert!(truncated.problems[0]
        .message
        .starts_with("not valid JSON at line 2 column"));

    let lines = decode(&read(dir, "visits.jsonl"), &Format::JsonLines);
    assert_eq!(lines.records.len(), 2);
    assert_eq!(lines.records[1].location, Location::Line(4));
    assert_eq!(lines.problems.len(), 1);
    assert_eq!(lines.problems[0].location, Location::Line(2));
    assert!(lines.problems[0].lost);
}

/// A sheet of 1,000,000 rows in constant-memory mode. Slow in debug builds: run with
/// `cargo test -p regbridge-connectors --release -- --ignored million`.
#[test]
#[ignore]
fn million_row_sheet() {
    let tmp = tempfile::tempdir().unwrap();
    let mut table = Table::new("big", &["id", "name", "born"]);
    table.rows.reserve(1_000_000);
    for i in 0..1_000_000_i64 {
        table.rows.push(vec![
            Cell::Integer(i),
            Cell::text(format!("name {i}")),
            Cell::Date {
                year: 2010,
                month: 1,
                day: 1 + (i % 28) as u32,
            },
        ]);
    }
    let path = tmp.path().join("big.xlsx");
    write_xlsx(&path, &[table]).unwrap();
    assert!(fs::metadata(&path).unwrap().len() > 1_000_000);
}
