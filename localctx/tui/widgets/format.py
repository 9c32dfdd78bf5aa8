"""Number formatting shared with the CLI (one formatter, so both front ends print the same sizes)."""

from __future__ import annotations

from localctx.cli._output import human_bytes, human_count

__all__ = ["human_bytes", "human_count", "parse_tokens"]


def parse_tokens(text: str) -> int | None:
    """A token count typed by a user: ``8192``, ``8k``, ``32K``, ``1m``; None when unreadable or <= 0."""
    t = text.strip().lower().replace(",", "").replace("_", "")
    mult = 1
    if t.endswith("k"):
        t, mult = t[:-1], 1024
    elif t.endswith("m"):
        t, mult = t[:-1], 1024 * 1024
    try:
        n = int(float(t) * mult)
    except ValueError:
        return None
    return n if n > 0 else None
