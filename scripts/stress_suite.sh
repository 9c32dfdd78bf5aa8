#!/usr/bin/env bash
# Run the test suite several times in a row on a clean clone while other CPU-bound processes compete for
# the cores, as a shared CI machine does.  A test that passes idle but fails here waits for a fixed time,
# or asserts on timing, instead of waiting for the state it checks.
#
#   bash scripts/stress_suite.sh                     # 3 runs of the whole suite, 2 busy processes
#   RUNS=1 BURNERS=2 bash scripts/stress_suite.sh -k "gguf_checks or state_cache"   # a quick subset
#
# Environment: RUNS (3), BURNERS (2), SOURCE (the repository to clone: this one), WORK (a fresh temp dir),
# KEEP=1 keeps the clone.  Arguments go to pytest.  Prints one line per run (result and minutes) and
# writes them to $WORK/stress_suite.log; exits non-zero if any run failed.
set -uo pipefail
RUNS=${RUNS:-3}
BURNERS=${BURNERS:-2}
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

echo "cloning $SOURCE (HEAD $(git -C "$SOURCE" rev-parse --short HEAD)) into $WORK/clone" | tee "$LOG" >&2
git clone -q --no-hardlinks "$SOURCE" "$WORK/clone" || exit 1
cd "$WORK/clone" || exit 1
echo "installing (the llama.cpp wheel comes from pip's cache)..." >&2
bash scripts/install.sh --test >"$WORK/install.log" 2>&1 || { echo "error: install failed, see $WORK/install.log" >&2; exit 1; }

for _ in $(seq "$BURNERS"); do
  ( while :; do :; done ) &
  burners+=("$!")
done
echo "$BURNERS CPU-bound processes running (pids ${burners[*]}) on $(nproc) cores" | tee -a "$LOG" >&2

failed=0
for i in $(seq "$RUNS"); do
  start=$(date +%s)
  .venv/bin/python -m pytest -q -p no:cacheprovider "$@" >"$WORK/run-$i.log" 2>&1
  rc=$?
  secs=$(( $(date +%s) - start ))
  summary=$(tail -n 1 "$WORK/run-$i.log")
  line=$(printf 'run %d: %s in %dm%02ds (exit %d): %s' "$i" "$([ $rc -eq 0 ] && echo passed || echo FAILED)" \
         $((secs / 60)) $((secs % 60)) "$rc" "$summary")
  echo "$line" | tee -a "$LOG"
  if [ $rc -ne 0 ]; then
    failed=1
    grep -E "^(FAILED|ERROR) " "$WORK/run-$i.log" | head -20 | tee -a "$LOG"
  fi
done
echo "logs: $WORK (run-N.log, stress_suite.log)" >&2
exit $failed
