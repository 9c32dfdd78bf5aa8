"""The chat's token budget meter: documents, history, the reply reserve and what is free, of n_ctx."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.widget import Widget

from localctx.services.chat_budget import Budget
from localctx.tui.widgets.bars import stacked_bar

SEGMENTS: tuple[tuple[str, str, str], ...] = (
    ("documents", "documents", "blue"),
    ("history", "history", "magenta"),
    ("reply", "reply reserve", "yellow"),
)


class TokenMeter(Widget):
    """Renders a ``Budget`` (from ChatSession.budget()); the wording is the service's ``Budget.line``,
    wrapped under the bar (as tall as it needs: at 80 columns the line takes two rows, and a fixed
    height cut its last numbers)."""

    DEFAULT_CSS = """
    TokenMeter { height: auto; padding: 0 1; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.budget: Budget | None = None

    def show(self, budget: Budget | None) -> None:
        self.budget = budget
        self.refresh(layout=True)  # the line may take another row

    def render(self) -> RenderableType:
        b = self.budget
        if b is None:
            return Text("no model loaded", style="dim")
        width = max(self.content_size.width, 10)
        bar = stacked_bar([(getattr(b, k), style) for k, _, style in SEGMENTS], b.n_ctx, width)
        return Group(bar, Text(b.line(), style="red" if b.free < 0 else ""))
