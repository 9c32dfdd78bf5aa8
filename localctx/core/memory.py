"""The memory planner: what llama.cpp will allocate for a model at a context, before loading it.

Pure arithmetic over ModelInfo (GGUF header + tensor table) and RuntimeSettings, written from
llama.cpp's rules (shared/research/memory-estimation.md §2): context padded to 256, per-stream cells,
per-layer KV heads, SWA caches of PAD(min(n_ctx_seq, n_swa*(unified?n_seq:1)+n_ubatch), 256) cells,
MLA caching K only, F32 recurrent state per sequence, the output layer offloaded first by -ngl, and
a model of the worst-case compute graph (see ``_compute_phases``).  No llama_cpp import here: the
same numbers drive `localctx estimate`, `localctx plan` and the TUI's live gauge.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from localctx.core.ggml_types import quant_sizes, row_bytes, type_id
from localctx.core.model_info import ModelInfo
from localctx.core.settings import KV_TYPES, RuntimeSettings
from localctx.errors import SettingsError

MIB = 1 << 20
CTX_PAD = 256  # llama.cpp pads n_ctx (and SWA cache sizes) to 256 cells
F32 = 4
#: fixed costs llama.cpp does not log but a process pays: backend context / driver per device
OVERHEAD = {"CPU": 64 * MIB, "CUDA": 350 * MIB, "ROCm": 350 * MIB, "Vulkan": 256 * MIB, "Metal": 0}
QWEN_NEXT_LIKE = frozenset({"qwen3next", "qwen35", "qwen35moe"})
RWKV_ARCHS = frozenset({"rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"})


def pad(n: int, to: int = CTX_PAD) -> int:
    return (n + to - 1) // to * to


@dataclass(frozen=True)
class DeviceMemory:
    """Bytes on one device, in llama.cpp's own categories (model / context / compute)."""

    device: str  # "CPU" or "GPU0", "GPU1", ...
    weights: int = 0
    kv_full: int = 0  # full-attention KV cache
    kv_swa: int = 0  # sliding-window KV cache
    recurrent: int = 0  # recurrent (SSM / RWKV / short-conv) state
    output: int = 0  # logits/embeddings buffer (host memory)
    compute: int = 0  # worst-case graph buffer
    overhead: int = 0  # assumed fixed cost (backend/driver context); not in llama.cpp's log

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
        for dev, src in zip(d["devices"], self.devices):
            dev["kv"] = src.kv
            dev["total"] = src.total
            dev["llama_total"] = src.llama_total
        d["totals"] = {"weights": self.weights_bytes, "kv": self.kv_bytes, "recurrent": self.recurrent_bytes,
                       "output": self.output_bytes, "compute": self.compute_bytes, "llama_total": self.llama_total,
                       "total": self.total}
        return d


# ---- validation -----------------------------------------------------------------------------------
def _block(type_name: str) -> int:
    return quant_sizes()[type_id(type_name)][0]


def validate(info: ModelInfo, s: RuntimeSettings, flash_attn: bool) -> None:
    """Reject what llama.cpp would reject, with one line that says what to do."""
    n_ctx = s.n_ctx if s.n_ctx is not None else info.ctx_train
    if n_ctx is None or n_ctx <= 0:
        raise SettingsError(f"context size must be a positive number of tokens, got {n_ctx}",
                            "pass e.g. --ctx 8192" if s.n_ctx is not None else "the GGUF states no context length")
    for label, t in (("K", s.type_k), ("V", s.type_v)):
        if t not in KV_TYPES:
            raise SettingsError(f"unknown {label} cache type '{t}'", f"use one of: {', '.join(KV_TYPES)}")
    if s.n_seq < 1 or s.n_batch < 1 or s.n_ubatch < 1:
        raise SettingsError("parallel sequences, batch and ubatch must be at least 1")
    if _block(s.type_v) > 1 and not flash_attn and info.memory_kind != "none":
        raise SettingsError(f"a quantized V cache ({s.type_v}) requires flash attention",
                            "add -fa on, or use -ctv f16")
    if info.memory_kind in ("kv", "hybrid"):
        dims = {("K", info.head_dim_k, s.type_k), ("V", info.head_dim_v, s.type_v)}
        if info.head_dim_k_swa and info.swa_layer_indices:
            dims |= {("K", info.head_dim_k_swa, s.type_k), ("V", info.head_dim_v_swa or info.head_dim_v, s.type_v)}
        for label, dim, t in sorted(dims):
            if dim and dim % _block(t):
                raise SettingsError(f"{label} head size {dim} is not a multiple of {t}'s block of {_block(t)}",
                                    "choose another cache type (f16, q8_0, ...)")


# ---- per-layer facts -------------------------------------------------------------------------------
def _ff(info: ModelInfo, il: int | None = None) -> int:
    v = info.n_ff
    if isinstance(v, list):
        return (v[il] if il is not None and il < len(v) else max(v, default=0)) or 0
    return v or 0


def _is_mla(info: ModelInfo) -> bool:
    return bool(info.head_dim_k_mla and info.head_dim_v_mla)


def recurrent_layers(info: ModelInfo) -> list[bool]:
    """Which layers keep recurrent state instead of (or, for falcon-h1, besides) attention KV."""
    n = info.n_layer
    if info.memory_kind == "recurrent":
        return [True] * n
    if info.memory_kind != "hybrid":
        return [False] * n
    if info.arch == "falcon-h1":
        return [True] * n
    md = info.metadata.get(f"{info.arch}.attention.recurrent_layers")
    if isinstance(md, list) and len(md) == n:
        return [bool(x) for x in md]
    if info.arch in QWEN_NEXT_LIKE:
        k = info.ssm.get("full_attention_interval") or 4
        return [(il + 1) % k != 0 for il in range(n)]
    if info.arch.startswith("nemotron_h"):
        return [info.head_count_kv(il) == 0 and _ff(info, il) == 0 for il in range(n)]
    return [info.head_count_kv(il) == 0 for il in range(n)]


def kv_layer_limit(info: ModelInfo) -> int:
    """Layers at or above this index share an earlier layer's cache (gemma3n: 20; gemma4-style
    ``attention.shared_kv_layers``), so llama.cpp allocates KV only below it."""
    shared = info.metadata.get(f"{info.arch}.attention.shared_kv_layers")
    if isinstance(shared, int) and 0 < shared < info.n_layer:
        return info.n_layer - shared
    if info.arch == "gemma3n":
        return min(info.n_layer, 20)
    return info.n_layer


def _state_sizes(info: ModelInfo) -> tuple[int, int]:
    """(n_embd_r, n_embd_s) in F32 elements per sequence per recurrent layer (llama_hparams)."""
    ssm, e = info.ssm, info.n_embd
    if info.arch in RWKV_ARCHS:
        head = ssm.get("head_size", 64)
        return (ssm.get("token_shift_count") or 2) * e, e * head
    if "l_cache" in ssm:  # lfm2 short convolution
        return e * (ssm["l_cache"] - 1), 0
    d_conv, d_inner = ssm.get("conv_kernel", 0), ssm.get("inner_size", 0)
    d_state, n_group = ssm.get("state_size", 0), ssm.get("group_count", 0)
    r = max(d_conv - 1, 0) * (d_inner + 2 * n_group * d_state)
    return r, d_state * d_inner


def _attn_dims(info: ModelInfo, il: int) -> tuple[int, int]:
    """Key and value head size of a layer, as llama.cpp caches them."""
    if info.is_swa(il) and info.head_dim_k_swa:
        return info.head_dim_k_swa, info.head_dim_v_swa or info.head_dim_k_swa
    return info.head_dim_k, info.head_dim_v


# ---- the plan --------------------------------------------------------------------------------------
def plan_memory(info: ModelInfo, settings: RuntimeSettings, *, n_gpus: int = 0,
                gpu_backend: str | None = None) -> MemoryPlan:
    """Bytes per device llama.cpp will allocate for ``info`` under ``settings`` (see module doc)."""
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

    # -- placement: the output layer (index n_layer) goes to the GPU first
    n_gpus = max(n_gpus, 0)
    if n_gpus == 0:
        ngl = 0
        if s.n_gpu_layers:
            notes.append("no GPU: every layer stays on the CPU")
    else:
        want = s.n_gpu_layers
        ngl = n_layer + 1 if want is None or want < 0 else min(want, n_layer + 1)
    start = max(n_layer + 1 - ngl, 0)

    def dev(il: int) -> int:
        return 0 if il < start else 1 + (il - start) * n_gpus // max(ngl, 1)

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
    mla = _is_mla(info)
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
    v_max = max((_attn_dims(info, il)[1] * info.head_count_kv(il) for il in kv_layers), default=0)
    k_total = v_total = 0
    for il in kv_layers:
        hk, hv = _attn_dims(info, il)
        n_kv = info.head_count_kv(il)
        cells = (cells_swa if info.is_swa(il) else n_ctx_seq) * n_stream
        k = row_bytes(type_id(s.type_k), hk * n_kv) * cells
        v = 0 if mla else row_bytes(type_id(s.type_v), (hv * n_kv) if fa else v_max) * cells
        k_total, v_total = k_total + k, v_total + v
        (kv_swa if info.is_swa(il) else kv_full)[dev(il)] += k + v
    r_elems, s_elems = _state_sizes(info)
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
        ph = _compute_phases(info, layout, layers, holds_out, kv_layers, recur, gpu_backend if d else None)
        if d and start > 0:  # partial offload: big-batch matmuls of CPU weights run on the GPU
            ph["offloaded_weights"] = max(layer_bytes[:start], default=0)
        compute[d] = max(ph.values())
        if d and start > 0:
            compute[d] += ph.pop("offloaded_weights")
        if not phases or compute[d] > max(phases.values()):
            phases = ph
    if n_gpus and start == 0:  # everything offloaded: the CPU still embeds the input tokens
        compute[0] = F32 * e * n_ubatch + F32 * 4 * n_ubatch
    if ngl and start > 0:
        notes.append("partial offload: the GPU compute buffer includes one CPU layer's weights "
                     "(llama.cpp copies them up for large batches)")
    backend = gpu_backend or "GPU"
    overhead = [OVERHEAD["CPU"]] + [OVERHEAD.get(backend, 256 * MIB)] * n_gpus
    names = ["CPU"] + [f"GPU{i}" for i in range(n_gpus)]
    devices = [DeviceMemory(names[d], weights[d], kv_full[d], kv_swa[d], rec[d], output[d], compute[d], overhead[d])
               for d in range(n_dev)]
    if s.use_mmap and weights[0]:
        notes.append("CPU weights are memory-mapped: counted as RAM they need resident, though the OS can evict them")
    return MemoryPlan(str(info.path), info.arch, layout, devices, ngl, gpu_backend if n_gpus else None,
                      phases, notes)


def _compute_phases(info: ModelInfo, lay: CacheLayout, layers: list[int], holds_out: bool,
                    kv_layers: list[int], recur: list[bool], backend: str | None) -> dict[str, int]:
    """Peak candidates of llama.cpp's worst-case graph (one ubatch of T tokens) on one device.

    ggml's allocator frees a tensor after its last consumer, so the buffer is the largest set of
    tensors alive at once.  Measured against llama.cpp's log, the live sets are:
    masks (inputs, alive through every layer: F32, or F16 with flash attention; one per cache);
    attention: KQ scores H*n_kv*T (F32, without flash attention; softmax runs in place) plus the
    residual, norm and output rows (3E), Q before/after RoPE (2*Q) and the new K and V rows;
    FFN: see ``_ffn_rows``;
    output: logits n_vocab*n_outputs plus three E-rows.
    """
    t, e = lay.n_ubatch, info.n_embd
    per = 2 if lay.flash_attn else F32
    causal = info.memory_kind != "none"
    mine = set(layers)
    attn_layers = [il for il in kv_layers if il in mine] if causal else layers
    masks = 0
    if causal:
        if any(not info.is_swa(il) for il in attn_layers):
            masks += lay.n_ctx_seq * t * per
        if any(info.is_swa(il) for il in attn_layers):
            masks += lay.cells_swa * t * per
    else:
        masks = t * t * per
    ph: dict[str, int] = {}
    if attn_layers:
        best = 0
        for il in attn_layers:
            hk, hv = _attn_dims(info, il)
            h, n_kv = info.head_count(il) or 1, info.head_count_kv(il)
            if _is_mla(info):
                hk, hv = info.head_dim_k_mla or hk, info.head_dim_v_mla or hv
            # residual, norm, attention output + Q before/after RoPE + new K and V rows; an encoder
            # (no KV cache) reads K and V as views of its projections and needs one E-row less
            rows = (3 * e + 2 * h * hk if causal else 2 * e + h * hk) + n_kv * (hk + hv)
            cells = (lay.cells_swa if info.is_swa(il) else lay.n_ctx_seq) if causal else t
            kq = 0 if lay.flash_attn else F32 * h * cells * t
            tmp = 0
            if backend == "CUDA" and lay.flash_attn and (lay.type_k != "f16" or lay.type_v != "f16"):
                tmp = 2 * cells * n_kv * (hk + hv)  # F16 copies of a quantized layer's K and V
            best = max(best, F32 * t * rows + kq + tmp)
        ph["attention"] = masks + best
    if layers:
        ph["ffn"] = masks + F32 * t * max(_ffn_rows(info, il) for il in layers)
        if any(recur[il] for il in layers):
            ph["recurrent"] = masks + F32 * t * _recurrent_rows(info)
    if holds_out:
        rows_out = info.n_vocab if causal else 0
        ph["output"] = F32 * (rows_out * lay.n_outputs + 3 * e * t)
    return ph


def _ffn_rows(info: ModelInfo, il: int) -> int:
    """Live F32 rows per token in a layer's FFN.

    Gated (SwiGLU/GeGLU): gate, up and their product (3F) plus the residual row, and up to three
    freed E-rows that cannot hold an F-sized block (min(3E, F)) - measured exactly on dense models
    with F from E to 16E.  MoE: F = n_used * expert_ff (+ shared experts), plus the n_used
    per-expert down outputs (E each) and the router's logits/probabilities.  Encoders (ungated, no
    KV): up (F) plus residual, norm and down output (3E).
    """
    e, md, a = info.n_embd, info.metadata, info.arch
    if info.memory_kind == "none":
        return 3 * e + _ff(info, il)
    n_exp, n_used = info.n_expert, info.n_expert_used
    ff_exp = md.get(f"{a}.expert_feed_forward_length")
    lead = md.get(f"{a}.leading_dense_block_count")
    if n_exp and n_used and isinstance(ff_exp, int) and not (isinstance(lead, int) and il < lead):
        ff_sh = md.get(f"{a}.expert_shared_feed_forward_length")
        n_sh = md.get(f"{a}.expert_shared_count")
        n_sh = n_sh if isinstance(n_sh, int) else (1 if isinstance(ff_sh, int) else 0)
        f = n_used * ff_exp + n_sh * (ff_sh if isinstance(ff_sh, int) else ff_exp)
        return e + 3 * f + min(3 * e, f) + n_used * e + 2 * n_exp
    f = _ff(info, il)
    return e + 3 * f + min(3 * e, f)


def _recurrent_rows(info: ModelInfo) -> int:
    """Live F32 rows per token in a recurrent block (projections, conv window, scan output)."""
    e, ssm = info.n_embd, info.ssm
    if info.arch in RWKV_ARCHS:
        # token-shift lerps (5-6 E), r/k/v/g/w (5 E), output; RWKV-7 adds its a/v/g LoRA branches and kk
        return 20 * e if info.arch in ("rwkv7", "arwkv7") else 12 * e
    if "l_cache" in ssm:
        return 6 * e  # in_proj (3E), conv, gating, out_proj
    d_inner = ssm.get("inner_size", 2 * e)
    extra = 2 * ssm.get("group_count", 0) * ssm.get("state_size", 0)
    # in_proj (x and z: 2 D), conv window, conv out, dt, scan output, gated output (6 D) + B/C + residual
    return 6 * d_inner + 2 * extra + e
