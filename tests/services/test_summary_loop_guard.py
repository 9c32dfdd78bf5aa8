"""The loop guard in summaries, with a real model: a section summary that starts repeating itself stops at
the repetition, keeps what came before, and says so (a notice), where without the guard it runs to its cap."""

from __future__ import annotations

from pathlib import Path

import pytest

from localctx.core.extract import extract
from localctx.core.loops import find_loop
from localctx.core.settings import RuntimeSettings
from localctx.services.runtime import load_engine
from localctx.services.summarize import SummarizeOptions, summarize
from tests.services.test_summarize import make_long_text

pytestmark = pytest.mark.model


def test_a_looping_section_summary_stops_at_the_repetition_and_says_so(tmp_path: Path) -> None:
    text, _facts = make_long_text(1)  # one section: smollm2, greedy, says "a place where people can come" over
    src = tmp_path / "lisbon.md"
    src.write_text(text)
    doc = extract(src)
    runs = {}
    with load_engine("smollm2", RuntimeSettings(n_ctx=1024, n_threads=1)) as eng:
        for guard in (False, True):
            r = summarize(eng, doc, SummarizeOptions(final_tokens=96, fresh=True, loop_guard=guard))
            (step,) = r.levels[-1]
            generated = eng.detokenize(eng.cached_tokens[step.prompt_tokens:])  # what the model wrote, uncleaned
            runs[guard] = (r, step, generated)
    (off, off_step, off_text), (on, on_step, on_text) = runs[False], runs[True]
    assert find_loop(off_text) is not None, off_text  # it does loop without the guard ...
    assert off_step.stop_reason == "length" and off_step.output_tokens == 96 and off.notices == []
    assert on_step.stop_reason == "loop" and on_step.output_tokens < off_step.output_tokens  # ... and stops with it
    assert off_text.startswith(on_text.rstrip())  # the same words up to where it stopped, nothing rewritten
    assert on.summary.strip() and find_loop(on.summary) is None
    assert on.summary.split(".")[0] in off_text  # what came before the repetition is kept
    assert on.notices == ["lisbon.md: the summary stopped where it began repeating itself; what came before the "
                          "repetition is kept"]
    assert on.to_json()["notices"] == on.notices and on.settings["loop_guard"] is True
