//! The spreadsheet inputs of the case folders, written with the connectors' own XLSX writer.
//! Run `cargo test -p regbridge --test e2e -- --ignored write_xlsx_fixtures` to re-create them.

use regbridge_connectors::sink::table::{Cell, Table};
use regbridge_connectors::sink::xlsx::write_xlsx;

use crate::repo_root;

fn date(year: i32, month: u32, day: u32) -> Cell {
    Cell::Date { year, month, day }
}

fn t(s: &str) -> Cell {
    Cell::text(s)
}

/// Five invented CSW cases: a full record, a Serbian office writing Cyrillic with a text date that has
/// the trailing dot, an age-only record with an Excel serial number as referral date, an adult, and
/// the ambiguous "Mitrovica".
pub fn csw_workbook() -> Table {
    let mut table = Table::new("Rastet", &regbridge::synth::CSW_COLUMNS);
    table.rows = vec![
        vec![
            t("QPS-PRI-T01"),
            t("QPS Prishtinë"),
            t("Krasniqi"),
            t("Arbër"),
            t("Ilir"),
            t("M"),
            date(2013, 6, 5),
            Cell::Empty,
            t("1234567892"),
            t("Prishtinë"),
            t("Shqiptar"),
            date(2025, 3, 20),
            t("Lypje"),
            t("Hapur"),
        ],
        vec![
            t("CSR-GRA-T02"),
            t("CSR Gračanica"),
            t("ЈОВАНОВИЋ"),
            t("Петар"),
            t("Марко"),
            t("M"),
            t("25.12.2012."),
            Cell::Empty,
            Cell::Empty,
            t("Грачаница"),
            t("Srbin"),
            date(2025, 4, 1),
            t("Пољопривреда"),
            t("Hapur"),
        ],
        vec![
            t("QPS-PEJ-T03"),
            t("QPS Pejë"),
            t("Berisha"),
            t("Drita"),
            Cell::Empty,
            t("F"),
            Cell::Empty,
            Cell::Integer(13),
            Cell::Empty,
            t("Peja"),
            t("Rom"),
            Cell::Number(45787.0),
            t("Shitje në rrugë"),
            t("Mbyllur"),
        ],
        vec![
            t("QPS-FER-T04"),
            t("QPS Ferizaj"),
            t("Gashi"),
            t("Blerim"),
            Cell::Empty,
            t("M"),
            date(2001, 1, 1),
            Cell::Empty,
            Cell::Empty,
            t("Ferizaj"),
            t("Shqiptar"),
            date(2025, 2, 2),
            t("Lypje"),
            t("Hapur"),
        ],
        vec![
            t("QPS-MIT-T05"),
            t("QPS Mitrovicë"),
            t("Hasani"),
            t("Era"),
            Cell::Empty,
            t("F"),
            date(2012, 9, 9),
            Cell::Empty,
            Cell::Empty,
            t("Mitrovica"),
            t("Ashkali"),
            date(2025, 6, 1),
            t("Mbledhje hekurishtesh"),
            t("Hapur"),
        ],
    ];
    table
}

#[test]
#[ignore = "re-creates committed fixtures"]
fn write_xlsx_fixtures() {
    let root = repo_root().join("tests/cases");
    write_xlsx(&root.join("xlsx/in/qps_rastet.xlsx"), &[csw_workbook()]).unwrap();
    write_xlsx(&root.join("xlsx_malformed/in/good.xlsx"), &[csw_workbook()]).unwrap();
}
