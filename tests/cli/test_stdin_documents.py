"""Standard input is a document wherever a document is asked for: `--file -` in every command that
takes --file (or refused in one line where stdin is the keyboard), and `ask` reads piped stdin as
simonw/llm does, without --file; /dev/null is nothing to read, never a hang."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from tests.gguf_factory import llama_like

runner = CliRunner()
DOC = "The ferry to Oslo leaves at nine. The tram to the harbour leaves at ten. Ingrid sells the tickets.\n"
HUGE = ["--ctx", "512m", "-t", "1"]  # the text is read; then the memory gate refuses: nothing loads


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return llama_like(tmp_path_factory.mktemp("tiny") / "tiny.gguf", n_embd=128)


def test_file_dash_reads_stdin_in_every_command_that_reads_documents(tiny: Path) -> None:
    for args in (["eval", "ppl", str(tiny), "--file", "-"], ["summarize", "-", "--model", str(tiny)]):
        r = runner.invoke(app, [*args, *HUGE], input=DOC)
        assert r.exit_code == 1 and "does not fit this machine" in r.stderr, r.output  # read, then refused
        assert "no such file" not in r.stderr
        empty = runner.invoke(app, [*args, *HUGE], input="")
        assert empty.exit_code == 2 and "stdin: the file is empty" in empty.stderr, empty.output


def test_file_dash_where_stdin_is_the_keyboard_is_refused_in_one_line(tiny: Path) -> None:
    for cmd in ("chat", "tui"):
        r = runner.invoke(app, [cmd, str(tiny), "--file", "-", "-t", "1"], input=DOC)
        lines = r.stderr.strip().splitlines()
        assert r.exit_code == 2 and len(lines) == 1 and "--file - cannot be a document here" in lines[0], cmd


@pytest.mark.model
def test_ask_reads_piped_stdin_as_a_document(tmp_path: Path) -> None:
    args = [sys.executable, "-m", "localctx", "ask", "smollm2", "When does the ferry leave?", "--ctx", "1024",
            "-n", "4", "-t", "1", "--json"]
    piped = subprocess.run(args, input=DOC, capture_output=True, text=True, timeout=300)
    assert piped.returncode == 0, piped.stderr
    d = json.loads(piped.stdout)
    assert [x["name"] for x in d["documents"]] == ["stdin"] and d["tokens"]["documents"] > 20
    assert "reading standard input as a document" in piped.stderr
    nothing = subprocess.run(args, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert nothing.returncode == 0, nothing.stderr
    assert json.loads(nothing.stdout)["documents"] == []
