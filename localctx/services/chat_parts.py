"""The pieces of a chat that are not the conversation itself: documents read through the one
extractor, the numbers a turn and an ingest report, a resumed session's parts, and the store that
may fail under a chat (a full disk: the chat goes on unsaved, and says so once)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctx.store import Document, Session, Store, StoreError

if TYPE_CHECKING:
    from localctx.core.conversation import ChatOptions
    from localctx.core.settings import RuntimeSettings
    from localctx.engine.base import Counters
    from localctx.services.chat import ChatSession


@dataclass(frozen=True)
class IngestReport:
    """How the document prefix got into the KV cache."""

    n_tokens: int
    evaluated: int  # tokens llama.cpp evaluated (0 when the saved state was loaded)
    seconds: float
    cache: str  # hit | miss | rebuilt | off (no documents)
    reason: str = ""  # why a saved state was rebuilt

    @property
    def tok_s(self) -> float | None:
        return self.evaluated / self.seconds if self.evaluated and self.seconds > 0 else None


@dataclass(frozen=True)
class TurnStats:
    prompt_tokens: int  # the whole rendered conversation this turn
    evaluated_tokens: int  # of which llama.cpp evaluated (the rest was reused from the KV cache)
    reply_tokens: int
    ttft_s: float | None  # send() to the first piece of the reply
    prompt_tok_s: float | None
    gen_tok_s: float | None
    total_s: float
    stopped: bool  # cut short by the user
    stop_reason: str | None  # eos | length | stop | context | cancelled | loop (core.loops: repeated itself)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Exchange:
    """One turn's text: the user's message and the assistant's reply."""

    user: str
    assistant: str


def read_document(path: Path | str, n_ctx: int | None = None) -> Document:
    """A document as ``summarize`` reads it (text, Markdown, PDF, HTML, EPUB; ``-`` = standard input),
    through the one extractor; LocalctxError (exit 2) for a missing, binary, unsupported or too large
    file (the cap follows ``n_ctx`` where it is known), and EmptyDocumentError for one without text."""
    from localctx.core.docread import max_bytes_for
    from localctx.core.extract import STDIN, extract

    x = extract(path, max_bytes_for(n_ctx))
    where = "(stdin)" if str(path) == STDIN else str(x.path.resolve())
    return Document(sha256=x.sha256, name=x.path.name, path=where, text=x.text)


def known_ctx(settings: Any, flags: Any, engine: Any) -> int | None:
    """The context documents go into, where it is known before the model loads (it caps their size):
    a loaded engine's, the given settings', or ``--ctx``."""
    for n in (getattr(engine, "n_ctx", None), getattr(settings, "n_ctx", None), getattr(flags, "ctx", None)):
        if isinstance(n, int) and n > 0:
            return n
    return None


def read_documents(files: Sequence[str | Path], n_ctx: int | None = None) -> tuple[list[Document], list[str]]:
    """The documents that have text, and a notice for each empty one (left out, never silently)."""
    from localctx.core.extract import EmptyDocumentError

    docs, notes = [], []
    for f in files:
        try:
            docs.append(read_document(f, n_ctx))
        except EmptyDocumentError as exc:
            notes.append(f"{exc.message}; it is left out of the context")
    return docs, notes


@dataclass(frozen=True)
class LoadOptions:
    """How ChatSession.open loads a model: past the memory gate or not, who sees the plan, template."""

    force: bool = False
    on_plan: Callable[[Any], None] | None = None
    template: str | None = None
    template_origin: str | None = None  # how errors name the template (None: the model file's own)


def resumed_documents(docs: Sequence[Document]) -> tuple[list[Document], list[str]]:
    """A resumed session's documents, each under the name of the file it was read from (the store
    keeps one row per content, named by whichever file brought it first), and a notice for each file
    that changed or is gone since: the conversation goes on from the text stored with it either way."""
    import hashlib
    from dataclasses import replace

    out, notes = [], []
    for d in docs:
        if d.path == "(stdin)" or not d.path:
            out.append(d)
            continue
        path = Path(d.path)
        d = replace(d, name=path.name)
        out.append(d)
        try:
            now = hashlib.sha256(path.read_bytes()).hexdigest()
        except FileNotFoundError:
            notes.append(f"{d.name}: the file is gone ({path}); continuing from the text stored with the session")
            continue
        except OSError as exc:
            notes.append(f"{d.name}: cannot read {path} ({exc.strerror}); continuing from the stored text")
            continue
        if now != d.sha256:
            notes.append(f"{d.name}: the file changed since this session read it; continuing from the stored "
                         f"text (to read it again, start a new chat with --file {path})")
    return out, notes


@dataclass(frozen=True)
class Resumed:
    """What a saved session brings back: itself, its documents (and notices about their files), its
    runtime settings unless flags given now replace them, its system prompt, its turns."""

    session: Session
    documents: list[Document]
    notes: list[str]
    settings: RuntimeSettings | None
    options: ChatOptions
    turns: list[tuple[str, str]]


def resume(store: Store | None, resume_id: str, files: Sequence[str | Path], settings: RuntimeSettings | None,
           flags: Any, options: ChatOptions) -> Resumed:
    from dataclasses import replace

    from localctx.core.flags import RuntimeFlags
    from localctx.core.settings import RuntimeSettings
    from localctx.errors import LocalctxError

    if files:
        raise LocalctxError("--file cannot be combined with --resume", "a session keeps its own documents")
    if store is None:
        raise LocalctxError("--resume needs the session store (not available with persist=False)")
    session = store.session(resume_id)
    docs, notes = resumed_documents(session.documents)
    if settings is None and not (isinstance(flags, RuntimeFlags) and flags.overrides()):
        # the settings the session ran with (its extension plan applied); runtime flags given now
        # replace them as a whole: re-planning on top of a plan would keep stale RoPE values
        settings = RuntimeSettings(**session.settings)
    if options.system is None:
        options = replace(options, system=session.system)
    turns = [(t.user, t.assistant) for t in store.turns(session.id)]
    return Resumed(session, docs, notes, settings, options, turns)


# ---- the store under a chat --------------------------------------------------------------------
def unsaved_notice(exc: StoreError) -> str:
    return f"{exc.message}: this chat goes on without saving its history — {exc.hint}" if exc.hint else \
        f"{exc.message}: this chat goes on without saving its history"


def open_store(persist: bool, store: Store | None, resume_id: str | None) -> tuple[Store | None, bool, str | None]:
    """The store a chat writes to, whether the chat owns it, and a notice when it cannot be opened: a
    full, read-only or damaged store leaves a new chat unsaved (the answers still come); a resumed one
    needs it, so the error stands."""
    if not persist or store is not None:
        return store, False, None
    try:
        return Store(), True, None
    except StoreError as exc:
        if resume_id:
            raise
        return None, False, unsaved_notice(exc)


def _store_turn(chat: ChatSession, text: str, reply: str) -> None:
    if chat.store is None:
        return
    if chat.session is None:
        chat.session = chat.store.create_session(str(chat.engine.path), chat.engine.settings.to_json(),
                                                 chat.documents, chat.system, chat.overflow)
    t = chat.last_turn
    assert t is not None  # set before the commit
    chat.store.add_turn(chat.session.id, text, reply, prompt_tokens=t.prompt_tokens,
                        evaluated_tokens=t.evaluated_tokens, reply_tokens=t.reply_tokens,
                        ttft_ms=None if t.ttft_s is None else t.ttft_s * 1000, gen_tok_s=t.gen_tok_s,
                        stopped=t.stopped)


def _store_prefix(chat: ChatSession) -> None:
    if chat.store is not None and chat.session is not None:
        chat.store.set_prefix(chat.session.id, chat.system, chat.documents)


def committed(chat: ChatSession, write: Callable[[], None]) -> None:
    """Run one store write; a store that fails now (the disk filled up) is dropped with one notice and
    the chat goes on unsaved: the reply was already given."""
    try:
        write()
    except StoreError as exc:
        if chat.owns_store and chat.store is not None:
            chat.store.close()
        chat.store, chat.owns_store = None, False
        chat.notices.append(unsaved_notice(exc))


def commit_turn(chat: ChatSession, text: str, reply: str) -> None:
    committed(chat, lambda: _store_turn(chat, text, reply))


def commit_prefix(chat: ChatSession) -> None:
    """The system prompt and the documents as they are now, for a resume to see the same chat."""
    committed(chat, lambda: _store_prefix(chat))


# ---- turns ---------------------------------------------------------------------------------------
def restated_passage(chat: ChatSession, question: str) -> str | None:
    """The passage of the chat's documents its prompt layout restates beside ``question`` (None: none)."""
    from localctx.services import prompt

    return prompt.restated_passage(prompt.system_text(chat.system, chat._placed_docs), question, chat.options.layout)


def short(text: str, limit: int = 40) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[:limit - 1] + "…"


def turn_stats(c0: Counters, c1: Counters, prompt: int, evaluated: int, reply: int, t0: float,
               first: float | None, reason: str | None) -> TurnStats:
    """One turn's numbers from llama.cpp's counters before and after it."""
    import time

    dp, dg = c1.n_prompt_eval - c0.n_prompt_eval, c1.n_gen - c0.n_gen
    tp, tg = c1.t_prompt_ms - c0.t_prompt_ms, c1.t_gen_ms - c0.t_gen_ms
    return TurnStats(prompt_tokens=prompt, evaluated_tokens=evaluated, reply_tokens=reply,
                     ttft_s=None if first is None else first - t0,
                     prompt_tok_s=dp / tp * 1000 if dp and tp > 0 else None,
                     gen_tok_s=dg / tg * 1000 if dg and tg > 0 else None,
                     total_s=time.perf_counter() - t0, stopped=reason == "cancelled", stop_reason=reason)


def write_markdown(chat: ChatSession, path: Path | None) -> Path:
    """The conversation as Markdown (it is already in the store; this is for sharing)."""
    from localctx.core.outpath import check_output_path
    from localctx.errors import LocalctxError

    sid = chat.session.id if chat.session else "unsaved"
    path = check_output_path(path if path else Path.cwd() / f"localctx-chat-{sid}.md", flag="/save")
    lines = [f"# localctx chat {sid}", "", f"- model: `{chat.engine.path.name}` (n_ctx {chat.engine.n_ctx})"]
    lines += [f"- document: `{d.path}` (sha256 {d.sha256[:12]})" for d in chat.documents]
    for t in chat.turns:
        lines += ["", "## You", "", t.user, "", "## Assistant", "", t.assistant]
    try:
        path.write_text("\n".join(lines) + "\n")
    except OSError as exc:
        raise LocalctxError(f"/save {path}: {exc.strerror or exc}") from None
    return path
