#!/usr/bin/env bash
# Install everything (incl. test extras) and run the test suite.  Fails if no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test || exit $?
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "error: pytest collected no tests; refusing to pass" >&2
  exit 1
fi
exit $rc
