"""Request bodies -> typed ``ServeRequest``s, checked field by field.

Every field OpenAI documents for these endpoints is either mapped onto the conversation contract
(``ChatOptions``/``SamplingSettings``), accepted because it changes nothing here (``user``,
``metadata``, ...), or refused with a 400 that names it: nothing a client asked for is ignored
silently.  Extension fields: ``documents`` (``[{"name", "text"}]``, rendered into the system message
exactly as ``--file`` renders files), ``overflow`` (refuse | drop-oldest | truncate-middle),
``loop_guard`` (true | false: stop a reply that starts repeating itself; on for chat, off for plain
completions, where repeated lines of code are no accident) and the sampler's own settings by their
``SamplingSettings`` names (``top_k``, ``min_p``, ``repeat_penalty``, ...).

Sampling fields are flags, not settings: a request's ``temperature`` means what ``--temp`` means to
``chat``.  A field the request sends beats the server's own sampling flags (``serve --temp 0.3``),
which beat what is saved for the model (``plan MODEL --temp 0.2 --save``), which beats the defaults
(``CHAT_SAMPLING``); the model's saved values are applied when the request runs
(``services.runtime.resolve_sampling``), since only then is the model file known.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from localctx.core.conversation import REPLY_TOKENS, ChatOptions
from localctx.core.flags import SAMPLING_FIELDS, SAMPLING_SETTING_FLAGS, SamplingFlags, check_sampling_values
from localctx.core.sampling import CHAT_SAMPLING, SamplingSettings
from localctx.errors import SettingsError
from localctx.server.errors import ApiError, bad_request
from localctx.services.chat_budget import OVERFLOW_POLICIES, DocText
from localctx.services.serve_render import ServeRequest

#: accepted and without effect on a local model
_HARMLESS = {"user", "metadata", "store", "service_tier", "parallel_tool_calls"}
#: accepted when they ask for what this server does anyway: name -> the values that mean "nothing special"
_NEUTRAL: dict[str, tuple[Any, ...]] = {
    "n": (1,), "best_of": (1,), "logprobs": (False, None), "top_logprobs": (None, 0), "echo": (False,),
    "suffix": (None, ""), "presence_penalty": (0, 0.0, None), "frequency_penalty": (0, 0.0, None),
    "tools": (None, []), "functions": (None, []), "tool_choice": (None, "none"), "function_call": (None, "none"),
    "logit_bias": (None, {}), "modalities": (None, ["text"]), "audio": (None,), "prediction": (None,),
    "reasoning_effort": (None,), "web_search_options": (None,),
}
_WHY = {"n": "one choice per request (send n requests)", "best_of": "one candidate per request",
        "logprobs": "log probabilities are not returned", "top_logprobs": "log probabilities are not returned",
        "tools": "tool calling is not supported", "functions": "function calling is not supported",
        "tool_choice": "tool calling is not supported", "function_call": "function calling is not supported",
        "presence_penalty": "use repeat_penalty (llama.cpp's penalty) instead",
        "frequency_penalty": "use repeat_penalty (llama.cpp's penalty) instead"}
_SAMPLING_FIELDS = {f.name: f for f in fields(SamplingSettings)}
_COMMON = {"model", "stream", "stream_options", "max_tokens", "temperature", "top_p", "seed", "stop", "overflow",
           "loop_guard"}
#: SamplingSettings field -> the SamplingFlags field a request's value is given as
_AS_FLAG = {name: flag for flag, name in SAMPLING_FIELDS.items()}
_CHAT = _COMMON | {"messages", "max_completion_tokens", "documents", "response_format"}
_COMPLETION = _COMMON | {"prompt"}
_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}


@dataclass(frozen=True)
class Defaults:
    """What a request gets for a field it leaves out (the server's flags; sampling flags not given
    there come from the model's saved settings, then the defaults)."""

    sampling: SamplingFlags = field(default_factory=SamplingFlags)
    reply_tokens: int = REPLY_TOKENS
    overflow: str = "refuse"
    chat_template: str | None = None


@dataclass(frozen=True)
class Parsed:
    request: ServeRequest
    stream: bool
    include_usage: bool


# ---- field checks --------------------------------------------------------------------------------------
def _is_num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _number(body: dict[str, Any], name: str, lo: float, hi: float) -> float | None:
    v = body.get(name)
    if v is None:
        return None
    if not _is_num(v) or not lo <= v <= hi:
        raise bad_request(f"{name} must be a number from {lo:g} to {hi:g}, not {v!r}", name)
    return float(v)


def _int(body: dict[str, Any], name: str, lo: int, hi: int | None = None) -> int | None:
    v = body.get(name)
    if v is None:
        return None
    if not isinstance(v, int) or isinstance(v, bool) or v < lo or (hi is not None and v > hi):
        rng = f"from {lo} to {hi}" if hi is not None else f"of at least {lo}"
        raise bad_request(f"{name} must be an integer {rng}, not {v!r}", name)
    return v


def _bool(body: dict[str, Any], name: str) -> bool:
    v = body.get(name, False)
    if v is None:
        return False
    if not isinstance(v, bool):
        raise bad_request(f"{name} must be true or false, not {v!r}", name)
    return v


def _stops(body: dict[str, Any]) -> tuple[str, ...]:
    v = body.get("stop")
    if v is None:
        return ()
    if isinstance(v, str):
        v = [v]
    if not isinstance(v, list) or not all(isinstance(s, str) and s for s in v) or len(v) > 16:
        raise bad_request("stop must be a non-empty string or a list of at most 16 of them", "stop")
    return tuple(v)


def _check_keys(body: dict[str, Any], known: set[str]) -> None:
    for name, value in body.items():
        if name in known or name in _HARMLESS or name in _SAMPLING_FIELDS:
            continue
        if name in _NEUTRAL:
            if value in _NEUTRAL[name]:
                continue
            why = _WHY.get(name, "not supported by this server")
            raise bad_request(f"{name}={value!r} is not supported: {why}", name, "unsupported_parameter")
        raise bad_request(f"unknown parameter: {name}", name, "unknown_parameter")


def _sampling(body: dict[str, Any], defaults: Defaults) -> tuple[SamplingSettings, SamplingFlags]:
    """(the base the model's saved sampling applies to: the defaults and the request's seed, the
    sampling flags in effect: the server's overridden by the request's)."""
    changes: dict[str, Any] = {"temperature": _number(body, "temperature", 0, 2), "top_p": _number(body, "top_p", 0, 1),
                               "seed": _int(body, "seed", -(2**63), 2**64 - 1)}
    if changes["seed"] is not None:
        changes["seed"] %= 2**32  # llama.cpp takes an unsigned 32-bit seed; OpenAI clients send any int
    for name in _SAMPLING_FIELDS:
        if name in changes or name not in body:
            continue
        v = body[name]
        kind = type(getattr(CHAT_SAMPLING, name))
        ok = isinstance(v, int) and not isinstance(v, bool) if kind is int else _is_num(v)
        if v is not None and not ok:
            raise bad_request(f"{name} must be a {'integer' if kind is int else 'number'}, not {v!r}", name)
        changes[name] = v
    try:  # the ranges every door refuses (a flag, a saved setting): one check, in core
        check_sampling_values({k: v for k, v in changes.items() if k in _SAMPLING_FIELDS and v is not None})
    except SettingsError as exc:
        field = next((k for k in _SAMPLING_FIELDS if f"{SAMPLING_SETTING_FLAGS.get(k, '')} " in exc.message), None)
        message = exc.message.replace(SAMPLING_SETTING_FLAGS[field], field) if field else exc.message
        raise bad_request(f"{message}; {exc.hint}" if exc.hint else message, field) from None
    seed = changes.pop("seed")
    given = {_AS_FLAG[k]: v for k, v in changes.items() if v is not None}
    return CHAT_SAMPLING.with_changes(seed=seed), replace(defaults.sampling, **given)


def _overflow(body: dict[str, Any], defaults: Defaults) -> str:
    v = body.get("overflow", defaults.overflow)
    if v not in OVERFLOW_POLICIES:
        raise bad_request(f"overflow must be one of {', '.join(OVERFLOW_POLICIES)}, not {v!r}", "overflow")
    return str(v)


def _model(body: dict[str, Any]) -> str:
    v = body.get("model")
    if not isinstance(v, str) or not v.strip():
        raise bad_request("model is required: a name from GET /v1/models", "model", "missing_required_parameter")
    return v.strip()


def _text_content(v: Any, where: str) -> str:
    if isinstance(v, str):
        return v
    if isinstance(v, list):
        parts = []
        for p in v:
            if not isinstance(p, dict) or p.get("type") != "text" or not isinstance(p.get("text"), str):
                kind = p.get("type") if isinstance(p, dict) else type(p).__name__
                raise bad_request(f"{where}: only text content parts are supported, not {kind!r}", where)
            parts.append(p["text"])
        return "".join(parts)
    raise bad_request(f"{where} must be a string or a list of text parts", where)


def _messages(body: dict[str, Any]) -> tuple[dict[str, str], ...]:
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs:
        raise bad_request("messages must be a non-empty list of {role, content} objects", "messages",
                          "missing_required_parameter" if msgs is None else "invalid_value")
    out = []
    for i, m in enumerate(msgs):
        where = f"messages[{i}]"
        if not isinstance(m, dict):
            raise bad_request(f"{where} must be an object with role and content", where)
        role = m.get("role")
        if role not in _ROLES:
            raise bad_request(f"{where}.role must be one of {', '.join(_ROLES)}, not {role!r}", f"{where}.role")
        extra = set(m) - {"role", "content", "name"}
        if extra:
            raise bad_request(f"{where}: {', '.join(sorted(extra))} not supported (no tool calling)", where,
                              "unsupported_parameter")
        out.append({"role": _ROLES[role], "content": _text_content(m.get("content"), f"{where}.content")})
    if out[-1]["role"] == "assistant":
        raise bad_request("the last message must be from the user (continuing an assistant message is not "
                          "supported)", f"messages[{len(out) - 1}]")
    return tuple(out)


def _documents(body: dict[str, Any]) -> tuple[DocText, ...]:
    docs = body.get("documents")
    if docs is None:
        return ()
    if not isinstance(docs, list):
        raise bad_request('documents must be a list of {"name", "text"} objects', "documents")
    out = []
    for i, d in enumerate(docs):
        if not (isinstance(d, dict) and isinstance(d.get("name"), str) and isinstance(d.get("text"), str)
                and set(d) <= {"name", "text"} and d["name"] and d["text"].strip()):
            raise bad_request(f'documents[{i}] must be {{"name": "...", "text": "..."}} with some text',
                              f"documents[{i}]")
        out.append(DocText(d["name"], d["text"]))
    return tuple(out)


def _stream(body: dict[str, Any]) -> tuple[bool, bool]:
    stream = _bool(body, "stream")
    so = body.get("stream_options")
    if so is None:
        return stream, False
    if not isinstance(so, dict) or set(so) - {"include_usage", "include_obfuscation"}:
        raise bad_request("stream_options may hold include_usage only", "stream_options")
    if not stream:
        raise bad_request("stream_options is only allowed with stream: true", "stream_options")
    return stream, _bool(so, "include_usage")


def _options(body: dict[str, Any], defaults: Defaults, max_tokens: int | None, loop_guard: bool) -> ChatOptions:
    base, flags = _sampling(body, defaults)
    guard = _bool(body, "loop_guard") if body.get("loop_guard") is not None else loop_guard
    return ChatOptions(reply_tokens=max_tokens or defaults.reply_tokens, sampling=base, sampling_flags=flags,
                       stop=_stops(body), overflow=_overflow(body, defaults), chat_template=defaults.chat_template,
                       loop_guard=guard)


# ---- the two request kinds -----------------------------------------------------------------------------
def parse_chat(body: Any, defaults: Defaults) -> Parsed:
    body = _object(body)
    _check_keys(body, _CHAT)
    rf = body.get("response_format")
    if rf is not None and rf != {"type": "text"}:
        raise bad_request("response_format: only {\"type\": \"text\"} is supported", "response_format",
                          "unsupported_parameter")
    model = _model(body)
    msgs = _messages(body)
    docs = _documents(body)
    a, b = _int(body, "max_tokens", 1), _int(body, "max_completion_tokens", 1)
    if a is not None and b is not None and a != b:
        raise bad_request("max_tokens and max_completion_tokens differ; send one", "max_tokens")
    max_tokens = b if b is not None else a
    stream, usage = _stream(body)
    req = ServeRequest(model, Path(), _options(body, defaults, max_tokens, loop_guard=True), max_tokens is not None,
                       msgs, None, docs)
    return Parsed(req, stream, usage)


def parse_completion(body: Any, defaults: Defaults) -> Parsed:
    body = _object(body)
    _check_keys(body, _COMPLETION)
    model = _model(body)
    prompt = body.get("prompt")
    if isinstance(prompt, list) and len(prompt) == 1 and isinstance(prompt[0], str):
        prompt = prompt[0]
    if not isinstance(prompt, str) or not prompt:
        raise bad_request("prompt must be a non-empty string (one prompt per request)", "prompt",
                          "missing_required_parameter" if prompt is None else "invalid_value")
    max_tokens = _int(body, "max_tokens", 1)
    if max_tokens is None:
        max_tokens = 16  # OpenAI's documented default for completions
    stream, usage = _stream(body)
    req = ServeRequest(model, Path(), _options(body, defaults, max_tokens, loop_guard=False), True, (), prompt)
    return Parsed(req, stream, usage)


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    return body
