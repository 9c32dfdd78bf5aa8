"""What an in-chat command does to a ChatSession and what it says back, for ``localctx chat`` and the
TUI's command palette alike (the words are parsed in core.chat_commands).  Each function changes the
session or refuses with a LocalctxError (one line; the chat goes on) and returns the text to show.
A changed system prompt or document list is evaluated by the session's next ``prepare``/``send``."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctx.core.chat_commands import SET_NAMES, parse_set
from localctx.core.flags import SAMPLING_FIELDS, describe_sampling
from localctx.errors import LocalctxError

if TYPE_CHECKING:
    from localctx.services.chat import ChatSession


# ---- /system -----------------------------------------------------------------------------------
def show_system(chat: ChatSession) -> str:
    from localctx.services.prompt import DEFAULT_SYSTEM

    if chat.system:
        return f"system prompt: {chat.system}"
    return f"system prompt: the default ({DEFAULT_SYSTEM}); /system TEXT sets one"


def set_system(chat: ChatSession, text: str) -> str:
    """``/system TEXT``: the system prompt of the following turns, and what it costs in tokens."""
    text = text.strip()
    if not text:
        return show_system(chat)
    before = chat.budget().documents
    own = len(chat.engine.tokenize(text, add_bos=False, special=False))
    chat.change_prefix(text, chat.documents)
    after = chat.budget().documents
    return (f"system prompt set: {own:,} tokens; the conversation's start (system prompt, documents, template) is "
            f"{after:,} tokens, was {before:,} (evaluated again on the next turn)")


# ---- /file ---------------------------------------------------------------------------------------
def add_file(chat: ChatSession, path: str | Path) -> str:
    """``/file PATH``: one more document, read as ``--file`` reads it (the same bounded read) and fitted
    by the chat's overflow policy; the budget after it."""
    from localctx.services.chat_parts import read_document

    raw = str(path).strip()
    if len(raw) > 1 and raw[0] == raw[-1] and raw[0] in "'\"":
        raw = raw[1:-1]
    if not raw:
        raise LocalctxError("/file needs a path", "e.g. /file notes.txt")
    if raw == "-":
        raise LocalctxError("/file - cannot read standard input here: it carries your messages",
                            "give the document as a file")
    doc = read_document(Path(raw).expanduser(), chat.engine.n_ctx)
    same = next((d for d in chat.documents if d.sha256 == doc.sha256), None)
    if same is not None:
        raise LocalctxError(f"{doc.name} is already in this chat (as {same.name})")
    before = chat.budget().documents
    chat.change_prefix(chat.system, [*chat.documents, doc])
    added = chat.budget().documents - before
    return f"{doc.name} added: {added:,} tokens; {chat.budget().line()}"


# ---- /set ----------------------------------------------------------------------------------------
def _value_text(v: object) -> str:
    return f"{v:g}" if isinstance(v, float) else "the runtime's --seed" if v is None else str(v)


def list_sampling(chat: ChatSession) -> str:
    values = chat.sampling.to_json()
    width = max(map(len, SET_NAMES)) + 2
    return "sampling (/set NAME VALUE):\n" + "\n".join(f"  {name:<{width}}{_value_text(values[field])}"
                                                        for name, field in SET_NAMES.items())


def set_sampling(chat: ChatSession, arg: str) -> str:
    """``/set NAME VALUE`` (llama.cpp's names, checked as the flag is); ``/set`` alone lists them.  The
    value holds for the following turns and for a reload of this chat (it goes into its options)."""
    if not arg.strip():
        return list_sampling(chat)
    change = parse_set(arg)
    old = getattr(chat.sampling, change.field)
    chat.sampling = chat.sampling.with_changes(**{change.field: change.value})
    flags = chat.options.sampling_flags
    flag_name = next((k for k, v in SAMPLING_FIELDS.items() if v == change.field), None)
    if flag_name is not None:  # the flag wins over the base on a reload: it must say the same
        given: dict[str, Any] = {flag_name: change.value}
        flags = replace(flags, **given)
    chat.options = replace(chat.options, sampling=chat.sampling, sampling_flags=flags)
    return f"{change.name} {_value_text(change.value)} (was {_value_text(old)}) from the next reply"


# ---- /show, /model -------------------------------------------------------------------------------
def describe_model(chat: ChatSession) -> str:
    """``/model``: which file is loaded, what it is, at which context."""
    e = chat.engine
    info = getattr(e, "info", None)
    bits = [e.path.name]
    if info is not None:
        bits += [info.arch, f"{info.n_params / 1e6:,.0f}M parameters" if info.n_params else "",
                 info.file_type or "", f"trained on {info.ctx_train:,} tokens"]
    template = "its own chat template" if e.has_chat_template else "no chat template (plain prompt)"
    return (f"model {chat.model_ref}: {', '.join(b for b in bits if b)}\n"
            f"  n_ctx {e.n_ctx:,} · {template}\n  {e.path}")


def show(chat: ChatSession) -> str:
    """``/show``: the plan it runs with, the settings in effect, the documents and the budget."""
    e = chat.engine
    plan = getattr(e, "plan", None)
    ext = "no context extension"
    if plan is not None and plan.method != "none" and plan.factor > 1:
        ext = f"extended {plan.method} x{plan.factor:g} from {plan.n_ctx_train:,}"
    sampling = {k: v for k, v in chat.sampling.to_json().items() if v is not None}
    docs = ", ".join(d.name for d in chat.documents) or "none (/file PATH adds one)"
    return "\n".join([
        f"plan       {chat.hint_ref} · n_ctx {e.n_ctx:,} · {ext}",
        f"sampling   {describe_sampling(sampling)}",
        f"reply      up to {chat.reply_tokens:,} tokens · overflow {chat.overflow}",
        show_system(chat).replace("system prompt: ", "system     ", 1),
        f"documents  {docs}",
        f"budget     {chat.budget().line()}",
    ])
