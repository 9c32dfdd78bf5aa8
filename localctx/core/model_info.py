"""ModelInfo: everything localctx needs from a GGUF, derived once from its header.

Every later step (memory planning, RoPE planning, inspect, the catalog) reads this object rather
than raw metadata keys, so the rules for defaults live in one place.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from localctx.core import arch as archmod
from localctx.core.ggml_types import file_type_name, type_name
from localctx.core.gguf_checks import check_header
from localctx.core.gguf_reader import GGUFHeader, SkippedArray, read_gguf_header
from localctx.errors import GGUFError

MAX_LAYERS = 512  # LLAMA_MAX_LAYERS
MAX_DIM = 1 << 20


@dataclass(frozen=True)
class RopeInfo:
    """RoPE as the GGUF states it (None: the key is absent)."""

    dimension_count: int | None
    freq_base: float | None
    freq_scale: float | None  # derived from scaling.factor when linear/yarn
    scaling_type: str | None  # none | linear | yarn | longrope | llama3(freqs tensor)
    scaling_factor: float | None
    original_context: int | None
    scaling_keys: dict[str, Any]  # every '<arch>.rope.scaling.*' key as found
    has_freq_factors: bool  # a rope_freqs.weight tensor (llama3-style / longrope)
    rope_type: str  # norm | neox | mrope | none, llama.cpp's per-arch choice


@dataclass(frozen=True)
class ModelInfo:
    path: Path
    file_size: int
    arch: str
    name: str | None
    n_params: int
    file_type: str | None
    tensor_bytes_by_type: dict[str, int]
    ctx_train: int
    n_layer: int
    n_embd: int
    n_head: int | list[int]
    n_head_kv: int | list[int]
    head_dim_k: int
    head_dim_v: int
    head_dim_k_swa: int | None
    head_dim_v_swa: int | None
    head_dim_k_mla: int | None
    head_dim_v_mla: int | None
    n_ff: int | list[int] | None
    n_vocab: int
    n_expert: int
    n_expert_used: int
    sliding_window: int | None
    swa_layers: list[bool]
    swa_note: str
    memory_kind: str
    ssm: dict[str, int]
    rope: RopeInfo
    has_chat_template: bool
    chat_template: str | None
    tied_embeddings: bool
    known_arch: bool
    missing: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # raw access for the planners (small arrays decoded; large ones summarised)
    metadata: dict[str, Any] = field(default_factory=dict, repr=False)
    tensor_bytes: int = 0
    n_tensors: int = 0
    # tensor bytes by where llama.cpp places them (for the memory planner's -ngl split): per 'blk.N.'
    # layer, the input layer (token/position embeddings, always on the CPU) and the output layer
    layer_tensor_bytes: list[int] = field(default_factory=list, repr=False)
    input_tensor_bytes: int = 0
    output_tensor_bytes: int = 0
    # weight-matrix elements by ggml type, for the speed forecast (llama.cpp's CPU kernels differ in
    # speed per multiply-add by type): the blocks' 2-D+ tensors, and the output (logits) matrix
    block_matrix_params: dict[str, int] = field(default_factory=dict, repr=False)
    output_matrix_params: dict[str, int] = field(default_factory=dict, repr=False)

    # ---- per-layer helpers -------------------------------------------------------------------
    def head_count_kv(self, il: int) -> int:
        v = self.n_head_kv
        return v[il] if isinstance(v, list) else v

    def head_count(self, il: int) -> int:
        v = self.n_head
        return v[il] if isinstance(v, list) else v

    def is_swa(self, il: int) -> bool:
        return bool(self.swa_layers[il]) if il < len(self.swa_layers) else False

    @property
    def swa_layer_indices(self) -> list[int]:
        return [i for i, s in enumerate(self.swa_layers) if s]

    @property
    def quant(self) -> str:
        return self.file_type or _guess_quant(self.path.name) or "?"

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("metadata")
        d["path"] = str(self.path)
        d.pop("chat_template")
        d["swa_layer_indices"] = self.swa_layer_indices
        return d


_QUANT_RE = re.compile(r"(?i)(IQ\d_[A-Z]+|Q\d_K(?:_[SML])?|Q\d_\d|BF16|F16|F32|Q8_0|MXFP4)")


def _guess_quant(filename: str) -> str | None:
    m = _QUANT_RE.findall(filename)
    return m[-1].upper() if m else None


def _int(v: Any) -> int | None:
    if isinstance(v, bool):
        return int(v)
    if isinstance(v, int):
        return v
    return None


def _int_or_list(v: Any) -> int | list[int] | None:
    if isinstance(v, list) and all(isinstance(x, int) for x in v):
        return list(v)
    return _int(v)


# llama.cpp's rope type per architecture (llama_model_rope_type): NEOX for these, NORM otherwise
_NEOX = {
    "qwen", "qwen2", "qwen2moe", "qwen3", "qwen3moe", "qwen3next", "phi2", "phi3", "phimoe", "gemma",
    "gemma2", "gemma3", "gemma3n", "stablelm", "starcoder2", "falcon", "gpt-oss", "olmo2", "cohere2",
    "command-r", "exaone4", "smollm3", "glm4", "glm4moe", "internlm2", "minicpm3", "plamo", "dbrx",
    "bitnet", "codeshell", "openelm", "gptneox", "nemotron", "exaone", "lfm2", "lfm2moe",
}
_MROPE = {"qwen2vl", "qwen25vl", "qwen3vl", "qwen3vlmoe"}


def rope_type(arch: str, memory_kind: str) -> str:
    if memory_kind in ("recurrent",) or arch in archmod.NO_KV_ARCHS and arch.endswith("bert"):
        return "none"
    if arch in _MROPE:
        return "mrope"
    if arch in _NEOX:
        return "neox"
    return "norm"


def model_info_from_header(h: GGUFHeader) -> ModelInfo:
    md = h.metadata
    arch = md.get("general.architecture")
    if not isinstance(arch, str) or not arch:
        raise GGUFError(h.path, "has no general.architecture key", "this GGUF cannot be loaded by llama.cpp")
    check_header(h)
    a = arch
    missing: list[str] = []
    notes: list[str] = []

    def key(k: str) -> Any:
        return md.get(f"{a}.{k}")

    n_layer = _int(key("block_count"))
    if n_layer is None:
        missing.append(f"{a}.block_count")
        n_layer = max((int(m.group(1)) + 1 for t in h.tensors if (m := re.match(r"blk\.(\d+)\.", t.name))), default=0)
    if n_layer == 0 and h.tensors and _int(key("block_count")) == 0:
        raise GGUFError(h.path, f"{a}.block_count is 0; llama.cpp asserts on a model without layers",
                        "the file is damaged")
    if not 0 <= n_layer <= MAX_LAYERS:
        raise GGUFError(h.path, f"{a}.block_count is {n_layer}; llama.cpp supports at most {MAX_LAYERS} layers",
                        "the file is damaged")
    n_embd = _int(key("embedding_length"))
    if n_embd is None:
        missing.append(f"{a}.embedding_length")
        n_embd = 0
    ctx_train = _int(key("context_length"))
    if ctx_train is None:
        missing.append(f"{a}.context_length")
        ctx_train = 0
    n_head = _int_or_list(key("attention.head_count"))
    kind = archmod.memory_kind(a)
    if n_head is None:
        if kind not in ("recurrent",):
            missing.append(f"{a}.attention.head_count")
        n_head = 0
    n_head_kv = _int_or_list(key("attention.head_count_kv"))
    if n_head_kv is None:
        n_head_kv = n_head  # llama.cpp: head_count_kv defaults to head_count
    for label, v in (("attention.head_count", n_head), ("attention.head_count_kv", n_head_kv)):
        if isinstance(v, list) and len(v) != n_layer:
            raise GGUFError(h.path, f"{a}.{label} has {len(v)} entries for {n_layer} layers", "the file is damaged")
        if any(x < 0 or x > MAX_DIM for x in (v if isinstance(v, list) else [v])):
            raise GGUFError(h.path, f"{a}.{label} has an impossible value {v}", "the file is damaged")
    for label, v in (("embedding_length", n_embd), ("context_length", ctx_train)):
        if v < 0 or v > MAX_DIM * 64:
            raise GGUFError(h.path, f"{a}.{label} has an impossible value {v}", "the file is damaged")
    n_head_max = max(n_head) if isinstance(n_head, list) else n_head
    default_head = n_embd // n_head_max if n_head_max else 0
    head_k = _int(key("attention.key_length")) or default_head
    head_v = _int(key("attention.value_length")) or default_head
    window = _int(key("attention.sliding_window"))
    pattern = key("attention.sliding_window_pattern")
    swa, swa_note = archmod.swa_layers(a, n_layer, window, pattern)
    if a in archmod.SWA_RULES and not window and archmod.SWA_RULES[a].default_window and any(swa):
        window = archmod.SWA_RULES[a].default_window
        swa_note += f"; window {window} is llama.cpp's default"

    # vocab: the tokens array length is authoritative; vocab_size key as fallback
    tokens = md.get("tokenizer.ggml.tokens")
    n_vocab = len(tokens) if isinstance(tokens, (list, SkippedArray)) else (_int(key("vocab_size")) or 0)
    if not n_vocab:
        missing.append("tokenizer.ggml.tokens")

    by_type: dict[str, int] = {}
    n_params = 0
    names = set()
    for t in h.tensors:
        by_type[type_name(t.ggml_type)] = by_type.get(type_name(t.ggml_type), 0) + t.n_bytes
        n_params += t.n_elements
        names.add(t.name)
    tied = "output.weight" not in names and "token_embd.weight" in names
    layer_bytes, input_bytes, output_bytes = _placement_bytes(h, n_layer)
    block_matrices, output_matrix = _matrix_params(h, "token_embd.weight" if tied else "output.weight")

    scaling_keys = {k[len(a) + 1:]: v for k, v in md.items() if k.startswith(f"{a}.rope.scaling.")}
    s_type = scaling_keys.get("rope.scaling.type")
    s_factor = scaling_keys.get("rope.scaling.factor")
    s_orig = scaling_keys.get("rope.scaling.original_context_length")
    has_freqs = "rope_freqs.weight" in names
    if s_type is None and has_freqs:
        s_type = "llama3" if a == "llama" else "freq_factors"
    freq_scale = None
    if isinstance(s_factor, (int, float)) and s_factor > 0 and s_type in ("linear", "yarn"):
        freq_scale = 1.0 / float(s_factor)
    rot = _int(key("rope.dimension_count"))
    if rot is not None and head_k and (rot > head_k or rot % 2):
        raise GGUFError(h.path, f"{a}.rope.dimension_count is {rot}; RoPE needs an even count of at most the "
                        f"head size {head_k}", "the file is damaged")
    rope = RopeInfo(
        dimension_count=_int(key("rope.dimension_count")) or head_k,
        freq_base=float(key("rope.freq_base")) if isinstance(key("rope.freq_base"), (int, float)) else None,
        freq_scale=freq_scale,
        scaling_type=s_type if isinstance(s_type, str) else None,
        scaling_factor=float(s_factor) if isinstance(s_factor, (int, float)) else None,
        original_context=_int(s_orig),
        scaling_keys={f"{a}.{k}": v for k, v in scaling_keys.items()},
        has_freq_factors=has_freqs,
        rope_type=rope_type(a, kind),
    )

    ssm = {
        k.split(".", 2)[-1].replace(".", "_"): v
        for k, v in md.items()
        if (k.startswith(f"{a}.ssm.") or k.startswith(f"{a}.wkv.") or k.startswith(f"{a}.shortconv."))
        and isinstance(v, int)
    }
    for k in ("rescale_every_n_layers", "time_mix_extra_dim", "time_decay_extra_dim", "token_shift_count",
              "full_attention_interval"):
        v = key(k)
        if isinstance(v, int):
            ssm[k] = v

    tmpl = md.get("tokenizer.chat_template")
    known = a in archmod.KNOWN_ARCHS
    if not known:
        notes.append(
            f"architecture '{a}' is not in localctx's table: read as a decoder transformer with full-attention "
            "KV from its keys; llama.cpp may not support it"
        )
    if not h.tensors:
        missing.append("tensors (vocab-only file)")
    return ModelInfo(
        path=h.path,
        file_size=h.file_size,
        arch=a,
        name=md.get("general.name") if isinstance(md.get("general.name"), str) else None,
        n_params=n_params,
        file_type=file_type_name(_int(md.get("general.file_type"))),
        tensor_bytes_by_type=by_type,
        ctx_train=ctx_train,
        n_layer=n_layer,
        n_embd=n_embd,
        n_head=n_head,
        n_head_kv=n_head_kv,
        head_dim_k=head_k,
        head_dim_v=head_v,
        head_dim_k_swa=_int(key("attention.key_length_swa")),
        head_dim_v_swa=_int(key("attention.value_length_swa")),
        head_dim_k_mla=_int(key("attention.key_length_mla")),
        head_dim_v_mla=_int(key("attention.value_length_mla")),
        n_ff=_int_or_list(key("feed_forward_length")),
        n_vocab=n_vocab,
        n_expert=_int(key("expert_count")) or 0,
        n_expert_used=_int(key("expert_used_count")) or 0,
        sliding_window=window if any(swa) else (window or None),
        swa_layers=swa,
        swa_note=swa_note,
        memory_kind=kind,
        ssm=ssm,
        rope=rope,
        has_chat_template=isinstance(tmpl, str) and bool(tmpl.strip()),
        chat_template=tmpl if isinstance(tmpl, str) else None,
        tied_embeddings=tied,
        known_arch=known,
        missing=missing,
        notes=notes,
        metadata=md,
        tensor_bytes=h.tensor_bytes,
        n_tensors=len(h.tensors),
        layer_tensor_bytes=layer_bytes,
        input_tensor_bytes=input_bytes,
        output_tensor_bytes=output_bytes,
        block_matrix_params=block_matrices,
        output_matrix_params=output_matrix,
    )


_LAYER_RE = re.compile(r"^(?:blk|enc\.blk|dec\.blk)\.(\d+)\.")
_INPUT_PREFIXES = ("token_embd", "position_embd", "token_types", "per_layer_token_embd")


def _placement_bytes(h: GGUFHeader, n_layer: int) -> tuple[list[int], int, int]:
    """Split tensor bytes the way llama.cpp assigns them to devices (input / blk.N / output)."""
    layers = [0] * n_layer
    input_bytes = output_bytes = 0
    for t in h.tensors:
        m = _LAYER_RE.match(t.name)
        if m and int(m.group(1)) < n_layer:
            layers[int(m.group(1))] += t.n_bytes
        elif t.name.startswith(_INPUT_PREFIXES):
            input_bytes += t.n_bytes
        else:
            output_bytes += t.n_bytes  # output, output_norm, rope_freqs, cls, ...: the output layer
    return layers, input_bytes, output_bytes


def _matrix_params(h: GGUFHeader, output_name: str) -> tuple[dict[str, int], dict[str, int]]:
    """Elements of the blocks' weight matrices by type name, and of the matrix that makes the logits."""
    blocks: dict[str, int] = {}
    output: dict[str, int] = {}
    for t in h.tensors:
        if t.name == output_name:
            output[type_name(t.ggml_type)] = t.n_elements
        elif len(t.shape) >= 2 and _LAYER_RE.match(t.name):
            blocks[type_name(t.ggml_type)] = blocks.get(type_name(t.ggml_type), 0) + t.n_elements
    return blocks, output


def read_model_info(path: str | Path) -> ModelInfo:
    """Read a GGUF's header (never its weights) and derive its ModelInfo."""
    return model_info_from_header(read_gguf_header(path))


def check_loadable(info: ModelInfo) -> None:
    """Refuse, before llama.cpp opens the file, a model it cannot load: unknown architecture,
    missing keys it requires, or no tensors.  One GGUFError naming the file and the problem."""
    if not info.known_arch:
        raise GGUFError(info.path, f"unknown architecture '{info.arch}': this llama.cpp cannot load it",
                        "use a model of a supported architecture (see `localctx doctor` for the llama.cpp version)")
    required = [m for m in info.missing if not m.startswith("tokenizer")]
    if required:
        raise GGUFError(info.path, f"missing {', '.join(required)} that llama.cpp requires", "the file is incomplete")
    if info.n_tensors == 0:
        raise GGUFError(info.path, "has no tensors (a vocab-only file)", "pass a full model file")
