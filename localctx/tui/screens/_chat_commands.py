"""The Chat screen's command palette: `localctx chat`'s in-chat commands (``/system``, ``/file``,
``/set``, ``/show``) offered as palette entries, each calling the same service function
(services.chat_commands) on the engine thread and showing what it says in the chat log."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from textual import work
from textual.app import SystemCommand
from textual.screen import Screen

from localctx.errors import LocalctxError
from localctx.tui.dialogs import FilePicker, TextPrompt
from localctx.tui.screens._chat_messages import Ingesting
from localctx.tui.widgets import ChatLog

if TYPE_CHECKING:
    from localctx.tui.screens._chat_worker import ChatLoader


class ChatCommands(Screen[None]):
    """Mixed into ChatScreen, which owns ``session``, ``state``, ``files`` and ``loader``."""

    session: Any
    state: str
    files: list[Path]
    loader: ChatLoader
    if TYPE_CHECKING:  # ChatScreen's own
        def _show_docs(self) -> None: ...

        def _show_ready(self) -> None: ...

    def palette_commands(self) -> Iterator[SystemCommand]:
        yield SystemCommand("Chat: set the system prompt", "For the following turns, with its cost in tokens "
                            "(/system)", self.action_system_prompt)
        yield SystemCommand("Chat: add a document", "To this conversation, which goes on (/file)", self.action_add_file)
        yield SystemCommand("Chat: set a sampling value", "temp, top-k, seed, ... in llama.cpp's names (/set)",
                            self.action_set_sampling)
        yield SystemCommand("Chat: show plan, settings and budget", "What this chat runs with (/show, /model)",
                            self.action_show)

    def _command_ready(self) -> bool:
        if self.session is None or self.state != "idle":
            self.notify("the model is not ready yet" if self.session is None else "wait for the current work to "
                        "finish (Esc stops a reply)", severity="warning")
            return False
        return True

    def action_system_prompt(self) -> None:
        from localctx.services.chat_commands import set_system

        if self._command_ready():
            self.app.push_screen(TextPrompt("System prompt for the following turns", value=self.session.system or "",
                                            ok="Set"), lambda text: self._chat_command(set_system, text))

    def action_add_file(self) -> None:
        from localctx.services.chat_commands import add_file

        if self._command_ready():
            self.app.push_screen(FilePicker("Add a document to this chat"),
                                 lambda path: self._chat_command(add_file, path))

    def action_set_sampling(self) -> None:
        from localctx.core.chat_commands import SET_NAMES
        from localctx.services.chat_commands import set_sampling

        if self._command_ready():
            self.app.push_screen(TextPrompt("Set a sampling value", placeholder="temp 0.7", ok="Set",
                                            help="one of: " + ", ".join(SET_NAMES)),
                                 lambda text: self._chat_command(set_sampling, text))

    def action_show(self) -> None:
        from localctx.services.chat_commands import describe_model, show

        if self._command_ready():
            self._chat_command(lambda chat, _: f"{describe_model(chat)}\n{show(chat)}", "")

    def _chat_command(self, effect: Callable[[Any, Any], str], arg: Any) -> None:
        if arg is not None and self._command_ready():
            self.state = "loading"
            self._run_chat_command(effect, arg)

    @work(exclusive=True, group="chat-command")
    async def _run_chat_command(self, effect: Callable[[Any, Any], str], arg: Any) -> None:
        """On the engine thread, as a reply runs: the effect, then the documents read (with progress)
        when it changed them, so that the next question does not wait for them."""
        session = self.session

        def run() -> str:
            said = effect(session, arg)
            if session.ingest_report is None and session.documents:
                session.prepare(progress=lambda done, total: self.post_message(Ingesting(done, total, "")))
            return said

        app: Any = self.app
        said: str | None = None
        try:
            said = await self.loader.run(run)
        except LocalctxError as exc:  # a bad value, an unreadable file, a document that does not fit
            app.report(exc, "chat")
        self.query_one("#chat-progress").add_class("hidden")
        log = self.query_one(ChatLog)
        if said:
            await log.add_notice(said)
        for note in session.drain_notices():
            await log.add_notice(note)
        self.files = [Path(d.path) for d in session.documents]
        # a reload of this chat keeps the sampling set here
        app.chat_options = replace(app.chat_options, sampling=session.options.sampling,
                                   sampling_flags=session.options.sampling_flags)
        self._show_docs()
        self._show_ready()
        self.state = "idle"  # last: the screen shows the change before it takes the next command
