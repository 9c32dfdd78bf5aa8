"""A real `localctx serve` process on 127.0.0.1 for the server tests: started with ``--port 0``, its
URL read from its own "listening on" line (no port guessing), its log lines kept for assertions."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

#: every server test pins one thread and a small context, so the suite stays fast on a shared machine
FLAGS = ("-t", "1", "--ctx", "2048")


def server_env(home: Path, models_dir: Path) -> dict[str, str]:
    return {**os.environ, "LOCALCTX_HOME": str(home), "LOCALCTX_MODELS_DIR": str(models_dir),
            "HF_HUB_OFFLINE": "1", "HF_HOME": str(home / "hf"), "NO_COLOR": "1"}


class ServeProcess:
    def __init__(self, args: Sequence[str], env: dict[str, str], timeout: float = 90) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "localctx", "serve", *args, "--port", "0"],
                                     env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        self.lines: list[str] = []
        self._cv = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()
        line = self.wait_line(lambda s: "listening on" in s or s.startswith("error"), timeout)
        if "listening on" not in line:
            self.stop()
            raise RuntimeError(f"localctx serve did not start: {self.lines}")
        self.url = line.split("listening on ")[1].split()[0]  # http://127.0.0.1:PORT/v1
        self.base = self.url.removesuffix("/v1")

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            with self._cv:
                self.lines.append(line.rstrip("\n"))
                self._cv.notify_all()
        with self._cv:
            self.lines.append("<eof>")
            self._cv.notify_all()

    def wait_line(self, pred: Callable[[str], bool], timeout: float = 30) -> str:
        """The first log line (from the start) that ``pred`` accepts; fails after ``timeout``."""
        end = time.monotonic() + timeout
        with self._cv:
            while True:
                for s in self.lines:
                    if pred(s) or s == "<eof>":
                        return s
                left = end - time.monotonic()
                if left <= 0:
                    raise TimeoutError(f"no such log line within {timeout} s: {self.lines[-5:]}")
                self._cv.wait(left)

    def get(self, path: str, key: str | None = None) -> dict[str, Any]:
        req = urllib.request.Request(self.base + path)
        if key:
            req.add_header("Authorization", f"Bearer {key}")
        with urllib.request.urlopen(req, timeout=30) as r:
            return json.loads(r.read())

    def health(self) -> dict[str, Any]:
        return self.get("/health")

    def wait_health(self, pred: Callable[[dict[str, Any]], bool], timeout: float) -> dict[str, Any]:
        end = time.monotonic() + timeout
        while True:
            h = self.health()
            if pred(h):
                return h
            if time.monotonic() > end:
                raise TimeoutError(f"/health never matched within {timeout} s: {h}")
            time.sleep(0.02)  # polling interval of a wait for a state, not a fixed sleep

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
