"""Self-Extend against real llama.cpp: windows of positions are really grouped in the KV cache, and
generation continues after them."""

from __future__ import annotations

from pathlib import Path

import llama_cpp
import pytest

from localctx.core import passkey as pk
from localctx.core.settings import RuntimeSettings
from localctx.engine.llamacpp import LlamaEngine
from localctx.engine.self_extend import SelfExtend

pytestmark = pytest.mark.model


def test_self_extend_groups_positions(smollm2_path: Path) -> None:
    with LlamaEngine(smollm2_path, RuntimeSettings(n_ctx=1024, n_threads=1, n_batch=128, n_ubatch=128)) as eng:
        tok = lambda s: eng.tokenize(s, add_bos=False, special=False)  # noqa: E731
        prompt = pk.build_prompt(tok, 512, 0.5, 40417, bos=eng.tokenize("", add_bos=True, special=False))
        grouper = SelfExtend(eng, group=2, window=128)
        grouper.ingest(prompt.tokens)
        # windows of 128 are halved three times before the last batch: 512 - 3 * 64 positions
        assert grouper.n_past == 320
        mem = eng._ctx.memory
        assert llama_cpp.llama_memory_seq_pos_min(mem, 0) == 0
        assert llama_cpp.llama_memory_seq_pos_max(mem, 0) + 1 == 320
        assert len(eng.cached_tokens) == 512
        # generation continues after the grouped positions (SmolLM2-135M itself answers poorly with
        # grouped positions; that is a measurement, not a property to test)
        assert "".join(eng.stream(4)) != ""
        assert llama_cpp.llama_memory_seq_pos_max(mem, 0) + 1 >= 321
