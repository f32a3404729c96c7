#!/usr/bin/env bash
# The durable acknowledgement, measured for two builds side by side: varve-sync and varve-group-await, 64 B,
# exact(n), one thread (AppendBenchmark) and four threads on a stream each (ConcurrentAppendBenchmark -t 4),
# alternating the builds round by round (round 1 new then old, round 2 old then new). "new" is this checkout's
# jmh/target/benchmarks.jar; "old" is $OLD_JAR, a benchmarks.jar built from an earlier commit, for example:
#   git worktree add /tmp/old a3351d0 && (cd /tmp/old && mvn -B -q -o package -DskipTests -pl jmh -am)
#   OLD_JAR=/tmp/old/jmh/target/benchmarks.jar jmh/run-durable-ack.sh
# About 11 minutes. Results: $OUT (default jmh/results/durable-<time>/), one JSON and log per fork group.
set -u
here="$(cd "$(dirname "$0")" && pwd)"
out="${OUT:-$here/results/durable-$(date +%H%M%S)}"
mkdir -p $out
opts="-f 1 -wi 2 -i 3 -w 2s -r 3s -prof gc"
for r in 1 2; do
  if ((r == 1)); then order="new old"; else order="old new"; fi
  for build in $order; do
    if [[ $build == new ]]; then jar="$here/target/benchmarks.jar"; else jar="${OLD_JAR:?set OLD_JAR}"; fi
    echo "== round $r $build 1 thread"
    java -jar $jar '\.AppendBenchmark\.' $opts -p system=varve-sync,varve-group-await -p streams=1 -p expected=exact -p payload=64 -rf json -rff $out/r$r-$build-t1.json > $out/r$r-$build-t1.log 2>&1
    echo "== round $r $build 4 threads"
    java -jar $jar '\.ConcurrentAppendBenchmark\.' $opts -t 4 -p system=varve-sync,varve-group-await -p scenario=distinct -p payload=64 -rf json -rff $out/r$r-$build-t4.json > $out/r$r-$build-t4.log 2>&1
  done
done
echo "results in $out"
