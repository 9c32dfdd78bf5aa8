"""The Hugging Face cache on disk: what a repo's snapshot holds, results, and checking files by hash.

Files land in ``$HF_HUB_CACHE/models--owner--repo/{blobs,snapshots,refs}``, the layout llama.cpp ``-hf``
and the ``hf`` CLI share.  Every file is checked before it is used: LFS files against the sha256 the Hub
lists, other files against their git blob SHA-1 (the ETag the Hub serves them with).  A file with
neither is refused unless the user says ``--no-verify``.  A checked blob is remembered by a marker
(hash -> size:mtime) so it is not re-hashed on every pull.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from localctx import paths
from localctx.errors import HubError, ModelNotFoundError
from localctx.hub.select import (
    GGUFChoice,
    HubFile,
    HubRef,
    QuantNotFoundError,
    RepoListing,
    choose,
    group_ggufs,
    is_safe_repo_path,
)
from localctx.hub.session import _HEX40, HubConfig, _inside, hub_config

#: the suffix of a download in progress; it survives Ctrl-C or a crash and the next pull resumes it
PARTIAL_SUFFIX = ".localctx-partial"
Emit = Callable[[int, int | None], None]


class UnverifiableError(HubError):
    """The Hub lists no hash for a file: it cannot be checked (bad input unless --no-verify)."""

    exit_code = 2


def storage_dir(cfg: HubConfig, repo: str) -> Path:
    return cfg.cache_dir / ("models--" + repo.replace("/", "--"))


def _cached_commit(storage: Path, revision: str) -> str | None:
    if _HEX40.match(revision):
        return revision
    ref_file = storage / "refs" / revision
    if not _inside(ref_file, storage / "refs") or not ref_file.is_file():
        return None
    commit = ref_file.read_text().strip()
    return commit if _HEX40.match(commit) else None


def cached_listing(ref: HubRef, cfg: HubConfig | None = None) -> RepoListing | None:
    """What the local cache holds for this repo and revision (no network)."""
    cfg = cfg or hub_config()
    storage = storage_dir(cfg, ref.repo)
    commit = _cached_commit(storage, ref.revision)
    snap = storage / "snapshots" / (commit or "")
    if not commit or not snap.is_dir():
        return None
    files = [HubFile(p.relative_to(snap).as_posix(), p.stat().st_size, None)
             for p in sorted(snap.rglob("*.gguf")) if p.is_file()]
    return RepoListing(ref.repo, ref.revision, commit, group_ggufs(files), from_cache=True)


def not_cached(ref: HubRef, cfg: HubConfig) -> ModelNotFoundError:
    why = "HF_HUB_OFFLINE=1 is set" if cfg.offline else f"the Hub at {cfg.endpoint} is unreachable"
    return ModelNotFoundError(ref.spec, hint=f"it is not in the Hugging Face cache ({cfg.cache_dir}) and {why}; "
                              f"run `localctx pull {ref.command_args}` while online")


# ---- results -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class PullProgress:
    phase: str  # download | verify
    file: str
    index: int
    count: int
    done: int
    total: int | None


ProgressFn = Callable[[PullProgress], None]


@dataclass(frozen=True)
class PullResult:
    name: str  # repo:quant, the catalog name
    repo: str
    quant: str
    commit: str
    paths: tuple[Path, ...]  # first shard first
    size_bytes: int
    downloaded_bytes: int
    from_cache: bool
    verified: bool
    notes: tuple[str, ...] = ()
    verification: str = ""  # what was checked: "sha256", "git SHA-1", both, or what was skipped


    @property
    def path(self) -> Path:
        return self.paths[0]

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["paths"] = [str(p) for p in self.paths]
        d["path"] = str(self.path)
        d["notes"] = list(self.notes)
        return d


def check_names(choice: GGUFChoice, root: Path, ref: HubRef) -> None:
    for f in choice.files:
        if not is_safe_repo_path(f.path) or not _inside(root / f.path, root):
            raise HubError(f"refusing {ref.spec}: the server listed an unsafe file name {f.path!r} that would escape "
                           f"{root}", "this server or mirror is not trustworthy; check HF_ENDPOINT")


def resolve_cached(ref: HubRef, *, notes: tuple[str, ...] = ()) -> PullResult:
    """A pulled model from the cache, with no network call; ModelNotFoundError names the pull to run."""
    cfg = hub_config()
    listing = cached_listing(ref, cfg)
    if listing is None or not listing.choices:
        raise not_cached(ref, cfg)
    try:
        choice, more = choose(listing, ref.selector)
    except QuantNotFoundError:
        raise not_cached(ref, cfg) from None
    snap = storage_dir(cfg, ref.repo) / "snapshots" / listing.commit
    check_names(choice, snap, ref)
    files = tuple(snap / f.path for f in choice.files)
    return PullResult(f"{ref.repo}:{choice.quant}", ref.repo, choice.quant, listing.commit, files,
                      sum(p.stat().st_size for p in files), 0, True, False, notes + tuple(more),
                      "from the cache, checked when it was pulled")


def free_bytes(path: Path) -> int:
    import psutil

    for p in [path, *path.parents]:
        if p.exists():
            return psutil.disk_usage(str(p)).free
    return psutil.disk_usage(os.path.abspath(os.sep)).free


def _hash(path: Path, h: Any, emit: Emit) -> str:
    done, total = 0, path.stat().st_size
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(8 << 20), b""):
            h.update(chunk)
            done += len(chunk)
            emit(done, total)
    return str(h.hexdigest())


def file_digest(path: Path, f: HubFile, emit: Emit) -> tuple[str, str]:
    """(what, hex) for ``path`` computed the way ``f``'s listed hash is: sha256, or git's blob SHA-1."""
    if f.sha256:
        return "sha256", _hash(path, hashlib.sha256(), emit)
    if f.blob_id:
        return "git SHA-1", _hash(path, hashlib.sha1(b"blob %d\0" % path.stat().st_size), emit)
    raise UnverifiableError(f"refusing {f.path}: the Hub lists no sha256 or git SHA-1 for it, so the download "
                            "cannot be verified", "pass --no-verify to accept it unchecked")


def check_file(path: Path, f: HubFile, emit: Emit, *also: Path) -> str:
    """Hash ``path`` and compare with the listing; a mismatch deletes it (and ``also``) and says so."""
    what, got = file_digest(path, f, emit)
    want = f.digest or ""
    if got != want:
        for p in {path, *also}:
            p.unlink(missing_ok=True)
        raise HubError(f"{f.path}: {what} mismatch (the Hub says {want[:16]}…, the download is {got[:16]}…); the "
                       "corrupt file was deleted", "pull again; if it repeats, the server or a proxy is serving a "
                       "damaged file")
    return what


def marker(digest: str) -> Path:
    return paths.hub_verified_dir() / digest


def stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def remember(path: Path, digest: str) -> None:
    try:
        paths.ensure(marker(digest).parent)
        marker(digest).write_text(stamp(path))
    except OSError:  # only a cache of work done
        pass


def _marked(digest: str, path: Path) -> bool:
    """The file was verified as it is now (a marker that cannot be read only means: check it again)."""
    try:
        return marker(digest).read_text("utf-8") == stamp(path)
    except (OSError, ValueError):
        return False


def verify_in_place(path: Path, f: HubFile, emit: Emit, *, no_verify: bool = False) -> str:
    """Check a file already in place (a blob another tool fetched, a --local-dir file); remembered per hash.
    Returns what was checked, or what was skipped under --no-verify."""
    if not f.digest:
        if no_verify:
            return "not verified (no hash listed; --no-verify)"
        file_digest(path, f, emit)  # raises UnverifiableError
    real = path.resolve()
    digest = f.digest or ""
    if _marked(digest, real):
        return "sha256" if f.sha256 else "git SHA-1"
    what = check_file(real, f, emit, path)
    remember(real, digest)
    return what


def write_ref(storage: Path, revision: str, commit: str) -> None:
    """hf_hub_download pinned to a commit records no ref; record ours so offline lookups by branch work."""
    if revision == commit:
        return
    ref_file = storage / "refs" / revision
    if not _inside(ref_file, storage / "refs"):
        raise HubError(f"refusing revision name {revision!r}")
    paths.ensure(ref_file.parent)
    tmp = ref_file.with_name(ref_file.name + ".localctx.tmp")
    tmp.write_text(commit)
    tmp.replace(ref_file)


def still_needed(root: Path, storage: Path, f: HubFile, *, cache: bool) -> int:
    """Bytes left to fetch: 0 if the file (or, in the cache, its blob) is there; less a resumable partial."""
    if (root / f.path).exists():
        return 0
    target = storage / "blobs" / f.digest if cache and f.digest else root / f.path
    if cache and f.digest and target.exists():
        return 0
    partial = target.with_name(target.name + PARTIAL_SUFFIX)
    kept = partial.stat().st_size if partial.exists() else 0
    size = f.size or 0
    return size if kept > size else size - kept  # a partial larger than the file is discarded, not resumed


def gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"
