"""The pure memory planner: llama.cpp's sizing rules, checked on headers we build and on published logs.

No llama.cpp here (tests/services/test_memory_truth.py compares against llama.cpp's own log).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from localctx.core.memory import MIB, plan_memory
from localctx.core.model_info import read_model_info
from localctx.core.settings import RuntimeSettings
from localctx.errors import SettingsError
from localctx.services.machine import MachineMemory
from tests.gguf_factory import llama_like, sparse_big_llama, write_gguf
from tests.memory_helpers import tiny_model


def _header(path: Path, arch: str, kv: dict) -> Path:
    """A header-only GGUF: enough for the planner, which never reads weights."""
    return write_gguf(path, arch, kv, [], vocab=32)


# ---- published llama.cpp logs -------------------------------------------------------------------
def test_gpt_oss_20b_swa_matches_published_log(tmp_path: Path) -> None:
    # llama.cpp#18996: ctx 16384, llama-server np=4 unified -> 384.00 MiB (16384 cells, 12 layers)
    # + 24.00 MiB (1024 cells)
    p = _header(tmp_path / "oss.gguf", "gpt-oss", {
        ".block_count": 24, ".embedding_length": 2880, ".context_length": 131072, ".attention.head_count": 64,
        ".attention.head_count_kv": 8, ".attention.key_length": 64, ".attention.value_length": 64,
        ".attention.sliding_window": 128, ".feed_forward_length": 2880})
    plan = plan_memory(read_model_info(p), RuntimeSettings(n_ctx=16384, n_seq=4, kv_unified=True, n_batch=2048))
    lay = plan.layout
    assert (lay.n_ctx_seq, lay.layers_full, lay.cells_swa, lay.layers_swa) == (16384, 12, 1024, 12)
    assert plan.cpu.kv_full == 384 * MIB and plan.cpu.kv_swa == 24 * MIB


def test_qwen36_27b_hybrid_matches_published_log(tmp_path: Path) -> None:
    # lmstudio-bug-tracker#1862: ctx 262144, np 4: KV 16384.00 MiB (16 layers), recurrent 598.50 MiB
    p = _header(tmp_path / "q.gguf", "qwen35", {
        ".block_count": 64, ".embedding_length": 5120, ".context_length": 262144, ".attention.head_count": 24,
        ".attention.head_count_kv": 4, ".attention.key_length": 256, ".attention.value_length": 256,
        ".full_attention_interval": 4, ".ssm.conv_kernel": 4, ".ssm.inner_size": 6144, ".ssm.group_count": 16,
        ".ssm.state_size": 128, ".ssm.time_step_rank": 48, ".feed_forward_length": 17408})
    plan = plan_memory(read_model_info(p), RuntimeSettings(n_ctx=262144, n_seq=4, kv_unified=True))
    assert plan.layout.layers_full == 16 and plan.layout.layers_recurrent == 48
    assert plan.kv_bytes == 16384 * MIB
    assert plan.recurrent_bytes == round(598.5 * MIB)


# ---- context sizing ------------------------------------------------------------------------------------
def test_context_padding_and_small_batches(smollm2_path: Path) -> None:
    plan = plan_memory(read_model_info(smollm2_path), RuntimeSettings(n_ctx=100))
    lay = plan.layout
    assert (lay.n_ctx, lay.n_ctx_seq, lay.n_batch, lay.n_ubatch, lay.n_outputs) == (256, 256, 100, 100, 100)
    assert any("padded to 256" in n for n in plan.notes)


def test_parallel_streams_split_and_pad(smollm2_path: Path) -> None:
    mi = read_model_info(smollm2_path)
    split = plan_memory(mi, RuntimeSettings(n_ctx=10000, n_seq=3))
    assert (split.layout.n_ctx_seq, split.layout.n_stream, split.layout.n_ctx) == (3584, 3, 10752)
    unified = plan_memory(mi, RuntimeSettings(n_ctx=10000, n_seq=3, kv_unified=True))
    assert (unified.layout.n_ctx_seq, unified.layout.n_stream) == (10240, 1)
    # logits rows for every sequence
    assert split.output_bytes == 3 * 4 * mi.n_vocab


@pytest.mark.parametrize("kv, row", [("f16", 192 * 2), ("q8_0", 192 // 32 * 34), ("q4_0", 192 // 32 * 18),
                                     ("q5_1", 192 // 32 * 24), ("iq4_nl", 192 // 32 * 18)])
def test_quantized_cache_block_sizes(smollm2_path: Path, kv: str, row: int) -> None:
    settings = RuntimeSettings(n_ctx=8192, type_k=kv, type_v=kv, flash_attn=True)
    plan = plan_memory(read_model_info(smollm2_path), settings)
    assert plan.kv_bytes == 30 * 8192 * 2 * row  # 30 layers, 3 KV heads x 64


# ---- sliding window ------------------------------------------------------------------------------------
@pytest.mark.parametrize("n_ctx, n_seq, unified, swa_full, cells", [
    (4096, 1, False, False, 1024),  # PAD(512 + 512)
    (32768, 1, False, True, 32768),  # swa_full: as many cells as the full cache
    (32768, 2, False, False, 1024),  # per stream: window counts once
    (32768, 2, True, False, 1536),  # unified: window x 2 sequences + ubatch
    (768, 1, False, False, 768),  # never more than the context
])
def test_swa_cells(gemma_path: Path, n_ctx: int, n_seq: int, unified: bool, swa_full: bool, cells: int) -> None:
    mi = read_model_info(gemma_path)
    plan = plan_memory(mi, RuntimeSettings(n_ctx=n_ctx, n_seq=n_seq, kv_unified=unified, swa_full=swa_full))
    assert plan.layout.cells_swa == cells
    assert (plan.layout.layers_full, plan.layout.layers_swa) == (3, 15)
    per_cell = 2 * 256 * 1 * 2  # K+V, head 256, 1 KV head, f16
    assert plan.cpu.kv_swa == 15 * cells * plan.layout.n_stream * per_cell


# ---- families --------------------------------------------------------------------------------------------
def test_mla_caches_latent_k_only(tmp_path: Path) -> None:
    plan = plan_memory(read_model_info(tiny_model("deepseek2", tmp_path)), RuntimeSettings(n_ctx=4096))
    assert plan.layout.mla and plan.layout.v_bytes == 0
    assert plan.kv_bytes == 6 * 4096 * 96 * 2  # key_length = kv_lora_rank + rope dims, one KV head


@pytest.mark.parametrize("arch, r, s", [("mamba", 3 * 512, 16 * 512), ("mamba2", 3 * (512 + 2 * 16), 16 * 512),
                                        ("rwkv6", 2 * 256, 256 * 64), ("lfm2", 256 * 2, 0)])
def test_recurrent_state_is_f32_per_sequence(tmp_path: Path, arch: str, r: int, s: int) -> None:
    mi = read_model_info(tiny_model(arch, tmp_path))
    n_rec = {"lfm2": 4}.get(arch, 6)
    for n_seq in (1, 3):
        plan = plan_memory(mi, RuntimeSettings(n_ctx=4096, n_seq=n_seq))
        assert plan.recurrent_bytes == 4 * (r + s) * n_seq * n_rec
    assert plan.kv_bytes == (2 * 3 * 1536 * 2 * 128 * 2 if arch == "lfm2" else 0)  # 3 streams of PAD(4096/3)


def test_hybrid_attention_layers_from_interval_and_kv_array(tmp_path: Path) -> None:
    q = plan_memory(read_model_info(tiny_model("qwen3next", tmp_path)), RuntimeSettings(n_ctx=4096))
    assert (q.layout.layers_full, q.layout.layers_recurrent) == (2, 4)
    j = plan_memory(read_model_info(tiny_model("jamba", tmp_path)), RuntimeSettings(n_ctx=4096))
    assert (j.layout.layers_full, j.layout.layers_recurrent) == (1, 5)


def test_embedding_model_has_no_cache(tmp_path: Path) -> None:
    plan = plan_memory(read_model_info(tiny_model("bert", tmp_path)), RuntimeSettings(n_ctx=2048))
    assert plan.kv_bytes == 0 and plan.recurrent_bytes == 0 and plan.compute_bytes > 0
    assert plan.output_bytes == 4 * 8192  # llama.cpp reserves a logits row per sequence even here


def test_unknown_architecture_is_stated_not_fatal(tmp_path: Path) -> None:
    p = llama_like(tmp_path / "m.gguf", arch="mystery-lm")
    plan = plan_memory(read_model_info(p), RuntimeSettings(n_ctx=2048))
    assert plan.kv_bytes == 2 * 2048 * 2 * 32 * 2  # layers x cells x K,V x (2 heads x 16) x f16
    assert any("unknown to localctx" in n for n in plan.notes)


# ---- devices ---------------------------------------------------------------------------------------------
def test_output_layer_is_offloaded_first_and_tied_embeddings_duplicate(smollm2_path: Path) -> None:
    mi = read_model_info(smollm2_path)
    assert mi.tied_embeddings
    s = RuntimeSettings(n_ctx=4096, flash_attn=True)
    cpu_only = plan_memory(mi, s)
    one = plan_memory(mi, s.with_(n_gpu_layers=1), n_gpus=1, gpu_backend="CUDA")
    assert one.gpus[0].weights == mi.output_tensor_bytes + mi.input_tensor_bytes  # output norm + copied token_embd
    assert one.gpus[0].kv == 0 and one.cpu.kv == cpu_only.cpu.kv
    full = plan_memory(mi, s, n_gpus=1, gpu_backend="CUDA")
    assert full.n_gpu_layers == 31 and full.cpu.weights == mi.input_tensor_bytes and full.cpu.kv == 0
    assert full.gpus[0].kv == cpu_only.kv_bytes
    assert full.weights_bytes == mi.tensor_bytes + mi.input_tensor_bytes
    assert full.cpu.output == cpu_only.cpu.output  # logits live in host memory
    assert full.gpus[0].overhead > 0
    split = plan_memory(mi, s.with_(n_gpu_layers=11), n_gpus=2, gpu_backend="CUDA")
    assert split.cpu.weights == mi.input_tensor_bytes + sum(mi.layer_tensor_bytes[:20])
    assert split.gpus[0].weights + split.gpus[1].weights == (
        sum(mi.layer_tensor_bytes[20:]) + mi.output_tensor_bytes + mi.input_tensor_bytes)


# ---- validation ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("settings, match", [
    (RuntimeSettings(n_ctx=0), "positive"),
    (RuntimeSettings(n_ctx=-5), "positive"),
    (RuntimeSettings(n_ctx=2048, type_k="q3_k"), "unknown K cache type"),
    (RuntimeSettings(n_ctx=2048, type_v="q8_0", flash_attn=False), "requires flash attention"),
])
def test_settings_llama_cpp_would_reject(smollm2_path: Path, settings: RuntimeSettings, match: str) -> None:
    with pytest.raises(SettingsError, match=match) as e:
        plan_memory(read_model_info(smollm2_path), settings)
    assert e.value.exit_code == 2


def test_head_size_must_be_a_block_multiple(tmp_path: Path) -> None:
    mi = read_model_info(llama_like(tmp_path / "odd.gguf", n_embd=80, n_head=4, n_head_kv=2))  # head size 20
    with pytest.raises(SettingsError, match="head size 20 is not a multiple of q8_0's block of 32"):
        plan_memory(mi, RuntimeSettings(n_ctx=2048, type_k="q8_0", type_v="q8_0", flash_attn=True))
    assert plan_memory(mi, RuntimeSettings(n_ctx=2048)).kv_bytes > 0  # f16 is fine


# ---- speed -----------------------------------------------------------------------------------------------
def test_plan_of_a_16_gb_file_is_fast(tmp_path: Path) -> None:
    p = sparse_big_llama(tmp_path / "big.gguf")
    t0 = time.perf_counter()
    plan = plan_memory(read_model_info(p), RuntimeSettings(n_ctx=65536))
    elapsed = time.perf_counter() - t0
    assert plan.weights_bytes > 14 << 30 and plan.kv_bytes == 32 * 65536 * 2 * 1024 * 2
    assert elapsed < 1.0  # ~0.05 s measured; scripts/bench_estimate.py holds the 0.3 s goal


def test_max_context_is_the_last_that_fits(smollm2_path: Path) -> None:
    from localctx.services.memory import max_context, plan_for_machine, ram_reserve, verdict

    mi = read_model_info(smollm2_path)
    machine = MachineMemory(ram_total=4 << 30, ram_available=1 << 30)
    machine = MachineMemory(ram_total=4 << 30, ram_available=(1 << 30) + ram_reserve(machine))  # 1 GiB usable
    s = RuntimeSettings(flash_attn=True)
    n = max_context(mi, s, machine)
    assert n % 256 == 0 and 8192 < n < 65536
    assert verdict(plan_for_machine(mi, s.with_(n_ctx=n), machine), machine).fits
    assert verdict(plan_for_machine(mi, s.with_(n_ctx=n + 256), machine), machine).fits is False
    q = max_context(mi, s.with_(type_k="q8_0", type_v="q8_0"), machine)
    assert q > n  # a smaller cache fits more context


def test_shared_kv_layers_allocate_nothing(tmp_path: Path) -> None:
    # gemma3n: layers from 20 on reuse earlier caches (llama.cpp's n_layer_kv_from_start)
    plan = plan_memory(read_model_info(tiny_model("gemma3n", tmp_path)), RuntimeSettings(n_ctx=4096))
    assert (plan.layout.layers_full, plan.layout.layers_swa) == (4, 16)
    assert any("reuse earlier layers' KV" in n for n in plan.notes)
    p = _header(tmp_path / "g4.gguf", "gemma3", {
        ".block_count": 12, ".embedding_length": 256, ".context_length": 8192, ".attention.head_count": 4,
        ".attention.head_count_kv": 1, ".attention.key_length": 64, ".attention.value_length": 64,
        ".attention.shared_kv_layers": 4})
    assert plan_memory(read_model_info(p), RuntimeSettings(n_ctx=4096)).layout.layers_full == 8
