"""`localctx eval passkey|ppl` end to end on the embedded model, and its refusals (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app

runner = CliRunner()
BOOK = Path(__file__).resolve().parents[1] / "data" / "pride_and_prejudice.txt"


@pytest.fixture()
def excerpt(tmp_path: Path) -> Path:
    p = tmp_path / "excerpt.txt"
    p.write_text(BOOK.read_text(encoding="utf-8")[:3000], encoding="utf-8")
    return p


@pytest.mark.model
def test_passkey_json(smollm2_path: Path) -> None:
    r = runner.invoke(app, ["eval", "passkey", "smollm2", "--ctx", "384", "--depths", "0.5", "--method", "none",
                            "-t", "1", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    cell = d["table"]["none"]["384@0.5"]
    assert cell["trials"] == 1 and cell["correct"] in (0, 1)
    assert d["trials"][0]["correct"] == (str(d["trials"][0]["key"]) in d["trials"][0]["answer"])
    assert d["runs"][0]["settings"]["n_ctx"] == 384 and d["runs"][0]["settings"]["n_threads"] == 1
    assert Path(d["results_file"]).exists()
    assert d["params"]["decoding"] == "greedy"


@pytest.mark.model
def test_ppl_table_compares_methods(smollm2_path: Path, excerpt: Path) -> None:
    r = runner.invoke(app, ["eval", "ppl", "smollm2", "--file", str(excerpt), "--ctx", "256", "--bucket", "128",
                            "--method", "none,linear", "--plan-ctx", "16k", "-t", "1"])
    assert r.exit_code == 0, r.output
    out = r.stdout
    assert "perplexity by position" in out and "0-128" in out and "128-256" in out
    rows = {line.split("│")[1].strip(): line for line in out.splitlines() if line.count("│") > 3}
    assert "none" in rows and "linear" in rows
    assert "freq_scale=0.5" in out  # llama.cpp's applied value for linear planned at 2x
    assert "methods planned for 16,384" in out


@pytest.mark.model
def test_ppl_json_has_buckets(smollm2_path: Path, excerpt: Path) -> None:
    r = runner.invoke(app, ["eval", "ppl", "smollm2", "--file", str(excerpt), "--ctx", "192", "--bucket", "64",
                            "-t", "1", "--json"])
    assert r.exit_code == 0, r.output
    d = json.loads(r.stdout)
    res = d["results"][0]
    assert res["method"] == "auto" and res["run"]["plan"]["method"] == "none"  # inside the trained window
    assert [b["start"] for b in res["buckets"]] == [0, 64, 128]
    assert sum(b["n_tokens"] for b in res["buckets"]) == res["n_tokens"] == 191
    assert "logprobs" not in res  # raw per-token numbers go to the results file only
    saved = json.loads(Path(d["results_file"]).read_text())
    assert len(saved["results"][0]["logprobs"]) == 191


@pytest.mark.parametrize("args,needle", [
    (["eval", "passkey", "smollm2", "--depths", "1.5"], "outside 0..1"),
    (["eval", "passkey", "smollm2", "--method", "warp"], "unknown method"),
    (["eval", "passkey", "smollm2", "--method", "none", "--extend", "yarn"], "not both"),
    (["eval", "ppl", "smollm2", "--ctx", "256"], "--file"),
    (["eval", "ppl", "smollm2", "--ctx", "256", "--file", "/nonexistent/book.txt"], "no such file"),
])
def test_bad_input_exits_2(args: list[str], needle: str) -> None:
    r = runner.invoke(app, args)
    assert r.exit_code == 2, r.output
    assert needle in r.stderr
    assert "Traceback" not in r.output


@pytest.mark.model
def test_text_too_short_for_the_window(smollm2_path: Path, excerpt: Path) -> None:
    r = runner.invoke(app, ["eval", "ppl", "smollm2", "--file", str(excerpt), "--ctx", "4096", "-t", "1"])
    assert r.exit_code == 2
    assert "needs 4,096" in r.stderr and "smaller --ctx" in r.stderr
