"""A real HTTP server on 127.0.0.1 that speaks the Hugging Face Hub endpoints huggingface_hub 2.4 uses.

Two listening sockets, like the real Hub and its CDN (a different origin, so the client drops the
Authorization header on the redirect exactly as it does against huggingface.co):

- API/Hub (``endpoint``):
  ``GET /api/models/{repo}[/revision/{rev}][?blobs=true]`` (model info with siblings, LFS sha256/size),
  ``GET /api/models/{repo}/tree/{rev}[/{path}]`` (tree listing), ``POST /api/models/{repo}/paths-info/{rev}``,
  ``HEAD|GET /{repo}/resolve/{rev}/{path}`` → 302 to the CDN with ``X-Repo-Commit``, ``X-Linked-Etag``,
  ``X-Linked-Size`` and ``ETag`` (the LFS pointer's git oid), or 200 with the bytes for a non-LFS file.
- CDN: ``HEAD|GET /blobs/{sha256}`` with ``Range`` support (206 + ``Content-Range``).

Nothing advertises Xet (no ``X-Xet-Hash``), so the plain HTTP download path runs.  Auth behaves as the
Hub's does: a gated repo answers 401 (no token) or 403 (token without access) with ``X-Error-Code:
GatedRepo``; a private or unknown repo answers 401 ``RepoNotFound``.  Test knobs: ``cut_first_get``
(drop the first CDN response for a blob after N body bytes), ``short_body`` (every response for a blob
ends after N body bytes though its Content-Length promised more), ``trickle`` (a blob's body comes one byte
every N seconds), ``extra_bytes`` (a blob's body has N bytes more than listed, with a Content-Length that
matches them), ``understate`` (the listing gives a size N bytes short of the real one), ``corrupt`` (serve
bytes that differ from the advertised hash), ``etag_override`` (a
hostile ETag, which names the blob file in the cache), ``add_repo(no_lfs=...)`` (files served as plain git
files: no ``lfs`` entry, verified by their git blob SHA-1) and ``hide_blob_id`` (a listing with no hash at
all for those), and counters of connections, requests and body bytes per path.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from tests.slowness import scaled


def git_blob_oid(data: bytes) -> str:
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def _lfs_pointer(sha256: str, size: int) -> bytes:
    return f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {size}\n".encode()


@dataclass
class HubFile:
    path: str
    source: Path | bytes
    lfs: bool = True
    sha256: str = ""
    size: int = 0

    def read(self, start: int = 0, end: int | None = None) -> bytes:
        if isinstance(self.source, bytes):
            return self.source[start:end]
        with open(self.source, "rb") as f:
            f.seek(start)
            return f.read((end if end is not None else self.size) - start)

    def entry(self, *, tree: bool, hide_blob_id: bool = False, understate: int = 0) -> dict:
        size = self.size - understate
        pointer = _lfs_pointer(self.sha256, size)
        if tree:  # tree / paths-info shape
            d: dict = {"type": "file", "path": self.path, "size": size,
                       "oid": git_blob_oid(pointer) if self.lfs else git_blob_oid(self.read())}
            if self.lfs:
                d["lfs"] = {"oid": self.sha256, "size": size, "pointerSize": len(pointer)}
            return d
        d = {"rfilename": self.path, "size": size,
             "blobId": git_blob_oid(pointer) if self.lfs else git_blob_oid(self.read())}
        if not self.lfs and hide_blob_id:
            del d["blobId"]
        if self.lfs:
            d["lfs"] = {"sha256": self.sha256, "size": size, "pointerSize": len(pointer)}
        return d


@dataclass
class HubRepo:
    repo_id: str
    commit: str
    files: dict[str, HubFile]
    access: str = "public"  # public | gated | private
    allowed_tokens: set[str] = field(default_factory=set)


@dataclass
class Request:
    method: str
    path: str
    range: str | None
    status: int
    body_bytes: int
    authorized: bool


class LoopbackHub:
    """Start with ``with LoopbackHub() as hub:``; add repos with ``add_repo``; point HF_ENDPOINT at ``hub.endpoint``."""

    def __init__(self) -> None:
        self.repos: dict[str, HubRepo] = {}
        self.blobs: dict[str, HubFile] = {}
        self.cut_first_get: dict[str, int] = {}  # sha256 -> bytes to send before dropping the connection
        self.corrupt: set[str] = set()  # sha256 of files served with flipped bytes
        self.etag_override: dict[str, str] = {}  # sha256 -> the X-Linked-Etag a hostile server would send
        self.short_body: dict[str, int] = {}  # sha256 -> body bytes sent on every GET before the connection drops
        self.trickle: dict[str, float] = {}  # sha256 -> seconds between single body bytes
        self.extra_bytes: dict[str, int] = {}  # sha256 -> bytes served past the file's end (Content-Length counts them)
        self.understate: dict[str, int] = {}  # sha256 -> bytes the listing's sizes leave out
        self.hide_blob_id = False  # list non-LFS files without their git blob id (no hash to verify them by)
        self.requests: list[Request] = []
        self.in_flight = 0  # requests whose handler has not finished (and so is not booked yet)
        self.connections = 0
        self._lock = threading.Lock()
        self._servers: list[ThreadingHTTPServer] = []

    # ---- content --------------------------------------------------------------------------------
    def add_repo(self, repo_id: str, files: dict[str, Path | bytes], *, access: str = "public",
                 tokens: set[str] | None = None, commit: str | None = None, no_lfs: set[str] = frozenset()) -> HubRepo:
        entries = {}
        for path, src in files.items():
            data_len = src.stat().st_size if isinstance(src, Path) else len(src)
            h = hashlib.sha256()
            if isinstance(src, Path):
                with open(src, "rb") as f:
                    for chunk in iter(lambda: f.read(1 << 20), b""):
                        h.update(chunk)
            else:
                h.update(src)
            lfs = path.endswith(".gguf") and path not in no_lfs
            entries[path] = hf = HubFile(path, src, lfs, h.hexdigest(), data_len)
            if lfs:
                self.blobs[hf.sha256] = hf
        commit = commit or hashlib.sha1(repr(sorted((p, f.sha256) for p, f in entries.items())).encode()).hexdigest()
        repo = HubRepo(repo_id, commit, entries, access, set(tokens or ()))
        self.repos[repo_id] = repo
        return repo

    # ---- stats ----------------------------------------------------------------------------------
    def body_bytes(self, path_contains: str = "") -> int:
        return sum(r.body_bytes for r in self.requests if path_contains in r.path)

    def settled(self, timeout: float = 30.0) -> None:
        """Wait until every request's handler has finished: a handler books its request when it ends, which
        can be after the client has read the whole (or a short) body."""
        deadline = time.monotonic() + scaled(timeout)
        while self.in_flight and time.monotonic() < deadline:
            time.sleep(0.02)

    def blob_requests(self, sha256: str) -> list[Request]:
        self.settled()
        return [r for r in self.requests if r.path == f"/blobs/{sha256}" and r.method == "GET"]

    # ---- lifecycle ------------------------------------------------------------------------------
    def __enter__(self) -> LoopbackHub:
        hub = self

        class Server(ThreadingHTTPServer):
            daemon_threads = True

            def verify_request(self, request, client_address):  # type: ignore[no-untyped-def]
                with hub._lock:
                    hub.connections += 1
                return True

        api = Server(("127.0.0.1", 0), _make_handler(self, cdn=False))
        cdn = Server(("127.0.0.1", 0), _make_handler(self, cdn=True))
        self._servers = [api, cdn]
        self.endpoint = f"http://127.0.0.1:{api.server_address[1]}"
        self.cdn = f"http://127.0.0.1:{cdn.server_address[1]}"
        for s in self._servers:
            threading.Thread(target=s.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        for s in self._servers:
            s.shutdown()
            s.server_close()


def closed_port() -> int:
    """A loopback port nothing listens on (bound then closed)."""
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def _make_handler(hub: LoopbackHub, *, cdn: bool) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:  # keep test output clean
            pass

        # ---- plumbing ---------------------------------------------------------------------------
        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
                  length: int | None = None) -> None:
            self.send_response(status)
            hdrs = {"Content-Length": str(len(body) if length is None else length), **(headers or {})}
            for k, v in hdrs.items():
                self.send_header(k, v)
            self.end_headers()
            sent = 0
            if self.command != "HEAD" and body:
                self.wfile.write(body)
                sent = len(body)
            self._record(status, sent)

        def _record(self, status: int, sent: int) -> None:
            with hub._lock:
                hub.requests.append(Request(self.command, urlsplit(self.path).path, self.headers.get("Range"),
                                            status, sent, "authorization" in {k.lower() for k in self.headers}))

        def _json(self, status: int, obj: object, headers: dict[str, str] | None = None) -> None:
            self._send(status, json.dumps(obj).encode(), {"Content-Type": "application/json", **(headers or {})})

        def _error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> None:
            extra = {"X-Error-Code": code, "X-Error-Message": message, **(headers or {})}
            self._json(status, {"error": message}, extra)

        def _auth(self, repo: HubRepo | None) -> bool:
            """Answer like the Hub for an unknown, private or gated repo; True when the request may proceed."""
            token = (self.headers.get("Authorization") or "").removeprefix("Bearer ").strip()
            if repo is None or (repo.access == "private" and token not in repo.allowed_tokens):
                self._error(401, "RepoNotFound", "Repository not found")
                return False
            if repo.access == "gated" and token not in repo.allowed_tokens:
                status = 401 if not token else 403
                self._error(status, "GatedRepo", "Access to this model is restricted: you must accept the conditions")
                return False
            return True

        def _find_repo(self, parts: list[str]) -> tuple[HubRepo | None, list[str]]:
            return hub.repos.get("/".join(parts[:2])), parts[2:]

        def _revision_ok(self, repo: HubRepo, rev: str) -> bool:
            if rev in ("main", repo.commit):
                return True
            self._error(404, "RevisionNotFound", f"Invalid rev id: {rev}")
            return False

        # ---- verbs ------------------------------------------------------------------------------
        def do_HEAD(self) -> None:
            self._route()

        def do_GET(self) -> None:
            self._route()

        def do_POST(self) -> None:
            self._route()

        def _route(self) -> None:
            with hub._lock:
                hub.in_flight += 1
            try:
                self._dispatch()
            finally:
                with hub._lock:
                    hub.in_flight -= 1

        def _dispatch(self) -> None:
            url = urlsplit(self.path)
            parts = [unquote(p) for p in url.path.strip("/").split("/")]
            if cdn:
                return self._cdn(parts)
            if parts[:2] == ["api", "models"]:
                return self._api(parts[2:], parse_qs(url.query))
            if len(parts) >= 5 and parts[2] == "resolve":
                return self._resolve(parts)
            self._error(404, "NotFound", "no such endpoint")

        def _api(self, parts: list[str], query: dict[str, list[str]]) -> None:
            repo, rest = self._find_repo(parts)
            if not self._auth(repo):
                return
            assert repo is not None
            rev = "main"
            if rest[:1] in (["revision"], ["tree"], ["paths-info"]) and len(rest) >= 2:
                rev = rest[1]
            if not self._revision_ok(repo, rev):
                return
            if not rest or rest[0] == "revision":
                blobs = query.get("blobs", ["false"])[0].lower() == "true"
                siblings = [f.entry(tree=False, hide_blob_id=hub.hide_blob_id,
                                    understate=hub.understate.get(f.sha256, 0))
                            if blobs else {"rfilename": f.path} for f in repo.files.values()]
                return self._json(200, {"id": repo.repo_id, "modelId": repo.repo_id, "sha": repo.commit,
                                        "private": repo.access == "private", "gated": repo.access == "gated" and "auto",
                                        "disabled": False, "tags": ["gguf"], "siblings": siblings})
            if rest[0] == "tree":
                prefix = "/".join(rest[2:])
                items = [f.entry(tree=True, understate=hub.understate.get(f.sha256, 0))
                         for f in repo.files.values() if f.path.startswith(prefix)]
                return self._json(200, items)
            if rest[0] == "paths-info":
                n = int(self.headers.get("Content-Length") or 0)
                form = parse_qs(self.rfile.read(n).decode())
                wanted = set(form.get("paths", []))
                return self._json(200, [f.entry(tree=True, understate=hub.understate.get(f.sha256, 0))
                                        for f in repo.files.values() if f.path in wanted])
            self._error(404, "NotFound", "no such endpoint")

        def _resolve(self, parts: list[str]) -> None:
            repo, rest = self._find_repo(parts)
            if not self._auth(repo):
                return
            assert repo is not None
            rev, path = rest[1], "/".join(rest[2:])
            if not self._revision_ok(repo, rev):
                return
            f = repo.files.get(path)
            if f is None:
                return self._error(404, "EntryNotFound", f"{path} does not exist", {"X-Repo-Commit": repo.commit})
            pointer = _lfs_pointer(f.sha256, f.size)
            common = {"X-Repo-Commit": repo.commit, "Accept-Ranges": "bytes"}
            if not f.lfs:
                data = f.read()
                etag = git_blob_oid(data)
                if f.sha256 in hub.corrupt:
                    data = bytes(b ^ 0xFF for b in data[:16]) + data[16:]
                return self._send(200, data, {**common, "ETag": f'"{etag}"'})
            location = f"{hub.cdn}/blobs/{f.sha256}?filename={parts[-1]}"
            self._send(302, b"", {**common, "Location": location, "ETag": f'"{git_blob_oid(pointer)}"',
                                  "X-Linked-Etag": f'"{hub.etag_override.get(f.sha256, f.sha256)}"',
                                  "X-Linked-Size": str(f.size - hub.understate.get(f.sha256, 0))})

        def _cdn(self, parts: list[str]) -> None:
            f = hub.blobs.get(parts[-1]) if parts[:1] == ["blobs"] else None
            if f is None:
                return self._error(404, "NotFound", "no such blob")
            with hub._lock:
                extra = hub.extra_bytes.get(f.sha256, 0)
            full = f.size + extra
            start, end = 0, full
            status, headers = 200, {"ETag": f'"{f.sha256}"', "Accept-Ranges": "bytes",
                                    "Content-Type": "application/octet-stream"}
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                a, _, b = rng[6:].partition("-")
                start = int(a)
                end = min(int(b) + 1, full) if b else full
                if start >= full:
                    return self._send(416, b"", {"Content-Range": f"bytes */{full}"})
                status = 206
                headers["Content-Range"] = f"bytes {start}-{end - 1}/{full}"
            if self.command == "HEAD":
                return self._send(status, b"", headers, length=end - start)
            cut = None
            with hub._lock:
                if f.sha256 in hub.cut_first_get:
                    cut = hub.cut_first_get.pop(f.sha256)
                cut = hub.short_body.get(f.sha256, cut)
                delay = hub.trickle.get(f.sha256)
            self.send_response(status)
            self.send_header("Content-Length", str(end - start))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            sent, pos = 0, start
            limit = end if cut is None else min(end, start + cut)
            try:
                while pos < limit:
                    if delay is not None:  # one byte, then a pause: a server that never quite stops
                        time.sleep(delay)
                    stop = min(limit, pos + (1 if delay is not None else 1 << 20))
                    chunk = f.read(pos, min(stop, f.size)) + b"\x00" * max(0, stop - max(pos, f.size))
                    if f.sha256 in hub.corrupt:
                        chunk = bytes(b ^ 0xFF for b in chunk[:16]) + chunk[16:]
                    self.wfile.write(chunk)
                    sent += len(chunk)
                    pos += len(chunk)
            except (BrokenPipeError, ConnectionResetError):  # the client stopped reading (header-only reads)
                pass
            if cut is not None:
                self.wfile.flush()
                self.close_connection = True
                try:
                    self.connection.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
            self._record(status, sent)

    return Handler


def serving_hub(monkeypatch: Any) -> Iterator[LoopbackHub]:
    """A running loopback Hub with HF_ENDPOINT pointed at it and offline mode/tokens lifted: the body of
    every test fixture that talks to it (tests/hub, the TUI's Models screen)."""
    with LoopbackHub() as h:
        monkeypatch.setenv("HF_ENDPOINT", h.endpoint)
        for var in ("HF_HUB_OFFLINE", "HF_TOKEN", "HUGGING_FACE_HUB_TOKEN"):
            monkeypatch.delenv(var, raising=False)
        yield h
