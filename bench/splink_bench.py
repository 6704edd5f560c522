"""Splink side of the linkage benchmark: dedupes the records regbridge linked, scored the same way.

Reads the CSV written by `regbridge eval --linkage-input FILE` (standardised names, birth dates and
year ranges, sex, municipality, personal number, and `child`, the generator's true child id), links
it with Splink 5 on DuckDB, and scores the clusters against `child` exactly like `regbridge eval`:
over all pairs of records, a predicted pair shares a cluster, a true pair shares a child;
precision = correct / predicted pairs, recall = correct / true pairs. `child` is never given to
Splink: it stays in a separate table, joined back only for scoring.

Times load, training, prediction and clustering separately (wall clock) and reports the process's
peak RSS (DuckDB runs in-process, so its memory is included).

Needs splink 5.0 and duckdb (no pandas). Run, for example:
    /tmp/splinkenv/bin/python bench/splink_bench.py --input /tmp/s100k/linkage_input.csv --json
--sweep 0.99 0.999 also clusters the same predictions at those thresholds and scores them (untimed).
Sex is read but not compared (see `settings`).
"""

import argparse
import json
import logging
import resource
import sys
import time

import duckdb
import splink.comparison_library as cl
import splink.comparison_level_library as cll
from splink import Linker, SettingsCreator, block_on
from splink.backends.duckdb import DuckDBAPI

SWEEP_KEYS = ("predicted_pairs", "precision", "recall", "f1", "largest_cluster")
SEED = 1  # for u sampling; EM sampling (max_pairs) is hash-based, hence deterministic

# Candidate pairs to score. Names, dates and the father's name in several combinations, so that a
# typo or a missing value in one field still leaves a rule that pairs the records; the two-letter
# prefixes catch typos in both names at once.
PREDICTION_RULES = [
    block_on("given", "surname"),
    block_on("surname", "birth_date"),
    block_on("given", "birth_date"),
    block_on("father", "surname", "birth_year_from"),
    block_on("personal_number"),
    block_on("given", "father", "municipality"),
    block_on("surname", "father", "municipality"),
    block_on("substr(given, 1, 2)", "substr(surname, 1, 2)", "birth_year_to"),
]

# Birth years from an age (a range of two years) say something only when a full date is missing on
# one side; when both records have a date the date comparison already counts, so this one is null.
BIRTH_YEAR = cl.CustomComparison(
    output_column_name="birth_year",
    comparison_levels=[
        cll.CustomLevel(
            "birth_year_from_l IS NULL OR birth_year_from_r IS NULL "
            "OR (birth_date_l IS NOT NULL AND birth_date_r IS NOT NULL)",
            "null, or both have a full date",
        ).configure(is_null_level=True),
        cll.CustomLevel(
            "birth_year_from_l <= birth_year_to_r AND birth_year_from_r <= birth_year_to_l",
            "year ranges overlap",
        ),
        cll.CustomLevel(
            "birth_year_from_l <= birth_year_to_r + 1 AND birth_year_from_r <= birth_year_to_l + 1",
            "year ranges within one year",
        ),
        cll.ElseLevel(),
    ],
)


def settings() -> SettingsCreator:
    return SettingsCreator(
        link_type="dedupe_only",
        unique_id_column_name="record_id",
        comparisons=[
            # NameComparison: null / exact (term-frequency adjusted) / Jaro-Winkler 0.92, 0.88, 0.7 / else.
            cl.NameComparison("given"),
            cl.NameComparison("surname"),
            cl.NameComparison("father"),
            # null / exact / Levenshtein 1 / within a month / a year / ten years / else.
            cl.DateOfBirthComparison("birth_date", input_is_string=True),
            BIRTH_YEAR,
            # No comparison on sex: the given name nearly determines it, so agreement on sex is
            # not independent of agreement on the given name, and with it EM learns a "match"
            # class of same-name namesakes (pairwise precision 0.68 instead of 0.81 at 100k).
            cl.ExactMatch("municipality"),
            cl.ExactMatch("personal_number"),
        ],
        blocking_rules_to_generate_predictions=PREDICTION_RULES,
        retain_matching_columns=False,
        retain_intermediate_calculation_columns=False,
    )


def load(con: duckdb.DuckDBPyConnection, path: str) -> None:
    """Loads the CSV as given (empty strings become NULL); the truth goes to a table of its own."""
    con.execute(
        "CREATE TABLE raw AS SELECT * FROM read_csv(?, header = true, all_varchar = true)", [path]
    )
    con.execute(
        """CREATE TABLE records AS SELECT record_id, given, surname, father, birth_date,
               TRY_CAST(birth_year_from AS INTEGER) AS birth_year_from,
               TRY_CAST(birth_year_to AS INTEGER) AS birth_year_to,
               municipality, personal_number
           FROM raw"""
    )
    con.execute("CREATE TABLE truth AS SELECT record_id, child FROM raw")
    con.execute("DROP TABLE raw")


def train(linker: Linker) -> None:
    t = linker.training
    # Prior from near-certain rules; their recall (about half of the true pairs) is a rough guess.
    t.estimate_probability_two_random_records_match(
        [block_on("given", "surname", "birth_date"), block_on("personal_number")], recall=0.6
    )
    t.estimate_u_using_random_sampling(max_pairs=5e6, seed=SEED)
    # Two EM sessions, on blocks of near-certain matches: the same personal number, and the same
    # names and date of birth. Looser blocks (birth_date alone; given + surname, with or without
    # municipality) let EM take namesakes who share a surname, father's name and municipality for
    # matches: the m of "dates up to 10 years apart" rose to 0.12 at 1M records (F1 0.84 at 100k,
    # 0.11 at 1M), whereas here the date comparison is estimated on personal-number pairs only.
    for rule in (block_on("personal_number"), block_on("given", "surname", "birth_date")):
        t.estimate_parameters_using_expectation_maximisation(rule, max_pairs=5e6)


def pairwise_scores(con: duckdb.DuckDBPyConnection, clusters_table: str) -> dict:
    """Pair counts from cluster sizes: n records in a group make n(n-1)/2 pairs."""
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE scored AS SELECT c.cluster_id, t.child
            FROM {clusters_table} c JOIN truth t USING (record_id)"""
    )
    pairs = "SUM(n * (n - 1) / 2)::BIGINT"
    (records,) = con.execute("SELECT COUNT(*) FROM scored").fetchall()[0]
    (correct,) = con.execute(
        f"SELECT {pairs} FROM (SELECT COUNT(*) n FROM scored GROUP BY cluster_id, child)"
    ).fetchall()[0]
    (predicted,) = con.execute(
        f"SELECT {pairs} FROM (SELECT COUNT(*) n FROM scored GROUP BY cluster_id)"
    ).fetchall()[0]
    (true,) = con.execute(
        f"SELECT {pairs} FROM (SELECT COUNT(*) n FROM scored GROUP BY child)"
    ).fetchall()[0]
    (clusters, largest) = con.execute(
        "SELECT COUNT(*), MAX(n) FROM (SELECT COUNT(*) n FROM scored GROUP BY cluster_id)"
    ).fetchall()[0]
    precision = correct / predicted if predicted else 0.0
    recall = correct / true if true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "scored_records": records,
        "clusters": clusters,
        "largest_cluster": largest,
        "predicted_pairs": predicted,
        "true_pairs": true,
        "correct_pairs": correct,
        "precision": round(precision, 4),
        "recall": round(recall, 4),
        "f1": round(f1, 4),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--input", required=True, help="CSV from `regbridge eval --linkage-input`")
    ap.add_argument("--threshold", type=float, default=0.9, help="match probability to link at")
    ap.add_argument(
        "--sweep", type=float, nargs="*", default=[],
        help="further thresholds to cluster and score at (untimed), e.g. --sweep 0.99 0.999",
    )
    ap.add_argument("--threads", type=int, default=2, help="DuckDB threads")
    ap.add_argument("--memory-limit", default="12GB", help="DuckDB memory limit (spills beyond)")
    ap.add_argument("--json", action="store_true", help="print one JSON object")
    ap.add_argument("--verbose", action="store_true", help="show Splink's log on stderr")
    args = ap.parse_args()
    log_level = logging.INFO if args.verbose else logging.ERROR

    con = duckdb.connect()
    con.execute(f"SET threads = {args.threads}")
    con.execute(f"SET memory_limit = '{args.memory_limit}'")
    out, timings = {}, {}

    start = t0 = time.perf_counter()
    load(con, args.input)
    db_api = DuckDBAPI(connection=con)
    linker = Linker(db_api.register("records"), settings(), log_level=log_level)
    timings["load_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    train(linker)
    timings["train_s"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    # Blocked pairs computed first (predict reuses the cached table) so that they can be counted.
    blocked = linker.inference.compute_blocked_pairs_for_predict()
    (out["blocked_pairs"],) = con.execute(f"SELECT COUNT(*) FROM {blocked.physical_name}").fetchall()[0]
    lowest = min([args.threshold, *args.sweep])
    predictions = linker.inference.predict(threshold_match_probability=lowest)
    blocked.drop_table_from_database_and_remove_from_cache()
    timings["predict_s"] = time.perf_counter() - t0
    (out["pairs_above_threshold"],) = con.execute(
        f"SELECT COUNT(*) FROM {predictions.physical_name} "
        f"WHERE match_probability >= {args.threshold}"
    ).fetchall()[0]

    t0 = time.perf_counter()
    clusters = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predictions, threshold_match_probability=args.threshold
    )
    timings["cluster_s"] = time.perf_counter() - t0
    timings["wall_s"] = time.perf_counter() - start

    (records,) = con.execute("SELECT COUNT(*) FROM records").fetchall()[0]
    scores = pairwise_scores(con, clusters.physical_name)
    # The same predictions clustered at other thresholds: precision/recall trade-off, untimed.
    sweep = []
    for threshold in args.sweep:
        c = linker.clustering.cluster_pairwise_predictions_at_threshold(
            predictions, threshold_match_probability=threshold
        )
        s = pairwise_scores(con, c.physical_name)
        c.drop_table_from_database_and_remove_from_cache()
        sweep.append({"threshold": threshold, **{k: s[k] for k in SWEEP_KEYS}})
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024  # Linux: KiB

    result = {"records": records, "threshold": args.threshold, "threads": args.threads}
    result.update({k: round(v, 2) for k, v in timings.items()})
    result.update(rss_mb=rss_mb, **out, **scores)
    if sweep:
        result["sweep"] = sweep
    if args.json:
        json.dump(result, sys.stdout)
        print()
    else:
        print(
            f"splink: {records} records in {result['wall_s']} s (load {result['load_s']}, train "
            f"{result['train_s']}, predict {result['predict_s']}, cluster {result['cluster_s']}), "
            f"peak RSS {rss_mb} MB; {out['blocked_pairs']} blocked pairs, {scores['clusters']} "
            f"clusters (largest {scores['largest_cluster']}); P {scores['precision']:.4f} "
            f"R {scores['recall']:.4f} F1 {scores['f1']:.4f} "
            f"({scores['predicted_pairs']} predicted / {scores['true_pairs']} true pairs)"
        )
        for s in sweep:
            print(
                f"  at {s['threshold']}: P {s['precision']:.4f} R {s['recall']:.4f} "
                f"F1 {s['f1']:.4f}, largest cluster {s['largest_cluster']}"
            )


if __name__ == "__main__":
    main()
