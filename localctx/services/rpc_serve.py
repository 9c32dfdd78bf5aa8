"""Running llama.cpp's RPC server in this process, stoppable with Ctrl-C.

ggml's server loop blocks inside C (``accept`` and then one client's commands), where Python's
signal handling cannot reach it; so it runs on a daemon thread while the main thread waits for
Ctrl-C or SIGTERM, reports clients coming and going from llama.cpp's log, and ends the process
cleanly.  A port that is taken is found before ggml tries it (ggml would only log and return).
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import threading
from pathlib import Path
from typing import Any

from localctx.core.units import human_bytes
from localctx.engine.rpc import RpcError
from localctx.errors import LocalctxError

POLL_S = 0.2


def check_listen_host(host: str) -> None:
    """llama.cpp's RPC server parses ``host:port`` at the first colon and binds with ``inet_addr``: it
    listens on an IPv4 address only, and a name or an IPv6 address makes it return with no message."""
    try:
        ipaddress.IPv4Address(host)
    except ValueError:
        six = ":" in host
        raise LocalctxError(f"--host {host[:80]}: {'an IPv6 address' if six else 'not an IPv4 address'}; llama.cpp's "
                       "RPC server listens on an IPv4 address only",
                       "use --host 127.0.0.1 (this machine), 0.0.0.0 (every interface) or one IPv4 address "
                       "of this machine") from None


class RpcServe:
    def __init__(self, host: str, port: int, *, threads: int | None = None, devices: list[str] | None = None,
                 cache_dir: str | None = None) -> None:
        host = host.removeprefix("[").removesuffix("]")
        self.host, self.port = ("127.0.0.1" if host == "localhost" else host), port
        self.threads = threads
        self.device_names = devices
        self.cache_dir = cache_dir
        self.handles: list[int] = []
        self.started = False  # ggml's server loop was started (its thread never returns)
        self._stop = threading.Event()

    @property
    def endpoint(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    def check(self) -> None:
        """Refuse, in one line, what would make ggml fail: a taken port, an unknown device, a bad cache dir."""
        from localctx.engine import rpc

        if not rpc.supported():
            raise RpcError("this llama.cpp build has no RPC backend",
                           "reinstall with scripts/install.sh (it builds llama.cpp with -DGGML_RPC=on)")
        check_listen_host(self.host)
        try:
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                s.bind((self.host, self.port))
        except OSError as exc:
            raise RpcError(f"cannot listen on {self.endpoint}: {exc.strerror or exc}",
                           "choose another --port, or stop what uses it") from None
        if self.cache_dir:
            try:
                Path(self.cache_dir).expanduser().mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise RpcError(f"cannot use --cache-dir {self.cache_dir}: {exc.strerror or exc}") from None
        self.handles = rpc.local_devices(self.device_names)

    def describe(self) -> list[str]:
        """One line per served device: its name and memory."""
        from localctx.engine import probe, rpc

        reg = probe.registry()
        mem: dict[str, dict[str, Any]] = {d["name"]: d for d in reg[1]} if reg else {}
        out = []
        for h in self.handles:
            name = rpc.device_name(h)
            d = mem.get(name, {})
            out.append(f"device {name}: {d.get('description', '')}, {human_bytes(d.get('free'))} free of "
                       f"{human_bytes(d.get('total'))}")
        return out

    def stop(self, *_: object) -> None:
        self._stop.set()

    def run(self) -> int:
        """Serve until Ctrl-C/SIGTERM (returns 0); RpcError if ggml's loop ends by itself."""
        from localctx.engine import rpc
        from localctx.engine.params import default_threads, require_pinned_threads

        require_pinned_threads(self.threads, f"serving on {self.endpoint}")
        threads = self.threads or default_threads()
        cache = str(Path(self.cache_dir).expanduser()) if self.cache_dir else None
        old_int = signal.signal(signal.SIGINT, self.stop)
        old_term = signal.signal(signal.SIGTERM, self.stop)
        try:
            t = threading.Thread(target=rpc.serve, args=(f"{self.host}:{self.port}", self.handles),
                                 kwargs={"threads": threads, "cache_dir": cache}, daemon=True)
            t.start()
            self.started = True  # llama.cpp prints its own banner and each client connecting and leaving
            while not self._stop.wait(POLL_S):
                if not t.is_alive():
                    raise RpcError(f"llama.cpp's RPC server on {self.endpoint} stopped by itself",
                                   "see its message above")
        finally:
            signal.signal(signal.SIGINT, old_int)
            signal.signal(signal.SIGTERM, old_term)
        return 0
