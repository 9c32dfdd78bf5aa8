"""Long work shown on stderr, the same way by every command that does it (ask, chat's document read,
summarize, eval, bench).

On a terminal: Rich's live bar (it redraws in place, and goes away when ``transient``).  Anywhere else (a
pipe, a log file, a CI job): one plain line every few seconds, as llama.cpp prints its progress, with no
escape code and no carriage return, so a log shows that work goes on and how fast.  Standard output is
never touched: answers and ``--json`` stay clean.  Speeds and times left come from ``core.progress``;
nothing appears before the first report, so a refusal before any work stays one line.
"""

from __future__ import annotations

import sys
import time
from typing import Any

from localctx.core.progress import LINE_EVERY_S, Meter, Throttle, progress_line, time_left_text


def stderr_is_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError, OSError):  # replaced or closed by a host: not a terminal
        return False


class LongWork:
    """Reports of one piece of long work: ``tokens(done, total)`` (the engine's ingest callback, timed
    here) or ``show(...)`` with numbers the service already worked out (a summary's steps)."""

    def __init__(self, label: str, *, transient: bool = True, every: float = LINE_EVERY_S,
                 live: bool | None = None) -> None:
        self.label = label
        self.transient = transient
        self.live = stderr_is_terminal() if live is None else live
        self.throttle = Throttle(every)
        self.started = time.perf_counter()
        self.meter: Meter | None = None
        self._bar: Any = None
        self._task: Any = None

    def __enter__(self) -> LongWork:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.stop()

    def tokens(self, done: int, total: int) -> None:
        """The engine's ``progress(done, total)`` callback: tokens read, timed from when this began."""
        self.count(done, total)

    def count(self, done: int, total: int, unit: str = "tokens", *, rate_unit: str = "tok/s",
              label: str | None = None, detail: str = "") -> None:
        """``done`` of ``total`` units since this began; the speed and time left are worked out here."""
        now = time.perf_counter()
        if self.meter is None:
            self.meter = Meter(self.started)
        self.meter.update(done, total, now)
        self.show(done, total, unit, rate=self.meter.rate(), rate_unit=rate_unit, left=self.meter.seconds_left(),
                  detail=detail, label=label, now=now)

    def show(self, done: int | None = None, total: int | None = None, unit: str = "tokens", *,
             rate: float | None = None, rate_unit: str = "tok/s", left: float | None = None, detail: str = "",
             label: str | None = None, now: float | None = None) -> None:
        if label is not None:
            self.label = label
        if self.live:
            self._draw(done, total, unit, rate, rate_unit, left, detail)
            return
        if self.throttle.due(time.perf_counter() if now is None else now):
            from localctx.cli._output import literal

            line = progress_line(self.label, done, total, unit, rate=rate, rate_unit=rate_unit, left=left,
                                 detail=detail)
            try:
                sys.stderr.write(literal(line) + "\n")
                sys.stderr.flush()
            except (OSError, ValueError):  # stderr gone: the work goes on unseen
                pass

    def _draw(self, done: int | None, total: int | None, unit: str, rate: float | None, rate_unit: str,
              left: float | None, detail: str) -> None:
        if self._bar is None:
            from rich.progress import BarColumn, Progress, TextColumn

            from localctx.cli._output import stderr

            # no elapsed-time column: at 80 columns Rich cut it to "0:00…"
            self._bar = Progress(TextColumn("{task.description}", markup=False), BarColumn(),
                                 TextColumn("{task.fields[count]}", markup=False),
                                 TextColumn("{task.fields[rate]}", markup=False),
                                 TextColumn("{task.fields[left]}", markup=False),
                                 console=stderr, transient=self.transient)
            self._bar.start()
            self._task = self._bar.add_task(self.label, total=None, count="", rate="", left="")
        count = "" if done is None else f"{done:,}/{total:,} {unit}" if total else f"{done:,} {unit}"
        if detail:
            count = f"{detail} {count}".strip()
        self._bar.update(self._task, description=self.label, completed=done or 0,
                         total=max(total, done or 0) if total else None, count=count,
                         rate=f"{rate:,.0f} {rate_unit}" if rate and rate_unit else "", left=time_left_text(left))
