//! Tests of the generator against the real reference data: determinism, sizes and shares, defects
//! (each record breaks exactly its one rule, and clean records break none), families and twins,
//! Cyrillic, ground truth, the written files, and a timing check for a million records.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::OnceLock;

use chrono::NaiveDate;
use regbridge_connectors::sink::table::Cell;
use serde_json::Value;

use super::names::{
    ALBANIAN_FATHERS, ALBANIAN_FEMALE, ALBANIAN_MALE, ALBANIAN_SURNAMES, BOSNIAK_FEMALE,
    BOSNIAK_MALE, BOSNIAK_SURNAMES, RAE_FEMALE, RAE_MALE, RAE_SURNAMES, SERBIAN_FATHERS,
    SERBIAN_FEMALE, SERBIAN_MALE, SERBIAN_SURNAMES, TURKISH_FEMALE, TURKISH_MALE, TURKISH_SURNAMES,
};
use super::population::age_at;
use super::render::EMPLOYER_WORDS;
use super::*;
use crate::reference::{PlaceMatch, Reference};

fn reference() -> &'static Reference {
    static REFERENCE: OnceLock<Reference> = OnceLock::new();
    REFERENCE.get_or_init(|| {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reference");
        Reference::load(&dir, "kas_districts").expect("reference data loads")
    })
}

fn dataset_20k() -> &'static SynthDataset {
    static DATASET: OnceLock<SynthDataset> = OnceLock::new();
    DATASET.get_or_init(|| {
        generate(
            &SynthOptions {
                records: 20_000,
                seed: 7,
            },
            reference(),
        )
    })
}

fn all_rows(d: &SynthDataset) -> (Vec<Vec<Cell>>, Vec<Vec<Cell>>, Vec<Value>) {
    (
        d.police_rows().collect(),
        d.csw_rows().collect(),
        d.inspections().collect(),
    )
}

#[test]
fn same_seed_same_dataset_other_seed_other_dataset() {
    let options = SynthOptions {
        records: 2_000,
        seed: 42,
    };
    let a = generate(&options, reference());
    let b = generate(&options, reference());
    assert_eq!(a.truth(), b.truth());
    assert_eq!(all_rows(&a), all_rows(&b));
    let c = generate(
        &SynthOptions {
            records: 2_000,
            seed: 43,
        },
        reference(),
    );
    assert_ne!(a.truth(), c.truth());
    assert_ne!(all_rows(&a).0, all_rows(&c).0);
}

#[test]
fn totals_are_close_to_the_request() {
    for records in [2_000usize, 20_000] {
        let d = if records == 20_000 {
            dataset_20k().clone()
        } else {
            generate(&SynthOptions { records, seed: 1 }, reference())
        };
        let n = d.len() as f64;
        assert!(
            (n - records as f64).abs() <= 0.05 * records as f64,
            "{records} requested, {n} generated"
        );
    }
    let empty = generate(
        &SynthOptions {
            records: 0,
            seed: 1,
        },
        reference(),
    );
    assert!(empty.is_empty());
    assert_eq!(empty.children(), 0);
}

#[test]
fn shares_per_source_and_institutions_per_child() {
    let d = dataset_20k();
    let per = d.records_per_source();
    let n = d.len() as f64;
    let share = |s: &str| per[s] as f64 / n;
    assert!((0.36..0.44).contains(&share("police")), "{per:?}");
    assert!((0.36..0.44).contains(&share("csw")), "{per:?}");
    assert!((0.17..0.23).contains(&share("inspectorate")), "{per:?}");
    let by = d.children_by_institutions();
    let children = d.children() as f64;
    let frac = |k: usize| by.get(&k).copied().unwrap_or(0) as f64 / children;
    assert!((0.42..0.52).contains(&frac(1)), "{by:?}");
    assert!((0.32..0.42).contains(&frac(2)), "{by:?}");
    assert!((0.12..0.20).contains(&frac(3)), "{by:?}");
    // Duplicates within one institution: about 5 % of the records.
    let mut per_child_source: BTreeMap<(u32, Source), usize> = BTreeMap::new();
    for r in &d.reports {
        *per_child_source.entry((r.child, r.source)).or_insert(0) += 1;
    }
    let duplicates: usize = per_child_source.values().map(|c| c - 1).sum();
    let dup_share = duplicates as f64 / n;
    assert!((0.035..0.065).contains(&dup_share), "{dup_share}");
    // Personal numbers for about a quarter of the children, mostly 14 and older.
    let with_number = d
        .children
        .iter()
        .filter(|c| c.personal_number.is_some())
        .count() as f64;
    assert!(
        (0.18..0.32).contains(&(with_number / children)),
        "{with_number}"
    );
}

#[test]
fn every_child_is_reported_and_truth_covers_every_record_once() {
    let d = dataset_20k();
    let reported: BTreeSet<u32> = d.reports.iter().map(|r| r.child).collect();
    assert_eq!(reported.len(), d.children());
    let truth = d.truth();
    assert_eq!(truth.len(), d.len());
    let keys: BTreeSet<(&str, &str)> = truth
        .iter()
        .map(|t| (t.source.name(), t.record_id.as_str()))
        .collect();
    assert_eq!(keys.len(), truth.len(), "record ids repeat");
    let sorted = truth
        .windows(2)
        .all(|w| (w[0].source.name(), &w[0].record_id) < (w[1].source.name(), &w[1].record_id));
    assert!(sorted);
    // The ids in the exports are exactly the ids in the truth.
    let (police, csw, inspections) = all_rows(d);
    let mut exported: BTreeSet<(&str, String)> = BTreeSet::new();
    for row in &police {
        exported.insert(("police", row[0].to_text()));
    }
    for row in &csw {
        exported.insert(("csw", row[0].to_text()));
    }
    for i in &inspections {
        exported.insert((
            "inspectorate",
            i["inspection_id"].as_str().unwrap().to_string(),
        ));
    }
    let truth_keys: BTreeSet<(&str, String)> = truth
        .iter()
        .map(|t| (t.source.name(), t.record_id.clone()))
        .collect();
    assert_eq!(exported, truth_keys);
    assert!(truth[0].child.starts_with('K') && truth[0].child.len() == 8);
}

#[test]
fn families_siblings_and_twins() {
    let d = dataset_20k();
    let mut families: BTreeMap<u32, Vec<&population::Child>> = BTreeMap::new();
    for c in &d.children {
        families.entry(c.family).or_default().push(c);
    }
    let mut twins = 0;
    let mut families_with_twins = 0;
    for members in families.values() {
        let first = members[0];
        let given: BTreeSet<&str> = members.iter().map(|c| c.given).collect();
        assert_eq!(given.len(), members.len(), "siblings share a given name");
        let mut has_twins = false;
        for c in members {
            assert_eq!(c.surname, first.surname);
            assert_eq!(c.father, first.father);
            assert_eq!(c.home, first.home);
            assert_eq!(c.community, first.community);
        }
        for (i, a) in members.iter().enumerate() {
            for b in members.iter().skip(i + 1) {
                if a.birth == b.birth {
                    twins += 1;
                    has_twins = true;
                    assert_ne!(a.given, b.given);
                } else {
                    let gap = (a.birth - b.birth).num_days().abs();
                    assert!(gap >= 300, "siblings {gap} days apart");
                }
            }
        }
        families_with_twins += usize::from(has_twins);
    }
    assert!(twins > 10, "{twins} twin pairs");
    let share = families_with_twins as f64 / families.len() as f64;
    assert!((0.015..0.05).contains(&share), "{share}");
    let boys = d.children.iter().filter(|c| c.male).count() as f64 / d.children() as f64;
    assert!((0.55..0.65).contains(&boys), "{boys}");
    // Communities: about 70 % Albanian, 18 % RAE, 8 % Serb, 4 % others (by family).
    let serbs = d
        .children
        .iter()
        .filter(|c| d.lexicon.communities[usize::from(c.community)].code == "serb")
        .collect::<Vec<_>>();
    let serb_share = serbs.len() as f64 / d.children() as f64;
    assert!((0.05..0.11).contains(&serb_share), "{serb_share}");
    let in_serb_offices = serbs
        .iter()
        .filter(|c| d.lexicon.places[usize::from(c.home)].serbian_office)
        .count() as f64;
    assert!(in_serb_offices / serbs.len() as f64 > 0.7);
}

#[test]
fn names_collide_and_employers_are_not_people() {
    let d = dataset_20k();
    let mut counts: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for c in &d.children {
        *counts.entry((c.given, c.surname)).or_insert(0) += 1;
    }
    let colliding = counts.values().filter(|&&n| n > 1).count();
    assert!(colliding > 50, "{colliding} colliding name pairs");
    let folder = &reference().folder;
    let names: BTreeSet<String> = [
        ALBANIAN_MALE,
        ALBANIAN_FEMALE,
        ALBANIAN_SURNAMES,
        ALBANIAN_FATHERS,
        RAE_MALE,
        RAE_FEMALE,
        RAE_SURNAMES,
        SERBIAN_MALE,
        SERBIAN_FEMALE,
        SERBIAN_SURNAMES,
        SERBIAN_FATHERS,
        BOSNIAK_MALE,
        BOSNIAK_FEMALE,
        BOSNIAK_SURNAMES,
        TURKISH_MALE,
        TURKISH_FEMALE,
        TURKISH_SURNAMES,
    ]
    .iter()
    .flat_map(|l| l.iter().map(|n| folder.fold(n)))
    .collect();
    for w in EMPLOYER_WORDS {
        assert!(!names.contains(&folder.fold(w)), "{w} is a name");
    }
    for i in d.inspections().take(2000) {
        for word in i["employer"]["name"].as_str().unwrap().split(' ') {
            assert!(
                !names.contains(&folder.fold(word)),
                "{word} in an employer name"
            );
        }
    }
}

#[test]
fn serbian_offices_write_cyrillic_and_serbian_spellings() {
    let d = dataset_20k();
    let cyrillic = |s: &str| s.chars().any(|c| ('\u{0400}'..='\u{04FF}').contains(&c));
    let (_, csw, _) = all_rows(d);
    let serbian: Vec<&Vec<Cell>> = csw
        .iter()
        .filter(|r| r[0].to_text().starts_with("CSR-"))
        .collect();
    assert!(!serbian.is_empty());
    let with_cyrillic = serbian.iter().filter(|r| cyrillic(&r[3].to_text())).count() as f64;
    let share = with_cyrillic / serbian.len() as f64;
    assert!((0.45..0.75).contains(&share), "{share}");
    assert!(serbian.iter().all(|r| r[1].to_text().starts_with("CSR ")));
    let albanian_offices = csw.iter().filter(|r| r[0].to_text().starts_with("QPS-"));
    assert!(albanian_offices.clone().all(|r| !cyrillic(&r[3].to_text())));
    assert!(albanian_offices
        .clone()
        .all(|r| r[1].to_text().starts_with("QPS ")));
    // Albanian names appear in Serbian spelling (no Albanian digraphs left in Latin rows).
    let serbianized = serbian
        .iter()
        .map(|r| r[2].to_text())
        .any(|s| s.contains('ć') || s.contains('Ć') || s.contains("ИЋ") || s.contains('ћ'));
    assert!(serbianized);
    // Dates are real date cells, some typed as text.
    let dates = csw
        .iter()
        .filter(|r| matches!(r[6], Cell::Date { .. }))
        .count();
    let texts = csw.iter().filter(|r| matches!(r[6], Cell::Text(_))).count();
    assert!(dates > texts * 5 && texts > 0);
    assert!(csw.iter().any(|r| r[6].to_text().ends_with('.')));
}

/// What a pipeline would take out of a record, for checking it against the rules.
struct Extract {
    given: String,
    surname: String,
    municipality: String,
    event: Option<Option<NaiveDate>>,
    birth: Option<Option<NaiveDate>>,
    age: Option<i64>,
    community: String,
    activity: String,
    sex: String,
}

fn parse_dmy(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text.trim_end_matches('.'), "%d.%m.%Y").ok()
}

fn parse_iso(text: &str) -> Option<NaiveDate> {
    NaiveDate::parse_from_str(text, "%Y-%m-%d").ok()
}

fn text_date(cell: &Cell, parse: fn(&str) -> Option<NaiveDate>) -> Option<Option<NaiveDate>> {
    match cell {
        Cell::Empty => None,
        Cell::Date { year, month, day } => Some(NaiveDate::from_ymd_opt(*year, *month, *day)),
        other => Some(parse(&other.to_text())),
    }
}

fn integer(cell: &Cell) -> Option<i64> {
    match cell {
        Cell::Empty => None,
        Cell::Integer(i) => Some(*i),
        other => Some(other.to_text().parse().unwrap()),
    }
}

fn police_extract(row: &[Cell]) -> Extract {
    Extract {
        given: row[4].to_text(),
        surname: row[6].to_text(),
        municipality: row[2].to_text(),
        event: text_date(&row[1], parse_dmy),
        birth: text_date(&row[8], parse_dmy),
        age: integer(&row[9]),
        community: row[11].to_text(),
        activity: row[12].to_text(),
        sex: row[7].to_text(),
    }
}

fn csw_extract(row: &[Cell]) -> Extract {
    Extract {
        given: row[3].to_text(),
        surname: row[2].to_text(),
        municipality: row[9].to_text(),
        event: text_date(&row[11], parse_dmy),
        birth: text_date(&row[6], parse_dmy),
        age: integer(&row[7]),
        community: row[10].to_text(),
        activity: row[12].to_text(),
        sex: row[5].to_text(),
    }
}

fn inspection_extract(i: &Value) -> Extract {
    let date = |v: &Value| v.as_str().map(parse_iso);
    Extract {
        given: i["child"]["first_name"].as_str().unwrap().to_string(),
        surname: i["child"]["last_name"].as_str().unwrap().to_string(),
        municipality: i["municipality"].as_str().unwrap().to_string(),
        event: date(&i["inspection_date"]),
        birth: date(&i["child"]["birth_date"]),
        age: i["child"]["age"].as_i64(),
        community: i["child"]["community"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        activity: i["activity"].as_str().unwrap().to_string(),
        sex: i["child"]["sex"].as_str().unwrap().to_string(),
    }
}

/// The rules a record breaks, as the pipeline's rules are meant to see them.
fn broken_rules(e: &Extract, reference: &Reference) -> BTreeSet<&'static str> {
    let as_of = NaiveDate::from_ymd_opt(2026, 11, 23).unwrap();
    let mut broken = BTreeSet::new();
    if e.given.trim().is_empty() {
        broken.insert("given_name.required");
    }
    if e.surname.trim().is_empty() {
        broken.insert("surname.required");
    }
    if !matches!(reference.place(&e.municipality), PlaceMatch::Known(_)) {
        broken.insert("municipality.known");
    }
    let event = match e.event {
        None => {
            broken.insert("event_date.required");
            None
        }
        Some(None) => panic!("unparseable event date"),
        Some(Some(d)) => Some(d),
    };
    if event.is_some_and(|d| d > as_of) {
        broken.insert("event_date.not_future");
    }
    let birth = match e.birth {
        Some(None) => {
            broken.insert("birth_date.valid");
            None
        }
        Some(Some(d)) => Some(d),
        None => None,
    };
    if let (Some(b), Some(ev)) = (birth, event) {
        if b > ev {
            broken.insert("birth_date.before_event");
        } else if !(5..=17).contains(&age_at(b, ev)) {
            broken.insert("age.child");
        }
    }
    if e.age.is_some_and(|a| !(5..=17).contains(&a)) {
        broken.insert("age.child");
    }
    // A blank community is a question left unanswered, not a broken rule.
    assert!(
        e.community.is_empty() || reference.community(&e.community).is_some(),
        "{}",
        e.community
    );
    assert!(reference.activity(&e.activity).is_some(), "{}", e.activity);
    assert!(reference.sex(&e.sex).is_some(), "{}", e.sex);
    broken
}

#[test]
fn each_defect_breaks_exactly_its_rule_and_clean_records_break_none() {
    let d = dataset_20k();
    let reference = reference();
    let truth: BTreeMap<(&str, String), Option<Defect>> = d
        .truth()
        .into_iter()
        .map(|t| ((t.source.name(), t.record_id), t.defect))
        .collect();
    let (police, csw, inspections) = all_rows(d);
    let mut checked = 0;
    let mut per_defect: BTreeMap<&str, usize> = BTreeMap::new();
    let mut check = |source: &'static str, id: String, e: Extract| {
        let defect = truth[&(source, id.clone())];
        let expected: BTreeSet<&str> = defect.map(Defect::rule_id).into_iter().collect();
        let broken = broken_rules(&e, reference);
        assert_eq!(broken, expected, "{source} {id}");
        if let Some(defect) = defect {
            *per_defect.entry(defect.rule_id()).or_insert(0) += 1;
        }
        checked += 1;
    };
    for row in &police {
        assert_eq!(row.len(), POLICE_COLUMNS.len());
        check("police", row[0].to_text(), police_extract(row));
    }
    for row in &csw {
        assert_eq!(row.len(), CSW_COLUMNS.len());
        check("csw", row[0].to_text(), csw_extract(row));
    }
    for i in &inspections {
        let id = i["inspection_id"].as_str().unwrap().to_string();
        check("inspectorate", id, inspection_extract(i));
    }
    assert_eq!(checked, d.len());
    let defects: usize = per_defect.values().sum();
    let share = defects as f64 / d.len() as f64;
    assert!((0.022..0.038).contains(&share), "{share}");
    assert_eq!(per_defect.len(), Defect::ALL.len(), "{per_defect:?}");
    assert_eq!(d.defects(), defects);
}

#[test]
fn noise_appears_as_described() {
    let d = dataset_20k();
    let (police, csw, inspections) = all_rows(d);
    let n = police.len() as f64;
    let frac = |count: usize| count as f64 / n;
    let no_father = police.iter().filter(|r| r[5] == Cell::Empty).count();
    assert!((0.45..0.55).contains(&frac(no_father)));
    let no_birth = police.iter().filter(|r| r[8] == Cell::Empty).count();
    assert!((0.30..0.42).contains(&frac(no_birth)));
    let estimated = police
        .iter()
        .filter(|r| r[8].to_text().starts_with("01.01."))
        .count();
    assert!(estimated > 0);
    let long_sex = police.iter().filter(|r| r[7].to_text().len() > 1).count();
    assert!((0.06..0.14).contains(&frac(long_sex)));
    assert!(police
        .iter()
        .any(|r| r[2].to_text().starts_with("Komuna e ")));
    assert!(police.iter().any(|r| {
        let m = r[2].to_text();
        m.len() > 3 && m == m.to_uppercase()
    }));
    assert!(police
        .iter()
        .all(|r| r[13] == Cell::text("Po") || r[13] == Cell::text("Jo")));
    assert!(police.iter().all(|r| r[0].to_text().starts_with("PK-20")));
    let father_csw = csw.iter().filter(|r| r[4] != Cell::Empty).count() as f64 / csw.len() as f64;
    assert!((0.80..0.90).contains(&father_csw));
    let codes: BTreeSet<&str> = inspections
        .iter()
        .filter_map(|i| i["child"]["community"].as_str())
        .collect();
    assert!(codes.contains("albanian") && codes.contains("roma"));
    assert!(inspections
        .iter()
        .all(|i| i["inspection_id"].as_str().unwrap().starts_with("INS-20")));
    let toggled = inspections
        .iter()
        .filter(|i| {
            let last = i["child"]["last_name"].as_str().unwrap();
            last == "Hasan" || last == "Krasniq" || last == "Gash"
        })
        .count();
    assert!(toggled > 0);
}

#[test]
fn records_mostly_state_the_familys_community_and_some_leave_it_blank_or_confuse_it() {
    let d = dataset_20k();
    let inspections: Vec<Value> = d.inspections().collect();
    let range = d.range(Source::Inspectorate);
    let mut stated = BTreeMap::<&str, usize>::new();
    let mut rae_confused = 0;
    let mut rae = 0;
    for (i, inspection) in range.zip(&inspections) {
        let (child, _) = d.parts(i).unwrap();
        let own = &d.lexicon.communities[usize::from(child.community)];
        let recorded = inspection["child"]["community"].as_str();
        let kind = match recorded {
            None => "blank",
            Some(code) if code == own.code => "own",
            Some(_) => "other",
        };
        *stated.entry(kind).or_default() += 1;
        if own.kind.is_rae() {
            rae += 1;
            rae_confused += usize::from(kind == "other");
        }
    }
    let n = inspections.len() as f64;
    let share = |kind: &str| stated.get(kind).copied().unwrap_or(0) as f64 / n;
    assert!((0.85..0.95).contains(&share("own")), "{stated:?}");
    assert!((0.03..0.07).contains(&share("blank")), "{stated:?}");
    assert!((0.01..0.06).contains(&share("other")), "{stated:?}");
    // Roma, Ashkali and Egyptian children are confused far more often than the others.
    let rae_share = rae_confused as f64 / rae as f64;
    assert!((0.10..0.20).contains(&rae_share), "{rae_confused} of {rae}");
}

#[test]
fn writes_the_exports_deterministically() {
    let d = generate(
        &SynthOptions {
            records: 3_000,
            seed: 5,
        },
        reference(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let assets = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let write_to = |name: &str| {
        let options = SynthWriteOptions {
            out_dir: tmp.path().join(name),
            assets_dir: assets.clone(),
        };
        write(&d, &options).unwrap()
    };
    let a = write_to("a");
    let b = write_to("b");
    assert_eq!(a.files.len(), b.files.len());
    for (fa, fb) in a.files.iter().zip(&b.files) {
        assert_eq!(fa.file_name(), fb.file_name());
        assert_eq!(
            std::fs::read(fa).unwrap(),
            std::fs::read(fb).unwrap(),
            "{fa:?}"
        );
    }
    let out = tmp.path().join("a");
    assert_eq!(a.records_per_source, d.records_per_source());
    assert_eq!(a.children, d.children());

    let police = std::fs::read(out.join("police/identifikimet.csv")).unwrap();
    assert!(police.starts_with(b"\xEF\xBB\xBF"));
    let text = String::from_utf8(police[3..].to_vec()).unwrap();
    let header = "Nr. i rastit;Data e identifikimit;Komuna;Vendi;Emri;Emri i babait;Mbiemri;\
                  Gjinia;Data e lindjes;Mosha;Numri personal;Komuniteti;Aktiviteti;Trafikim\r\n";
    assert!(text.starts_with(header));
    assert_eq!(
        text.matches("\r\n").count(),
        a.records_per_source["police"] + 1
    );

    let pages = a.records_per_source["inspectorate"].div_ceil(1000);
    for page in 1..=pages {
        let path = out.join(format!("inspectorate/inspections_{page:04}.json"));
        let v: Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(v["status"], "ok");
        assert_eq!(v["page"], page);
        assert_eq!(v["total"], a.records_per_source["inspectorate"]);
        let len = v["data"]["inspections"].as_array().unwrap().len();
        assert!(len == 1000 || page == pages);
    }

    use calamine::{Data, Reader};
    let mut workbook: calamine::Xlsx<_> =
        calamine::open_workbook(out.join("csw/qps_rastet.xlsx")).unwrap();
    let range = workbook.worksheet_range("Rastet").unwrap();
    let header: Vec<String> = range
        .rows()
        .next()
        .unwrap()
        .iter()
        .map(|c| c.to_string())
        .collect();
    assert_eq!(header, CSW_COLUMNS);
    assert_eq!(range.height(), a.records_per_source["csw"] + 1);
    assert!(range
        .rows()
        .skip(1)
        .any(|r| matches!(r[11], Data::DateTime(_))));

    let truth = std::fs::read_to_string(out.join("truth.csv")).unwrap();
    assert!(truth.starts_with("source,record_id,child,defect\n"));
    assert_eq!(truth.lines().count(), d.len() + 1);
    assert!(!truth.contains('\r'));

    let config: toml::Value =
        toml::from_str(&std::fs::read_to_string(out.join("config.toml")).unwrap()).unwrap();
    let schemas = config["paths"]["schemas"].as_str().unwrap();
    assert!(
        out.join(schemas).canonicalize().unwrap() == assets.join("schemas").canonicalize().unwrap()
            || !schemas.starts_with('.'),
        "{schemas}"
    );
    assert_eq!(config["sources"]["police"]["path"].as_str(), Some("police"));
    assert_eq!(
        config["institutions"]["inspectorate"]["language"].as_str(),
        Some("en")
    );

    // The connectors decode every export without a problem, one record per row.
    use regbridge_connectors::{decode, CsvFormat, Format, JsonFormat, XlsxFormat};
    let police = decode(
        &std::fs::read(out.join("police/identifikimet.csv")).unwrap(),
        &Format::Csv(CsvFormat {
            delimiter: ';',
            ..CsvFormat::default()
        }),
    );
    assert!(police.problems.is_empty(), "{:?}", police.problems);
    assert_eq!(police.columns, POLICE_COLUMNS);
    assert_eq!(police.records.len(), a.records_per_source["police"]);
    let csw = decode(
        &std::fs::read(out.join("csw/qps_rastet.xlsx")).unwrap(),
        &Format::Xlsx(XlsxFormat {
            sheet: Some("Rastet".to_string()),
            ..XlsxFormat::default()
        }),
    );
    assert!(csw.problems.is_empty(), "{:?}", csw.problems);
    assert_eq!(csw.records.len(), a.records_per_source["csw"]);
    let page = decode(
        &std::fs::read(out.join("inspectorate/inspections_0001.json")).unwrap(),
        &Format::Json(JsonFormat {
            records_path: Some("data.inspections".to_string()),
        }),
    );
    assert!(page.problems.is_empty(), "{:?}", page.problems);
    assert_eq!(
        page.records.len(),
        a.records_per_source["inspectorate"].min(1000)
    );

    // A smaller dataset written over a bigger one leaves no stale file behind.
    let small = generate(
        &SynthOptions {
            records: 50,
            seed: 5,
        },
        reference(),
    );
    let again = write(
        &small,
        &SynthWriteOptions {
            out_dir: out.clone(),
            assets_dir: assets.clone(),
        },
    )
    .unwrap();
    let pages: Vec<_> = std::fs::read_dir(out.join("inspectorate"))
        .unwrap()
        .collect();
    assert_eq!(
        pages.len(),
        again.records_per_source["inspectorate"].div_ceil(1000)
    );
}

/// `cargo test --release -p regbridge --lib synth::tests::million -- --ignored --nocapture`
#[test]
#[ignore = "timing check; run in release"]
fn million_records_generate_and_render_in_seconds() {
    let started = std::time::Instant::now();
    let d = generate(
        &SynthOptions {
            records: 1_000_000,
            seed: 1,
        },
        reference(),
    );
    let generated = started.elapsed();
    let mut cells = 0usize;
    cells += d.police_rows().map(|r| r.len()).sum::<usize>();
    cells += d.csw_rows().map(|r| r.len()).sum::<usize>();
    cells += d.inspections().count();
    let truth = d.truth().len();
    let rendered = started.elapsed();
    println!(
        "1M: {} records, {} children, generated in {generated:?}, rendered ({cells} cells, {truth} truth rows) by {rendered:?}; model ≈ {} MB",
        d.len(),
        d.children(),
        (d.children() * std::mem::size_of::<population::Child>()
            + d.len() * std::mem::size_of::<population::Report>())
            / 1_000_000
    );
    println!(
        "{:?} {:?}",
        d.records_per_source(),
        d.children_by_institutions()
    );
    assert!(rendered.as_secs() < 60);
}

/// `cargo test -p regbridge --lib synth::tests::print_stats -- --ignored --nocapture`
#[test]
#[ignore = "prints the measured shares"]
fn print_stats() {
    let d = dataset_20k();
    let by = d.children_by_institutions();
    let children = d.children() as f64;
    println!(
        "records {} per source {:?}",
        d.len(),
        d.records_per_source()
    );
    println!(
        "children {} by institutions {:?} shares {:?}",
        d.children(),
        by,
        by.iter()
            .map(|(k, v)| (*k, (*v as f64 / children * 1000.0).round() / 10.0))
            .collect::<Vec<_>>()
    );
    let mut per_defect: BTreeMap<&str, usize> = BTreeMap::new();
    for r in &d.reports {
        if let Some(x) = r.defect {
            *per_defect.entry(x.rule_id()).or_insert(0) += 1;
        }
    }
    println!(
        "defects {} ({:.2} %) {per_defect:?}",
        d.defects(),
        d.defects() as f64 / d.len() as f64 * 100.0
    );
    let mut per_child_source: BTreeMap<(u32, Source), usize> = BTreeMap::new();
    for r in &d.reports {
        *per_child_source.entry((r.child, r.source)).or_insert(0) += 1;
    }
    let duplicates: usize = per_child_source.values().map(|c| c - 1).sum();
    println!(
        "duplicates {duplicates} ({:.2} %)",
        duplicates as f64 / d.len() as f64 * 100.0
    );
    let pn = d
        .children
        .iter()
        .filter(|c| c.personal_number.is_some())
        .count();
    println!(
        "personal numbers {pn} ({:.1} %)",
        pn as f64 / children * 100.0
    );
    let mut ages: BTreeMap<i32, usize> = BTreeMap::new();
    for r in d.reports.iter().filter(|r| r.defect.is_none()) {
        *ages
            .entry(age_at(d.children[r.child as usize].birth, r.event))
            .or_insert(0) += 1;
    }
    println!("ages at event {ages:?}");
    let mut communities: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &d.children {
        *communities
            .entry(
                d.lexicon.communities[usize::from(c.community)]
                    .code
                    .as_str(),
            )
            .or_insert(0) += 1;
    }
    println!("communities {communities:?}");
    let mut activities: BTreeMap<&str, usize> = BTreeMap::new();
    for c in &d.children {
        *activities
            .entry(d.lexicon.activities[usize::from(c.activity)].code.as_str())
            .or_insert(0) += 1;
    }
    println!("activities {activities:?}");
    let families: BTreeSet<u32> = d.children.iter().map(|c| c.family).collect();
    let mut births: BTreeMap<(u32, NaiveDate), usize> = BTreeMap::new();
    for c in &d.children {
        *births.entry((c.family, c.birth)).or_insert(0) += 1;
    }
    let twin_families: BTreeSet<u32> = births
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|((f, _), _)| *f)
        .collect();
    let trafficked = d.children.iter().filter(|c| c.trafficking).count();
    println!(
        "families {}, with twins {} ({:.1} %), trafficking {:.1} %",
        families.len(),
        twin_families.len(),
        twin_families.len() as f64 / families.len() as f64 * 100.0,
        trafficked as f64 / children * 100.0
    );
    for row in d.police_rows().take(12) {
        println!(
            "{}",
            row.iter().map(Cell::to_text).collect::<Vec<_>>().join(";")
        );
    }
    for row in d
        .csw_rows()
        .filter(|r| r[0].to_text().starts_with("CSR"))
        .take(8)
    {
        println!(
            "{}",
            row.iter()
                .map(Cell::to_text)
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    for row in d.csw_rows().take(5) {
        println!(
            "{}",
            row.iter()
                .map(Cell::to_text)
                .collect::<Vec<_>>()
                .join(" | ")
        );
    }
    println!(
        "{:?}",
        d.inspections()
            .take(30)
            .map(|i| (
                i["hours_per_week"].as_i64().unwrap(),
                i["employer"]["name"].as_str().unwrap().to_string()
            ))
            .collect::<Vec<_>>()
    );
    for i in d.inspections().take(2) {
        println!("{}", serde_json::to_string_pretty(&i).unwrap());
    }
}

/// `cargo test --release -p regbridge --lib synth::tests::million_written -- --ignored --nocapture`
#[test]
#[ignore = "timing check; writes about 500 MB into a temporary folder"]
fn million_records_written() {
    let started = std::time::Instant::now();
    let d = generate(
        &SynthOptions {
            records: 1_000_000,
            seed: 1,
        },
        reference(),
    );
    let tmp = tempfile::tempdir().unwrap();
    let summary = write(
        &d,
        &SynthWriteOptions {
            out_dir: tmp.path().join("synth"),
            assets_dir: Path::new(env!("CARGO_MANIFEST_DIR")).join(".."),
        },
    )
    .unwrap();
    let bytes: u64 = summary
        .files
        .iter()
        .map(|f| std::fs::metadata(f).unwrap().len())
        .sum();
    println!(
        "1M written: {} files, {} MB, in {:?}",
        summary.files.len(),
        bytes / 1_000_000,
        started.elapsed()
    );
}
