"""One file over HTTP into a ``.localctx-partial`` file: resumed by Range, watched for stalls, sized.

huggingface_hub's downloader waits forever on a server that trickles a byte every few seconds (its
timeout is per read, and every read gets a byte), keeps a partial larger than the file, and reports a
cut-short body as "cannot reach the Hub".  This one:

- counts bytes per window of ``LOCALCTX_HUB_STALL_SECONDS`` (default 60): a window with less than
  ``STALL_MIN_BYTES`` (or no byte at all: the read timeout is the same window) is a stall;
- after a stall or a short body (the connection closed before the promised length) it resumes with a
  Range request, ``RESUMES`` times, then fails with a message that says which it was and how many bytes
  are kept (the next pull resumes from them);
- discards a partial larger than the listed size instead of resuming it forever, stops reading a body
  the moment it passes the listed size, and counts that as a failed try: a server whose file is longer
  than its listing says is refused after ``RESUMES`` retries instead of being downloaded again forever;
- restarts from zero when a server ignores Range (answers 200 to a Range request).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from localctx.errors import HubError

DEFAULT_STALL_SECONDS = 60.0
STALL_MIN_BYTES = 64 << 10
RESUMES = 2
Emit = Callable[[int, int | None], None]


def stall_seconds() -> float:
    raw = os.environ.get("LOCALCTX_HUB_STALL_SECONDS")
    if not raw:
        return DEFAULT_STALL_SECONDS
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if not 0 < value < 86400:
        raise HubError(f"LOCALCTX_HUB_STALL_SECONDS={raw!r} is not a number of seconds", "use e.g. 60")
    return value


class _Stalled(Exception):
    def __init__(self, got: int, window: float) -> None:
        super().__init__(f"{got} bytes in {window:g} s")
        self.got, self.window = got, window


class _ShortBody(Exception):
    pass


class _Oversized(Exception):
    """The body went past the listed size: the file or its listing is not what the repository says."""


def _size(p: Path) -> int:
    return p.stat().st_size if p.exists() else 0


def _get(session: Any, url: str, partial: Path, headers: dict[str, str], size: int | None, window: float,
         emit: Emit) -> None:
    """One GET from where ``partial`` ends; raises _Stalled or _ShortBody, or returns at the body's end."""
    import httpx2
    from huggingface_hub.utils import hf_raise_for_status

    have = _size(partial)
    h = {**headers, "Accept-Encoding": "identity", **({"Range": f"bytes={have}-"} if have else {})}
    timeout = httpx2.Timeout(window, connect=min(window, 30.0))
    try:
        with session.stream("GET", url, headers=h, follow_redirects=True, timeout=timeout) as r:
            if r.status_code == 416 and have:  # nothing left past what we hold: let the size check decide
                return
            hf_raise_for_status(r)
            mode = "ab"
            if have and r.status_code == 200:  # the server ignored Range: start over
                mode, have = "wb", 0
            expected = r.headers.get("Content-Length")
            got_total, start, got = 0, time.monotonic(), 0
            with open(partial, mode) as fh:
                for chunk in r.iter_bytes():  # as received: a fixed chunk size would wait for it to fill
                    if size is not None and have + got_total + len(chunk) > size:
                        raise _Oversized()  # nothing past the listed size is written (or read further)
                    fh.write(chunk)
                    got += len(chunk)
                    got_total += len(chunk)
                    emit(have + got_total, size)
                    now = time.monotonic()
                    if now - start >= window:
                        if got < STALL_MIN_BYTES:
                            raise _Stalled(got, now - start)
                        start, got = now, 0
            if expected is not None and got_total < int(expected):
                raise _ShortBody()
    except httpx2.ReadTimeout:
        raise _Stalled(0, window) from None
    except httpx2.RemoteProtocolError:  # the peer closed before the Content-Length it promised
        raise _ShortBody() from None


def download(session: Any, url: str, partial: Path, *, name: str, size: int | None, headers: dict[str, str],
             emit: Emit) -> list[str]:
    """Fill ``partial`` with the file at ``url`` (``size`` bytes when known).  Returns notes (a discarded
    oversized partial); raises HubError for a stall or a short body that resuming did not cure."""
    notes: list[str] = []
    window = stall_seconds()
    host = urlsplit(url).netloc
    failures: list[str] = []
    while True:
        have = _size(partial)
        if size is not None and have > size:
            partial.unlink()
            notes.append(f"{name}: a partial download of {have} bytes was larger than the file ({size}) and was "
                         "discarded")
            have = 0
        if size is not None and have == size and have:
            return notes
        try:
            _get(session, url, partial, headers, size, window, emit)
            if size is None or _size(partial) >= size:
                return notes
            failures.append("short body")
        except _Stalled as exc:
            failures.append(f"stalled ({exc})")
        except _ShortBody:
            failures.append("short body")
        except _Oversized:
            partial.unlink(missing_ok=True)  # its start may be right, but a retry must not resume a lie
            failures.append("oversized")
        if len(failures) > RESUMES:
            kept = _size(partial)
            what = failures[-1]
            if what == "oversized":
                raise HubError(f"{name}: the server at {host} sent more than the {size} bytes the repository "
                               f"lists, {len(failures)} times; nothing was kept",
                               "the file and its listing disagree: try again later, or pull another quant")
            if what.startswith("stalled"):
                raise HubError(f"{name}: the download from {host} stalled: {what[9:-1]}, {len(failures)} times "
                               f"(resumed {RESUMES} times); {kept} of {size} bytes are kept",
                               "run the pull again to resume; LOCALCTX_HUB_STALL_SECONDS sets the stall window")
            raise HubError(f"{name}: the server at {host} sent a short body (the connection ended early) "
                           f"{len(failures)} times; {kept} of {size} bytes are kept",
                           "run the pull again later to resume from them")
