"""Number formatting shared with the CLI: one formatter below both front ends (core.units)."""

from __future__ import annotations

from localctx.core.units import human_bytes, human_count, try_parse_tokens

__all__ = ["human_bytes", "human_count", "try_parse_tokens"]
