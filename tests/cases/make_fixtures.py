#!/usr/bin/env python3
"""Writes the text-based inputs of the end-to-end case folders (tests/cases/*/in/).

Every name and number here is invented. The files are committed; this script documents how they were
made and re-creates them (python3 tests/cases/make_fixtures.py). The .xlsx inputs come from
`regbridge synth` and from the connectors' own writer (see each case's README line in sources.toml).
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

POLICE_HEADER = ["Nr. i rastit", "Data e identifikimit", "Komuna", "Vendi", "Emri", "Emri i babait",
                 "Mbiemri", "Gjinia", "Data e lindjes", "Mosha", "Numri personal", "Komuniteti",
                 "Aktiviteti", "Trafikim"]

# Four police rows: three good ones (with a quoted delimiter, quoted quotes, Serbian spellings,
# an age-only record) and one with an impossible identification date.
POLICE_ROWS = [
    ["PK-T-001", "12.03.2025", "Gjakovë", "Tregu; hyrja", "Arbër", "Ilir", "Krasniqi", "M", "05.06.2013", "", "", "Shqiptar", "Lypje", "Jo"],
    ["PK-T-002", "14.03.2025", "Đakovica", "Qendra", "Dževdet", "", "Gaši", "M", "", "12", "", "Rom", "Shitje në rrugë", "Jo"],
    ["PK-T-003", "15.03.2025", "Prizren", 'Rr. "Nëna Terezë"', "Çlirim", "", "Hoxha", "M", "01.01.2012", "", "", "Ashkali", "Larje xhamash", "Po"],
    ["PK-T-004", "31.02.2025", "Pejë", "Qendra", "Drita", "", "Berisha", "F", "10.10.2014", "", "", "Shqiptar", "Lypje", "Jo"],
]


def csv_text(header, rows, delimiter=";", newline="\r\n"):
    def quote(v):
        if any(c in v for c in (delimiter, '"', "\n", "\r")):
            return '"' + v.replace('"', '""') + '"'
        return v
    return newline.join(delimiter.join(quote(v) for v in row) for row in [header] + rows) + newline


def write(case, name, data):
    folder = os.path.join(HERE, case, "in")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def police_cases():
    text = csv_text(POLICE_HEADER, POLICE_ROWS)
    write("csv_utf8_bom", "police.csv", b"\xef\xbb\xbf" + text.encode("utf-8"))
    write("csv_utf8_comma", "police.csv", csv_text(POLICE_HEADER, POLICE_ROWS, delimiter=",", newline="\n").encode("utf-8"))
    write("csv_utf16le", "police.csv", b"\xff\xfe" + text.encode("utf-16-le"))
    write("csv_utf16be", "police.csv", b"\xfe\xff" + text.encode("utf-16-be"))
    write("csv_windows1250", "police.csv", text.encode("cp1250"))
    # Windows-1252 has no Đ or Serbian č/ć: that office writes Albanian forms only.
    rows_1252 = [list(r) for r in POLICE_ROWS]
    rows_1252[1][2] = "Gjakova"
    rows_1252[1][4] = "Xhevdet"
    rows_1252[1][6] = "Gashi"
    write("csv_windows1252", "police.csv", csv_text(POLICE_HEADER, rows_1252).encode("cp1252"))
    # Malformed: row 3 (line 3) has too few fields; line 5 is cut short too. The others go on.
    lines = csv_text(POLICE_HEADER, POLICE_ROWS).split("\r\n")
    lines[2] = "PK-T-002;14.03.2025;Gjakovë;Qendra"
    bad = "\r\n".join(lines[:4] + ["PK-T-009;01.04.2025"] + lines[4:])
    write("csv_malformed", "police.csv", bad.encode("utf-8"))
    # Drift: an unknown column ("Telefoni") and a renamed one ("Data lindjes" for "Data e lindjes").
    header = [("Data lindjes" if h == "Data e lindjes" else h) for h in POLICE_HEADER] + ["Telefoni"]
    rows = [r + [""] for r in POLICE_ROWS[:3]]
    write("drift_unknown_column", "police.csv", b"\xef\xbb\xbf" + csv_text(header, rows).encode("utf-8"))
    # No header row at all: the first record must not be taken for a header and its cells must never
    # appear as column names in findings or emails.
    no_header = csv_text(POLICE_HEADER, POLICE_ROWS).split("\r\n", 1)[1]
    write("csv_headerless", "police.csv", no_header.encode("utf-8"))
    # A quote opened in row 2 and closed in row 4 swallows row 3; the field count happens to fit.
    r1 = ";".join(POLICE_ROWS[0][:3]) + ';"Tregu'
    r1_rest = 'hyrja";' + ";".join(POLICE_ROWS[0][4:])
    r2 = ";".join(POLICE_ROWS[1])
    tail = csv_text(POLICE_HEADER, POLICE_ROWS[2:]).split("\r\n", 1)[1]
    swallowed = "\r\n".join([";".join(POLICE_HEADER), r1, r2, r1_rest]) + "\r\n" + tail
    write("csv_unbalanced_quote", "police.csv", swallowed.encode("utf-8"))
    # One stray Windows-1252 byte (0x92, a curly apostrophe) in an otherwise UTF-8 file without a BOM.
    stray = csv_text(POLICE_HEADER, POLICE_ROWS).encode("utf-8").replace("Terezë".encode(), "Terezë".encode() + b"\x92")
    write("csv_stray_byte", "police.csv", stray)


def inspection(i, first, last, muni, birth, age, activity, date="2025-04-02"):
    return {
        "inspection_id": f"INS-T-{i:03d}",
        "inspection_date": date,
        "municipality": muni,
        "employer": {"name": f"N.T.P. Test {i}", "nace": "A01"},
        "child": {"first_name": first, "last_name": last, "father_name": None, "sex": "male",
                  "birth_date": birth, "age": age, "personal_number": None, "community": "albanian"},
        "activity": activity,
        "hours_per_week": 20,
        "hazardous": False,
        "outcome": "warning",
    }


INSPECTIONS = [
    inspection(1, "Besnik", "Morina", "Suhareka", "2011-02-03", None, "agriculture"),
    inspection(2, "Петар", "Јовановић", "Грачаница", None, 15, "construction"),
    inspection(3, "Agon", "Shala", "Tirane", "2010-07-08", None, "agriculture"),  # not in Kosovo
]


def json_cases():
    page = {"status": "ok", "page": 1, "page_size": 1000, "total": 3, "data": {"inspections": INSPECTIONS}}
    write("json_records_path", "inspections_0001.json", (json.dumps(page, ensure_ascii=False, indent=2) + "\n").encode())
    write("json_array", "inspections.json", (json.dumps(INSPECTIONS, ensure_ascii=False, indent=2) + "\n").encode())
    lines = [json.dumps(r, ensure_ascii=False) for r in INSPECTIONS]
    write("jsonl", "inspections.jsonl", ("\n".join(lines) + "\n").encode())
    full = json.dumps(page, ensure_ascii=False, indent=2)
    write("json_malformed", "inspections_0001.json", full[: len(full) // 2].encode())
    write("json_malformed", "inspections_0002.json", (json.dumps({"data": {"inspections": INSPECTIONS[:1]}}, ensure_ascii=False) + "\n").encode())
    bad_lines = lines[:1] + ['{"inspection_id": "INS-T-099", "child": {'] + lines[1:]
    write("jsonl_malformed", "inspections.jsonl", ("\n".join(bad_lines) + "\n").encode())


def xlsx_cases():
    # Not a workbook at all (a renamed text file), next to a good one copied from synth output.
    write("xlsx_malformed", "broken.xlsx", b"this is not a zip archive\n")


if __name__ == "__main__":
    police_cases()
    json_cases()
    xlsx_cases()
