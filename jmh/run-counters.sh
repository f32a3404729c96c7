#!/usr/bin/env bash
# What the live counters cost an append (issue 15): the same benchmarks for three stores side by side in every JMH
# run, one fork each, the order rotated round by round (so no store always runs first, or always last):
#   varve             counters on (the default)
#   varve-nocounters  VarveConfig.Builder.counters(false)
#   varve-latency     counters on and recordAppendLatency(true)
# Per round, four JMH runs (64 B, exact(n), -prof gc):
#   append      AppendBenchmark, one thread, one stream, disk (as the main append benchmark), Throughput
#   concurrent  ConcurrentAppendBenchmark, two threads on a stream each (distinct), disk, Throughput
#   sample      AppendLatencyBenchmark, one thread, disk, SampleTime (p50/p99 of single appends)
#   tmpfs       AppendBenchmark on tmpfs (/dev/shm): no write-back, the CPU path alone; shorter iterations, since a
#               tmpfs store lives in RAM (~1 GB per second of appends)
# About 3.5 minutes a round on 2 cores. Results: $OUT (default jmh/results/counters-<time>/), one JSON and one log per
# run, times.txt (start, end and load of each run), machine.txt; then python3 jmh/summarize_counters.py $OUT.
# Knobs: ROUNDS (default 7), JOBS (default "append concurrent sample tmpfs"), SKIP_BUILD=1,
# VARVE_BENCH_JAR (run a copy of the jar), TMPFS_DIR (default /dev/shm/varve-bench-counters),
# JMH_LOCK (a file: each round holds flock on it, so JMH runs of several people never overlap).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
jar="${VARVE_BENCH_JAR:-$here/target/benchmarks.jar}"
out="${OUT:-$here/results/counters-$(date -u +%Y%m%dT%H%M%SZ)}"
rounds="${ROUNDS:-7}"
jobs="${JOBS:-append concurrent sample tmpfs}"
tmpfs="${TMPFS_DIR:-/dev/shm/varve-bench-counters}"
systems=(varve varve-nocounters varve-latency)

if [[ "${SKIP_BUILD:-0}" != "1" && -z "${VARVE_BENCH_JAR:-}" ]]; then
  (cd "$root" && mvn -B -q -pl jmh -am package -DskipTests)
fi
mkdir -p "$out"
trap 'rm -rf "$tmpfs"' EXIT
{
  echo "commit: $(git -C "$root" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo "jar: $jar"
  echo "nproc: $(nproc)"
  grep -m1 'model name' /proc/cpuinfo || true
  echo "clocksource: $(cat /sys/devices/system/clocksource/clocksource0/current_clocksource 2>/dev/null || echo ?)"
  uname -srm
  java -version 2>&1 | head -1
  df -h /tmp /dev/shm
  free -g
} > "$out/machine.txt"

common=(-f 1 -foe true -prof gc -rf json)
disk=(-wi 3 -w 2s -i 5 -r 2s)
[[ -n "${JMH_LOCK:-}" ]] && exec 9>>"$JMH_LOCK"

for ((round = 1; round <= rounds; round++)); do
  # rotate: round 1 varve first, round 2 varve-nocounters first, round 3 varve-latency first, ...
  order=()
  for ((i = 0; i < ${#systems[@]}; i++)); do
    order+=("${systems[$(((round - 1 + i) % ${#systems[@]}))]}")
  done
  list="$(IFS=,; echo "${order[*]}")"
  # a round holds the lock (if any) from its first JMH run to its last: its runs stay together in time
  [[ -n "${JMH_LOCK:-}" ]] && flock 9
  for job in $jobs; do
    case "$job" in
      append) args=('\.AppendBenchmark\.' "${disk[@]}" -p streams=1 -p expected=exact -p payload=64) ;;
      concurrent) args=('\.ConcurrentAppendBenchmark\.' "${disk[@]}" -p scenario=distinct -p payload=64) ;;
      sample) args=('\.AppendLatencyBenchmark\.' -wi 2 -w 2s -i 3 -r 2s -p payload=64) ;;
      tmpfs) args=('\.AppendBenchmark\.' -wi 3 -w 1s -i 5 -r 1s -p streams=1 -p expected=exact -p payload=64
                   -jvmArgsPrepend "-Dvarve.bench.dir=$tmpfs") ;;
      *) echo "unknown job: $job"; exit 2 ;;
    esac
    name="$job-r$round"
    echo "== round $round $job: $list"
    start="$(date -u +%H:%M:%S)"; load_before="$(cut -d' ' -f1-3 /proc/loadavg)"
    java -jar "$jar" "${args[@]}" "${common[@]}" -p system="$list" -rff "$out/$name.json" \
      > "$out/$name.log" 2>&1 || { echo "FAILED: $name (log: $out/$name.log)"; tail -30 "$out/$name.log"; exit 1; }
    echo "$name $list start=$start end=$(date -u +%H:%M:%S) load_before=$load_before" \
      "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" >> "$out/times.txt"
  done
  [[ -n "${JMH_LOCK:-}" ]] && flock -u 9
done
echo "results in $out; summary: python3 $here/summarize_counters.py $out"
