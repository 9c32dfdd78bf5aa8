"""ctypes access to the ggml libraries llama.cpp itself uses, with each function's types declared once.

llama-cpp-python 0.3.36 binds none of ggml's backend-registry calls, so the probe (doctor, the planner's
GPU backends) and the RPC binding call them through ctypes.  The wheel ships ``libggml.so`` and
``libggml.so.0`` as separate copies, not links: only the soname copy is the one llama.cpp links to, and
a second copy would have its own backend registry and abort callback, unseen by llama.cpp.
"""

from __future__ import annotations

import ctypes
from pathlib import Path

import llama_cpp

LIBDIR = Path(llama_cpp.__file__).parent / "lib"
VP = ctypes.c_void_p
_SIZE_P = ctypes.POINTER(ctypes.c_size_t)
_LOADED: dict[str, ctypes.CDLL | None] = {}


def load(stem: str) -> ctypes.CDLL | None:
    """The library llama.cpp links to (``ggml``, ``ggml-base``, ``ggml-rpc``), its soname first."""
    if stem not in _LOADED:
        _LOADED[stem] = None
        for name in (f"lib{stem}.so.0", f"lib{stem}.0.dylib", f"lib{stem}.so", f"lib{stem}.dylib", f"{stem}.dll"):
            p = LIBDIR / name
            if p.exists():
                _LOADED[stem] = ctypes.CDLL(str(p))
                break
    return _LOADED[stem]


_DECLARED: set[str] = set()


def ggml() -> ctypes.CDLL | None:
    """libggml with its backend/device registry functions typed; None when it is not shipped."""
    lib = load("ggml")
    if lib is None or "ggml" in _DECLARED:
        return lib
    for fn, restype, argtypes in (
        ("ggml_backend_register", None, [VP]),
        ("ggml_backend_reg_count", ctypes.c_size_t, []),
        ("ggml_backend_reg_get", VP, [ctypes.c_size_t]),
        ("ggml_backend_reg_name", ctypes.c_char_p, [VP]),
        ("ggml_backend_reg_dev_count", ctypes.c_size_t, [VP]),
        ("ggml_backend_reg_dev_get", VP, [VP, ctypes.c_size_t]),
        ("ggml_backend_dev_count", ctypes.c_size_t, []),
        ("ggml_backend_dev_get", VP, [ctypes.c_size_t]),
        ("ggml_backend_dev_by_name", VP, [ctypes.c_char_p]),
        ("ggml_backend_dev_by_type", VP, [ctypes.c_int]),
        ("ggml_backend_dev_type", ctypes.c_int, [VP]),
        ("ggml_backend_dev_name", ctypes.c_char_p, [VP]),
        ("ggml_backend_dev_description", ctypes.c_char_p, [VP]),
        ("ggml_backend_dev_memory", None, [VP, _SIZE_P, _SIZE_P]),
    ):
        f = getattr(lib, fn)
        f.restype = restype
        f.argtypes = argtypes
    _DECLARED.add("ggml")
    return lib
