"""Per-layer facts the memory planner needs, read from the GGUF the way llama.cpp reads them: which
layers keep KV or recurrent state, head sizes, state sizes, and the settings llama.cpp would refuse."""

from __future__ import annotations

from localctx.core.ggml_types import quant_sizes, type_id
from localctx.core.model_info import ModelInfo
from localctx.core.settings import KV_TYPES, RuntimeSettings
from localctx.errors import SettingsError

QWEN_NEXT_LIKE = frozenset({"qwen3next", "qwen35", "qwen35moe"})
RWKV_ARCHS = frozenset({"rwkv6", "rwkv6qwen2", "rwkv7", "arwkv7"})


# ---- validation -----------------------------------------------------------------------------------
def block_size(type_name: str) -> int:
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
    if block_size(s.type_v) > 1 and not flash_attn and info.memory_kind != "none":
        raise SettingsError(f"a quantized V cache ({s.type_v}) requires flash attention",
                            "add -fa on, or use -ctv f16")
    if info.memory_kind in ("kv", "hybrid"):
        dims = {("K", info.head_dim_k, s.type_k), ("V", info.head_dim_v, s.type_v)}
        if info.head_dim_k_swa and info.swa_layer_indices:
            dims |= {("K", info.head_dim_k_swa, s.type_k), ("V", info.head_dim_v_swa or info.head_dim_v, s.type_v)}
        for label, dim, t in sorted(dims):
            if dim and dim % block_size(t):
                raise SettingsError(f"{label} head size {dim} is not a multiple of {t}'s block of {block_size(t)}",
                                    "choose another cache type (f16, q8_0, ...)")


# ---- per-layer facts -------------------------------------------------------------------------------
def ff(info: ModelInfo, il: int | None = None) -> int:
    v = info.n_ff
    if isinstance(v, list):
        return (v[il] if il is not None and il < len(v) else max(v, default=0)) or 0
    return v or 0


def is_mla(info: ModelInfo) -> bool:
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
        return [info.head_count_kv(il) == 0 and ff(info, il) == 0 for il in range(n)]
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


def state_sizes(info: ModelInfo) -> tuple[int, int]:
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


def attn_dims(info: ModelInfo, il: int) -> tuple[int, int]:
    """Key and value head size of a layer, as llama.cpp caches them."""
    if info.is_swa(il) and info.head_dim_k_swa:
        return info.head_dim_k_swa, info.head_dim_v_swa or info.head_dim_k_swa
    return info.head_dim_k, info.head_dim_v
