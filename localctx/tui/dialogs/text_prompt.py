"""A one-line question (a Hub reference, a path to save to): returns the text, or None when cancelled."""

from __future__ import annotations

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class TextPrompt(ModalScreen[str | None]):
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, title: str, *, value: str = "", placeholder: str = "", help: str = "",
                 ok: str = "OK") -> None:
        super().__init__()
        self.title_text, self.value, self.placeholder, self.help_text, self.ok = title, value, placeholder, help, ok

    def compose(self) -> ComposeResult:
        with Vertical(classes="dialog"):
            yield Label(self.title_text, classes="dialog-title")
            if self.help_text:
                yield Static(self.help_text, classes="dialog-help", markup=False)
            yield Input(self.value, placeholder=self.placeholder, id="prompt-input")
            with Horizontal(classes="dialog-buttons"):
                yield Button(self.ok, variant="primary", id="ok")
                yield Button("Cancel", id="cancel")

    @on(Input.Submitted)
    @on(Button.Pressed, "#ok")
    def _ok(self) -> None:
        text = self.query_one(Input).value.strip()
        self.dismiss(text or None)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class PullDialog(TextPrompt):
    """Which model to pull: a preset name or a Hub reference, read as `localctx pull` reads its argument
    (services.preset_source.pull_target, by the screen that opens this)."""

    def __init__(self, value: str = "") -> None:
        super().__init__("Pull a GGUF from the Hugging Face Hub", value=value,
                         placeholder="preset[:QUANT] or owner/repo[:QUANT]",
                         help="e.g. qwen3-8b (a preset: `localctx presets`) or "
                              "bartowski/SmolLM2-135M-Instruct-GGUF:Q4_K_M (default quant Q4_K_M)", ok="Pull")
