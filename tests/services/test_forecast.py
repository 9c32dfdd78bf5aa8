"""Speed calibrations on real llama.cpp: the store's key, calibrate -> forecast, scaling, observations."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from localctx.core import forecast as fc
from localctx.core.model_info import read_model_info
from localctx.core.settings import RuntimeSettings
from localctx.services import calibration as cal
from localctx.services import forecast as sf
from localctx.services import kernel_probe as kp

MACHINE = {"cpu": "Test CPU", "cores": 2, "llama_cpp": "0", "backends": ["CPU"], "devices": ["Test CPU"],
           "repack": True}


def _path(s: RuntimeSettings, fp: str = "f" * 64, machine: dict | None = None) -> Path:
    return sf.record_path(fp, sf.speed_settings(s), machine or MACHINE)


BASE = RuntimeSettings(n_threads=1)


@pytest.mark.parametrize("change", [
    {"n_threads": 2}, {"type_k": "q8_0"}, {"type_v": "q8_0"}, {"flash_attn": False}, {"flash_attn": True},
    {"n_gpu_layers": 0}, {"n_batch": 256}, {"n_ubatch": 128}, {"rpc": "10.0.0.2:50052"},
])
def test_a_speed_setting_is_a_different_calibration(change: dict) -> None:
    other = _path(BASE.with_(**change))
    assert other != _path(BASE)
    assert other.parent != _path(BASE).parent  # and a different machine+settings group: no scaling across it


@pytest.mark.parametrize("change", [{"n_ctx": 32768}, {"seed": 7}, {"rope_freq_scale": 0.5}, {"use_mmap": False},
                                    {"swa_full": True}])
def test_settings_that_do_not_change_speed_share_a_calibration(change: dict) -> None:
    assert _path(BASE.with_(**change)) == _path(BASE)


def test_model_and_machine_are_in_the_key() -> None:
    other_model = _path(BASE, fp="e" * 64)
    assert other_model != _path(BASE) and other_model.parent == _path(BASE).parent  # neighbours: scalable
    assert _path(BASE, machine={**MACHINE, "cpu": "Other CPU"}).parent != _path(BASE).parent
    assert _path(BASE, machine={**MACHINE, "backends": ["CPU", "CUDA"]}).parent != _path(BASE).parent


def test_default_threads_resolve_like_llama_cpp_gets_them() -> None:
    from localctx.engine.params import default_threads

    assert sf.speed_settings(RuntimeSettings())["threads"] == default_threads()
    assert _path(RuntimeSettings(n_threads=default_threads())) == _path(RuntimeSettings())


def test_without_a_calibration_the_forecast_says_how_to_make_one(smollm2_path: Path) -> None:
    out = sf.forecast_for(read_model_info(smollm2_path), BASE.with_(type_k="q8_0", flash_attn=True), 8192)
    assert out.forecast is None
    assert "localctx bench" in (out.hint or "") and "-t 1" in (out.hint or "") and "-ctk q8_0" in (out.hint or "")
    assert out.to_json()["available"] is False


def test_calibrate_store_forecast_scale_and_observe(smollm2_path: Path, gemma_path: Path) -> None:
    from localctx.services.runtime import load_engine, make_plan

    engine = load_engine(smollm2_path, flags={"n_ctx": 1400, "n_threads": 1})
    try:
        timings = cal.calibrate(engine, (0, 600, 4096), repeats=1, gen_tokens=4)
        kinds = {(t.kind, t.depth) for t in timings}
        assert kinds == {(fc.PROMPT, 0), (fc.GEN, 0), (fc.PROMPT, 600), (fc.GEN, 600), (fc.PROMPT, None)}
        fill = next(t for t in timings if t.depth is None)  # from the first micro-batch's end up to 600
        assert (fill.start, fill.start + fill.n) == (1 + 4 + 512, 600)
        assert all(t.start >= 600 for t in timings if t.depth == 600)
        assert not any(t.start >= 4096 for t in timings)  # capped by the context
        assert all(t.counter_ms > 0 and t.cpu_ms > 0 for t in timings)
        path, record = sf.save_calibration(engine, [t.segment() for t in timings])
        assert path.exists() and set(record["fits"]) == {fc.PROMPT, fc.GEN}

        own = sf.forecast_for(engine.info, engine.settings, 4096)
        f = own.forecast
        assert f is not None and f.source == "measured" and f.label == "measured"
        assert f.ingest_s > 0 and f.gen_tok_s > 0 and f.reply_s > 0 and f.extrapolated

        # through the load gate's plan: the same forecast, in --json too
        rp = make_plan(smollm2_path, {"n_threads": 1, "n_ctx": 4096})
        assert rp.forecast is not None and rp.forecast.forecast == f
        assert rp.to_json()["forecast"]["available"] and rp.to_json()["forecast"]["source"] == "measured"
        # two threads: another calibration, none made yet
        assert make_plan(smollm2_path, {"n_threads": 2}).forecast.forecast is None

        # an uncalibrated model with the same machine and settings: scaled from SmolLM2
        gem = sf.forecast_for(read_model_info(gemma_path), engine.settings, 4096)
        assert gem.forecast is not None and gem.forecast.source == "scaled"
        assert gem.forecast.calibrated_on == smollm2_path.name and gem.forecast.band > f.band

        expected = sf.expected_ingest(engine, 0, 900)
        assert expected is not None and expected[0] > 0 and expected[2] == "measured"

        # truth beside the forecast: a real ingest refines the fit; tiny segments are ignored
        before = json.loads(path.read_text())
        c0 = engine.counters()
        engine.ingest(cal.filler_tokens(engine, 700)[::-1])  # nothing of it cached
        sf.observe_counters(engine, c0, engine.counters(), prompt_start=0, gen_start=700)
        sf.observe(engine, fc.GEN, 700, 2, 30.0)
        after = json.loads(path.read_text())
        assert len(after["observations"]) == 1 and after["observations"][0]["n"] >= 699
        assert after["fits"] != before["fits"]
        assert sf.forecast_for(engine.info, engine.settings, 4096).forecast.observations == 1
    finally:
        engine.close()


def test_a_corrupt_calibration_is_ignored(smollm2_path: Path) -> None:
    info = read_model_info(smollm2_path)
    path = sf.record_path(sf._fingerprint(smollm2_path), sf.speed_settings(BASE))
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    out = sf.forecast_for(info, BASE)
    assert out.forecast is None and "localctx bench" in (out.hint or "")
    path.write_text(json.dumps({"format": sf.FORMAT, "fits": {"prompt": {"kind": "prompt"}}}))
    assert sf.forecast_for(info, BASE).forecast is None


def test_observations_alone_do_not_make_a_measured_forecast(smollm2_path: Path) -> None:
    """One chat's document is a single depth range: it refines a calibration, it cannot replace one."""
    from localctx.services.runtime import load_engine

    engine = load_engine(smollm2_path, flags={"n_ctx": 512, "n_threads": 1})
    try:
        sf.observe(engine, fc.PROMPT, 0, 400, 4000.0)
        sf.observe(engine, fc.GEN, 400, 20, 400.0)
        path = sf.record_path(sf._fingerprint(smollm2_path), sf.speed_settings(engine.settings))
        assert len(json.loads(path.read_text())["observations"]) == 2
        out = sf.forecast_for(engine.info, engine.settings)
        assert out.forecast is None and "localctx bench" in (out.hint or "")
    finally:
        engine.close()


@pytest.mark.parametrize("repeats", [2])
def test_a_sliding_window_model_calibrates_without_cutting_its_cache_back(gemma_path: Path, repeats: int) -> None:
    """gemma-3's sliding-window cache cannot be truncated (it would be emptied and refilled): every
    round goes up from an empty cache, and no measurement re-evaluates what a round already holds."""
    from localctx.services.runtime import load_engine

    engine = load_engine(gemma_path, flags={"n_ctx": 2048, "n_threads": 1})
    try:
        c0 = engine.counters()
        timings = cal.calibrate(engine, (0, 700), repeats=repeats, gen_tokens=4)
        evaluated = engine.counters().n_prompt_eval - c0.n_prompt_eval
        prompt_timed = sum(t.n for t in timings if t.kind == fc.PROMPT)
        assert evaluated - prompt_timed <= 2 * repeats  # only the single first tokens went untimed
        assert evaluated <= repeats * (700 + 2 * 512 + 8)  # one fill per round: nothing evaluated twice
        assert {(t.kind, t.depth) for t in timings} >= {(fc.PROMPT, 700), (fc.GEN, 700), (fc.PROMPT, 0)}
        assert sum(1 for t in timings if (t.kind, t.depth) == (fc.PROMPT, 700)) == repeats
    finally:
        engine.close()


def test_the_kernel_probe_prices_a_scaled_forecast_by_weight_type(smollm2_path: Path, gemma_path: Path) -> None:
    """With the probe stored beside SmolLM2's calibration, gemma's forecast is scaled by the measured
    price of its Q5_0/Q4_K/Q6_K/Q8_0 matrices instead of FLOPs and bytes, and claims a narrower band;
    a broken probe file is ignored (back to the plain roofline)."""
    from localctx.services.runtime import load_engine

    engine = load_engine(smollm2_path, flags={"n_ctx": 1400, "n_threads": 1})
    try:
        timings = cal.calibrate(engine, (0, 600), repeats=1, gen_tokens=4)
        sf.save_calibration(engine, [t.segment() for t in timings])
    finally:
        engine.close()
    settings, gemma = engine.settings, read_model_info(gemma_path)
    plain = sf.forecast_for(gemma, settings, 4096).forecast
    assert plain is not None and not kp.has_kernels(settings) and not plain.kernel_probe

    path, costs = kp.probe_kernels(settings, types=("Q8_0", "Q4_1"))
    own_record = sf.record_path(sf._fingerprint(smollm2_path), sf.speed_settings(settings))
    assert path.parent == own_record.parent and path.name == sf.KERNELS_FILE and kp.has_kernels(settings)
    assert set(costs.per_mac) == {fc.PROMPT, fc.GEN} and set(costs.per_mac[fc.GEN]) == {"Q8_0", "Q4_1"}
    stored = json.loads(path.read_text())
    assert stored["settings"]["threads"] == 1 and len(stored["timings"]) == 4

    probed = sf.forecast_for(gemma, settings, 4096).forecast
    assert probed is not None and probed.source == "scaled" and probed.calibrated_on == smollm2_path.name
    assert probed.kernel_probe and probed.to_json()["kernel_probe"] is True
    assert probed.band == pytest.approx(plain.band - fc.SCALED_BAND + fc.KERNEL_SCALED_BAND)
    assert probed.prompt_tok_s != plain.prompt_tok_s and probed.gen_tok_s != plain.gen_tok_s
    # the calibrated model itself is still measured, probe or not
    assert sf.forecast_for(read_model_info(smollm2_path), settings, 4096).forecast.source == "measured"

    # a source record written before the probe existed (no per-type counts): the roofline, said so
    record = json.loads(own_record.read_text())
    for key in ("block_macs", "output_macs"):
        record["shape"].pop(key)
    own_record.write_text(json.dumps(record))
    old = sf.forecast_for(gemma, settings, 4096).forecast
    assert old is not None and not old.kernel_probe and old.band == pytest.approx(plain.band)
    assert old.prompt_tok_s == pytest.approx(plain.prompt_tok_s)

    path.write_text("{broken")
    assert not kp.has_kernels(settings)
    again = sf.forecast_for(gemma, settings, 4096).forecast
    assert again is not None and again.band == pytest.approx(plain.band) and not again.kernel_probe
