//! What the generator takes from the reference data: the name forms each institution writes for
//! municipalities, communities and activities (each checked to resolve back to its own code through
//! the reference lookups, so that noise never turns a good record into an unknown value), places
//! outside Kosovo, and the Serbian Latin → Cyrillic table (the inverse of the reference table).

use crate::reference::{PlaceMatch, Reference};

use super::names::{is_cyrillic, strip_diacritics};

/// A municipality and the forms records write it in.
#[derive(Debug, Clone)]
pub(crate) struct PlaceForms {
    /// The reference code, as used in record ids (`PRI`).
    pub code: String,
    pub name_sq: String,
    pub name_sr: String,
    pub name_sr_cyrl: String,
    /// The social-work office writes Serbian (`office_language == "sr"`).
    pub serbian_office: bool,
    /// Latin forms a police officer may type; the first is `name_sq`.
    pub police_forms: Vec<String>,
    /// Serbian Latin forms (with and without diacritics) that police in Serb-majority
    /// municipalities write.
    pub serbian_forms: Vec<String>,
    /// `name_sq` without diacritics when that still resolves, else `name_sq`.
    pub plain: String,
    /// Approximate population in thousands (drives where families live).
    pub population: f64,
}

/// The communities the population is drawn from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum CommunityKind {
    Albanian,
    Roma,
    Ashkali,
    Egyptian,
    Serb,
    Bosniak,
    Turkish,
    Gorani,
}

impl CommunityKind {
    pub(crate) const ALL: [CommunityKind; 8] = [
        CommunityKind::Albanian,
        CommunityKind::Roma,
        CommunityKind::Ashkali,
        CommunityKind::Egyptian,
        CommunityKind::Serb,
        CommunityKind::Bosniak,
        CommunityKind::Turkish,
        CommunityKind::Gorani,
    ];

    /// Share of families, in percent.
    pub(crate) fn share(self) -> f64 {
        match self {
            CommunityKind::Albanian => 70.0,
            CommunityKind::Roma => 7.0,
            CommunityKind::Ashkali => 7.0,
            CommunityKind::Egyptian => 4.0,
            CommunityKind::Serb => 8.0,
            CommunityKind::Bosniak => 1.8,
            CommunityKind::Turkish => 1.2,
            CommunityKind::Gorani => 1.0,
        }
    }

    /// Roma, Ashkali or Egyptian.
    pub(crate) fn is_rae(self) -> bool {
        matches!(
            self,
            CommunityKind::Roma | CommunityKind::Ashkali | CommunityKind::Egyptian
        )
    }

    /// Forms to find the community in the reference with.
    fn lookups(self) -> &'static [&'static str] {
        match self {
            CommunityKind::Albanian => &["albanian", "Shqiptar"],
            CommunityKind::Roma => &["roma", "Rom"],
            CommunityKind::Ashkali => &["ashkali"],
            CommunityKind::Egyptian => &["egyptian", "Egjiptian"],
            CommunityKind::Serb => &["serb", "Srbin"],
            CommunityKind::Bosniak => &["bosniak", "Boshnjak"],
            CommunityKind::Turkish => &["turkish", "Turk"],
            CommunityKind::Gorani => &["gorani", "Goran"],
        }
    }
}

/// A community and the forms records write it in.
#[derive(Debug, Clone)]
pub(crate) struct CommunityForms {
    pub kind: CommunityKind,
    /// Lower-case code, as the inspectorate's API sends it.
    pub code: String,
    /// Albanian forms; the first is `name_sq`.
    pub police_forms: Vec<String>,
    pub serbian_latin: String,
    pub serbian_cyrillic: String,
}

/// An activity and the forms records write it in.
#[derive(Debug, Clone)]
pub(crate) struct ActivityForms {
    pub code: String,
    /// Albanian forms; the first is `name_sq`.
    pub police_forms: Vec<String>,
    pub serbian_latin: String,
    pub serbian_cyrillic: String,
    pub nace: String,
    pub hazardous: bool,
}

/// Activities of street children (seen by police and social work).
pub(crate) const STREET_ACTIVITIES: &[(&str, f64, f64)] = &[
    // code, weight for most children, weight for Roma / Ashkali / Egyptian children
    ("begging", 22.0, 34.0),
    ("street_vending", 34.0, 18.0),
    ("car_window_washing", 14.0, 14.0),
    ("carrying_goods", 18.0, 10.0),
    ("scrap_collection", 12.0, 24.0),
];

/// Activities of children found at employers (seen by the inspectorate).
pub(crate) const EMPLOYER_ACTIVITIES: &[(&str, f64)] = &[
    ("agriculture", 34.0),
    ("construction", 20.0),
    ("hospitality", 12.0),
    ("retail", 12.0),
    ("manufacturing", 9.0),
    ("forestry", 7.0),
    ("mining", 6.0),
];

/// Approximate population (thousands) per municipality code.
const POPULATION: &[(&str, f64)] = &[
    ("DEC", 40.0),
    ("DRA", 34.0),
    ("FER", 109.0),
    ("FKO", 35.0),
    ("GJA", 95.0),
    ("GJI", 90.0),
    ("GLL", 59.0),
    ("GRA", 11.0),
    ("HAN", 9.0),
    ("IST", 39.0),
    ("JUN", 6.0),
    ("KAC", 33.0),
    ("KAM", 36.0),
    ("KLI", 38.0),
    ("KLL", 3.0),
    ("LEP", 18.0),
    ("LIP", 58.0),
    ("MAL", 55.0),
    ("MAM", 6.0),
    ("MIT", 72.0),
    ("MIV", 29.0),
    ("NBR", 7.0),
    ("OBI", 21.0),
    ("PAR", 2.0),
    ("PEJ", 96.0),
    ("POD", 88.0),
    ("PRI", 199.0),
    ("PRZ", 178.0),
    ("RAH", 56.0),
    ("RAN", 4.0),
    ("SHP", 7.0),
    ("SHT", 27.0),
    ("SKE", 51.0),
    ("SUH", 60.0),
    ("VIT", 47.0),
    ("VUS", 70.0),
    ("ZUB", 15.0),
    ("ZVE", 17.0),
];

/// Places outside Kosovo (and a made-up one) for the `unknown_municipality` defect.
const FOREIGN_PLACES: &[&str] = &[
    "Tiranë", "Beograd", "Skopje", "Shkodër", "Niš", "Tetovo", "Qyteti X", "Durrës", "Kukës",
    "Kumanovo",
];

/// Everything rendering needs from the reference, owned, so the dataset does not borrow it.
#[derive(Debug, Clone, Default)]
pub(crate) struct Lexicon {
    pub places: Vec<PlaceForms>,
    pub communities: Vec<CommunityForms>,
    pub activities: Vec<ActivityForms>,
    pub foreign_places: Vec<String>,
    /// "Mashkull" / "Femër" when the reference resolves them to M / F.
    pub sex_words: Option<(String, String)>,
    /// Serbian Latin → Cyrillic pairs, two-letter Latin first.
    cyrillic: Vec<(Vec<char>, char)>,
}

impl Lexicon {
    pub(crate) fn new(reference: &Reference) -> Lexicon {
        let mut lexicon = Lexicon {
            cyrillic: cyrillic_table(reference),
            ..Lexicon::default()
        };
        lexicon.places = reference
            .municipalities
            .iter()
            .map(|m| place_forms(reference, m))
            .collect();
        lexicon.communities = CommunityKind::ALL
            .iter()
            .filter_map(|&kind| lexicon.community_forms(reference, kind))
            .collect();
        let codes = STREET_ACTIVITIES
            .iter()
            .map(|(code, _, _)| *code)
            .chain(EMPLOYER_ACTIVITIES.iter().map(|(code, _)| *code));
        lexicon.activities = codes
            .filter_map(|code| lexicon.activity_forms(reference, code))
            .collect();
        lexicon.foreign_places = FOREIGN_PLACES
            .iter()
            .filter(|p| matches!(reference.place(p), PlaceMatch::Unknown))
            .map(|p| (*p).to_string())
            .collect();
        let male = reference.sex("Mashkull").map(|s| s.code.as_str());
        let female = reference.sex("Femër").map(|s| s.code.as_str());
        if male == Some("M") && female == Some("F") {
            lexicon.sex_words = Some(("Mashkull".to_string(), "Femër".to_string()));
        }
        lexicon
    }

    /// Serbian Latin → Serbian Cyrillic (Jovanović → Јовановић); other characters stay.
    pub(crate) fn to_cyrillic(&self, text: &str) -> String {
        let chars: Vec<char> = text.chars().collect();
        let mut out = String::with_capacity(text.len() * 2);
        let mut i = 0;
        'outer: while i < chars.len() {
            for (latin, cyr) in &self.cyrillic {
                let end = i + latin.len();
                if chars.get(i..end) == Some(latin.as_slice()) {
                    out.push(*cyr);
                    i = end;
                    continue 'outer;
                }
            }
            if let Some(c) = chars.get(i) {
                out.push(*c);
            }
            i += 1;
        }
        out
    }

    /// True when the table can write `text` in Cyrillic completely (no Latin letter left over).
    pub(crate) fn can_write_cyrillic(&self, text: &str) -> bool {
        !self.cyrillic.is_empty()
            && self
                .to_cyrillic(text)
                .chars()
                .all(|c| !c.is_alphabetic() || is_cyrillic(c))
    }

    /// The index of a community kind in `communities`.
    pub(crate) fn community_index(&self, kind: CommunityKind) -> Option<usize> {
        self.communities.iter().position(|c| c.kind == kind)
    }

    /// The index of an activity code in `activities`.
    pub(crate) fn activity_index(&self, code: &str) -> Option<usize> {
        self.activities.iter().position(|a| a.code == code)
    }

    /// The index of a municipality code in `places`.
    pub(crate) fn place_index(&self, code: &str) -> Option<usize> {
        self.places.iter().position(|p| p.code == code)
    }

    fn community_forms(
        &self,
        reference: &Reference,
        kind: CommunityKind,
    ) -> Option<CommunityForms> {
        let entry = kind.lookups().iter().find_map(|l| reference.community(l))?;
        let resolves = |form: &str| {
            reference
                .community(form)
                .is_some_and(|e| e.code == entry.code)
        };
        let code = entry.code.to_lowercase();
        if !resolves(&code) {
            return None;
        }
        let police_forms = albanian_forms(&entry.name_sq, &entry.name_sr, &entry.aliases, resolves);
        let serbian_latin = pick(&entry.name_sr, &entry.name_sq, resolves);
        let serbian_cyrillic = pick(&self.to_cyrillic(&serbian_latin), &serbian_latin, resolves);
        Some(CommunityForms {
            kind,
            code,
            police_forms,
            serbian_latin,
            serbian_cyrillic,
        })
    }

    fn activity_forms(&self, reference: &Reference, code: &str) -> Option<ActivityForms> {
        let activity = reference
            .activity_by_code(code)
            .or_else(|| reference.activity(code))?;
        let resolves = |form: &str| {
            reference
                .activity(form)
                .is_some_and(|a| a.code == activity.code)
        };
        if !resolves(&activity.code) {
            return None;
        }
        let police_forms = albanian_forms(
            &activity.name_sq,
            &activity.name_sr,
            &activity.aliases,
            resolves,
        );
        let serbian_latin = pick(&activity.name_sr, &activity.name_sq, resolves);
        let serbian_cyrillic = pick(&self.to_cyrillic(&serbian_latin), &serbian_latin, resolves);
        Some(ActivityForms {
            code: activity.code.clone(),
            police_forms,
            serbian_latin,
            serbian_cyrillic,
            nace: activity.nace.clone(),
            hazardous: activity.hazardous,
        })
    }
}

/// `preferred` if it resolves, else `fallback`.
fn pick(preferred: &str, fallback: &str, resolves: impl Fn(&str) -> bool) -> String {
    if !preferred.is_empty() && resolves(preferred) {
        preferred.to_string()
    } else {
        fallback.to_string()
    }
}

/// `name_sq`, then the Albanian aliases (the files list Albanian forms first: everything before the
/// first Cyrillic form or the Serbian name), keeping only forms that resolve.
fn albanian_forms(
    name_sq: &str,
    name_sr: &str,
    aliases: &[String],
    resolves: impl Fn(&str) -> bool,
) -> Vec<String> {
    let mut forms = vec![name_sq.to_string()];
    for alias in albanian_aliases(name_sq, name_sr, aliases) {
        if !forms.contains(alias) && resolves(alias) {
            forms.push(alias.clone());
        }
    }
    forms
}

/// The leading aliases up to the first Cyrillic one or the Serbian name (when it differs from the
/// Albanian one).
fn albanian_aliases<'a>(
    name_sq: &'a str,
    name_sr: &'a str,
    aliases: &'a [String],
) -> impl Iterator<Item = &'a String> + 'a {
    aliases.iter().take_while(move |a| {
        !a.chars().any(is_cyrillic) && (name_sr == name_sq || a.as_str() != name_sr)
    })
}

fn place_forms(reference: &Reference, m: &crate::reference::Municipality) -> PlaceForms {
    let resolves =
        |form: &str| matches!(reference.place(form), PlaceMatch::Known(k) if k.code == m.code);
    let plain_sq = strip_diacritics(&m.name_sq, false);
    let mut candidates = vec![
        m.name_sq.clone(),
        plain_sq.clone(),
        m.name_sq.to_uppercase(),
        plain_sq.to_uppercase(),
        strip_diacritics(&m.name_sq, true),
    ];
    for alias in albanian_aliases(&m.name_sq, &m.name_sr, &m.aliases) {
        candidates.push(alias.clone());
        candidates.push(strip_diacritics(alias, false));
    }
    let police_forms = resolving(candidates, resolves, &m.name_sq);
    let serbian_forms = resolving(
        vec![m.name_sr.clone(), strip_diacritics(&m.name_sr, false)],
        resolves,
        &m.name_sq,
    );
    let code: String = m
        .code
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_uppercase();
    let population = POPULATION
        .iter()
        .find(|(c, _)| *c == m.code)
        .map_or(10.0, |(_, p)| *p);
    PlaceForms {
        code,
        name_sq: m.name_sq.clone(),
        name_sr: pick(&m.name_sr, &m.name_sq, resolves),
        name_sr_cyrl: pick(&m.name_sr_cyrl, &m.name_sq, resolves),
        serbian_office: m.office_language == "sr",
        plain: pick(&plain_sq, &m.name_sq, resolves),
        police_forms,
        serbian_forms,
        population,
    }
}

/// The distinct non-empty `candidates` that resolve; `fallback` if none does.
fn resolving(
    candidates: Vec<String>,
    resolves: impl Fn(&str) -> bool,
    fallback: &str,
) -> Vec<String> {
    let mut forms: Vec<String> = Vec::new();
    for form in candidates {
        if !form.is_empty() && !forms.contains(&form) && resolves(&form) {
            forms.push(form);
        }
    }
    if forms.is_empty() {
        forms.push(fallback.to_string());
    }
    forms
}

/// The inverse of the reference's Cyrillic → Latin table, recovered through the folder: every
/// Cyrillic letter the folder changes, with its Latin spelling; two-letter spellings first.
fn cyrillic_table(reference: &Reference) -> Vec<(Vec<char>, char)> {
    let mut table: Vec<(Vec<char>, char)> = ('\u{0400}'..='\u{045F}')
        .filter_map(|c| {
            let cyr = c.to_string();
            let latin = reference.folder.to_latin(&cyr);
            (latin != cyr && !latin.is_empty()).then(|| (latin.chars().collect(), c))
        })
        .collect();
    table.sort_by(|a, b| b.0.len().cmp(&a.0.len()).then(a.0.cmp(&b.0)));
    table
}
