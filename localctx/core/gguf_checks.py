"""Values in a GGUF header that llama.cpp reads but does not check before it aborts the process.

The header reader (gguf_reader) proves the file is well formed; this module proves the values are ones
llama.cpp can run: each key it reads has the exact GGUF type its loader demands (``get_key`` refuses any
other type, and the tokenizer reads some keys with ``gguf_get_val_*``, which asserts), every float
hyper-parameter is finite and in range (``GGML_ASSERT(eps >= 0)`` in the norm ops; a NaN or negative
RoPE base gives NaN logits and an empty answer), string values are ones llama.cpp knows (an unknown
RoPE scaling type is a ``GGML_ASSERT``), tokenizer arrays have the tokens' length and known token types,
the vocabulary is one llama.cpp can build and tokenize with (no two equal tokens: an assert; a
SentencePiece vocabulary needs a byte token for every byte, or its tokenizer throws past
``std::terminate``; a file without one cannot tokenize at all), keys and text values are UTF-8
(llama-cpp-python decodes every one while it loads), tensor data is where ggml may map it (32-byte
aligned in the file), and tensors have types llama.cpp's graph accepts (norms and other 1-D tensors are
combined with F32 activations by ``ggml_mul``/``ggml_add``, which abort on anything but F32; integer
tensor types are never weights).  Everything is refused with one GGUFError naming the file, so
``inspect`` and every loading command exit 2 before llama.cpp opens the file.
"""

from __future__ import annotations

import math
from typing import Any

from localctx.core.ggml_types import type_name
from localctx.core.gguf_reader import (
    ARRAY,
    BOOL,
    FLOAT32,
    INT32,
    STRING,
    UINT32,
    GGUFHeader,
    SkippedArray,
)
from localctx.errors import GGUFError

_TYPE_NAMES = {0: "uint8", 1: "int8", 2: "uint16", 3: "int16", 4: "uint32", 5: "int32", 6: "float32", 7: "bool",
               8: "string", 9: "array", 10: "uint64", 11: "int64", 12: "float64"}

#: '<arch>.' keys and the one GGUF type llama.cpp's loader accepts for each (ARRAY: per-layer values allowed)
_ARCH_KEYS: dict[str, tuple[int, ...]] = {
    **{k: (UINT32,) for k in (
        "context_length", "embedding_length", "block_count", "leading_dense_block_count", "expert_count",
        "expert_used_count", "expert_shared_count", "expert_feed_forward_length", "attention.key_length",
        "attention.value_length", "attention.key_length_swa", "attention.value_length_swa",
        "attention.key_length_mla", "attention.value_length_mla", "attention.sliding_window",
        "attention.q_lora_rank", "attention.kv_lora_rank", "rope.dimension_count",
        "rope.scaling.original_context_length", "vocab_size")},
    **{k: (UINT32, ARRAY) for k in ("feed_forward_length", "attention.head_count", "attention.head_count_kv",
                                    "attention.sliding_window_pattern")},
    **{k: (FLOAT32,) for k in (
        "attention.layer_norm_epsilon", "attention.layer_norm_rms_epsilon", "attention.group_norm_epsilon",
        "rope.freq_base", "rope.freq_base_swa", "rope.scaling.factor", "rope.scaling.attn_factor",
        "rope.scaling.yarn_ext_factor", "rope.scaling.yarn_attn_factor", "rope.scaling.yarn_beta_fast",
        "rope.scaling.yarn_beta_slow", "rope.scaling.yarn_log_multiplier", "attn_logit_softcapping",
        "final_logit_softcapping", "attention.scale", "embedding_scale", "residual_scale", "logit_scale",
        "expert_weights_scale")},
    **{k: (BOOL,) for k in ("rope.scaling.finetuned", "attention.causal", "use_parallel_residual",
                            "expert_weights_norm")},
    "rope.scaling.type": (STRING,),
}
_GLOBAL_KEYS: dict[str, tuple[int, ...]] = {
    "general.architecture": (STRING,), "general.alignment": (UINT32,), "general.file_type": (UINT32,),
    "tokenizer.ggml.model": (STRING,), "tokenizer.ggml.pre": (STRING,), "tokenizer.chat_template": (STRING,),
    **{f"tokenizer.ggml.{k}_token_id": (UINT32,) for k in (
        "bos", "eos", "eot", "eom", "unknown", "seperator", "padding", "mask", "cls", "prefix", "suffix", "middle",
        "fim_pre", "fim_suf", "fim_mid", "fim_pad", "fim_rep", "fim_sep")},
    **{f"tokenizer.ggml.{k}": (BOOL,) for k in ("add_bos_token", "add_eos_token", "add_sep_token",
                                                "add_space_prefix", "remove_extra_whitespaces")},
}
#: tokenizer arrays: the element type llama.cpp reads them as
_TOKENIZER_ARRAYS = {"tokenizer.ggml.tokens": (STRING,), "tokenizer.ggml.scores": (FLOAT32,),
                     "tokenizer.ggml.token_type": (INT32, UINT32), "tokenizer.ggml.merges": (STRING,)}
#: llama_token_type: UNDEFINED .. BYTE
TOKEN_TYPE_MAX = 6

#: float keys that must be > 0 (a divisor, a log argument, an epsilon the norm asserts on) and those that
#: must be >= 0; every float key must be finite
_POSITIVE = ("epsilon", "rope.freq_base", "rope.freq_base_swa", "softcapping")
_NON_NEGATIVE = ("rope.scaling.attn_factor", "rope.scaling.yarn_ext_factor", "rope.scaling.yarn_attn_factor",
                 "rope.scaling.yarn_beta_fast", "rope.scaling.yarn_beta_slow")
#: llama_rope_scaling_type_from_string: anything else is GGML_ASSERT(type != UNSPECIFIED)
ROPE_SCALING_TYPES = ("none", "linear", "yarn", "longrope")
#: tokenizer.ggml.model values llama_vocab::load knows; "none"/"no_vocab" load without a vocabulary, and
#: every later tokenize is GGML_ABORT
TOKENIZER_MODELS = ("llama", "bert", "gpt2", "hybriddna", "whitespace", "t5", "rwkv", "test", "plamo2", "gemma4")
NO_VOCAB = ("none", "no_vocab")
#: ggml's TENSOR_ALIGNMENT: the CPU backend asserts a mapped weight buffer starts on it
TENSOR_ALIGNMENT = 32
#: integer tensor types (I8..I64) and F64: no llama.cpp graph uses them as weights
_NEVER_WEIGHTS = frozenset({24, 25, 26, 27, 28})
F32 = 0


def _fail(h: GGUFHeader, problem: str) -> GGUFError:
    return GGUFError(h.path, problem, "llama.cpp would crash or misbehave on it; the file is damaged or was "
                     "written by a faulty converter: download or convert it again")


def _tname(t: int) -> str:
    return _TYPE_NAMES.get(t, f"type {t}")


def check_header(h: GGUFHeader) -> None:
    """Refuse (GGUFError, exit 2) a well-formed header whose values llama.cpp would abort or misbehave on."""
    if h.bad_text:
        raise _fail(h, f"{h.bad_text[0]} is not valid UTF-8 (llama-cpp-python decodes every metadata key and "
                    "text value as UTF-8 while it loads)")
    arch = h.metadata.get("general.architecture")
    _check_types(h, arch if isinstance(arch, str) else "")
    if isinstance(arch, str):
        _check_floats(h, arch)
        _check_strings(h, arch)
    _check_tokenizer(h)
    _check_vocab(h)
    _check_tensors(h)


def _expected(key: str, arch: str) -> tuple[int, ...] | None:
    if key in _GLOBAL_KEYS:
        return _GLOBAL_KEYS[key]
    if arch and key.startswith(arch + "."):
        return _ARCH_KEYS.get(key[len(arch) + 1:])
    return None


def _check_types(h: GGUFHeader, arch: str) -> None:
    for key, vtype in h.metadata_types.items():
        want = _expected(key, arch)
        if want is None or vtype in want:
            continue
        raise _fail(h, f"metadata key '{key}' is a {_tname(vtype)}; llama.cpp reads it as a "
                    f"{' or '.join(_tname(w) for w in want)}")
    for key in ("feed_forward_length", "attention.head_count", "attention.head_count_kv"):
        v = h.metadata.get(f"{arch}.{key}")
        if isinstance(v, list) and not all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            raise _fail(h, f"metadata key '{arch}.{key}' is an array of non-integers")


def _check_floats(h: GGUFHeader, arch: str) -> None:
    prefix = arch + "."
    for key, v in h.metadata.items():
        if not key.startswith(prefix):
            continue
        values = v if isinstance(v, list) else [v]
        if not any(isinstance(x, float) for x in values):
            continue
        short = key[len(prefix):]
        for x in values:
            if not isinstance(x, float):
                continue
            if not math.isfinite(x):
                raise _fail(h, f"'{key}' is {x}; llama.cpp needs a finite number")
            if any(short.endswith(p) for p in _POSITIVE) and x <= 0:
                raise _fail(h, f"'{key}' is {x:g}; it must be greater than 0")
            if short in _NON_NEGATIVE and x < 0:
                raise _fail(h, f"'{key}' is {x:g}; it must be 0 or more")
            if short == "rope.scaling.factor" and x != 0 and x < 1:
                raise _fail(h, f"'{key}' is {x:g}; a RoPE scaling factor must be 1 or more (0 = none)")


def _check_strings(h: GGUFHeader, arch: str) -> None:
    scaling = h.metadata.get(f"{arch}.rope.scaling.type")
    if isinstance(scaling, str) and scaling not in ROPE_SCALING_TYPES:
        raise _fail(h, f"'{arch}.rope.scaling.type' is '{scaling}'; llama.cpp knows "
                    f"{', '.join(ROPE_SCALING_TYPES)}")


def _check_vocab(h: GGUFHeader) -> None:
    model = h.metadata.get("tokenizer.ggml.model")
    if isinstance(model, str):
        if model in NO_VOCAB:
            raise _fail(h, f"has no vocabulary (tokenizer.ggml.model '{model}'); localctx tokenizes every "
                        "prompt and llama.cpp aborts tokenizing without one")
        if model not in TOKENIZER_MODELS:
            raise _fail(h, f"'tokenizer.ggml.model' is '{model}'; llama.cpp knows {', '.join(TOKENIZER_MODELS)}")
    v = h.vocab
    if v is None:
        return
    if v.duplicate is not None:
        first, later, text = v.duplicate
        raise _fail(h, f"tokens {first} and {later} are both {text!r} to llama.cpp (it asserts every token "
                    "is distinct)")
    if model == "llama" and v.bytes_missing:
        shown = ", ".join(f"<0x{b:02X}>" for b in v.bytes_missing[:3])
        raise _fail(h, f"its SentencePiece ('llama') vocabulary lacks {len(v.bytes_missing)} of the 256 byte "
                    f"tokens ({shown}...); llama.cpp's tokenizer aborts on text that needs one")


def _length(v: Any) -> int | None:
    return len(v) if isinstance(v, (list, SkippedArray)) else None


def _elem_type(v: Any, h: GGUFHeader, key: str) -> int | None:
    if isinstance(v, SkippedArray):
        return v.elem_type
    if isinstance(v, list):
        if not v:
            return None
        if all(isinstance(x, str) for x in v):
            return STRING
        if all(isinstance(x, float) for x in v):
            return FLOAT32
        if all(isinstance(x, int) and not isinstance(x, bool) for x in v):
            return INT32 if INT32 in _TOKENIZER_ARRAYS.get(key, ()) else -1
        return -1
    return None


def _check_tokenizer(h: GGUFHeader) -> None:
    md = h.metadata
    for key, want in _TOKENIZER_ARRAYS.items():
        if key not in md:
            continue
        if h.metadata_types.get(key) != ARRAY:
            raise _fail(h, f"'{key}' is a {_tname(h.metadata_types[key])}; llama.cpp reads an array")
        et = _elem_type(md[key], h, key)
        if et is not None and et not in want:
            raise _fail(h, f"'{key}' holds {_tname(et) if et >= 0 else 'mixed values'}; llama.cpp reads "
                        f"{' or '.join(_tname(w) for w in want)} elements")
    n_tokens = _length(md.get("tokenizer.ggml.tokens"))
    for key in ("tokenizer.ggml.scores", "tokenizer.ggml.token_type"):
        n = _length(md.get(key))
        if n is not None and n_tokens is not None and n != n_tokens:
            raise _fail(h, f"'{key}' has {n} entries for {n_tokens} tokens (llama.cpp reads one per token)")
    types = md.get("tokenizer.ggml.token_type")
    lo, hi = _bounds(types)
    if lo is not None and hi is not None and (lo < 0 or hi > TOKEN_TYPE_MAX):
        bad = lo if lo < 0 else hi
        raise _fail(h, f"'tokenizer.ggml.token_type' holds type {bad}; llama.cpp knows types 0 to {TOKEN_TYPE_MAX}")
    scores = md.get("tokenizer.ggml.scores")
    if isinstance(scores, list) and any(isinstance(x, float) and math.isnan(x) for x in scores):
        raise _fail(h, "'tokenizer.ggml.scores' holds NaN")


def _bounds(v: Any) -> tuple[int | None, int | None]:
    if isinstance(v, SkippedArray):
        return v.lo, v.hi
    if isinstance(v, list) and v and all(isinstance(x, int) for x in v):
        return min(v), max(v)
    return None, None


def _check_tensors(h: GGUFHeader) -> None:
    for t in h.tensors:
        if (h.data_offset + t.offset) % TENSOR_ALIGNMENT:
            raise _fail(h, f"tensor '{t.name}' starts at byte {h.data_offset + t.offset} of the file, not on a "
                        f"{TENSOR_ALIGNMENT}-byte boundary (general.alignment {h.alignment}); ggml asserts mapped "
                        "weights are aligned")
        if t.ggml_type in _NEVER_WEIGHTS:
            raise _fail(h, f"tensor '{t.name}' has type {type_name(t.ggml_type)}, which no llama.cpp model "
                        "graph uses for weights")
        parts = t.name.split(".")
        is_norm = len(parts) >= 2 and "norm" in parts[-2]
        if t.ggml_type != F32 and (len(t.shape) == 1 or is_norm):
            raise _fail(h, f"tensor '{t.name}' is {type_name(t.ggml_type)}; llama.cpp combines norm, bias and "
                        "other 1-D tensors with F32 activations and aborts unless they are F32")
