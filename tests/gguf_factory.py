"""Build GGUF files for tests and benchmarks with the `gguf` package's writer.

Tiny random-weight models (llama.cpp can load them) for architectures we cannot download, and
sparse multi-GB files (header real, data a hole) for timing header reads.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gguf import GGMLQuantizationType, GGUFWriter


def write_gguf(
    path: Path,
    arch: str,
    kv: dict[str, Any],
    tensors: list[tuple[str, tuple[int, ...]]],
    *,
    vocab: int = 64,
    seed: int = 0,
    dtype: GGMLQuantizationType = GGMLQuantizationType.F32,
    sparse: bool = False,
) -> Path:
    """Write a GGUF with metadata ``kv`` (keys without the arch prefix get it added when they start with '.')
    and the given tensors (numpy shape order, i.e. reversed ggml ne).  ``sparse`` writes the header and a
    hole for the data, so a "70 GB" file costs a few MB of disk."""
    w = GGUFWriter(str(path), arch)
    w.add_type("model")
    for k, v in kv.items():
        key = f"{arch}{k}" if k.startswith(".") else k
        _add(w, key, v)
    toks = [f"<t{i}>" for i in range(vocab)]
    if "tokenizer.ggml.model" not in kv:
        # a byte-level BPE vocabulary: llama.cpp tokenizes any text with it (unknown characters are
        # dropped), where a SentencePiece one this small would lack the 256 byte tokens it falls back to
        w.add_tokenizer_model("gpt2")
        w.add_token_list(toks)
        w.add_token_merges(["< t"])
        w.add_token_scores([0.0] * vocab)
        w.add_token_types([1] * vocab)
        w.add_bos_token_id(1)
        w.add_eos_token_id(2)
    rng = np.random.default_rng(seed)
    F32 = GGMLQuantizationType.F32
    if sparse:
        for name, shape in tensors:
            t = F32 if len(shape) == 1 else dtype  # like llama.cpp's converter: 1-D tensors stay F32
            nbytes = int(np.prod(shape)) * (4 if t == F32 else 2)
            w.add_tensor_info(name, shape, np.dtype(np.float32 if t == F32 else np.float16), nbytes, raw_dtype=t)
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_ti_data_to_file()
        w.close()
        # extend with a hole up to the last tensor's end
        import struct  # noqa: F401

        from localctx.core.gguf_reader import read_gguf_header  # compute the end from the table

        total = _data_end(path)
        with open(path, "r+b") as f:
            f.truncate(total)
        read_gguf_header(path)
        return path
    for name, shape in tensors:
        a = (rng.standard_normal(shape) * 0.02).astype(np.float32)
        if dtype == GGMLQuantizationType.F16 and len(shape) > 1:  # 1-D tensors stay F32, as llama.cpp needs
            a = a.astype(np.float16)
        w.add_tensor(name, a)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _data_end(path: Path) -> int:
    """Parse just enough (with gguf's own reader logic avoided) to find where data must end."""
    import mmap

    from localctx.core import gguf_reader as gr

    with open(path, "rb") as f:
        mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        try:
            cur = gr._Cursor(mm, len(mm), path)
            cur.pos = 8
            n_t = cur.u64("")
            n_kv = cur.u64("")
            align = 32
            for _ in range(n_kv):
                k = cur.string("")
                vt = cur.u32("")
                v = gr._read_value(cur, vt, k)
                if k == "general.alignment":
                    align = v
            end = 0
            sizes = gr.quant_sizes()
            for _ in range(n_t):
                cur.string("")
                nd = cur.u32("")
                dims = [cur.u64("") for _ in range(nd)]
                t = cur.u32("")
                off = cur.u64("")
                n = int(np.prod(dims))
                b, s = sizes[t]
                end = max(end, off + n // b * s)
            data = (cur.pos + align - 1) // align * align
            return data + end
        finally:
            mm.close()


def _add(w: GGUFWriter, key: str, v: Any) -> None:
    if isinstance(v, bool):
        w.add_bool(key, v)
    elif isinstance(v, int):
        w.add_uint32(key, v) if 0 <= v < 2**32 else w.add_int64(key, v)
    elif isinstance(v, float):
        w.add_float32(key, v)
    elif isinstance(v, str):
        w.add_string(key, v)
    elif isinstance(v, (list, tuple)):
        w.add_array(key, list(v))
    else:
        raise TypeError(f"unsupported metadata value for {key}: {v!r}")


def llama_like(path: Path, *, n_layer: int = 2, n_embd: int = 64, n_head: int = 4, n_head_kv: int = 2,
               n_ff: int = 128, vocab: int = 64, ctx: int = 2048, arch: str = "llama",
               extra_kv: dict[str, Any] | None = None, sparse: bool = False,
               dtype: GGMLQuantizationType = GGMLQuantizationType.F32) -> Path:
    """A llama-architecture model (loadable by llama.cpp when not sparse)."""
    hd = n_embd // n_head
    kv: dict[str, Any] = {
        ".context_length": ctx, ".embedding_length": n_embd, ".block_count": n_layer,
        ".feed_forward_length": n_ff, ".attention.head_count": n_head, ".attention.head_count_kv": n_head_kv,
        ".attention.layer_norm_rms_epsilon": 1e-5, ".rope.freq_base": 10000.0, ".rope.dimension_count": hd,
        ".vocab_size": vocab,
    }
    kv.update(extra_kv or {})
    t: list[tuple[str, tuple[int, ...]]] = [("token_embd.weight", (vocab, n_embd)), ("output_norm.weight", (n_embd,)),
                                             ("output.weight", (vocab, n_embd))]
    for i in range(n_layer):
        t += [
            (f"blk.{i}.attn_norm.weight", (n_embd,)),
            (f"blk.{i}.attn_q.weight", (n_head * hd, n_embd)),
            (f"blk.{i}.attn_k.weight", (n_head_kv * hd, n_embd)),
            (f"blk.{i}.attn_v.weight", (n_head_kv * hd, n_embd)),
            (f"blk.{i}.attn_output.weight", (n_embd, n_head * hd)),
            (f"blk.{i}.ffn_norm.weight", (n_embd,)),
            (f"blk.{i}.ffn_gate.weight", (n_ff, n_embd)),
            (f"blk.{i}.ffn_up.weight", (n_ff, n_embd)),
            (f"blk.{i}.ffn_down.weight", (n_embd, n_ff)),
        ]
    return write_gguf(path, arch, kv, t, vocab=vocab, sparse=sparse, dtype=dtype)


def sparse_big_llama(path: Path) -> Path:
    """A Llama-3-8B-shaped F16 file (~16 GB apparent, a few MB on disk) with a 128K vocab."""
    return llama_like(path, n_layer=32, n_embd=4096, n_head=32, n_head_kv=8, n_ff=14336, vocab=128256,
                      ctx=131072, sparse=True, dtype=GGMLQuantizationType.F16)
