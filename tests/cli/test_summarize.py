"""`localctx summarize` end to end with the embedded model, and the bad inputs that exit 2 before loading."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from tests.services.test_summarize import make_long_text

runner = CliRunner()
FAST = ["--ctx", "1024", "--threads", "1", "--length", "short"]


@pytest.mark.model
def test_markdown_then_json_from_the_checkpoint(tmp_path: Path) -> None:
    text, _facts = make_long_text(3)
    src = tmp_path / "harbours.md"
    src.write_text(text)
    out = tmp_path / "summary.md"

    r = runner.invoke(app, ["summarize", str(src), "--out", str(out), *FAST])
    assert r.exit_code == 0, r.output
    md = out.read_text()
    assert md.startswith("# Summary of harbours.md\n\n")
    assert "context 1024" in md and "length short" in md and "chunks" in md
    assert "wrote" in r.stderr and r.stdout == ""

    # same file and settings: every step comes from the checkpoint, and --json shows the whole tree
    r = runner.invoke(app, ["summarize", str(src), "--json", *FAST])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    (tree,) = data["summaries"]
    assert tree["source"] == "harbours.md" and tree["mode"] == "map-reduce" and tree["n_ctx"] == 1024
    chunks = tree["chunks"]
    assert chunks[0]["token_start"] == 0 and chunks[-1]["token_end"] == tree["file_tokens"]
    assert all(a["token_end"] == b["token_start"] for a, b in itertools.pairwise(chunks))
    assert [s["id"] for s in tree["levels"][0]] == [f"map-{i}" for i in range(len(chunks))]
    steps = [s for lvl in tree["levels"] for s in lvl if s["kind"] != "carry"]
    assert all(s["resumed"] for s in steps) and tree["resumed_steps"] == len(steps)
    assert all(s["prompt_tokens"] + s["max_output"] <= 1024 for s in steps)
    assert tree["summary"] == tree["levels"][-1][0]["summary"] and tree["summary"] in md
    assert "resumed" in r.stderr

    # --fresh redoes the work: nothing resumed (checked on the cheap one-pass path of a short file)
    small = tmp_path / "small.txt"
    small.write_text("The ferry to Oslo leaves at nine. It carries 137 glass lanterns.\n")
    for fresh, resumed in (([], 0), ([], 1), (["--fresh"], 0)):
        r = runner.invoke(app, ["summarize", str(small), "--json", *FAST, *fresh])
        assert r.exit_code == 0, r.output
        assert json.loads(r.stdout)["summaries"][0]["resumed_steps"] == resumed


@pytest.mark.model
def test_out_with_json_writes_the_markdown_and_prints_the_json(tmp_path: Path) -> None:
    small = tmp_path / "small.txt"
    small.write_text("The ferry to Oslo leaves at nine. It carries 137 glass lanterns.\n")
    out = tmp_path / "small-summary.md"
    r = runner.invoke(app, ["summarize", str(small), "-o", str(out), "--json", *FAST])
    assert r.exit_code == 0, r.output
    (tree,) = json.loads(r.stdout)["summaries"]
    md = out.read_text()
    assert md.startswith("# Summary of small.txt\n\n") and tree["summary"] in md
    assert "wrote" in r.stderr


@pytest.mark.parametrize("name,data,words", ids=lambda v: v if isinstance(v, str) and len(v) < 30 else "", argvalues=[
    ("empty.txt", b"", "empty"),
    ("blob.dat", bytes(range(256)) * 4, "binary"),
    ("letter.docx", b"PK\x03\x04" + b"\x00" * 40, "unsupported format"),
    ("missing.txt", None, "no such file"),
])
def test_bad_inputs_exit_2_with_one_line(tmp_path: Path, name: str, data: bytes | None, words: str) -> None:
    p = tmp_path / name
    if data is not None:
        p.write_bytes(data)
    r = runner.invoke(app, ["summarize", str(p)])
    assert r.exit_code == 2
    assert r.stdout == ""
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and words in lines[0]


def test_unknown_length_exits_2(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text("Some text.\n")
    r = runner.invoke(app, ["summarize", str(p), "--length", "huge"])
    assert r.exit_code == 2 and "short, medium or long" in r.stderr


@pytest.mark.model
def test_a_context_too_small_for_the_prompt_exits_2(tmp_path: Path) -> None:
    text, _ = make_long_text(2)
    p = tmp_path / "doc.md"
    p.write_text(text)
    r = runner.invoke(app, ["summarize", str(p), "--ctx", "256", "--threads", "1", "--length", "long"])
    assert r.exit_code == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "too small" in lines[0] and "--ctx" in lines[0]


def test_a_context_that_cannot_fit_memory_is_refused_before_loading(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text("The ferry to Oslo leaves at nine.\n")
    r = runner.invoke(app, ["summarize", str(p), "--ctx", "2000000", "--threads", "1"])
    assert r.exit_code == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "does not fit this machine" in lines[0] and "--ctx" in lines[0]
