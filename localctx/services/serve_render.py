"""A server request -> the tokens the engine evaluates, the room its reply gets, and its saved KV state.

Chat messages go through services/prompt.py, the same step ``chat`` and ``ask`` use, so the same
messages evaluate the same tokens whichever door they came in by.  Documents sent with a request (the
``documents`` extension field) go into the system message exactly as ``--file`` puts them there
(``prompt.system_text``), and the system message's stable prefix is the key of a saved KV state
(services/state_cache.py, the key ``ChatSession.prepare`` uses): a document read by ``localctx ask``
or an earlier server run starts from its saved state instead of a prefill.

Nothing is cut silently: a request that does not fit is refused with the numbers unless it chose an
overflow policy, and then every cut is reported in ``notices``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctx.core.chat_templates import PLAIN_STOPS
from localctx.core.conversation import ChatOptions
from localctx.engine.base import Engine
from localctx.errors import ContextOverflowError
from localctx.services import prompt as _prompt
from localctx.services.chat_budget import DocText, trim_documents

if TYPE_CHECKING:
    from localctx.services.state_cache import StateCache

Message = dict[str, str]


@dataclass(frozen=True)
class ServeRequest:
    """One generation request, checked and typed by the front end.

    Chat requests carry ``messages`` (and maybe ``documents``); completion requests a plain ``prompt``.
    ``max_tokens_given`` False: ``options.reply_tokens`` is only the room reserved when checking the
    fit, and the reply may use all the room the context has left."""

    model: str
    model_path: Path
    options: ChatOptions
    max_tokens_given: bool = False
    messages: tuple[Message, ...] = ()
    prompt: str | None = None
    documents: tuple[DocText, ...] = ()

    @property
    def document_names(self) -> list[str]:
        return [d.name for d in self.documents]


@dataclass(frozen=True)
class Usage:
    """The exact token counts of one request: prompt tokens, how many of them came from the KV cache
    (kept from an earlier request or a saved state) rather than being evaluated, and reply tokens."""

    prompt_tokens: int
    cached_tokens: int
    completion_tokens: int
    finish_reason: str
    state: str = "off"  # the saved KV state: off | kept | hit | saved
    ttft_s: float | None = None
    #: why the reply ended, in localctx's words: eos | stop | length | context | loop (the loop guard
    #: stopped it; OpenAI's finish_reason then says "stop")
    stop_reason: str = "stop"
    gen_tok_s: float | None = None  # reply tokens per second, as llama.cpp timed them
    passage: str | None = None  # restated beside the last question by the prompt layout (services.prompt)

    def summary(self) -> dict[str, Any]:
        """The numbers an operator watches (/health's ``last``, the status line)."""
        return {"prompt_tokens": self.prompt_tokens, "cached_tokens": self.cached_tokens,
                "completion_tokens": self.completion_tokens, "stop_reason": self.stop_reason,
                "gen_tok_s": None if self.gen_tok_s is None else round(self.gen_tok_s, 2)}

    def to_json(self) -> dict[str, Any]:
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "total_tokens": self.prompt_tokens + self.completion_tokens,
                "prompt_tokens_details": {"cached_tokens": self.cached_tokens}}


@dataclass
class Rendered:
    tokens: list[int]
    prefix: list[int]  # the system message's stable tokens (what a saved KV state holds); [] without one
    max_tokens: int
    stops: tuple[str, ...]
    notices: list[str] = field(default_factory=list)
    passage: str | None = None  # restated beside the last question (the excerpt layout), if any


def render(engine: Engine, req: ServeRequest) -> Rendered:
    """The request's tokens, fitted to the context by its overflow policy (or refused)."""
    n_ctx = engine.n_ctx
    room = req.options.reply_tokens if req.max_tokens_given else min(req.options.reply_tokens,
                                                                     max(16, n_ctx // 4))
    if req.prompt is not None:
        tokens, notices = _fit_prompt(engine, req, room)
        prefix: list[int] = []
        stops = tuple(req.options.stop)
    else:
        msgs, tokens, notices = _fit_messages(engine, req, room)
        prefix = _prompt.stable_prefix(engine, msgs[:1]) if msgs[0]["role"] == "system" else []
        stops = tuple(req.options.stop) + (() if engine.has_chat_template else PLAIN_STOPS)
        passage = _passage(msgs, req)
    left = n_ctx - len(tokens)
    return Rendered(tokens, prefix, min(room, left) if req.max_tokens_given else left, stops, notices,
                    passage if req.prompt is None else None)


def _passage(msgs: Sequence[Message], req: ServeRequest) -> str | None:
    """The passage the layout restated beside the request's last question (what ``ask --json`` reports)."""
    system = msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else ""
    question = next((m["content"] for m in reversed(req.messages) if m["role"] == "user"), None)
    if not question or not _prompt.has_documents(system):
        return None
    return _prompt.restated_passage(system, question, req.options.layout)


def _overflow(req: ServeRequest, parts: dict[str, int], n_ctx: int) -> ContextOverflowError:
    need = sum(parts.values())
    detail = " + ".join(f"{k} {v:,}" for k, v in parts.items())
    return ContextOverflowError(
        f"this request does not fit the context of {req.model}: {detail} = {need:,} tokens > n_ctx {n_ctx:,} "
        "(nothing was truncated)", need, n_ctx,
        'send fewer tokens or a smaller max_tokens, start the server with a larger --ctx, or choose a policy: '
        '"overflow": "drop-oldest" | "truncate-middle"')


def _with_documents(messages: Sequence[Message], docs: Sequence[DocText], layout: str) -> list[Message]:
    """The request's messages with the documents put into the system message as ``--file`` does, and
    the user messages in the prompt layout ``chat`` and ``ask`` use when the system message holds
    documents (so the same conversation evaluates the same tokens at every door)."""
    msgs = [dict(m) for m in messages]
    if docs:
        system = msgs[0]["content"] if msgs and msgs[0]["role"] == "system" else None
        rest = msgs[1:] if system is not None else msgs
        msgs = [{"role": "system", "content": _prompt.system_text(system, docs)}, *rest]
    if not (msgs and msgs[0]["role"] == "system" and _prompt.has_documents(msgs[0]["content"])):
        return msgs
    source = msgs[0]["content"]
    return [msgs[0], *({**m, "content": _prompt.user_text(m["content"], documents=True, layout=layout, source=source)}
                       if m["role"] == "user" else m for m in msgs[1:])]


def _fit_messages(engine: Engine, req: ServeRequest, room: int) -> tuple[list[Message], list[int], list[str]]:
    n_ctx, policy = engine.n_ctx, req.options.overflow
    docs, messages = list(req.documents), list(req.messages)
    notices: list[str] = []
    cut: list[str] = []
    excess = 0
    for _attempt in range(64):
        msgs = _with_documents(messages, docs, req.options.layout)
        tokens = _prompt.prompt_tokens(engine, msgs)
        if len(tokens) + room <= n_ctx:
            return msgs, tokens, notices + cut
        head = 1 if msgs[0]["role"] == "system" else 0
        droppable = len(messages) - (1 if messages[0]["role"] == "system" else 0) - 1  # never the last one
        if policy == "refuse" or (droppable <= 0 and not docs):
            parts = {"prompt": len(tokens), "reply room": room}
            if head:
                n_sys = len(_prompt.stable_prefix(engine, msgs[:1]))
                parts = {"system and documents": n_sys, "messages": len(tokens) - n_sys, "reply room": room}
            raise _overflow(req, parts, n_ctx)
        if droppable > 0 and not (policy == "truncate-middle" and docs):
            first = 1 if messages[0]["role"] == "system" else 0
            at = first + (1 if policy == "truncate-middle" and droppable > 1 else 0)
            gone = messages.pop(at)
            notices.append(f"a {gone['role']} message left the context to make room (overflow {policy})")
            continue
        excess += len(tokens) + room - n_ctx + 32  # the marker costs tokens too: cut a little more, re-measure
        docs, cut = trim_documents(req.documents, excess, policy,
                                   lambda t: engine.tokenize(t, add_bos=False, special=False), engine.detokenize)
    raise _overflow(req, {"prompt": len(tokens), "reply room": room}, n_ctx)


def _fit_prompt(engine: Engine, req: ServeRequest, room: int) -> tuple[list[int], list[str]]:
    n_ctx, policy = engine.n_ctx, req.options.overflow
    tokens = engine.tokenize(req.prompt or "", add_bos=True)
    excess = len(tokens) + room - n_ctx
    if excess <= 0:
        return tokens, []
    if policy == "refuse" or excess >= len(tokens) - 1:
        raise _overflow(req, {"prompt": len(tokens), "reply room": room}, n_ctx)
    bos = tokens[:1] if tokens[:1] == engine.tokenize("", add_bos=True) else []
    body = tokens[len(bos):]
    if policy == "drop-oldest":
        kept = body[excess:]
    else:
        head = (len(body) - excess) // 2
        kept = body[:head] + body[head + excess:]
    return bos + kept, [f"{excess:,} of the prompt's {len(tokens):,} tokens were cut to fit (overflow {policy})"]


def restore_prefix(engine: Engine, cache: StateCache, fingerprint: str, prefix: list[int],
                   documents: Sequence[str], should_stop: Callable[[], bool]) -> tuple[int, str]:
    """Put ``prefix`` in the KV cache the cheapest way: it is there already ("kept"), a saved state
    holds it ("hit"), or it is evaluated and saved for the next time ("saved").  Returns (tokens
    evaluated, how)."""
    from localctx.services.state_cache import state_key

    if list(engine.cached_tokens[:len(prefix)]) == prefix:
        return 0, "kept"
    key = state_key(fingerprint, engine.settings, engine.n_ctx, prefix)
    if cache.load(engine, key, prefix).status == "hit":
        return 0, "hit"
    evaluated = engine.ingest(prefix, should_stop=should_stop)
    cache.save(engine, key, model=engine.path.name, documents=documents)
    return evaluated, "saved"
