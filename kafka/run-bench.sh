#!/usr/bin/env bash
# Runs the Kafka bench (io.varvedb.kafka.bench.KafkaBench, in kafka's test sources): publisher throughput against
# plain producers, and end-to-end lag primary -> Kafka -> replica. Builds what it needs (never installs), then
#   kafka/run-bench.sh [--name=value ...]      e.g. --rounds=3 --rates=1000,10000 --out=bench.md
# BENCH_JVM overrides the bench JVM's options (default: -Xms2g -Xmx2g); --broker-jvm=... the broker JVM's.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
mvn -q -pl kafka -am test-compile dependency:build-classpath \
  -Dmdep.outputFile=target/bench.classpath -Dmdep.includeScope=test >&2
cp="kafka/target/test-classes:kafka/target/classes:$(cat kafka/target/bench.classpath)"
exec java --add-exports java.base/jdk.internal.misc=ALL-UNNAMED ${BENCH_JVM:--Xms2g -Xmx2g} \
  -cp "$cp" io.varvedb.kafka.bench.KafkaBench "$@"
