"""A stacked horizontal bar drawn with Rich Text: the one drawing routine behind both meters."""

from __future__ import annotations

from collections.abc import Sequence

from rich.text import Text

FILL = "█"
EMPTY = "·"


def stacked_bar(parts: Sequence[tuple[int, str]], capacity: int, width: int) -> Text:
    """Segments ``(value, style)`` side by side on a bar of ``width`` cells that stands for
    ``capacity``; when the parts exceed it the bar is rescaled to their sum and a red ``▏`` marks
    where the capacity ends (an over-full gauge must look over-full, not clipped)."""
    width = max(width, 4)
    total = sum(max(v, 0) for v, _ in parts)
    scale = max(total, capacity, 1)
    text = Text()
    used_cells = 0
    acc = 0
    for value, style in parts:
        if value <= 0:
            continue
        acc += value
        end = round(acc / scale * width)
        cells = max(end - used_cells, 1 if value > 0 and used_cells < width else 0)
        cells = min(cells, width - used_cells)
        text.append(FILL * cells, style=style)
        used_cells += cells
    if used_cells < width:
        text.append(EMPTY * (width - used_cells), style="dim")
    if total > capacity > 0:
        mark = min(max(round(capacity / scale * width), 0), width - 1)
        text = text[:mark] + Text("▏", style="bold red") + text[mark + 1:]
    return text
