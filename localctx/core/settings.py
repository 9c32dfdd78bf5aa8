"""RuntimeSettings: the one typed description of how a model is to be run.

Every command that loads a model builds one of these (from flags, per-model config and defaults);
the memory planner reads it to size buffers, and the runtime adapter turns it into llama.cpp
parameters.  ``None`` always means "llama.cpp / the model decides" - never 0 or -1 sentinels.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

KvType = Literal["f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1"]
KV_TYPES: tuple[str, ...] = ("f32", "f16", "bf16", "q8_0", "q4_0", "q4_1", "iq4_nl", "q5_0", "q5_1")
RopeScaling = Literal["none", "linear", "yarn"]
#: named context-extension methods the planner knows (see core/rope.py)
EXTEND_METHODS: tuple[str, ...] = ("auto", "none", "linear", "ntk", "yarn", "kobold", "self-extend")


@dataclass(frozen=True)
class RuntimeSettings:
    # context
    n_ctx: int | None = None  # None: the model's trained context (never llama-cpp-python's 512)
    n_seq: int = 1  # parallel sequences
    kv_unified: bool = False  # one KV stream shared by all sequences (llama.cpp's --kv-unified)
    # context extension; None: from the model's GGUF
    extend: str = "auto"  # one of EXTEND_METHODS; "auto" plans only when n_ctx > trained context
    rope_scaling: RopeScaling | None = None
    rope_freq_base: float | None = None
    rope_freq_scale: float | None = None
    yarn_orig_ctx: int | None = None
    yarn_ext_factor: float | None = None
    yarn_attn_factor: float | None = None
    yarn_beta_fast: float | None = None
    yarn_beta_slow: float | None = None
    # KV cache and attention
    type_k: str = "f16"
    type_v: str = "f16"
    flash_attn: bool | None = None  # None: on where the backend has it (llama.cpp "auto")
    swa_full: bool = False  # llama-cpp-python 0.3.36 defaults to True (a full-size SWA cache); we don't
    # devices and batching
    n_gpu_layers: int | None = None  # None: all layers when a GPU backend exists, else 0
    n_threads: int | None = None
    n_batch: int = 512
    n_ubatch: int = 512
    use_mmap: bool = True
    use_mlock: bool = False
    seed: int = 0
    # machines: llama.cpp RPC servers that take layers like GPUs ("host:port,host:port"), the share of
    # the offloaded layers per offload device ("3,1"; None: by free memory), and - for planning only -
    # each server's free memory ("8G,16G"; None: ask the servers)
    rpc: str | None = None
    tensor_split: str | None = None
    rpc_mem: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # room for planner notes; not sent to llama.cpp

    def with_(self, **changes: Any) -> RuntimeSettings:
        return replace(self, **changes)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def rpc_servers(self) -> tuple[str, ...]:
        return tuple(e for e in (self.rpc or "").split(",") if e)

    @property
    def tensor_split_values(self) -> tuple[float, ...] | None:
        return tuple(float(x) for x in self.tensor_split.split(",")) if self.tensor_split else None
