"""The repeat penalty reaches llama.cpp's sampler: a looping greedy reply repeats less with it."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.sampling import SamplingSettings
from localctx.core.settings import RuntimeSettings
from localctx.services.runtime import load_engine

pytestmark = pytest.mark.model


def test_repeat_penalty_breaks_a_greedy_loop(smollm2_path: Path) -> None:
    with load_engine(smollm2_path, RuntimeSettings(n_ctx=512, n_threads=1)) as eng:
        # a raw completion that greedy decoding continues as a loop
        prompt = eng.tokenize("bell, bell, bell, bell, bell, bell, bell, bell, bell, bell,", add_bos=True)
        runs = {}
        for penalty in (1.0, 1.5):
            eng.ingest(prompt)
            text = "".join(eng.stream(48, sampling=SamplingSettings(repeat_penalty=penalty)))
            toks = eng.tokenize(text)
            runs[penalty] = (text, len(set(toks)) / max(1, len(toks)))
    assert runs[1.0][0] != runs[1.5][0]
    assert runs[1.5][1] > runs[1.0][1], runs  # more distinct tokens per token with the penalty


def test_dry_and_the_repeat_penalty_over_the_whole_context_take_effect(smollm2_path: Path) -> None:
    """-1 ("the whole context") reaches llama.cpp as n_ctx: its C functions would clamp -1 to 0, "off"."""
    with load_engine(smollm2_path, RuntimeSettings(n_ctx=512, n_threads=1)) as eng:
        prompt = eng.tokenize("bell, bell, bell, bell, bell, bell, bell, bell, bell, bell,", add_bos=True)
        runs = {}
        for name, s in (("off", SamplingSettings()),
                        ("dry", SamplingSettings(dry_multiplier=0.8, dry_penalty_last_n=-1)),
                        ("repeat", SamplingSettings(repeat_penalty=1.5, repeat_last_n=-1))):
            eng.ingest(prompt)
            runs[name] = "".join(eng.stream(32, sampling=s))
    assert runs["dry"] != runs["off"] and runs["repeat"] != runs["off"], runs
