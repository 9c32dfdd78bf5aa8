"""The one sink for CLI output: data to stdout (human tables or --json), everything else to stderr."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict, is_dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from localctx.core.units import human_bytes, human_count  # noqa: F401  (re-exported for commands)

stdout = Console(soft_wrap=False, highlight=False)
stderr = Console(stderr=True, highlight=False)


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


def info(msg: str) -> None:
    stderr.print(msg)


def warn(msg: str) -> None:
    stderr.print(f"[yellow]warning:[/] {msg}")


def hint(msg: str) -> None:
    stderr.print(f"[dim]hint:[/] {msg}")


def error_line(msg: str) -> None:
    # one line, no markup interpretation of the message (paths can contain [brackets])
    stderr.print("error: " + msg, markup=False, highlight=False, soft_wrap=True)


def before_load(rp: Any) -> None:
    """What a command says once its plan is made, before it loads: the saved per-model settings it
    applies (``plan --save``), and a warning when its threads would compete with other work."""
    if rp.saved_line:
        info(rp.saved_line)
    if rp.busy_line:
        warn(rp.busy_line)
