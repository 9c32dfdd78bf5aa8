"""Speed and time left of long work (reading a document, summarizing, evaluating), and its one-line text.

Every front end shows the same numbers: the CLI as a plain line on stderr off a terminal (as llama.cpp
prints its progress) or a live bar on one, the TUI in a status line.  So the arithmetic lives here, free
of any clock: callers pass ``now`` (``time.perf_counter()``), which also makes it testable.

A rate counts only work done since measuring began: work that was already done when it started (steps
resumed from a checkpoint, a prompt prefix reused from the KV cache) is the ``base`` and never counts as
speed, or a resumed run would look fast and promise an early end.
"""

from __future__ import annotations

from dataclasses import dataclass

#: a rate measured over less time than this is noise (the first batch after a start)
MIN_SECONDS = 0.5
#: off a terminal, a progress line at most this often
LINE_EVERY_S = 3.0


@dataclass
class Meter:
    """The speed of one count of work (tokens, steps) since ``started``; ``base`` is what was done then."""

    started: float
    base: int = 0
    done: int = 0
    total: int = 0
    at: float = 0.0

    def update(self, done: int, total: int, now: float) -> None:
        self.done, self.total, self.at = done, total, now

    def skip(self, amount: int) -> None:
        """Work that arrives done (a resumed step): it moves ``done`` and ``base`` alike, never the rate."""
        self.base += amount
        self.done += amount

    @property
    def moved(self) -> int:
        return max(0, self.done - self.base)

    def rate(self) -> float | None:
        """Units per second of the work done since the start, or None before there is a fair measure."""
        dt = self.at - self.started
        return self.moved / dt if dt >= MIN_SECONDS and self.moved > 0 else None

    def seconds_left(self) -> float | None:
        r = self.rate()
        return max(0, self.total - self.done) / r if r else None


@dataclass
class Stopwatch:
    """Units and seconds of one kind of work done in pieces (each summary step reads, then writes)."""

    units: int = 0
    seconds: float = 0.0

    def add(self, units: int, seconds: float) -> None:
        self.units += units
        self.seconds += seconds

    def rate(self, extra_units: int = 0, extra_seconds: float = 0.0) -> float | None:
        """Units per second, with the piece still running (``extra_*``) counted in."""
        u, s = self.units + extra_units, self.seconds + extra_seconds
        return u / s if s >= MIN_SECONDS and u > 0 else None


def seconds_left(parts: list[tuple[int, float | None]]) -> float | None:
    """Time left for several kinds of work, each ``(units left, units per second)``; None when a kind
    with work left has no measured speed yet (a guess would be a promise we cannot keep)."""
    total = 0.0
    for left, rate in parts:
        if left <= 0:
            continue
        if not rate:
            return None
        total += left / rate
    return total


def time_left_text(seconds: float | None) -> str:
    """``~40 s left``, ``~2 min left``, ``~1 h 5 min left``; empty when unknown or about done."""
    if seconds is None or seconds < 0.5:  # unknown, or nothing left worth a word
        return ""
    s = round(seconds)
    if s < 60:
        return f"~{s} s left"
    m = round(s / 60)
    if m < 60:
        return f"~{m} min left"
    return f"~{m // 60} h {m % 60} min left"


def progress_line(label: str, done: int | None = None, total: int | None = None, unit: str = "tokens", *,
                  rate: float | None = None, rate_unit: str = "tok/s", left: float | None = None,
                  detail: str = "") -> str:
    """One line in llama.cpp's manner: ``reading: 2,048/6,963 tokens, 41 tok/s, ~2 min left``."""
    bits = [detail] if detail else []
    if done is not None:
        bits.append(f"{done:,}/{total:,} {unit}" if total else f"{done:,} {unit}")
    if rate and rate_unit:  # no unit: a speed that means nothing to the reader (measurements per second)
        bits.append(f"{rate:,.1f} {rate_unit}" if rate < 10 else f"{rate:,.0f} {rate_unit}")
    if time_left_text(left):
        bits.append(time_left_text(left))
    return f"{label}: {', '.join(bits)}" if bits else label


@dataclass
class Throttle:
    """Lets a line through at most every ``every`` seconds (the first at once)."""

    every: float = LINE_EVERY_S
    last: float | None = None

    def due(self, now: float) -> bool:
        if self.last is not None and now - self.last < self.every:
            return False
        self.last = now
        return True
