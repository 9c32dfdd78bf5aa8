"""llama.cpp-named runtime flags, declared once for every command that loads (or plans) a model.

Usage in a command module::

    from localctx.cli._runtime_opts import runtime_options
    from localctx.core.flags import RuntimeFlags

    def register(app: typer.Typer) -> None:
        @app.command()
        @runtime_options
        def chat(model: ModelArg = None, *, runtime: RuntimeFlags) -> None:
            from localctx.services.runtime import load_engine
            engine = load_engine(model, flags=runtime)      # flags > per-model config > defaults
            ...

``runtime_options`` appends the options below to the command's signature (``--ctx/-c``, ``--extend``,
``--rope-scaling``, ``--rope-freq-base``, ``--rope-freq-scale``, ``--rope-scale``, ``--yarn-orig-ctx``,
``--yarn-ext-factor``, ``--yarn-attn-factor``, ``--yarn-beta-fast``, ``--yarn-beta-slow``,
``-ctk/--cache-type-k``, ``-ctv/--cache-type-v``, ``-fa/--flash-attn``, ``-ngl/--gpu-layers``,
``-t/--threads``, ``-b/--batch-size``, ``-ub/--ubatch-size``, ``--swa-full``, ``--no-mmap``,
``--mlock``, ``--seed``, ``-np/--parallel``, ``--rpc``, ``-ts/--tensor-split``, ``--rpc-mem``) and hands the command one ``runtime: RuntimeFlags``
keyword holding the values (None = not given).  The flags type and its validation live below the
front ends (``localctx.core.flags``), so the TUI builds the same object; this module only declares
the options.  ``--ctx`` accepts ``32k``/``1m`` here and in every command (``core.units.parse_tokens``).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated, Any

import typer

from localctx.core.flags import FLAG_NAMES, RuntimeFlags
from localctx.core.settings import KV_TYPES
from localctx.core.units import parse_tokens

_PANEL = "Runtime (llama.cpp names)"


def _opt(*decls: str, help: str) -> Any:
    return typer.Option(*decls, help=help, rich_help_panel=_PANEL, show_default=False)


# (name, type, option) in the order --help shows them
_OPTIONS: list[tuple[str, Any, Any]] = [
    ("ctx", str | None, _opt("--ctx", "-c", "--ctx-size", help="Context size in tokens: 65536, 32k, 1m (default: the model's trained context).")),
    ("extend", str | None, _opt("--extend", help="Context extension: auto (default), none, linear, ntk, yarn, kobold, self-extend.")),
    ("rope_scaling", str | None, _opt("--rope-scaling", help="RoPE scaling type: none, linear, yarn (default: from the model).")),
    ("rope_freq_base", float | None, _opt("--rope-freq-base", help="RoPE base frequency (NTK-aware scaling).")),
    ("rope_freq_scale", float | None, _opt("--rope-freq-scale", help="RoPE frequency scale; expands context by 1/N.")),
    ("rope_scale", float | None, _opt("--rope-scale", help="RoPE context scale factor; expands context by N (= 1/--rope-freq-scale).")),
    ("yarn_orig_ctx", int | None, _opt("--yarn-orig-ctx", help="YaRN: original context of the model (default: from the model).")),
    ("yarn_ext_factor", float | None, _opt("--yarn-ext-factor", help="YaRN extrapolation mix factor (0 = full interpolation).")),
    ("yarn_attn_factor", float | None, _opt("--yarn-attn-factor", help="YaRN attention magnitude (advanced; ignored when YaRN extrapolation is on).")),
    ("yarn_beta_fast", float | None, _opt("--yarn-beta-fast", help="YaRN low correction dim (default: from the model, 32).")),
    ("yarn_beta_slow", float | None, _opt("--yarn-beta-slow", help="YaRN high correction dim (default: from the model, 1).")),
    ("cache_type_k", str | None, _opt("--cache-type-k", "-ctk", help=f"KV cache type for K: {', '.join(KV_TYPES)}.")),
    ("cache_type_v", str | None, _opt("--cache-type-v", "-ctv", help="KV cache type for V (quantized V needs flash attention).")),
    ("flash_attn", str | None, _opt("--flash-attn", "-fa", help="Flash attention: on, off, auto (default).")),
    ("gpu_layers", int | None, _opt("--gpu-layers", "-ngl", "--n-gpu-layers", help="Layers to offload to the GPU (-1: all; default: all when a GPU backend exists).")),
    ("threads", int | None, _opt("--threads", "-t", help="CPU threads (default: physical cores).")),
    ("batch_size", int | None, _opt("--batch-size", "-b", help="Logical batch size for prompt processing (default 512).")),
    ("ubatch_size", int | None, _opt("--ubatch-size", "-ub", help="Physical batch size (default 512).")),
    ("swa_full", bool | None, _opt("--swa-full", help="Full-size cache for sliding-window layers (more memory; safe prefix reuse).")),
    ("no_mmap", bool | None, _opt("--no-mmap", help="Read the weights into memory instead of mapping the file.")),
    ("mlock", bool | None, _opt("--mlock", help="Lock the weights in RAM (no swapping).")),
    ("seed", int | None, _opt("--seed", help="Sampling seed (default 0).")),
    ("parallel", int | None, _opt("--parallel", "-np", help="Parallel sequences sharing the context (default 1).")),
    ("rpc", str | None, _opt("--rpc", help="llama.cpp RPC servers that take layers like GPUs: HOST:PORT[,HOST:PORT...] (see `localctx rpc-server`).")),
    ("tensor_split", str | None, _opt("--tensor-split", "-ts", help="Share of the offloaded layers per device, RPC servers first: 3,1 (default: by free memory).")),
    ("rpc_mem", str | None, _opt("--rpc-mem", help="Plan offline: free memory of each --rpc server (8G,16G) instead of asking them.")),
]
OPTION_NAMES = tuple(name for name, _, _ in _OPTIONS)
assert OPTION_NAMES == FLAG_NAMES


#: options that take comma-separated lists in a comparing command (``estimate --ctx 8k,32k -ctk f16,q8_0``)
_LISTED = ("ctx", "cache_type_k", "cache_type_v")
_LIST_HELP = {"ctx": "; comma-separate to compare (8k,32k,128k)", "cache_type_k": "; comma-separate to compare",
              "cache_type_v": "; comma-separate to compare"}


@dataclass(frozen=True)
class Variants:
    """The values a comparing command was given several of; empty = not given (one from the flags)."""

    ctx: list[int] = field(default_factory=list)
    type_k: list[str] = field(default_factory=list)
    type_v: list[str] = field(default_factory=list)


def runtime_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add the runtime flags to a Typer command; the command receives ``runtime: RuntimeFlags``."""
    return _decorate(fn, compare=False)


def compare_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """The same flags for a command that compares settings (``estimate``): ``--ctx``, ``-ctk`` and
    ``-ctv`` also take comma-separated lists, handed over as ``variants: Variants``; ``runtime``
    then holds the other flags (and a single --ctx/-ctk/-ctv, if one was given)."""
    return _decorate(fn, compare=True)


def _split(text: str | None) -> list[str]:
    return [v.strip() for v in (text or "").split(",") if v.strip()]


def _decorate(fn: Callable[..., Any], *, compare: bool) -> Callable[..., Any]:
    sig = inspect.signature(fn, eval_str=True)  # real annotation objects (modules use postponed annotations)
    needs = ("runtime", "variants") if compare else ("runtime",)
    for name in needs:
        if name not in sig.parameters:
            raise TypeError(f"{fn.__name__} must accept a `{name}` keyword")
    kept = [p for p in sig.parameters.values() if p.name not in needs]
    added = []
    for name, typ, opt in _OPTIONS:
        if compare and name in _LISTED:
            opt = replace_help(opt, opt.help.rstrip(".") + _LIST_HELP[name] + ".")
        added.append(inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None,
                                       annotation=Annotated[typ, opt]))

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        raw = {name: kwargs.pop(name, None) for name in OPTION_NAMES}
        if not compare:
            if raw["ctx"] is not None:
                raw["ctx"] = parse_tokens(raw["ctx"], what="--ctx")
            return fn(*args, runtime=RuntimeFlags(**raw), **kwargs)
        ctxs = [parse_tokens(v, what="--ctx") for v in _split(raw["ctx"])]
        ks, vs = _split(raw["cache_type_k"]), _split(raw["cache_type_v"])
        for k in ks:
            RuntimeFlags(cache_type_k=k).overrides()  # the same check and message as everywhere
        for v in vs:
            RuntimeFlags(cache_type_v=v).overrides()
        raw["ctx"] = ctxs[0] if len(ctxs) == 1 else None
        raw["cache_type_k"] = ks[0] if len(ks) == 1 else None
        raw["cache_type_v"] = vs[0] if len(vs) == 1 else None
        variants = Variants(ctxs, [k.lower() for k in ks], [v.lower() for v in vs])
        return fn(*args, runtime=RuntimeFlags(**raw), variants=variants, **kwargs)

    new_sig = sig.replace(parameters=_order(kept + added))
    wrapper.__signature__ = new_sig  # type: ignore[attr-defined]  # read by inspect.signature, unknown to Callable
    wrapper.__annotations__ = {p.name: p.annotation for p in new_sig.parameters.values()
                               if p.annotation is not inspect.Parameter.empty}
    del wrapper.__wrapped__  # typer must see the new signature, not the original
    return wrapper


def replace_help(opt: Any, text: str) -> Any:
    """A copy of a Typer option declaration with another help text."""
    import copy

    new = copy.copy(opt)
    new.help = text
    return new


def _order(params: list[inspect.Parameter]) -> list[inspect.Parameter]:
    kinds = [inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
             inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD]
    return sorted(params, key=lambda p: kinds.index(p.kind))


