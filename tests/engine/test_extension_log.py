"""The extension plan as llama.cpp applied it, read back from llama.cpp's own log (llama_log_set).

Loading SmolLM2 at 16K/32K allocates the KV cache but evaluates nothing, so these stay cheap.
llama.cpp prints the applied ``freq_base``/``freq_scale``; for YaRN it prints "custom YaRN scaling
detected" and "n_ctx_train adjusted to N" with N = yarn_orig_ctx / freq_scale, which gives the
original context it used.  No YaRN line means the scaling type was not YaRN.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.model_info import read_model_info
from localctx.services.runtime import load_engine

pytestmark = pytest.mark.model


def _load(model: str | Path, **flags):
    flags.setdefault("n_threads", 1)  # a shared 2-core box: 2 spinning threads starve
    flags.setdefault("n_batch", 64)  # small compute buffers; nothing is evaluated
    return load_engine(model, flags=flags)


@pytest.mark.parametrize("n_ctx, factor", [(16384, 2), (32768, 4)])
def test_auto_plan_is_what_llama_cpp_applied(n_ctx: int, factor: int) -> None:
    with _load("smollm2", n_ctx=n_ctx) as e:
        plan, applied = e.plan, e.report.applied
        assert plan.method == "yarn" and plan.factor == factor and plan.yarn_orig_ctx == 8192
        assert applied["n_ctx"] == n_ctx
        assert applied["freq_base"] == 100000.0 == e.info.rope.freq_base  # base untouched by YaRN
        assert applied["freq_scale"] == pytest.approx(plan.rope_freq_scale) == pytest.approx(1 / factor)
        assert applied.get("yarn_adjusted") is True  # llama.cpp: "custom YaRN scaling detected"
        assert applied["yarn_orig_ctx"] == plan.yarn_orig_ctx == 8192
        assert any("possible training context overflow" in w for w in e.report.warnings)
        assert e.yarn_active
        assert e.report.kv_bytes == 30 * 2 * 192 * 2 * n_ctx  # layers x (K+V) x 3 heads x 64 dims x f16


def test_linear_plan_is_applied_without_yarn() -> None:
    with _load("smollm2", n_ctx=16384, extend="linear") as e:
        assert e.plan.method == "linear" and e.plan.rope_scaling == "linear"
        assert e.report.applied["freq_scale"] == pytest.approx(0.5)
        assert e.report.applied["freq_base"] == 100000.0
        assert "yarn_adjusted" not in e.report.applied
        assert not e.yarn_active


def test_ntk_plan_raises_the_base_only() -> None:
    with _load("smollm2", n_ctx=16384, extend="ntk") as e:
        expected = 100000.0 * 2 ** (64 / 62)
        assert e.plan.rope_freq_base == pytest.approx(expected)
        assert e.report.applied["freq_base"] == pytest.approx(expected, abs=0.06)  # printed with %.1f
        assert e.report.applied["freq_scale"] == 1.0
        assert "yarn_adjusted" not in e.report.applied


def test_kobold_plan_base() -> None:
    import math

    with _load("smollm2", n_ctx=16384, extend="kobold") as e:
        expected = 100000.0 ** (math.log(16384 / (2 * math.pi)) / math.log(8192 / (2 * math.pi)))
        assert e.report.applied["freq_base"] == pytest.approx(expected, abs=0.06)
        assert e.report.applied["freq_scale"] == 1.0


def test_user_flags_win_over_the_plan() -> None:
    with _load("smollm2", n_ctx=16384, rope_scaling="yarn", rope_freq_scale=0.25, yarn_orig_ctx=4096) as e:
        assert e.plan.method == "manual"
        assert set(e.plan.user_set) == {"rope_scaling", "rope_freq_scale", "yarn_orig_ctx"}
        assert e.report.applied["freq_scale"] == pytest.approx(0.25)
        assert e.report.applied["yarn_orig_ctx"] == 4096


def test_gguf_with_yarn_metadata_is_left_as_the_file_says(tmp_path: Path) -> None:
    from tests.gguf_factory import llama_like

    path = llama_like(tmp_path / "yarn-baked.gguf", n_embd=128, n_head=4, n_head_kv=2, ctx=2048, vocab=64,
                      extra_kv={".rope.scaling.type": "yarn", ".rope.scaling.factor": 4.0,
                                ".rope.scaling.original_context_length": 512})
    info = read_model_info(path)
    assert info.rope.scaling_type == "yarn" and info.rope.original_context == 512
    with _load(path, n_ctx=2048) as e:
        assert e.plan.method == "model" and e.plan.parameters == {}
        applied = e.report.applied
        assert applied["freq_scale"] == pytest.approx(0.25)  # from the file: 1 / rope.scaling.factor
        assert applied["model"]["rope_scaling"] == "yarn"
        assert applied["model"]["n_ctx_orig_yarn"] == 512
        assert "yarn_adjusted" not in applied  # the context did not override the file's scaling
        assert e.yarn_active
    # past what the file's scaling covers, auto still keeps the file's scaling and says so
    with _load(path, n_ctx=4096) as e:
        assert e.plan.method == "model" and e.plan.factor == 2.0
        assert e.report.applied["freq_scale"] == pytest.approx(0.25)


def test_positions_never_shift_under_yarn() -> None:
    from localctx.errors import SettingsError

    with _load("smollm2", n_ctx=16384) as e:
        assert e.yarn_active
        e.ingest(e.tokenize("The grass is green. The sky is blue."))
        with pytest.raises(SettingsError, match="YaRN"):
            e.shift_positions(0, 4, delta=-2)
    with _load("smollm2", n_ctx=1024) as e:  # no YaRN: the Self-Extend primitive is allowed
        toks = e.tokenize("The grass is green. The sky is blue. The sun is yellow.")
        e.ingest(toks)
        e.shift_positions(0, len(toks), divide=2)
        out = "".join(e.stream(4))
        assert e.stop_reason in ("length", "eos") and len(e.cached_tokens) >= len(toks)
        assert isinstance(out, str)
