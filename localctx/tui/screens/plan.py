"""Plan: choose a model and runtime settings; see what llama.cpp will allocate before loading anything.

Every number comes from the load gate the CLI's `plan` and every loading command use: the form becomes
RuntimeFlags (validated by the same code as the CLI flags), ``services.runtime.resolve_settings`` layers
the saved per-model settings under them, ``services.runtime.plan_settings`` plans extension, memory and
the verdict (with its safety margin), and ``services.memory.max_context`` finds the largest context
that fits, the same number the gate offers when it refuses.  Planning is arithmetic (milliseconds), but
it runs once typing pauses, not per keystroke; reading a model's header runs in a worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from rich.console import Group, RenderableType
from rich.padding import Padding
from rich.text import Text
from textual import getters, on, work
from textual.app import ComposeResult, SystemCommand
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.message import Message
from textual.screen import Screen
from textual.timer import Timer
from textual.widgets import Footer, Header, Input, Label, Select, Static

from localctx.core.flags import RuntimeFlags
from localctx.core.memory import MemoryPlan
from localctx.core.model_info import ModelInfo
from localctx.core.rope import ExtensionPlan
from localctx.core.settings import EXTEND_METHODS, KV_TYPES, RuntimeSettings
from localctx.errors import LocalctxError
from localctx.tui.widgets import MemoryGauge
from localctx.tui.widgets.format import human_bytes, try_parse_tokens

if TYPE_CHECKING:
    from localctx.services.forecast import SpeedForecast
    from localctx.services.memory import Verdict
    from localctx.services.runtime import SamplingPlan
    from localctx.tui.app import LocalctxApp

FLASH = (("auto", "auto"), ("on", "on"), ("off", "off"))
#: seconds of no typing in a text field before the plan is redone (a plan per keystroke queued behind
#: the keys on a busy machine, and a half-typed value is not worth an error toast)
REPLAN_DELAY = 0.4


@dataclass(frozen=True)
class PlanOutcome:
    """Everything one recompute produced (kept on the screen for tests and for Chat/Summarize)."""

    settings: RuntimeSettings
    memory: MemoryPlan
    verdict: Verdict
    max_ctx: int
    extension: ExtensionPlan
    saved_line: str | None = None  # "using saved settings for this model: ..." when any apply
    forecast: SpeedForecast | None = None  # how long this context takes on this machine
    sampling: SamplingPlan | None = None  # what Chat samples with (the app's flags over the saved values)


class PlanScreen(Screen[None]):
    if TYPE_CHECKING:  # the app as LocalctxApp for the type checker (Textual types it as a plain App)
        app = getters.app(LocalctxApp)

    """The form on the left, the gauge and the plans on the right."""

    BINDINGS = [
        Binding("ctrl+r", "max_ctx", "Max ctx"),
        Binding("ctrl+t", "chat", "Chat"),
    ]

    class InfoLoaded(Message):
        """A model's header was read (in a worker)."""

        def __init__(self, ref: str, info: ModelInfo | None, error: BaseException | None) -> None:
            super().__init__()
            self.ref, self.info, self.error = ref, info, error

    def __init__(self) -> None:
        super().__init__()
        self.info: ModelInfo | None = None
        self.outcome: PlanOutcome | None = None
        self.error: str | None = None
        self._last_notified: str | None = None
        self._replan: Timer | None = None  # pending re-plan after typing
        self._applied: RuntimeFlags | None = None  # the flags the last plan gave the app
        self.replans = 0  # plans made (each a service call; typing makes one when it pauses)
        self._base: RuntimeFlags = RuntimeFlags()  # the app's flags when the form was filled
        self._shown: dict[str, object] = {}  # the form's values then

    # ---- layout ------------------------------------------------------------------------------
    def compose(self) -> ComposeResult:
        ref = self.app.model_ref
        yield Header()
        with Horizontal(id="plan-body"):
            with VerticalScroll(id="plan-form"):
                with Grid(id="plan-grid"):
                    yield Label("Model")
                    yield Select([(ref, ref)], value=ref, allow_blank=False, id="model")
                    yield Label("Context")
                    yield Input(placeholder="trained", id="ctx")
                    yield Label("K cache")
                    yield Select([(t, t) for t in KV_TYPES], value="f16", allow_blank=False,
                                 id="type_k")
                    yield Label("V cache")
                    yield Select([(t, t) for t in KV_TYPES], value="f16", allow_blank=False,
                                 id="type_v")
                    yield Label("Flash attn")
                    yield Select(FLASH, value="auto", allow_blank=False, id="flash")
                    yield Label("GPU layers")
                    yield Input(placeholder="all", id="ngl")
                    yield Label("Extension")
                    yield Select([(m, m) for m in EXTEND_METHODS], value="auto", allow_blank=False,
                                 id="extend")
            with VerticalScroll(id="plan-result"):
                yield Static(id="plan-title")
                yield MemoryGauge(id="gauge")
                yield Static(id="plan-verdict")
                yield Static(id="plan-forecast")
                yield Static(id="plan-sampling")
                yield Static(id="plan-maxctx")
                yield Static(id="plan-extension")
                yield Static(id="plan-notes")
        yield Footer(compact=True)

    def on_screen_resume(self) -> None:
        """Another screen changed the flags (Chat raised the context, or took the largest that fits):
        show what they are now instead of planning the old form."""
        if self.info is None or self.app.flags == self._applied:
            return
        from localctx.services.runtime import resolve_settings

        try:
            self._fill_form(resolve_settings(self.info, self.app.flags))
        except LocalctxError as exc:
            self._show_error(exc.one_line())
            return
        self.recompute()

    def on_mount(self) -> None:
        self.sub_title = "Plan"
        self._load_catalog()
        self._load_info(self.app.model_ref)

    # ---- workers: catalog and model header ---------------------------------------------------
    @work(thread=True, exclusive=True, group="plan-catalog")
    def _load_catalog(self) -> None:
        try:
            names = [r.name for r in self.app.list_models() if r.error is None]
        except Exception as exc:  # noqa: BLE001 - the picker keeps the current model
            self.app.call_from_thread(self.app.report, exc, "models")
            return
        self.app.call_from_thread(self._set_catalog, names)

    def _set_catalog(self, names: list[str]) -> None:
        sel = self.query_one("#model", Select)
        current = self.app.model_ref
        if current not in names:
            names = [current, *names]
        with self.prevent(Select.Changed):
            sel.set_options([(n, n) for n in names])
            sel.value = current

    @work(thread=True, exclusive=True, group="plan-info")
    def _load_info(self, ref: str) -> None:
        try:
            self.post_message(self.InfoLoaded(ref, self.app.inspect_model(ref), None))
        except Exception as exc:  # noqa: BLE001 - LocalctxError or not: a notification, never a crash
            self.post_message(self.InfoLoaded(ref, None, exc))

    def on_plan_screen_info_loaded(self, msg: InfoLoaded) -> None:
        if msg.ref != self.app.model_ref:
            return  # a stale answer for a model the user already left
        if msg.error is not None:
            self.info = None
            self._show_error(msg.error.one_line() if isinstance(msg.error, LocalctxError) else
                             f"{type(msg.error).__name__}: {msg.error}")
            return
        assert msg.info is not None  # InfoLoaded carries the header or the error
        self.info = msg.info
        from localctx.services.runtime import resolve_settings

        try:
            self._fill_form(resolve_settings(msg.info, self.app.flags))
        except LocalctxError as exc:
            self._show_error(exc.one_line())
            return
        self.recompute()

    def on_model_chosen(self, ref: str) -> None:
        """Called by the app when another screen picks a model."""
        sel = self.query_one("#model", Select)
        with self.prevent(Select.Changed):
            if ref not in [v for _, v in sel._options]:  # private: textual 8.2 Select keeps (label, value)
                sel.set_options([(ref, ref), *sel._options])
            sel.value = ref
        self.info = None
        self._load_info(ref)

    # ---- form <-> flags ----------------------------------------------------------------------
    def _fill_form(self, s: RuntimeSettings) -> None:
        """Show the settings the model would run with (flags > per-model config > defaults), and remember
        them: only controls the user then changes become flags, so an untouched form changes nothing."""
        with self.prevent(Input.Changed, Select.Changed):
            self.query_one("#ctx", Input).value = str(s.n_ctx) if s.n_ctx else ""
            self.query_one("#type_k", Select).value = s.type_k
            self.query_one("#type_v", Select).value = s.type_v
            self.query_one("#flash", Select).value = {None: "auto", True: "on", False: "off"}[s.flash_attn]
            self.query_one("#ngl", Input).value = "" if s.n_gpu_layers is None else str(s.n_gpu_layers)
            self.query_one("#extend", Select).value = s.extend
        self._base = self.app.flags
        self._shown = self._form_values()

    def _form_values(self) -> dict[str, Any]:
        """The controls as RuntimeFlags fields (raises LocalctxError for what it cannot read)."""
        ctx_text = self.query_one("#ctx", Input).value
        ctx = None
        if ctx_text.strip():
            ctx = try_parse_tokens(ctx_text)
            if ctx is None:
                raise LocalctxError(f"context '{ctx_text}' is not a number of tokens", "type e.g. 8192 or 32k")
        ngl_text = self.query_one("#ngl", Input).value.strip().lower()
        ngl = None
        if ngl_text and ngl_text != "all":
            try:
                ngl = int(ngl_text)
            except ValueError:
                raise LocalctxError(f"GPU layers '{ngl_text}' is not a number", "type a layer count or 'all'") from None
        fa = str(self.query_one("#flash", Select).value)
        return {"ctx": ctx, "cache_type_k": str(self.query_one("#type_k", Select).value),
                "cache_type_v": str(self.query_one("#type_v", Select).value),
                "flash_attn": None if fa == "auto" else fa, "gpu_layers": ngl,
                "extend": str(self.query_one("#extend", Select).value)}

    def flags(self) -> RuntimeFlags:
        """The app's flags with the controls the user changed since the form was filled."""
        values = self._form_values()
        changed = {k: v for k, v in values.items() if v != self._shown.get(k)}
        return replace(self._base, **changed)

    @on(Select.Changed, "#model")
    def _model_changed(self, event: Select.Changed) -> None:
        ref = str(event.value)
        if ref != self.app.model_ref:
            self.app.use_model(ref)

    @on(Select.Changed, "#type_k, #type_v, #flash, #extend")
    def _setting_changed(self) -> None:
        self.recompute()

    @on(Input.Changed, "#ctx, #ngl")
    def _typed(self) -> None:
        """Re-plan once typing pauses: every key stays in the field, one plan (or one error) at the end."""
        if self._replan is not None:
            self._replan.stop()
        self._replan = self.set_timer(REPLAN_DELAY, self.recompute)

    # ---- the plan ----------------------------------------------------------------------------
    def recompute(self) -> None:
        """Plan with the load gate's services and show it; an invalid form shows its error instead."""
        if self._replan is not None:
            self._replan.stop()
            self._replan = None
        if self.info is None:
            return
        from localctx.services.memory import max_context
        from localctx.services.runtime import plan_settings, resolve_sampling, resolve_settings, saved_in_effect

        machine = self.app.machine
        options = self.app.chat_options
        self.replans += 1
        try:
            flags = self.flags()
            rp = plan_settings(self.info, resolve_settings(self.info, flags), machine,
                               saved_in_effect(self.info, flags))
            # as `plan` and the chat service resolve it: the app's sampling flags over the saved values
            rp.sampling = resolve_sampling(self.info.path, options.sampling_flags, base=options.sampling)
            best = max_context(self.info, rp.settings, machine)
        except LocalctxError as exc:
            self._show_error(exc.one_line())
            return
        except Exception as exc:  # noqa: BLE001 - a planner bug on an odd model must not kill the app
            self._show_error(f"planner failed: {type(exc).__name__}: {exc}")
            return
        self.error = self._last_notified = None
        self.outcome = PlanOutcome(rp.settings, rp.memory, rp.verdict, best, rp.extension, rp.saved_line,
                                   rp.forecast, rp.sampling)
        self.app.use_flags(flags)
        self._applied = flags
        self._render_outcome()

    def _show_error(self, text: str) -> None:
        self.error = text
        self.query_one("#plan-verdict", Static).update(Text(text, style="bold red"))
        if text != self._last_notified:  # once per distinct problem, not per keystroke
            self._last_notified = text
            self.notify(text, severity="error", title="plan", markup=False)

    def _render_outcome(self) -> None:
        o, info = self.outcome, self.info
        assert o is not None and info is not None
        lay = o.memory.layout
        title = Text.assemble((self.app.model_ref, "bold"), f"  {info.arch} · {info.quant} · "
                              f"{human_bytes(info.file_size)} · trained {info.ctx_train:,} · ",
                              (f"context {lay.n_ctx:,}", "bold"),
                              f" · K {lay.type_k} / V {lay.type_v} · FA {'on' if lay.flash_attn else 'off'}")
        self.query_one("#plan-title", Static).update(title)
        self.query_one("#gauge", MemoryGauge).show(o.memory, o.verdict)
        v = o.verdict
        style = "bold yellow" if v.fits is None else "bold green" if v.fits else "bold red"
        self.query_one("#plan-verdict", Static).update(Text(v.summary, style=style))
        self.query_one("#plan-forecast", Static).update(_forecast_text(o.forecast, o.settings,
                                                                       self.app.model_ref))
        sampling = Text.assemble(("Sampling: ", "bold"), o.sampling.shown) if o.sampling is not None else ""
        self.query_one("#plan-sampling", Static).update(sampling)
        from localctx.services.memory import MAX_SEARCH_CTX

        if not o.max_ctx:
            best = "Not even 256 tokens fit this machine with these settings"
        elif o.max_ctx >= MAX_SEARCH_CTX:
            best = f"Largest context that fits this machine: {o.max_ctx:,} tokens or more (the search stops there)"
        else:
            best = f"Largest context that fits this machine: {o.max_ctx:,} tokens"
        self.query_one("#plan-maxctx", Static).update(Text(best + "  (ctrl+r uses it)", style="bold"))
        self.query_one("#plan-extension", Static).update(_extension_text(o.extension))
        notes = ([o.saved_line] if o.saved_line else []) + list(o.memory.notes) + list(v.notes)
        self.query_one("#plan-notes", Static).update(
            Text("\n".join(f"• {n}" for n in notes), style="dim") if notes else "")

    # ---- actions -----------------------------------------------------------------------------
    def action_max_ctx(self) -> None:
        if self.outcome is not None and self.outcome.max_ctx:
            self.query_one("#ctx", Input).value = str(self.outcome.max_ctx)

    def action_chat(self) -> None:
        if self.outcome is not None:
            self.app.switch_mode("chat")

    def palette_commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Use the largest context that fits", "Set Context to the planner's maximum",
                            self.action_max_ctx)


def _forecast_text(sf: SpeedForecast | None, settings: RuntimeSettings, model_ref: str) -> RenderableType:
    """The speed forecast under the gauge: ingest, generation at that depth, the reply; or how to get one."""
    from localctx.core.forecast import human_seconds
    from localctx.services.forecast import speed_flags

    f = sf.forecast if sf is not None else None
    if f is None:
        flags = speed_flags(settings)
        return Text(f"Speed: not calibrated for these settings: localctx bench {model_ref}"
                    + (f" {flags}" if flags else ""), style="dim")
    source = "measured" if f.source == "measured" else f"scaled from {f.calibrated_on}, not measured"
    return Text.assemble(("Speed ", "bold"), f"({source}, ±{f.band:.0%}): read {f.document_tokens:,} tokens in ",
                         (f"~{human_seconds(f.ingest_s)}", "bold"), ", then ", (f"{f.gen_tok_s:,.1f} tok/s", "bold"),
                         f"; a {f.reply_tokens}-token reply ~{human_seconds(f.reply_s)}")


def _extension_text(ext: ExtensionPlan) -> RenderableType:
    """The context-extension plan in words: method, factor, parameters, reason, quality warning."""
    method, factor = ext.method, ext.factor
    lines: list[RenderableType] = [Text.assemble(("Context extension: ", "bold"),
                                                 method + (f" × {factor:g}" if factor and factor > 1 else ""))]

    def indented(text: str, style: str = "") -> None:
        lines.append(Padding(Text(text, style=style), (0, 0, 0, 2)))

    params = ext.parameters
    if params:
        indented(", ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()))
    if ext.reason:
        indented(ext.reason, "dim")
    if ext.warning:
        indented(f"⚠ {ext.warning}", "bold yellow")
    for n in ext.notes:
        indented(f"• {n}", "dim")
    return Group(*lines)
