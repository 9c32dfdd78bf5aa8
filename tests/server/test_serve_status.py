"""The operator's view: on a terminal `localctx serve` keeps a status line (model, requests running and
queued, the last reply's speed) under its log; off a terminal the log is plain lines and nothing that
redraws."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import struct
import subprocess
import sys
import termios
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.server.serve_proc import FLAGS, ServeProcess, server_env

pytestmark = pytest.mark.model

_ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]|\x1b[()][A-Z0-9]|\r")


class TerminalServe:
    """`localctx serve` with its stdout and stderr on a pseudo-terminal of 80x24, its screen text kept."""

    def __init__(self, env: dict[str, str]) -> None:
        master, slave = pty.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
        term_env = {k: v for k, v in env.items() if k not in ("NO_COLOR", "COLUMNS", "LINES")}
        self.proc = subprocess.Popen([sys.executable, "-m", "localctx", "serve", "smollm2", *FLAGS, "--port", "0"],
                                     env={**term_env, "TERM": "xterm-256color"}, stdin=subprocess.DEVNULL,
                                     stdout=slave, stderr=slave)
        os.close(slave)
        self.master = master
        self.raw = b""
        self._cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        while True:
            try:
                data = os.read(self.master, 4096)
            except OSError:  # the terminal closed with the process
                data = b""
            with self._cv:
                self.raw += data
                self._cv.notify_all()
            if not data:
                return

    @property
    def text(self) -> str:
        return _ANSI.sub("", self.raw.decode("utf-8", "replace"))

    def wait_text(self, pattern: str, timeout: float = 60) -> re.Match[str]:
        end = time.monotonic() + timeout
        with self._cv:
            while True:
                m = re.search(pattern, self.text)
                if m:
                    return m
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"{pattern!r} not on the terminal within {timeout} s: {self.text[-400:]!r}")
                self._cv.wait(min(left, 0.5))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
        try:
            return self.proc.wait(30)
        finally:
            os.close(self.master)


def test_a_terminal_gets_a_status_line_under_the_log(tmp_path: Path, models_dir: Path) -> None:
    import openai

    term = TerminalServe(server_env(tmp_path, models_dir))
    try:
        url = term.wait_text(r"listening on (http://127\.0\.0\.1:\d+/v1)")[1]
        term.wait_text(r"smollm2 ctx 2,048 · running 0 · queued 0 · served 0")
        client: Any = openai.OpenAI(base_url=url, api_key="none", max_retries=0, timeout=120)
        r = client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Name a colour."}],
                                           max_tokens=6, temperature=0)
        n = r.usage.completion_tokens
        term.wait_text(r"POST /v1/chat/completions 200")  # the log line, above the status line
        term.wait_text(rf"smollm2 ctx 2,048 · running 0 · queued 0 · last {n} tok at \d+\.\d tok/s · served 1")
        assert "Traceback" not in term.text
    finally:
        assert term.stop() == 0
    assert "localctx serve: stopped" in term.text


def test_off_a_terminal_there_is_no_status_line(server: ServeProcess, client: Any) -> None:
    client.chat.completions.create(model="smollm2", messages=[{"role": "user", "content": "Hi."}], max_tokens=2,
                                   temperature=0)
    server.wait_line(lambda s: "/v1/chat/completions 200" in s, 10)
    assert not any("running 0 · queued" in s or "\x1b[" in s for s in server.lines), server.lines
