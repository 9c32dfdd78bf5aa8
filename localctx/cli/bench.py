"""`localctx bench MODEL`: calibrate the speed forecast on this machine with these settings."""

from __future__ import annotations

import dataclasses
import statistics
import time
from typing import Annotated, Any

import typer

from localctx.cli._options import ForceOpt, JsonOpt, ModelArg
from localctx.cli._runtime_opts import runtime_options
from localctx.core.flags import RuntimeFlags
from localctx.core.units import parse_tokens
from localctx.errors import LocalctxError, SettingsError


def _depths(text: str) -> list[int]:
    parts = [p.strip() for p in text.split(",") if p.strip()]
    out = sorted({0 if p == "0" else parse_tokens(p, what="--depths value") for p in parts})
    if not out:
        raise SettingsError("--depths needs at least one depth", "use e.g. --depths 0,1k,2k,4k")
    return out


def register(app: typer.Typer) -> None:
    @app.command()
    @runtime_options
    def bench(
        model: ModelArg = None,
        depths: Annotated[str, typer.Option(
            "--depths", help="Context depths to measure at, comma-separated (capped by --ctx).")] = "0,1k,2k,4k",
        repeats: Annotated[int, typer.Option("--repeats", min=1, max=9, help="Rounds over the depths (medians).")] = 2,
        gen_tokens: Annotated[int, typer.Option("--gen-tokens", min=2, max=256,
                                                help="Tokens generated per generation measurement.")] = 16,
        kernel_probe: Annotated[bool | None, typer.Option(
            "--kernel-probe/--no-kernel-probe",
            help="Also time each weight type on a small probe model (~40 s on 2 cores), which scales this calibration "
                 "to models of other quant types; default: once per machine and settings.")] = None,
        force: ForceOpt = False,
        json: JsonOpt = False,
        *,
        runtime: RuntimeFlags,
    ) -> None:
        """Measure prompt and generation speed at a few depths and store the calibration that
        `plan`, `estimate`, chat and the TUI forecast from (a minute or two on a laptop CPU; the first
        run with these settings also times each weight type on a small probe model).

        The calibration is kept per model file, machine and the settings that change speed
        (-t, -fa, -ctk/-ctv, -ngl, -b/-ub): run it again with the flags you use.  Ctrl-C stops it within
        a batch (exit 130); a calibration is stored only once every depth is measured.

        Example: localctx bench smollm2 -t 4
        """
        from localctx.cli._output import emit_json, error_line, hint, info, shown, stdout
        from localctx.cli._stop import stop_on_sigint
        from localctx.core import forecast as fc
        from localctx.services import calibration as cal
        from localctx.services import forecast as sf

        ds = _depths(depths)
        flags = runtime
        if runtime.ctx is None:  # just enough context for the way up through the depths
            pos, chunk = 0, max(16, min(runtime.ubatch_size or 512, runtime.batch_size or 512))
            for d in ds:
                pos = max(d, 1, pos) + gen_tokens + chunk
            flags = dataclasses.replace(runtime, ctx=-(-(pos + 64) // 256) * 256)
        t0 = time.perf_counter()
        with stop_on_sigint() as stop:
            stored: list[Any] = []  # the calibration file, once saved: what a Ctrl-C after it keeps
            try:
                timings, path, record, kernels_file, engine = _measure(
                    model, flags, ds, repeats, gen_tokens, kernel_probe, stop.requested, stored, force)
            except cal.Cancelled:
                error_line(f"interrupted: the calibration is stored in {stored[0]}; the kernel probe was stopped "
                           "and is not stored (run bench again with --kernel-probe)" if stored else
                           "interrupted: bench stopped before the last measurement; nothing was stored "
                           "(a calibration needs every depth): run it again")
                raise typer.Exit(130) from None
        assert engine.info is not None
        shape = fc.shape_of(engine.info, engine.settings)
        fits = {k: fc.CostFit.from_json(v) for k, v in record["fits"].items()}
        ctx_fc = sf.forecast_for(engine.info, engine.settings, engine.info.ctx_train or engine.n_ctx)
        rows = _rows(timings, ds)
        elapsed = time.perf_counter() - t0
        if json:
            emit_json({"model": str(engine.path), "settings": record["settings"], "machine": record["machine"],
                       "calibration_file": str(path) if path else None, "clock": record["clock"],
                       "kernel_probe_file": str(kernels_file) if kernels_file else None,
                       "measurements": [dataclasses.asdict(t) for t in timings], "by_depth": rows,
                       "fits": {k: f.to_json() for k, f in fits.items()}, "shape": shape.to_json(),
                       "forecast_at_trained_ctx": ctx_fc.to_json(), "seconds": round(elapsed, 2)})
            return
        from localctx.cli._tables import Col, side_by_side

        heads = [Col(h, "number", "right") for h in ("prompt tok/s", "fit", "generation tok/s", "fit")]
        body = [[f"{r['depth']:,}", _rate(r.get("prompt_tok_s")), _rate(fits[fc.PROMPT].tok_s(shape, r["depth"])),
                 _rate(r.get("gen_tok_s")), _rate(fits[fc.GEN].tok_s(shape, r["depth"]))] for r in rows]
        stdout.print(side_by_side(stdout, Col("depth", "number", "right"), heads, body, boxed=True,
                                  title=f"{shown(engine.path.name)}: speed by depth (medians of {repeats}, "
                                  "llama.cpp counters)"))
        stdout.print(f"fit error (rms): prompt {fits[fc.PROMPT].error:.1%}, generation {fits[fc.GEN].error:.1%}")
        if ctx_fc.forecast is not None:
            stdout.print(f"at the trained context {ctx_fc.forecast.n_ctx:,}: {ctx_fc.line}")
        info(f"calibration stored in {path} ({elapsed:.0f} s)" if path else f"measured in {elapsed:.0f} s")
        if kernels_file:
            info(f"kernel probe stored in {kernels_file}: other models are scaled from this calibration by it")
        from localctx.core.flags import command_line

        given = {k: v for k, v in runtime.overrides().items() if k != "n_ctx"}
        hint(command_line("localctx plan", model or "smollm2", {"n_ctx": "32k", **given}) + "  # shows the forecast")


def _measure(model: str | None, flags: RuntimeFlags, ds: list[int], repeats: int, gen_tokens: int,
             kernel_probe: bool | None, should_stop: Any, stored: list[Any], force: bool) -> tuple[Any, ...]:
    """Load, calibrate, store, then probe the kernels when asked or never done: (timings, calibration
    file, record, kernel probe file or None, the closed engine).  ``should_stop`` (Ctrl-C) ends it with
    ``Cancelled`` between measurements or inside a batch; ``stored`` gets the calibration file once saved."""
    from localctx.cli._output import warn
    from localctx.cli._progress import LongWork
    from localctx.core import forecast as fc
    from localctx.services import calibration as cal
    from localctx.services import forecast as sf
    from localctx.services import kernel_probe as kp
    from localctx.services.runtime import load_engine

    engine = load_engine(model, flags=flags, force=force)
    try:
        with LongWork(f"calibrating {engine.path.name}") as work:
            def update(done: int, total: int, label: str) -> None:
                work.count(done, total, "measurements", rate_unit="", detail=label)

            timings = cal.calibrate(engine, ds, repeats=repeats, gen_tokens=gen_tokens, progress=update,
                                    should_stop=should_stop)
        if not {t.kind for t in timings} >= {fc.PROMPT, fc.GEN}:
            raise SettingsError(f"a context of {engine.n_ctx:,} tokens leaves no room to measure a "
                                f"micro-batch and a generation", "leave --ctx out, or give at least --ctx 1024")
        path, record = sf.save_calibration(engine, [t.segment() for t in timings])
        stored.append(path)
        probe = kernel_probe if kernel_probe is not None else not kp.has_kernels(engine.settings)
        kernels_file = None
        if probe:
            engine.close()  # the probe loads its own small models
            with LongWork("kernel probe") as work:
                def probing(done: int, total: int, label: str) -> None:
                    if should_stop():  # between weight types: each takes a few seconds
                        raise cal.Cancelled
                    work.count(done, total, "weight types", rate_unit="", detail=label)

                try:
                    kernels_file, _ = kp.probe_kernels(engine.settings, progress=probing)
                except LocalctxError as exc:  # the calibration is stored; only the scaling lacks prices
                    warn(f"{exc.message}; other models are scaled by FLOPs and bytes until "
                         f"`localctx bench ... --kernel-probe` succeeds")
    finally:
        engine.close()
    return timings, path, record, kernels_file, engine


def _rate(v: float | None) -> str:
    return "-" if v is None else f"{v:,.1f}"


def _rows(timings: list[Any], depths: list[int]) -> list[dict[str, Any]]:
    """Medians at each asked depth (the timed fills between depths stay in the fit, not the table)."""
    by: dict[int, dict[str, list[float]]] = {}
    for t in timings:
        if t.depth is not None and t.depth in depths and t.counter_ms > 0:
            by.setdefault(t.depth, {}).setdefault(t.kind, []).append(t.n / t.counter_ms * 1000)
    return [{"depth": d, "prompt_tok_s": statistics.median(v["prompt"]) if "prompt" in v else None,
             "gen_tok_s": statistics.median(v["gen"]) if "gen" in v else None} for d, v in sorted(by.items())]
