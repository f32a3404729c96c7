#!/usr/bin/env bash
# Smoke pass of the JMH benchmarks: builds jmh/target/benchmarks.jar (unless SKIP_BUILD=1), then runs a few
# representative benchmarks for one very short iteration each, VarveDB and one peer. Exits non-zero if the build
# fails, if any benchmark throws (-foe true), or if a benchmark is missing from the results.
# Scores from this pass mean nothing; it only proves the benchmarks run. Takes about 2-2.5 minutes.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
jar="$here/target/benchmarks.jar"
out="${SMOKE_OUT:-$(mktemp -d /tmp/varve-jmh-smoke.XXXXXX)}"

if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
  (cd "$root" && mvn -B -q -pl jmh -am package -DskipTests)
fi

base=(-f 1 -foe true -rf json)
common=("${base[@]}" -wi 1 -i 1 -w 1s -r 1s)
expected=0
run() {
  local name="$1"; shift
  echo "== smoke: $name $*"
  java -jar "$jar" "${common[@]}" -rff "$out/$name.json" "$@" > "$out/$name.log" 2>&1 || {
    echo "FAILED: $name (log: $out/$name.log)"; tail -40 "$out/$name.log"; exit 1; }
}
# single-shot benchmarks: no timed iterations, one shot each
run_shots() {
  local name="$1"; shift
  echo "== smoke: $name $*"
  java -jar "$jar" "${base[@]}" -wi 0 -i 1 -rff "$out/$name.json" "$@" > "$out/$name.log" 2>&1 || {
    echo "FAILED: $name (log: $out/$name.log)"; tail -40 "$out/$name.log"; exit 1; }
}

run append '\.AppendBenchmark\.' -p system=varve,chronicle -p payload=64 -p streams=1,100000 -p expected=exact
expected=$((expected + 4))
run durability '\.AppendBenchmark\.' -p system=varve-group-await,varve-sync -p payload=64 -p streams=1 \
  -p expected=exact
expected=$((expected + 2))
# counters off, and latencies recorded (the trial fails if the store did not count as its name says)
run counters '\.AppendBenchmark\.' -p system=varve-nocounters,varve-latency -p payload=64 -p streams=1 \
  -p expected=exact
expected=$((expected + 2))
run counters-cost '\.CountersCostBenchmark\.(counted|timedAndRecorded)$'
expected=$((expected + 2))
run latency '\.AppendLatencyBenchmark\.' -p system=varve -p payload=64
expected=$((expected + 1))
run concurrent '\.ConcurrentAppendBenchmark\.' -p system=varve -p scenario=hot
expected=$((expected + 1))
# two writer processes on one store (a helper JVM beside the fork); the trial fails if an event is lost
run multiprocess '\.MultiProcessAppendBenchmark\.processes2' -p system=varve-mp -p scenario=distinct
expected=$((expected + 1))
run batch '\.BatchAppendBenchmark\.' -p system=varve -p payload=64 -p batch=10
expected=$((expected + 1))
# exactly-once appends and names: single shots of 1,000,000 appends, one iteration of each mode
run_shots exactly-once '\.ExactlyOnceBenchmark\.'
expected=$((expected + 4))
# scavenging: one 1 s iteration of each operation, with and without scavenges in the background (no warm-up)
run_shots scavenge '\.ScavengeBenchmark\.' -r 1s
expected=$((expected + 6))
run reads '\.(ReadStream|ReadAll|ReadLatest)Benchmark\.' -p system=varve,lmdb -p payload=64
expected=$((expected + 6))
# encryption at rest: an encrypted store's appends, and its reads (the set-up fills it and reads it back by stream
# and whole, so a wrong key or tag fails the trial); clear beside it runs in the full EncryptionBenchmark only
run encryption '\.EncryptionBenchmark\.(append|readAll)$' -p mode=encrypted -p payloadSize=64
expected=$((expected + 2))
# both floors: warm pages, and fresh fallocated pages (JNA)
run floor '\.FloorBenchmark\.' -p payload=64 -p pages=warm,fresh
expected=$((expected + 2))
# the CPU profiler of the full run, on one benchmark
run cpu '\.AppendBenchmark\.' -p system=lmdb -p payload=64 -p streams=1 -p expected=exact \
  -prof io.varvedb.jmh.CpuProfiler
expected=$((expected + 1))
grep -q '"cpu.cores"' "$out/cpu.json" || { echo "FAILED: no cpu.cores from CpuProfiler in $out/cpu.json"; exit 1; }

# the fixed-rate latency harness of the full run, one second per system
mapfile -t flags < <(java -cp "$jar" io.varvedb.jmh.Flags)
for system in varve chronicle lmdb sqlite; do
  echo "== smoke: latency harness, $system"
  java "${flags[@]}" -cp "$jar" io.varvedb.jmh.FixedRateLatency "$system" 10000 1 0.5 64 > "$out/fixed-$system.log" 2>&1 \
    || { echo "FAILED: FixedRateLatency $system"; tail -40 "$out/fixed-$system.log"; exit 1; }
  grep -q '^corrected_p99.9=' "$out/fixed-$system.log" \
    || { echo "FAILED: FixedRateLatency $system printed no percentiles"; exit 1; }
done

actual=$(cat "$out"/*.json | grep -c '"benchmark"' || true)
if [[ "$actual" -ne "$expected" ]]; then
  echo "FAILED: expected $expected benchmark results, got $actual (see $out)"
  exit 1
fi
echo "jmh smoke passed: $actual benchmarks ran (logs and results in $out)"
