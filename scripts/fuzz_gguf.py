#!/usr/bin/env python3
"""Fuzz localctx's GGUF reading with mutated/truncated copies of the real models.

    .venv/bin/python scripts/fuzz_gguf.py [--cases 1000] [--seed 7]
    .venv/bin/python scripts/fuzz_gguf.py --ask 200 [--seed 7] [--write-doc]

Default mode: every case must either read or fail with a one-line GGUFError naming the file
(tests/fuzzing.py).  Both modes replay the corpus first (tests/fuzzing.py's CORPUS: hostile headers
that once passed ``inspect`` and crashed a load); each must be refused.

``--ask N``: mutate SmolLM2's header in place (same length, real weights behind it) until N mutated
files pass ``inspect``'s checks, and run ``localctx ask`` on each as a user would (-t 1, --ctx 256, -n 4,
--json).  Every run must answer, or fail with exit 1/2, one line on stderr and nothing on stdout: no
signal (a llama.cpp abort), no traceback, no hang.  ``--write-doc`` puts the counts in docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import math
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from localctx.core import gguf_reader as gr
from localctx.core.model_info import check_loadable, read_model_info
from localctx.errors import GGUFError
from localctx.models.catalog import _gemma3_path, _smollm2_path
from tests.fuzzing import CORPUS, fuzz

ASK_TIMEOUT = 300
QUESTION = "Wie viel ist 2+2? Answer: ünïcødé ✓"


def header_mode(cases: int, seed: int) -> int:
    bad = 0
    with tempfile.TemporaryDirectory() as d:
        for name, locate in (("smollm2", _smollm2_path), ("gemma-3-270m", _gemma3_path)):
            t0 = time.perf_counter()
            s = fuzz(locate(), Path(d), cases, seed)
            dt = time.perf_counter() - t0
            print(f"{name}: {s.cases} cases in {dt:.1f} s: {s.rejected} rejected cleanly, {s.accepted} still valid, "
                  f"{len(s.failures)} contract failures")
            print("  rejections by first word of the problem:", dict(s.problems.most_common(8)))
            for f in s.failures[:20]:
                print("  FAIL", f)
            bad += len(s.failures)
    return 1 if bad else 0


# ---- ask mode ------------------------------------------------------------------------------------
def layout(path: Path) -> dict[str, list[tuple[int, int]]]:
    """Offsets of mutable fields in the header: scalar values by type, tensor type fields, token strings."""
    import mmap

    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        cur = gr._Cursor(mm, len(mm), path)
        cur.pos = 8
        n_t, n_kv = cur.u64(""), cur.u64("")
        out: dict[str, list[tuple[int, int]]] = {"float": [], "int": [], "ttype": [], "tokens": []}
        for _ in range(n_kv):
            key = cur.string("")
            vt = cur.u32("")
            at = cur.pos
            gr._read_value(cur, vt, key)
            if vt == gr.FLOAT32:
                out["float"].append((at, vt))
            elif vt in (gr.UINT32, gr.INT32):
                out["int"].append((at, vt))
            elif key == "tokenizer.ggml.tokens":
                out["tokens"].append((at, cur.pos))
        for _ in range(n_t):
            cur.string("")
            nd = cur.u32("")
            cur.pos += 8 * nd
            out["ttype"].append((cur.pos, 0))
            cur.pos += 4 + 8
    return out


def mutate(rng: random.Random, header: bytes, spots: dict[str, list[tuple[int, int]]]) -> tuple[str, bytes]:
    """Same-length mutations, weighted towards the values llama.cpp reads."""
    b = bytearray(header)
    kind = rng.choice(["flip", "flip", "zero", "u32", "float", "float", "int", "int", "ttype", "token"])
    if kind == "flip":
        for _ in range(rng.randint(1, 4)):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
    elif kind == "zero":
        i = rng.randrange(len(b))
        n = rng.randint(1, 64)
        b[i:i + n] = bytes(len(b[i:i + n]))
    elif kind == "u32":
        struct.pack_into("<I", b, rng.randrange(len(b) - 4), rng.choice([0, 1, 2**31, 2**32 - 1, rng.randrange(2**32)]))
    elif kind == "float" and spots["float"]:
        at, _ = rng.choice(spots["float"])
        struct.pack_into("<f", b, at, rng.choice([math.nan, math.inf, -math.inf, -1.0, 0.0, 1e30, 1e-30, 1e-45]))
    elif kind == "int" and spots["int"]:
        at, _ = rng.choice(spots["int"])
        struct.pack_into("<I", b, at, rng.choice([0, 1, 2, 3, 7, 64, 65535, 2**31, 2**32 - 1, rng.randrange(2**20)]))
    elif kind == "ttype" and spots["ttype"]:
        at, _ = rng.choice(spots["ttype"])
        struct.pack_into("<I", b, at, rng.randrange(0, 45))
    elif kind == "token" and spots["tokens"]:
        start, end = spots["tokens"][0]
        i = rng.randrange(start, end)
        b[i] ^= 1 << rng.randrange(8)
    return kind, bytes(b)


def run_ask(path: Path, home: Path) -> tuple[str, str]:
    """(outcome, detail): answered | refused | signal | traceback | stdout-on-error | multi-line | hang."""
    env = {**os.environ, "LOCALCTX_HOME": str(home), "PYTHONPATH": str(Path(__file__).resolve().parent.parent)}
    cmd = [sys.executable, "-m", "localctx", "ask", str(path), QUESTION, "--json", "-t", "1", "--ctx", "256", "-n", "4"]
    try:
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=ASK_TIMEOUT, env=env, errors="replace")
    except subprocess.TimeoutExpired:
        return "hang", f"no answer in {ASK_TIMEOUT} s"
    err = [ln for ln in p.stderr.splitlines() if ln.strip()]
    last = err[-1] if err else ""
    if p.returncode < 0:
        return "signal", f"signal {-p.returncode}: {last[:200]}"
    if "Traceback" in p.stdout + p.stderr:
        return "traceback", last[:200]
    if p.returncode == 0:
        return "answered", ""
    if p.stdout.strip():
        return "stdout-on-error", f"exit {p.returncode}, {len(p.stdout.splitlines())} lines on stdout"
    if len(err) != 1:
        return "multi-line", f"exit {p.returncode}, {len(err)} lines: {last[:200]}"
    return f"refused (exit {p.returncode})", last[:200]


def _gist(line: str) -> str:
    """A refusal without the file's path, to count kinds of refusal."""
    return line.replace("error: ", "").split(" — ")[0].split(".gguf", 1)[-1].lstrip(": ")[:90]


def ask_mode(target: int, seed: int, max_cases: int, write_doc: bool) -> int:
    src = _smollm2_path()
    rng = random.Random(seed)
    t0 = time.perf_counter()
    outcomes: Counter[str] = Counter()
    kinds: Counter[str] = Counter()
    details: list[str] = []
    reasons: Counter[str] = Counter()
    refusals: Counter[str] = Counter()
    inspected = rejected = 0
    with tempfile.TemporaryDirectory(prefix="fuzz-ask-") as d:
        work = Path(d) / "fuzz-ask.gguf"
        size = gr.read_gguf_header(src).data_offset
        header = src.read_bytes()[:size]
        for name, (edit, _words) in CORPUS.items():  # with the real weights behind each edited header
            with open(src, "rb") as f, open(work, "wb") as out:
                out.write(edit(header))
                f.seek(size)
                shutil.copyfileobj(f, out)
            outcome, detail = run_ask(work, Path(d) / "home")
            print(f"corpus {name}: {outcome} {detail[:120]}", flush=True)
            if outcome != "refused (exit 2)":
                outcomes[f"corpus {outcome}"] += 1
                details.append(f"corpus {name}: {outcome}: {detail}")
        shutil.copy(src, work)
        spots = layout(src)
        keep = Path(d).parent / f"fuzz-ask-failures-{seed}"
        while outcomes.total() < target and inspected < max_cases:
            kind, data = mutate(rng, header, spots)
            with open(work, "r+b") as f:
                f.write(data)
            inspected += 1
            try:
                check_loadable(read_model_info(work))
            except GGUFError as exc:
                rejected += 1
                reasons[exc.problem.split(" ")[0]] += 1
                continue
            except Exception as exc:  # noqa: BLE001 - inspect itself broke: a failure of the contract
                outcomes["inspect traceback"] += 1
                details.append(f"case {inspected} ({kind}): inspect {type(exc).__name__}: {exc}")
                continue
            kinds[kind] += 1
            outcome, detail = run_ask(work, Path(d) / "home")
            outcomes[outcome] += 1
            if outcome in ("signal", "traceback", "hang", "stdout-on-error", "multi-line"):
                details.append(f"case {inspected} ({kind}): {outcome}: {detail}")
                keep.mkdir(exist_ok=True)
                shutil.copy(work, keep / f"case-{inspected}.gguf") if len(details) <= 5 else None
            elif outcome.startswith("refused"):
                refusals[_gist(detail)] += 1
            n = outcomes.total()
            if n % 10 == 0:
                print(f"[{time.perf_counter() - t0:6.0f} s] {n} asked, {rejected} refused by inspect: "
                      f"{dict(outcomes)}", flush=True)
    elapsed = time.perf_counter() - t0
    bad = sum(v for k, v in outcomes.items() if k.startswith("corpus")) + sum(
        outcomes[k] for k in ("signal", "traceback", "hang", "stdout-on-error", "multi-line", "inspect traceback"))
    print(f"\n{inspected} mutated files: {rejected} refused by inspect, {outcomes.total()} passed it and were asked "
          f"({elapsed:.0f} s)")
    print("outcomes:", dict(outcomes))
    print("mutation kinds asked:", dict(kinds))
    for msg, n in refusals.most_common(12):
        print(f"  {n:4d} x {msg}")
    for line in details[:30]:
        print("  FAIL", line)
    if write_doc:
        _write_doc(seed, inspected, rejected, outcomes, kinds, reasons, details, elapsed)
    return 1 if bad else 0


def _write_doc(seed: int, inspected: int, rejected: int, outcomes: Counter[str], kinds: Counter[str],
               reasons: Counter[str], details: list[str], elapsed: float) -> None:
    from scripts._benchmd import write_section

    signals = outcomes["signal"]
    tracebacks = outcomes["traceback"] + outcomes["inspect traceback"]
    rows = "\n".join(f"| {k} | {v} |" for k, v in sorted(outcomes.items()))
    md = f"""## Hostile files: `ask` on mutated models that pass `inspect` (`scripts/fuzz_gguf.py --ask`)

SmolLM2-135M Q4_1 with its header mutated in place (same length, real weights): bit flips, zeroed runs,
random u32s, float hyper-parameters set to NaN/inf/-1/0/1e30, integer keys set to edge values, tensor
types swapped, token strings flipped.  Each file that passes `inspect`'s checks is run through
`localctx ask FILE "..." --json -t 1 --ctx 256 -n 4` as a separate process.  Seed {seed}; {elapsed / 60:.0f} min
on the shared 2-core machine.

- {inspected} mutated files: {rejected} refused by `inspect` (exit 2, one line), **{outcomes.total()} passed it
  and were asked**
- **{signals} signals, {tracebacks} tracebacks**, {outcomes['hang']} hangs, {outcomes['stdout-on-error']} errors with
  text on stdout, {outcomes['multi-line']} multi-line errors

| outcome of `ask` | files |
| --- | ---: |
{rows}

Mutation kinds among the files asked: {', '.join(f'{k} {v}' for k, v in kinds.most_common())}.
Most common first words of `inspect`'s refusals: {', '.join(f'{k} {v}' for k, v in reasons.most_common(6))}.
""" + ("\nFailures:\n\n" + "\n".join(f"- {d}" for d in details[:20]) + "\n" if details else "")
    print("wrote", write_section("fuzz-ask", md))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--cases", type=int, default=1000, help="header cases per model")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--ask", type=int, default=0, metavar="N", help="run `ask` on N mutated files that pass inspect")
    ap.add_argument("--max-cases", type=int, default=20000, help="give up after this many mutations (--ask)")
    ap.add_argument("--write-doc", action="store_true", help="record the --ask counts in docs/benchmarks.md")
    args = ap.parse_args()
    if args.ask:
        return ask_mode(args.ask, args.seed, args.max_cases, args.write_doc)
    return header_mode(args.cases, args.seed)


if __name__ == "__main__":
    sys.exit(main())
