"""Two real `localctx rpc-server` processes on 127.0.0.1, SmolLM2 split across the local CPU and both.

Checks the issue's bar: the split load gives the single-process greedy output; llama.cpp's own
per-device buffer lines equal `estimate --rpc`'s per-device plan (KV and weights exact to the 0.01
MiB llama.cpp prints, compute within 5%); a server killed mid-reply is one line, exit 1, and the
stored session keeps its completed turns; Ctrl-C stops a server cleanly.  Loopback only, one
thread per process, a 512-token context.
"""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from localctx.cli.rpc_server import is_loopback
from localctx.engine import rpc
from tests.cli._interactive import Interactive
from tests.slowness import scaled

pytestmark = pytest.mark.model
LOCALCTX = [sys.executable, "-m", "localctx"]
ROOT = Path(__file__).resolve().parents[2]
MIB = 1 << 20


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self) -> None:
        self.port = _free_port()
        self.endpoint = f"127.0.0.1:{self.port}"
        self.proc = subprocess.Popen([*LOCALCTX, "rpc-server", "--port", str(self.port), "-t", "1"],
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        end = time.time() + scaled(120)
        while True:  # wait for the state: the server answers the protocol's HELLO
            assert self.proc.poll() is None, self.proc.communicate()
            try:
                self.info = rpc.query(self.endpoint, timeout=2)
                return
            except rpc.RpcError:
                assert time.time() < end, "rpc-server did not come up"
                time.sleep(0.1)

    def stop(self) -> tuple[int, str]:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # what Ctrl-C sends
        out, err = self.proc.communicate(timeout=scaled(60))
        return self.proc.returncode, out + err


@pytest.fixture(scope="module")
def servers() -> Iterator[list[Server]]:
    pair = [Server(), Server()]
    yield pair
    for s in pair:
        rc, text = s.stop()
        assert rc == 0 and "rpc-server stopped" in text, text  # Ctrl-C: a clean stop


def _child(*args: str) -> dict:
    r = subprocess.run([sys.executable, "-m", "tests.cli._rpc_load", *args], capture_output=True, text=True,
                       timeout=scaled(600), cwd=ROOT)
    assert r.returncode == 0, r.stderr[-2000:]
    return json.loads(r.stdout.strip().splitlines()[-1])


def _mib(n: int) -> str:
    return f"{n / MIB:.2f}"  # the precision llama.cpp prints


@pytest.mark.parametrize("n, ngl, split, fa", [(2, "20", None, "auto"), (2, "25", "1,2", "auto"),
                                               (2, "99", None, "auto"), (2, "20", None, "off"), (1, "99", None, "off")])
def test_split_across_cpu_and_two_servers_matches_one_process_and_the_plan(
        servers: list[Server], n: int, ngl: str, split: str | None, fa: str) -> None:
    eps = ",".join(s.endpoint for s in servers[:n])
    alone = _child("", "0", "", fa)
    split_run = _child(eps, ngl, split or "", fa)
    assert split_run["text"] == alone["text"] and len(alone["text"]) > 20  # greedy output: identical

    plan_args = ["estimate", "smollm2", "--ctx", "512", "-t", "1", "-ngl", ngl, "--no-mmap", "--rpc", eps, "--json"]
    if fa == "off":
        plan_args += ["-fa", "off"]
    if split:
        plan_args += ["--tensor-split", split]
    r = subprocess.run([*LOCALCTX, *plan_args], capture_output=True, text=True, timeout=scaled(300))
    assert r.returncode == 0, r.stderr
    (plan,) = json.loads(r.stdout)["plans"]
    assert plan["verdict"]["fits"] is True and len(plan["verdict"]["devices"]) == 1 + n  # RAM + each server
    devices = {d["device"]: d for d in plan["devices"]}
    for name, d in devices.items():
        if d["weights"]:
            assert _mib(d["weights"]) == _mib(split_run["weights"][name]), f"{name} weights"
        if d["kv"]:
            assert _mib(d["kv"]) == _mib(split_run["kv"][name]), f"{name} KV"
        if name in split_run["compute"]:
            ours, theirs = d["compute"], split_run["compute"][name]
            assert abs(ours - theirs) / theirs <= 0.05, f"{name} compute {ours} vs llama.cpp {theirs}"
    remote = [n for n in devices if n.startswith("RPC")]
    assert len(remote) == n and all(devices[r]["weights"] > 0 for r in remote)


def test_unreachable_server_is_one_line_before_llama_cpp_sees_it() -> None:
    port = _free_port()
    r = subprocess.run([*LOCALCTX, "ask", "smollm2", "Hi", "--ctx", "256", "-t", "1", "--rpc", f"127.0.0.1:{port}"],
                       capture_output=True, text=True, timeout=scaled(300))
    assert r.returncode == 1
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert lines[-1].startswith("error:") and "unreachable" in lines[-1] and f"127.0.0.1:{port}" in lines[-1]
    assert "Traceback" not in r.stderr and "GGML" not in r.stderr


def test_server_killed_mid_reply_is_one_line_exit_1_and_the_session_is_kept(tmp_path: Path) -> None:
    pair = [Server(), Server()]
    doc = tmp_path / "note.txt"
    doc.write_text("The archive opens at nine. The ledger is kept by Mara, who writes in green ink.\n")
    chat = Interactive([*LOCALCTX, "chat", "smollm2", "--file", str(doc), "--ctx", "512", "-t", "1", "-n", "300",
                        "--temp", "0", "-ngl", "20", "--rpc", ",".join(s.endpoint for s in pair)])
    proc, out, err, wait = chat.proc, chat.out, chat.err, chat.wait

    try:
        wait(lambda: b"you> " in err, "the first prompt")
        proc.stdin.write(b"Who keeps the ledger?\n")
        proc.stdin.flush()
        wait(lambda: err.count(b"you> ") == 2, "the first reply to finish")
        first_reply = len(out)
        proc.stdin.write(b"Write a very long story about the archive, in many sentences.\n")
        proc.stdin.flush()
        wait(lambda: len(out) > first_reply + 16, "the second reply to start")
        pair[1].proc.kill()  # the server dies mid-reply
        assert proc.wait(timeout=scaled(120)) == 1, err.decode("utf-8", "replace")[-3000:]
    finally:
        if proc.poll() is None:
            proc.kill()
        for s in pair:
            s.proc.kill()
            s.proc.wait()
    chat.drain()  # the pipes are closed: the readers end once they have everything
    tail = [ln for ln in err.decode("utf-8", "replace").splitlines() if ln.strip()]
    last = tail[-1].removeprefix("you> ")  # the chat prompt (stderr) precedes the reply on that line
    assert last.startswith("error: an RPC server stopped answering") and "\n" not in last, tail[-3:]
    assert "Traceback" not in err.decode("utf-8", "replace")
    r = subprocess.run([*LOCALCTX, "sessions", "--json"], capture_output=True, text=True, timeout=scaled(120))
    (s,) = json.loads(r.stdout)
    assert s["turns"] == 1  # the completed turn is stored; the cut reply is not


def test_the_ssh_hint_names_the_port_the_server_listens_on() -> None:
    server = Server()
    rc, text = server.stop()
    assert rc == 0 and f"ssh -N -L {server.port}:127.0.0.1:{server.port} " in text
    assert f"--rpc 127.0.0.1:{server.port} there" in text and "50052" not in text


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.2")


def test_doctor_checks_each_server(servers: list[Server]) -> None:
    dead = f"127.0.0.1:{_free_port()}"
    r = subprocess.run([*LOCALCTX, "doctor", "--json", "--rpc", f"{servers[0].endpoint},{dead}"],
                       capture_output=True, text=True, timeout=scaled(300))
    assert r.returncode == 1  # one server is not usable
    d = json.loads(r.stdout)
    assert d["rpc"] is True
    ok, bad = d["rpc_servers"]
    assert ok["ok"] and ok["protocol"] == ".".join(map(str, rpc.PROTOCOL))
    assert ok["devices"][0]["total"] == servers[0].info.devices[0].total and ok["devices"][0]["free"] > 0
    assert not bad["ok"] and "unreachable" in bad["error"] and dead in bad["error"]
    r = subprocess.run([*LOCALCTX, "doctor", "--rpc", servers[1].endpoint], capture_output=True, text=True,
                       timeout=scaled(300))
    assert r.returncode == 0 and f"RPC {servers[1].endpoint}" in r.stdout and "protocol 7.0.0" in r.stdout


def test_offline_plan_with_rpc_mem_contacts_no_server_and_the_gate_checks_every_device() -> None:
    nowhere = f"127.0.0.1:{_free_port()}"  # nothing listens: --rpc-mem must be enough to plan
    r = subprocess.run([*LOCALCTX, "plan", "smollm2", "--ctx", "512", "-ngl", "99", "--rpc", nowhere,
                        "--rpc-mem", "8G", "--json"], capture_output=True, text=True, timeout=scaled(300))
    assert r.returncode == 0, r.stderr
    d = json.loads(r.stdout)
    (server,) = d["rpc"]["servers"]
    assert server["endpoint"] == nowhere and server["layers"] == 30 and server["free"] == 8 << 30
    assert [v["device"] for v in d["verdict"]["devices"]] == ["RAM", f"RPC0[{nowhere}]"]
    # a server too small for its share: refused by the gate, naming it, before anything is contacted
    r = subprocess.run([*LOCALCTX, "ask", "smollm2", "Hi", "--ctx", "512", "-t", "1", "-ngl", "99", "--rpc", nowhere,
                        "--rpc-mem", "16M"], capture_output=True, text=True, timeout=scaled(300))
    assert r.returncode == 1
    (line,) = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert line.startswith("error:") and f"RPC0[{nowhere}] needs" in line and "--force" in line


def test_saved_settings_hold_the_servers_and_an_empty_rpc_drops_them() -> None:
    nowhere = f"127.0.0.1:{_free_port()}"
    base = [*LOCALCTX, "plan", "smollm2", "--ctx", "512", "--json"]
    r = subprocess.run([*base, "--rpc", nowhere, "--rpc-mem", "4G", "--save"], capture_output=True, text=True,
                       timeout=scaled(300))
    assert r.returncode == 0, r.stderr
    d = json.loads(subprocess.run(base, capture_output=True, text=True, timeout=scaled(300)).stdout)
    assert d["settings"]["rpc"] == nowhere and d["saved_settings"]["rpc"] == nowhere
    assert [s["endpoint"] for s in d["rpc"]["servers"]] == [nowhere]
    d = json.loads(subprocess.run([*base, "--rpc", ""], capture_output=True, text=True, timeout=scaled(300)).stdout)
    assert d["settings"]["rpc"] is None and d["rpc"] is None


def test_binding_beyond_loopback_prints_the_security_warning(monkeypatch: pytest.MonkeyPatch) -> None:
    """Checked without opening a socket beyond loopback: the bind check and the loop are replaced."""
    from typer.testing import CliRunner

    from localctx.cli.app import app
    from localctx.services import rpc_serve

    monkeypatch.setattr(rpc_serve.RpcServe, "check", lambda self: setattr(self, "handles", rpc.local_devices(None)))
    monkeypatch.setattr(rpc_serve.RpcServe, "run", lambda self: 0)
    r = CliRunner().invoke(app, ["rpc-server", "--host", "0.0.0.0", "--port", "50999"])
    assert r.exit_code == 0, r.output
    assert "no authentication or encryption" in r.output and "0.0.0.0:50999" in r.output
    assert "device CPU" in r.output and "--rpc <this machine's address>:50999" in r.output
    r = CliRunner().invoke(app, ["rpc-server", "--port", "50999"])
    assert "no authentication" not in r.output and "ssh -N -L" in r.output


def test_server_killed_under_a_terminal_gives_the_terminal_back(tmp_path: Path) -> None:
    """On a terminal (as under the TUI) the exit from ggml's thread first restores the screen and line mode."""
    import os
    import pty
    import termios

    pair = [Server()]
    master, slave = pty.openpty()
    attrs = termios.tcgetattr(slave)
    attrs[3] &= ~(termios.ICANON | termios.ECHO)  # what a full-screen app leaves behind
    termios.tcsetattr(slave, termios.TCSANOW, attrs)
    proc = subprocess.Popen([*LOCALCTX, "ask", "smollm2", "Write a very long story about a lighthouse.", "--ctx", "512",
                             "-t", "1", "-n", "300", "--temp", "0", "--rpc", pair[0].endpoint],
                            stdin=slave, stdout=slave, stderr=subprocess.PIPE)
    os.close(slave)
    screen = bytearray()

    def pump() -> None:
        try:
            while chunk := os.read(master, 1024):
                screen.extend(chunk)
        except OSError:  # the terminal closed
            pass

    reader = threading.Thread(target=pump, daemon=True)
    reader.start()
    try:
        end = time.time() + scaled(300)
        while len(screen) < 24:  # the reply is streaming
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.time() < end, "the reply did not start"
            time.sleep(0.05)
        pair[0].proc.kill()
        assert proc.wait(timeout=scaled(120)) == 1
        err = proc.stderr.read().decode() if proc.stderr else ""
        attrs_after = termios.tcgetattr(master)
    finally:
        if proc.poll() is None:
            proc.kill()
        pair[0].proc.kill()
        pair[0].proc.wait()
    reader.join(timeout=scaled(30))
    os.close(master)
    assert b"\x1b[?1049l" in screen and b"\x1b[?25h" in screen  # alternate screen left, cursor shown
    assert attrs_after[3] & termios.ICANON and attrs_after[3] & termios.ECHO
    assert err.strip().splitlines()[-1].startswith("error: an RPC server stopped answering")
