#!/usr/bin/env bash
# Benchmark harness (first version): generates the three institutions' exports with `regbridge synth`
# and times one `regbridge run` on them with a clean state, reporting wall time, CPU time and peak RSS.
# Usage: bench/run.sh [records ...]      (default: 100000)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin=target/release/regbridge
sizes=("${@:-100000}")
printf '%-10s %-10s %-10s %-10s %-12s %-12s %s\n' records wall_s user_s sys_s peak_rss_mb records_per_s unique_children
for n in "${sizes[@]}"; do
  dir=$(mktemp -d)
  "$bin" --quiet synth --out "$dir" --records "$n" --seed 1 --assets .
  /usr/bin/time -f '%e %U %S %M' -o "$dir/time.txt" "$bin" --json run --config "$dir/config.toml" > "$dir/summary.json"
  read -r wall user sys rss < "$dir/time.txt"
  children=$(python3 -c "import json,sys; print(json.load(open(sys.argv[1]))['unique_children'])" "$dir/summary.json")
  printf '%-10s %-10s %-10s %-10s %-12s %-12s %s\n' "$n" "$wall" "$user" "$sys" "$((rss / 1024))" \
    "$(python3 -c "print(round($n / max($wall, 0.001)))")" "$children"
  rm -rf "$dir"
done
