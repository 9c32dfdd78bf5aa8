"""Estimate vs llama.cpp for every test case, side by side in one run, and the speed of `estimate`.

llama.cpp's numbers come from its own log while it creates model + context in no_alloc (dry-run) mode;
weights from llama_model_size.  Writes the `estimate` section of docs/benchmarks.md.

    .venv/bin/python scripts/bench_estimate.py
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LOCALCTX_MODELS_DIR", str(Path(tempfile.gettempdir()) / "localctx-bench-models"))

from localctx.core.settings import RuntimeSettings  # noqa: E402
from scripts._benchmd import write_section  # noqa: E402
from tests.memory_helpers import MIB, TINY, Comparison, compare, tiny_model  # noqa: E402


def cases(tmp: Path) -> list[tuple[str, Path, RuntimeSettings]]:
    from localctx.models.catalog import _gemma3_path, _smollm2_path

    smol, gemma = _smollm2_path(), _gemma3_path()
    out = []
    for n in (2048, 8192, 32768):
        for kv, fa in (("f16", False), ("f16", True), ("q8_0", True), ("q4_0", True)):
            out.append((f"SmolLM2 {n // 1024}K {kv} FA {'on' if fa else 'off'}", smol,
                        RuntimeSettings(n_ctx=n, type_k=kv, type_v=kv, flash_attn=fa)))
    for n in (4096, 32768):
        for full in (False, True):
            for fa in (False, True):
                out.append((f"gemma-3-270m {n // 1024}K swa_full {'on' if full else 'off'} FA {'on' if fa else 'off'}",
                            gemma, RuntimeSettings(n_ctx=n, swa_full=full, flash_attn=fa)))
    for unified in (False, True):
        tag = "unified" if unified else "split"
        out.append((f"SmolLM2 8K 2 seqs {tag}", smol,
                    RuntimeSettings(n_ctx=8192, n_seq=2, kv_unified=unified, flash_attn=False)))
        out.append((f"gemma-3-270m 32K 2 seqs {tag}", gemma,
                    RuntimeSettings(n_ctx=32768, n_seq=2, kv_unified=unified, flash_attn=False)))
    for arch in sorted(TINY):
        p = tiny_model(arch, tmp, vocab=32000)
        out.append((f"tiny {arch} ({TINY[arch][0]}) 4K FA on", p, RuntimeSettings(n_ctx=4096, flash_attn=True)))
        out.append((f"tiny {arch} ({TINY[arch][0]}) 32K FA off", p, RuntimeSettings(n_ctx=32768, flash_attn=False)))
    return out


def _mib(n: float) -> str:
    return f"{n / MIB:,.2f}"


def row(label: str, c: Comparison) -> str:
    kv_o = sum(b for b, _c, _n in c.kv_ours) + (c.rs_ours[0] if c.rs_ours else 0)
    kv_l = sum(b for b, _c, _n in c.kv_llama) + (c.rs_llama[0] if c.rs_llama else 0)
    return (f"| {label} | {kv_o:,.2f} | {kv_l:,.2f} | {'yes' if c.kv_exact else '**no**'} | "
            f"{'yes' if c.weights_ours == c.weights_llama else '**no**'} | {_mib(c.compute_ours)} | "
            f"{_mib(c.compute_llama)} | {c.compute_err:+.1%} | {_mib(c.total_ours)} | {_mib(c.total_llama)} | "
            f"{c.total_err:+.1%} |")


def timing(tmp: Path) -> tuple[float, float, int]:
    from localctx.core.memory import plan_memory
    from localctx.core.model_info import read_model_info
    from tests.gguf_factory import sparse_big_llama

    big = sparse_big_llama(tmp / "Llama-3-8B-shaped-F16.gguf")
    runs = []
    for _ in range(5):
        t0 = time.perf_counter()
        plan_memory(read_model_info(big), RuntimeSettings(n_ctx=65536))
        runs.append(time.perf_counter() - t0)
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "localctx", "estimate", str(big), "--ctx", "64k", "--json"],
                   check=True, capture_output=True, cwd=ROOT)
    return statistics.median(runs), time.perf_counter() - t0, big.stat().st_size


def main() -> None:
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        lines = ["| case | KV+state ours MiB | llama.cpp MiB | KV exact | weights exact | compute ours MiB | "
                 "llama.cpp MiB | error | total ours MiB | llama.cpp MiB | error |",
                 "|---|---:|---:|:-:|:-:|---:|---:|---:|---:|---:|---:|"]
        worst_c = worst_t = 0.0
        n_exact = n = 0
        for label, path, s in cases(tmp):
            c = compare(path, s, label)
            lines.append(row(label, c))
            print(lines[-1], flush=True)
            worst_c, worst_t = max(worst_c, abs(c.compute_err)), max(worst_t, abs(c.total_err))
            n_exact += c.kv_exact and c.weights_ours == c.weights_llama
            n += 1
        plan_s, cli_s, size = timing(tmp)
    took = time.perf_counter() - t_start
    md = "\n".join([
        "## Memory estimate vs llama.cpp (`scripts/bench_estimate.py`)",
        "",
        "Each case: `plan_memory` beside llama.cpp's own log for the same settings (model + context created in "
        "llama.cpp's `no_alloc` dry run, llama-cpp-python 0.3.36, CPU backend, ubatch 512). KV and recurrent "
        "state compared at the precision llama.cpp prints (0.01 MiB) plus identical cells and layers; weights "
        "against `llama_model_size` in bytes. Tiny models are random-weight GGUFs (E=256, 6 layers, vocab 32000) "
        "built with `tests/gguf_factory.py` from tests/memory_helpers.py.",
        "",
        *lines,
        "",
        f"**{n_exact}/{n} cases with KV/state and weights exact; worst compute error {worst_c:.1%}, "
        f"worst total error {worst_t:.1%}.**",
        "",
        f"Speed: reading the header of a {size / 2**30:.1f} GB (apparent) Llama-3-8B-shaped F16 GGUF and planning "
        f"64K: **{plan_s * 1000:.0f} ms** (median of 5, goal < 300 ms); the whole `localctx estimate ... --json` "
        f"process including Python start-up: {cli_s:.2f} s.",
        "",
        f"Run took {took:.0f} s on a shared 2-core machine.",
    ])
    write_section("estimate", md)
    print(md.split("\n\n")[-3:])


if __name__ == "__main__":
    main()
