"""Load a model for chat/summarize/eval: resolve it, read its header, settle the settings, plan the
context extension, and hand back a LlamaEngine.

Precedence of settings: flags > per-model config (``localctx.config``) > defaults, and n_ctx falls
back to the model's trained context (never llama-cpp-python's 512).  The GGUF header is read first so
a corrupt or truncated file is reported by localctx's reader and never reaches llama.cpp.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctx.core.model_info import ModelInfo, read_model_info
from localctx.core.settings import RuntimeSettings

if TYPE_CHECKING:
    from localctx.core.rope import ExtensionPlan
    from localctx.engine.llamacpp import LlamaEngine

FALLBACK_CTX = 4096  # only for GGUFs that do not state a trained context


def _overrides(flags: Any) -> dict[str, Any]:
    if flags is None:
        return {}
    if hasattr(flags, "overrides"):
        return dict(flags.overrides())
    if isinstance(flags, Mapping):
        return {k: v for k, v in flags.items() if v is not None}
    raise TypeError(f"flags must be RuntimeFlags or a mapping, not {type(flags).__name__}")


def _model_config(info: ModelInfo) -> dict[str, Any]:
    if importlib.util.find_spec("localctx.config") is None:
        return {}
    from localctx.config import model_settings

    return model_settings(info.path)


def resolve_settings(info: ModelInfo, flags: Any = None) -> RuntimeSettings:
    """Defaults < per-model config < flags (RuntimeFlags or a mapping of RuntimeSettings fields)."""
    values: dict[str, Any] = {}
    values.update(_model_config(info))
    values.update(_overrides(flags))
    s = RuntimeSettings().with_(**values)
    if s.n_ctx is None:
        s = s.with_(n_ctx=info.ctx_train or FALLBACK_CTX)
    return s


def plan_for(info: ModelInfo, settings: RuntimeSettings) -> tuple[RuntimeSettings, ExtensionPlan | None]:
    """Apply the context-extension plan (core.rope) to the settings; returns (settings, plan)."""
    if importlib.util.find_spec("localctx.core.rope") is None:
        return settings, None
    from localctx.core.rope import apply_plan, plan_extension

    plan = plan_extension(info, settings)
    return apply_plan(settings, plan), plan


def load_engine(model: str | Path | None, settings: RuntimeSettings | None = None, *, flags: Any = None,
                logits_all: bool = False) -> LlamaEngine:
    """Resolve ``model``, validate its header, plan the extension, and load it with llama.cpp.

    ``settings``: a complete RuntimeSettings (flags/config are then ignored); otherwise they are
    resolved from ``flags`` and the per-model config.  ``logits_all`` is accepted for callers that
    score every position: the engine requests per-position logits per batch, so nothing extra is
    allocated for it.
    Raises ModelNotFoundError, GGUFError, SettingsError (exit 2) or RuntimeLoadError (exit 1)."""
    from localctx.catalog import resolve_model
    from localctx.engine.llamacpp import LlamaEngine

    path = resolve_model(None if model is None else str(model))
    info = read_model_info(path)
    if settings is None:
        settings = resolve_settings(info, flags)
    elif settings.n_ctx is None:
        settings = settings.with_(n_ctx=info.ctx_train or FALLBACK_CTX)
    settings, plan = plan_for(info, settings)
    engine = LlamaEngine(path, settings)
    engine.info = info  # type: ignore[attr-defined]
    engine.plan = plan  # type: ignore[attr-defined]
    return engine
