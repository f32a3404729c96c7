#!/usr/bin/env bash
# The full benchmark run behind jmh/README.md: builds the jar (unless SKIP_BUILD=1), runs jmh/run_all.py (every
# group, one JVM fork per job, 5 forks per point, systems interleaved at random, steady-state disk rows with 60 s of
# warm-up, pinned and tmpfs variants, CPU per event, the fixed-rate latency harness; about 90 minutes on 2 cores),
# then writes the tables to $OUT/summary.md with jmh/summarize.py.
# Knobs: OUT=<dir> (default jmh/results/<timestamp>), FORKS=<n> (default 5), SEED=<n>, BENCH_GROUPS=a,b (a subset),
# PLAN=quick (every kind of job once, tiny, ~2 minutes: checks the harness, not the machine), VARVE_BENCH_DIR=<dir>
# (where the disk groups create their stores; default /tmp). Run it on a quiet machine: nothing else heavy.
# Needs root for /proc/sys/vm/drop_caches (without it, the run waits for write-back instead) and taskset.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
out="${OUT:-$here/results/$(date +%Y%m%d-%H%M%S)}"

if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
  (cd "$root" && mvn -B -q -pl jmh -am package -DskipTests)
fi
args=(--out "$out" --plan "${PLAN:-full}" --forks "${FORKS:-5}")
[[ -n "${SEED:-}" ]] && args+=(--seed "$SEED")
[[ -n "${BENCH_GROUPS:-}" ]] && args+=(--groups "$BENCH_GROUPS")
status=0
python3 "$here/run_all.py" "${args[@]}" || status=$?
python3 "$here/summarize.py" "$out" > "$out/summary.md"
echo "results in $out; tables in $out/summary.md"
exit "$status"
