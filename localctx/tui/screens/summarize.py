"""Summarize: pick a file, watch the map-reduce steps, read and save the summary.

The work is ``services.summarize.summarize`` (the CLI's `localctx summarize`) on the app's one engine
(tui/engine_host.py, loaded with the model and flags chosen on Models/Plan), on the engine thread,
reporting through ``can_replace`` progress messages.  Esc stops at the next step boundary; the
service stops at the next token and has checkpointed every finished step, so running again resumes.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import getters, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import Button, Footer, Header, Input, Label, Markdown, ProgressBar, Select

from localctx.core.progress import time_left_text
from localctx.errors import LocalctxError
from localctx.services.summary_progress import SummaryEvent
from localctx.tui.dialogs import FilePicker, FitDialog, TextPrompt
from localctx.tui.engine_host import LoadRefused
from localctx.tui.save import check_save_path, write_failed

if TYPE_CHECKING:
    from localctx.tui.app import LocalctxApp

#: the bar's resolution
BAR_UNITS = 1000
LENGTH_CHOICES = (("short", "short"), ("medium", "medium"), ("long", "long"))
SUMMARY_HELP = """\
*The summary appears here.*  Plain text, Markdown, PDF, HTML and EPUB are read.  A file longer than the
context is summarized in chunks, then the chunk summaries are merged (map-reduce); every finished step
is saved, so a stopped run resumes where it stopped.  The model and context are the ones on Plan."""


def progress_text(e: SummaryEvent) -> str:
    """The status under the bar: which step, reading or writing, tokens so far, speed and time left."""
    resumed = f" ({e.resumed} from the checkpoint)" if e.resumed else ""
    left = time_left_text(e.seconds_left)
    if e.phase == "plan":
        return f"{e.steps_total} steps planned{resumed}"
    if e.steps_done >= e.steps_total:
        return f"{e.steps_total} steps done{resumed}"
    where = f"step {e.steps_done + 1} of {e.steps_total} running{resumed}"
    if e.phase == "write":
        what = f"writing its summary: {e.written:,} of at most {e.write_cap:,} tokens"
        rate = e.write_rate
    else:
        what = f"{e.tokens_done:,}/{e.tokens_total:,} prompt tokens read"
        rate = e.read_rate
    return " · ".join(b for b in (where, what, f"{rate:,.0f} tok/s" if rate else "", left) if b)


class SummarizeScreen(Screen[None]):
    if TYPE_CHECKING:  # the app as LocalctxApp for the type checker (Textual types it as a plain App)
        app = getters.app(LocalctxApp)

    BINDINGS = [
        Binding("ctrl+o", "pick", "Pick file"),
        Binding("ctrl+g", "start", "Summarize"),
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+s", "save", "Save"),
    ]

    class Progressed(Message):
        """Steps and tokens done; a newer one replaces any still queued."""

        def __init__(self, event: Any) -> None:
            super().__init__()
            self.event = event

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, SummarizeScreen.Progressed)

    class Done(Message):
        def __init__(self, result: Any = None, error: BaseException | None = None, stopped: bool = False) -> None:
            super().__init__()
            self.result, self.error, self.stopped = result, error, stopped

    def __init__(self) -> None:
        super().__init__()
        self.result: Any = None  # services.summarize.SummaryResult
        self.running = False
        self.last_event: Any = None  # the latest SummaryEvent shown
        self.steps_seen: set[str] = set()  # step ids reported as finished, in this run
        self.bar_done = 0  # the bar's progress in BAR_UNITS (it only moves forward)
        self._stop = threading.Event()  # set by Esc: the service stops at its next token

    def compose(self) -> ComposeResult:
        yield Header()
        with Vertical(id="sum-body"):
            with Horizontal(id="sum-form"):
                yield Input(placeholder="file (ctrl+o picks)", id="sum-file")
                yield Select(LENGTH_CHOICES, value="medium", allow_blank=False, id="sum-length")
                yield Input(placeholder="focus (optional)", id="sum-focus")
                yield Button("Summarize", variant="primary", id="sum-start")
            with Vertical(id="sum-progress-row"):  # the status below the bar: it wraps, never cut
                yield ProgressBar(id="sum-progress", show_eta=False, classes="hidden")  # the status has it
                yield Label("pick a file (ctrl+o or type its path), then ctrl+g or Enter", id="sum-status")
            with VerticalScroll(id="sum-result-box"):
                yield Markdown(SUMMARY_HELP, id="sum-result")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Summarize"
        self.on_screen_resume()

    def on_screen_resume(self) -> None:
        pending = getattr(self.app, "pending_summarize", None)
        if pending is not None:
            self.app.pending_summarize = None
            self.query_one("#sum-file", Input).value = str(pending)

    def on_unmount(self) -> None:
        self._stop.set()

    # ---- file --------------------------------------------------------------------------------
    def action_pick(self) -> None:
        self.app.push_screen(FilePicker("Summarize which file?"), self._picked)

    def _picked(self, path: Path | None) -> None:
        if path is not None:
            self.query_one("#sum-file", Input).value = str(path)

    # ---- the run -----------------------------------------------------------------------------
    @on(Button.Pressed, "#sum-start")
    @on(Input.Submitted, "#sum-file, #sum-focus")
    def action_start(self) -> None:
        if self.running:
            self.notify("a summary is already running (Esc stops it)", severity="warning")
            return
        text = self.query_one("#sum-file", Input).value.strip()
        if not text:
            self.notify("choose a file first (ctrl+o)", severity="warning")
            return
        from localctx.services.summarize import SummarizeOptions

        opts = SummarizeOptions(length=str(self.query_one("#sum-length", Select).value),
                                focus=self.query_one("#sum-focus", Input).value.strip() or None,
                                **self.app.summary_options)
        self.running = True
        self.steps_seen = set()
        self.bar_done = 0
        bar = self.query_one("#sum-progress", ProgressBar)
        bar.remove_class("hidden")
        bar.update(total=None, progress=0)
        self._status(f"loading {self.app.model_ref} …")
        self._run(Path(text).expanduser(), opts, self.app.model_ref, self.app.flags)

    def _status(self, text: str, style: str = "") -> None:
        self.query_one("#sum-status", Label).update(Text(text, style=style))

    @work(exclusive=True, group="summarize")
    async def _run(self, path: Path, opts: Any, model: str, flags: Any) -> None:
        from localctx.services.summarize import SummaryCancelled

        self._stop = stop = threading.Event()
        host = self.app.host
        try:
            result = await host.run(self._summarize, host, path, opts, model, flags, stop)
        except SummaryCancelled:
            self.post_message(self.Done(stopped=True))
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes a notification
            self.post_message(self.Done(error=exc))
            return
        self.post_message(self.Done(result))

    def _summarize(self, host: Any, path: Path, opts: Any, model: str, flags: Any, stop: threading.Event) -> Any:
        """On the engine thread: read the file, get the shared engine, run the service."""
        from localctx.core.extract import extract
        from localctx.services.summarize import summarize

        doc = extract(path)
        engine = host.engine_for(model, flags=flags)
        def progressed(event: SummaryEvent) -> None:
            self.post_message(self.Progressed(event))

        return summarize(engine, doc, opts, on_event=progressed, should_stop=stop.is_set)

    def on_summarize_screen_progressed(self, msg: Progressed) -> None:
        e = self.last_event = msg.event
        if e.step:
            self.steps_seen.add(e.step)
        bar = self.query_one("#sum-progress", ProgressBar)
        # by time once both speeds are known (writing is far slower than reading), never backwards
        self.bar_done = max(self.bar_done, min(BAR_UNITS - 1, round(e.fraction * BAR_UNITS)))
        bar.update(total=BAR_UNITS, progress=self.bar_done)
        self._status(progress_text(e))

    async def on_summarize_screen_done(self, msg: Done) -> None:
        self.running = False
        if msg.stopped:
            self._status("stopped: finished steps are saved; Summarize again resumes", "yellow")
            return
        if msg.error is not None:
            self.app.report(msg.error, "summarize")
            self._status(getattr(msg.error, "message", str(msg.error)), "red")
            if isinstance(msg.error, LoadRefused) and msg.error.largest:
                self.app.push_screen(FitDialog(msg.error.one_line(), msg.error.largest), self._run_at)
            return
        r = self.result = msg.result
        bar = self.query_one("#sum-progress", ProgressBar)
        bar.update(total=1, progress=1)
        from localctx.services.summarize import steps_text

        n_steps = sum(1 for lvl in r.levels for s in lvl if s.kind != "carry")
        self._status(f"{r.mode}: {r.file_tokens:,} tokens in {len(r.chunks)} chunk(s), "
                     f"{steps_text(n_steps, r.resumed_steps, r.seconds)}")
        for notice in r.notices:
            self.notify(notice, title="summarize", severity="warning", markup=False)
        await self.query_one("#sum-result", Markdown).update(r.to_markdown())

    def _run_at(self, n_ctx: int | None) -> None:
        """Summarize again at the context the gate said fits (it becomes the app's context)."""
        if n_ctx:
            self.app.use_flags(self.app.with_ctx(n_ctx))
            self.action_start()

    def action_stop(self) -> None:
        if self.running:
            self._stop.set()
            self._status("stopping …", "italic")

    # ---- save --------------------------------------------------------------------------------
    def action_save(self) -> None:
        if self.result is None:
            self.notify("nothing to save yet", severity="warning")
            return
        default = Path(self.result.path).with_suffix(".summary.md")
        self.app.push_screen(TextPrompt("Save the summary as Markdown", value=str(default), ok="Save"), self._save)

    def _save(self, path: str | None) -> None:
        if not path or self.result is None:
            return
        try:
            target = check_save_path(path)
            try:
                target.write_text(self.result.to_markdown(), "utf-8")
            except OSError as exc:
                raise write_failed(target, exc) from None
        except LocalctxError as exc:
            self.app.report(exc, "save")
            return
        self.notify(f"saved {target}", title="save", markup=False)
