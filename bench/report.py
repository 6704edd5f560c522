"""Summarises benchmark runs for bench/run.sh.

`report.py SIZE DIR RUNS` reads one size's raw files (summary.N.json and time.N.txt from each
`regbridge run`, eval.json, and splink.N.json / splink_time.N.txt when Splink ran) and prints a JSON
object with the medians. `report.py --table SIZE ...` prints the side-by-side table from
bench/results/SIZE.json.
"""

import json
import statistics
import sys
from pathlib import Path

# Stages in the order a record meets them; each is wall-clock seconds from the run's summary.
STAGES = ["decode", "validate", "map", "rules", "standardise", "block", "score", "cluster",
          "reconcile", "publish"]


def read_time(path):
    """(wall s, cpu s, peak RSS MB, kernel s) from GNU time's '%e %U %S %M'."""
    wall, user, system, rss_kb = Path(path).read_text().split()
    return float(wall), float(user) + float(system), int(rss_kb) / 1024, float(system)


def host_check(folder):
    """Seconds the host took to fault in 512 MiB of fresh memory before the runs (run.sh's check),
    or None. It should be well under a second; when the host is slow, page faults are too and so
    is every figure measured meanwhile."""
    path = Path(folder) / "host_touch_512mb_s.txt"
    return float(path.read_text()) if path.exists() else None


def summarise(size, folder, runs):
    folder = Path(folder)
    out = {"records": size, "runs": runs, "host_touch_512mb_s": host_check(folder)}
    times = [read_time(folder / f"time.{r}.txt") for r in range(1, runs + 1)]
    summaries = [json.loads((folder / f"summary.{r}.json").read_text()) for r in range(1, runs + 1)]
    e = json.loads((folder / "eval.json").read_text())
    out["regbridge"] = {
        "wall_s": statistics.median(t[0] for t in times),
        "cpu_s": statistics.median(t[1] for t in times),
        "rss_mb": statistics.median(t[2] for t in times),
        "wall_s_runs": [t[0] for t in times],
        # Kernel seconds: mostly page faults, the first thing a slow host makes slower.
        "sys_s_runs": [t[3] for t in times],
        # Linkage alone (standardise, block, score, cluster): the part Splink does.
        "link_s": statistics.median(x["stage_seconds"].get("link", 0.0) for x in summaries),
        "stages_s": {s: statistics.median(x["stage_seconds"].get(s, 0.0) for x in summaries)
                     for s in STAGES},
        "precision": e["pairwise"]["precision"],
        "recall": e["pairwise"]["recall"],
        "f1": e["pairwise"]["f1"],
        "blocking_recall": e["blocking_recall"],
        "candidate_pairs": e["candidate_pairs"],
    }
    splink_runs = [r for r in range(1, runs + 1) if (folder / f"splink.{r}.json").exists()]
    if splink_runs:
        results = [json.loads((folder / f"splink.{r}.json").read_text()) for r in splink_runs]
        stimes = [read_time(folder / f"splink_time.{r}.txt") for r in splink_runs]
        out["splink"] = {
            "wall_s": statistics.median(t[0] for t in stimes),
            "cpu_s": statistics.median(t[1] for t in stimes),
            "rss_mb": statistics.median(t[2] for t in stimes),
            "wall_s_runs": [t[0] for t in stimes],
            "sys_s_runs": [t[3] for t in stimes],
            # Training, prediction and clustering, without loading the CSV.
            "link_s": statistics.median(
                x["train_s"] + x["predict_s"] + x["cluster_s"] for x in results),
            "precision": results[0]["precision"],
            "recall": results[0]["recall"],
            "f1": results[0]["f1"],
        }
    return out


def table(sizes):
    head = f"{'records':>9} {'system':<10} {'wall_s':>8} {'link_s':>8} {'cpu_s':>8} {'rss_mb':>8} " \
           f"{'rec/s':>8} {'P':>7} {'R':>7} {'F1':>7}"
    print(head)
    rows = []
    for size in sizes:
        result = json.loads(Path(f"bench/results/{size}.json").read_text())
        for system in ("regbridge", "splink"):
            r = result.get(system)
            if r:
                link = r.get("link_s")
                link = f"{link:>8.2f}" if link is not None else f"{'-':>8}"
                print(f"{size:>9} {system:<10} {r['wall_s']:>8.2f} {link} {r['cpu_s']:>8.2f} "
                      f"{r['rss_mb']:>8.0f} {round(int(size) / max(r['wall_s'], 0.001)):>8} "
                      f"{r['precision']:>7.4f} {r['recall']:>7.4f} {r['f1']:>7.4f}")
        rows.append((size, result["regbridge"]))
    print()
    print(f"{'records':>9} " + " ".join(f"{s:>11}" for s in STAGES) + f" {'blocking_R':>10} {'pairs':>11}")
    for size, r in rows:
        print(f"{size:>9} " + " ".join(f"{r['stages_s'][s]:>11.2f}" for s in STAGES)
              + f" {r['blocking_recall']:>10.4f} {r['candidate_pairs']:>11}")
    # Each run, with its kernel seconds, and how fast the host faulted in memory: a run far slower
    # in the kernel than its neighbours met a slow host.
    print()
    for size in sizes:
        result = json.loads(Path(f"bench/results/{size}.json").read_text())
        for system in ("regbridge", "splink"):
            r = result.get(system)
            if r and "sys_s_runs" in r:
                runs = ", ".join(f"{w:.2f} s ({k:.1f} s kernel)"
                                 for w, k in zip(r["wall_s_runs"], r["sys_s_runs"]))
                print(f"{size:>9} {system:<10} runs: {runs}")
        host = result.get("host_touch_512mb_s")
        if host is not None:
            print(f"{size:>9} host: 512 MiB of fresh memory faulted in {host:.2f} s before the runs")


if __name__ == "__main__":
    if sys.argv[1] == "--table":
        table(sys.argv[2:])
    else:
        print(json.dumps(summarise(int(sys.argv[1]), sys.argv[2], int(sys.argv[3])), indent=2))
