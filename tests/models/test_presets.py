"""Presets load and validate; bad files name the file and field; a cached preset resolves as a model."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.errors import SettingsError
from localctx.models.presets import get_preset, load_presets, match_preset
from tests.hf_cache import pulled_into_cache

GOOD = '''family = "Test"
[[models]]
name = "tiny"
repo = "someone/Tiny-GGUF"
arch = "llama"
n_ctx_train = 8192
native_ctx = 8192
max_ctx = 32768
default_quant = "Q8_0"
files = { Q8_0 = "*q8_0*.gguf" }
[models.extension]
method = "yarn"
rope_scaling = "yarn"
yarn_orig_ctx = 8192
[models.sources]
repo = "r"
n_ctx_train = "n"
extension = "e"
'''


def test_shipped_presets_load_and_cover_the_families() -> None:
    presets = load_presets()
    families = {p.family for p in presets}
    assert len(families) >= 8
    for want in ("Llama 3.x", "Qwen2.5", "Qwen3", "Mistral / Mixtral", "Gemma 3", "Phi-3 / Phi-4",
                 "DeepSeek-R1 distills", "SmolLM2"):
        assert want in families
    for p in presets:
        assert p.repo.count("/") == 1 and p.default_quant in p.files
        assert all(p.sources[k].strip() for k in ("repo", "n_ctx_train", "extension"))
        assert p.native_ctx <= p.max_ctx
    qwen3 = get_preset("qwen3-8b")
    assert qwen3 is not None and qwen3.settings == {"rope_scaling": "yarn", "yarn_orig_ctx": 32768}
    assert qwen3.n_ctx_train == 40960 and qwen3.native_ctx == 32768


def test_match_by_file_name() -> None:
    hit = match_preset("Qwen3-8B-Q4_K_M.gguf", "qwen3")
    assert hit is not None and hit[0].name == "qwen3-8b" and hit[1] == "Q4_K_M"
    assert match_preset("Qwen3-8B-Q4_K_M.gguf", "llama") is None
    assert match_preset("SomethingElse-Q4_K_M.gguf") is None


@pytest.mark.parametrize("edit, match", [
    (lambda t: t.replace('n_ctx_train = 8192\n', ''), r"models\[0\] \(tiny\): missing field 'n_ctx_train'"),
    (lambda t: t.replace('n_ctx_train = 8192', 'n_ctx_train = "8K"'), r"\(tiny\)\.n_ctx_train: expected int"),
    (lambda t: t.replace('default_quant = "Q8_0"', 'default_quant = "Q4_0"'), "default_quant 'Q4_0' is not one of"),
    (lambda t: t.replace('method = "yarn"', 'method = "magic"'), r"extension.method: unknown 'magic'"),
    (lambda t: t.replace('yarn_orig_ctx = 8192', 'yarn_orig = 8192'), r"extension.yarn_orig: unknown key"),
    (lambda t: t.replace('extension = "e"', 'extension = ""'), r"sources.extension: every number needs its source"),
    (lambda t: t.replace('repo = "someone/Tiny-GGUF"', 'repo = "tiny"'), "expected owner/name"),
    (lambda t: t.replace('[[models]]', '[[models]'), "not valid TOML"),
])
def test_bad_preset_names_file_and_field(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, edit, match: str) -> None:
    d = tmp_path / "presets"
    d.mkdir()
    (d / "bad.toml").write_text(edit(GOOD))
    monkeypatch.setenv("LOCALCTX_PRESETS_DIR", str(d))
    with pytest.raises(SettingsError, match=match) as exc:
        load_presets()
    assert "bad.toml" in exc.value.message and exc.value.exit_code == 2


def test_duplicate_names_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    d = tmp_path / "presets"
    d.mkdir()
    (d / "a.toml").write_text(GOOD)
    (d / "b.toml").write_text(GOOD)
    monkeypatch.setenv("LOCALCTX_PRESETS_DIR", str(d))
    with pytest.raises(SettingsError, match="also defined in"):
        load_presets()


def _fake_hf_cache(repo: str, filename: str, target: Path) -> Path:
    return pulled_into_cache(repo, target, filename)


def test_preset_name_resolves_once_cached(smollm2_path: Path) -> None:
    from localctx.errors import ModelNotFoundError
    from localctx.models.catalog import resolve_model

    with pytest.raises(ModelNotFoundError):
        resolve_model("smollm2-135m-instruct-hf")
    cached = _fake_hf_cache("HuggingFaceTB/SmolLM2-135M-Instruct-GGUF", "smollm2-135m-instruct-q8_0.gguf",
                            smollm2_path)
    assert resolve_model("smollm2-135m-instruct-hf") == cached
