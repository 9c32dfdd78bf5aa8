"""Standard streams the shell closed (``cmd <&-``, ``>&-``, ``2>&-``).

Python starts with ``sys.stdin``/``sys.stdout``/``sys.stderr`` set to None for a closed descriptor,
so the first ``isatty()`` or ``write`` is a traceback; worse, the next file the process opens (the
session database, a model) takes the free descriptor 0, 1 or 2, and llama.cpp's log or a stray
print would then write into it.  So before anything runs, each closed descriptor is pointed at
``/dev/null`` and Python's stream is rebuilt on it: with stderr closed the answer still reaches
stdout, only the messages are dropped.  Commands whose whole point is a closed stream (``chat``
reads messages from stdin and writes replies to stdout) refuse in one line with ``require_open``.
"""

from __future__ import annotations

import os
import sys

from localctx.errors import LocalctxError

_NAMES = {0: "standard input", 1: "standard output", 2: "standard error"}
#: the descriptors that were closed when the process started
CLOSED: set[int] = set()


def reopen_closed() -> set[int]:
    """Point every closed standard descriptor at /dev/null and rebuild its Python stream; returns them."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            null = os.open(os.devnull, os.O_RDWR)
            if null != fd:
                os.dup2(null, fd)
                os.close(null)
            CLOSED.add(fd)
    if 0 in CLOSED or sys.stdin is None:
        sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)
    if 1 in CLOSED or sys.stdout is None:
        sys.stdout = open(1, "w", encoding="utf-8", errors="replace", closefd=False)
    if 2 in CLOSED or sys.stderr is None:
        sys.stderr = open(2, "w", encoding="utf-8", errors="replace", closefd=False)
    return set(CLOSED)


def require_open(*fds: int, why: str) -> None:
    """Refuse in one line when one of ``fds`` was closed at start (its data would be lost unseen)."""
    closed = [fd for fd in fds if fd in CLOSED]
    if closed:
        names = " and ".join(_NAMES[fd] for fd in closed)
        raise LocalctxError(f"{names} {'is' if len(closed) == 1 else 'are'} closed: {why}",
                            "redirect the stream (< file, > file) instead of closing it (<&-, >&-)")
