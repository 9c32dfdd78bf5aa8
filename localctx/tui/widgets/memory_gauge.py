"""The live memory gauge: weights / KV / compute per device, against what the device has free."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widget import Widget

from localctx.core.memory import DeviceMemory, MemoryPlan
from localctx.tui.widgets.bars import stacked_bar
from localctx.tui.widgets.format import human_bytes

#: (segment, label, style): the order segments are drawn in
SEGMENTS: tuple[tuple[str, str, str], ...] = (
    ("weights", "weights", "blue"),
    ("kv", "KV", "green"),
    ("compute", "compute", "yellow"),
    ("other", "other", "magenta"),
)


@dataclass(frozen=True)
class GaugeRow:
    """One bar: a device as the verdict names it, the plan's bytes on it, and what it has free."""

    label: str
    parts: dict[str, int]
    need: int
    available: int | None
    fits: bool | None
    reserve: int = 0  # bytes of ``available`` the verdict keeps free (its safety margin)

    @property
    def usable(self) -> int | None:
        """What the plan may take: free memory less the safety margin."""
        return None if self.available is None else max(0, self.available - self.reserve)


def device_parts(devices: list[DeviceMemory]) -> dict[str, int]:
    """The four segments summed over ``devices``; "other" = output buffer + the overhead the planner assumed."""
    return {"weights": sum(d.weights for d in devices), "kv": sum(d.kv for d in devices),
            "compute": sum(d.compute for d in devices), "other": sum(d.output + d.overhead for d in devices)}


def gauge_rows(plan: MemoryPlan, verdict: Any) -> list[GaugeRow]:
    """Pair each device of the verdict (services.memory.Verdict) with the plan's bytes on it.

    The verdict's "RAM" is the CPU device; "RAM (unified)" (Apple Silicon) holds every local device;
    each RPC server (``RPC0[host:port]``) gets its own bar, against the memory it reported free."""
    by_name = {d.device: d for d in plan.devices}
    rows = []
    for dv in verdict.devices:
        if dv.device.startswith("RAM"):
            devs = [d for d in plan.devices if d.endpoint is None] if "unified" in dv.device else [plan.cpu]
        else:
            devs = [by_name[dv.device]] if dv.device in by_name else []
        rows.append(GaugeRow(dv.device, device_parts(devs), dv.need, dv.available, dv.fits, dv.reserve))
    return rows


class MemoryGauge(Widget):
    """Renders a MemoryPlan and its Verdict (both from services.memory); it computes nothing."""

    DEFAULT_CSS = """
    MemoryGauge { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.plan: MemoryPlan | None = None
        self.rows: list[GaugeRow] = []

    def show(self, plan: MemoryPlan | None, verdict: Any) -> None:
        self.plan = plan
        self.rows = gauge_rows(plan, verdict) if plan is not None and verdict is not None else []
        self.refresh(layout=True)

    def get_content_height(self, container: Any, viewport: Any, width: int) -> int:
        return len(self._lines(width))

    def render(self) -> RenderableType:
        return Group(*self._lines(self.content_size.width))

    def _lines(self, width: int) -> list[Text]:
        if not self.rows:
            return [Text("no plan yet: choose a model", style="dim")]
        width = max(width, 20)
        out: list[Text] = []
        for i, r in enumerate(self.rows):
            out += _flow(_head(r), width)
            cap = r.need if r.usable is None else r.usable
            out += [stacked_bar([(r.parts[k], s) for k, _, s in SEGMENTS], cap, width)]
            out += _legend(r.parts, width)
            if i < len(self.rows) - 1:
                out.append(Text(""))
        return out


def _head(r: GaugeRow) -> list[Text]:
    """The device line in pieces that wrap as a whole: need, usable, the margin kept free, the verdict."""
    items = [Text.assemble((r.label, "bold"), f" needs {human_bytes(r.need)}")]
    if r.usable is None:
        return [*items, Text("(free memory unknown)")]
    items.append(Text(f"of {human_bytes(r.usable)} usable"))
    if r.reserve:
        items.append(Text(f"({human_bytes(r.available or 0)} free, {human_bytes(r.reserve)} kept free)", style="dim"))
    items.append(Text("fits" if r.fits else "does not fit", style="bold green" if r.fits else "bold red"))
    return items


def _flow(items: list[Text], width: int, gap: str = " ") -> list[Text]:
    """``items`` side by side on as few lines of ``width`` as they need; an item is never split or cut
    (one wider than a line is folded over several lines by itself)."""
    lines = [Text()]
    for item in items:
        if lines[-1].cell_len and lines[-1].cell_len + len(gap) + item.cell_len > width:
            lines.append(Text())
        if lines[-1].cell_len:
            lines[-1].append(gap)
        lines[-1].append_text(item)
    out: list[Text] = []
    for line in lines:
        out += [line[i:i + width] for i in range(0, max(line.cell_len, 1), width)] if line.cell_len > width else [line]
    return out


def _legend(parts: dict[str, int], width: int) -> list[Text]:
    """"■ weights 92 MiB  ■ KV 45 MiB ..." on as few lines as ``width`` allows (never cut off)."""
    items = [Text.assemble(("■ ", style), f"{label} {human_bytes(parts[key])}") for key, label, style in SEGMENTS]
    return _flow(items, width, gap="   ")
