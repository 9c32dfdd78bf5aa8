"""Stopping llama.cpp inside a batch: ggml's abort callback polls the caller's ``should_stop``.

Without it a Ctrl-C (or the TUI's stop) waits for the whole batch of prompt work to finish; with it,
llama.cpp checks between graph nodes and ``llama_decode`` returns 2 within milliseconds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import llama_cpp


class AbortWatch:
    """The abort callback of one llama.cpp context; ``active`` while a watch is installed."""

    def __init__(self, ctx: Any) -> None:
        self._ctx = ctx
        self.active = False

    @contextmanager
    def watch(self, should_stop: Callable[[], bool] | None) -> Iterator[None]:
        """While inside, llama.cpp polls ``should_stop``.  Only around prompt work: per-token decoding
        would pay for the Python calls."""
        if should_stop is None:
            yield
            return

        def poll(_data: Any) -> bool:
            try:
                return bool(should_stop())
            except BaseException:  # noqa: BLE001 - a second Ctrl-C inside the callback: stop too
                return True

        cb = llama_cpp.ggml_abort_callback(poll)
        llama_cpp.llama_set_abort_callback(self._ctx, cb, None)
        self.active = True
        try:
            yield
        finally:
            self.active = False
            llama_cpp.llama_set_abort_callback(self._ctx, llama_cpp.ggml_abort_callback(), None)
            del cb
