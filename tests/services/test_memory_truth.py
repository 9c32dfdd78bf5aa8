"""The planner against llama.cpp itself: every case is dry-run loaded (``no_alloc``) with its log captured.

KV (and recurrent state) must equal llama.cpp's to the precision it prints (0.01 MiB) with the same
cells and layers; weights must equal llama_model_size exactly; compute and total within 5%.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.settings import RuntimeSettings
from tests.memory_helpers import TINY, Comparison, compare, tiny_model

pytestmark = pytest.mark.model


def _check(c: Comparison) -> None:
    assert c.kv_ours == c.kv_llama, f"{c.label}: KV {c.kv_ours} vs llama.cpp {c.kv_llama}"
    assert c.rs_ours == c.rs_llama, f"{c.label}: recurrent {c.rs_ours} vs llama.cpp {c.rs_llama}"
    assert c.weights_ours == c.weights_llama
    assert c.output_ours == c.output_llama
    assert abs(c.compute_err) <= 0.05, (
        f"{c.label}: compute {c.compute_ours} vs {c.compute_llama} ({c.compute_err:+.1%})")
    assert abs(c.total_err) <= 0.05, f"{c.label}: total {c.total_err:+.1%}"


@pytest.mark.parametrize("n_ctx", [2048, 8192, 32768])
@pytest.mark.parametrize("kv, fa", [("f16", False), ("f16", True), ("q8_0", True), ("q4_0", True)])
def test_smollm2(smollm2_path: Path, n_ctx: int, kv: str, fa: bool) -> None:
    _check(compare(smollm2_path, RuntimeSettings(n_ctx=n_ctx, type_k=kv, type_v=kv, flash_attn=fa)))


@pytest.mark.parametrize("n_ctx", [4096, 32768])
@pytest.mark.parametrize("swa_full", [False, True])
@pytest.mark.parametrize("fa", [False, True])
def test_gemma3_swa(gemma_path: Path, n_ctx: int, swa_full: bool, fa: bool) -> None:
    c = compare(gemma_path, RuntimeSettings(n_ctx=n_ctx, swa_full=swa_full, flash_attn=fa))
    _check(c)
    assert c.kv_llama[1][1] == (n_ctx if swa_full else 1024)  # the SWA cache: PAD(512 + 512) cells


@pytest.mark.parametrize("unified", [False, True])
def test_two_parallel_sequences(smollm2_path: Path, gemma_path: Path, unified: bool) -> None:
    s = RuntimeSettings(n_seq=2, kv_unified=unified, flash_attn=False)
    _check(compare(smollm2_path, s.with_(n_ctx=8192)))
    g = compare(gemma_path, s.with_(n_ctx=32768))
    _check(g)
    assert g.kv_llama[1][1] == (1536 if unified else 1024)


def test_context_below_one_pad(smollm2_path: Path) -> None:
    _check(compare(smollm2_path, RuntimeSettings(n_ctx=100, flash_attn=True)))


@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("tiny")


@pytest.mark.parametrize("arch", sorted(TINY))
def test_every_family_this_llama_cpp_loads(arch: str, tiny_dir: Path) -> None:
    path = tiny_model(arch, tiny_dir, vocab=32000)
    for s in (RuntimeSettings(n_ctx=4096, flash_attn=True), RuntimeSettings(n_ctx=32768, flash_attn=False),
              RuntimeSettings(n_ctx=4096, flash_attn=True, type_k="q8_0", type_v="q8_0"),
              RuntimeSettings(n_ctx=4096, n_seq=2, flash_attn=True)):
        if arch in ("mamba", "mamba2", "rwkv6", "rwkv7", "bert") and s.type_v != "f16":
            continue  # no attention cache to quantize
        _check(compare(path, s, f"{arch} {s.n_ctx} fa={s.flash_attn} {s.type_k}"))


def test_attention_and_ffn_phases_without_logits_to_hide_them(tiny_dir: Path) -> None:
    """With a 256-token vocabulary the logits no longer dominate: the attention (no flash attention)
    and FFN (flash attention) phases of the graph model are what is compared."""
    (tiny_dir / "v256").mkdir(exist_ok=True)
    for arch in ("llama", "qwen3", "gemma3", "lfm2", "mamba", "jamba", "deepseek2"):
        path = tiny_model(arch, tiny_dir / "v256", vocab=256)
        for fa in (False, True):
            c = compare(path, RuntimeSettings(n_ctx=8192, flash_attn=fa), f"{arch} fa={fa}")
            _check(c)
