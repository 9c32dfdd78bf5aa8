"""load_engine / resolve_settings: settings precedence, header validation before llama.cpp, errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.cli._runtime_opts import RuntimeFlags, settings_from_flags
from localctx.core.model_info import read_model_info
from localctx.errors import GGUFError, RuntimeLoadError, SettingsError
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
    with load_engine("smollm2", flags=RuntimeFlags(ctx=512, threads=2)) as e:
        assert e.path == smollm2_path
        assert e.n_ctx == 512 and e.report.applied["n_ctx"] == 512
        assert e.info.ctx_train == 8192
        toks = e.tokenize("Hello")
        assert e.ingest(toks) == len(toks)


@pytest.mark.model
def test_load_engine_surfaces_llama_cpp_error(smollm2_path: Path) -> None:
    flags = RuntimeFlags(ctx=256, cache_type_v="q4_0", flash_attn="off")
    with pytest.raises(RuntimeLoadError, match="quantized V cache requires flash_attn") as exc:
        load_engine(smollm2_path, flags=flags)
    assert exc.value.exit_code == 1
