#!/usr/bin/env bash
# Install everything (incl. test extras), check style and types, and run the test suite.
# Fails if ruff or mypy report anything, or if no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test || exit $?
echo "ruff check (rules in pyproject.toml)..." >&2
.venv/bin/ruff check localctx tests scripts || { echo "error: ruff found problems (see above)" >&2; exit 1; }
echo "mypy (localctx/)..." >&2
.venv/bin/mypy || { echo "error: mypy found problems (see above)" >&2; exit 1; }
.venv/bin/python -m pytest -q -p no:cacheprovider "$@"
rc=$?
if [ $rc -eq 5 ]; then
  echo "error: pytest collected no tests; refusing to pass" >&2
  exit 1
fi
exit $rc
