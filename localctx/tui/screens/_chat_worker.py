"""The Chat screen's model handling, kept out of the widget code: one engine reused across sessions.

A ``LoadRequest`` says what the user asked for (model + flags, documents, overflow policy, or a saved
session to resume); ``ChatLoader.open`` loads the engine only when the model or its settings changed,
and builds the ``ChatSession`` through ``ChatSession.open`` (the CLI's path).

Everything that touches the engine or the session runs on ONE thread, the loader's executor: the
session's SQLite store refuses a connection used from another thread, and Textual's thread workers
come from a shared pool (any thread).  Screens ``await loader.run(fn)`` from async workers instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from localctx.cli._runtime_opts import RuntimeFlags
from localctx.core.settings import RuntimeSettings
from localctx.errors import LocalctxError


@dataclass(frozen=True)
class LoadRequest:
    model: str | None  # None with resume_id: the model the session was saved with
    flags: RuntimeFlags | None  # None with resume_id: the settings the session was saved with
    files: tuple[Path, ...] = ()
    overflow: str = "refuse"
    resume_id: str | None = None
    new_conversation: bool = False  # clear the log when it opens
    options: tuple[tuple[str, Any], ...] = ()  # ChatSession.open options (reply_tokens, temperature, seed)

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


def _options(app: Any) -> tuple[tuple[str, Any], ...]:
    return tuple(sorted(getattr(app, "chat_options", {}).items()))


class ChatLoader:
    """Owns the loaded engine; opens ChatSessions on it (called from worker threads, one at a time)."""

    def __init__(self) -> None:
        self.engine: Any = None
        self.session: Any = None  # the open ChatSession (closed here, on the engine thread, when replaced)
        self.key: tuple[str, RuntimeFlags] | None = None  # (model, flags) the engine was loaded for
        self._engine_id: tuple[str, str] | None = None
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="localctx-chat")

    async def run(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run ``fn(*args)`` on the engine thread and await its result."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, fn, *args)

    def _target(self, req: LoadRequest) -> tuple[str, RuntimeSettings | None, RuntimeFlags | None]:
        if req.model is None or req.flags is None:
            from localctx.store import Store

            with Store() as store:
                saved = store.session(req.resume_id or "")
            return saved.model, RuntimeSettings(**saved.settings), None
        return req.model, None, req.flags

    def _engine_for(self, model: str, settings: RuntimeSettings | None, flags: RuntimeFlags | None) -> Any:
        from localctx.services.runtime import load_engine

        ident = (model, repr(settings) if settings is not None else repr(flags))
        if self.engine is not None and self._engine_id == ident:
            return self.engine
        if self.engine is not None:
            self.engine.close()
            self.engine = None
        self.engine = load_engine(model, settings, flags=flags)
        self._engine_id = ident
        self.key = (model, flags) if flags is not None else None
        return self.engine

    def open(self, req: LoadRequest, progress: Callable[[int, int], None] | None = None) -> Any:
        """Load (when needed), build the ChatSession and put its documents in the KV cache."""
        from localctx.services.chat import ChatSession

        model, settings, flags = self._target(req)
        if self.session is not None:  # its store connection lives on this thread: close it here
            self.session.close()
            self.session = None
        engine = self._engine_for(model, settings, flags)
        session = ChatSession.open(model, list(req.files), overflow=req.overflow, resume_id=req.resume_id,
                                   engine=engine, **dict(req.options))
        try:
            session.prepare(progress=progress)
        except BaseException:
            session.close()
            raise
        self.session = session
        return session

    def ctx_verdict(self, req: LoadRequest, n_tokens: int, machine: Any) -> str:
        """The planner's word on the context the overflow error suggests: plan and memory verdict."""
        from localctx.services.chat_budget import suggest_ctx
        from localctx.services.memory import plan_for_machine, verdict
        from localctx.services.models import inspect_model
        from localctx.services.runtime import plan_for, resolve_settings

        n_ctx = suggest_ctx(n_tokens)
        try:
            model = req.model or (str(self.engine.path) if self.engine is not None else None)
            info = inspect_model(model)
            settings, ext = plan_for(info, resolve_settings(info, replace(req.flags or RuntimeFlags(), ctx=n_ctx)))
            v = verdict(plan_for_machine(info, settings, machine), machine)
        except LocalctxError as exc:
            return f"at {n_ctx:,} tokens: {exc.one_line()}"
        text = f"at {n_ctx:,} tokens — {v.summary}"
        if ext is not None and getattr(ext, "method", "none") != "none":
            text += f"; extension {ext.method} ×{ext.factor:g}"
            if getattr(ext, "warning", None):
                text += f" ({ext.warning})"
        return text

    def close(self) -> None:
        """Close the session and the engine (call on the engine thread: ``shutdown`` does)."""
        if self.session is not None:
            self.session.close()
            self.session = None
        if self.engine is not None:
            self.engine.close()
            self.engine = None
            self.key = self._engine_id = None

    def shutdown(self) -> None:
        """Close everything after any work in flight, on the engine thread; don't block the UI."""
        self.executor.submit(self.close)
        self.executor.shutdown(wait=False)
