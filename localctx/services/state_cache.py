"""Saved KV states of ingested documents, so reopening a long document costs a file read, not a prefill.

A state is only valid for the exact model file, the runtime settings that shape the KV cache (n_ctx,
RoPE/YaRN, K/V types, flash attention, SWA layout) and the exact prefix tokens; all of them go into
the key.  Each ``<key>.kvstate`` has a ``<key>.kvmeta`` header (JSON) written after it with its size
and sha256: a state whose header is missing, unreadable, from another format, or whose bytes do not
match is deleted and rebuilt, never loaded (llama.cpp can crash on a bad state, see
context-extension.md §3.4).  Total size is capped; the least recently used states go first.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from localctx import paths
from localctx.core.settings import RuntimeSettings
from localctx.engine.base import Engine
from localctx.errors import LocalctxError

FORMAT = 1
DEFAULT_MAX_BYTES = 10 * 1024**3
#: settings that do not change what a KV state holds (threads, mapping, sampling seed, offload)
_NOT_IN_KEY = {"n_threads", "use_mmap", "use_mlock", "seed", "extra", "n_gpu_layers", "n_batch", "n_ubatch"}


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def tokens_digest(tokens: Sequence[int]) -> str:
    return hashlib.sha256(",".join(map(str, tokens)).encode()).hexdigest()


# ---- model file fingerprint --------------------------------------------------------------------
_SAMPLE = 64 * 1024
_N_SAMPLES = 32


def _fingerprint(path: Path, size: int) -> str:
    """sha256 of the size, the first MiB (the GGUF header), 32 evenly spread 64 KiB samples and the
    last 64 KiB: reads ~3 MiB whatever the file size, yet any re-quantized or fine-tuned file differs."""
    h = hashlib.sha256(str(size).encode())
    with open(path, "rb") as f:
        h.update(f.read(1 << 20))
        for i in range(_N_SAMPLES):
            f.seek(max(0, size * i // _N_SAMPLES))
            h.update(f.read(_SAMPLE))
        f.seek(max(0, size - _SAMPLE))
        h.update(f.read(_SAMPLE))
    return h.hexdigest()


def model_fingerprint(path: Path) -> str:
    """The model file's fingerprint, cached by path + size + mtime (recomputed when either changes)."""
    path = Path(path).resolve()
    st = path.stat()
    index = paths.cache_dir() / "model_fingerprints.json"
    try:
        known = json.loads(index.read_text())
    except (OSError, ValueError):
        known = {}
    hit = known.get(str(path))
    if hit and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns:
        return str(hit["hash"])
    digest = _fingerprint(path, st.st_size)
    known[str(path)] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "hash": digest}
    _write_json_atomic(index, known)
    return digest


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
    os.replace(tmp, path)


# ---- keys and entries --------------------------------------------------------------------------
def llama_cpp_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("llama_cpp_python")
    except PackageNotFoundError:  # pragma: no cover
        return "unknown"


def state_key(model_hash: str, settings: RuntimeSettings, n_ctx: int, tokens: Sequence[int]) -> str:
    """Key of a KV state: model bytes, KV-shaping settings, the context llama.cpp made, the tokens."""
    relevant = {k: v for k, v in settings.to_json().items() if k not in _NOT_IN_KEY}
    blob = json.dumps(
        {"format": FORMAT, "llama_cpp": llama_cpp_version(), "model": model_hash, "settings": relevant,
         "n_ctx": n_ctx, "tokens": tokens_digest(tokens)},
        sort_keys=True, default=str,
    )
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


@dataclass
class CacheEntry:
    key: str
    size: int
    sha256: str
    n_tokens: int
    tokens_sha256: str
    created_at: float
    last_used: float
    model: str = ""
    documents: list[str] = field(default_factory=list)
    n_ctx: int = 0
    format: int = FORMAT

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Restore:
    """What happened when a state was asked for: ``hit`` (loaded), ``miss`` (none saved), or
    ``rebuilt`` (one existed but was stale/corrupt and was deleted; ``reason`` says why)."""

    status: str
    reason: str = ""


def default_max_bytes() -> int:
    raw = os.environ.get("LOCALCTX_STATE_CACHE_MAX_BYTES")
    if not raw:
        return DEFAULT_MAX_BYTES
    try:
        return int(raw)
    except ValueError:
        raise LocalctxError(f"LOCALCTX_STATE_CACHE_MAX_BYTES={raw!r} is not a number of bytes") from None


class StateCache:
    def __init__(self, root: Path | None = None, max_bytes: int | None = None) -> None:
        self.root = Path(root) if root else paths.cache_dir() / "kv-states"
        self.max_bytes = default_max_bytes() if max_bytes is None else max_bytes

    def state_path(self, key: str) -> Path:
        return self.root / f"{key}.kvstate"

    def header_path(self, key: str) -> Path:
        return self.root / f"{key}.kvmeta"

    # ---- load ----------------------------------------------------------------------------
    def _valid_entry(self, key: str, tokens: Sequence[int]) -> tuple[CacheEntry | None, str]:
        head, state = self.header_path(key), self.state_path(key)
        if not head.exists() and not state.exists():
            return None, ""
        try:
            entry = CacheEntry(**json.loads(head.read_text()))
        except (OSError, ValueError, TypeError) as exc:
            return None, f"unreadable header ({exc.__class__.__name__})"
        if entry.format != FORMAT or entry.key != key:
            return None, "header from another format or key"
        if entry.n_tokens != len(tokens) or entry.tokens_sha256 != tokens_digest(tokens):
            return None, "saved for other tokens"
        try:
            size = state.stat().st_size
        except OSError:
            return None, "state file missing"
        if size != entry.size:
            return None, f"size {size} != {entry.size} in header"
        if _sha256_file(state) != entry.sha256:
            return None, "checksum mismatch"
        return entry, ""

    def load(self, engine: Engine, key: str, tokens: Sequence[int]) -> Restore:
        """Load the state saved under ``key`` into ``engine`` if it is intact and holds ``tokens``."""
        entry, reason = self._valid_entry(key, tokens)
        if entry is None:
            if not reason:
                return Restore("miss")
            self.remove(key)
            return Restore("rebuilt", reason)
        try:
            engine.load_state(self.state_path(key))
        except LocalctxError as exc:
            self.remove(key)
            return Restore("rebuilt", f"llama.cpp refused it: {exc.message}")
        if list(engine.cached_tokens) != list(tokens):
            self.remove(key)
            return Restore("rebuilt", "restored tokens differ")
        entry.last_used = time.time()
        _write_json_atomic(self.header_path(key), entry.to_json())
        return Restore("hit")

    # ---- save ----------------------------------------------------------------------------
    def save(self, engine: Engine, key: str, *, model: str = "", documents: Sequence[str] = ()) -> CacheEntry | None:
        """Save the engine's current KV state under ``key`` (written to a temp file, checksummed, then
        verified; the header last).  Returns None when the state alone exceeds the size cap."""
        tokens = list(engine.cached_tokens)
        self.root.mkdir(parents=True, exist_ok=True)
        state = self.state_path(key)
        self.header_path(key).unlink(missing_ok=True)  # no header may describe a state being rewritten
        engine.save_state(state)  # the adapter writes atomically (and may add its own sidecar)
        size = state.stat().st_size
        if size > self.max_bytes:
            self.remove(key)
            return None
        digest = _sha256_file(state)
        now = time.time()
        entry = CacheEntry(key=key, size=size, sha256=digest, n_tokens=len(tokens), tokens_sha256=tokens_digest(tokens),
                           created_at=now, last_used=now, model=model, documents=list(documents), n_ctx=engine.n_ctx)
        _write_json_atomic(self.header_path(key), entry.to_json())
        self.evict(keep=key)
        return entry

    # ---- listing and eviction ------------------------------------------------------------
    def entries(self) -> list[CacheEntry]:
        """Readable entries, most recently used first (corrupt ones are left for load to find)."""
        out = []
        for head in self.root.glob("*.kvmeta") if self.root.exists() else ():
            try:
                out.append(CacheEntry(**json.loads(head.read_text())))
            except (OSError, ValueError, TypeError):
                continue
        return sorted(out, key=lambda e: e.last_used, reverse=True)

    def total_bytes(self) -> int:
        return sum(p.stat().st_size for p in self.root.glob("*.kvstate")) if self.root.exists() else 0

    def remove(self, key: str) -> None:
        """Delete a state, its header and anything the adapter wrote beside it (``<key>.kvstate.*``)."""
        self.header_path(key).unlink(missing_ok=True)
        for p in self.root.glob(f"{key}.kvstate*"):
            p.unlink(missing_ok=True)

    def evict(self, keep: str | None = None) -> list[str]:
        """Delete orphans (a state without header or the reverse), then least recently used entries
        until the total fits ``max_bytes``."""
        if not self.root.exists():
            return []
        removed = []
        states = {p.stem for p in self.root.glob("*.kvstate")}
        heads = {p.stem for p in self.root.glob("*.kvmeta")}
        for key in states ^ heads:
            if key != keep:
                self.remove(key)
                removed.append(key)
        total = self.total_bytes()
        for entry in sorted(self.entries(), key=lambda e: e.last_used):
            if total <= self.max_bytes:
                break
            if entry.key == keep:
                continue
            total -= entry.size
            self.remove(entry.key)
            removed.append(entry.key)
        return removed

    def clear(self) -> tuple[int, int]:
        """Delete every saved state; returns (count, bytes freed)."""
        if not self.root.exists():
            return 0, 0
        n, freed = 0, 0
        for p in list(self.root.iterdir()):
            if p.suffix == ".kvstate":
                n += 1
                freed += p.stat().st_size
            if p.is_file():
                p.unlink()
        return n, freed
