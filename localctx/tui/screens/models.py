"""Models: the catalog (bundled, registered, pulled) with what each GGUF header says, the presets that
are not pulled yet (with how to get each), and pulls from the Hub.

Rows come from ``services.models.list_models`` and details from ``inspect_model``, the functions
behind `localctx models` and `localctx inspect`; presets not pulled from ``unpulled_presets``.  The
Pull dialog's text is resolved by ``pull_target``, as `localctx pull` resolves its argument (a preset
name or a Hub reference); pulls go through ``hub.pull`` with its progress
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
    from localctx.services.models import PresetOffer
    from localctx.tui.app import LocalctxApp

#: the architecture is in the details: at 80 columns the table has room for the longest preset names or it
COLUMNS = ("name", "source", "quant", "size", "trained ctx")


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
        def __init__(self, rows: list, offers: list[PresetOffer]) -> None:
            super().__init__()
            self.rows, self.offers = rows, offers

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
        from localctx.services.models import unpulled_presets

        try:
            rows = self.app.list_models()
        except Exception as exc:  # noqa: BLE001 - a broken catalog is a notification, not a crash
            self.app.call_from_thread(self.app.report, exc, "models")
            rows = []
        try:
            offers = unpulled_presets(r.name for r in rows)
        except Exception as exc:  # noqa: BLE001 - nor is a Hub cache that cannot be read
            self.app.call_from_thread(self.app.report, exc, "presets")
            offers = []
        self.post_message(self.Listed(rows, offers))

    def on_models_screen_listed(self, msg: Listed) -> None:
        table = self.query_one(DataTable)
        table.loading = False
        table.clear()
        self.rows = [*msg.rows, *msg.offers]
        for r in msg.rows:
            if r.error:
                table.add_row(r.name, r.source, Text(r.error, style="red"), "", "", key=r.name)
            else:
                table.add_row(r.name, r.source, r.quant, human_bytes(r.size_bytes), f"{r.ctx_train:,}", key=r.name)
        for o in msg.offers:  # dim: listed so they can be found and pulled, not usable yet
            table.add_row(*(Text(v, style="dim") for v in (o.name, o.kind, o.quant, o.status, f"{o.ctx_train:,}")),
                          key=o.name)
        current = self.app.model_ref
        names = [r.name for r in msg.rows]
        if current in names:
            table.move_cursor(row=names.index(current))

    # ---- details -----------------------------------------------------------------------------
    @on(DataTable.RowHighlighted)
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.row_key.value is None:
            return
        offer = self.offer(str(event.row_key.value))
        if offer is not None:  # nothing to inspect before it is pulled: what it is and how to get it
            self.query_one("#model-detail", Static).update(offer_table(offer))
        else:
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
        if msg.name != self.selected():
            return  # the cursor moved on while the header was read
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

    def offer(self, name: str) -> PresetOffer | None:
        """The row ``name`` when it is a preset that is not pulled."""
        from localctx.services.models import PresetOffer

        return next((r for r in self.rows if isinstance(r, PresetOffer) and r.name == name), None)

    def action_use(self) -> None:
        name = self.selected()
        if name and self.offer(name) is not None:  # it must be pulled first: the Pull dialog, filled in
            self.open_pull(name)
        elif name:
            self.app.use_model(name)
            self.notify(f"{name} is the model for Plan, Chat and Summarize")

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.action_use()

    def action_chat(self) -> None:
        name = self.selected()
        self.action_use()
        if not name or self.offer(name) is None:
            self.app.switch_mode("chat")

    # ---- pulls -------------------------------------------------------------------------------
    def action_pull(self) -> None:
        self.open_pull()

    def open_pull(self, value: str = "") -> None:
        if self.pulling:
            self.notify("a pull is already running", severity="warning")
            return
        self.app.push_screen(PullDialog(value), self._start_pull)

    def _start_pull(self, ref: str | None) -> None:
        if not ref:
            return
        from localctx.services.preset_source import pull_target

        try:
            parsed, preset_hub_ref = pull_target(ref)
        except LocalctxError as exc:
            self.app.report(exc, "pull")
            return
        self.pulling = True
        self.query_one("#pull-box").remove_class("hidden")
        what = f"preset {ref} ({preset_hub_ref})" if preset_hub_ref else parsed.spec
        self.query_one("#pull-label", Label).update(Text(f"pulling {what} …"))
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


def offer_table(o: PresetOffer) -> Table:
    """A preset before it is pulled: what `localctx presets` says of it, and the command that gets it."""
    t = Table(title=o.name, show_header=False, box=None, expand=True)
    t.add_column("key", style="bold", no_wrap=True)
    t.add_column("value", overflow="fold")
    t.add_row("status", Text(f"not pulled: press p (Pull) or Enter, or run `{o.pull_command}`", style="yellow"))
    t.add_row("repo", o.repo)
    t.add_row("quants", ", ".join(o.quants) + f" (pull takes {o.quant})")
    t.add_row("architecture", o.arch)
    t.add_row("trained context", f"{o.ctx_train:,}")
    t.add_row("supported context", f"{o.max_ctx:,}")
    if o.description:
        t.add_row("about", o.description)
    return t


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
