"""The load gate refused a context: say why in its own words and offer the largest context that fits.

Returns the context to load with, or None (Cancel: nothing is loaded)."""

from __future__ import annotations

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


class FitDialog(ModalScreen[int | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]
    AUTO_FOCUS = "Button"  # the offer when there is one, else Cancel

    def __init__(self, message: str, largest: int) -> None:
        """``message``: the gate's one line; ``largest``: the largest context that fits (0: none does)."""
        super().__init__()
        self.message, self.largest = message, largest

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog dialog-wide", id="fit"):
            yield Label("It does not fit this machine: nothing was loaded", classes="dialog-title")
            yield Static(Text(self.message), id="fit-message")
            if self.largest:
                yield Button(f"Load at {self.largest:,} tokens (the largest that fits)", id="use-largest",
                             variant="primary", compact=True)
            yield Button("Cancel", id="cancel", compact=True)

    @on(Button.Pressed, "#use-largest")
    def _use_largest(self) -> None:
        self.dismiss(self.largest)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
