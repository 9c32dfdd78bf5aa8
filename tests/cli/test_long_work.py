"""cli/_progress.LongWork on a real terminal (a pseudo-terminal) and off one: a live bar that redraws in
place on the terminal, plain lines with no escape code or carriage return anywhere else."""

from __future__ import annotations

import io
import os
import pty
import subprocess
import sys

import pytest

from localctx.cli._progress import LongWork


def _read_all(fd: int) -> bytes:
    os.set_blocking(fd, False)
    out = b""
    while True:
        try:
            chunk = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            return out
        if not chunk:
            return out
        out += chunk


#: a fresh process whose stderr is the terminal (Rich decides what the terminal can do when it starts)
ON_A_TERMINAL = """
from localctx.cli._progress import LongWork
with LongWork("reading the documents") as work:
    assert work.live
    work.tokens(64, 640)
    work.tokens(128, 640)
"""


def test_on_a_terminal_the_live_bar_is_kept() -> None:
    master, slave = pty.openpty()
    try:
        r = subprocess.run([sys.executable, "-c", ON_A_TERMINAL], stdin=subprocess.DEVNULL,
                           stdout=subprocess.PIPE, stderr=slave, timeout=60,
                           env={**os.environ, "TERM": "xterm", "COLUMNS": "100"})
        shown = _read_all(master).decode(errors="replace")
    finally:
        os.close(slave)
        os.close(master)
    assert r.returncode == 0, shown
    assert "reading the documents" in shown and "640 tokens" in shown, shown
    assert "\x1b[" in shown  # Rich drew (and cleared) its bar in place
    assert r.stdout == b""


def test_off_a_terminal_lines_are_plain_and_spaced(monkeypatch: pytest.MonkeyPatch) -> None:
    log = io.StringIO()
    monkeypatch.setattr(sys, "stderr", log)
    work = LongWork("reading the documents")
    assert not work.live
    for done in range(64, 641, 64):  # ten batches at once: one line, the next only a few seconds later
        work.tokens(done, 640)
    assert log.getvalue() == "reading the documents: 64/640 tokens\n"
    work.throttle.last = -1e9  # as if the interval had passed
    work.tokens(640, 640)
    lines = log.getvalue().splitlines()
    assert len(lines) == 2 and lines[1].startswith("reading the documents: 640/640 tokens")
    assert "\r" not in log.getvalue() and "\x1b" not in log.getvalue()
