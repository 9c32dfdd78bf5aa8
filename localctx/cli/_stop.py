"""Ctrl-C as a request to stop long work cleanly, for every command that runs one.

While inside ``stop_on_sigint()``, the first Ctrl-C prints "stopping…" on stderr and sets a flag
that the services poll (``should_stop``) between batches, steps and tokens; the work then ends at
the next check, keeping what was finished.  A second Ctrl-C raises KeyboardInterrupt at once.
"""

from __future__ import annotations

import signal
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


class StopRequest:
    """The flag the SIGINT handler sets; ``requested`` is the services' ``should_stop``."""

    def __init__(self) -> None:
        self.flag = False

    def requested(self) -> bool:
        return self.flag


@contextmanager
def stop_on_sigint() -> Iterator[StopRequest]:
    stop = StopRequest()

    def handler(signum: int, frame: Any) -> None:
        if stop.flag:
            raise KeyboardInterrupt
        stop.flag = True
        sys.stderr.write("\nstopping… (Ctrl-C again to quit at once)\n")
        sys.stderr.flush()

    try:
        old = signal.signal(signal.SIGINT, handler)
    except ValueError:  # not the main thread: Ctrl-C stays a KeyboardInterrupt
        yield stop
        return
    try:
        yield stop
    finally:
        signal.signal(signal.SIGINT, old)
