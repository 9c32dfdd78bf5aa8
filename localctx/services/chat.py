"""ChatSession: a conversation with documents, shared by the CLI (`localctx chat`/`ask`) and the TUI.

The documents go once, at the start, into the system message (the model's own chat template renders
it; a model without one gets a plain completion prompt, or ``--chat-template``).  Each turn
re-renders the whole conversation and hands its tokens to ``engine.ingest``, which keeps the
longest common prefix in the KV cache: turn N evaluates
only what is new since turn N-1.  The document prefix's KV state is saved to disk after its first
ingest (services/state_cache.py) and loaded on the next open instead of being evaluated again.
Completed turns are committed to the store before ``send`` returns.  Nothing is truncated silently:
see services/chat_budget.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctx.core.chat_templates import PLAIN_STOPS
from localctx.core.conversation import ChatOptions
from localctx.core.loops import Loop, LoopGuard
from localctx.core.settings import RuntimeSettings
from localctx.engine.base import Cancelled, Engine, Progress
from localctx.errors import LocalctxError
from localctx.services import chat_budget as _budget
from localctx.services import chat_parts
from localctx.services import prompt as _prompt
from localctx.services.chat_budget import Budget, DocText, check_policy
from localctx.services.chat_parts import Exchange, IngestReport, LoadOptions, TurnStats, read_document, read_documents
from localctx.services.state_cache import StateCache, model_fingerprint, state_key
from localctx.store import Document, Session, Store

if TYPE_CHECKING:
    from localctx.services.runtime import Flags

__all__ = ["Cancelled", "ChatOptions", "ChatSession", "IngestReport", "TurnStats", "read_document", "read_documents"]


class ChatSession:
    """One conversation on one loaded engine.  Build it with ``ChatSession.open``."""

    def __init__(self, engine: Engine, *, model_ref: str, documents: Sequence[Document] = (),
                 options: ChatOptions | None = None, store: Store | None = None,
                 state_cache: StateCache | None = None, session: Session | None = None,
                 turns: Sequence[tuple[str, str]] = (), owns_engine: bool = False) -> None:
        self.engine = engine
        self.model_ref = model_ref
        #: the model as the user named it and the flags this engine runs with, for hints that repeat a command
        self.hint_ref = _budget.command_ref(model_ref, getattr(engine, "settings", None))
        self.documents = list(documents)
        self.options = options = options or ChatOptions()
        self.system = options.system
        self.overflow = check_policy(options.overflow)
        self.store = store
        self.state_cache = state_cache
        self.session = session
        self.turns = [Exchange(u, a) for u, a in turns]
        self._kept = list(range(len(self.turns)))  # turns still in the prompt (policies may drop some)
        self.reply_tokens = min(options.reply_tokens, max(16, engine.n_ctx // 4))
        self.sampling = options.sampling
        self.question_room = options.question_room
        self.notices: list[str] = []  # what a policy cut, what was rebuilt: for the front end to show
        self._shown_notices: list[str] = []  # those drained already (all_notices returns both)
        self.last_turn: TurnStats | None = None
        self.ingest_report: IngestReport | None = None
        self.ingest_forecast: tuple[float, float, str] | None = None  # (s, band, label) before evaluating
        self.load_seconds = 0.0
        self._owns_engine = owns_engine
        self.owns_store = False  # closed with the chat; dropped when it fails (chat_parts.committed)
        self._cancel = False
        self._stops = tuple(options.stop) + (() if engine.has_chat_template else PLAIN_STOPS)
        self._placed_docs = [DocText(d.name, d.text) for d in self.documents]
        self.notices += _budget.context_notices(engine, options.reply_tokens, self.reply_tokens)
        self._prefix = self._fit_documents()

    # ---- construction --------------------------------------------------------------------------
    @classmethod
    def open(cls, model: str | Path | None, files: Sequence[str | Path] = (), settings: RuntimeSettings | None = None,
             options: ChatOptions | None = None, resume_id: str | None = None, *,
             flags: Flags = None, engine: Engine | None = None, store: Store | None = None, persist: bool = True,
             state_cache: StateCache | None = None, use_state_cache: bool = True, force: bool = False,
             on_plan: Callable[[Any], None] | None = None) -> ChatSession:
        """Load the model (or use ``engine``), read the files or the resumed session, and check that the
        documents fit.  ``flags``: the CLI's RuntimeFlags (flags > per-model config > defaults) when
        ``settings`` is not given.  The model loads through the one load gate (runtime.load_planned):
        a context that does not fit is refused before llama.cpp allocates anything unless ``force``;
        ``on_plan(run_plan)`` sees the plan first (to say which saved settings apply).
        ``options``: reply room, sampling, stops, system prompt, overflow policy and chat template
        (a built-in name or a Jinja file).  Nothing is evaluated yet: call ``prepare`` (with a progress
        callback) or just ``send``."""
        options = options or ChatOptions()
        check_policy(options.overflow)
        from localctx.core.chat_templates import resolve_template, template_origin

        # a template that cannot be read fails before the load
        load = LoadOptions(force, on_plan, resolve_template(options.chat_template),
                           template_origin(options.chat_template))
        store, owns_store, unsaved = chat_parts.open_store(persist, store, resume_id)
        try:
            chat = cls._open(model, files, settings, options, resume_id, flags, engine, store, state_cache,
                             use_state_cache, load)
        except BaseException:
            if owns_store and store is not None:
                store.close()
            raise
        chat.owns_store = owns_store
        if unsaved:
            chat.notices.insert(0, unsaved)
        return chat

    @classmethod
    def _open(cls, model: str | Path | None, files: Sequence[str | Path], settings: RuntimeSettings | None,
              options: ChatOptions, resume_id: str | None, flags: Flags, engine: Engine | None,
              store: Store | None, state_cache: StateCache | None, use_state_cache: bool,
              load: LoadOptions) -> ChatSession:
        session = None
        turns: list[tuple[str, str]] = []
        notes: list[str] = []
        if resume_id:
            r = chat_parts.resume(store, resume_id, files, settings, flags, options)
            session, docs, notes, settings, options, turns = r.session, r.documents, r.notes, r.settings, \
                r.options, r.turns
            model = model or session.model
        else:
            docs, notes = read_documents(files, chat_parts.known_ctx(settings, flags, engine))
        if model is None:
            from localctx.models.catalog import default_reference

            model = default_reference()
        if options.system is None:  # the settings file's system prompt, else the built-in one
            from localctx.models.settings_file import default_system

            options = replace(options, system=default_system())
        t0 = time.perf_counter()
        owns = engine is None
        if engine is None:
            from localctx.services import runtime

            rp = runtime.make_plan(str(model), flags, settings=settings, sampling=options.sampling_flags)
            if load.on_plan is not None:
                load.on_plan(rp)
            engine = runtime.load_planned(rp, force=load.force)
        if load.template is not None:
            engine.set_chat_template(load.template, load.template_origin)
        if state_cache is None and use_state_cache:  # documents may come later too (/file)
            state_cache = StateCache()
        try:
            from localctx.services.runtime import resolve_sampling

            sampling = resolve_sampling(engine.path, options.sampling_flags, base=options.sampling)
            options = replace(options, sampling=sampling.settings)
            chat = cls(engine, model_ref=str(model), documents=docs, options=options, store=store,
                       state_cache=state_cache, session=session, turns=turns, owns_engine=owns)
        except BaseException:
            if owns:
                engine.close()
            raise
        chat.load_seconds = time.perf_counter() - t0
        chat.notices[:0] = notes
        return chat

    # ---- rendering -----------------------------------------------------------------------------
    def _messages(self, turns: Sequence[int], question: str | None, docs: Sequence[DocText] | None = None
                  ) -> list[dict[str, str]]:
        return _prompt.document_messages(self.system, self._placed_docs if docs is None else docs,
                                         [(self.turns[i].user, self.turns[i].assistant) for i in turns], question,
                                         self.options.layout)

    def _tokens(self, messages: list[dict[str, str]], generation: bool) -> list[int]:
        return _prompt.prompt_tokens(self.engine, messages, generation=generation)

    def _prefix_tokens(self, docs: Sequence[DocText]) -> list[int]:
        """Tokens of the system message with the documents, cut to what every later turn shares."""
        return _prompt.stable_prefix(self.engine, self._messages([], None, docs))

    def _fit_documents(self) -> list[int]:
        n_ctx = self.engine.n_ctx
        original = list(self._placed_docs)
        excess = 0
        notes: list[str] = []
        for _attempt in range(5):
            prefix = self._prefix_tokens(self._placed_docs)
            need = len(prefix) + self.reply_tokens + self.question_room
            if need <= n_ctx:
                self.notices += notes
                return prefix
            parts = {"documents": len(prefix), "reply reserve": self.reply_tokens, "question room": self.question_room}
            if self.overflow == "refuse" or not original:
                raise _budget.overflow_error(self.hint_ref, "documents" if original else "conversation", parts, n_ctx,
                                     self._plan_note(need))
            excess += need - n_ctx + 32  # the policy's marker costs tokens too: cut a little more, re-measure
            self._placed_docs, notes = _budget.trim_documents(
                original, excess, self.overflow,
                lambda t: self.engine.tokenize(t, add_bos=False, special=False), self.engine.detokenize)
        raise _budget.overflow_error(self.hint_ref, "documents", parts, n_ctx)

    def _plan_note(self, needed: int) -> str:
        return _budget.plan_note(self.engine, needed)

    # ---- budget --------------------------------------------------------------------------------
    def budget(self) -> Budget:
        docs = len(self._prefix)
        history = 0
        if self._kept:
            history = len(self._tokens(self._messages(self._kept, None), generation=False)) - docs
        return Budget(n_ctx=self.engine.n_ctx, documents=docs, history=max(history, 0), reply=self.reply_tokens,
                      has_documents=bool(self.documents))

    # ---- changed during the chat ------------------------------------------------------------------
    def change_prefix(self, system: str | None, documents: Sequence[Document]) -> None:
        """Another system prompt or document list in front of the conversation (``/system``, ``/file``):
        fitted as at open (the overflow policy), refused with the numbers when the history would leave
        no room for a question, kept in the stored session, evaluated by the next ``prepare``/``send``.
        A refusal leaves the chat as it was."""
        before = (self.system, self.documents, self._placed_docs, self._prefix, len(self.notices))
        self.system, self.documents = system, list(documents)
        self._placed_docs = [DocText(d.name, d.text) for d in self.documents]
        try:
            self._prefix = self._fit_documents()
            b = self.budget()
            if self.overflow == "refuse" and b.free < self.question_room:
                parts = {"documents": b.documents, "history": b.history, "reply reserve": b.reply,
                         "question room": self.question_room}
                raise _budget.overflow_error(self.hint_ref, "conversation", parts, b.n_ctx,
                                             self._plan_note(sum(parts.values())))
        except LocalctxError:
            self.system, self.documents, self._placed_docs, self._prefix = before[:4]
            del self.notices[before[4]:]
            raise
        self.ingest_report = None
        chat_parts.commit_prefix(self)

    # ---- ingest --------------------------------------------------------------------------------
    def forecast_ingest(self) -> tuple[float, float, str] | None:
        """Expected (seconds, band, "measured"|"scaled, not measured") to evaluate the documents
        from an empty cache, from this machine's speed calibration; None without one."""
        from localctx.services.forecast import expected_ingest

        if not self.documents:
            return None
        self.ingest_forecast = expected_ingest(self.engine, 0, len(self._prefix))
        return self.ingest_forecast

    def prepare(self, progress: Progress | None = None,
                should_stop: Callable[[], bool] | None = None) -> IngestReport:
        """Put the document prefix in the KV cache: from a saved state when one matches, else by
        evaluating it (then saving the state for next time).  ``should_stop`` ends the evaluation
        within a fraction of a second (engine Cancelled, a KeyboardInterrupt; nothing is saved)."""
        t0 = time.perf_counter()
        cache, key, status, reason = self.state_cache if self.documents else None, "", "off", ""
        if cache is not None:
            key = state_key(model_fingerprint(self.engine.path), self.engine.settings,
                            self.engine.n_ctx, self._prefix)
            restored = cache.load(self.engine, key, self._prefix)
            status, reason = restored.status, restored.reason
            if status == "rebuilt":
                self.notices.append(f"the saved KV state was unusable ({reason}); rebuilding it")
        evaluated = 0
        if status != "hit":
            from localctx.services.forecast import observe_counters

            c0 = self.engine.counters()
            evaluated = self.engine.ingest(self._prefix, progress=progress, should_stop=should_stop)
            observe_counters(self.engine, c0, self.engine.counters(), prompt_start=len(self._prefix) - evaluated,
                             gen_start=len(self._prefix))
            if cache is not None:
                cache.save(self.engine, key, model=self.engine.path.name, documents=[d.name for d in self.documents])
                if cache.last_error:
                    self.notices.append(f"{cache.last_error}; the next open evaluates the documents again")
        self.ingest_report = IngestReport(len(self._prefix), evaluated, time.perf_counter() - t0, status, reason)
        return self.ingest_report

    # ---- turns ---------------------------------------------------------------------------------
    def _fit_turn(self, text: str) -> list[int]:
        n_ctx = self.engine.n_ctx
        while True:
            toks = self._tokens(self._messages(self._kept, text), generation=True)
            if len(toks) + self.reply_tokens <= n_ctx:
                return toks
            drop = _budget.next_turn_to_drop(self._kept, self.overflow)
            if drop is None:
                b = self.budget()
                parts = {"documents": b.documents, "history": b.history,
                         "this message": len(toks) - b.documents - b.history, "reply reserve": self.reply_tokens}
                raise _budget.overflow_error(self.hint_ref, "conversation", parts, n_ctx,
                                             self._plan_note(sum(parts.values())))
            gone = self._kept.pop(drop)
            self.notices.append(f"turn {gone + 1} left the context to make room (--overflow {self.overflow}); "
                                "it stays in the saved session")

    def send(self, text: str, should_stop: Callable[[], bool] | None = None,
             progress: Progress | None = None) -> Iterator[str]:
        """Stream the reply to ``text``.  The turn (even a stopped one, with its partial reply) is
        committed to the store when the stream ends; ``last_turn`` then holds its numbers."""
        self._cancel = False

        def stop() -> bool:
            return self._cancel or (should_stop is not None and should_stop())

        if self.ingest_report is None:
            self.prepare(should_stop=stop)
        t0 = time.perf_counter()
        prompt = self._fit_turn(text)
        c0 = self.engine.counters()
        try:
            evaluated = self.engine.ingest(prompt, progress=progress, should_stop=stop)
        except Cancelled:  # stopped before the reply began: nothing to commit, earlier turns are kept
            self.last_turn = TurnStats(len(prompt), 0, 0, None, None, None, time.perf_counter() - t0, True,
                                       "cancelled")
            return
        max_tokens = min(self.reply_tokens, self.engine.n_ctx - len(prompt))
        pieces: list[str] = []
        first: float | None = None
        guard = LoopGuard() if self.options.loop_guard else None

        args = (text, pieces, prompt, evaluated, c0, t0)
        tokens = self.engine.stream(max_tokens, sampling=self.sampling, stop=self._stops, should_stop=stop)
        try:
            for raw in tokens:
                piece = raw if guard is None else guard.feed(raw)
                if guard is not None and guard.loop is not None:
                    close = getattr(tokens, "close", None)  # the sampler could not stop it: end the reply
                    if close is not None:
                        close()
                    break
                if first is None:
                    first = time.perf_counter()
                if piece:
                    pieces.append(piece)
                    yield piece
            rest = guard.flush() if guard is not None else ""
            if rest:
                pieces.append(rest)
                yield rest
        except (GeneratorExit, KeyboardInterrupt):  # the caller stopped reading: keep what was said
            self._finish(*args, first, stopped_by_caller=True)
            raise
        self._finish(*args, first, stopped_by_caller=False, loop=guard.loop if guard is not None else None)

    def _finish(self, text: str, pieces: list[str], prompt: list[int], evaluated: int, c0: Any, t0: float,
                first: float | None, stopped_by_caller: bool, loop: Loop | None = None) -> None:
        reply = "".join(pieces)
        c1 = self.engine.counters()
        from localctx.services.forecast import observe_counters

        observe_counters(self.engine, c0, c1, prompt_start=len(prompt) - evaluated, gen_start=len(prompt))
        reason = "cancelled" if stopped_by_caller else "loop" if loop is not None else self.engine.stop_reason
        if loop is not None and not stopped_by_caller:
            self.notices.append(f"reply stopped: it began repeating itself (\"{chat_parts.short(loop.span)}\"); "
                                "what came before the repetition is kept")
        n_reply = max(0, len(self.engine.cached_tokens) - len(prompt))
        self.last_turn = chat_parts.turn_stats(c0, c1, len(prompt), evaluated, n_reply, t0, first, reason)
        self.turns.append(Exchange(text, reply))
        self._kept.append(len(self.turns) - 1)
        chat_parts.commit_turn(self, text, reply)

    def ask(self, text: str) -> str:
        return "".join(self.send(text))

    def cancel(self) -> None:
        """Stop the reply in flight at the next token (safe to call from another thread)."""
        self._cancel = True

    def clear(self) -> str | None:
        """Forget the history (the documents stay, their KV is reused); the old session stays saved.
        Returns the id of the session that was closed, if any."""
        old = self.session.id if self.session else None
        self.turns, self._kept, self.session = [], [], None
        return old

    def save(self, path: Path | None = None) -> Path:
        """Write the conversation as Markdown (it is already in the store; this is for sharing)."""
        return chat_parts.write_markdown(self, path)

    def drain_notices(self) -> list[str]:
        out, self.notices = self.notices, []
        self._shown_notices += out
        return out

    def all_notices(self) -> list[str]:
        """Every notice of this session, shown already or not: what a script's JSON must carry."""
        self.drain_notices()
        return list(self._shown_notices)

    def document_report(self) -> list[dict[str, Any]]:
        """Each document and what of it is in the prompt: all of it, or what a policy kept and dropped."""
        return [{"name": d.name, "path": d.path, "sha256": d.sha256, **placed.to_json()}
                for d, placed in zip(self.documents, self._placed_docs, strict=True)]

    def close(self) -> None:
        if self._owns_engine:
            self.engine.close()
        if self.owns_store and self.store is not None:
            self.store.close()

    def __enter__(self) -> ChatSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

