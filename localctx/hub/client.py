"""Hugging Face Hub downloads: the one module that imports ``huggingface_hub`` (checked against 2.4.0).

Why huggingface_hub and its cache: files land in ``$HF_HUB_CACHE/models--owner--repo/{blobs,snapshots,refs}``,
shared with llama.cpp ``-hf`` and the ``hf`` CLI, written atomically, resumed by ``Range`` after a
dropped connection.  What we add on top: choosing the GGUF (quant, split shards), a hard free-space
check, a sha256 check against the Hub's LFS metadata (the library checks only the size), refusing
server-supplied names that would escape the target folder, offline-first resolution, header-only
remote reads, and one error vocabulary (HubError / ModelNotFoundError) at this boundary.

Environment is read at call time, not import time (huggingface_hub freezes ``HF_ENDPOINT``,
``HF_HUB_OFFLINE`` and the cache path when it is imported; a long-lived TUI or a test changes them).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import re
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from localctx import paths
from localctx.errors import GGUFError, HubError, LocalctxError, ModelNotFoundError
from localctx.hub.select import (
    DEFAULT_REVISION, GGUFChoice, HubFile, HubRef, QuantNotFoundError, RepoListing, choose, group_ggufs,
    is_safe_repo_path, parse_ref,
)

__all__ = [
    "DEFAULT_REVISION", "GGUFChoice", "HubError", "HubFile", "HubRef", "PullProgress", "PullResult",
    "QuantNotFoundError", "RepoListing", "cached_listing", "choose", "hub_config", "list_quants", "model_info_remote",
    "parse_ref", "pull", "read_remote_header", "resolve_cached",
]

_HEX40 = re.compile(r"^[0-9a-f]{40}$")
_ETAG_OK = re.compile(r"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
HEADER_FIRST_CHUNK = 1 << 20
HEADER_MAX_BYTES = 256 << 20


# ---- configuration, read now ---------------------------------------------------------------------
@dataclass(frozen=True)
class HubConfig:
    endpoint: str
    cache_dir: Path
    offline: bool
    token: str | None


def _true(v: str | None) -> bool:
    return (v or "").strip().upper() in ("1", "ON", "YES", "TRUE")


def hub_config() -> HubConfig:
    env = os.environ
    if env.get("HF_HUB_CACHE") or env.get("HUGGINGFACE_HUB_CACHE"):
        cache = Path(env.get("HF_HUB_CACHE") or env["HUGGINGFACE_HUB_CACHE"])
    else:
        hf_home = env.get("HF_HOME") or os.path.join(env.get("XDG_CACHE_HOME") or "~/.cache", "huggingface")
        cache = Path(hf_home) / "hub"
    return HubConfig(
        endpoint=(env.get("HF_ENDPOINT") or "https://huggingface.co").rstrip("/"),
        cache_dir=Path(os.path.expandvars(str(cache))).expanduser(),
        offline=_true(env.get("HF_HUB_OFFLINE")) or _true(env.get("TRANSFORMERS_OFFLINE")),
        token=env.get("HF_TOKEN") or env.get("HUGGING_FACE_HUB_TOKEN") or None,
    )


def _hf(cfg: HubConfig) -> Any:
    import huggingface_hub
    from huggingface_hub import constants

    # the library froze these at import; its request hook and background lookups read them
    constants.HF_HUB_OFFLINE = cfg.offline
    constants.ENDPOINT = cfg.endpoint
    constants.HUGGINGFACE_CO_URL_TEMPLATE = cfg.endpoint + "/{repo_id}/resolve/{revision}/{filename}"
    _install_guard()
    return huggingface_hub


def _network_down(exc: BaseException) -> bool:
    import httpx2
    from huggingface_hub.errors import OfflineModeIsEnabled

    return isinstance(exc, (httpx2.ConnectError, httpx2.TimeoutException, OfflineModeIsEnabled))


def _auth_hint(cfg: HubConfig, repo: str) -> str:
    return f"log in (`hf auth login`) or set HF_TOKEN, or accept the licence on the model page {cfg.endpoint}/{repo}"


@contextlib.contextmanager
def _translated(cfg: HubConfig, ref: HubRef) -> Iterator[None]:
    """Every huggingface_hub/httpx failure becomes a HubError or ModelNotFoundError with a next step."""
    import httpx2
    from huggingface_hub import errors as e

    try:
        yield
    except LocalctxError:
        raise
    except e.GatedRepoError as exc:
        raise HubError(f"{ref.repo} is gated and this account has no access ({exc.response.status_code})",
                       _auth_hint(cfg, ref.repo)) from None
    except e.RepositoryNotFoundError:
        raise ModelNotFoundError(ref.repo, hint=f"not found on the Hub at {cfg.endpoint}; check the name; if it is "
                                 f"private or gated, {_auth_hint(cfg, ref.repo)}") from None
    except e.RevisionNotFoundError:
        raise LocalctxError(f"{ref.repo} has no revision '{ref.revision}'", "pass an existing branch, tag or commit "
                            "with --revision") from None
    except e.RemoteEntryNotFoundError as exc:
        raise HubError(f"{ref.repo}: a listed file is missing on the server ({exc.response.url})",
                       "try again later") from None
    except e.HfHubHTTPError as exc:
        status = exc.response.status_code if exc.response is not None else 0
        if status in (401, 403):
            raise HubError(f"access to {ref.repo} was refused ({status})", _auth_hint(cfg, ref.repo)) from None
        raise HubError(f"the Hub answered {status} for {ref.repo}", "try again later") from None
    except (httpx2.HTTPError, e.OfflineModeIsEnabled) as exc:
        raise HubError(f"cannot reach the Hub at {cfg.endpoint} ({type(exc).__name__}: {exc})",
                       "check the network, or set HF_HUB_OFFLINE=1 to use only the cache") from None
    except ValueError as exc:  # argument validation, unsafe pointer paths inside the library
        raise HubError(f"refusing {ref.spec}: {exc}") from None
    except OSError as exc:  # size consistency check, disk errors
        raise HubError(f"{ref.spec}: download failed ({' '.join(str(exc).split())})",
                       f"run `localctx pull {ref.spec}` again") from None


# ---- listing ---------------------------------------------------------------------------------------
def _storage(cfg: HubConfig, repo: str) -> Path:
    return cfg.cache_dir / ("models--" + repo.replace("/", "--"))


def _remote_listing(cfg: HubConfig, ref: HubRef) -> RepoListing:
    hf = _hf(cfg)
    api = hf.HfApi(endpoint=cfg.endpoint, token=cfg.token)
    info = api.model_info(ref.repo, revision=ref.revision, files_metadata=True, token=cfg.token)
    commit = info.sha or ""
    if not _HEX40.match(commit):
        raise HubError(f"the Hub returned an invalid commit id {commit!r} for {ref.repo}")
    files = [HubFile(s.rfilename, s.lfs.size if s.lfs else s.size, s.lfs.sha256 if s.lfs else None)
             for s in info.siblings or []]
    return RepoListing(ref.repo, ref.revision, commit, group_ggufs(files), from_cache=False)


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
    storage = _storage(cfg, ref.repo)
    commit = _cached_commit(storage, ref.revision)
    snap = storage / "snapshots" / (commit or "")
    if not commit or not snap.is_dir():
        return None
    files = [HubFile(p.relative_to(snap).as_posix(), p.stat().st_size, None)
             for p in sorted(snap.rglob("*.gguf")) if p.is_file()]
    return RepoListing(ref.repo, ref.revision, commit, group_ggufs(files), from_cache=True)


def list_quants(ref: HubRef) -> RepoListing:
    """The repo's GGUF choices with sizes; from the cache when offline or unreachable."""
    cfg = hub_config()
    if not cfg.offline:
        try:
            with _translated(cfg, ref):
                return _remote_listing(cfg, ref)
        except HubError:
            if cached_listing(ref, cfg) is None:
                raise
    cached = cached_listing(ref, cfg)
    if cached is None:
        raise _not_cached(ref, cfg)
    return cached


def _not_cached(ref: HubRef, cfg: HubConfig) -> ModelNotFoundError:
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

    @property
    def path(self) -> Path:
        return self.paths[0]

    def to_json(self) -> dict[str, Any]:
        d = dict(self.__dict__)
        d["paths"] = [str(p) for p in self.paths]
        d["path"] = str(self.path)
        d["notes"] = list(self.notes)
        return d


def _inside(path: Path, root: Path) -> bool:
    try:
        return Path(os.path.abspath(path)).is_relative_to(os.path.abspath(root))
    except ValueError:
        return False


def _check_names(choice: GGUFChoice, root: Path, ref: HubRef) -> None:
    for f in choice.files:
        if not is_safe_repo_path(f.path) or not _inside(root / f.path, root):
            raise HubError(f"refusing {ref.spec}: the server listed an unsafe file name {f.path!r} that would escape "
                           f"{root}", "this server or mirror is not trustworthy; check HF_ENDPOINT")


def resolve_cached(ref: HubRef, *, notes: tuple[str, ...] = ()) -> PullResult:
    """A pulled model from the cache, with no network call; ModelNotFoundError names the pull to run."""
    cfg = hub_config()
    listing = cached_listing(ref, cfg)
    if listing is None or not listing.choices:
        raise _not_cached(ref, cfg)
    try:
        choice, more = choose(listing, ref.selector)
    except QuantNotFoundError:
        raise _not_cached(ref, cfg) from None
    snap = _storage(cfg, ref.repo) / "snapshots" / listing.commit
    _check_names(choice, snap, ref)
    files = tuple(snap / f.path for f in choice.files)
    return PullResult(f"{ref.repo}:{choice.quant}", ref.repo, choice.quant, listing.commit, files,
                      sum(p.stat().st_size for p in files), 0, True, False, notes + tuple(more))


# ---- pulling ---------------------------------------------------------------------------------------
class _ProgressBridge:
    """Stands in for the tqdm class hf_hub_download instantiates: forwards byte counts, draws nothing."""

    def __init__(self, emit: Callable[[int, int | None], None], *, total: int | None = None, initial: int = 0,
                 **_: Any) -> None:
        self.n, self.total, self._emit = initial or 0, total, emit
        emit(self.n, total)

    def __enter__(self) -> _ProgressBridge:
        return self

    def __exit__(self, *exc: object) -> None:
        pass

    def update(self, n: int = 1) -> None:
        self.n += n
        self._emit(self.n, self.total)

    def close(self) -> None:
        pass


def _free_bytes(path: Path) -> int:
    import psutil

    for p in [path, *path.parents]:
        if p.exists():
            return psutil.disk_usage(str(p)).free
    return psutil.disk_usage(os.path.abspath(os.sep)).free


def _sha256(path: Path, emit: Callable[[int, int | None], None]) -> str:
    h, done, total = hashlib.sha256(), 0, path.stat().st_size
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(8 << 20), b""):
            h.update(chunk)
            done += len(chunk)
            emit(done, total)
    return h.hexdigest()


def _marker(sha256: str) -> Path:
    return paths.cache_dir() / "hub-verified" / sha256


def _stamp(path: Path) -> str:
    st = path.stat()
    return f"{st.st_size}:{st.st_mtime_ns}"


def _check_sha(path: Path, f: HubFile, emit: Callable[[int, int | None], None], *also: Path) -> None:
    """sha256 of the file against the Hub's LFS oid; a mismatch deletes it (and ``also``) and says so."""
    got = _sha256(path, emit)
    if got != f.sha256:
        for p in {path, *also}:
            p.unlink(missing_ok=True)
        raise HubError(f"{f.path}: sha256 mismatch (the Hub says {(f.sha256 or '')[:16]}…, the download is "
                       f"{got[:16]}…); the corrupt file was deleted", "pull again; if it repeats, the server or a "
                       "proxy is serving a damaged file")


def _verify(path: Path, f: HubFile, emit: Callable[[int, int | None], None]) -> bool:
    """Check a file already in place (a blob another tool fetched, a --local-dir file); remembered per blob."""
    if not f.sha256:
        return False
    real = path.resolve()
    marker = _marker(f.sha256)
    if marker.is_file() and marker.read_text() == _stamp(real):
        return True
    _check_sha(real, f, emit, path)
    paths.ensure(marker.parent).joinpath(f.sha256).write_text(_stamp(real))
    return True


def _fetch_blob(hf: Any, cfg: HubConfig, ref: HubRef, commit: str, f: HubFile, blob: Path,
                emit: Callable[..., None]) -> None:
    """Download an LFS file to its cache blob through ``<blob>.localctx-partial``, which survives Ctrl-C or a
    crash so the next pull resumes it with a Range request (hf_hub_download 2.4 discards its partial file).
    The bytes are sha256-checked before they become the blob, so a bad file never enters the cache."""
    from huggingface_hub.file_download import http_get
    from huggingface_hub.utils import WeakFileLock, build_hf_headers

    url = hf.hf_hub_url(ref.repo, f.path, revision=commit, endpoint=cfg.endpoint)
    meta = hf.get_hf_file_metadata(url, token=cfg.token, endpoint=cfg.endpoint)
    if meta.etag != f.sha256:
        raise HubError(f"{f.path}: the Hub's listing (sha256 {(f.sha256 or '')[:16]}…) and the file (ETag "
                       f"{(meta.etag or '')[:16]}…) disagree", "try again later")
    headers = build_hf_headers(token=cfg.token)
    if _origin(meta.location) != _origin(url):  # a CDN: the token stays on the Hub
        headers.pop("authorization", None)
    partial = blob.with_name(blob.name + ".localctx-partial")
    lock = cfg.cache_dir / ".locks" / blob.parent.parent.name / f"{f.sha256}.lock"  # the library's own lock
    paths.ensure(lock.parent)
    with WeakFileLock(str(lock)):
        if blob.exists():
            return
        paths.ensure(blob.parent)
        with open(partial, "ab") as fh:
            http_get(meta.location, fh, resume_size=partial.stat().st_size, headers=headers, expected_size=f.size,
                     tqdm_class=functools.partial(_ProgressBridge, emit))
        _check_sha(partial, f, functools.partial(emit, phase="verify"))
        os.replace(partial, blob)
    paths.ensure(_marker(f.sha256).parent)
    _marker(f.sha256).write_text(_stamp(blob))


def _origin(url: str) -> tuple[str, str]:
    from urllib.parse import urlsplit

    u = urlsplit(url)
    return u.scheme, u.netloc


def _guard_resolve_headers(response: Any) -> None:
    """huggingface_hub 2.4 names the cache blob after the server's ETag and the snapshot after X-Repo-Commit
    without checking them (an ETag of '../../x' writes outside the cache); refuse such answers first."""
    if "resolve" not in response.request.url.path:
        return
    h = response.headers
    etag = (h.get("X-Linked-Etag") or h.get("ETag") or "").removeprefix("W/").strip('"')
    commit = h.get("X-Repo-Commit")
    if (etag and not _ETAG_OK.match(etag)) or (commit is not None and not _HEX40.match(commit)):
        raise HubError(f"refusing the answer from {response.request.url.host}: unsafe ETag {etag!r} or commit "
                       f"{commit!r}", "this server or mirror is not trustworthy; check HF_ENDPOINT")


def _install_guard() -> None:
    """Every client huggingface_hub creates gets the header guard (it shares one client per process)."""
    from huggingface_hub import set_client_factory
    from huggingface_hub.utils import _http  # private: checked against huggingface_hub 2.4.0

    if getattr(_http, "_localctx_guarded", False):
        return

    def factory() -> Any:
        client = _http.default_client_factory()
        client.event_hooks["response"].append(_guard_resolve_headers)
        return client

    set_client_factory(factory)
    _http._localctx_guarded = True


def _write_ref(storage: Path, revision: str, commit: str) -> None:
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


def pull(ref: HubRef, *, local_dir: Path | None = None, progress: ProgressFn | None = None) -> PullResult:
    """Download (or find in the cache) one GGUF choice of a repo, verified.  Offline-first."""
    cfg = hub_config()
    if local_dir is None and cfg.offline:
        return resolve_cached(ref, notes=("HF_HUB_OFFLINE=1: used the cache, no network call",))
    if cfg.offline:
        raise HubError("--local-dir needs the network and HF_HUB_OFFLINE=1 is set", "unset HF_HUB_OFFLINE")
    try:
        with _translated(cfg, ref):
            listing = _remote_listing(cfg, ref)
    except HubError as exc:
        if local_dir is None and cached_listing(ref, cfg) is not None:
            return resolve_cached(ref, notes=(f"offline ({exc.message}); used the cache",))
        raise
    choice, notes = choose(listing, ref.selector)
    storage = _storage(cfg, ref.repo)
    root = Path(local_dir).expanduser() if local_dir else storage / "snapshots" / listing.commit
    _check_names(choice, root, ref)
    needed = sum(_still_needed(root, storage, f, cache=local_dir is None) for f in choice.files)
    target = root if local_dir else cfg.cache_dir
    free = _free_bytes(target)
    if needed > free:
        raise HubError(f"not enough disk space for {ref.repo}:{choice.quant}: it needs {_gib(needed)}, {target} has "
                       f"{_gib(free)} free", "free some space, or pull to another disk with --local-dir")
    hf, out, verified = _hf(cfg), [], True
    for i, f in enumerate(choice.files):
        def emit(done: int, total: int | None, phase: str = "download", f: HubFile = f, i: int = i) -> None:
            if progress:
                progress(PullProgress(phase, f.path, i, len(choice.files), done, total))

        with _translated(cfg, ref):
            blob = storage / "blobs" / (f.sha256 or "")
            if local_dir is None and f.sha256 and not blob.exists():
                _fetch_blob(hf, cfg, ref, listing.commit, f, blob, emit)
            # links the snapshot to the blob (and fetches non-LFS or --local-dir files itself)
            p = Path(hf.hf_hub_download(
                ref.repo, f.path, revision=listing.commit, cache_dir=str(cfg.cache_dir),
                local_dir=str(root) if local_dir else None, endpoint=cfg.endpoint, token=cfg.token,
                tqdm_class=functools.partial(_ProgressBridge, emit)))
        if not _inside(p, root) or not _inside(Path(os.path.realpath(p)), root if local_dir else cfg.cache_dir):
            raise HubError(f"refusing {f.path}: it was written outside {root} ({os.path.realpath(p)})")
        verified &= _verify(p, f, functools.partial(emit, phase="verify"))
        out.append(p)
    if not local_dir:
        _write_ref(storage, ref.revision, listing.commit)
    size = sum(f.size or 0 for f in choice.files)
    return PullResult(f"{ref.repo}:{choice.quant}", ref.repo, choice.quant, listing.commit, tuple(out), size,
                      needed, needed == 0, verified, tuple(notes))


def _still_needed(root: Path, storage: Path, f: HubFile, *, cache: bool) -> int:
    """Bytes left to fetch: 0 if the file (or, in the cache, its blob) is there; less a resumable partial."""
    if (root / f.path).exists():
        return 0
    if cache and f.sha256:
        blob = storage / "blobs" / f.sha256
        if blob.exists():
            return 0
        partial = blob.with_name(blob.name + ".localctx-partial")
        return max(0, (f.size or 0) - (partial.stat().st_size if partial.exists() else 0))
    return f.size or 0


def _gib(n: int) -> str:
    return f"{n / (1 << 30):.2f} GiB" if n >= 1 << 30 else f"{n / (1 << 20):.1f} MiB"


# ---- header-only remote reads ------------------------------------------------------------------------
def _fetch_range(session: Any, url: str, headers: dict[str, str], start: int, end: int, timeout: float) -> bytes:
    """Bytes [start, end) by an HTTP Range request; stops reading early if the server ignores Range."""
    from huggingface_hub.utils import hf_raise_for_status

    h = {**headers, "Range": f"bytes={start}-{end - 1}", "Accept-Encoding": "identity"}
    buf = bytearray()
    with session.stream("GET", url, headers=h, follow_redirects=True, timeout=timeout) as r:
        hf_raise_for_status(r)
        skip = start if r.status_code == 200 else 0  # a full response: discard the prefix we already have
        for chunk in r.iter_bytes(1 << 16):
            buf += chunk
            if len(buf) >= skip + (end - start):
                break
    return bytes(buf[skip:skip + (end - start)])


def _remote_shard_header(hf: Any, cfg: HubConfig, ref: HubRef, commit: str, f: HubFile) -> Any:
    """Grow a prefix of the file (1 MiB, x4 each time) until its GGUF header parses."""
    from huggingface_hub import constants
    from huggingface_hub.utils import build_hf_headers, get_session

    from localctx.core.gguf_reader import read_gguf_header

    size = f.size or 0
    url = hf.hf_hub_url(ref.repo, f.path, revision=commit, endpoint=cfg.endpoint)
    headers = build_hf_headers(token=cfg.token)
    display = Path(f"hf/{ref.repo}/{f.path}")
    buf, want = b"", min(size, HEADER_FIRST_CHUNK)
    with tempfile.TemporaryDirectory(prefix="localctx-hdr-") as td:
        tmp = Path(td) / PurePosixPath(f.path).name
        while True:
            buf += _fetch_range(get_session(), url, headers, len(buf), want, constants.HF_HUB_DOWNLOAD_TIMEOUT)
            if len(buf) < want:
                raise HubError(f"{f.path}: the server sent {len(buf)} of {want} requested bytes", "try again later")
            tmp.write_bytes(buf)
            try:
                return replace(read_gguf_header(tmp, full_size=size), path=display)
            except GGUFError as exc:
                if want >= size:
                    raise GGUFError(display, exc.problem, exc.hint) from None
                if want >= HEADER_MAX_BYTES:
                    raise HubError(f"{f.path}: no GGUF header in the first {_gib(want)} ({exc.problem})") from None
                want = min(size, want * 4)


def read_remote_header(repo: str, quant_or_file: str | None = None, revision: str | None = None) -> Any:
    """The GGUF header of a Hub model read by HTTP range requests, not a download.

    For a split model every shard's header is read and the tensors merged (so sizes cover the whole
    model); ``file_size`` is the total of all shards.  Returns a ``GGUFHeader``.
    """
    ref = HubRef(repo, quant_or_file, revision or DEFAULT_REVISION)
    cfg = hub_config()
    if cfg.offline:
        raise HubError(f"reading {ref.spec} from the Hub needs the network and HF_HUB_OFFLINE=1 is set",
                       f"unset HF_HUB_OFFLINE, or `localctx pull {ref.command_args}` first")
    with _translated(cfg, ref):
        listing = _remote_listing(cfg, ref)
        choice, _notes = choose(listing, ref.selector)
        hf = _hf(cfg)
        parts = [_remote_shard_header(hf, cfg, ref, listing.commit, f) for f in choice.files]
    return merge_shard_headers(parts)


def merge_shard_headers(parts: list[Any]) -> Any:
    """One header for a split model: shard 1's metadata, every shard's tensors, the total size."""
    from localctx.core.gguf_reader import GGUFHeader

    first = parts[0]
    if len(parts) == 1:
        return first
    return GGUFHeader(first.path, first.version, first.metadata, first.metadata_types,
                      [t for h in parts for t in h.tensors], first.alignment, first.data_offset,
                      sum(h.file_size for h in parts), [w for h in parts for w in h.warnings])


def model_info_remote(ref: str, revision: str | None = None) -> Any:
    """ModelInfo for ``owner/repo[:QUANT|:FILE]``: from the cache if pulled, else from the header over HTTP."""
    from localctx.core.gguf_reader import read_gguf_header
    from localctx.core.model_info import model_info_from_header

    r = parse_ref(ref, revision)
    with contextlib.suppress(ModelNotFoundError):
        return model_info_from_header(merge_shard_headers([read_gguf_header(p) for p in resolve_cached(r).paths]))
    return model_info_from_header(read_remote_header(r.repo, r.selector, r.revision))
