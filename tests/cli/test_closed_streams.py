"""Standard streams the shell closed (``<&-``, ``>&-``, ``2>&-``): one line and exit 2 where the stream
is the command's point, the answer still on stdout when only stderr is closed; never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ASK = ["ask", "smollm2", "-t", "1", "--ctx", "512", "-n", "8", "Say hello."]


def _run(args: list[str], close: int, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    """``python -m localctx ARGS`` with descriptor ``close`` closed, as ``cmd N>&-`` leaves it."""
    def closer() -> None:
        os.close(close)

    env = dict(os.environ, LOCALCTX_HOME=str(tmp_path / "home"))
    return subprocess.run([sys.executable, "-m", "localctx", *args], stdin=subprocess.DEVNULL, capture_output=True,
                          timeout=180, preexec_fn=closer, env=env)


@pytest.mark.parametrize("fd, name", [(0, "standard input"), (1, "standard output")])
def test_chat_with_a_closed_stream_is_one_line(tmp_path: Path, fd: int, name: str) -> None:
    r = _run(["chat", "smollm2", "-t", "1", "--ctx", "512"], fd, tmp_path)
    err = r.stderr.decode()
    lines = err.strip().splitlines()
    assert r.returncode == 2, err[-2000:]
    assert len(lines) == 1 and lines[0].startswith(f"error: {name} is closed"), err[-2000:]


def test_ask_with_stdout_closed_is_one_line(tmp_path: Path) -> None:
    r = _run(ASK, 1, tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 2 and err.strip().splitlines() == [err.strip()] and "standard output is closed" in err


def test_summarize_to_a_closed_stdout_is_one_line_unless_it_writes_a_file(tmp_path: Path) -> None:
    doc = tmp_path / "note.txt"
    doc.write_text("A short note.\n")
    r = _run(["summarize", str(doc), "-t", "1"], 1, tmp_path)
    err = r.stderr.decode()
    assert r.returncode == 2 and "standard output is closed" in err and "--out" in err
    assert err.strip().splitlines() == [err.strip()]


def test_ask_with_stderr_closed_still_prints_the_answer(tmp_path: Path) -> None:
    r = _run(ASK, 2, tmp_path)
    assert r.returncode == 0
    assert r.stdout.decode().strip(), "the answer never reached stdout"
    assert r.stderr == b""  # fd 2 was closed: nothing could be captured there


def test_a_closed_stderr_is_not_taken_by_the_next_file_opened(tmp_path: Path) -> None:
    """With fd 2 closed, the first file the process opens would become 'stderr'; it must not."""
    code = ("from localctx.cli._streams import reopen_closed\nimport os, sys\nreopen_closed()\n"
            "f = open(sys.argv[1], 'w')\nprint(f.fileno(), os.path.realpath(f'/proc/self/fd/2'))")
    def close_stderr() -> None:
        os.close(2)

    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "x")], capture_output=True, text=True,
                       timeout=30, preexec_fn=close_stderr)
    fileno, target = r.stdout.split()
    assert int(fileno) > 2 and target == os.devnull
