#!/usr/bin/env bash
# MultiProcessAppendBenchmark: two writers as two threads of one JVM (threads2) against the JMH fork plus a helper
# JVM appending into the same store (processes2), VarveDB and Chronicle Queue, in rounds whose order alternates
# (threads first, then processes first, ...) so that drift of this shared machine does not favour one shape.
# One JSON and one log per group and round in $OUT (default jmh/results/multiprocess-<timestamp>/); summarise with
#   python3 jmh/summarize_multiprocess.py $OUT
# Knobs: ROUNDS (default 2), JMH_OPTS (default -f 1 -wi 2 -i 3 -w 2s -r 3s), SKIP_BUILD=1, VARVE_BENCH_DIR.
# About 2.5 minutes per round.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
jar="$here/target/benchmarks.jar"
out="${OUT:-$here/results/multiprocess-$(date +%Y%m%d-%H%M%S)}"
rounds="${ROUNDS:-2}"
mkdir -p "$out"
read -r -a opts <<< "${JMH_OPTS:--f 1 -wi 2 -i 3 -w 2s -r 3s}"

if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
  (cd "$root" && mvn -B -q -pl jmh -am package -DskipTests)
fi

{ echo "nproc: $(nproc)"; grep -m1 'model name' /proc/cpuinfo; java -version 2>&1 | head -2; uname -r;
  echo "store dir: ${VARVE_BENCH_DIR:-${TMPDIR:-/tmp}}"; echo "opts: ${opts[*]}"; echo "rounds: $rounds";
  echo "start: $(date -u +%FT%TZ)"; } > "$out/machine.txt"

dir_opt=()
if [[ -n "${VARVE_BENCH_DIR:-}" ]]; then
  # -jvmArgsPrepend: -jvmArgsAppend on the command line would replace the flags in the @Fork annotations
  dir_opt=(-jvmArgsPrepend "-Dvarve.bench.dir=$VARVE_BENCH_DIR")
fi

failed=0
run() {
  local name="$1"; shift
  echo "== $name $*"
  java -jar "$jar" "${opts[@]}" "${dir_opt[@]}" -rf json -rff "$out/$name.json" "$@" > "$out/$name.log" 2>&1 \
    || { echo "!! $name failed, see $out/$name.log"; failed=1; }
}

threads() {
  # the default single-process mode and the multi-process mode, to see what the mode itself costs
  run "threads2-distinct-r$1" '\.MultiProcessAppendBenchmark\.threads2' -p system=varve,varve-mp,chronicle \
    -p scenario=distinct
  run "threads2-hot-r$1" '\.MultiProcessAppendBenchmark\.threads2' -p system=varve,varve-mp -p scenario=hot
}
processes() {
  run "processes2-distinct-r$1" '\.MultiProcessAppendBenchmark\.processes2' -p system=varve-mp,chronicle \
    -p scenario=distinct
  run "processes2-hot-r$1" '\.MultiProcessAppendBenchmark\.processes2' -p system=varve-mp -p scenario=hot
}

for ((r = 1; r <= rounds; r++)); do
  if ((r % 2 == 1)); then threads "$r"; processes "$r"; else processes "$r"; threads "$r"; fi
done
echo "end: $(date -u +%FT%TZ)" >> "$out/machine.txt"
echo "results in $out"
exit "$failed"
