"""load_engine / resolve_settings: settings precedence, header validation before llama.cpp, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.flags import RuntimeFlags, settings_from_flags
from localctx.core.model_info import read_model_info
from localctx.errors import GGUFError, SettingsError
from localctx.services.runtime import load_engine, resolve_settings


def test_resolve_settings_defaults_to_trained_context(smollm2_path: Path) -> None:
    info = read_model_info(smollm2_path)
    s = resolve_settings(info)
    assert s.n_ctx == info.ctx_train == 8192  # never llama-cpp-python's 512
    assert s.swa_full is False and s.flash_attn is None
    s = resolve_settings(info, RuntimeFlags(ctx=2048, cache_type_k="Q8_0", flash_attn="on", rope_scale=2.0))
    assert (s.n_ctx, s.type_k, s.flash_attn, s.rope_freq_scale) == (2048, "q8_0", True, 0.5)
    assert resolve_settings(info, {"n_ctx": 1024, "seed": None}).n_ctx == 1024


@pytest.mark.parametrize("flags, match", [
    (RuntimeFlags(ctx=0), "--ctx must be greater than 0"),
    (RuntimeFlags(cache_type_v="q3_0"), "unknown --cache-type-v"),
    (RuntimeFlags(flash_attn="maybe"), "unknown --flash-attn"),
    (RuntimeFlags(rope_scaling="longrope"), "unknown --rope-scaling"),
    (RuntimeFlags(rope_scale=4, rope_freq_scale=0.5), "disagree"),
    (RuntimeFlags(extend="magic"), "unknown --extend"),
])
def test_bad_flags_are_settings_errors(flags: RuntimeFlags, match: str) -> None:
    with pytest.raises(SettingsError, match=match) as exc:
        settings_from_flags(flags)
    assert exc.value.exit_code == 2


def test_corrupt_gguf_never_reaches_llama_cpp(tmp_path: Path, smollm2_path: Path) -> None:
    bad = tmp_path / "cut.gguf"
    bad.write_bytes(smollm2_path.read_bytes()[:4096])
    with pytest.raises(GGUFError):
        load_engine(bad, flags={"n_ctx": 256})


@pytest.mark.model
def test_load_engine_applies_flags(smollm2_path: Path) -> None:
    with load_engine("smollm2", flags=RuntimeFlags(ctx=512, threads=1)) as e:
        assert e.path == smollm2_path
        assert e.n_ctx == 512 and e.report.applied["n_ctx"] == 512
        assert e.info.ctx_train == 8192
        toks = e.tokenize("Hello")
        assert e.ingest(toks) == len(toks)


@pytest.mark.model
def test_settings_llama_cpp_would_reject_are_refused_before_it_sees_them(smollm2_path: Path) -> None:
    flags = RuntimeFlags(ctx=256, cache_type_v="q4_0", flash_attn="off", threads=1)
    with pytest.raises(SettingsError, match="quantized V cache") as exc:
        load_engine(smollm2_path, flags=flags, force=True)  # even --force does not pass settings llama.cpp rejects
    assert exc.value.exit_code == 2 and exc.value.hint == "add -fa on, or use -ctv f16"


def test_settings_precedence_flags_over_model_config_over_defaults(smollm2_path: Path) -> None:
    from localctx.models.settings_file import save_model_settings, settings_file

    info = read_model_info(smollm2_path)
    settings_file().parent.mkdir(parents=True, exist_ok=True)
    settings_file().write_text('[defaults]\nn_threads = 3\nn_batch = 256\n')
    save_model_settings(smollm2_path, {"n_ctx": 16384, "extend": "ntk", "n_batch": 128})
    s = resolve_settings(info)
    assert (s.n_threads, s.n_batch, s.n_ctx, s.extend) == (3, 128, 16384, "ntk")  # model table over [defaults]
    s = resolve_settings(info, RuntimeFlags(ctx=4096, batch_size=64))
    assert (s.n_threads, s.n_batch, s.n_ctx, s.extend) == (3, 64, 4096, "ntk")  # flags over both
    other = read_model_info(smollm2_path).path.with_name("other.gguf")
    from localctx.models.settings_file import model_settings

    assert model_settings(other) == {"n_threads": 3, "n_batch": 256}


@pytest.mark.parametrize("text, match", [
    ('[models."SmolLM2-135M-Instruct.Q4_1.gguf"]\nn_ctxx = 4096\n', "unknown setting 'n_ctxx'"),
    ('[defaults]\nn_ctx = "big"\n', r"\[defaults\]\.n_ctx = 'big' has the wrong type"),
    ('[defaults\n', "cannot read settings"),
])
def test_bad_config_file_names_file_and_key(smollm2_path: Path, text: str, match: str) -> None:
    from localctx.models.settings_file import settings_file

    settings_file().parent.mkdir(parents=True, exist_ok=True)
    settings_file().write_text(text)
    with pytest.raises(SettingsError, match=match) as exc:
        resolve_settings(read_model_info(smollm2_path))
    assert "settings.toml" in exc.value.message


def test_preset_recipe_applies_past_native_context(tmp_path: Path) -> None:
    from localctx.services.runtime import plan_for
    from tests.gguf_factory import llama_like

    path = llama_like(tmp_path / "Qwen3-8B-Q4_K_M.gguf", arch="qwen3", ctx=40960, n_embd=256, n_head=2, sparse=True)
    info = read_model_info(path)
    s, plan = plan_for(info, resolve_settings(info, {"n_ctx": 131072}))
    # the vendor recipe: YaRN from 32768 (not the GGUF's 40960), factor 4
    assert (plan.method, plan.yarn_orig_ctx, plan.factor, plan.rope_freq_scale) == ("yarn", 32768, 4.0, 0.25)
    assert plan.user_set == [] and "preset qwen3-8b" in plan.reason
    assert (s.rope_scaling, s.yarn_orig_ctx, s.rope_freq_scale) == ("yarn", 32768, 0.25)
    # within the native context nothing is scaled, but the vendor advice is shown
    s, plan = plan_for(info, resolve_settings(info, {"n_ctx": 32768}))
    assert plan.parameters == {} and any("do not enable YaRN" in n for n in plan.notes)
    # explicit user values are not replaced by the preset
    s, plan = plan_for(info, resolve_settings(info, {"n_ctx": 131072, "yarn_orig_ctx": 40960, "extend": "yarn"}))
    assert plan.yarn_orig_ctx == 40960 and plan.user_set == ["yarn_orig_ctx"]
