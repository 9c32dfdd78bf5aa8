"""The kernel probe on real llama.cpp: a random-weight model quantised to each type, then timed."""

from __future__ import annotations

from pathlib import Path

from localctx.core.model_info import read_model_info
from localctx.core.settings import RuntimeSettings
from localctx.engine.kernel_probe import ProbeShape, quantize, run_probe, write_probe_model

#: small enough to write, quantise and time in a second or two; the real probe is 4x wider
SMALL = ProbeShape(n_embd=256, n_ff=512, n_layer=2, n_head=4, n_head_kv=2, vocab=256)


def test_the_probe_model_is_quantised_by_llama_cpp_to_exactly_one_type(tmp_path: Path) -> None:
    src = write_probe_model(tmp_path / "probe.gguf", SMALL)
    info = read_model_info(src)
    assert info.block_matrix_params == {"F16": SMALL.block_macs}
    q = quantize(src, tmp_path / "probe-q4k.gguf", "Q4_K")
    qi = read_model_info(q)
    assert qi.block_matrix_params == {"Q4_K": SMALL.block_macs}  # pure: every matrix, none left F16
    assert qi.output_matrix_params == {"Q4_K": SMALL.vocab * SMALL.n_embd}
    assert q.stat().st_size < src.stat().st_size / 3


def test_the_probe_times_each_type_by_both_clocks_and_cleans_up(tmp_path: Path) -> None:
    work = tmp_path / "probe"
    seen: list[str] = []
    timings = run_probe(RuntimeSettings(n_threads=1), work, ("Q8_0", "IQ1_S", "Q4_1"), shape=SMALL, rounds=1,
                        progress=lambda i, n, label: seen.append(label))
    # IQ1_S needs an importance matrix: skipped, the others measured
    assert {(t.type_name, t.kind) for t in timings} == {("Q8_0", "prompt"), ("Q8_0", "gen"),
                                                        ("Q4_1", "prompt"), ("Q4_1", "gen")}
    for t in timings:
        assert t.macs == SMALL.block_macs and t.counter_ms > 0 and t.cpu_ms > 0
        assert t.tokens == (128 if t.kind == "prompt" else 8)
        assert t.ms_per_mac() == t.counter_ms / t.tokens / t.macs
    assert seen == ["Q8_0", "IQ1_S", "Q4_1", "done"]
    assert list(work.iterdir()) == []  # the probe models are deleted


def test_the_prompt_chunk_follows_the_micro_batch_setting(tmp_path: Path) -> None:
    timings = run_probe(RuntimeSettings(n_threads=1, n_batch=64, n_ubatch=32), tmp_path, ("Q8_0",), shape=SMALL,
                        rounds=1)
    assert {t.kind: t.tokens for t in timings} == {"prompt": 32, "gen": 8}
