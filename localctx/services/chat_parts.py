"""The pieces of a chat that are not the conversation itself: documents read through the one
extractor, and the numbers a turn and an ingest report."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from localctx.store import Document


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
