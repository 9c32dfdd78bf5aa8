"""Mutate and truncate real GGUF headers and check localctx's reaction to each.

The contract: every case either reads (the mutation hit something harmless) or raises GGUFError
with a one-line message naming the file - never another exception, never a hang.  Shared by the
fuzz test (>= 300 cases) and scripts/fuzz_gguf.py (>= 1,000).
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import struct
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from localctx.core.gguf_reader import read_gguf_header
from localctx.core.model_info import read_model_info
from localctx.errors import GGUFError

CASE_SECONDS = 10


@dataclass
class FuzzStats:
    cases: int = 0
    accepted: int = 0
    rejected: int = 0
    problems: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def sparse_copy(src: Path, dst: Path) -> tuple[bytes, int]:
    """Copy only the header of ``src`` into ``dst`` and extend it with a hole to the same size."""
    h = read_gguf_header(src)
    with open(src, "rb") as f:
        header = f.read(h.data_offset)
    with open(dst, "wb") as f:
        f.write(header)
        f.truncate(h.file_size)
    return header, h.file_size


class _Timeout(Exception):
    pass


def _alarm(_sig: int, _frm: object) -> None:
    raise _Timeout()


def _mutations(rng: random.Random, header: bytes):
    """Yield (description, new_header_bytes, new_size_or_None)."""
    n = len(header)
    kind = rng.choice(["flip", "flip", "u64", "u32", "zero", "trunc_header", "trunc_data", "insert", "delete",
                       "magic", "version"])
    if kind == "flip":
        b = bytearray(header)
        for _ in range(rng.randint(1, 8)):
            i = rng.randrange(n)
            b[i] ^= 1 << rng.randrange(8)
        return kind, bytes(b), None
    if kind in ("u64", "u32"):
        b = bytearray(header)
        i = rng.randrange(0, n - 8)
        v = rng.choice([0, 1, 2**31, 2**32 - 1, 2**63, 2**64 - 1, rng.randrange(2**64), n, n * 2])
        if kind == "u64":
            struct.pack_into("<Q", b, i, v)
        else:
            struct.pack_into("<I", b, i, v % 2**32)
        return kind, bytes(b), None
    if kind == "zero":
        b = bytearray(header)
        i = rng.randrange(n)
        ln = rng.randint(1, 4096)
        b[i:i + ln] = bytes(len(b[i:i + ln]))
        return kind, bytes(b), None
    if kind == "trunc_header":
        return kind, header[: rng.randrange(n)], -1
    if kind == "trunc_data":
        return kind, header, -2
    if kind == "insert":
        i = rng.randrange(n)
        return kind, header[:i] + bytes(rng.randrange(256) for _ in range(rng.randint(1, 16))) + header[i:], None
    if kind == "delete":
        i = rng.randrange(n)
        return kind, header[:i] + header[i + rng.randint(1, 16):], None
    if kind == "magic":
        return kind, rng.choice([b"GGML", b"ggjt", b"\x00\x00\x00\x00", b"PK\x03\x04"]) + header[4:], None
    return kind, header[:4] + struct.pack("<I", rng.choice([0, 1, 4, 99, 3 << 24])) + header[8:], None


def check_one(path: Path) -> str | None:
    """Read ``path`` as localctx would; return None when the contract holds, else what went wrong."""
    old = signal.signal(signal.SIGALRM, _alarm)
    signal.alarm(CASE_SECONDS)
    try:
        read_model_info(path)
        return None
    except GGUFError as exc:
        text = str(exc)
        if "\n" in exc.one_line() or path.name not in text:
            return f"bad message: {text!r}"
        return None
    except _Timeout:
        return f"hang (> {CASE_SECONDS}s)"
    except Exception as exc:  # noqa: BLE001 - the contract is broken: report it, don't raise
        return f"{type(exc).__name__}: {exc}"
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, old)


def fuzz(src: Path, workdir: Path, cases: int, seed: int) -> FuzzStats:
    rng = random.Random(seed)
    work = workdir / f"fuzz-{src.stem}.gguf"
    header, full = sparse_copy(src, work)
    stats = FuzzStats()
    for i in range(cases):
        kind, data, size = _mutations(rng, header)
        with open(work, "wb") as f:
            f.write(data)
            if size is None:
                f.truncate(full + len(data) - len(header))
            elif size == -2:
                f.truncate(rng.randrange(len(data), full))
        problem = check_one(work)
        stats.cases += 1
        if problem:
            stats.failures.append(f"case {i} ({kind}, seed {seed}): {problem}")
            shutil.copy(work, workdir / f"failure-{src.stem}-{i}.gguf") if len(stats.failures) <= 5 else None
        else:
            try:
                read_gguf_header(work)
                stats.accepted += 1
            except GGUFError as exc:
                stats.rejected += 1
                stats.problems[exc.problem.split(" ")[0]] += 1
    os.unlink(work)
    return stats
