"""The chat's token budget and what happens when a conversation does not fit n_ctx.

Pure logic over token counts and a tokenizer: no model needed to test it.  Nothing here truncates
silently: ``refuse`` raises ContextOverflowError with the numbers and the ways out; the two other
policies trim *and* return a notice saying exactly what was dropped, and leave a marker in the text
so the model knows too.  No policy shifts KV positions (unsafe under YaRN): a trimmed conversation is
re-rendered and re-ingested from the point where it changed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from localctx.errors import ContextOverflowError, LocalctxError, SettingsError

OVERFLOW_POLICIES: tuple[str, ...] = ("refuse", "drop-oldest", "truncate-middle")


def check_policy(policy: str) -> str:
    if policy not in OVERFLOW_POLICIES:
        raise SettingsError(f"unknown overflow policy '{policy}'", f"use one of: {', '.join(OVERFLOW_POLICIES)}")
    return policy


@dataclass(frozen=True)
class Budget:
    """Where the context goes: documents (with the system prompt and template), earlier turns, the
    room reserved for the next reply, and what is left, against the n_ctx llama.cpp created."""

    n_ctx: int
    documents: int
    history: int
    reply: int
    #: False when the conversation has no documents: ``documents`` is then only the system prompt and
    #: the template's fixed tokens, and the line says "prompt" (never "documents 11" with none attached)
    has_documents: bool = True

    @property
    def used(self) -> int:
        return self.documents + self.history

    @property
    def free(self) -> int:
        return self.n_ctx - self.used - self.reply

    def to_json(self) -> dict[str, int]:
        return {"n_ctx": self.n_ctx, "documents": self.documents, "history": self.history, "reply": self.reply,
                "used": self.used, "free": self.free}

    def line(self) -> str:
        return (f"{'documents' if self.has_documents else 'prompt'} {self.documents:,} · history {self.history:,} · "
                f"reply ≤{self.reply:,} · "
                f"free {max(self.free, 0):,} of n_ctx {self.n_ctx:,}")


def suggest_ctx(needed: int) -> int:
    """A round context size that holds ``needed`` tokens (next multiple of 1024)."""
    return -(-needed // 1024) * 1024


#: the settings a repeated command keeps (the context is the one it changes; RoPE values are re-planned)
_REPEATED = ("n_threads", "type_k", "type_v", "flash_attn", "n_gpu_layers", "n_batch", "n_ubatch", "swa_full",
             "kv_unified", "n_seq", "rpc", "tensor_split", "rpc_mem")


def command_ref(model: str, settings: Any) -> str:
    """``MODEL -t 1 -ctk q8_0``: the model as named and the flags of ``settings`` that differ from the
    defaults, to repeat in a hint (``localctx plan {ref} --ctx N``).  A file path (a resumed session
    stores one) becomes its catalog name when it has one, never a path inside site-packages."""
    import shlex
    from pathlib import Path

    from localctx.core.flags import describe_settings
    from localctx.core.settings import RuntimeSettings
    from localctx.models.catalog import short_reference

    if model.lower().endswith(".gguf") and Path(model).is_file():
        model = short_reference(Path(model))

    if settings is None:
        return shlex.quote(model)
    default = RuntimeSettings()
    given = {k: getattr(settings, k) for k in _REPEATED if getattr(settings, k, None) != getattr(default, k)}
    flags = describe_settings(given)
    return shlex.quote(model) + (" " + " ".join(shlex.quote(w) for w in shlex.split(flags)) if flags else "")


def ways_out(model: str, needed: int, what: str, plan_note: str = "") -> str:
    """The hint of an overflow error: every way out, each as the exact thing to type (``model``: the
    model and the flags to repeat, from ``command_ref``)."""
    ctx = suggest_ctx(needed)
    ways = [f"raise the context: --ctx {ctx} (`localctx plan {model} --ctx {ctx}` shows the auto extension plan "
            f"and whether it fits memory{'; ' + plan_note if plan_note else ''})"]
    if what == "documents":
        ways += ["summarize the document first (`localctx summarize FILE`)",
                 "or let localctx cut it, saying what it cut: --overflow drop-oldest (drops the start) or "
                 "--overflow truncate-middle (keeps the start and the end)"]
    else:
        ways += ["/clear the history", "or --overflow drop-oldest | truncate-middle to drop earlier turns"]
    return "; ".join(ways)


def context_notices(engine: Any, asked_reply: int, reply: int) -> list[str]:
    """What the session changed from what was asked, said once: a context llama.cpp rounded up, a reply
    reserve capped at a quarter of the context."""
    out = []
    settings = getattr(engine, "settings", None)
    asked_ctx = getattr(settings, "n_ctx", None)
    if asked_ctx and asked_ctx != engine.n_ctx:
        out.append(f"n_ctx is {engine.n_ctx:,}, not the {asked_ctx:,} asked: llama.cpp rounds the context to a "
                   "multiple of 256")
    if reply < asked_reply:
        out.append(f"the reply reserve is {reply:,} tokens, not {asked_reply:,} (-n): at most a quarter of n_ctx "
                   f"{engine.n_ctx:,}; raise --ctx for longer replies")
    return out


def overflow_error(model: str, what: str, parts: dict[str, int], n_ctx: int,
                   plan_note: str = "") -> ContextOverflowError:
    """``what`` is "documents" or "conversation"; ``parts`` name every term of the sum."""
    needed = sum(parts.values())
    detail = " + ".join(f"{k} {v:,}" for k, v in parts.items())
    verb = "do" if what == "documents" else "does"
    return ContextOverflowError(
        f"the {what} {verb} not fit: {detail} = {needed:,} tokens > n_ctx {n_ctx:,} (nothing was truncated)",
        needed, n_ctx, ways_out(model, needed, what, plan_note),
    )


# ---- trimming documents ------------------------------------------------------------------------
Tokenize = Callable[[str], list[int]]
Detokenize = Callable[[Sequence[int]], str]


@dataclass(frozen=True)
class DocText:
    """A document's text as placed in the prompt; after a cut, how many of its tokens the policy dropped."""

    name: str
    text: str
    tokens: int | None = None  # the whole document's tokens (counted when a policy had to cut)
    dropped: int = 0
    policy: str | None = None  # the --overflow policy that cut it; None: placed whole

    def to_json(self) -> dict[str, Any]:
        kept = None if self.tokens is None else self.tokens - self.dropped
        return {"tokens": self.tokens, "kept_tokens": kept, "dropped_tokens": self.dropped, "cut": self.policy}


def trim_documents(docs: Sequence[DocText], excess: int, policy: str, tokenize: Tokenize,
                   detokenize: Detokenize) -> tuple[list[DocText], list[str]]:
    """Remove at least ``excess`` tokens from ``docs`` by ``policy``; returns the new texts and notices.

    drop-oldest cuts from the start of the first documents onward; truncate-middle cuts the middle of
    every document in proportion to its length.  A marker in the text says how much was cut."""
    toks = [tokenize(d.text) for d in docs]
    total = sum(len(t) for t in toks)
    cut = [0] * len(docs)
    if policy == "drop-oldest":
        left = excess
        for i, t in enumerate(toks):
            cut[i] = min(len(t), left)
            left -= cut[i]
    elif policy == "truncate-middle":
        for i, t in enumerate(toks):
            cut[i] = min(len(t), -(-excess * len(t) // max(total, 1)))
    else:  # pragma: no cover - callers check the policy
        raise SettingsError(f"policy {policy} does not trim")
    out, notices = [], []
    for d, t, n in zip(docs, toks, cut, strict=True):
        if n == 0:
            out.append(DocText(d.name, d.text, len(t)))
            continue
        if policy == "drop-oldest":
            kept = detokenize(t[n:])
            text = f"[… the first {n:,} of {len(t):,} tokens were omitted (--overflow drop-oldest) …]\n{kept}"
            notices.append(f"{d.name}: dropped its first {n:,} of {len(t):,} tokens to fit (--overflow drop-oldest)")
        else:
            head = (len(t) - n) // 2
            text = (f"{detokenize(t[:head])}\n[… {n:,} tokens omitted from the middle (--overflow truncate-middle) …]\n"
                    f"{detokenize(t[head + n:])}")
            notices.append(f"{d.name}: cut {n:,} of {len(t):,} tokens from the middle to fit (--overflow "
                           "truncate-middle)")
        out.append(DocText(d.name, text, len(t), n, policy))
    return out, notices


def next_turn_to_drop(kept: Sequence[int], policy: str) -> int | None:
    """Which earlier turn (an index into ``kept``) the policy drops next, or None when none can go."""
    if policy == "refuse" or not kept:
        return None
    if policy == "truncate-middle" and len(kept) > 1:
        return 1  # keep the first exchange (often sets the task) and the most recent ones
    return 0


def plan_note(engine: Any, needed: int) -> str:
    """The auto extension plan for the suggested --ctx and its memory verdict on this machine (the load
    gate's own answer, ``runtime.context_for``), so the first way out of an overflow says whether it
    is open.  Best effort: "" when it cannot be planned."""
    info = getattr(engine, "info", None)
    if info is None:
        return ""
    try:
        from localctx.core.settings import RuntimeSettings
        from localctx.services.runtime import context_for

        base = getattr(engine, "settings", None) or RuntimeSettings()
        wanted = RuntimeSettings(type_k=base.type_k, type_v=base.type_v, flash_attn=base.flash_attn,
                                 swa_full=base.swa_full, n_seq=base.n_seq, n_gpu_layers=base.n_gpu_layers)
        rp = context_for(info, wanted, suggest_ctx(needed))
    except (ImportError, LocalctxError, ValueError, KeyError):
        return ""
    plan = rp.extension
    ext = "no extension needed" if plan is None or plan.method == "none" else f"{plan.method} x{plan.factor:g}"
    return f"plan: {ext}; memory {rp.verdict.summary}"
