"""Loading the variants an evaluation compares, through the one load gate, and Self-Extend.

Each (method, context) variant is planned like any load (``variant_plan`` is a RunPlan), every
variant of a sweep is checked against memory before the first one loads (``check_variants``), and
``load_variant`` loads through ``runtime.load_planned``: an evaluation never allocates what the
gate would refuse, unless ``--force``.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localctx.core.model_info import ModelInfo
from localctx.core.settings import EXTEND_METHODS, RuntimeSettings
from localctx.errors import SettingsError


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
                 plan_ctx: int | None = None, machine: Any = None) -> Any:
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
    machine = machine or machine_memory()
    mem = plan_for_machine(info, settings, machine)
    return RunPlan(info, settings, plan, mem, verdict(mem, machine), machine)


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
                 plan_ctx: int | None = None, *, force: bool = False) -> tuple[Any, MethodRun]:
    """Load ``info`` at ``n_ctx`` with the extension ``method`` planned for ``plan_ctx`` (default n_ctx),
    through the load gate (refused before any allocation when it does not fit, unless ``force``)."""
    from localctx.services.runtime import load_planned

    rp = variant_plan(info, base, method, n_ctx, plan_ctx)
    plan = rp.extension
    t0 = time.monotonic()
    engine = load_planned(rp, force=force)
    s = rp.settings.to_json()
    s.pop("extra", None)
    run = MethodRun(method=method, n_ctx=n_ctx, plan_ctx=plan_ctx or n_ctx, plan=plan.to_json() if plan else {},
                    settings=s, applied=dict(engine.report.applied), warnings=list(engine.report.warnings),
                    load_seconds=round(time.monotonic() - t0, 3))
    return engine, run


def self_extend_of(run: MethodRun) -> tuple[int, int] | None:
    se = run.plan.get("self_extend") or None
    if not se or int(se.get("group", 1)) <= 1:
        return None
    return int(se["group"]), int(se["window"])


class SelfExtend:
    """Groups KV positions as the prompt fills (llama.cpp completion.cpp's ga_n/ga_w scheme).

    Before each batch, every complete window of ``window`` tokens behind the newest ones has its
    positions divided by ``group``; the newest (< window) tokens keep exact relative positions.
    ``before_batch(n_cached)`` must run before each batch of at most ``window`` tokens."""

    def __init__(self, engine: Any, group: int, window: int) -> None:
        if window % group:
            raise SettingsError(f"Self-Extend window {window} is not divisible by group {group}")
        self.engine, self.group, self.window = engine, group, window
        self.n_past = 0  # next position
        self.ga_i = 0  # start of the not yet grouped region, in (grouped) positions
        self.seen = 0  # tokens in the cache

    def _sync(self, n_cached: int) -> None:
        self.n_past += n_cached - self.seen
        self.seen = n_cached

    def before_batch(self, n_cached: int) -> None:
        self._sync(n_cached)
        g, w = self.group, self.window
        while self.n_past >= self.ga_i + w:
            ib = (g * self.ga_i) // w
            bd = (w // g) * (g - 1)
            dd = (w // g) - ib * bd - w
            self.engine.shift_positions(self.ga_i, self.n_past, delta=ib * bd)
            self.engine.shift_positions(self.ga_i + ib * bd, self.ga_i + ib * bd + w, divide=g)
            self.engine.shift_positions(self.ga_i + ib * bd + w, self.n_past + ib * bd, delta=dd)
            self.n_past -= bd
            self.ga_i += w // g

    def ingest(self, tokens: Sequence[int], progress: Callable[[int], None] | None = None) -> None:
        """Evaluate ``tokens`` from an empty cache with grouped positions."""
        self.engine.ingest([])
        step = min(self.window, self.engine.n_batch)
        for i in range(0, len(tokens), step):
            self.before_batch(i)
            self.engine.ingest(list(tokens[:i + step]))
            if progress is not None:
                progress(min(i + step, len(tokens)))
        self._sync(len(tokens))


