"""Mutate and truncate real GGUF headers and check localctx's reaction to each.

The contract: every case either reads (the mutation hit something harmless) or raises GGUFError
with a one-line message naming the file - never another exception, never a hang.  Shared by the
fuzz test (>= 300 cases) and scripts/fuzz_gguf.py (>= 1,000).

``CORPUS``: hostile edits of a real header that random mutation found passing ``inspect`` and
reaching a crash in llama.cpp or llama-cpp-python (an assertion, an uncaught exception, a
UnicodeDecodeError).  Every fuzz run replays them first: each must be refused by the checks a load
passes (``check_loadable(read_model_info(...))``) with one GGUFError line.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from localctx.core import gguf_reader as gr
from localctx.core.gguf_reader import read_gguf_header
from localctx.core.model_info import check_loadable, read_model_info
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


# ---- the corpus: named edits of a header's metadata --------------------------------------------------
def _kv_records(header: bytes) -> tuple[list[tuple[bytes, int, bytes]], int]:
    """The metadata of a header as (raw key, type, raw value bytes) records, and where the tensor table
    starts."""
    cur = gr._Cursor(header, len(header), Path("<header>"))
    cur.pos = 16
    n_kv = cur.u64("")
    records = []
    for _ in range(n_kv):
        key = _raw(cur)
        vtype = cur.u32("")
        at = cur.pos
        gr._read_value(cur, vtype, key.decode("utf-8", "replace"))
        records.append((key, vtype, header[at:cur.pos]))
    return records, cur.pos


def _raw(cur: gr._Cursor) -> bytes:
    n = cur.u64("a length")
    cur.pos += n
    return bytes(cur.buf[cur.pos - n:cur.pos])


def _string(value: bytes) -> bytes:
    return struct.pack("<Q", len(value)) + value


def with_metadata(header: bytes, edits: dict[bytes, tuple[bytes, int, bytes] | None],
                  alignment: int = gr.DEFAULT_ALIGNMENT) -> bytes:
    """``header`` (up to its data section) with metadata records replaced (key -> (new key, type, raw
    value)), removed (None) or appended (a key not there), padded to ``alignment`` for the data."""
    records, tensors_at = _kv_records(header)
    out = []
    for key, vtype, raw in records:
        if key in edits:
            edit = edits[key]
            if edit is not None:
                out.append(edit)
        else:
            out.append((key, vtype, raw))
    present = {k for k, _t, _r in records}
    out += [e for k, e in edits.items() if k not in present and e is not None]
    body = b"".join(_string(k) + struct.pack("<I", t) + raw for k, t, raw in out)
    n_tensors = struct.unpack_from("<Q", header, 8)[0]
    table_end = _tensor_table_end(header, tensors_at, n_tensors)
    new = header[:8] + struct.pack("<QQ", n_tensors, len(out)) + body + header[tensors_at:table_end]
    return new + bytes(-len(new) % alignment)


def _tensor_table_end(header: bytes, at: int, n_tensors: int) -> int:
    cur = gr._Cursor(header, len(header), Path("<header>"))
    cur.pos = at
    for _ in range(n_tensors):
        _raw(cur)
        n_dims = cur.u32("")
        cur.pos += 8 * n_dims + 4 + 8
    return cur.pos


def _str_kv(key: str, value: bytes) -> tuple[bytes, int, bytes]:
    return key.encode(), gr.STRING, _string(value)


def _u32_kv(key: str, value: int) -> tuple[bytes, int, bytes]:
    return key.encode(), gr.UINT32, struct.pack("<I", value)


def _same_tokens(header: bytes) -> bytes:
    records, _ = _kv_records(header)
    raw = next(r for k, _t, r in records if k == b"tokenizer.ggml.tokens")
    (n,) = struct.unpack_from("<Q", raw, 4)
    value = struct.pack("<IQ", gr.STRING, n) + _string(b"a") * n
    return with_metadata(header, {b"tokenizer.ggml.tokens": (b"tokenizer.ggml.tokens", gr.ARRAY, value)})


def _template_byte(header: bytes) -> bytes:
    records, _ = _kv_records(header)
    raw = next((r for k, _t, r in records if k == b"tokenizer.chat_template"), _string(b"{{ messages }}"))
    return with_metadata(header, {b"tokenizer.chat_template": _str_kv("tokenizer.chat_template", raw[8:] + b"\xff")})


def _arch(header: bytes) -> str:
    records, _ = _kv_records(header)
    return next(r for k, _t, r in records if k == b"general.architecture")[8:].decode()


def _set(key: str, value: bytes | int | None) -> Callable[[bytes], bytes]:
    """An edit setting (or removing: None) one key; '.x' is the architecture's key 'arch.x'."""
    def edit(header: bytes) -> bytes:
        k = f"{_arch(header)}{key}" if key.startswith(".") else key
        record = None if value is None else _u32_kv(k, value) if isinstance(value, int) else _str_kv(k, value)
        return with_metadata(header, {k.encode(): record})
    return edit


#: name -> (edit of a real header, words its refusal names).  Each passed ``inspect`` and ``estimate``
#: once and then crashed a load: llama-cpp-python's UnicodeDecodeError, ggml asserts, a C++ exception.
CORPUS: dict[str, tuple[Callable[[bytes], bytes], str]] = {
    "general.name not UTF-8": (_set("general.name", b"Smol\xff\xfe"), "UTF-8"),
    "key name not UTF-8": (lambda h: with_metadata(h, {b"general.name": (b"general.n\xffme", gr.STRING,
                                                                         _string(b"Smol"))}), "UTF-8"),
    "chat template not UTF-8": (_template_byte, "UTF-8"),
    "rope.scaling.type wobble": (_set(".rope.scaling.type", b"wobble"), "rope.scaling.type"),
    "tokenizer llama without byte tokens": (_set("tokenizer.ggml.model", b"llama"), "byte tokens"),
    "tokenizer none": (_set("tokenizer.ggml.model", b"none"), "no vocabulary"),
    "general.alignment 1": (lambda h: with_metadata(h, {b"general.alignment": _u32_kv("general.alignment", 1)},
                                                    alignment=1), "32-byte"),
    "all tokens identical": (_same_tokens, "tokens 0 and 1"),
    "unknown architecture": (_set("general.architecture", b"wobble"), "unknown architecture"),
    "no attention.head_count": (_set(".attention.head_count", None), "attention.head_count"),
    "no tensors": (lambda h: h[:8] + struct.pack("<Q", 0) + h[16:_kv_records(h)[1]], "vocab-only"),
}


def corpus_file(src: Path, name: str, dst: Path) -> Path | None:
    """``src``'s header with the corpus edit ``name``, over a hole as long as ``src``'s data; None when
    the edit changes nothing in this file (gemma's vocabulary is already a complete 'llama' one)."""
    h = read_gguf_header(src)
    with open(src, "rb") as f:
        header = f.read(h.data_offset)
    new = CORPUS[name][0](header)
    if new == header:
        return None
    with open(dst, "wb") as f:
        f.write(new)
        if h.tensors and not name == "no tensors":
            f.truncate(len(new) + h.file_size - h.data_offset)
    return dst


def check_corpus(src: Path, workdir: Path) -> list[str]:
    """Every corpus case must be refused in one GGUFError line naming the file and the problem."""
    failures = []
    for name, (_edit, words) in CORPUS.items():
        path = corpus_file(src, name, workdir / f"corpus-{src.stem}.gguf")
        if path is None:
            continue
        try:
            check_loadable(read_model_info(path))
            failures.append(f"corpus '{name}': accepted")
        except GGUFError as exc:
            line = exc.one_line()
            if words not in line or path.name not in line or "\n" in line:
                failures.append(f"corpus '{name}': refused as {line!r}, expected the words {words!r}")
        except Exception as exc:  # noqa: BLE001 - the contract is broken: report it
            failures.append(f"corpus '{name}': {type(exc).__name__}: {exc}")
    return failures


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
    stats = FuzzStats()
    stats.failures.extend(check_corpus(src, workdir))
    work = workdir / f"fuzz-{src.stem}.gguf"
    header, full = sparse_copy(src, work)
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
