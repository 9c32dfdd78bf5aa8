"""What RPC servers add, and what the network costs: the honest part of a plan across machines.

llama.cpp's RPC backend sends every graph to each server and the activations between devices, with
blocking round trips, for every token generated.  So a split across machines buys memory, not speed:
published figures (llama.cpp PR #6829 and later reports) show TinyLlama at 63 tokens/s on one GPU and
42 over gigabit; prompt processing 563 -> 258 tokens/s with a remote GPU; asynchronous RPC on four
GPUs not scaling past two servers; several CPU-only servers giving no speed-up at all.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from localctx.core.memory import MemoryPlan

PUBLISHED = ("published llama.cpp RPC figures: TinyLlama 63 -> 42 tokens/s over gigabit; prompt 563 -> 258 "
             "tokens/s on a remote GPU; no gain past two servers even on GPUs; several CPU-only servers gave "
             "no speed-up. RPC is for fitting what does not fit, not for speed")
#: assumptions for the per-token network cost (stated with every forecast)
LAN_RTT_S = 0.0005  # a quiet gigabit LAN round trip
LAN_BYTES_S = 117e6  # gigabit Ethernet, payload
ROUND_TRIPS_PER_DEVICE = 3  # per token and device: inputs in, graph compute, outputs back (blocking)
F32 = 4


@dataclass(frozen=True)
class ServerShare:
    """What one RPC device holds: the memory it takes off this machine."""

    device: str
    endpoint: str
    layers: int
    weights: int
    kv: int
    compute: int
    free: int | None

    @property
    def total(self) -> int:
        return self.weights + self.kv + self.compute


@dataclass(frozen=True)
class NetworkForecast:
    servers: list[ServerShare]
    bytes_per_token: int  # activations (and logits, if a server holds the output layer) crossing per token
    round_trips_per_token: int
    seconds_per_token: float  # on the assumed LAN, network alone
    notes: list[str] = field(default_factory=list)

    @property
    def ceiling_tok_s(self) -> float:
        return 1.0 / self.seconds_per_token if self.seconds_per_token else float("inf")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["ceiling_tok_s"] = round(self.ceiling_tok_s, 1)
        for s, src in zip(d["servers"], self.servers, strict=True):
            s["total"] = src.total
        return d


def forecast(plan: MemoryPlan, n_embd: int, n_vocab: int) -> NetworkForecast | None:
    """Per-server shares and the network's per-token cost; None when no RPC server holds anything."""
    layers = plan.placement[:-1]
    remote = [(i, d) for i, d in enumerate(plan.devices) if d.endpoint and d.weights]
    if not remote:
        return None
    free = {o.name: o.free for o in plan.offload}
    servers = [ServerShare(d.device, d.endpoint or "", layers.count(i), d.weights, d.kv, d.compute,
                           free.get(d.device)) for i, d in remote]
    out_remote = bool(plan.placement) and plan.devices[plan.placement[-1]].endpoint is not None
    boundaries = len(remote) + 1  # into the first server, between servers, back to this machine
    per_token = boundaries * F32 * n_embd + (F32 * n_vocab if out_remote else 0)
    trips = ROUND_TRIPS_PER_DEVICE * len(remote)
    seconds = trips * LAN_RTT_S + per_token / LAN_BYTES_S
    notes = [f"each generated token makes ~{trips} blocking round trips to the servers and moves "
             f"{per_token / 1024:.0f} KiB" + (" (the logits come back from the server holding the output layer)"
                                               if out_remote else "")
             + f": on a gigabit LAN ({LAN_RTT_S * 1e3:.1f} ms round trip) that alone is {seconds * 1e3:.1f} ms per "
             f"token, a ceiling of {1 / seconds:.0f} tokens/s before any compute; over Wi-Fi or a VPN multiply "
             "by 5-50", PUBLISHED]
    return NetworkForecast(servers, per_token, trips, seconds, notes)
