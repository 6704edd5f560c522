#!/usr/bin/env bash
# Benchmark harness. For each size: generates the three institutions' exports with `regbridge synth`,
# runs `regbridge run` on them RUNS times, each with a clean state (wall time, CPU time, peak RSS, and
# the seconds of every stage from the run's own summary), scores linkage against the generator's
# truth with `regbridge eval`, then (unless SPLINK=0) runs Splink on the same standardised records
# (bench/splink_bench.py, DuckDB backend) RUNS times. Prints one table, medians of the runs, and
# writes the raw figures to bench/results/<size>.json.
#
# Usage: bench/run.sh [records ...]          (default: 100000)
#   RUNS=3     runs per system and size (the median is reported)
#   SEED=7     generator seed
#   SPLINK=0   skip Splink; SPLINK_PYTHON=path/to/python picks the Python that has splink installed
#              (default: python3; `pip install splink` provides it)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet
bin="$PWD/target/release/regbridge"
seed="${SEED:-7}"
runs="${RUNS:-3}"
splink="${SPLINK:-1}"
python="${SPLINK_PYTHON:-python3}"
sizes=("${@:-100000}")
mkdir -p bench/results
if [ "$splink" != 0 ] && ! "$python" -c 'import splink' 2>/dev/null; then
  echo "note: $python cannot import splink (pip install splink); Splink is skipped" >&2
  splink=0
fi
for n in "${sizes[@]}"; do
  dir=$(mktemp -d)
  "$bin" --quiet synth --out "$dir" --records "$n" --seed "$seed" --assets .
  # Written files go to disk before each timed run, so that no run pays for writing back the
  # exports just generated or the previous run's 700 MB of output (untimed).
  sync
  # How fast the host faults in fresh memory (512 MiB, one byte per page): it should be well under a
  # second; figures taken while it is slow are not comparable (BENCHMARKS.md).
  python3 -c 'import time; t = time.time(); b = bytearray(512 << 20); b[::4096] = bytes(len(b[::4096])); print(round(time.time() - t, 2))' \
    > "$dir/host_touch_512mb_s.txt"
  for r in $(seq 1 "$runs"); do
    rm -rf "$dir/out"
    sync
    /usr/bin/time -f '%e %U %S %M' -o "$dir/time.$r.txt" \
      "$bin" --json run --config "$dir/config.toml" > "$dir/summary.$r.json"
  done
  "$bin" --json eval --config "$dir/config.toml" --truth "$dir/truth.csv" \
    --linkage-input "$dir/linkage_input.csv" > "$dir/eval.json"
  if [ "$splink" != 0 ]; then
    for r in $(seq 1 "$runs"); do
      sync
      /usr/bin/time -f '%e %U %S %M' -o "$dir/splink_time.$r.txt" \
        "$python" bench/splink_bench.py --input "$dir/linkage_input.csv" --json > "$dir/splink.$r.json"
    done
  fi
  python3 bench/report.py "$n" "$dir" "$runs" > "bench/results/$n.json"
  rm -rf "$dir"
done
python3 bench/report.py --table "${sizes[@]}"
