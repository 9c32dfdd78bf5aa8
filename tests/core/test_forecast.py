"""The speed-forecast maths: features, the least-squares fit on synthetic timings, cross-model scaling."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from localctx.core import forecast as fc
from localctx.core.model_info import read_model_info
from localctx.core.settings import RuntimeSettings

#: SmolLM2-135M-like: 30 full-attention layers, 9 heads of 64, 3 KV heads
DENSE = fc.ModelShape(2.1e8, 9.7e7, tuple(fc.AttnLayer(2 * 9 * 128, 3 * 128 * 2) for _ in range(30)))
#: gemma-3-270m-like: 15 sliding-window layers (512) and 3 full ones, 4 heads of 256, 1 KV head
SWA = fc.ModelShape(2.0e8, 2.5e8, tuple(fc.AttnLayer(2 * 4 * 512, 512 * 2, 512 if i % 6 != 5 else None)
                                        for i in range(18)))


def synthetic(shape: fc.ModelShape, kind: str, a: float, b: float, depths: list[int], n: int,
              noise: float = 0.0, seed: int = 0, repeats: int = 1) -> list[fc.Segment]:
    """Timings a machine with per-token cost a + b * feature would produce (optionally noisy)."""
    rng = random.Random(seed)
    out = []
    for _ in range(repeats):
        for d in depths:
            ms = a * n + b * shape.feature(kind, d, n)
            out.append(fc.Segment(kind, d, n, ms * (1 + rng.uniform(-noise, noise))))
    return out


@pytest.mark.parametrize("start,n,window", [(0, 1, None), (0, 512, None), (100, 7, None), (0, 600, 512),
                                            (300, 512, 512), (512, 512, 512), (2000, 33, 512), (511, 2, 512),
                                            (0, 0, 512)])
def test_sum_min_matches_the_token_by_token_sum(start: int, n: int, window: int | None) -> None:
    brute = sum(min(d, window) if window else d for d in range(start, start + n))
    assert fc.sum_min(start, n, window) == brute


def test_features_grow_with_depth_and_stop_at_the_window() -> None:
    assert DENSE.attn_flops(4096, 1) == pytest.approx(2 * DENSE.attn_flops(2048, 1))
    # only the 3 full layers keep growing past the window
    grow = SWA.attn_flops(8192, 1) - SWA.attn_flops(4096, 1)
    assert grow == pytest.approx(3 * 2 * 4 * 512 * 4096)
    assert SWA.kv_bytes(600, 1) - SWA.kv_bytes(599, 1) == pytest.approx(3 * 512 * 2)


@pytest.mark.parametrize("shape", [DENSE, SWA], ids=["dense", "swa"])
@pytest.mark.parametrize("kind,a,b", [(fc.PROMPT, 7.5, 9e-8), (fc.GEN, 12.0, 2.5e-6)])
def test_fit_recovers_known_coefficients(shape: fc.ModelShape, kind: str, a: float, b: float) -> None:
    segs = synthetic(shape, kind, a, b, [0, 512, 1024, 2048], 512 if kind == fc.PROMPT else 16)
    f = fc.fit(shape, segs, kind)
    assert f is not None
    assert f.base_ms == pytest.approx(a, rel=1e-6)
    assert f.per_unit_ms == pytest.approx(b, rel=1e-6)
    assert f.error < 1e-9 and f.n_points == 4 and f.max_depth == 2048 + segs[-1].n


def test_fit_on_noisy_repeats_uses_medians_and_reports_the_error() -> None:
    segs = synthetic(DENSE, fc.PROMPT, 7.5, 9e-8, [0, 512, 1024, 2048], 512, noise=0.05, seed=3, repeats=5)
    f = fc.fit(DENSE, segs, fc.PROMPT)
    assert f is not None
    assert f.base_ms == pytest.approx(7.5, rel=0.06)
    assert f.per_unit_ms == pytest.approx(9e-8, rel=0.15)
    assert 0.01 < f.error < 0.05 and f.max_error <= 0.1


def test_extrapolation_from_shallow_calibration_is_exact_for_a_linear_machine() -> None:
    cal = synthetic(DENSE, fc.PROMPT, 7.5, 9e-8, [0, 512, 1024, 2048], 512)
    f = fc.fit(DENSE, cal, fc.PROMPT)
    assert f is not None
    truth = synthetic(DENSE, fc.PROMPT, 7.5, 9e-8, [8192], 512)[0].ms
    assert f.segment_ms(DENSE, 8192, 512) == pytest.approx(truth, rel=1e-9)


def test_segments_of_any_length_feed_one_fit() -> None:
    """A whole ingest (one long segment) and short chunks constrain the same two coefficients."""
    a, b = 5.0, 1e-7
    segs = [fc.Segment(fc.PROMPT, 0, 6000, a * 6000 + b * DENSE.attn_flops(0, 6000)),
            fc.Segment(fc.PROMPT, 100, 64, a * 64 + b * DENSE.attn_flops(100, 64))]
    f = fc.fit(DENSE, segs, fc.PROMPT)
    assert f is not None and f.base_ms == pytest.approx(a) and f.per_unit_ms == pytest.approx(b)


def test_a_negative_slope_from_noise_is_clamped_to_flat() -> None:
    segs = [fc.Segment(fc.GEN, 0, 16, 200.0), fc.Segment(fc.GEN, 2048, 16, 190.0)]
    f = fc.fit(DENSE, segs, fc.GEN)
    assert f is not None and f.per_unit_ms == 0 and f.base_ms == pytest.approx(195 / 16, rel=0.01)


def test_one_depth_only_gives_a_flat_fit_and_no_points_gives_none() -> None:
    f = fc.fit(DENSE, [fc.Segment(fc.GEN, 512, 16, 160.0)] * 3, fc.GEN)
    assert f is not None and f.per_unit_ms == 0 and f.base_ms == pytest.approx(10.0)
    assert fc.fit(DENSE, [fc.Segment(fc.GEN, 512, 16, 160.0)], fc.PROMPT) is None


def test_forecast_integrates_the_ingest_over_depth() -> None:
    pp = fc.CostFit(fc.PROMPT, 7.5, 9e-8, 0.02, 0.04, 8, 2560)
    tg = fc.CostFit(fc.GEN, 12.0, 2.5e-6, 0.03, 0.05, 8, 2064)
    f = fc.forecast(DENSE, pp, tg, 8192)
    assert f.document_tokens == 8192 - 500 and f.reply_tokens == 500
    chunks = sum(pp.segment_ms(DENSE, s, min(512, f.document_tokens - s)) for s in range(0, f.document_tokens, 512))
    assert f.ingest_s * 1000 == pytest.approx(chunks)
    per_token = sum(7.5 + 9e-8 * DENSE.attn_flops(d, 1) for d in range(f.document_tokens))
    assert f.ingest_s * 1000 == pytest.approx(per_token)
    assert f.gen_tok_s == pytest.approx(1000 / (12.0 + 2.5e-6 * DENSE.kv_bytes(7692, 1)))
    assert f.extrapolated and f.band > 2 * 0.03 and f.source == "measured"
    assert "tok/s" in fc.summary(f) and "measured" in fc.summary(f)


def test_scaling_carries_machine_constants_to_another_model() -> None:
    """On a machine that follows the roofline, a model predicted from another's calibration is exact."""
    flop_ms, byte_ms, attn_ms, kv_ms = 1 / 2.8e7, 1 / 1.2e7, 9e-8, 2.5e-6  # ms per FLOP / byte
    cal = (synthetic(DENSE, fc.PROMPT, DENSE.weight_flops * flop_ms, attn_ms, [0, 512, 1024, 2048], 512)
           + synthetic(DENSE, fc.GEN, DENSE.weight_bytes * byte_ms, kv_ms, [0, 512, 1024, 2048], 16))
    pp, tg = fc.fit(DENSE, cal, fc.PROMPT), fc.fit(DENSE, cal, fc.GEN)
    assert pp is not None and tg is not None
    spp, stg = fc.scale_fit(pp, DENSE, SWA), fc.scale_fit(tg, DENSE, SWA)
    truth_pp = SWA.weight_flops * flop_ms * 512 + attn_ms * SWA.attn_flops(8192, 512)
    truth_tg = SWA.weight_bytes * byte_ms + kv_ms * SWA.kv_bytes(8192, 1)
    assert spp.segment_ms(SWA, 8192, 512) == pytest.approx(truth_pp)
    assert stg.segment_ms(SWA, 8192, 1) == pytest.approx(truth_tg)
    f = fc.forecast(SWA, spp, stg, 8192, source="scaled", calibrated_on="dense")
    assert f.label == "scaled, not measured" and f.band >= fc.SCALED_BAND


def test_shape_of_real_models(smollm2_path: Path, gemma_path: Path) -> None:
    s = RuntimeSettings()
    smol = fc.shape_of(read_model_info(smollm2_path), s)
    assert len(smol.layers) == 30 and not any(lay.window for lay in smol.layers)
    assert smol.layers[0].flops_per_pos == 2 * 9 * (64 + 64)
    assert smol.layers[0].kv_bytes_per_pos == 3 * (64 + 64) * 2
    q8 = fc.shape_of(read_model_info(smollm2_path), s.with_(type_k="q8_0", type_v="q8_0"))
    assert q8.kv_bytes(4096, 1) == pytest.approx(smol.kv_bytes(4096, 1) * 34 / 64)
    gem = fc.shape_of(read_model_info(gemma_path), s)
    assert sum(1 for lay in gem.layers if lay.window == 512) == 15 and len(gem.layers) == 18
    # tied embeddings: the output matmul reads the token embedding every generated token
    assert gem.weight_bytes > 2 * smol.weight_bytes and gem.weight_flops < smol.weight_flops


@pytest.mark.parametrize("s,text", [(3.14, "3.1 s"), (42, "42 s"), (250, "4 min 10 s"), (3900, "1 h 05 min")])
def test_human_seconds(s: float, text: str) -> None:
    assert fc.human_seconds(s) == text


# ---- the kernel probe's prices ---------------------------------------------------------------------
#: ms per multiply-add on an imaginary machine: types differ several-fold, as llama.cpp's CPU kernels do
PRICES = {fc.PROMPT: {"Q4_1": 6e-8, "Q5_0": 2.3e-8, "Q4_K": 1.4e-8, "Q6_K": 1.3e-8, "Q8_0": 2.1e-8},
          fc.GEN: {"Q4_1": 1.1e-7, "Q5_0": 7.7e-8, "Q4_K": 4.2e-8, "Q6_K": 4.9e-8, "Q8_0": 8.1e-8}}
DENSE_Q = fc.ModelShape(DENSE.weight_flops, DENSE.weight_bytes, DENSE.layers, {"Q4_1": 1.06e8}, {"Q8_0": 2.8e7})
SWA_Q = fc.ModelShape(SWA.weight_flops, SWA.weight_bytes, SWA.layers,
                      {"Q5_0": 6.3e7, "Q4_K": 2.4e7, "Q6_K": 1.2e7, "Q8_0": 1.5e6}, {"Q8_0": 1.68e8})


def test_kernel_prices_carry_a_calibration_to_other_quant_types() -> None:
    """A machine whose per-token cost is an overhead plus each type's price per multiply-add: the
    model predicted from another's calibration with the probe's prices is exact, the FLOPs/bytes
    roofline is not (it cannot see that a Q4_K multiply-add costs a quarter of a Q4_1 one)."""
    prices = fc.KernelCosts(PRICES)
    overhead = {fc.PROMPT: 0.7, fc.GEN: 2.5}  # norms, rope, graph: the same per token on both models
    attn = {fc.PROMPT: 3e-8, fc.GEN: 1.3e-7}

    def truth(shape: fc.ModelShape, kind: str) -> float:
        return overhead[kind] + sum(n * PRICES[kind][t] for t, n in shape.macs(kind).items())

    for kind, n in ((fc.PROMPT, 512), (fc.GEN, 16)):
        segs = synthetic(DENSE_Q, kind, truth(DENSE_Q, kind), attn[kind], [0, 512, 1024, 2048], n)
        cost = fc.fit(DENSE_Q, segs, kind)
        assert cost is not None
        scaled = fc.scale_fit(cost, DENSE_Q, SWA_Q, prices)
        assert scaled.base_ms == pytest.approx(truth(SWA_Q, kind))
        assert scaled.per_unit_ms == pytest.approx(attn[kind])  # attention's price carries over as it is
        roof = fc.scale_fit(cost, DENSE_Q, SWA_Q)  # no probe: by FLOPs / bytes
        assert abs(roof.base_ms / truth(SWA_Q, kind) - 1) > 0.3
    # generation reads the output matrix every token, prompt work once per micro-batch
    assert SWA_Q.macs(fc.GEN)["Q8_0"] == pytest.approx(1.68e8 + 1.5e6)
    assert SWA_Q.macs(fc.PROMPT)["Q8_0"] == pytest.approx(1.5e6)


def test_kernel_prices_for_an_unprobed_type_come_from_the_nearest_width() -> None:
    prices = fc.KernelCosts(PRICES)
    assert prices.cost(fc.PROMPT, "Q4_K") == PRICES[fc.PROMPT]["Q4_K"]
    # Q5_1 (6 bits per weight) is priced like the probed type closest in bits: Q5_0 (5.5), not Q6_K (6.56)
    assert prices.cost(fc.PROMPT, "Q5_1") == PRICES[fc.PROMPT]["Q5_0"]
    assert prices.cost(fc.GEN, "BF16") == PRICES[fc.GEN]["Q8_0"]  # 16 bits: the widest probed
    assert prices.cost(fc.PROMPT, "NOT_A_TYPE") is None
    assert fc.KernelCosts({}).cost(fc.GEN, "Q4_0") is None
    # without per-type counts (a record from before the probe existed) scaling falls back to the roofline
    old = fc.ModelShape(DENSE.weight_flops, DENSE.weight_bytes)
    assert old.kernel_ms(fc.PROMPT, prices) is None
    cost = fc.CostFit(fc.PROMPT, 7.0, 3e-8, 0.01, 0.02, 8, 2048)
    assert fc.scale_fit(cost, old, SWA_Q, prices).base_ms == pytest.approx(7.0 * SWA.weight_flops / DENSE.weight_flops)
    assert fc.KernelCosts.from_json(prices.to_json()) == prices
    assert fc.ModelShape.weights_from_json(SWA_Q.to_json()).macs(fc.GEN) == SWA_Q.macs(fc.GEN)


def test_scaled_forecasts_claim_a_narrower_band_with_a_probe() -> None:
    pp = fc.CostFit(fc.PROMPT, 3.0, 3e-8, 0.02, 0.03, 8, 8192)
    tg = fc.CostFit(fc.GEN, 20.0, 1.3e-7, 0.02, 0.03, 8, 8192)
    plain = fc.forecast(SWA_Q, pp, tg, 8192, source="scaled")
    probed = fc.forecast(SWA_Q, pp, tg, 8192, source="scaled", scaled_band=fc.KERNEL_SCALED_BAND)
    own = fc.forecast(SWA_Q, pp, tg, 8192)
    assert own.band < probed.band < plain.band
    assert probed.band == pytest.approx(own.band + fc.KERNEL_SCALED_BAND)


def test_weight_matrices_by_type_of_real_models(smollm2_path: Path, gemma_path: Path) -> None:
    smol, gem = read_model_info(smollm2_path), read_model_info(gemma_path)
    # SmolLM2: every block matrix Q4_1; the tied Q8_0 token embedding makes the logits
    assert set(smol.block_matrix_params) == {"Q4_1"}
    assert smol.output_matrix_params == {"Q8_0": smol.n_vocab * smol.n_embd}
    assert sum(smol.block_matrix_params.values()) + smol.n_vocab * smol.n_embd <= smol.n_params
    # gemma-3-270m (Q4_K_M mix): several types in the blocks, and a 262K-row Q8_0 output matrix
    assert {"Q5_0", "Q4_K", "Q6_K"} <= set(gem.block_matrix_params)
    assert gem.output_matrix_params == {"Q8_0": gem.n_vocab * gem.n_embd}
    shape = fc.shape_of(gem, RuntimeSettings())
    assert shape.macs(fc.GEN)["Q8_0"] > 0.5 * sum(shape.macs(fc.GEN).values())
