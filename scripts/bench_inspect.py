#!/usr/bin/env python3
"""Time `inspect`'s header read against gguf's GGUFReader, side by side, and on multi-GB files.

    .venv/bin/python scripts/bench_inspect.py

Multi-GB files are generated sparse (real header and tensor table, data a hole), so the numbers
show header-reading cost, which is all `inspect` may pay: it must never read weights.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from localctx.core.model_info import read_model_info  # noqa: E402
from localctx.models.catalog import _gemma3_path, _smollm2_path  # noqa: E402
from scripts._benchmd import write_section  # noqa: E402
from tests.gguf_factory import llama_like, sparse_big_llama  # noqa: E402


def best_of(fn, n: int = 5) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def cli_seconds(path: Path, n: int = 3) -> float:
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        subprocess.run([sys.executable, "-m", "localctx", "inspect", str(path), "--json"], check=True,
                       capture_output=True, cwd=ROOT)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    from gguf import GGUFReader

    t_start = time.time()
    rows = []
    for name, p in (("SmolLM2-135M Q4_1", _smollm2_path()), ("gemma-3-270m Q4_K_M", _gemma3_path())):
        lean = best_of(lambda p=p: read_model_info(p))
        ref = best_of(lambda p=p: GGUFReader(str(p)), n=1)
        rows.append(f"| {name} | {p.stat().st_size / 2**20:.0f} MiB | {lean * 1000:.1f} ms | {ref:.2f} s | "
                    f"{ref / lean:.0f}× | {cli_seconds(p):.2f} s |")
    with tempfile.TemporaryDirectory() as d:
        big = sparse_big_llama(Path(d) / "llama3-8b-shaped-f16.gguf")
        huge = llama_like(Path(d) / "llama-70b-shaped-f16.gguf", n_layer=80, n_embd=8192, n_head=64, n_head_kv=8,
                          n_ff=28672, vocab=128256, ctx=131072, sparse=True,
                          dtype=__import__("gguf").GGMLQuantizationType.F16)
        for name, p in (("Llama-3-8B-shaped F16 (sparse)", big), ("Llama-70B-shaped F16 (sparse)", huge)):
            lean = best_of(lambda p=p: read_model_info(p))
            ref = best_of(lambda p=p: GGUFReader(str(p)), n=1)
            rows.append(f"| {name} | {p.stat().st_size / 2**30:.1f} GiB | {lean * 1000:.1f} ms | {ref:.2f} s | "
                        f"{ref / lean:.0f}× | {cli_seconds(p):.2f} s |")
    md = "\n".join([
        "## inspect: header read time (`scripts/bench_inspect.py`)",
        "",
        "Lean reader (`localctx.core.gguf_reader` + ModelInfo, best of 5) vs `gguf.GGUFReader` (one run), measured",
        "side by side in one run; last column: the whole `localctx inspect --json` process (median of 3, includes",
        "Python start-up and imports). Goal: < 0.3 s on a multi-GB file.",
        "",
        "| file | size | lean read | GGUFReader | ratio | `localctx inspect --json` |",
        "|---|---|---|---|---|---|",
        *rows,
        "",
        f"Run took {time.time() - t_start:.0f} s on {__import__('os').cpu_count()} cores.",
    ])
    print(md)
    write_section("inspect", md)


if __name__ == "__main__":
    main()
