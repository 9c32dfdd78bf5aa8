"""Load a model for chat/summarize/eval: resolve it, read its header, settle the settings, plan the
context extension, and hand back a LlamaEngine.

Precedence of settings: flags > per-model config (``localctx.config``) > defaults, and n_ctx falls
back to the model's trained context (never llama-cpp-python's 512).  The GGUF header is read first so
a corrupt or truncated file is reported by localctx's reader and never reaches llama.cpp.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctx.core.model_info import ModelInfo, check_loadable, read_model_info
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


_ROPE_FIELDS = ("rope_scaling", "rope_freq_base", "rope_freq_scale", "yarn_orig_ctx", "yarn_ext_factor",
                "yarn_attn_factor", "yarn_beta_fast", "yarn_beta_slow")


def _preset_for(info: ModelInfo) -> Any:
    if importlib.util.find_spec("localctx.presets") is None:
        return None
    from localctx.errors import SettingsError
    from localctx.presets import match_preset

    try:
        hit = match_preset(info.path.name, info.arch)
    except SettingsError:
        return None  # a broken preset file must not stop a model from loading; `localctx presets` reports it
    return hit[0] if hit else None


def plan_for(info: ModelInfo, settings: RuntimeSettings) -> tuple[RuntimeSettings, ExtensionPlan | None]:
    """Apply the context-extension plan (core.rope) to the settings; returns (settings, plan).

    With ``--extend auto`` and no RoPE values given, a matching preset's vendor recipe is used past the
    preset's native context (e.g. Qwen3: YaRN from 32768, not from the GGUF's 40960)."""
    from dataclasses import replace

    from localctx.core.rope import apply_plan, plan_extension

    preset = _preset_for(info)
    from_preset: list[str] = []
    n_ctx = settings.n_ctx or info.ctx_train
    if (preset is not None and settings.extend == "auto" and n_ctx > preset.native_ctx
            and not any(getattr(settings, k) is not None for k in _ROPE_FIELDS)
            and preset.extension["method"] not in ("model", "none")):
        from_preset = list(preset.settings)
        settings = settings.with_(extend=preset.extension["method"], **preset.settings)
    plan = plan_extension(info, settings)
    if preset is not None:
        notes = list(plan.notes)
        notes.append(f"preset {preset.name}: {preset.extension.get('note', '')} (source: {preset.sources['extension']})")
        user = [k for k in plan.user_set if k not in from_preset]
        reason = plan.reason + (f"; vendor recipe from preset {preset.name}" if from_preset else "")
        plan = replace(plan, notes=notes, user_set=user, reason=reason)
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
    check_loadable(info)  # unknown arch / missing keys: refused before llama.cpp opens the file
    if settings is None:
        settings = resolve_settings(info, flags)
    elif settings.n_ctx is None:
        settings = settings.with_(n_ctx=info.ctx_train or FALLBACK_CTX)
    settings, plan = plan_for(info, settings)
    engine = LlamaEngine(path, settings)
    engine.info = info  # type: ignore[attr-defined]
    engine.plan = plan  # type: ignore[attr-defined]
    return engine


# ---- `localctx plan`: extension + memory, before anything is loaded ------------------------------------
@dataclass
class RunPlan:
    """What loading ``model`` with these flags would do: settings, extension plan, memory verdict."""

    info: ModelInfo
    settings: RuntimeSettings
    extension: ExtensionPlan | None
    memory: Any = None  # localctx.core.memory.MemoryPlan when the memory planner is installed
    verdict: Any = None  # localctx.services.memory.Verdict
    memory_note: str | None = None  # why there is no memory verdict

    def to_json(self) -> dict[str, Any]:
        s = self.settings.to_json()
        s.pop("extra", None)
        return {
            "model": str(self.info.path), "arch": self.info.arch, "n_ctx_train": self.info.ctx_train,
            "settings": s, "extension": self.extension.to_json() if self.extension else None,
            "memory": self.memory.to_json() if self.memory is not None else None,
            "verdict": self.verdict.to_json() if self.verdict is not None else None,
            "memory_note": self.memory_note,
        }


def make_plan(model: str | Path | None, flags: Any = None, *, machine: Any = None) -> RunPlan:
    """Resolve the model, read its header, settle settings and the extension plan, and ask the memory
    planner (when installed) whether it fits this machine.  Loads nothing into llama.cpp."""
    from localctx.catalog import resolve_model

    info = read_model_info(resolve_model(None if model is None else str(model)))
    settings, plan = plan_for(info, resolve_settings(info, flags))
    if importlib.util.find_spec("localctx.services.memory") is None:
        return RunPlan(info, settings, plan, memory_note="memory verdict unavailable: the memory planner is not installed")
    from localctx.services.memory import plan_for_machine, verdict

    if machine is None:
        from localctx.sysinfo import machine_memory

        machine = machine_memory()
    mem = plan_for_machine(info, settings, machine)
    return RunPlan(info, settings, plan, mem, verdict(mem, machine))
