#!/usr/bin/env bash
# OpenBenchmark: a clean open (+ close) of an existing store with 1 M and 10,000 streams, with the index check at
# open on and off. Both settings are measured in the same run, one fork at a time, alternating: round 1 runs
# verify=true then verify=false, round 2 the other way round, and so on (ROUNDS, default 4). Each fork: 5 warm-up
# and 30 measured single-shot iterations of each of open and openClose. About 6-8 minutes on a 2-core machine.
# The stores are built once (a few seconds) in jmh/target/open-stores/ and reused while their shape marker matches.
# Results: $OUT (default jmh/results/open-<timestamp>/), one JSON and one log per fork group; then
#   python3 jmh/summarize_open.py $OUT
# Knobs: ROUNDS, STREAMS (default 1000000,10000), SKIP_BUILD=1, JMH_OPTS (extra JMH options),
#   COLD=1: drop the page cache before every measured open (root only; 1 warm-up, 5 measured iterations per fork).
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/.." && pwd)"
jar="$here/target/benchmarks.jar"
out="${OUT:-$here/results/open-$(date +%Y%m%d-%H%M%S)}"
rounds="${ROUNDS:-4}"
streams="${STREAMS:-1000000,10000}"
mkdir -p "$out"
read -r -a extra <<< "${JMH_OPTS:-}"
cold=()
if [[ "${COLD:-0}" == "1" ]]; then
  # -jvmArgsPrepend: -jvmArgsAppend on the command line would replace the flags in the @Fork annotation
  cold=(-jvmArgsPrepend -Dvarve.open.cold=true -wi 1 -i 5)
fi

if [[ "${SKIP_BUILD:-0}" != "1" ]]; then
  (cd "$root" && mvn -B -q -pl jmh -am package -DskipTests)
fi

{ echo "nproc: $(nproc)"; grep -m1 'model name' /proc/cpuinfo; java -version 2>&1 | head -2; uname -r;
  echo "rounds: $rounds streams: $streams cold: ${COLD:-0} extra: ${extra[*]:-}"; } > "$out/machine.txt"

for ((r = 1; r <= rounds; r++)); do
  if ((r % 2 == 1)); then order=(true slots false); else order=(false slots true); fi
  for v in "${order[@]}"; do
    name="r$r-verify-$v"
    echo "== round $r/$rounds verify=$v"
    java -jar "$jar" '\.OpenBenchmark\.' -f 1 -foe true -p streams="$streams" -p verify="$v" "${cold[@]}" \
      "${extra[@]}" -rf json -rff "$out/$name.json" > "$out/$name.log" 2>&1 || {
        echo "!! $name failed, see $out/$name.log"; tail -30 "$out/$name.log"; exit 1; }
  done
done
echo "results in $out; summarise with: python3 $here/summarize_open.py $out"
