#!/usr/bin/env bash
# Every benchmark, VarveDB and the peers side by side, with -prof gc. Bounded for a shared 2-core machine:
# one fork, 2 x 2 s warm-up, 3 x 3 s measurement (override with JMH_OPTS). About 30 minutes.
# Results: $OUT (default jmh/results/<timestamp>/), one JSON and one log per group; summarise with
#   python3 jmh/summarize.py $OUT
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
jar="$here/target/benchmarks.jar"
out="${OUT:-$here/results/$(date +%Y%m%d-%H%M%S)}"
mkdir -p "$out"
read -r -a opts <<< "${JMH_OPTS:--f 1 -wi 2 -i 3 -w 2s -r 3s}"

if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
  (cd "$root" && mvn -B -q -pl jmh package)
fi

{ echo "nproc: $(nproc)"; grep -m1 'model name' /proc/cpuinfo; java -version 2>&1 | head -2; uname -r;
  echo "store dir: ${VARVE_BENCH_DIR:-${TMPDIR:-/tmp}}"; echo "opts: ${opts[*]}"; } > "$out/machine.txt"

dir_opt=()
if [[ -n "${VARVE_BENCH_DIR:-}" ]]; then
  # -jvmArgsPrepend: -jvmArgsAppend on the command line would replace the flags in the @Fork annotations
  dir_opt=(-jvmArgsPrepend "-Dvarve.bench.dir=$VARVE_BENCH_DIR")
fi

run() {
  local name="$1"; shift
  echo "== $name $*"
  java -jar "$jar" "${opts[@]}" "${dir_opt[@]}" -prof gc -rf json -rff "$out/$name.json" "$@" > "$out/$name.log" 2>&1 \
    || echo "!! $name failed, see $out/$name.log"
}

run floor '\.FloorBenchmark\.'
run append '\.AppendBenchmark\.'
# the durability variants of VarveDB, only where they mean something: one stream, exact(n), 64 B and 1 KiB
durable=varve-group,varve-group-await,varve-sync
run append-durability '\.AppendBenchmark\.' -p system=$durable -p streams=1 -p expected=exact -p payload=64,1024
run latency '\.AppendLatencyBenchmark\.'
run latency-durability '\.AppendLatencyBenchmark\.' -p system=$durable -p payload=64,1024
run concurrent '\.ConcurrentAppendBenchmark\.'
run batch '\.BatchAppendBenchmark\.' -p payload=64
run reads '\.(ReadStream|ReadAll|ReadLatest)Benchmark\.'
# clean open (+ close) of a 1 M-stream and a 10,000-stream store, index check on and off; a short pass (single-shot
# iterations as set by JMH_OPTS); the alternating, many-iteration measurement is jmh/run-open.sh. Summarise it with
# python3 jmh/summarize_open.py $OUT
run open '\.OpenBenchmark\.'
# where the time of the 64 B exact(n) append goes, every thread (the appender's and the background agents')
run profile '\.AppendBenchmark\.' -p system=varve,varve-sync -p streams=1 -p expected=exact -p payload=64 \
  -prof 'stack:lines=2;top=12'
echo "results in $out"
