#!/usr/bin/env bash
# Run the VarveDB jcstress tests from the already built jar and fail on any forbidden outcome or error.
#
#   jcstress-tests/run-jcstress.sh quick   # bounded: one JVM mode, 1 s per configuration, about 3 min on 2 cores
#   jcstress-tests/run-jcstress.sh full    # jcstress "default" preset: every JVM and compilation mode, ~2 h
#   jcstress-tests/run-jcstress.sh quick 'SegmentRoll|Oversell'  # only tests whose names match this regex
#
# Build first (this script builds nothing): mvn -B -q -pl jcstress-tests -am package -DskipTests
# (-am builds the core of this checkout; without it Maven takes whatever varvedb-core is installed in ~/.m2)
# Stores: small, short-lived, in /dev/shm when it exists; VARVE_JCSTRESS_DIR=/some/dir puts them there instead.
# Results: target/jcstress-results/<mode>/ (HTML report in html-*/index.html, console output in *.log,
# the summary in summary.txt); set VARVE_JCSTRESS_RESULTS to put them elsewhere.
#
# Exit status: 0 only if every selected test ran in every configuration and none saw a FORBIDDEN outcome or an
# error. jcstress 0.16 itself already exits non-zero on failures (it throws "TEST FAILURES" at the end); this
# script does not rely on that alone: it also checks the final tally and that every selected test has a report,
# since a test jcstress cannot schedule (say, more actors than CPUs) is skipped without failing anything.
set -euo pipefail

MODULE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
JAR="$MODULE/target/jcstress.jar"
MODE="${1:-}"
FILTER="${2:-}"

# Agrona 2.x reads jdk.internal.misc at run time; the forked test VMs need it.
AGRONA_FLAG="--add-exports java.base/jdk.internal.misc=ALL-UNNAMED"
# The tests' stores go to /dev/shm (else the temp directory); VARVE_JCSTRESS_DIR puts them elsewhere.
if [[ -n "${VARVE_JCSTRESS_DIR:-}" ]]; then
  AGRONA_FLAG="$AGRONA_FLAG -Dvarve.jcstress.dir=$VARVE_JCSTRESS_DIR"
fi
# The CloseVs* tests' states cost milliseconds each (each opens and closes a store), so they run apart, with
# small strides.
SLOW_TESTS='CloseVsAppendTest|CloseVsReadTest|CloseVsSubscriptionPollTest'
SMALL_STRIDES=(-strideCount 1 -strideSize 32)

case "$MODE" in
  quick)
    # -jvmArgs: only the given JVM flags (jcstress still tries with and without biased locking: 2 configurations
    # per test); -sc false: no split per-actor compilation modes; one fork, one iteration of 1 s each.
    MODE_ARGS=(-sc false -f 1 -fsm 1 -iters 1 -time 1000 -jvmArgs "$AGRONA_FLAG")
    ;;
  full)
    MODE_ARGS=(-m default -jvmArgsPrepend "$AGRONA_FLAG")
    ;;
  *)
    echo "usage: $0 quick|full [test-name-regex]" >&2
    exit 2
    ;;
esac

if [[ ! -f "$JAR" ]]; then
  echo "no $JAR: build it first with: mvn -B -q -pl jcstress-tests -am package -DskipTests" >&2
  exit 2
fi
command -v java >/dev/null || { echo "java not found" >&2; exit 2; }

RESULTS="${VARVE_JCSTRESS_RESULTS:-$MODULE/target/jcstress-results/$MODE}"
rm -rf "$RESULTS"
mkdir -p "$RESULTS"
SUMMARY="$RESULTS/summary.txt"
: > "$SUMMARY"
FAILED=0

# run NAME TESTS [extra args...]: one jcstress invocation for the given tests (newline-separated class names),
# then an independent check of what it reported.
run() {
  local name="$1" expected="$2"
  shift 2
  local log="$RESULTS/$name.log" html="$RESULTS/html-$name"
  local selector
  selector="^($(echo "$expected" | sed 's/\./\\./g' | paste -sd'|'))\$"

  echo "[$name] running: $(echo "$expected" | sed 's/.*\.//' | tr '\n' ' ')"
  local start=$SECONDS status=0
  # run inside the results directory: jcstress drops its result blob into the working directory
  (cd "$RESULTS" && java -jar "$JAR" -v -t "$selector" -r "$html" "${MODE_ARGS[@]}" "$@") \
    > "$log" 2>&1 || status=$?
  local took=$((SECONDS - start))

  local problems=()
  [[ $status -eq 0 ]] || problems+=("jcstress exited with status $status")
  grep -q '^RUN RESULTS:' "$log" || problems+=("no RUN RESULTS section in $log")
  # the last progress line holds the final tally
  local tally
  tally="$(grep -oE 'Results: [0-9]+ planned; [0-9]+ passed, [0-9]+ failed, [0-9]+ soft errs, [0-9]+ hard errs' "$log" \
    | tail -1 || true)"
  if [[ -z "$tally" ]]; then
    problems+=("no final tally in $log")
  else
    local planned passed failed soft hard
    read -r planned passed failed soft hard <<< "$(echo "$tally" | grep -oE '[0-9]+' | tr '\n' ' ')"
    [[ "$planned" -gt 0 && "$passed" -eq "$planned" ]] || problems+=("only $passed of $planned results passed")
    [[ "$failed" -eq 0 ]] || problems+=("$failed results FAILED (forbidden outcomes)")
    [[ "$soft" -eq 0 && "$hard" -eq 0 ]] || problems+=("$soft soft and $hard hard errors")
  fi
  grep -q 'Failed tests: No matches\.' "$log" || problems+=("jcstress lists failed tests")
  grep -q 'Error tests: No matches\.' "$log" || problems+=("jcstress lists tests in error")
  local test
  for test in $expected; do
    [[ -f "$html/$test.html" ]] || problems+=("$test did not run (no report)")
    grep -q "\[OK\] $test\$" "$log" || problems+=("$test is not reported OK")
  done

  {
    echo "== $name: $tally (${took}s)"
    # the per-test tables of observed outcomes
    sed -n '/^RUN RESULTS:/,/HTML report generated/p' "$log" | grep -vE '^\s*$|HTML report generated' || true
  } >> "$SUMMARY"
  if [[ ${#problems[@]} -gt 0 ]]; then
    FAILED=1
    {
      echo "[$name] FAILED:"
      printf '  - %s\n' "${problems[@]}"
    } | tee -a "$SUMMARY"
    grep -E 'Observed forbidden state|had failed|TEST FAILURES' "$log" | head -20 || true
  else
    echo "[$name] OK in ${took}s: $tally"
  fi
}

ALL="$(cd "$RESULTS" && java -jar "$JAR" -l | grep -E '^io\.varvedb\.jcstress\.\w+Test$' || true)"
SELECTED="$(echo "$ALL" | grep -E "${FILTER:-.}" || true)"
if [[ -z "$SELECTED" ]]; then
  echo "no jcstress test in $JAR matches '${FILTER}'" >&2
  exit 1
fi
MAIN="$(echo "$SELECTED" | grep -vE "\.($SLOW_TESTS)\$" || true)"
SLOW="$(echo "$SELECTED" | grep -E "\.($SLOW_TESTS)\$" || true)"

TOTAL_START=$SECONDS
if [[ -n "$MAIN" ]]; then run main "$MAIN"; fi
if [[ -n "$SLOW" ]]; then run slow "$SLOW" "${SMALL_STRIDES[@]}"; fi
echo "summary: $SUMMARY (total $((SECONDS - TOTAL_START))s)"
if [[ $FAILED -ne 0 ]]; then
  echo "jcstress: FAILED" >&2
  exit 1
fi
echo "jcstress: all tests passed"
