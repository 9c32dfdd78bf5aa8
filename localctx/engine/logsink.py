"""The one process-wide sink for llama.cpp's log: every line is captured, none printed.

llama.cpp keeps a single log callback per process.  Installing ours at import and again at every
``capture()`` means a load records exactly its own lines (its real allocations and its real error
messages) even after something else, such as llama-cpp-python's ``Llama`` class, replaced it.
"""

from __future__ import annotations

import _thread
import ctypes
import threading
from collections import deque

import llama_cpp

from localctx.engine.llamalog import CONT, DEBUG, ERROR, WARN


class _LogSink:
    """Receives every llama.cpp/ggml log line.  One process-wide callback (llama.cpp's logger is global);
    captures are stacked so a load records exactly its own lines.  Recent WARN/ERROR lines are kept
    so decode failures can quote llama.cpp too."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.captures: list[list[tuple[int, str]]] = []
        self.recent: deque[tuple[int, str]] = deque(maxlen=50)
        self._partial = ""
        self._level = 2

    def feed(self, level: int, text: str) -> None:
        with self.lock:
            if level != CONT:
                self._level = level
            self._partial += text
            while "\n" in self._partial:
                line, self._partial = self._partial.split("\n", 1)
                self._emit(self._level, line)

    def _emit(self, level: int, line: str) -> None:
        if level == DEBUG:  # hundreds of graph lines per load; nothing we parse
            return
        for cap in self.captures:
            cap.append((level, line))
        if level >= WARN:
            self.recent.append((level, line))


SINK = _LogSink()


@llama_cpp.llama_log_callback
def _log_callback(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
    try:
        SINK.feed(int(level), text.decode("utf-8", "replace"))
    except KeyboardInterrupt:
        # a Ctrl-C whose handler ran inside this callback: ctypes would print it as "ignored" and drop
        # it.  Posted again from another thread, once this callback has returned, it reaches the
        # main thread's Python code (posted from here, it would fire inside this callback again)
        threading.Timer(0.01, _thread.interrupt_main).start()
    except BaseException:  # noqa: BLE001 - an exception must never propagate into C
        pass


_CALLBACK_REF = _log_callback  # keep a reference: llama.cpp holds only the raw pointer
llama_cpp.llama_log_set(_CALLBACK_REF, ctypes.c_void_p(0))
llama_cpp.llama_backend_init()


class capture:
    def __enter__(self) -> list[tuple[int, str]]:
        # llama.cpp keeps ONE process-wide log callback: anything else that called llama_log_set
        # (llama-cpp-python's own Llama class, a test helper) would silently take our capture away
        llama_cpp.llama_log_set(_CALLBACK_REF, ctypes.c_void_p(0))
        self.lines: list[tuple[int, str]] = []
        with SINK.lock:
            SINK.captures.append(self.lines)
        return self.lines

    def __exit__(self, *exc: object) -> None:
        with SINK.lock:
            SINK.captures.remove(self.lines)


def recent_error() -> str | None:
    errs = [line for level, line in SINK.recent if level == ERROR]
    return errs[-1].strip() if errs else None


