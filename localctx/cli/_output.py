"""The one sink for CLI output: data to stdout (human tables or --json), everything else to stderr."""

from __future__ import annotations

import json
import sys
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
    """Write JSON to stdout (plain, never wrapped or coloured, so scripts can parse it)."""
    sys.stdout.write(json.dumps(data, indent=2, default=_default, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def shown(value: object) -> str:
    """A user's or a file's text (a path, a name) to put inside a line that uses markup: brackets are
    escaped (``[/x]`` would otherwise be a markup error) and control characters written out."""
    from rich.markup import escape

    return escape(literal(str(value)))


def info(msg: str) -> None:
    """A line that may use markup (``[dim]``...): values from the user go in through ``shown``."""
    stderr.print(literal(msg))


def warn(msg: str) -> None:
    stderr.print("[yellow]warning:[/] " + shown(msg))


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
