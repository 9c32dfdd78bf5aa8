"""Header-only reads of Hub models: the GGUF header by HTTP Range requests, never a download.

``estimate``/``plan owner/repo:QUANT`` read a remote model's header by growing a prefix (1 MiB, x4 each
time) until it parses; split models have every shard's header read and merged.
"""

from __future__ import annotations

import contextlib
import tempfile
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from localctx.errors import GGUFError, HubError, ModelNotFoundError
from localctx.hub.cache import gib, resolve_cached
from localctx.hub.pull import remote_listing
from localctx.hub.select import DEFAULT_REVISION, HubFile, HubRef, choose, parse_ref
from localctx.hub.session import HubConfig, hf_module, hub_config, translated

HEADER_FIRST_CHUNK = 1 << 20
HEADER_MAX_BYTES = 256 << 20


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
                    raise HubError(f"{f.path}: no GGUF header in the first {gib(want)} ({exc.problem})") from None
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
    with translated(cfg, ref):
        listing = remote_listing(cfg, ref)
        choice, _notes = choose(listing, ref.selector)
        hf = hf_module(cfg)
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
