"""The context-extension planner: which RoPE settings let a model run at n_ctx, and why (pure).

``plan_extension(info, settings)`` returns an ``ExtensionPlan`` naming the method, every llama.cpp
parameter it sets (None = left to the model), the factor, the reason, and a quality warning whose
wording depends on the factor.  ``apply_plan`` writes those parameters into RuntimeSettings.

Rules (the published methods, as llama.cpp and koboldcpp apply them):
- auto: nothing when n_ctx <= the trained context.  Above it: a GGUF's own scaling (YaRN, linear,
  llama3 ``rope_freqs``, LongRoPE) is used as the file says; otherwise YaRN with
  factor = n_ctx / n_ctx_train and original context = n_ctx_train.
- named methods: none, linear, ntk (base x s^(d/(d-2))), yarn, kobold (koboldcpp's GradientAI base
  b^(log(L'/2pi)/log(L/2pi))), self-extend (positions grouped by the eval service; never with YaRN).
- Values the user set explicitly (flags / per-model config) always win over computed ones.
- llama.cpp keeps its own RoPE for sliding-window layers (Gemma 2/3 ...): overrides reach only the
  global layers; the plan says so.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

from localctx.core.flags import ROPE_FIELDS
from localctx.core.model_info import ModelInfo
from localctx.core.settings import EXTEND_METHODS, RuntimeSettings
from localctx.errors import SettingsError

ROPE_SCALINGS = ("none", "linear", "yarn")


@dataclass(frozen=True)
class ExtensionPlan:
    method: str  # none | linear | ntk | yarn | kobold | self-extend | model (the GGUF's own scaling)
    n_ctx: int
    n_ctx_train: int
    factor: float  # n_ctx / the context the model was trained (or scaled) for
    reason: str
    # llama.cpp parameters this plan sets; None = llama.cpp takes the model's value
    rope_scaling: str | None = None
    rope_freq_base: float | None = None
    rope_freq_scale: float | None = None
    yarn_orig_ctx: int | None = None
    yarn_ext_factor: float | None = None
    yarn_attn_factor: float | None = None
    yarn_beta_fast: float | None = None
    yarn_beta_slow: float | None = None
    self_extend: dict[str, int] | None = None  # {"group": G, "window": W} for the eval service
    warning: str | None = None
    notes: list[str] = field(default_factory=list)
    user_set: list[str] = field(default_factory=list)  # parameters taken verbatim from the user

    @property
    def parameters(self) -> dict[str, Any]:
        """The llama.cpp parameters this plan sets (only those not left to the model)."""
        return {k: getattr(self, k) for k in ROPE_FIELDS if getattr(self, k) is not None}

    @property
    def uses_yarn(self) -> bool:
        return self.rope_scaling == "yarn" or (self.method == "model" and "yarn" in self.reason)

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["parameters"] = self.parameters
        return d


def validate(info: ModelInfo, s: RuntimeSettings) -> None:
    """Reject settings llama.cpp would accept but that cannot work (exit 2)."""
    if s.extend not in EXTEND_METHODS:
        raise SettingsError(f"unknown extension method '{s.extend}'", f"use one of: {', '.join(EXTEND_METHODS)}")
    if s.rope_scaling is not None and s.rope_scaling not in ROPE_SCALINGS:
        raise SettingsError(f"unknown rope scaling type '{s.rope_scaling}'", "use none, linear or yarn")
    if s.n_ctx is not None and s.n_ctx <= 0:
        raise SettingsError(f"context size must be greater than 0 (got {s.n_ctx})")
    for name in ("rope_freq_base", "rope_freq_scale"):
        v = getattr(s, name)
        if v is not None and (not math.isfinite(v) or v <= 0):
            raise SettingsError(f"--{name.replace('_', '-')} must be greater than 0 and finite (got {v})",
                                "--rope-scale N is the same as --rope-freq-scale 1/N")
    if s.yarn_orig_ctx is not None and s.yarn_orig_ctx <= 0:
        raise SettingsError(f"--yarn-orig-ctx must be greater than 0 (got {s.yarn_orig_ctx})")
    n_ctx = s.n_ctx or info.ctx_train
    if s.yarn_orig_ctx is not None and n_ctx and s.yarn_orig_ctx > n_ctx:
        raise SettingsError(f"--yarn-orig-ctx {s.yarn_orig_ctx} is larger than the context {n_ctx}",
                            "the original context is the shorter one the model was trained on")
    fast = s.yarn_beta_fast if s.yarn_beta_fast is not None else _gguf_float(info, "yarn_beta_fast", 32.0)
    slow = s.yarn_beta_slow if s.yarn_beta_slow is not None else _gguf_float(info, "yarn_beta_slow", 1.0)
    if (s.yarn_beta_fast is not None or s.yarn_beta_slow is not None) and slow > fast:
        raise SettingsError(f"--yarn-beta-slow {slow:g} is larger than --yarn-beta-fast {fast:g}",
                            "beta_fast (default 32) must be >= beta_slow (default 1)")
    for name in ("yarn_beta_fast", "yarn_beta_slow", "yarn_ext_factor", "yarn_attn_factor"):
        v = getattr(s, name)
        if v is not None and (v < 0 or not math.isfinite(v)):
            raise SettingsError(f"--{name.replace('_', '-')} must be 0 or more (got {v})")
    if info.rope.rope_type == "none" and s.extend not in ("auto", "none") and s.extend is not None:
        raise SettingsError(f"{info.arch} does not use RoPE; --extend {s.extend} has nothing to scale",
                            "only --ctx applies to this model")


def _gguf_float(info: ModelInfo, key: str, default: float) -> float:
    v = info.rope.scaling_keys.get(f"{info.arch}.rope.scaling.{key}")
    return float(v) if isinstance(v, (int, float)) else default


def model_scaling(info: ModelInfo) -> tuple[str, int] | None:
    """(description, context it covers) when the GGUF carries its own long-context RoPE, else None."""
    r = info.rope
    if r.scaling_type in ("yarn", "linear") and r.scaling_factor and r.scaling_factor > 1:
        orig = r.original_context or info.ctx_train
        return (f"{r.scaling_type} x{r.scaling_factor:g} from original context {orig}",
                max(info.ctx_train, int(orig * r.scaling_factor)))
    if r.scaling_type == "longrope":
        return ("LongRoPE factors (rope_factors_long/short tensors)", info.ctx_train)
    if r.has_freq_factors:
        return ("llama3-style per-dimension rope_freqs", info.ctx_train)
    return None


def quality_warning(method: str, factor: float) -> str | None:
    """How much to trust the model at this factor, in words that change with it."""
    if factor <= 1.0:
        return None
    f = f"{factor:g}x"
    if method == "none":
        return (f"{f} the trained context with no RoPE scaling: positions past the trained length are "
                "extrapolated and output usually collapses there")
    if method == "self-extend":
        return f"{f} via grouped positions (Self-Extend): retrieval degrades with distance; verify with `localctx eval`"
    if method == "linear" and factor > 1:
        tail = " (plain interpolation hurts models not fine-tuned for it)"
    else:
        tail = ""
    if factor <= 2:
        return f"mild stretch ({f}){tail}: usually usable without fine-tuning; verify with `localctx eval`"
    if factor <= 4:
        return (f"moderate stretch ({f}){tail}: expect some loss of recall and fluency without fine-tuning; "
                "run `localctx eval` at this length before relying on it")
    if factor <= 8:
        return (f"strong stretch ({f}){tail}: training-free methods usually fail to retrieve at this factor; "
                "prefer a model trained for long context")
    return f"extreme stretch ({f}){tail}: expected to fail without fine-tuning; use a long-context model or RAG"


def ntk_base(base: float, factor: float, dims: int) -> float:
    """NTK-aware base: b * s^(d/(d-2))."""
    return base * factor ** (dims / (dims - 2))


def kobold_base(base: float, n_ctx: int, n_ctx_train: int) -> float:
    """koboldcpp's GradientAI base: b^(log(L'/2pi)/log(L/2pi))."""
    return base ** (math.log(n_ctx / (2 * math.pi)) / math.log(n_ctx_train / (2 * math.pi)))


def self_extend_params(n_ctx: int, n_ctx_train: int) -> dict[str, int]:
    """Smallest group G (window W divisible by G) with reach (L-W)*G + W >= n_ctx."""
    window = 1024 if n_ctx_train >= 4096 else max(64, n_ctx_train // 4)
    group = 2
    while (n_ctx_train - window) * group + window < n_ctx or window % group:
        group += 1
        if group > 64:
            raise SettingsError(f"Self-Extend cannot reach {n_ctx} tokens from {n_ctx_train}")
    return {"group": group, "window": window}


def plan_extension(info: ModelInfo, settings: RuntimeSettings) -> ExtensionPlan:
    validate(info, settings)
    train = info.ctx_train or settings.n_ctx or 0
    n_ctx = settings.n_ctx or train
    factor = n_ctx / train if train else 1.0
    user = {k: getattr(settings, k) for k in ROPE_FIELDS if getattr(settings, k) is not None}
    method = settings.extend
    notes: list[str] = []
    own = model_scaling(info)
    base = info.rope.freq_base or 10000.0
    dims = info.rope.dimension_count or info.head_dim_k or 128
    p: dict[str, Any] = {}

    if method == "auto" and user:
        method, reason = "manual", "RoPE parameters given explicitly; used as given"
    elif method == "auto":
        if factor <= 1:
            method, reason = "none", f"n_ctx {n_ctx} is within the trained context {train}: no scaling needed"
            if own:
                method = "model"
                reason = f"within the trained context; the GGUF's own {own[0]} applies as the file says"
        elif own:
            method = "model"
            reason = f"the GGUF carries its own scaling ({own[0]}); llama.cpp applies it as the file says"
            factor = n_ctx / own[1] if own[1] else factor
        else:
            method = "yarn"
            reason = (f"n_ctx {n_ctx} is {factor:g}x the trained {train} and the GGUF has no RoPE scaling: "
                      f"YaRN (factor {factor:g}, original context {train}) interpolates only the low "
                      "frequencies and rescales attention, the best training-free choice")
            p = {"rope_scaling": "yarn", "rope_freq_scale": 1 / factor, "yarn_orig_ctx": train}
    elif method == "none":
        reason = "no RoPE scaling (the GGUF's own scaling type is switched off too)"
        p = {"rope_scaling": "none"}
    elif method == "linear":
        s = max(factor, 1.0)
        reason = f"linear position interpolation (PI) by {s:g}: every position divided by {s:g}"
        p = {"rope_scaling": "linear", "rope_freq_scale": 1 / s}
    elif method == "ntk":
        s = max(factor, 1.0)
        reason = f"NTK-aware: base {base:g} x {s:g}^({dims}/{dims - 2}), positions unscaled"
        p = {"rope_scaling": "none", "rope_freq_base": ntk_base(base, s, dims)}
    elif method == "kobold":
        reason = f"koboldcpp's GradientAI base: {base:g}^(log({n_ctx}/2pi)/log({train}/2pi)), positions unscaled"
        p = {"rope_scaling": "none", "rope_freq_base": kobold_base(base, max(n_ctx, train), train)}
    elif method == "yarn":
        orig = settings.yarn_orig_ctx or info.rope.original_context or train
        factor = n_ctx / orig if orig else factor
        s = max(factor, 1.0)
        reason = f"YaRN by {s:g} from original context {orig}"
        p = {"rope_scaling": "yarn", "rope_freq_scale": 1 / s, "yarn_orig_ctx": orig}
    elif method == "self-extend":
        if settings.rope_scaling == "yarn" or (settings.rope_scaling is None and info.rope.scaling_type == "yarn"):
            raise SettingsError("Self-Extend cannot be combined with YaRN "
                                "(shifting positions corrupts YaRN-scaled keys)",
                                "use --extend self-extend without --rope-scaling yarn, or --rope-scaling none")
        if info.rope.rope_type == "mrope":
            raise SettingsError(f"Self-Extend needs position shifts, which llama.cpp cannot do for {info.arch} "
                                "(M-RoPE)")
        se = self_extend_params(n_ctx, train) if factor > 1 else {"group": 1, "window": train}
        reason = (f"Self-Extend: neighbours within {se['window']} tokens keep exact positions, farther ones are "
                  f"grouped by {se['group']}; no RoPE change (run by the eval/chat services)")
        p = {}
        notes.append("llama.cpp's RoPE settings stay as trained; the engine never shifts positions under YaRN")
        p["self_extend"] = se
    else:  # pragma: no cover - validate() rejects it
        raise SettingsError(f"unknown extension method '{method}'")

    if method in ("linear", "ntk", "kobold", "yarn", "self-extend") and factor <= 1:
        p, reason = {}, f"n_ctx {n_ctx} is within the trained context {train}: {method} has nothing to extend"
    p.update(user)  # what the user set always wins
    if p.get("rope_scaling") == "yarn" and "yarn_orig_ctx" not in p and info.rope.original_context is None:
        p["yarn_orig_ctx"] = train
    if info.swa_layers and any(info.swa_layers) and (p.keys() - {"self_extend"}):
        n_swa = sum(info.swa_layers)
        swa_base = info.metadata.get(f"{info.arch}.rope.freq_base_swa", 10000.0)
        notes.append(f"{n_swa} of {info.n_layer} layers use sliding-window attention and keep their own RoPE "
                     f"(base {float(swa_base):g}): these overrides reach only the global-attention layers")
    if p.get("rope_scaling") == "yarn" or (method == "model" and info.rope.scaling_type == "yarn"):
        notes.append("YaRN is active: nothing may shift KV positions (no context shift, no Self-Extend); "
                     "localctx only truncates or reuses the cache")
    if "yarn_attn_factor" in user and (p.get("rope_scaling") == "yarn" and user.get("yarn_ext_factor", 1) != 0):
        notes.append("--yarn-attn-factor is ignored by llama.cpp while YaRN extrapolation is on")
    if info.rope.scaling_type == "longrope" and n_ctx > (info.rope.original_context or 0) > 0:
        notes.append(f"LongRoPE switches to its long factors because n_ctx > {info.rope.original_context}, "
                     "even for short prompts; use a smaller --ctx when long context is not needed")
    if info.rope.rope_type == "none":
        method, reason, p = "none", f"{info.arch} has no RoPE: only the context size matters", {}
    se_params = p.pop("self_extend", None)
    warn_method = "yarn" if method == "model" else method
    if method == "manual":
        warn_method = p.get("rope_scaling") or "manual"
    return ExtensionPlan(
        method=method, n_ctx=n_ctx, n_ctx_train=train, factor=round(factor, 4), reason=reason,
        self_extend=se_params, warning=quality_warning(warn_method, factor), notes=notes,
        user_set=sorted(user), **{k: p.get(k) for k in ROPE_FIELDS},
    )


def apply_plan(settings: RuntimeSettings, plan: ExtensionPlan) -> RuntimeSettings:
    """Settings with the plan's llama.cpp parameters written in (n_ctx included)."""
    changes: dict[str, Any] = {"n_ctx": plan.n_ctx}
    changes.update(plan.parameters)
    extra = dict(settings.extra)
    extra["extension"] = {"method": plan.method, "factor": plan.factor, "self_extend": plan.self_extend}
    return settings.with_(extra=extra, **changes)
