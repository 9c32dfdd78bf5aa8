"""Saved KV states of ingested documents, so reopening a long document costs a file read, not a prefill.

A state is only valid for the exact model file, the runtime settings that shape the KV cache (n_ctx,
RoPE/YaRN, K/V types, flash attention, SWA layout) and the exact prefix tokens; all of them go into
the key.  Each ``<key>.kvstate`` (llama.cpp's own file, written by the engine) has a ``<key>.kvmeta``
header (JSON) with its size, its sha256 and the engine's fingerprint.  This is the one integrity layer:
the file is hashed once when saved and once before it is loaded; a state whose header is missing,
unreadable, from another format, stale or whose bytes do not match is deleted and rebuilt, never loaded
(llama.cpp trusts a state file and can crash on a bad one).  Total size is capped; the least
recently used states go first.

Several processes share the folder.  A writer works under its own ``<name>.<pid>-<random>.partial``
names and commits with two atomic renames (state, then header); a reader that meets a half-committed or
vanished entry treats it as a miss.  A concurrent ``cache clear``, a second writer or a full disk makes
a save fail with a reason (``last_error``), never an exception: the answer is still given.  Partials
left by a killed process are listed (``partials()``) and evicted once their process is gone.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import shutil
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from localctx import paths
from localctx.core.settings import RuntimeSettings
from localctx.engine.base import Engine
from localctx.errors import LocalctxError, skip_state, state_file_error

FORMAT = 2  # 2: the engine's fingerprint moved into the header (it wrote its own sidecar before)
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
    index = paths.fingerprint_index()
    try:
        known = json.loads(index.read_text("utf-8"))
    except (OSError, ValueError):  # missing, torn or garbage: it is only a cache, rewritten below
        known = {}
    if not isinstance(known, dict):
        known = {}
    hit = known.get(str(path))
    if isinstance(hit, dict) and hit.get("size") == st.st_size and hit.get("mtime_ns") == st.st_mtime_ns \
            and isinstance(hit.get("hash"), str):
        return hit["hash"]
    digest = _fingerprint(path, st.st_size)
    known[str(path)] = {"size": st.st_size, "mtime_ns": st.st_mtime_ns, "hash": digest}
    try:
        _write_json_atomic(index, known)
    except OSError as exc:  # a full or read-only disk: the fingerprint is still right, only not remembered
        if index.is_dir():  # never heals by itself: say so
            skip_state(state_file_error(index, exc, "the model fingerprint cache"))
    return digest


def _write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _partial_name(path)
    try:
        tmp.write_text(json.dumps(data, indent=1, sort_keys=True))
        os.replace(tmp, path)
    except OSError:
        tmp.unlink(missing_ok=True)
        raise


def _partial_name(path: Path) -> Path:
    """A temporary name no other process or thread uses: ``<name>.<pid>-<random>.partial``."""
    return path.with_name(f"{path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")


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
    fingerprint: dict[str, Any] = field(default_factory=dict)  # the engine's: what the state depends on

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Partial:
    """A temporary file of a save in progress, or left behind by a process that was killed."""

    path: Path
    size: int
    pid: int
    alive: bool  # its process still runs (then it is a save in progress, not an orphan)

    def to_json(self) -> dict[str, Any]:
        return {"path": str(self.path), "size": self.size, "pid": self.pid, "orphaned": not self.alive}


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


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, owned by someone else
        return True
    return True


def _size(p: Path) -> int:
    try:
        return p.stat().st_size
    except OSError:  # removed meanwhile by another process
        return 0


def _why(exc: BaseException) -> str:
    if isinstance(exc, LocalctxError):
        return exc.message
    if isinstance(exc, FileNotFoundError):
        return "it was removed while being written (a concurrent `localctx cache clear`?)"
    return " ".join(f"{exc.strerror or exc}".split()) if isinstance(exc, OSError) else str(exc)


class StateCache:
    def __init__(self, root: Path | None = None, max_bytes: int | None = None) -> None:
        self.root = Path(root) if root else paths.kv_states_dir()
        self.max_bytes = default_max_bytes() if max_bytes is None else max_bytes
        self.last_error: str | None = None  # why the last save failed (None: it did not)

    def state_path(self, key: str) -> Path:
        return self.root / f"{key}.kvstate"

    def header_path(self, key: str) -> Path:
        return self.root / f"{key}.kvmeta"

    # ---- load ----------------------------------------------------------------------------
    def _valid_entry(self, engine: Engine, key: str, tokens: Sequence[int]) -> tuple[CacheEntry | None, str]:
        head, state = self.header_path(key), self.state_path(key)
        if not head.exists() and not state.exists():
            return None, ""
        for p in (head, state):
            if p.is_dir():
                return None, f"a folder stood in place of its {p.suffix} file and was removed"
        try:
            entry = CacheEntry(**json.loads(head.read_text("utf-8")))
        except FileNotFoundError:
            return None, "no header (a save was interrupted)"
        except (OSError, ValueError, TypeError) as exc:
            return None, f"unreadable header ({exc.__class__.__name__})"
        if entry.format != FORMAT or entry.key != key:
            return None, "header from another format or key"
        if entry.n_tokens != len(tokens) or entry.tokens_sha256 != tokens_digest(tokens):
            return None, "saved for other tokens"
        now = engine.fingerprint()
        diff = [f"{k} {entry.fingerprint.get(k)!r} != {v!r}" for k, v in now.items() if entry.fingerprint.get(k) != v]
        if diff:
            return None, f"stale: saved with other settings ({'; '.join(diff)})"
        try:
            size = state.stat().st_size
            if size != entry.size:
                return None, f"size {size} != {entry.size} in header"
            if _sha256_file(state) != entry.sha256:
                return None, "checksum mismatch"
        except OSError:
            return None, "state file missing"
        return entry, ""

    def load(self, engine: Engine, key: str, tokens: Sequence[int]) -> Restore:
        """Load the state saved under ``key`` into ``engine`` if it is intact and holds ``tokens``."""
        entry, reason = self._valid_entry(engine, key, tokens)
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
        try:
            _write_json_atomic(self.header_path(key), entry.to_json())
        except OSError:  # a full disk or a concurrent clear: the state was still loaded
            pass
        return Restore("hit")

    # ---- save ----------------------------------------------------------------------------
    def save(self, engine: Engine, key: str, *, model: str = "", documents: Sequence[str] = ()) -> CacheEntry | None:
        """Save the engine's current KV state under ``key``.  None when it was not saved: the state alone
        exceeds the size cap, or the save failed (``last_error`` says why: disk full, not writable,
        removed by a concurrent clear).  Never raises for those: a cache that cannot be written only
        means the next open evaluates the documents again."""
        self.last_error = None
        state_tmp = _partial_name(self.state_path(key))
        head_tmp = _partial_name(self.header_path(key))
        try:
            return self._save(engine, key, state_tmp, head_tmp, model, documents)
        except (OSError, LocalctxError) as exc:
            self.last_error = f"the KV state was not saved: {_why(exc)}"
            for p in (state_tmp, head_tmp):
                try:
                    p.unlink(missing_ok=True)
                except OSError:
                    pass
            return None

    def _save(self, engine: Engine, key: str, state_tmp: Path, head_tmp: Path, model: str,
              documents: Sequence[str]) -> CacheEntry | None:
        tokens = list(engine.cached_tokens)
        self.root.mkdir(parents=True, exist_ok=True)
        engine.save_state(state_tmp)
        size = state_tmp.stat().st_size
        if size > self.max_bytes:
            state_tmp.unlink(missing_ok=True)
            return None
        now = time.time()
        entry = CacheEntry(key=key, size=size, sha256=_sha256_file(state_tmp), n_tokens=len(tokens),
                           tokens_sha256=tokens_digest(tokens), created_at=now, last_used=now, model=model,
                           documents=list(documents), n_ctx=engine.n_ctx, fingerprint=engine.fingerprint())
        head_tmp.write_text(json.dumps(entry.to_json(), indent=1, sort_keys=True))
        os.replace(state_tmp, self.state_path(key))  # a reader between the two renames sees a mismatch: a miss
        os.replace(head_tmp, self.header_path(key))
        self.evict(keep=key)
        return entry

    # ---- listing and eviction ------------------------------------------------------------
    def entries(self) -> list[CacheEntry]:
        """Readable entries, most recently used first (corrupt ones are left for load to find)."""
        out = []
        for head in self.root.glob("*.kvmeta") if self.root.exists() else ():
            try:
                out.append(CacheEntry(**json.loads(head.read_text("utf-8"))))
            except (OSError, ValueError, TypeError):
                continue
        return sorted(out, key=lambda e: e.last_used, reverse=True)

    def partials(self) -> list[Partial]:
        """Temporary files: saves in progress (their process runs) and orphans of killed processes."""
        out = []
        for p in self.root.glob("*.partial") if self.root.exists() else ():
            tag = p.name.rsplit(".", 2)[-2]
            try:
                pid = int(tag.split("-", 1)[0])
            except ValueError:
                pid = -1  # a partial of an older localctx: no owner
            out.append(Partial(p, _size(p), pid, _pid_alive(pid)))
        return out

    def total_bytes(self) -> int:
        if not self.root.exists():
            return 0
        return sum(_size(p) for p in self.root.glob("*.kvstate")) + sum(p.size for p in self.partials())

    def remove(self, key: str) -> None:
        """Delete a state, its header and orphaned partials of it (a live writer's partials stay).  A
        folder under a state's name (nothing localctx makes) is removed too: it would block every save."""
        for p in (self.header_path(key), self.state_path(key)):
            if p.is_dir() and not p.is_symlink():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
        for part in self.partials():
            if not part.alive and part.path.name.startswith(key):
                part.path.unlink(missing_ok=True)

    def evict(self, keep: str | None = None) -> list[str]:
        """Delete orphans (partials of dead processes, a state without header or the reverse), then the
        least recently used entries until the total fits ``max_bytes``."""
        if not self.root.exists():
            return []
        removed = []
        for part in self.partials():
            if not part.alive:
                part.path.unlink(missing_ok=True)
                removed.append(part.path.name)
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
        """Delete every saved state and partial; returns (states removed, bytes freed).  Files another
        process removes or renames meanwhile are skipped; that process's save then fails softly."""
        if not self.root.exists():
            return 0, 0
        n, freed = 0, 0
        for p in list(self.root.iterdir()):
            size = _size(p)
            try:
                if not p.is_file():
                    continue
                p.unlink()
            except FileNotFoundError:
                continue
            if p.suffix in (".kvstate", ".partial"):  # headers are not counted in the cache's size either
                freed += size
            n += p.suffix == ".kvstate"
        return n, freed
