"""Numbers as users type and read them: token counts (``32k``), byte sizes, short counts.

One parser and one set of formatters for both front ends and every command, so ``--ctx 32k`` means
the same everywhere and a size prints the same in a table, a TUI gauge and an error message.
"""

from __future__ import annotations

import re

from localctx.errors import SettingsError

#: llama.cpp keeps n_ctx in a uint32 and pads it to 256 cells; anything above cannot be addressed
CTX_LIMIT = (1 << 32) - 256

_COUNT_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmM]?)\s*$")
_MULT = {"": 1, "k": 1024, "m": 1 << 20}


def parse_tokens(text: str, *, what: str = "context size") -> int:
    """``8192``, ``8k``, ``32K``, ``1m`` -> tokens (binary k/m, as llama.cpp users mean them).

    Raises SettingsError (exit 2) for anything else, for zero, fractions of a token, and counts
    beyond what llama.cpp can address."""
    m = _COUNT_RE.match(str(text).replace("_", "").replace(",", "")) if text is not None else None
    if not m:
        raise SettingsError(f"cannot read {what} '{text}'", "use a number of tokens such as 65536, 8k, 128k or 1m")
    n = float(m.group(1)) * _MULT[m.group(2).lower()]
    if n <= 0:
        raise SettingsError(f"{what} must be greater than 0 (got '{text}')", "use e.g. 8k or 65536")
    if n != int(n):
        raise SettingsError(f"{what} must be a whole number of tokens (got '{text}')", "use e.g. 8k or 65536")
    if n > CTX_LIMIT:
        raise SettingsError(f"{what} {int(n):,} is beyond what llama.cpp can address ({CTX_LIMIT:,} tokens)",
                            "use a smaller context, e.g. 128k")
    return int(n)


def try_parse_tokens(text: str) -> int | None:
    """parse_tokens for live input (a TUI field being typed): None instead of an error."""
    try:
        return parse_tokens(text)
    except SettingsError:
        return None


_BYTES_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([kKmMgGtT]?)(?:i?[bB])?\s*$")
_BYTE_MULT = {"": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}


def parse_bytes(text: str, *, what: str = "size") -> int:
    """``512M``, ``8G``, ``16GiB``, ``1.5g``, ``4096`` -> bytes (binary units); SettingsError otherwise."""
    m = _BYTES_RE.match(str(text))
    if not m:
        raise SettingsError(f"cannot read {what} '{text}'", "use a size such as 8G, 512M or 16GiB")
    n = int(float(m.group(1)) * _BYTE_MULT[m.group(2).lower()])
    if n <= 0:
        raise SettingsError(f"{what} must be greater than 0 (got '{text}')")
    return n


def human_bytes(n: float | int | None) -> str:
    """Binary units with two decimals (``1.50 GiB``); ``-`` for unknown."""
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(n) < 1024 or unit == "TiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.2f} {unit}"
        n /= 1024
    return f"{n:.2f} TiB"


def human_count(n: int | None) -> str:
    """Decimal short counts for parameters (``134.5M``); ``-`` for unknown."""
    if n is None:
        return "-"
    for unit, div in (("B", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= div:
            return f"{n / div:.1f}{unit}"
    return str(n)


def gib(n: int | None) -> str:
    """Bytes as GiB with two decimals, the unit of memory verdicts."""
    return "?" if n is None else f"{n / (1 << 30):.2f} GiB"
