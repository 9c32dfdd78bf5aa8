"""`localctx tui` needs a terminal on both ends: with standard output (or input) a pipe it refuses in one
line with exit 2, before anything is drawn, instead of writing escape codes into the pipe and waiting for
keys forever.  The other end is a real pseudo-terminal, so each case changes one stream only."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator

import pytest

from tests.slowness import scaled


@pytest.fixture
def terminal() -> Iterator[int]:
    """The far side of a pseudo-terminal: a descriptor that ``isatty`` says is a terminal."""
    controller, far = os.openpty()
    yield far
    os.close(far)
    os.close(controller)


TUI = [sys.executable, "-m", "localctx", "tui", "smollm2", "-t", "1"]


def test_tui_with_stdout_a_pipe_refuses_in_one_line(terminal: int) -> None:
    r = subprocess.run(TUI, stdin=terminal, capture_output=True, timeout=scaled(60))
    assert r.returncode == 2
    assert r.stdout == b""  # no escape codes written into the pipe
    assert r.stderr.decode().splitlines() == [
        "error: the terminal UI needs a terminal, and standard output is not one (a pipe or a file) — run "
        "`localctx tui` in a terminal; scripts use `localctx ask`, `chat` or `plan --json`"]


def test_tui_with_stdin_a_pipe_refuses_in_one_line(terminal: int) -> None:
    r = subprocess.run(TUI, input=b"", stdout=terminal, stderr=subprocess.PIPE, timeout=scaled(60))
    assert r.returncode == 2
    [line] = r.stderr.decode().splitlines()
    assert line.startswith("error: the terminal UI needs a terminal, and standard input is not one")


def test_bare_localctx_in_a_pipe_prints_its_help_and_exits() -> None:
    r = subprocess.run([sys.executable, "-m", "localctx"], stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=scaled(60))
    assert r.returncode == 0 and b"Usage" in r.stdout and b"\x1b[" not in r.stdout


def test_bad_flags_are_still_said_first(terminal: int) -> None:
    r = subprocess.run([sys.executable, "-m", "localctx", "tui", "smollm2", "--ctx", "banana"], stdin=terminal,
                       capture_output=True, timeout=scaled(60))
    assert r.returncode == 2 and "banana" in r.stderr.decode() and len(r.stderr.decode().splitlines()) == 1
