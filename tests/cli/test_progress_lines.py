"""Progress off a terminal: long work prints a plain line on stderr every few seconds while it runs (as
llama.cpp does), never an escape code or a carriage return, and stdout (the answer, --json) stays clean."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from tests.slowness import scaled

pytestmark = pytest.mark.model

LINE = re.compile(r"^reading the documents: ([\d,]+)/([\d,]+) tokens")


def _document(path: Path, sentences: int = 50) -> Path:
    """About 1,300 tokens of varied prose: read 32 tokens a batch, that takes dozens of batches."""
    goods = ["salt", "rope", "tea", "wool", "tin"]
    path.write_text(" ".join(f"On day {i}, the ferry from pier {i % 7} carried {12 + 3 * i} crates of "
                             f"{goods[i % 5]} to the island." for i in range(sentences)))
    return path


def test_ask_off_a_terminal_prints_progress_lines_while_it_reads(tmp_path: Path) -> None:
    doc = _document(tmp_path / "ferries.txt")
    out = tmp_path / "stdout.json"
    env = dict(os.environ, LOCALCTX_HOME=str(tmp_path / "home"))
    with out.open("wb") as stdout:
        proc = subprocess.Popen(
            [sys.executable, "-m", "localctx", "ask", "smollm2", "--file", str(doc), "How many crates on day 3?",
             "-t", "1", "-b", "32", "--ctx", "2048", "-n", "8", "--json"],
            stdin=subprocess.DEVNULL, stdout=stdout, stderr=subprocess.PIPE, env=env)
        assert proc.stderr is not None
        seen: list[tuple[int, int]] = []
        raw = b""
        try:
            while len(seen) < 2:  # wait for the lines, not for a time: each comes as the read goes on
                line = proc.stderr.readline()
                if not line:
                    break
                raw += line
                m = LINE.match(line.decode())
                if m:
                    seen.append((int(m[1].replace(",", "")), int(m[2].replace(",", ""))))
            raw += proc.stderr.read()
            rc = proc.wait(timeout=scaled(120))
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    err = raw.decode()
    assert rc == 0, err[-2000:]
    assert len(seen) == 2, err[-2000:]
    (first, total), (second, total2) = seen
    assert total == total2 > 1000 and first < second < total  # two reports from inside the read
    assert "\r" not in err and "\x1b" not in err  # a log file gets lines, not a redrawn bar
    answer = json.loads(out.read_text())  # stdout is the JSON and nothing else
    assert answer["documents"][0]["name"] == "ferries.txt"


def test_summarize_off_a_terminal_reports_steps_reading_and_writing(tmp_path: Path) -> None:
    from tests.services.test_summarize import make_long_text

    text, _facts = make_long_text(2)
    src = tmp_path / "harbours.md"
    src.write_text(text)
    r = CliRunner().invoke(app, ["summarize", str(src), "--ctx", "1024", "-t", "1", "--length", "short",
                                 "--json"])
    assert r.exit_code == 0, r.output
    lines = [ln for ln in r.stderr.splitlines() if ln.startswith("summarize harbours.md: ")]
    assert lines, r.stderr
    assert re.match(r"summarize harbours\.md: step 1/\d+ reading, 0/[\d,]+ tokens$", lines[0])  # at once
    assert "\r" not in r.stderr and "\x1b" not in r.stderr
    json.loads(r.stdout)  # the JSON alone on stdout
