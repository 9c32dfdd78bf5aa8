"""Tables that read at 80 columns: what a user types is never cut, numbers keep their units, paths
lose their middle, and only free text wraps.

Rich shrinks every column of a table wider than the terminal, folding "93.81 MiB" into two lines or
an ID into "5e55…".  Here each column says what it holds: ``key`` (an ID or name a user types: never
wrapped, never shorter than its longest value), ``number`` (a value with its unit: kept on one line),
``text`` (free text: wraps), ``path`` (elided in the middle to the width left, keeping the file name
whole: when even that does not fit, the table becomes one record per row).
Every table command also has ``--json`` with the full values.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from rich.box import HEAVY_HEAD
from rich.console import Console, ConsoleOptions, Group, JustifyMethod, RenderableType, RenderResult
from rich.measure import Measurement
from rich.style import StyleType
from rich.table import Table
from rich.text import Text

ELLIPSIS = "…"


@dataclass(frozen=True)
class Elided:
    """A path shown whole when the column has room, else as ``start…/file-name`` in the width it gets
    (see ``elide_middle``)."""

    text: str
    min_width: int = 16
    style: str = ""

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        return Measurement(min(self.min_width, len(self.text)), len(self.text))

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield Text(elide_middle(self.text, options.max_width), style=self.style, no_wrap=True, overflow="crop")


def elide_middle(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, its middle replaced by "…" when it does not fit.  A path keeps
    its file name whole ("/home/so…/Model-Q4_K_M.gguf"): that is the model's or the document's name."""
    if len(text) <= width:
        return text
    if width <= 1:
        return ELLIPSIS[:width]
    tail = "/" + text.rsplit("/", 1)[1] if "/" in text else ""
    if tail and len(tail) + 1 <= width:
        return text[:width - 1 - len(tail)] + ELLIPSIS + tail
    room = width - 1
    head = room // 4
    return text[:head] + ELLIPSIS + text[len(text) - (room - head):]


def path_floor(values: Iterable[str]) -> int:
    """The narrowest a path column gets: its longest file name whole, after "…"."""
    return max((len(v.rsplit("/", 1)[1]) + 2 for v in values if "/" in v), default=0)


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
    floor = [min(n, max(len(c.header), MIN_TEXT if c.kind != "path" else
                        max(MIN_PATH, path_floor(r[i] for r in rows))))
             for i, (c, n) in enumerate(zip(columns, longest, strict=True))]
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
    """One block per row, a "header  value" line per non-empty cell; values wrap under themselves."""
    width = max(len(c.header) for c in columns)
    blocks: list[RenderableType] = [Text(title, style="bold")] if title else []
    for i, r in enumerate(rows):
        grid = Table.grid(padding=(0, 2))
        grid.add_column(no_wrap=True, min_width=width, style="bold")
        grid.add_column(overflow="fold")
        for c, v in zip(columns, r, strict=True):
            if v:  # an empty cell is no line
                grid.add_row(c.header, Text(v))
        blocks += [Text("")] if i else []
        blocks.append(grid)
    return Group(*blocks)


def side_by_side(console: Console, label: Col, columns: Sequence[Col], rows: Iterable[Sequence[str]], *,
                 title: str | None = None, caption: str | None = None, markup: bool = False,
                 boxed: bool = False) -> RenderableType:
    """A table whose first column names each row and whose other columns are values side by side (one
    per context, depth or position bucket).  Every cell keeps its width; when the value columns do not
    all fit ``console.width``, they go into several tables one below the other, each repeating the
    first column, so a header or a number is never cut to "8,…".  ``markup``: cells use Rich markup;
    ``boxed``: drawn with lines (each column then takes 3 cells more than its text, the edge one)."""
    rows = [list(r) for r in rows]

    def cell(v: str) -> Text:
        return Text.from_markup(v) if markup else Text(v)

    def wide(header: str, values: Iterable[str]) -> int:
        return max([*(len(x) for x in header.split("\n")), *(cell(v).cell_len for v in values)])

    label_w = wide(label.header, (r[0] for r in rows))
    widths = [wide(c.header, (r[i + 1] for r in rows)) for i, c in enumerate(columns)]
    gap, edge = (3, 4) if boxed else (GAP, 0)
    groups: list[list[int]] = [[]]
    used = edge + label_w
    for i, w in enumerate(widths):
        if groups[-1] and used + gap + w > console.width:
            groups.append([])
            used = edge + label_w
        groups[-1].append(i)
        used += gap + w
    parts: list[RenderableType] = []
    for n, group in enumerate(groups):
        t = Table(box=HEAVY_HEAD if boxed else None, header_style="bold", title=title if n == 0 else None,
                  title_justify="left", pad_edge=boxed, expand=False)
        t.add_column(label.header, no_wrap=True, min_width=label_w, justify=label.justify, style="bold")
        for i in group:
            t.add_column(columns[i].header, no_wrap=True, min_width=widths[i], justify=columns[i].justify)
        for r in rows:
            t.add_row(cell(r[0]), *(cell(r[i + 1]) for i in group))
        parts += [Text("")] if n else []
        parts.append(t)
    if caption:  # a line of its own: as a table's caption it wraps to the width of the last, narrow group
        parts.append(Text(caption, style="dim"))
    return Group(*parts)


def pairs(title: str | None = None) -> Table:
    """A two-column "what  value" table: the names stay whole on one line and only the values wrap
    (a long path folds), so a narrow terminal never cuts a name to "tensor bytes b…"."""
    t = Table(title=title, show_header=False)
    t.add_column("key", style="bold", no_wrap=True)
    t.add_column("value", overflow="fold")
    return t


class HelpTable(Table):
    """The table Typer draws `--help` options into, with its flag columns kept whole.

    Typer adds no columns of its own to that table: each row is (required mark,) long flags, short
    flags, negative long flags, negative short flags, the value's type, the help text.  Plain Rich
    shrinks every column of a table wider than the terminal alike, cutting ``--no-kernel-probe`` to
    ``--no-kernel-pro…``; here every column but the last two (type and help, which wrap) is ``no_wrap``,
    so Rich takes the room from the help text instead."""

    def add_row(self, *renderables: RenderableType | None, style: StyleType | None = None,
                end_section: bool = False) -> None:
        super().add_row(*renderables, style=style, end_section=end_section)
        if not self.show_header:
            for column in self.columns[:-2]:
                column.no_wrap = True


def keep_help_flags_whole(root: object) -> None:
    """Have Typer's `--help` draw its option tables as ``HelpTable`` (flags never cut at 80 columns),
    and reflow every command's docstring under ``root`` (see ``reflow``)."""
    import inspect

    from typer import rich_utils

    rich_utils.Table = HelpTable  # type: ignore[misc]  # the name rich_utils builds its tables with

    def walk(cmd: object) -> None:
        if getattr(cmd, "help", None):
            cmd.help = reflow(inspect.cleandoc(cmd.help))  # type: ignore[attr-defined]
        for sub in (getattr(cmd, "commands", None) or {}).values():
            walk(sub)

    walk(root)


def reflow(text: str) -> str:
    """A docstring's paragraphs each on one line, for the terminal to wrap at its own width.  Typer's
    Rich help keeps the source's line breaks, so at 80 columns a paragraph came out ragged (a line
    wrapped, then a break where the source broke it: "speed" alone on a line)."""
    return "\n\n".join(p if p.startswith("\b") else " ".join(p.split("\n")) for p in text.split("\n\n"))
