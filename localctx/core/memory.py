"""The memory planner: what llama.cpp will allocate for a model at a context, before loading it.

Pure arithmetic over ModelInfo (GGUF header + tensor table) and RuntimeSettings, written from
llama.cpp's rules (llama-context.cpp, llama-kv-cache.cpp): context padded to 256, per-stream cells,
per-layer KV heads, SWA caches of PAD(min(n_ctx_seq, n_swa*(unified?n_seq:1)+n_ubatch), 256) cells,
MLA caching K only, F32 recurrent state per sequence, the output layer offloaded first by -ngl, and
a model of the worst-case compute graph (see ``_compute_phases``).  No llama_cpp import here: the
same numbers drive `localctx estimate`, `localctx plan` and the TUI's live gauge.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from localctx.core.ggml_types import row_bytes, type_id
from localctx.core.memory_graph import compute_phases
from localctx.core.memory_layers import (
    attn_dims,
    is_mla,
    kv_layer_limit,
    recurrent_layers,
    state_sizes,
    validate,
)
from localctx.core.model_info import ModelInfo
from localctx.core.placement import OffloadDevice, layer_devices, shares_for
from localctx.core.settings import RuntimeSettings

MIB = 1 << 20
CTX_PAD = 256  # llama.cpp pads n_ctx (and SWA cache sizes) to 256 cells
PIPELINE_COPIES = 4  # GGML_SCHED_MAX_COPIES: input copies when llama.cpp pipelines across devices
F32 = 4
#: fixed costs llama.cpp does not log but a process pays: backend context / driver per device
OVERHEAD = {"CPU": 64 * MIB, "CUDA": 350 * MIB, "ROCm": 350 * MIB, "Vulkan": 256 * MIB, "Metal": 0, "RPC": 0}


def pad(n: int, to: int = CTX_PAD) -> int:
    return (n + to - 1) // to * to


@dataclass(frozen=True)
class DeviceMemory:
    """Bytes on one device, in llama.cpp's own categories (model / context / compute)."""

    device: str  # "CPU", "GPU0", "GPU1", ... or an RPC server's "RPC0[host:port]"
    weights: int = 0
    kv_full: int = 0  # full-attention KV cache
    kv_swa: int = 0  # sliding-window KV cache
    recurrent: int = 0  # recurrent (SSM / RWKV / short-conv) state
    output: int = 0  # logits/embeddings buffer (host memory)
    compute: int = 0  # worst-case graph buffer
    overhead: int = 0  # assumed fixed cost (backend/driver context); not in llama.cpp's log
    endpoint: str | None = None  # an RPC server's host:port (None: this machine)

    @property
    def kv(self) -> int:
        return self.kv_full + self.kv_swa + self.recurrent

    @property
    def llama_total(self) -> int:
        """What llama.cpp itself allocates on this device (comparable with its log)."""
        return self.weights + self.kv + self.output + self.compute

    @property
    def total(self) -> int:
        return self.llama_total + self.overhead


@dataclass(frozen=True)
class CacheLayout:
    """How the context was sized: the numbers llama.cpp prints in its context/KV log lines."""

    n_ctx: int  # padded, all streams
    n_ctx_seq: int  # cells per stream for full-attention layers
    n_stream: int
    n_seq: int
    kv_unified: bool
    n_batch: int
    n_ubatch: int
    n_outputs: int  # logits rows in the worst-case graph
    flash_attn: bool
    type_k: str
    type_v: str
    cells_swa: int  # per stream; 0 without SWA layers
    layers_full: int
    layers_swa: int
    layers_recurrent: int
    k_bytes: int
    v_bytes: int
    mla: bool
    recurrent_r_bytes: int = 0
    recurrent_s_bytes: int = 0


@dataclass(frozen=True)
class MemoryPlan:
    model: str
    arch: str
    layout: CacheLayout
    devices: list[DeviceMemory]
    n_gpu_layers: int  # layers (incl. the output layer) placed on GPUs
    gpu_backend: str | None
    compute_phases: dict[str, int] = field(default_factory=dict)  # peak candidates, largest device
    notes: list[str] = field(default_factory=list)  # assumptions stated, never silent
    offload: list[OffloadDevice] = field(default_factory=list)  # devices[1:] as planned (free memory, endpoint)
    placement: list[int] = field(default_factory=list)  # device index per layer; the last entry: the output layer

    @property
    def cpu(self) -> DeviceMemory:
        return self.devices[0]

    @property
    def gpus(self) -> list[DeviceMemory]:
        return self.devices[1:]

    def _sum(self, attr: str) -> int:
        return sum(getattr(d, attr) for d in self.devices)

    @property
    def kv_bytes(self) -> int:
        return self._sum("kv_full") + self._sum("kv_swa")

    @property
    def recurrent_bytes(self) -> int:
        return self._sum("recurrent")

    @property
    def weights_bytes(self) -> int:
        return self._sum("weights")

    @property
    def compute_bytes(self) -> int:
        return self._sum("compute")

    @property
    def output_bytes(self) -> int:
        return self._sum("output")

    @property
    def llama_total(self) -> int:
        return self._sum("llama_total")

    @property
    def total(self) -> int:
        return self._sum("total")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        for dev, src in zip(d["devices"], self.devices, strict=True):
            dev["kv"] = src.kv
            dev["total"] = src.total
            dev["llama_total"] = src.llama_total
        d["totals"] = {"weights": self.weights_bytes, "kv": self.kv_bytes, "recurrent": self.recurrent_bytes,
                       "output": self.output_bytes, "compute": self.compute_bytes, "llama_total": self.llama_total,
                       "total": self.total}
        return d


# ---- the plan --------------------------------------------------------------------------------------
def plan_memory(info: ModelInfo, settings: RuntimeSettings, *, n_gpus: int = 0,
                gpu_backend: str | None = None, offload: Sequence[OffloadDevice] | None = None) -> MemoryPlan:
    """Bytes per device llama.cpp will allocate for ``info`` under ``settings`` (see module doc).

    ``offload``: the devices layers can go to, in llama.cpp's order (RPC servers, then GPUs); by
    default ``n_gpus`` local GPUs of ``gpu_backend`` with unknown free memory (an even split)."""
    s, notes = settings, []
    fa = True if s.flash_attn is None else bool(s.flash_attn)
    if s.flash_attn is None:
        notes.append("flash attention 'auto': assumed enabled (CPU, CUDA, Metal and Vulkan support it)")
    validate(info, s, fa)
    if not info.known_arch:
        notes.append(f"architecture '{info.arch}' is unknown to localctx: assumed a decoder transformer with "
                     "full-attention KV on every layer that has KV heads, llama-style FFN")
    n_layer, e = info.n_layer, info.n_embd
    causal = info.memory_kind != "none"
    n_req = s.n_ctx if s.n_ctx is not None else info.ctx_train
    n_batch = min(n_req, s.n_batch) if causal else s.n_batch
    n_ubatch = min(n_batch, s.n_ubatch)
    n_ctx = pad(n_req)
    if s.kv_unified or s.n_seq == 1:
        n_ctx_seq, n_stream = n_ctx, 1
    else:
        n_ctx_seq = pad(n_ctx // s.n_seq)
        n_ctx, n_stream = n_ctx_seq * s.n_seq, s.n_seq
    if n_ctx != n_req:
        notes.append(f"context {n_req:,} padded to {n_ctx:,} cells (llama.cpp pads to {CTX_PAD})")

    # -- placement (core.placement): the output layer first, split among the offload devices
    if offload is None:
        offload = [OffloadDevice(f"GPU{i}", gpu_backend or "GPU") for i in range(max(n_gpus, 0))]
    offload = list(offload)
    n_gpus = len(offload)
    if n_gpus == 0:
        ngl = 0
        if s.n_gpu_layers:
            notes.append("no GPU: every layer stays on the CPU")
    else:
        want = s.n_gpu_layers
        ngl = n_layer + 1 if want is None or want < 0 else min(want, n_layer + 1)
    start = max(n_layer + 1 - ngl, 0)
    placed = layer_devices(n_layer, ngl, shares_for(offload, s.tensor_split_values))

    def dev(il: int) -> int:
        return placed[il]

    n_dev = 1 + n_gpus
    weights, kv_full, kv_swa, rec = ([0] * n_dev for _ in range(4))
    layer_bytes = info.layer_tensor_bytes or [info.tensor_bytes // max(n_layer, 1)] * n_layer
    for il, b in enumerate(layer_bytes):
        weights[dev(il)] += b
    weights[0] += info.input_tensor_bytes
    out_dev = dev(n_layer)
    weights[out_dev] += info.output_tensor_bytes
    if info.tied_embeddings and out_dev != 0:
        weights[out_dev] += info.input_tensor_bytes
        notes.append("tied embeddings: token_embd is kept on the CPU for input and copied to the GPU for output")

    # -- KV cache and recurrent state
    recur = recurrent_layers(info)
    mla = is_mla(info)
    cells_swa = 0
    if any(info.is_swa(il) for il in range(n_layer)):
        window = info.sliding_window or 0
        cells_swa = n_ctx_seq if s.swa_full else min(
            n_ctx_seq, pad(min(n_ctx_seq, window * (s.n_seq if s.kv_unified else 1) + n_ubatch)))
    kv_from = kv_layer_limit(info)
    if kv_from < n_layer:
        notes.append(f"layers {kv_from}-{n_layer - 1} reuse earlier layers' KV cache (allocate none)")
    kv_layers = [il for il in range(kv_from) if info.head_count_kv(il) > 0 and causal
                 and (not recur[il] or info.arch == "falcon-h1")]
    v_max = max((attn_dims(info, il)[1] * info.head_count_kv(il) for il in kv_layers), default=0)
    k_total = v_total = 0
    for il in kv_layers:
        hk, hv = attn_dims(info, il)
        n_kv = info.head_count_kv(il)
        cells = (cells_swa if info.is_swa(il) else n_ctx_seq) * n_stream
        k = row_bytes(type_id(s.type_k), hk * n_kv) * cells
        v = 0 if mla else row_bytes(type_id(s.type_v), (hv * n_kv) if fa else v_max) * cells
        k_total, v_total = k_total + k, v_total + v
        (kv_swa if info.is_swa(il) else kv_full)[dev(il)] += k + v
    r_elems, s_elems = state_sizes(info)
    rec_layers = [il for il in range(n_layer) if recur[il]]
    for il in rec_layers:
        rec[dev(il)] += F32 * (r_elems + s_elems) * max(1, s.n_seq)
    if mla:
        notes.append("MLA: the cache holds the compressed latent K only (V is a view of it)")

    layers_swa = sum(1 for il in kv_layers if info.is_swa(il))
    layout = CacheLayout(
        n_ctx=n_ctx, n_ctx_seq=n_ctx_seq, n_stream=n_stream, n_seq=s.n_seq, kv_unified=s.kv_unified,
        n_batch=n_batch, n_ubatch=n_ubatch, n_outputs=n_ubatch, flash_attn=fa, type_k=s.type_k, type_v=s.type_v,
        cells_swa=cells_swa, layers_full=len(kv_layers) - layers_swa, layers_swa=layers_swa,
        layers_recurrent=len(rec_layers), k_bytes=k_total, v_bytes=v_total, mla=mla,
        recurrent_r_bytes=F32 * r_elems * max(1, s.n_seq) * len(rec_layers),
        recurrent_s_bytes=F32 * s_elems * max(1, s.n_seq) * len(rec_layers),
    )

    # -- output buffer (host memory) and compute buffers
    output = [0] * n_dev
    output[0] = F32 * info.n_vocab * s.n_seq  # one logits row per sequence (encoders too, by default)
    compute = [0] * n_dev
    phases: dict[str, int] = {}
    for d in range(n_dev):
        layers = [il for il in range(n_layer) if dev(il) == d]
        holds_out = out_dev == d
        if not layers and not holds_out:
            continue
        local_gpu = d > 0 and not offload[d - 1].remote  # RPC devices take no offloaded CPU ops
        ph = compute_phases(info, layout, layers, holds_out, kv_layers, recur, offload[d - 1].backend if d else None,
                            fed=d > 0 and offload[d - 1].remote)
        if local_gpu and start > 0:  # partial offload: big-batch matmuls of CPU weights run on the GPU
            ph["offloaded_weights"] = max(layer_bytes[:start], default=0)
        compute[d] = max(ph.values())
        if local_gpu and start > 0:
            compute[d] += ph.pop("offloaded_weights")
        if not phases or compute[d] > max(phases.values()):
            phases = ph
    if n_gpus and start == 0:  # everything offloaded: the CPU still embeds the input tokens
        compute[0] = F32 * e * n_ubatch + F32 * 4 * n_ubatch
    if n_gpus and start == 0:
        # every layer offloaded: the graph's inputs stay in the CPU's buffer (ggml schedules inputs on
        # the CPU) - the residual row, the mask, the cache-row indices (I64; one per V element when
        # flash attention is off, as V is cached transposed) and small index inputs.  With several
        # devices llama.cpp also pipelines the graph and keeps PIPELINE_COPIES copies of each split's
        # inputs on every device it uses.
        v_embd = max((info.head_count_kv(il) * attn_dims(info, il)[1] for il in kv_layers), default=0)
        per_copy = F32 * n_ubatch * (e + 6) + n_ctx_seq * n_ubatch * (2 if fa else F32) \
            + (0 if fa else 8 * n_ubatch * v_embd)
        if n_gpus > 1:
            for d in range(n_dev):
                if compute[d]:
                    compute[d] += PIPELINE_COPIES * per_copy
            notes.append(f"all layers offloaded to {n_gpus} devices: llama.cpp pipelines the graph and keeps "
                         f"{PIPELINE_COPIES} copies of each device's inputs (counted in compute)")
        else:
            compute[0] += per_copy
    if ngl and start > 0 and any(not o.remote for o in offload):
        notes.append("partial offload: the GPU compute buffer includes one CPU layer's weights "
                     "(llama.cpp copies them up for large batches)")
    overhead = [OVERHEAD["CPU"]] + [OVERHEAD.get(o.backend, 256 * MIB) for o in offload]
    names = ["CPU"] + [o.name for o in offload]
    ends = [None] + [o.endpoint for o in offload]
    devices = [DeviceMemory(names[d], weights[d], kv_full[d], kv_swa[d], rec[d], output[d], compute[d], overhead[d],
                            ends[d]) for d in range(n_dev)]
    if s.use_mmap and weights[0]:
        notes.append("CPU weights are memory-mapped: counted as RAM they need resident, though the OS can evict them")
    local = [o.backend for o in offload if not o.remote]
    return MemoryPlan(str(info.path), info.arch, layout, devices, ngl, local[0] if local else None,
                      phases, notes, offload, placed)


