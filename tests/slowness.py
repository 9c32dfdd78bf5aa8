"""How much slower this machine is right now than the one the suite's time limits were written on.

A test's time limit is a guard against a hang, not a speed goal (those are measured by scripts/).  A
fixed 60 s wall holds on a quiet machine and fails on a shared one where every step is many times
slower, so limits go through ``scaled``: the seconds a quiet reference machine needs, times the
slowness factor measured once per test run by timing a fixed small decode (SmolLM2, one thread, a
64-token prompt and 16 generated tokens) against the same decode's time on the reference machine.

The factor is never below 1 (a faster machine keeps the written limits) and is capped, so a test that
really hangs still ends.  ``LOCALCTX_TEST_SLOWNESS`` sets it instead of measuring (e.g. ``=1``).
"""

from __future__ import annotations

import os
import statistics
import time

#: seconds the decode takes when its thread has a core to itself, on the machine the limits were written
#: on (2 cores, x86-64 with AMX, llama.cpp 0.3.36 without weight repacking): its CPU time there, 0.67 s,
#: less a little for the cache misses a shared core adds
REFERENCE_S = 0.6
MAX_FACTOR = 20.0
ENV = "LOCALCTX_TEST_SLOWNESS"

_factor: float | None = None
_measured_s: float | None = None  # the decode's median time here (None: not measured)


def measure(rounds: int = 3) -> float:
    """Seconds this machine takes, now, for the fixed decode (the median of ``rounds``, after one
    round that pages the weights in)."""
    from localctx.core.settings import RuntimeSettings
    from localctx.engine.llamacpp import LlamaEngine
    from localctx.models.catalog import _smollm2_path

    text = "The archivist opened the ledger and read every line of it aloud, slowly. " * 6
    with LlamaEngine(_smollm2_path(), RuntimeSettings(n_ctx=256, n_threads=1, n_batch=64, n_ubatch=64)) as eng:
        tokens = eng.tokenize(text)[:80]
        times = []
        for _ in range(rounds + 1):
            eng.ingest([])
            t0 = time.perf_counter()
            for k in range(64, 81):  # a 64-token prompt, then 16 tokens one by one (as generation decodes)
                eng.ingest(tokens[:k])
            times.append(time.perf_counter() - t0)
    return statistics.median(times[1:])


def slowness() -> float:
    """The factor (>= 1), measured on first use and kept for the rest of the run."""
    global _factor, _measured_s
    if _factor is None:
        given = os.environ.get(ENV)
        if given:
            _factor = min(MAX_FACTOR, max(1.0, float(given)))
        else:
            _measured_s = measure()
            _factor = min(MAX_FACTOR, max(1.0, _measured_s / REFERENCE_S))
    return _factor


def scaled(seconds: float) -> float:
    """A time limit of ``seconds`` on the reference machine, stretched to this machine's slowness now."""
    return seconds * slowness()


def summary() -> str | None:
    """One line for the end of the run (None when no test asked for the factor)."""
    if _factor is None:
        return None
    how = (f"the fixed decode took {_measured_s:.2f} s, {REFERENCE_S:.2f} s on the reference machine"
           if _measured_s is not None else f"set by {ENV}")
    return f"slowness factor {_factor:.2f} for time limits ({how})"
