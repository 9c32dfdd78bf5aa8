"""Prompt and generation speed of the two CPU weight paths on an AMX machine, side by side in one run:
every weight in the plain CPU buffer (what localctx did on AMX CPUs before) against CPU_REPACK
without AMX (what it does now; see engine/cpu_weights.py).

    .venv/bin/python scripts/bench_cpu_path.py                  # -t 1, 2 rounds
    .venv/bin/python scripts/bench_cpu_path.py -t 1,2 --write   # also update docs/benchmarks.md

Models: gemma-3-270m (Q4_K_M as shipped) and a Q4_0 copy of SmolLM2-135M made here with
``llama_model_quantize`` (from its Q4_1 file).  Per model, thread count and path: a 2K-token and an
8K-token prompt from an empty cache (one ``ingest`` each, llama.cpp's default batches), then 32
single-token decodes after the 2K prompt.  The paths alternate round by round in this process
(LOCALCTX_REPACK=0 / cpu), and the best round of each is kept: the cores are shared, and the best
is the run least disturbed by other work.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
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


def measure(model: Path, env: str, threads: int) -> dict[str, float]:
    """Tokens per second for each prompt length and for generation, one load of ``model``."""
    from localctx.core.settings import RuntimeSettings
    from localctx.engine import cpu_weights
    from localctx.engine.llamacpp import LlamaEngine

    os.environ["LOCALCTX_REPACK"] = env
    eng = LlamaEngine(model, RuntimeSettings(n_ctx=max(PROMPTS) + 128, n_threads=threads))
    try:
        buffers = eng.report.applied.get("model_buffers", {})
        expect_repack = cpu_weights.choose().name == cpu_weights.CPU_REPACK
        if expect_repack != ("CPU_REPACK" in buffers):
            raise SystemExit(f"{model.name} with LOCALCTX_REPACK={env}: model buffers {buffers}")
        vocab = eng.n_vocab
        toks = [100 + (i * 7919) % (vocab - 100) for i in range(max(PROMPTS) + N_GEN)]
        out: dict[str, float] = {}
        for n in PROMPTS:
            eng.ingest([])
            t0 = time.perf_counter()
            eng.ingest(toks[:n])
            out[f"prompt {n}"] = n / (time.perf_counter() - t0)
            if n == PROMPTS[0]:
                t0 = time.perf_counter()
                for k in range(n + 1, n + N_GEN + 1):
                    eng.ingest(toks[:k])
                out["gen"] = N_GEN / (time.perf_counter() - t0)
        return out
    finally:
        eng.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("-t", "--threads", default="1", help="comma-separated thread counts")
    ap.add_argument("--rounds", type=int, default=2)
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args()
    threads = [int(t) for t in args.threads.split(",") if t]
    os.environ.setdefault("LOCALCTX_MODELS_DIR", str(Path(tempfile.gettempdir()) / "localctx-bench-models"))
    from localctx.engine import cpu_weights
    from localctx.models.catalog import _gemma3_path, _smollm2_path

    t_start = time.monotonic()
    load0 = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-cpu-path-") as tmp:
        models = {"gemma-3-270m Q4_K_M": _gemma3_path(),
                  "SmolLM2-135M Q4_0": q4_0_copy(_smollm2_path(), Path(tmp) / "smollm2-q4_0.gguf")}
        best: dict[tuple[str, int, str], dict[str, float]] = {}
        loads = [load0[0]]
        for label, path in models.items():
            for n in threads:
                for r in range(args.rounds):
                    order = list(PATHS.items()) if r % 2 == 0 else list(reversed(PATHS.items()))
                    for name, env in order:
                        res = measure(path, env, n)
                        loads.append(os.getloadavg()[0])
                        old = best.setdefault((label, n, name), res)
                        for k, v in res.items():
                            old[k] = max(old[k], v)
                        print(f"{label} -t {n} round {r + 1} {name}: "
                              + ", ".join(f"{k} {v:.1f} tok/s" for k, v in res.items()), flush=True)
    elapsed = time.monotonic() - t_start
    keys = [f"prompt {n}" for n in PROMPTS] + ["gen"]
    lines = ["| model | threads | measure | plain (before) tok/s | CPU_REPACK (now) tok/s | now / before |",
             "|---|---|---|---|---|---|"]
    for label in models:
        for n in threads:
            before, now = best[(label, n, "plain (before)")], best[(label, n, "CPU_REPACK (now)")]
            for k in keys:
                lines.append(f"| {label} | {n} | {k} | {before[k]:.1f} | {now[k]:.1f} | {now[k] / before[k]:.2f}x |")
    table = "\n".join(lines)
    print(table)
    cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    import llama_cpp

    section = f"""## CPU weight path on an AMX CPU (`scripts/bench_cpu_path.py`)

{cpu}, llama-cpp-python {llama_cpp.__version__}; extra buffer types in this build:
{', '.join(cpu_weights.extra_bufts()) or 'none'}. Weights in llama.cpp's AMX buffer crash this build's first decode
(`scripts/repro_amx.py`), so localctx used to keep every weight in the plain CPU buffer on AMX CPUs. Now it
keeps llama.cpp's CPU_REPACK buffer (interleaved Q4_0/Q4_K/IQ4_NL/Q2_K kernels) and leaves out only AMX, by
naming the weight matrices CPU_REPACK can take through `tensor_buft_overrides`. Both paths through
localctx's engine in one process, alternating, best of {args.rounds} rounds each; prompts of {PROMPTS[0]} and
{PROMPTS[1]} tokens from an empty cache (default batch sizes), generation = {N_GEN} single-token decodes after
the {PROMPTS[0]}-token prompt. Threads pinned with `-t` (the machine has 2 cores shared with other work; load
average {min(loads):.1f}-{max(loads):.1f} during the run). {elapsed / 60:.0f} minutes.

{table}

The SmolLM2 copy is `llama_model_quantize` Q4_0 of the shipped Q4_1 file (its tied embedding/output matrix
stays Q8_0... as llama.cpp's Q4_0 mix decides); gemma's Q4_K matrices are repacked, its Q5_0/Q6_K/Q8_0 ones
have no CPU_REPACK kernel on x86 and stay plain, as does every token embedding (read by row).
"""
    if args.write:
        from scripts._benchmd import write_section

        print("wrote", write_section("cpu_path", section))


if __name__ == "__main__":
    main()
