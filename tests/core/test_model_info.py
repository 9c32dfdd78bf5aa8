"""ModelInfo on the real models: the numbers the foundation issue names."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.model_info import read_model_info
from tests.gguf_factory import llama_like, write_gguf


def test_smollm2(smollm2_path: Path) -> None:
    mi = read_model_info(smollm2_path)
    assert (mi.arch, mi.n_layer, mi.n_head, mi.n_head_kv) == ("llama", 30, 9, 3)
    assert (mi.head_dim_k, mi.head_dim_v, mi.ctx_train) == (64, 64, 8192)
    assert mi.rope.freq_base == 100000.0
    assert mi.has_chat_template and mi.tied_embeddings
    assert mi.quant == "Q4_1" and mi.n_vocab == 49152
    assert mi.swa_layer_indices == [] and mi.memory_kind == "kv"
    assert 130e6 < mi.n_params < 140e6


def test_gemma3_swa_layers(gemma_path: Path) -> None:
    mi = read_model_info(gemma_path)
    assert (mi.arch, mi.n_layer, mi.sliding_window, mi.head_dim_k) == ("gemma3", 18, 512, 256)
    # llama.cpp's gemma3 rule: the last layer of every 6 is dense
    assert [i for i in range(18) if not mi.is_swa(i)] == [5, 11, 17]
    assert mi.ctx_train == 32768 and not mi.has_chat_template


def test_per_layer_kv_heads_and_pattern_key(tmp_path: Path) -> None:
    p = write_gguf(tmp_path / "g2.gguf", "gemma2", {
        ".block_count": 4, ".embedding_length": 64, ".context_length": 4096, ".attention.head_count": 4,
        ".attention.head_count_kv": [2, 1, 2, 1], ".attention.sliding_window": 256,
        ".attention.sliding_window_pattern": 4,
    }, [("token_embd.weight", (64, 64))])
    mi = read_model_info(p)
    assert mi.head_count_kv(1) == 1 and mi.head_count_kv(2) == 2
    assert mi.swa_layers == [True, True, True, False]  # the pattern key overrides gemma2's default of 2


def test_unknown_architecture_is_stated_not_fatal(tmp_path: Path) -> None:
    p = llama_like(tmp_path / "x.gguf", arch="frobnicator")
    mi = read_model_info(p)
    assert not mi.known_arch and any("frobnicator" in n for n in mi.notes)


@pytest.mark.parametrize("key,value,needle", [
    (".block_count", 100000, "at most 512"),
    (".attention.head_count_kv", [1, 2, 3], "entries for 2 layers"),
])
def test_absurd_hyperparameters_are_rejected(tmp_path: Path, key: str, value: object, needle: str) -> None:
    from localctx.errors import GGUFError

    p = llama_like(tmp_path / "bad.gguf", extra_kv={key: value})
    with pytest.raises(GGUFError) as exc:
        read_model_info(p)
    assert needle in str(exc.value) and "bad.gguf" in str(exc.value)
