"""Fuzz: >= 300 mutated/truncated copies of the real models; every one reads or fails cleanly."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.fuzzing import fuzz


@pytest.mark.parametrize("which,cases", [("smollm2", 200), ("gemma", 120)])
def test_fuzzed_headers_fail_cleanly(which: str, cases: int, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    src = request.getfixturevalue(f"{which}_path")
    stats = fuzz(src, tmp_path, cases, seed=1234)
    assert not stats.failures, "\n".join(stats.failures[:10])
    assert stats.cases == cases
    # the mutations must mostly land on something the reader notices, or the test proves nothing
    assert stats.rejected > cases // 3, stats
