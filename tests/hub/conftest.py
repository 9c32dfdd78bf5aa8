"""Fixtures for the Hub tests: a real loopback Hub server and real GGUF files to serve."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gguf_factory import llama_like, write_gguf
from tests.hub.loopback_hub import LoopbackHub, serving_hub

REPO = "acme/Tiny-GGUF"
#: a preset family naming REPO (the presets/ TOML shape), for tests that resolve a preset by name
TINY_PRESET = f"""family = "Tiny"
description = "a tiny test family"

[[models]]
name = "tiny-1b"
repo = "{REPO}"
arch = "llama"
n_ctx_train = 2048
native_ctx = 2048
max_ctx = 8192
default_quant = "Q4_K_M"
files = {{ Q4_K_M = "*Q4_K_M.gguf", Q8_0 = "*Q8_0.gguf" }}
[models.extension]
method = "yarn"
rope_scaling = "yarn"
note = "test"
[models.sources]
repo = "test"
n_ctx_train = "test"
extension = "test"
"""
SPLIT_REPO = "acme/Split-GGUF"
SMOL_REPO = "bartowski/SmolLM2-135M-Instruct-GGUF"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[LoopbackHub]:
    """The loopback Hub, with HF_ENDPOINT pointed at it and offline mode (set by tests/conftest.py) lifted."""
    yield from serving_hub(monkeypatch)


@pytest.fixture(scope="session")
def tiny_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Three loadable tiny llama GGUFs named like a quantized repo (distinct contents and sizes)."""
    d = tmp_path_factory.mktemp("tiny-repo")
    out = {}
    for i, (quant, embd) in enumerate((("Q4_K_M", 64), ("Q8_0", 96), ("IQ4_XS", 32))):
        out[f"Tiny-{quant}.gguf"] = llama_like(d / f"Tiny-{quant}.gguf", n_embd=embd, n_head=4, n_head_kv=2,
                                               extra_kv={"general.name": f"tiny {quant} {i}"})
    (d / "mmproj-Tiny-F16.gguf").write_bytes((d / "Tiny-IQ4_XS.gguf").read_bytes())
    out["mmproj-Tiny-F16.gguf"] = d / "mmproj-Tiny-F16.gguf"
    return out


def write_split(d: Path, stem: str, n: int, n_layer: int = 3, n_embd: int = 64, vocab: int = 64) -> list[Path]:
    """A llama model split the way llama.cpp's gguf-split names and tags shards: metadata in shard 1,
    ``split.no``/``split.count``/``split.tensors.count`` in every shard, layers spread across them."""
    n_head, n_kv, n_ff = 4, 2, 128
    hd = n_embd // n_head
    tensors: list[tuple[str, tuple[int, ...]]] = [("token_embd.weight", (vocab, n_embd)),
                                                  ("output_norm.weight", (n_embd,)), ("output.weight", (vocab, n_embd))]
    for i in range(n_layer):
        tensors += [(f"blk.{i}.attn_norm.weight", (n_embd,)), (f"blk.{i}.attn_q.weight", (n_head * hd, n_embd)),
                    (f"blk.{i}.attn_k.weight", (n_kv * hd, n_embd)), (f"blk.{i}.attn_v.weight", (n_kv * hd, n_embd)),
                    (f"blk.{i}.attn_output.weight", (n_embd, n_head * hd)), (f"blk.{i}.ffn_norm.weight", (n_embd,)),
                    (f"blk.{i}.ffn_gate.weight", (n_ff, n_embd)), (f"blk.{i}.ffn_up.weight", (n_ff, n_embd)),
                    (f"blk.{i}.ffn_down.weight", (n_embd, n_ff))]
    per = -(-len(tensors) // n)
    model_kv = {".context_length": 4096, ".embedding_length": n_embd, ".block_count": n_layer,
                ".feed_forward_length": n_ff, ".attention.head_count": n_head, ".attention.head_count_kv": n_kv,
                ".attention.layer_norm_rms_epsilon": 1e-5, ".rope.freq_base": 10000.0, ".rope.dimension_count": hd,
                ".vocab_size": vocab}
    out = []
    for k in range(n):
        kv = {"split.no": k, "split.count": n, "split.tensors.count": len(tensors), **(model_kv if k == 0 else {})}
        p = d / f"{stem}-{k + 1:05d}-of-{n:05d}.gguf"
        out.append(write_gguf(p, "llama", kv, tensors[k * per:(k + 1) * per], vocab=vocab, seed=k))
    return out


@pytest.fixture(scope="session")
def split_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("split-repo")
    shards = write_split(d, "Split-Q4_K_M", 3)
    single = llama_like(d / "Split-Q8_0.gguf")
    return {**{f"Q4_K_M/{p.name}": p for p in shards}, single.name: single}
