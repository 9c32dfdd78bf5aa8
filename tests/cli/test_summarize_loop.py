"""`localctx summarize` when a summary loops: one line on stderr and a notice in --json, never silent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from tests.services.test_summarize import make_long_text

pytestmark = pytest.mark.model


def test_a_looping_summary_is_one_warning_line_and_a_json_notice(tmp_path: Path) -> None:
    text, _facts = make_long_text(1)  # loops on smollm2 without penalties (tests/services/test_summary_loop_guard)
    src = tmp_path / "lisbon.md"
    src.write_text(text)
    r = CliRunner().invoke(app, ["summarize", str(src), "--ctx", "1024", "-t", "1", "--length", "short",
                                 "--repeat-penalty", "1", "--dry-multiplier", "0", "--json"])
    assert r.exit_code == 0, r.output
    (summary,) = json.loads(r.stdout)["summaries"]
    assert summary["levels"][0][0]["stop_reason"] == "loop"
    assert len(summary["notices"]) == 1 and "repeating itself" in summary["notices"][0]
    said = [ln for ln in r.stderr.splitlines() if "repeating itself" in ln]
    assert said == [f"warning: {summary['notices'][0]}"], r.stderr
