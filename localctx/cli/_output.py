"""The one sink for CLI output: data to stdout (human tables or --json), everything else to stderr."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from localctx.core.units import human_bytes, human_count  # noqa: F401  (re-exported for commands)

#: no emoji codes: ``:b:`` in a user's path or a model's name is text, not 🅱
stdout = Console(soft_wrap=False, highlight=False, emoji=False)
stderr = Console(stderr=True, highlight=False, emoji=False)


def literal(text: str) -> str:
    """``text`` with every control character written as an escape (``\\x1b``): a path or name from the
    user or a file is echoed as what it is, never as terminal commands (colours, cursor moves, a title).
    Newlines and tabs stay (a one-line error has none left)."""
    return "".join(c if c.isprintable() or c in " \n\t" else _escape(c) for c in text)


def _escape(c: str) -> str:
    n = ord(c)
    return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}" if n < 0x10000 else f"\\U{n:08x}"


def _default(o: Any) -> Any:
    if is_dataclass(o) and not isinstance(o, type):
        return asdict(o)
    if isinstance(o, Path):
        return str(o)
    if isinstance(o, (set, frozenset, tuple)):
        return list(o)
    if hasattr(o, "to_json"):
        return o.to_json()
    return str(o)


def emit_json(data: Any) -> None:
    """Write JSON to stdout (plain, never wrapped or coloured, so scripts can parse it).  Output that
    cannot be written (a full disk, /dev/full) is one error line on stderr and exit 1."""
    text = json.dumps(data, indent=2, default=_default, ensure_ascii=False) + "\n"
    try:
        sys.stdout.write(text)
        sys.stdout.flush()
    except OSError as exc:
        quiet_stdout()
        from localctx.errors import LocalctxError

        err = LocalctxError(f"cannot write the JSON output: {exc.strerror or exc}",
                            "write it to a disk with free space")
        err.exit_code = 1
        raise err from None


def quiet_stdout() -> None:
    """Point stdout at /dev/null after a write to it failed: Python would otherwise fail again flushing
    it at exit and print a second error (\"Exception ignored ...\")."""
    import os

    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real file descriptor (a test runner's buffer): nothing to flush at exit
        pass


@contextmanager
def state_warnings_as_lines() -> Iterator[None]:
    """Show each ``StateWarning`` (a kept file skipped because it is unusable) once as a warning line."""
    import warnings

    from localctx.errors import StateWarning

    with warnings.catch_warnings():
        shown = warnings.showwarning
        warnings.simplefilter("default", StateWarning)

        def show(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
            if issubclass(category, StateWarning):
                stderr.print("warning: " + str(message), markup=False, highlight=False, soft_wrap=True)
            else:
                shown(message, category, *args, **kwargs)

        warnings.showwarning = show
        yield


def shown(value: object) -> str:
    """A user's or a file's text (a path, a name) to put inside a line that uses markup: brackets are
    escaped (``[/x]`` would otherwise be a markup error) and control characters written out."""
    from rich.markup import escape

    return escape(literal(str(value)))


def info(msg: str) -> None:
    """A line that may use markup (``[dim]``...): values from the user go in through ``shown``."""
    stderr.print(literal(msg))


def warn(msg: str) -> None:
    stderr.print("[yellow]warning:[/] " + shown(msg), soft_wrap=True)  # one line, however long (paths are)


def hint(msg: str) -> None:
    stderr.print("[dim]hint:[/] " + shown(msg))


def error_line(msg: str) -> None:
    """One line, printed literally: no markup (paths can contain [brackets]), no emoji codes, control
    characters escaped."""
    stderr.print("error: " + literal(msg), markup=False, highlight=False, emoji=False, soft_wrap=True)


def before_load(rp: Any) -> None:
    """What a command says once its plan is made, before it loads: the saved per-model settings it
    applies (``plan --save``), and a warning when its threads would compete with other work."""
    if rp.saved_line:
        info(rp.saved_line)
    if rp.busy_line:
        warn(rp.busy_line)
