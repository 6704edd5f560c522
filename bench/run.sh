#!/usr/bin/env bash
# Benchmark harness: generates the three institutions' exports with `regbridge synth`, times one
# `regbridge run` on them with a clean state (wall time, CPU time, peak RSS, and the seconds of the
# intake, linkage and publication stages from the run's own summary), then scores linkage against the
# generator's truth with `regbridge eval` (pairwise precision, recall, F1, blocking recall, candidate
# pairs).
# Usage: bench/run.sh [records ...]      (default: 100000; SEED=7 unless set)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/regbridge
seed="${SEED:-7}"
sizes=("${@:-100000}")
printf '%-9s %-7s %-7s %-8s %-6s %-9s %-8s %-8s %-9s %-9s %-9s %-9s %-8s %s\n' records wall_s user_s \
  intake_s link_s publish_s rss_mb children precision recall f1 blocking pairs_k records_per_s
for n in "${sizes[@]}"; do
  dir=$(mktemp -d)
  "$bin" --quiet synth --out "$dir" --records "$n" --seed "$seed" --assets .
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time.txt" "$bin" --json run --config "$dir/config.toml" > "$dir/summary.json"
  "$bin" --json eval --config "$dir/config.toml" --truth "$dir/truth.csv" > "$dir/eval.json"
  read -r wall user _sys rss < "$dir/time.txt"
  python3 - "$n" "$wall" "$user" "$rss" "$dir/summary.json" "$dir/eval.json" <<'EOF'
import json, sys
n, wall, user, rss = int(sys.argv[1]), float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4])
summary, e = json.load(open(sys.argv[5])), json.load(open(sys.argv[6]))
p = e["pairwise"]
stage = summary["stage_seconds"]
print(f'{n:<9} {wall:<7.2f} {user:<7.2f} {stage["intake"]:<8.2f} {stage["link"]:<6.2f} {stage["publish"]:<9.2f} {rss // 1024:<8} '
      f'{summary["unique_children"]:<8} {p["precision"]:<9.4f} {p["recall"]:<9.4f} {p["f1"]:<9.4f} '
      f'{e["blocking_recall"]:<9.4f} {e["candidate_pairs"] // 1000:<8} {round(n / max(wall, 0.001))}')
EOF
  rm -rf "$dir"
done
