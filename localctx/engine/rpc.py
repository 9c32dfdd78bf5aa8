"""llama.cpp's RPC backend, bound through ctypes on the ``libggml-rpc`` that llama-cpp-python ships.

llama-cpp-python's own ``rpc_servers`` argument stopped working when llama.cpp moved to registered
backend devices, so localctx binds the four calls it needs itself (``ggml-rpc.h``)::

    ggml_backend_reg_t ggml_backend_rpc_add_server(const char * endpoint);
    void ggml_backend_rpc_get_device_memory(const char * endpoint, uint32_t device, size_t * free, size_t * total);
    void ggml_backend_rpc_start_server(const char * endpoint, const char * cache_dir,
                                       size_t n_threads, size_t n_devices, ggml_backend_dev_t * devices);
    void ggml_backend_register(ggml_backend_reg_t reg);   /* libggml */

ggml *aborts the process* when an endpoint cannot be reached, speaks another protocol version, or
dies in the middle of a graph.  So every endpoint is first checked here in Python (TCP connect, the
protocol's HELLO, the device count and memory) and refused with one line before llama.cpp sees it;
and while RPC devices are in use, ggml's abort callback turns a server dying mid-reply into one
line on stderr and exit status 1 instead of a core dump.
"""

from __future__ import annotations

import ctypes
import os
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field

import llama_cpp

from localctx.core.flags import split_rpc_endpoint
from localctx.engine import abort, ggml_lib
from localctx.errors import LocalctxError

#: protocol commands (the numbering is fixed by the protocol; HELLO is always 14)
_CMD_GET_DEVICE_MEMORY = 11
_CMD_HELLO = 14
_CMD_DEVICE_COUNT = 15
#: bytes of transport capabilities in the HELLO request/response of this protocol generation
_CONN_CAPS = 24
#: the protocol the pinned llama.cpp speaks (its rpc-server banner: "Starting RPC server v7.0.0")
PROTOCOL = (7, 0, 0)
CONNECT_TIMEOUT_S = 5.0
#: more devices than one server could have: a reply above this is garbage, not a machine
MAX_DEVICES = 64
#: a load with RPC devices that makes no progress this long has a server that stopped answering
LOAD_STALL_S = 120.0


class RpcError(LocalctxError):
    """An RPC server that cannot be used: unreachable, another protocol version, or gone mid-reply."""

    exit_code = 1


@dataclass(frozen=True)
class RpcDevice:
    """One device an RPC server offers (llama.cpp names it ``RPC<n>[host:port]``)."""

    endpoint: str
    index: int
    free: int
    total: int


@dataclass(frozen=True)
class RpcServer:
    """What a server answered: its protocol version and its devices' memory."""

    endpoint: str
    version: tuple[int, int, int]
    devices: list[RpcDevice] = field(default_factory=list)

    @property
    def version_text(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def free(self) -> int:
        return sum(d.free for d in self.devices)

    @property
    def total(self) -> int:
        return sum(d.total for d in self.devices)


# ---- the library --------------------------------------------------------------------------------
_VP = ggml_lib.VP
_ABORT_CB = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
_LIBS: dict[str, ctypes.CDLL] = {}


def _libs() -> tuple[ctypes.CDLL, ctypes.CDLL, ctypes.CDLL]:
    """(libggml-rpc, libggml, libggml-base), the copies llama.cpp links to, with RPC's types declared."""
    if not _LIBS:
        rpc, ggml, base = ggml_lib.load("ggml-rpc"), ggml_lib.ggml(), ggml_lib.load("ggml-base")
        if rpc is None or ggml is None or base is None:
            raise RpcError("this llama-cpp-python has no RPC backend (libggml-rpc is missing)",
                           "reinstall with scripts/install.sh (it builds llama.cpp with -DGGML_RPC=on)")
        rpc.ggml_backend_rpc_add_server.restype = _VP
        rpc.ggml_backend_rpc_add_server.argtypes = [ctypes.c_char_p]
        rpc.ggml_backend_rpc_get_device_memory.restype = None
        rpc.ggml_backend_rpc_get_device_memory.argtypes = [
            ctypes.c_char_p, ctypes.c_uint32, ctypes.POINTER(ctypes.c_size_t), ctypes.POINTER(ctypes.c_size_t)]
        rpc.ggml_backend_rpc_start_server.restype = None
        rpc.ggml_backend_rpc_start_server.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_size_t,
                                                      ctypes.c_size_t, ctypes.POINTER(_VP)]
        base.ggml_set_abort_callback.restype = _VP
        base.ggml_set_abort_callback.argtypes = [_ABORT_CB]
        _LIBS.update(rpc=rpc, ggml=ggml, base=base)
    return _LIBS["rpc"], _LIBS["ggml"], _LIBS["base"]


def supported() -> bool:
    """Whether this llama.cpp build has the RPC backend."""
    return bool(llama_cpp.llama_supports_rpc()) and ggml_lib.load("ggml-rpc") is not None


# ---- talking to a server without llama.cpp (nothing here can abort the process) -------------------
def _recv_exact(sock: socket.socket, n: int, deadline: float) -> bytes:
    buf = b""
    while len(buf) < n:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no complete answer in time")
        sock.settimeout(left)
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("connection closed")
        buf += chunk
    return buf


def _call(sock: socket.socket, cmd: int, payload: bytes, reply_size: int, deadline: float) -> bytes:
    sock.settimeout(max(deadline - time.monotonic(), 0.001))
    sock.sendall(struct.pack("<BQ", cmd, len(payload)) + payload)
    size = struct.unpack("<Q", _recv_exact(sock, 8, deadline))[0]
    if size != reply_size:
        raise ConnectionError(f"unexpected reply of {size} bytes")
    return _recv_exact(sock, size, deadline)


def split_endpoint(endpoint: str) -> tuple[str, int]:
    """(host, port) of an endpoint llama.cpp can use; RpcError in one line for one it cannot (an IPv6
    address, a host that is no host name), before any resolver or ggml sees it."""
    try:
        return split_rpc_endpoint(endpoint)
    except LocalctxError as exc:
        raise RpcError(exc.message, exc.hint) from None


def query(endpoint: str, timeout: float = CONNECT_TIMEOUT_S) -> RpcServer:
    """Connect, say HELLO, and read every device's free/total memory; RpcError in one line if the
    server is unreachable, is not an RPC server, speaks a protocol this build cannot use, claims an
    implausible number of devices, or does not finish answering within ``timeout`` seconds in all."""
    host, port = split_endpoint(endpoint)
    deadline = time.monotonic() + timeout
    try:
        sock = socket.create_connection((host, port), timeout=timeout)
    except (OSError, UnicodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
        raise RpcError(f"RPC server {endpoint} is unreachable ({reason})",
                       f"start it there with `localctx rpc-server --port {port}` or fix --rpc") from None
    try:
        with sock:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            hello = _call(sock, _CMD_HELLO, bytes(_CONN_CAPS), 4 + _CONN_CAPS, deadline)
            version = (hello[0], hello[1], hello[2])
            mine = own_version()
            if version[0] != mine[0] or version[1] > mine[1]:
                raise RpcError(f"RPC server {endpoint} speaks protocol {'.'.join(map(str, version))}, this "
                               f"build speaks {'.'.join(map(str, mine))}",
                               "run the same localctx/llama.cpp version on every machine")
            count = struct.unpack("<I", _call(sock, _CMD_DEVICE_COUNT, b"", 4, deadline))[0]
            if count > MAX_DEVICES:
                raise RpcError(f"RPC server {endpoint} claims {count:,} devices (at most {MAX_DEVICES} are plausible)",
                               "check the port: that is not a working llama.cpp rpc-server")
            devices = []
            for i in range(count):
                free, total = struct.unpack("<QQ", _call(sock, _CMD_GET_DEVICE_MEMORY, struct.pack("<I", i), 16,
                                                         deadline))
                devices.append(RpcDevice(endpoint, i, free, total))
    except TimeoutError:
        raise RpcError(f"RPC server {endpoint} did not finish answering within {timeout:g} s",
                       "check the server: it accepted the connection but stopped answering") from None
    except (OSError, ConnectionError, struct.error) as exc:
        raise RpcError(f"{endpoint} did not answer as an llama.cpp RPC server ({exc})",
                       "check the port, and that both ends run the same localctx version") from None
    return RpcServer(endpoint, version, devices)


def own_version() -> tuple[int, int, int]:
    """The RPC protocol version this build speaks."""
    return PROTOCOL


# ---- registering servers with ggml -----------------------------------------------------------------
_REGISTERED: dict[str, list[int]] = {}
_LOCK = threading.Lock()


def register(endpoints: tuple[str, ...]) -> list[int]:
    """Check every endpoint, then register each server's devices with ggml (once per process); returns
    the device handles in ``endpoints`` order, for ``llama_model_params.devices``."""
    servers = [query(e) for e in endpoints]
    rpc, ggml, _ = _libs()
    guard_aborts()  # ggml connects again inside add_server: a server gone by then aborts there
    handles: list[int] = []
    with _LOCK:
        for srv in servers:
            if srv.endpoint not in _REGISTERED:
                if not srv.devices:
                    raise RpcError(f"RPC server {srv.endpoint} offers no devices")
                reg = rpc.ggml_backend_rpc_add_server(srv.endpoint.encode())
                if not reg:
                    raise RpcError(f"llama.cpp could not add RPC server {srv.endpoint}")
                ggml.ggml_backend_register(reg)
                _REGISTERED[srv.endpoint] = [ggml.ggml_backend_reg_dev_get(reg, i)
                                             for i in range(ggml.ggml_backend_reg_dev_count(reg))]
            handles.extend(_REGISTERED[srv.endpoint])
    return handles


def registered() -> bool:
    """Whether this process has registered any RPC server with ggml."""
    return bool(_REGISTERED)


def local_gpus() -> list[int]:
    """This machine's GPU devices in registry order (RPC devices excluded)."""
    _, ggml, _ = _libs()
    remote = {h for hs in _REGISTERED.values() for h in hs}
    out = []
    for i in range(ggml.ggml_backend_dev_count()):
        dev = ggml.ggml_backend_dev_get(i)
        if ggml.ggml_backend_dev_type(dev) in (1, 2) and dev not in remote:  # GPU, integrated GPU
            out.append(dev)
    return out


# ---- a server dying mid-reply -------------------------------------------------------------------------
@_ABORT_CB
def _on_abort(message: bytes | None) -> None:
    text = (message or b"").decode("utf-8", "replace").strip()
    if "RPC" in text or "Remote" in text:
        text = text.split(": ", 1)[-1]
        line = (f"error: an RPC server stopped answering ({text}) — restart the server and try again (a cut "
                "reply is lost; a chat session keeps its completed turns: localctx sessions)")
    else:
        line = f"error: llama.cpp aborted: {text}"
    _exit_with(line)


def _exit_with(line: str) -> None:
    """End the process now with ``line``: ggml's state is broken (or stuck), nothing else may run."""
    try:
        if sys.stdout is not None and sys.stdout.isatty():
            _restore_terminal()
            sys.stdout.write("\n")  # end the cut reply's line
            sys.stdout.flush()
    finally:
        # to the copy of stderr taken before any load: llama-cpp-python points fd 2 at /dev/null while
        # it loads a model, and a server that dies during the load must not end the process unseen
        try:
            os.write(abort.stderr_fd(), (line + "\n").encode("utf-8", "replace"))
        finally:
            os._exit(1)


class LoadWatch:
    """ggml's RPC client has no timeouts: a server that passed the probe and then stops answering
    leaves a load blocked in ``recv`` for ever.  While a load with RPC devices runs, llama.cpp's
    progress callback (one call per tensor sent) feeds this watch; ``LOAD_STALL_S`` seconds without
    progress end the process with one line, as a server dying mid-load does."""

    def __init__(self) -> None:
        self.last = time.monotonic()
        self._done = threading.Event()
        self.callback = llama_cpp.llama_progress_callback(self._progress)

    def _progress(self, _fraction: float, _data: object) -> bool:
        self.last = time.monotonic()
        return True  # go on loading

    def __enter__(self) -> LoadWatch:
        threading.Thread(target=self._watch, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()

    def _watch(self) -> None:
        while not self._done.wait(0.5):
            idle = time.monotonic() - self.last
            if idle > LOAD_STALL_S:
                _exit_with(f"error: an RPC server stopped answering during the load (no progress for {idle:.0f} s) "
                           "— restart the server and try again")


def _restore_terminal() -> None:
    """Give the terminal back before exiting from ggml's thread: a full-screen front end (the TUI)
    cannot clean up itself, so leave its alternate screen and mouse modes, show the cursor and turn
    line editing and echo back on."""
    sys.stdout.write("\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?2004l\x1b[?1049l\x1b[?25h")
    sys.stdout.flush()
    try:
        import termios

        fd = sys.stdin.fileno()
        if os.isatty(fd):
            attrs = termios.tcgetattr(fd)
            attrs[3] |= termios.ICANON | termios.ECHO | termios.ISIG
            termios.tcsetattr(fd, termios.TCSANOW, attrs)
    except (ImportError, OSError, ValueError):
        pass


_GUARDED: list[bool] = []


def guard_aborts() -> None:
    """Make ggml's aborts (an RPC server gone mid-graph) exit with one line and status 1."""
    if not _GUARDED:
        _libs()[2].ggml_set_abort_callback(_on_abort)
        _GUARDED.append(True)


# ---- serving ---------------------------------------------------------------------------------------
def local_devices(names: list[str] | None) -> list[int]:
    """Device handles to serve: the named ones (``CPU``, ``CUDA0``, ...), else the first GPU or the CPU."""
    _, ggml, _ = _libs()
    llama_cpp.llama_backend_init()
    if names:
        out = []
        for n in names:
            dev = ggml.ggml_backend_dev_by_name(n.encode())
            if not dev:
                raise RpcError(f"no local device named '{n}'", "see `localctx doctor` for this machine's devices")
            out.append(dev)
        return out
    gpu = ggml.ggml_backend_dev_by_type(1)  # GGML_BACKEND_DEVICE_TYPE_GPU
    return [gpu or ggml.ggml_backend_dev_by_type(0)]


def device_name(handle: int) -> str:
    return (_libs()[1].ggml_backend_dev_name(handle) or b"?").decode()


def serve(endpoint: str, devices: list[int], *, threads: int, cache_dir: str | None) -> None:
    """Run llama.cpp's RPC server loop here; blocks until the process ends."""
    rpc, _, _ = _libs()
    arr = (_VP * len(devices))(*devices)
    rpc.ggml_backend_rpc_start_server(endpoint.encode(), cache_dir.encode() if cache_dir else None,
                                      threads, len(devices), arr)
