"""This machine's speed per weight multiply-add, by ggml type.

Measured by the kernel probe (a small random-weight model quantised to each type and timed with the
user's settings), used to carry a calibration from one model to another: llama.cpp's CPU kernels
differ several-fold in speed per multiply-add between quant types.  Pure: no llama.cpp, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from localctx.core.ggml_types import quant_sizes, type_id


def bits_per_weight(type_name: str) -> float | None:
    """Bits per element of a ggml type (None: not a type this gguf knows)."""
    try:
        block, size = quant_sizes()[type_id(type_name)]
    except (KeyError, ValueError):
        return None
    return 8.0 * size / block


@dataclass(frozen=True)
class KernelCosts:
    """ms per weight multiply-add by ggml type name, for prompt work (a micro-batch) and generation
    (one token), measured on one machine with one set of speed settings."""

    per_mac: dict[str, dict[str, float]]  # kind -> type name -> ms per multiply-add

    def cost(self, kind: str, type_name: str) -> float | None:
        """The measured cost of a type, else that of the measured type closest in bits per weight
        (kernels of one width family run at similar speed); None when nothing was measured."""
        table = self.per_mac.get(kind) or {}
        if type_name in table:
            return table[type_name]
        bits = bits_per_weight(type_name)
        near = [(abs(b - bits), t) for t in table if bits is not None and (b := bits_per_weight(t)) is not None]
        return table[min(near)[1]] if near else None

    def to_json(self) -> dict[str, Any]:
        return {"per_mac": {k: dict(v) for k, v in self.per_mac.items()}}

    @classmethod
    def from_json(cls, d: dict[str, Any]) -> KernelCosts:
        per = d["per_mac"]
        return cls({str(k): {str(t): float(c) for t, c in v.items() if float(c) > 0} for k, v in per.items()})
