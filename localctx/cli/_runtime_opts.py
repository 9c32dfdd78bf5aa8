"""llama.cpp-named runtime flags, declared once for every command that loads (or plans) a model.

Usage in a command module::

    from localctx.cli._runtime_opts import RuntimeFlags, runtime_options

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
``--mlock``, ``--seed``, ``-np/--parallel``) and hands the command one ``runtime: RuntimeFlags``
keyword holding the raw values (None = not given).  ``settings_from_flags(runtime)`` turns them into
a ``RuntimeSettings`` without any model knowledge; ``localctx.services.runtime.resolve_settings(info,
runtime)`` also layers the per-model config and the model's trained context underneath.
"""

from __future__ import annotations

import functools
import inspect
from dataclasses import dataclass, fields
from typing import Annotated, Any, Callable, Optional

import typer

from localctx.core.settings import EXTEND_METHODS, KV_TYPES, RuntimeSettings
from localctx.errors import SettingsError

_PANEL = "Runtime (llama.cpp names)"


@dataclass(frozen=True)
class RuntimeFlags:
    """Raw values of the runtime flags; None means the flag was not given."""

    ctx: int | None = None
    extend: str | None = None
    rope_scaling: str | None = None
    rope_freq_base: float | None = None
    rope_freq_scale: float | None = None
    rope_scale: float | None = None
    yarn_orig_ctx: int | None = None
    yarn_ext_factor: float | None = None
    yarn_attn_factor: float | None = None
    yarn_beta_fast: float | None = None
    yarn_beta_slow: float | None = None
    cache_type_k: str | None = None
    cache_type_v: str | None = None
    flash_attn: str | None = None
    gpu_layers: int | None = None
    threads: int | None = None
    batch_size: int | None = None
    ubatch_size: int | None = None
    swa_full: bool | None = None
    no_mmap: bool | None = None
    mlock: bool | None = None
    seed: int | None = None
    parallel: int | None = None

    def overrides(self) -> dict[str, Any]:
        """The given flags as RuntimeSettings field values (validated, llama.cpp's rules)."""
        return flags_to_overrides(self)


def _opt(*decls: str, help: str) -> Any:
    return typer.Option(*decls, help=help, rich_help_panel=_PANEL, show_default=False)


# (name, type, option) in the order --help shows them
_OPTIONS: list[tuple[str, Any, Any]] = [
    ("ctx", Optional[int], _opt("--ctx", "-c", "--ctx-size", help="Context size in tokens (default: the model's trained context).")),
    ("extend", Optional[str], _opt("--extend", help="Context extension: auto (default), none, linear, ntk, yarn, kobold, self-extend.")),
    ("rope_scaling", Optional[str], _opt("--rope-scaling", help="RoPE scaling type: none, linear, yarn (default: from the model).")),
    ("rope_freq_base", Optional[float], _opt("--rope-freq-base", help="RoPE base frequency (NTK-aware scaling).")),
    ("rope_freq_scale", Optional[float], _opt("--rope-freq-scale", help="RoPE frequency scale; expands context by 1/N.")),
    ("rope_scale", Optional[float], _opt("--rope-scale", help="RoPE context scale factor; expands context by N (= 1/--rope-freq-scale).")),
    ("yarn_orig_ctx", Optional[int], _opt("--yarn-orig-ctx", help="YaRN: original context of the model (default: from the model).")),
    ("yarn_ext_factor", Optional[float], _opt("--yarn-ext-factor", help="YaRN extrapolation mix factor (0 = full interpolation).")),
    ("yarn_attn_factor", Optional[float], _opt("--yarn-attn-factor", help="YaRN attention magnitude (advanced; ignored when YaRN extrapolation is on).")),
    ("yarn_beta_fast", Optional[float], _opt("--yarn-beta-fast", help="YaRN low correction dim (default: from the model, 32).")),
    ("yarn_beta_slow", Optional[float], _opt("--yarn-beta-slow", help="YaRN high correction dim (default: from the model, 1).")),
    ("cache_type_k", Optional[str], _opt("--cache-type-k", "-ctk", help=f"KV cache type for K: {', '.join(KV_TYPES)}.")),
    ("cache_type_v", Optional[str], _opt("--cache-type-v", "-ctv", help="KV cache type for V (quantized V needs flash attention).")),
    ("flash_attn", Optional[str], _opt("--flash-attn", "-fa", help="Flash attention: on, off, auto (default).")),
    ("gpu_layers", Optional[int], _opt("--gpu-layers", "-ngl", "--n-gpu-layers", help="Layers to offload to the GPU (-1: all; default: all when a GPU backend exists).")),
    ("threads", Optional[int], _opt("--threads", "-t", help="CPU threads (default: physical cores).")),
    ("batch_size", Optional[int], _opt("--batch-size", "-b", help="Logical batch size for prompt processing (default 512).")),
    ("ubatch_size", Optional[int], _opt("--ubatch-size", "-ub", help="Physical batch size (default 512).")),
    ("swa_full", Optional[bool], _opt("--swa-full", help="Full-size cache for sliding-window layers (more memory; safe prefix reuse).")),
    ("no_mmap", Optional[bool], _opt("--no-mmap", help="Read the weights into memory instead of mapping the file.")),
    ("mlock", Optional[bool], _opt("--mlock", help="Lock the weights in RAM (no swapping).")),
    ("seed", Optional[int], _opt("--seed", help="Sampling seed (default 0).")),
    ("parallel", Optional[int], _opt("--parallel", "-np", help="Parallel sequences sharing the context (default 1).")),
]
OPTION_NAMES = tuple(name for name, _, _ in _OPTIONS)
assert OPTION_NAMES == tuple(f.name for f in fields(RuntimeFlags))


def runtime_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Add the runtime flags to a Typer command; the command receives ``runtime: RuntimeFlags``."""
    sig = inspect.signature(fn, eval_str=True)  # real annotation objects (modules use postponed annotations)
    if "runtime" not in sig.parameters:
        raise TypeError(f"{fn.__name__} must accept a `runtime: RuntimeFlags` keyword")
    kept = [p for p in sig.parameters.values() if p.name != "runtime"]
    added = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=None, annotation=Annotated[typ, opt])
             for name, typ, opt in _OPTIONS]

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        raw = {name: kwargs.pop(name, None) for name in OPTION_NAMES}
        return fn(*args, runtime=RuntimeFlags(**raw), **kwargs)

    new_sig = sig.replace(parameters=_order(kept + added))
    wrapper.__signature__ = new_sig  # type: ignore[attr-defined]
    wrapper.__annotations__ = {p.name: p.annotation for p in new_sig.parameters.values()
                               if p.annotation is not inspect.Parameter.empty}
    del wrapper.__wrapped__  # typer must see the new signature, not the original
    return wrapper


def _order(params: list[inspect.Parameter]) -> list[inspect.Parameter]:
    kinds = [inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD,
             inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.VAR_KEYWORD]
    return sorted(params, key=lambda p: kinds.index(p.kind))


def _positive(name: str, value: float | int | None, flag: str) -> None:
    if value is not None and value <= 0:
        raise SettingsError(f"{flag} must be greater than 0 (got {value})")


def flags_to_overrides(f: RuntimeFlags) -> dict[str, Any]:
    """Map given flags onto RuntimeSettings fields, rejecting values llama.cpp would not accept."""
    out: dict[str, Any] = {}
    _positive("ctx", f.ctx, "--ctx")
    for value, flag in ((f.rope_freq_base, "--rope-freq-base"), (f.rope_freq_scale, "--rope-freq-scale"),
                        (f.rope_scale, "--rope-scale"), (f.yarn_orig_ctx, "--yarn-orig-ctx"),
                        (f.batch_size, "--batch-size"), (f.ubatch_size, "--ubatch-size"),
                        (f.threads, "--threads"), (f.parallel, "--parallel")):
        _positive(flag, value, flag)
    if f.ctx is not None:
        out["n_ctx"] = f.ctx
    if f.extend is not None:
        if f.extend not in EXTEND_METHODS:
            raise SettingsError(f"unknown --extend '{f.extend}'", f"use one of: {', '.join(EXTEND_METHODS)}")
        out["extend"] = f.extend
    if f.rope_scaling is not None:
        if f.rope_scaling not in ("none", "linear", "yarn"):
            raise SettingsError(f"unknown --rope-scaling '{f.rope_scaling}'", "use none, linear or yarn")
        out["rope_scaling"] = f.rope_scaling
    if f.rope_scale is not None and f.rope_freq_scale is not None and abs(1 / f.rope_scale - f.rope_freq_scale) > 1e-9:
        raise SettingsError(f"--rope-scale {f.rope_scale} and --rope-freq-scale {f.rope_freq_scale} disagree",
                            "give one of them (--rope-scale N = --rope-freq-scale 1/N)")
    if f.rope_scale is not None:
        out["rope_freq_scale"] = 1.0 / f.rope_scale
    if f.rope_freq_scale is not None:
        out["rope_freq_scale"] = f.rope_freq_scale
    for src, dst in (("rope_freq_base", "rope_freq_base"), ("yarn_orig_ctx", "yarn_orig_ctx"),
                     ("yarn_ext_factor", "yarn_ext_factor"), ("yarn_attn_factor", "yarn_attn_factor"),
                     ("yarn_beta_fast", "yarn_beta_fast"), ("yarn_beta_slow", "yarn_beta_slow"),
                     ("threads", "n_threads"), ("seed", "seed"), ("parallel", "n_seq")):
        if getattr(f, src) is not None:
            out[dst] = getattr(f, src)
    for src, dst, flag in (("cache_type_k", "type_k", "--cache-type-k"), ("cache_type_v", "type_v", "--cache-type-v")):
        v = getattr(f, src)
        if v is not None:
            if v.lower() not in KV_TYPES:
                raise SettingsError(f"unknown {flag} '{v}'", f"use one of: {', '.join(KV_TYPES)}")
            out[dst] = v.lower()
    if f.flash_attn is not None:
        fa = {"on": True, "1": True, "true": True, "enabled": True, "off": False, "0": False, "false": False,
              "disabled": False, "auto": None}
        if f.flash_attn.lower() not in fa:
            raise SettingsError(f"unknown --flash-attn '{f.flash_attn}'", "use on, off or auto")
        out["flash_attn"] = fa[f.flash_attn.lower()]
    if f.gpu_layers is not None:
        out["n_gpu_layers"] = f.gpu_layers
    if f.batch_size is not None:
        out["n_batch"] = f.batch_size
    if f.ubatch_size is not None:
        out["n_ubatch"] = f.ubatch_size
    if f.swa_full:
        out["swa_full"] = True
    if f.no_mmap:
        out["use_mmap"] = False
    if f.mlock:
        out["use_mlock"] = True
    return out


def settings_from_flags(flags: RuntimeFlags | None, base: RuntimeSettings | None = None) -> RuntimeSettings:
    """``base`` (default: RuntimeSettings()) with the given flags applied; no model knowledge."""
    base = base or RuntimeSettings()
    return base if flags is None else base.with_(**flags.overrides())
