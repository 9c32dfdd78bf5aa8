"""The localctx Textual app: four screens (modes) over the services the CLI uses.

``make_app`` is the one composition root: ``run_tui`` (``localctx`` / ``localctx tui``) and the tests
build the app through it, so tests exercise what users run.  The machine's memory is injected (tests
pass a fixed MachineMemory so snapshots do not depend on this host's free RAM); nothing is read or
written at import time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import Any

from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.screen import Screen

from localctx.core.conversation import ChatOptions
from localctx.core.flags import RuntimeFlags
from localctx.errors import LocalctxError
from localctx.models.catalog import DEFAULT_MODEL, default_reference
from localctx.services.machine import MachineMemory
from localctx.tui.engine_host import EngineHost
from localctx.tui.screens import ChatScreen, ModelsScreen, PlanScreen, SummarizeScreen
from localctx.tui.state_warnings import StateWarningRoute

ERROR_TIMEOUT = 10.0  # seconds an error notification stays up

#: mode name -> (key, title) in the order the footer shows them
SCREENS: dict[str, tuple[str, str]] = {
    "models": ("f2", "Models"),
    "plan": ("f3", "Plan"),
    "chat": ("f4", "Chat"),
    "summarize": ("f5", "Summarize"),
}


class LocalctxApp(App[None]):
    """Holds what the screens share: the chosen model, the runtime flags the Plan screen edits (Chat
    and Summarize load with them), the machine's memory, and the one loaded engine (``host``)."""

    CSS_PATH = "localctx.tcss"
    TITLE = "localctx"
    MODES = {"models": ModelsScreen, "plan": PlanScreen, "chat": ChatScreen, "summarize": SummarizeScreen}
    BINDINGS = [
        *(Binding(key, f"app.switch_mode('{mode}')", title, show=True) for mode, (key, title) in SCREENS.items()),
        Binding("f1", "toggle_keys", "Keys", show=False),  # the footer has no room at 80 columns: ^p lists it
        Binding("ctrl+q", "quit", "Quit", priority=True),
    ]

    def __init__(self, *, machine: MachineMemory | None = None, model: str | None = None,
                 flags: RuntimeFlags | None = None, mode: str = "plan", files: Iterable[str | Path] = (),
                 chat_options: ChatOptions | None = None, summary_options: dict[str, Any] | None = None) -> None:
        # the first screen: set before App.__init__, which builds the screen stack of DEFAULT_MODE
        # DEFAULT_MODE is a ClassVar in Textual's types but read per instance: this changes this app only
        self.DEFAULT_MODE = mode if mode in self.MODES else "plan"  # type: ignore[misc]  # see above
        super().__init__()
        self._machine = machine
        self.model_ref: str = model or _default_reference()
        self.flags: RuntimeFlags = flags or RuntimeFlags()
        self.start_files: list[Path] = [Path(f) for f in files]
        self.pending_summarize: Path | None = None  # handed from Chat's overflow dialog to Summarize
        #: the conversation's options (reply room, sampling, system prompt, ...) and SummarizeOptions
        #: fields (map_tokens, final_tokens, chunk_tokens) that the screens have no control for
        self.chat_options: ChatOptions = chat_options or ChatOptions()
        self.summary_options: dict[str, Any] = dict(summary_options or {})
        # catalog reads from worker threads one at a time: resolving a bundled model may assemble its
        # file (gemma-3-270m: 240 MB from chunk packages) and two concurrent assemblies corrupt it
        self._catalog_lock = threading.Lock()
        self._reported: dict[tuple[str, str], float] = {}  # (title, error line) -> when it was last shown
        self._state_warnings = StateWarningRoute(self)  # skipped kept files: notifications while the app runs
        self.host = EngineHost(machine)  # the one loaded model, shared by Chat and Summarize; loads through the gate

    # ---- shared state -------------------------------------------------------------------------
    @property
    def machine(self) -> MachineMemory:
        """This machine's memory, probed once (or the one injected by tests)."""
        if self._machine is None:
            from localctx.services.machine import machine_memory

            self._machine = machine_memory()
        return self._machine

    def list_models(self) -> list[Any]:
        """services.models.list_models, serialized (call from a worker thread)."""
        from localctx.services.models import list_models

        with self._catalog_lock:
            return list_models()

    def inspect_model(self, ref: str | None) -> Any:
        """services.models.inspect_model, serialized (call from a worker thread)."""
        from localctx.services.models import inspect_model

        with self._catalog_lock:
            return inspect_model(ref)

    def use_model(self, ref: str) -> None:
        """Make ``ref`` the model every screen works on (Plan shows it; Chat/Summarize load it)."""
        self.model_ref = ref
        for screen in self._installed_mode_screens():
            hook = getattr(screen, "on_model_chosen", None)
            if hook is not None:
                hook(ref)

    def use_flags(self, flags: RuntimeFlags) -> None:
        self.flags = flags

    def with_ctx(self, n_ctx: int) -> RuntimeFlags:
        return replace(self.flags, ctx=n_ctx)

    def summarize_file(self, path: Path | None) -> None:
        """Open Summarize with ``path`` filled in (the overflow dialog's "summarize instead")."""
        self.pending_summarize = path
        self.switch_mode("summarize")

    def _installed_mode_screens(self) -> list[Screen]:
        out: list[Screen] = []
        for stack in self._screen_stacks.values():  # private: textual 8.2 keeps one stack per mode
            out += [s for s in stack if isinstance(s, (ModelsScreen, PlanScreen, ChatScreen, SummarizeScreen))]
        return out

    def report(self, exc: BaseException, title: str = "localctx") -> None:
        """A LocalctxError (or anything else) as an error notification: the app never crashes on one.

        One notification per distinct error: the same line again while its toast is still up (a retry,
        a second screen hitting the same bad file) is not stacked a second time."""
        text = exc.one_line() if isinstance(exc, LocalctxError) else f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        if now - self._reported.get((title, text), -ERROR_TIMEOUT) < ERROR_TIMEOUT:
            return
        self._reported[(title, text)] = now
        self.notify(text, title=title, severity="error", timeout=ERROR_TIMEOUT, markup=False)

    # ---- the footer at 80 columns ---------------------------------------------------------------
    #: below this width the footer drops "^p palette" (^p still opens it) so every screen key fits
    NARROW_FOOTER = 100

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """The footer names the other screens' keys, not the key of the screen it is on (False hides it;
        the key has nothing to do there): at 80 columns the four screen keys and a screen's own keys do
        not fit together."""
        if action == "switch_mode" and parameters and parameters[0] == self.current_mode:
            return False
        return True

    def on_resize(self, event: Any) -> None:
        self.set_class(event.size.width < self.NARROW_FOOTER, "-narrow")

    # ---- lifecycle ----------------------------------------------------------------------------
    def on_load(self) -> None:
        self._state_warnings.start()  # on load, before the screens' workers (they start as the screens mount)

    def on_unmount(self) -> None:
        self._state_warnings.stop()
        self.host.shutdown()

    def action_toggle_keys(self) -> None:
        if self.screen.query("HelpPanel"):
            self.action_hide_help_panel()
        else:
            self.action_show_help_panel()

    def get_system_commands(self, screen: Screen) -> Iterable[SystemCommand]:
        yield from super().get_system_commands(screen)
        for mode, (key, title) in SCREENS.items():
            yield SystemCommand(f"Go to {title}", f"Switch to the {title} screen ({key.upper()})",
                                lambda m=mode: self.switch_mode(m))
        yield from getattr(screen, "palette_commands", lambda: ())()


def _default_reference() -> str:
    """The default model's reference (the settings file's, else smollm2); the screens say what is wrong
    with it when it cannot be used, so an unset or broken default never keeps the app from opening."""
    try:
        return default_reference()
    except LocalctxError:
        return DEFAULT_MODEL


def make_app(*, machine: MachineMemory | None = None, model: str | None = None, flags: RuntimeFlags | None = None,
             mode: str = "plan", files: Iterable[str | Path] = (), chat_options: ChatOptions | None = None,
             summary_options: dict[str, Any] | None = None) -> LocalctxApp:
    """Build the app exactly as ``localctx tui`` does (tests call this too)."""
    return LocalctxApp(machine=machine, model=model, flags=flags, mode=mode, files=files, chat_options=chat_options,
                       summary_options=summary_options)


def run_tui(model: str | None = None, *, flags: RuntimeFlags | None = None, mode: str = "plan",
            files: Iterable[str | Path] = (), chat_options: ChatOptions | None = None) -> None:
    """Entry point of ``localctx`` with no arguments and of ``localctx tui`` (refused off a terminal)."""
    from localctx.tui.terminal import require_terminal

    require_terminal()
    make_app(model=model, flags=flags, mode=mode, files=files, chat_options=chat_options).run()
