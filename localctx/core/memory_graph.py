"""The worst-case compute graph, modelled per device: the largest set of tensors ggml's allocator keeps
alive at once in llama.cpp's reserve graph (one ubatch), measured against llama.cpp's own log."""

from __future__ import annotations

from typing import TYPE_CHECKING

from localctx.core.memory_layers import RWKV_ARCHS, attn_dims, ff, is_mla
from localctx.core.model_info import ModelInfo

if TYPE_CHECKING:
    from localctx.core.memory import CacheLayout

F32 = 4


def compute_phases(info: ModelInfo, lay: CacheLayout, layers: list[int], holds_out: bool,
                    kv_layers: list[int], recur: list[bool], backend: str | None, *,
                    fed: bool = False) -> dict[str, int]:
    """Peak candidates of llama.cpp's worst-case graph (one ubatch of T tokens) on one device.

    ggml's allocator frees a tensor after its last consumer, so the buffer is the largest set of
    tensors alive at once.  Measured against llama.cpp's log, the live sets are:
    masks (inputs, alive through every layer: F32, or F16 with flash attention; one per cache);
    attention: KQ scores H*n_kv*T (F32, without flash attention; softmax runs in place) plus the
    residual, norm and output rows (3E), Q before/after RoPE (2*Q) and the new K and V rows;
    FFN: see ``_ffn_rows``;
    output: logits n_vocab*n_outputs plus three E-rows.

    ``fed``: a device whose graph split starts from another device's output (an RPC server holding
    a slice of the layers).  Its allocator starts from the copied-in residual only, so the FFN keeps
    one freed E-row instead of three, attention two E-rows instead of three, and the output phase one
    E-row beside the logits (measured on RPC devices against llama.cpp's log).
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
            hk, hv = attn_dims(info, il)
            h, n_kv = info.head_count(il) or 1, info.head_count_kv(il)
            if is_mla(info):
                hk, hv = info.head_dim_k_mla or hk, info.head_dim_v_mla or hv
            # residual, norm, attention output + Q before/after RoPE + new K and V rows; an encoder
            # (no KV cache) reads K and V as views of its projections and needs one E-row less
            rows = ((2 if fed else 3) * e + 2 * h * hk if causal else 2 * e + h * hk) + n_kv * (hk + hv)
            cells = (lay.cells_swa if info.is_swa(il) else lay.n_ctx_seq) if causal else t
            kq = 0 if lay.flash_attn else F32 * h * cells * t
            tmp = 0
            if backend == "CUDA" and lay.flash_attn and (lay.type_k != "f16" or lay.type_v != "f16"):
                tmp = 2 * cells * n_kv * (hk + hv)  # F16 copies of a quantized layer's K and V
            best = max(best, F32 * t * rows + kq + tmp)
        ph["attention"] = masks + best
    if layers:
        ph["ffn"] = masks + F32 * t * max(_ffn_rows(info, il, 1 if fed else 3) for il in layers)
        if any(recur[il] for il in layers):
            ph["recurrent"] = masks + F32 * t * _recurrent_rows(info)
    if holds_out:
        rows_out = info.n_vocab if causal else 0
        ph["output"] = F32 * (rows_out * lay.n_outputs + (1 if fed else 3) * e * t)
    return ph


def _ffn_rows(info: ModelInfo, il: int, freed: int = 3) -> int:
    """Live F32 rows per token in a layer's FFN.

    Gated (SwiGLU/GeGLU): gate, up and their product (3F) plus the residual row, and up to three
    freed E-rows that cannot hold an F-sized block (min(3E, F)) - measured exactly on dense models
    with F from E to 16E.  MoE: F = n_used * expert_ff (+ shared experts), plus the n_used
    per-expert down outputs (E each) and the router's logits/probabilities.  Encoders (ungated, no
    KV): up (F) plus residual, norm and down output (3E).
    """
    e, md, a = info.n_embd, info.metadata, info.arch
    if info.memory_kind == "none":
        return 3 * e + ff(info, il)
    n_exp, n_used = info.n_expert, info.n_expert_used
    ff_exp = md.get(f"{a}.expert_feed_forward_length")
    lead = md.get(f"{a}.leading_dense_block_count")
    if n_exp and n_used and isinstance(ff_exp, int) and not (isinstance(lead, int) and il < lead):
        ff_sh = md.get(f"{a}.expert_shared_feed_forward_length")
        n_sh = md.get(f"{a}.expert_shared_count")
        n_sh = n_sh if isinstance(n_sh, int) else (1 if isinstance(ff_sh, int) else 0)
        f = n_used * ff_exp + n_sh * (ff_sh if isinstance(ff_sh, int) else ff_exp)
        return e + 3 * f + min(freed * e, f) + n_used * e + 2 * n_exp
    f = ff(info, il)
    return e + 3 * f + min(freed * e, f)


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
