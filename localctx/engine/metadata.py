"""The GGUF metadata as llama.cpp read it, decoded without ever failing.

llama-cpp-python's ``LlamaModel.metadata()`` decodes every key and value with strict UTF-8 (a file with
one invalid byte in ``general.name`` ends the load in a ``UnicodeDecodeError``), and it keeps a value of
exactly its buffer's size cut one byte short, which can split a multi-byte character and fail the same
way.  The header checks refuse invalid UTF-8 before a load (core/gguf_checks.py); this reader is the
engine's own guarantee: the buffer is always large enough, and any byte that is not UTF-8 is replaced.
"""

from __future__ import annotations

import ctypes
import functools
from collections.abc import Callable
from typing import Any

import llama_cpp

_FIRST_BUFFER = 1024


def _text(read: Callable[[Any, int], int]) -> str:
    """Call ``read(buf, size)`` (a llama_model_meta_* function: returns the full length, like snprintf)
    with a buffer large enough for the whole value and its NUL."""
    size = _FIRST_BUFFER
    while True:
        buf = ctypes.create_string_buffer(size)
        n = int(read(buf, size))
        if n < 0:
            return ""
        if n < size:
            return buf.raw[:n].split(b"\0", 1)[0].decode("utf-8", errors="replace")
        size = n + 1


def read_metadata(model: Any) -> dict[str, str]:
    """Every key and value of a loaded ``llama_model`` (the C pointer) as text."""
    out: dict[str, str] = {}
    for i in range(int(llama_cpp.llama_model_meta_count(model))):
        key = _text(functools.partial(llama_cpp.llama_model_meta_key_by_index, model, i))
        out[key] = _text(functools.partial(llama_cpp.llama_model_meta_val_str_by_index, model, i))
    return out
