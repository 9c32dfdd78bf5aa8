"""Chat messages -> the tokens the engine evaluates: the one step shared by ``chat``, ``ask``, the TUI
and the HTTP server, so the same messages evaluate the same tokens whichever door they came in by
(and a KV state saved by one is found by the others).

Documents go into the system message, each in a ``<document name="...">`` element after the
instruction to answer from them.  The model's own chat template renders the messages (a model without
one gets a plain completion prompt, or ``--chat-template``); the BOS token is added once.

Where the question sits relative to long documents is a layout (``LAYOUTS``).  Every layout keeps the
document prefix identical across questions (the KV cache and the saved states depend on it): what a
layout may change is the user message after the documents.  ``reminder`` restates a short
instruction there, in front of each question asked with documents; ``excerpt`` (the default)
also restates the passage of the documents that best matches the question (core.excerpt), so the
fact sits next to the question however deep in a long document it is.  Measured by
scripts/bench_answers.py (docs/benchmarks.md, "answers"): small models then answer from the
documents more often and more briefly than with the bare question after them.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict
from collections.abc import Sequence
from functools import lru_cache
from typing import Protocol

from localctx.core.conversation import DEFAULT_LAYOUT, LAYOUTS
from localctx.core.excerpt import best_passage
from localctx.engine.base import Engine

DEFAULT_SYSTEM = "You are a helpful assistant."
DOCS_INTRO = "Answer using the documents below; say so when they do not contain the answer."
#: restated in front of each question asked with documents (the ``reminder`` layout); "one or two
#: sentences" keeps a small model from rambling on past the answer (README: "What does localctx do?")
DOCS_REMINDER = "Answer in one or two sentences, using only the documents above."
#: the user message of the ``reminder`` layout: where the question goes relative to the instruction
REMINDER_TEMPLATE = DOCS_REMINDER + "\n\n{question}"
#: the ``excerpt`` layout's words in front of the restated passage
EXCERPT_LABEL = "A passage from the documents that may help:"
_DOC_BODY = re.compile(r'<document name="[^"\n]*">\n(.*?)\n</document>', re.DOTALL)


Message = dict[str, str]


class NamedText(Protocol):
    """A document as the prompt sees it: its name and its (possibly trimmed) text."""

    @property
    def name(self) -> str: ...

    @property
    def text(self) -> str: ...


def system_text(system: str | None, docs: Sequence[NamedText]) -> str:
    """The system message: the user's system prompt (or the default), then the documents."""
    base = system or DEFAULT_SYSTEM
    if not docs:
        return base
    body = "\n\n".join(f'<document name="{d.name}">\n{d.text}\n</document>' for d in docs)
    return f"{base}\n{DOCS_INTRO}\n\n{body}"


def user_text(question: str, *, documents: bool, layout: str = DEFAULT_LAYOUT, source: str = "") -> str:
    """A user message as the model sees it: with documents and the ``reminder`` layout, the short
    instruction then the question; with ``excerpt``, also the passage of ``source`` (the system
    message holding the documents) that best matches the question, when one does; else the question as
    typed.  Earlier turns are rendered the same way every time, so the conversation's tokens only grow
    (KV reuse): the passage depends on the documents and the question alone."""
    if layout not in LAYOUTS:
        raise ValueError(f"unknown prompt layout {layout!r}")
    if not documents or layout == "after":
        return question
    passage = restated_passage(source, question, layout)
    if passage:
        question = f"{EXCERPT_LABEL}\n{passage}\n\n{question}"
    return REMINDER_TEMPLATE.replace("{question}", question)


def restated_passage(system: str, question: str, layout: str = DEFAULT_LAYOUT) -> str | None:
    """The passage of the documents in ``system`` that ``layout`` restates beside ``question`` (None: none).
    Every turn renders every earlier question again, so each is matched once per documents' text; the
    cache keys on a digest of the text, so a server seeing many documents does not keep them all alive."""
    if layout != "excerpt":
        return None
    text, digest = _documents(system)
    key = (digest, question)
    if key in _PASSAGES:
        _PASSAGES.move_to_end(key)
        return _PASSAGES[key]
    passage = _PASSAGES[key] = best_passage(text, question)
    if len(_PASSAGES) > _PASSAGES_KEPT:
        _PASSAGES.popitem(last=False)
    return passage


_PASSAGES: OrderedDict[tuple[bytes, str], str | None] = OrderedDict()
_PASSAGES_KEPT = 1024


def document_text(system: str) -> str:
    """The documents' own text inside a system message written by ``system_text`` (no instructions)."""
    return _documents(system)[0]


@lru_cache(maxsize=4)
def _documents(system: str) -> tuple[str, bytes]:
    text = "\n\n".join(_DOC_BODY.findall(system))
    return text, hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def has_documents(system: str) -> bool:
    """Does this system message hold documents (as ``system_text`` writes them)?"""
    return f"\n{DOCS_INTRO}\n\n<document name=" in system


def conversation_messages(system: str, exchanges: Sequence[tuple[str, str]], question: str | None, *,
                          documents: bool | None = None, layout: str = DEFAULT_LAYOUT) -> list[Message]:
    """The system message, the earlier exchanges (user, assistant) in order, then the question.
    ``documents``: the system message holds documents, so ``layout`` shapes each user message (None:
    see whether ``system_text`` put documents there, so every caller gets the same layout)."""
    if documents is None:
        documents = has_documents(system)
    msgs = [{"role": "system", "content": system}]
    for user, assistant in exchanges:
        msgs += [{"role": "user", "content": user_text(user, documents=documents, layout=layout, source=system)},
                 {"role": "assistant", "content": assistant}]
    if question is not None:
        msgs.append({"role": "user", "content": user_text(question, documents=documents, layout=layout,
                                                          source=system)})
    return msgs


def document_messages(system: str | None, docs: Sequence[NamedText], exchanges: Sequence[tuple[str, str]],
                      question: str | None, layout: str = DEFAULT_LAYOUT) -> list[Message]:
    """The whole conversation about ``docs``: the system message with the documents, the exchanges and
    the question, in ``layout``.  What every front end renders (one layout for every door)."""
    return conversation_messages(system_text(system, docs), exchanges, question, documents=bool(docs),
                                 layout=layout)


def prompt_tokens(engine: Engine, messages: Sequence[Message], *, generation: bool = True) -> list[int]:
    """The tokens of ``messages`` as the engine's chat template renders them; ``generation`` adds the
    assistant's turn opener.  BOS is added once, whether or not the template writes it."""
    bos = engine.tokenize("", add_bos=True)
    toks = engine.tokenize(engine.format_chat(list(messages), add_generation_prompt=generation), add_bos=False)
    if bos and toks[:1] != bos:
        toks = bos + toks
    return toks


def stable_prefix(engine: Engine, messages: Sequence[Message]) -> list[int]:
    """The tokens of ``messages`` that every later turn keeps as they are: a template may render the
    last message differently once another follows, or merge tokens at the seam."""
    alone = prompt_tokens(engine, messages, generation=False)
    probe = prompt_tokens(engine, [*messages, {"role": "user", "content": "?"}], generation=True)
    return alone[:common_prefix_len(alone, probe)]


def common_prefix_len(a: Sequence[int], b: Sequence[int]) -> int:
    """How many leading tokens two token lists share (what the KV cache can keep)."""
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i
