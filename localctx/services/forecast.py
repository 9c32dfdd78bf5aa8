"""Speed forecasts from calibrations measured on this machine (core.forecast does the maths).

A calibration (``localctx bench MODEL``) times prompt chunks and short generations at a few depths
with llama.cpp's own counters and stores them keyed by what changes speed: the model file's
fingerprint, the machine (CPU, core count, llama.cpp backends and devices) and the settings that
change the work per token (threads, flash attention, KV types, GPU layers, batch and micro-batch).
Calibrations of different models with the same machine and settings live side by side in one
folder, so a model never calibrated is scaled from a neighbour ("scaled, not measured").

Every real ingest and reply is kept beside the calibration (``observe``) and folded into the fit:
the forecast gets closer to this machine's truth the more the tool is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import platform
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any

from localctx import paths
from localctx.core import forecast as fc
from localctx.core.cpu_load import CpuLoad
from localctx.core.model_info import ModelInfo, read_model_info
from localctx.core.settings import RuntimeSettings
from localctx.engine.base import Engine
from localctx.errors import LocalctxError, StateFileError, skip_state, state_file_error

FORMAT = 1
MAX_OBSERVATIONS = 64  # per kind; the oldest go first
MIN_OBSERVED = {fc.PROMPT: 64, fc.GEN: 8}  # shorter segments are mostly overhead and noise


# ---- the key -------------------------------------------------------------------------------------
def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


@lru_cache(maxsize=1)
def machine_identity() -> dict[str, Any]:
    """The CPU, its core count, and what llama.cpp runs on here (backends, devices, repacking)."""
    from localctx.engine.cpu_weights import choose
    from localctx.engine.probe import backend_report

    rep = backend_report()
    return {"cpu": _cpu_name(), "cores": os.cpu_count() or 1, "llama_cpp": rep.get("version"),
            "backends": sorted(set(rep.get("backends", []))),
            "devices": sorted(d.get("description") or d.get("name", "?") for d in rep.get("devices", [])),
            "repack": choose().calibration_key}


def speed_settings(s: RuntimeSettings) -> dict[str, Any]:
    """The settings that change the time per token (thread count resolved as llama.cpp gets it)."""
    from localctx.engine.params import default_threads

    return {"threads": s.n_threads or default_threads(),
            "flash_attn": {None: "auto", True: "on", False: "off"}[s.flash_attn],
            "type_k": s.type_k, "type_v": s.type_v,
            "gpu_layers": "auto" if s.n_gpu_layers is None else s.n_gpu_layers,
            "batch": s.n_batch, "ubatch": min(s.n_ubatch, s.n_batch),
            **({"rpc": s.rpc, "tensor_split": s.tensor_split} if s.rpc else {})}


def group_key(speed: dict[str, Any], machine: dict[str, Any]) -> str:
    """One folder per (machine, speed settings): the models calibrated there can scale to each other."""
    blob = json.dumps({"machine": machine, "settings": speed}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:20]


def group_dir(speed: dict[str, Any], machine: dict[str, Any] | None = None) -> Path:
    machine = machine if machine is not None else machine_identity()
    return paths.forecast_dir() / group_key(speed, machine)


def record_path(fingerprint: str, speed: dict[str, Any], machine: dict[str, Any] | None = None) -> Path:
    return group_dir(speed, machine) / f"{fingerprint[:24]}.json"


KERNELS_FILE = "kernels.json"  # the kernel probe of a (machine, settings) group, beside its calibrations


def _fingerprint(path: Path) -> str:
    from localctx.services.state_cache import model_fingerprint

    return model_fingerprint(path)


# ---- records -------------------------------------------------------------------------------------
def read_record(path: Path) -> dict[str, Any] | None:
    """A calibration or kernel probe; None when there is none, or (said once) when it is unusable."""
    try:
        data = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, NotADirectoryError):  # none yet (or no folder can hold one)
        return None
    except (OSError, ValueError) as exc:
        skip_state(state_file_error(path, exc, "a speed calibration",
                                    damaged_hint=f"delete {path}, then run `localctx bench` again"))
        return None
    if not isinstance(data, dict):
        skip_state(StateFileError(f"{path}: a speed calibration is damaged (not a JSON object)",
                                  f"delete {path}, then run `localctx bench` again"))
        return None
    return data if data.get("format") == FORMAT else None


def write_record(path: Path, data: dict[str, Any]) -> None:
    """Write a record atomically; StateFileError (one line) when the disk is full or not writable."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise state_file_error(path, exc, "a speed calibration") from None


def _segments(items: Any) -> list[fc.Segment]:
    out = []
    for d in items or []:
        try:
            out.append(fc.Segment.from_json(d))
        except (KeyError, TypeError, ValueError):
            continue
    return out


def _refit(data: dict[str, Any], shape: fc.ModelShape) -> None:
    segs = _segments(data.get("calibration")) + _segments(data.get("observations"))
    data["fits"] = {k: f.to_json() for k in fc.KINDS if (f := fc.fit(shape, segs, k)) is not None}
    data["shape"] = shape.to_json()


def _engine_info(engine: Engine) -> ModelInfo:
    return engine.info if engine.info is not None else read_model_info(engine.path)


def save_calibration(engine: Engine, segments: Sequence[fc.Segment], *, clock: str = "llama.cpp counters"
                     ) -> tuple[Path | None, dict[str, Any]]:
    """Store a calibration measured on this engine (observations already kept stay).  The path is None
    when it could not be stored (a full or read-only disk, said in one warning): the record, with its
    fits, is still returned so the measurements are shown."""
    path, data = calibration_record(_engine_info(engine), engine.settings, segments, clock=clock)
    try:
        write_record(path, data)
    except StateFileError as exc:
        skip_state(LocalctxError(f"{exc.message}; the measurements below are not kept", exc.hint))
        return None, data
    return path, data


def store_calibration(info: ModelInfo, settings: RuntimeSettings, segments: Sequence[fc.Segment], *,
                      clock: str = "llama.cpp counters") -> tuple[Path, dict[str, Any]]:
    """Store segments measured for ``info`` with ``settings`` as its calibration on this machine."""
    path, data = calibration_record(info, settings, segments, clock=clock)
    write_record(path, data)
    return path, data


def calibration_record(info: ModelInfo, settings: RuntimeSettings, segments: Sequence[fc.Segment], *,
                       clock: str = "llama.cpp counters") -> tuple[Path, dict[str, Any]]:
    """The calibration record of these segments (fits included) and where it is kept."""
    speed = speed_settings(settings)
    path = record_path(_fingerprint(info.path), speed)
    old = read_record(path) or {}
    data = {"format": FORMAT, "model": info.path.name, "path": str(info.path), "settings": speed,
            "machine": machine_identity(), "clock": clock,
            "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "calibration": [s.to_json() for s in segments], "observations": old.get("observations", [])}
    _refit(data, fc.shape_of(info, settings))
    return path, data


def observe(engine: Engine, kind: str, start: int, n: int, ms: float) -> None:
    """Keep one real measurement (an ingest or a reply) beside the calibration and refit.  Never
    raises: the truth is a bonus, and a read-only disk must not break a chat."""
    if n < MIN_OBSERVED.get(kind, 1) or ms <= 0:
        return
    try:
        info = _engine_info(engine)
        speed = speed_settings(engine.settings)
        path = record_path(_fingerprint(engine.path), speed)
        data = read_record(path) or {"format": FORMAT, "model": engine.path.name, "path": str(engine.path),
                               "settings": speed, "machine": machine_identity(), "clock": "llama.cpp counters",
                               "calibration": []}
        obs = [o for o in data.get("observations", []) if isinstance(o, dict)]
        obs.append(fc.Segment(kind, int(start), int(n), float(ms)).to_json())
        kept = [o for o in obs if o.get("kind") == fc.PROMPT][-MAX_OBSERVATIONS:] + \
               [o for o in obs if o.get("kind") == fc.GEN][-MAX_OBSERVATIONS:]
        data["observations"] = kept
        _refit(data, fc.shape_of(info, engine.settings))
        write_record(path, data)
    except Exception:  # noqa: BLE001 - see the docstring
        return


def observe_counters(engine: Engine, before: Any, after: Any, *, prompt_start: int, gen_start: int) -> None:
    """``observe`` what llama.cpp's counters say happened between two ``engine.counters()``."""
    dp, tp = after.n_prompt_eval - before.n_prompt_eval, after.t_prompt_ms - before.t_prompt_ms
    dg, tg = after.n_gen - before.n_gen, after.t_gen_ms - before.t_gen_ms
    if dp > 0:
        observe(engine, fc.PROMPT, prompt_start, dp, tp)
    if dg > 0:
        observe(engine, fc.GEN, gen_start, dg, tg)


# ---- the kernel probe -----------------------------------------------------------------------------
def read_kernels(folder: Path) -> fc.KernelCosts | None:
    data = read_record(folder / KERNELS_FILE)
    try:
        return fc.KernelCosts.from_json(data) if data else None
    except (KeyError, TypeError, ValueError, AttributeError):
        return None


# ---- the forecast ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class SpeedForecast:
    """A forecast, or why there is none and how to make one."""

    forecast: fc.Forecast | None
    hint: str | None = None
    load: CpuLoad | None = None  # the machine's load now, for these settings' threads

    @property
    def line(self) -> str:
        return fc.summary(self.forecast) if self.forecast is not None else (self.hint or "no speed forecast")

    @property
    def busy_note(self) -> str | None:
        """While other work holds the cores: what that does to this forecast and to the thread count."""
        if self.load is None:
            return None
        return self.load.forecast_note() if self.forecast is not None else self.load.notice()

    def to_json(self) -> dict[str, Any]:
        return {**(self.forecast.to_json() if self.forecast else {}), "available": self.forecast is not None,
                "hint": self.hint, "cpu_load": self.load.to_json() if self.load is not None else None,
                "busy_note": self.busy_note}


def _fits(data: dict[str, Any] | None) -> dict[str, fc.CostFit] | None:
    if not data:
        return None
    try:
        fits = {k: fc.CostFit.from_json(v) for k, v in (data.get("fits") or {}).items()}
    except (KeyError, TypeError, ValueError):
        return None
    return fits if all(k in fits for k in fc.KINDS) else None


def _neighbour(folder: Path, own: Path, shape: fc.ModelShape) -> tuple[dict[str, Any], dict[str, fc.CostFit]] | None:
    """The calibrated model closest in size (weight FLOPs) among those with the same machine and settings."""
    best = None
    for p in sorted(folder.glob("*.json")) if folder.is_dir() else []:
        if p == own:
            continue
        data = read_record(p)
        fits = _fits(data)
        if data is None or fits is None or not data.get("calibration"):
            continue
        flops = float((data.get("shape") or {}).get("weight_flops") or 0)
        if flops <= 0:
            continue
        distance = abs(math.log(flops / shape.weight_flops)) if shape.weight_flops > 0 else 0.0
        if best is None or distance < best[0]:
            best = (distance, data, fits)
    return None if best is None else (best[1], best[2])


def speed_flags(s: RuntimeSettings) -> str:
    """The flags that select these speed settings (``-t 1 -ctk q8_0``), to repeat in a command."""
    from localctx.core.flags import describe_settings

    given = {k: getattr(s, k) for k in ("n_threads", "type_k", "type_v", "flash_attn", "n_gpu_layers", "n_batch",
                                         "n_ubatch") if getattr(s, k) != getattr(RuntimeSettings(), k)}
    return describe_settings(given)


def bench_command(info: ModelInfo, s: RuntimeSettings) -> str:
    """The command that makes a calibration for these settings."""
    import shlex

    from localctx.models.catalog import short_reference

    flags = speed_flags(s)
    return f"localctx bench {shlex.quote(short_reference(info.path))}" + (f" {flags}" if flags else "")


@dataclass(frozen=True)
class _Source:
    fits: dict[str, fc.CostFit]
    source: str  # measured | scaled
    model: str
    observations: int = 0
    kernels: bool = False  # scaled with this machine's measured per-type kernel speed

    @property
    def band(self) -> float:
        """The extra error band of a scaled forecast (0: measured on this model)."""
        if self.source == "measured":
            return 0.0
        return fc.KERNEL_SCALED_BAND if self.kernels else fc.SCALED_BAND


def _source(info: ModelInfo, settings: RuntimeSettings, shape: fc.ModelShape) -> _Source | None:
    """This model's own calibration, else one scaled from the nearest calibrated neighbour."""
    own = record_path(_fingerprint(info.path), speed_settings(settings))
    data = read_record(own)
    fits = _fits(data)
    if fits is not None and data is not None and data.get("calibration"):  # observations alone only refine
        return _Source(fits, "measured", info.path.name, len(data.get("observations") or []))
    hit = _neighbour(own.parent, own, shape)
    if hit is None:
        return None
    src, sfits = hit
    src_shape = fc.ModelShape.weights_from_json(src["shape"])
    kernels = read_kernels(own.parent)
    # the probe's prices apply only where both shapes can be priced (a record from before the probe
    # has no per-type counts): otherwise the roofline, and the band and label say so
    if kernels is not None and not all(src_shape.kernel_ms(k, kernels) and shape.kernel_ms(k, kernels)
                                       for k in fc.KINDS):
        kernels = None
    return _Source({k: fc.scale_fit(f, src_shape, shape, kernels) for k, f in sfits.items()}, "scaled",
                   str(src.get("model")), kernels=kernels is not None)


def forecast_for(info: ModelInfo, settings: RuntimeSettings, n_ctx: int | None = None) -> SpeedForecast:
    """The speed forecast for ``info`` at ``n_ctx`` (default: the settings' context).  Never raises:
    a plan must not fail because its forecast could not be made."""
    from localctx.services.cpu import load_now

    return replace(_forecast_for(info, settings, n_ctx), load=load_now(settings.n_threads))


def _forecast_for(info: ModelInfo, settings: RuntimeSettings, n_ctx: int | None) -> SpeedForecast:
    n = n_ctx or settings.n_ctx or info.ctx_train
    if not Path(info.path).is_file():
        return SpeedForecast(None, "a speed forecast needs the model file on this machine")
    try:
        shape = fc.shape_of(info, settings)
        src = _source(info, settings, shape)
        if src is None:
            return SpeedForecast(None, f"no speed calibration for these settings on this machine: "
                                       f"`{bench_command(info, settings)}` makes one (a minute or two)")
        f = fc.forecast(shape, src.fits[fc.PROMPT], src.fits[fc.GEN], n, source=src.source,
                        calibrated_on=src.model, observations=src.observations, scaled_band=src.band,
                        kernel_probe=src.kernels)
        hint = None if src.source == "measured" else f"`{bench_command(info, settings)}` measures this model"
        return SpeedForecast(f, hint)
    except Exception as exc:  # noqa: BLE001 - see the docstring
        return SpeedForecast(None, f"no speed forecast ({type(exc).__name__}: {exc})")


def ingest_eta_text(eta: tuple[float, float, str]) -> str:
    """``about 2 min 10 s (forecast ±15%, measured)``: an expected wait from ``expected_ingest``, worded
    once for both front ends."""
    return f"about {fc.human_seconds(eta[0])} (forecast ±{eta[1]:.0%}, {eta[2]})"


def expected_ingest(engine: Engine, start: int, n: int) -> tuple[float, float, str] | None:
    """(seconds, band, label) to evaluate ``n`` tokens after ``start`` cached ones with this engine;
    None without a calibration (or on any error: this only informs)."""
    info = engine.info
    if info is None or n <= 0:
        return None
    try:
        shape = fc.shape_of(info, engine.settings)
        src = _source(info, engine.settings, shape)
    except Exception:  # noqa: BLE001 - see the docstring
        return None
    if src is None:
        return None
    pp = src.fits[fc.PROMPT]
    band = fc.band_for((pp,), start + n, src.band)
    how = "measured" if src.source == "measured" else "scaled, not measured"
    return pp.segment_ms(shape, start, n) / 1000, band, how
