"""The one load gate: every path that loads a model goes through here.

    resolve settings (flags > saved per-model settings > defaults)
      -> context-extension plan -> memory plan -> verdict (with the safety margin) -> load

``make_plan`` does everything but the load (``plan``, ``estimate``, the TUI's Plan screen call it);
``load_planned`` refuses a plan that does not fit *before* llama.cpp allocates anything, unless
``force``; ``load_engine`` is the two together.  ``ask``, ``chat``, ``summarize``, ``eval`` and both
TUI screens load only through ``load_engine``/``load_planned``, so the promise "know before you load"
holds for every command, and a refusal always reads the same: the numbers, the largest context that
fits with these settings, a KV cache type that would make the asked context fit, and ``--force``.

The GGUF header is read first, so a corrupt or truncated file is reported by localctx's reader and
never reaches llama.cpp.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctx.core.flags import ROPE_FIELDS, RuntimeFlags, SamplingFlags, describe_sampling, describe_settings
from localctx.core.memory import MemoryPlan
from localctx.core.model_info import ModelInfo, check_loadable, read_model_info
from localctx.core.rope import ExtensionPlan, apply_plan, plan_extension
from localctx.core.sampling import CHAT_SAMPLING, SamplingSettings
from localctx.core.settings import RuntimeSettings
from localctx.core.units import gib
from localctx.errors import InsufficientMemoryError, SettingsError
from localctx.services.forecast import SpeedForecast, forecast_for
from localctx.services.machine import MachineMemory, machine_memory
from localctx.services.memory import Verdict, max_context, plan_for_machine, verdict

if TYPE_CHECKING:
    from localctx.engine.llamacpp import LlamaEngine

FALLBACK_CTX = 4096  # only for GGUFs that do not state a trained context
#: the runtime flags a user gave, or (for scripts and tests) RuntimeSettings field overrides
Flags = RuntimeFlags | Mapping[str, Any] | None

#: KV cache types tried, in order, when a context does not fit: the least lossy first
_KV_WAYS_OUT: tuple[tuple[str, str], ...] = (("q8_0", "q8_0"), ("q4_0", "q4_0"))


# ---- settings ------------------------------------------------------------------------------------
def saved_settings(info: ModelInfo) -> dict[str, Any]:
    """The settings saved for this model (``plan --save``), as RuntimeSettings fields."""
    from localctx.models.settings_file import model_settings

    return model_settings(info.path)


@dataclass(frozen=True)
class SamplingPlan:
    """The sampling a command will use: ``base`` < saved for this model < flags, and which saved
    values apply (a command says so, as it does for the runtime settings)."""

    settings: SamplingSettings
    saved: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"sampling": self.settings.to_json(), "saved_sampling": self.saved}

    @property
    def shown(self) -> str:
        """The sampling as the flags that set it, only those that matter at this temperature (greedy
        ignores top-k/top-p/min-p; DRY's other settings only when it is on): `plan`'s sampling row and
        the TUI Plan screen's."""
        s = self.settings
        values = s.to_json()
        values.pop("seed", None)
        if s.greedy:
            for k in ("top_k", "top_p", "min_p"):
                values.pop(k)
        if not s.dry_multiplier:
            for k in ("dry_base", "dry_allowed_length", "dry_penalty_last_n"):
                values.pop(k)
        return describe_sampling(values)


def resolve_sampling(path: str | Path, flags: SamplingFlags | None = None,
                     base: SamplingSettings = CHAT_SAMPLING) -> SamplingPlan:
    """The sampling for the model at ``path``: ``base`` < saved (``plan MODEL --temp 0.2 --save``) <
    ``flags``.  Bad flags or saved values: SettingsError (one line, exit 2)."""
    from localctx.models.settings_file import model_sampling

    given = flags.overrides() if flags is not None else {}
    saved = {k: v for k, v in model_sampling(path).items() if k not in given}
    return SamplingPlan(base.with_changes(**saved, **given), saved)


def _given(flags: Flags) -> dict[str, Any]:
    if flags is None:
        return {}
    if isinstance(flags, RuntimeFlags):
        return flags.overrides()
    return {k: v for k, v in flags.items() if v is not None}


def resolve_settings(info: ModelInfo, flags: Flags = None) -> RuntimeSettings:
    """Defaults < saved per-model settings < flags; n_ctx falls back to the trained context."""
    values: dict[str, Any] = dict(saved_settings(info))
    values.update(_given(flags))
    s = RuntimeSettings().with_(**values)
    if s.n_ctx is None:
        s = s.with_(n_ctx=info.ctx_train or FALLBACK_CTX)
    return s


def saved_in_effect(info: ModelInfo, flags: Flags = None) -> dict[str, Any]:
    """The saved settings that the flags did not override: what a command must say it applied."""
    given = _given(flags)
    return {k: v for k, v in saved_settings(info).items() if k not in given}


def _preset_for(info: ModelInfo) -> Any:
    from localctx.models.presets import match_preset

    try:
        hit = match_preset(info.path.name, info.arch)
    except SettingsError:
        return None  # a broken preset file must not stop a model from loading; `localctx presets` reports it
    return hit[0] if hit else None


def plan_for(info: ModelInfo, settings: RuntimeSettings) -> tuple[RuntimeSettings, ExtensionPlan]:
    """Apply the context-extension plan (core.rope) to the settings; returns (settings, plan).

    With ``--extend auto`` and no RoPE values given, a matching preset's vendor recipe is used past the
    preset's native context (e.g. Qwen3: YaRN from 32768, not from the GGUF's 40960)."""
    preset = _preset_for(info)
    from_preset: list[str] = []
    n_ctx = settings.n_ctx or info.ctx_train
    if (preset is not None and settings.extend == "auto" and n_ctx > preset.native_ctx
            and not any(getattr(settings, k) is not None for k in ROPE_FIELDS)
            and preset.extension["method"] not in ("model", "none")):
        from_preset = list(preset.settings)
        settings = settings.with_(extend=preset.extension["method"], **preset.settings)
    plan = plan_extension(info, settings)
    if preset is not None:
        notes = list(plan.notes)
        notes.append(f"preset {preset.name}: {preset.extension.get('note', '')} (source: "
                     f"{preset.sources['extension']})")
        user = [k for k in plan.user_set if k not in from_preset]
        reason = plan.reason + (f"; vendor recipe from preset {preset.name}" if from_preset else "")
        plan = replace(plan, notes=notes, user_set=user, reason=reason)
    return apply_plan(settings, plan), plan


# ---- the plan: everything but the load ------------------------------------------------------------
@dataclass
class RunPlan:
    """What loading a model with these flags would do: settings, extension plan, memory verdict."""

    info: ModelInfo
    settings: RuntimeSettings
    extension: ExtensionPlan
    memory: MemoryPlan
    verdict: Verdict
    machine: MachineMemory
    saved: dict[str, Any] = field(default_factory=dict)  # saved per-model settings in effect
    forecast: SpeedForecast | None = None  # how long this context takes here (services.forecast)
    sampling: SamplingPlan | None = None  # what chat and ask would sample with (flags and saved values)

    @property
    def saved_line(self) -> str | None:
        """"using saved settings for this model: -ctk q8_0 --temp 0.2" when any apply, else None."""
        return saved_line(self.saved, self.sampling.saved if self.sampling else None)

    @property
    def busy_line(self) -> str | None:
        """Before a load: the busy-machine notice when these threads compete with other work for the cores."""
        load = self.forecast.load if self.forecast is not None else None
        return load.notice() if load is not None and load.oversubscribed else None

    def to_json(self) -> dict[str, Any]:
        s = self.settings.to_json()
        s.pop("extra", None)
        return {
            "model": str(self.info.path), "arch": self.info.arch, "n_ctx_train": self.info.ctx_train,
            "settings": s, "saved_settings": self.saved, "extension": self.extension.to_json(),
            "memory": self.memory.to_json(), "verdict": self.verdict.to_json(),
            "forecast": None if self.forecast is None else self.forecast.to_json(),
            **(self.sampling.to_json() if self.sampling else {}),
        }


def saved_line(saved: dict[str, Any], sampling: dict[str, Any] | None = None) -> str | None:
    """The one wording for saved settings a command applies (None when none do)."""
    text = " ".join(t for t in (describe_settings(saved), describe_sampling(sampling or {})) if t)
    return f"using saved settings for this model: {text}" if text else None


def plan_settings(info: ModelInfo, settings: RuntimeSettings, machine: MachineMemory | None = None,
                  saved: dict[str, Any] | None = None) -> RunPlan:
    """The extension plan, memory plan and verdict for settings already resolved: the one answer to
    "what would context N take", shared by ``plan``, the chat overflow dialog and the TUI."""
    machine = machine or machine_memory()
    if settings.n_ctx is None:
        settings = settings.with_(n_ctx=info.ctx_train or FALLBACK_CTX)
    settings, ext = plan_for(info, settings)
    mem = plan_for_machine(info, settings, machine)
    return RunPlan(info, settings, ext, mem, verdict(mem, machine), machine, dict(saved or {}),
                   forecast_for(info, settings))


def make_plan(model: str | Path | None, flags: Flags = None, *,
              settings: RuntimeSettings | None = None, machine: MachineMemory | None = None,
              sampling: SamplingFlags | None = None) -> RunPlan:
    """Resolve the model, read its header, settle settings and the extension plan, and judge the
    memory against this machine.  Loads nothing into llama.cpp.

    ``settings``: complete RuntimeSettings (flags and saved settings are then not consulted).
    ``sampling``: the sampling flags given (the plan shows the sampling they and the saved values make)."""
    from localctx.models.catalog import resolve_model

    info = read_model_info(resolve_model(None if model is None else str(model)))
    check_loadable(info)  # what inspect refuses is not planned as if it could run
    if settings is None:
        rp = plan_settings(info, resolve_settings(info, flags), machine, saved_in_effect(info, flags))
    else:
        rp = plan_settings(info, settings, machine)
    rp.sampling = resolve_sampling(info.path, sampling)
    return rp


def context_for(info: ModelInfo, settings: RuntimeSettings, n_ctx: int,
                machine: MachineMemory | None = None) -> RunPlan:
    """The same settings at another context (a suggested ``--ctx``): plan and verdict for it."""
    return plan_settings(info, settings.with_(n_ctx=n_ctx), machine)


# ---- the gate -------------------------------------------------------------------------------------
def ways_out(rp: RunPlan) -> tuple[int, str | None]:
    """(largest context that fits with these settings, KV flags that make the asked context fit)."""
    largest, kv = _ways_out(rp)
    return largest, None if kv is None else f"-ctk {kv} -ctv {kv} -fa on"


def _ways_out(rp: RunPlan) -> tuple[int, str | None]:
    largest = max_context(rp.info, rp.settings, rp.machine)
    for k, v in _KV_WAYS_OUT:
        if (rp.settings.type_k, rp.settings.type_v) == (k, v):
            continue
        trial = rp.settings.with_(type_k=k, type_v=v, flash_attn=True)
        try:
            fits = verdict(plan_for_machine(rp.info, trial, rp.machine), rp.machine).fits
        except SettingsError:  # a head size this KV type cannot hold: not a way out for this model
            continue
        if fits:
            return largest, k
    return largest, None


@dataclass(frozen=True)
class Refusal:
    """Why the gate refuses a plan and the ways out, for each front end to word with its own controls."""

    message: str  # the numbers, in one line
    need: int
    usable: int
    n_ctx: int
    largest: int  # the largest context that fits with these settings (0: not even 256 tokens)
    kv_type: str | None  # a K and V cache type (with flash attention) that makes n_ctx fit

    def cli_hint(self) -> str:
        """The ways out as the loading commands' flags (each of them has --force)."""
        hints = [f"the largest context that fits with these settings is {self.largest:,} (--ctx {self.largest})"
                 if self.largest else "not even 256 tokens fit with these settings"]
        if self.kv_type:
            hints.append(f"-ctk {self.kv_type} -ctv {self.kv_type} -fa on would make {self.n_ctx:,} fit")
        hints.append("--force loads anyway")
        return "; ".join(hints)


def refusal(rp: RunPlan) -> Refusal | None:
    """The gate's answer for a plan: None when it may load, else why not and the ways out."""
    if rp.verdict.fits is not False:
        return None
    largest, kv_type = _ways_out(rp)
    short = next(d for d in rp.verdict.devices if d.fits is False)
    summary = rp.verdict.summary.removeprefix("does not fit: ")  # said once, not twice
    n_ctx = rp.settings.n_ctx or 0
    return Refusal(f"{rp.info.path.name} at {n_ctx:,} tokens does not fit this machine: {summary}",
                   short.need, short.usable or 0, n_ctx, largest, kv_type)


def check_fits(rp: RunPlan) -> None:
    """Refuse a plan that does not fit, in one line with the numbers and every way out."""
    r = refusal(rp)
    if r is not None:
        raise InsufficientMemoryError(r.message, r.need, r.usable, r.cli_hint())


def load_planned(rp: RunPlan, *, force: bool = False) -> LlamaEngine:
    """Load a plan made by ``make_plan``/``plan_settings``: refused first if it does not fit."""
    check_loadable(rp.info)  # unknown arch / missing keys: refused before llama.cpp opens the file
    if not force:
        check_fits(rp)
    from localctx.engine.llamacpp import LlamaEngine

    return LlamaEngine(rp.info.path, rp.settings, info=rp.info, plan=rp.extension)


def load_engine(model: str | Path | None, settings: RuntimeSettings | None = None, *,
                flags: Flags = None, force: bool = False,
                machine: MachineMemory | None = None) -> LlamaEngine:
    """Resolve ``model``, validate its header, plan extension and memory, refuse what does not fit
    (unless ``force``), and load it with llama.cpp.

    ``settings``: complete RuntimeSettings (flags and saved settings are then ignored); otherwise they
    are resolved from ``flags`` and the saved per-model settings.
    Raises ModelNotFoundError, GGUFError, SettingsError (exit 2), InsufficientMemoryError or
    RuntimeLoadError (exit 1)."""
    return load_planned(make_plan(model, flags, settings=settings, machine=machine), force=force)


def memory_line(rp: RunPlan) -> str:
    """One line for a front end to show before loading: context, memory need, verdict."""
    return f"ctx {rp.settings.n_ctx:,}: needs {gib(rp.memory.total)}; {rp.verdict.summary}"
