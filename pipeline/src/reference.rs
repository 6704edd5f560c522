//! Reference data from `reference/`: municipalities with every name form, regions, activities, worst
//! forms, communities, sex codes, the Serbian Cyrillic → Latin table and age groups, with folded-key lookups.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::standardise::Folder;

/// Failure to load a reference file: names the file and, where known, the line.
#[derive(Debug, thiserror::Error)]
pub enum ReferenceError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}, line {line}: {message}")]
    Parse {
        path: PathBuf,
        line: u64,
        message: String,
    },
    #[error("{path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

/// One municipality and every name form that records use for it.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Municipality {
    pub code: String,
    #[serde(default)]
    pub kas: String,
    pub name_sq: String,
    pub name_sr: String,
    pub name_sr_cyrl: String,
    pub name_en: String,
    /// Language the municipality's social-work office most likely writes in (`sq` or `sr`).
    pub office_language: String,
    #[serde(deserialize_with = "pipe_list")]
    pub aliases: Vec<String>,
}

/// A place name that fits several municipalities; flagged rather than guessed.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AmbiguousPlace {
    pub alias: String,
    #[serde(deserialize_with = "pipe_list")]
    pub candidates: Vec<String>,
    /// Region all candidates share, if any.
    #[serde(default)]
    pub region: String,
}

/// A coded value with names in the three languages and the aliases records use.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct CodeEntry {
    pub code: String,
    pub name_sq: String,
    pub name_sr: String,
    pub name_en: String,
    #[serde(default, deserialize_with = "pipe_list")]
    pub aliases: Vec<String>,
}

/// A child-labour activity, with its ILO C182 worst-form category and hazard flag.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct Activity {
    pub code: String,
    pub name_sq: String,
    pub name_sr: String,
    pub name_en: String,
    #[serde(default)]
    pub worst_form: String,
    pub hazardous: bool,
    #[serde(default)]
    pub nace: String,
    #[serde(default, deserialize_with = "pipe_list")]
    pub aliases: Vec<String>,
}

/// An age band used in counts (SDG 8.7.1 groupings).
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub struct AgeGroup {
    pub code: String,
    pub min_age: u32,
    pub max_age: u32,
    pub name_sq: String,
    pub name_sr: String,
    pub name_en: String,
}

#[derive(Debug, Deserialize)]
struct TransliterationRow {
    cyrillic: String,
    latin: String,
}

#[derive(Debug, Deserialize)]
struct CrosswalkRow {
    municipality: String,
    region: String,
}

#[derive(Debug, Deserialize)]
struct PrefixRow {
    prefix: String,
}

/// The result of looking a place name up.
#[derive(Debug, Clone, PartialEq)]
pub enum PlaceMatch<'a> {
    Known(&'a Municipality),
    Ambiguous(&'a AmbiguousPlace),
    Unknown,
}

/// All reference data, loaded once per run.
#[derive(Debug, Clone)]
pub struct Reference {
    pub municipalities: Vec<Municipality>,
    pub ambiguous_places: Vec<AmbiguousPlace>,
    pub regions: Vec<CodeEntry>,
    /// Municipality code → region code, from the configured crosswalk.
    pub region_of: BTreeMap<String, String>,
    pub activities: Vec<Activity>,
    pub worst_forms: Vec<CodeEntry>,
    pub communities: Vec<CodeEntry>,
    pub sexes: Vec<CodeEntry>,
    pub age_groups: Vec<AgeGroup>,
    pub folder: Folder,
    place_prefixes: Vec<String>,
    place_index: BTreeMap<String, usize>,
    ambiguous_index: BTreeMap<String, usize>,
    activity_index: BTreeMap<String, usize>,
    community_index: BTreeMap<String, usize>,
    sex_index: BTreeMap<String, usize>,
    /// Municipality code → index (publication looks one up for every record and file: hashed, as
    /// codes share their first letters).
    municipality_index: rustc_hash::FxHashMap<String, usize>,
}

impl Reference {
    /// Loads every reference file from `dir`, with the named region crosswalk.
    pub fn load(dir: &Path, region_crosswalk: &str) -> Result<Reference, ReferenceError> {
        let transliteration: Vec<TransliterationRow> = read_csv(&dir.join("transliteration.csv"))?;
        let folder = Folder::new(
            transliteration
                .into_iter()
                .map(|row| (row.cyrillic, row.latin))
                .collect(),
        );
        let crosswalk_path = dir
            .join("crosswalks")
            .join(format!("{region_crosswalk}.csv"));
        let crosswalk: Vec<CrosswalkRow> = read_csv(&crosswalk_path)?;
        let prefixes: Vec<PrefixRow> = read_csv(&dir.join("place_prefixes.csv"))?;
        let mut reference = Reference {
            municipalities: read_csv(&dir.join("municipalities.csv"))?,
            ambiguous_places: read_csv(&dir.join("ambiguous_places.csv"))?,
            regions: read_csv(&dir.join("regions.csv"))?,
            region_of: crosswalk
                .into_iter()
                .map(|row| (row.municipality, row.region))
                .collect(),
            activities: read_csv(&dir.join("activities.csv"))?,
            worst_forms: read_csv(&dir.join("worst_forms.csv"))?,
            communities: read_csv(&dir.join("communities.csv"))?,
            sexes: read_csv(&dir.join("sex.csv"))?,
            age_groups: read_csv(&dir.join("age_groups.csv"))?,
            place_prefixes: Vec::new(),
            folder,
            place_index: BTreeMap::new(),
            ambiguous_index: BTreeMap::new(),
            activity_index: BTreeMap::new(),
            community_index: BTreeMap::new(),
            sex_index: BTreeMap::new(),
            municipality_index: rustc_hash::FxHashMap::default(),
        };
        let mut place_prefixes: Vec<String> = prefixes
            .iter()
            .map(|p| reference.folder.fold(&p.prefix))
            .filter(|p| !p.is_empty())
            .collect();
        // Longest first, so "komuna e" is stripped before "komuna".
        place_prefixes.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        reference.place_prefixes = place_prefixes;
        reference.build_indexes(dir)?;
        Ok(reference)
    }

    fn build_indexes(&mut self, dir: &Path) -> Result<(), ReferenceError> {
        let folder = &self.folder;
        let mut place_index: BTreeMap<String, usize> = BTreeMap::new();
        for (i, m) in self.municipalities.iter().enumerate() {
            let names = [&m.code, &m.name_sq, &m.name_sr, &m.name_sr_cyrl, &m.name_en];
            for name in names.into_iter().chain(m.aliases.iter()) {
                let key = folder.fold(name);
                if let Some(&other) = place_index.get(&key) {
                    if other != i {
                        return Err(ReferenceError::Invalid {
                            path: dir.join("municipalities.csv"),
                            message: format!(
                                "the name form \"{name}\" fits both {} and {}",
                                self.municipalities
                                    .get(other)
                                    .map_or("?", |o| o.code.as_str()),
                                m.code
                            ),
                        });
                    }
                }
                place_index.insert(key, i);
            }
            if !self.region_of.contains_key(&m.code) {
                return Err(ReferenceError::Invalid {
                    path: dir.join("crosswalks"),
                    message: format!("the region crosswalk has no region for {}", m.code),
                });
            }
        }
        let mut ambiguous_index = BTreeMap::new();
        for (i, a) in self.ambiguous_places.iter().enumerate() {
            ambiguous_index.insert(folder.fold(&a.alias), i);
        }
        self.activity_index = index_entries(
            folder,
            self.activities
                .iter()
                .map(|a| (&a.code, [&a.name_sq, &a.name_sr, &a.name_en], &a.aliases)),
        );
        self.community_index = index_code_entries(folder, &self.communities);
        self.sex_index = index_code_entries(folder, &self.sexes);
        self.municipality_index = self
            .municipalities
            .iter()
            .enumerate()
            .rev()
            .map(|(i, m)| (m.code.clone(), i))
            .collect();
        self.place_index = place_index;
        self.ambiguous_index = ambiguous_index;
        Ok(())
    }

    /// Looks a place name up in every script and spelling.
    pub fn place(&self, name: &str) -> PlaceMatch<'_> {
        let key = self.folder.fold(name);
        if let Some(m) = self.lookup_place_key(&key) {
            return m;
        }
        for prefix in &self.place_prefixes {
            if let Some(rest) = key.strip_prefix(prefix.as_str()) {
                let rest = rest.trim();
                if let Some(m) = self.lookup_place_key(rest) {
                    return m;
                }
                // Genitive: "komuna e prishtines" → "prishtine".
                if let Some(stem) = rest.strip_suffix('s') {
                    if let Some(m) = self.lookup_place_key(stem) {
                        return m;
                    }
                }
            }
        }
        PlaceMatch::Unknown
    }

    fn lookup_place_key(&self, key: &str) -> Option<PlaceMatch<'_>> {
        if let Some(&i) = self.place_index.get(key) {
            return self.municipalities.get(i).map(PlaceMatch::Known);
        }
        if let Some(&i) = self.ambiguous_index.get(key) {
            return self.ambiguous_places.get(i).map(PlaceMatch::Ambiguous);
        }
        None
    }

    /// The municipality with this internal code.
    pub fn municipality(&self, code: &str) -> Option<&Municipality> {
        self.municipality_index
            .get(code)
            .and_then(|&i| self.municipalities.get(i))
    }

    /// The region code of a municipality, from the configured crosswalk.
    pub fn region(&self, municipality_code: &str) -> Option<&str> {
        self.region_of.get(municipality_code).map(String::as_str)
    }

    /// The activity a name form stands for.
    pub fn activity(&self, name: &str) -> Option<&Activity> {
        let key = self.folder.fold(name);
        self.activity_index
            .get(&key)
            .and_then(|&i| self.activities.get(i))
    }

    /// The activity with this code.
    pub fn activity_by_code(&self, code: &str) -> Option<&Activity> {
        self.activities.iter().find(|a| a.code == code)
    }

    /// The community code a name form stands for.
    pub fn community(&self, name: &str) -> Option<&CodeEntry> {
        let key = self.folder.fold(name);
        self.community_index
            .get(&key)
            .and_then(|&i| self.communities.get(i))
    }

    /// The sex code (`M` / `F`) a name form stands for.
    pub fn sex(&self, name: &str) -> Option<&CodeEntry> {
        let key = self.folder.fold(name);
        self.sex_index.get(&key).and_then(|&i| self.sexes.get(i))
    }

    /// The age group an age in whole years falls in.
    pub fn age_group(&self, age: u32) -> Option<&AgeGroup> {
        self.age_groups
            .iter()
            .find(|g| g.min_age <= age && age <= g.max_age)
    }
}

fn index_code_entries(folder: &Folder, entries: &[CodeEntry]) -> BTreeMap<String, usize> {
    index_entries(
        folder,
        entries
            .iter()
            .map(|e| (&e.code, [&e.name_sq, &e.name_sr, &e.name_en], &e.aliases)),
    )
}

fn index_entries<'a>(
    folder: &Folder,
    entries: impl Iterator<Item = (&'a String, [&'a String; 3], &'a Vec<String>)>,
) -> BTreeMap<String, usize> {
    let mut index = BTreeMap::new();
    for (i, (code, names, aliases)) in entries.enumerate() {
        let forms = std::iter::once(code).chain(names).chain(aliases.iter());
        for form in forms {
            // The first entry to claim a form keeps it; the check command reports collisions.
            index.entry(folder.fold(form)).or_insert(i);
        }
    }
    index
}

fn pipe_list<'de, D>(deserializer: D) -> Result<Vec<String>, D::Error>
where
    D: serde::Deserializer<'de>,
{
    let raw = String::deserialize(deserializer)?;
    Ok(raw
        .split('|')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect())
}

/// Reads a whole reference CSV (UTF-8, header row) into typed rows.
pub fn read_csv<T: DeserializeOwned>(path: &Path) -> Result<Vec<T>, ReferenceError> {
    let bytes = std::fs::read(path).map_err(|source| ReferenceError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .trim(csv::Trim::All)
        .from_reader(bytes.as_slice());
    let mut rows = Vec::new();
    for result in reader.deserialize() {
        let row = result.map_err(|e| ReferenceError::Parse {
            path: path.to_path_buf(),
            line: e.position().map_or(0, csv::Position::line),
            message: csv_error_message(&e),
        })?;
        rows.push(row);
    }
    Ok(rows)
}

fn csv_error_message(error: &csv::Error) -> String {
    match error.kind() {
        csv::ErrorKind::Deserialize { err, .. } => match err.field() {
            Some(field) => format!("column {}: {}", field + 1, err.kind()),
            None => err.kind().to_string(),
        },
        _ => error.to_string(),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::panic)]
mod tests {
    use super::*;

    fn shipped() -> Reference {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reference");
        Reference::load(&dir, "kas_districts").unwrap()
    }

    fn code(reference: &Reference, name: &str) -> String {
        match reference.place(name) {
            PlaceMatch::Known(m) => m.code.clone(),
            other => panic!("{name}: {other:?}"),
        }
    }

    #[test]
    fn every_name_form_finds_its_municipality() {
        let r = shipped();
        assert_eq!(r.municipalities.len(), 38);
        for name in [
            "Prishtinë",
            "Prishtina",
            "PRISHTINE",
            "Priština",
            "Pristina",
            "Приштина",
            "Komuna e Prishtinës",
        ] {
            assert_eq!(code(&r, name), "PRI", "{name}");
        }
        for name in ["Gjakovë", "Gjakova", "Đakovica", "Djakovica", "Ђаковица"] {
            assert_eq!(code(&r, name), "GJA", "{name}");
        }
        assert_eq!(code(&r, "Drenas"), "GLL");
        assert_eq!(code(&r, "Severna Mitrovica"), "MIV");
        assert_eq!(code(&r, "Fushe Kosove"), "FKO");
        assert_eq!(r.region("PRI"), Some("PR"));
    }

    #[test]
    fn mitrovica_alone_is_ambiguous_and_foreign_places_unknown() {
        let r = shipped();
        for name in ["Mitrovica", "Mitrovicë", "Митровица"] {
            match r.place(name) {
                PlaceMatch::Ambiguous(a) => assert_eq!(a.region, "MI"),
                other => panic!("{name}: {other:?}"),
            }
        }
        for name in ["Beograd", "Tiranë", "Skopje", ""] {
            assert_eq!(r.place(name), PlaceMatch::Unknown, "{name}");
        }
    }

    #[test]
    fn coded_lists_accept_codes_names_and_aliases() {
        let r = shipped();
        assert_eq!(
            r.activity("Lypje").map(|a| a.code.as_str()),
            Some("begging")
        );
        assert_eq!(
            r.activity("begging").map(|a| a.code.as_str()),
            Some("begging")
        );
        assert_eq!(
            r.activity("Просјачење").map(|a| a.code.as_str()),
            Some("begging")
        );
        assert_eq!(r.community("Rom").map(|c| c.code.as_str()), Some("roma"));
        assert_eq!(
            r.community("Egjiptian").map(|c| c.code.as_str()),
            Some("egyptian")
        );
        assert_eq!(r.sex("Femër").map(|c| c.code.as_str()), Some("F"));
        assert_eq!(r.sex("женски").map(|c| c.code.as_str()), Some("F"));
        assert_eq!(r.age_group(14).map(|g| g.code.as_str()), Some("12-14"));
        assert_eq!(r.age_group(18), None);
    }
}
