"""``should_stop`` reaches inside llama.cpp: ingest and token_logprobs stop between graph nodes (ggml's
abort callback), the batch in flight is dropped, and the engine stays consistent and reusable."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.settings import RuntimeSettings
from localctx.engine.base import Cancelled

pytestmark = pytest.mark.model
TEXT = " ".join(f"Line {i}: the ferry to Oslo leaves at nine and the tram at ten." for i in range(200))


@pytest.fixture(scope="module")
def engine(smollm2_path: Path):
    from localctx.engine.llamacpp import LlamaEngine

    e = LlamaEngine(smollm2_path, RuntimeSettings(n_ctx=2048, n_threads=1, n_batch=512, n_ubatch=512))
    yield e
    e.close()


def test_a_stop_inside_a_batch_aborts_llama_decode(engine) -> None:
    toks = engine.tokenize(TEXT, add_bos=True)[:1500]
    polls = []

    def stop() -> bool:
        polls.append(1)
        return len(polls) > 3  # true while llama.cpp computes the first batch's graph

    engine.ingest([])
    with pytest.raises(Cancelled):
        engine.ingest(toks, should_stop=stop)
    assert len(polls) > 3  # polled from inside llama_decode (the loop alone checks once per batch)
    assert engine.cached_tokens == []  # the aborted batch is not kept
    assert isinstance(Cancelled(), KeyboardInterrupt)


def test_a_stop_between_batches_keeps_the_finished_ones_and_the_engine_goes_on(engine) -> None:
    toks = engine.tokenize(TEXT, add_bos=True)[:1500]
    done = []
    engine.ingest([])
    with pytest.raises(Cancelled):
        engine.ingest(toks, progress=lambda d, t: done.append(d), should_stop=lambda: bool(done))
    assert engine.cached_tokens == toks[:512]
    assert engine.ingest(toks) == len(toks) - 512  # the rest only: the kept cells are valid
    resumed = "".join(engine.stream(4))
    engine.ingest([])
    engine.ingest(toks)
    assert "".join(engine.stream(4)) == resumed  # same as a run that was never stopped


def test_token_logprobs_stops_too(engine) -> None:
    toks = engine.tokenize(TEXT, add_bos=True)[:1200]
    with pytest.raises(Cancelled):
        engine.token_logprobs(toks, progress=lambda d, t: None, should_stop=lambda: True)
    assert engine.cached_tokens == []
