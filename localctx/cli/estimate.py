"""`localctx estimate MODEL --ctx 64k`: RAM/VRAM a context needs, whether it fits, the largest that does."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from localctx.cli._options import JsonOpt, ModelArg
from localctx.cli._runtime_opts import Variants, compare_options
from localctx.core.flags import RuntimeFlags


def register(app: typer.Typer) -> None:
    @app.command()
    @compare_options
    def estimate(
        model: ModelArg = None,
        kv_unified: Annotated[bool, typer.Option("--kv-unified",
                                                 help="One KV buffer shared by all sequences.")] = False,
        max_ctx: Annotated[bool, typer.Option("--max-ctx",
                                              help="Find the largest context that fits, per KV type.")] = False,
        verify: Annotated[bool, typer.Option("--verify",
                                             help="Also ask llama.cpp (no-alloc dry run) and compare.")] = False,
        kv_type: Annotated[str | None, typer.Option("--kv-type", hidden=True)] = None,
        json: JsonOpt = False,
        *,
        runtime: RuntimeFlags,
        variants: Variants,
    ) -> None:
        """Plan the memory a model needs at a context, before loading it, exact to llama.cpp's allocations.

        MODEL may also be a preset (qwen3-8b) or a Hub reference (owner/repo:Q4_K_M): its header is read
        by HTTP range requests when it is not pulled. Saved settings (`plan --save`) apply and are named.
        -ctk and -ctv lists of the same length pair up (K with V); otherwise every combination is shown.

        Example: localctx estimate smollm2 --ctx 8k,32k -ctk f16,q8_0 -ctv f16,q8_0 --max-ctx
        """
        import time

        from localctx.cli._output import info as say
        from localctx.errors import SettingsError
        from localctx.services.forecast import forecast_for
        from localctx.services.machine import machine_memory
        from localctx.services.memory import max_context, plan_for_machine, verdict
        from localctx.services.runtime import resolve_settings, saved_in_effect, saved_line

        if kv_type is not None:
            raise SettingsError("--kv-type is gone: K and V are set apart, as in llama.cpp",
                                f"use -ctk {kv_type} -ctv {kv_type}")
        t0 = time.perf_counter()
        info = model_info(model)
        line = saved_line(saved_in_effect(info, runtime))
        if line:
            say(line)
        base = resolve_settings(info, runtime)
        if kv_unified:
            base = base.with_(kv_unified=True)
        contexts = variants.ctx or [base.n_ctx or info.ctx_train]
        machine = machine_memory()
        columns: list[dict[str, Any]] = []
        for n in contexts:
            for k, v in kv_pairs(variants, base):
                s = base.with_(n_ctx=n, type_k=k, type_v=v)
                plan = plan_for_machine(info, s, machine)
                columns.append({"n_ctx": n, "kv_type": kv_label(k, v), "type_k": k, "type_v": v, "settings": s,
                                "plan": plan, "verdict": verdict(plan, machine), "forecast": forecast_for(info, s)})
        best = {kv_label(k, v): max_context(info, base.with_(type_k=k, type_v=v), machine)
                for k, v in kv_pairs(variants, base)} if max_ctx else {}
        elapsed = time.perf_counter() - t0
        checks = []
        if verify:
            from localctx.services.memory import verify as run_verify

            checks = [run_verify(info, c["settings"], c["plan"]) for c in columns]
        if json:
            from localctx.cli._output import emit_json

            emit_json({
                "model": str(info.path), "arch": info.arch, "ctx_train": info.ctx_train,
                "saved_settings": saved_in_effect(info, runtime),
                "machine": {"ram_available": machine.ram_available, "gpus": machine.gpus},
                "plans": [{"n_ctx_requested": c["n_ctx"], "kv_type": c["kv_type"], "type_k": c["type_k"],
                           "type_v": c["type_v"], **c["plan"].to_json(), "verdict": c["verdict"].to_json(),
                           "forecast": c["forecast"].to_json()} for c in columns],
                "max_ctx": best or None,
                "verify": [{"mode": v.mode, "weights": v.weights, "kv": v.kv, "recurrent": v.recurrent,
                            "output": v.output, "compute": v.compute, "total": v.total, "note": v.note}
                           for v in checks] or None,
                "seconds": round(elapsed, 4),
            })
            return
        _render(info, columns, best, checks)


def kv_pairs(variants: Variants, base: Any) -> list[tuple[str, str]]:
    """(K type, V type) to compare: equal-length lists pair up, otherwise every combination."""
    ks = variants.type_k or [base.type_k]
    vs = variants.type_v or [base.type_v]
    if len(ks) == len(vs) > 1:
        return list(zip(ks, vs, strict=True))
    return [(k, v) for k in ks for v in vs]


def kv_label(k: str, v: str) -> str:
    return k if k == v else f"K {k}/V {v}"


def model_info(ref: str | None) -> Any:
    """The header of MODEL: local, pulled, or (a Hub reference or a preset not pulled yet) read
    remotely; offline, a preset that is not here says the exact `localctx pull` to run.  A model
    llama.cpp cannot load is refused as `inspect` refuses it, never planned as if it fit."""
    from localctx.core.model_info import check_loadable
    from localctx.errors import PresetNotPulledError
    from localctx.services.memory import load_model_info

    try:
        info = load_model_info(ref)
    except PresetNotPulledError as missing:
        from localctx.services.preset_source import remote_preset_info

        info = remote_preset_info(missing)
    check_loadable(info)
    return info


def _render(info: Any, columns: list[dict[str, Any]], best: dict[str, int], checks: list[Any]) -> None:
    from localctx.cli._forecast import forecast_cells
    from localctx.cli._output import hint, shown, stdout, warn
    from localctx.cli._tables import Col, side_by_side

    first = columns[0]["plan"]
    heads = []
    for c in columns:
        for dev in c["plan"].devices:
            head = f"{c['n_ctx']:,}\n{c['kv_type']}"
            heads.append(Col(head if len(c["plan"].devices) == 1 else f"{head}\n{dev.device}", "number", "right"))
    body: list[list[str]] = []
    rows = [("weights", "weights"), ("KV (full attn)", "kv_full"), ("KV (sliding)", "kv_swa"),
            ("recurrent state", "recurrent"), ("output buffer", "output"), ("compute buffer", "compute"),
            ("overhead (assumed)", "overhead")]
    for label, attr in rows:
        values = [getattr(d, attr) for c in columns for d in c["plan"].devices]
        if any(values) or attr in ("weights", "compute"):
            body.append([label, *[_b(v) for v in values]])
    body.append(["total", *[f"[bold]{_b(d.total)}[/]" for c in columns for d in c["plan"].devices]])
    fit_cells = []
    for c in columns:
        v = c["verdict"]
        for d in c["plan"].devices:
            dv = next((x for x in v.devices if x.device.startswith("RAM" if d.device == "CPU" else d.device)), None)
            ok = None if dv is None else dv.fits
            fit_cells.append("[green]fits[/]" if ok else "[red]no[/]" if ok is False else "?")
    body.append(["fits now", *fit_cells])
    cells = [(forecast_cells(c["forecast"]) if i == 0 else ("", "", "")) for c in columns
             for i, _d in enumerate(c["plan"].devices)]
    for k, label in enumerate(("ingest to fill", "gen tok/s when full", "500-token reply")):
        body.append([label, *[cell[k] for cell in cells]])
    title = f"{shown(info.path.name)} ({shown(info.arch)}, trained context {info.ctx_train:,})"
    stdout.print(side_by_side(stdout, Col("component"), heads, body, title=title, markup=True))
    lay = first.layout
    stdout.print(f"cells: {lay.n_ctx_seq:,} per stream × {lay.n_stream}"
                 + (f", SWA {lay.cells_swa:,}" if lay.layers_swa else "")
                 + f"; layers: {lay.layers_full} full" + (f", {lay.layers_swa} SWA" if lay.layers_swa else "")
                 + (f", {lay.layers_recurrent} recurrent" if lay.layers_recurrent else "")
                 + f"; flash attention {'on' if lay.flash_attn else 'off'}; ubatch {lay.n_ubatch}")
    for c in columns:
        stdout.print(f"{c['n_ctx']:,} · {c['kv_type']}: {c['verdict'].summary}")
    _forecast_notes(columns)
    for kv, n in best.items():
        stdout.print(f"largest context that fits with {kv} KV: [bold]{n:,}[/] tokens"
                     + (f" ({n / info.ctx_train:.1f}× trained)" if info.ctx_train else ""))
    if checks:
        _render_checks(columns, checks)
    for note in dict.fromkeys(n for c in columns for n in c["plan"].notes + c["verdict"].notes):
        hint(note)
    if any(c["n_ctx"] > info.ctx_train > 0 for c in columns):
        warn(f"a context above the trained {info.ctx_train:,} needs RoPE scaling; quality may drop "
             "(see `localctx eval`)")


def _forecast_notes(columns: list[dict[str, Any]]) -> None:
    """Where the times come from (once per distinct source), or how to get them."""
    from localctx.cli._output import hint, stdout

    seen = set()
    for c in columns:
        sf = c["forecast"]
        f = sf.forecast
        if f is None:
            line = f"speed: {sf.hint}"
        else:
            scaled = f"* scaled from {f.calibrated_on}, not measured"
            src = "measured on this model" if f.source == "measured" else scaled
            line = (f"times: ±{f.band:.0%} at {c['n_ctx']:,}, {src}; the document fills the context less a "
                    f"{f.reply_tokens}-token reply")
        if line not in seen:
            seen.add(line)
            (stdout.print if f is not None else hint)(line)


def _b(n: int) -> str:
    from localctx.cli._output import human_bytes

    return human_bytes(n).replace(" ", "\u00a0")  # keep number and unit together


def _render_checks(columns: list[dict[str, Any]], checks: list[Any]) -> None:
    from localctx.cli._output import stdout
    from localctx.cli._tables import Col, side_by_side

    body: list[list[str]] = []
    skipped: list[str] = []  # free text: a line of its own below the table, never squeezed into a cell
    for c, v in zip(columns, checks, strict=True):
        p = c["plan"]
        if v.mode == "skipped":
            skipped.append(f"{c['n_ctx']:,} · {c['kv_type']}: {v.note}")
            continue
        ours = {"weights": p.weights_bytes, "KV cache": p.kv_bytes, "recurrent": p.recurrent_bytes,
                "output": p.output_bytes, "compute": p.compute_bytes, "total": p.llama_total}
        theirs = {"weights": v.weights, "KV cache": v.kv, "recurrent": v.recurrent, "output": v.output,
                  "compute": v.compute, "total": v.total}
        for i, (k, ours_v) in enumerate(ours.items()):
            them = theirs[k]
            if not ours_v and not them:
                continue
            diff = "-" if them is None else ("0" if abs(ours_v - them) < 10486 else
                                             f"{(ours_v - them) / max(them, 1):+.1%}")
            body.append([f"{c['n_ctx']:,} · {c['kv_type']}" if i == 0 else "", k, _b(ours_v),
                         "-" if them is None else _b(them), diff])
    heads = [Col("component"), *(Col(h, "number", "right") for h in ("localctx", "llama.cpp", "difference"))]
    stdout.print(side_by_side(stdout, Col("context · KV"), heads, body,
                              title="localctx vs llama.cpp (" + checks[0].mode + ")"))
    for line in skipped:
        stdout.print(line, markup=False)
    stdout.print("[dim]llama.cpp prints MiB with two decimals: differences under 0.01 MiB show as 0[/]")
