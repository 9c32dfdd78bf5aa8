"""One measured configuration: the model loaded with the planner's settings for a method and length,
and the results file that records it next to what llama.cpp said it applied.

Every evaluation loads through the load gate (``services.runtime.load_planned``), so a length that does
not fit memory is refused before llama.cpp allocates it, as in every other command.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from localctx import paths
from localctx.core.model_info import ModelInfo
from localctx.core.settings import EXTEND_METHODS, RuntimeSettings
from localctx.errors import SettingsError, skip_state, state_file_error

if TYPE_CHECKING:
    from localctx.engine.llamacpp import LlamaEngine

#: (tokens done, tokens total, what is running) - total is an estimate (prefix reuse skips work)
EvalProgress = Callable[[int, int, str], None]


# ---- loading one variant -------------------------------------------------------------------------
@dataclass
class MethodRun:
    """One loaded configuration: the planner's decision and what llama.cpp reported applying."""

    method: str
    n_ctx: int
    plan_ctx: int  # the context the plan was made for (== n_ctx unless measuring a short-context tax)
    plan: dict[str, Any]
    settings: dict[str, Any]
    applied: dict[str, Any]
    warnings: list[str]
    load_seconds: float

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)


def check_methods(methods: Sequence[str]) -> list[str]:
    out: list[str] = []
    for m in methods:
        if m not in EXTEND_METHODS:
            raise SettingsError(f"unknown method '{m}'", f"use one of: {', '.join(EXTEND_METHODS)}")
        if m not in out:
            out.append(m)
    if not out:
        raise SettingsError("no method given", f"use one of: {', '.join(EXTEND_METHODS)}")
    return out


def resolve(model: str | Path | None) -> ModelInfo:
    from localctx.core.model_info import check_loadable, read_model_info
    from localctx.models.catalog import resolve_model

    info = read_model_info(resolve_model(None if model is None else str(model)))
    check_loadable(info)
    return info


def variant_plan(info: ModelInfo, base: RuntimeSettings, method: str, n_ctx: int,
                 plan_ctx: int | None = None) -> Any:
    """The RunPlan (settings, extension plan, memory verdict) of one variant: ``method`` planned for
    ``plan_ctx`` (default n_ctx), loaded at ``n_ctx``.  Loads nothing."""
    from localctx.services.machine import machine_memory
    from localctx.services.memory import plan_for_machine, verdict
    from localctx.services.runtime import RunPlan, plan_for

    target = plan_ctx or n_ctx
    settings, plan = plan_for(info, base.with_(n_ctx=target, extend=method))
    settings = settings.with_(n_ctx=n_ctx)
    se = plan.self_extend if plan is not None else None
    if se and se.get("group", 1) > 1:  # batches must not straddle a Self-Extend window
        settings = settings.with_(n_batch=min(settings.n_batch, se["window"]),
                                  n_ubatch=min(settings.n_ubatch, se["window"]))
    machine = machine_memory()
    memory = plan_for_machine(info, settings, machine)
    return RunPlan(info, settings, plan, memory, verdict(memory, machine), machine)


def check_variants(info: ModelInfo, base: RuntimeSettings, methods: Sequence[str], lengths: Sequence[int],
                   plan_ctx: int | None = None, *, force: bool = False) -> None:
    """Refuse, before the first load, a run where any variant does not fit memory (unless ``force``):
    a sweep must not stop at its largest context after an hour of smaller ones."""
    if force:
        return
    from localctx.services.runtime import check_fits

    for n in sorted(set(lengths), reverse=True):
        for method in methods:
            check_fits(variant_plan(info, base, method, n, plan_ctx))


def load_variant(info: ModelInfo, base: RuntimeSettings, method: str, n_ctx: int,
                 plan_ctx: int | None = None, *, force: bool = False) -> tuple[LlamaEngine, MethodRun]:
    """Load ``info`` at ``n_ctx`` with the extension ``method`` planned for ``plan_ctx`` (default n_ctx),
    through the load gate: refused before loading if it does not fit memory, unless ``force``."""
    from localctx.services.runtime import load_planned

    rp = variant_plan(info, base, method, n_ctx, plan_ctx)
    t0 = time.monotonic()
    engine = load_planned(rp, force=force)
    s = rp.settings.to_json()
    s.pop("extra", None)
    plan = rp.extension
    run = MethodRun(method=method, n_ctx=n_ctx, plan_ctx=plan_ctx or n_ctx, plan=plan.to_json() if plan else {},
                    settings=s, applied=dict(engine.report.applied), warnings=list(engine.report.warnings),
                    load_seconds=round(time.monotonic() - t0, 3))
    return engine, run


def self_extend_of(run: MethodRun) -> tuple[int, int] | None:
    se = run.plan.get("self_extend") or None
    if not se or int(se.get("group", 1)) <= 1:
        return None
    return int(se["group"]), int(se["window"])


# ---- results files -----------------------------------------------------------------------------------
def _stamp() -> str:
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def write_results(kind: str, info: ModelInfo, data: dict[str, Any]) -> Path | None:
    """Save a run's results; None (said in one warning) when the disk is full or not writable: the
    numbers were measured and are still shown."""
    d = paths.evals_dir()
    path = d / f"{_stamp()}-{kind}-{info.path.stem}.json"
    tmp = path.with_suffix(".partial")
    try:
        paths.ensure(d)
        n = 1
        while path.exists():
            n += 1
            path = d / f"{_stamp()}-{kind}-{info.path.stem}-{n}.json"
        tmp = path.with_suffix(".partial")
        tmp.write_text(json.dumps(data, indent=1, default=str))
        tmp.replace(path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        skip_state(state_file_error(path, exc, "the eval results"))
        return None
    return path


def header(kind: str, info: ModelInfo) -> dict[str, Any]:
    from importlib.metadata import PackageNotFoundError, version

    try:  # the llama.cpp build is part of what reproduces a result
        lcp = version("llama_cpp_python")
    except PackageNotFoundError:  # pragma: no cover
        lcp = None
    return {"kind": kind, "created": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
            "model": {"path": str(info.path), "name": info.name, "arch": info.arch, "size": info.file_size,
                      "n_ctx_train": info.ctx_train}, "llama_cpp_python": lcp}
