"""The Chat screen's model handling, kept out of the widget code: one engine reused across sessions.

A ``LoadRequest`` says what the user asked for (model + flags, documents, overflow policy, or a saved
session to resume); ``ChatLoader.open`` loads the engine only when the model or its settings changed,
and builds the ``ChatSession`` through ``ChatSession.open`` (the CLI's path).

Everything here runs on the app's engine thread (tui/engine_host.py): the session's SQLite store
refuses a connection used from another thread.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from localctx.core.conversation import ChatOptions
from localctx.core.flags import RuntimeFlags
from localctx.core.settings import RuntimeSettings
from localctx.errors import LocalctxError
from localctx.tui.engine_host import EngineHost


@dataclass(frozen=True)
class LoadRequest:
    model: str | None  # None with resume_id: the model the session was saved with
    flags: RuntimeFlags | None  # None with resume_id: the settings the session was saved with
    files: tuple[Path, ...] = ()
    overflow: str = "refuse"
    resume_id: str | None = None
    new_conversation: bool = False  # clear the log when it opens
    options: ChatOptions = field(default_factory=ChatOptions)  # reply room, sampling, ...; overflow apart

    @staticmethod
    def engine_key_of(app: Any) -> tuple[str, RuntimeFlags]:
        return (app.model_ref, app.flags)

    @classmethod
    def fresh(cls, app: Any, files: Sequence[Path], *, new_conversation: bool = False) -> LoadRequest:
        return cls(app.model_ref, app.flags, tuple(files), new_conversation=new_conversation,
                   options=_options(app))

    @classmethod
    def resume(cls, app: Any, session_id: str) -> LoadRequest:
        return cls(None, None, resume_id=session_id, new_conversation=True, options=_options(app))

    @classmethod
    def current(cls, app: Any, session: Any) -> LoadRequest:
        """What reopens ``session`` as it is: its stored conversation, or its documents when unsaved."""
        if session is not None and session.session is not None:
            return cls.resume(app, session.session.id)
        files = tuple(Path(d.path) for d in session.documents) if session is not None else ()
        return cls(app.model_ref, app.flags, files, new_conversation=True, options=_options(app))

    def with_app_settings(self, app: Any) -> LoadRequest:
        return replace(self, model=app.model_ref, flags=app.flags)

    def with_overflow(self, policy: str) -> LoadRequest:
        return replace(self, overflow=policy)

    @property
    def model_label(self) -> str:
        return self.model or "the saved session's model"


def _options(app: Any) -> ChatOptions:
    options = getattr(app, "chat_options", None)
    return options if isinstance(options, ChatOptions) else ChatOptions()


class ChatLoader:
    """Opens ChatSessions on the app's engine (EngineHost); every method runs on the engine thread."""

    def __init__(self, host: EngineHost) -> None:
        self.host = host
        self.session: Any = None  # the open ChatSession (its store is closed here, when replaced)
        host.on_close.append(self.close_session)  # a session never outlives its engine

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        return await self.host.run(fn, *args)

    @property
    def key(self) -> tuple[str, RuntimeFlags] | None:
        return self.host.key

    def _target(self, req: LoadRequest) -> tuple[str, RuntimeSettings | None, RuntimeFlags | None]:
        if req.model is None or req.flags is None:
            from localctx.store import Store

            with Store() as store:
                saved = store.session(req.resume_id or "")
            return saved.model, RuntimeSettings(**saved.settings), None
        return req.model, None, req.flags

    def open(self, req: LoadRequest, progress: Callable[[int, int, str], None] | None = None) -> Any:
        """Load (when needed), build the ChatSession and put its documents in the KV cache;
        ``progress`` gets the tokens done, their total and the forecast's expected wait ("" without one)."""
        from localctx.services.chat import ChatSession
        from localctx.services.forecast import ingest_eta_text

        model, settings, flags = self._target(req)
        self.close_session()
        engine = self.host.engine_for(model, settings, flags)
        session = ChatSession.open(model, list(req.files), options=replace(req.options, overflow=req.overflow),
                                   resume_id=req.resume_id, engine=engine)
        try:
            eta = session.forecast_ingest()
            eta_text = ingest_eta_text(eta) if eta is not None else ""
            session.prepare(progress=None if progress is None else lambda done, total: progress(done, total, eta_text))
        except BaseException:
            session.close()
            raise
        self.session = session
        return session

    def close_session(self) -> None:
        if self.session is not None:
            self.session.close()
            self.session = None

    def ctx_verdict(self, req: LoadRequest, n_tokens: int, machine: Any) -> str:
        """The load gate's word on the context the overflow error suggests (services.runtime.context_for:
        the same plan and verdict as ``localctx plan`` and the Plan screen)."""
        from localctx.core.model_info import read_model_info
        from localctx.models.catalog import resolve_model
        from localctx.services.chat_budget import suggest_ctx
        from localctx.services.runtime import context_for, resolve_settings

        n_ctx = suggest_ctx(n_tokens)
        try:
            model, settings, flags = self._target(req)
            info = read_model_info(resolve_model(model))
            rp = context_for(info, settings if settings is not None else resolve_settings(info, flags), n_ctx,
                             machine)
        except LocalctxError as exc:
            return f"at {n_ctx:,} tokens: {exc.one_line()}"
        text = f"at {n_ctx:,} tokens — {rp.verdict.summary}"
        ext = rp.extension
        if ext.method != "none":
            text += f"; extension {ext.method} ×{ext.factor:g}"
            if ext.warning:
                text += f" ({ext.warning})"
        return text
