#!/usr/bin/env python
"""Benchmark: what each context-extension method costs, measured side by side in one run.

- SmolLM2-135M (trained 8192): perplexity by position over ONE 16K-token window (2x) of a long
  public-domain text, and passkey retrieval at 8K and 16K (depths 0.25 and 0.75), for none, linear,
  ntk, yarn, the auto plan and Self-Extend.
- gemma-3-270m (trained 32768, sliding-window layers keep their own RoPE): perplexity by position at
  8K with each method's settings as planned for 2x (64K), against no override.

Methods whose planned llama.cpp settings are identical (e.g. auto == yarn here, and every method at
8K, inside the trained window) are measured once and reported for each.  Each stage rewrites the
`extension` section of docs/benchmarks.md, so a stopped run still leaves its finished tables.

Usage: nice .venv/bin/python scripts/bench_extension.py [--quick] [--trials 1] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from _benchmd import write_section

from localctx.core import ppl as pplmath
from localctx.core.settings import RuntimeSettings
from localctx.services import evaluate as ev
from localctx.services.runtime import plan_for, resolve_settings

TEXT = Path(__file__).resolve().parent.parent / "tests" / "data" / "pride_and_prejudice.txt"
METHODS = ["none", "linear", "ntk", "yarn", "auto", "self-extend"]
GEMMA_METHODS = ["none", "linear", "ntk", "yarn", "auto"]


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def plan_key(info: Any, base: RuntimeSettings, method: str, plan_ctx: int) -> str:
    _, plan = plan_for(info, base.with_(n_ctx=plan_ctx, extend=method))
    params = dict(plan.parameters)
    if params == {"rope_scaling": "none"} and info.rope.scaling_type in (None, "none") and not info.rope.scaling_factor:
        params = {}  # "none" on a GGUF without scaling is exactly the model's own RoPE
    se = plan.self_extend if plan.self_extend and plan.self_extend.get("group", 1) > 1 else None
    return json.dumps([params, se], sort_keys=True, default=str)


def unique_methods(info: Any, base: RuntimeSettings, methods: list[str], plan_ctx: int) -> dict[str, str]:
    """method -> the first method with the same planned llama.cpp settings (itself when unique)."""
    first: dict[str, str] = {}
    out: dict[str, str] = {}
    for m in methods:
        k = plan_key(info, base, m, plan_ctx)
        out[m] = first.setdefault(k, m)
    return out


def progress_printer(stage: str) -> Any:
    last = [0.0]

    def cb(done: int, total: int, label: str) -> None:
        now = time.monotonic()
        if now - last[0] > 60:
            last[0] = now
            log(f"{stage}: {label} {done}/{total} tokens")
    return cb


class Fragments:
    """Each stage saves its result under ``out`` (stages run as parallel processes, one per method, so
    the contended CPU is used and a stopped run keeps every finished measurement); every save
    re-renders the whole `extension` section from all fragments present."""

    def __init__(self, out: Path, args: argparse.Namespace) -> None:
        self.out, self.args = out, args
        out.mkdir(parents=True, exist_ok=True)

    def save(self, name: str, data: dict[str, Any]) -> None:
        tmp = self.out / f"{name}.json.partial"
        tmp.write_text(json.dumps(data, default=str))
        tmp.replace(self.out / f"{name}.json")
        self.render()

    def load(self) -> dict[str, dict[str, Any]]:
        out = {}
        for p in sorted(self.out.glob("*.json")):
            try:
                out[p.stem] = json.loads(p.read_text())
            except ValueError:
                continue
        return out

    def render(self) -> None:
        frags = self.load()
        if not frags:
            return
        t_start = min(f["started"] for f in frags.values())
        t_end = max(f["ended"] for f in frags.values())
        busy = sum(f["ended"] - f["started"] for f in frags.values())
        head = ["## Context extension: what each method costs (`scripts/bench_extension.py`)", "",
                f"Run ended {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime(t_end))}: {len(frags)} measurements, "
                f"{busy / 60:.0f} min of stage time, {(t_end - t_start) / 60:.0f} min wall-clock (one process per "
                f"method and stage, in parallel, under `nice` on a shared 2-core CPU; llama.cpp n_threads="
                f"{self.args.threads}). Stage times: "
                + ", ".join(f"{k} {(f['ended'] - f['started']) / 60:.0f} min" for k, f in frags.items()) + ".",
                "Text: `tests/data/pride_and_prejudice.txt` (public domain). Passkey: llama.cpp passkey texts, "
                f"greedy decoding, {self.args.trials} key(s) per cell, seed 0. Methods whose planned llama.cpp "
                "settings are identical are measured once (marked `= other`); `…` = not measured (run stopped). "
                "Raw results "
                "(plans, llama.cpp's applied values, per-token log-probs) are the JSON files named at the end "
                "(under the data dir's `evals/`)."]
        note = self.out / "note.txt"
        head += [note.read_text().strip(), ""] if note.exists() else [""]
        body: list[str] = []
        ppl_runs = {k[4:]: f for k, f in frags.items() if k.startswith("ppl-")}
        if ppl_runs:
            alias = unique_of(frags, "ppl")
            n = len(ppl_runs[next(iter(ppl_runs))]["logprobs"]) + 1
            pc = ppl_runs[next(iter(ppl_runs))]["run"]["plan_ctx"]
            body.append(f"### SmolLM2-135M: perplexity by position, one {n:,}-token window ({n / 8192:g}x the trained "
                        f"8,192; methods planned for {pc:,})\n\n"
                        + ppl_table(ppl_runs, alias, METHODS, (n // 2, n)) + "\n")
            named = ["none", "linear", "ntk", "yarn", "self-extend"]
            if alias.get("auto") in ppl_runs and sum(alias.get(m) in ppl_runs for m in named) >= 2:
                text, verdict = paired_lines(ppl_runs, alias, named, (n // 2, n))
                missing = [m for m in named if alias.get(m) not in ppl_runs]
                body.append(text + ("\n- not measured in this run: " + ", ".join(missing) if missing else "") + "\n")
                body.append(verdict_text(alias, verdict))
        cells = [c for k, f in frags.items() if k.startswith("passkey") for c in f["cells"]]
        if cells:
            body.append("### SmolLM2-135M: passkey retrieval (correct / trials)\n\n" + passkey_table(cells) + "\n")
        g_runs = {k[6:]: f for k, f in frags.items() if k.startswith("gemma-")}
        if g_runs:
            galias = unique_of(frags, "gemma")
            n = len(g_runs[next(iter(g_runs))]["logprobs"]) + 1
            plan_ctx = g_runs[next(iter(g_runs))]["run"]["plan_ctx"]
            body.append(f"### gemma-3-270m: perplexity by position at {n:,} (inside its trained 32,768), each "
                        f"method's settings as planned for {plan_ctx:,} (2x)\n\n"
                        + ppl_table(g_runs, galias, GEMMA_METHODS, (0, n))
                        + "\n\nOnly the global-attention layers take the overrides; the sliding-window layers keep "
                        "their trained RoPE. Paired against no override (same tokens):\n")
            if "none" in g_runs:
                for m in GEMMA_METHODS:
                    src = galias.get(m)
                    if m != "none" and src in g_runs:
                        d = pplmath.paired_diff(g_runs[src]["logprobs"], g_runs["none"]["logprobs"])
                        body.append(f"- {m}: ppl x{d.ppl_ratio:.4f} (NLL {d.mean:+.4f} ± {_se(d)})")
                body.append("")
        files = [x for f in frags.values() for x in f.get("files", [])]
        tail = ["", "Result files: " + ", ".join(f"`{Path(x).name}`" for x in files)] if files else []
        write_section("extension", "\n".join(head + body + tail))


def unique_of(frags: dict[str, dict[str, Any]], prefix: str) -> dict[str, str]:
    for k, f in frags.items():
        if k.startswith(prefix + "-"):
            return dict(f["alias"])
    return {}


def ppl_table(runs: dict[str, dict[str, Any]], alias: dict[str, str], methods: list[str],
              region: tuple[int, int]) -> str:
    best = min(runs, key=lambda m: -sum(runs[m]["logprobs"]))  # noise of the best-predicting run
    first = runs[best]
    buckets = pplmath.buckets(first["logprobs"], first["bucket"])
    cols = [b.label() for b in buckets]
    lo, hi = region
    lines = ["| method | " + " | ".join(cols)
             + f" | {lo / 1024:g}K-{hi / 1024:g}K | all | settings (llama.cpp applied) |",
             "|---" * (len(cols) + 4) + "|"]
    for m in methods:
        src = alias.get(m, m)
        same = "" if src == m else f" (= {src})"
        if src not in runs:
            lines.append(f"| {m}{same} | " + " | ".join("…" for _ in cols) + " | … | … | |")
            continue
        r = runs[src]
        lps = r["logprobs"]
        bs = pplmath.buckets(lps, r["bucket"])
        a = r["run"]["applied"]
        plan = r["run"]["plan"]
        se = plan.get("self_extend")
        p = plan.get("parameters") or {}
        desc = (", ".join(f"{k}={v:.6g}" if isinstance(v, float) else f"{k}={v}" for k, v in p.items())
                or "model defaults")
        if se and se.get("group", 1) > 1:
            desc += f", Self-Extend group {se['group']} window {se['window']}"
        desc += f" (base {a.get('freq_base')}, scale {a.get('freq_scale')})"
        reg = lps[max(lo - 1, 0):hi - 1]
        lines.append(f"| {m}{same} | " + " | ".join(f"{b.ppl:.2f}" for b in bs)
                     + f" | {pplmath.perplexity(reg):.2f} | {pplmath.perplexity(lps):.2f} | {desc} |")
    noise = [f"±{(b.ppl_range[1] / b.ppl_range[0] - 1) / 2:.1%}" if b.ppl_range else "-" for b in buckets]
    lines.append(f"| noise ({best}: 1 s.e., batch means of 128 tokens) | " + " | ".join(noise) + " | | | |")
    return "\n".join(lines)


def paired_lines(runs: dict[str, dict[str, Any]], alias: dict[str, str], named: list[str],
                 region: tuple[int, int]) -> tuple[str, dict[str, Any]]:
    lo, hi = region

    def reg(m: str) -> list[float]:
        return runs[alias[m]]["logprobs"][max(lo - 1, 0):hi - 1]

    ppls = {m: pplmath.perplexity(reg(m)) for m in named if alias.get(m) in runs}
    best = min(ppls, key=ppls.get)  # type: ignore[arg-type]
    d = pplmath.paired_diff(reg("auto"), reg(best))
    out = [f"Paired over positions {lo:,}-{hi:,} (the extended half, same tokens): best named method **{best}** "
           f"(ppl {ppls[best]:.2f}); auto/{best} ppl ratio {d.ppl_ratio:.4f}, mean NLL difference "
           f"{d.mean:+.4f} ± {_se(d)} (1 s.e.)."]
    for m in named:
        if m != best and m in ppls:
            dm = pplmath.paired_diff(reg(m), reg(best))
            out.append(f"- {m}: ppl {ppls[m]:.2f}, NLL {dm.mean:+.4f} ± {_se(dm)} vs {best}")
    return "\n".join(out), {"best": best, "auto_vs_best": d, "ppls": ppls}


def _se(d: pplmath.PairedDiff) -> str:
    return "n/a" if d.se is None else f"{d.se:.4f}"


def verdict_text(alias: dict[str, str], verdict: dict[str, Any]) -> str:
    d = verdict["auto_vs_best"]
    ok = d.mean <= 2 * (d.se or 0)
    if alias["auto"] == verdict["best"]:
        return ("### Verdict (auto vs the best named method at 2x)\n\n"
                f"auto plans exactly the settings of the best named method ({verdict['best']}): same numbers.\n")
    return ("### Verdict (auto vs the best named method at 2x)\n\n" + (
        f"auto (= {alias['auto']}) is within the measured noise (2 s.e.) of the best named method "
        f"({verdict['best']}) at 2x: NLL {d.mean:+.4f} ± {_se(d)}." if ok else
        f"auto (= {alias['auto']}) is WORSE than {verdict['best']} at 2x by more than 2 s.e. "
        f"(NLL {d.mean:+.4f} ± {_se(d)}).") + "\n")


def passkey_table(cells: list[dict[str, Any]]) -> str:
    cols = sorted({(c["n_ctx"], c["depth"]) for c in cells})
    by = {(c["method"], c["n_ctx"], c["depth"]): c for c in cells}
    lines = ["| method | " + " | ".join(f"{n / 1024:g}K @{d:.0%}" for n, d in cols) + " |",
             "|---" * (len(cols) + 1) + "|"]
    for m in METHODS:
        row = []
        for n, d in cols:
            c = by.get((m, n, d))
            same = "" if c is None or c["alias"] == m else f" (= {c['alias']})"
            row.append("…" if c is None else f"{c['correct']}/{c['trials']}{same}")
        lines.append(f"| {m} | " + " | ".join(row) + " |")
    return "\n".join(lines)


def passkey_cells(rep: ev.PasskeyReport, alias: dict[str, str], depths: list[float]) -> list[dict[str, Any]]:
    out = []
    n = rep.lengths[0]
    for m, src in alias.items():
        if src not in rep.methods:
            continue
        for d in depths:
            c = rep.cell(src, n, d)
            out.append({"method": m, "alias": src, "n_ctx": n, "depth": d, "correct": c.correct, "trials": c.trials,
                        "answers": [t.answer for t in rep.results if t.method == src and t.depth == d]})
    return out


def ppl_fragment(rep: ev.PplReport, alias: dict[str, str], t0: float) -> dict[str, Any]:
    r = rep.runs[0]
    return {"alias": alias, "logprobs": r.logprobs, "bucket": rep.bucket, "run": r.run.to_json(),
            "seconds": r.seconds, "files": [str(rep.path)], "started": t0, "ended": time.time()}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="tiny lengths: check the script, not the models")
    ap.add_argument("--trials", type=int, default=1)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--stage", action="append", default=[],
                    help="ppl[:method], passkey8, passkey16[:method], gemma[:method] (repeatable; default: all, "
                    "in turn). Run one process per stage to use a contended CPU.")
    ap.add_argument("--out", default=str(Path(__file__).resolve().parent.parent / "build" / "bench_extension"))
    ap.add_argument("--render", action="store_true", help="only re-render docs/benchmarks.md from saved stages")
    ap.add_argument("--note", help="a sentence about this run, shown under the section's header")
    args = ap.parse_args()
    frags = Fragments(Path(args.out), args)
    if args.note:
        (Path(args.out) / "note.txt").write_text(args.note)
    if args.render:
        frags.render()
        return 0
    train = 8192
    L = 1024 if args.quick else 2 * train
    bucket = 256 if args.quick else 2048
    depths = [0.25, 0.75]
    small = ev.resolve("smollm2")
    base = resolve_settings(small, {"n_threads": args.threads})
    gem = ev.resolve("gemma-3-270m")
    gbase = resolve_settings(gem, {"n_threads": args.threads})
    ppl_alias = unique_methods(small, base, METHODS, 2 * train)
    g_alias = unique_methods(gem, gbase, GEMMA_METHODS, 2 * gem.ctx_train)
    pk_alias = {n: unique_methods(small, base, METHODS, n) for n in (train, L, 512, 1024)}
    stages = args.stage or ([f"ppl:{m}" for m in sorted(set(ppl_alias.values()), key=METHODS.index)]
                            + ["passkey8"]
                            + [f"passkey16:{m}" for m in sorted(set(pk_alias[L].values()), key=METHODS.index)]
                            + [f"gemma:{m}" for m in sorted(set(g_alias.values()), key=GEMMA_METHODS.index)])

    for stage in stages:
        t0 = time.time()
        name, _, method = stage.partition(":")
        if name == "ppl":
            for m in [method] if method else sorted(set(ppl_alias.values()), key=METHODS.index):
                t0 = time.time()
                log(f"smollm2 ppl window {L}, {m} planned for {2 * train}")
                rep = ev.run_ppl(small.path, TEXT, n_ctx=L, methods=[m], bucket=bucket, plan_ctx=2 * train,
                                 base=base, progress=progress_printer(f"ppl {m}"))
                log(f"  {m}: ppl {rep.runs[0].ppl:.3f} {[round(b.ppl, 2) for b in rep.runs[0].buckets]}")
                frags.save(f"ppl-{m}", ppl_fragment(rep, ppl_alias, t0))
        elif name in ("passkey8", "passkey16"):
            n = (512 if name == "passkey8" else 1024) if args.quick else (train if name == "passkey8" else L)
            alias = pk_alias[n]
            for m in [alias[method]] if method else sorted(set(alias.values()), key=METHODS.index):
                t0 = time.time()
                log(f"smollm2 passkey at {n}: {m}")
                rep = ev.run_passkey(small.path, lengths=[n], depths=depths, trials=args.trials, methods=[m], seed=0,
                                     base=base, progress=progress_printer(f"passkey {n} {m}"))
                for x in rep.results:
                    log(f"  {x.method} {x.n_ctx} depth {x.depth}: key {x.key} answer {x.answer!r} "
                        f"{'OK' if x.correct else 'MISS'} ({x.seconds:.0f} s)")
                frags.save(f"{name}-{m}", {"cells": passkey_cells(rep, alias, depths), "files": [str(rep.path)],
                                           "started": t0, "ended": time.time()})
        elif name == "gemma":
            gctx = 1024 if args.quick else 8192
            for m in [method] if method else sorted(set(g_alias.values()), key=GEMMA_METHODS.index):
                t0 = time.time()
                log(f"gemma ppl window {gctx}, {m} planned for {2 * gem.ctx_train}")
                rep = ev.run_ppl(gem.path, TEXT, n_ctx=gctx, methods=[m], bucket=bucket, plan_ctx=2 * gem.ctx_train,
                                 base=gbase, progress=progress_printer(f"gemma {m}"))
                log(f"  {m}: ppl {rep.runs[0].ppl:.3f}")
                frags.save(f"gemma-{m}", ppl_fragment(rep, g_alias, t0))
        else:
            ap.error(f"unknown stage {stage}")
    log("done")
    return 0


if __name__ == "__main__":
    sys.exit(main())
