"""Models: the catalog (bundled, registered, pulled) with what each GGUF header says; pull from the Hub.

Rows come from ``services.models.list_models`` and details from ``inspect_model``, the functions
behind `localctx models` and `localctx inspect`; pulls go through ``hub.pull`` with its progress
callback, in a thread worker that reports through messages (``can_replace``: a flood of byte counts
collapses to the latest one).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rich.table import Table
from rich.text import Text
from textual import getters, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Label, ProgressBar, Static
from textual.worker import get_current_worker

from localctx.core.model_info import ModelInfo
from localctx.errors import LocalctxError
from localctx.tui.dialogs import PullDialog
from localctx.tui.widgets.format import human_bytes, human_count

if TYPE_CHECKING:
    from localctx.hub.select import HubRef
    from localctx.tui.app import LocalctxApp

COLUMNS = ("name", "source", "arch", "quant", "size", "trained ctx")


class ModelsScreen(Screen[None]):
    if TYPE_CHECKING:  # the app as LocalctxApp for the type checker (Textual types it as a plain App)
        app = getters.app(LocalctxApp)

    #: below 110 columns the table and the details do not fit side by side: the details go below
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (110, "-wide")]
    BINDINGS = [
        Binding("enter", "use", "Use", show=True),
        Binding("p", "pull", "Pull"),
        Binding("r", "refresh", "Refresh"),
        Binding("ctrl+t", "chat", "Chat"),
    ]

    class Listed(Message):
        def __init__(self, rows: list) -> None:
            super().__init__()
            self.rows = rows

    class Inspected(Message):
        def __init__(self, name: str, info: ModelInfo | None, error: str | None) -> None:
            super().__init__()
            self.name, self.info, self.error = name, info, error

    class PullProgressed(Message):
        """Bytes of one file done; only the latest matters, so queued ones are replaced."""

        def __init__(self, progress: object) -> None:
            super().__init__()
            self.progress = progress

        def can_replace(self, message: Message) -> bool:
            return isinstance(message, ModelsScreen.PullProgressed)

    class PullFinished(Message):
        def __init__(self, result: object | None, error: BaseException | None) -> None:
            super().__init__()
            self.result, self.error = result, error

    def __init__(self) -> None:
        super().__init__()
        self.rows: list = []
        self.pulling = False
        self.last_progress: object | None = None  # the latest hub.PullProgress shown

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="models-body"):
            with Vertical(id="models-left"):
                yield DataTable(id="models-table", cursor_type="row", zebra_stripes=True)
                with Vertical(id="pull-box", classes="hidden"):
                    yield Label("", id="pull-label")
                    yield ProgressBar(id="pull-bar", show_eta=True)
            with VerticalScroll(id="models-detail"):
                yield Static("select a model", id="model-detail")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Models"
        table = self.query_one(DataTable)
        table.add_columns(*COLUMNS)
        self.action_refresh()

    # ---- listing -----------------------------------------------------------------------------
    def action_refresh(self) -> None:
        self.query_one(DataTable).loading = True
        self._list()

    @work(thread=True, exclusive=True, group="models-list")
    def _list(self) -> None:
        try:
            rows = self.app.list_models()
        except Exception as exc:  # noqa: BLE001 - a broken catalog is a notification, not a crash
            self.app.call_from_thread(self.app.report, exc, "models")
            rows = []
        self.post_message(self.Listed(rows))

    def on_models_screen_listed(self, msg: Listed) -> None:
        table = self.query_one(DataTable)
        table.loading = False
        table.clear()
        self.rows = msg.rows
        for r in msg.rows:
            if r.error:
                table.add_row(r.name, r.source, Text(r.error, style="red"), "", "", "", key=r.name)
            else:
                table.add_row(r.name, r.source, r.arch, r.quant, human_bytes(r.size_bytes), f"{r.ctx_train:,}",
                              key=r.name)
        current = self.app.model_ref
        names = [r.name for r in msg.rows]
        if current in names:
            table.move_cursor(row=names.index(current))

    # ---- details -----------------------------------------------------------------------------
    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is not None:
            self._inspect(str(event.row_key.value))

    @work(thread=True, exclusive=True, group="models-inspect")
    def _inspect(self, name: str) -> None:
        try:
            self.post_message(self.Inspected(name, self.app.inspect_model(name), None))
        except LocalctxError as exc:
            self.post_message(self.Inspected(name, None, exc.one_line()))
        except Exception as exc:  # noqa: BLE001
            self.post_message(self.Inspected(name, None, f"{type(exc).__name__}: {exc}"))

    def on_models_screen_inspected(self, msg: Inspected) -> None:
        detail = self.query_one("#model-detail", Static)
        if msg.info is None:
            detail.update(Text(f"{msg.name}: {msg.error}", style="red"))
        else:
            detail.update(details_table(msg.name, msg.info))

    def selected(self) -> str | None:
        table = self.query_one(DataTable)
        if not self.rows or table.cursor_row is None or table.cursor_row >= len(self.rows):
            return None
        return str(self.rows[table.cursor_row].name)

    def action_use(self) -> None:
        name = self.selected()
        if name:
            self.app.use_model(name)
            self.notify(f"{name} is the model for Plan, Chat and Summarize")

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_use()

    def action_chat(self) -> None:
        self.action_use()
        self.app.switch_mode("chat")

    # ---- pulls -------------------------------------------------------------------------------
    def action_pull(self) -> None:
        if self.pulling:
            self.notify("a pull is already running", severity="warning")
            return
        self.app.push_screen(PullDialog(), self._start_pull)

    def _start_pull(self, ref: str | None) -> None:
        if not ref:
            return
        from localctx.hub import client as hub

        try:
            parsed = hub.parse_ref(ref)
        except LocalctxError as exc:
            self.app.report(exc, "pull")
            return
        self.pulling = True
        self.query_one("#pull-box").remove_class("hidden")
        self.query_one("#pull-label", Label).update(f"pulling {parsed.spec} …")
        self.query_one("#pull-bar", ProgressBar).update(total=None, progress=0)
        self._pull(parsed)

    @work(thread=True, exclusive=True, group="models-pull")
    def _pull(self, ref: HubRef) -> None:
        from localctx.hub import client as hub

        worker = get_current_worker()

        def progress(p: hub.PullProgress) -> None:
            if not worker.is_cancelled:
                self.post_message(self.PullProgressed(p))

        try:
            result = hub.pull(ref, progress=progress)
        except Exception as exc:  # noqa: BLE001 - HubError and anything unexpected alike: a notification
            self.post_message(self.PullFinished(None, exc))
            return
        self.post_message(self.PullFinished(result, None))

    def on_models_screen_pull_progressed(self, msg: PullProgressed) -> None:
        p = self.last_progress = msg.progress
        name = getattr(p, "file", "").rsplit("/", 1)[-1]
        count = getattr(p, "count", 1)
        label = f"{'verify' if getattr(p, 'phase', '') == 'verify' else 'pull'} {name}"
        if count > 1:
            label += f" ({getattr(p, 'index', 0) + 1}/{count})"
        done, total = getattr(p, "done", 0), getattr(p, "total", None)
        self.query_one("#pull-label", Label).update(
            f"{label}  {human_bytes(done)}" + (f" of {human_bytes(total)}" if total else ""))
        self.query_one("#pull-bar", ProgressBar).update(total=total, progress=done)

    def on_models_screen_pull_finished(self, msg: PullFinished) -> None:
        self.pulling = False
        self.query_one("#pull-box").add_class("hidden")
        if msg.error is not None:
            self.app.report(msg.error, "pull")
            return
        r = msg.result
        how = "already in the cache" if getattr(r, "from_cache", False) else "downloaded"
        self.notify(f"{getattr(r, 'name', '')}: {how}, {human_bytes(getattr(r, 'size_bytes', 0))}", title="pull")
        for note in getattr(r, "notes", ()):
            self.notify(note, severity="warning", title="pull")
        self.action_refresh()


def details_table(name: str, mi: ModelInfo) -> Table:
    """The header facts a user picks a model by (the full list is `localctx inspect`)."""
    t = Table(title=name, show_header=False, box=None, expand=True)
    t.add_column("key", style="bold", no_wrap=True)
    t.add_column("value", overflow="fold")
    r = mi.rope
    rows = [
        ("architecture", mi.arch + ("" if mi.known_arch else " (unknown to localctx)")),
        ("parameters", human_count(mi.n_params)),
        ("quant / size", f"{mi.quant} / {human_bytes(mi.file_size)}"),
        ("trained context", f"{mi.ctx_train:,}"),
        ("layers / embd", f"{mi.n_layer} / {mi.n_embd}"),
        ("heads / KV heads", f"{mi.n_head} / {mi.n_head_kv}"),
        ("head dim K / V", f"{mi.head_dim_k} / {mi.head_dim_v}"),
        ("sliding window", f"{mi.sliding_window} ({mi.swa_note})" if mi.swa_layer_indices else mi.swa_note),
        ("memory", mi.memory_kind),
        ("vocab", f"{mi.n_vocab:,}"),
        ("RoPE", f"{r.rope_type}, base {r.freq_base}"
                 + (f", {r.scaling_type} ×{r.scaling_factor}" if r.scaling_type not in (None, "none") else "")),
        ("chat template", "yes" if mi.has_chat_template else "no (ChatML fallback)"),
        ("file", str(mi.path)),
    ]
    for k, v in rows:
        t.add_row(k, v)
    for n in mi.missing + mi.notes:
        t.add_row("note", Text(n, style="yellow"))
    return t
