"""What to do when the documents or the conversation do not fit the context: asked, never silent.

The choices are the ways out the chat service names in its ContextOverflowError (chat_budget.ways_out):
raise the context (with the memory planner's verdict for that size), summarize the document first,
or let the service trim by a named policy that says what it cut.  Returns an ``OverflowChoice`` or None.
"""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Label, Static


@dataclass(frozen=True)
class OverflowChoice:
    action: str  # raise-ctx | summarize | drop-oldest | truncate-middle | clear
    n_ctx: int | None = None  # for raise-ctx


class OverflowDialog(ModalScreen[OverflowChoice | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, message: str, *, what: str, suggested_ctx: int, ctx_verdict: str = "") -> None:
        """``message``: the error's numbers (its hint lists the CLI's ways out, which are the buttons here);
        ``what``: "documents" or "conversation"; ``ctx_verdict``: the planner's word on ``suggested_ctx``."""
        super().__init__()
        self.message, self.what, self.suggested_ctx, self.ctx_verdict = message, what, suggested_ctx, ctx_verdict

    def compose(self) -> ComposeResult:
        with VerticalScroll(classes="dialog dialog-wide", id="overflow"):
            yield Label("It does not fit the context", classes="dialog-title")
            yield Static(Text(self.message), id="overflow-message")
            yield Button(f"Raise the context to {self.suggested_ctx:,} and reload", id="raise-ctx", compact=True,
                         variant="primary")
            if self.ctx_verdict:
                yield Static(Text(self.ctx_verdict, style="dim"), id="overflow-verdict")
            if self.what == "documents":
                choices = (("summarize", "Summarize the document instead"),
                           ("drop-oldest", "Cut its start (drop-oldest), saying what was cut"),
                           ("truncate-middle", "Cut its middle (truncate-middle), saying what was cut"))
            else:
                choices = (("clear", "Clear the history (the documents stay)"),
                           ("drop-oldest", "Drop the oldest turns (drop-oldest)"),
                           ("truncate-middle", "Drop turns from the middle (truncate-middle)"))
            for ident, label in choices:
                yield Button(label, id=ident, compact=True)
            yield Button("Cancel", id="cancel", compact=True)

    def on_mount(self) -> None:
        self.query_one("#raise-ctx", Button).focus()

    @on(Button.Pressed)
    def _chosen(self, event: Button.Pressed) -> None:
        action = event.button.id or "cancel"
        if action == "cancel":
            self.dismiss(None)
        else:
            self.dismiss(OverflowChoice(action, self.suggested_ctx if action == "raise-ctx" else None))

    def action_cancel(self) -> None:
        self.dismiss(None)
