"""Pulling a GGUF choice from the Hub into the shared cache (or a folder), every file verified.

Offline-first: with HF_HUB_OFFLINE=1 or an unreachable Hub, a cached copy is used and the result says
so.  Each file is fetched by localctx's own downloader (hub/download.py: stall watchdog, Range resume,
partials that survive Ctrl-C) into ``<blob>.localctx-partial``, hashed (sha256 for LFS, git SHA-1
for the rest), and only then renamed to its blob; huggingface_hub then links the snapshot to it, so the
cache layout stays the one llama.cpp ``-hf`` and the ``hf`` CLI share.  A file the Hub lists no hash
for is refused unless ``no_verify``; the result then says what was not checked.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from localctx import paths
from localctx.errors import HubError
from localctx.hub import cache as hc
from localctx.hub.download import download
from localctx.hub.select import GGUFChoice, HubFile, HubRef, RepoListing, choose, group_ggufs
from localctx.hub.session import (
    _HEX40,
    HubConfig,
    _inside,
    _origin,
    hf_module,
    hub_config,
    library_warnings_to_log,
    translated,
)

ProgressFn = Callable[[hc.PullProgress], None]


def remote_listing(cfg: HubConfig, ref: HubRef) -> RepoListing:
    hf = hf_module(cfg)
    api = hf.HfApi(endpoint=cfg.endpoint, token=cfg.token)
    info = api.model_info(ref.repo, revision=ref.revision, files_metadata=True, token=cfg.token)
    commit = info.sha or ""
    if not _HEX40.match(commit):
        raise HubError(f"the Hub returned an invalid commit id {commit!r} for {ref.repo}")
    files = [HubFile(s.rfilename, s.lfs.size if s.lfs else s.size, s.lfs.sha256 if s.lfs else None,
                     None if s.lfs else (s.blob_id if s.blob_id and _HEX40.match(s.blob_id) else None))
             for s in info.siblings or []]
    return RepoListing(ref.repo, ref.revision, commit, group_ggufs(files), from_cache=False)


def list_quants(ref: HubRef) -> RepoListing:
    """The repo's GGUF choices with sizes; from the cache when offline or unreachable."""
    cfg = hub_config()
    if not cfg.offline:
        try:
            with translated(cfg, ref), library_warnings_to_log():
                return remote_listing(cfg, ref)
        except HubError:
            if hc.cached_listing(ref, cfg) is None:
                raise
    cached = hc.cached_listing(ref, cfg)
    if cached is None:
        raise hc.not_cached(ref, cfg)
    return cached


def _fetch(hf: Any, cfg: HubConfig, ref: HubRef, commit: str, f: HubFile, target: Path,
           emit: Callable[..., None]) -> list[str]:
    """Download ``f`` to ``target`` through ``<target>.localctx-partial``; the bytes are hashed before the
    rename, so a bad file never takes the target's name.  Returns notes."""
    from huggingface_hub.utils import WeakFileLock, build_hf_headers, get_session

    url = hf.hf_hub_url(ref.repo, f.path, revision=commit, endpoint=cfg.endpoint)
    meta = hf.get_hf_file_metadata(url, token=cfg.token, endpoint=cfg.endpoint)
    if f.digest and meta.etag != f.digest:
        raise HubError(f"{f.path}: the Hub's listing ({(f.digest or '')[:16]}…) and the file (ETag "
                       f"{(meta.etag or '')[:16]}…) disagree", "try again later")
    headers = build_hf_headers(token=cfg.token)
    location = meta.location or url
    if _origin(location) != _origin(url):  # a CDN: the token stays on the Hub
        headers.pop("authorization", None)
    partial = target.with_name(target.name + hc.PARTIAL_SUFFIX)
    # the library's own lock for this blob, so a concurrent `hf download` waits for us and the reverse
    lock = cfg.cache_dir / ".locks" / ("models--" + ref.repo.replace("/", "--")) / f"{f.digest}.lock"
    paths.ensure(lock.parent)
    paths.ensure(target.parent)
    with WeakFileLock(str(lock)):
        if target.exists():
            return []
        notes = download(get_session(), location, partial, name=f.path, size=f.size, headers=headers, emit=emit)
        hc.check_file(partial, f, functools.partial(emit, phase="verify"))
        os.replace(partial, target)
    hc.remember(target, f.digest or "")
    return notes


def _refuse_unverifiable(choice: GGUFChoice, no_verify: bool) -> list[str]:
    """Files with no listed hash: refused (exit 2) unless --no-verify, then named in a note."""
    bare = [f.path for f in choice.files if not f.digest]
    if not bare:
        return []
    if not no_verify:
        raise hc.UnverifiableError(f"refusing {', '.join(bare)}: the Hub lists no sha256 or git SHA-1 for "
                                   f"{'it' if len(bare) == 1 else 'them'}, so the download cannot be verified",
                                   "pass --no-verify to download unchecked")
    return [f"not verified (--no-verify): {', '.join(bare)}; the Hub listed no hash to check"]


def pull(ref: HubRef, *, local_dir: Path | None = None, progress: ProgressFn | None = None,
         no_verify: bool = False) -> hc.PullResult:
    """Download (or find in the cache) one GGUF choice of a repo, verified.  Offline-first."""
    cfg = hub_config()
    if local_dir is None and cfg.offline:
        return hc.resolve_cached(ref, notes=("HF_HUB_OFFLINE=1: used the cache, no network call",))
    if cfg.offline:
        raise HubError("--local-dir needs the network and HF_HUB_OFFLINE=1 is set", "unset HF_HUB_OFFLINE")
    try:
        with translated(cfg, ref), library_warnings_to_log():
            listing = remote_listing(cfg, ref)
    except HubError as exc:
        if local_dir is None and hc.cached_listing(ref, cfg) is not None:
            return hc.resolve_cached(ref, notes=(f"offline ({exc.message}); used the cache",))
        raise
    choice, more = choose(listing, ref.selector)
    notes = [*more, *_refuse_unverifiable(choice, no_verify)]
    storage = hc.storage_dir(cfg, ref.repo)
    root = Path(local_dir).expanduser() if local_dir else storage / "snapshots" / listing.commit
    hc.check_names(choice, root, ref)
    needed = sum(hc.still_needed(root, storage, f, cache=local_dir is None) for f in choice.files)
    target_dir = root if local_dir else cfg.cache_dir
    free = hc.free_bytes(target_dir)
    if needed > free:
        raise HubError(f"not enough disk space for {ref.repo}:{choice.quant}: it needs {hc.gib(needed)}, "
                       f"{target_dir} has {hc.gib(free)} free", "free some space, or pull to another disk with "
                       "--local-dir")
    hf, out, checks = hf_module(cfg), [], []
    for i, f in enumerate(choice.files):
        def emit(done: int, total: int | None, phase: str = "download", f: HubFile = f, i: int = i) -> None:
            if progress:
                progress(hc.PullProgress(phase, f.path, i, len(choice.files), done, total))

        with translated(cfg, ref), library_warnings_to_log():
            p = _place(hf, cfg, ref, listing.commit, f, root, storage, local_dir, emit, notes)
        if not _inside(p, root) or not _inside(Path(os.path.realpath(p)), root if local_dir else cfg.cache_dir):
            raise HubError(f"refusing {f.path}: it was written outside {root} ({os.path.realpath(p)})")
        with translated(cfg, ref):
            checks.append(hc.verify_in_place(p, f, functools.partial(emit, phase="verify"), no_verify=no_verify))
        out.append(p)
    if not local_dir:
        hc.write_ref(storage, ref.revision, listing.commit)
    size = sum(f.size or 0 for f in choice.files)
    verified = all(not c.startswith("not") for c in checks)
    return hc.PullResult(f"{ref.repo}:{choice.quant}", ref.repo, choice.quant, listing.commit, tuple(out), size,
                         needed, needed == 0, verified, tuple(notes), " + ".join(sorted(set(checks))))


def _place(hf: Any, cfg: HubConfig, ref: HubRef, commit: str, f: HubFile, root: Path, storage: Path,
           local_dir: Path | None, emit: Callable[..., None], notes: list[str]) -> Path:
    """Put ``f`` where it belongs and return its path: the cache blob + snapshot link, or the folder."""
    if local_dir is not None:
        target = root / f.path
        if not target.exists() and f.digest:
            notes += _fetch(hf, cfg, ref, commit, f, target, emit)
        elif not target.exists():  # --no-verify and no hash: the library fetches it as before
            return Path(hf.hf_hub_download(ref.repo, f.path, revision=commit, local_dir=str(root),
                                           endpoint=cfg.endpoint, token=cfg.token))
        return target
    if f.digest:
        blob = storage / "blobs" / f.digest
        if not blob.exists():
            notes += _fetch(hf, cfg, ref, commit, f, blob, emit)
    # links the snapshot to the blob (fetches the file itself only when no hash was listed: --no-verify)
    return Path(hf.hf_hub_download(ref.repo, f.path, revision=commit, cache_dir=str(cfg.cache_dir),
                                   endpoint=cfg.endpoint, token=cfg.token))
