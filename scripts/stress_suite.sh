#!/usr/bin/env bash
# Run the test suite several times in a row on a clean clone while other CPU-bound processes compete for
# the cores, as a shared CI machine does.  A test that passes idle but fails here waits for a fixed time,
# or asserts on timing, instead of waiting for the state it checks.
#
#   bash scripts/stress_suite.sh                     # 3 runs of the whole suite, 2 busy processes
#   RUNS=1 BURNERS=2 bash scripts/stress_suite.sh -k "gguf_checks or state_cache"   # a quick subset
#   CLONE=0 RUNS=1 BURNERS=0 bash scripts/stress_suite.sh tests/core   # this checkout and its .venv, as is
#
# Environment: RUNS (3), BURNERS (2), SOURCE (the repository to clone: this one), WORK (a fresh temp dir),
# KEEP=1 keeps the clone, CLONE=0 runs in SOURCE itself with its installed .venv (no clone, no install).
# Arguments go to pytest.  Prints one line per run (result, minutes and seconds, pytest's summary) and a
# total, and writes them to $WORK/stress_suite.log; exits non-zero if any run failed.  A run in which
# pytest collected no tests (its exit 5: a mistyped path or -k) counts as failed and says so, so a
# stress run never passes by testing nothing.
set -uo pipefail
RUNS=${RUNS:-3}
BURNERS=${BURNERS:-2}
CLONE=${CLONE:-1}
SOURCE=${SOURCE:-$(cd "$(dirname "$0")/.." && git rev-parse --show-toplevel)}
WORK=${WORK:-$(mktemp -d -t localctx-stress-XXXXXX)}
mkdir -p "$WORK"
LOG="$WORK/stress_suite.log"
burners=()

cleanup() {
  for pid in "${burners[@]}"; do kill "$pid" 2>/dev/null; done
  wait "${burners[@]}" 2>/dev/null
  if [ "${KEEP:-0}" != 1 ]; then rm -rf "$WORK/clone"; fi
}
trap cleanup EXIT INT TERM

minutes() { printf '%dm%02ds' $(($1 / 60)) $(($1 % 60)); }

if [ "$CLONE" = 0 ]; then
  echo "running in $SOURCE as it is (HEAD $(git -C "$SOURCE" rev-parse --short HEAD), no clone)" | tee "$LOG" >&2
  cd "$SOURCE" || exit 1
  [ -x .venv/bin/python ] || { echo "error: $SOURCE/.venv is missing: run bash scripts/install.sh --test" >&2; exit 1; }
else
  echo "cloning $SOURCE (HEAD $(git -C "$SOURCE" rev-parse --short HEAD)) into $WORK/clone" | tee "$LOG" >&2
  git clone -q --no-hardlinks "$SOURCE" "$WORK/clone" || exit 1
  cd "$WORK/clone" || exit 1
  echo "installing (the llama.cpp wheel comes from pip's cache)..." >&2
  bash scripts/install.sh --test >"$WORK/install.log" 2>&1 \
    || { echo "error: install failed, see $WORK/install.log" >&2; exit 1; }
fi

for _ in $(seq "$BURNERS"); do
  ( while :; do :; done ) &
  burners+=("$!")
done
echo "$BURNERS CPU-bound processes running (pids ${burners[*]:-none}) on $(nproc) cores" | tee -a "$LOG" >&2

failed=0
total=0
for i in $(seq "$RUNS"); do
  start=$(date +%s)
  .venv/bin/python -m pytest -q -p no:cacheprovider "$@" >"$WORK/run-$i.log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  total=$((total + secs))
  summary=$(tail -n 1 "$WORK/run-$i.log")
  line=$(printf 'run %d: %s in %s (exit %d): %s' "$i" "$([ $rc -eq 0 ] && echo passed || echo FAILED)" \
         "$(minutes "$secs")" "$rc" "$summary")
  echo "$line" | tee -a "$LOG"
  if [ $rc -eq 5 ]; then
    echo "error: run $i: pytest collected no tests (exit 5) for: ${*:-the whole suite}; nothing was tested" \
      | tee -a "$LOG" >&2
  fi
  if [ $rc -ne 0 ]; then
    failed=1
    grep -E "^(FAILED|ERROR) " "$WORK/run-$i.log" | head -20 | tee -a "$LOG"
  fi
done
echo "$RUNS run(s) in $(minutes "$total"): $([ $failed -eq 0 ] && echo "all passed" || echo "SOME FAILED")" \
  | tee -a "$LOG"
echo "logs: $WORK (run-N.log, stress_suite.log)" >&2
exit $failed
