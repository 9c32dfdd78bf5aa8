"""Fuzz: >= 300 mutated/truncated copies of the real models; every one reads or fails cleanly, and the
corpus of hostile headers that once crashed a load is refused by every command before it loads."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from localctx.cli.app import app
from tests.fuzzing import CORPUS, corpus_file, fuzz

runner = CliRunner()


@pytest.mark.parametrize("which,cases", [("smollm2", 200), ("gemma", 120)])
def test_fuzzed_headers_fail_cleanly(which: str, cases: int, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    src = request.getfixturevalue(f"{which}_path")
    stats = fuzz(src, tmp_path, cases, seed=1234)
    assert not stats.failures, "\n".join(stats.failures[:10])
    assert stats.cases == cases
    # the mutations must mostly land on something the reader notices, or the test proves nothing
    assert stats.rejected > cases // 3, stats


@pytest.mark.parametrize("name", sorted(CORPUS))
@pytest.mark.parametrize("command", [["inspect", "{m}"], ["inspect", "{m}", "--json"],
                                     ["estimate", "{m}", "--ctx", "1k"], ["plan", "{m}", "--ctx", "1k"],
                                     ["ask", "{m}", "hi ünïcødé", "--json", "-t", "1", "--ctx", "256", "-n", "4"]])
def test_the_corpus_is_refused_before_a_load(name: str, command: list[str], tmp_path: Path,
                                             smollm2_path: Path) -> None:
    """Each corpus file once passed inspect and estimate and then crashed the load (a UnicodeDecodeError
    in llama-cpp-python, a ggml assert, an uncaught C++ exception): every command refuses it, exit 2,
    one line naming the problem, nothing on stdout."""
    path = corpus_file(smollm2_path, name, tmp_path / "corpus.gguf")
    assert path is not None
    r = runner.invoke(app, [a.format(m=path) for a in command])
    assert r.exit_code == 2, (name, command, r.output[-2000:])
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines and CORPUS[name][1] in lines[-1] and path.name in lines[-1], lines
    assert len(lines) == 1 or command[0] == "inspect", lines  # inspect also warns about what it shows
    assert "Traceback" not in r.output
    if command[0] != "inspect":
        assert r.stdout == ""
