"""A command run as a person runs it at a terminal: stdin to type into, stdout and stderr collected as
they arrive, and a wait for what it prints (never a fixed sleep: on a busy CPU every step is slower)."""

from __future__ import annotations

import subprocess
import threading
import time
from collections.abc import Callable, Sequence

from tests.slowness import scaled


class Interactive:
    def __init__(self, argv: Sequence[str]) -> None:
        self.proc = subprocess.Popen(list(argv), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE)
        self.out, self.err = bytearray(), bytearray()
        self._readers = [threading.Thread(target=self._collect, args=(stream, buf), daemon=True)
                         for stream, buf in ((self.proc.stdout, self.out), (self.proc.stderr, self.err))]
        for t in self._readers:
            t.start()

    @staticmethod
    def _collect(stream: object, buf: bytearray) -> None:
        for chunk in iter(lambda: stream.read1(64), b""):  # type: ignore[attr-defined]
            buf.extend(chunk)

    def drain(self, timeout: float = 60) -> None:
        """Once the command has ended: wait until everything it printed is collected."""
        for t in self._readers:
            t.join(timeout=scaled(timeout))

    def wait(self, pred: Callable[[], object], what: str, timeout: float = 300) -> None:
        """Until ``pred()`` holds; fails if the command exits first or ``timeout`` seconds (on a quiet
        machine: scaled to this one) pass."""
        end = time.time() + scaled(timeout)
        while not pred():
            assert self.proc.poll() is None, f"exited early ({self.proc.returncode}): {self.err.decode()}"
            assert time.time() < end, f"timed out waiting for {what}"
            time.sleep(0.05)
