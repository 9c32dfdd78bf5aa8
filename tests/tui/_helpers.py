"""Waiting on background work from a Pilot: workers finish on their own schedule, so poll a predicate
between short pauses (as oterm's tests do) instead of trusting one ``pilot.pause()``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console, RenderableType


async def wait_until(pilot: Any, predicate: Callable[[], object], timeout: float = 60.0, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        await pilot.pause(0.05)


def plain(renderable: RenderableType, width: int = 100) -> str:
    """A renderable as the plain text a terminal of ``width`` columns would show."""
    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))  # noqa: SIM115
    console.print(renderable)
    return console.export_text()


def error_notifications(app: Any) -> list[str]:
    return [n.message for n in app._notifications if n.severity == "error"]  # private: textual 8.2


def text_of(widget: Any, width: int = 100) -> str:
    """What a Static shows (its content, as set by ``update``) or what another widget renders, as plain text."""
    from textual.widgets import Static

    return plain(widget.content if isinstance(widget, Static) else widget.render(), width)
