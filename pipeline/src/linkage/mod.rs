//! The linkage stage: which accepted records describe the same child. `Linker` is the seam where
//! probabilistic linkage replaces the deterministic rules of `deterministic.rs`.

pub mod deterministic;
pub mod probabilistic;

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate};

use crate::model::CanonicalCase;
use crate::standardise::{name_key, Folder};

/// What linkage needs of one record, standardised once.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkRecord {
    pub source: String,
    pub record_id: String,
    pub personal_number: Option<String>,
    /// `M` / `F`, to refuse a personal-number link between records that disagree on sex.
    pub sex: Option<String>,
    pub given_key: String,
    pub surname_key: String,
    /// Father's given name, spelling-keyed (empty when unknown).
    pub father_key: String,
    /// Full date of birth only.
    pub birth_date: Option<NaiveDate>,
    /// Earliest and latest date of birth the record allows, if any: a full date of birth; the month
    /// or year of a partial one (or of an estimated 01.01); or the year-long span of dates an age at
    /// the event allows (12 on 15 March 2025: born 16 March 2012 to 15 March 2013).
    pub birth_window: Option<(NaiveDate, NaiveDate)>,
    pub municipality: Option<String>,
    pub region: Option<String>,
    /// When the institution met the child: one child's records cluster in time (a police
    /// identification, the social-work referral weeks later, an inspection that season).
    pub event_date: Option<NaiveDate>,
    /// Activity code: a child is usually found at the same work by every institution.
    pub activity: Option<String>,
    /// Community code: how the child's family identifies, which every institution records.
    pub community: Option<String>,
}

impl LinkRecord {
    /// Standardises a case for linkage.
    pub fn from_case(source: &str, case: &CanonicalCase, folder: &Folder) -> LinkRecord {
        let key = |name: &Option<String>| {
            name.as_deref()
                .map(|n| name_key(folder, n))
                .unwrap_or_default()
        };
        LinkRecord {
            source: source.to_string(),
            record_id: case.record_id.clone().unwrap_or_default(),
            personal_number: case
                .personal_number
                .clone()
                .filter(|p| usable_personal_number(p)),
            sex: case.sex.clone(),
            given_key: key(&case.given_name),
            surname_key: key(&case.surname),
            father_key: key(&case.father_name),
            // 01.01.yyyy is how offices write an estimated birthday: for linkage it is a year.
            birth_date: case
                .birth_date
                .and_then(|b| b.as_full())
                .filter(|d| (d.month(), d.day()) != (1, 1)),
            birth_window: birth_window(case),
            municipality: case.municipality.clone(),
            region: case.region.clone(),
            event_date: case.event_date,
            activity: case.activity.clone(),
            community: case.community.clone(),
        }
    }
}

impl LinkRecord {
    /// Earliest and latest year of birth the record allows, if any.
    pub fn birth_years(&self) -> Option<(i32, i32)> {
        self.birth_window.map(|(from, to)| (from.year(), to.year()))
    }
}

/// The dates of birth a case allows: its date of birth, the month or year of a partial one, or the
/// year of dates that make it `age` on the event day.
fn birth_window(case: &CanonicalCase) -> Option<(NaiveDate, NaiveDate)> {
    if let Some(birth) = case.birth_date {
        if let Some(date) = birth.as_full().filter(|d| (d.month(), d.day()) != (1, 1)) {
            return Some((date, date));
        }
        let (first_month, last_month) = match birth.month.filter(|_| birth.day.is_none()) {
            Some(month) => (month, month),
            None => (1, 12),
        };
        let first = NaiveDate::from_ymd_opt(birth.year, first_month, 1)?;
        let last = NaiveDate::from_ymd_opt(birth.year, last_month, 1)?
            .checked_add_months(chrono::Months::new(1))?
            .pred_opt()?;
        return Some((first, last));
    }
    let (age, event) = (case.age?, case.event_date?);
    let age = i32::try_from(age).ok()?;
    let latest = years_before(event, age)?;
    let earliest = years_before(event, age + 1)?.succ_opt()?;
    Some((earliest, latest))
}

/// `date` `years` years earlier (29 February becomes 28 February).
fn years_before(date: NaiveDate, years: i32) -> Option<NaiveDate> {
    let year = date.year() - years;
    NaiveDate::from_ymd_opt(year, date.month(), date.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, date.month(), 28))
}

/// A personal number fit to link on: 10 digits (Kosovo) or 13 (JMBG), and not a placeholder such as
/// `0000000000` that offices type when the child has no number.
pub fn usable_personal_number(number: &str) -> bool {
    let digits = number.len();
    let all_digits = number.chars().all(|c| c.is_ascii_digit());
    let first = number.chars().next();
    let placeholder =
        number.chars().all(|c| Some(c) == first) || number == &"1234567890123"[..digits.min(13)];
    (digits == 10 || digits == 13) && all_digits && !placeholder
}

/// Groups of records that are the same child, plus how they were found.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Linkage {
    /// Each cluster lists record indexes in ascending order; clusters are sorted by their first index.
    pub clusters: Vec<Vec<usize>>,
    /// Name of the method, for the manifest.
    pub method: String,
    /// Pairs linked per linking rule (before transitive closure).
    pub links_by_rule: BTreeMap<String, usize>,
    /// Uncertain pairs left in different clusters, most likely first: the clerical review queue.
    pub review: Vec<(usize, usize, f64)>,
    /// Wall-clock seconds of the linker's steps (block, score, cluster), for the benchmark.
    pub stage_seconds: BTreeMap<String, f64>,
}

/// Two record indexes, smaller first.
pub type IndexPair = (usize, usize);

/// A record as review decisions name it: source and record id.
pub type RecordKey = (String, String);

/// Clerical review decisions: pairs of records that are the same child, or different children.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReviewDecisions {
    pub same: Vec<(RecordKey, RecordKey)>,
    pub different: Vec<(RecordKey, RecordKey)>,
}

impl ReviewDecisions {
    /// The decisions as index pairs into `records` (every record carrying each reference).
    pub fn resolve(&self, records: &[LinkRecord]) -> (Vec<IndexPair>, Vec<IndexPair>) {
        // Only the records the decisions name are indexed (a register has a million records and a
        // reviewer a few hundred decisions).
        let mut index: BTreeMap<(&str, &str), Vec<usize>> = self
            .same
            .iter()
            .chain(&self.different)
            .flat_map(|(a, b)| [a, b])
            .map(|(source, id)| ((source.as_str(), id.as_str()), Vec::new()))
            .collect();
        if !index.is_empty() {
            for (i, r) in records.iter().enumerate() {
                if let Some(found) = index.get_mut(&(r.source.as_str(), r.record_id.as_str())) {
                    found.push(i);
                }
            }
        }
        let pairs = |decided: &[(RecordKey, RecordKey)]| {
            let mut out = Vec::new();
            for (a, b) in decided {
                let left = index.get(&(a.0.as_str(), a.1.as_str()));
                let right = index.get(&(b.0.as_str(), b.1.as_str()));
                if let (Some(left), Some(right)) = (left, right) {
                    for &i in left {
                        for &j in right {
                            if i != j {
                                out.push((i.min(j), i.max(j)));
                            }
                        }
                    }
                }
            }
            out.sort_unstable();
            out.dedup();
            out
        };
        (pairs(&self.same), pairs(&self.different))
    }
}

/// A linkage method.
pub trait Linker {
    fn link(&self, records: &[LinkRecord]) -> Linkage;
}

/// Which linker a run uses (`method` in `rules/linkage.toml`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Method {
    Deterministic,
    #[default]
    FellegiSunter,
}

/// `rules/linkage.toml`.
#[derive(Debug, Clone, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkageConfig {
    #[serde(default)]
    pub method: Method,
    #[serde(default)]
    pub probabilistic: probabilistic::ProbabilisticSettings,
}

impl LinkageConfig {
    /// Loads the configuration's `rules/linkage.toml` (see [`LinkageConfig::load`]), with each
    /// source's institution, which the referrals name.
    pub fn for_config(
        config: &crate::config::Config,
    ) -> Result<LinkageConfig, crate::config::ConfigError> {
        let mut linkage = LinkageConfig::load(&config.paths.rules.join("linkage.toml"))?;
        linkage.probabilistic.institution_of = config
            .sources
            .iter()
            .map(|(name, source)| (name.clone(), source.institution.clone()))
            .collect();
        Ok(linkage)
    }

    /// Loads `linkage.toml`; without the file, deterministic linkage.
    pub fn load(path: &std::path::Path) -> Result<LinkageConfig, crate::config::ConfigError> {
        if !path.exists() {
            return Ok(LinkageConfig {
                method: Method::Deterministic,
                ..LinkageConfig::default()
            });
        }
        crate::config::read_toml(path)
    }

    /// The configured linker, applying clerical review decisions (the probabilistic linker only; exact
    /// keys leave no uncertain pairs to review).
    pub fn linker(&self, decisions: ReviewDecisions) -> Box<dyn Linker> {
        match self.method {
            Method::Deterministic => Box::new(deterministic::DeterministicLinker),
            Method::FellegiSunter => Box::new(probabilistic::ProbabilisticLinker {
                settings: self.probabilistic.clone(),
                decisions,
            }),
        }
    }
}

/// Union-find over record indexes.
#[derive(Debug, Clone)]
pub struct DisjointSets {
    parent: Vec<usize>,
}

impl DisjointSets {
    pub fn new(n: usize) -> DisjointSets {
        DisjointSets {
            parent: (0..n).collect(),
        }
    }

    pub fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// Joins the sets of `a` and `b`; true if they were apart.
    pub fn union(&mut self, a: usize, b: usize) -> bool {
        let (ra, rb) = (self.find(a), self.find(b));
        if ra == rb {
            return false;
        }
        let (small, large) = if ra < rb { (ra, rb) } else { (rb, ra) };
        self.parent[large] = small;
        true
    }

    /// The sets, each sorted, ordered by their smallest member.
    pub fn sets(mut self) -> Vec<Vec<usize>> {
        let n = self.parent.len();
        // Each set is numbered when its smallest member comes up.
        let mut number_of_root = vec![usize::MAX; n];
        let mut sets: Vec<Vec<usize>> = Vec::new();
        for i in 0..n {
            let root = self.find(i);
            let number = match number_of_root[root] {
                usize::MAX => {
                    number_of_root[root] = sets.len();
                    sets.push(Vec::new());
                    sets.len() - 1
                }
                number => number,
            };
            sets[number].push(i);
        }
        sets
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use crate::model::PartialDate;

    fn date(y: i32, m: u32, d: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, d).unwrap_or_default()
    }

    fn window(birth: Option<PartialDate>, age: Option<u32>) -> Option<(NaiveDate, NaiveDate)> {
        let case = CanonicalCase {
            birth_date: birth,
            age,
            event_date: Some(date(2025, 3, 15)),
            ..CanonicalCase::default()
        };
        LinkRecord::from_case("police", &case, &Folder::new(Vec::new())).birth_window
    }

    #[test]
    fn the_linkage_rules_of_a_configuration_know_each_sources_institution() {
        let work = tempfile::tempdir().unwrap();
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .unwrap()
            .to_path_buf();
        let source = |name: &str, institution: &str| {
            format!(
                "[sources.{name}]\ninstitution = \"{institution}\"\npath = \".\"\nglob = \"*.csv\"\n\
                 schema = \"police.schema.json\"\nmapping = \"police.toml\"\n\
                 format = {{ format = \"csv\", delimiter = \";\" }}\n"
            )
        };
        let text = format!(
            "[run]\noutput_dir = \"{work}/out\"\nstate_dir = \"{work}/state\"\n\n\
             [paths]\nschemas = \"{root}/schemas\"\nmappings = \"{root}/mappings\"\n\
             rules = \"{root}/rules\"\nreference = \"{root}/reference\"\n\
             templates = \"{root}/templates\"\n\n\
             [pseudonym]\nkey_env = \"REGBRIDGE_TEST_KEY_UNSET\"\n\n\
             [alerts]\nfrom = \"regbridge <regbridge@localhost>\"\ntransport = \"outbox\"\n\
             outbox_dir = \"{work}/outbox\"\n\n\
             [institutions.police]\nname = \"Police\"\nlanguage = \"sq\"\nrecipients = []\n\n\
             [institutions.csw]\nname = \"CSW\"\nlanguage = \"sq\"\nrecipients = []\n\n{}\n{}",
            source("police_north", "police"),
            source("qps_south", "csw"),
            work = work.path().display(),
            root = root.display(),
        );
        let path = work.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        let config = crate::config::Config::load(&path).unwrap();
        let linkage = LinkageConfig::for_config(&config).unwrap();
        let institution_of = &linkage.probabilistic.institution_of;
        assert_eq!(
            institution_of.get("police_north").map(String::as_str),
            Some("police")
        );
        assert_eq!(
            institution_of.get("qps_south").map(String::as_str),
            Some("csw")
        );
        assert!(
            !linkage.probabilistic.referrals.is_empty(),
            "the shipped rules declare one"
        );
    }

    #[test]
    fn a_birth_window_is_the_dates_of_birth_a_record_allows() {
        let partial = |year, month, day| Some(PartialDate { year, month, day });
        assert_eq!(
            window(partial(2012, Some(6), Some(9)), Some(12)),
            Some((date(2012, 6, 9), date(2012, 6, 9)))
        );
        // 12 on 15 March 2025.
        assert_eq!(
            window(None, Some(12)),
            Some((date(2012, 3, 16), date(2013, 3, 15)))
        );
        assert_eq!(
            window(partial(2012, Some(2), None), None),
            Some((date(2012, 2, 1), date(2012, 2, 29)))
        );
        // An estimated 01.01 and a bare year are the year.
        assert_eq!(
            window(partial(2012, Some(1), Some(1)), None),
            Some((date(2012, 1, 1), date(2012, 12, 31)))
        );
        assert_eq!(
            window(partial(2012, None, None), Some(12)),
            Some((date(2012, 1, 1), date(2012, 12, 31)))
        );
        assert_eq!(window(None, None), None);
        let years = LinkRecord {
            birth_window: window(None, Some(12)),
            ..LinkRecord::from_case(
                "police",
                &CanonicalCase::default(),
                &Folder::new(Vec::new()),
            )
        };
        assert_eq!(years.birth_years(), Some((2012, 2013)));
    }
}
