#!/usr/bin/env bash
# fuzz.sh — runs every cargo-fuzz target (or those of $FUZZ_TARGETS) for $FUZZ_RUNS
# runs each, one after the other, on seed corpora built from fixtures/, then prints
# one line per target: runs done, exec/s, wall time, crashes. Exits 1 if any target
# crashed (the inputs are in fuzz/artifacts/<target>/).
#
#   FUZZ_RUNS       runs per target (default 100000)
#   FUZZ_MAX_TIME   seconds per target at most (default: FUZZ_RUNS/500, at least 600)
#   FUZZ_TARGETS    space-separated subset (default: every target)
#   FUZZ_ARGS       extra libFuzzer flags
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT/fuzz"
RUNS=${FUZZ_RUNS:-100000}
MAX_TIME=${FUZZ_MAX_TIME:-$(( RUNS / 500 > 600 ? RUNS / 500 : 600 ))}
TARGETS=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
LOGS=$ROOT/fuzz/logs
mkdir -p "$LOGS"

cargo +nightly fuzz build
bash "$ROOT/scripts/fuzz-seeds.sh" "$ROOT/fuzz/corpus"

summary=()
failed=0
for t in $TARGETS; do
  mkdir -p "artifacts/$t"
  before=$(find "artifacts/$t" -type f | wc -l)
  echo "== fuzz $t: $RUNS runs, at most ${MAX_TIME}s"
  start=$(date +%s)
  rc=0
  # -timeout: one input taking 25 s is a bug (a hang), whatever the machine's load.
  cargo +nightly fuzz run "$t" "corpus/$t" -- \
    -runs="$RUNS" -max_total_time="$MAX_TIME" -timeout=25 -rss_limit_mb=2048 \
    -print_final_stats=1 ${FUZZ_ARGS:-} > "$LOGS/$t.log" 2>&1 || rc=$?
  wall=$(( $(date +%s) - start ))
  crashes=$(( $(find "artifacts/$t" -type f | wc -l) - before ))
  runs=$(grep -o '^stat::number_of_executed_units: *[0-9]*' "$LOGS/$t.log" | grep -o '[0-9]*$' || true)
  execs=$(grep -o '^stat::average_exec_per_sec: *[0-9]*' "$LOGS/$t.log" | grep -o '[0-9]*$' || true)
  cov=$(grep -o 'cov: [0-9]*' "$LOGS/$t.log" | tail -1 | grep -o '[0-9]*' || true)
  if (( rc != 0 && crashes == 0 )); then
    if grep -q 'run interrupted' "$LOGS/$t.log"; then crashes="0 (interrupted)"; else crashes="? (exit $rc)"; fi
  fi
  line=$(printf '%-10s runs %-10s exec/s %-7s cov %-6s wall %5ss  crashes %s' \
    "$t" "${runs:-?}" "${execs:-?}" "${cov:-?}" "$wall" "$crashes")
  echo "$line"
  summary+=("$line")
  if (( rc != 0 )); then
    failed=1
    grep -E '^(==[0-9]+==|SUMMARY|thread .* panicked)|artifact_prefix|Test unit written' \
      "$LOGS/$t.log" | head -8 || true
  fi
done
echo
echo "fuzz summary (log of each run in fuzz/logs/):"
printf '  %s\n' "${summary[@]}"
exit $failed
