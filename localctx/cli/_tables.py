"""Tables that read at 80 columns: what a user types is never cut, numbers keep their units, paths
lose their middle, and only free text wraps.

Rich shrinks every column of a table wider than the terminal, folding "93.81 MiB" into two lines or
an ID into "5e55…".  Here each column says what it holds: ``key`` (an ID or name a user types: never
wrapped, never shorter than its longest value), ``number`` (a value with its unit: kept on one line),
``text`` (free text: wraps), ``path`` (elided in the middle to the width left, keeping the file name).
Every table command also has ``--json`` with the full values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.console import Console, ConsoleOptions, Group, JustifyMethod, RenderableType, RenderResult
from rich.measure import Measurement
from rich.table import Table
from rich.text import Text

ELLIPSIS = "…"


@dataclass(frozen=True)
class Elided:
    """A path shown whole when the column has room, else as ``start…end`` in the width it gets (the
    end, with the file name, keeps three quarters of the room)."""

    text: str
    min_width: int = 16
    style: str = ""

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(min(self.min_width, len(self.text)), len(self.text))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(elide_middle(self.text, options.max_width), style=self.style, no_wrap=True, overflow="crop")


def elide_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, its middle replaced by "…" when it does not fit."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    room = width - 1
    head = room // 4
    return text[:head] + ELLIPSIS + text[len(text) - (room - head):]


@dataclass(frozen=True)
class Col:
    """One column: its header, what it holds (key | number | text | path) and its alignment."""

    header: str
    kind: str = "text"
    justify: JustifyMethod = "left"


GAP = 2  # cells between two columns (Rich's cell padding, no borders)
MIN_TEXT, MIN_PATH = 12, 16  # the narrowest a wrapping text / an elided path column gets


def table(console: Console, columns: Sequence[Col], rows: Iterable[Sequence[str]], *,
          title: str | None = None) -> RenderableType:
    """The rows as a borderless table sized to ``console.width``, columns behaving by kind; when even
    the narrowest such table does not fit, one record per row ("name  value" lines), so nothing a user
    types is ever cut."""
    rows = [list(r) for r in rows]
    longest = [max([len(c.header), *(len(r[i]) for r in rows)]) for i, c in enumerate(columns)]
    flexible = [c.kind in ("text", "path") for c in columns]
    floor = [min(n, max(len(c.header), MIN_PATH if c.kind == "path" else MIN_TEXT))
             for c, n in zip(columns, longest, strict=True)]
    room = console.width - GAP * (len(columns) - 1) - sum(n for n, f in zip(longest, flexible, strict=True) if not f)
    need = sum(n for n, f in zip(floor, flexible, strict=True) if f)
    if room < need:
        return records(columns, rows, title=title)
    widths = _share(room, longest, floor, flexible)
    t = Table(box=None, header_style="bold", title=title, title_justify="left", pad_edge=False, expand=False)
    for c, w in zip(columns, widths, strict=True):
        t.add_column(c.header, width=w, no_wrap=c.kind != "text", overflow="fold",
                     justify=c.justify)
    for r in rows:
        t.add_row(*(Elided(v) if c.kind == "path" else Text(v) for c, v in zip(columns, r, strict=True)))
    return t


def _share(room: int, longest: list[int], floor: list[int], flexible: list[bool]) -> list[int]:
    """Fixed columns get their longest value; flexible ones their floor plus a share of what is left,
    in proportion to how much more they would use."""
    widths = [n if not f else lo for n, lo, f in zip(longest, floor, flexible, strict=True)]
    spare = room - sum(w for w, f in zip(widths, flexible, strict=True) if f)
    want = [n - lo if f else 0 for n, lo, f in zip(longest, floor, flexible, strict=True)]
    total = sum(want)
    if total and spare > 0:
        extra = [min(w, spare * w // total) for w in want]
        widths = [w + e for w, e in zip(widths, extra, strict=True)]
    return widths


def records(columns: Sequence[Col], rows: Sequence[Sequence[str]], *, title: str | None = None) -> RenderableType:
    """One block per row, a "header  value" line per column; values wrap under themselves."""
    width = max(len(c.header) for c in columns)
    blocks: list[RenderableType] = [Text(title, style="bold")] if title else []
    for i, r in enumerate(rows):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, min_width=width, style="bold")
        grid.add_column(overflow="fold")
        for c, v in zip(columns, r, strict=True):
            grid.add_row(c.header, Text(v))
        blocks += [Text("")] if i else []
        blocks.append(grid)
    return Group(*blocks)
