"""Chat: documents, streaming replies, the token budget, overflow choices and saved sessions.

The conversation is ``services.chat.ChatSession`` (the same object behind `localctx chat`): it renders
the prompt, reuses the KV prefix, refuses or trims by a named policy, and commits each turn to the
store.  This screen only loads (a worker), streams (a thread worker posting deltas), renders, and asks
the user when the service raises ContextOverflowError.  The engine is the screen's: sessions built
on it never close it, so attaching a document or resuming a session does not reload the model.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.text import Text
from textual import getters, on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import Footer, Header, Input, Label, ListView, ProgressBar, Static

from localctx.errors import ContextOverflowError, LocalctxError
from localctx.tui.dialogs import FilePicker, FitDialog, OverflowChoice, OverflowDialog, TextPrompt
from localctx.tui.engine_host import LoadRefused
from localctx.tui.save import check_save_path, write_failed
from localctx.tui.screens._chat_commands import ChatCommands
from localctx.tui.screens._chat_messages import Delta, Finished, Ingesting, Overflowed
from localctx.tui.screens._chat_overflow import after_overflow
from localctx.tui.screens._chat_worker import ChatLoader, LoadRequest
from localctx.tui.widgets import ChatLog, ReplyMessage, TokenMeter
from localctx.tui.widgets.session_list import SessionItem, SessionList

if TYPE_CHECKING:
    from localctx.tui.app import LocalctxApp


class ChatScreen(ChatCommands):
    if TYPE_CHECKING:  # the app as LocalctxApp for the type checker (Textual types it as a plain App)
        app = getters.app(LocalctxApp)

    BINDINGS = [
        Binding("escape", "stop", "Stop"),
        Binding("ctrl+o", "attach", "Attach"),
        Binding("ctrl+n", "new_chat", "New"),
        Binding("ctrl+b", "detach", "Drop docs", show=False),
        Binding("ctrl+r", "sessions", "Sessions", show=False),
        Binding("ctrl+s", "save", "Save"),
        Binding("ctrl+l", "reload", "Reload", show=False),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.loader: ChatLoader = None  # type: ignore[assignment]  # set on mount (it needs the app)
        self.session: Any = None  # services.chat.ChatSession
        self.files: list[Path] = []
        self.reply: ReplyMessage | None = None
        self.state = "idle"  # idle | loading | generating
        self._pending: LoadRequest | None = None
        self._stop = threading.Event()  # set by Esc: the running reply stops at its next token
        self._resend: str | None = None  # a question to ask again after a reload (overflow: raise the context)
        self._previous: LoadRequest | None = None
        self._refused: LoadRequest | None = None  # what the load gate refused (nothing loaded since)

    def compose(self) -> ComposeResult:
        yield Header()
        with Horizontal(id="chat-body"):
            with Vertical(id="chat-side"):
                yield Label("Documents", classes="side-title")
                yield Static("none (ctrl+o attaches)", id="chat-docs")
                yield Label("Sessions", classes="side-title")
                yield SessionList(id="chat-sessions")
            with Vertical(id="chat-main"):
                yield Static("", id="chat-status")
                yield Static("", id="turn-stats")
                yield ProgressBar(id="chat-progress", show_eta=False, classes="hidden")
                yield TokenMeter(id="chat-meter")
                yield ChatLog(id="chat-log")
                yield Input(placeholder="Ask something (Enter sends, Esc stops)", id="chat-input")
        yield Footer(compact=True)

    def on_mount(self) -> None:
        self.sub_title = "Chat"
        self.loader = ChatLoader(self.app.host)
        self.query_one(SessionList).reload()
        self.query_one("#chat-input", Input).focus()
        self._open(LoadRequest.fresh(self.app, self.app.start_files))

    def on_screen_resume(self) -> None:
        if self.loader is None or self.state != "idle":
            return
        want = LoadRequest.engine_key_of(self.app)
        refused = self._refused
        if self.session is None and refused is not None and refused.flags is not None and \
                want != (refused.model, refused.flags):
            self._open(refused.with_app_settings(self.app))  # refused, then Plan changed: load with it now
        elif self.loader.key is not None and want != self.loader.key:
            self.action_reload()  # the model or settings changed on Models/Plan
        elif self.session is not None and self.session.engine is not self.loader.host.engine:
            self._open(LoadRequest.current(self.app, self.session))  # Summarize loaded another model

    def on_model_chosen(self, ref: str) -> None:
        pass  # picked up on resume (on_screen_resume), so a background model pick never interrupts a reply

    def on_unmount(self) -> None:
        self._stop.set()  # the app's EngineHost closes the session and the engine after the reply stops

    # ---- loading -----------------------------------------------------------------------------
    def _set_status(self, text: str, style: str = "") -> None:
        self.query_one("#chat-status", Static).update(Text(text, style=style))

    def _open(self, req: LoadRequest) -> None:
        if self.state != "idle":
            self.notify("wait for the current work to finish (Esc stops a reply)", severity="warning")
            return
        self.state = "loading"
        # what reopens the conversation as it is, should this request fail after the model loaded
        self._previous = LoadRequest.current(self.app, self.session) if self.session is not None else None
        self._set_status(f"loading {req.model_label} …", "italic")
        self._open_worker(req)

    @work(exclusive=True, group="chat-open")
    async def _open_worker(self, req: LoadRequest) -> None:
        def progress(done: int, total: int, eta: str) -> None:
            self.post_message(Ingesting(done, total, eta))

        try:
            session = await self.loader.run(self.loader.open, req, progress)
        except ContextOverflowError as exc:  # self.session stays the previous one (closed): Cancel reopens it
            verdict = await self.loader.run(self.loader.ctx_verdict, req, exc.n_tokens,
                                            self.app.machine)
            self._pending = req
            self.post_message(Overflowed(exc, "documents", verdict=verdict))
            return
        except Exception as exc:  # noqa: BLE001 - every failure becomes a notification
            await self._opened(None, req, exc)
            return
        await self._opened(session, req, None)

    def on_chat_screen_ingesting(self, msg: Ingesting) -> None:
        bar = self.query_one("#chat-progress", ProgressBar)
        bar.remove_class("hidden")
        bar.update(total=msg.total, progress=msg.done)
        expected = f" · expected {msg.eta}" if msg.eta else ""
        self._set_status(f"reading the documents: {msg.done:,} / {msg.total:,} tokens{expected}", "italic")

    async def _opened(self, session: Any, req: LoadRequest, error: BaseException | None) -> None:
        self.state = "idle"
        self.query_one("#chat-progress").add_class("hidden")
        if error is not None:
            self._failed(req, error)
            return
        self._refused = None
        self.session = session
        self.files = [Path(d.path) for d in session.documents]
        log = self.query_one(ChatLog)
        if req.resume_id or req.new_conversation:
            await log.remove_children()
            for t in session.turns:
                await log.add_user(t.user)
                await (await log.add_reply()).finish(t.assistant)
        for note in session.drain_notices():
            await log.add_notice(note)
        self._show_docs()
        self._show_ready()
        self.query_one("#chat-input", Input).focus()
        if self._resend:
            text, self._resend = self._resend, None
            self.query_one("#chat-input", Input).value = ""
            await self.send(text)

    def _failed(self, req: LoadRequest, error: BaseException) -> None:
        """One notification; then back to the conversation as it was when the model is still loaded (a
        document could not be read), or an offer of the largest context that fits (the gate refused)."""
        self.session = self.loader.session  # opening closes the old session first
        self._resend = None
        self.app.report(error, "chat")
        previous, self._previous = self._previous, None
        if isinstance(error, LoadRefused):
            self._refused = req if self.session is None else None
            self._set_status(f"not loaded: {error.n_ctx:,} tokens do not fit this machine; a smaller context "
                             "in Plan (F3) loads when Chat is shown again (ctrl+l retries)", "red")
            if error.largest and req.resume_id is None:
                self.app.push_screen(FitDialog(error.one_line(), error.largest),
                                     lambda n: self._load_at(n, req))
            return
        if previous is not None and previous != req and self.loader.host.engine is not None:
            self._open(previous)
            return
        self._set_status(f"not loaded: {getattr(error, 'message', error)} (ctrl+n starts an empty chat)", "red")

    def _load_at(self, n_ctx: int | None, req: LoadRequest) -> None:
        if n_ctx:
            self.app.use_flags(self.app.with_ctx(n_ctx))
            self._open(req.with_app_settings(self.app))

    def _show_docs(self) -> None:
        docs = self.session.documents if self.session is not None else []
        text = "\n".join(f"• {d.name}" for d in docs) or "none (ctrl+o attaches)"
        self.query_one("#chat-docs", Static).update(Text(text))

    def _show_ready(self) -> None:
        s = self.session
        if s is None:
            return
        eng = s.engine
        rep = s.ingest_report
        bits = [f"{Path(s.model_ref).name if '/' in s.model_ref else s.model_ref}", f"n_ctx {eng.n_ctx:,}"]
        if rep is not None and rep.cache != "off":
            read = ""
            if rep.cache != "hit" and s.ingest_forecast is not None:  # the truth beside the forecast
                from localctx.services.forecast import ingest_eta_text

                read = f", read in {rep.seconds:.1f} s, expected {ingest_eta_text(s.ingest_forecast)}"
            bits.append(f"documents {rep.n_tokens:,} tok (KV cache {rep.cache}{read})")
        if s.session is not None:
            bits.append(f"session {s.session.id}")
        self._set_status(" · ".join(bits))
        self.query_one(TokenMeter).show(s.budget())

    # ---- sessions ----------------------------------------------------------------------------
    def action_sessions(self) -> None:
        self.query_one("#chat-sessions", ListView).focus()

    @on(ListView.Selected, "#chat-sessions")
    def _resume(self, event: ListView.Selected) -> None:
        item = event.item
        if isinstance(item, SessionItem):
            self._open(LoadRequest.resume(self.app, item.session_id))

    # ---- turns -------------------------------------------------------------------------------
    @on(Input.Submitted, "#chat-input")
    async def _submit(self, event: Input.Submitted) -> None:
        text = event.value.strip()
        if not text:
            return
        if self.session is None or self.state != "idle":
            self.notify("the model is not ready yet" if self.session is None else "a reply is still running",
                        severity="warning")
            return
        event.input.value = ""
        if self.session.engine is not self.loader.host.engine:  # replaced (Summarize): reopen, then ask
            self._resend = text
            self._open(LoadRequest.current(self.app, self.session))
            return
        await self.send(text)

    async def send(self, text: str) -> None:
        log = self.query_one(ChatLog)
        await log.add_user(text)
        self.reply = await log.add_reply()
        self.state = "generating"
        self._set_status("thinking … (Esc stops)", "italic")
        self._generate(text)

    @work(exclusive=True, group="chat-generate")
    async def _generate(self, text: str) -> None:
        session, stop = self.session, threading.Event()
        self._stop = stop

        def run() -> None:  # on the engine thread
            for piece in session.send(text, should_stop=stop.is_set):
                self.post_message(Delta(piece))

        try:
            await self.loader.run(run)
        except ContextOverflowError as exc:
            verdict = await self.loader.run(self.loader.ctx_verdict, LoadRequest.current(self.app, session),
                                            exc.n_tokens, self.app.machine)
            self.post_message(Overflowed(exc, "conversation", text, verdict))
            return
        except Exception as exc:  # noqa: BLE001
            self.post_message(Finished(exc))
            return
        self.post_message(Finished())

    async def on_chat_screen_delta(self, msg: Delta) -> None:
        if self.reply is not None:
            await self.query_one(ChatLog).append_delta(self.reply, msg.text)

    async def on_chat_screen_finished(self, msg: Finished) -> None:
        self.state = "idle"
        s = self.session
        stats = s.last_turn if s is not None else None
        if self.reply is not None:
            suffix = " *(stopped)*" if stats is not None and stats.stopped else ""
            if stats is not None and stats.stop_reason == "loop":
                suffix = " *(stopped: it began repeating itself)*"
            await self.reply.finish(suffix)
        self.reply = None
        if msg.error is not None:
            self.app.report(msg.error, "chat")
        for note in s.drain_notices() if s is not None else []:
            await self.query_one(ChatLog).add_notice(note)
        self._show_ready()
        if stats is not None:
            bits = [f"last reply {stats.reply_tokens} tok"]
            if stats.gen_tok_s:
                bits.append(f"{stats.gen_tok_s:.3g} tok/s")
            if stats.ttft_s is not None:
                bits.append(f"first token {stats.ttft_s:.2f} s")
            self.query_one("#turn-stats", Static).update(Text(" · ".join(bits), style="dim"))
        self.query_one(SessionList).reload()

    def action_stop(self) -> None:
        """Esc: the service stops at the next token and commits the partial reply as stopped."""
        if self.state == "generating":
            self._stop.set()

    # ---- overflow ----------------------------------------------------------------------------
    async def on_chat_screen_overflowed(self, msg: Overflowed) -> None:
        from localctx.services.chat_budget import suggest_ctx

        self.state = "idle"
        if msg.what == "conversation":  # take the turn back: the prompt returns to the input
            log = self.query_one(ChatLog)
            if self.reply is not None:
                await self.reply.remove()
                self.reply = None
            users = log.query("UserMessage")
            if users:
                await users.last().remove()
            self.query_one("#chat-input", Input).value = msg.text
        else:
            self._set_status("the documents do not fit: choose what to do", "bold red")
        dialog = OverflowDialog(msg.error.message, what=msg.what, suggested_ctx=suggest_ctx(msg.error.n_tokens),
                                ctx_verdict=msg.verdict)
        self.app.push_screen(dialog, lambda choice: self._overflow_choice(choice, msg))

    def _overflow_choice(self, choice: OverflowChoice | None, msg: Overflowed) -> None:
        failed, self._pending = self._pending, None
        step = after_overflow(choice, what=msg.what, text=msg.text, failed=failed,
                              previous=LoadRequest.current(self.app, self.session),
                              model=self.app.model_ref, flags=self.app.flags,
                              files=self.files)
        if step.notice:
            self.notify(step.notice, severity="warning")
        if step.flags is not None:
            self.app.use_flags(step.flags)
        if step.resend is not None:
            self._resend = step.resend  # asked again once the bigger context is loaded
        if step.open is not None:
            self._open(step.open)
        if step.summarize:
            self.app.summarize_file(step.summarize_file)
        if step.policy is not None and self.session is not None:
            if step.policy == "clear":
                self.session.clear()
                self.query_one(ChatLog).remove_children()
            else:
                self.session.overflow = step.policy
            self.query_one("#chat-input", Input).value = ""
            self.call_later(self.send, step.send or "")

    # ---- documents, new chat, save, reload ----------------------------------------------------
    def action_attach(self) -> None:
        self.app.push_screen(FilePicker("Attach a document"), self._attach_file)

    def _attach_file(self, path: Path | None) -> None:
        if path is None:
            return
        if self.session is not None and self.session.turns:
            self.notify("documents go at the start of a conversation: a new conversation begins", title="attach")
        self._open(LoadRequest.fresh(self.app, [*self.files, path], new_conversation=True))

    def action_detach(self) -> None:
        self._open(LoadRequest.fresh(self.app, [], new_conversation=True))

    def action_new_chat(self) -> None:
        if self.state != "idle":
            return
        if self.session is None:  # nothing open (a failed load): an empty chat with the current settings
            self._open(LoadRequest.fresh(self.app, [], new_conversation=True))
            return
        old = self.session.clear()
        self.query_one(ChatLog).remove_children()
        self._show_ready()
        if old:
            self.notify(f"session {old} is saved; a new conversation begins (documents stay)")

    def action_reload(self) -> None:
        """Reload with the model and settings chosen on Plan/Models (the conversation resumes, or the
        documents of a load the gate refused are read)."""
        base = self._refused if self.session is None and self._refused is not None else \
            LoadRequest.current(self.app, self.session)
        self._open(base.with_app_settings(self.app))

    def action_save(self) -> None:
        if self.session is None:
            return
        sid = self.session.session.id if self.session.session else "unsaved"
        self.app.push_screen(TextPrompt("Save the conversation as Markdown", value=f"localctx-chat-{sid}.md",
                                        ok="Save"), self._save)

    def _save(self, path: str | None) -> None:
        if not path or self.session is None:
            return
        try:
            target = check_save_path(path)
            try:
                written = self.session.save(target)
            except OSError as exc:
                raise write_failed(target, exc) from None
        except LocalctxError as exc:
            self.app.report(exc, "save")
            return
        self.notify(f"saved {written}", title="save", markup=False)
