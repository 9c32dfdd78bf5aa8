"""cli/_progress.LongWork on a real terminal (a pseudo-terminal) and off one: a live bar that redraws in
place on the terminal, plain lines with no escape code or carriage return anywhere else."""

from __future__ import annotations

import io
import os
import pty
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


def test_on_a_terminal_the_live_bar_is_kept(monkeypatch: pytest.MonkeyPatch) -> None:
    master, slave = pty.openpty()
    tty = open(slave, "w", encoding="utf-8", closefd=True)
    try:
        monkeypatch.setattr(sys, "stderr", tty)
        with LongWork("reading the documents") as work:
            assert work.live
            work.tokens(64, 640)
            work.tokens(128, 640)
        tty.flush()
        shown = _read_all(master).decode(errors="replace")
    finally:
        tty.close()
        os.close(master)
    assert "reading the documents" in shown and "640 tokens" in shown
    assert "\x1b[" in shown  # Rich drew (and cleared) its bar in place


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
