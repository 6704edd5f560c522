//! The synthetic population: families of children (siblings, twins, communities, municipalities,
//! activities) and which institution reported each child when, with deliberate defects; pure and
//! seeded.

use std::collections::BTreeMap;

use chrono::{Datelike, NaiveDate, TimeDelta};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

use super::lexicon::{CommunityKind, Lexicon, EMPLOYER_ACTIVITIES, STREET_ACTIVITIES};
use super::names::{Pool, Pools};
use super::{Defect, Source};

/// First and last possible event date.
pub(crate) const FIRST_EVENT: (i32, u32, u32) = (2024, 1, 1);
pub(crate) const LAST_EVENT: (i32, u32, u32) = (2026, 6, 30);

/// Share of reports that get exactly one defect.
const DEFECT_RATE: f64 = 0.03;
/// Probability that a report is repeated by the same institution (≈ 5 % of all reports).
const DUPLICATE_RATE: f64 = 0.0526;
/// Probability that a family with two or more children has twins (≈ 3 % of all families).
const TWIN_RATE: f64 = 0.043;

/// Institutions as bits of a set.
pub(crate) const POLICE: u8 = 1;
pub(crate) const CSW: u8 = 2;
pub(crate) const INSPECTORATE: u8 = 4;

/// How often a child is reported by which institutions: (set, weight) for Roma / Ashkali /
/// Egyptian children (more street work, fewer employers) …
const SETS_RAE: &[(u8, f64)] = &[
    (POLICE, 24.0),
    (CSW, 20.0),
    (INSPECTORATE, 5.0),
    (POLICE | CSW, 36.0),
    (POLICE | INSPECTORATE, 1.0),
    (CSW | INSPECTORATE, 2.0),
    (POLICE | CSW | INSPECTORATE, 12.0),
];
/// … and for the others, so that overall 47 % of children are in one institution, 37 % in two and
/// 16 % in three, and the records split 40 / 40 / 20 between police, social work and inspectorate.
const SETS_OTHER: &[(u8, f64)] = &[
    (POLICE, 18.63),
    (CSW, 15.85),
    (INSPECTORATE, 12.07),
    (POLICE | CSW, 28.68),
    (POLICE | INSPECTORATE, 2.22),
    (CSW | INSPECTORATE, 5.66),
    (POLICE | CSW | INSPECTORATE, 16.88),
];

/// Children per family: (count, weight).
const FAMILY_SIZES: &[(usize, f64)] = &[(1, 30.0), (2, 30.0), (3, 25.0), (4, 15.0)];

/// Age of the eldest child on the family's first event: (age, weight).
const ELDEST_AGES: &[(i32, f64)] = &[
    (8, 2.0),
    (9, 3.0),
    (10, 5.0),
    (11, 7.0),
    (12, 9.0),
    (13, 11.0),
    (14, 13.0),
    (15, 14.0),
    (16, 13.0),
    (17, 10.0),
];

/// Where children are found away from home: (municipality code, weight).
const CITIES: &[(&str, f64)] = &[
    ("PRI", 50.0),
    ("PRZ", 15.0),
    ("FER", 10.0),
    ("PEJ", 8.0),
    ("GJA", 7.0),
    ("GJI", 6.0),
    ("MIT", 4.0),
];

/// How a child's names are spelled at home.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NameStyle {
    /// Albanian orthography (Albanian, Roma / Ashkali / Egyptian and Turkish children).
    Albanian,
    /// Serbian Latin orthography (Serb, Bosniak and Gorani children).
    Serbian,
}

/// One child of the population.
#[derive(Debug, Clone)]
pub(crate) struct Child {
    pub given: &'static str,
    pub surname: &'static str,
    pub father: &'static str,
    pub style: NameStyle,
    pub male: bool,
    /// Index into `Lexicon::communities`.
    pub community: u8,
    /// Index into `Lexicon::places` (the social-work office's municipality).
    #[cfg_attr(not(test), allow(dead_code))]
    pub home: u16,
    /// Index into `Lexicon::activities`.
    pub activity: u8,
    pub birth: NaiveDate,
    /// The first nine digits of the personal number, when the child has one.
    pub personal_number: Option<u32>,
    pub trafficking: bool,
    pub family: u32,
    /// Institutions that reported the child (bits `POLICE`, `CSW`, `INSPECTORATE`).
    pub institutions: u8,
}

/// One institution's record of one child.
#[derive(Debug, Clone)]
pub(crate) struct Report {
    /// Index into the children.
    pub child: u32,
    /// The event (identification, referral, inspection) date; for `birth_after_event` in 2024.
    pub event: NaiveDate,
    /// Index into `Lexicon::places`: where the event happened (social work: the office).
    pub place: u16,
    /// Running number within the id's series (source and year, or social-work office).
    pub number: u32,
    pub source: Source,
    pub defect: Option<Defect>,
}

/// The date `(y, m, d)`, or the earliest date if it does not exist.
pub(crate) fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).unwrap_or(NaiveDate::MIN)
}

/// `date` moved by `days` (unchanged if that leaves chrono's range).
pub(crate) fn add_days(date: NaiveDate, days: i64) -> NaiveDate {
    TimeDelta::try_days(days)
        .and_then(|d| date.checked_add_signed(d))
        .unwrap_or(date)
}

/// `date` moved by whole years (29 February becomes 28 February).
pub(crate) fn add_years(date: NaiveDate, years: i32) -> NaiveDate {
    let year = date.year() + years;
    NaiveDate::from_ymd_opt(year, date.month(), date.day())
        .or_else(|| NaiveDate::from_ymd_opt(year, date.month(), 28))
        .unwrap_or(date)
}

/// Age in whole years on `at`.
pub(crate) fn age_at(birth: NaiveDate, at: NaiveDate) -> i32 {
    let mut age = at.year() - birth.year();
    if (at.month(), at.day()) < (birth.month(), birth.day()) {
        age -= 1;
    }
    age
}

/// Index drawn with the given weights.
pub(crate) fn weighted<R: Rng>(rng: &mut R, weights: impl Iterator<Item = f64> + Clone) -> usize {
    let total: f64 = weights.clone().sum();
    if total <= 0.0 {
        return 0;
    }
    let mut x = rng.random::<f64>() * total;
    let mut last = 0;
    for (i, w) in weights.enumerate() {
        if x < w {
            return i;
        }
        x -= w;
        if w > 0.0 {
            last = i;
        }
    }
    last
}

/// Picks one of `items` by weight.
fn pick_weighted<R: Rng, T: Copy>(rng: &mut R, items: &[(T, f64)]) -> Option<T> {
    items
        .get(weighted(rng, items.iter().map(|(_, w)| *w)))
        .map(|(t, _)| *t)
}

/// A child while its family is being built.
struct Member {
    given: &'static str,
    male: bool,
    set: u8,
    activity: u8,
    /// (source, day offset from the family's first event day).
    reports: Vec<(Source, i64)>,
    twin_of_previous: bool,
}

/// Builds families until the reports reach `records`.
pub(crate) fn populate(
    records: usize,
    rng: &mut ChaCha8Rng,
    lexicon: &Lexicon,
) -> (Vec<Child>, Vec<Report>) {
    let mut children: Vec<Child> = Vec::new();
    let mut reports: Vec<Report> = Vec::new();
    if lexicon.places.is_empty() || lexicon.activities.is_empty() || lexicon.communities.is_empty()
    {
        return (children, reports);
    }
    let pools = Pools::new();
    let planner = Planner::new(lexicon);
    let first = ymd(FIRST_EVENT.0, FIRST_EVENT.1, FIRST_EVENT.2);
    let last = ymd(LAST_EVENT.0, LAST_EVENT.1, LAST_EVENT.2);
    let window = (last - first).num_days();
    let mut family: u32 = 0;
    let mut numbered: u64 = 0;
    while reports.len() < records {
        let Some(&(kind, community)) = planner.communities.get(weighted(
            rng,
            planner.communities.iter().map(|(k, _)| k.share()),
        )) else {
            break;
        };
        let home = planner.home(rng, kind);
        let size = pick_weighted(rng, FAMILY_SIZES).unwrap_or(1);
        let twins = (size >= 2 && rng.random_bool(TWIN_RATE)).then(|| rng.random_range(1..size));
        let (surname, father, style) = family_names(rng, &pools, kind);

        // The children, their institutions, activities and report days.
        let mut members: Vec<Member> = Vec::with_capacity(size);
        let mut shared = SharedDays::default();
        for i in 0..size {
            let twin = twins == Some(i);
            let previous = members.last();
            let male = match (twin, previous) {
                (true, Some(p)) if rng.random_bool(0.7) => p.male,
                (true, Some(p)) => !p.male,
                _ => rng.random_bool(0.6),
            };
            let given = given_name(rng, &pools, kind, male, &members);
            let (set, activity, reports) = match (twin, previous) {
                (true, Some(p)) if rng.random_bool(0.8) => (p.set, p.activity, p.reports.clone()),
                _ => {
                    let set = pick_weighted(rng, if kind.is_rae() { SETS_RAE } else { SETS_OTHER })
                        .unwrap_or(POLICE);
                    let activity = planner.activity(rng, kind, set, previous.map(|p| p.activity));
                    (set, activity, report_days(rng, set, &mut shared))
                }
            };
            members.push(Member {
                given,
                male,
                set,
                activity,
                reports,
                twin_of_previous: twin,
            });
        }

        // Place the family in time, then give the children dates of birth that keep every event
        // between their 5th and 18th birthdays.
        let span = members
            .iter()
            .flat_map(|m| m.reports.iter().map(|(_, d)| *d))
            .max()
            .unwrap_or(0);
        let start = add_days(first, rng.random_range(0..=(window - span).max(0)));
        let end = add_days(start, span);
        let mut births: Vec<NaiveDate> = Vec::with_capacity(size);
        for (i, member) in members.iter().enumerate() {
            let birth = match births.last() {
                None => eldest_birth(rng, start, end),
                Some(&previous) if member.twin_of_previous => previous,
                Some(&previous) => add_days(previous, rng.random_range(300..=1300)),
            };
            if i > 0 && age_at(birth, start) < 5 {
                break;
            }
            births.push(birth);
        }
        members.truncate(births.len());

        for (member, birth) in members.into_iter().zip(births) {
            let Ok(child_index) = u32::try_from(children.len()) else {
                break;
            };
            let age = age_at(birth, start);
            let has_number = rng.random_bool(if age >= 14 { 0.6 } else { 0.08 });
            let personal_number = has_number.then(|| {
                numbered += 1;
                personal_number_body(numbered)
            });
            let activity_code = lexicon
                .activities
                .get(usize::from(member.activity))
                .map_or("", |a| a.code.as_str());
            let trafficking = rng.random_bool(match activity_code {
                "begging" => 0.08,
                c if STREET_ACTIVITIES.iter().any(|(s, _, _)| *s == c) => 0.03,
                _ => 0.005,
            });
            for (source, day) in &member.reports {
                let event = add_days(start, *day);
                let place = match source {
                    Source::Csw => home,
                    Source::Police => planner.away(rng, kind, home, 0.08),
                    Source::Inspectorate => planner.away(rng, kind, home, 0.10),
                };
                let defect = rng
                    .random_bool(DEFECT_RATE)
                    .then(|| {
                        Defect::ALL
                            .get(rng.random_range(0..Defect::ALL.len()))
                            .copied()
                    })
                    .flatten();
                let event = match defect {
                    Some(Defect::BirthAfterEvent) if event.year() != 2024 => {
                        NaiveDate::from_ymd_opt(2024, event.month(), event.day()).unwrap_or(event)
                    }
                    _ => event,
                };
                reports.push(Report {
                    child: child_index,
                    event,
                    place,
                    number: 0,
                    source: *source,
                    defect,
                });
            }
            children.push(Child {
                given: member.given,
                surname,
                father,
                style,
                male: member.male,
                community,
                home,
                activity: member.activity,
                birth,
                personal_number,
                trafficking,
                family,
                institutions: member.set,
            });
        }
        family = family.wrapping_add(1);
    }
    number_reports(&mut reports, lexicon.places.len());
    (children, reports)
}

/// Sorts reports by source and event date and gives each its running number: per source and
/// event year for police and inspectorate, per office for social work.
fn number_reports(reports: &mut [Report], offices: usize) {
    reports.sort_by_key(|r| (r.source, r.event));
    let mut per_year: BTreeMap<(Source, i32), u32> = BTreeMap::new();
    let mut per_office: Vec<u32> = vec![0; offices];
    for report in reports.iter_mut() {
        let counter = match report.source {
            Source::Csw => per_office.get_mut(usize::from(report.place)),
            source => Some(per_year.entry((source, report.event.year())).or_insert(0)),
        };
        if let Some(counter) = counter {
            *counter += 1;
            report.number = *counter;
        }
    }
}

/// Nine digits starting with 1, a different one for every `n` below 10⁸ (a bijection modulo 10⁸).
fn personal_number_body(n: u64) -> u32 {
    let scrambled = (n.wrapping_mul(48_271_367).wrapping_add(12_345_679)) % 100_000_000;
    u32::try_from(100_000_000 + scrambled).unwrap_or(100_000_000)
}

/// The full ten-digit personal number: nine digits and the check digit (weights 4,3,2,7,6,5,4,3,2;
/// check = 11 − (sum mod 11), 10 or 11 → 0).
pub(crate) fn personal_number(body: u32) -> String {
    let digits = format!("{body:09}");
    let weights = [4u32, 3, 2, 7, 6, 5, 4, 3, 2];
    let sum: u32 = digits
        .chars()
        .zip(weights)
        .map(|(c, w)| c.to_digit(10).unwrap_or(0) * w)
        .sum();
    let check = match 11 - (sum % 11) {
        10 | 11 => 0,
        c => c,
    };
    format!("{digits}{check}")
}

/// Days the family's children were seen together, so siblings share events.
#[derive(Default)]
struct SharedDays {
    police: Option<i64>,
    referral_delay: Option<i64>,
    csw: Option<i64>,
    inspection: Option<i64>,
}

fn shared_or<R: Rng>(
    rng: &mut R,
    slot: &mut Option<i64>,
    fresh: impl FnOnce(&mut R) -> i64,
) -> i64 {
    match *slot {
        Some(day) if rng.random_bool(0.6) => day,
        Some(_) => fresh(rng),
        None => {
            let day = fresh(rng);
            *slot = Some(day);
            day
        }
    }
}

/// The report days (offsets from the family's first event) of one child: police identify, the
/// social-work centre gets the referral a few days later, inspectors come on their own; sometimes
/// one institution reports the child again later.
fn report_days<R: Rng>(rng: &mut R, set: u8, shared: &mut SharedDays) -> Vec<(Source, i64)> {
    let mut days = Vec::with_capacity(4);
    let police =
        (set & POLICE != 0).then(|| shared_or(rng, &mut shared.police, |r| r.random_range(0..=60)));
    if let Some(day) = police {
        days.push((Source::Police, day));
    }
    if set & CSW != 0 {
        let day = match police {
            Some(p) => p + shared_or(rng, &mut shared.referral_delay, |r| r.random_range(0..=45)),
            None => shared_or(rng, &mut shared.csw, |r| r.random_range(0..=90)),
        };
        days.push((Source::Csw, day));
    }
    if set & INSPECTORATE != 0 {
        let day = shared_or(rng, &mut shared.inspection, |r| r.random_range(0..=150));
        days.push((Source::Inspectorate, day));
    }
    let originals = days.len();
    for i in 0..originals {
        if rng.random_bool(DUPLICATE_RATE) {
            if let Some(&(source, day)) = days.get(i) {
                days.push((source, day + rng.random_range(7..=120)));
            }
        }
    }
    days
}

/// The eldest child's date of birth: an age drawn for the first event day, kept so that the
/// child is at most 17 on the last event day.
fn eldest_birth<R: Rng>(rng: &mut R, start: NaiveDate, end: NaiveDate) -> NaiveDate {
    let mut age = pick_weighted(rng, ELDEST_AGES).unwrap_or(12);
    loop {
        let hi = add_years(start, -age);
        let lo_age = add_days(add_years(start, -(age + 1)), 1);
        let lo_adult = add_days(add_years(end, -18), 1);
        let lo = lo_age.max(lo_adult);
        if lo <= hi || age <= 5 {
            let days = (hi - lo).num_days().max(0);
            return add_days(lo, rng.random_range(0..=days));
        }
        age -= 1;
    }
}

/// Surname, father's given name and spelling of a new family.
fn family_names<R: Rng>(
    rng: &mut R,
    pools: &Pools,
    kind: CommunityKind,
) -> (&'static str, &'static str, NameStyle) {
    match kind {
        CommunityKind::Albanian => (
            pools.albanian_surnames.sample(rng),
            pools.albanian_fathers.sample(rng),
            NameStyle::Albanian,
        ),
        CommunityKind::Roma | CommunityKind::Ashkali | CommunityKind::Egyptian => {
            let surname = if rng.random_bool(0.6) {
                pools.rae_surnames.sample(rng)
            } else {
                pools.albanian_surnames.sample(rng)
            };
            let father = if rng.random_bool(0.7) {
                pools.albanian_fathers.sample(rng)
            } else {
                pools.rae_male.sample(rng)
            };
            (surname, father, NameStyle::Albanian)
        }
        CommunityKind::Serb => (
            pools.serbian_surnames.sample(rng),
            pools.serbian_fathers.sample(rng),
            NameStyle::Serbian,
        ),
        CommunityKind::Bosniak | CommunityKind::Gorani => (
            pools.bosniak_surnames.sample(rng),
            pools.bosniak_male.sample(rng),
            NameStyle::Serbian,
        ),
        CommunityKind::Turkish => (
            pools.turkish_surnames.sample(rng),
            pools.turkish_male.sample(rng),
            NameStyle::Albanian,
        ),
    }
}

/// A given name that none of the siblings already has.
fn given_name<R: Rng>(
    rng: &mut R,
    pools: &Pools,
    kind: CommunityKind,
    male: bool,
    siblings: &[Member],
) -> &'static str {
    let pool = |rng: &mut R| -> &Pool {
        match (kind, male) {
            (CommunityKind::Serb, true) => &pools.serbian_male,
            (CommunityKind::Serb, false) => &pools.serbian_female,
            (CommunityKind::Bosniak | CommunityKind::Gorani, true) => &pools.bosniak_male,
            (CommunityKind::Bosniak | CommunityKind::Gorani, false) => &pools.bosniak_female,
            (CommunityKind::Turkish, true) => &pools.turkish_male,
            (CommunityKind::Turkish, false) => &pools.turkish_female,
            (k, true) if k.is_rae() && rng.random_bool(0.4) => &pools.rae_male,
            (k, false) if k.is_rae() && rng.random_bool(0.4) => &pools.rae_female,
            (_, true) => &pools.albanian_male,
            (_, false) => &pools.albanian_female,
        }
    };
    let mut name = "";
    for _ in 0..32 {
        name = pool(rng).sample(rng);
        if !siblings.iter().any(|s| s.given == name) {
            return name;
        }
    }
    // Rare: fall back to the unweighted list so siblings never share a given name.
    let all: &[&'static str] = match (style_of(kind), male) {
        (NameStyle::Serbian, true) => super::names::SERBIAN_MALE,
        (NameStyle::Serbian, false) => super::names::SERBIAN_FEMALE,
        (NameStyle::Albanian, true) => super::names::ALBANIAN_MALE,
        (NameStyle::Albanian, false) => super::names::ALBANIAN_FEMALE,
    };
    all.iter()
        .find(|n| !siblings.iter().any(|s| s.given == **n))
        .copied()
        .unwrap_or(name)
}

fn style_of(kind: CommunityKind) -> NameStyle {
    match kind {
        CommunityKind::Serb | CommunityKind::Bosniak | CommunityKind::Gorani => NameStyle::Serbian,
        _ => NameStyle::Albanian,
    }
}

/// Precomputed weights: communities present in the reference, where each lives, activities.
struct Planner {
    communities: Vec<(CommunityKind, u8)>,
    /// Per community kind (index in `CommunityKind::ALL`): weight of each municipality.
    homes: Vec<Vec<f64>>,
    cities: Vec<(u16, f64)>,
    street: Vec<(u8, f64, f64)>,
    employer: Vec<(u8, f64)>,
    serbian_office: Vec<bool>,
}

impl Planner {
    fn new(lexicon: &Lexicon) -> Planner {
        let communities = CommunityKind::ALL
            .iter()
            .filter_map(|&k| {
                let index = lexicon.community_index(k)?;
                Some((k, u8::try_from(index).ok()?))
            })
            .collect();
        let homes = CommunityKind::ALL
            .iter()
            .map(|&kind| {
                let weights: Vec<f64> = lexicon
                    .places
                    .iter()
                    .map(|p| p.population * home_factor(kind, &p.code, p.serbian_office))
                    .collect();
                if weights.iter().sum::<f64>() > 0.0 {
                    weights
                } else {
                    lexicon.places.iter().map(|p| p.population).collect()
                }
            })
            .collect();
        let cities = CITIES
            .iter()
            .filter_map(|(code, w)| {
                let index = lexicon.place_index(code)?;
                Some((u16::try_from(index).ok()?, *w))
            })
            .collect();
        let street = STREET_ACTIVITIES
            .iter()
            .filter_map(|(code, w, w_rae)| {
                let index = u8::try_from(lexicon.activity_index(code)?).ok()?;
                Some((index, *w, *w_rae))
            })
            .collect();
        let employer = EMPLOYER_ACTIVITIES
            .iter()
            .filter_map(|(code, w)| Some((u8::try_from(lexicon.activity_index(code)?).ok()?, *w)))
            .collect();
        Planner {
            communities,
            homes,
            cities,
            street,
            employer,
            serbian_office: lexicon.places.iter().map(|p| p.serbian_office).collect(),
        }
    }

    fn home<R: Rng>(&self, rng: &mut R, kind: CommunityKind) -> u16 {
        let k = CommunityKind::ALL
            .iter()
            .position(|c| *c == kind)
            .unwrap_or(0);
        let weights = self.homes.get(k).map_or(&[][..], Vec::as_slice);
        u16::try_from(weighted(rng, weights.iter().copied())).unwrap_or(0)
    }

    /// Where a child is found: at home, or (with `probability`) in a big city. Serb children of
    /// Serb-majority municipalities are found at home.
    fn away<R: Rng>(&self, rng: &mut R, kind: CommunityKind, home: u16, probability: f64) -> u16 {
        let serb_at_home = kind == CommunityKind::Serb
            && self
                .serbian_office
                .get(usize::from(home))
                .copied()
                .unwrap_or(false);
        if serb_at_home || self.cities.is_empty() || !rng.random_bool(probability) {
            return home;
        }
        pick_weighted(rng, &self.cities).unwrap_or(home)
    }

    /// An activity: employers' for children the inspectorate sees, street work otherwise (more
    /// begging and scrap for Roma / Ashkali / Egyptian children); siblings often share it.
    fn activity<R: Rng>(
        &self,
        rng: &mut R,
        kind: CommunityKind,
        set: u8,
        sibling: Option<u8>,
    ) -> u8 {
        let at_employer = set & INSPECTORATE != 0 || rng.random_bool(0.12);
        let sibling_fits = sibling.filter(|s| {
            let employer = self.employer.iter().any(|(e, _)| e == s);
            employer == at_employer
        });
        if let Some(s) = sibling_fits {
            if rng.random_bool(0.7) {
                return s;
            }
        }
        let street: Vec<(u8, f64)> = self
            .street
            .iter()
            .map(|(i, w, w_rae)| (*i, if kind.is_rae() { *w_rae } else { *w }))
            .collect();
        let (first, second) = if at_employer {
            (&self.employer, &street)
        } else {
            (&street, &self.employer)
        };
        pick_weighted(rng, first)
            .or_else(|| pick_weighted(rng, second))
            .unwrap_or(0)
    }
}

/// How much of a municipality's population belongs to a community (a rough factor).
fn home_factor(kind: CommunityKind, code: &str, serbian_office: bool) -> f64 {
    match kind {
        CommunityKind::Albanian => match code {
            "NBR" => 0.4,
            "MAM" | "MIV" => 0.1,
            _ if serbian_office => 0.05,
            _ => 1.0,
        },
        CommunityKind::Roma | CommunityKind::Ashkali | CommunityKind::Egyptian => match code {
            "FKO" => 5.0,
            "GJA" | "PEJ" | "OBI" | "MIT" => 2.5,
            "FER" => 2.0,
            "LIP" | "PRZ" | "GRA" => 1.5,
            "PRI" => 1.2,
            "GJI" => 1.0,
            _ if serbian_office => 0.1,
            _ => 0.3,
        },
        CommunityKind::Serb => match code {
            "NBR" => 0.6,
            _ if serbian_office => 1.0,
            "LIP" | "OBI" | "KAM" => 0.1,
            "FKO" | "VIT" => 0.05,
            "PRI" | "GJI" | "IST" | "KLI" => 0.03,
            "PEJ" | "RAH" | "PRZ" => 0.01,
            _ => 0.0,
        },
        // Not proportional to population: these communities live in a few places.
        CommunityKind::Bosniak => match code {
            "PRZ" => 0.8 / 178.0,
            "DRA" => 0.2 / 34.0,
            _ => 0.0,
        },
        CommunityKind::Turkish => match code {
            "MAM" => 0.5 / 6.0,
            "PRZ" => 0.5 / 178.0,
            _ => 0.0,
        },
        CommunityKind::Gorani => match code {
            "DRA" => 0.85 / 34.0,
            "PRZ" => 0.15 / 178.0,
            _ => 0.0,
        },
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;

    #[test]
    fn personal_numbers_have_valid_check_digits_and_are_unique() {
        let numbers: std::collections::BTreeSet<String> = (1..=5000u64)
            .map(|n| personal_number(personal_number_body(n)))
            .collect();
        assert_eq!(numbers.len(), 5000);
        for n in &numbers {
            assert_eq!(n.len(), 10);
            let digits: Vec<u32> = n.chars().map(|c| c.to_digit(10).unwrap()).collect();
            let sum: u32 = digits[..9]
                .iter()
                .zip([4, 3, 2, 7, 6, 5, 4, 3, 2])
                .map(|(d, w)| d * w)
                .sum();
            let check = match 11 - sum % 11 {
                10 | 11 => 0,
                c => c,
            };
            assert_eq!(digits[9], check, "{n}");
        }
    }

    #[test]
    fn ages_and_dates() {
        assert_eq!(age_at(ymd(2010, 5, 12), ymd(2025, 5, 11)), 14);
        assert_eq!(age_at(ymd(2010, 5, 12), ymd(2025, 5, 12)), 15);
        assert_eq!(add_years(ymd(2012, 2, 29), 1), ymd(2013, 2, 28));
    }
}
