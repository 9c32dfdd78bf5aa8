"""Sliding-window models (gemma-3-270m, window 512): small SWA cache by default, safe prefix reuse."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.services.runtime import load_engine

pytestmark = pytest.mark.model
MiB = 1 << 20


def test_swa_cache_is_small_unless_asked(gemma_path: Path) -> None:
    with load_engine(gemma_path, flags={"n_ctx": 32768, "n_batch": 64, "n_threads": 1}) as small:
        caches = small.report.applied["kv_caches"]
        assert [c["cells"] for c in caches] == [32768, 768]  # global layers full, SWA layers window+ubatch
        small_kv = small.report.kv_bytes
    with load_engine(gemma_path, flags={"n_ctx": 32768, "n_batch": 64, "n_threads": 1, "swa_full": True}) as full:
        full_kv = full.report.kv_bytes
    # llama-cpp-python's default (swa_full=True) costs ~5x more KV at 32K
    assert small_kv < 120 * MiB < 500 * MiB < full_kv


def test_prefix_reuse_never_reads_evicted_swa_cells(gemma_path: Path) -> None:
    text = (Path(__file__).parents[1] / "data" / "pride_and_prejudice.txt").read_text(encoding="utf-8")[:5000]
    with load_engine(gemma_path, flags={"n_ctx": 1024, "n_batch": 128, "n_ubatch": 128, "n_threads": 1}) as e:
        toks = e.tokenize(text, add_bos=True)[:800]
        assert len(toks) == 800 and e.n_swa == 512
        e.ingest(toks)  # the SWA cache (768 cells) has dropped the oldest positions
        extra = e.tokenize(" And then she said", special=False)
        # within reach: positions [700-512, 700) are still cached -> only the new tokens are evaluated
        assert e.ingest(toks[:700] + extra) == len(extra)
        # not within reach: the SWA cells for [0, 20) are gone -> everything is evaluated again
        assert e.ingest(toks[:20] + extra) == 20 + len(extra)
        assert e.cached_tokens == toks[:20] + extra
