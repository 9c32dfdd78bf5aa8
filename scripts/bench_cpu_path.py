"""Prompt and generation speed of the two CPU weight paths on an AMX machine, side by side in one run:
every weight in the plain CPU buffer (what localctx did on AMX CPUs before) against CPU_REPACK
without AMX (what it does now; see engine/cpu_weights.py), and per weight type the kernels' cost.

    .venv/bin/python scripts/bench_cpu_path.py                  # -t 1, 1 round
    .venv/bin/python scripts/bench_cpu_path.py -t 1,2 --write   # also update docs/benchmarks.md

Models: gemma-3-270m (Q4_K_M as shipped) and a Q4_0 copy of SmolLM2-135M made here with
``llama_model_quantize`` (from its Q4_1 file).  Per model, thread count and path: a 2K-token and an
8K-token prompt from an empty cache (one ``ingest`` each, llama.cpp's default batches), then 32
single-token decodes after the 2K prompt, timed by the wall clock and by this thread's CPU time.
The paths alternate round by round in this process (LOCALCTX_REPACK=0 / cpu), and the best round
of each is kept: the cores are shared, and the best is the run least disturbed by other work.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PATHS = {"plain (before)": "0", "CPU_REPACK (now)": "cpu"}
PROMPTS = (2048, 8064)
N_GEN = 32


def q4_0_copy(src: Path, dst: Path) -> Path:
    import llama_cpp

    from localctx.engine.logsink import capture

    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = llama_cpp.LLAMA_FTYPE_MOSTLY_Q4_0
    params.allow_requantize = True  # the shipped file is Q4_1
    params.nthread = 1
    with capture():  # llama.cpp's per-tensor log
        rc = llama_cpp.llama_model_quantize(str(src).encode(), str(dst).encode(), params)
    if rc != 0:
        raise SystemExit(f"llama_model_quantize failed ({rc})")
    return dst


def compare(model: Path, threads: int, rounds: int, prompts: tuple[int, ...]) -> dict[str, dict[str, float]]:
    """Per path, tokens per second for each prompt length and for generation, by the wall clock and by
    this thread's CPU time (with one thread llama.cpp computes on the calling thread, so the second
    is what the kernels cost, whatever else the shared cores run).  Both paths are loaded at once and
    every measurement alternates between them, so a change in the machine's load hits both; the
    best of ``rounds`` is kept."""
    from localctx.core.settings import RuntimeSettings
    from localctx.engine.llamacpp import LlamaEngine

    engines = {}
    try:
        for name, env in PATHS.items():
            os.environ["LOCALCTX_REPACK"] = env
            engines[name] = LlamaEngine(model, RuntimeSettings(n_ctx=max(prompts) + 128, n_threads=threads))
        best: dict[str, dict[str, float]] = {
            name: {"repack_mib": eng.report.applied.get("model_buffers", {}).get("CPU_REPACK", 0) / 2**20}
            for name, eng in engines.items()}
        vocab = next(iter(engines.values())).n_vocab
        toks = [100 + (i * 7919) % (vocab - 100) for i in range(max(prompts) + N_GEN)]
        for eng in engines.values():
            eng.ingest(toks[:8])  # warm-up: the first graph, the mapped weights paged in

        def timed(name: str, key: str, n_tokens: int, run: Callable[[], object]) -> None:
            w0, c0 = time.perf_counter(), time.thread_time()
            run()
            wall, cpu = n_tokens / (time.perf_counter() - w0), n_tokens / max(1e-9, time.thread_time() - c0)
            b = best[name]
            b[key], b[key + " cpu"] = max(b.get(key, 0.0), wall), max(b.get(key + " cpu", 0.0), cpu)
            print(f"  {model.name} {name} {key}: {wall:.1f} tok/s wall, {cpu:.1f} CPU", flush=True)

        def decode_one_by_one(eng: LlamaEngine, n: int) -> None:
            for k in range(n + 1, n + N_GEN + 1):
                eng.ingest(toks[:k])

        for r in range(rounds):
            for n in prompts:
                order = list(engines.items()) if r % 2 == 0 else list(reversed(engines.items()))
                for name, eng in order:
                    eng.ingest([])
                    timed(name, f"prompt {n}", n, partial(eng.ingest, toks[:n]))
                if n == prompts[0]:
                    for name, eng in order:
                        timed(name, "gen", N_GEN, partial(decode_one_by_one, eng, n))
        return best
    finally:
        for eng in engines.values():
            eng.close()


def kernel_table(rounds: int) -> list[str]:
    """Per type CPU_REPACK takes on x86: the kernel probe's model (every matrix that type), prompt
    (256-token micro-batch) and generation cost per token by thread CPU time, plain vs repacked."""
    from localctx.core.settings import RuntimeSettings
    from localctx.engine import cpu_weights
    from localctx.engine.kernel_probe import ProbeShape, quantize, time_model, write_probe_model

    shape = ProbeShape()
    rows = ["| type | prompt ms/token plain | repacked | speedup | gen ms/token plain | repacked | speedup |"
            " on the AMX path |", "|---|---|---|---|---|---|---|---|"]
    with tempfile.TemporaryDirectory(prefix="bench-cpu-kernels-") as tmp:
        src = write_probe_model(Path(tmp) / "probe-F16.gguf", shape)
        for type_name in ("Q4_0", "IQ4_NL", "Q4_K", "Q2_K"):
            q = quantize(src, Path(tmp) / f"probe-{type_name}.gguf", type_name)
            best: dict[tuple[str, str], float] = {}
            for _ in range(rounds):
                for env in ("0", "cpu-all"):
                    os.environ["LOCALCTX_REPACK"] = env
                    for t in time_model(q, type_name, RuntimeSettings(n_threads=1), shape.block_macs,
                                        prompt_tokens=256, gen_tokens=8, rounds=1):
                        k = (env, t.kind)
                        best[k] = min(best.get(k, float("inf")), t.cpu_ms / t.tokens)
            p0, p1 = best[("0", "prompt")], best[("cpu-all", "prompt")]
            g0, g1 = best[("0", "gen")], best[("cpu-all", "gen")]
            used = "repacked" if type_name in cpu_weights.REPACK_TYPES else "plain"
            rows.append(f"| {type_name} | {p0:.2f} | {p1:.2f} | {p0 / p1:.2f}x | {g0:.2f} | {g1:.2f} | {g0 / g1:.2f}x "
                        f"| {used} |")
            print(rows[-1], flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-t", "--threads", default="1", help="comma-separated thread counts")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--prompts", default=",".join(map(str, PROMPTS)), help="prompt lengths, comma-separated")
    ap.add_argument("--models", default="gemma,smollm2")
    ap.add_argument("--no-kernels", action="store_true", help="skip the per-type kernel table")
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    ap.add_argument("--section", default="cpu_path", help="the docs/benchmarks.md section to (re)write")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",") if t]
    prompts = tuple(int(p) for p in args.prompts.split(",") if p)
    os.environ.setdefault("LOCALCTX_MODELS_DIR", str(Path(tempfile.gettempdir()) / "localctx-bench-models"))
    from localctx.engine import cpu_weights
    from localctx.models.catalog import _gemma3_path, _smollm2_path

    t_start = time.monotonic()
    loads = [os.getloadavg()[0]]
    kernels = [] if args.no_kernels else kernel_table(2)
    loads.append(os.getloadavg()[0])
    with tempfile.TemporaryDirectory(prefix="bench-cpu-path-") as tmp:
        models = {}
        if "gemma" in args.models:
            models["gemma-3-270m Q4_K_M"] = _gemma3_path()
        if "smollm2" in args.models:
            models["SmolLM2-135M Q4_0"] = q4_0_copy(_smollm2_path(), Path(tmp) / "smollm2-q4_0.gguf")
        best: dict[tuple[str, int, str], dict[str, float]] = {}
        for label, path in models.items():
            for n in threads:
                for name, res in compare(path, n, args.rounds, prompts).items():
                    best[(label, n, name)] = res
                loads.append(os.getloadavg()[0])
    elapsed = time.monotonic() - t_start
    keys = [f"prompt {n}" for n in prompts] + ["gen"]
    lines = ["| model | threads | measure | before: wall / CPU tok/s | now: wall / CPU tok/s | now / before (CPU) |",
             "|---|---|---|---|---|---|"]
    for label in models:
        for n in threads:
            before, now = best[(label, n, "plain (before)")], best[(label, n, "CPU_REPACK (now)")]
            for k in keys:
                lines.append(f"| {label} | {n} | {k} | {before[k]:.1f} / {before[k + ' cpu']:.1f} | "
                             f"{now[k]:.1f} / {now[k + ' cpu']:.1f} | {now[k + ' cpu'] / before[k + ' cpu']:.2f}x |")
            lines.append(f"| {label} | {n} | weights in CPU_REPACK | {before['repack_mib']:.0f} MiB | "
                         f"{now['repack_mib']:.0f} MiB | |")
    table = "\n".join(lines)
    print(table)
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    import llama_cpp

    kernel_md = "\n".join(kernels) or "(per-type table: see the section written without --no-kernels)"
    section = f"""## CPU weight path on an AMX CPU (`scripts/bench_cpu_path.py`)

{cpu}, llama-cpp-python {llama_cpp.__version__}; extra buffer types in this build:
{', '.join(cpu_weights.extra_bufts()) or 'none'}. Weights in llama.cpp's AMX buffer crash this build's first decode
(`scripts/repro_amx.py`: Q8_0, Q6_K, Q5_K, Q4_K, Q4_1, Q4_0 and IQ4_XS, with 1 or 2 threads), so localctx used
to keep every weight in the plain CPU buffer on AMX CPUs. Now it keeps llama.cpp's CPU_REPACK buffer and leaves
out only AMX, by naming the weight matrices CPU_REPACK can take through `tensor_buft_overrides` (per tensor,
llama.cpp's own `supports_op` test) - for the types whose repacked kernels are faster here:

{kernel_md}

(The kernel probe's random-weight model, 1024 wide, every matrix one type; best of 2 rounds by this thread's CPU
time, one thread. `LOCALCTX_REPACK=cpu-all` repacks the last two as well.)

Whole models, through localctx's engine, both paths loaded at once in one process, every measurement
alternating between them, best of {args.rounds} round(s): prompts of {' and '.join(map(str, prompts))} tokens
from an empty cache (default batch sizes), generation = {N_GEN} single-token decodes after the
{prompts[0]}-token prompt. Threads pinned with `-t`; the machine has 2 cores shared with other work (load
average {min(loads):.1f}-{max(loads):.1f} during the run), so wall-clock rates are several times below an idle
machine's and the ratio is taken from this thread's CPU time (with one thread llama.cpp computes on the
calling thread). {elapsed / 60:.0f} minutes.

{table}

The SmolLM2 copy is `llama_model_quantize` Q4_0 of the shipped Q4_1 file (its tied embedding stays Q8_0, read
by row, not repacked). gemma's matrices are Q4_K, Q5_0, Q6_K and Q8_0: none of them is repacked on this path,
so it runs exactly as before - its two columns are one configuration loaded twice, and their spread is this
shared machine's noise floor for the run.
"""
    if args.write:
        from scripts._benchmd import write_section

        print("wrote", write_section(args.section, section))


if __name__ == "__main__":
    main()
