"""The terminal UI needs a terminal on both ends: it reads keys from standard input and draws on
standard output.  Given a pipe or a file instead, Textual writes escape codes into it and waits for keys
that never come, so the UI refuses to start, in one line, before anything is drawn."""

from __future__ import annotations

import sys
from typing import TextIO

from localctx.errors import LocalctxError


def _is_terminal(stream: TextIO | None) -> bool:
    try:
        return stream is not None and stream.isatty()
    except (ValueError, OSError):  # closed, or no file behind it
        return False


def require_terminal(stdin: TextIO | None = None, stdout: TextIO | None = None) -> None:
    """Raise a LocalctxError (exit 2) unless standard input and output are both terminals."""
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    not_terminals = [name for name, stream in (("input", stdin), ("output", stdout)) if not _is_terminal(stream)]
    if not_terminals:
        which = " and ".join(not_terminals)
        what = "are not terminals" if len(not_terminals) > 1 else "is not one"
        raise LocalctxError(f"the terminal UI needs a terminal, and standard {which} {what} (a pipe or a file)",
                            "run `localctx tui` in a terminal; scripts use `localctx ask`, `chat` or `plan --json`")
