"""The extension planner on ModelInfo read from small GGUFs written with the gguf writer (pure: no llama.cpp)."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from localctx.core.model_info import ModelInfo, read_model_info
from localctx.core.rope import apply_plan, kobold_base, ntk_base, plan_extension, quality_warning
from localctx.core.settings import RuntimeSettings
from localctx.errors import SettingsError
from tests.gguf_factory import llama_like


def _info(tmp_path: Path, name: str = "m.gguf", **kw) -> ModelInfo:
    kw.setdefault("sparse", True)
    return read_model_info(llama_like(tmp_path / name, **kw))


@pytest.fixture
def llama8k(tmp_path: Path) -> ModelInfo:
    return _info(tmp_path, n_embd=256, n_head=2, ctx=8192, extra_kv={".rope.freq_base": 100000.0})


@pytest.mark.parametrize("n_ctx, method, factor, scale", [
    (4096, "none", 0.5, None), (8192, "none", 1.0, None), (16384, "yarn", 2.0, 0.5), (32768, "yarn", 4.0, 0.25),
])
def test_auto(llama8k: ModelInfo, n_ctx: int, method: str, factor: float, scale: float | None) -> None:
    p = plan_extension(llama8k, RuntimeSettings(n_ctx=n_ctx))
    assert (p.method, p.factor, p.rope_freq_scale) == (method, factor, scale)
    if method == "yarn":
        assert p.parameters == {"rope_scaling": "yarn", "rope_freq_scale": scale, "yarn_orig_ctx": 8192}
        assert "no RoPE scaling" in p.reason and "YaRN" in p.reason
        assert any("nothing may shift KV positions" in n for n in p.notes)
    else:
        assert p.parameters == {} and p.warning is None


def test_warning_wording_depends_on_the_factor() -> None:
    words = [quality_warning("yarn", f) for f in (1.0, 1.5, 3, 6, 16)]
    assert words[0] is None
    assert [w.split()[0] for w in words[1:]] == ["mild", "moderate", "strong", "extreme"]
    assert "extrapolated" in quality_warning("none", 2)
    assert "plain interpolation" in quality_warning("linear", 2)


def test_named_methods(llama8k: ModelInfo) -> None:
    s = RuntimeSettings(n_ctx=16384)
    lin = plan_extension(llama8k, s.with_(extend="linear"))
    assert lin.parameters == {"rope_scaling": "linear", "rope_freq_scale": 0.5}
    ntk = plan_extension(llama8k, s.with_(extend="ntk"))
    d = 128  # n_embd 256 / 2 heads
    assert ntk.parameters == {"rope_scaling": "none", "rope_freq_base": pytest.approx(100000 * 2 ** (d / (d - 2)))}
    kob = plan_extension(llama8k, s.with_(extend="kobold"))
    exponent = math.log(16384 / (2 * math.pi)) / math.log(8192 / (2 * math.pi))
    assert kob.rope_freq_base == pytest.approx(100000**exponent)
    none = plan_extension(llama8k, s.with_(extend="none"))
    assert none.parameters == {"rope_scaling": "none"} and "extrapolated" in (none.warning or "")
    yarn = plan_extension(llama8k, s.with_(extend="yarn"))
    assert yarn.parameters == {"rope_scaling": "yarn", "rope_freq_scale": 0.5, "yarn_orig_ctx": 8192}
    # within the trained context a named method has nothing to do
    assert plan_extension(llama8k, RuntimeSettings(n_ctx=4096, extend="ntk")).parameters == {}


def test_formulas_match_published_numbers() -> None:
    # NTK d=128 b=1e4 s=2 -> 20 221; GradientAI Llama-2 4096->8192 -> 26 784 (koboldcpp #910)
    assert round(ntk_base(10000, 2, 128)) == 20221
    assert round(kobold_base(10000, 8192, 4096)) == 26784
    assert round(kobold_base(500000, 16384, 8192)) == 1776948


def test_user_values_win_and_set_the_factor(tmp_path: Path) -> None:
    # Qwen3-like: the GGUF says 40960 but YaRN must start from 32768
    q = _info(tmp_path, ctx=40960, n_embd=256, n_head=2)
    p = plan_extension(q, RuntimeSettings(n_ctx=131072, extend="yarn", yarn_orig_ctx=32768))
    assert (p.factor, p.rope_freq_scale, p.yarn_orig_ctx) == (4.0, 0.25, 32768)
    assert p.user_set == ["yarn_orig_ctx"]
    manual = plan_extension(q, RuntimeSettings(n_ctx=65536, rope_freq_base=2e6))
    assert manual.method == "manual" and manual.parameters == {"rope_freq_base": 2e6}


def test_gguf_scaling_is_kept(tmp_path: Path) -> None:
    y = _info(tmp_path, ctx=32768, extra_kv={".rope.scaling.type": "yarn", ".rope.scaling.factor": 4.0,
                                            ".rope.scaling.original_context_length": 8192})
    p = plan_extension(y, RuntimeSettings(n_ctx=32768))
    assert p.method == "model" and p.parameters == {} and "yarn x4" in p.reason
    assert any("nothing may shift" in n for n in p.notes)
    p = plan_extension(y, RuntimeSettings(n_ctx=65536))
    assert p.method == "model" and p.factor == 2.0 and p.warning.startswith("mild")


def test_self_extend(llama8k: ModelInfo, tmp_path: Path) -> None:
    p = plan_extension(llama8k, RuntimeSettings(n_ctx=32768, extend="self-extend"))
    g, w = p.self_extend["group"], p.self_extend["window"]
    assert (8192 - w) * g + w >= 32768 and w % g == 0 and p.parameters == {}
    with pytest.raises(SettingsError, match="Self-Extend cannot be combined with YaRN"):
        plan_extension(llama8k, RuntimeSettings(n_ctx=32768, extend="self-extend", rope_scaling="yarn"))
    y = _info(tmp_path, "y.gguf", ctx=8192, extra_kv={".rope.scaling.type": "yarn", ".rope.scaling.factor": 2.0})
    with pytest.raises(SettingsError, match="YaRN"):
        plan_extension(y, RuntimeSettings(n_ctx=32768, extend="self-extend"))


@pytest.mark.parametrize("settings, match", [
    (RuntimeSettings(n_ctx=16384, rope_freq_scale=0.0), "rope-freq-scale must be greater than 0"),
    (RuntimeSettings(n_ctx=16384, rope_freq_scale=-0.5), "rope-freq-scale must be greater than 0"),
    (RuntimeSettings(n_ctx=16384, rope_freq_base=-1.0), "rope-freq-base must be greater than 0"),
    (RuntimeSettings(n_ctx=16384, rope_freq_base=float("nan")), "rope-freq-base must be greater than 0 and finite"),
    (RuntimeSettings(n_ctx=16384, rope_freq_scale=float("inf")), "rope-freq-scale must be greater than 0 and finite"),
    (RuntimeSettings(n_ctx=16384, yarn_beta_fast=2.0, yarn_beta_slow=8.0), "beta-slow 8 is larger than"),
    (RuntimeSettings(n_ctx=16384, yarn_beta_slow=33.0), "beta-slow 33 is larger than --yarn-beta-fast 32"),
    (RuntimeSettings(n_ctx=4096, yarn_orig_ctx=8192), "yarn-orig-ctx 8192 is larger than the context 4096"),
    (RuntimeSettings(n_ctx=4096, rope_scaling="longrope"), "unknown rope scaling type"),  # type: ignore[arg-type]
    (RuntimeSettings(n_ctx=4096, extend="dynamic"), "unknown extension method"),
    (RuntimeSettings(n_ctx=-1), "greater than 0"),
])
def test_bad_settings(llama8k: ModelInfo, settings: RuntimeSettings, match: str) -> None:
    with pytest.raises(SettingsError, match=match) as exc:
        plan_extension(llama8k, settings)
    assert exc.value.exit_code == 2


def test_swa_layers_keep_their_rope(tmp_path: Path) -> None:
    g = _info(tmp_path, arch="gemma3", n_layer=6, ctx=32768,
              extra_kv={".attention.sliding_window": 512, ".rope.freq_base": 1000000.0})
    assert any(g.swa_layers)
    p = plan_extension(g, RuntimeSettings(n_ctx=65536))
    assert p.method == "yarn"
    note = next(n for n in p.notes if "sliding-window" in n)
    assert f"{sum(g.swa_layers)} of 6 layers" in note and "base 10000" in note and "global" in note
    assert not any("sliding-window" in n for n in plan_extension(g, RuntimeSettings(n_ctx=16384)).notes)


def test_apply_plan_writes_the_parameters(llama8k: ModelInfo) -> None:
    s = RuntimeSettings(n_ctx=32768)
    out = apply_plan(s, plan_extension(llama8k, s))
    assert (out.rope_scaling, out.rope_freq_scale, out.yarn_orig_ctx) == ("yarn", 0.25, 8192)
    assert out.yarn_beta_fast is None and out.yarn_beta_slow is None  # left to the model (-1 for llama.cpp)
    assert out.extra["extension"]["method"] == "yarn"
