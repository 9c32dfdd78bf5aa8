"""Pulled Hub models in the catalog, by ``owner/repo:QUANT``, and their removal.

Reads the Hugging Face cache directly (a directory walk, no network, no huggingface_hub import), so
models fetched by llama.cpp ``-hf`` or ``hf download`` show up too.  The model catalog lists
``cached_models`` and asks ``resolve_ref`` for references it does not list (a quant left out, a file
name, a revision).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localctx.errors import LocalctxError, ModelNotFoundError
from localctx.hub.client import cached_listing, hub_config, resolve_cached
from localctx.hub.select import HubRef, looks_like_hub_ref, parse_ref


@dataclass(frozen=True)
class CachedModel:
    name: str  # owner/repo:QUANT
    repo: str
    quant: str
    commit: str
    paths: tuple[Path, ...]
    size_bytes: int


def _repo_of(storage: Path) -> str | None:
    owner, sep, name = storage.name.removeprefix("models--").partition("--")
    return f"{owner}/{name}" if sep and owner and name else None


def _commits(storage: Path) -> list[str]:
    """Snapshots of a repo, the one ``refs/main`` points to first, then newest first."""
    snaps = [p for p in (storage / "snapshots").glob("*") if p.is_dir()]
    snaps.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    main = storage / "refs" / "main"
    head = main.read_text().strip() if main.is_file() else ""
    return sorted((p.name for p in snaps), key=lambda c: c != head)


def cached_models() -> list[CachedModel]:
    cfg = hub_config()
    out: list[CachedModel] = []
    if not cfg.cache_dir.is_dir():
        return out
    for storage in sorted(cfg.cache_dir.glob("models--*")):
        repo = _repo_of(storage)
        if repo is None:
            continue
        seen: set[str] = set()
        for commit in _commits(storage):
            listing = cached_listing(HubRef(repo, None, commit), cfg)
            for c in listing.choices if listing else ():
                label = c.quant if c.quant.lower() not in seen else c.first
                if label.lower() in seen:
                    continue
                seen.add(label.lower())
                files = tuple(storage / "snapshots" / commit / f.path for f in c.files)
                out.append(CachedModel(f"{repo}:{label}", repo, c.quant, commit, files, c.size))
    return out


def resolve_ref(ref: str) -> Path | None:
    """A Hub-shaped reference resolved from the cache (never the network); None if not Hub-shaped.

    Raises ModelNotFoundError naming the exact ``localctx pull`` to run when it is not pulled."""
    if not looks_like_hub_ref(ref):
        return None
    return resolve_cached(parse_ref(ref)).path


# ---- removal --------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Removed:
    name: str
    files: tuple[str, ...]
    freed_bytes: int
    repo_removed: bool

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__, files=list(self.files))


def remove(name: str) -> Removed:
    """Delete a pulled model's files (every snapshot of its repo) and the blobs no other file uses.

    Only Hub-cache models: a bundled or registered name is refused, so nothing else is ever deleted."""
    if not looks_like_hub_ref(name):
        raise LocalctxError(f"'{name}' is not a model pulled from the Hub",
                            "`localctx rm` removes only pulled models (owner/repo:QUANT, see `localctx models`); "
                            "use `localctx models forget NAME` for a registered name")
    ref = parse_ref(name)
    mine = [m for m in cached_models() if m.repo.lower() == ref.repo.lower()]
    if ref.selector is None and len(mine) > 1:
        raise LocalctxError(f"several models of {ref.repo} are pulled: {', '.join(m.name for m in mine)}",
                            "name one: `localctx rm owner/repo:QUANT`")
    try:
        found = resolve_cached(ref)
    except ModelNotFoundError:
        raise ModelNotFoundError(name, [m.name for m in mine], hint="see `localctx models` for pulled models") from None
    storage = hub_config().cache_dir / ("models--" + found.repo.replace("/", "--"))
    snap_root = storage / "snapshots"
    rel = [p.relative_to(snap_root / found.commit) for p in found.paths]
    blobs: set[Path] = set()
    freed = 0
    for snap in [p for p in snap_root.glob("*") if p.is_dir()]:
        for r in rel:
            ptr = snap / r
            if ptr.is_symlink():
                blobs.add(Path(os.path.realpath(ptr)))
                ptr.unlink()
            elif ptr.is_file():  # a copy (no symlink support)
                freed += ptr.stat().st_size
                ptr.unlink()
    still_used = {Path(os.path.realpath(p)) for p in snap_root.rglob("*") if p.is_symlink()}
    for b in blobs - still_used:
        if b.is_file() and b.parent == (storage / "blobs").resolve():
            freed += b.stat().st_size
            b.unlink()
    _prune_empty(snap_root)
    left = any(p.is_file() for p in snap_root.rglob("*")) if snap_root.exists() else False
    if not left:
        shutil.rmtree(storage, ignore_errors=True)
        shutil.rmtree(storage.parent / ".locks" / storage.name, ignore_errors=True)
    return Removed(found.name, tuple(str(r) for r in rel), freed, not left)


def _prune_empty(root: Path) -> None:
    if not root.exists():
        return
    for d in sorted((p for p in root.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True):
        if not any(d.iterdir()):
            d.rmdir()
