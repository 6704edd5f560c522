//! Rendering one report as its institution exports it: the police CSV row, the social-work
//! workbook row and the inspectorate's JSON object, each with that institution's habits and noise
//! (drawn from a per-record seed) and, where the report has one, its deliberate defect.

use chrono::{Datelike, NaiveDate};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use regbridge_connectors::sink::table::Cell;
use serde_json::{json, Value};

use super::lexicon::{ActivityForms, CommunityForms, CommunityKind, Lexicon, PlaceForms};
use super::names::{serbianize, strip_diacritics, toggle_definite_i, typo};
use super::population::{
    add_days, add_years, age_at, personal_number, weighted, ymd, Child, NameStyle, Report, CSW,
};
use super::{Defect, Source};

/// Columns of the police export, in order.
pub const POLICE_COLUMNS: [&str; 14] = [
    "Nr. i rastit",
    "Data e identifikimit",
    "Komuna",
    "Vendi",
    "Emri",
    "Emri i babait",
    "Mbiemri",
    "Gjinia",
    "Data e lindjes",
    "Mosha",
    "Numri personal",
    "Komuniteti",
    "Aktiviteti",
    "Trafikim",
];

/// Columns of the social-work workbook, in order.
pub const CSW_COLUMNS: [&str; 14] = [
    "ID e rastit",
    "QPS",
    "Mbiemri",
    "Emri",
    "Emri i prindit",
    "Gjinia",
    "Datëlindja",
    "Mosha",
    "Nr. personal",
    "Komuna",
    "Komuniteti",
    "Data e referimit",
    "Aktiviteti",
    "Statusi",
];

/// Where police find children (free text, never a person).
const POLICE_PLACES: &[&str] = &[
    "Qendra",
    "Stacioni i autobusëve",
    "Tregu i gjelbër",
    "Rr. Nëna Terezë",
    "Sheshi Skënderbej",
    "Semafori te rrethrrotullimi",
    "Semafori te spitali",
    "Semafori te ura",
    "Semafori te stacioni i policisë",
    "Para xhamisë",
    "Parkingu i qendrës tregtare",
    "Stacioni i trenit",
    "Tregu i vjetër",
    "Rr. UÇK",
    "Rr. e Dëshmorëve",
    "Afër shkollës",
    "Para bankës",
    "Tregu i kafshëve",
    "Karburanti në hyrje të qytetit",
    "Lagjja e re",
];

/// Words in employer names; none is a personal name.
pub(crate) const EMPLOYER_WORDS: &[&str] = &[
    "Dardania",
    "Kosova",
    "Rugova",
    "Sharri",
    "Dielli",
    "Bjeshka",
    "Lugina",
    "Fusha",
    "Kalaja",
    "Malësia",
    "Euro",
    "Eko",
    "Alfa",
    "Delta",
    "Omega",
    "Vizion",
    "Progres",
    "Standard",
    "Bashkimi",
    "Rilindja",
    "Pylli",
    "Ura",
    "Guri",
    "Kroni",
    "Jugu",
    "Veriu",
    "Perëndimi",
    "Ardhmëria",
];

/// A per-record random generator, independent of every other record's.
pub(crate) fn record_rng(seed: u64, index: usize) -> ChaCha8Rng {
    let mut z = seed
        ^ (index as u64)
            .wrapping_add(1)
            .wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ChaCha8Rng::seed_from_u64(z ^ (z >> 31))
}

/// The record id: `PK-2025-000123`, `QPS-PRI-000123` / `CSR-GRA-000045`, `INS-2025-000123`.
pub(crate) fn record_id(lexicon: &Lexicon, report: &Report) -> String {
    match report.source {
        Source::Police => format!("PK-{}-{:06}", report.event.year(), report.number),
        Source::Inspectorate => format!("INS-{}-{:06}", report.event.year(), report.number),
        Source::Csw => {
            let office = lexicon.places.get(usize::from(report.place));
            let prefix = if office.is_some_and(|o| o.serbian_office) {
                "CSR"
            } else {
                "QPS"
            };
            let code = office.map_or("XXX", |o| o.code.as_str());
            format!("{prefix}-{code}-{:06}", report.number)
        }
    }
}

/// A date of birth as written.
enum Birth {
    Date(NaiveDate),
    /// Text as typed (an impossible date, or a date typed into a text cell).
    Text(String),
    Missing,
}

/// The fields every institution records, after its noise and before its formatting.
struct Fields {
    given: String,
    surname: String,
    father: Option<String>,
    birth: Birth,
    age: Option<i32>,
    event: Option<NaiveDate>,
    municipality: String,
    personal_number: Option<String>,
}

/// How a source writes dates that cannot exist.
#[derive(Clone, Copy)]
enum DateStyle {
    DayMonthYear,
    Iso,
}

fn dmy(date: NaiveDate) -> String {
    format!("{:02}.{:02}.{:04}", date.day(), date.month(), date.year())
}

fn date_cell(date: NaiveDate) -> Cell {
    Cell::Date {
        year: date.year(),
        month: date.month(),
        day: date.day(),
    }
}

/// Share of records that leave the community blank (ethnicity is sensitive; some ask, some do not).
const COMMUNITY_BLANK: f64 = 0.05;

/// How a record states the child's community, against how the family identifies.
enum CommunitySlip<'a> {
    Kept,
    Blank,
    Other(&'a CommunityForms),
}

/// Whether a record states another community than the family's: the question is sometimes left
/// blank, and offices confuse neighbouring communities (Roma, Ashkali and Egyptian, whose children
/// an office may also write down as Albanian; Bosniak and Gorani); for the others a slip is rare.
/// Drawn after the rest of the record, so that the other fields do not depend on it.
fn community_slip<'a, R: Rng>(
    rng: &mut R,
    lexicon: &'a Lexicon,
    child: &Child,
) -> CommunitySlip<'a> {
    use CommunityKind::{Albanian, Ashkali, Bosniak, Egyptian, Gorani, Roma};
    if rng.random_bool(COMMUNITY_BLANK) {
        return CommunitySlip::Blank;
    }
    let Some(own) = lexicon.communities.get(usize::from(child.community)) else {
        return CommunitySlip::Kept;
    };
    let (rate, confused_with): (f64, &[CommunityKind]) = match own.kind {
        Roma | Ashkali | Egyptian => (0.15, &[Roma, Ashkali, Egyptian, Albanian]),
        Bosniak | Gorani => (0.10, &[Bosniak, Gorani]),
        _ => (0.01, &CommunityKind::ALL),
    };
    if !rng.random_bool(rate) {
        return CommunitySlip::Kept;
    }
    let others: Vec<&CommunityForms> = lexicon
        .communities
        .iter()
        .filter(|c| c.kind != own.kind && confused_with.contains(&c.kind))
        .collect();
    if others.is_empty() {
        return CommunitySlip::Kept;
    }
    others
        .get(rng.random_range(0..others.len()))
        .map_or(CommunitySlip::Kept, |c| CommunitySlip::Other(c))
}

/// `forms[0]` with probability `first`, else any other form.
fn choose_form<'a, R: Rng>(rng: &mut R, forms: &'a [String], first: f64) -> &'a str {
    let index = if forms.len() > 1 && !rng.random_bool(first) {
        rng.random_range(1..forms.len())
    } else {
        0
    };
    forms.get(index).map_or("", String::as_str)
}

fn choose<'a, R: Rng>(rng: &mut R, items: &[&'a str]) -> &'a str {
    items
        .get(rng.random_range(0..items.len().max(1)))
        .copied()
        .unwrap_or("")
}

/// Share of records on which an office writes another activity than the child's usual one (the child
/// moved from the market to a field, or the office read the situation differently).
const ACTIVITY_DRIFT: f64 = 0.12;

/// The activity a record reports: usually the child's, sometimes another (an employer's activity for
/// the inspectorate, which inspects employers).
fn reported_activity<'a, R: Rng>(
    rng: &mut R,
    lexicon: &'a Lexicon,
    child: &Child,
    at_employer: bool,
) -> Option<&'a ActivityForms> {
    let usual = lexicon.activities.get(usize::from(child.activity));
    if !rng.random_bool(ACTIVITY_DRIFT) {
        return usual;
    }
    let others: Vec<&ActivityForms> = lexicon
        .activities
        .iter()
        .filter(|a| !at_employer || !a.nace.is_empty())
        .filter(|a| usual.is_none_or(|u| u.code != a.code))
        .collect();
    others
        .get(rng.random_range(0..others.len().max(1)))
        .copied()
        .or(usual)
}

/// An estimated age: usually right, sometimes a year off, always 5–17.
fn estimated_age<R: Rng>(rng: &mut R, age: i32) -> i32 {
    let off = if rng.random_bool(0.25) {
        if rng.random_bool(0.5) {
            1
        } else {
            -1
        }
    } else {
        0
    };
    (age + off).clamp(5, 17)
}

/// A date that cannot exist, near `year`.
fn impossible_date<R: Rng>(rng: &mut R, year: i32, style: DateStyle) -> String {
    let leap = NaiveDate::from_ymd_opt(year, 2, 29).is_some();
    let options: [(u32, u32); 8] = [
        (31, 2),
        (30, 2),
        (if leap { 30 } else { 29 }, 2),
        (31, 4),
        (31, 6),
        (31, 9),
        (31, 11),
        (rng.random_range(1..=28), 13),
    ];
    let (day, month) = options
        .get(rng.random_range(0..options.len()))
        .copied()
        .unwrap_or((31, 2));
    match style {
        DateStyle::DayMonthYear => format!("{day:02}.{month:02}.{year}"),
        DateStyle::Iso => format!("{year}-{month:02}-{day:02}"),
    }
}

/// Breaks the record the way the defect says, leaving every other field valid.
fn apply_defect<R: Rng>(
    rng: &mut R,
    fields: &mut Fields,
    defect: Option<Defect>,
    lexicon: &Lexicon,
    child: &Child,
    event: NaiveDate,
    style: DateStyle,
) {
    let Some(defect) = defect else { return };
    match defect {
        Defect::MissingGivenName => fields.given.clear(),
        Defect::MissingSurname => fields.surname.clear(),
        Defect::ImpossibleBirthDate => {
            fields.birth = Birth::Text(impossible_date(rng, child.birth.year(), style));
            fields.age = None;
        }
        Defect::Adult => {
            let age = rng.random_range(19..=30);
            let birth = add_days(add_years(event, -age), -rng.random_range(1..=300));
            fields.birth = Birth::Date(birth);
            fields.age = None;
        }
        Defect::UnknownMunicipality => {
            let places: Vec<&str> = lexicon.foreign_places.iter().map(String::as_str).collect();
            fields.municipality = if places.is_empty() {
                "Qyteti X".to_string()
            } else {
                choose(rng, &places).to_string()
            };
        }
        Defect::MissingEventDate => fields.event = None,
        Defect::FutureEventDate => {
            let first = ymd(2031, 1, 1);
            fields.event = Some(add_days(first, rng.random_range(0..=1825)));
            // Without a date of birth, an age from the far-future event cannot make it an adult.
            fields.birth = Birth::Missing;
        }
        Defect::BirthAfterEvent => {
            // The event is in 2024 (set when the defect was drawn); the birth in 2025.
            fields.birth = Birth::Date(add_days(ymd(2025, 1, 1), rng.random_range(0..=240)));
            fields.age = None;
        }
    }
}

/// One row of the police CSV (typed fast in the field).
pub(crate) fn police_row<R: Rng>(
    lexicon: &Lexicon,
    child: &Child,
    report: &Report,
    rng: &mut R,
) -> Vec<Cell> {
    let event = report.event;
    let true_age = age_at(child.birth, event);
    let mut given = child.given.to_string();
    let mut surname = child.surname.to_string();
    let mut father = child.father.to_string();
    if rng.random_bool(0.4) {
        let drop_final = rng.random_bool(0.3);
        given = strip_diacritics(&given, drop_final);
        surname = strip_diacritics(&surname, drop_final);
        father = strip_diacritics(&father, drop_final);
    }
    if rng.random_bool(0.06) {
        if rng.random_bool(0.5) {
            given = typo(&given, rng);
        } else {
            surname = typo(&surname, rng);
        }
    }
    if rng.random_bool(0.03) {
        std::mem::swap(&mut given, &mut surname);
    }
    let father = (!rng.random_bool(0.5)).then_some(father);
    let (birth, age) = if rng.random_bool(0.35) {
        let age = rng.random_bool(0.8).then(|| estimated_age(rng, true_age));
        (Birth::Missing, age)
    } else {
        let estimate = ymd(child.birth.year(), 1, 1);
        if rng.random_bool(0.05) && (5..=17).contains(&age_at(estimate, event)) {
            (Birth::Date(estimate), None)
        } else {
            (
                Birth::Date(child.birth),
                rng.random_bool(0.3).then_some(true_age),
            )
        }
    };
    let personal_number = child
        .personal_number
        .filter(|_| rng.random_bool(0.5))
        .map(personal_number);
    let place = lexicon.places.get(usize::from(report.place));
    let municipality = match place {
        Some(p) if p.serbian_office && rng.random_bool(0.5) => {
            choose_form(rng, &p.serbian_forms, 0.5)
        }
        Some(p) => choose_form(rng, &p.police_forms, 0.4),
        None => "",
    };
    let mut fields = Fields {
        given,
        surname,
        father,
        birth,
        age,
        event: Some(event),
        municipality: municipality.to_string(),
        personal_number,
    };
    apply_defect(
        rng,
        &mut fields,
        report.defect,
        lexicon,
        child,
        event,
        DateStyle::DayMonthYear,
    );
    let sex = match (&lexicon.sex_words, rng.random_bool(0.1)) {
        (Some((male, female)), true) => {
            if child.male {
                male.clone()
            } else {
                female.clone()
            }
        }
        _ => if child.male { "M" } else { "F" }.to_string(),
    };
    let community = lexicon
        .communities
        .get(usize::from(child.community))
        .map_or("", |c| choose_form(rng, &c.police_forms, 0.85));
    let activity = reported_activity(rng, lexicon, child, false)
        .map_or("", |a| choose_form(rng, &a.police_forms, 0.7));
    let vendi = choose(rng, POLICE_PLACES);
    let community = match community_slip(rng, lexicon, child) {
        CommunitySlip::Kept => community,
        CommunitySlip::Blank => "",
        CommunitySlip::Other(c) => c.police_forms.first().map_or("", String::as_str),
    };
    vec![
        Cell::text(record_id(lexicon, report)),
        Cell::text(fields.event.map(dmy).unwrap_or_default()),
        Cell::text(fields.municipality),
        Cell::text(vendi),
        Cell::text(fields.given),
        Cell::from(fields.father),
        Cell::text(fields.surname),
        Cell::text(sex),
        match fields.birth {
            Birth::Date(d) => Cell::text(dmy(d)),
            Birth::Text(t) => Cell::text(t),
            Birth::Missing => Cell::Empty,
        },
        fields
            .age
            .map_or(Cell::Empty, |a| Cell::Integer(i64::from(a))),
        Cell::from(fields.personal_number),
        Cell::text(community),
        Cell::text(activity),
        Cell::text(if child.trafficking { "Po" } else { "Jo" }),
    ]
}

/// One row of the social-work workbook (the most complete source; Serbian-language offices write
/// Serbian spellings, often in Cyrillic).
pub(crate) fn csw_row<R: Rng>(
    lexicon: &Lexicon,
    child: &Child,
    report: &Report,
    rng: &mut R,
) -> Vec<Cell> {
    let event = report.event;
    let true_age = age_at(child.birth, event);
    let fallback = PlaceForms {
        code: String::new(),
        name_sq: String::new(),
        name_sr: String::new(),
        name_sr_cyrl: String::new(),
        serbian_office: false,
        police_forms: Vec::new(),
        serbian_forms: Vec::new(),
        plain: String::new(),
        population: 0.0,
    };
    let office = lexicon
        .places
        .get(usize::from(report.place))
        .unwrap_or(&fallback);
    let serbian = office.serbian_office;
    let cyrillic = serbian && rng.random_bool(0.6);
    let spell = |name: &str| -> String {
        if serbian && child.style == NameStyle::Albanian {
            serbianize(name)
        } else {
            name.to_string()
        }
    };
    let mut given = spell(child.given);
    let mut surname = spell(child.surname);
    let mut father = spell(child.father);
    if !serbian && rng.random_bool(0.05) {
        given = strip_diacritics(&given, false);
        surname = strip_diacritics(&surname, false);
        father = strip_diacritics(&father, false);
    }
    if rng.random_bool(0.01) {
        given = typo(&given, rng);
    }
    if cyrillic {
        for name in [&mut given, &mut surname, &mut father] {
            if lexicon.can_write_cyrillic(name) {
                *name = lexicon.to_cyrillic(name);
            }
        }
    }
    if serbian && rng.random_bool(0.2) {
        surname = surname.to_uppercase();
    }
    let father = rng.random_bool(0.85).then_some(father);
    let (birth, age) = if rng.random_bool(0.9) {
        let birth = if rng.random_bool(0.05) {
            let dot = rng.random_bool(if serbian { 0.7 } else { 0.2 });
            Birth::Text(format!(
                "{}{}",
                dmy(child.birth),
                if dot { "." } else { "" }
            ))
        } else {
            Birth::Date(child.birth)
        };
        (birth, rng.random_bool(0.6).then_some(true_age))
    } else {
        (Birth::Missing, rng.random_bool(0.9).then_some(true_age))
    };
    let personal_number = child
        .personal_number
        .filter(|_| rng.random_bool(0.9))
        .map(personal_number);
    let municipality = if cyrillic {
        office.name_sr_cyrl.clone()
    } else if serbian {
        office.name_sr.clone()
    } else if rng.random_bool(0.9) || office.police_forms.is_empty() {
        office.name_sq.clone()
    } else {
        choose_form(rng, &office.police_forms, 0.0).to_string()
    };
    let mut fields = Fields {
        given,
        surname,
        father,
        birth,
        age,
        event: Some(event),
        municipality,
        personal_number,
    };
    apply_defect(
        rng,
        &mut fields,
        report.defect,
        lexicon,
        child,
        event,
        DateStyle::DayMonthYear,
    );
    let community = lexicon.communities.get(usize::from(child.community));
    let community = match community {
        Some(c) if cyrillic => c.serbian_cyrillic.clone(),
        Some(c) if serbian => c.serbian_latin.clone(),
        Some(c) => c.police_forms.first().cloned().unwrap_or_default(),
        None => String::new(),
    };
    let activity = reported_activity(rng, lexicon, child, false);
    let activity = match activity {
        Some(a) if cyrillic => a.serbian_cyrillic.clone(),
        Some(a) if serbian => a.serbian_latin.clone(),
        Some(a) => a.police_forms.first().cloned().unwrap_or_default(),
        None => String::new(),
    };
    let closed = rng.random_bool(if event < ymd(2025, 7, 1) { 0.7 } else { 0.3 });
    let community = match community_slip(rng, lexicon, child) {
        CommunitySlip::Kept => community,
        CommunitySlip::Blank => String::new(),
        CommunitySlip::Other(c) if cyrillic => c.serbian_cyrillic.clone(),
        CommunitySlip::Other(c) if serbian => c.serbian_latin.clone(),
        CommunitySlip::Other(c) => c.police_forms.first().cloned().unwrap_or_default(),
    };
    let office_label = if serbian {
        format!("CSR {}", office.name_sr)
    } else {
        format!("QPS {}", office.name_sq)
    };
    vec![
        Cell::text(record_id(lexicon, report)),
        Cell::text(office_label),
        Cell::text(fields.surname),
        Cell::text(fields.given),
        Cell::from(fields.father),
        Cell::text(if child.male { "M" } else { "F" }),
        match fields.birth {
            Birth::Date(d) => date_cell(d),
            Birth::Text(t) => Cell::text(t),
            Birth::Missing => Cell::Empty,
        },
        fields
            .age
            .map_or(Cell::Empty, |a| Cell::Integer(i64::from(a))),
        Cell::from(fields.personal_number),
        Cell::text(fields.municipality),
        Cell::text(community),
        fields.event.map_or(Cell::Empty, date_cell),
        Cell::text(activity),
        Cell::text(if closed { "Mbyllur" } else { "Hapur" }),
    ]
}

/// An employer's name for an activity (never a personal name).
fn employer_name<R: Rng>(rng: &mut R, activity: &str, town: &str) -> String {
    let word = choose(rng, EMPLOYER_WORDS);
    let patterns: &[&str] = match activity {
        "agriculture" => &[
            "N.T.P. Agro {T}",
            "Ferma {W}",
            "Kooperativa Bujqësore {T}",
            "N.T.P. Fruti {W}",
        ],
        "construction" => &[
            "N.P.N. Ndërtimi {W}",
            "{W} Construction L.L.C.",
            "N.T.N. {W} Beton",
        ],
        "forestry" => &["N.T.P. Druri {W}", "Pylltaria {T}", "Sharra {W}"],
        "mining" => &["Gurorja {W}", "N.T.P. Zhavorri {T}", "Separacioni {W}"],
        "manufacturing" => &["Fabrika {W}", "N.T.P. Tekstil {T}", "Punëtoria {W}"],
        "hospitality" => &["Restorant {W}", "Hotel {W}", "Kafe Bar {W}", "Piceri {W}"],
        "retail" => &["Market {W}", "Dyqani {W}", "Supermarket {W} {T}"],
        _ => &["N.T.P. {W} {T}"],
    };
    let name = choose(rng, patterns)
        .replace("{W}", word)
        .replace("{T}", town);
    if rng.random_bool(0.4) {
        format!("{name} {}", rng.random_range(1..=40))
    } else {
        name
    }
}

/// One inspection object of the inspectorate's API.
/// `employer_rng` draws the employer: seeded per family and activity, so siblings working together
/// are found at the same employer.
pub(crate) fn inspection<R: Rng>(
    lexicon: &Lexicon,
    child: &Child,
    report: &Report,
    rng: &mut R,
    employer_rng: &mut R,
) -> Value {
    let event = report.event;
    let true_age = age_at(child.birth, event);
    let mut given = child.given.to_string();
    let mut surname = child.surname.to_string();
    let mut father = child.father.to_string();
    if rng.random_bool(0.5) {
        given = strip_diacritics(&given, false);
        surname = strip_diacritics(&surname, false);
        father = strip_diacritics(&father, false);
    }
    if child.style == NameStyle::Albanian && rng.random_bool(0.1) {
        if let Some(toggled) = toggle_definite_i(&surname) {
            surname = toggled;
        }
    }
    if rng.random_bool(0.03) {
        given = typo(&given, rng);
    }
    let father = rng.random_bool(0.6).then_some(father);
    let (birth, age) = if rng.random_bool(0.3) {
        (Birth::Missing, Some(estimated_age(rng, true_age)))
    } else {
        (
            Birth::Date(child.birth),
            rng.random_bool(0.5).then_some(true_age),
        )
    };
    let personal_number = child
        .personal_number
        .filter(|_| rng.random_bool(0.7))
        .map(personal_number);
    let place = lexicon.places.get(usize::from(report.place));
    let municipality = match place {
        Some(p) if rng.random_bool(0.3) => p.plain.clone(),
        Some(p) => p.name_sq.clone(),
        None => String::new(),
    };
    let town = place.map_or("", |p| p.plain.as_str()).to_string();
    let mut fields = Fields {
        given,
        surname,
        father,
        birth,
        age,
        event: Some(event),
        municipality,
        personal_number,
    };
    apply_defect(
        rng,
        &mut fields,
        report.defect,
        lexicon,
        child,
        event,
        DateStyle::Iso,
    );
    let activity = reported_activity(rng, lexicon, child, true);
    let activity_code = activity.map_or("", |a| a.code.as_str());
    let community = lexicon
        .communities
        .get(usize::from(child.community))
        .map_or("", |c| c.code.as_str());
    let hours: i64 = if true_age < 15 {
        rng.random_range(8..=30)
    } else {
        rng.random_range(15..=50)
    };
    let hazardous = activity.is_some_and(|a| a.hazardous) || rng.random_bool(0.25);
    let outcomes = ["warning", "fine", "referral_csw", "closed"];
    let referred = child.institutions & CSW != 0;
    let outcome_weights = if referred {
        [20.0, 15.0, 55.0, 10.0]
    } else {
        [40.0, 30.0, 5.0, 25.0]
    };
    let outcome = outcomes
        .get(weighted(rng, outcome_weights.iter().copied()))
        .copied()
        .unwrap_or("warning");
    let community = match community_slip(rng, lexicon, child) {
        CommunitySlip::Kept => community,
        CommunitySlip::Blank => "",
        CommunitySlip::Other(c) => c.code.as_str(),
    };
    // The API sends an unanswered question as null.
    let community = (!community.is_empty()).then_some(community);
    let employer = employer_name(employer_rng, activity_code, &town);
    let nace = activity.map_or("", |a| a.nace.as_str());
    json!({
        "inspection_id": record_id(lexicon, report),
        "inspection_date": fields.event.map(|d| d.format("%Y-%m-%d").to_string()),
        "municipality": fields.municipality,
        "employer": {"name": employer, "nace": nace},
        "child": {
            "first_name": fields.given,
            "last_name": fields.surname,
            "father_name": fields.father,
            "sex": if child.male { "male" } else { "female" },
            "birth_date": match fields.birth {
                Birth::Date(d) => Value::String(d.format("%Y-%m-%d").to_string()),
                Birth::Text(t) => Value::String(t),
                Birth::Missing => Value::Null,
            },
            "age": fields.age,
            "personal_number": fields.personal_number,
            "community": community,
        },
        "activity": activity_code,
        "hours_per_week": hours,
        "hazardous": hazardous,
        "outcome": outcome,
    })
}
