"""Standard input as a document when it is piped, as simonw/llm reads it: ``cat notes.txt | localctx ask
smollm2 "..."`` asks about notes.txt.  Only a pipe or a redirected file counts: a terminal is the
user typing, and /dev/null (cron, CI, a detached shell) has nothing to give."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Sequence
from pathlib import Path

from localctx.core.extract import STDIN


def piped_stdin() -> bool:
    """Standard input is a pipe or a regular file (not a terminal, not a device such as /dev/null)."""
    try:
        mode = os.fstat(sys.stdin.fileno()).st_mode
    except (AttributeError, OSError, ValueError):  # replaced or closed stdin: nothing piped
        return False
    return stat.S_ISFIFO(mode) or stat.S_ISREG(mode)


def with_piped_stdin(files: Sequence[Path]) -> list[Path]:
    """``files`` with standard input first when it is piped and no ``--file -`` names it already."""
    if any(str(f) == STDIN for f in files) or not piped_stdin():
        return list(files)
    from localctx.cli._output import info

    info("reading standard input as a document (it is piped)")
    return [Path(STDIN), *files]
