"""RPC servers that lie, stall or die, and endpoints llama.cpp cannot use: one line each, in bounded
time, never a hang, a traceback or a silent exit.  Fake servers speak the protocol's first commands on
127.0.0.1 (HELLO 7.0.0, device count, device memory) and then misbehave as each test asks."""

from __future__ import annotations

import os
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from localctx.core.flags import RuntimeFlags
from localctx.engine import rpc
from localctx.errors import LocalctxError, SettingsError

LOCALCTX = [sys.executable, "-m", "localctx"]


class FakeServer:
    """``devices``: what DEVICE_COUNT answers; ``after``: what happens on any other command
    (``close``, ``garbage`` or ``silent``); ``trickle_s``: send each reply one byte at a time, this far apart."""

    def __init__(self, devices: int = 1, after: str = "close", trickle_s: float = 0.0) -> None:
        self.devices, self.after, self.trickle_s = devices, after, trickle_s
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(16)
        self.endpoint = f"127.0.0.1:{self.lst.getsockname()[1]}"
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self) -> None:
        self.lst.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.lst.accept()
            except OSError:
                continue
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _recv(self, conn: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = conn.recv(n - len(buf))
            if not chunk:
                raise ConnectionError
            buf += chunk
        return buf

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            try:
                while not self.stop.is_set():
                    head = self._recv(conn, 9)
                    self._recv(conn, struct.unpack("<Q", head[1:])[0])
                    if head[0] == 14:
                        reply = bytes([7, 0, 0, 0]) + bytes(24)
                    elif head[0] == 15:
                        reply = struct.pack("<I", self.devices)
                    elif head[0] == 11:
                        reply = struct.pack("<QQ", 8 << 30, 16 << 30)
                    elif self.after == "garbage":
                        conn.sendall(b"\xff" * 64)
                        return
                    elif self.after == "silent":
                        self.stop.wait()
                        return
                    else:
                        return
                    data = struct.pack("<Q", len(reply)) + reply
                    if self.trickle_s:
                        for b in data:
                            if self.stop.wait(self.trickle_s):
                                return
                            conn.sendall(bytes([b]))
                    else:
                        conn.sendall(data)
            except OSError:
                return
            except ConnectionError:
                return

    def close(self) -> None:
        self.stop.set()
        self.thread.join()
        self.lst.close()


@pytest.fixture
def fake() -> Iterator[type[FakeServer]]:
    made: list[FakeServer] = []

    class Made(FakeServer):
        def __init__(self, *a: object, **k: object) -> None:
            super().__init__(*a, **k)  # type: ignore[arg-type]
            made.append(self)

    yield Made
    for s in made:
        s.close()


def _run(*args: str, home: Path, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*LOCALCTX, *args], capture_output=True, text=True, timeout=timeout,
                          env=dict(os.environ, LOCALCTX_HOME=str(home)), stdin=subprocess.DEVNULL)


def _one_error_line(r: subprocess.CompletedProcess[str]) -> str:
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines and lines[-1].startswith("error: "), r.stderr[-3000:]
    assert "Traceback" not in r.stderr
    return lines[-1]


# ---- the probe: sanity bounds and one deadline for every read ------------------------------------------
def test_a_server_claiming_4_billion_devices_is_refused_at_once(fake: type[FakeServer]) -> None:
    srv = fake(devices=0xFFFFFFFF)
    t0 = time.monotonic()
    with pytest.raises(rpc.RpcError) as err:
        rpc.query(srv.endpoint, timeout=5)
    assert "claims 4,294,967,295 devices" in err.value.one_line()
    assert time.monotonic() - t0 < 5


def test_a_server_trickling_its_answer_hits_one_deadline(fake: type[FakeServer]) -> None:
    srv = fake(trickle_s=0.3)  # every byte within the socket timeout, the whole answer far beyond it
    t0 = time.monotonic()
    with pytest.raises(rpc.RpcError) as err:
        rpc.query(srv.endpoint, timeout=1.5)
    assert "did not finish answering within 1.5 s" in err.value.one_line()
    assert time.monotonic() - t0 < 4


# ---- endpoints llama.cpp cannot use ---------------------------------------------------------------------
@pytest.mark.parametrize("endpoint, words", [
    ("h" * 5000 + ":50052", "not a host name"),
    ("[::1]:50052", "IPv6"),
    ("::1:50052", "IPv6"),
    ("bad host:50052", "not a host name"),
    ("exämple.org:50052", "not a host name"),
    ("a..b:50052", "not a host name"),
])
def test_hosts_llama_cpp_cannot_use_are_one_line(endpoint: str, words: str) -> None:
    with pytest.raises(SettingsError) as err:
        RuntimeFlags(rpc=endpoint).overrides()
    line = err.value.one_line()
    assert words in line and "\n" not in line and len(line) < 400
    with pytest.raises(rpc.RpcError) as err2:  # saved settings reach the probe without the flag parser
        rpc.query(endpoint, timeout=1)
    assert words in err2.value.one_line()


def test_good_hosts_still_parse() -> None:
    assert RuntimeFlags(rpc="gpu-box.local:50052,10.0.0.2:1").overrides()["rpc"] == "gpu-box.local:50052,10.0.0.2:1"


def test_doctor_with_a_huge_host_and_a_lying_server_is_bounded(fake: type[FakeServer], tmp_path: Path) -> None:
    r = _run("doctor", "--rpc", "h" * 5000 + ":50052", home=tmp_path)
    assert r.returncode == 2 and "not a host name" in _one_error_line(r) and "UnicodeError" not in r.stderr
    srv = fake(devices=0xFFFFFFFF)
    t0 = time.monotonic()
    r = _run("doctor", "--rpc", srv.endpoint, "--json", home=tmp_path, timeout=90)
    assert r.returncode == 1 and "claims 4,294,967,295 devices" in r.stdout
    assert time.monotonic() - t0 < 60


# ---- a server that passes the probe and fails llama.cpp's own connection ------------------------------------
@pytest.mark.model
@pytest.mark.parametrize("after", ["close", "garbage"])
def test_a_server_failing_after_the_probe_ends_ask_in_one_line(fake: type[FakeServer], tmp_path: Path,
                                                               after: str) -> None:
    srv = fake(after=after)
    r = _run("ask", "smollm2", "-t", "1", "--ctx", "512", "-n", "4", "--rpc", srv.endpoint, "hi", home=tmp_path)
    assert r.returncode == 1
    line = _one_error_line(r)  # it used to exit 1 with nothing at all: ggml aborted while fd 2 was /dev/null
    assert line.startswith("error: an RPC server stopped answering"), r.stderr[-2000:]


@pytest.mark.model
def test_a_server_silent_after_the_probe_ends_the_load_in_one_line(fake: type[FakeServer]) -> None:
    """ggml's client has no timeout: without the load watch this child would wait in recv for ever."""
    srv = fake(after="silent")
    t0 = time.monotonic()
    r = subprocess.run([sys.executable, "-m", "tests.engine._rpc_stall", srv.endpoint, "3"], capture_output=True,
                       text=True, timeout=120, cwd=Path(__file__).resolve().parents[2])
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert r.returncode == 1 and r.stdout == "", r.stderr[-3000:]
    assert lines and lines[-1].startswith("error: an RPC server stopped answering during the load"), r.stderr[-3000:]
    assert time.monotonic() - t0 < 60


# ---- rpc-server's listening address -----------------------------------------------------------------------
@pytest.mark.parametrize("host", ["::", "[::1]", "::1", "example.org"])
def test_rpc_server_refuses_hosts_its_ipv4_only_server_cannot_bind(tmp_path: Path, host: str) -> None:
    r = _run("rpc-server", "--host", host, "--port", "50997", home=tmp_path, timeout=60)
    assert r.returncode == 2
    line = _one_error_line(r)
    assert "IPv4 address only" in line and "see its message above" not in r.stderr


def test_rpc_server_rejects_ipv6_with_its_reason_without_a_bind(tmp_path: Path) -> None:
    from localctx.services.rpc_serve import check_listen_host

    check_listen_host("0.0.0.0")
    with pytest.raises(LocalctxError) as err:
        check_listen_host("::")
    assert "an IPv6 address" in err.value.one_line()


class CountingProxy:
    """Forwards 127.0.0.1 connections to ``target`` and calls ``on_connection(n)`` as the n-th opens."""

    def __init__(self, target: str, on_connection: Callable[[int], None]) -> None:
        self.target, self.on_connection, self.count = target, on_connection, 0
        self.lst = socket.socket()
        self.lst.bind(("127.0.0.1", 0))
        self.lst.listen(16)
        self.endpoint = f"127.0.0.1:{self.lst.getsockname()[1]}"
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.lst.accept()
            except OSError:
                return
            self.count += 1
            self.on_connection(self.count)
            try:
                up = socket.create_connection(rpc.split_endpoint(self.target), timeout=5)
                up.settimeout(None)
            except OSError:
                conn.close()
                continue
            for a, b in ((conn, up), (up, conn)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while chunk := src.recv(65536):
                dst.sendall(chunk)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


@pytest.mark.model
@pytest.mark.parametrize("kill_at", [6, 9])
def test_a_real_server_killed_during_the_load_is_one_line(tmp_path: Path, kill_at: int) -> None:
    """A real rpc-server killed -9 as llama.cpp's n-th connection opens (the first ones are the probes,
    then ggml registers the server and sends the weights): ``ask`` exits 1 with one line; it used to
    exit 1 with nothing when ggml aborted during the load, with fd 2 pointed at /dev/null."""
    from tests.cli.test_rpc_server import Server

    srv = Server()
    proxy = CountingProxy(srv.endpoint, lambda n: srv.proc.kill() if n == kill_at else None)
    ask = subprocess.run([*LOCALCTX, "ask", "smollm2", "-t", "1", "--ctx", "512", "-n", "4", "-ngl", "99",
                          "--rpc", proxy.endpoint, "hi"], stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=180, env=dict(os.environ, LOCALCTX_HOME=str(tmp_path)))
    srv.proc.kill()
    srv.proc.wait()
    proxy.lst.close()
    lines = [ln for ln in ask.stderr.splitlines() if ln.strip()]
    assert proxy.count >= kill_at and ask.returncode == 1, ask.stderr[-3000:]
    assert lines and lines[-1].startswith("error: ") and "RPC" in lines[-1], ask.stderr[-3000:]
    assert "Traceback" not in ask.stderr and ask.stdout == ""
