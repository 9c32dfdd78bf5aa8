"""ggml type tables (block size, bytes per block, names) without importing numpy.

The `gguf` package is the reference for these numbers, but `import gguf` pulls in numpy and its
reader (~0.25 s), which would eat the whole time budget of `inspect`.  Its ``constants`` module is
plain Python, so we load that one file on its own.  Checked against gguf 0.19.0.
"""

from __future__ import annotations

import importlib.util
import sys
from functools import lru_cache
from types import ModuleType


@lru_cache(maxsize=1)
def gguf_constants() -> ModuleType:
    """Return ``gguf.constants`` without executing ``gguf/__init__.py`` when possible."""
    if "gguf.constants" in sys.modules:
        return sys.modules["gguf.constants"]
    spec = importlib.util.find_spec("gguf")
    if spec is not None and spec.submodule_search_locations:
        for folder in spec.submodule_search_locations:
            path = f"{folder}/constants.py"
            sub = importlib.util.spec_from_file_location("_localctx_gguf_constants", path)
            if sub is not None and sub.loader is not None:
                module = importlib.util.module_from_spec(sub)
                try:
                    sub.loader.exec_module(module)
                except FileNotFoundError:
                    continue
                return module
    import gguf.constants  # fallback: the ordinary (slower) import

    return gguf.constants


def quant_sizes() -> dict[int, tuple[int, int]]:
    """ggml type id -> (elements per block, bytes per block)."""
    c = gguf_constants()
    return {int(k): v for k, v in c.GGML_QUANT_SIZES.items()}


def type_name(type_id: int) -> str:
    c = gguf_constants()
    try:
        return c.GGMLQuantizationType(type_id).name
    except ValueError:
        return f"type{type_id}"


def type_id(name: str) -> int:
    """ggml type id for a name such as 'q8_0' or 'F16' (case-insensitive)."""
    c = gguf_constants()
    return int(c.GGMLQuantizationType[name.upper()])


def row_bytes(type_id_: int, n_elements: int) -> int:
    """Bytes of a row of ``n_elements`` of a type (ggml_row_size); n must be a block multiple."""
    block, size = quant_sizes()[type_id_]
    return n_elements // block * size


def file_type_name(ftype: int | None) -> str | None:
    """'general.file_type' (llama_ftype) -> short quant label, e.g. 'Q4_K_M'."""
    if ftype is None:
        return None
    c = gguf_constants()
    try:
        name = c.LlamaFileType(ftype).name
    except ValueError:
        return f"ftype{ftype}"
    for prefix in ("MOSTLY_", "ALL_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
    return name
