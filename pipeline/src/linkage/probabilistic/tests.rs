//! Unit tests of the probabilistic linker: comparison levels and the contradiction guard.
#![allow(clippy::unwrap_used)]

use super::cluster::{contradict, same_record_pairs};
use super::compare::{birth_level, NameLevels};
use super::*;
use chrono::NaiveDate;

fn record(id: &str, given: &str, surname: &str, birth: Option<(i32, u32, u32)>) -> LinkRecord {
    let birth_date = birth.and_then(|(y, m, d)| NaiveDate::from_ymd_opt(y, m, d));
    LinkRecord {
        source: "s".into(),
        record_id: id.into(),
        personal_number: None,
        sex: Some("M".into()),
        given_key: given.into(),
        surname_key: surname.into(),
        father_key: "ilir".into(),
        birth_date,
        birth_window: birth_date.map(|d| (d, d)),
        municipality: Some("PRI".into()),
        region: Some("PR".into()),
        event_date: None,
        activity: None,
        community: None,
    }
}

#[test]
fn the_same_name_in_either_order_or_with_the_definite_i_compares_equal() {
    let s = ProbabilisticSettings::default();
    let a = record("1", "arben", "hasani", Some((2012, 3, 4)));
    let b = record("2", "hasan", "arben", Some((2012, 3, 4)));
    let records = [a, b];
    let p = compare::prepare(&records, &compare::ReferralRoles::none());
    let g = compare(&p[0], &p[1], &mut NameLevels::new(&s));
    assert_eq!((g[0], g[1], g[3]), (3, 3, 6));
}

#[test]
fn the_community_agrees_disagrees_or_is_unknown() {
    let s = ProbabilisticSettings::default();
    let with = |id: &str, community: Option<&str>| LinkRecord {
        community: community.map(Into::into),
        ..record(id, "arben", "hasani", Some((2012, 3, 4)))
    };
    let records = [
        with("1", Some("ashkali")),
        with("2", Some("ashkali")),
        with("3", Some("albanian")),
        with("4", None),
    ];
    let p = compare::prepare(&records, &compare::ReferralRoles::none());
    let community = compare::COMPARISONS
        .iter()
        .position(|(name, _)| *name == "community")
        .unwrap();
    let level = |i: usize, j: usize| compare(&p[i], &p[j], &mut NameLevels::new(&s))[community];
    assert_eq!(level(0, 1), 1);
    assert_eq!(level(0, 2), 0);
    assert_eq!(level(0, 3), NULL);
}

#[test]
fn how_often_namesakes_share_a_community_is_counted_among_namesakes() {
    // Two communities, each with its own surname: random pairs share a community half the time,
    // pairs with the same surname always do, and that is what a candidate pair is up against.
    let records: Vec<LinkRecord> = (0..80)
        .map(|i| {
            let (surname, community) = if i % 2 == 0 {
                ("hasani", "albanian")
            } else {
                ("petrovic", "serb")
            };
            LinkRecord {
                community: Some(community.into()),
                ..record(&i.to_string(), &format!("given{i}"), surname, None)
            }
        })
        .collect();
    let s = ProbabilisticSettings::default();
    let prepared = compare::prepare(&records, &compare::ReferralRoles::none());
    let u = estimate_u(&prepared, &s);
    let level = |name: &str| {
        compare::COMPARISONS
            .iter()
            .position(|(n, _)| *n == name)
            .unwrap()
    };
    let community_agrees = u[level("community")][1];
    assert!(community_agrees > 0.95, "{community_agrees}");
    // Other comparisons keep their random-pair u: the surnames agree for about half the pairs.
    let surname_exact = u[level("surname")][3];
    assert!((0.3..0.7).contains(&surname_exact), "{surname_exact}");
}

/// A record of `source` on `day` in Prishtina.
fn seen_on(id: &str, source: &str, given: &str, surname: &str, day: u32) -> LinkRecord {
    LinkRecord {
        source: source.into(),
        event_date: NaiveDate::from_ymd_opt(2025, 3, day),
        ..record(id, given, surname, None)
    }
}

#[test]
fn siblings_seen_together_and_linked_make_their_brothers_records_likelier_one_child() {
    use companions::{Companions, Seen};
    let records = [
        // Arben and his sister Vlora, found by the police on 3 March and referred to social work
        // together on 10 March.
        seen_on("p-arben", "police", "arben", "krasniqi", 3),
        seen_on("p-vlora", "police", "vlora", "krasniqi", 3),
        seen_on("c-arben", "csw", "arben", "krasniqi", 10),
        seen_on("c-vlora", "csw", "vlora", "krasniqi", 10),
        // Another Arben Krasniqi, met alone.
        seen_on("c-arben-2", "csw", "arben", "krasniqi", 20),
    ];
    let prepared = compare::prepare(&records, &compare::ReferralRoles::none());
    let companions = Companions::new(&prepared);
    // Vlora's two records are one child; nothing else is linked yet.
    let child_of = [0, 1, 2, 1, 4];
    assert_eq!(companions.seen(0, 2, &child_of), Seen::Together);
    assert_eq!(companions.seen(2, 0, &child_of), Seen::Together);
    // Vlora's pair: her companions are her brother's records, not linked yet.
    assert_eq!(companions.seen(1, 3, &child_of), Seen::Apart);
    assert_eq!(companions.seen(0, 4, &child_of), Seen::Alone);
    // Without Vlora linked, the brothers' companions are apart.
    let none_linked = [0, 1, 2, 3, 4];
    assert_eq!(companions.seen(0, 2, &none_linked), Seen::Apart);
}

#[test]
fn what_companions_weigh_is_learnt_from_the_scored_pairs() {
    use companions::Companions;
    let mut records = Vec::new();
    // Ten families of two, each seen together by the police and by social work.
    for family in 0..10u32 {
        let surname = format!("family{family}");
        for (who, given) in ["first", "second"].iter().enumerate() {
            let day = 1 + family;
            records.push(seen_on(
                &format!("p{family}{who}"),
                "police",
                given,
                &surname,
                day,
            ));
            records.push(seen_on(
                &format!("c{family}{who}"),
                "csw",
                given,
                &surname,
                day + 7,
            ));
        }
    }
    let prepared = compare::prepare(&records, &compare::ReferralRoles::none());
    let mut companions = Companions::new(&prepared);
    // Each child's police and social-work records are one child (record 4f+2w+s).
    let child_of: Vec<usize> = (0..records.len()).map(|r| r / 2).collect();
    // Pairs of one child scored high, pairs of siblings low.
    let scored: Vec<(f64, usize, usize)> = (0..10)
        .flat_map(|f| {
            let base = 4 * f;
            [
                (0.95, base, base + 1),
                (0.95, base + 2, base + 3),
                (0.05, base, base + 3),
                (0.05, base + 1, base + 2),
            ]
        })
        .collect();
    companions.weigh(&scored, &child_of);
    let [_, apart, together] = companions.weights_log2();
    assert!(together > 1.0, "{together}");
    assert!(apart < -1.0, "{apart}");
    assert!(companions.adjustment(0, 1, &child_of) > 0.0);
}

#[test]
fn twins_never_join_even_through_a_third_record() {
    let s = ProbabilisticSettings::default();
    let twin_a = record("1", "arben", "krasnici", Some((2012, 3, 4)));
    let twin_b = record("2", "arton", "krasnici", Some((2012, 3, 4)));
    // A record without a date of birth that looks like either twin.
    let bridge = record("3", "arben", "krasnici", None);
    let typo = record("4", "arbne", "krasnici", Some((2012, 3, 4)));
    let records = [twin_a, twin_b, bridge, typo];
    let prepared: Vec<Prepared<'_>> = compare::prepare(&records, &compare::ReferralRoles::none());
    assert!(contradict(&[0], &[1], &prepared, &s));
    assert!(
        contradict(&[0, 2], &[1], &prepared, &s),
        "the bridge must not chain the twins"
    );
    assert!(
        !contradict(&[0], &[3], &prepared, &s),
        "a typo is the same child"
    );
}

#[test]
fn boy_and_girl_twins_stay_apart_and_personal_numbers_decide_only_when_comparable() {
    let s = ProbabilisticSettings::default();
    let boy = record("1", "arben", "krasnici", Some((2012, 3, 4)));
    let mut girl = record("2", "arbena", "krasnici", Some((2012, 3, 4)));
    girl.sex = Some("F".into());
    // One child: a Kosovo number in one office, a JMBG in another, and a year typo.
    let mut kosovo = record("3", "drita", "gashi", Some((2012, 5, 17)));
    kosovo.personal_number = Some("1234567892".into());
    let mut jmbg = record("4", "drita", "gashi", Some((2012, 5, 17)));
    jmbg.personal_number = Some("1705012715003".into());
    let mut typo = record("5", "drita", "gashi", Some((2013, 5, 17)));
    typo.personal_number = Some("1234567892".into());
    let records = [boy, girl, kosovo, jmbg, typo];
    let p: Vec<Prepared<'_>> = compare::prepare(&records, &compare::ReferralRoles::none());
    assert!(contradict(&[0], &[1], &p, &s), "Arben and Arbena are twins");
    assert!(
        !contradict(&[2], &[3], &p, &s),
        "a 10- and a 13-digit number do not contradict"
    );
    assert!(
        !contradict(&[2], &[4], &p, &s),
        "the same number outweighs a year typo"
    );
    assert_eq!(
        birth_level(&records[2], &records[4]),
        5,
        "same day and month a year apart is a typo"
    );
}

#[test]
fn a_window_bounds_the_pairs_of_a_large_block_and_keeps_neighbours_in_name_order() {
    // Forty namesakes born the same year: one block of every key.
    let records: Vec<LinkRecord> = (0..40)
        .map(|i| record(&i.to_string(), "arben", "hasani", Some((2012, 3, 4))))
        .collect();
    let whole = Blocks::new(
        &records,
        &blocking::BlockingPlan {
            keys: blocking::default_keys(),
            max_block: 400,
            window: 0,
        },
    )
    .pairs();
    assert_eq!(whole.len(), 40 * 39 / 2);
    let windowed = Blocks::new(
        &records,
        &blocking::BlockingPlan {
            keys: blocking::default_keys(),
            max_block: 400,
            window: 3,
        },
    )
    .pairs();
    assert!(windowed.len() <= 40 * 3, "{}", windowed.len());
    assert!(windowed.contains(&(0, 1)));
    // The same records in any order give the same pairs (the order inside a block is total).
    let again = Blocks::new(
        &records,
        &blocking::BlockingPlan {
            keys: blocking::default_keys(),
            max_block: 400,
            window: 3,
        },
    )
    .pairs();
    assert_eq!(windowed, again);
}

#[test]
fn each_candidate_pair_is_visited_once_however_many_blocks_it_shares() {
    // Namesakes, typos and other years: pairs share from one to every kind of key.
    let names = ["arben", "arbne", "ardit", "hasan", "hasani"];
    let records: Vec<LinkRecord> = (0..60)
        .map(|i| {
            let birth = Some((2010 + (i % 3) as i32, 1 + (i % 5) as u32, 7));
            record(&i.to_string(), names[i % 5], names[(i / 5) % 5], birth)
        })
        .collect();
    let limits = blocking::BlockingPlan {
        keys: blocking::default_keys(),
        max_block: 4,
        window: 0,
    };
    let prepared = compare::prepare(&records, &compare::ReferralRoles::none());
    let plan_keys = blocking::default_keys();
    let keys: Vec<Vec<u64>> = prepared
        .iter()
        .map(|p| blocking::blocking_keys(p, &plan_keys))
        .collect();
    let mut holders: BTreeMap<u64, usize> = BTreeMap::new();
    for k in keys.iter().flatten() {
        *holders.entry(*k).or_insert(0) += 1;
    }
    let mut expected = Vec::new();
    for i in 0..records.len() {
        for j in i + 1..records.len() {
            if keys[i]
                .iter()
                .any(|k| keys[j].contains(k) && holders[k] <= limits.max_block)
            {
                expected.push((i, j));
            }
        }
    }
    let blocks = Blocks::new(&records, &limits);
    let pairs = blocks.pairs();
    assert_eq!(
        pairs, expected,
        "every pair sharing a kept block, each once"
    );
    assert_eq!(blocks.count_pairs(), expected.len() as u64);
    assert!(blocks.skipped > 0, "some keys are shared by more than 4");
    assert!(expected.len() > 60, "{}", expected.len());
    for i in 0..records.len() {
        for j in 0..records.len() {
            let listed = pairs.binary_search(&(i.min(j), i.max(j))).is_ok();
            assert_eq!(blocks.covers(i, j), listed && i != j, "({i}, {j})");
        }
    }
    // However many cores index each record's blocks, the pairs are the same.
    for threads in [1, 3] {
        let pool = rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .build()
            .unwrap();
        let again = pool.install(|| Blocks::new(&records, &limits));
        assert_eq!(again.pairs(), pairs, "{threads} threads");
    }
}

#[test]
fn records_are_cut_into_ranges_of_about_as_many_entries() {
    // Entries per record: 5, 0, 1, 1, 1, 8, 0.
    let starts = [0, 5, 5, 6, 7, 8, 16, 16];
    assert_eq!(blocking::balanced_ranges(&starts, 1), vec![0..7_usize]);
    assert_eq!(blocking::balanced_ranges(&starts, 2), [0..5, 5..7]);
    let three = blocking::balanced_ranges(&starts, 3);
    assert_eq!(three.first().unwrap().start, 0);
    assert_eq!(three.last().unwrap().end, 7);
    assert!(three.windows(2).all(|w| w[0].end == w[1].start));
    // More parts than records, and no records.
    let records = |ranges: Vec<std::ops::Range<usize>>| -> Vec<usize> {
        ranges.into_iter().flatten().collect()
    };
    assert_eq!(records(blocking::balanced_ranges(&[0, 2], 3)), [0]);
    assert!(records(blocking::balanced_ranges(&[0], 2)).is_empty());
}

#[test]
fn blocking_keys_are_read_from_their_text_and_an_unknown_field_is_named() {
    let key = BlockingKey::try_from("given_variants + surname + birth_year".to_string()).unwrap();
    assert_eq!(
        key.fields,
        vec![
            KeyField::GivenVariants,
            KeyField::Surname,
            KeyField::BirthYear
        ]
    );
    let err = BlockingKey::try_from("surname + birthday".to_string()).unwrap_err();
    assert!(
        err.contains("`birthday`") && err.contains("birth_date"),
        "{err}"
    );
    let settings: ProbabilisticSettings =
        toml::from_str("blocking_keys = [\"names + father\"]").unwrap();
    assert_eq!(settings.blocking_keys.len(), 1);
    assert!(
        toml::from_str::<ProbabilisticSettings>("blocking_keys = [\"names + fathers\"]").is_err()
    );
}

#[test]
fn a_one_letter_typo_shares_a_spelling_variant_block_and_namesakes_meet_once() {
    // Two spellings a keystroke apart, and three records of one spelling.
    let records = [
        record("1", "arben", "hasani", Some((2012, 3, 4))),
        record("2", "arbne", "hasani", Some((2012, 5, 6))),
        record("3", "arben", "hasani", Some((2012, 7, 8))),
        record("4", "arben", "hasani", Some((2012, 9, 10))),
    ];
    let plan = BlockingPlan {
        keys: vec![BlockingKey::try_from("given_variants + surname".to_string()).unwrap()],
        max_block: 400,
        window: 0,
    };
    let blocks = Blocks::new(&records, &plan);
    assert_eq!(
        blocks.pairs(),
        vec![(0, 1), (0, 2), (0, 3), (1, 2), (1, 3), (2, 3)],
        "every pair once"
    );
    assert_eq!(blocks.count_pairs(), 6);
}

#[test]
fn comparison_patterns_are_counted_by_an_index_that_gives_them_back() {
    let patterns: [Gamma; 3] = [
        [NULL; compare::K],
        [3, 3, 2, 6, 1, 2, 1, 4, 1, 1, 3],
        [0, 1, NULL, 4, 0, NULL, NULL, 2, 0, 0, 2],
    ];
    let indexes: Vec<usize> = patterns.iter().map(compare::pattern_index).collect();
    for (gamma, &index) in patterns.iter().zip(&indexes) {
        assert!(index < compare::PATTERNS);
        assert_eq!(compare::pattern_of(index), *gamma);
    }
    assert_eq!(indexes[0], 0);
    assert_ne!(indexes[1], indexes[2]);
}

#[test]
fn a_referral_in_order_and_the_wrong_way_round_are_levels_of_their_own() {
    let referrals = [Referral {
        from: "police".into(),
        to: "csw".into(),
    }];
    // Two social-work exports of one institution; the police source is named after its institution.
    let institution_of: BTreeMap<String, String> = [("qps_north", "csw"), ("qps_south", "csw")]
        .into_iter()
        .map(|(s, i)| (s.to_string(), i.to_string()))
        .collect();
    let roles = compare::ReferralRoles {
        referrals: &referrals,
        institution_of: &institution_of,
    };
    let dated = |source: &str, id: &str, day: u32| {
        let mut r = record(id, "arben", "krasnici", None);
        r.source = source.into();
        r.event_date = NaiveDate::from_ymd_opt(2025, 3, day);
        r
    };
    let mut undated = dated("qps_north", "6", 1);
    undated.event_date = None;
    let records = [
        dated("police", "1", 10),
        dated("qps_north", "2", 24),
        dated("qps_south", "3", 2),
        dated("inspectorate", "4", 12),
        dated("police", "5", 11),
        undated,
        dated("qps_south", "7", 10),
    ];
    let p = compare::prepare(&records, &roles);
    let level = |i: usize, j: usize| compare::source_level(&p[i], &p[j]);
    assert_eq!(
        level(0, 1),
        3,
        "the referral weeks after the identification"
    );
    assert_eq!(level(1, 0), 3, "either way round");
    assert_eq!(level(0, 6), 3, "on the same day");
    assert_eq!(level(0, 2), 2, "a referral before the identification");
    assert_eq!(level(0, 3), 0, "police do not refer to inspectors");
    assert_eq!(level(1, 3), 0);
    assert_eq!(level(0, 4), 1, "one source");
    assert_eq!(level(0, 5), 0, "no date, no order");
    assert_eq!(level(1, 2), 1, "two sources of one institution");
    // Institutions that refer to each other: in order either way, whichever record comes first.
    let both_ways = [
        referrals[0].clone(),
        Referral {
            from: "csw".into(),
            to: "police".into(),
        },
    ];
    let mutual = compare::prepare(
        &records,
        &compare::ReferralRoles {
            referrals: &both_ways,
            institution_of: &institution_of,
        },
    );
    for (i, j) in [(0, 1), (0, 2), (2, 0), (1, 0)] {
        assert_eq!(compare::source_level(&mutual[i], &mutual[j]), 3, "{i} {j}");
    }
    // Without referrals in the settings the order is not weighed.
    let plain = compare::prepare(&records, &compare::ReferralRoles::none());
    assert_eq!(compare::source_level(&plain[0], &plain[1]), 0);
    assert_eq!(compare::source_level(&plain[0], &plain[2]), 0);
}

#[test]
fn referrals_are_read_from_the_linkage_rules() {
    let settings: ProbabilisticSettings =
        toml::from_str("referrals = [{ from = \"police\", to = \"csw\" }]").unwrap();
    assert_eq!(
        settings.referrals,
        vec![Referral {
            from: "police".into(),
            to: "csw".into()
        }]
    );
    assert!(
        toml::from_str::<ProbabilisticSettings>("referrals = [{ from = \"police\" }]").is_err()
    );
}

#[test]
fn an_age_agrees_with_a_date_of_birth_only_if_it_is_the_age_on_the_event_day() {
    let born = record("1", "arben", "krasnici", Some((2012, 6, 9)));
    let aged = |years: (i32, u32, u32), to: (i32, u32, u32)| {
        let mut r = record("2", "arben", "krasnici", None);
        r.birth_window = NaiveDate::from_ymd_opt(years.0, years.1, years.2)
            .zip(NaiveDate::from_ymd_opt(to.0, to.1, to.2));
        r
    };
    // 12 on 15 March 2025 allows 16 March 2012 to 15 March 2013: born 9 June 2012, the child was 12.
    assert_eq!(birth_level(&born, &aged((2012, 3, 16), (2013, 3, 15))), 4);
    // 13 that day (a year off, as estimates often are), though 2012 is among the years 12 allows
    // on another day.
    assert_eq!(birth_level(&born, &aged((2011, 3, 16), (2012, 3, 15))), 3);
    // Two years off: another child.
    assert_eq!(birth_level(&born, &aged((2010, 3, 16), (2011, 3, 15))), 0);
    // Windows more than a year apart, at the edge: two bare years two apart (1 January 2014 is a
    // year and a day after 31 December 2012, 366 days), a month and the month a year and a month
    // later, two ages two apart on one day.
    let window = |from: (i32, u32, u32), to: (i32, u32, u32)| aged(from, to);
    let year = |y: i32| window((y, 1, 1), (y, 12, 31));
    assert_eq!(birth_level(&year(2012), &year(2013)), 3);
    assert_eq!(birth_level(&year(2014), &year(2012)), 0);
    assert_eq!(birth_level(&year(2011), &year(2013)), 0);
    assert_eq!(
        birth_level(
            &window((2012, 12, 1), (2012, 12, 31)),
            &window((2013, 12, 1), (2013, 12, 31))
        ),
        3
    );
    assert_eq!(
        birth_level(
            &window((2012, 12, 1), (2012, 12, 31)),
            &window((2014, 1, 1), (2014, 1, 31))
        ),
        0
    );
    assert_eq!(
        birth_level(
            &window((2013, 3, 16), (2014, 3, 15)),
            &window((2011, 3, 16), (2012, 3, 15))
        ),
        0,
        "12 and 14 on 15 March 2026"
    );
    // Two ages overlap.
    assert_eq!(
        birth_level(
            &aged((2012, 3, 16), (2013, 3, 15)),
            &aged((2012, 12, 1), (2013, 11, 30))
        ),
        4
    );
}

/// An Arben Krasniqi without a date of birth, recorded by `source` on `day`.
fn arben(id: &str, source: &str, day: u32) -> LinkRecord {
    seen_on(id, source, "arben", "krasniqi", day)
}

#[test]
fn two_partners_of_one_institution_compete_as_far_as_they_are_two_children() {
    let s = ProbabilisticSettings::default();
    let records = [
        arben("p", "police", 3),
        arben("c1", "csw", 10),
        arben("c2", "csw", 12),
        arben("i", "inspectorate", 12),
    ];
    let prepared = compare::prepare(&records, &compare::ReferralRoles::none());
    let alone = [0, 1, 2, 3];
    let pairwise = [(2.0, 0, 1), (2.0, 0, 2), (2.0, 0, 3)];
    let competing = competition::competing_odds(&prepared, &pairwise, &alone, &s);
    // The police record fits one social-work record: the two compete for it.
    assert!(competing[0] > 1.0, "{competing:?}");
    assert!(competing[1] > 1.0, "{competing:?}");
    // The inspectorate's record may well be the same child as either: it competes with neither.
    let only_other_institutions = [(2.0, 0, 1), (2.0, 0, 3)];
    let competing = competition::competing_odds(&prepared, &only_other_institutions, &alone, &s);
    assert_eq!(competing, vec![0.0, 0.0]);
    // Two social-work records that a first clustering calls one child do not compete.
    let one_child = [0, 1, 1, 3];
    let competing = competition::competing_odds(&prepared, &pairwise, &one_child, &s);
    assert_eq!(competing[0], 0.0, "{competing:?}");
}

#[test]
fn a_partner_that_another_child_holds_competes_less() {
    let s = ProbabilisticSettings::default();
    let records = [
        arben("p", "police", 3),
        arben("c1", "csw", 10),
        arben("c2", "csw", 12),
        // Another police record, far likelier the child of c2.
        arben("p2", "police", 11),
    ];
    let prepared = compare::prepare(&records, &compare::ReferralRoles::none());
    let alone = [0, 1, 2, 3];
    let free = [(2.0, 0, 1), (2.0, 0, 2)];
    let held = [(2.0, 0, 1), (2.0, 0, 2), (6.0, 2, 3)];
    let c_free = competition::competing_odds(&prepared, &free, &alone, &s)[0];
    let c_held = competition::competing_odds(&prepared, &held, &alone, &s)[0];
    assert!(c_held < c_free / 2.0, "{c_held} {c_free}");
}

#[test]
fn a_join_that_gives_a_child_two_unlikely_records_of_one_institution_is_refused() {
    let s = ProbabilisticSettings::default();
    let records = [
        arben("p1", "police", 3),
        arben("p2", "police", 20),
        arben("c", "csw", 10),
    ];
    let prepared = compare::prepare(&records, &compare::ReferralRoles::none());
    let decisions = crate::linkage::ReviewDecisions::default();
    let together = |c: &cluster::Clustering| c.clusters.iter().any(|m| m.len() == 3);
    // Both police records link to the social-work record, but were never a likely pair themselves.
    let scored = [(0.95, 0, 2), (0.94, 1, 2)];
    let clustering = cluster(&records, &prepared, &scored, &decisions, &s);
    assert!(!together(&clustering));
    assert_eq!(clustering.refused, 1);
    // A child recorded twice by the police: the two police records are a likely pair.
    let scored = [(0.95, 0, 2), (0.94, 1, 2), (0.3, 0, 1)];
    let clustering = cluster(&records, &prepared, &scored, &decisions, &s);
    assert!(together(&clustering));
}

#[test]
fn a_record_sent_again_goes_with_its_first_copy_and_only_within_its_source() {
    let sent = |id: &str, source: &str| LinkRecord {
        source: source.into(),
        ..record(id, "arben", "hasani", None)
    };
    let records = [
        sent("7", "police"),
        sent("7", "csw"),
        sent("", "police"),
        sent("8", "police"),
        sent("7", "police"),
        sent("", "police"),
        sent("8", "police"),
        sent("7", "police"),
    ];
    // Later copies in their own order, each with the first; ids left blank pair nothing.
    assert_eq!(same_record_pairs(&records), vec![(0, 4), (3, 6), (0, 7)]);
}
