"""Ground truth for the memory planner: load a GGUF with llama.cpp and read what it allocated.

Tests may import llama_cpp (package code may not, except the runtime adapter).  We create the model
and context through the low-level API with llama.cpp's log captured, then parse the buffer-size
lines llama.cpp prints.  ``no_alloc`` (llama.cpp's dry-run mode) makes a 32K context cost nothing.
"""

from __future__ import annotations

import ctypes
import os
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

MIB = 1 << 20
_ECHO = bool(os.environ.get("LOCALCTX_ECHO_LLAMA_LOG"))


@dataclass
class LlamaTruth:
    """Bytes llama.cpp reported, keyed by buffer type ('CPU', 'CPU_Mapped', ...)."""

    model: dict[str, int] = field(default_factory=dict)
    kv: dict[str, int] = field(default_factory=dict)  # KV buffers (all caches together)
    rs: dict[str, int] = field(default_factory=dict)  # recurrent-state buffers
    output: dict[str, int] = field(default_factory=dict)
    compute: dict[str, int] = field(default_factory=dict)
    kv_size_lines: list[tuple[int, int, int]] = field(default_factory=list)  # (bytes, cells, layers)
    lines: list[str] = field(default_factory=list)
    n_ctx: int = 0
    error: str | None = None

    @property
    def kv_total(self) -> int:
        return sum(self.kv.values())

    @property
    def rs_total(self) -> int:
        return sum(self.rs.values())

    @property
    def compute_total(self) -> int:
        return sum(self.compute.values())

    @property
    def total(self) -> int:
        return (sum(self.model.values()) + self.kv_total + self.rs_total + sum(self.output.values())
                + self.compute_total)


_BUF = re.compile(r"^(\w+)\s*:\s*(\S+)\s+(model|KV|RS|output|compute) buffer size\s*=\s*([\d.]+) MiB")
_KVSIZE = re.compile(r"llama_kv_cache: size =\s*([\d.]+) MiB \(\s*(\d+) cells,\s*(\d+) layers")
_NCTX = re.compile(r"n_ctx\s*=\s*(\d+)")


def _mib(s: str) -> int:
    return round(float(s) * MIB)


def parse_log(text: str) -> LlamaTruth:
    t = LlamaTruth()
    for line in text.splitlines():
        t.lines.append(line)
        m = _BUF.match(line.strip())
        if m:
            _fn, buft, kind, mib = m.groups()
            bucket = {"model": t.model, "KV": t.kv, "RS": t.rs, "output": t.output, "compute": t.compute}[kind]
            bucket[buft] = bucket.get(buft, 0) + _mib(mib)
            continue
        m = _KVSIZE.search(line)
        if m:
            t.kv_size_lines.append((_mib(m.group(1)), int(m.group(2)), int(m.group(3))))
            continue
        if line.startswith("llama_context: n_ctx ") or line.startswith("llama_context: n_ctx  "):
            m = _NCTX.search(line)
            if m:
                t.n_ctx = int(m.group(1))
    return t


_KV_TYPES = {"f32": 0, "f16": 1, "q4_0": 2, "q4_1": 3, "q5_0": 6, "q5_1": 7, "q8_0": 8, "iq4_nl": 20, "bf16": 30}


def llama_truth(path: Path, *, n_ctx: int, n_seq: int = 1, kv_unified: bool = False, type_k: str = "f16",
                type_v: str = "f16", flash_attn: bool | None = False, swa_full: bool = False, n_batch: int = 512,
                n_ubatch: int = 512, embeddings: bool = False, no_alloc: bool = True) -> LlamaTruth:
    """Create model + context with llama.cpp (dry run by default) and parse its allocation log."""
    import llama_cpp

    chunks: list[str] = []

    @llama_cpp.llama_log_callback
    def _cb(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        chunks.append(text.decode("utf-8", "replace"))
        if _ECHO:
            sys.stderr.write(chunks[-1])

    llama_cpp.llama_log_set(_cb, ctypes.c_void_p(0))
    model = ctx = None
    try:
        llama_cpp.llama_backend_init()
        mp = llama_cpp.llama_model_default_params()
        mp.n_gpu_layers = 0
        mp.no_alloc = no_alloc
        if no_alloc:
            mp.load_mode = llama_cpp.LLAMA_LOAD_MODE_NONE  # the dry run needs mmap off (llama.cpp asserts)
        model = llama_cpp.llama_model_load_from_file(str(path).encode(), mp)
        if not model:
            t = parse_log("".join(chunks))
            t.error = "model load failed"
            return t
        cp = llama_cpp.llama_context_default_params()
        cp.n_ctx = n_ctx
        cp.n_batch = n_batch
        cp.n_ubatch = n_ubatch
        cp.n_seq_max = n_seq
        cp.kv_unified = kv_unified
        cp.type_k = _KV_TYPES[type_k]
        cp.type_v = _KV_TYPES[type_v]
        cp.flash_attn_type = -1 if flash_attn is None else int(flash_attn)
        cp.swa_full = swa_full
        cp.embeddings = embeddings
        cp.n_threads = cp.n_threads_batch = 1
        ctx = llama_cpp.llama_init_from_model(model, cp)
        t = parse_log("".join(chunks))
        if not ctx:
            t.error = "context creation failed"
        return t
    finally:
        if ctx:
            llama_cpp.llama_free(ctx)
        if model:
            llama_cpp.llama_model_free(model)
        _keep.append(_cb)


_keep: list[object] = []  # ctypes callbacks must outlive llama.cpp's reference to them


def _quiet_cb() -> object:
    import llama_cpp

    @llama_cpp.llama_log_callback
    def cb(level: int, text: bytes, user_data: ctypes.c_void_p) -> None:
        return None

    return cb


_quiet = None


def model_size(path: Path) -> int | None:
    """llama.cpp's own count of weight bytes (llama_model_size) from a dry-run load."""
    import llama_cpp

    global _quiet
    _quiet = _quiet or _quiet_cb()

    llama_cpp.llama_log_set(_quiet, ctypes.c_void_p(0))
    mp = llama_cpp.llama_model_default_params()
    mp.n_gpu_layers = 0
    mp.no_alloc = True
    mp.load_mode = llama_cpp.LLAMA_LOAD_MODE_NONE
    model = llama_cpp.llama_model_load_from_file(str(path).encode(), mp)
    if not model:
        return None
    try:
        return int(llama_cpp.llama_model_size(model))
    finally:
        llama_cpp.llama_model_free(model)


# ---- tiny random-weight models, one per architecture family ---------------------------------------
# Tensor names and shapes are the ones this llama.cpp asks for (found by loading and reading its
# "missing tensor" / "wrong shape" errors).  Shapes are numpy order (reversed ggml ne).
E, H, HKV, HD, FF, L = 256, 4, 2, 64, 512, 6
Q, KV = H * HD, HKV * HD
SSM = {".ssm.conv_kernel": 4, ".ssm.inner_size": 2 * E, ".ssm.state_size": 16, ".ssm.time_step_rank": 16}


def _attn(q_norm: bool = False, post: bool = False, q: int = Q) -> dict[str, tuple[int, ...]]:
    t = {"attn_norm.weight": (E,), "attn_q.weight": (q, E), "attn_k.weight": (KV, E), "attn_v.weight": (KV, E),
         "attn_output.weight": (E, Q)}
    if q_norm:
        t |= {"attn_q_norm.weight": (HD,), "attn_k_norm.weight": (HD,)}
    if post:
        t |= {"post_attention_norm.weight": (E,), "post_ffw_norm.weight": (E,)}
    return t


def _ffn(ff: int = FF) -> dict[str, tuple[int, ...]]:
    return {"ffn_norm.weight": (E,), "ffn_gate.weight": (ff, E), "ffn_up.weight": (ff, E), "ffn_down.weight": (E, ff)}


def _moe(n_exp: int = 4, ff: int = 128, shared: bool = True) -> dict[str, tuple[int, ...]]:
    t = {"ffn_norm.weight": (E,), "ffn_gate_inp.weight": (n_exp, E), "ffn_gate_exps.weight": (n_exp, ff, E),
         "ffn_up_exps.weight": (n_exp, ff, E), "ffn_down_exps.weight": (n_exp, E, ff)}
    if shared:
        t |= {"ffn_gate_shexp.weight": (ff, E), "ffn_up_shexp.weight": (ff, E), "ffn_down_shexp.weight": (E, ff)}
    return t


def _mamba(group: bool = False) -> dict[str, tuple[int, ...]]:
    di = 2 * E
    if group:  # mamba2: 8 heads, 1 group, state 16
        return {"attn_norm.weight": (E,), "ssm_in.weight": (2 * di + 2 * 16 + 8, E), "ssm_conv1d.weight": (di + 32, 4),
                "ssm_conv1d.bias": (di + 32,), "ssm_dt.bias": (8,), "ssm_a": (8, 1), "ssm_d": (8, 1),
                "ssm_norm.weight": (di,), "ssm_out.weight": (E, di)}
    return {"attn_norm.weight": (E,), "ssm_in.weight": (2 * di, E), "ssm_conv1d.weight": (di, 4),
            "ssm_conv1d.bias": (di,), "ssm_x.weight": (16 + 32, di), "ssm_dt.weight": (di, 16), "ssm_dt.bias": (di,),
            "ssm_a": (di, 16), "ssm_d": (di,), "ssm_out.weight": (E, di)}


def _rwkv(v7: bool) -> dict[str, tuple[int, ...]]:
    t = {"attn_norm.weight": (E,), "attn_norm.bias": (E,), "attn_norm_2.weight": (E,), "attn_norm_2.bias": (E,),
         "time_mix_key.weight": (E, E), "time_mix_value.weight": (E, E), "time_mix_receptance.weight": (E, E),
         "time_mix_ln.weight": (E,), "time_mix_ln.bias": (E,), "time_mix_output.weight": (E, E),
         "channel_mix_lerp_k.weight": (E,)}
    if v7:
        for x, r in (("w", 32), ("a", 32), ("v", 32)):
            t |= {f"time_mix_{x}0.weight": (E,), f"time_mix_{x}1.weight": (r, E), f"time_mix_{x}2.weight": (E, r)}
        return t | {"time_mix_g1.weight": (64, E), "time_mix_g2.weight": (E, 64),
                    "time_mix_lerp_fused.weight": (6, 1, 1, E),
                    "time_mix_k_k.weight": (E,), "time_mix_k_a.weight": (E,), "time_mix_r_k.weight": (E,),
                    "channel_mix_key.weight": (4 * E, E), "channel_mix_value.weight": (E, 4 * E)}
    return t | {"time_mix_lerp_fused.weight": (5, 1, 1, E), "time_mix_w1.weight": (160, E),
                "time_mix_w2.weight": (5, E, 32),
                "time_mix_lerp_x.weight": (E,), "time_mix_first.weight": (4, 64), "time_mix_decay.weight": (E,),
                "time_mix_decay_w1.weight": (64, E), "time_mix_decay_w2.weight": (E, 64),
                "time_mix_gate.weight": (E, E),
                "channel_mix_lerp_r.weight": (E,), "channel_mix_key.weight": (896, E),
                "channel_mix_value.weight": (E, 896), "channel_mix_receptance.weight": (E, E)}


_ATTN_KV = {".attention.head_count": H, ".attention.head_count_kv": HKV, ".attention.key_length": HD,
            ".attention.value_length": HD}
_RWKV_KV = {".attention.head_count": 0, ".wkv.head_size": 64, ".attention.layer_norm_epsilon": 1e-5}
_FINAL = {"output_norm.weight": (E,)}
_FINAL_B = {"output_norm.weight": (E,), "output_norm.bias": (E,), "output.weight": (None, E),
            "token_embd_norm.weight": (E,), "token_embd_norm.bias": (E,)}

#: arch -> (family, extra metadata, global tensors besides token_embd, per-layer tensors(il))
TINY: dict[str, tuple[str, dict, dict, object]] = {
    "llama": ("dense GQA", _ATTN_KV, _FINAL, lambda i: _attn() | _ffn()),
    "qwen2": ("dense GQA", _ATTN_KV, _FINAL, lambda i: _attn() | _ffn()),
    "qwen3": ("dense GQA", _ATTN_KV, _FINAL, lambda i: _attn(q_norm=True) | _ffn()),
    "phi3": ("dense GQA", {**_ATTN_KV, ".attention.sliding_window": 128}, _FINAL,
             lambda i: {"attn_norm.weight": (E,), "attn_qkv.weight": (Q + 2 * KV, E), "attn_output.weight": (E, Q),
                        "ffn_norm.weight": (E,), "ffn_up.weight": (2 * FF, E), "ffn_down.weight": (E, FF)}),
    "gemma2": ("SWA", {**_ATTN_KV, ".attention.sliding_window": 128}, _FINAL, lambda i: _attn(post=True) | _ffn()),
    "gemma3": ("SWA", {**_ATTN_KV, ".attention.sliding_window": 128}, _FINAL,
               lambda i: _attn(q_norm=True, post=True) | _ffn()),
    "cohere2": ("SWA", {**_ATTN_KV, ".attention.sliding_window": 128, ".logit_scale": 0.125,
                        ".attention.layer_norm_epsilon": 1e-5},
                {"output_norm.weight": (E,)},
                lambda i: {k: v for k, v in (_attn() | _ffn()).items() if k != "ffn_norm.weight"}),
    "gpt-oss": ("SWA", {**_ATTN_KV, ".attention.sliding_window": 128, ".expert_count": 4, ".expert_used_count": 2,
                        ".expert_feed_forward_length": 128}, {"output_norm.weight": (E,), "output.weight": (None, E)},
                lambda i: {k: v for k, v in _attn().items()} | {
                    "post_attention_norm.weight": (E,), "attn_sinks.weight": (H,), "attn_output.bias": (E,),
                    "ffn_gate_inp.weight": (4, E), "ffn_gate_inp.bias": (4,), "ffn_gate_exps.weight": (4, 128, E),
                    "ffn_up_exps.weight": (4, 128, E), "ffn_down_exps.weight": (4, E, 128),
                    "ffn_gate_exps.bias": (4, 128), "ffn_up_exps.bias": (4, 128), "ffn_down_exps.bias": (4, E)}),
    "deepseek2": ("MLA", {".attention.head_count": H, ".attention.head_count_kv": 1, ".attention.q_lora_rank": 0,
                          ".attention.kv_lora_rank": 64,
                          ".attention.key_length": 96, ".attention.value_length": 64, ".attention.key_length_mla": 64,
                          ".attention.value_length_mla": 32, ".rope.dimension_count": 32,
                          ".leading_dense_block_count": 1, ".expert_count": 4, ".expert_used_count": 2,
                          ".expert_feed_forward_length": 128, ".expert_shared_count": 1,
                          ".expert_weights_scale": 1.0, ".expert_gating_func": 1}, _FINAL,
                  lambda i: {"attn_norm.weight": (E,), "attn_kv_a_norm.weight": (64,), "attn_q.weight": (H * 64, E),
                             "attn_kv_a_mqa.weight": (96, E), "attn_k_b.weight": (H, 64, 32),
                             "attn_v_b.weight": (H, 32, 64), "attn_output.weight": (E, H * 32)}
                  | (_ffn() if i == 0 else _moe())),
    "mamba": ("recurrent", {".attention.head_count": 0, ".feed_forward_length": 0, **SSM}, _FINAL, lambda i: _mamba()),
    "mamba2": ("recurrent", {".attention.head_count": 0, ".feed_forward_length": 0, **SSM, ".ssm.group_count": 1,
                             ".ssm.time_step_rank": 8}, _FINAL, lambda i: _mamba(group=True)),
    "rwkv6": ("recurrent", {**_RWKV_KV, ".time_mix_extra_dim": 32, ".time_decay_extra_dim": 64,
                            ".rescale_every_n_layers": 6, ".feed_forward_length": 896}, _FINAL_B,
              lambda i: _rwkv(False)),
    "rwkv7": ("recurrent", {**_RWKV_KV, ".feed_forward_length": 4 * E, ".attention.decay_lora_rank": 32,
                            ".attention.iclr_lora_rank": 32, ".attention.value_residual_mix_lora_rank": 32,
                            ".attention.gate_lora_rank": 64}, _FINAL_B, lambda i: _rwkv(True)),
    "jamba": ("hybrid", {".attention.head_count": H, ".attention.head_count_kv": [0, 0, 0, HKV, 0, 0], **SSM}, _FINAL,
              lambda i: (_attn() if i == 3 else _mamba() | {"ssm_dt_norm.weight": (16,), "ssm_b_norm.weight": (16,),
                                                           "ssm_c_norm.weight": (16,)}) | _ffn()),
    "lfm2": ("hybrid", {".attention.head_count": H, ".attention.head_count_kv": [0, 0, HKV, 0, 0, HKV],
                        ".shortconv.l_cache": 3}, {"token_embd_norm.weight": (E,)},
             lambda i: _ffn() | ({k: v for k, v in _attn(q_norm=True).items()} if i in (2, 5) else {
                 "attn_norm.weight": (E,), "shortconv.conv.weight": (E, 3), "shortconv.in_proj.weight": (3 * E, E),
                 "shortconv.out_proj.weight": (E, E)})),
    "qwen3next": ("hybrid", {**_ATTN_KV, ".ssm.conv_kernel": 4, ".ssm.inner_size": E, ".ssm.state_size": 32,
                             ".ssm.time_step_rank": 8, ".ssm.group_count": 4, ".full_attention_interval": 3,
                             ".expert_count": 4, ".expert_used_count": 2, ".expert_feed_forward_length": 128,
                             ".expert_shared_feed_forward_length": 128, ".rope.dimension_count": 16}, _FINAL,
                  lambda i: {"attn_norm.weight": (E,), "post_attention_norm.weight": (E,)}
                  | ({k: v for k, v in _attn(q_norm=True, q=2 * Q).items() if k != "attn_norm.weight"}
                     if i % 3 == 2 else {
                         "attn_qkv.weight": (2 * 128 + E, E), "attn_gate.weight": (E, E),
                         "ssm_conv1d.weight": (2 * 128 + E, 4),
                         "ssm_dt.bias": (8,), "ssm_a": (8,), "ssm_ba.weight": (16, E), "ssm_norm.weight": (32,),
                         "ssm_out.weight": (E, E)})
                  | {k: v for k, v in _moe().items() if k != "ffn_norm.weight"} | {"ffn_gate_inp_shexp.weight": (E,)}),
    "gemma3n": ("SWA, shared KV", {**_ATTN_KV, ".block_count": 24, ".attention.sliding_window": 128,
                                   ".altup.active_idx": 0, ".altup.num_inputs": 4,
                                   ".embedding_length_per_layer_input": 64, ".laurel_rank": 32},
                {"altup_proj.weight": (3, E, E), "altup_unembd_proj.weight": (3, E, E),
                 "per_layer_token_embd.weight": (None, 24 * E), "per_layer_model_proj.weight": (24 * E, E),
                 "per_layer_proj_norm.weight": (E,), "output_norm.weight": (E,)},
                lambda i: _attn(q_norm=True, post=True) | _ffn() | {
                    "inp_gate.weight": (E, E), "proj.weight": (E, E), "post_norm.weight": (E,),
                    "altup_correct_coef.weight": (4, 4), "altup_correct_scale.weight": (E,),
                    "altup_predict_coef.weight": (16, 4), "altup_router.weight": (4, E),
                    "altup_router_norm.weight": (E,), "laurel_l.weight": (64, E), "laurel_r.weight": (E, 64),
                    "laurel_post_norm.weight": (E,)}),
    "bert": ("embedding", {**_ATTN_KV, ".context_length": 2048, ".attention.layer_norm_epsilon": 1e-12,
                           ".pooling_type": 1,
                           ".attention.causal": False, "tokenizer.ggml.token_type_count": 2},
             {"position_embd.weight": (2048, E), "token_embd_norm.weight": (E,), "token_embd_norm.bias": (E,)},
             lambda i: {k: v for k, v in _attn().items() if k != "attn_norm.weight"} | {
                 "attn_output_norm.weight": (E,), "attn_output_norm.bias": (E,), "ffn_up.weight": (FF, E),
                 "ffn_down.weight": (E, FF), "layer_output_norm.weight": (E,), "layer_output_norm.bias": (E,)}),
}


def tiny_model(arch: str, folder: Path, *, vocab: int = 8192) -> Path:
    """Write the tiny ``arch`` GGUF into ``folder`` (sparse: header real, weights a hole)."""
    from tests.gguf_factory import write_gguf

    _family, extra, glob, layer = TINY[arch]
    kv = {".context_length": 32768, ".embedding_length": E, ".block_count": L, ".feed_forward_length": FF,
          ".attention.layer_norm_rms_epsilon": 1e-6, ".rope.freq_base": 10000.0, **extra}
    tensors = [("token_embd.weight", (vocab, E))]
    tensors += [(n, tuple(vocab if d is None else d for d in s)) for n, s in glob.items()]
    for i in range(kv[".block_count"]):
        tensors += [(f"blk.{i}.{n}", s) for n, s in layer(i).items()]  # type: ignore[operator]
    return write_gguf(folder / f"tiny-{arch}.gguf", arch, kv, tensors, vocab=vocab, sparse=True)


# ---- plan vs llama.cpp ------------------------------------------------------------------------------
_RS_SIZE = re.compile(r"llama_memory_recurrent: size =\s*([\d.]+) MiB.*"
                      r"R \(f32\):\s*([\d.]+) MiB, S \(f32\):\s*([\d.]+) MiB")


@dataclass
class Comparison:
    """One case: the planner's numbers beside llama.cpp's, at llama.cpp's printed precision."""

    label: str
    kv_ours: list[tuple[float, int, int]]  # (MiB rounded to 0.01, cells per stream, layers) per cache
    kv_llama: list[tuple[float, int, int]]
    rs_ours: tuple[float, float, float] | None  # (total, R, S) MiB
    rs_llama: tuple[float, float, float] | None
    weights_ours: int
    weights_llama: int | None
    output_ours: float
    output_llama: float
    compute_ours: int
    compute_llama: int
    total_ours: int
    total_llama: int

    @property
    def kv_exact(self) -> bool:
        return self.kv_ours == self.kv_llama and self.rs_ours == self.rs_llama

    @property
    def compute_err(self) -> float:
        return self.compute_ours / self.compute_llama - 1

    @property
    def total_err(self) -> float:
        return self.total_ours / self.total_llama - 1


def _r(n: int) -> float:
    return round(n / MIB, 2)


def compare(path: Path, settings: object, label: str = "") -> Comparison:
    """Plan ``settings`` (a RuntimeSettings with explicit flash_attn) and dry-run llama.cpp with the same."""
    from localctx.core.memory import plan_memory
    from localctx.core.model_info import read_model_info

    s = settings  # type: ignore[assignment]
    info = read_model_info(path)
    plan = plan_memory(info, s)  # type: ignore[arg-type]
    t = llama_truth(path, n_ctx=s.n_ctx, n_seq=s.n_seq, kv_unified=s.kv_unified, type_k=s.type_k,  # type: ignore[attr-defined]
                    type_v=s.type_v, flash_attn=s.flash_attn, swa_full=s.swa_full,  # type: ignore[attr-defined]
                    n_batch=s.n_batch, n_ubatch=s.n_ubatch)  # type: ignore[attr-defined]
    if t.error:
        raise AssertionError(f"llama.cpp refused {path.name}: {[x for x in t.lines if 'error' in x][:2]}")
    lay = plan.layout
    ours = []
    if lay.layers_full:
        ours.append((_r(plan.cpu.kv_full), lay.n_ctx_seq, lay.layers_full))
    if lay.layers_swa:
        ours.append((_r(plan.cpu.kv_swa), lay.cells_swa, lay.layers_swa))
    theirs = [(_r(b), c, n) for b, c, n in t.kv_size_lines]
    rs_line = next((m for x in t.lines if (m := _RS_SIZE.search(x))), None)
    rs_llama = tuple(float(g) for g in rs_line.groups()) if rs_line else None
    rs_ours = (_r(plan.recurrent_bytes), _r(lay.recurrent_r_bytes), _r(lay.recurrent_s_bytes)) \
        if lay.layers_recurrent else None
    weights = model_size(path)
    kv_llama = sum(b for b, _c, _n in t.kv_size_lines) + (round(rs_llama[0] * MIB) if rs_llama else 0)
    total_llama = (weights or 0) + kv_llama + sum(t.output.values()) + t.compute_total
    return Comparison(label or path.name, ours, theirs, rs_ours, rs_llama,  # type: ignore[arg-type]
                      plan.weights_bytes, weights, _r(plan.output_bytes), _r(sum(t.output.values())),
                      plan.compute_bytes, t.compute_total, plan.llama_total, total_llama)
