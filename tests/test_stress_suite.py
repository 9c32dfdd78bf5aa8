"""scripts/stress_suite.sh says how long each run took and never passes a run that tested nothing.

Both runs here use ``CLONE=0`` (this checkout and its .venv, no clone or install) and no CPU burners,
on a fast pure test file: what is checked is the script's reporting, not the suite under load.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

from tests.slowness import scaled

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "scripts" / "stress_suite.sh"


def stress(work: Path, *pytest_args: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {"CLONE": "0", "RUNS": "1", "BURNERS": "0", "WORK": str(work), "SOURCE": str(ROOT)}
    return subprocess.run(["bash", str(SCRIPT), *pytest_args], capture_output=True, text=True, env=env,
                          timeout=scaled(120))


def test_a_run_that_collects_no_tests_fails_and_says_so(tmp_path: Path) -> None:
    r = stress(tmp_path, "tests/test_layering.py", "-k", "no_test_is_named_like_this")
    assert r.returncode == 1, r.stdout + r.stderr
    assert re.search(r"^run 1: FAILED in \d+m\d\ds \(exit 5\): ", r.stdout, re.M), r.stdout
    assert "error: run 1: pytest collected no tests (exit 5)" in r.stderr, r.stderr
    assert "1 run(s) in " in r.stdout and "SOME FAILED" in r.stdout
    assert "collected no tests" in (tmp_path / "stress_suite.log").read_text()


def test_a_passing_run_reports_its_time_and_pytests_summary(tmp_path: Path) -> None:
    r = stress(tmp_path, "tests/test_layering.py", "-k", "every_room_has_a_rule")
    assert r.returncode == 0, r.stdout + r.stderr
    assert re.search(r"^run 1: passed in \d+m\d\ds \(exit 0\): .*1 passed", r.stdout, re.M), r.stdout
    assert re.search(r"^1 run\(s\) in \d+m\d\ds: all passed$", r.stdout, re.M), r.stdout
    assert "CPU-bound" in r.stderr and not (tmp_path / "clone").exists()
