"""A cut is never silent in JSON: `ask --overflow truncate-middle|drop-oldest --json` lists every cut in
"notices" with its numbers, and each document says how many of its tokens were kept and dropped."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app

pytestmark = pytest.mark.model
runner = CliRunner()
BOOK = Path(__file__).resolve().parents[1] / "data" / "pride_and_prejudice.txt"


def _ask(tmp_path: Path, policy: str) -> dict:
    first, second = tmp_path / "first.txt", tmp_path / "second.txt"
    first.write_text(BOOK.read_text()[:6000])
    second.write_text("The ferry to Oslo leaves at nine.\n")
    r = runner.invoke(app, ["ask", "smollm2", "When does the ferry leave?", "--file", str(first), "--file",
                            str(second), "--overflow", policy, "--ctx", "1024", "-n", "4", "-t", "1", "--json"])
    assert r.exit_code == 0, r.output
    return json.loads(r.stdout)


def test_truncate_middle_says_what_it_cut_in_json(tmp_path: Path) -> None:
    d = _ask(tmp_path, "truncate-middle")
    docs = {x["name"]: x for x in d["documents"]}
    big = docs["first.txt"]
    assert big["cut"] == "truncate-middle" and big["dropped_tokens"] > 0
    assert big["kept_tokens"] == big["tokens"] - big["dropped_tokens"] and 0 < big["kept_tokens"] < 1024
    assert any(n.startswith(f"first.txt: cut {big['dropped_tokens']:,} of {big['tokens']:,} tokens from the middle")
               for n in d["notices"]), d["notices"]


def test_drop_oldest_says_the_dropped_document_in_json(tmp_path: Path) -> None:
    d = _ask(tmp_path, "drop-oldest")
    first, second = d["documents"]
    assert first["name"] == "first.txt" and first["cut"] == "drop-oldest" and first["dropped_tokens"] > 0
    assert first["kept_tokens"] == first["tokens"] - first["dropped_tokens"]
    assert second["cut"] is None and second["dropped_tokens"] == 0 and second["kept_tokens"] == second["tokens"]
    assert any(f"first.txt: dropped its first {first['dropped_tokens']:,} of {first['tokens']:,} tokens" in n
               for n in d["notices"]), d["notices"]
