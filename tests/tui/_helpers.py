"""Waiting on background work from a Pilot: workers finish on their own schedule, so poll a predicate
between short pauses (as oterm's tests do) instead of trusting one ``pilot.pause()``."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from rich.console import Console, RenderableType

from tests.slowness import scaled


async def wait_until(pilot: Any, predicate: Callable[[], object], timeout: float = 60.0, what: str = "") -> None:
    """Until ``predicate()`` holds, or ``timeout`` seconds on a quiet machine (scaled to this one) pass."""
    timeout = scaled(timeout)
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what or predicate}")
        await pilot.pause(0.05)


def plain(renderable: RenderableType, width: int = 100) -> str:
    """A renderable as the plain text a terminal of ``width`` columns would show."""
    console = Console(width=width, record=True, color_system=None, file=open("/dev/null", "w"))
    console.print(renderable)
    return console.export_text()


def error_notifications(app: Any) -> list[str]:
    """The error notifications on screen now (each expires after its timeout)."""
    return [n.message for n in _errors(app)]


def record_errors(app: Any) -> list[str]:
    """Every error notification the app posts from now on, kept after it expires from the screen (a
    count taken later than a notification's timeout would otherwise see none on a slow machine)."""
    seen: list[str] = []
    real = app.notify

    def notify(message: Any, *args: Any, **kwargs: Any) -> Any:
        if kwargs.get("severity") == "error":
            seen.append(str(message))
        return real(message, *args, **kwargs)

    app.notify = notify
    return seen


def text_of(widget: Any, width: int = 100) -> str:
    """What a Static shows (its content, as set by ``update``) or what another widget renders, as plain text."""
    from textual.widgets import Static

    return plain(widget.content if isinstance(widget, Static) else widget.render(), width)


def cut_off(screen: Any) -> list[str]:
    """What the screen shows cut off, one line per widget: a text longer than the lines its widget has,
    a table wider than its view (it scrolls sideways), a placeholder wider than its field.

    Texts that scroll vertically (inside a scrolling container) are not cut: the user scrolls."""
    from textual.widgets import DataTable, Input, Static

    problems = []
    for w in screen.query("*"):
        if not w.display or not w.visible or w.region.area == 0:
            continue
        width, height = w.content_size.width, w.content_size.height
        if isinstance(w, DataTable) and w.max_scroll_x > 0:
            problems.append(f"#{w.id}: table {w.virtual_size.width} wide in {w.scrollable_content_region.width}")
        elif isinstance(w, Input) and not w.value and len(w.placeholder) >= width:
            problems.append(f"#{w.id}: placeholder {w.placeholder!r} in {width} cells")
        elif isinstance(w, Static) and width > 0:
            lines = plain(w.content, width).rstrip("\n").split("\n")
            if len(lines) > height or any(line.rstrip().endswith("…") for line in lines):
                problems.append(f"#{w.id}: {len(lines)} lines in {height}: {lines[:3]}")
        elif type(w).__module__.startswith("localctx.") and width > 0:  # our own widgets draw themselves
            lines = plain(w.render(), width).rstrip("\n").split("\n")
            if any(line.rstrip().endswith("…") for line in lines):
                problems.append(f"#{w.id}: cut with an ellipsis: {[x for x in lines if x.rstrip().endswith('…')]}")
    return problems


async def loaded(pilot: Any) -> Any:
    """The Chat screen once its model is loaded and it waits for input.  A new error notification ends
    the wait at once (a refused load would otherwise be waited for until the time limit)."""
    app, screen = pilot.app, pilot.app.screen
    before = set(map(id, _errors(app)))

    def new_errors() -> list[str]:
        return [n.message for n in _errors(app) if id(n) not in before]

    await wait_until(pilot, lambda: (screen.session is not None and screen.state == "idle") or new_errors(),
                     timeout=120, what="the model to load")
    assert not new_errors(), new_errors()
    return screen


def _errors(app: Any) -> list[Any]:
    return [n for n in app._notifications if n.severity == "error"]  # private: textual 8.2


async def ask(pilot: Any, text: str) -> None:
    """Type a question into Chat's input and send it."""
    box = pilot.app.screen.query_one("#chat-input")
    box.focus()
    box.value = text
    await pilot.press("enter")
