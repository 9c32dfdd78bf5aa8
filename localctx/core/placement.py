"""Which device each layer lands on: llama.cpp's layer split, reproduced before loading.

llama.cpp offloads ``n_gpu_layers`` counted from the top, the output layer first (layer index
``n_layer``), so layers ``n_layer + 1 - ngl .. n_layer`` leave the CPU.  Among the offload devices
(RPC servers first, "to minimize network transfers", then this machine's GPUs) it cuts that range
by cumulative shares: the ``--tensor-split`` values when given, else each device's free memory.
Layer ``il`` goes to the first device whose cumulative share exceeds ``(il - start) / ngl``; the
arithmetic is single precision in llama.cpp, and it is here too, so a layer on a boundary lands
where llama.cpp puts it.
"""

from __future__ import annotations

import struct
from bisect import bisect_right
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class OffloadDevice:
    """A device layers can be offloaded to: a local GPU or one device of an RPC server."""

    name: str  # as llama.cpp names its buffers: "GPU0", "RPC0[10.0.0.2:50052]"
    backend: str  # "CUDA", "Metal", ..., or "RPC"
    free: int | None = None  # bytes free (None: unknown)
    total: int | None = None
    endpoint: str | None = None  # RPC servers: host:port

    @property
    def remote(self) -> bool:
        return self.endpoint is not None


def rpc_device_name(endpoint: str, index: int = 0) -> str:
    """llama.cpp's buffer name for device ``index`` of the server at ``endpoint``."""
    return f"RPC{index}[{endpoint}]"


def f32(x: float) -> float:
    return struct.unpack("f", struct.pack("f", x))[0]


def split_points(shares: Sequence[float]) -> list[float]:
    """Cumulative shares normalised to end at 1.0, in single precision as llama.cpp computes them."""
    acc, cum = 0.0, []
    for s in shares:
        acc = f32(acc + f32(s))
        cum.append(acc)
    return [f32(c / acc) if acc else 0.0 for c in cum]


def shares_for(devices: Sequence[OffloadDevice], tensor_split: Sequence[float] | None) -> list[float]:
    """The split llama.cpp uses: --tensor-split if any share is non-zero, else free memory (equal when unknown)."""
    n = len(devices)
    if tensor_split and any(tensor_split[:n]):
        return [float(x) for x in (list(tensor_split) + [0.0] * n)[:n]]
    if devices and all(d.free is not None for d in devices):
        return [float(d.free or 0) for d in devices]
    return [1.0] * n


def layer_devices(n_layer: int, ngl: int, shares: Sequence[float]) -> list[int]:
    """Device index per layer, ``n_layer + 1`` entries (the last is the output layer):
    0 = CPU, 1.. = the offload devices in order."""
    n_dev = len(shares)
    if n_dev == 0 or ngl <= 0:
        return [0] * (n_layer + 1)
    act = min(ngl, n_layer + 1)
    start = max(n_layer + 1 - act, 0)
    points = split_points(shares)
    out = []
    for il in range(n_layer + 1):
        if il < start:
            out.append(0)
            continue
        at = bisect_right(points, f32(f32(il - start) / act))
        out.append(1 + min(at, n_dev - 1))
    return out
