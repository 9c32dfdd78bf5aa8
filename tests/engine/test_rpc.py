"""llama.cpp's RPC backend: flags, endpoint checks before ggml sees an endpoint, and (with two real
`localctx rpc-server` processes on 127.0.0.1) a split load that matches the single-process output
and the planner's per-device numbers.  Loopback only: nothing here contacts another address."""

from __future__ import annotations

import socket
import struct
import threading
from collections.abc import Iterator

import pytest

from localctx.core.flags import RuntimeFlags
from localctx.engine import rpc
from localctx.errors import SettingsError


# ---- flags ------------------------------------------------------------------------------------------
def test_rpc_flags_are_validated_and_normalised() -> None:
    o = RuntimeFlags(rpc=" 127.0.0.1:50052 ,127.0.0.1:50053", tensor_split="3,1", rpc_mem="8G,512M").overrides()
    assert o == {"rpc": "127.0.0.1:50052,127.0.0.1:50053", "tensor_split": "3,1",
                 "rpc_mem": f"{8 << 30},{512 << 20}"}
    assert RuntimeFlags(rpc="").overrides() == {"rpc": None}


@pytest.mark.parametrize("flags, words", [
    (RuntimeFlags(rpc="127.0.0.1"), "HOST:PORT"),
    (RuntimeFlags(rpc="127.0.0.1:0"), "HOST:PORT"),
    (RuntimeFlags(rpc="127.0.0.1:70000"), "HOST:PORT"),
    (RuntimeFlags(rpc="a:1,a:1"), "twice"),
    (RuntimeFlags(tensor_split="3,x"), "cannot read"),
    (RuntimeFlags(tensor_split="0,0"), "at least one"),
    (RuntimeFlags(tensor_split="-1,2"), "at least one"),
    (RuntimeFlags(rpc_mem="8Q"), "cannot read"),
    (RuntimeFlags(rpc="a:1,b:2", rpc_mem="8G"), "one size per server"),
])
def test_bad_rpc_flags_are_one_line_errors(flags: RuntimeFlags, words: str) -> None:
    with pytest.raises(SettingsError) as err:
        flags.overrides()
    assert words in err.value.one_line() and "\n" not in err.value.one_line()


# ---- endpoints are checked in Python before llama.cpp sees them (ggml aborts on a dead one) ----------
def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_unreachable_server_is_one_line() -> None:
    port = _free_port()  # nothing listens there
    with pytest.raises(rpc.RpcError) as err:
        rpc.query(f"127.0.0.1:{port}", timeout=2)
    line = err.value.one_line()
    assert "unreachable" in line and f"127.0.0.1:{port}" in line and "rpc-server" in line
    assert err.value.exit_code == 1


@pytest.fixture
def fake_server() -> Iterator[tuple[str, list[tuple[int, int, int]]]]:
    """A TCP server speaking only the protocol's HELLO, with a version the test chooses."""
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(4)
    version: list[tuple[int, int, int]] = [(6, 0, 0)]
    stop = threading.Event()

    def serve() -> None:
        lst.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = lst.accept()
            except OSError:
                continue
            with conn:
                head = conn.recv(9)
                if len(head) == 9 and head[0] == 14:
                    size = struct.unpack("<Q", head[1:])[0]
                    conn.recv(size)
                    reply = bytes(version[0]) + b"\0" + bytes(24)
                    conn.sendall(struct.pack("<Q", len(reply)) + reply)

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"127.0.0.1:{lst.getsockname()[1]}", version
    stop.set()
    t.join()
    lst.close()


def test_protocol_version_mismatch_is_one_line(fake_server: tuple[str, list[tuple[int, int, int]]]) -> None:
    endpoint, _ = fake_server
    with pytest.raises(rpc.RpcError) as err:
        rpc.query(endpoint, timeout=2)
    line = err.value.one_line()
    assert "speaks protocol 6.0.0" in line and ".".join(map(str, rpc.PROTOCOL)) in line


def test_not_an_rpc_server_is_one_line() -> None:
    lst = socket.socket()
    lst.bind(("127.0.0.1", 0))
    lst.listen(1)

    def close_at_once() -> None:
        conn, _ = lst.accept()
        conn.close()

    t = threading.Thread(target=close_at_once, daemon=True)
    t.start()
    try:
        with pytest.raises(rpc.RpcError) as err:
            rpc.query(f"127.0.0.1:{lst.getsockname()[1]}", timeout=2)
        assert "did not answer as an llama.cpp RPC server" in err.value.one_line()
    finally:
        t.join()
        lst.close()
