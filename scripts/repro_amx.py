"""Which of llama.cpp's CPU weight buffers crash this machine, for which weight types.

    .venv/bin/python scripts/repro_amx.py                 # every kernel-probe type, 1 and 2 threads
    .venv/bin/python scripts/repro_amx.py --types Q4_0,Q4_K --threads 2

Each case loads a small random-weight llama model (every matrix of one type) straight through
llama-cpp-python's low-level API in a fresh subprocess, evaluates a 32-token batch and two single
tokens, and reports ``ok``, the signal that killed it, or ``-`` when no tensor of that type fits the
buffer (the case would be the plain one).  The buffer placements:

- ``plain``: ``use_extra_bufts`` off (every weight in the plain CPU buffer),
- ``default``: llama.cpp's defaults (``use_extra_bufts`` on: AMX first, then CPU_REPACK),
- ``AMX`` / ``CPU_REPACK``: extra buffers off, and the weights that buffer can take (llama.cpp's own
  ``supports_op`` test) named through ``tensor_buft_overrides``.

Run it again after upgrading llama-cpp-python: once ``default`` and ``AMX`` are ``ok`` everywhere,
localctx's AMX workaround (engine/cpu_weights.py) is no longer needed.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODES = ("plain", "default", "AMX", "CPU_REPACK")


def child(path: str, mode: str, threads: int) -> int:
    """Load ``path`` with ``mode``'s buffers and decode; exit 0 ok, 3 nothing to place, or die by a signal."""
    import llama_cpp

    from localctx.engine import cpu_weights

    llama_cpp.llama_backend_init()
    quiet = llama_cpp.llama_log_callback(lambda *_: None)  # kept referenced: llama.cpp calls it later
    llama_cpp.llama_log_set(quiet, None)
    mp = llama_cpp.llama_model_default_params()
    mp.use_extra_bufts = mode == "default"
    keep = None
    if mode in ("AMX", "CPU_REPACK"):
        keep = cpu_weights.override_array(path, mode)
        if keep is None:
            return 3
        mp.tensor_buft_overrides = llama_cpp.ctypes.cast(keep[0], llama_cpp.ctypes.c_void_p)
    model = llama_cpp.llama_model_load_from_file(path.encode(), mp)
    if not model:
        print("load failed", file=sys.stderr)
        return 4
    cp = llama_cpp.llama_context_default_params()
    cp.n_ctx, cp.n_batch, cp.n_ubatch = 128, 64, 64
    cp.n_threads = cp.n_threads_batch = threads
    ctx = llama_cpp.llama_init_from_model(model, cp)
    tokens = [3 + (i * 37) % 250 for i in range(34)]
    for chunk in (tokens[:32], tokens[32:33], tokens[33:34]):
        arr = (llama_cpp.llama_token * len(chunk))(*chunk)
        rc = llama_cpp.llama_decode(ctx, llama_cpp.llama_batch_get_one(arr, len(chunk)))
        if rc != 0:
            print(f"llama_decode returned {rc}", file=sys.stderr)
            return 5
    llama_cpp.llama_free(ctx)
    llama_cpp.llama_model_free(model)
    return 0


def run_case(path: Path, mode: str, threads: int, timeout: float) -> str:
    cmd = [sys.executable, __file__, "--child", str(path), mode, str(threads)]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    except subprocess.TimeoutExpired:
        return "hang"
    if r.returncode == 0:
        return "ok"
    if r.returncode == 3:
        return "-"
    if r.returncode < 0:
        return signal.Signals(-r.returncode).name
    return f"exit {r.returncode}"


def main() -> None:
    from localctx.engine import cpu_weights
    from localctx.engine.kernel_probe import PROBE_TYPES, ProbeShape, quantize, write_probe_model

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--types", default=",".join(PROBE_TYPES))
    ap.add_argument("--threads", default="1,2", help="comma-separated thread counts to try")
    ap.add_argument("--modes", default=",".join(MODES))
    ap.add_argument("--timeout", type=float, default=120.0)
    ap.add_argument("--write", action="store_true", help="update docs/benchmarks.md")
    args = ap.parse_args()
    types = [t for t in args.types.split(",") if t]
    threads = [int(t) for t in args.threads.split(",") if t]
    modes = [m for m in args.modes.split(",") if m]
    import llama_cpp

    print(f"llama-cpp-python {llama_cpp.__version__}; CPU has AMX: {cpu_weights.cpu_has_amx()}; "
          f"extra buffer types in this build: {', '.join(cpu_weights.extra_bufts()) or 'none'}; "
          f"load average {os.getloadavg()[0]:.1f}", flush=True)
    shape = ProbeShape(n_embd=512, n_ff=1024, n_layer=1, n_head=8, n_head_kv=4, vocab=256)
    rows: list[tuple[str, int, dict[str, str]]] = []
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="repro-amx-") as tmp:
        src = write_probe_model(Path(tmp) / "probe-F16.gguf", shape)
        for type_name in types:
            path = src if type_name == "F16" else quantize(src, Path(tmp) / f"probe-{type_name}.gguf", type_name)
            for n in threads:
                res = {m: run_case(path, m, n, args.timeout) for m in modes}
                rows.append((type_name, n, res))
                print(f"{type_name:7} -t {n}  " + "  ".join(f"{m}={r}" for m, r in res.items()), flush=True)
    table = [f"| type | threads | {' | '.join(modes)} |", f"|---|---|{'---|' * len(modes)}"]
    table += [f"| {type_name} | {n} | {' | '.join(res[m] for m in modes)} |" for type_name, n, res in rows]
    print("\n" + "\n".join(table))
    print(f"\n({time.monotonic() - t0:.0f} s; '-': no tensor of that type fits that buffer here)")
    if args.write:
        from scripts._benchmd import write_section

        cpu = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
        text = (f"## Which CPU weight buffer crashes (`scripts/repro_amx.py`)\n\n{cpu}, llama-cpp-python "
                f"{llama_cpp.__version__}, extra buffer types {', '.join(cpu_weights.extra_bufts()) or 'none'}. "
                "A 1-layer random-weight llama model with every matrix of one type, loaded through "
                "llama-cpp-python's low-level API in a fresh process per case, a 32-token batch and two single "
                "tokens decoded. `plain`: extra buffers off; `default`: llama.cpp's defaults (AMX first, then "
                "CPU_REPACK); `AMX` / `CPU_REPACK`: extra buffers off and the weights that buffer can take named "
                "through `tensor_buft_overrides`; `-`: no tensor of that type fits that buffer here.\n\n"
                + "\n".join(table) + f"\n\n{time.monotonic() - t0:.0f} s.\n")
        print("wrote", write_section("amx_repro", text))


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        sys.exit(child(sys.argv[2], sys.argv[3], int(sys.argv[4])))
    main()
