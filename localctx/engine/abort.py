"""The last net under llama.cpp: an abort we did not foresee ends the process with one line on stderr.

localctx validates every header value it knows llama.cpp asserts on (core/gguf_checks.py), but ggml
can still hit a ``GGML_ASSERT`` or ``GGML_ABORT`` on something nobody foresaw.  By default ggml then
prints its message, runs gdb/lldb or ``backtrace_symbols_fd`` (whose output lands on *stdout* in some
builds, breaking ``--json`` consumers) and calls ``abort()``: exit 134, a core dump, a wall of text.

ggml calls the callback set with ``ggml_set_abort_callback`` instead of printing the backtrace, just
before ``abort()``.  Ours writes one line naming the model file and ggml's own message and ends the
process with exit 1 at once (``os._exit``: nothing else may run in a process whose C state is broken).
A C++ exception nobody catches inside llama.cpp (a tokenizer's ``unordered_map::at`` on a vocabulary
with missing byte tokens, say) takes another road: ``std::terminate`` prints its two lines and calls
``abort()`` without the callback.  A ``SIGABRT`` handler set through libc (Python's own handlers run
only between bytecodes, too late in a dying process) turns that into the same one line and exit 1;
``GGML_NO_BACKTRACE`` keeps ggml's terminate hook from running a debugger first.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import signal
import threading
from pathlib import Path

import llama_cpp

_ABORT_CB = ctypes.CFUNCTYPE(None, ctypes.c_char_p)
_SIG_CB = ctypes.CFUNCTYPE(None, ctypes.c_int)
_lock = threading.Lock()
_installed: list[object] = []  # keeps the ctypes callback alive for the life of the process
_model: list[str] = []
#: a copy of stderr taken at install: llama-cpp-python points fd 2 at /dev/null while it loads a model
#: (``suppress_stdout_stderr``), and an abort during the load must still be seen
_stderr: list[int] = []


def set_model(path: str | Path | None) -> None:
    """The model file the next llama.cpp call works on, named in the abort line."""
    _model[:] = [str(path)] if path else []


def abort_line(message: bytes | None) -> str:
    text = (message or b"").decode("utf-8", "replace").strip() or "no message"
    text = re.sub(r"^\S*[/\\](\S+:\d+:)", r"\1", text)  # the build machine's source path: keep file:line
    where = _model[0] if _model else "the model"
    line = (f"error: llama.cpp aborted while running {where}: {text} — the file or its settings are ones this "
            "llama.cpp cannot run; try another file or other settings")
    return " ".join(line.split())


def stderr_fd() -> int:
    """The descriptor of the real stderr, for a line written while a load has fd 2 pointed elsewhere."""
    return _stderr[0] if _stderr else 2


def _on_abort(message: bytes | None) -> None:
    try:
        os.write(stderr_fd(), (abort_line(message) + "\n").encode("utf-8", "replace"))
    finally:
        os._exit(1)


def _on_sigabrt(_signum: int) -> None:
    _on_abort(b"std::terminate (an exception llama.cpp did not catch; see the line above)")


def _install_sigabrt() -> None:
    libc_name = ctypes.util.find_library("c")
    if os.name != "posix" or not libc_name:
        return
    libc = ctypes.CDLL(libc_name)
    handler = _SIG_CB(_on_sigabrt)
    libc.signal.argtypes = [ctypes.c_int, _SIG_CB]
    libc.signal.restype = ctypes.c_void_p
    libc.signal(signal.SIGABRT, handler)
    _installed.append(handler)


def _ggml_bases() -> list[ctypes.CDLL]:
    """Every copy of libggml-base that llama.cpp uses.  The wheel ships ``libggml-base.so`` and
    ``libggml-base.so.0`` as two separate files (not links): libllama loads the second by its soname, so
    a callback set on the first would never fire.  Those already mapped into the process are used;
    where that cannot be told (no /proc), every copy gets the callback."""
    lib = Path(llama_cpp.__file__).parent / "lib"
    files = sorted(p for pattern in ("libggml-base*", "ggml-base*.dll") for p in lib.glob(pattern))
    try:
        maps = Path("/proc/self/maps").read_text()
        mapped = [p for p in files if str(p) in maps]
    except OSError:
        mapped = []
    return [ctypes.CDLL(str(p)) for p in (mapped or files)]


def install() -> bool:
    """Install the callback once per process; False when the shipped ggml has no ggml_set_abort_callback."""
    os.environ.setdefault("GGML_NO_BACKTRACE", "1")
    with _lock:
        if _installed:
            return True
        cb = _ABORT_CB(_on_abort)
        for base in _ggml_bases():
            setter = getattr(base, "ggml_set_abort_callback", None)
            if setter is not None:
                setter.argtypes = [_ABORT_CB]
                setter.restype = ctypes.c_void_p
                setter(cb)
                _installed.append(cb)
        if _installed:
            _install_sigabrt()
            try:
                _stderr.append(os.dup(2))
            except OSError:  # no stderr at all: fd 2 it is
                pass
        return bool(_installed)
